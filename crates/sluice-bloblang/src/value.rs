//! The value model of the language and its byte encodings.

mod float_fmt;
mod map;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

pub(crate) use float_fmt::format_float_g;
pub use map::{IntoIter, Iter, IterMut, Key, Map};

/// The text of a string value: up to 24 bytes inline, so that reading and copying the short
/// strings documents are mostly made of allocates nothing. Longer ones are owned, as a
/// `String` is: a shared buffer would save their copies but pay two atomic operations per
/// copy, which costs more than the allocator does for the sizes seen in messages.
pub type Str = compact_str::CompactString;

/// Metadata of a message: keys sorted, values typed. Keys are stored as object keys
/// are: the names inputs give (`http_server_request_path`, `kafka_partition`, header
/// names) fit inline, so building and dropping a request's metadata allocates nothing
/// for them.
pub type Metadata = BTreeMap<Key, Value>;

/// A Bloblang value.
///
/// `Number` keeps the text of a JSON number read from a message (for example `1.50` or `1e3`)
/// so that untouched numbers serialise byte for byte as they arrived. Integers that fit an
/// `i64` are read as `Int` because their text is already canonical.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// JSON null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A JSON number kept as its original text (inline: number texts are short).
    Number(Str),
    /// A UTF-8 string; short ones are stored inline (see [`Str`]).
    String(Str),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// An object with keys in byte order.
    Object(Map),
    /// A point in time with its offset.
    Timestamp(DateTime<FixedOffset>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(o: Map) -> Self {
        Value::Object(o)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(o: BTreeMap<String, Value>) -> Self {
        Value::Object(o.into_iter().collect())
    }
}

/// A number in one of the two arithmetic domains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

/// The bits of a float as a hash key, with `-0.0` the same key as `0.0` as the two are
/// equal.
pub(crate) fn float_key(f: f64) -> u64 {
    if f == 0.0 { 0 } else { f.to_bits() }
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Num::I(i) => Value::Int(i),
            Num::F(f) => Value::Float(f),
        }
    }
}

/// Parses the text of a JSON number as Benthos sanitises a `json.Number`: an integer when the
/// text is one, otherwise a float.
pub(crate) fn parse_number_text(text: &str) -> Option<Num> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Num::I(i));
    }
    text.parse::<f64>().ok().map(Num::F)
}

impl Value {
    /// Parses one JSON document. Numbers keep their text while untouched.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Value, String> {
        let mut parser = JsonParser::new(bytes);
        SCRATCH.with_borrow_mut(|(entries, items)| {
            parser.entries = std::mem::take(entries);
            parser.items = std::mem::take(items);
        });
        let res = parser.document();
        let (mut entries, mut items) = (parser.entries, parser.items);
        // Kept for the next document unless one outsized document grew them.
        if entries.capacity() <= SCRATCH_KEEP && items.capacity() <= SCRATCH_KEEP {
            entries.clear();
            items.clear();
            SCRATCH.with_borrow_mut(|scratch| *scratch = (entries, items));
        }
        res
    }
}

/// How many scratch entries and elements a thread keeps between documents.
const SCRATCH_KEEP: usize = 256;

/// The parser's two stacks: object entries and array elements.
type Scratch = (Vec<(Key, Value)>, Vec<Value>);

thread_local! {
    /// The parser's stacks, kept per thread so that parsing a message grows none of them.
    static SCRATCH: std::cell::RefCell<Scratch> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

impl JsonParser<'_> {
    fn document(&mut self) -> Result<Value, String> {
        let parser = self;
        let bytes = parser.src;
        parser.skip_ws();
        if parser.pos >= bytes.len() {
            return Err("unexpected end of JSON input".to_owned());
        }
        let value = parser.value(0)?;
        parser.skip_ws();
        if parser.pos < bytes.len() {
            return Err(format!(
                "invalid character '{}' after top-level value",
                go_char(bytes[parser.pos])
            ));
        }
        Ok(value)
    }
}

