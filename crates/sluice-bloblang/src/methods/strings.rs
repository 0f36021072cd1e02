//! String manipulation and regular expression methods.

use crate::value::Map;

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::{Call, Cx, R, This, err, type_err};
use crate::go_url;
use crate::methods::{int_arg, str_arg, text};
use crate::value::{Value, format_float_g};

/// Go's `%v` of a value.
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone().into(),
        Value::Bytes(b) => {
            let parts: Vec<String> = b.iter().map(u8::to_string).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Float(f) => format_float_g(*f),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", go_v(v))).collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Timestamp(t) => {
            crate::time_fmt::go_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
        }
        other => other.to_interp_string(),
    }
}

fn pad(s: String, width: Option<usize>, left: bool, zero: bool) -> String {
    let Some(w) = width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if left {
        s + &" ".repeat(fill)
    } else if zero {
        let (sign, rest) = if let Some(r) = s.strip_prefix('-') {
            ("-", r)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        " ".repeat(fill) + &s
    }
}

/// Go's `fmt.Sprintf` for the verbs mappings use.
pub(crate) fn sprintf(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let (mut left, mut zero, mut plus, mut sharp, mut space) =
            (false, false, false, false, false);
        while i < chars.len() && matches!(chars[i], '-' | '0' | '+' | '#' | ' ') {
            match chars[i] {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                '#' => sharp = true,
                _ => space = true,
            }
            i += 1;
        }
        let (width, next) = parse_num(&chars, i);
        i = next;
        let mut prec = None;
        if i + 1 < chars.len() && chars[i] == '.' {
            let (p, next) = parse_num(&chars, i + 1);
            i = next;
            prec = Some(p.unwrap_or(0));
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let _ = space;
        let s = match verb {
            'v' | 's' => match (verb, arg) {
                ('s', Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                ('v', Value::Number(n)) => n.to_string(),
                _ => {
                    let mut s = go_v(arg);
                    if let (Some(p), 's') = (prec, verb) {
                        s = s.chars().take(p).collect();
                    }
                    s
                }
            },
            'd' => match arg.as_num() {
                Some(n) => {
                    let i = match n {
                        crate::value::Num::I(i) => i.to_string(),
                        crate::value::Num::F(f) => format!("%!d(float64={})", format_float_g(f)),
                    };
                    if plus && !i.starts_with('-') {
                        format!("+{i}")
                    } else {
                        i
                    }
                }
                None => format!("%!d({})", go_v(arg)),
            },
            'f' | 'F' => match arg.as_num() {
                Some(n) => {
                    let s = fixed(n.as_f64(), prec.unwrap_or(6));
                    if plus && !s.starts_with('-') {
                        format!("+{s}")
                    } else {
                        s
                    }
                }
                None => format!("%!f({})", go_v(arg)),
            },
            'e' => match arg.as_num() {
                Some(n) => go_exp(n.as_f64(), prec.unwrap_or(6)),
                None => format!("%!e({})", go_v(arg)),
            },
            'g' => match arg.as_num() {
                Some(n) => format_float_g(n.as_f64()),
                None => format!("%!g({})", go_v(arg)),
            },
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", go_v(other)),
            },
            'q' => match arg {
                Value::String(s) => go_quote(s),
                Value::Bytes(b) => go_quote(&String::from_utf8_lossy(b)),
                other => format!("%!q({})", go_v(other)),
            },
            'x' | 'X' => {
                let s = match arg {
                    Value::String(s) => hex::encode(s.as_bytes()),
                    Value::Bytes(b) => hex::encode(b),
                    other => match other.as_num() {
                        Some(crate::value::Num::I(i)) => {
                            if i < 0 {
                                format!("-{:x}", i.unsigned_abs())
                            } else {
                                format!("{i:x}")
                            }
                        }
                        _ => format!("%!x({})", go_v(other)),
                    },
                };
                let s = if sharp { format!("0x{s}") } else { s };
                if verb == 'X' { s.to_uppercase() } else { s }
            }
            'T' => match arg {
                Value::Null => "<nil>".to_owned(),
                Value::String(_) => "string".to_owned(),
                Value::Bool(_) => "bool".to_owned(),
                Value::Int(_) => "int64".to_owned(),
                Value::Float(_) => "float64".to_owned(),
                Value::Number(_) => "json.Number".to_owned(),
                Value::Bytes(_) => "[]uint8".to_owned(),
                Value::Array(_) => "[]interface {}".to_owned(),
                Value::Object(_) => "map[string]interface {}".to_owned(),
                Value::Timestamp(_) => "time.Time".to_owned(),
            },
            other => format!("%!{other}({})", go_v(arg)),
        };
        // Go caps each width at a million, but a format may hold many
        // verbs: the whole output is what must fit.
        let padded_len = s.len().max(width.unwrap_or(0));
        crate::budget::check_bytes(out.len().saturating_add(padded_len), "format")?;
        out.push_str(&pad(s, width, left, zero && !left));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extras: Vec<String> = args[argi..]
            .iter()
            .map(|a| {
                let t = match a {
                    Value::String(_) => "string",
                    Value::Int(_) => "int64",
                    Value::Float(_) => "float64",
                    Value::Bool(_) => "bool",
                    _ => "interface {}",
                };
                format!("{t}={}", go_v(a))
            })
            .collect();
        out.push_str(&extras.join(", "));
        out.push(')');
    }
    Ok(out)
}

/// Go's `parsenum`: the number at `i` and the index after it. Like Go, a
/// number past a million is given up on and the rest of the format skipped
/// (which then reads as `%!(NOVERB)`): a width or precision cannot make the
/// output arbitrarily large.
fn parse_num(chars: &[char], mut i: usize) -> (Option<usize>, usize) {
    let mut num: usize = 0;
    let mut is_num = false;
    while let Some(digit) = chars.get(i).and_then(|c| c.to_digit(10)) {
        if num > 1_000_000 {
            return (None, chars.len());
        }
        num = num * 10 + digit as usize;
        is_num = true;
        i += 1;
    }
    (is_num.then_some(num), i)
}

/// Digits after the point that can be other than zero in an `f64`'s exact
/// decimal expansion (2^-1074 has 1074); past them Rust's formatter, which
/// refuses precisions over 65535, is not needed: the rest is zeros.
const MAX_EXACT_DIGITS: usize = 1100;

/// `%.{prec}f` of `f`, for any precision.
fn fixed(f: f64, prec: usize) -> String {
    if prec <= MAX_EXACT_DIGITS {
        return format!("{f:.prec$}");
    }
    let mut s = format!("{f:.MAX_EXACT_DIGITS$}");
    if f.is_finite() {
        s.push_str(&"0".repeat(prec - MAX_EXACT_DIGITS));
    }
    s
}

fn go_exp(f: f64, prec: usize) -> String {
    let exact = prec.min(MAX_EXACT_DIGITS);
    let s = format!("{f:.exact$e}");
    let Some((m, e)) = s.split_once('e') else {
        // NaN and infinities have no exponent.
        return s;
    };
    let e: i32 = e.parse().unwrap_or(0);
    let zeros = "0".repeat(prec - exact);
    format!("{m}{zeros}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn uppercase(v: Value, _: &[Value]) -> Result<Value, String> {
    map_case(v, Case::Upper)
}

fn lowercase(v: Value, _: &[Value]) -> Result<Value, String> {
    map_case(v, Case::Lower)
}

#[derive(Clone, Copy)]
enum Case {
    Upper,
    Lower,
}

/// Go's `strings.Map` / `bytes.Map` with a case function over a string or
/// bytes as Go holds them: every byte that is no part of valid UTF-8 comes
/// out as U+FFFD. ASCII maps as ASCII in Go too, and in place costs no
/// allocation.
fn map_case(v: Value, case: Case) -> Result<Value, String> {
    let f = match case {
        Case::Upper => go_upper,
        Case::Lower => go_lower,
    };
    match v {
        Value::String(mut s) if s.is_ascii() => {
            match case {
                Case::Upper => s.make_ascii_uppercase(),
                Case::Lower => s.make_ascii_lowercase(),
            }
            Ok(Value::String(s))
        }
        Value::Bytes(mut b) if b.is_ascii() => {
            match case {
                Case::Upper => b.make_ascii_uppercase(),
                Case::Lower => b.make_ascii_lowercase(),
            }
            Ok(Value::Bytes(b))
        }
        Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            out.extend(crate::value::go_string_lossy(&s).chars().map(f));
            Ok(Value::String(out.into()))
        }
        Value::Bytes(b) => {
            let mut out = String::with_capacity(b.len());
            out.extend(crate::value::go_lossy(&b).chars().map(f));
            Ok(Value::Bytes(out.into_bytes()))
        }
        other => Err(type_err("string", &other)),
    }
}

/// Go's `unicode.ToUpper`: the simple case mapping, one character for one,
/// so that a character whose full mapping is several (`ß`) stays as it is.
fn go_upper(c: char) -> char {
    let code = c as u32;
    match code {
        // Greek with iota subscript: the simple mapping is the titlecase form.
        0x1F80..=0x1FAF if code & 0x8 == 0 => char::from_u32(code + 8).unwrap_or(c),
        0x1FB3 => '\u{1FBC}',
        0x1FC3 => '\u{1FCC}',
        0x1FF3 => '\u{1FFC}',
        _ => single(c.to_uppercase()).unwrap_or(c),
    }
}

/// Go's `unicode.ToLower`, the simple mapping (`İ` gives a plain `i`).
fn go_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    single(c.to_lowercase()).unwrap_or(c)
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn string(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(s),
        // As Go's `string(b)`: bytes that are not UTF-8 stay as they are.
        Value::Bytes(b) => Value::String(crate::value::str_from_go_bytes(&b)),
        other => Value::String(other.to_interp_string().into()),
    })
}

