//! Parsing JSON Web Tokens signed with HMAC, RSA or ECDSA keys.

use base64::Engine as _;

use crate::env::{Environment, Kind, MethodImpl, ex, p};
use crate::methods::{str_arg, text};
use crate::value::Value;

/// A JWT signing algorithm, named as in the token header's `alg` field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Hs256,
    Hs384,
    Hs512,
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }
}

fn hmac_ok<M>(secret: &[u8], signed: &[u8], sig: &[u8]) -> bool
where
    M: hmac::Mac + hmac::digest::KeyInit,
{
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(signed);
    mac.verify_slice(sig).is_ok()
}

fn rsa_ok<D>(pem: &str, signed: &[u8], sig: &[u8]) -> Result<bool, String>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    let key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| format!("invalid RSA public key: {e}"))?;
    let digest = D::digest(signed);
    Ok(key
        .verify(rsa::Pkcs1v15Sign::new::<D>(), &digest, sig)
        .is_ok())
}

fn ecdsa_ok(alg: Alg, pem: &str, signed: &[u8], sig: &[u8]) -> Result<bool, String> {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let bad = |e: p256::pkcs8::spki::Error| format!("invalid ECDSA public key: {e}");
    Ok(match alg {
        Alg::Es256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(bad)?;
            p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| key.verify(signed, &s).is_ok())
        }
        Alg::Es384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_pem(pem).map_err(bad)?;
            p384::ecdsa::Signature::from_slice(sig).is_ok_and(|s| key.verify(signed, &s).is_ok())
        }
        _ => {
            let public = p521::PublicKey::from_public_key_pem(pem).map_err(bad)?;
            let key = p521::ecdsa::VerifyingKey::from_affine(*public.as_affine())
                .map_err(|e| format!("invalid ECDSA public key: {e}"))?;
            p521::ecdsa::Signature::from_slice(sig).is_ok_and(|s| key.verify(signed, &s).is_ok())
        }
    })
}

/// Verifies `token` and returns its claims; registered claims `exp` and `nbf` are checked.
fn parse_jwt(alg: Alg, token: &str, secret: &str) -> Result<Value, String> {
    let fail = |why: String| format!("failed to parse JWT string: {why}");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(fail(
            "token contains an invalid number of segments".to_owned(),
        ));
    };
    let decode = |seg: &str| {
        b64.decode(seg.trim_end_matches('='))
            .map_err(|e| fail(format!("token is malformed: {e}")))
    };
    let header_value = Value::from_json_bytes(&decode(header)?)
        .map_err(|e| fail(format!("token is malformed: {e}")))?;
    let claims = Value::from_json_bytes(&decode(payload)?)
        .map_err(|e| fail(format!("token is malformed: {e}")))?;
    let header_alg = match &header_value {
        Value::Object(m) => match m.get("alg") {
            Some(Value::String(a)) => a.clone(),
            _ => String::new().into(),
        },
        _ => return Err(fail("token is malformed".to_owned())),
    };
    if header_alg != alg.name() {
        return Err(fail(format!(
            "token is unverifiable: error while executing keyfunc: incorrect signing method: {header_alg}"
        )));
    }
    let sig = decode(sig)?;
    let signed_len = header.len() + 1 + payload.len();
    let signed = &token.as_bytes()[..signed_len];
    let ok = match alg {
        Alg::Hs256 => hmac_ok::<hmac::Hmac<sha2::Sha256>>(secret.as_bytes(), signed, &sig),
        Alg::Hs384 => hmac_ok::<hmac::Hmac<sha2::Sha384>>(secret.as_bytes(), signed, &sig),
        Alg::Hs512 => hmac_ok::<hmac::Hmac<sha2::Sha512>>(secret.as_bytes(), signed, &sig),
        Alg::Rs256 => rsa_ok::<sha2::Sha256>(secret, signed, &sig)?,
        Alg::Rs384 => rsa_ok::<sha2::Sha384>(secret, signed, &sig)?,
        Alg::Rs512 => rsa_ok::<sha2::Sha512>(secret, signed, &sig)?,
        Alg::Es256 | Alg::Es384 | Alg::Es512 => ecdsa_ok(alg, secret, signed, &sig)?,
    };
    if !ok {
        return Err(fail(
            "token signature is invalid: signature is invalid".to_owned(),
        ));
    }
    let Value::Object(map) = &claims else {
        return Err(fail(
            "token is malformed: claims are not an object".to_owned(),
        ));
    };
    let now = chrono::Utc::now().timestamp() as f64;
    let number = |v: &Value| v.as_num().map(crate::value::Num::as_f64);
    if let Some(exp) = map.get("exp").and_then(number)
        && now >= exp
    {
        return Err(fail(
            "token has invalid claims: token is expired".to_owned(),
        ));
    }
    if let Some(nbf) = map.get("nbf").and_then(number)
        && now < nbf
    {
        return Err(fail(
            "token has invalid claims: token is not valid yet".to_owned(),
        ));
    }
    Ok(claims)
}