impl Value {
    /// Encodes as Go's `encoding/json` would with HTML escaping off: sorted keys, compact.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        write_json(&mut out, self, false);
        out
    }

    /// Encodes as Go's default JSON marshaller, which escapes `<`, `>` and `&`.
    pub fn to_json_bytes_html_escaped(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_json(&mut out, self, true);
        out
    }

    /// Encodes with an indent per level, as Go's `json.MarshalIndent`.
    pub fn to_json_indented(&self, indent: &str, escape_html: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_json_indented(&mut out, self, indent, 0, escape_html);
        out
    }

    /// The body of a message whose mapping produced this value: strings and bytes raw,
    /// anything else as JSON.
    pub fn to_message_bytes(&self) -> Vec<u8> {
        match self {
            Value::String(s) => go_string_bytes(s).into_owned(),
            Value::Bytes(b) => b.clone(),
            other => other.to_json_bytes(),
        }
    }

    /// Stringification used by interpolations, `.string()` and metadata headers.
    pub fn to_interp_string(&self) -> String {
        self.to_interp_str().into_owned()
    }

    /// [`Value::to_interp_string`], borrowing the text of a string that
    /// needs no conversion instead of copying it.
    pub fn to_interp_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Value::String(s) => go_string_lossy(s),
            Value::Bytes(b) => String::from_utf8_lossy(b),
            Value::Null => Cow::Borrowed("null"),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Float(f) => Cow::Owned(format_float_g(*f)),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Timestamp(t) => Cow::Owned(format_rfc3339_nano(t)),
            Value::Array(_) | Value::Object(_) => Cow::Owned(
                String::from_utf8(self.to_json_bytes()).expect("JSON encoding is valid UTF-8"),
            ),
        }
    }

    /// The Benthos type name of the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) | Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Timestamp(_) => "timestamp",
        }
    }

    pub(crate) fn as_num(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::I(*i)),
            Value::Float(f) => Some(Num::F(*f)),
            Value::Number(n) => parse_number_text(n),
            _ => None,
        }
    }

    /// Replaces a kept number text by its integer or float value.
    pub(crate) fn sanitised(self) -> Value {
        match self {
            Value::Number(n) => match parse_number_text(&n) {
                Some(num) => num.into_value(),
                None => Value::Number(n),
            },
            other => other,
        }
    }

    /// Metadata as an object value (`@` and `metadata()` without a key).
    pub fn from_metadata(meta: &Metadata) -> Value {
        Value::Object(
            meta.iter()
                .map(|(k, v)| (Key::from(k.as_str()), v.clone()))
                .collect(),
        )
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Go strings hold any bytes, a [`Str`] only UTF-8. A byte of a Go string that is no part of
/// valid UTF-8 (always 0x80 or above) is kept in a `Str` as two characters: the noncharacter
/// U+10FFFF, then U+10FE00 plus the byte. Writing the string as a message or as bytes gives the
/// byte back; JSON writes `\ufffd` for it, as Go's encoder does.
const RAW_MARK: char = '\u{10FFFF}';
const RAW_MARK_UTF8: [u8; 4] = [0xF4, 0x8F, 0xBF, 0xBF];
const RAW_BASE: u32 = 0x10FE00;
/// The UTF-8 length of a kept byte: the mark and the byte's character.
const RAW_LEN: usize = 8;

/// Text from bytes as Go's `string(b)` has it: bytes that are no part of valid UTF-8 are kept
/// (see [`RAW_MARK`]).
pub(crate) fn str_from_go_bytes(b: &[u8]) -> Str {
    let mut out = Str::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        push_keeping_marks(&mut out, chunk.valid());
        for &byte in chunk.invalid() {
            out.push(RAW_MARK);
            out.push(char::from_u32(RAW_BASE + u32::from(byte)).expect("a scalar value"));
        }
    }
    out
}

