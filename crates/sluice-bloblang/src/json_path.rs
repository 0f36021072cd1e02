//! Reading one path of a JSON document without building the rest of it.
//!
//! A mapping that reads the message once (`root.city = this.location`) would otherwise parse
//! the whole body into a tree, copy one leaf out of it and drop the tree. Here the document is
//! scanned instead: every byte is still checked, but only the value at the path is built, so
//! the result is the one `get_path` gives on the parsed document. Whenever the scan is not
//! sure of that (invalid text, an error to report, an array on the way) it says so, and the
//! caller parses the document as usual, which also produces the usual errors.

use crate::eval::get_path;
use crate::value::{JsonParser, Value, string_run};

/// Nesting deeper than this is left to the full parser, which has the same limit.
const MAX_DEPTH: usize = crate::budget::MAX_DOCUMENT_DEPTH;

/// The value at `path` of the JSON document `bytes`, as `get_path` would find it in the parsed
/// document: `Some(None)` when the path is missing, `None` when the caller must parse.
pub(crate) fn read_path(bytes: &[u8], path: &[String]) -> Option<Option<Value>> {
    let mut p = JsonParser::new(bytes);
    // Strings of documents that are not valid UTF-8 are repaired one by one; leave those to
    // the parser.
    p.text?;
    p.skip_ws();
    let found = path_value(&mut p, path, 0)?;
    p.skip_ws();
    (p.pos == bytes.len()).then_some(found)
}

fn path_value(p: &mut JsonParser<'_>, path: &[String], depth: usize) -> Option<Option<Value>> {
    let Some((first, rest)) = path.split_first() else {
        return p.value(depth).ok().map(Some);
    };
    if depth > MAX_DEPTH {
        return None;
    }
    match p.src.get(p.pos)? {
        b'{' => {
            p.pos += 1;
            let mut found = None;
            p.skip_ws();
            if p.src.get(p.pos) == Some(&b'}') {
                p.pos += 1;
                return Some(None);
            }
            loop {
                p.skip_ws();
                if p.src.get(p.pos) != Some(&b'"') {
                    return None;
                }
                let hit = key_is(p, first)?;
                p.skip_ws();
                if p.src.get(p.pos) != Some(&b':') {
                    return None;
                }
                p.pos += 1;
                p.skip_ws();
                if hit {
                    // A later duplicate wins, as it does when the object is parsed.
                    found = path_value(p, rest, depth + 1)?;
                } else {
                    skip_value(p, depth + 1)?;
                }
                p.skip_ws();
                match p.src.get(p.pos)? {
                    b',' => p.pos += 1,
                    b'}' => {
                        p.pos += 1;
                        return Some(found);
                    }
                    _ => return None,
                }
            }
        }
        // Keys index arrays or map over their elements: build the array and let the general
        // rule apply.
        b'[' => {
            let arr = p.value(depth).ok()?;
            Some(get_path(&arr, path))
        }
        // A path into a scalar finds nothing.
        _ => {
            skip_value(p, depth)?;
            Some(None)
        }
    }
}

/// Moves past an object key, telling whether it is `want`. Keys without escapes are compared
/// in place.
fn key_is(p: &mut JsonParser<'_>, want: &str) -> Option<bool> {
    let start = p.pos + 1;
    let run = string_run(&p.src[start..]);
    if p.src.get(start + run) == Some(&b'"') {
        p.pos = start + run + 1;
        return Some(&p.src[start..start + run] == want.as_bytes());
    }
    p.string().ok().map(|k| k == want)
}