fn bytes(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(match v {
        Value::Bytes(b) => Value::Bytes(b),
        Value::String(s) => Value::Bytes(crate::value::go_string_bytes(&s).into_owned()),
        other => Value::Bytes(other.to_interp_string().into_bytes()),
    })
}

fn format(v: Value, args: &[Value]) -> Result<Value, String> {
    let f = text(&v)?;
    sprintf(&f, args).map(Value::from)
}

fn length(v: &Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(match v {
        Value::String(s) => crate::value::go_string_len(s) as i64,
        Value::Bytes(b) => b.len() as i64,
        Value::Array(a) => a.len() as i64,
        Value::Object(o) => o.len() as i64,
        other => return Err(type_err("string, bytes, array or object", other)),
    }))
}

/// Title case as Go's `cases.Title`: the first letter of each word upper,
/// the rest of the word lower; bytes that are no UTF-8 come out as U+FFFD.
fn capitalize(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = match &v {
        Value::Bytes(b) => crate::value::go_lossy(b),
        other => crate::value::go_string_lossy(&text(other)?).into_owned(),
    };
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else if prev_letter {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    Ok(match v {
        Value::Bytes(_) => Value::Bytes(out.into_bytes()),
        _ => Value::String(out.into()),
    })
}

fn trim(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    Ok(Value::String(match &args[0] {
        Value::String(cut) => {
            let set: Vec<char> = cut.chars().collect();
            s.trim_matches(|c| set.contains(&c)).to_owned().into()
        }
        _ => s.trim().to_owned().into(),
    }))
}

fn trim_prefix(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let pre = str_arg(&args[0], "prefix")?;
    Ok(Value::String(
        s.strip_prefix(pre.as_str()).unwrap_or(&s).to_owned().into(),
    ))
}

fn trim_suffix(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let suf = str_arg(&args[0], "suffix")?;
    Ok(Value::String(
        s.strip_suffix(suf.as_str()).unwrap_or(&s).to_owned().into(),
    ))
}

fn has_prefix(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    Ok(Value::Bool(s.starts_with(&str_arg(&args[0], "value")?)))
}

fn has_suffix(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    Ok(Value::Bool(s.ends_with(&str_arg(&args[0], "value")?)))
}

fn contains(v: Value, args: &[Value]) -> Result<Value, String> {
    match &v {
        Value::Array(items) => Ok(Value::Bool(
            items.iter().any(|i| crate::eval::values_equal(i, &args[0])),
        )),
        Value::Object(m) => Ok(Value::Bool(
            m.values().any(|i| crate::eval::values_equal(i, &args[0])),
        )),
        Value::String(_) | Value::Bytes(_) => {
            let s = text(&v)?;
            Ok(Value::Bool(s.contains(&str_arg(&args[0], "value")?)))
        }
        other => Err(type_err("string, array or object", other)),
    }
}

fn replace_all(v: Value, args: &[Value]) -> Result<Value, String> {
    let old = str_arg(&args[0], "old")?;
    let new = str_arg(&args[1], "new")?;
    let (s, as_bytes) = match &v {
        Value::Bytes(b) => (String::from_utf8_lossy(b).into_owned(), true),
        other => (text(other)?, false),
    };
    if new.len() > old.len() {
        // An empty `old` matches before every character and at the end.
        let matches = if old.is_empty() {
            s.chars().count() + 1
        } else {
            s.matches(old.as_str()).count()
        };
        let growth = matches.saturating_mul(new.len() - old.len());
        crate::budget::check_bytes(s.len().saturating_add(growth), "replace_all")?;
    }
    let replaced = s.replace(&old, &new);
    Ok(if as_bytes {
        Value::Bytes(replaced.into_bytes())
    } else {
        Value::String(replaced.into())
    })
}

fn replace_all_many(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let Value::Array(pairs) = &args[0] else {
        return Err(type_err("array", &args[0]));
    };
    if pairs.len() % 2 != 0 {
        return Err(format!(
            "invalid arg, replacements should be in pairs and must therefore be even: {}",
            pairs.len()
        ));
    }
    let pairs: Vec<(String, String)> = pairs
        .chunks(2)
        .map(|c| Ok((text(&c[0])?, text(&c[1])?)))
        .collect::<Result<_, String>>()?;
    // Go's strings.Replacer: at each position the first matching old string wins.
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < s.len() {
        for (old, new) in &pairs {
            if !old.is_empty() && s[i..].starts_with(old.as_str()) {
                if new.len() > old.len() {
                    // Long replacements grow the result past its input: fail once it passes
                    // the limit, not when the allocator gives out.
                    let grown = out.len().saturating_add(new.len());
                    crate::budget::check_bytes(grown, "replace_all_many")?;
                }
                out.push_str(new);
                i += old.len();
                continue 'outer;
            }
        }
        let c = s[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    Ok(Value::String(out.into()))
}

fn split(v: Value, args: &[Value]) -> Result<Value, String> {
    let delim = str_arg(&args[0], "delimiter")?;
    let empty_as_null = matches!(args.get(1), Some(Value::Bool(true)));
    let part = |p: &str, as_bytes: bool| match p {
        "" if empty_as_null => Value::Null,
        p if as_bytes => Value::Bytes(p.as_bytes().to_vec()),
        p => Value::from(p),
    };
    let (s, as_bytes) = match &v {
        Value::Bytes(b) => (String::from_utf8_lossy(b).into_owned(), true),
        _ => (text(&v)?, false),
    };
    // Go splits by an empty delimiter into characters.
    let count = if delim.is_empty() {
        s.chars().count()
    } else {
        s.matches(delim.as_str()).count() + 1
    };
    check_parts(count, s.len(), "split")?;
    let mut parts = Vec::with_capacity(count);
    if delim.is_empty() {
        parts.extend(s.split_inclusive(|_| true).map(|c| part(c, as_bytes)));
    } else {
        parts.extend(s.split(delim.as_str()).map(|p| part(p, as_bytes)));
    }
    Ok(Value::Array(parts))
}

/// Fails when splitting `text_len` bytes into `count` values would pass the value limit:
/// each part costs a value's slot besides its text, so a text of separators multiplies.
fn check_parts(count: usize, text_len: usize, what: &str) -> Result<(), String> {
    let slots = count.saturating_mul(std::mem::size_of::<Value>());
    crate::budget::check_bytes(slots.saturating_add(text_len), what)
}

fn join(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = &v else {
        return Err(type_err("array", &v));
    };
    let delim = match &args[0] {
        Value::Null => String::new(),
        other => str_arg(other, "delimiter")?,
    };
    let parts: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(_) | Value::Bytes(_) => text(item),
            other => Err(format!(
                "failed to join element {i}: {}",
                type_err("string", other)
            )),
        })
        .collect::<Result<_, _>>()?;
    let size = parts.iter().map(String::len).sum::<usize>()
        + delim.len().saturating_mul(parts.len().saturating_sub(1));
    crate::budget::check_bytes(size, "join")?;
    Ok(Value::String(parts.join(&delim).into()))
}

fn repeat(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let n = int_arg(&args[0], "count")?;
    if n < 0 {
        return Err("invalid count, must be greater than or equal to zero".to_owned());
    }
    crate::budget::check_bytes(s.len().saturating_mul(n as usize), "repeat")?;
    Ok(Value::String(s.repeat(n as usize).into()))
}

fn index_of(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let needle = str_arg(&args[0], "value")?;
    Ok(Value::Int(s.find(&needle).map_or(-1, |i| i as i64)))
}

fn quote(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::String(go_quote(&text(&v)?).into()))
}

