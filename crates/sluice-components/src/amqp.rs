//! What the `amqp_0_9` input and output share: connecting to the first
//! reachable URL, and converting header tables to metadata.

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use sluice_bloblang::Value;
use sluice_core::message::Metadata;

pub(crate) use crate::tls::TlsConfig;

/// The TLS settings of an `amqps://` connection from a `tls` block, files
/// read at build time. As in Benthos, the URL scheme decides whether TLS is
/// used; the block only tunes it.
pub(crate) fn tls_config(tls: &TlsConfig) -> Result<OwnedTLSConfig, String> {
    if !tls.enabled {
        return Ok(OwnedTLSConfig::default());
    }
    if tls.skip_cert_verify {
        return Err("amqp_0_9 field tls.skip_cert_verify is not supported yet".to_owned());
    }
    if tls.enable_renegotiation {
        return Err("amqp_0_9 field tls.enable_renegotiation is not supported yet".to_owned());
    }
    let read = |field: &str, path: &str| {
        std::fs::read_to_string(path).map_err(|e| format!("failed to read {field} {path:?}: {e}"))
    };
    let mut roots = tls.root_cas.clone();
    if !tls.root_cas_file.is_empty() {
        if !roots.is_empty() && !roots.ends_with('\n') {
            roots.push('\n');
        }
        roots.push_str(&read("tls.root_cas_file", &tls.root_cas_file)?);
    }
    let identity = match tls.client_certs.as_slice() {
        [] => None,
        [cert] => {
            if !cert.password.is_empty() {
                return Err(
                    "amqp_0_9 field tls.client_certs.password (encrypted keys) is not supported yet"
                        .to_owned(),
                );
            }
            let pem = match (cert.cert.is_empty(), cert.cert_file.is_empty()) {
                (false, _) => cert.cert.clone(),
                (true, false) => read("tls.client_certs.cert_file", &cert.cert_file)?,
                (true, true) => {
                    return Err("tls.client_certs entry needs cert or cert_file".to_owned());
                }
            };
            let key = match (cert.key.is_empty(), cert.key_file.is_empty()) {
                (false, _) => cert.key.clone(),
                (true, false) => read("tls.client_certs.key_file", &cert.key_file)?,
                (true, true) => {
                    return Err("tls.client_certs entry needs key or key_file".to_owned());
                }
            };
            Some(OwnedIdentity::PKCS8 {
                pem: pem.into_bytes(),
                key: key.into_bytes(),
            })
        }
        _ => {
            return Err(
                "more than one amqp_0_9 tls.client_certs entry is not supported yet".to_owned(),
            );
        }
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain: (!roots.is_empty()).then_some(roots),
    })
}

/// Expands comma-separated URL lists.
pub(crate) fn expand_urls(urls: &[String]) -> Vec<String> {
    urls.iter()
        .flat_map(|u| u.split(','))
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Benthos's AMQP client reads an empty path, or a lone `/`, as the default
/// vhost `/` (`amqp://guest:guest@localhost:5672/` in every example); the
/// AMQP URI spec, which lapin follows, reads `/` as the vhost `""`.
pub(crate) fn default_vhost(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme + 3..];
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (path, query) = match tail.find('?') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    if path.is_empty() || path == "/" {
        format!("{}{authority}/%2f{query}", &url[..scheme + 3])
    } else {
        url.to_owned()
    }
}

/// Connects to the first URL that answers; `amqps://` URLs use `tls`.
pub(crate) async fn connect(urls: &[String], tls: &OwnedTLSConfig) -> Result<Connection, String> {
    let mut last_error = String::from("no urls given");
    let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
    for url in urls {
        let target = default_vhost(url);
        match Connection::connect_with_config(
            &target,
            ConnectionProperties::default(),
            tls.clone(),
            runtime.clone(),
        )
        .await
        {
            Ok(conn) => return Ok(conn),
            Err(err) => last_error = format!("{}: {err}", redact(url)),
        }
    }
    Err(last_error)
}

