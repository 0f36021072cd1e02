//! Request signing of the `http_client` output and `http` processor: OAuth
//! 1.0a (`oauth`) and JSON Web Tokens (`jwt`), checked by a local upstream
//! the way the receiving service would check them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::support::{Sluice, post, run_cli, write_config};
use crate::upstream::{Reply, Seen, Upstream};

/// `http_server` on `/post` -> `http_client` to `url` with `auth` (YAML
/// indented for the output's fields) and `propagate_response`.
fn config(url: &str, auth: &str) -> String {
    format!(
        "input:\n  http_server:\n    path: /post\noutput:\n  http_client:\n    url: '{url}'\n    propagate_response: true\n    retries: 0\n{auth}"
    )
}

// Go's url.QueryEscape, as the service would apply it.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn escape(text: &str) -> String {
    utf8_percent_encode(text, QUERY)
        .to_string()
        .replace("%20", "+")
}

/// The `key="value"` pairs of a Benthos OAuth header.
fn oauth_params(header: &str) -> BTreeMap<String, String> {
    header
        .split(", ")
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("key=value");
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .expect("quoted value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// What the service computes for a request with the header's nonce and
/// timestamp and the configured credentials.
fn expected_signature(method: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    let raw = BTreeMap::from([
        ("oauth_consumer_key", "my key"),
        ("oauth_nonce", params["oauth_nonce"].as_str()),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", params["oauth_timestamp"].as_str()),
        ("oauth_token", "token/1"),
        ("oauth_version", "1.0"),
    ]);
    let encoded: Vec<String> = raw
        .iter()
        .map(|(key, value)| format!("{}={}", escape(key), escape(value)))
        .collect();
    let base = format!("{method}&{}&{}", escape(url), escape(&encoded.join("&")));
    let key = format!("{}&{}", escape("consumer secret"), escape("token+secret"));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_signs_every_request_with_hmac_sha1() {
    let upstream = Upstream::always(Reply::ok("signed")).await;
    let url = upstream.url("/items?page=2&tag=new");
    let sluice = Sluice::start(&config(
        &url,
        "    oauth:\n      enabled: true\n      consumer_key: my key\n      consumer_secret: consumer secret\n      access_token: token/1\n      access_token_secret: token+secret\n",
    ));
    let before = now();
    for body in ["one", "two"] {
        assert_eq!(
            post(&sluice, "/post", body).await,
            (200, "signed".to_owned())
        );
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    let mut nonces = Vec::new();
    for request in &seen {
        let header = request.header("authorization");
        // Benthos writes the parameters in this order, without an `OAuth `
        // scheme prefix.
        let keys: Vec<&str> = header
            .split(", ")
            .map(|pair| pair.split('=').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "oauth_consumer_key",
                "oauth_nonce",
                "oauth_signature",
                "oauth_signature_method",
                "oauth_timestamp",
                "oauth_token",
                "oauth_version"
            ],
            "{header}"
        );
        let params = oauth_params(&header);
        assert_eq!(params["oauth_consumer_key"], "my+key");
        assert_eq!(params["oauth_token"], "token%2F1");
        assert_eq!(params["oauth_signature_method"], "HMAC-SHA1");
        assert_eq!(params["oauth_version"], "1.0");
        let timestamp: u64 = params["oauth_timestamp"].parse().unwrap();
        assert!((before..=now()).contains(&timestamp), "{header}");
        let signature = percent_encoding::percent_decode_str(&params["oauth_signature"])
            .decode_utf8()
            .unwrap();
        // The URL is signed as configured, query and all.
        assert_eq!(
            signature,
            expected_signature("POST", &url, &params),
            "{header}"
        );
        nonces.push(params["oauth_nonce"].clone());
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_processor_signs_with_oauth_too() {
    let upstream = Upstream::always(Reply::ok("enriched")).await;
    let sluice = Sluice::start(&format!(
        r#"
input:
  http_server:
    path: /post
pipeline:
  processors:
    - http:
        url: {}
        verb: GET
        oauth:
          enabled: true
          consumer_key: my key
          consumer_secret: consumer secret
          access_token: token/1
          access_token_secret: token+secret
    - sync_response: {{}}
output:
  drop: {{}}
"#,
        upstream.url("/lookup")
    ));
    assert_eq!(
        post(&sluice, "/post", "x").await,
        (200, "enriched".to_owned())
    );
    let seen = upstream.seen();
    let params = oauth_params(&seen[0].header("authorization"));
    let signature = percent_encoding::percent_decode_str(&params["oauth_signature"])
        .decode_utf8()
        .unwrap();
    assert_eq!(
        signature,
        expected_signature("GET", &upstream.url("/lookup"), &params)
    );
}

/// A PEM block of `der`.
fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A fresh RSA key pair: (private PKCS#8 PEM, public SPKI PEM).
fn rsa_key_pair() -> (String, String) {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let private = key.as_der().unwrap();
    let public = key.public_key().as_der().unwrap();
    (
        pem("PRIVATE KEY", private.as_ref()),
        pem("PUBLIC KEY", public.as_ref()),
    )
}

/// The bearer token of a request, verified with `public_pem`: its header
/// and claims.
fn verified(
    seen: &Seen,
    public_pem: &str,
    alg: jsonwebtoken::Algorithm,
) -> (jsonwebtoken::Header, serde_json::Value) {
    let header = seen.header("authorization");
    let token = header.strip_prefix("Bearer ").expect("a bearer token");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&["sluice-tests"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("token {token} does not verify: {e}"));
    (data.header, data.claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_token_verifies_with_the_public_key() {
    let (private, public) = rsa_key_pair();
    let upstream = Upstream::always(Reply::ok("authorised")).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, &private).unwrap();
    for (method, alg) in [
        ("RS256", jsonwebtoken::Algorithm::RS256),
        ("RS512", jsonwebtoken::Algorithm::RS512),
    ] {
        let sluice = Sluice::start(&config(
            &upstream.url("/secure"),
            &format!(
                "    jwt:\n      enabled: true\n      private_key_file: {}\n      signing_method: {method}\n      claims:\n        iss: sluice-tests\n        sub: orders\n        exp: 4102444800\n        scope: [read, write]\n      headers:\n        kid: key-1\n",
                key_file.display()
            ),
        ));
        assert_eq!(
            post(&sluice, "/post", "x").await,
            (200, "authorised".to_owned())
        );
        let seen = upstream.seen();
        let (header, claims) = verified(seen.last().unwrap(), &public, alg);
        assert_eq!(header.kid.as_deref(), Some("key-1"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": "sluice-tests",
                "sub": "orders",
                "exp": 4102444800_u64,
                "scope": ["read", "write"],
            })
        );
    }
    // A token from another key does not pass, so the check above is real.
    let (_, other_public) = rsa_key_pair();
    let seen = upstream.seen();
    let token = seen[0].header("authorization");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(other_public.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&["sluice-tests"]);
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            token.strip_prefix("Bearer ").unwrap(),
            &key,
            &validation
        )
        .is_err()
    );
}

#[test]
fn jwt_problems_stop_the_config_with_a_position() {
    // Logged in logfmt, so quotes inside the message are escaped.
    for (fields, expected) in [
        (
            "      private_key_file: /nonexistent/key.pem\n      signing_method: RS256\n",
            r#"(6,5) failed to read jwt private_key_file \"/nonexistent/key.pem\": No such file"#,
        ),
        (
            "      private_key_file: /nonexistent/key.pem\n      signing_method: HS256\n",
            r#"(6,5) jwt signing method \"HS256\" is not supported: use RS256, RS384, RS512 or EdDSA"#,
        ),
    ] {
        let (_dir, path) = write_config(&config(
            "http://127.0.0.1:1/",
            &format!("    jwt:\n      enabled: true\n{fields}"),
        ));
        let path = path.display().to_string();
        let (code, _, stderr) = run_cli(&["-c", &path, "--set", "http.address=127.0.0.1:0"], "");
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(&format!("{path}{expected}")), "{stderr}");
        assert!(!stderr.contains("Listening for HTTP requests"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_replaces_a_configured_authorization_header() {
    // Benthos sets basic auth over whatever came before it.
    let upstream = Upstream::always(Reply::ok("ok")).await;
    let sluice = Sluice::start(&config(
        &upstream.url("/"),
        "    headers:\n      Authorization: Token abc\n    basic_auth:\n      enabled: true\n      username: user\n      password: pass\n",
    ));
    assert_eq!(post(&sluice, "/post", "x").await.0, 200);
    let seen = upstream.wait_for(1, Duration::from_secs(5)).await;
    let values: Vec<&str> = seen[0]
        .headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(values, ["Basic dXNlcjpwYXNz"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_eddsa_token_verifies_with_the_public_key() {
    use aws_lc_rs::signature::KeyPair as _;
    let key = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let private = pem("PRIVATE KEY", key.to_pkcs8v1().unwrap().as_ref());
    let public = key.public_key().as_ref().to_vec();
    let upstream = Upstream::always(Reply::ok("authorised")).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("ed.pem");
    std::fs::write(&key_file, &private).unwrap();
    let sluice = Sluice::start(&config(
        &upstream.url("/secure"),
        &format!(
            "    jwt:\n      enabled: true\n      private_key_file: {}\n      signing_method: EdDSA\n      claims:\n        sub: orders\n        exp: 4102444800\n",
            key_file.display()
        ),
    ));
    assert_eq!(
        post(&sluice, "/post", "x").await,
        (200, "authorised".to_owned())
    );
    let header = upstream.seen()[0].header("authorization");
    let token = header.strip_prefix("Bearer ").expect("a bearer token");
    let key = jsonwebtoken::DecodingKey::from_ed_der(&public);
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("token {token} does not verify: {e}"));
    assert_eq!(data.header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(
        data.claims,
        serde_json::json!({"sub": "orders", "exp": 4102444800_u64})
    );
}
