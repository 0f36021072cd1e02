//! The HTTP client behind the `http_client` output and the `http` processor
//! (spec 6): request construction, status classification, retries and
//! response propagation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use sluice_bloblang::{Interpolation, Value};
use sluice_core::config::json_schema::without_properties;
use sluice_core::config::{GoDuration, Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::Message;
use sluice_core::metrics::{Counter, Metrics, Timer};
use sluice_core::rate_limit::RateLimit;

use super::env_proxy::EnvProxy;
use super::h1_client::{Answer, H1Client, Target};
use super::jwt::{self, JwtConfig};
use super::oauth1::{OAuth1, OAuthConfig};
use crate::name_filter::{IncludeFilterConfig, NameFilter};
use crate::tls::TlsConfig;

fn default_verb() -> String {
    "POST".to_owned()
}
fn default_timeout() -> GoDuration {
    GoDuration(Duration::from_secs(5))
}
fn default_retry_period() -> GoDuration {
    GoDuration(Duration::from_secs(1))
}
fn default_max_retry_backoff() -> GoDuration {
    GoDuration(Duration::from_secs(300))
}
fn default_retries() -> u32 {
    3
}
fn default_true() -> bool {
    true
}
fn default_backoff_on() -> Vec<u16> {
    vec![429]
}

/// Fields shared by the `http_client` output and the `http` processor.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpClientConfig {
    /// The URL each request is sent to; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    pub(crate) url: String,
    /// The HTTP method of each request.
    #[serde(default = "default_verb")]
    verb: String,
    /// Headers set on each request; values support interpolation.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Which message metadata keys are sent as request headers.
    #[serde(default)]
    metadata: IncludeFilterConfig,
    /// A log level at which every request and response is dumped; empty turns dumping off.
    #[serde(default)]
    dump_request_log_level: String,
    /// OAuth 1 request signing (HMAC-SHA1).
    #[serde(default)]
    oauth: OAuthConfig,
    /// OAuth 2 client-credentials authentication.
    #[serde(default)]
    oauth2: OAuth2Config,
    /// HTTP basic authentication.
    #[serde(default)]
    basic_auth: BasicAuthConfig,
    /// A signed JWT sent as a bearer token.
    #[serde(default)]
    jwt: JwtConfig,
    /// TLS settings for https URLs.
    #[serde(default)]
    tls: TlsConfig,
    /// Which response headers are copied into message metadata.
    #[serde(default)]
    extract_headers: IncludeFilterConfig,
    /// The label of a rate limit resource each request waits on.
    #[serde(default)]
    rate_limit: String,
    /// How long one request may take before it fails.
    #[serde(default = "default_timeout")]
    timeout: GoDuration,
    /// The base wait before a failed request is retried.
    #[serde(default = "default_retry_period")]
    retry_period: GoDuration,
    /// The longest wait between retries.
    #[serde(default = "default_max_retry_backoff")]
    max_retry_backoff: GoDuration,
    /// How many times a failed request is retried.
    #[serde(default = "default_retries")]
    retries: u32,
    /// A request header that tells the server how many seconds the
    /// caller still waits (`2.500`), when the message carries a deadline
    /// (a sluice extension; empty sends none).
    #[serde(default)]
    deadline_header: String,
    /// Whether 3xx redirects are followed.
    #[serde(default = "default_true")]
    follow_redirects: bool,
    /// Response codes that are retried after a backoff.
    #[serde(default = "default_backoff_on")]
    backoff_on: Vec<u16>,
    /// Response codes that fail the request at once, without retries.
    #[serde(default)]
    drop_on: Vec<u16>,
    /// Response codes outside 2xx that still count as success.
    #[serde(default)]
    successful_on: Vec<u16>,
    /// A proxy that requests go through.
    #[serde(default)]
    proxy_url: String,
    /// Whether to speak HTTP/1.1 only.
    #[serde(default)]
    disable_http2: bool,
    // Output-only fields; the processor refuses them.
    /// Whether a whole batch is sent as one multipart request.
    #[serde(default)]
    pub(crate) batch_as_multipart: bool,
    /// Output only: whether the response becomes the synchronous response of the message.
    #[serde(default)]
    pub(crate) propagate_response: bool,
    /// Output only: how many requests may be in flight at once.
    #[serde(default)]
    pub(crate) max_in_flight: Option<usize>,
    /// Output only: how messages are batched before they are sent.
    #[serde(default)]
    pub(crate) batching: sluice_core::runtime::batching::BatchPolicyConfig,
    /// Output only: explicit parts that make each request a multipart body.
    #[serde(default)]
    pub(crate) multipart: Vec<MultipartPartConfig>,
    // Processor-only fields (Benthos `http` processor).
    /// Processor only: whether the messages of a batch are sent at once instead of one by one.
    #[serde(default)]
    pub(crate) parallel: bool,
}

/// The config schema of the `http` processor, which refuses the output-only
/// fields.
pub(crate) fn processor_schema(generator: &mut SchemaGenerator) -> Schema {
    let schema = HttpClientConfig::json_schema(generator);
    let output_only = [
        "propagate_response",
        "max_in_flight",
        "batching",
        "multipart",
    ];
    without_properties(schema, &output_only)
}