/// Appends valid text, keeping the bytes of any mark in it as bytes of their own so that
/// they are not read as one kept byte later.
fn push_keeping_marks(out: &mut Str, text: &str) {
    let mut parts = text.split(RAW_MARK);
    out.push_str(parts.next().unwrap_or_default());
    for part in parts {
        for byte in RAW_MARK_UTF8 {
            out.push(RAW_MARK);
            out.push(char::from_u32(RAW_BASE + u32::from(byte)).expect("a scalar value"));
        }
        out.push_str(part);
    }
}

/// Whether `bytes` at `at` hold a byte kept by [`str_from_go_bytes`].
fn raw_byte_at(bytes: &[u8], at: usize) -> Option<u8> {
    let pair = bytes.get(at..at + RAW_LEN)?;
    if pair[..4] != RAW_MARK_UTF8 || pair[4] != 0xF4 || pair[5] != 0x8F {
        return None;
    }
    // U+10FE80..U+10FEFF: F4 8F BA|BB 80..BF.
    match (pair[6], pair[7]) {
        (0xBA, low @ 0x80..=0xBF) => Some(low),
        (0xBB, low @ 0x80..=0xBF) => Some(low + 0x40),
        _ => None,
    }
}

/// The bytes of a string as Go has them: bytes kept by [`str_from_go_bytes`] given back.
pub(crate) fn go_string_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    if !s.contains(RAW_MARK) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(b) = raw_byte_at(bytes, i) {
            out.push(b);
            i += RAW_LEN;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The length in bytes of a string as Go counts it.
pub(crate) fn go_string_len(s: &str) -> usize {
    if s.contains(RAW_MARK) {
        go_string_bytes(s).len()
    } else {
        s.len()
    }
}

/// A string with its kept bytes as U+FFFD, for text that must be valid UTF-8.
pub(crate) fn go_string_lossy(s: &str) -> std::borrow::Cow<'_, str> {
    match go_string_bytes(s) {
        std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(s),
        std::borrow::Cow::Owned(raw) => std::borrow::Cow::Owned(go_lossy(&raw)),
    }
}

/// Bytes as text with every byte that is no part of valid UTF-8 replaced by U+FFFD, one for
/// each byte as Go's decoder reads them (Rust's lossy decoding replaces a truncated sequence
/// once).
pub(crate) fn go_lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

/// A byte as Go's JSON scanner quotes it in errors: read as the character of that number,
/// then escaped as `strconv.Quote` escapes it, quotes aside.
fn go_char(b: u8) -> String {
    match b {
        b'\'' => "\\'".to_owned(),
        b'"' => "\"".to_owned(),
        0x07 => "\\a".to_owned(),
        0x08 => "\\b".to_owned(),
        0x0c => "\\f".to_owned(),
        b'\n' => "\\n".to_owned(),
        b'\r' => "\\r".to_owned(),
        b'\t' => "\\t".to_owned(),
        0x0b => "\\v".to_owned(),
        b'\\' => "\\\\".to_owned(),
        0..0x20 | 0x7f => format!("\\x{b:02x}"),
        // C1 controls, the no-break space and the soft hyphen are not printable to Go.
        0x80..=0xa0 | 0xad => format!("\\u{b:04x}"),
        _ => char::from(b).to_string(),
    }
}

/// What Go's `json.Decoder` says where [`JsonParser`] found the input ended too soon.
fn decoder_error(e: String) -> String {
    if e == "unexpected end of JSON input" {
        "unexpected EOF".to_owned()
    } else {
        e
    }
}

impl Value {
    /// The first JSON document of `bytes` as Go's `json.Decoder` reads it, and where it ends:
    /// what follows is not looked at. Input that holds no document is `EOF`, one cut short
    /// `unexpected EOF`.
    pub(crate) fn decode_first_json(bytes: &[u8]) -> Result<(Value, usize), String> {
        let mut parser = JsonParser::new(bytes);
        parser.skip_ws();
        if parser.pos >= bytes.len() {
            return Err("EOF".to_owned());
        }
        let v = parser.value(0).map_err(decoder_error)?;
        Ok((v, parser.pos))
    }

