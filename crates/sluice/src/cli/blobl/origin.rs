//! Which requests the playground serves. Its mappings can read files and
//! environment variables, and with `-w` it writes to disk, so a web page the
//! developer happens to visit must not drive it: a request naming another
//! site in `Origin`, or a `Host` that only DNS could have pointed here (DNS
//! rebinding), is refused; `POST /execute` must be JSON, which a page cannot
//! send cross-site without a preflight the playground never grants.

use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header;

/// Why a request is refused, or `None` when it may be served. `bound_host`
/// is the `--host` the playground listens on.
pub(super) fn foreign_request(headers: &HeaderMap, bound_host: &str) -> Option<String> {
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or_default();
        if !host_allowed(strip_port(host), bound_host) {
            return Some(format!(
                "Host {host:?} is not this machine: the playground answers only \
                 localhost, IP addresses and --host"
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = origin
            .split_once("://")
            .map(|(_, rest)| strip_port(rest.split('/').next().unwrap_or_default()));
        if !host.is_some_and(|h| host_allowed(h, bound_host)) {
            return Some(format!(
                "requests from the page at {origin:?} are refused: the playground \
                 serves only its own page"
            ));
        }
    }
    None
}

/// Whether the request's body is declared as JSON.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/json")
}

/// `host` of `host:port` or `[v6]:port`.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Loopback names and IP literals cannot be rebound by DNS; the name the
/// playground was told to listen on is the user's own choice.
fn host_allowed(host: &str, bound_host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok()
        || (!bound_host.is_empty() && host == bound_host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn local_hosts_and_origins_are_served() {
        for host in [
            "localhost:4195",
            "127.0.0.1:4195",
            "[::1]:4195",
            "10.0.0.5",
            "LOCALHOST",
            "app.localhost:80",
        ] {
            let h = headers(&[("host", host), ("origin", "http://localhost:4195")]);
            assert_eq!(foreign_request(&h, "localhost"), None, "{host}");
        }
        assert_eq!(
            foreign_request(&headers(&[("host", "devbox:4195")]), "devbox"),
            None
        );
        assert_eq!(foreign_request(&HeaderMap::new(), "localhost"), None);
    }

    #[test]
    fn rebound_hosts_and_foreign_origins_are_refused() {
        let rebound = headers(&[("host", "attacker.example:4195")]);
        assert!(foreign_request(&rebound, "localhost").is_some());
        let foreign = headers(&[
            ("host", "localhost:4195"),
            ("origin", "https://evil.example"),
        ]);
        assert!(foreign_request(&foreign, "localhost").is_some());
        let opaque = headers(&[("host", "localhost:4195"), ("origin", "null")]);
        assert!(foreign_request(&opaque, "localhost").is_some());
    }

    #[test]
    fn only_json_bodies_count_as_json() {
        assert!(is_json(&headers(&[("content-type", "application/json")])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
