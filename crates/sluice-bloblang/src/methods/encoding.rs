//! Encoding, parsing and hashing methods.

use crate::value::Map;

use base64::Engine as _;
use sha1::Digest as _;

use crate::budget::{check_bytes, check_elements};
use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::type_err;
use crate::methods::{str_arg, text};
use crate::value::{Key, Value};

/// The longest key stored inline, without an allocation of its own.
const INLINE_KEY_BYTES: usize = std::mem::size_of::<Key>();

pub(crate) fn raw_bytes(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(crate::value::go_string_bytes(s).into_owned()),
        Value::Bytes(b) => Ok(b.clone()),
        other => Err(type_err("string", other)),
    }
}

fn encode(v: Value, args: &[Value]) -> Result<Value, String> {
    let b = raw_bytes(&v)?;
    let scheme = str_arg(&args[0], "scheme")?;
    let out = match scheme.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD.encode(&b),
        "base64url" => base64::engine::general_purpose::URL_SAFE.encode(&b),
        "base64rawurl" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b),
        "hex" => hex::encode(&b),
        "ascii85" => ascii85_encode(&b),
        "z85" => z85_encode(&b)?,
        other => return Err(format!("unrecognized encoding type: {other}")),
    };
    Ok(Value::String(out.into()))
}

/// A literal scheme of `encode` or `decode` must be known when the mapping is parsed, as
/// Benthos picks the codec then.
fn prepare_scheme(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    const SCHEMES: [&str; 6] = [
        "base64",
        "base64url",
        "base64rawurl",
        "hex",
        "ascii85",
        "z85",
    ];
    match &args[0] {
        crate::eval::Expr::Lit(Value::String(s)) if !SCHEMES.contains(&s.as_str()) => {
            Err(format!("unrecognized encoding type: {s}"))
        }
        _ => Ok(Vec::new()),
    }
}

/// The Z85 alphabet (ZeroMQ RFC 32).
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Z85 as the Go package Benthos uses has it: whole 4-byte groups only.
fn z85_encode(b: &[u8]) -> Result<String, String> {
    if !b.len().is_multiple_of(4) {
        return Err("z85: wrongly aligned input data".to_owned());
    }
    let mut out = String::with_capacity(b.len() / 4 * 5);
    for group in b.chunks_exact(4) {
        let mut v = u32::from_be_bytes([group[0], group[1], group[2], group[3]]);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = Z85[(v % 85) as usize];
            v /= 85;
        }
        out.extend(digits.iter().map(|&d| char::from(d)));
    }
    Ok(out)
}

fn z85_decode(b: &[u8]) -> Result<Vec<u8>, String> {
    if !b.len().is_multiple_of(5) {
        return Err("z85: wrongly aligned input data".to_owned());
    }
    let mut out = Vec::with_capacity(b.len() / 5 * 4);
    for group in b.chunks_exact(5) {
        let mut v = 0u32;
        for &d in group {
            let Some(digit) = Z85.iter().position(|&z| z == d) else {
                // Go's `%#U` of the byte as a rune.
                let c = char::from(d);
                let shown = if c.is_control() {
                    format!("U+{:04X}", u32::from(d))
                } else {
                    format!("U+{:04X} '{c}'", u32::from(d))
                };
                return Err(format!("z85: invalid input byte: {shown}"));
            };
            v = v.wrapping_mul(85).wrapping_add(digit as u32);
        }
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}

fn decode(v: Value, args: &[Value]) -> Result<Value, String> {
    let b = raw_bytes(&v)?;
    let scheme = str_arg(&args[0], "scheme")?;
    let out = match scheme.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(&b)
            .map_err(|e| e.to_string())?,
        "base64url" => base64::engine::general_purpose::URL_SAFE
            .decode(&b)
            .map_err(|e| e.to_string())?,
        "base64rawurl" => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&b)
            .map_err(|e| e.to_string())?,
        "hex" => hex::decode(&b).map_err(|e| e.to_string())?,
        "ascii85" => ascii85_decode(&b)?,
        "z85" => z85_decode(&b)?,
        other => return Err(format!("unrecognized encoding type: {other}")),
    };
    Ok(Value::Bytes(out))
}

fn ascii85_encode(src: &[u8]) -> String {
    let mut out = String::new();
    for chunk in src.chunks(4) {
        let mut buf = [0u8; 4];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = u32::from_be_bytes(buf);
        if v == 0 && chunk.len() == 4 {
            out.push('z');
            continue;
        }
        let mut digits = [0u8; 5];
        let mut x = v;
        for d in digits.iter_mut().rev() {
            *d = (x % 85) as u8 + b'!';
            x /= 85;
        }
        for &d in &digits[..chunk.len() + 1] {
            out.push(d as char);
        }
    }
    out
}

fn ascii85_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut group: Vec<u32> = Vec::with_capacity(5);
    for &c in src {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'z' && group.is_empty() {
            out.extend_from_slice(&[0, 0, 0, 0]);
            continue;
        }
        if !(b'!'..=b'u').contains(&c) {
            return Err(format!("illegal ascii85 data at input byte {}", out.len()));
        }
        group.push(u32::from(c - b'!'));
        if group.len() == 5 {
            let v = group.iter().fold(0u64, |acc, d| acc * 85 + u64::from(*d));
            out.extend_from_slice(&(v as u32).to_be_bytes());
            group.clear();
        }
    }
    if !group.is_empty() {
        let n = group.len();
        while group.len() < 5 {
            group.push(84);
        }
        let v = group.iter().fold(0u64, |acc, d| acc * 85 + u64::from(*d));
        out.extend_from_slice(&(v as u32).to_be_bytes()[..n - 1]);
    }
    Ok(out)
}

/// A hash algorithm of the `hash` method, chosen from its arguments.
enum HashAlgo {
    HmacSha1,
    HmacSha256,
    HmacSha512,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Sha3_256,
    Sha3_512,
    Xxhash64,
    Crc32,
    Fnv32,
}