    /// Why Benthos could not read a message's bytes as JSON: an empty message does not exist
    /// to it, and it decodes documents one after another, so that text after the first is
    /// read as the start of another, and a second whole one is refused as such. `fallback`
    /// stands where Go would read the bytes after all.
    pub(crate) fn go_message_json_error(bytes: &[u8], fallback: &str) -> String {
        const MULTIPLE: &str = "message contains multiple valid documents";
        if bytes.is_empty() {
            return "target message part does not exist".to_owned();
        }
        let rest = match Value::decode_first_json(bytes) {
            Err(e) => return e,
            Ok((_, end)) => &bytes[end..],
        };
        match Value::decode_first_json(rest) {
            Err(e) if e == "EOF" => fallback.to_owned(),
            Err(e) => e,
            Ok((_, end)) => match Value::decode_first_json(&rest[end..]) {
                Ok(_) => MULTIPLE.to_owned(),
                Err(e) if e == "EOF" => MULTIPLE.to_owned(),
                Err(e) => e,
            },
        }
    }
}

pub(crate) struct JsonParser<'a> {
    pub(crate) src: &'a [u8],
    /// The document as text when it is valid UTF-8; strings are then sliced from it.
    pub(crate) text: Option<&'a str>,
    pub(crate) pos: usize,
    /// Entries of the objects being read, innermost last. Each object moves its own out
    /// into a vector of exactly their number, so vectors are not grown entry by entry
    /// (`drain`, not `split_off`, which at 0 swaps in a new vector of the old capacity).
    /// After an error the stack holds leftovers: the parser is then dropped.
    entries: Vec<(Key, Value)>,
    /// Elements of the arrays being read, in the same way.
    items: Vec<Value>,
}