fn unquote(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(Value::String(s[1..s.len() - 1].to_owned().into()));
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return Err("invalid syntax".to_owned());
    }
    crate::syntax::parser::unquote(&s[1..s.len() - 1]).map(Value::from)
}

fn escape_html(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    Ok(Value::String(out.into()))
}

fn unescape_html(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // Only entities of up to ten characters are known: looking further for their `;`
        // would scan the rest of a text of `&`s again at every one.
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(Value::String(out.into()))
}

/// Go's `url.QueryUnescape`, as text (invalid UTF-8 replaced).
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    go_url::unescape(s, go_url::Mode::QueryComponent)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| e.to_string())
}

fn escape_url_query(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    Ok(Value::String(
        go_url::escape(s.as_bytes(), go_url::Mode::QueryComponent).into(),
    ))
}

fn unescape_url_query(v: Value, _: &[Value]) -> Result<Value, String> {
    query_unescape(&text(&v)?).map(Value::from)
}

fn escape_url_path(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    Ok(Value::String(
        go_url::escape(s.as_bytes(), go_url::Mode::PathSegment).into(),
    ))
}

fn unescape_url_path(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    go_url::unescape(&s, go_url::Mode::PathSegment)
        .map(|b| Value::String(String::from_utf8_lossy(&b).into_owned().into()))
        .map_err(|e| e.to_string())
}

// ------------------------------------------------------------------ regular expressions

fn regex_method(
    cx: &mut Cx<'_>,
    this: This<'_>,
    call: &Call,
    f: fn(&regex::Regex, &str, &[Value]) -> Result<Value, String>,
) -> R<Value> {
    let target = call.target(cx, this)?;
    let pattern = match call.arg(0, cx, this)? {
        Value::String(s) => s,
        other => return err(type_err("string", &other)),
    };
    let literal = call.args[0].is_lit();
    let re = call.regex(&pattern, literal)?;
    let mut rest = Vec::new();
    for i in 1..call.args.len() {
        rest.push(call.arg(i, cx, this)?);
    }
    let s = text(&target)?;
    Ok(f(&re, &s, &rest)?)
}

