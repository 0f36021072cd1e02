//! Signing JSON Web Tokens with HMAC secrets or RSA / ECDSA private keys.
//!
//! Tokens are laid out as Go's `golang-jwt` library writes them for Benthos: the header and the
//! claims are compact JSON with sorted keys and HTML characters escaped, then base64url without
//! padding. HMAC and RSA (PKCS#1 v1.5) signatures are deterministic, so those tokens match Benthos
//! byte for byte. ECDSA signatures use RFC 6979 nonces here and random ones in Go: both verify
//! with the same public key, but the signature bytes differ between the two.

use crate::value::Map;

use base64::Engine as _;

use p256::pkcs8::{self, AssociatedOid as _, ObjectIdentifier};

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::type_err;
use crate::methods::jwt::{Alg, ES256_PUBLIC, ES384_PUBLIC, ES512_PUBLIC, HMAC_SECRET, RSA_PUBLIC};
use crate::methods::str_arg;
use crate::value::Value;

/// Header fields that a caller may not set: they control how the token is verified.
const RESERVED_HEADERS: [&str; 9] = [
    "alg", "typ", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit",
];

/// The key a token is signed with, decoded from the `signing_secret` argument.
enum SigningKey {
    Hmac(Vec<u8>),
    Rsa(Box<rsa::RsaPrivateKey>),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    Es512(p521::ecdsa::SigningKey),
}

/// Go's PEM reader skips text around the block; the Rust one wants the block alone, so
/// surrounding whitespace is trimmed first.
fn pem_der(secret: &str) -> Result<Vec<u8>, String> {
    rsa::pkcs8::der::pem::decode_vec(secret.trim().as_bytes())
        .map(|(_, der)| der)
        .map_err(|_| "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key".to_owned())
}

fn rsa_key(secret: &str) -> Result<SigningKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let der = pem_der(secret)?;
    rsa::RsaPrivateKey::from_pkcs1_der(&der)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_der(&der))
        .map(|key| SigningKey::Rsa(Box::new(key)))
        .map_err(|_| "key is not a valid RSA private key".to_owned())
}

/// The curve and the private scalar of an EC private key in SEC1 (`EC PRIVATE KEY`) or PKCS#8
/// (`PRIVATE KEY`) form. Go reads the curve from the key itself, so this does too.
fn ec_private_parts(der: &[u8]) -> Option<(ObjectIdentifier, Vec<u8>)> {
    if let Ok(key) = sec1::EcPrivateKey::try_from(der) {
        let curve = key.parameters.and_then(|p| p.named_curve())?;
        return Some((curve, key.private_key.to_vec()));
    }
    let info = pkcs8::PrivateKeyInfo::try_from(der).ok()?;
    let curve = info.algorithm.parameters_oid().ok()?;
    let key = sec1::EcPrivateKey::try_from(info.private_key).ok()?;
    Some((curve, key.private_key.to_vec()))
}

/// Drops the leading zero bytes some encoders put before the scalar (as Go tolerates), down
/// to the field size of the curve.
fn trimmed_scalar(mut scalar: &[u8], field_size: usize) -> &[u8] {
    while scalar.len() > field_size && scalar.first() == Some(&0) {
        scalar = &scalar[1..];
    }
    scalar
}

fn ecdsa_key(alg: Alg, secret: &str) -> Result<SigningKey, String> {
    let der = pem_der(secret)?;
    let not_ec = || "key is not a valid ECDSA private key".to_owned();
    let (curve, scalar) = ec_private_parts(&der).ok_or_else(not_ec)?;
    let key = if curve == p256::NistP256::OID {
        p256::ecdsa::SigningKey::from_slice(trimmed_scalar(&scalar, 32)).map(SigningKey::Es256)
    } else if curve == p384::NistP384::OID {
        p384::ecdsa::SigningKey::from_slice(trimmed_scalar(&scalar, 48)).map(SigningKey::Es384)
    } else if curve == p521::NistP521::OID {
        p521::ecdsa::SigningKey::from_slice(trimmed_scalar(&scalar, 66)).map(SigningKey::Es512)
    } else {
        return Err("x509: unknown elliptic curve".to_owned());
    }
    .map_err(|_| not_ec())?;
    // Go decodes a key of any curve and refuses it only when signing.
    let fits = matches!(
        (alg, &key),
        (Alg::Es256, SigningKey::Es256(_))
            | (Alg::Es384, SigningKey::Es384(_))
            | (Alg::Es512, SigningKey::Es512(_))
    );
    if fits {
        Ok(key)
    } else {
        Err(KEY_INVALID.to_owned())
    }
}