// Keeps passwords out of logs and error replies.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A header value as metadata.
pub(crate) fn value_of(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::ShortInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::LongInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::LongUInt(n) => Value::Int(i64::from(*n)),
        AMQPValue::LongLongInt(n) => Value::Int(*n),
        AMQPValue::Float(f) => Value::Float(f64::from(*f)),
        AMQPValue::Double(f) => Value::Float(*f),
        AMQPValue::ShortString(s) => Value::from(s.as_str()),
        AMQPValue::LongString(s) => Value::from(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::Timestamp(t) => Value::Int(i64::try_from(*t).unwrap_or(i64::MAX)),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(value_of).collect())
        }
        other => Value::from(format!("{other:?}")),
    }
}

/// Adds every header to `meta`; nested tables are flattened with their
/// parent key as prefix (`parent_child`).
pub(crate) fn flatten_headers(prefix: &str, table: &FieldTable, meta: &mut Metadata) {
    for (key, value) in table.inner() {
        let name = if prefix.is_empty() {
            key.as_str().to_owned()
        } else {
            format!("{prefix}_{}", key.as_str())
        };
        match value {
            AMQPValue::FieldTable(inner) => flatten_headers(&name, inner, meta),
            other => {
                meta.insert(name, value_of(other));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ClientCertConfig;

    fn tls(f: impl FnOnce(&mut TlsConfig)) -> Result<OwnedTLSConfig, String> {
        let mut config = TlsConfig {
            enabled: true,
            ..TlsConfig::default()
        };
        f(&mut config);
        tls_config(&config)
    }

    #[test]
    fn maps_the_tls_block() {
        let dir = std::env::temp_dir().join(format!("sluice-amqp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, "FILE CA").unwrap();
        let key_file = dir.join("key.pem");
        std::fs::write(&key_file, "FILE KEY").unwrap();

        assert_eq!(
            tls_config(&TlsConfig::default()),
            Ok(OwnedTLSConfig::default())
        );
        assert_eq!(tls(|_| {}), Ok(OwnedTLSConfig::default()));
        let both = tls(|t| {
            t.root_cas = "INLINE CA".to_owned();
            t.root_cas_file = ca_file.display().to_string();
        })
        .unwrap();
        assert_eq!(both.cert_chain.as_deref(), Some("INLINE CA\nFILE CA"));
        let client = tls(|t| {
            t.client_certs = vec![ClientCertConfig {
                cert: "CERT".to_owned(),
                key_file: key_file.display().to_string(),
                ..ClientCertConfig::default()
            }];
        })
        .unwrap();
        assert_eq!(
            client.identity,
            Some(OwnedIdentity::PKCS8 {
                pem: b"CERT".to_vec(),
                key: b"FILE KEY".to_vec(),
            })
        );
        assert_eq!(
            tls(|t| t.skip_cert_verify = true),
            Err("amqp_0_9 field tls.skip_cert_verify is not supported yet".to_owned())
        );
        let missing = tls(|t| t.root_cas_file = dir.join("nope.pem").display().to_string());
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.starts_with("failed to read tls.root_cas_file")),
            "{missing:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn redacts_passwords_and_expands_lists() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/"),
            "amqp://guest:***@host:5672/"
        );
        assert_eq!(expand_urls(&["a, b".to_owned()]), vec!["a", "b"]);
        assert_eq!(
            default_vhost("amqp://guest:guest@localhost:5672/"),
            "amqp://guest:guest@localhost:5672/%2f"
        );
        assert_eq!(
            default_vhost("amqp://localhost:5672"),
            "amqp://localhost:5672/%2f"
        );
        assert_eq!(
            default_vhost("amqp://localhost/?heartbeat=5"),
            "amqp://localhost/%2f?heartbeat=5"
        );
        assert_eq!(
            default_vhost("amqp://localhost/prod"),
            "amqp://localhost/prod"
        );
    }
}