impl<'a> JsonParser<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        JsonParser {
            src: bytes,
            // Validating the whole document once is cheaper than validating each string.
            text: std::str::from_utf8(bytes).ok(),
            pos: 0,
            entries: Vec::new(),
            items: Vec::new(),
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(&c) = self.src.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    pub(crate) fn err_here(&self, ctx: &str) -> String {
        match self.src.get(self.pos) {
            None => "unexpected end of JSON input".to_owned(),
            Some(&c) => format!("invalid character '{}' {ctx}", go_char(c)),
        }
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > crate::budget::MAX_DOCUMENT_DEPTH {
            return Err("exceeded max depth".to_owned());
        }
        match self.src.get(self.pos) {
            None => Err("unexpected end of JSON input".to_owned()),
            Some(b'{') => {
                self.pos += 1;
                self.skip_ws();
                if self.src.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Value::Object(Map::new()));
                }
                // Gathered first and sorted once: documents written by an encoder that sorts
                // keys need no sorting at all.
                let base = self.entries.len();
                loop {
                    self.skip_ws();
                    if self.src.get(self.pos) != Some(&b'"') {
                        return Err(self.err_here("looking for beginning of object key string"));
                    }
                    let key = self.key()?;
                    self.skip_ws();
                    if self.src.get(self.pos) != Some(&b':') {
                        return Err(self.err_here("after object key"));
                    }
                    self.pos += 1;
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    self.entries.push((key, v));
                    self.skip_ws();
                    match self.src.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            let entries = self.entries.drain(base..).collect();
                            return Ok(Value::Object(Map::from_entries(entries)));
                        }
                        _ => return Err(self.err_here("after object key:value pair")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_ws();
                if self.src.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Value::Array(Vec::new()));
                }
                let base = self.items.len();
                loop {
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    self.items.push(v);
                    self.skip_ws();
                    match self.src.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(self.items.drain(base..).collect()));
                        }
                        _ => return Err(self.err_here("after array element")),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.text()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err_here("looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, String> {
        for &expected in word {
            if self.src.get(self.pos) != Some(&expected) {
                let word = std::str::from_utf8(word).expect("literals are ASCII");
                return Err(self.err_here(&format!(
                    "in literal {word} (expecting '{}')",
                    go_char(expected)
                )));
            }
            self.pos += 1;
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let (digits_start, is_int) = self.number_span()?;
        let raw = &self.src[start..self.pos];
        if is_int
            && raw != b"-0"
            && let Some(i) =
                int_from_digits(&self.src[digits_start..self.pos], digits_start > start)
        {
            return Ok(Value::Int(i));
        }
        let text = std::str::from_utf8(raw).expect("number text is ASCII");
        Ok(Value::Number(text.into()))
    }

    /// Moves past a number: where its digits start and whether it is written as an integer.
    pub(crate) fn number_span(&mut self) -> Result<(usize, bool), String> {
        let mut is_int = true;
        if self.src.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.src.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.src.get(self.pos), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err_here("in numeric literal")),
        }
        if self.src.get(self.pos) == Some(&b'.') {
            is_int = false;
            self.pos += 1;
            if !matches!(self.src.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err_here("after decimal point in numeric literal"));
            }
            while matches!(self.src.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.src.get(self.pos), Some(b'e' | b'E')) {
            is_int = false;
            self.pos += 1;
            if matches!(self.src.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.src.get(self.pos), Some(b'0'..=b'9')) {
                return Err(self.err_here("in exponent of numeric literal"));
            }
            while matches!(self.src.get(self.pos), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok((digits_start, is_int))
    }

    /// A string's text as it stands in the document, when it has no escape and the document
    /// is valid UTF-8; the parser is then past the string.
    fn verbatim(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let run = string_run(&self.src[start..]);
        let text = self.text?;
        if self.src.get(start + run) != Some(&b'"') {
            return None;
        }
        self.pos = start + run + 1;
        // Quotes are ASCII, so both ends are character boundaries of valid text.
        Some(&text[start..start + run])
    }

    /// A string value: like [`JsonParser::string`], without an allocation for short text.
    pub(crate) fn text(&mut self) -> Result<Str, String> {
        match self.verbatim() {
            Some(text) => Ok(Str::new(text)),
            None => self.string().map(Str::from),
        }
    }

    /// An object key, in the same way.
    pub(crate) fn key(&mut self) -> Result<Key, String> {
        match self.verbatim() {
            Some(text) => Ok(Key::new(text)),
            None => self.string().map(Key::from),
        }
    }

    pub(crate) fn string(&mut self) -> Result<String, String> {
        // Opening quote.
        self.pos += 1;
        let start = self.pos;
        // Fast path: copy the run up to the closing quote when nothing needs decoding.
        self.pos = start + string_run(&self.src[start..]);
        match self.src.get(self.pos) {
            Some(b'"') => {
                let end = self.pos;
                self.pos += 1;
                // Quotes are ASCII, so both ends are character boundaries of valid text.
                if let Some(text) = self.text {
                    return Ok(text[start..end].to_owned());
                }
                let raw = &self.src[start..end];
                return Ok(match std::str::from_utf8(raw) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(raw).into_owned(),
                });
            }
            Some(b'\\') | None => {}
            Some(_) => return Err(self.err_here("in string literal")),
        }
        let mut buf: Vec<u8> = self.src[start..self.pos].to_vec();
        loop {
            match self.src.get(self.pos) {
                None => return Err("unexpected end of JSON input".to_owned()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8(buf)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.src.get(self.pos).copied();
                    self.pos += 1;
                    match esc {
                        Some(b'"') => buf.push(b'"'),
                        Some(b'\\') => buf.push(b'\\'),
                        Some(b'/') => buf.push(b'/'),
                        Some(b'b') => buf.push(8),
                        Some(b'f') => buf.push(12),
                        Some(b'n') => buf.push(b'\n'),
                        Some(b'r') => buf.push(b'\r'),
                        Some(b't') => buf.push(b'\t'),
                        Some(b'u') => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.src.get(self.pos) == Some(&b'\\')
                                && self.src.get(self.pos + 1) == Some(&b'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut tmp = [0u8; 4];
                            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.err_here("in string escape code"));
                        }
                    }
                }
                Some(&c) if c < 0x20 => return Err(self.err_here("in string literal")),
                Some(&c) => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    pub(crate) fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.src.get(self.pos).copied();
            let d = match c {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err_here("in \\u hexadecimal character escape")),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }
}

