//! Go's `net/url` rules: `Parse`, the escaping modes and their errors.
//!
//! Benthos's `parse_url`, `escape_url_*` and `unescape_url_*` are thin wrappers over Go's
//! `net/url`, and their results (relative references, the `opaque` and `raw_*` fields, the
//! error texts) are Go's. The WHATWG parser of the `url` crate normalises and rejects
//! differently, and no crate follows Go's rules, so they are written out here.

use std::fmt;

/// The URL component an escape or unescape applies to (Go's `encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Path,
    PathSegment,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

/// Why a URL or an escaped text was refused; `Display` renders Go's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// A `%` not followed by two hex digits, or an escape a host may not hold.
    Escape(Vec<u8>),
    /// A byte a host name may not hold.
    InvalidHost(u8),
    ControlCharacter,
    MissingScheme,
    ColonInFirstSegment,
    MissingBracket,
    InvalidPort(String),
    InvalidUserinfo,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Escape(text) => write!(f, "invalid URL escape {}", quote_bytes(text)),
            UrlError::InvalidHost(b) => {
                write!(f, "invalid character {} in host name", quote_bytes(&[*b]))
            }
            UrlError::ControlCharacter => f.write_str("net/url: invalid control character in URL"),
            UrlError::MissingScheme => f.write_str("missing protocol scheme"),
            UrlError::ColonInFirstSegment => {
                f.write_str("first path segment in URL cannot contain colon")
            }
            UrlError::MissingBracket => f.write_str("missing ']' in host"),
            UrlError::InvalidPort(port) => {
                write!(
                    f,
                    "invalid port {} after host",
                    quote_bytes(port.as_bytes())
                )
            }
            UrlError::InvalidUserinfo => f.write_str("net/url: invalid userinfo"),
        }
    }
}

/// Go's `strconv.Quote` of bytes that need not be UTF-8: invalid bytes read `\xNN`.
pub(crate) fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        let quoted = crate::methods::strings::go_quote(chunk.valid());
        out.push_str(&quoted[1..quoted.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    format!("\"{out}\"")
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::PathSegment => return matches!(c, b'/' | b';' | b',' | b'?'),
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => return true,
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Go's `unescape`: decodes `%XX` (and `+` in a query component), refusing what `mode` may
/// not hold. The result is bytes, as a Go string may hold any.
pub(crate) fn unescape(s: &str, mode: Mode) -> Result<Vec<u8>, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    let end = (i + 3).min(b.len());
                    return Err(UrlError::Escape(b[i..end].to_vec()));
                }
                let escape = &b[i..i + 3];
                let v = (unhex(b[i + 1]) << 4) | unhex(b[i + 2]);
                // A host may escape only non-ASCII bytes, save the `%25` of a zone.
                if mode == Mode::Host && unhex(b[i + 1]) < 8 && escape != b"%25" {
                    return Err(UrlError::Escape(escape.to_vec()));
                }
                if mode == Mode::Zone
                    && escape != b"%25"
                    && v != b' '
                    && should_escape(v, Mode::Host)
                {
                    return Err(UrlError::Escape(escape.to_vec()));
                }
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(if mode == Mode::QueryComponent {
                    b' '
                } else {
                    b'+'
                });
                i += 1;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(UrlError::InvalidHost(c));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `escape`: percent-encodes (upper-case hex) what `mode` must not hold literally.
pub(crate) fn escape(s: &[u8], mode: Mode) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &c in s {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push('+');
        } else if should_escape(c, mode) {
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        } else {
            out.push(char::from(c));
        }
    }
    out
}

/// The user information of a URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Userinfo {
    pub(crate) name: Vec<u8>,
    pub(crate) password: Option<Vec<u8>>,
}

/// Go's `url.URL`, as far as `parse_url` shows it. Decoded fields are bytes because a Go
/// string may hold an escape of any byte.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GoUrl {
    pub(crate) scheme: String,
    pub(crate) opaque: String,
    pub(crate) user: Option<Userinfo>,
    pub(crate) host: Vec<u8>,
    pub(crate) path: Vec<u8>,
    pub(crate) raw_path: String,
    pub(crate) raw_query: String,
    pub(crate) fragment: Vec<u8>,
    pub(crate) raw_fragment: String,
}

/// A failed `Parse`: Go renders it `parse "<input>": <reason>`, the input being the text
/// before any `#` unless the fragment was at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseUrlError {
    pub(crate) input: String,
    pub(crate) reason: UrlError,
}

