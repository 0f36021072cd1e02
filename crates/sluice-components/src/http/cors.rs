//! CORS (`cors.enabled`, `cors.allowed_origins`) for the service-wide
//! server and `http_server` inputs with their own address: answers
//! preflights and marks allowed responses as gorilla/handlers does for
//! Benthos.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::http::HttpResponse;

const ALLOWED_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// The origins a browser may call from; `*` allows any.
pub(crate) struct Cors {
    origins: Vec<String>,
}

impl Cors {
    pub(crate) fn new(origins: Vec<String>) -> Self {
        Self { origins }
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`.
    fn allow_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        if self.origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(text))
            .then(|| origin.clone())
    }

    /// The answer to a preflight request, or `None` when `method`/`headers`
    /// are not a preflight.
    pub(crate) fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<HttpResponse> {
        if method != Method::OPTIONS {
            return None;
        }
        let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let mut res = HttpResponse::new(Default::default());
        let allowed_method = requested
            .to_str()
            .is_ok_and(|m| ALLOWED_METHODS.contains(&m));
        let Some(origin) = self.allow_origin(headers).filter(|_| allowed_method) else {
            *res.status_mut() = StatusCode::FORBIDDEN;
            return Some(res);
        };
        let out = res.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, requested.clone());
        if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        Some(res)
    }

    /// Marks a response to an allowed cross-origin request.
    pub(crate) fn decorate(&self, request_headers: &HeaderMap, res: &mut HttpResponse) {
        if let Some(origin) = self.allow_origin(request_headers) {
            res.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
    }
}
