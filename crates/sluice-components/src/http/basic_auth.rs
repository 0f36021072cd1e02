//! `http.basic_auth`: every request to the service-wide server must carry
//! the configured user and a password matching `password_hash`, as in
//! Benthos (md5, sha256, bcrypt or scrypt; hash and salt base64-encoded).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sluice_core::config::BasicAuthConfig;
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

use super::{HttpResponse, error_response};

// Benthos's scrypt parameters: N = 2^15, r = 8, p = 1, 32-byte key.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SCRYPT_KEY_LEN: usize = 32;

enum Algorithm {
    Md5,
    Sha256,
    Bcrypt,
    Scrypt(Vec<u8>),
}

/// A checked `basic_auth` section.
pub(crate) struct BasicAuth {
    username: String,
    hash: Vec<u8>,
    algorithm: Algorithm,
    challenge: HeaderValue,
    // Places for bcrypt/scrypt checks running at once, one per core: more
    // would only queue on the blocking pool while callers wait.
    slow_checks: Arc<Semaphore>,
    slow_check_limit: usize,
}

/// The outcome of [`BasicAuth::check`]: known at once, or after a slow
/// hash; `None` lets the request through, `Some` is the refusal to send.
pub(crate) enum Check {
    Ready(Option<HttpResponse>),
    Slow(BoxFuture<'static, Option<HttpResponse>>),
}

impl BasicAuth {
    /// The section's checker, `None` when it is disabled, or what is wrong
    /// with it.
    pub(crate) fn from_config(config: &BasicAuthConfig) -> Result<Option<Self>, String> {
        if !config.enabled {
            return Ok(None);
        }
        if config.username.is_empty() || config.password_hash.is_empty() {
            return Err("basic_auth: both username and password_hash are required".to_owned());
        }
        let hash = STANDARD
            .decode(&config.password_hash)
            .map_err(|e| format!("basic_auth: password_hash is not valid base64: {e}"))?;
        let algorithm = match config.algorithm.as_str() {
            "md5" => Algorithm::Md5,
            "sha256" => Algorithm::Sha256,
            "bcrypt" => Algorithm::Bcrypt,
            "scrypt" if config.salt.is_empty() => {
                return Err("basic_auth: salt is required for scrypt".to_owned());
            }
            "scrypt" => Algorithm::Scrypt(
                STANDARD
                    .decode(&config.salt)
                    .map_err(|e| format!("basic_auth: invalid salt: {e}"))?,
            ),
            other => {
                return Err(format!(
                    "basic_auth: algorithm should be one of md5, sha256, bcrypt, or scrypt, got {other:?}"
                ));
            }
        };
        let challenge = HeaderValue::from_str(&format!(
            "Basic realm={:?}, charset=\"UTF-8\"",
            config.realm
        ))
        .map_err(|_| format!("basic_auth: invalid realm {:?}", config.realm))?;
        let slow_check_limit = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Some(Self {
            username: config.username.clone(),
            hash,
            algorithm,
            challenge,
            slow_checks: Arc::new(Semaphore::new(slow_check_limit)),
            slow_check_limit,
        }))
    }

    /// Checks a request's credentials: `Ready(None)` lets it through,
    /// `Ready(Some(answer))` refuses it. A password under bcrypt or scrypt
    /// takes tens of milliseconds of CPU to check, so it is checked on the
    /// blocking pool, a bounded number at a time: a flood of wrong passwords
    /// then gets 503s instead of stalling every other endpoint's requests.
    pub(crate) fn check(self: &Arc<Self>, headers: &HeaderMap) -> Check {
        let (user, pass) = credentials(headers).unwrap_or_default();
        let user_ok: bool = user.as_bytes().ct_eq(self.username.as_bytes()).into();
        if !user_ok {
            return Check::Ready(Some(self.refusal()));
        }
        if !self.is_slow() {
            let ok = self.password_matches(pass.as_bytes());
            return Check::Ready((!ok).then(|| self.refusal()));
        }
        let Ok(permit) = Arc::clone(&self.slow_checks).try_acquire_owned() else {
            tracing::warn!(
                limit = self.slow_check_limit,
                "Too many password checks under way, request refused with 503."
            );
            let mut res = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many authentication attempts in progress",
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Check::Ready(Some(res));
        };
        let auth = Arc::clone(self);
        Check::Slow(Box::pin(async move {
            let checker = Arc::clone(&auth);
            let ok = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                checker.password_matches(pass.as_bytes())
            })
            .await
            .unwrap_or(false);
            (!ok).then(|| auth.refusal())
        }))
    }

    /// The 401 sent when the credentials do not match.
    fn refusal(&self) -> HttpResponse {
        let mut res = error_response(StatusCode::UNAUTHORIZED, "Unauthorized");
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        res
    }

    fn is_slow(&self) -> bool {
        matches!(self.algorithm, Algorithm::Bcrypt | Algorithm::Scrypt(_))
    }

    fn password_matches(&self, password: &[u8]) -> bool {
        use sha2::Digest as _;
        let computed = match &self.algorithm {
            Algorithm::Md5 => md5::Md5::digest(password).to_vec(),
            Algorithm::Sha256 => sha2::Sha256::digest(password).to_vec(),
            Algorithm::Bcrypt => {
                let Ok(hash) = std::str::from_utf8(&self.hash) else {
                    return false;
                };
                return bcrypt::verify(password, hash).unwrap_or(false);
            }
            Algorithm::Scrypt(salt) => {
                let Ok(params) =
                    scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_LEN)
                else {
                    return false;
                };
                let mut key = [0u8; SCRYPT_KEY_LEN];
                if scrypt::scrypt(password, salt, &params, &mut key).is_err() {
                    return false;
                }
                key.to_vec()
            }
        };
        computed.ct_eq(&self.hash).into()
    }
}

