//! Proxy selection from the environment when `proxy_url` is empty, with the
//! rules of Go's `http.ProxyFromEnvironment` that Benthos's client follows:
//! `HTTP_PROXY` for `http` URLs, `HTTPS_PROXY` for `https` URLs (upper-case
//! names first, then lower-case), hosts listed in `NO_PROXY` go direct, and
//! `localhost` and loopback addresses are never proxied.
//!
//! reqwest's own system proxy differs in ways a user would notice: it also
//! reads `ALL_PROXY`, proxies loopback addresses, and matches `NO_PROXY`
//! without ports. So the client turns it off and asks this module instead.

use std::net::IpAddr;

use ipnet::IpNet;
use reqwest::Url;

/// The proxies named by the environment, read once when a client is built
/// (Go also reads them once per process).
pub(crate) struct EnvProxy {
    http: Option<String>,
    https: Option<String>,
    no_proxy: NoProxy,
}

impl EnvProxy {
    /// Reads `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (or their lower-case
    /// forms); `None` when no proxy is set. A value that is not a URL is an
    /// error, as Go refuses requests through it.
    pub(crate) fn from_env() -> Result<Option<EnvProxy>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<EnvProxy>, String> {
        // Go takes the first variable that is set and not empty.
        let first = |names: [&str; 2]| {
            names
                .into_iter()
                .filter_map(&var)
                .find(|value| !value.is_empty())
        };
        let http = first(["HTTP_PROXY", "http_proxy"])
            .map(|v| proxy_url("HTTP_PROXY", &v))
            .transpose()?;
        let https = first(["HTTPS_PROXY", "https_proxy"])
            .map(|v| proxy_url("HTTPS_PROXY", &v))
            .transpose()?;
        if http.is_none() && https.is_none() {
            return Ok(None);
        }
        let no_proxy = NoProxy::parse(&first(["NO_PROXY", "no_proxy"]).unwrap_or_default());
        Ok(Some(EnvProxy {
            http,
            https,
            no_proxy,
        }))
    }

    /// The proxy for a request to `url`, or `None` to connect directly.
    pub(crate) fn proxy_for(&self, url: &Url) -> Option<String> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        let port = url.port_or_known_default().unwrap_or_default();
        let direct = match url.host()? {
            url::Host::Domain(name) => name == "localhost" || self.no_proxy.domain(name, port),
            url::Host::Ipv4(ip) => self.no_proxy.ip(IpAddr::V4(ip), port),
            url::Host::Ipv6(ip) => self.no_proxy.ip(IpAddr::V6(ip), port),
        };
        (!direct).then(|| proxy.clone())
    }
}

/// A proxy setting as Go reads it: a value without an `http`, `https` or
/// `socks5` scheme means `http://value`.
fn proxy_url(name: &str, value: &str) -> Result<String, String> {
    let has_scheme = ["http://", "https://", "socks5://", "socks5h://"]
        .iter()
        .any(|scheme| value.starts_with(scheme));
    let text = if has_scheme {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    Url::parse(&text).map_err(|e| format!("invalid proxy address {value:?} in {name}: {e}"))?;
    Ok(text)
}

/// A parsed `NO_PROXY` list.
#[derive(Default)]
struct NoProxy {
    /// `*`: nothing is proxied.
    all: bool,
    networks: Vec<IpNet>,
    /// An address with an optional port.
    ips: Vec<(IpAddr, Option<u16>)>,
    /// A name that starts with a dot, whether the bare name matches too, and
    /// an optional port.
    domains: Vec<(String, bool, Option<u16>)>,
}

impl NoProxy {
    /// Comma-separated entries: `*`, a network (`10.0.0.0/8`), an address or
    /// a domain, each of the latter two with an optional `:port`.
    /// `example.com` matches the domain and its subdomains, `.example.com`
    /// and `*.example.com` only the subdomains.
    fn parse(list: &str) -> NoProxy {
        let mut parsed = NoProxy::default();
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                parsed.all = true;
                continue;
            }
            if let Ok(network) = entry.parse::<IpNet>() {
                parsed.networks.push(network);
                continue;
            }
            let (host, port) = split_port(&entry);
            if let Ok(ip) = host.parse::<IpAddr>() {
                parsed.ips.push((ip, port));
                continue;
            }
            if host.is_empty() {
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|rest| rest.starts_with('.'))
                .unwrap_or(host);
            let entry = if host.starts_with('.') {
                (host.to_owned(), false, port)
            } else {
                (format!(".{host}"), true, port)
            };
            parsed.domains.push(entry);
        }
        parsed
    }

    fn ip(&self, ip: IpAddr, port: u16) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        ip.is_loopback()
            || self.all
            || self.networks.iter().any(|network| network.contains(&ip))
            || self
                .ips
                .iter()
                .any(|(entry, entry_port)| *entry == ip && entry_port.is_none_or(|p| p == port))
            || self.domains_match(&ip.to_string(), port)
    }

    fn domain(&self, name: &str, port: u16) -> bool {
        self.all || self.domains_match(&name.to_ascii_lowercase(), port)
    }

    fn domains_match(&self, name: &str, port: u16) -> bool {
        self.domains.iter().any(|(suffix, bare, entry_port)| {
            let matches = name.ends_with(suffix.as_str())
                || (*bare && suffix.get(1..).is_some_and(|bare_name| bare_name == name));
            matches && entry_port.is_none_or(|p| p == port)
        })
    }
}

