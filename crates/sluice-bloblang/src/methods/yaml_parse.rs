//! Decoding YAML into values as Go's yaml.v3 decodes into `interface{}`, for `parse_yaml`.
//!
//! yaml_serde reads the document and resolves plain scalars by the YAML 1.2 core schema.
//! yaml.v3 resolves a few more plain scalars to numbers, the YAML 1.1 way: octals written
//! `017`, prefixes in capitals (`0X1F`), digits grouped by underscores (`1_000`), `08` as a
//! float, and integers past 64 bits as floats. Those arrive here as strings; a string that
//! was a plain, untagged scalar in the source is resolved again by yaml.v3's rules. Quoted,
//! block and tagged scalars stay strings, and so do timestamps, which yaml.v3 also hands to
//! `interface{}` as text.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

use crate::value::{Map, Value};

/// Parses the first document of `src`; null when there is none. The error is the text
/// Go's decoder gives after its `yaml: ` prefix.
pub(crate) fn parse(src: &str) -> Result<Value, String> {
    // Go reads the first document of a stream and ignores the rest.
    let Some(first) = yaml_serde::Deserializer::from_str(src).next() else {
        return Ok(Value::Null);
    };
    let failed = RefCell::new(None);
    let budget = Budget::for_source(src);
    let value = Node {
        src,
        failed: &failed,
        budget: &budget,
    }
    .deserialize(first)
    // The budget's error stands alone: yaml_serde would name the path and the anchor's line.
    .map_err(|e| budget.exceeded().unwrap_or_else(|| e.to_string()))?;
    // Go reports a bad merge only once the whole document has been read, without a place.
    match failed.into_inner() {
        Some(message) => Err(message),
        None => Ok(value),
    }
}

/// Builds one node; `src` is the whole document, which borrowed scalars point into.
#[derive(Clone, Copy)]
struct Node<'s> {
    src: &'s str,
    /// The first decoding failure, reported once the document has parsed, as Go's
    /// decoder reports its own.
    failed: &'s RefCell<Option<String>>,
    budget: &'s Budget,
}

impl Node<'_> {
    fn fail(self, message: String) {
        self.failed.borrow_mut().get_or_insert(message);
    }

    /// Counts `bytes` more of the document's values, failing once they pass the budget.
    fn spend<E: de::Error>(self, bytes: usize) -> Result<(), E> {
        self.budget.spend(bytes).map_err(E::custom)
    }
}

/// The bytes of values one document may build. An alias stands for a copy of the node it
/// names, so aliases to a sequence of aliases multiply: a few kilobytes can describe
/// gigabytes. Without aliases a document builds at most one value per byte of its source,
/// and strings at most half as long again as it (`\L` is three bytes of UTF-8): the
/// budget allows that, or the value limit, whichever is larger, so that only expansion is
/// refused.
struct Budget {
    spent: Cell<usize>,
    allowance: usize,
}

impl Budget {
    fn for_source(src: &str) -> Budget {
        let per_source_byte = std::mem::size_of::<Value>() + 2;
        Budget {
            spent: Cell::new(0),
            allowance: crate::budget::max_value_bytes()
                .max(src.len().saturating_mul(per_source_byte)),
        }
    }

    fn spend(&self, bytes: usize) -> Result<(), String> {
        let spent = self.spent.get().saturating_add(bytes);
        self.spent.set(spent);
        self.exceeded().map_or(Ok(()), Err)
    }

    /// The error of a document that spent more than its budget.
    fn exceeded(&self) -> Option<String> {
        (self.spent.get() > self.allowance).then(|| {
            format!(
                "aliases expand the document to more than {} bytes of values, more than one value may hold",
                self.allowance
            )
        })
    }
}