fn hash_algo(name: &str, key: &[u8]) -> Result<HashAlgo, String> {
    let algo = match name {
        "hmac_sha1" | "hmac-sha1" => HashAlgo::HmacSha1,
        "hmac_sha256" | "hmac-sha256" => HashAlgo::HmacSha256,
        "hmac_sha512" | "hmac-sha512" => HashAlgo::HmacSha512,
        "md5" => HashAlgo::Md5,
        "sha1" => HashAlgo::Sha1,
        "sha256" => HashAlgo::Sha256,
        "sha512" => HashAlgo::Sha512,
        "sha3_256" => HashAlgo::Sha3_256,
        "sha3_512" => HashAlgo::Sha3_512,
        "xxhash64" => HashAlgo::Xxhash64,
        "crc32" => HashAlgo::Crc32,
        "fnv32" => HashAlgo::Fnv32,
        other => return Err(format!("unrecognized hash type: {other}")),
    };
    if matches!(
        algo,
        HashAlgo::HmacSha1 | HashAlgo::HmacSha256 | HashAlgo::HmacSha512
    ) && key.is_empty()
    {
        return Err(format!("hash algorithm {name} requires a key argument"));
    }
    Ok(algo)
}

/// A reflected CRC-32 over any polynomial (given reversed), as Go's `crc32.MakeTable`.
fn crc32_with(reversed_poly: u32, data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ reversed_poly
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// FNV-1 (multiply, then xor), Go's `fnv.New32`.
fn fnv32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(b)
    })
}

fn hmac_digest<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as hmac::Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hash(v: Value, args: &[Value]) -> Result<Value, String> {
    let name = str_arg(&args[0], "algorithm")?;
    let key = match &args[1] {
        Value::Null => Vec::new(),
        other => str_arg(other, "key")?.into_bytes(),
    };
    let algo = hash_algo(&name, &key)?;
    let b = raw_bytes(&v)?;
    let out = match algo {
        HashAlgo::HmacSha1 => hmac_digest::<hmac::Hmac<sha1::Sha1>>(&key, &b),
        HashAlgo::HmacSha256 => hmac_digest::<hmac::Hmac<sha2::Sha256>>(&key, &b),
        HashAlgo::HmacSha512 => hmac_digest::<hmac::Hmac<sha2::Sha512>>(&key, &b),
        HashAlgo::Md5 => md5::Md5::digest(&b).to_vec(),
        HashAlgo::Sha1 => sha1::Sha1::digest(&b).to_vec(),
        HashAlgo::Sha256 => sha2::Sha256::digest(&b).to_vec(),
        HashAlgo::Sha512 => sha2::Sha512::digest(&b).to_vec(),
        HashAlgo::Sha3_256 => sha3::Sha3_256::digest(&b).to_vec(),
        HashAlgo::Sha3_512 => sha3::Sha3_512::digest(&b).to_vec(),
        // Benthos gives the 64-bit (and FNV's 32-bit) sums as decimal text.
        HashAlgo::Xxhash64 => xxhash_rust::xxh64::xxh64(&b, 0).to_string().into_bytes(),
        HashAlgo::Fnv32 => fnv32(&b).to_string().into_bytes(),
        HashAlgo::Crc32 => {
            let polynomial = str_arg(&args[2], "polynomial")?;
            let sum = match polynomial.as_str() {
                "IEEE" => crc32fast::hash(&b),
                "Castagnoli" => crc32_with(0x82f6_3b78, &b),
                "Koopman" => crc32_with(0xeb31_d82e, &b),
                other => return Err(format!("unsupported crc32 hash key {other:?}")),
            };
            sum.to_be_bytes().to_vec()
        }
    };
    Ok(Value::Bytes(out))
}

/// A literal algorithm (and the key an HMAC needs) is checked when the mapping is parsed,
/// as Benthos builds the method then.
fn prepare_hash(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    use crate::eval::Expr;
    let key = match &args[1] {
        Expr::Lit(Value::String(k)) => Some(k.as_bytes().to_vec()),
        Expr::Lit(Value::Null) => Some(Vec::new()),
        _ => None,
    };
    if let (Expr::Lit(Value::String(name)), Some(key)) = (&args[0], key) {
        hash_algo(name, &key)?;
    }
    Ok(Vec::new())
}

fn parse_json(v: Value, args: &[Value]) -> Result<Value, String> {
    let b = raw_bytes(&v)?;
    // Benthos decodes the first document and leaves whatever follows it.
    let (parsed, _) =
        Value::decode_first_json(&b).map_err(|e| format!("failed to parse value as JSON: {e}"))?;
    // Benthos decodes numbers as float64 unless use_number asks for them as written.
    Ok(match args.first() {
        Some(Value::Bool(true)) => parsed,
        _ => floats(parsed),
    })
}

/// Every number of a parsed document as a 64-bit float.
fn floats(v: Value) -> Value {
    match v {
        Value::Int(i) => Value::Float(i as f64),
        Value::Number(n) => match crate::value::parse_number_text(&n) {
            Some(num) => Value::Float(num.as_f64()),
            None => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, floats(v))).collect())
        }
        other => other,
    }
}

fn format_json(v: Value, args: &[Value]) -> Result<Value, String> {
    let indent = match &args[0] {
        Value::Null => "    ".to_owned(),
        other => str_arg(other, "indent")?,
    };
    let no_indent = matches!(args.get(1), Some(Value::Bool(true)));
    let escape_html = !matches!(args.get(2), Some(Value::Bool(false)));
    // Go's encoder indents only when it has an indent string.
    let bytes = if no_indent || indent.is_empty() {
        if escape_html {
            v.to_json_bytes_html_escaped()
        } else {
            v.to_json_bytes()
        }
    } else {
        crate::budget::check_indentation(
            &v,
            indent.len(),
            crate::budget::Layout::Json,
            "format_json",
        )?;
        v.to_json_indented(&indent, escape_html)
    };
    Ok(Value::Bytes(bytes))
}

fn parse_yaml(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    crate::methods::yaml_parse::parse(&s)
        .map_err(|e| format!("failed to parse value as YAML: yaml: {e}"))
}

fn format_yaml(v: Value, _: &[Value]) -> Result<Value, String> {
    // Nested objects indent by at least two spaces a level.
    crate::budget::check_indentation(&v, 2, crate::budget::Layout::Yaml, "format_yaml")?;
    Ok(Value::Bytes(
        crate::methods::yaml_emit::to_yaml(&v).into_bytes(),
    ))
}