macro_rules! parse_fn {
    ($name:ident, $alg:expr) => {
        fn $name(v: Value, args: &[Value]) -> Result<Value, String> {
            let token = text(&v)?;
            let secret = str_arg(&args[0], "signing_secret")?;
            parse_jwt($alg, &token, &secret)
        }
    };
}

parse_fn!(parse_hs256, Alg::Hs256);
parse_fn!(parse_hs384, Alg::Hs384);
parse_fn!(parse_hs512, Alg::Hs512);
parse_fn!(parse_rs256, Alg::Rs256);
parse_fn!(parse_rs384, Alg::Rs384);
parse_fn!(parse_rs512, Alg::Rs512);
parse_fn!(parse_es256, Alg::Es256);
parse_fn!(parse_es384, Alg::Es384);
parse_fn!(parse_es512, Alg::Es512);

pub(crate) const HMAC_SECRET: &str = "dont-tell-anyone";
pub(crate) const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs/ibN8r68pLMR6gRzg4S
8v8l6Q7yi8qURjkEbcNeM1rkokC7xh0I4JVTwxYSVv/JIW8qJdyspl5NIfuAVi32
WfKvSAs+NIs+DMsNPYw3yuQals4AX8hith1YDvYpr8SD44jxhz/DR9lYKZFGhXGB
+7NqQ7vpTWp3BceLYocazWJgusZt7CgecIq57ycM5hjM93BvlrUJ8nQ1a46wfL/8
Cy4P0et70hzZrsjjN41KFhKY0iUwlyU41yEiDHvHDDsTMBxAZosWjSREGfJL6Mfp
XOInTHs/Gg6DZMkbxjQu6L06EdJ+Q/NwglJdAXM7Zo9rNELqRig6DdvG5JesdMsO
+QIDAQAB
-----END PUBLIC KEY-----";
pub(crate) const ES256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGtLqIBePHmIhQcf0JLgc+F/4W/oI
dp0Gta53G35VerNDgUUXmp78J2kfh4qLdh0XtmOMI587tCaqjvDAXfs//w==
-----END PUBLIC KEY-----";
pub(crate) const ES384_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERoz74/B6SwmLhs8X7CWhnrWyRrB13AuU
8OYeqy0qHRu9JWNw8NIavqpTmu6XPT4xcFanYjq8FbeuM11eq06C52mNmS4LLwzA
2imlFEgn85bvJoC3bnkuq4mQjwt9VxdH
-----END PUBLIC KEY-----";
pub(crate) const ES512_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAkHLdts9P56fFkyhpYQ31M/Stwt3w
vpaxhlfudxnXgTO1IP4RQRgryRxZ19EUzhvWDcG3GQIckoNMY5PelsnCGnIBT2Xh
9NQkjWF5K6xS4upFsbGSAwQ+GIyyk5IPJ2LHgOyMSCVh5gRZXV3CZLzXujx/umC9
UeYyTt05zRRWuD+p5bY=
-----END PUBLIC KEY-----";

const CLAIMS: &str = r#"{"claims":{"iat":1516239022,"mood":"Disdainful","sub":"1234567890"}}"#;

