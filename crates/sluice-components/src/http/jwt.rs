//! The `jwt` block of the HTTP client: every request carries
//! `Authorization: Bearer <token>`, a token over the configured claims signed
//! with a private key, as in Benthos (RS256, RS384, RS512 or EdDSA).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;

/// `jwt` fields (all default to empty or off).
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct JwtConfig {
    /// Whether each request carries a signed JWT as a bearer token.
    pub(crate) enabled: bool,
    /// A PEM file holding the private key that signs the token.
    private_key_file: String,
    /// The signing method: RS256, RS384, RS512 or EdDSA.
    signing_method: String,
    /// The claims of the token.
    claims: BTreeMap<String, serde_json::Value>,
    /// Extra fields of the token's header.
    headers: BTreeMap<String, serde_json::Value>,
}

/// The key file's PEM parsed for `method`: PKCS#1 or PKCS#8 for RSA, PKCS#8
/// for Ed25519.
fn encoding_key(method: Algorithm, pem: &[u8]) -> jsonwebtoken::errors::Result<EncodingKey> {
    match method {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
}

/// JSON as Go's encoding/json writes it: `<`, `>`, `&` and the two Unicode
/// line separators are escaped. They can only occur inside strings, so a
/// plain replacement is exact.
fn go_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .expect("JSON values and string maps always serialise")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The `Authorization` value for an enabled block, `None` for a disabled
/// one, or why the block cannot sign.
///
/// Benthos signs a fresh token for each request, but the claims are fixed
/// and RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic, so signing
/// once gives byte for byte the token Benthos sends every time. Reading the
/// key here also turns a missing or bad key into a startup error instead of
/// a failure of every request.
pub(crate) fn bearer(config: &JwtConfig) -> Result<Option<String>, String> {
    if !config.enabled {
        return Ok(None);
    }
    let method = match config.signing_method.as_str() {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "EdDSA" => Algorithm::EdDSA,
        other => {
            return Err(format!(
                "jwt signing method {other:?} is not supported: use RS256, RS384, RS512 or EdDSA"
            ));
        }
    };
    let pem = std::fs::read(&config.private_key_file).map_err(|e| {
        format!(
            "failed to read jwt private_key_file {:?}: {e}",
            config.private_key_file
        )
    })?;
    let key = encoding_key(method, &pem).map_err(|e| {
        format!(
            "failed to parse {} private key {:?}: {e}",
            config.signing_method, config.private_key_file
        )
    })?;
    Ok(Some(format!("Bearer {}", token(method, &key, config)?)))
}

/// `header.claims.signature`, each part base64url without padding. The
/// header is `alg` and `typ` overlaid with the configured headers, and keys
/// are sorted, as Go's JWT library writes them.
fn token(method: Algorithm, key: &EncodingKey, config: &JwtConfig) -> Result<String, String> {
    let mut header = BTreeMap::from([
        (
            "alg".to_owned(),
            serde_json::Value::from(config.signing_method.as_str()),
        ),
        ("typ".to_owned(), serde_json::Value::from("JWT")),
    ]);
    header.extend(config.headers.clone());
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(go_json(&header)),
        URL_SAFE_NO_PAD.encode(go_json(&config.claims))
    );
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, method)
        .map_err(|e| format!("failed to sign jwt: {e}"))?;
    Ok(format!("{signing_input}.{signature}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(method: &str, file: &str) -> JwtConfig {
        JwtConfig {
            enabled: true,
            private_key_file: file.to_owned(),
            signing_method: method.to_owned(),
            claims: BTreeMap::new(),
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn disabled_block_signs_nothing() {
        assert_eq!(bearer(&JwtConfig::default()), Ok(None));
    }

    #[test]
    fn unknown_method_and_missing_key_are_clear_errors() {
        let err = bearer(&config("HS256", "/nonexistent.pem")).unwrap_err();
        assert_eq!(
            err,
            "jwt signing method \"HS256\" is not supported: use RS256, RS384, RS512 or EdDSA"
        );
        let err = bearer(&config("RS256", "/nonexistent.pem")).unwrap_err();
        assert!(
            err.starts_with("failed to read jwt private_key_file \"/nonexistent.pem\": "),
            "{err}"
        );
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").unwrap();
        let err = bearer(&config("RS256", path.to_str().unwrap())).unwrap_err();
        assert!(
            err.starts_with("failed to parse RS256 private key"),
            "{err}"
        );
    }

    #[test]
    fn json_is_escaped_as_go_writes_it() {
        let claims = BTreeMap::from([("b", "<a&b>"), ("a", "x")]);
        assert_eq!(go_json(&claims), r#"{"a":"x","b":"\u003ca\u0026b\u003e"}"#);
    }
}
