//! `${VAR}` substitution on the raw config text, before YAML parsing, and
//! the dotenv files that `-e/--env-file` loads.
//!
//! Follows Benthos: `${NAME}`, `${NAME:default}` and an optional trailing
//! `|base64decode`; `NAME` uses `[0-9A-Za-z_.]`, so Bloblang's `${! ... }`
//! never matches. `${{NAME}}` escapes to a literal `${NAME}`.

use super::{Lint, Mark};

/// Replaces environment references in `text`. A variable without a default
/// that `lookup` does not know becomes empty text plus one lint at line 1
/// naming every such variable, as Benthos reports it.
pub fn interpolate_env(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Vec<Lint>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut lints = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        match reference_len(candidate) {
            Some(len) => {
                let inner = &candidate[2..len - 1];
                match resolve(inner, lookup, &mut missing) {
                    Ok(value) => out.push_str(&value.replace('\n', "\\n")),
                    Err(message) => lints.push(Lint::error(Mark::new(1, 1), message)),
                }
                rest = &candidate[len..];
            }
            None => {
                out.push_str("${");
                rest = &candidate[2..];
            }
        }
    }
    out.push_str(rest);
    let out = unescape(&out);
    if !missing.is_empty() {
        let names = missing.join(" ");
        let message = format!("required environment variables were not set: [{names}]");
        lints.insert(0, Lint::error(Mark::new(1, 1), message));
    }
    (out, lints)
}

/// The byte length of the `${...}` reference at the start of `text`, if it
/// is one: a name, then an optional `:default` (which may hold `${...}`
/// pairs) or `|function`, then `}`.
fn reference_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("${")?;
    let name_len = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
    if name_len == 0 {
        return None;
    }
    let mut rest = &body[name_len..];
    if let Some(after_colon) = rest.strip_prefix(':') {
        rest = after_colon;
        loop {
            if let Some(nested) = rest.strip_prefix("${") {
                match nested.find('}') {
                    Some(end) if end > 0 => {
                        rest = &nested[end + 1..];
                        continue;
                    }
                    _ => {}
                }
            }
            match rest.chars().next() {
                Some('}') | None => break,
                Some(c) => rest = &rest[c.len_utf8()..],
            }
        }
    } else if let Some(after_pipe) = rest.strip_prefix('|') {
        rest = &after_pipe[after_pipe.find('}').unwrap_or(after_pipe.len())..];
    }
    rest.strip_prefix('}')?;
    Some(text.len() - rest.len() + 1)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// The replacement text of one reference body (between `${` and `}`).
fn resolve(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    missing: &mut Vec<String>,
) -> Result<String, String> {
    let (inner, decode) = match inner.rsplit_once('|') {
        Some((inner, function)) => (inner, Some(function)),
        None => (inner, None),
    };
    let value = match inner.split_once(':') {
        Some((name, default)) => lookup(name)
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| default.to_owned()),
        None => lookup(inner).unwrap_or_else(|| {
            missing.push(inner.to_owned());
            String::new()
        }),
    };
    match decode {
        None => Ok(value),
        Some("base64decode") => {
            let bytes = decode_base64(&value)
                .map_err(|at| format!("failed to decode base64-encoded env var: illegal base64 data at input byte {at}"))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        Some(function) => Err(format!("unknown env var decode function: {function}")),
    }
}

/// Turns `${{NAME}}` / `${{NAME:default}}` into a literal `${NAME...}`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        // `${{X}}` is an escape when `${X}` would be a reference and one more
        // `}` follows it.
        let probe = format!("${}", &candidate[2..]);
        match reference_len(&probe) {
            Some(len) if candidate.as_bytes().get(len + 1) == Some(&b'}') => {
                out.push('$');
                out.push_str(&candidate[2..len + 1]);
                rest = &candidate[len + 2..];
            }
            _ => {
                out.push_str("${{");
                rest = &candidate[3..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Standard padded base64, as Go's `base64.StdEncoding`; the error is the
/// offset of the first bad byte.
fn decode_base64(text: &str) -> Result<Vec<u8>, usize> {
    fn value(byte: u8) -> Option<u32> {
        match byte {
            b'A'..=b'Z' => Some(u32::from(byte - b'A')),
            b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let clean: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for (n_quantum, quantum) in clean.chunks(4).enumerate() {
        let is_last = (n_quantum + 1) * 4 >= clean.len();
        let mut values = [0u32; 4];
        let mut n_data = 0;
        for (position, &(offset, byte)) in quantum.iter().enumerate() {
            if byte == b'=' {
                let padding_ok = position >= 2
                    && quantum.len() == 4
                    && is_last
                    && quantum[position..].iter().all(|(_, b)| *b == b'=');
                if !padding_ok {
                    return Err(offset);
                }
                break;
            }
            values[position] = value(byte).ok_or(offset)?;
            n_data += 1;
        }
        if quantum.len() < 4 {
            return Err(text.len());
        }
        let acc = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3];
        out.extend_from_slice(&acc.to_be_bytes()[1..n_data]);
    }
    Ok(out)
}

/// Parses a dotenv file: `KEY=value` lines, optional `export `, `#`
/// comments, single-quoted (literal) and double-quoted (with `\n`, `\"`
/// escapes) values, and ` #` comments after unquoted values.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(": ")) else {
            return Err(format!("line {}: expected KEY=value", index + 1));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(is_name_char) {
            return Err(format!("line {}: invalid variable name {key:?}", index + 1));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                // Quoted values may span lines until the closing quote.
                let mut raw = value[1..].to_owned();
                let end = loop {
                    if let Some(end) = closing_quote(&raw, quote) {
                        break end;
                    }
                    let Some((_, next)) = lines.next() else {
                        return Err(format!("line {}: unterminated quoted value", index + 1));
                    };
                    raw.push('\n');
                    raw.push_str(next);
                };
                let body = &raw[..end];
                if quote == '"' {
                    unescape_double(body)
                } else {
                    body.to_owned()
                }
            }
            _ => match value.find(" #") {
                Some(at) => value[..at].trim_end().to_owned(),
                None => value.to_owned(),
            },
        };
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(at),
            _ => escaped = false,
        }
    }
    None
}