/// The config schema of the `http_client` output, which refuses `parallel`.
pub(crate) fn output_schema(generator: &mut SchemaGenerator) -> Schema {
    without_properties(HttpClientConfig::json_schema(generator), &["parallel"])
}

/// One explicit part of a `multipart` request body.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MultipartPartConfig {
    /// The Content-Type of the part; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    content_type: String,
    /// The Content-Disposition of the part; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    content_disposition: String,
    /// The body of the part; supports interpolation.
    #[schemars(with = "sluice_core::config::json_schema::InterpolatedString")]
    body: String,
}

struct MultipartPart {
    content_type: Interpolation,
    content_disposition: Interpolation,
    body: Interpolation,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct BasicAuthConfig {
    /// Whether basic authentication is used.
    enabled: bool,
    /// The user name.
    username: String,
    /// The password.
    password: String,
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
struct OAuth2Config {
    /// Whether OAuth 2 is used.
    enabled: bool,
    /// The client key (client id).
    client_key: String,
    /// The client secret.
    client_secret: String,
    /// The URL of the token endpoint.
    token_url: String,
    /// Scopes requested with the token.
    scopes: Vec<String>,
    /// Extra parameters sent to the token endpoint.
    endpoint_params: BTreeMap<String, Vec<String>>,
}

/// A failed request, after retries.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// The server answered with a status that is not a success.
    #[error(
        "{url}: HTTP request returned unexpected response code ({code}): {status_line}, Error: {body}"
    )]
    Status {
        url: String,
        code: u16,
        status_line: String,
        body: String,
        /// The response, for the processor's metadata.
        response: Box<Response>,
    },
    /// The request did not get an answer.
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// The URL or a header could not be built.
    #[error("{0}")]
    Build(String),
}

/// A URL without interpolation, parsed once.
struct StaticUrl {
    text: String,
    parsed: url::Url,
    /// Its wire target when it is served by the plain HTTP/1.1 client.
    target: Option<Target>,
}

/// A request as it goes on the wire, before a transport is chosen.
struct Outgoing<'a> {
    method: Method,
    url: Cow<'a, url::Url>,
    /// The plain HTTP/1.1 target of `url`, when already known.
    target: Option<Cow<'a, Target>>,
    headers: HeaderMap,
    body: Bytes,
}

/// A received response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

enum Verdict {
    Success,
    Drop,
    RetryLinear,
    RetryBackoff,
}