fn re_match(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, _| Ok(Value::Bool(re.is_match(s))))
}

fn re_find_all(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, _| {
        Ok(Value::Array(
            re.find_iter(s)
                .map(|m| Value::String(m.as_str().to_owned().into()))
                .collect(),
        ))
    })
}

fn re_find_all_submatch(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, _| {
        Ok(Value::Array(
            re.captures_iter(s)
                .map(|c| {
                    Value::Array(
                        c.iter()
                            .map(|m| Value::String(m.map_or("", |m| m.as_str()).to_owned().into()))
                            .collect(),
                    )
                })
                .collect(),
        ))
    })
}

fn captures_object(re: &regex::Regex, c: &regex::Captures<'_>) -> Value {
    let mut obj = Map::new();
    for (i, name) in re.capture_names().enumerate() {
        let key = name.map_or_else(|| i.to_string(), str::to_owned);
        obj.insert(
            key,
            Value::String(c.get(i).map_or("", |m| m.as_str()).to_owned().into()),
        );
    }
    Value::Object(obj)
}

fn re_find_object(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, _| {
        Ok(match re.captures(s) {
            Some(c) => captures_object(re, &c),
            None => Value::Object(Map::new()),
        })
    })
}

fn re_find_all_object(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, _| {
        Ok(Value::Array(
            re.captures_iter(s)
                .map(|c| captures_object(re, &c))
                .collect(),
        ))
    })
}

/// Go's regexp template expansion: `$1`, `${1}`, `$name`, `${name}`, `$$`.
fn go_expand(template: &str, caps: &regex::Captures<'_>, out: &mut String) {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let c = template[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        if b.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (name, next) = if b.get(i + 1) == Some(&b'{') {
            match template[i + 2..].find('}') {
                Some(e) => (&template[i + 2..i + 2 + e], i + 3 + e),
                None => {
                    out.push('$');
                    i += 1;
                    continue;
                }
            }
        } else {
            let n = template[i + 1..]
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            (&template[i + 1..i + 1 + n], i + 1 + n)
        };
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        let m = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(name),
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
        i = next;
    }
}

fn re_replace_all(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    regex_method(cx, this, call, |re, s, rest| {
        let with = str_arg(&rest[0], "value")?;
        let mut out = String::new();
        let mut last = 0;
        for caps in re.captures_iter(s) {
            let m = caps.get(0).expect("group 0");
            out.push_str(&s[last..m.start()]);
            go_expand(&with, &caps, &mut out);
            last = m.end();
        }
        out.push_str(&s[last..]);
        Ok(Value::String(out.into()))
    })
}

fn re_replace(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    re_replace_all(cx, this, call)
}

/// Elements whose content is dropped along with the tags when they are not preserved.
const SKIP_CONTENT: &[&str] = &[
    "frameset", "iframe", "noembed", "noframes", "noscript", "nostyle", "object", "script",
    "style", "title",
];

fn strip_html(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let keep: Vec<String> = match args.first() {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| text(x).ok())
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        _ => Vec::new(),
    };
    let mut out = String::new();
    let mut rest = s.as_str();
    // The element whose content is being skipped, if any.
    let mut skipping: Option<String> = None;
    while let Some(i) = rest.find('<') {
        if skipping.is_none() {
            out.push_str(&rest[..i]);
        }
        let Some(e) = rest[i..].find('>') else {
            if skipping.is_none() {
                out.push_str(&rest[i..]);
            }
            rest = "";
            break;
        };
        let tag = &rest[i..i + e + 1];
        let closing = tag.starts_with("</");
        let name: String = tag
            .trim_start_matches('<')
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &rest[i + e + 1..];
        if let Some(skipped) = &skipping {
            if closing && *skipped == name {
                skipping = None;
            }
            continue;
        }
        if keep.contains(&name) {
            out.push_str(tag);
        } else if !closing && !tag.ends_with("/>") && SKIP_CONTENT.contains(&name.as_str()) {
            skipping = Some(name);
        }
    }
    if skipping.is_none() {
        out.push_str(rest);
    }
    Ok(Value::String(out.into()))
}