fn unescape_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "EMPTY" => Some(String::new()),
            "FOO" => Some("foo".to_owned()),
            "DOTTED.NAME" => Some("dotted".to_owned()),
            "MULTI" => Some("a\nb".to_owned()),
            "B64" => Some("Zm9vYmFy".to_owned()),
            "ADDR" => Some("127.0.0.1:4198".to_owned()),
            _ => None,
        }
    }

    /// Interpolates `input` and renders the text plus any lints.
    fn check(input: &str, expected: Expect) {
        let (text, lints) = interpolate_env(input, &env);
        let mut actual = text;
        for lint in lints {
            actual.push_str(&format!(" | {lint}"));
        }
        expected.assert_eq(&actual);
    }

    #[test]
    fn substitutes_like_benthos() {
        check("a ${FOO} b", expect![["a foo b"]]);
        check("a ${DOTTED.NAME} b", expect![["a dotted b"]]);
        check("${NOPE:} x", expect![[" x"]]);
        check("${EMPTY:bar}", expect![["bar"]]);
        check("${EMPTY}", expect![[""]]);
        check("${FOO:bar}", expect![["foo"]]);
        check(
            "${NOPE:http://x.com?a=b#c}",
            expect![["http://x.com?a=b#c"]],
        );
        check("${NOPE:tcp://*:2020}", expect![["tcp://*:2020"]]);
        check("${NOPE::}", expect![[":"]]);
        check(
            "address: ${ADDR:127.0.0.1:4197}",
            expect![["address: 127.0.0.1:4198"]],
        );
        check(
            "address: ${UNSET:127.0.0.1:4197}",
            expect![["address: 127.0.0.1:4197"]],
        );
        check("${MULTI}", expect![[r"a\nb"]]);
        check("foo ${} baz", expect![["foo ${} baz"]]);
        check(
            "${NOPE:${!meta(\"a\")}-${!count(\"b\")}}",
            expect![[r#"${!meta("a")}-${!count("b")}"#]],
        );
    }

    #[test]
    fn leaves_bloblang_and_escapes() {
        check(
            r#"value: ${! json("id") }"#,
            expect![[r#"value: ${! json("id") }"#]],
        );
        check("${{FOO}} ${{FOO:bar}}", expect![["${FOO} ${FOO:bar}"]]);
        check("${{! json(\"x\") }}", expect![[r#"${{! json("x") }}"#]]);
    }

    #[test]
    fn reports_missing_variables_at_line_one() {
        check(
            "a: ${NOPE_A}\nb: ${NOPE_B}\n",
            expect![[r"a: 
b: 
 | (1,1) required environment variables were not set: [NOPE_A NOPE_B]"]],
        );
    }

    #[test]
    fn decodes_base64() {
        check("${B64|base64decode}", expect![["foobar"]]);
        check("${B64:x|base64decode}", expect![["foobar"]]);
        check("${NOPE:Zm9vYmFy|base64decode}", expect![["foobar"]]);
        check("${B64:foo|bar|base64decode}", expect![["foobar"]]);
        check(
            "${B64|lolwut}",
            expect![[" | (1,1) unknown env var decode function: lolwut"]],
        );
        check(
            "${NOPE:|kaboom|base64decode}",
            expect![[
                " | (1,1) failed to decode base64-encoded env var: illegal base64 data at input byte 0"
            ]],
        );
    }

    #[test]
    fn parses_env_files() {
        let text = "# comment\nexport A=1\nB = two words # note\nC=\"x\\ny\"\nD='lit $x'\n\nE=\"multi\nline\"\n";
        let vars = parse_env_file(text).unwrap();
        expect![[r#"[("A", "1"), ("B", "two words"), ("C", "x\ny"), ("D", "lit $x"), ("E", "multi\nline")]"#]]
            .assert_eq(&format!("{vars:?}"));
        expect![[r#"line 1: expected KEY=value"#]].assert_eq(&parse_env_file("nope").unwrap_err());
    }
}