struct OAuth2 {
    config: OAuth2Config,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

/// The body of a streamed response as it arrives.
pub(crate) type StreamBody = tokio_util::io::StreamReader<
    std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>,
    Bytes,
>;

/// A response whose body is read as it arrives.
pub(crate) struct OpenStream {
    pub(crate) headers: HeaderMap,
    pub(crate) body: StreamBody,
}

/// A configured client, shared by concurrent writes.
pub(crate) struct HttpClient {
    /// For https, proxied requests and the OAuth 2 token endpoint.
    client: reqwest::Client,
    /// For plain http requests that go straight to the server.
    h1: H1Client,
    /// Whether every request goes through `proxy_url`.
    fixed_proxy: bool,
    /// The proxies named by the environment, when `proxy_url` is empty.
    env_proxy: Option<Arc<EnvProxy>>,
    url: Interpolation,
    /// `url` already parsed, when it has no interpolation: parsing a URL
    /// costs more than the rest of building a request.
    static_url: Option<StaticUrl>,
    /// The whole wait allowed for one attempt, redirects included; `None`
    /// waits forever (Go's zero timeout).
    timeout: Option<Duration>,
    verb: Method,
    headers: Vec<(String, Interpolation)>,
    /// Which of `headers` is `Content-Type` spelled exactly so.
    content_type: Option<usize>,
    multipart: Vec<MultipartPart>,
    metadata: NameFilter,
    extract_headers: NameFilter,
    /// `oauth`: signs each request.
    oauth1: Option<OAuth1>,
    /// `jwt`: the whole `Authorization` value.
    jwt: Option<HeaderValue>,
    /// `basic_auth`: the whole `Authorization` value.
    basic_auth: Option<HeaderValue>,
    oauth2: Option<OAuth2>,
    rate_limit: Option<Arc<dyn RateLimit>>,
    retries: u32,
    retry_period: Duration,
    max_retry_backoff: Duration,
    follow_redirects: bool,
    backoff_on: Vec<u16>,
    drop_on: Vec<u16>,
    successful_on: Vec<u16>,
    /// `dump_request_log_level`: log every request and response at this
    /// level.
    dump_level: Option<tracing::Level>,
    deadline_header: Option<HeaderName>,
    abandoned: Counter,
    // Exponential wait after a `backoff_on` status; per client instance,
    // reset only by a success (Benthos).
    backoff: Mutex<Duration>,
    codes: [Counter; 5],
    latency: Timer,
}

fn status_text(code: u16) -> String {
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}").trim_end().to_owned()
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

impl HttpClient {
    /// Builds the client from its config, looking up the rate limit.
    pub(crate) fn build(
        config: &HttpClientConfig,
        node: &Node,
        builder: &Builder<'_>,
    ) -> BuildResult<HttpClient> {
        let mark = node.mark;
        let mut lints = Vec::new();
        let mut refuse = |what: &str| {
            lints.push(Lint::error(
                mark,
                format!("http_client field {what} is not supported yet"),
            ));
        };
        if config.tls.enable_renegotiation {
            refuse("tls.enable_renegotiation");
        }
        let verb = Method::from_bytes(config.verb.as_bytes())
            .map_err(|_| lints.push(Lint::error(mark, format!("invalid verb {:?}", config.verb))));
        let url = builder
            .interpolation(&config.url, mark)
            .map_err(|l| lints.extend(l));
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            if name == "content-type" {
                builder_warn_lower_content_type();
            }
            match builder.interpolation(value, mark) {
                Ok(i) => headers.push((name.clone(), i)),
                Err(l) => lints.extend(l),
            }
        }
        let content_type = headers.iter().position(|(name, _)| name == "Content-Type");
        let mut multipart = Vec::new();
        for part in &config.multipart {
            let mut field = |text: &str| {
                builder
                    .interpolation(text, mark)
                    .map_err(|l| lints.extend(l))
                    .ok()
            };
            if let (Some(content_type), Some(content_disposition), Some(body)) = (
                field(&part.content_type),
                field(&part.content_disposition),
                field(&part.body),
            ) {
                multipart.push(MultipartPart {
                    content_type,
                    content_disposition,
                    body,
                });
            }
        }
        let rate_limit = if config.rate_limit.is_empty() {
            None
        } else {
            let found = builder.resources().rate_limit(&config.rate_limit);
            if found.is_none() {
                lints.push(Lint::error(
                    mark,
                    format!("rate limit resource '{}' was not found", config.rate_limit),
                ));
            }
            found
        };
        let dump_level = match config.dump_request_log_level.to_ascii_uppercase().as_str() {
            "" => None,
            "TRACE" => Some(tracing::Level::TRACE),
            "DEBUG" => Some(tracing::Level::DEBUG),
            "INFO" => Some(tracing::Level::INFO),
            "WARN" => Some(tracing::Level::WARN),
            "ERROR" | "FATAL" => Some(tracing::Level::ERROR),
            other => {
                lints.push(Lint::error(
                    mark,
                    format!("invalid dump_request_log_level {other:?}"),
                ));
                None
            }
        };
        let env_proxy = match config.proxy_url.is_empty() {
            true => EnvProxy::from_env()
                .map(|found| found.map(Arc::new))
                .map_err(|e| lints.push(Lint::error(mark, e))),
            false => Ok(None),
        };
        let client = match &env_proxy {
            Ok(env_proxy) => build_reqwest(config, env_proxy.clone())
                .map_err(|e| lints.push(Lint::error(mark, e))),
            Err(()) => Err(()),
        };
        let jwt = jwt::bearer(&config.jwt)
            .and_then(|value| value.map(|v| header_value(&v, "jwt")).transpose())
            .map_err(|e| lints.push(Lint::error(mark, e)));
        let basic_auth = config
            .basic_auth
            .enabled
            .then(|| basic_auth_value(&config.basic_auth))
            .transpose()
            .map_err(|e| lints.push(Lint::error(mark, e)));
        let deadline_header = match config.deadline_header.as_str() {
            "" => None,
            name => HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| {
                    lints.push(Lint::error(
                        mark,
                        format!("invalid deadline_header name {name:?}"),
                    ));
                })
                .ok(),
        };
        let metadata = NameFilter::build(&config.metadata, mark).map_err(|l| lints.extend(l));
        let extract = NameFilter::build(&config.extract_headers, mark).map_err(|l| lints.extend(l));
        let (
            Ok(verb),
            Ok(url),
            Ok(client),
            Ok(metadata),
            Ok(extract_headers),
            Ok(jwt),
            Ok(basic_auth),
            Ok(env_proxy),
        ) = (
            verb, url, client, metadata, extract, jwt, basic_auth, env_proxy,
        )
        else {
            return Err(lints);
        };
        if !lints.is_empty() {
            return Err(lints);
        }
        let metrics: &Metrics = builder.resources().metrics();
        let code = |n: &str| metrics.counter(&format!("http_request_code_{n}"), &[("label", "")]);
        let fixed_proxy = !config.proxy_url.is_empty();
        let static_url = url
            .is_static()
            .then(|| url.render::<[Message]>(&[], 0).ok())
            .flatten()
            .and_then(|text| {
                let parsed = url::Url::parse(&text).ok()?;
                let target = plain_target(fixed_proxy, env_proxy.as_deref(), &parsed);
                Some(StaticUrl {
                    text,
                    parsed,
                    target,
                })
            });
        Ok(HttpClient {
            client,
            h1: H1Client::new(config.max_in_flight.unwrap_or(64).max(1)),
            fixed_proxy,
            env_proxy,
            url,
            static_url,
            timeout: (!config.timeout.0.is_zero()).then_some(config.timeout.0),
            verb,
            headers,
            content_type,
            multipart,
            metadata,
            extract_headers,
            oauth1: OAuth1::from_config(&config.oauth),
            jwt,
            basic_auth,
            oauth2: config.oauth2.enabled.then(|| OAuth2 {
                config: OAuth2Config {
                    enabled: true,
                    client_key: config.oauth2.client_key.clone(),
                    client_secret: config.oauth2.client_secret.clone(),
                    token_url: config.oauth2.token_url.clone(),
                    scopes: config.oauth2.scopes.clone(),
                    endpoint_params: config.oauth2.endpoint_params.clone(),
                },
                token: tokio::sync::Mutex::new(None),
            }),
            rate_limit,
            retries: config.retries,
            retry_period: config.retry_period.0,
            max_retry_backoff: config.max_retry_backoff.0,
            follow_redirects: config.follow_redirects,
            backoff_on: config.backoff_on.clone(),
            drop_on: config.drop_on.clone(),
            successful_on: config.successful_on.clone(),
            dump_level,
            deadline_header,
            abandoned: metrics.counter("http_request_abandoned", &[("label", "")]),
            backoff: Mutex::new(config.retry_period.0),
            latency: metrics.timer("http_request_latency_ns", &[("label", "")]),
            codes: [
                code("1xx"),
                code("2xx"),
                code("3xx"),
                code("4xx"),
                code("5xx"),
            ],
        })
    }

    fn classify(&self, code: u16) -> Verdict {
        if self.drop_on.contains(&code) {
            Verdict::Drop
        } else if self.backoff_on.contains(&code) {
            Verdict::RetryBackoff
        } else if self.successful_on.contains(&code)
            || (!self.follow_redirects && (300..400).contains(&code))
            || (200..300).contains(&code)
        {
            Verdict::Success
        } else {
            Verdict::RetryLinear
        }
    }

    async fn bearer_token(&self) -> Result<Option<String>, String> {
        let Some(oauth) = &self.oauth2 else {
            return Ok(None);
        };
        let mut cached = oauth.token.lock().await;
        if let Some((token, expires)) = &*cached
            && Instant::now() < *expires
        {
            return Ok(Some(token.clone()));
        }
        let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        if !oauth.config.scopes.is_empty() {
            form.push(("scope".to_owned(), oauth.config.scopes.join(" ")));
        }
        for (key, values) in &oauth.config.endpoint_params {
            for value in values {
                form.push((key.clone(), value.clone()));
            }
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let res = self
            .client
            .post(&oauth.config.token_url)
            .basic_auth(&oauth.config.client_key, Some(&oauth.config.client_secret))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("oauth2 token request failed: {}", error_chain(&e)))?;
        let status = res.status();
        let text = res
            .bytes()
            .await
            .map_err(|e| format!("oauth2 token response failed: {}", error_chain(&e)))?;
        if !status.is_success() {
            return Err(format!("oauth2 token request returned {status}"));
        }
        let doc: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("oauth2 token response is not JSON: {e}"))?;
        let token = doc["access_token"]
            .as_str()
            .ok_or("oauth2 token response has no access_token")?
            .to_owned();
        let ttl = doc["expires_in"]
            .as_u64()
            .unwrap_or(3600)
            .saturating_sub(10);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
        Ok(Some(token))
    }

    async fn wait_for_rate_limit(&self) -> Result<(), RequestError> {
        let Some(limit) = &self.rate_limit else {
            return Ok(());
        };
        loop {
            let wait = limit
                .access()
                .await
                .map_err(|e| RequestError::Build(format!("rate limit error: {e}")))?;
            if wait.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The body of a request for `refs` and the `Content-Type` it forces:
    /// explicit `multipart` parts, else one message as it is, else a
    /// `multipart/form-data` body with a part per message (Benthos).
    fn body(&self, refs: &[Message]) -> Result<(Bytes, Option<String>), RequestError> {
        let interpolate = |what: &str, expr: &Interpolation, index: usize| {
            expr.render(refs, index)
                .map_err(|e| RequestError::Build(format!("{what} interpolation error: {e}")))
        };
        if !self.multipart.is_empty() {
            let mut parts = Vec::with_capacity(self.multipart.len());
            for part in &self.multipart {
                let headers = vec![
                    (
                        "Content-Disposition".to_owned(),
                        interpolate("content-disposition", &part.content_disposition, 0)?,
                    ),
                    (
                        "Content-Type".to_owned(),
                        interpolate("content-type", &part.content_type, 0)?,
                    ),
                ];
                let body = interpolate("part body", &part.body, 0)?;
                parts.push((headers, Bytes::from(body)));
            }
            let (body, content_type) = form_data(parts);
            return Ok((body, Some(content_type)));
        }
        match refs {
            [] => Ok((Bytes::new(), None)),
            [msg] => Ok((msg.bytes(), None)),
            _ => {
                let mut parts = Vec::with_capacity(refs.len());
                for (index, msg) in refs.iter().enumerate() {
                    let content_type = match self.content_type {
                        Some(at) => interpolate("content-type", &self.headers[at].1, index)?,
                        None => "application/octet-stream".to_owned(),
                    };
                    let mut headers = vec![("Content-Type".to_owned(), content_type)];
                    if !self.metadata.is_empty() {
                        for (key, value) in msg.metadata() {
                            if self.metadata.matches(key) {
                                headers.push((key.to_string(), value.to_interp_string()));
                            }
                        }
                    }
                    parts.push((headers, msg.bytes()));
                }
                let (body, content_type) = form_data(parts);
                Ok((body, Some(content_type)))
            }
        }
    }

    /// Builds the request for `refs`: URL and headers are interpolated
    /// against the first message. Returns the URL as rendered, for errors.
    fn request_for(
        &self,
        refs: &[Message],
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(Cow<'_, str>, Outgoing<'_>), RequestError> {
        let (url_text, url, target) = match &self.static_url {
            Some(fixed) => (
                Cow::Borrowed(fixed.text.as_str()),
                Cow::Borrowed(&fixed.parsed),
                fixed.target.as_ref().map(Cow::Borrowed),
            ),
            None => {
                let text = self
                    .url
                    .render(refs, 0)
                    .map_err(|e| RequestError::Build(format!("url interpolation error: {e}")))?;
                let parsed = url::Url::parse(&text).map_err(|e| RequestError::Transport {
                    url: text.clone(),
                    message: format!("parse {text:?}: {e}"),
                })?;
                (Cow::Owned(text), Cow::Owned(parsed), None)
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let text = value.render(refs, 0).map_err(|e| {
                RequestError::Build(format!("header '{name}' interpolation error: {e}"))
            })?;
            if name.eq_ignore_ascii_case("host") {
                if let Ok(v) = HeaderValue::from_str(&text) {
                    headers.insert(header::HOST, v);
                }
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                headers.append(n, v);
            }
        }
        if !self.metadata.is_empty()
            && let Some(msg) = refs.first()
        {
            for (key, value) in msg.metadata() {
                if self.metadata.matches(key)
                    && let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(key.as_bytes()),
                        HeaderValue::from_str(&value.to_interp_string()),
                    )
                {
                    headers.append(n, v);
                }
            }
        }
        // A multipart body always sets its own type; otherwise Benthos forces
        // octet-stream unless `Content-Type` is spelled exactly so: a
        // lower-case `content-type` is overwritten (spec 6.2).
        let forced = match content_type {
            Some(forced) => Some(forced),
            None if self.content_type.is_none() => Some("application/octet-stream"),
            None => None,
        };
        if let Some(value) = forced
            && let Ok(v) = HeaderValue::from_str(value)
        {
            headers.insert(header::CONTENT_TYPE, v);
        }
        // With tracing on, the called service continues the message's trace.
        if let Some(trace) = refs.first().and_then(Message::trace_context)
            && let Ok(v) = HeaderValue::from_str(&trace.to_traceparent())
        {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
        // Benthos's order: the OAuth 1 signature is added beside any
        // configured Authorization header, then a JWT and basic auth each
        // replace what came before (and an OAuth2 token, set in `send`,
        // replaces them all).
        if let Some(oauth1) = &self.oauth1 {
            let value = header_value(
                &oauth1.authorization(self.verb.as_str(), &url_text),
                "oauth",
            )
            .map_err(RequestError::Build)?;
            headers.append(header::AUTHORIZATION, value);
        }
        for value in [&self.jwt, &self.basic_auth].into_iter().flatten() {
            headers.insert(header::AUTHORIZATION, value.clone());
        }
        let outgoing = Outgoing {
            method: self.verb.clone(),
            url,
            target,
            headers,
            body,
        };
        Ok((url_text, outgoing))
    }

    /// Sends one request built from the reference messages `refs` (one
    /// message, or a whole batch sent as multipart), retrying as configured.
    pub(crate) async fn send(&self, refs: &[Message]) -> Result<Response, RequestError> {
        let (body, content_type) = self.body(refs)?;
        let deadline = sluice_core::deadline::batch_deadline(refs);
        let mut attempt = 0;
        loop {
            self.wait_for_rate_limit().await?;
            let (url, mut request) =
                self.request_for(refs, body.clone(), content_type.as_deref())?;
            if let Some(deadline) = &deadline {
                if deadline.is_abandoned() {
                    return Err(self.abandoned_error(&url, attempt));
                }
                if let Some(name) = &self.deadline_header {
                    let seconds = format!("{:.3}", deadline.remaining().as_secs_f64());
                    if let Ok(value) = HeaderValue::from_str(&seconds) {
                        request.headers.insert(name.clone(), value);
                    }
                }
            }
            let bearer = self
                .bearer_token()
                .await
                .and_then(|token| {
                    token
                        .map(|t| header_value(&format!("Bearer {t}"), "the oauth2 token"))
                        .transpose()
                })
                .map_err(|message| RequestError::Transport {
                    url: url.to_string(),
                    message,
                })?;
            if let Some(value) = bearer {
                // golang.org/x/oauth2 sets the header, replacing any other.
                request.headers.insert(header::AUTHORIZATION, value);
            }
            if let Some(level) = self.dump_level {
                let first_line = format!("{} {} HTTP/1.1", request.method, request.url);
                let text = dump(&first_line, &request.headers, &request.body);
                log_at(level, "HTTP request", &text);
            }
            let started = Instant::now();
            let fetched = match &deadline {
                None => self.fetch(request).await,
                Some(deadline) => tokio::select! {
                    answer = self.fetch(request) => answer,
                    () = deadline.abandoned() => return Err(self.abandoned_error(&url, attempt)),
                },
            };
            let (verdict, error) = match fetched {
                Ok(Answer {
                    status,
                    headers,
                    body,
                }) => {
                    self.latency.observe(started.elapsed());
                    if let Some(level) = self.dump_level {
                        let text = dump(
                            &format!("HTTP/1.1 {}", status_text(status)),
                            &headers,
                            &body,
                        );
                        log_at(level, "HTTP response", &text);
                    }
                    if let Some(counter) =
                        self.codes.get(usize::from(status / 100).saturating_sub(1))
                    {
                        counter.incr();
                    }
                    let response = Response {
                        status,
                        headers,
                        body,
                    };
                    match self.classify(status) {
                        Verdict::Success => {
                            *self.backoff.lock().expect("backoff lock poisoned") =
                                self.retry_period;
                            return Ok(response);
                        }
                        verdict => {
                            let body_text =
                                String::from_utf8_lossy(&response.body).replace('\n', "");
                            (
                                verdict,
                                RequestError::Status {
                                    url: url.into_owned(),
                                    code: status,
                                    status_line: status_text(status),
                                    body: body_text,
                                    response: Box::new(response),
                                },
                            )
                        }
                    }
                }
                Err(message) => (
                    Verdict::RetryLinear,
                    RequestError::Transport {
                        url: url.into_owned(),
                        message,
                    },
                ),
            };
            if matches!(verdict, Verdict::Drop) || attempt >= self.retries {
                return Err(error);
            }
            attempt += 1;
            let wait = match verdict {
                Verdict::RetryBackoff => {
                    let mut backoff = self.backoff.lock().expect("backoff lock poisoned");
                    let wait = *backoff;
                    *backoff = (*backoff * 2).min(self.max_retry_backoff);
                    wait
                }
                _ => self.retry_period,
            };
            tracing::warn!(error = %error, "HTTP request failed, retrying in {wait:?}.");
            match &deadline {
                None => tokio::time::sleep(wait).await,
                // The check at the top of the loop ends it.
                Some(deadline) => tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = deadline.abandoned() => {}
                },
            }
        }
    }

    /// Sends one request built from `refs` and hands back the response
    /// with its body still unread, for the `http_client` input's stream
    /// mode: no timeout (as Benthos drops it there), no retries (the input
    /// reconnects with backoff), no redirects followed.
    pub(crate) async fn open_stream(&self, refs: &[Message]) -> Result<OpenStream, RequestError> {
        let (body, content_type) = self.body(refs)?;
        self.wait_for_rate_limit().await?;
        let (url, mut request) = self.request_for(refs, body, content_type.as_deref())?;
        let transport = |message: String| RequestError::Transport {
            url: url.to_string(),
            message,
        };
        let bearer = self.bearer_token().await.map_err(transport)?;
        if let Some(token) = bearer {
            let value =
                header_value(&format!("Bearer {token}"), "the oauth2 token").map_err(transport)?;
            request.headers.insert(header::AUTHORIZATION, value);
        }
        let mut res = self
            .client
            .request(request.method.clone(), request.url.as_ref().clone())
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|e| transport(error_chain(&e)))?;
        let status = res.status().as_u16();
        if let Some(counter) = self.codes.get(usize::from(status / 100).saturating_sub(1)) {
            counter.incr();
        }
        let headers = std::mem::take(res.headers_mut());
        if !matches!(self.classify(status), Verdict::Success) {
            let body = res.bytes().await.unwrap_or_default();
            let response = Response {
                status,
                headers,
                body,
            };
            return Err(RequestError::Status {
                url: url.into_owned(),
                code: status,
                status_line: status_text(status),
                body: String::from_utf8_lossy(&response.body).replace('\n', ""),
                response: Box::new(response),
            });
        }
        let chunks = futures::stream::unfold(res, |mut res| async move {
            match res.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), res)),
                Ok(None) => None,
                Err(err) => Some((Err(std::io::Error::other(error_chain(&err))), res)),
            }
        });
        Ok(OpenStream {
            headers,
            body: tokio_util::io::StreamReader::new(Box::pin(chunks)),
        })
    }

    /// Counts and logs a request given up because its caller stopped
    /// waiting.
    fn abandoned_error(&self, url: &str, attempt: u32) -> RequestError {
        self.abandoned.incr();
        tracing::warn!(%url, attempt, "Caller stopped waiting, HTTP request abandoned.");
        RequestError::Transport {
            url: url.to_owned(),
            message: "caller stopped waiting, request abandoned".to_owned(),
        }
    }

    /// Sends `request` and reads the whole answer, following redirects when
    /// configured, all within the timeout (Go's `Client.Timeout` also spans
    /// redirects). A body cut short is an error like a refused connection,
    /// never an empty success.
    async fn fetch(&self, request: Outgoing<'_>) -> Result<Answer, String> {
        let Some(limit) = self.timeout else {
            return self.follow(request).await;
        };
        match tokio::time::timeout(limit, self.follow(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "request timed out after {} (Client.Timeout exceeded)",
                GoDuration(limit)
            )),
        }
    }

    async fn follow(&self, mut request: Outgoing<'_>) -> Result<Answer, String> {
        let mut hops = 0;
        loop {
            let answer = self.exchange(&request).await?;
            if !self.follow_redirects {
                return Ok(answer);
            }
            let Some(next) = redirect(&request, &answer)? else {
                return Ok(answer);
            };
            // Go's default redirect policy.
            hops += 1;
            if hops > 10 {
                return Err("stopped after 10 redirects".to_owned());
            }
            request = next;
        }
    }

    /// One request and its answer, over the plain HTTP/1.1 client when the
    /// URL is `http://` without a proxy, else over reqwest.
    async fn exchange(&self, request: &Outgoing<'_>) -> Result<Answer, String> {
        let target = match &request.target {
            Some(target) => Some(Cow::Borrowed(target.as_ref())),
            None => plain_target(self.fixed_proxy, self.env_proxy.as_deref(), &request.url)
                .map(Cow::Owned),
        };
        if let Some(target) = target {
            return self
                .h1
                .send(&request.method, &target, &request.headers, &request.body)
                .await;
        }
        let sent = self
            .client
            .request(request.method.clone(), request.url.as_ref().clone())
            .headers(request.headers.clone())
            .body(request.body.clone())
            .send()
            .await;
        let read = async {
            let mut res = sent?;
            let status = res.status().as_u16();
            let headers = std::mem::take(res.headers_mut());
            let body = res.bytes().await?;
            Ok::<_, reqwest::Error>(Answer {
                status,
                headers,
                body,
            })
        };
        read.await.map_err(|e| error_chain(&e))
    }

    /// Metadata for a response message: `http_status_code` plus the
    /// extracted headers (lower-cased names; repeated headers become lists).
    pub(crate) fn response_metadata(&self, response: &Response, msg: &mut Message) {
        msg.set_meta("http_status_code", Value::Int(i64::from(response.status)));
        if self.extract_headers.is_empty() {
            return;
        }
        let mut names: Vec<&HeaderName> = response.headers.keys().collect();
        names.dedup();
        for name in names {
            let key = name.as_str().to_ascii_lowercase();
            if !self.extract_headers.matches(&key) {
                continue;
            }
            let values: Vec<Value> = response
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(Value::from)
                .collect();
            let value = if values.len() == 1 {
                values.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(values)
            };
            msg.set_meta(key, value);
        }
    }
}