pub(crate) fn register(env: &mut Environment) {
    // Each method with its example key and a token signed by it. Specs hold `&'static str`
    // examples, so the mapping and input built from them are leaked; this runs once per
    // environment.
    let specs: [(&'static str, &str, &'static str, crate::env::SimpleMethod); 9] = [
        (
            "parse_jwt_hs256",
            HMAC_SECRET,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.YwXOM8v3gHVWcQRRRQc_zDlhmLnM62fwhFYGpiA0J1A",
            parse_hs256,
        ),
        (
            "parse_jwt_hs384",
            HMAC_SECRET,
            "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.2Y8rf_ijwN4t8hOGGViON_GrirLkCQVbCOuax6EoZ3nluX0tCGezcJxbctlIfsQ2",
            parse_hs384,
        ),
        (
            "parse_jwt_hs512",
            HMAC_SECRET,
            "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.utRb0urG6LGGyranZJVo5Dk0Fns1QNcSUYPN0TObQ-YzsGGB8jrxHwM5NAJccjJZzKectEUqmmKCaETZvuX4Fg",
            parse_hs512,
        ),
        (
            "parse_jwt_rs256",
            RSA_PUBLIC,
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.b0lH3jEupZZ4zoaly4Y_GCvu94HH6UKdKY96zfGNsIkPZpQLHIkZ7jMWlLlNOAd8qXlsBGP_i8H2qCKI4zlWJBGyPZgxXDzNRPVrTDfFpn4t4nBcA1WK2-ntXP3ehQxsaHcQU8Z_nsogId7Pme5iJRnoHWEnWtbwz5DLSXL3ZZNnRdrHM9MdI7QSDz9mojKDCaMpGN9sG7Xl-tGdBp1XzXuUOzG8S03mtZ1IgVR1uiBL2N6oohHIAunk8DIAmNWI-zgycTgzUGU7mvPkKH43qO8Ua1-13tCUBKKa8VxcotZ67Mxm1QAvBGoDnTKwWMwghLzs6d6WViXQg6eWlJcpBA",
            parse_rs256,
        ),
        (
            "parse_jwt_rs384",
            RSA_PUBLIC,
            "eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.orcXYBcjVE5DU7mvq4KKWFfNdXR4nEY_xupzWoETRpYmQZIozlZnM_nHxEk2dySvpXlAzVm7kgOPK2RFtGlOVaNRIa3x-pMMr-bhZTno4L8Hl4sYxOks3bWtjK7wql4uqUbqThSJB12psAXw2-S-I_FMngOPGIn4jDT9b802ottJSvTpXcy0-eKTjrV2PSkRRu-EYJh0CJZW55MNhqlt6kCGhAXfbhNazN3ASX-dmpd_JixyBKphrngr_zRA-FCn_Xf3QQDA-5INopb4Yp5QiJ7UxVqQEKI80X_JvJqz9WE1qiAw8pq5-xTen1t7zTP-HT1NbbD3kltcNa3G8acmNg",
            parse_rs384,
        ),
        (
            "parse_jwt_rs512",
            RSA_PUBLIC,
            "eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.rsMp_X5HMrUqKnZJIxo27aAoscovRA6SSQYR9rq7pifIj0YHXxMyNyOBDGnvVALHKTi25VUGHpfNUW0VVMmae0A4t_ObNU6hVZHguWvetKZZq4FZpW1lgWHCMqgPGwT5_uOqwYCH6r8tJuZT3pqXeL0CY4putb1AN2w6CVp620nh3l8d3XWb4jaifycd_4CEVCqHuWDmohfug4VhmoVKlIXZkYoAQowgHlozATDssBSWdYtv107Wd2AzEoiXPu6e3pflsuXULlyqQnS4ELEKPYThFLafh1NqvZDPddqozcPZ-iODBW-xf3A4DYDdivnMYLrh73AZOGHexxu8ay6nDA",
            parse_rs512,
        ),
        (
            "parse_jwt_es256",
            ES256_PUBLIC,
            "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.GIRajP9JJbpTlqSCdNEz4qpQkRvzX4Q51YnTwVyxLDM9tKjR_a8ggHWn9CWj7KG0x8J56OWtmUxn112SRTZVhQ",
            parse_es256,
        ),
        (
            "parse_jwt_es384",
            ES384_PUBLIC,
            "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.H2HBSlrvQBaov2tdreGonbBexxtQB-xzaPL4-tNQZ6TVh7VH8VBcSwcWHYa1lBAHmdsKOFcB2Wk0SB7QWeGT3ptSgr-_EhDMaZ8bA5spgdpq5DsKfaKHrd7DbbQlmxNq",
            parse_es384,
        ),
        (
            "parse_jwt_es512",
            ES512_PUBLIC,
            "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm1vb2QiOiJEaXNkYWluZnVsIiwic3ViIjoiMTIzNDU2Nzg5MCJ9.ACrpLuU7TKpAnncDCpN9m85nkL55MJ45NFOBl6-nEXmNT1eIxWjiP4pwWVbFH9et_BgN14119jbL_KqEJInPYc9nAXC6dDLq0aBU-dalvNl4-O5YWpP43-Y-TBGAsWnbMTrchILJ4-AEiICe73Ck5yWPleKg9c3LtkEFWfGs7BoPRguZ",
            parse_es512,
        ),
    ];
    for (name, secret, token, imp) in specs {
        let mapping: &'static str = Box::leak(
            format!("root.claims = this.signed.{name}(\"\"\"{secret}\"\"\")").into_boxed_str(),
        );
        let input: &'static str = Box::leak(format!(r#"{{"signed":"{token}"}}"#).into_boxed_str());
        env.method(
            name,
            "JSON Web Tokens",
            "Parses the claims of a JWT after verifying its signature with the given secret or public key.",
            vec![p("signing_secret", Kind::Str)],
            vec![ex(mapping, &[(input, CLAIMS)])],
            MethodImpl::Simple(imp),
        );
    }
}
