//! What the `amqp_0_9` input and output share: connecting to the first
//! reachable URL (with the `tls` block), and converting header tables to
//! metadata.

mod tls;

use lapin::tcp::{AMQPUriTcpExt, TLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};
use sluice_bloblang::Value;
use sluice_core::message::Metadata;

pub(crate) use self::tls::{AmqpTls, tls_config};
pub(crate) use crate::tls::TlsConfig;

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
pub(crate) async fn connect(urls: &[String], tls: &AmqpTls) -> Result<Connection, String> {
    let mut last_error = String::from("no urls given");
    let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
    let unverified = match tls.skip_verify {
        true => Some(tls::unverified_connector(&tls.lapin)?),
        false => None,
    };
    for url in urls {
        let target = default_vhost(url);
        let attempt = match &unverified {
            None => {
                Connection::connect_with_config(
                    &target,
                    ConnectionProperties::default(),
                    tls.lapin.clone(),
                    runtime.clone(),
                )
                .await
            }
            Some(connector) => {
                let uri: AMQPUri = match target.parse() {
                    Ok(uri) => uri,
                    Err(err) => {
                        last_error = format!("{}: {err}", redact(url));
                        continue;
                    }
                };
                let connector = connector.clone();
                // lapin's connector with our TLS configuration: a plain TCP
                // connection first, then the handshake with `connector`.
                Connection::connector(
                    uri,
                    runtime.clone(),
                    async move |uri: AMQPUri, runtime| {
                        let mut plain = uri.clone();
                        plain.scheme = AMQPScheme::AMQP;
                        let stream = plain
                            .connect_with_config_async(TLSConfig::default(), &runtime)
                            .await?;
                        Ok(match uri.scheme {
                            AMQPScheme::AMQP => stream,
                            AMQPScheme::AMQPS => {
                                stream.into_rustls(&connector, &uri.authority.host).await?
                            }
                        })
                    },
                    ConnectionProperties::default(),
                )
                .await
            }
        };
        match attempt {
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
                meta.insert(name.into(), value_of(other));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