/// Whether `url` is served by the plain HTTP/1.1 client, and its target:
/// `http://` URLs that no proxy applies to.
fn plain_target(fixed_proxy: bool, env_proxy: Option<&EnvProxy>, url: &url::Url) -> Option<Target> {
    if fixed_proxy || env_proxy.is_some_and(|env| env.proxy_for(url).is_some()) {
        return None;
    }
    Target::from_url(url)
}

/// The request that follows a redirect `answer`, as Go's client makes it,
/// or `None` when the answer is final: 301, 302 and 303 turn any method but
/// GET and HEAD into a GET without body; 307 and 308 repeat the method and
/// the body; an answer without `Location` is final.
fn redirect<'a>(request: &Outgoing<'a>, answer: &Answer) -> Result<Option<Outgoing<'a>>, String> {
    let keep_body = match answer.status {
        301..=303 => false,
        307 | 308 => true,
        _ => return Ok(None),
    };
    let Some(location) = answer.headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let location = String::from_utf8_lossy(location.as_bytes());
    let url = request
        .url
        .join(&location)
        .map_err(|e| format!("failed to parse Location header {location:?}: {e}"))?;
    let mut headers = request.headers.clone();
    let (method, body) = if keep_body {
        (request.method.clone(), request.body.clone())
    } else {
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
        ] {
            headers.remove(name);
        }
        let method = match request.method {
            Method::GET | Method::HEAD => request.method.clone(),
            _ => Method::GET,
        };
        (method, Bytes::new())
    };
    // Credentials go only where they were meant to.
    let same_server = url.host_str() == request.url.host_str()
        && url.port_or_known_default() == request.url.port_or_known_default();
    if !same_server {
        for name in [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
            header::WWW_AUTHENTICATE,
        ] {
            headers.remove(name);
        }
    }
    // A Referer, never from https to http.
    if !(request.url.scheme() == "https" && url.scheme() == "http") {
        let mut referer = request.url.as_ref().clone();
        referer.set_fragment(None);
        // Both fail only for URLs that cannot carry credentials at all,
        // which then have none to strip.
        referer.set_username("").ok();
        referer.set_password(None).ok();
        if let Ok(value) = HeaderValue::from_str(referer.as_str()) {
            headers.insert(header::REFERER, value);
        }
    }
    Ok(Some(Outgoing {
        method,
        url: Cow::Owned(url),
        target: None,
        headers,
        body,
    }))
}