/// The user and password of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(algorithm: &str, hash: &[u8], salt: &str) -> Arc<BasicAuth> {
        let auth = BasicAuth::from_config(&BasicAuthConfig {
            enabled: true,
            username: "admin".to_owned(),
            password_hash: STANDARD.encode(hash),
            algorithm: algorithm.to_owned(),
            salt: salt.to_owned(),
            ..BasicAuthConfig::default()
        })
        .unwrap()
        .unwrap();
        Arc::new(auth)
    }

    /// Whether `auth` lets a request with `headers` through.
    async fn allows(auth: &Arc<BasicAuth>, headers: &HeaderMap) -> bool {
        match auth.check(headers) {
            Check::Ready(refusal) => refusal.is_none(),
            Check::Slow(pending) => pending.await.is_none(),
        }
    }

    fn headers(user: &str, pass: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn each_algorithm_accepts_the_right_password_only() {
        use sha2::Digest as _;
        let sha = auth("sha256", &sha2::Sha256::digest(b"secret"), "");
        let md5 = auth("md5", &md5::Md5::digest(b"secret"), "");
        let bcrypt = auth("bcrypt", bcrypt::hash("secret", 4).unwrap().as_bytes(), "");
        let salt = b"pepper";
        let mut key = [0u8; SCRYPT_KEY_LEN];
        let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_LEN).unwrap();
        scrypt::scrypt(b"secret", salt, &params, &mut key).unwrap();
        let scrypt = auth("scrypt", &key, &STANDARD.encode(salt));
        for checker in [&sha, &md5, &bcrypt, &scrypt] {
            assert!(allows(checker, &headers("admin", "secret")).await);
            assert!(!allows(checker, &headers("admin", "wrong")).await);
            assert!(!allows(checker, &headers("root", "secret")).await);
            assert!(!allows(checker, &HeaderMap::new()).await);
        }
    }

    #[tokio::test]
    async fn slow_checks_past_the_bound_are_refused_with_503() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = auth("bcrypt", hash.as_bytes(), "");
        let wrong = headers("admin", "wrong");
        let pending: Vec<_> = (0..auth.slow_check_limit)
            .map(|_| match auth.check(&wrong) {
                Check::Slow(pending) => pending,
                Check::Ready(_) => panic!("a bcrypt check is slow"),
            })
            .collect();
        match auth.check(&wrong) {
            Check::Ready(Some(res)) => assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE),
            _ => panic!("a check past the bound is refused at once"),
        }
        for refusal in futures::future::join_all(pending).await {
            assert_eq!(refusal.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        // The places are given back.
        assert!(allows(&auth, &headers("admin", "secret")).await);
    }

    #[test]
    fn a_bad_section_is_refused_with_the_reason() {
        let config = |algorithm: &str, salt: &str| BasicAuthConfig {
            enabled: true,
            username: "u".to_owned(),
            password_hash: "aGFzaA==".to_owned(),
            algorithm: algorithm.to_owned(),
            salt: salt.to_owned(),
            ..BasicAuthConfig::default()
        };
        let err = |c| BasicAuth::from_config(&c).err().unwrap();
        assert!(err(config("sha1", "")).contains("algorithm should be one of"));
        assert!(err(config("scrypt", "")).contains("salt is required"));
        let mut no_user = config("sha256", "");
        no_user.username.clear();
        assert!(err(no_user).contains("both username and password_hash are required"));
    }
}