/// `host:port` into its parts; an entry without a valid port, or a bare
/// IPv6 address, is all host. `[v6]:port` loses its brackets.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
        && let Ok(port) = port.parse()
    {
        return (host, Some(port));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Option<EnvProxy> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvProxy::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    /// Where each URL goes ("direct" or the proxy) with `vars` set.
    fn check(vars: &[(&str, &str)], cases: &[(&str, &str)]) {
        let proxy = env(vars).expect("a proxy is set");
        for (url, expected) in cases {
            let got = proxy
                .proxy_for(&Url::parse(url).unwrap())
                .unwrap_or_else(|| "direct".to_owned());
            assert_eq!(&got, expected, "{url}");
        }
    }

    #[test]
    fn no_variables_means_no_proxy() {
        assert!(env(&[]).is_none());
        assert!(env(&[("HTTP_PROXY", ""), ("NO_PROXY", "x")]).is_none());
    }

    #[test]
    fn scheme_picks_the_variable_and_loopback_is_direct() {
        check(
            &[("HTTP_PROXY", "http://p:3128"), ("https_proxy", "s:8443")],
            &[
                ("http://example.com/x", "http://p:3128"),
                ("https://example.com/x", "http://s:8443"),
                ("http://localhost:8080/", "direct"),
                ("http://127.0.0.1:8080/", "direct"),
                ("http://127.9.9.9/", "direct"),
                ("http://[::1]:80/", "direct"),
                ("http://10.1.2.3/", "http://p:3128"),
            ],
        );
        check(
            &[("HTTPS_PROXY", "http://s:1")],
            &[
                ("http://example.com/", "direct"),
                ("https://example.com/", "http://s:1"),
            ],
        );
    }

    #[test]
    fn upper_case_names_win() {
        check(
            &[
                ("HTTP_PROXY", "http://upper:1"),
                ("http_proxy", "http://lower:1"),
            ],
            &[("http://example.com/", "http://upper:1")],
        );
    }

    #[test]
    fn no_proxy_entries_match_as_in_go() {
        check(
            &[
                ("HTTP_PROXY", "http://p:1"),
                (
                    "NO_PROXY",
                    " Example.com, .sub.org,*.star.net, 10.0.0.0/8, 192.168.1.5, only.port:8080, [2001:db8::1]:99",
                ),
            ],
            &[
                ("http://example.com/", "direct"),
                ("http://a.example.com/", "direct"),
                ("http://notexample.com/", "http://p:1"),
                ("http://sub.org/", "http://p:1"),
                ("http://a.sub.org/", "direct"),
                ("http://star.net/", "http://p:1"),
                ("http://a.star.net/", "direct"),
                ("http://10.20.30.40/", "direct"),
                ("http://11.0.0.1/", "http://p:1"),
                ("http://192.168.1.5/", "direct"),
                ("http://192.168.1.6/", "http://p:1"),
                ("http://only.port:8080/", "direct"),
                ("http://only.port/", "http://p:1"),
                ("http://[2001:db8::1]:99/", "direct"),
                ("http://[2001:db8::1]:98/", "http://p:1"),
            ],
        );
        check(
            &[("HTTP_PROXY", "http://p:1"), ("no_proxy", "*")],
            &[("http://example.com/", "direct")],
        );
    }

    #[test]
    fn a_proxy_that_is_not_a_url_is_an_error() {
        let err =
            EnvProxy::from_vars(|name| (name == "HTTP_PROXY").then(|| "http://[bad".to_owned()))
                .err()
                .unwrap();
        assert!(
            err.starts_with("invalid proxy address \"http://[bad\" in HTTP_PROXY"),
            "{err}"
        );
    }
}