/// Why Go's `encoding/csv` refused a record, with the lines and column it names.
struct CsvError {
    start_line: usize,
    line: usize,
    column: usize,
    kind: CsvErrorKind,
}

enum CsvErrorKind {
    BareQuote,
    Quote,
    FieldCount,
}

impl CsvError {
    fn message(&self) -> String {
        let what = match self.kind {
            CsvErrorKind::BareQuote => "bare \" in non-quoted-field",
            CsvErrorKind::Quote => "extraneous or missing \" in quoted-field",
            CsvErrorKind::FieldCount => {
                return format!("record on line {}: wrong number of fields", self.line);
            }
        };
        if self.start_line == self.line {
            format!(
                "parse error on line {}, column {}: {what}",
                self.line, self.column
            )
        } else {
            format!(
                "record on line {}; parse error on line {}, column {}: {what}",
                self.start_line, self.line, self.column
            )
        }
    }
}

/// Go's `csv.Reader.ReadAll` with a one-character delimiter: quoted fields may span lines,
/// blank lines are skipped, and every record must have as many fields as the first.
fn read_csv(text: &str, delim: char, lazy: bool) -> Result<Vec<Vec<String>>, CsvError> {
    // Lines keep their `\n`; a `\r\n` ending reads as `\n`, a last line's `\r` is dropped.
    let mut lines: Vec<String> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let mut line = line.to_owned();
        if line.ends_with("\r\n") {
            line.truncate(line.len() - 2);
            line.push('\n');
        } else if next.is_empty() && !line.ends_with('\n') && line.ends_with('\r') {
            line.pop();
        }
        lines.push(line);
        rest = next;
    }
    let nl_len = |s: &str| usize::from(s.ends_with('\n'));
    let mut records = Vec::new();
    let mut n_fields: Option<usize> = None;
    let mut line_no = 0usize;
    let mut next_line = 0usize;
    loop {
        // The next non-blank line starts a record.
        let mut line = loop {
            let Some(l) = lines.get(next_line) else {
                return Ok(records);
            };
            next_line += 1;
            line_no += 1;
            if l.len() != nl_len(l) {
                break l.clone();
            }
        };
        let start_line = line_no;
        let mut fields = Vec::new();
        let mut col = 1usize;
        'fields: loop {
            if !line.starts_with('"') {
                let i = line.find(delim);
                let field = match i {
                    Some(i) => &line[..i],
                    None => &line[..line.len() - nl_len(&line)],
                };
                if !lazy && let Some(j) = field.find('"') {
                    return Err(CsvError {
                        start_line,
                        line: line_no,
                        column: col + j,
                        kind: CsvErrorKind::BareQuote,
                    });
                }
                fields.push(field.to_owned());
                match i {
                    Some(i) => {
                        col += i + delim.len_utf8();
                        line = line[i + delim.len_utf8()..].to_owned();
                    }
                    None => break 'fields,
                }
                continue;
            }
            // A quoted field.
            let mut field = String::new();
            line = line[1..].to_owned();
            col += 1;
            loop {
                if let Some(i) = line.find('"') {
                    field.push_str(&line[..i]);
                    line = line[i + 1..].to_owned();
                    col += i + 1;
                    match line.chars().next() {
                        Some('"') => {
                            field.push('"');
                            line = line[1..].to_owned();
                            col += 1;
                        }
                        Some(c) if c == delim => {
                            line = line[c.len_utf8()..].to_owned();
                            col += c.len_utf8();
                            fields.push(field);
                            continue 'fields;
                        }
                        _ if line.len() == nl_len(&line) => {
                            fields.push(field);
                            break 'fields;
                        }
                        _ if lazy => field.push('"'),
                        _ => {
                            return Err(CsvError {
                                start_line,
                                line: line_no,
                                column: col - 1,
                                kind: CsvErrorKind::Quote,
                            });
                        }
                    }
                } else if !line.is_empty() {
                    field.push_str(&line);
                    match lines.get(next_line) {
                        Some(l) => {
                            line = l.clone();
                            next_line += 1;
                            line_no += 1;
                            col = 1;
                        }
                        None => {
                            if !lazy {
                                return Err(CsvError {
                                    start_line,
                                    line: line_no,
                                    column: col + line.len(),
                                    kind: CsvErrorKind::Quote,
                                });
                            }
                            fields.push(field);
                            break 'fields;
                        }
                    }
                } else {
                    if !lazy {
                        return Err(CsvError {
                            start_line,
                            line: line_no,
                            column: col,
                            kind: CsvErrorKind::Quote,
                        });
                    }
                    fields.push(field);
                    break 'fields;
                }
            }
        }
        match n_fields {
            None => n_fields = Some(fields.len()),
            Some(n) if n != fields.len() => {
                return Err(CsvError {
                    start_line,
                    line: start_line,
                    column: 1,
                    kind: CsvErrorKind::FieldCount,
                });
            }
            Some(_) => {}
        }
        records.push(fields);
    }
}

fn parse_csv(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let header = !matches!(args[0], Value::Bool(false));
    let delim = match &args[1] {
        Value::Null => ',',
        other => {
            let d = str_arg(other, "delimiter")?;
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => return Err("delimiter value must be exactly one character".to_owned()),
            }
        }
    };
    let lazy = matches!(args[2], Value::Bool(true));
    let rows = read_csv(&s, delim, lazy).map_err(|e| e.message())?;
    if rows.is_empty() {
        return Err("zero records were parsed".to_owned());
    }
    if !header {
        return Ok(Value::Array(
            rows.into_iter()
                .map(|r| Value::Array(r.into_iter().map(Value::from).collect()))
                .collect(),
        ));
    }
    let mut it = rows.into_iter();
    let headers = it.next().expect("at least one record");
    if headers.is_empty() {
        return Err("no headers found on first row".to_owned());
    }
    check_csv_objects(&headers, it.len())?;
    // Each row's object takes the headers in key order, found once here: inserting them
    // in column order would shift the entries after each key that sorts earlier. The sort
    // is stable, so a repeated header's columns stay in order and the last present wins.
    let mut by_key: Vec<usize> = (0..headers.len()).collect();
    by_key.sort_by(|&a, &b| headers[a].cmp(&headers[b]));
    let keys: Vec<Key> = headers.iter().map(|h| Key::from(h.as_str())).collect();
    let out = it
        .map(|mut row| {
            let present = row.len();
            let entries = by_key
                .iter()
                .filter(|&&i| i < present)
                .map(|&i| {
                    (
                        keys[i].clone(),
                        Value::String(std::mem::take(&mut row[i]).into()),
                    )
                })
                .collect();
            Value::Object(Map::from_entries(entries))
        })
        .collect();
    Ok(Value::Array(out))
}

