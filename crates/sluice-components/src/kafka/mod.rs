//! What the Kafka family of components share: client settings (addresses,
//! TLS, SASL), the producer behind the `kafka`, `kafka_franz` and `redpanda`
//! outputs, and the consumer behind their inputs. All run on librdkafka.

pub(crate) mod consumer;
pub(crate) mod partitions;
pub(crate) mod producer;
pub(crate) mod redpanda_block;

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{Lint, Mark};
use sluice_core::environment::{BuildResult, Builder};

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
    /// `kafka_franz` / `redpanda` name for the OAUTHBEARER token.
    token: String,
}

/// Where a `kafka_franz` or `redpanda` component connects: its own settings,
/// or, for a `redpanda` component without `seed_brokers`, those of the
/// top-level `redpanda` block.
pub(crate) struct Connection<'a> {
    pub(crate) seed_brokers: &'a [String],
    pub(crate) client_id: &'a str,
    pub(crate) tls: &'a TlsConfig,
    pub(crate) sasl: &'a [SaslConfig],
    /// The block's connection when it is the one used.
    pub(crate) shared: Option<std::sync::Arc<redpanda_block::RedpandaConnection>>,
    type_name: &'static str,
}

impl<'a> Connection<'a> {
    /// The connection of a component with these settings.
    pub(crate) fn resolve(
        type_name: &'static str,
        seed_brokers: &'a [String],
        client_id: Option<&'a str>,
        default_client_id: &'a str,
        tls: &'a TlsConfig,
        sasl: &'a [SaslConfig],
        builder: &Builder<'_>,
    ) -> Connection<'a> {
        let shared = (type_name == "redpanda" && seed_brokers.is_empty())
            .then(|| {
                builder
                    .resources()
                    .get::<redpanda_block::RedpandaConnection>()
            })
            .flatten();
        Connection {
            seed_brokers,
            client_id: client_id.unwrap_or(default_client_id),
            tls,
            sasl,
            shared,
            type_name,
        }
    }

    /// Applies the addresses, client id, TLS and SASL to `client`; the
    /// block's settings fill in what the component left out.
    pub(crate) fn apply(
        &self,
        client: &mut ClientConfig,
        explicit_client_id: bool,
        mark: Mark,
    ) -> BuildResult<()> {
        let block = self.shared.as_deref();
        let brokers = block.map_or(self.seed_brokers, |b| b.seed_brokers.as_slice());
        if brokers.is_empty() {
            let mut message = format!("{} needs seed_brokers", self.type_name);
            if self.type_name == "redpanda" {
                message.push_str(", or a top-level redpanda block with them");
            }
            return Err(vec![Lint::error(mark, message)]);
        }
        let client_id = match block {
            Some(b) if !explicit_client_id => b.client_id.as_str(),
            _ => self.client_id,
        };
        client
            .set("bootstrap.servers", bootstrap_servers(brokers))
            .set("client.id", client_id);
        let tls = match block {
            Some(b) if !self.tls.enabled => &b.tls,
            _ => self.tls,
        };
        let sasl = match block {
            Some(b) if self.sasl.is_empty() => b.sasl.as_slice(),
            _ => self.sasl,
        };
        if let Some(b) = block {
            if let Some(age) = b.metadata_max_age {
                client.set("metadata.max.age.ms", age.0.as_millis().max(1).to_string());
            }
            if let Some(idle) = b.conn_idle_timeout {
                client.set(
                    "connections.max.idle.ms",
                    idle.0.as_millis().max(1).to_string(),
                );
            }
        }
        if sasl.len() > 1 {
            return Err(vec![Lint::error(
                mark,
                "more than one sasl mechanism is not supported yet",
            )]);
        }
        apply_security(client, tls, sasl.first(), mark)
    }
}

/// The config key that carries a static OAUTHBEARER token to
/// [`static_oauth_token`] (librdkafka hands its value to the refresh
/// callback).
const OAUTH_TOKEN_KEY: &str = "sasl.oauthbearer.config";

/// How long librdkafka may use a static token before asking again (it gets
/// the same one: Benthos's `access_token` never changes).
const STATIC_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The OAUTHBEARER token of a `sasl` block with a static `access_token`
/// (`token` for `kafka_franz`).
pub(crate) fn static_oauth_token(config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
    let token = config
        .filter(|t| !t.is_empty())
        .ok_or("sasl mechanism OAUTHBEARER needs an access_token")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    Ok(OAuthToken {
        token: token.to_owned(),
        // Brokers take the principal from the token; librdkafka only wants
        // a non-empty name for its own bookkeeping.
        principal_name: "sluice".to_owned(),
        lifetime_ms: i64::try_from((now + STATIC_TOKEN_LIFETIME).as_millis())?,
    })
}

/// The client context of producers and admin clients: answers
/// OAUTHBEARER token requests with the configured static token.
#[derive(Default)]
pub(crate) struct SaslContext;