/// Go's error for a key of the right kind but the wrong size for the algorithm.
const KEY_INVALID: &str = "key is invalid";

fn signing_key(alg: Alg, secret: &str) -> Result<SigningKey, String> {
    match alg {
        Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => Ok(SigningKey::Hmac(secret.as_bytes().to_vec())),
        Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => {
            rsa_key(secret).map_err(|e| format!("failed to decode signing_secret: {e}"))
        }
        Alg::Es256 | Alg::Es384 | Alg::Es512 => ecdsa_key(alg, secret).map_err(|e| {
            if e == KEY_INVALID {
                format!("failed to sign token: {e}")
            } else {
                format!("failed to decode signing_secret: {e}")
            }
        }),
    }
}

fn hmac_sign<M>(secret: &[u8], data: &[u8]) -> Vec<u8>
where
    M: hmac::Mac + hmac::digest::KeyInit,
{
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn rsa_sign<D>(key: &rsa::RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>, String>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    key.sign(rsa::Pkcs1v15Sign::new::<D>(), &D::digest(data))
        .map_err(|e| format!("failed to sign token: {e}"))
}

fn signature(alg: Alg, key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, String> {
    use p256::ecdsa::signature::Signer as _;
    Ok(match (alg, key) {
        (Alg::Hs256, SigningKey::Hmac(s)) => hmac_sign::<hmac::Hmac<sha2::Sha256>>(s, data),
        (Alg::Hs384, SigningKey::Hmac(s)) => hmac_sign::<hmac::Hmac<sha2::Sha384>>(s, data),
        (Alg::Hs512, SigningKey::Hmac(s)) => hmac_sign::<hmac::Hmac<sha2::Sha512>>(s, data),
        (Alg::Rs256, SigningKey::Rsa(k)) => rsa_sign::<sha2::Sha256>(k, data)?,
        (Alg::Rs384, SigningKey::Rsa(k)) => rsa_sign::<sha2::Sha384>(k, data)?,
        (Alg::Rs512, SigningKey::Rsa(k)) => rsa_sign::<sha2::Sha512>(k, data)?,
        // JWS (RFC 7518) wants the fixed-width `r || s` form, which is what `to_bytes` gives.
        (_, SigningKey::Es256(k)) => {
            let sig: p256::ecdsa::Signature = k.sign(data);
            sig.to_bytes().to_vec()
        }
        (_, SigningKey::Es384(k)) => {
            let sig: p384::ecdsa::Signature = k.sign(data);
            sig.to_bytes().to_vec()
        }
        (_, SigningKey::Es512(k)) => {
            let sig: p521::ecdsa::Signature = k.sign(data);
            sig.to_bytes().to_vec()
        }
        _ => unreachable!("signing_key builds the key kind of its algorithm"),
    })
}

/// The Go type name Benthos reports for a `headers` argument that is not an object.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Float(_) | Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Bytes(_) => "[]uint8",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Timestamp(_) => "time.Time",
    }
}

/// Builds and signs a token for `claims` with the given key and extra header fields.
fn sign_jwt(alg: Alg, claims: &Value, secret: &str, headers: &Value) -> Result<String, String> {
    let custom = match headers {
        Value::Null => None,
        Value::Object(map) => Some(map),
        other => {
            return Err(format!(
                "headers parameter must be an object (map), got {}",
                go_type_name(other)
            ));
        }
    };
    let key = signing_key(alg, secret)?;
    if !matches!(claims, Value::Object(_)) {
        return Err(type_err("object", claims));
    }
    let mut header = Map::new();
    for (name, value) in custom.into_iter().flatten() {
        if !RESERVED_HEADERS.contains(&name.as_str()) {
            header.insert(name.as_str(), value.clone());
        }
    }
    header.insert("alg", Value::from(alg.name()));
    header.insert("typ", Value::from("JWT"));
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut token = b64.encode(Value::Object(header).to_json_bytes_html_escaped());
    token.push('.');
    token.push_str(&b64.encode(claims.to_json_bytes_html_escaped()));
    let sig = signature(alg, &key, token.as_bytes())?;
    token.push('.');
    token.push_str(&b64.encode(sig));
    Ok(token)
}