/// The `i64` spelled by ASCII digits, `None` when it does not fit.
fn int_from_digits(digits: &[u8], negative: bool) -> Option<i64> {
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if negative {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Bytes that end the plain run of a JSON string: the quote, a backslash, control characters.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

// Word-at-a-time byte tests (eight bytes per step). Each yields the high bit of every byte that
// matches; bits above the lowest match may be spurious, so callers only use the lowest one.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(LO * u64::from(n)) & !word & HI
}

/// The length of the leading run of `bytes` that a JSON string may hold verbatim.
pub(crate) fn string_run(bytes: &[u8]) -> usize {
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunk of eight"));
        let hits = bytes_below(word, 0x20) | bytes_equal(word, b'"') | bytes_equal(word, b'\\');
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&c| STRING_STOP[c as usize])
        .unwrap_or(bytes.len() - i)
}

/// Eight bytes of `bytes` from `at` as a word; past the end it is padded with a byte that no
/// test flags, so short strings and tails are scanned a word at a time too.
#[inline(always)]
fn load_word(bytes: &[u8], at: usize) -> u64 {
    const PAD: u64 = LO * b'a' as u64;
    if let Some(w) = bytes.get(at..at + 8) {
        return u64::from_le_bytes(w.try_into().expect("eight bytes"));
    }
    let n = bytes.len() - at;
    // n is 1 to 7. Read the tail with loads that stay inside the slice (overlapping ones
    // repeat the same bytes at the same places) rather than copying it byte by byte.
    let tail = if bytes.len() >= 8 {
        let last = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().expect("eight bytes"));
        last >> (8 * (8 - n))
    } else if n >= 4 {
        let lo = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        let hi = u32::from_le_bytes(bytes[at + n - 4..at + n].try_into().expect("four bytes"));
        u64::from(lo) | (u64::from(hi) << (8 * (n - 4)))
    } else {
        u64::from(bytes[at])
            | (u64::from(bytes[at + n / 2]) << (8 * (n / 2)))
            | (u64::from(bytes[at + n - 1]) << (8 * (n - 1)))
    };
    tail | (PAD << (8 * n))
}

