//! Idempotent requests (`http_server.idempotency`): the answer to a request
//! carrying a key is kept in a cache resource, and a request with the same
//! key gets that answer back without running the pipeline again. With a
//! shared cache (`redis`) every instance behind a load balancer sees it.
//!
//! A key is first claimed with `add` (a pending marker that expires after
//! the request timeout, so a crashed owner frees it); the owner replaces
//! the marker with the answer, or deletes it when the answer is not worth
//! repeating (408 and 5xx: the client's retry should run the pipeline).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::cache::{Cache, CacheError};
use sluice_core::config::GoDuration;

use crate::http::body::ReplyBody;
use crate::http::{HttpResponse, error_response};

fn default_header() -> String {
    "Idempotency-Key".to_owned()
}

fn default_ttl() -> GoDuration {
    GoDuration::from_secs(600)
}

/// What a second request with a key still being answered gets.
#[derive(Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InFlightPolicy {
    /// It waits for the first request's answer, within its timeout.
    #[default]
    Wait,
    /// It is answered 409 Conflict at once.
    Reject,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyConfig {
    /// The request header that carries the key.
    #[serde(default = "default_header")]
    pub(crate) header: String,
    /// The label of the cache resource answers are kept in.
    pub(crate) cache: String,
    /// How long an answer is kept.
    #[serde(default = "default_ttl")]
    pub(crate) ttl: GoDuration,
    /// `wait` (default) or `reject` (409) for a key still in flight.
    #[serde(default)]
    pub(crate) in_flight: InFlightPolicy,
}

pub(super) struct Idempotency {
    header: HeaderName,
    cache: Arc<dyn Cache>,
    ttl: Duration,
    in_flight: InFlightPolicy,
    // A pending marker outlives the request's own timeout a little, so a
    // waiting request learns the owner's answer rather than a gap.
    pending_ttl: Duration,
}

/// The request's key, claimed: the caller runs the pipeline and hands the
/// answer to [`Claim::finish`].
pub(super) struct Claim {
    key: String,
}

/// Where a request with a key goes.
pub(super) enum Decision {
    /// No key: processed as any request.
    Unkeyed,
    /// This request owns the key and is processed.
    Owner(Claim),
    /// Answered already (a stored answer, a 409, or an error).
    Answered(HttpResponse),
}

const ANSWER: &[u8; 4] = b"SLA1";
const PENDING: &[u8; 4] = b"SLP1";

/// Marks a replayed answer, as common idempotency implementations do.
const REPLAYED: &str = "idempotent-replayed";

impl Idempotency {
    pub(super) fn new(
        config: &IdempotencyConfig,
        cache: Arc<dyn Cache>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let header = HeaderName::from_bytes(config.header.as_bytes())
            .map_err(|_| format!("invalid idempotency header name {:?}", config.header))?;
        if config.ttl.0.is_zero() {
            return Err("idempotency ttl must be above 0s".to_owned());
        }
        Ok(Self {
            header,
            cache,
            ttl: config.ttl.0,
            in_flight: config.in_flight,
            pending_ttl: timeout + Duration::from_secs(5),
        })
    }

    fn cache_key(key: &str) -> String {
        format!("idempotency:{key}")
    }

