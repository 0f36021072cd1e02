//! What the Kafka family of components share: client settings (addresses,
//! TLS, SASL), the producer behind the `kafka`, `kafka_franz` and `redpanda`
//! outputs, and the consumer behind their inputs. All run on librdkafka.

pub(crate) mod consumer;
pub(crate) mod producer;

use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{Lint, Mark};
use sluice_core::environment::BuildResult;

pub(crate) use crate::tls::TlsConfig;

/// `sasl` block (`kafka` shape: one mechanism). `kafka_franz` takes a list
/// of these.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SaslConfig {
    /// The SASL mechanism: none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.
    mechanism: String,
    /// The user name (kafka components).
    user: String,
    /// The password.
    password: String,
    /// The user name (kafka_franz and redpanda components).
    username: String,
    /// A static OAUTHBEARER token.
    access_token: String,
    /// A cache resource holding the OAUTHBEARER token.
    token_cache: String,
    /// The key of the token in token_cache.
    token_key: String,
}

/// Expands Benthos address lists: each item may hold several comma-separated
/// addresses.
pub(crate) fn bootstrap_servers(addresses: &[String]) -> String {
    addresses
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Applies TLS and SASL settings to a librdkafka config.
pub(crate) fn apply_security(
    config: &mut ClientConfig,
    tls: &TlsConfig,
    sasl: Option<&SaslConfig>,
    mark: Mark,
) -> BuildResult<()> {
    let sasl =
        sasl.filter(|s| !s.mechanism.is_empty() && !s.mechanism.eq_ignore_ascii_case("none"));
    let protocol = match (tls.enabled, sasl.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", protocol);
    if tls.enabled {
        if tls.enable_renegotiation {
            return Err(vec![Lint::error(
                mark,
                "tls.enable_renegotiation is not supported yet",
            )]);
        }
        if tls.skip_cert_verify {
            config.set("enable.ssl.certificate.verification", "false");
        }
        if !tls.root_cas.is_empty() {
            config.set("ssl.ca.pem", &tls.root_cas);
        }
        if !tls.root_cas_file.is_empty() {
            config.set("ssl.ca.location", &tls.root_cas_file);
        }
        if let Some(cert) = tls.client_certs.first() {
            if !cert.cert.is_empty() {
                config.set("ssl.certificate.pem", &cert.cert);
            }
            if !cert.key.is_empty() {
                config.set("ssl.key.pem", &cert.key);
            }
            if !cert.cert_file.is_empty() {
                config.set("ssl.certificate.location", &cert.cert_file);
            }
            if !cert.key_file.is_empty() {
                config.set("ssl.key.location", &cert.key_file);
            }
            if !cert.password.is_empty() {
                config.set("ssl.key.password", &cert.password);
            }
        }
        if tls.client_certs.len() > 1 {
            return Err(vec![Lint::error(
                mark,
                "more than one tls.client_certs entry is not supported yet",
            )]);
        }
    }
    if let Some(sasl) = sasl {
        let mechanism = match sasl.mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => "PLAIN",
            "SCRAM-SHA-256" => "SCRAM-SHA-256",
            "SCRAM-SHA-512" => "SCRAM-SHA-512",
            other => {
                return Err(vec![Lint::error(
                    mark,
                    format!("sasl mechanism '{other}' is not supported yet"),
                )]);
            }
        };
        config.set("sasl.mechanisms", mechanism);
        let user = if sasl.user.is_empty() {
            &sasl.username
        } else {
            &sasl.user
        };
        config.set("sasl.username", user);
        config.set("sasl.password", &sasl.password);
        let _ = (&sasl.access_token, &sasl.token_cache, &sasl.token_key);
    }
    Ok(())
}

/// Parses byte sizes such as `1MiB`, `100MB` or `1048576`.
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid byte size {text:?}"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("invalid byte size unit {other:?} in {text:?}")),
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_addresses_and_parses_sizes() {
        assert_eq!(
            bootstrap_servers(&["a:1,b:2".to_owned(), " c:3 ".to_owned()]),
            "a:1,b:2,c:3"
        );
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("100MB"), Ok(100_000_000));
        assert_eq!(parse_bytes("42"), Ok(42));
        assert!(parse_bytes("lots").is_err());
    }
}