/// The position of the next byte from `from` on that the string writer must inspect.
#[inline(always)]
fn next_escape(bytes: &[u8], mut from: usize, table: &[bool; 256], html: bool) -> Option<usize> {
    while from < bytes.len() {
        let word = load_word(bytes, from);
        // Non-ASCII bytes are flagged too: U+2028 and U+2029 start with one.
        let mut hits = bytes_below(word, 0x20)
            | bytes_equal(word, b'"')
            | bytes_equal(word, b'\\')
            | (word & HI);
        if html {
            hits |= bytes_equal(word, b'<') | bytes_equal(word, b'>') | bytes_equal(word, b'&');
        }
        if hits == 0 {
            from += 8;
            continue;
        }
        let at = from + (hits.trailing_zeros() / 8) as usize;
        if table[*bytes.get(at)? as usize] {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes a JSON string writer must look at: control characters, the quote, the backslash and
/// the first byte of U+2028/U+2029 (which Go escapes). Everything else is copied in runs.
const ESCAPE: [bool; 256] = escape_table(false);
/// The same plus `<`, `>` and `&`, for Go's HTML-escaping encoder.
const ESCAPE_HTML: [bool; 256] = escape_table(true);

const fn escape_table(html: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0xE2] = true;
    // The first byte of the mark of a byte kept from a Go string.
    t[0xF4] = true;
    if html {
        t[b'<' as usize] = true;
        t[b'>' as usize] = true;
        t[b'&' as usize] = true;
    }
    t
}

pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str, escape_html: bool) {
    let table = if escape_html { &ESCAPE_HTML } else { &ESCAPE };
    let bytes = s.as_bytes();
    // Keys and short values are done sooner byte by byte than word by word.
    let first = if bytes.len() < 16 {
        bytes.iter().position(|&b| table[usize::from(b)])
    } else {
        next_escape(bytes, 0, table, escape_html)
    };
    match first {
        None => {
            // Most strings need no escape: one reservation, one copy.
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        Some(first) => write_escaped(out, bytes, first, table, escape_html),
    }
}

/// The rest of [`write_json_string`] once a byte that may need an escape is found.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], first: usize, table: &[bool; 256], html: bool) {
    out.reserve(bytes.len() + 8);
    out.push(b'"');
    let mut start = 0;
    let mut next = Some(first);
    while let Some(at) = next {
        let mut i = at;
        let b = bytes[i];
        if b == 0xE2
            && !(bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)))
        {
            next = next_escape(bytes, i + 1, table, html);
            continue;
        }
        if b == 0xF4 {
            if raw_byte_at(bytes, i).is_none() {
                next = next_escape(bytes, i + 1, table, html);
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            let mut kept = Vec::new();
            while let Some(byte) = raw_byte_at(bytes, i) {
                kept.push(byte);
                i += RAW_LEN;
            }
            write_go_bytes_json(out, &kept);
            start = i;
            next = next_escape(bytes, i, table, html);
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0xE2 => {
                out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xF) as usize]);
            }
        }
        i += 1;
        start = i;
        next = next_escape(bytes, i, table, html);
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Bytes kept from a Go string, as Go's encoder writes them: UTF-8 as it is (only a mark kept
/// as bytes can be), `\ufffd` for each other byte.
fn write_go_bytes_json(out: &mut Vec<u8>, kept: &[u8]) {
    for chunk in kept.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

fn write_scalar(out: &mut Vec<u8>, v: &Value, escape_html: bool) -> bool {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => {
            write_int(out, *i);
        }
        Value::Float(f) => float_fmt::write_float_json(out, *f),
        Value::Number(n) => out.extend_from_slice(n.as_bytes()),
        Value::String(s) => write_json_string(out, s, escape_html),
        Value::Bytes(b) => {
            use base64::Engine as _;
            let enc = base64::engine::general_purpose::STANDARD.encode(b);
            write_json_string(out, &enc, escape_html);
        }
        Value::Timestamp(t) => write_json_string(out, &format_rfc3339_nano(t), escape_html),
        Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

fn write_json(out: &mut Vec<u8>, v: &Value, escape_html: bool) {
    match v {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item, escape_html);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(out, k, escape_html);
                out.push(b':');
                write_json(out, item, escape_html);
            }
            out.push(b'}');
        }
        scalar => {
            write_scalar(out, scalar, escape_html);
        }
    }
}

fn newline_indent(out: &mut Vec<u8>, indent: &str, depth: usize) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(indent.as_bytes());
    }
}

fn write_json_indented(
    out: &mut Vec<u8>,
    v: &Value,
    indent: &str,
    depth: usize,
    escape_html: bool,
) {
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, indent, depth + 1);
                write_json_indented(out, item, indent, depth + 1, escape_html);
            }
            newline_indent(out, indent, depth);
            out.push(b']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, indent, depth + 1);
                write_json_string(out, k, escape_html);
                out.extend_from_slice(b": ");
                write_json_indented(out, item, indent, depth + 1, escape_html);
            }
            newline_indent(out, indent, depth);
            out.push(b'}');
        }
        other => write_json(out, other, escape_html),
    }
}