/// Fails when `rows` objects keyed by `headers` would pass the value limit. Every object
/// holds a copy of each key, and keys too long to be stored inline are copied whole: a
/// header line of long names over many short rows multiplies the input.
fn check_csv_objects(headers: &[String], rows: usize) -> Result<(), String> {
    let copied_key_bytes = headers
        .iter()
        .map(String::len)
        .filter(|&len| len > INLINE_KEY_BYTES)
        .fold(0usize, usize::saturating_add);
    check_elements(rows.saturating_mul(headers.len()), "parse_csv")?;
    check_bytes(rows.saturating_mul(copied_key_bytes), "parse_csv")
}

fn parse_url(v: Value, _: &[Value]) -> Result<Value, String> {
    fn text_of(bytes: Vec<u8>) -> Value {
        Value::String(String::from_utf8_lossy(&bytes).into_owned().into())
    }
    let url = crate::go_url::parse(&text(&v)?).map_err(|e| e.to_string())?;
    let mut m = Map::new();
    m.insert("scheme", Value::String(url.scheme.into()));
    m.insert("opaque", Value::String(url.opaque.into()));
    m.insert("host", text_of(url.host));
    m.insert("path", text_of(url.path));
    m.insert("raw_path", Value::String(url.raw_path.into()));
    m.insert("raw_query", Value::String(url.raw_query.into()));
    m.insert("fragment", text_of(url.fragment));
    m.insert("raw_fragment", Value::String(url.raw_fragment.into()));
    if let Some(user) = url.user {
        let mut obj = Map::new();
        obj.insert("name", text_of(user.name));
        if let Some(password) = user.password {
            obj.insert("password", text_of(password));
        }
        m.insert("user", Value::Object(obj));
    }
    Ok(Value::Object(m))
}

/// Go's `url.ParseQuery`: bad pairs are skipped, and the first problem fails the whole.
fn parse_form_url_encoded(v: Value, _: &[Value]) -> Result<Value, String> {
    use crate::methods::strings::query_unescape;
    let s = text(&v)?;
    let mut entries = Vec::new();
    let mut first_err: Option<String> = None;
    for pair in s.split('&') {
        if pair.contains(';') {
            first_err.get_or_insert_with(|| "invalid semicolon separator in query".to_owned());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, val) = match (query_unescape(k), query_unescape(val)) {
            (Ok(k), Ok(val)) => (k, Value::String(val.into())),
            (Err(e), _) | (_, Err(e)) => {
                first_err.get_or_insert(e);
                continue;
            }
        };
        entries.push((Key::from(k), val));
    }
    match first_err {
        Some(e) => Err(format!("failed to parse value as url-encoded data: {e}")),
        // A repeated key's values gather into an array, as Go's `url.Values` holds them.
        None => Ok(Value::Object(Map::from_entries_grouped(entries))),
    }
}