/// Moves past one value, checking it as strictly as the parser does but building nothing.
fn skip_value(p: &mut JsonParser<'_>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match p.src.get(p.pos)? {
        b'{' => {
            p.pos += 1;
            p.skip_ws();
            if p.src.get(p.pos) == Some(&b'}') {
                p.pos += 1;
                return Some(());
            }
            loop {
                p.skip_ws();
                if p.src.get(p.pos) != Some(&b'"') {
                    return None;
                }
                skip_string(p)?;
                p.skip_ws();
                if p.src.get(p.pos) != Some(&b':') {
                    return None;
                }
                p.pos += 1;
                p.skip_ws();
                skip_value(p, depth + 1)?;
                p.skip_ws();
                match p.src.get(p.pos)? {
                    b',' => p.pos += 1,
                    b'}' => {
                        p.pos += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            p.pos += 1;
            p.skip_ws();
            if p.src.get(p.pos) == Some(&b']') {
                p.pos += 1;
                return Some(());
            }
            loop {
                p.skip_ws();
                skip_value(p, depth + 1)?;
                p.skip_ws();
                match p.src.get(p.pos)? {
                    b',' => p.pos += 1,
                    b']' => {
                        p.pos += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }
        b'"' => skip_string(p),
        b't' => skip_literal(p, b"true"),
        b'f' => skip_literal(p, b"false"),
        b'n' => skip_literal(p, b"null"),
        b'-' | b'0'..=b'9' => p.number_span().ok().map(|_| ()),
        _ => None,
    }
}

fn skip_literal(p: &mut JsonParser<'_>, word: &[u8]) -> Option<()> {
    let end = p.pos + word.len();
    (p.src.get(p.pos..end)? == word).then(|| p.pos = end)
}

/// Moves past a string; escapes are checked as the parser checks them.
fn skip_string(p: &mut JsonParser<'_>) -> Option<()> {
    p.pos += 1;
    loop {
        p.pos += string_run(&p.src[p.pos..]);
        match p.src.get(p.pos)? {
            b'"' => {
                p.pos += 1;
                return Some(());
            }
            b'\\' => {
                p.pos += 1;
                match p.src.get(p.pos)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => p.pos += 1,
                    b'u' => {
                        p.pos += 1;
                        p.hex4().ok()?;
                    }
                    _ => return None,
                }
            }
            // A control character.
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::split_dot_path;

    /// What the interpreter gets by parsing the whole document and reading the path.
    fn parsed(doc: &str, path: &str) -> Result<Option<Value>, String> {
        Value::from_json_bytes(doc.as_bytes()).map(|v| get_path(&v, &split_dot_path(path)))
    }

    fn same(doc: &str, path: &str) {
        let direct = read_path(doc.as_bytes(), &split_dot_path(path));
        match parsed(doc, path) {
            Ok(expected) => {
                assert_eq!(direct, Some(expected), "{doc} at {path:?}");
            }
            Err(_) => assert_eq!(direct, None, "{doc} at {path:?} must be left to the parser"),
        }
    }

    #[test]
    fn finds_what_the_parsed_document_holds() {
        let doc = r#" {"a": {"b": [1, {"c": "x"}], "n": 1.50, "s": "t\u00e9\n", "e": {}},
            "k\"q": true, "z": null, "d": 1, "d": {"e": 2}} "#;
        for path in [
            "", "a", "a.b", "a.b.1.c", "a.b.c", "a.b.5", "a.n", "a.s", "a.e", "a.e.x", "k\"q", "z",
            "z.y", "d", "d.e", "missing", "a.s.x",
        ] {
            same(doc, path);
        }
        same("[1,2,3]", "1");
        same("\"str\"", "a");
        same("12", "");
    }

    #[test]
    fn leaves_invalid_documents_to_the_parser() {
        for doc in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"b":tru,"a":1}"#,
            r#"{"b":"\x","a":1}"#,
            "{\"b\":\"\u{1}\",\"a\":1}",
            r#"{"b":01,"a":1}"#,
            r#"{"b":[1,],"a":1}"#,
            r#"{"a":1,"b":1.}"#,
            r#"{"a":1 "b":2}"#,
        ] {
            same(doc, "a");
        }
        assert_eq!(read_path(b"{\"a\":\"\xff\"}", &["a".to_owned()]), None);
    }

    /// JSON text with small keys (so that duplicates and hits are common) and every kind of
    /// value, escapes included.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            "-?(0|[1-9][0-9]{0,2})(\\.[0-9])?(e[0-9])?",
            "\"([a-c]|\\\\[n\"]|\\\\u00e9){0,3}\"",
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                proptest::collection::vec(("[a-c]|\\\\u0061|1", inner), 0..4).prop_map(|kv| {
                    let entries: Vec<String> =
                        kv.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                    format!("{{{}}}", entries.join(","))
                }),
            ]
        })
    }

    /// A mapping that reads one path (scanned) answers as one that also reads another (parsed),
    /// errors included.
    #[test]
    fn mappings_reading_one_path_answer_as_before() {
        use crate::{Mapping, MessageRef as _, Root, SimpleMessage};
        let run = |src: &str, body: &[u8]| {
            let m = Mapping::parse(src).expect("mapping parses");
            let msg = [SimpleMessage::new(body)];
            let out = m.exec(&msg[..], 0).map(|o| match o.root {
                Root::Value(v) => v.to_message_bytes(),
                _ => b"<none>".to_vec(),
            });
            (out.map_err(|e| e.to_string()), msg[0].is_parsed())
        };
        for body in [
            &br#"{"location":"Berlin","n":1.50}"#[..],
            br#"{"n":1.50}"#,
            br#"{"location":{"a":[1,2]}}"#,
            br#"{"location":"Berlin""#,
            b"",
            b"not json",
            b"{\"location\":\"\xffx\"}",
        ] {
            for (one, two) in [
                (
                    r#"root = {"city": json("location"), "t": 22}"#,
                    r#"root = {"city": json("location"), "t": 22, "x": json("n")}.without("x")"#,
                ),
                (
                    "root.city = this.location",
                    "root.city = this.location\nroot.x = this.n\nroot = root.without(\"x\")",
                ),
            ] {
                let (scanned, parsed_one) = run(one, body);
                let (parsed, parsed_two) = run(two, body);
                assert_eq!(scanned, parsed, "{one} on {body:?}");
                // Only the mapping with two reads parsed the message, unless the scan had to
                // leave it to the parser.
                let scannable = scanned.is_ok() && std::str::from_utf8(body).is_ok();
                assert!(!(parsed_one && scannable), "{one} on {body:?}");
                assert!(parsed_two || parsed.is_err());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_parsing_valid_documents(doc in json_text(), path in "([a-c1](\\.[a-c1]){0,2})?") {
            let direct = read_path(doc.as_bytes(), &split_dot_path(&path));
            let expected = parsed(&doc, &path).expect("generated documents are valid");
            proptest::prop_assert_eq!(direct, Some(expected));
        }

        #[test]
        fn agrees_with_parsing(doc in "[\\[\\]{}\",:0-9a-c .\\\\-]{0,24}", path in "[a-c0-9]{0,2}(\\.[a-c0-9])?") {
            let direct = read_path(doc.as_bytes(), &split_dot_path(&path));
            match parsed(&doc, &path) {
                Ok(expected) => proptest::prop_assert_eq!(direct, Some(expected)),
                Err(_) => proptest::prop_assert_eq!(direct, None),
            }
        }
    }
}