/// RFC 3339 with nanoseconds, trailing zeros dropped, `Z` for UTC (Go `time.RFC3339Nano`).
impl Value {
    /// The value read as a timestamp as Benthos reads one: a timestamp, an
    /// RFC 3339 string, or unix seconds (with a fraction for sub-seconds).
    pub fn to_timestamp(&self) -> Result<DateTime<FixedOffset>, String> {
        crate::methods::time::get_timestamp(self)
    }
}

pub(crate) fn format_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    crate::time_fmt::go_format(t, "2006-01-02T15:04:05.999999999Z07:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let v = Value::from_json_bytes(input.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(v.to_json_bytes()).unwrap(), expected);
    }

    #[test]
    fn json_round_trips() {
        check(
            r#"{"b":1,"a":{"d":"<x>","c":1.50}}"#,
            r#"{"a":{"c":1.50,"d":"<x>"},"b":1}"#,
        );
        check(
            "[1e3, -0, 12345678901234567890]",
            "[1e3,-0,12345678901234567890]",
        );
        check(r#""\u2028\u0001é""#, r#""\u2028\u0001é""#);
    }

    /// The plain byte-at-a-time encoding the word-at-a-time writer must match.
    fn reference_string(s: &str, html: bool) -> Vec<u8> {
        let mut out = vec![b'"'];
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                '<' | '>' | '&' if html => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn strings_escape_at_every_offset() {
        let specials = [
            "\"", "\\", "\n", "\u{1}", "\u{2028}", "\u{2029}", "€", "é", "<", "&",
        ];
        for special in specials {
            for pad in 0..20 {
                let s = format!("{}{special}{}", "a".repeat(pad), "b".repeat(pad % 9));
                for html in [false, true] {
                    let mut out = Vec::new();
                    write_json_string(&mut out, &s, html);
                    assert_eq!(out, reference_string(&s, html), "{s:?} html={html}");
                    let back = Value::from_json_bytes(&out).unwrap();
                    assert_eq!(back, Value::String(s.clone().into()));
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn strings_match_the_reference(s in "\\PC*|[\\x00-\\x7f]*|[a-z\"\\\\<>&\u{2028}\u{2029}\u{1}€]*") {
            for html in [false, true] {
                let mut out = Vec::new();
                write_json_string(&mut out, &s, html);
                proptest::prop_assert_eq!(&out, &reference_string(&s, html));
                proptest::prop_assert_eq!(Value::from_json_bytes(&out).unwrap(), Value::String(s.clone().into()));
            }
        }
    }

    #[test]
    fn integers_at_the_edges() {
        check(
            "[9223372036854775807,-9223372036854775808]",
            "[9223372036854775807,-9223372036854775808]",
        );
        assert_eq!(
            Value::from_json_bytes(b"-9223372036854775808").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            Value::from_json_bytes(b"9223372036854775808").unwrap(),
            Value::Number("9223372036854775808".into())
        );
        assert_eq!(
            Value::from_json_bytes(b"-0").unwrap(),
            Value::Number("-0".into())
        );
        assert_eq!(Value::from_json_bytes(b"0").unwrap(), Value::Int(0));
    }

    #[test]
    fn strings_in_invalid_utf8_documents_are_repaired() {
        let v = Value::from_json_bytes(b"[\"ok\",\"bad\xff\"]").unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::from("ok"), Value::from("bad\u{FFFD}")])
        );
        assert_eq!(
            Value::from_json_bytes(b"\"abcdefghij\x01\"").unwrap_err(),
            // Go quotes the control character.
            "invalid character '\\x01' in string literal"
        );
    }
}