macro_rules! sign_fn {
    ($name:ident, $alg:expr) => {
        fn $name(v: Value, args: &[Value]) -> Result<Value, String> {
            let secret = str_arg(&args[0], "signing_secret")?;
            sign_jwt($alg, &v, &secret, &args[1]).map(Value::from)
        }
    };
}

sign_fn!(sign_hs256, Alg::Hs256);
sign_fn!(sign_hs384, Alg::Hs384);
sign_fn!(sign_hs512, Alg::Hs512);
sign_fn!(sign_rs256, Alg::Rs256);
sign_fn!(sign_rs384, Alg::Rs384);
sign_fn!(sign_rs512, Alg::Rs512);
sign_fn!(sign_es256, Alg::Es256);
sign_fn!(sign_es384, Alg::Es384);
sign_fn!(sign_es512, Alg::Es512);

// The private halves of the public keys the `parse_jwt_*` examples verify with (test keys
// published with Benthos's own tests, never used for anything real).
pub(crate) const RSA_PRIVATE: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAs/ibN8r68pLMR6gRzg4S8v8l6Q7yi8qURjkEbcNeM1rkokC7
xh0I4JVTwxYSVv/JIW8qJdyspl5NIfuAVi32WfKvSAs+NIs+DMsNPYw3yuQals4A
X8hith1YDvYpr8SD44jxhz/DR9lYKZFGhXGB+7NqQ7vpTWp3BceLYocazWJgusZt
7CgecIq57ycM5hjM93BvlrUJ8nQ1a46wfL/8Cy4P0et70hzZrsjjN41KFhKY0iUw
lyU41yEiDHvHDDsTMBxAZosWjSREGfJL6MfpXOInTHs/Gg6DZMkbxjQu6L06EdJ+
Q/NwglJdAXM7Zo9rNELqRig6DdvG5JesdMsO+QIDAQABAoIBAEBo5ixWoe906FVw
6kZjtRZwiIHbjqTHML/dIh+ifzFEA3WqU0m5FHdEGkFEwfWO/83OejgovUWhlFto
JmsxceyJNYBEPdQSTXfIqAlyCHm9n2J/gZTGI8XnxJ8+LHcyjr09QqvT/zDUsX/W
9XVGxW1urcZmFz5UrxpLazAtCEOeqzCRV2Lu05Jk8DWKBWDDjRS24qmWKH1vPSgC
+QuSIHX00OzhE5MuiGgPtE3C/qPzjKLYfvFW7xEN6azZAiIBmIp+Tp9oc8I1CZ/V
buV4iKrkZbGqbZgH4d6FwUuk9NpvYokKn6mFyPYKQJUCwAh4jQhsvsminKeJjci/
xEXIt40CgYEA21PvYT8vWw+gQbUnQsNFa5OBZY8N3YyakgGo3E4EkzjEmE5Ds+R4
kom21PAvFpzY4kxuIJyNYGpvO9RAqh7hflNffTfDL3HRKfG1nAM4V9HOu4P2BFT1
LYmCd8seTQRMZd3rR0zHjWZAos3rrJShESg5oG53lS+DWnptvV1KTWcCgYEA0hAN
i9OpT5hP+p35QLEeeVhHBFlkz/TShssGT1BvKQldEbqTxQtGALfFdvGkYISxzIsj
XpZHd2qfEx/lHiN0xkVz8IOKzS10susMtbcX0ByOBHRxz0+9qloxrP3o2sWVMkf+
vR0/T0kLr1EPgjYb6hNDnQHLOobaNFq8Tu0ZpJ8CgYAMS6ZN01b6SeP4CwnKalwH
7dsBMIXcd7dqnAE1aIJFJpeO2kRdX1+LB4FiapyZLe3SseoyldQvJYha2ElPwC9v
/4iI4olkrYLGUTCXMG8GLVLjnEA8ee7MwLq5sH9gXe9SfqBj/N/rA2J4PgcKQ8LL
zW99mPPHP0Sj290vEn3J3QKBgQCD4iQ/F6KDIIOGO0xUO1+Am9Xqex16GqFak3jg
rwU7ZG+UQ+mmmo9WwAovxUKIfocKfoi0R/GSndRFs46rv2L/YHeMF2o7q0BLXJtc
Mxm2RVc8oMcbe1r+6yWpELjzMX2cVesvXH91Dc1SQrhT7hjUe0fF+WxY0HWKzTTQ
8LdazQKBgGvUgXyLA6Nx0fKr5HvsSHurX67trU7/4GuuOIm+aGx4MWu6E8NZdkxs
tg+1jV0qRszLh20l2jcF5Xr1IUfQINcS2j7v1dGHdBzu9bmupRC7DTYXRiTv+L7L
EppmxRJGlb1Mh0Egvc+eup2lzglmgdRe/FBX4LH6hhH6tohRt8Yx
-----END RSA PRIVATE KEY-----";
pub(crate) const ES256_PRIVATE: &str = "-----BEGIN EC PRIVATE KEY-----
MHgCAQEEIQD8OkejBIrg9VDaOr3uOQlbqVeCJmz4ewGxtzQ1q7WDhqAKBggqhkjO
PQMBB6FEA0IABBrS6iAXjx5iIUHH9CS4HPhf+Fv6CHadBrWudxt+VXqzQ4FFF5qe
/CdpH4eKi3YdF7ZjjCOfO7Qmqo7wwF37P/8=
-----END EC PRIVATE KEY-----";
pub(crate) const ES384_PRIVATE: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDBTWmZosMhHGYBLWXLp6OupGWQqUPOeV6N+RNnZuaecYBy6DcK8NiCO
frNZZLLf/eOgBwYFK4EEACKhZANiAARGjPvj8HpLCYuGzxfsJaGetbJGsHXcC5Tw
5h6rLSodG70lY3Dw0hq+qlOa7pc9PjFwVqdiOrwVt64zXV6rToLnaY2ZLgsvDMDa
KaUUSCfzlu8mgLdueS6riZCPC31XF0c=
-----END EC PRIVATE KEY-----";
pub(crate) const ES512_PRIVATE: &str = "-----BEGIN EC PRIVATE KEY-----
MIHcAgEBBEIA9KQHq4Ta5Spbzgbym9APM+5z+nNeAxVqNy8nOlZo0zVs9hXuSJeQ
0K68oUBLpZkAZ85c8mNiIg6GiDwY5qcQaM6gBwYFK4EEACOhgYkDgYYABACQct22
z0/np8WTKGlhDfUz9K3C3fC+lrGGV+53GdeBM7Ug/hFBGCvJHFnX0RTOG9YNwbcZ
AhySg0xjk96WycIacgFPZeH01CSNYXkrrFLi6kWxsZIDBD4YjLKTkg8nYseA7IxI
JWHmBFldXcJkvNe6PH+6YL1R5jJO3TnNFFa4P6nltg==
-----END EC PRIVATE KEY-----";