fn unicode_segments(v: Value, args: &[Value]) -> Result<Value, String> {
    use unicode_segmentation::UnicodeSegmentation as _;
    let s = text(&v)?;
    let kind = text(&args[0])?;
    let segments = || -> Result<Box<dyn Iterator<Item = &str> + '_>, String> {
        Ok(match kind.as_str() {
            "grapheme" => Box::new(s.graphemes(true)),
            "word" => Box::new(s.split_word_bounds()),
            "sentence" => Box::new(s.split_sentence_bounds()),
            other => return Err(format!("unknown segmentation type: {other}")),
        })
    };
    // Counted first: segmenting again costs less than building an array past the limit.
    check_parts(segments()?.count(), s.len(), "unicode_segments")?;
    Ok(Value::Array(segments()?.map(Value::from).collect()))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "String Manipulation";
    env.method(
        "unicode_segments",
        cat,
        "Splits text into graphemes, words (with punctuation and spaces) or sentences by the Unicode rules.",
        vec![p("segmentation_type", Kind::Str)],
        vec![
            ex(
                r#"root.sentences = this.text.unicode_segments("sentence")"#,
                &[(
                    r#"{"text":"Hello world. How are you?"}"#,
                    r#"{"sentences":["Hello world. ","How are you?"]}"#,
                )],
            ),
            ex(
                r#"root.graphemes = this.emoji.unicode_segments("grapheme")"#,
                &[(
                    "{\"emoji\":\"\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}\u{2764}\u{FE0F}\"}",
                    "{\"graphemes\":[\"\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}\",\"\u{2764}\u{FE0F}\"]}",
                )],
            ),
        ],
        MethodImpl::Simple(unicode_segments),
    );
    env.method(
        "strip_html",
        cat,
        "Removes HTML tags, keeping the listed elements.",
        vec![opt("preserve", Kind::Any, Value::Null)],
        vec![ex(
            "root.plain_text = this.html_content.strip_html()",
            &[(
                r#"{"html_content":"<p>Welcome to <strong>Redpanda Connect</strong>!</p>"}"#,
                r#"{"plain_text":"Welcome to Redpanda Connect!"}"#,
            )],
        ), ex(
            r#"root.sanitized = this.html.strip_html(["strong", "em"])"#,
            &[(
                r#"{"html":"<div><p>Some <strong>bold</strong> and <em>italic</em> text with a <script>alert('xss')</script></p></div>"}"#,
                r#"{"sanitized":"Some <strong>bold</strong> and <em>italic</em> text with a "}"#,
            )],
        )],
        MethodImpl::Simple(strip_html),
    );
    env.method(
        "uppercase",
        cat,
        "Converts all letters to upper case.",
        vec![],
        vec![ex(
            "root.foo = this.foo.uppercase()",
            &[(r#"{"foo":"hello world"}"#, r#"{"foo":"HELLO WORLD"}"#)],
        )],
        MethodImpl::Simple(uppercase),
    );
    env.method(
        "lowercase",
        cat,
        "Converts all letters to lower case.",
        vec![],
        vec![ex(
            "root.foo = this.foo.lowercase()",
            &[(r#"{"foo":"HELLO WORLD"}"#, r#"{"foo":"hello world"}"#)],
        )],
        MethodImpl::Simple(lowercase),
    );
    env.method(
        "string",
        "Type Coercion",
        "Marshals a value into a string; strings stay as they are.",
        vec![],
        vec![ex(
            "root.nested_json = this.string()",
            &[(r#"{"foo":"bar"}"#, r#"{"nested_json":"{\"foo\":\"bar\"}"}"#)],
        )],
        MethodImpl::Simple(string),
    );
    env.method(
        "bytes",
        "Type Coercion",
        "Marshals a value into bytes.",
        vec![],
        vec![ex(
            "root.first_byte = this.name.bytes().index(0)",
            &[(r#"{"name":"foobar bazson"}"#, r#"{"first_byte":102}"#)],
        )],
        MethodImpl::Simple(bytes),
    );
    env.method(
        "format",
        cat,
        "Formats arguments with the target as a Go printf template.",
        vec![crate::env::p("...", Kind::Any)],
        vec![ex(
            r#"root.foo = "%s(%v): %v".format(this.name, this.age, this.fingers)"#,
            &[(
                r#"{"name":"lance","age":37,"fingers":13}"#,
                r#"{"foo":"lance(37): 13"}"#,
            )],
        )],
        MethodImpl::Simple(format),
    );
    env.method(
        "length",
        cat,
        "The length of a string, bytes, array or object.",
        vec![],
        vec![ex(
            "root.foo_len = this.foo.length()",
            &[(r#"{"foo":"hello world"}"#, r#"{"foo_len":11}"#)],
        )],
        MethodImpl::Ref(length),
    );
    env.method(
        "capitalize",
        cat,
        "Upper-cases the first letter of each word.",
        vec![],
        vec![ex(
            "root.title = this.title.capitalize()",
            &[(r#"{"title":"the foo bar"}"#, r#"{"title":"The Foo Bar"}"#)],
        )],
        MethodImpl::Simple(capitalize),
    );
    env.method("trim", cat, "Removes leading and trailing whitespace, or the given cutset.", vec![opt("cutset", Kind::Str, Value::Null)], vec![ex("root.title = this.title.trim(\"!?\")\nroot.description = this.description.trim()", &[(r#"{"description":"  something happened and its amazing! ","title":"!!!watch out!?"}"#, r#"{"description":"something happened and its amazing!","title":"watch out"}"#)])], MethodImpl::Simple(trim));
    env.method(
        "trim_prefix",
        cat,
        "Removes a prefix.",
        vec![p("prefix", Kind::Str)],
        vec![ex(
            r#"root.name = this.name.trim_prefix("foobar_")"#,
            &[(r#"{"name":"foobar_blobton"}"#, r#"{"name":"blobton"}"#)],
        )],
        MethodImpl::Simple(trim_prefix),
    );
    env.method(
        "trim_suffix",
        cat,
        "Removes a suffix.",
        vec![p("suffix", Kind::Str)],
        vec![ex(
            r#"root.name = this.name.trim_suffix("_foobar")"#,
            &[(r#"{"name":"blobton_foobar"}"#, r#"{"name":"blobton"}"#)],
        )],
        MethodImpl::Simple(trim_suffix),
    );
    env.method(
        "has_prefix",
        cat,
        "Whether the string starts with a value.",
        vec![p("value", Kind::Str)],
        vec![ex(
            r#"root.t1 = this.v1.has_prefix("foo")"#,
            &[(r#"{"v1":"foobar"}"#, r#"{"t1":true}"#)],
        )],
        MethodImpl::Simple(has_prefix),
    );
    env.method(
        "has_suffix",
        cat,
        "Whether the string ends with a value.",
        vec![p("value", Kind::Str)],
        vec![ex(
            r#"root.t1 = this.v1.has_suffix("bar")"#,
            &[(r#"{"v1":"foobar"}"#, r#"{"t1":true}"#)],
        )],
        MethodImpl::Simple(has_suffix),
    );
    env.method(
        "contains",
        cat,
        "Whether a string contains a substring, or an array or object a value.",
        vec![p("value", Kind::Any)],
        vec![ex(
            r#"root.has_foo = this.thing.contains("foo")"#,
            &[
                (r#"{"thing":["this","foo","that"]}"#, r#"{"has_foo":true}"#),
                (r#"{"thing":"this foo that"}"#, r#"{"has_foo":true}"#),
            ],
        )],
        MethodImpl::Simple(contains),
    );
    env.method(
        "replace_all",
        cat,
        "Replaces all occurrences of a string.",
        vec![p("old", Kind::Str), p("new", Kind::Str)],
        vec![ex(
            r#"root.new_value = this.value.replace_all("foo","dog")"#,
            &[(
                r#"{"value":"The foo ate my homework"}"#,
                r#"{"new_value":"The dog ate my homework"}"#,
            )],
        )],
        MethodImpl::Simple(replace_all),
    );
    env.method(
        "replace",
        cat,
        "Replaces all occurrences of a string.",
        vec![p("old", Kind::Str), p("new", Kind::Str)],
        vec![],
        MethodImpl::Simple(replace_all),
    );
    env.method("replace_all_many", cat, "Replaces pairs of strings.", vec![p("values", Kind::Any)], vec![ex(r#"root.new_value = this.value.replace_all_many(["<b>", "&lt;b&gt;", "</b>", "&lt;/b&gt;"])"#, &[(r#"{"value":"<b>hi</b>"}"#, r#"{"new_value":"&lt;b&gt;hi&lt;/b&gt;"}"#)])], MethodImpl::Simple(replace_all_many));
    env.method(
        "replace_many",
        cat,
        "Replaces pairs of strings.",
        vec![p("values", Kind::Any)],
        vec![],
        MethodImpl::Simple(replace_all_many),
    );
    env.method(
        "split",
        cat,
        "Splits a string into an array by a delimiter.",
        vec![
            p("delimiter", Kind::Str),
            opt("empty_as_null", Kind::Bool, Value::Bool(false)),
        ],
        vec![
            ex(
                r#"root.new_value = this.value.split(",")"#,
                &[(
                    r#"{"value":"foo,bar,baz"}"#,
                    r#"{"new_value":["foo","bar","baz"]}"#,
                )],
            ),
            ex(
                r#"root.new_value = this.value.split(",", true)"#,
                &[(r#"{"value":"foo,,qux"}"#, r#"{"new_value":["foo",null,"qux"]}"#)],
            ),
            ex(
                r#"root.new_value = this.value.bytes().split(delimiter: ",", empty_as_null: true).map_each(p -> p.or("none").string())"#,
                &[(r#"{"value":",a,"}"#, r#"{"new_value":["none","a","none"]}"#)],
            ),
        ],
        MethodImpl::Simple(split),
    );
    env.method(
        "join",
        cat,
        "Joins an array of strings with a delimiter.",
        vec![opt("delimiter", Kind::Str, Value::Null)],
        vec![ex(
            r#"root.joined_words = this.words.join()
root.joined_numbers = this.numbers.map_each(this.string()).join(",")"#,
            &[(
                r#"{"words":["hello","world"],"numbers":[3,8,11]}"#,
                r#"{"joined_numbers":"3,8,11","joined_words":"helloworld"}"#,
            )],
        )],
        MethodImpl::Simple(join),
    );
    env.method(
        "repeat",
        cat,
        "Repeats a string.",
        vec![p("count", Kind::Int)],
        vec![ex(
            "root.repeated = this.name.repeat(3)",
            &[(r#"{"name":"bob"}"#, r#"{"repeated":"bobbobbob"}"#)],
        )],
        MethodImpl::Simple(repeat),
    );
    env.method(
        "index_of",
        cat,
        "The byte index of a substring, or -1.",
        vec![p("value", Kind::Str)],
        vec![ex(
            r#"root.index = this.thing.index_of("bar")"#,
            &[(r#"{"thing":"foobar"}"#, r#"{"index":3}"#)],
        )],
        MethodImpl::Simple(index_of),
    );
    env.method(
        "quote",
        cat,
        "Quotes a string with Go escapes.",
        vec![],
        vec![ex(
            "root.quoted = this.thing.quote()",
            &[(r#"{"thing":"foo\nbar"}"#, r#"{"quoted":"\"foo\\nbar\""}"#)],
        )],
        MethodImpl::Simple(quote),
    );
    env.method(
        "unquote",
        cat,
        "Unquotes a Go quoted string.",
        vec![],
        vec![ex(
            "root.unquoted = this.thing.unquote()",
            &[(r#"{"thing":"\"foo\\nbar\""}"#, r#"{"unquoted":"foo\nbar"}"#)],
        )],
        MethodImpl::Simple(unquote),
    );
    env.method(
        "escape_html",
        cat,
        "Escapes HTML special characters.",
        vec![],
        vec![ex(
            "root.escaped = this.value.escape_html()",
            &[(r#"{"value":"foo & bar"}"#, r#"{"escaped":"foo &amp; bar"}"#)],
        )],
        MethodImpl::Simple(escape_html),
    );
    env.method(
        "unescape_html",
        cat,
        "Unescapes HTML entities.",
        vec![],
        vec![ex(
            "root.unescaped = this.value.unescape_html()",
            &[(
                r#"{"value":"foo &amp; bar"}"#,
                r#"{"unescaped":"foo & bar"}"#,
            )],
        )],
        MethodImpl::Simple(unescape_html),
    );
    env.method(
        "escape_url_query",
        cat,
        "Escapes a string for a URL query.",
        vec![],
        vec![ex(
            "root.escaped = this.value.escape_url_query()",
            &[(r#"{"value":"foo & bar"}"#, r#"{"escaped":"foo+%26+bar"}"#)],
        )],
        MethodImpl::Simple(escape_url_query),
    );
    env.method(
        "unescape_url_query",
        cat,
        "Unescapes a URL query string.",
        vec![],
        vec![ex(
            "root.unescaped = this.value.unescape_url_query()",
            &[(r#"{"value":"foo+%26+bar"}"#, r#"{"unescaped":"foo & bar"}"#)],
        )],
        MethodImpl::Simple(unescape_url_query),
    );
    env.method(
        "escape_url_path",
        cat,
        "Escapes a string for a URL path segment.",
        vec![],
        vec![ex(
            "root.escaped = this.value.escape_url_path()",
            &[(
                r#"{"value":"foo/bar baz"}"#,
                r#"{"escaped":"foo%2Fbar%20baz"}"#,
            )],
        )],
        MethodImpl::Simple(escape_url_path),
    );
    env.method(
        "unescape_url_path",
        cat,
        "Unescapes a URL path segment.",
        vec![],
        vec![ex(
            "root.unescaped = this.value.unescape_url_path()",
            &[(
                r#"{"value":"foo%2Fbar%20baz"}"#,
                r#"{"unescaped":"foo/bar baz"}"#,
            )],
        )],
        MethodImpl::Simple(unescape_url_path),
    );
    let cat = "Regular Expressions";
    env.method(
        "re_match",
        cat,
        "Whether the regular expression matches.",
        vec![p("pattern", Kind::Str)],
        vec![ex(
            r#"root.matches = this.value.re_match("[0-9]")"#,
            &[
                (r#"{"value":"there are 10 puppies"}"#, r#"{"matches":true}"#),
                (
                    r#"{"value":"there are ten puppies"}"#,
                    r#"{"matches":false}"#,
                ),
            ],
        )],
        MethodImpl::Ctx(re_match),
    );
    env.method(
        "re_find_all",
        cat,
        "All matches of the regular expression.",
        vec![p("pattern", Kind::Str)],
        vec![ex(
            r#"root.matches = this.value.re_find_all("a.")"#,
            &[(
                r#"{"value":"paranormal"}"#,
                r#"{"matches":["ar","an","al"]}"#,
            )],
        )],
        MethodImpl::Ctx(re_find_all),
    );
    env.method(
        "re_find_all_submatch",
        cat,
        "All matches with their capture groups.",
        vec![p("pattern", Kind::Str)],
        vec![ex(
            r#"root.matches = this.value.re_find_all_submatch("a(x*)b")"#,
            &[(
                r#"{"value":"-axxb-ab-"}"#,
                r#"{"matches":[["axxb","xx"],["ab",""]]}"#,
            )],
        )],
        MethodImpl::Ctx(re_find_all_submatch),
    );
    env.method(
        "re_find_object",
        cat,
        "The first match as an object of capture groups.",
        vec![p("pattern", Kind::Str)],
        vec![ex(
            r#"root.matches = this.value.re_find_object("a(?P<foo>x*)b")"#,
            &[(
                r#"{"value":"-axxb-ab-"}"#,
                r#"{"matches":{"0":"axxb","foo":"xx"}}"#,
            )],
        )],
        MethodImpl::Ctx(re_find_object),
    );
    env.method(
        "re_find_all_object",
        cat,
        "All matches as objects of capture groups.",
        vec![p("pattern", Kind::Str)],
        vec![ex(
            r#"root.matches = this.value.re_find_all_object("a(?P<foo>x*)b")"#,
            &[(
                r#"{"value":"-axxb-ab-"}"#,
                r#"{"matches":[{"0":"axxb","foo":"xx"},{"0":"ab","foo":""}]}"#,
            )],
        )],
        MethodImpl::Ctx(re_find_all_object),
    );
    env.method(
        "re_replace_all",
        cat,
        "Replaces all matches, expanding `$1` references.",
        vec![p("pattern", Kind::Str), p("value", Kind::Str)],
        vec![ex(
            r#"root.new_value = this.value.re_replace_all("ADD ([0-9]+)","+($1)")"#,
            &[(r#"{"value":"foo ADD 70"}"#, r#"{"new_value":"foo +(70)"}"#)],
        )],
        MethodImpl::Ctx(re_replace_all),
    );
    env.method(
        "re_replace",
        cat,
        "Replaces all matches, expanding `$1` references.",
        vec![p("pattern", Kind::Str), p("value", Kind::Str)],
        vec![],
        MethodImpl::Ctx(re_replace),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message written by `mapping` over one message of `input`.
    fn written(mapping: &str, input: &[u8]) -> Vec<u8> {
        let mapping = crate::mapping::Mapping::parse(mapping).expect("mapping parses");
        let batch = [crate::target::SimpleMessage::new(input.to_vec())];
        match mapping.exec(&batch[..], 0).expect("mapping runs").root {
            crate::Root::Value(v) => v.to_message_bytes(),
            other => panic!("unexpected root {other:?}"),
        }
    }

    #[test]
    fn strings_of_bytes_that_are_not_utf8_keep_them_as_go_does() {
        let input = b"ab\xff\xe2\x82c";
        assert_eq!(written("root = content().string()", input), input);
        assert_eq!(
            written(r#"root = "<" + content().string() + ">""#, input),
            b"<ab\xff\xe2\x82c>"
        );
        assert_eq!(written("root = content().string().bytes()", input), input);
        assert_eq!(
            written(r#"root = content().string().encode("hex")"#, input),
            b"6162ffe28263"
        );
        assert_eq!(written("root = content().string().length()", input), b"6");
        assert_eq!(
            written("root = content().string().type()", input),
            b"string"
        );
        // Go's JSON encoder writes one replacement for each byte that is no part of UTF-8.
        assert_eq!(
            written("root.s = content().string()", input),
            br#"{"s":"ab\ufffd\ufffd\ufffdc"}"#
        );
        // Text that holds the characters used to keep such bytes is left alone.
        let odd = "{\"s\":\"x\u{10FFFF}y\u{10FE80}\"}";
        assert_eq!(
            written("root = this.s", odd.as_bytes()),
            "x\u{10FFFF}y\u{10FE80}".as_bytes()
        );
        let odd = "x\u{10FFFF}\u{10FE80}y";
        assert_eq!(
            written("root = content().string()", odd.as_bytes()),
            odd.as_bytes()
        );
        assert_eq!(
            written("root = content().string().length()", odd.as_bytes()),
            b"10"
        );
        assert_eq!(
            written(
                r#"root = [content().string(), "\xff".bytes().string()]"#,
                odd.as_bytes()
            ),
            "[\"x\u{10FFFF}\u{10FE80}y\",\"\\ufffd\"]".as_bytes()
        );
        // `\x` and octal escapes of a literal are bytes, as in Go.
        assert_eq!(
            written(r#"root = "\xff\101\u00ff""#, b"{}"),
            b"\xffA\xc3\xbf"
        );
        assert_eq!(
            written(r#"root = "\"\\xe2\\x82\"".unquote().bytes()"#, b"{}"),
            b"\xe2\x82"
        );
        assert!(crate::mapping::Mapping::parse(r#"root = "\400""#).is_err());
        let mut bad_then_odd = b"\xe2\x82".to_vec();
        bad_then_odd.extend_from_slice(odd.as_bytes());
        assert_eq!(
            written("root = [content().string()]", &bad_then_odd),
            "[\"\\ufffd\\ufffdx\u{10FFFF}\u{10FE80}y\"]".as_bytes()
        );
    }

    #[test]
    fn case_methods_map_as_go_does() {
        let input = b"ab\xff\xe2\x82c";
        // Every byte that is no part of UTF-8 becomes U+FFFD, as with Go's strings.Map.
        for (mapping, want) in [
            (
                "root = content().string().uppercase()",
                "AB\u{FFFD}\u{FFFD}\u{FFFD}C",
            ),
            (
                "root = content().string().lowercase()",
                "ab\u{FFFD}\u{FFFD}\u{FFFD}c",
            ),
            (
                "root = content().uppercase()",
                "AB\u{FFFD}\u{FFFD}\u{FFFD}C",
            ),
            (
                "root = content().string().capitalize()",
                "Ab\u{FFFD}\u{FFFD}\u{FFFD}C",
            ),
        ] {
            assert_eq!(written(mapping, input), want.as_bytes(), "{mapping}");
        }
        // One character for one: the simple case mappings of Go's unicode package.
        for (mapping, want) in [
            (r#"root = "straße ǆ ᾳ".uppercase()"#, "STRAßE Ǆ ᾼ"),
            (r#"root = "İSTANBUL ΣΑΣ".lowercase()"#, "istanbul σασ"),
            (r#"root = "ÉTÉ".bytes().lowercase().string()"#, "été"),
        ] {
            assert_eq!(
                String::from_utf8(written(mapping, b"{}")).unwrap(),
                want,
                "{mapping}"
            );
        }
        // As Go's cases.Title: the rest of each word is lowered.
        assert_eq!(
            written(
                r#"root = "hELLO wORLD, here comes O'Brian".capitalize()"#,
                b"{}"
            ),
            b"Hello World, Here Comes O'brian"
        );
    }

    #[test]
    fn huge_widths_and_precisions_are_refused_as_go_does() {
        let args = [Value::Float(1.5)];
        assert_eq!(
            sprintf("%999999999999999999999999d", &args).unwrap(),
            "%!(NOVERB)%!(EXTRA float64=1.5)"
        );
        assert_eq!(
            sprintf("%.99999999999f", &args).unwrap(),
            "%!(NOVERB)%!(EXTRA float64=1.5)"
        );
        // Within Go's limit, a wide field is what was asked for.
        assert_eq!(sprintf("%8d", &[Value::Int(42)]).unwrap().len(), 8);
        let long = sprintf("%.99999f", &args).unwrap();
        assert_eq!(long.len(), 2 + 99_999);
        assert!(long.starts_with("1.5000"));
        let exp = sprintf("%.70000e", &args).unwrap();
        assert!(
            exp.starts_with("1.5000") && exp.ends_with("e+00"),
            "{}",
            &exp[..10]
        );
        assert_eq!(sprintf("%.2f", &args).unwrap(), "1.50");
        assert_eq!(
            sprintf("%5.1f|%-4d|", &[Value::Float(2.25), Value::Int(7)]).unwrap(),
            "  2.2|7   |"
        );
    }

    #[test]
    fn no_format_string_panics() {
        // Every combination of flags, widths, precisions and verbs over a
        // spread of argument types.
        let pieces = [
            "%", "-", "0", "+", "#", " ", "1", "9", "99999999", ".", ".5", "d", "f", "e", "g", "s",
            "v", "q", "x", "X", "t", "T", "%", "z", "[", "*", "é",
        ];
        let args = [
            Value::Int(i64::MIN),
            Value::Float(f64::NAN),
            Value::Float(-1e300),
            Value::String("ü".to_owned().into()),
            Value::Bytes(vec![0xff]),
            Value::Null,
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut format = String::new();
            for _ in 0..(state % 7 + 1) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                format.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let n = (state % 4) as usize;
            let out = sprintf(&format, &args[..n.min(args.len())]).unwrap();
            assert!(out.len() < 20_000_000, "{format}");
        }
    }

    #[test]
    fn many_wide_verbs_are_refused_past_the_value_limit() {
        let args: Vec<Value> = (0..100).map(Value::Int).collect();
        let err = sprintf(&"%999999d".repeat(100), &args).unwrap_err();
        assert!(
            err.starts_with("format would produce") && err.contains("more than the limit"),
            "{err}"
        );
        assert_eq!(
            sprintf(&"%999999d".repeat(10), &args[..10]).unwrap().len(),
            9_999_990
        );
    }

    /// The end of the error an array of `parts` values over `text_len` bytes is refused with.
    fn too_many_parts(what: &str, parts: usize, text_len: usize) -> String {
        let bytes = parts * std::mem::size_of::<Value>() + text_len;
        format!(
            "{what} would produce {bytes} bytes, more than the limit of 67108864 bytes for one value"
        )
    }

    #[test]
    fn split_refuses_more_parts_than_the_value_limit_holds() {
        let commas = ",".repeat(2_100_000);
        let got = crate::testing::map_one(r#"root = content().string().split(",")"#, &commas);
        let want = too_many_parts("split", 2_100_001, commas.len());
        assert!(got.as_ref().is_err_and(|e| e.ends_with(&want)), "{got:?}");
        assert_eq!(
            crate::testing::map_one(r#"root = content().string().split(",", true)"#, "a,,b")
                .as_deref(),
            Ok(r#"["a",null,"b"]"#)
        );
        assert_eq!(
            crate::testing::map_one(r#"root = content().string().split("")"#, "aé").as_deref(),
            Ok(r#"["a","é"]"#)
        );
        assert_eq!(
            written(r#"root = content().split("-").index(1)"#, b"x-y-z"),
            b"y"
        );
    }

    #[test]
    fn unicode_segments_refuses_more_parts_than_the_value_limit_holds() {
        let letters = "a".repeat(2_100_000);
        let got = crate::testing::map_one(
            r#"root = content().string().unicode_segments("grapheme")"#,
            &letters,
        );
        let want = too_many_parts("unicode_segments", letters.len(), letters.len());
        assert!(got.as_ref().is_err_and(|e| e.ends_with(&want)), "{got:?}");
        assert_eq!(
            crate::testing::map_one(
                r#"root = content().string().unicode_segments("word")"#,
                "Hi, you."
            )
            .as_deref(),
            Ok(r#"["Hi",","," ","you","."]"#)
        );
    }

    #[test]
    fn replacements_past_the_value_limit_fail() {
        let map = |mapping: &str, input: &str| crate::testing::map_one(mapping, input);
        let long = "x".repeat(70_000);
        let mapping = format!(r#"root = content().string().replace_all("a", "{long}")"#);
        let got = map(&mapping, &"a".repeat(1000));
        assert!(
            got.as_ref().is_err_and(|e| e.ends_with(
                "replace_all would produce 70000000 bytes, more than the limit of 67108864 bytes for one value"
            )),
            "{got:?}"
        );
        let mapping = format!(r#"root = content().string().replace_all_many(["a", "{long}"])"#);
        let got = map(&mapping, &"a".repeat(1000));
        assert!(
            got.as_ref()
                .is_err_and(|e| e.contains("replace_all_many would produce")),
            "{got:?}"
        );
        assert_eq!(
            map(r#"root = content().string().replace_all("", "-")"#, "ab").as_deref(),
            Ok("-a-b-")
        );
        assert_eq!(
            map(
                r#"root = content().replace_all_many(["a", "xy", "b", ""])"#,
                "abc"
            )
            .as_deref(),
            Ok("xyc")
        );
    }

    #[test]
    fn unescape_html_decodes_known_entities_only() {
        let map = |input: &str| {
            crate::testing::map_one("root = content().string().unescape_html()", input)
        };
        assert_eq!(
            map("&lt;b&gt; &amp;amp; &#x41;&#66; &nbsp;; &unknown; &&;").as_deref(),
            Ok("<b> &amp; AB \u{a0}; &unknown; &&;")
        );
        // A text of `&`s with no entity in it stays as it is.
        let ampersands = "&".repeat(100_000);
        assert_eq!(map(&ampersands).as_deref(), Ok(ampersands.as_str()));
    }
}