impl fmt::Display for ParseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse {}: {}",
            quote_bytes(self.input.as_bytes()),
            self.reason
        )
    }
}

/// Go's `url.Parse`: the fragment is cut off first, then the rest parsed as an absolute URL
/// or a relative reference.
pub(crate) fn parse(raw: &str) -> Result<GoUrl, ParseUrlError> {
    let (before, fragment) = match raw.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (raw, None),
    };
    let mut url = parse_reference(before).map_err(|reason| ParseUrlError {
        input: before.to_owned(),
        reason,
    })?;
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        let decoded = unescape(fragment, Mode::Fragment).map_err(|reason| ParseUrlError {
            input: raw.to_owned(),
            reason,
        })?;
        if escape(&decoded, Mode::Fragment) != fragment {
            url.raw_fragment = fragment.to_owned();
        }
        url.fragment = decoded;
    }
    Ok(url)
}

/// The scheme before the first `:`, when the text starts with one; Go's `getScheme`.
fn split_scheme(raw: &str) -> Result<(&str, &str), UrlError> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(UrlError::MissingScheme),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_reference(raw: &str) -> Result<GoUrl, UrlError> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(UrlError::ControlCharacter);
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = b"*".to_vec();
        return Ok(url);
    }
    let (scheme, mut rest) = split_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        // A lone trailing `?` forces an empty query, which parse_url does not show.
        rest = &rest[..rest.len() - 1];
    } else if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_owned();
        rest = before;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            // A rootless path after a scheme is opaque (RFC 3986).
            url.opaque = rest.to_owned();
            return Ok(url);
        }
        // A relative path's first segment cannot hold a colon, or it would read as a scheme.
        let first_segment = rest.split('/').next().unwrap_or("");
        if first_segment.contains(':') {
            return Err(UrlError::ColonInFirstSegment);
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority_and_path = &rest[2..];
        let (authority, path) = match authority_and_path.find('/') {
            Some(i) => authority_and_path.split_at(i),
            None => (authority_and_path, ""),
        };
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        rest = path;
    }
    let path = unescape(rest, Mode::Path)?;
    if escape(&path, Mode::Path) != rest {
        url.raw_path = rest.to_owned();
    }
    url.path = path;
    Ok(url)
}