const SUB_CLAIMS: &str = r#"{"claims":{"sub":"user123"}}"#;
const MOOD_CLAIMS: &str = r#"{"claims":{"iat":1516239022,"mood":"Disdainful","sub":"1234567890"}}"#;

/// Leaks a string built from a template: examples are `&'static str` and registration runs
/// once per environment.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// An example whose output is a known token.
fn token_example(
    name: &str,
    secret: &str,
    input: &'static str,
    token: &str,
) -> crate::env::Example {
    ex(
        leak(format!(
            "root.signed = this.claims.{name}(\"\"\"{secret}\"\"\")"
        )),
        &[(input, leak(format!(r#"{{"signed":"{token}"}}"#)))],
    )
}

/// An example that signs and then verifies with the matching public key, for algorithms whose
/// signatures are randomised in Benthos.
fn round_trip_example(name: &str, alg: &str, secret: &str, public: &str) -> crate::env::Example {
    ex(
        leak(format!(
            "root.claims = this.claims.{name}(\"\"\"{secret}\"\"\").parse_jwt_{alg}(\"\"\"{public}\"\"\")"
        )),
        &[(MOOD_CLAIMS, MOOD_CLAIMS)],
    )
}

pub(crate) fn register(env: &mut Environment) {
    // Tokens over SUB_CLAIMS for the HMAC family: without and with extra headers.
    let hmac: [(&'static str, &str, &str, crate::env::SimpleMethod); 3] = [
        (
            "sign_jwt_hs256",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIn0.hUl-nngPMY_3h9vveWJUPsCcO5PeL6k9hWLnMYeFbFQ",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Im15LWtleSIsInR5cCI6IkpXVCIsIngiOiJ5In0.eyJzdWIiOiJ1c2VyMTIzIn0.1Ph1lfGhnErSu34l7QJ2eaLdLul38Y90tbayywJ6fPU",
            sign_hs256,
        ),
        (
            "sign_jwt_hs384",
            "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIn0.zGYLr83aToon1efUNq-hw7XgT20lPvZb8sYei8x6S6mpHwb433SJdXJXx0Oio8AZ",
            "eyJhbGciOiJIUzM4NCIsImtpZCI6Im15LWtleSIsInR5cCI6IkpXVCIsIngiOiJ5In0.eyJzdWIiOiJ1c2VyMTIzIn0.6hky98qw_B5hc4rdhGzWOJOSMbtDzyjWlex4AeQNT6upxWVSkUuStrUaWg7naXss",
            sign_hs384,
        ),
        (
            "sign_jwt_hs512",
            "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIn0.zBNR9o_6EDwXXKkpKLNJhG26j8Dc-mV-YahBwmEdCrmiWt5les8I9rgmNlWIowpq6Yxs4kLNAdFhqoRz3NXT3w",
            "eyJhbGciOiJIUzUxMiIsImtpZCI6Im15LWtleSIsInR5cCI6IkpXVCIsIngiOiJ5In0.eyJzdWIiOiJ1c2VyMTIzIn0.JdWpoZ-S9DXxMGlab-WlFMqmtrLEuDTdolRPyGHaDbLfUuA0-2J3MRgJh0W7VpuKsqBYMHtpiH2PqZwe-8dQcg",
            sign_hs512,
        ),
    ];
    for (name, plain, with_headers, imp) in hmac {
        let headers_example = ex(
            leak(format!(
                r#"root.signed = this.claims.{name}(signing_secret: """{HMAC_SECRET}""", headers: {{"kid": "my-key", "x": "y"}})"#
            )),
            &[(
                SUB_CLAIMS,
                leak(format!(r#"{{"signed":"{with_headers}"}}"#)),
            )],
        );
        register_one(
            env,
            name,
            vec![
                token_example(name, HMAC_SECRET, SUB_CLAIMS, plain),
                headers_example,
            ],
            imp,
        );
    }

    // RSA PKCS#1 v1.5 signatures are deterministic: these are the tokens Benthos documents.
    let rsa: [(&'static str, &str, crate::env::SimpleMethod); 3] = [
        (
            "sign_jwt_rs256",
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.b0lH3jEupZZ4zoaly4Y_GCvu94HH6UKdKY96zfGNsIkPZpQLHIkZ7jMWlLlNOAd8qXlsBGP_i8H2qCKI4zlWJBGyPZgxXDzNRPVrTDfFpn4t4nBcA1WK2-ntXP3ehQxsaHcQU8Z_nsogId7Pme5iJRnoHWEnWtbwz5DLSXL3ZZNnRdrHM9MdI7QSDz9mojKDCaMpGN9sG7Xl-tGdBp1XzXuUOzG8S03mtZ1IgVR1uiBL2N6oohHIAunk8DIAmNWI-zgycTgzUGU7mvPkKH43qO8Ua1-13tCUBKKa8VxcotZ67Mxm1QAvBGoDnTKwWMwghLzs6d6WViXQg6eWlJcpBA",
            sign_rs256,
        ),
        (
            "sign_jwt_rs384",
            "eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.orcXYBcjVE5DU7mvq4KKWFfNdXR4nEY_xupzWoETRpYmQZIozlZnM_nHxEk2dySvpXlAzVm7kgOPK2RFtGlOVaNRIa3x-pMMr-bhZTno4L8Hl4sYxOks3bWtjK7wql4uqUbqThSJB12psAXw2-S-I_FMngOPGIn4jDT9b802ottJSvTpXcy0-eKTjrV2PSkRRu-EYJh0CJZW55MNhqlt6kCGhAXfbhNazN3ASX-dmpd_JixyBKphrngr_zRA-FCn_Xf3QQDA-5INopb4Yp5QiJ7UxVqQEKI80X_JvJqz9WE1qiAw8pq5-xTen1t7zTP-HT1NbbD3kltcNa3G8acmNg",
            sign_rs384,
        ),
        (
            "sign_jwt_rs512",
            "eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.rsMp_X5HMrUqKnZJIxo27aAoscovRA6SSQYR9rq7pifIj0YHXxMyNyOBDGnvVALHKTi25VUGHpfNUW0VVMmae0A4t_ObNU6hVZHguWvetKZZq4FZpW1lgWHCMqgPGwT5_uOqwYCH6r8tJuZT3pqXeL0CY4putb1AN2w6CVp620nh3l8d3XWb4jaifycd_4CEVCqHuWDmohfug4VhmoVKlIXZkYoAQowgHlozATDssBSWdYtv107Wd2AzEoiXPu6e3pflsuXULlyqQnS4ELEKPYThFLafh1NqvZDPddqozcPZ-iODBW-xf3A4DYDdivnMYLrh73AZOGHexxu8ay6nDA",
            sign_rs512,
        ),
    ];
    for (name, token, imp) in rsa {
        let alg = name.trim_start_matches("sign_jwt_");
        register_one(
            env,
            name,
            vec![
                token_example(name, RSA_PRIVATE, MOOD_CLAIMS, token),
                round_trip_example(name, alg, RSA_PRIVATE, RSA_PUBLIC),
            ],
            imp,
        );
    }

    let ecdsa: [(&'static str, &str, &str, crate::env::SimpleMethod); 3] = [
        ("sign_jwt_es256", ES256_PRIVATE, ES256_PUBLIC, sign_es256),
        ("sign_jwt_es384", ES384_PRIVATE, ES384_PUBLIC, sign_es384),
        ("sign_jwt_es512", ES512_PRIVATE, ES512_PUBLIC, sign_es512),
    ];
    for (name, private, public, imp) in ecdsa {
        let alg = name.trim_start_matches("sign_jwt_");
        register_one(
            env,
            name,
            vec![round_trip_example(name, alg, private, public)],
            imp,
        );
    }
}

fn register_one(
    env: &mut Environment,
    name: &'static str,
    examples: Vec<crate::env::Example>,
    imp: crate::env::SimpleMethod,
) {
    env.method(
        name,
        "JSON Web Tokens",
        "Signs an object of JWT claims and returns the token. The signing secret is the HMAC \
         secret for the HS algorithms and a PEM private key (PKCS#1, PKCS#8 or SEC1) for the RS \
         and ES ones. Optional `headers` are added to the token header, except `alg`, `typ`, \
         `jku`, `jwk`, `x5u`, `x5c`, `x5t`, `x5t#S256` and `crit`, which are ignored.",
        vec![
            p("signing_secret", Kind::Str),
            opt("headers", Kind::Any, Value::Null),
        ],
        examples,
        MethodImpl::Simple(imp),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `mapping` on `input` and returns the new document as text, or the error.
    use crate::testing::map_one as check;

    const ALL: [(&str, &str, &str); 9] = [
        ("hs256", HMAC_SECRET, HMAC_SECRET),
        ("hs384", HMAC_SECRET, HMAC_SECRET),
        ("hs512", HMAC_SECRET, HMAC_SECRET),
        ("rs256", RSA_PRIVATE, RSA_PUBLIC),
        ("rs384", RSA_PRIVATE, RSA_PUBLIC),
        ("rs512", RSA_PRIVATE, RSA_PUBLIC),
        ("es256", ES256_PRIVATE, ES256_PUBLIC),
        ("es384", ES384_PRIVATE, ES384_PUBLIC),
        ("es512", ES512_PRIVATE, ES512_PUBLIC),
    ];

    #[test]
    fn every_algorithm_round_trips_through_parse() {
        let input = r#"{"a":[1,2.5,"<tag>"],"nested":{"ok":true},"sub":"user123"}"#;
        for (alg, private, public) in ALL {
            let mapping = format!(
                "root = this.sign_jwt_{alg}(\"\"\"{private}\"\"\").parse_jwt_{alg}(\"\"\"{public}\"\"\")"
            );
            assert_eq!(check(&mapping, input).as_deref(), Ok(input), "{alg}");
        }
    }

    #[test]
    fn headers_are_added_and_reserved_ones_ignored() {
        for (alg, private, _) in ALL {
            let mapping = format!(
                r#"root = this.sign_jwt_{alg}(signing_secret: """{private}""", headers: {{"kid": "1234", "alg": "none", "typ": "bar", "jku": "https://example.com/keys.json", "x5t#S256": "t", "crit": ["b64"], "foo": "bar"}}).split(".").index(0).decode("base64rawurl").string()"#
            );
            let header = check(&mapping, r#"{"sub":"user123"}"#).unwrap();
            let expected = format!(
                r#"{{"alg":"{}","foo":"bar","kid":"1234","typ":"JWT"}}"#,
                alg.to_uppercase()
            );
            assert_eq!(header, expected, "{alg}");
        }
    }

    #[test]
    fn claims_are_serialised_like_go() {
        // Keys sorted, HTML characters escaped, integers without a fraction.
        let mapping = r#"root = this.sign_jwt_hs256("secret").split(".").index(1).decode("base64rawurl").string()"#;
        let claims = check(mapping, r#"{"z":1,"a":"<&>","m":1.5e3}"#).unwrap();
        assert_eq!(claims, r#"{"a":"\u003c\u0026\u003e","m":1.5e3,"z":1}"#);
    }

    #[test]
    fn ecdsa_signatures_have_the_fixed_jws_width() {
        for (alg, private, width) in [
            ("es256", ES256_PRIVATE, 64),
            ("es384", ES384_PRIVATE, 96),
            ("es512", ES512_PRIVATE, 132),
        ] {
            let mapping = format!(
                r#"root = this.sign_jwt_{alg}("""{private}""").split(".").index(2).decode("base64rawurl").length()"#
            );
            assert_eq!(
                check(&mapping, r#"{"sub":"x"}"#),
                Ok(width.to_string()),
                "{alg}"
            );
        }
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        let cases = [
            (
                r#"root = this.sign_jwt_hs256(signing_secret: "s", headers: "not-an-object")"#,
                r#"{"sub":"x"}"#,
                "headers parameter must be an object (map), got string",
            ),
            (
                r#"root = this.sign_jwt_hs256("s")"#,
                r#"["sub"]"#,
                "expected object value, got array",
            ),
            (
                r#"root = this.sign_jwt_rs256("not a key")"#,
                r#"{"sub":"x"}"#,
                "failed to decode signing_secret: invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key",
            ),
            (
                r#"root = this.sign_jwt_rs256("""-----BEGIN RSA PRIVATE KEY-----
... signature data ...
-----END RSA PRIVATE KEY-----""")"#,
                r#"{"sub":"x"}"#,
                "failed to decode signing_secret: invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key",
            ),
        ];
        for (mapping, input, want) in cases {
            let err = check(mapping, input).unwrap_err();
            assert!(err.contains(want), "{mapping}: {err}");
        }
        let wrong_kind = format!(r#"root = this.sign_jwt_rs256("""{ES256_PRIVATE}""")"#);
        let err = check(&wrong_kind, r#"{"sub":"x"}"#).unwrap_err();
        assert!(
            err.contains("failed to decode signing_secret: key is not a valid RSA private key"),
            "{err}"
        );
        let wrong_curve = format!(r#"root = this.sign_jwt_es256("""{ES384_PRIVATE}""")"#);
        let err = check(&wrong_curve, r#"{"sub":"x"}"#).unwrap_err();
        assert!(
            err.contains("failed to sign token: key is invalid"),
            "{err}"
        );
    }

    #[test]
    fn pkcs8_private_keys_are_accepted() {
        use p256::pkcs8::EncodePrivateKey as _;
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        let rsa = rsa::RsaPrivateKey::from_pkcs1_pem(RSA_PRIVATE).unwrap();
        let rsa_pkcs8 = rsa.to_pkcs8_pem(Default::default()).unwrap();
        // The SEC1 test key pads its scalar to 33 bytes, which the RustCrypto reader refuses.
        let (_, scalar) = ec_private_parts(&pem_der(ES256_PRIVATE).unwrap()).unwrap();
        let ec = p256::SecretKey::from_slice(trimmed_scalar(&scalar, 32)).unwrap();
        let ec_pkcs8 = ec.to_pkcs8_pem(Default::default()).unwrap();
        for (alg, private, public) in [
            ("rs256", rsa_pkcs8.as_str(), RSA_PUBLIC),
            ("es256", ec_pkcs8.as_str(), ES256_PUBLIC),
        ] {
            let mapping = format!(
                "root = this.sign_jwt_{alg}(\"\"\"\n{private}\n\"\"\").parse_jwt_{alg}(\"\"\"{public}\"\"\")"
            );
            assert_eq!(
                check(&mapping, r#"{"sub":"x"}"#).as_deref(),
                Ok(r#"{"sub":"x"}"#)
            );
        }
    }
}