/// What each element of a sequence or entry of a mapping costs the budget, beyond the
/// text a string holds.
const VALUE_SLOT: usize = std::mem::size_of::<Value>();

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    // An empty document.
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(uint(u))
    }

    // Past 64 bits Go's integer parsers fail and the digits are read as a float.
    fn visit_i128<E>(self, i: i128) -> Result<Value, E> {
        Ok(Value::Float(i as f64))
    }

    fn visit_u128<E>(self, u: u128) -> Result<Value, E> {
        Ok(Value::Float(u as f64))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Value, E> {
        self.spend(s.len())?;
        if is_plain_untagged(self.src, s)
            && let Some(v) = resolve_plain(s)
        {
            return Ok(v);
        }
        Ok(Value::String(s.to_owned().into()))
    }

    // Scalars that are not a verbatim slice of the source: escapes, folding, block styles.
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.spend(s.len())?;
        Ok(Value::String(s.to_owned().into()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.spend(s.len())?;
        Ok(Value::String(s.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            self.spend(VALUE_SLOT)?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // Gathered and built once: keys arrive in any order. A set of the keys finds
        // repeats as they arrive, so that the first failure reported is still the first.
        let mut entries: Vec<(crate::value::Key, Value)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut merges = Vec::new();
        while let Some(key) = access.next_key_seed(Key(self))? {
            let value = access.next_value_seed(self)?;
            self.spend(VALUE_SLOT)?;
            match key {
                MapKey::Merge => merges.push(value),
                MapKey::Text(k) => {
                    // FIXME: Go names the lines of both keys (`mapping key "a" already
                    // defined at line 1`); the places of keys are not known here, so the
                    // message stays the one this method gave before.
                    if !seen.insert(k.clone()) {
                        self.fail(format!("duplicate entry with key {k:?}"));
                    }
                    entries.push((k.into(), value));
                }
            }
        }
        // Keys written in the mapping win over merged ones, earlier merged mappings over
        // later ones, wherever the merge key stands.
        // Of repeated keys the last entry wins: the merged ones go first, the latest merged
        // mapping first of all.
        let mut merged = Vec::new();
        for merge in merges {
            let maps = match merge {
                Value::Object(m) => vec![Value::Object(m)],
                Value::Array(items) => items,
                _ => vec![Value::Null],
            };
            for map in maps {
                match map {
                    Value::Object(m) => merged.push(m),
                    _ => self.fail(MERGE_WANTS_MAPS.to_owned()),
                }
            }
        }
        if !merged.is_empty() {
            let own = std::mem::take(&mut entries);
            entries.extend(merged.into_iter().rev().flatten());
            entries.extend(own);
        }
        Ok(Value::Object(Map::from_entries(entries)))
    }

    // A node with a tag yaml_serde does not know: the tag is dropped, the content kept.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (_tag, content) = data.variant::<String>()?;
        de::VariantAccess::newtype_variant_seed(content, self)
    }
}

const MERGE_WANTS_MAPS: &str = "map merge requires map or sequence of maps as the value";

/// A mapping key: the merge key, or the text the key's value stands for.
enum MapKey {
    Merge,
    Text(String),
}

/// Builds a mapping key, with the node's context.
#[derive(Clone, Copy)]
struct Key<'s>(Node<'s>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = MapKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<MapKey, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = MapKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML mapping key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<MapKey, E> {
        if !is_plain_untagged(self.0.src, s) {
            return Ok(MapKey::Text(s.to_owned()));
        }
        if s == "<<" {
            return Ok(MapKey::Merge);
        }
        Ok(MapKey::Text(match resolve_plain(s) {
            Some(v) => key_text(v),
            None => s.to_owned(),
        }))
    }

    fn visit_str<E>(self, s: &str) -> Result<MapKey, E> {
        Ok(MapKey::Text(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<MapKey, E> {
        Ok(MapKey::Text(s))
    }

    fn visit_unit<E>(self) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Null)))
    }

    fn visit_bool<E>(self, b: bool) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Bool(b))))
    }

    fn visit_i64<E>(self, i: i64) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Int(i))))
    }

    fn visit_u64<E>(self, u: u64) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(uint(u))))
    }

    fn visit_i128<E>(self, i: i128) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Float(i as f64))))
    }

    fn visit_u128<E>(self, u: u128) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Float(u as f64))))
    }

    fn visit_f64<E>(self, f: f64) -> Result<MapKey, E> {
        Ok(MapKey::Text(key_text(Value::Float(f))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MapKey, A::Error> {
        self.0.visit_seq(seq).map(|v| MapKey::Text(key_text(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<MapKey, A::Error> {
        self.0.visit_map(access).map(|v| MapKey::Text(key_text(v)))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<MapKey, A::Error> {
        self.0.visit_enum(data).map(|v| MapKey::Text(key_text(v)))
    }
}

/// Keys that are not strings are written as their text.
fn key_text(v: Value) -> String {
    match v {
        Value::String(s) => s.into(),
        other => other.to_interp_string(),
    }
}

/// An unsigned integer as Go keeps it: past i64 the digits stay exact.
fn uint(u: u64) -> Value {
    match i64::try_from(u) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Number(u.to_string().into()),
    }
}

/// Whether the borrowed scalar `s` was written plain and without a tag in `src`. The
/// scalar's text is a slice of the source: quotes would stand right around it, and a tag
/// (perhaps beside an anchor) is the word before it.
fn is_plain_untagged(src: &str, s: &str) -> bool {
    let Some(start) = (s.as_ptr() as usize).checked_sub(src.as_ptr() as usize) else {
        return false;
    };
    let (Some(before), Some(after)) = (src.get(..start), src.get(start + s.len()..)) else {
        return false;
    };
    if let (Some(open @ ('\'' | '"')), Some(close)) = (before.chars().last(), after.chars().next())
        && open == close
    {
        return false;
    }
    let mut rest = before;
    // A node has at most a tag and an anchor before its content.
    for _ in 0..2 {
        let trimmed = rest.trim_end();
        if trimmed.len() == rest.len() {
            // The scalar follows an indicator or the start directly: no property word.
            return true;
        }
        let word_start = trimmed.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = trimmed
            .get(word_start..)
            .unwrap_or("")
            .trim_start_matches(['[', '{', ',']);
        if word.starts_with('!') {
            return false;
        }
        if !word.starts_with('&') {
            return true;
        }
        rest = trimmed.get(..word_start).unwrap_or("");
    }
    true
}

/// yaml.v3's resolution of a plain scalar that starts like a number, for the texts the
/// YAML 1.2 schema left as strings; `None` keeps the string.
fn resolve_plain(s: &str) -> Option<Value> {
    if !matches!(s.as_bytes().first(), Some(b'0'..=b'9' | b'+' | b'-')) {
        return None;
    }
    // Underscores group digits anywhere in a number.
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Some(Value::Int(i));
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Some(uint(u));
    }
    if yaml_style_float(plain.as_bytes()) {
        // Go refuses a float out of range, and the text stays a string.
        return plain
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float);
    }
    None
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`, `0o` and `0b` prefixes in either case, a
/// leading `0` for octal, no sign.
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (radix, digits) = match b {
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'x') => (16, &b[2..]),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'o') => (8, &b[2..]),
        [b'0', p, _, ..] if p.eq_ignore_ascii_case(&b'b') => (2, &b[2..]),
        [b'0', rest @ ..] => (8, rest),
        [_, ..] => (10, b),
        [] => return None,
    };
    if digits.is_empty() {
        return Some(0);
    }
    // from_str_radix would take a sign; Go's digits have none.
    if !digits.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, magnitude) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let u = go_parse_uint(magnitude)?;
    if negative {
        0i64.checked_sub_unsigned(u)
    } else {
        i64::try_from(u).ok()
    }
}

/// yaml.v3's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn yaml_style_float(s: &[u8]) -> bool {
    let digits_from = |mut i: usize| {
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    let int_end = digits_from(i);
    if int_end == i {
        if s.get(i) != Some(&b'.') {
            return false;
        }
        let frac_end = digits_from(i + 1);
        if frac_end == i + 1 {
            return false;
        }
        i = frac_end;
    } else {
        i = int_end;
        if s.get(i) == Some(&b'.') {
            i = digits_from(i + 1);
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_end = digits_from(i);
        if exp_end == i {
            return false;
        }
        i = exp_end;
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> String {
        match parse(src) {
            Ok(v) => String::from_utf8(v.to_json_bytes()).expect("JSON is UTF-8"),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn numbers_resolve_as_yaml_v3_resolves_them() {
        // Each line: the plain scalar, then what yaml.v3 gives `interface{}` for it.
        for (scalar, want) in [
            ("017", "15"),
            ("-017", "-15"),
            ("0o17", "15"),
            ("0O17", "15"),
            ("0x1F", "31"),
            ("0X1F", "31"),
            ("+0x1F", "31"),
            ("0b101", "5"),
            ("0B101", "5"),
            ("1_000", "1000"),
            ("0x_1F", "31"),
            ("1_000.5", "1000.5"),
            ("08", "8"),
            ("+1", "1"),
            ("-0", "0"),
            ("1e3", "1000"),
            ("5.", "5"),
            (".5", "0.5"),
            ("0x8000000000000000", "9223372036854775808"),
            ("12345678901234567890", "12345678901234567890"),
            ("-9223372036854775809", "-9223372036854776000"),
            ("~", "null"),
            ("Null", "null"),
            ("True", "true"),
        ] {
            assert_eq!(
                check(&format!("v: {scalar}")),
                format!("{{\"v\":{want}}}"),
                "{scalar}"
            );
        }
    }

    #[test]
    fn other_scalars_stay_strings() {
        for scalar in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "0x",
            "0o",
            "1e",
            "1e400",
            "0x1G",
            "1:20",
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10",
            "tRUE",
            "inf",
            "nan",
            "_1",
            "1.2.3",
            "--1",
        ] {
            assert_eq!(
                check(&format!("v: {scalar}")),
                format!("{{\"v\":{scalar:?}}}"),
                "{scalar}"
            );
        }
    }

    #[test]
    fn quoted_tagged_and_block_scalars_are_not_resolved() {
        assert_eq!(
            check(
                "a: '017'\nb: \"017\"\nc: !!str 017\nd: &x 017\ne: *x\nf: !!str &y 1_0\ng: |\n  017\nh: [017, '017', !!str 017]\n'017': 1"
            ),
            r#"{"017":1,"a":"017","b":"017","c":"017","d":15,"e":15,"f":"1_0","g":"017\n","h":[15,"017","017"]}"#
        );
        // Keys resolve like values, then become text.
        assert_eq!(check("017: a\n0x1F: b"), r#"{"15":"a","31":"b"}"#);
    }

    #[test]
    fn merge_keys() {
        assert_eq!(
            check("a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  y: 0\n  <<: [*a, *b]\n'<<': q"),
            r#"{"<<":"q","a":{"x":1,"y":2},"b":{"y":3,"z":4},"c":{"x":1,"y":0,"z":4}}"#
        );
        assert_eq!(
            check("a:\n  <<: 1"),
            "error: map merge requires map or sequence of maps as the value"
        );
        // A syntax error anywhere wins over a bad merge, as Go parses before it decodes.
        assert_eq!(
            check("a:\n  <<: 1\nb: [unclosed"),
            "error: did not find expected ',' or ']' at line 4 column 1, while parsing a flow sequence at line 3 column 4"
        );
    }

    #[test]
    fn keys_out_of_order_and_merges_build_the_same_mapping() {
        assert_eq!(
            check("z: 1\nb: 2\n<<: [{b: 0, y: 3}, {y: 4, a: 5}]\na: 6"),
            r#"{"a":6,"b":2,"y":3,"z":1}"#
        );
        // The first repeat in the document is the one reported.
        assert_eq!(
            check("a: 1\na: 2\nb: {c: 1, c: 2}"),
            r#"error: duplicate entry with key "a""#
        );
    }

    #[test]
    fn repeated_keys_fail() {
        assert_eq!(
            check("a: 1\nb: 2\na: 3"),
            r#"error: duplicate entry with key "a""#
        );
        assert_eq!(
            check("1: x\n'1': y"),
            r#"error: duplicate entry with key "1""#
        );
    }

    #[test]
    fn aliases_that_expand_past_the_value_limit_fail() {
        // Fifteen hundred copies of fifteen hundred values, from 9 KB: yaml_serde stops
        // chains of aliases by the jumps they take, but this takes few.
        let src = format!(
            "a: &a [{}]\nb: [{}]",
            ["1"; 1500].join(","),
            ["*a"; 1500].join(",")
        );
        let got = check(&src);
        assert_eq!(
            got,
            "error: aliases expand the document to more than 67108864 bytes of values, more than one value may hold"
        );
        assert_eq!(
            check("a: &a [1, {b: x}]\nc: [*a, *a]"),
            r#"{"a":[1,{"b":"x"}],"c":[[1,{"b":"x"}],[1,{"b":"x"}]]}"#
        );
    }
}