fn parse_authority(authority: &str) -> Result<(Option<Userinfo>, Vec<u8>), UrlError> {
    let Some(at) = authority.rfind('@') else {
        return Ok((None, parse_host(authority)?));
    };
    let host = parse_host(&authority[at + 1..])?;
    let userinfo = &authority[..at];
    let valid = userinfo.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    });
    if !valid {
        return Err(UrlError::InvalidUserinfo);
    }
    let user = match userinfo.split_once(':') {
        None => Userinfo {
            name: unescape(userinfo, Mode::UserPassword)?,
            password: None,
        },
        Some((name, password)) => Userinfo {
            name: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

fn parse_host(host: &str) -> Result<Vec<u8>, UrlError> {
    if host.starts_with('[') {
        // An IP literal (RFC 3986, RFC 6874): `[fe80::1%25en0]:80`.
        let close = host.rfind(']').ok_or(UrlError::MissingBracket)?;
        let colon_port = &host[close + 1..];
        if !valid_optional_port(colon_port) {
            return Err(UrlError::InvalidPort(colon_port.to_owned()));
        }
        if let Some(zone) = host[..close].find("%25") {
            let mut out = unescape(&host[..zone], Mode::Host)?;
            out.extend(unescape(&host[zone..close], Mode::Zone)?);
            out.extend(unescape(&host[close..], Mode::Host)?);
            return Ok(out);
        }
    } else if let Some(colon) = host.rfind(':') {
        let colon_port = &host[colon..];
        if !valid_optional_port(colon_port) {
            return Err(UrlError::InvalidPort(colon_port.to_owned()));
        }
    }
    unescape(host, Mode::Host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Renders a parse the way Go's `%+v` of the interesting fields would read.
    fn show(raw: &str) -> String {
        match parse(raw) {
            Err(e) => format!("error: {e}"),
            Ok(u) => {
                let mut s = format!(
                    "scheme={:?} opaque={:?} host={:?} path={:?} raw_path={:?} raw_query={:?} \
                     fragment={:?} raw_fragment={:?}",
                    u.scheme,
                    u.opaque,
                    text(&u.host),
                    text(&u.path),
                    u.raw_path,
                    u.raw_query,
                    text(&u.fragment),
                    u.raw_fragment
                );
                if let Some(user) = u.user {
                    s.push_str(&format!(
                        " user={:?} password={:?}",
                        text(&user.name),
                        user.password.as_deref().map(text)
                    ));
                }
                s
            }
        }
    }

    fn check(raw: &str, expected: &str) {
        assert_eq!(show(raw), expected, "parsing {raw:?}");
    }

    #[test]
    fn parses_as_go_does() {
        check(
            "https://docs.redpanda.com/redpanda-connect/guides/bloblang/about/",
            r#"scheme="https" opaque="" host="docs.redpanda.com" path="/redpanda-connect/guides/bloblang/about/" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "amqp://foo:bar@127.0.0.1:5672/",
            r#"scheme="amqp" opaque="" host="127.0.0.1:5672" path="/" raw_path="" raw_query="" fragment="" raw_fragment="" user="foo" password=Some("bar")"#,
        );
        check(
            "foo/bar",
            r#"scheme="" opaque="" host="" path="foo/bar" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "/path?x=1#frag",
            r#"scheme="" opaque="" host="" path="/path" raw_path="" raw_query="x=1" fragment="frag" raw_fragment="""#,
        );
        check(
            "mailto:someone@example.com",
            r#"scheme="mailto" opaque="someone@example.com" host="" path="" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "HTTP://u%40x@Example.com/a%2Fb%20c?q=%zz#x%20y!",
            r#"scheme="http" opaque="" host="Example.com" path="/a/b c" raw_path="/a%2Fb%20c" raw_query="q=%zz" fragment="x y!" raw_fragment="" user="u@x" password=None"#,
        );
        check(
            "http://[fe80::1%25en0]:8080/",
            r#"scheme="http" opaque="" host="[fe80::1%en0]:8080" path="/" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "//host/p",
            r#"scheme="" opaque="" host="host" path="/p" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "http://x/#a%2fb",
            r#"scheme="http" opaque="" host="x" path="/" raw_path="" raw_query="" fragment="a/b" raw_fragment="a%2fb""#,
        );
    }

    #[test]
    fn refuses_as_go_does() {
        check(
            "invalid %&# url",
            r#"error: parse "invalid %&": invalid URL escape "%&""#,
        );
        check(":foo", r#"error: parse ":foo": missing protocol scheme"#);
        check(
            "a:b/c:d",
            r#"scheme="a" opaque="b/c:d" host="" path="" raw_path="" raw_query="" fragment="" raw_fragment="""#,
        );
        check(
            "1a:b",
            r#"error: parse "1a:b": first path segment in URL cannot contain colon"#,
        );
        check(
            "http://host:port/",
            r#"error: parse "http://host:port/": invalid port ":port" after host"#,
        );
        check(
            "http://[::1/",
            r#"error: parse "http://[::1/": missing ']' in host"#,
        );
        check(
            "http://a b/",
            r#"error: parse "http://a b/": invalid character " " in host name"#,
        );
        check(
            "http://x/\n",
            r#"error: parse "http://x/\n": net/url: invalid control character in URL"#,
        );
        check(
            "http://x/#%zz",
            r#"error: parse "http://x/#%zz": invalid URL escape "%zz""#,
        );
        check(
            "http://a%2F@b/",
            r#"scheme="http" opaque="" host="b" path="/" raw_path="" raw_query="" fragment="" raw_fragment="" user="a/" password=None"#,
        );
        check(
            "http://%41/",
            r#"error: parse "http://%41/": invalid URL escape "%41""#,
        );
    }

    #[test]
    fn escapes_as_go_does() {
        assert_eq!(escape(b"foo & bar", Mode::QueryComponent), "foo+%26+bar");
        assert_eq!(
            escape(b"foo & bar/;,?", Mode::PathSegment),
            "foo%20&%20bar%2F%3B%2C%3F"
        );
        assert_eq!(
            escape("é~!*".as_bytes(), Mode::PathSegment),
            "%C3%A9~%21%2A"
        );
        assert_eq!(
            unescape("a+b%20c", Mode::QueryComponent).unwrap(),
            b"a b c".to_vec()
        );
        assert_eq!(
            unescape("a+b%20c", Mode::PathSegment).unwrap(),
            b"a+b c".to_vec()
        );
        assert_eq!(
            unescape("%aé", Mode::PathSegment).unwrap_err().to_string(),
            r#"invalid URL escape "%a\xc3""#
        );
        assert_eq!(
            unescape("50%", Mode::QueryComponent)
                .unwrap_err()
                .to_string(),
            r#"invalid URL escape "%""#
        );
    }
}