impl ClientContext for SaslContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        static_oauth_token(config)
    }
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
        let mechanism = sasl.mechanism.to_ascii_uppercase();
        let user = if sasl.user.is_empty() {
            &sasl.username
        } else {
            &sasl.user
        };
        match mechanism.as_str() {
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                config
                    .set("sasl.mechanisms", &mechanism)
                    .set("sasl.username", user)
                    .set("sasl.password", &sasl.password);
            }
            "OAUTHBEARER" => {
                if !sasl.token_cache.is_empty() {
                    return Err(vec![Lint::error(
                        mark,
                        "sasl.token_cache (tokens from a cache resource) is not supported yet; give the token in sasl.access_token",
                    )]);
                }
                let token = if sasl.access_token.is_empty() {
                    &sasl.token
                } else {
                    &sasl.access_token
                };
                if token.is_empty() {
                    return Err(vec![Lint::error(
                        mark,
                        "sasl mechanism OAUTHBEARER needs an access_token",
                    )]);
                }
                config
                    .set("sasl.mechanisms", "OAUTHBEARER")
                    .set(OAUTH_TOKEN_KEY, token);
            }
            other => {
                return Err(vec![Lint::error(
                    mark,
                    format!(
                        "sasl mechanism '{other}' is not supported yet (supported: none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)"
                    ),
                )]);
            }
        }
        let _ = &sasl.token_key;
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

    fn check(sasl: &str, tls: bool) -> Result<Vec<(String, String)>, String> {
        let sasl: SaslConfig = serde_json::from_str(sasl).unwrap();
        let tls = TlsConfig {
            enabled: tls,
            ..TlsConfig::default()
        };
        let mut config = ClientConfig::new();
        apply_security(&mut config, &tls, Some(&sasl), Mark::default())
            .map_err(|lints| lints[0].message.clone())?;
        let mut pairs: Vec<_> = config
            .config_map()
            .keys()
            .map(|k| {
                // config_map() hides secrets; get() shows what librdkafka gets.
                let value = config.get(k).unwrap_or_default().to_owned();
                ((*k).to_owned(), value)
            })
            .collect();
        pairs.sort();
        Ok(pairs)
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn maps_sasl_mechanisms_onto_librdkafka_settings() {
        assert_eq!(
            check(r#"{"mechanism": "none"}"#, false),
            Ok(pairs(&[("security.protocol", "plaintext")]))
        );
        assert_eq!(
            check(
                r#"{"mechanism": "PLAIN", "user": "u", "password": "p"}"#,
                false
            ),
            Ok(pairs(&[
                ("sasl.mechanisms", "PLAIN"),
                ("sasl.password", "p"),
                ("sasl.username", "u"),
                ("security.protocol", "sasl_plaintext"),
            ]))
        );
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            assert_eq!(
                check(
                    &format!(r#"{{"mechanism": "{mechanism}", "username": "u", "password": "p"}}"#),
                    true
                ),
                Ok(pairs(&[
                    ("sasl.mechanisms", mechanism),
                    ("sasl.password", "p"),
                    ("sasl.username", "u"),
                    ("security.protocol", "sasl_ssl"),
                ]))
            );
        }
        assert_eq!(
            check(
                r#"{"mechanism": "OAUTHBEARER", "access_token": "tok"}"#,
                true
            ),
            Ok(pairs(&[
                ("sasl.mechanisms", "OAUTHBEARER"),
                ("sasl.oauthbearer.config", "tok"),
                ("security.protocol", "sasl_ssl"),
            ]))
        );
        assert_eq!(
            check(r#"{"mechanism": "OAUTHBEARER", "token": "tok"}"#, false)
                .map(|p| p.into_iter().find(|(k, _)| k == OAUTH_TOKEN_KEY)),
            Ok(Some((OAUTH_TOKEN_KEY.to_owned(), "tok".to_owned())))
        );
        assert_eq!(
            check(r#"{"mechanism": "OAUTHBEARER"}"#, false),
            Err("sasl mechanism OAUTHBEARER needs an access_token".to_owned())
        );
        assert_eq!(
            check(r#"{"mechanism": "OAUTHBEARER", "token_cache": "c", "token_key": "k"}"#, false),
            Err("sasl.token_cache (tokens from a cache resource) is not supported yet; give the token in sasl.access_token".to_owned())
        );
        assert_eq!(
            check(r#"{"mechanism": "AWS_MSK_IAM"}"#, false),
            Err("sasl mechanism 'AWS_MSK_IAM' is not supported yet (supported: none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)".to_owned())
        );
    }

    #[test]
    fn hands_librdkafka_the_static_token() {
        let token = static_oauth_token(Some("tok")).unwrap();
        assert_eq!(token.token, "tok");
        assert!(!token.principal_name.is_empty());
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(token.lifetime_ms > now_ms);
        assert!(static_oauth_token(None).is_err());
    }

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
