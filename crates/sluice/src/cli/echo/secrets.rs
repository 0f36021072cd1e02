//! Hides secrets in a config before it is printed, as Benthos scrubs fields
//! marked secret: a password, token or key becomes `!!!SECRET_SCRUBBED!!!`,
//! unless it is only a reference to an environment variable (`${PASSWORD}`),
//! and the password of a URL's user info is scrubbed the same way.
//!
//! Benthos marks secret fields in each component's spec; sluice's schemas
//! carry no such mark, so fields are recognised by name, erring on the side
//! of hiding.

use sluice_core::config::{Node, NodeKind, ScalarStyle};

/// What a scrubbed value is replaced with, as Benthos prints it.
pub(crate) const SCRUBBED: &str = "!!!SECRET_SCRUBBED!!!";

/// Field names that hold secrets wherever they appear.
const SECRET_NAMES: &[&str] = &[
    "password",
    "password_hash",
    "secret",
    "token",
    "access_token",
    "client_secret",
    "consumer_secret",
    "access_token_secret",
    "private_key",
    "api_key",
    "secret_key",
    "session_token",
    "account_key",
    "connection_string",
    "private_key_pass",
    "passphrase",
];

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str())
        || ["_password", "_secret", "_token"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// Replaces every secret in `node`, in place.
pub(crate) fn scrub(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                if key.as_str().is_some_and(is_secret_name) {
                    scrub_all(value);
                } else {
                    scrub(value);
                }
            }
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(scrub),
        NodeKind::Scalar(text, _) => {
            if let Some(hidden) = scrub_url_password(text) {
                *text = hidden;
            }
        }
        NodeKind::Null => {}
    }
}

/// Scrubs every scalar under a secret field (a list of keys, say).
fn scrub_all(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, v)| scrub_all(v)),
        NodeKind::Seq(items) => items.iter_mut().for_each(scrub_all),
        NodeKind::Scalar(text, style) => {
            if !text.is_empty() && !is_env_reference(text) {
                *text = SCRUBBED.to_owned();
                *style = ScalarStyle::SingleQuoted;
            }
        }
        NodeKind::Null => {}
    }
}

/// `${NAME}` or `${NAME:default}`, with blanks around: the secret itself is
/// not in the config.
fn is_env_reference(text: &str) -> bool {
    let text = text.trim();
    text.strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|inner| {
            let name = inner.split(':').next().unwrap_or_default();
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !inner.contains('}')
        })
}

/// `scheme://user:password@host...` with the password scrubbed, or `None`
/// when the text holds no such URL.
fn scrub_url_password(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user_info, _) = rest[..authority_end].rsplit_once('@')?;
    let (user, password) = user_info.split_once(':')?;
    if password.is_empty() || is_env_reference(password) {
        return None;
    }
    let host_and_more = &rest[user_info.len()..];
    Some(format!("{scheme}://{user}:{SCRUBBED}{host_and_more}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(yaml: &str) -> String {
        let mut node = Node::parse(yaml).unwrap();
        scrub(&mut node);
        node.to_yaml()
    }

    #[test]
    fn secrets_are_hidden_and_env_references_kept() {
        let out = scrubbed(
            "kafka:\n  sasl:\n    user: me\n    password: hunter2\nhttp:\n  basic_auth:\n    password_hash: abc\n    username: admin\noauth2:\n  client_secret: '${CLIENT_SECRET}'\n  token: \"\"\n",
        );
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("abc"), "{out}");
        assert!(out.contains("password: '!!!SECRET_SCRUBBED!!!'"), "{out}");
        assert!(out.contains("user: me"), "{out}");
        assert!(out.contains("username: admin"), "{out}");
        assert!(out.contains("${CLIENT_SECRET}"), "{out}");
    }

    #[test]
    fn url_passwords_are_hidden() {
        let out = scrubbed(
            "amqp_0_9:\n  urls: [ 'amqp://guest:guest@localhost:5672/' ]\n  other: https://example.com/a@b\n",
        );
        assert!(
            out.contains("amqp://guest:!!!SECRET_SCRUBBED!!!@localhost:5672/"),
            "{out}"
        );
        assert!(out.contains("https://example.com/a@b"), "{out}");
    }
}