/// A request or response as text, the way it goes over the wire.
fn dump(first_line: &str, headers: &HeaderMap, body: &[u8]) -> String {
    let mut text = format!("{first_line}\r\n");
    for (name, value) in headers {
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(&String::from_utf8_lossy(body));
    text
}

fn log_at(level: tracing::Level, what: &str, text: &str) {
    match level {
        tracing::Level::TRACE => tracing::trace!(dump = %text, "{what}"),
        tracing::Level::DEBUG => tracing::debug!(dump = %text, "{what}"),
        tracing::Level::INFO => tracing::info!(dump = %text, "{what}"),
        tracing::Level::WARN => tracing::warn!(dump = %text, "{what}"),
        tracing::Level::ERROR => tracing::error!(dump = %text, "{what}"),
    }
}

/// An `Authorization` value built from configured text.
fn header_value(text: &str, what: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| format!("{what} gives an invalid Authorization header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

fn basic_auth_value(config: &BasicAuthConfig) -> Result<HeaderValue, String> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", config.username, config.password));
    header_value(&format!("Basic {encoded}"), "basic_auth")
}

fn builder_warn_lower_content_type() {
    tracing::warn!(
        "http_client header key 'content-type' is overwritten by Content-Type: application/octet-stream; spell it 'Content-Type' to set it"
    );
}

/// The reqwest client for what the plain client does not serve. Timeouts
/// and redirects are `HttpClient`'s, the same for both clients.
fn build_reqwest(
    config: &HttpClientConfig,
    env_proxy: Option<Arc<EnvProxy>>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(config.max_in_flight.unwrap_or(64))
        .redirect(reqwest::redirect::Policy::none());
    if config.disable_http2 {
        builder = builder.http1_only();
    }
    // `proxy_url` sends every request through one proxy; without it the
    // environment decides as in Go, never reqwest's own system proxy (see
    // `env_proxy`).
    builder = builder.no_proxy();
    if !config.proxy_url.is_empty() {
        let proxy = reqwest::Proxy::all(&config.proxy_url)
            .map_err(|e| format!("invalid proxy_url: {e}"))?;
        builder = builder.proxy(proxy);
    } else if let Some(env) = env_proxy {
        builder = builder.proxy(reqwest::Proxy::custom(move |url| env.proxy_for(url)));
    }
    if config.tls.enabled {
        if config.tls.skip_cert_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let mut cas = Vec::new();
        if !config.tls.root_cas.is_empty() {
            cas.push(config.tls.root_cas.as_bytes().to_vec());
        }
        if !config.tls.root_cas_file.is_empty() {
            cas.push(
                std::fs::read(&config.tls.root_cas_file)
                    .map_err(|e| format!("failed to read root_cas_file: {e}"))?,
            );
        }
        for pem in cas {
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("invalid root CA: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        for client_cert in &config.tls.client_certs {
            if !client_cert.password.is_empty() {
                return Err("tls.client_certs password is not supported yet".to_owned());
            }
            let read = |inline: &str, file: &str| -> Result<Vec<u8>, String> {
                if inline.is_empty() {
                    std::fs::read(file).map_err(|e| format!("failed to read {file}: {e}"))
                } else {
                    Ok(inline.as_bytes().to_vec())
                }
            };
            let mut pem = read(&client_cert.cert, &client_cert.cert_file)?;
            pem.push(b'\n');
            pem.extend(read(&client_cert.key, &client_cert.key_file)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| format!("invalid client certificate: {e}"))?;
            builder = builder.identity(identity);
        }
    }
    builder
        .build()
        .map_err(|e| format!("failed to build HTTP client: {e}"))
}

/// Splits a `multipart/*` response into its part bodies; anything else is
/// one body.
pub(crate) async fn response_parts(response: &Response) -> Vec<Bytes> {
    let boundary = response
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.parse::<mime::Mime>().ok())
        .filter(|m| m.type_() == mime::MULTIPART)
        .and_then(|m| m.get_param(mime::BOUNDARY).map(|b| b.to_string()));
    let Some(boundary) = boundary else {
        return vec![response.body.clone()];
    };
    let body = response.body.clone();
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.bytes().await {
            Ok(bytes) => parts.push(bytes),
            Err(_) => break,
        }
    }
    if parts.is_empty() {
        vec![response.body.clone()]
    } else {
        parts
    }
}

/// A `multipart/form-data` body from parts of (headers, body), with a random
/// boundary as Go's `mime/multipart` writer makes them.
fn form_data(parts: Vec<(Vec<(String, String)>, Bytes)>) -> (Bytes, String) {
    let raw: [u8; 30] = rand::random();
    let boundary: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut body = Vec::new();
    for (index, (headers, content)) in parts.iter().enumerate() {
        if index > 0 {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(b": ");
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
    }
    if !parts.is_empty() {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    (
        Bytes::from(body),
        format!("multipart/form-data; boundary={boundary}"),
    )
}