    /// Claims the request's key, or answers it from the cache.
    pub(super) async fn decide(&self, headers: &http::HeaderMap, timeout: Duration) -> Decision {
        let Some(key) = headers.get(&self.header).and_then(|v| v.to_str().ok()) else {
            return Decision::Unkeyed;
        };
        if key.is_empty() || key.len() > 256 {
            return Decision::Answered(error_response(
                StatusCode::BAD_REQUEST,
                "Idempotency key must be 1 to 256 characters",
            ));
        }
        let key = Self::cache_key(key);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut poll = Duration::from_millis(2);
        loop {
            match self
                .cache
                .add(&key, Bytes::from_static(PENDING), Some(self.pending_ttl))
                .await
            {
                Ok(()) => return Decision::Owner(Claim { key }),
                Err(CacheError::AlreadyExists) => {}
                Err(err) => return Decision::Answered(cache_failed(&err)),
            }
            match self.cache.get(&key).await {
                Ok(stored) if stored.starts_with(ANSWER) => {
                    return Decision::Answered(match decode(stored) {
                        Some(res) => res,
                        None => error_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Stored idempotent answer is unreadable",
                        ),
                    });
                }
                // The owner is still at it.
                Ok(_) => {}
                // Gone between add and get (the owner gave the key up):
                // claim it again.
                Err(CacheError::NotFound) => continue,
                Err(err) => return Decision::Answered(cache_failed(&err)),
            }
            if self.in_flight == InFlightPolicy::Reject {
                return Decision::Answered(error_response(
                    StatusCode::CONFLICT,
                    "A request with this idempotency key is in progress",
                ));
            }
            if tokio::time::Instant::now() + poll > deadline {
                return Decision::Answered(error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request timed out",
                ));
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_millis(50));
        }
    }

    /// Stores the owner's answer for the key's later requests, or frees
    /// the key when the answer should not be repeated.
    pub(super) async fn finish(&self, claim: Claim, res: HttpResponse) -> HttpResponse {
        let status = res.status();
        let repeatable = status != StatusCode::REQUEST_TIMEOUT && !status.is_server_error();
        if !repeatable {
            if let Err(err) = self.cache.delete(&claim.key).await {
                tracing::error!(error = %err, "Failed to free an idempotency key.");
            }
            return res;
        }
        let (parts, body) = res.into_parts();
        let body = match body {
            ReplyBody::Whole(_) => body.whole_bytes().unwrap_or_default(),
            // Streamed answers are refused with idempotency at startup.
            streamed @ ReplyBody::Streamed(_) => return HttpResponse::from_parts(parts, streamed),
        };
        let stored = encode(parts.status, &parts.headers, &body);
        if let Err(err) = self.cache.set(&claim.key, stored, Some(self.ttl)).await {
            // The caller still gets its answer; a retry would run again.
            tracing::error!(error = %err, "Failed to store an idempotent answer.");
            if let Err(err) = self.cache.delete(&claim.key).await {
                tracing::error!(error = %err, "Failed to free an idempotency key.");
            }
        }
        HttpResponse::from_parts(parts, body.into())
    }
}

fn cache_failed(err: &CacheError) -> HttpResponse {
    tracing::error!(error = %err, "Idempotency cache failed, request refused.");
    error_response(StatusCode::SERVICE_UNAVAILABLE, "Idempotency cache failed")
}

/// `SLA1`, status, header count, each header as length-prefixed name and
/// value, then the body: compact, and no text escaping of the body.
fn encode(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + body.len());
    out.put_slice(ANSWER);
    out.put_u16(status.as_u16());
    out.put_u32(u32::try_from(headers.len()).unwrap_or(u32::MAX));
    for (name, value) in headers {
        out.put_u32(u32::try_from(name.as_str().len()).unwrap_or(u32::MAX));
        out.put_slice(name.as_str().as_bytes());
        out.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        out.put_slice(value.as_bytes());
    }
    out.put_slice(body);
    out.freeze()
}

fn decode(mut data: Bytes) -> Option<HttpResponse> {
    fn chunk(data: &mut Bytes) -> Option<Bytes> {
        let len = usize::try_from(data.try_get_u32().ok()?).ok()?;
        (data.remaining() >= len).then(|| data.split_to(len))
    }
    data.advance(ANSWER.len());
    let status = StatusCode::from_u16(data.try_get_u16().ok()?).ok()?;
    let count = data.try_get_u32().ok()?;
    let mut res = HttpResponse::new(Default::default());
    for _ in 0..count {
        let name = HeaderName::from_bytes(&chunk(&mut data)?).ok()?;
        let value = HeaderValue::from_maybe_shared(chunk(&mut data)?).ok()?;
        res.headers_mut().append(name, value);
    }
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    *res.status_mut() = status;
    *res.body_mut() = data.into();
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_the_cache_byte_for_byte() {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-many", HeaderValue::from_static("a"));
        headers.append("x-many", HeaderValue::from_static("b"));
        let stored = encode(StatusCode::CREATED, &headers, b"{\"id\":1}\r\n\x00");
        let res = decode(stored).expect("decodes");
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers().get_all("x-many").iter().count(), 2);
        assert_eq!(res.headers()[REPLAYED], "true");
        let body = res.into_body().whole_bytes().unwrap();
        assert_eq!(&body[..], b"{\"id\":1}\r\n\x00");
    }

    #[test]
    fn a_truncated_record_is_refused_not_misread() {
        let stored = encode(StatusCode::OK, &http::HeaderMap::new(), b"body");
        assert!(decode(stored.slice(..7)).is_none());
    }
}