/// Benthos's logfmt reader: pairs split by spaces and tabs, a bare key is `true`, quoted
/// values take backslash escapes, and an unterminated quote is an error.
fn parse_logfmt(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let b = s.as_bytes();
    let text_of = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let is_space = |c: u8| c == b' ' || c == b'\t';
    // Gathered and sorted once: keys arrive in any order. Of a repeated key the last wins.
    let mut entries: Vec<(Key, Value)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !is_space(b[i]) {
            i += 1;
        }
        let key = text_of(&b[key_start..i]);
        if key.is_empty() {
            i += 1;
            continue;
        }
        if i >= b.len() || b[i] != b'=' {
            entries.push((key.into(), Value::Bool(true)));
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'"') {
            i += 1;
            let mut val = Vec::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        c @ (b'"' | b'\\' | b'/') => val.push(c),
                        b'n' => val.push(b'\n'),
                        b'r' => val.push(b'\r'),
                        b't' => val.push(b'\t'),
                        b'b' => val.push(0x08),
                        b'f' => val.push(0x0c),
                        other => val.extend_from_slice(&[b'\\', other]),
                    }
                } else {
                    val.push(b[i]);
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(format!(
                    "logfmt: unterminated quoted value for key {}",
                    crate::methods::strings::go_quote(&key)
                ));
            }
            i += 1;
            entries.push((key.into(), Value::String(text_of(&val).into())));
        } else {
            let start = i;
            while i < b.len() && !is_space(b[i]) {
                i += 1;
            }
            entries.push((key.into(), Value::String(text_of(&b[start..i]).into())));
        }
    }
    Ok(Value::Object(Map::from_entries(entries)))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Encoding and Encryption";
    env.method(
        "encode",
        cat,
        "Encodes bytes: base64, base64url, base64rawurl, hex or ascii85.",
        vec![p("scheme", Kind::Str)],
        vec![ex(
            r#"root.encoded = this.value.encode("hex")"#,
            &[(
                r#"{"value":"hello world"}"#,
                r#"{"encoded":"68656c6c6f20776f726c64"}"#,
            )],
        )],
        MethodImpl::Simple(encode),
    );
    env.prepare_method("encode", prepare_scheme);
    env.method(
        "decode",
        cat,
        "Decodes bytes: base64, base64url, base64rawurl, hex or ascii85.",
        vec![p("scheme", Kind::Str)],
        vec![ex(
            r#"root.decoded = this.value.decode("hex").string()"#,
            &[(
                r#"{"value":"68656c6c6f20776f726c64"}"#,
                r#"{"decoded":"hello world"}"#,
            )],
        )],
        MethodImpl::Simple(decode),
    );
    env.prepare_method("decode", prepare_scheme);
    env.method(
        "hash",
        cat,
        "Hashes bytes: hmac_sha1, hmac_sha256, hmac_sha512, md5, sha1, sha256, sha512, \
         sha3_256, sha3_512, xxhash64, crc32 (IEEE, Castagnoli or Koopman) and fnv32.",
        vec![
            p("algorithm", Kind::Str),
            opt("key", Kind::Str, Value::Null),
            opt("polynomial", Kind::Str, Value::String("IEEE".into())),
        ],
        vec![
            ex(
                "root.h1 = this.value.hash(\"sha1\").encode(\"hex\")\nroot.h2 = this.value.hash(\"hmac_sha1\",\"static-key\").encode(\"hex\")",
                &[(
                    r#"{"value":"hello world"}"#,
                    r#"{"h1":"2aae6c35c94fcfb415dbe95f408b9ce91ee846ed","h2":"d87e5f068fa08fe90bb95bc7c8344cb809179d76"}"#,
                )],
            ),
            ex(
                "root.h1 = this.value.hash(algorithm: \"crc32\", polynomial: \"Castagnoli\").encode(\"hex\")\nroot.h2 = this.value.hash(algorithm: \"crc32\", polynomial: \"Koopman\").encode(\"hex\")",
                &[(r#"{"value":"hello world"}"#, r#"{"h1":"c99465aa","h2":"df373d3c"}"#)],
            ),
            ex(
                r#"root.ieee = this.value.hash("crc32", "", "IEEE").encode("hex")
root.sha3_256 = this.value.hash("sha3_256").encode("hex")
root.sha3_512 = this.value.hash("sha3_512").encode("hex")
root.xxhash64 = this.value.hash("xxhash64").string()
root.fnv32 = this.value.hash("fnv32").string()"#,
                &[(
                    r#"{"value":"hello world"}"#,
                    r#"{"ieee":"0d4a1185","sha3_256":"644bcc7e564373040999aac89e7622f3ca71fba1d972fd94a31c3bfbf24e3938","sha3_512":"840006653e9ac9e95117a15c915caab81662918e925de9e004f774ff82d7079a40d4d27b1b372657c61d46d470304c88c788b3a4527ad074d1dccbee5dbaa99a","xxhash64":"5020219685658847592","fnv32":"1418570095"}"#,
                )],
            ),
            ex(
                r#"root = this.value.hash("crc32", "", "not-supported")"#,
                &[(
                    r#"{"value":"hello world"}"#,
                    r#"Error(unsupported crc32 hash key "not-supported")"#,
                )],
            ),
        ],
        MethodImpl::Simple(hash),
    );
    env.prepare_method("hash", prepare_hash);
    let cat = "Parsing";
    env.method(
        "parse_json",
        cat,
        "Parses a string as JSON.",
        vec![opt("use_number", Kind::Bool, Value::Bool(false))],
        vec![
            ex(
                "root.doc = this.doc.parse_json()",
                &[(r#"{"doc":"{\"foo\":\"bar\"}"}"#, r#"{"doc":{"foo":"bar"}}"#)],
            ),
            ex(
                "root.doc = this.doc.parse_json(use_number: true)",
                &[(
                    r#"{"doc":"{\"foo\":\"11380878173205700000000000000000000000000000000\"}"}"#,
                    r#"{"doc":{"foo":"11380878173205700000000000000000000000000000000"}}"#,
                )],
            ),
        ],
        MethodImpl::Simple(parse_json),
    );
    env.method(
        "format_json",
        cat,
        "Serialises a value as indented JSON bytes.",
        vec![
            opt("indent", Kind::Str, Value::Null),
            opt("no_indent", Kind::Bool, Value::Bool(false)),
            opt("escape_html", Kind::Bool, Value::Bool(true)),
        ],
        vec![ex(
            "root = this.doc.format_json()",
            &[(r#"{"doc":{"foo":"bar"}}"#, "{\n    \"foo\": \"bar\"\n}")],
        )],
        MethodImpl::Simple(format_json),
    );
    env.method(
        "parse_yaml",
        cat,
        "Parses a string as YAML.",
        vec![],
        vec![ex(
            "root.doc = this.doc.parse_yaml()",
            &[(r#"{"doc":"foo: bar"}"#, r#"{"doc":{"foo":"bar"}}"#)],
        )],
        MethodImpl::Simple(parse_yaml),
    );
    env.method(
        "format_yaml",
        cat,
        "Serialises a value as YAML bytes, laid out as Go's yaml.v3 writes it.",
        vec![],
        vec![
            ex(
                "root = this.doc.format_yaml()",
                &[(r#"{"doc":{"foo":"bar"}}"#, "foo: bar\n")],
            ),
            ex(
                "root.doc = this.doc.format_yaml().string()",
                &[(r#"{"doc":{"foo":"bar"}}"#, r#"{"doc":"foo: bar\n"}"#)],
            ),
            ex(
                "root = this.format_yaml()",
                &[(r#"{"doc":{"foo":"bar"}}"#, "doc:\n    foo: bar\n")],
            ),
        ],
        MethodImpl::Simple(format_yaml),
    );
    env.method(
        "parse_csv",
        cat,
        "Parses CSV into an array of objects (or arrays without a header).",
        vec![
            opt("parse_header_row", Kind::Bool, Value::Bool(true)),
            opt("delimiter", Kind::Str, Value::Null),
            opt("lazy_quotes", Kind::Bool, Value::Bool(false)),
        ],
        vec![ex(
            "root.orders = this.orders.parse_csv()",
            &[(
                r#"{"orders":"foo,bar\nfoo 1,bar 1\nfoo 2,bar 2"}"#,
                r#"{"orders":[{"bar":"bar 1","foo":"foo 1"},{"bar":"bar 2","foo":"foo 2"}]}"#,
            )],
        )],
        MethodImpl::Simple(parse_csv),
    );
    env.method(
        "parse_url",
        cat,
        "Parses a URL into an object.",
        vec![],
        vec![
            ex(
                r#"root.foo_url = this.url.parse_url().path"#,
                &[(
                    r#"{"url":"https://www.benthos.dev/docs/guides?foo=bar"}"#,
                    r#"{"foo_url":"/docs/guides"}"#,
                )],
            ),
            ex(
                "root.foo_url = this.foo_url.parse_url()",
                &[(
                    r#"{"foo_url":"https://docs.redpanda.com/redpanda-connect/guides/bloblang/about/"}"#,
                    r#"{"foo_url":{"fragment":"","host":"docs.redpanda.com","opaque":"","path":"/redpanda-connect/guides/bloblang/about/","raw_fragment":"","raw_path":"","raw_query":"","scheme":"https"}}"#,
                )],
            ),
            ex(
                r#"root.username = this.url.parse_url().user.name | "unknown""#,
                &[
                    (
                        r#"{"url":"amqp://foo:bar@127.0.0.1:5672/"}"#,
                        r#"{"username":"foo"}"#,
                    ),
                    (r#"{"url":"redis://localhost:6379"}"#, r#"{"username":"unknown"}"#),
                ],
            ),
            ex(
                "root = this.parse_url()",
                &[
                    (
                        r#""/a%2Fb?x=1#top""#,
                        r#"{"fragment":"top","host":"","opaque":"","path":"/a/b","raw_fragment":"","raw_path":"/a%2Fb","raw_query":"x=1","scheme":""}"#,
                    ),
                    (
                        r#""mailto:someone@example.com""#,
                        r#"{"fragment":"","host":"","opaque":"someone@example.com","path":"","raw_fragment":"","raw_path":"","raw_query":"","scheme":"mailto"}"#,
                    ),
                    (r#""1a:b""#, "Error(first path segment in URL cannot contain colon)"),
                ],
            ),
        ],
        MethodImpl::Simple(parse_url),
    );
    env.method(
        "parse_form_url_encoded",
        cat,
        "Parses a form URL encoded string into an object.",
        vec![],
        vec![ex(
            "root.values = this.body.parse_form_url_encoded()",
            &[(
                r#"{"body":"noise=meow&animal=cat&fur=orange&fur=fluffy"}"#,
                r#"{"values":{"animal":"cat","fur":["orange","fluffy"],"noise":"meow"}}"#,
            )],
        )],
        MethodImpl::Simple(parse_form_url_encoded),
    );
    env.method(
        "parse_logfmt",
        cat,
        "Parses a logfmt line into an object.",
        vec![],
        vec![ex(
            "root = this.msg.parse_logfmt()",
            &[(
                r#"{"msg":"level=info msg=\"hello world\" ok"}"#,
                r#"{"level":"info","msg":"hello world","ok":true}"#,
            )],
        )],
        MethodImpl::Simple(parse_logfmt),
    );
}

#[cfg(test)]
mod tests {

    use crate::testing::map_one as check;

    #[test]
    fn parse_json_reads_numbers_as_floats_unless_use_number() {
        let doc = r#"{"doc":"{\"a\":1.50,\"b\":9007199254740993,\"c\":[2]}"}"#;
        assert_eq!(
            check("root = this.doc.parse_json()", doc).as_deref(),
            Ok(r#"{"a":1.5,"b":9007199254740992,"c":[2]}"#)
        );
        assert_eq!(
            check("root = this.doc.parse_json(use_number: true)", doc).as_deref(),
            Ok(r#"{"a":1.50,"b":9007199254740993,"c":[2]}"#)
        );
        assert_eq!(
            check("root = this.doc.parse_json(false).b.string()", doc).as_deref(),
            Ok("9.007199254740992e+15")
        );
    }

    #[test]
    fn parse_json_fails_with_go_decoder_messages() {
        let cases = [
            (
                r#""not valid json""#,
                "invalid character 'o' in literal null (expecting 'u')",
            ),
            (
                r#""trux""#,
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (r#""{\"a\":1""#, "unexpected EOF"),
            (r#""[1,""#, "unexpected EOF"),
            (r#""-""#, "unexpected EOF"),
            (r#""""#, "EOF"),
            (r#"" \n ""#, "EOF"),
            (r#""{\"a\" 1}""#, "invalid character '1' after object key"),
            (
                r#""{\"a\":1 \"b\"}""#,
                "invalid character '\"' after object key:value pair",
            ),
            (r#""[1 2]""#, "invalid character '2' after array element"),
            (
                r#""{1:2}""#,
                "invalid character '1' looking for beginning of object key string",
            ),
            (
                r#""'a'""#,
                "invalid character '\\'' looking for beginning of value",
            ),
            (
                r#""\tx""#,
                "invalid character 'x' looking for beginning of value",
            ),
            (r#""\"a\nb\"""#, "invalid character '\\n' in string literal"),
            (
                r#""é""#,
                "invalid character 'Ã' looking for beginning of value",
            ),
            (
                r#""1.x""#,
                "invalid character 'x' after decimal point in numeric literal",
            ),
        ];
        for (literal, message) in cases {
            assert_eq!(
                check(
                    &format!("root = {literal}.parse_json().catch(e -> e)"),
                    "{}"
                )
                .as_deref(),
                Ok(format!("string literal: failed to parse value as JSON: {message}").as_str()),
                "{literal}"
            );
        }
        // The decoder reads the first document and leaves the rest.
        assert_eq!(
            check(r#"root = "{\"a\":1} trailing".parse_json()"#, "{}").as_deref(),
            Ok(r#"{"a":1}"#)
        );
        assert_eq!(
            check(r#"root = "123abc".parse_json()"#, "{}").as_deref(),
            Ok("123")
        );
    }

    /// Pins the YAML outputs so that a change of YAML library shows.
    #[test]
    fn yaml_round_trips_hold_their_shape() {
        let input = r#"{"s":"a: 1\nb: [x, 'y', 2.5, true, null, ~]\nc:\n  e: 1e3\n  f: 0x1F\n  h: 'yes'\n  j: 2024-01-01\n  k: !!str 5\n  l: |\n    multi\n    line\n"}"#;
        assert_eq!(
            check("root = this.s.parse_yaml()", input).as_deref(),
            Ok(
                r#"{"a":1,"b":["x","y",2.5,true,null,null],"c":{"e":1000,"f":31,"h":"yes","j":"2024-01-01","k":"5","l":"multi\nline\n"}}"#
            )
        );
        assert_eq!(
            check(
                "root = this.s.parse_yaml()",
                r#"{"s":"- &a {x: 1}\n- *a\n- {? [1,2] : z}\n- {1: one, true: t, ~: n}"}"#
            )
            .as_deref(),
            Ok(r#"[{"x":1},{"x":1},{"[1,2]":"z"},{"1":"one","null":"n","true":"t"}]"#)
        );
        assert_eq!(
            check("root = this.s.parse_yaml()", r#"{"s":"a: [unclosed"}"#).unwrap_err(),
            "failed assignment (line 1): field `this.s`: failed to parse value as YAML: yaml: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 4"
        );
        // As Go's decoder: the first document only, merge keys applied, integers past i64
        // kept exactly.
        assert_eq!(
            check(
                "root = this.s.parse_yaml()",
                r#"{"s":"---\na: 1\n---\nb: 2"}"#
            )
            .as_deref(),
            Ok(r#"{"a":1}"#)
        );
        assert_eq!(
            check(
                "root = this.s.parse_yaml()",
                r#"{"s":"base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3"}"#
            )
            .as_deref(),
            Ok(r#"{"base":{"x":1,"y":2},"c":{"x":1,"y":3}}"#)
        );
        assert_eq!(
            check(
                "root = this.s.parse_yaml()",
                r#"{"s":"a: 12345678901234567890"}"#
            )
            .as_deref(),
            Ok(r#"{"a":12345678901234567890}"#)
        );
        assert_eq!(
            check("root = this.s.parse_yaml()", r#"{"s":""}"#).as_deref(),
            Ok("null")
        );
        let doc = r##"{"a":1,"b":[1,2.5,"x",true,null],"c":{"d":"multi\nline","e":"","f":"yes","g":"123","h":"null","i":" lead","j":"a: b","k":"#c","l":1.0e21,"m":-0.0}}"##;
        // The expected texts are what Go's yaml.v3 writes for the same documents.
        assert_eq!(
            check("root = this.format_yaml()", doc).as_deref(),
            Ok(
                "a: 1\nb:\n    - 1\n    - 2.5\n    - x\n    - true\n    - null\nc:\n    d: |-\n        multi\n        line\n    e: \"\"\n    f: \"yes\"\n    g: \"123\"\n    h: \"null\"\n    i: ' lead'\n    j: 'a: b'\n    k: '#c'\n    l: 1e+21\n    m: -0\n"
            )
        );
        assert_eq!(
            check("root = this.format_yaml()", r#"[[1,[2]],{"a":{}},[]]"#).as_deref(),
            Ok("- - 1\n  - - 2\n- a: {}\n- []\n")
        );
        assert_eq!(
            check(
                "root = this.format_yaml()",
                r#"{"big":12345678901234567890,"f":0.1,"e":1e-7}"#
            )
            .as_deref(),
            Ok("big: 1.2345678901234567e+19\ne: 1e-07\nf: 0.1\n")
        );
        let keys = r#"{"a10":1,"a2":2,"a02":3,"A":4,"1":5,"10":6,"2":7,"n":8,"multi\nkey":9,"x":"x\n\n","y":"\nlead","z":"emoji 😀 tab\t"}"#;
        assert_eq!(
            check("root = this.format_yaml()", keys).as_deref(),
            Ok(
                "\"1\": 5\n\"2\": 7\n\"10\": 6\nA: 4\na2: 2\na02: 3\na10: 1\n? |-\n    multi\n    key\n: 9\n\"n\": 8\nx: |+\n    x\n\n\"y\": |4-\n    lead\nz: \"emoji \\U0001F600 tab\\t\"\n"
            )
        );
        // Go marshals a byte slice as the sequence of its values, and times as RFC 3339.
        assert_eq!(
            check("root = content().format_yaml()", "hi").as_deref(),
            Ok("- 104\n- 105\n")
        );
        assert_eq!(
            check(r#"root = {"t": "2020-01-02T03:04:05.000000006Z".ts_parse("2006-01-02T15:04:05Z07:00")}.format_yaml()"#, "{}").as_deref(),
            Ok("t: 2020-01-02T03:04:05.000000006Z\n")
        );
    }

    /// yaml.v3 quotes a string whenever its plain form would read back as something else:
    /// a number, a bool or null by its own rules, a YAML 1.1 bool (`yes`, `off`) or a
    /// sexagesimal number (`1:20`), or a timestamp.
    #[test]
    fn format_yaml_quotes_strings_that_would_read_back_as_other_types() {
        for quoted in [
            "123",
            "-0",
            "+1",
            "017",
            "0o17",
            "0x1F",
            "0X1F",
            "1_000",
            "08",
            "1e3",
            "5.",
            ".5",
            ".inf",
            "-.Inf",
            ".nan",
            "true",
            "True",
            "FALSE",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "~",
            "null",
            "Null",
            "",
            "1:20",
            "2024-01-01",
            "2001-12-14 21:59:43.10",
        ] {
            assert_eq!(
                check(
                    "root = this.format_yaml()",
                    &format!("{{\"v\":{quoted:?}}}")
                )
                .as_deref(),
                Ok(format!("v: {quoted:?}\n").as_str()),
                "{quoted}"
            );
        }
        for plain in ["0o", "0x", "1e", "tRUE", "yess", "inf", "1.2.3", "_1"] {
            assert_eq!(
                check("root = this.format_yaml()", &format!("{{\"v\":{plain:?}}}")).as_deref(),
                Ok(format!("v: {plain}\n").as_str()),
                "{plain}"
            );
        }
    }

    /// Numbers read from a JSON message reach yaml.v3 as `json.Number`, written as an
    /// integer when the text is one and as a float otherwise, never quoted.
    #[test]
    fn format_yaml_writes_message_numbers_plain() {
        assert_eq!(
            check(
                "root = this.format_yaml()",
                r#"{"a":1,"b":-2,"c":0,"d":-0,"e":1.50,"f":1e3,"g":9223372036854775807,"h":12345678901234567890}"#
            )
            .as_deref(),
            Ok("a: 1\nb: -2\nc: 0\nd: 0\ne: 1.5\nf: 1000\ng: 9223372036854775807\nh: 1.2345678901234567e+19\n")
        );
        // Integers computed by a mapping are integers too.
        assert_eq!(
            check(
                r#"root = {"int": this.a + 1, "float": this.a * 2.5}.format_yaml()"#,
                r#"{"a":2}"#
            )
            .as_deref(),
            Ok("float: 5\nint: 3\n")
        );
    }

    #[test]
    fn parse_yaml_follows_yaml_v3_on_yaml_1_1_corners() {
        assert_eq!(
            check(
                "root = this.s.parse_yaml()",
                r#"{"s":"b: [yes, no, on, off]\no: [017, 0o17, '017']\nx: [0x1F, 0X1F]\nu: 1_000\nf: [.inf, -.inf, 08]\nn: ~\nt: 2024-01-01T10:00:00Z"}"#
            )
            .as_deref(),
            Ok(r#"{"b":["yes","no","on","off"],"f":[null,null,8],"n":null,"o":[15,15,"017"],"t":"2024-01-01T10:00:00Z","u":1000,"x":[31,31]}"#)
        );
        // The infinities are floats: written as YAML again they keep their names.
        assert_eq!(
            check(
                "root = this.s.parse_yaml().format_yaml()",
                r#"{"s":"f: [.inf, -.Inf, .NaN]"}"#
            )
            .as_deref(),
            Ok("f:\n    - .inf\n    - -.inf\n    - .nan\n")
        );
    }

    /// The result of `mapping` on an empty object, or its error as text.
    fn outcome(mapping: &str, expected: &str) {
        let got = check(mapping, "{}").unwrap_or_else(|e| format!("error: {e}"));
        assert_eq!(got, expected, "{mapping}");
    }

    #[test]
    fn csv_reads_as_go_encoding_csv_does() {
        outcome(
            r#"root = "a,b\n\"x\ny\",2\n\n3,\"q\"\"q\"\r\n".parse_csv()"#,
            r#"[{"a":"x\ny","b":"2"},{"a":"3","b":"q\"q"}]"#,
        );
        outcome(
            r#"root = "foo,bar,baz\n1,2,3,4".parse_csv()"#,
            "error: failed assignment (line 1): string literal: record on line 2: wrong number of fields",
        );
        outcome(
            r#"root = "a,b\n1,x\"y".parse_csv()"#,
            r#"error: failed assignment (line 1): string literal: parse error on line 2, column 4: bare " in non-quoted-field"#,
        );
        outcome(
            r#"root = "a,b\n1,x\"y".parse_csv(lazy_quotes: true)"#,
            r#"[{"a":"1","b":"x\"y"}]"#,
        );
        outcome(
            r#"root = "a\n\"open".parse_csv()"#,
            r#"error: failed assignment (line 1): string literal: parse error on line 2, column 6: extraneous or missing " in quoted-field"#,
        );
        outcome(
            r#"root = "".parse_csv()"#,
            "error: failed assignment (line 1): string literal: zero records were parsed",
        );
        outcome(
            r#"root = "a;b".parse_csv(delimiter: ";;")"#,
            "error: failed assignment (line 1): string literal: delimiter value must be exactly one character",
        );
    }

    #[test]
    fn logfmt_reads_escapes_and_refuses_open_quotes() {
        outcome(
            r#"root = "msg=\"line1\\nline2\\ttab \\\"q\\\"\" k=v\tflag".parse_logfmt()"#,
            r#"{"flag":true,"k":"v","msg":"line1\nline2\ttab \"q\""}"#,
        );
        outcome(
            r#"root = "msg=\"unterminated".parse_logfmt()"#,
            r#"error: failed assignment (line 1): string literal: logfmt: unterminated quoted value for key "msg""#,
        );
    }

    #[test]
    fn z85_takes_whole_groups() {
        outcome(r#"root = "hello world!".encode("z85")"#, "xK#0@zY<mxA+]nf");
        outcome(
            r#"root = "xK#0@zY<mxA+]nf".decode("z85").string()"#,
            "hello world!",
        );
        outcome(
            r#"root = "abc".encode("z85")"#,
            "error: failed assignment (line 1): string literal: z85: wrongly aligned input data",
        );
        outcome(
            r#"root = "abcd~".decode("z85")"#,
            "error: failed assignment (line 1): string literal: z85: invalid input byte: U+007E '~'",
        );
        outcome(
            r#"root = "x".encode("base65")"#,
            "error: line 1 char 28: unrecognized encoding type: base65",
        );
    }

    #[test]
    fn format_json_with_an_empty_indent_is_compact() {
        outcome(
            r#"root = {"doc":{"a":"<b>"}}.format_json("")"#,
            r#"{"doc":{"a":"\u003cb\u003e"}}"#,
        );
        outcome(
            r#"root = {"doc":{"a":"<b>"}}.format_json("", false, false)"#,
            r#"{"doc":{"a":"<b>"}}"#,
        );
    }

    #[test]
    fn parse_csv_refuses_long_headers_copied_into_many_rows() {
        // Two 35 KB names over a thousand empty rows: 72 KB that would build 70 MB of keys.
        let name = |c: &str| c.repeat(35_000);
        let csv = format!("{},{}\n{}", name("x"), name("y"), ",\n".repeat(1000));
        assert_eq!(
            check("root = content().parse_csv()", &csv),
            Err("failed assignment (line 1): function content: parse_csv would produce 70000000 bytes, more than the limit of 67108864 bytes for one value".to_owned())
        );
    }

    #[test]
    fn parse_csv_keys_rows_by_headers_in_any_order_the_last_repeat_winning() {
        assert_eq!(
            check("root = content().parse_csv()", "c,a,b,a\n1,2,3,4\n5,6,7,8").as_deref(),
            Ok(r#"[{"a":"4","b":"3","c":"1"},{"a":"8","b":"7","c":"5"}]"#)
        );
    }

    #[test]
    fn parse_form_url_encoded_gathers_repeated_keys_in_order() {
        assert_eq!(
            check(
                "root = content().parse_form_url_encoded()",
                "z=1&b=2&z=3&a=&z=4"
            )
            .as_deref(),
            Ok(r#"{"a":"","b":"2","z":["1","3","4"]}"#)
        );
    }

    #[test]
    fn parse_logfmt_keeps_the_last_of_repeated_keys() {
        assert_eq!(
            check("root = content().parse_logfmt()", r#"z=1 b a="x y" z=2"#).as_deref(),
            Ok(r#"{"a":"x y","b":true,"z":"2"}"#)
        );
    }
}
