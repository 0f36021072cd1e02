//! Parsing and formatting XML and MessagePack; JSON path queries and JSON Schema validation.

use std::collections::HashMap;

use crate::budget::MAX_DOCUMENT_DEPTH;
use crate::value::{Key, Map};

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::type_err;
use crate::methods::encoding::raw_bytes;
use crate::methods::str_arg;
use crate::value::{Num, Value, parse_number_text};

/// An element being built while reading XML: its attributes, text and children in order.
#[derive(Default)]
struct XmlNode {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<(String, Value)>,
}

fn xml_scalar(s: String, cast: bool) -> Value {
    if cast {
        if let Some(n) = parse_number_text(s.trim()).filter(|_| !s.trim().is_empty()) {
            return Value::Float(n.as_f64());
        }
        match s.trim() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => return Value::Bool(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(s.into())
}

impl XmlNode {
    /// Folds the element into a value the way mxj does: attributes become `-name` keys,
    /// text becomes `#text` beside them, and repeated children become arrays.
    fn into_value(self, cast: bool) -> Value {
        let text = self.text.trim().to_owned();
        if self.attrs.is_empty() && self.children.is_empty() {
            return xml_scalar(text, cast);
        }
        // Gathered and grouped once: children arrive in any order.
        let attrs = self
            .attrs
            .into_iter()
            .map(|(k, v)| (Key::from(format!("-{k}")), xml_scalar(v, cast)));
        let children = self.children.into_iter().map(|(k, v)| (Key::from(k), v));
        let mut map = Map::from_entries_grouped(attrs.chain(children).collect());
        if !text.is_empty() {
            map.insert("#text", xml_scalar(text, cast));
        }
        Value::Object(map)
    }
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name.into_owned(),
    }
}

fn xml_to_value(src: &[u8], cast: bool) -> Result<Value, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(src);
    reader.config_mut().check_end_names = false;
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    let open = |e: &quick_xml::events::BytesStart<'_>| -> Result<XmlNode, String> {
        let mut node = XmlNode {
            name: local_name(e.name().as_ref()),
            ..XmlNode::default()
        };
        // quick-xml's own check for repeated names compares each attribute with all before
        // it; this one finds the same first repeat, and words it the same way.
        let mut attrs = e.html_attributes();
        attrs.with_checks(false);
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        for attr in attrs {
            let attr = attr.map_err(|e| e.to_string())?;
            let position = attr.key.as_ref().as_ptr() as usize - e.as_ptr() as usize;
            if let Some(first) = seen.insert(attr.key.into_inner(), position) {
                return Err(format!(
                    "position {position}: duplicated attribute, previous declaration at position {first}"
                ));
            }
            let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            let value = attr
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
            node.attrs.push((key, value));
        }
        Ok(node)
    };
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DOCUMENT_DEPTH {
                    return Err(format!(
                        "exceeded max depth of {MAX_DOCUMENT_DEPTH} nested elements"
                    ));
                }
                stack.push(open(&e)?);
            }
            Event::Empty(e) => {
                let node = open(&e)?;
                let name = node.name.clone();
                let value = node.into_value(cast);
                match stack.last_mut() {
                    Some(parent) => parent.children.push((name, value)),
                    None => root = root.or(Some((name, value))),
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err("unexpected end element".to_owned());
                };
                let name = node.name.clone();
                let value = node.into_value(cast);
                match stack.last_mut() {
                    Some(parent) => parent.children.push((name, value)),
                    None => root = root.or(Some((name, value))),
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    let s = t
                        .unescape()
                        .map(|s| s.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&t).into_owned());
                    node.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err("unexpected EOF".to_owned());
    }
    let mut map = Map::new();
    if let Some((name, value)) = root {
        map.insert(name, value);
    }
    Ok(Value::Object(map))
}

fn parse_xml(v: Value, args: &[Value]) -> Result<Value, String> {
    let cast = matches!(args.first(), Some(Value::Bool(true)));
    xml_to_value(&raw_bytes(&v)?, cast).map_err(|e| format!("failed to parse value as XML: {e}"))
}

fn xml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn xml_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_interp_string(),
    }
}

/// Writes `<name>` for `v`; `indent` is `None` for compact output.
fn write_xml_element(out: &mut String, name: &str, v: &Value, indent: Option<&str>, depth: usize) {
    if let Value::Array(items) = v {
        for (i, item) in items.iter().enumerate() {
            if i > 0 && indent.is_some() {
                out.push('\n');
            }
            write_xml_element(out, name, item, indent, depth);
        }
        return;
    }
    if let Some(ind) = indent {
        out.push_str(&ind.repeat(depth));
    }
    out.push('<');
    out.push_str(name);
    match v {
        Value::Object(map) => {
            for (k, attr) in map {
                if let Some(attr_name) = k.strip_prefix('-') {
                    out.push(' ');
                    out.push_str(attr_name);
                    out.push_str("=\"");
                    xml_escape(out, &xml_text(attr));
                    out.push('"');
                }
            }
            let children: Vec<(&crate::value::Key, &Value)> = map
                .iter()
                .filter(|(k, _)| !k.starts_with('-') && k.as_str() != "#text")
                .collect();
            let text = map.get("#text").map(xml_text);
            if children.is_empty() {
                match text {
                    Some(t) => {
                        out.push('>');
                        xml_escape(out, &t);
                        out.push_str("</");
                        out.push_str(name);
                        out.push('>');
                    }
                    None => out.push_str("/>"),
                }
                return;
            }
            out.push('>');
            if let Some(t) = text {
                xml_escape(out, &t);
            }
            for (k, child) in children {
                if indent.is_some() {
                    out.push('\n');
                }
                write_xml_element(out, k, child, indent, depth + 1);
            }
            if let Some(ind) = indent {
                out.push('\n');
                out.push_str(&ind.repeat(depth));
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Null => out.push_str("/>"),
        other => {
            out.push('>');
            xml_escape(out, &xml_text(other));
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn format_xml(v: Value, args: &[Value]) -> Result<Value, String> {
    let Value::Object(map) = &v else {
        return Err(type_err("object", &v));
    };
    let indent_str = match args.first() {
        Some(Value::Null) | None => "    ".to_owned(),
        Some(other) => str_arg(other, "indent")?,
    };
    let indent = if matches!(args.get(1), Some(Value::Bool(true))) {
        None
    } else {
        Some(indent_str.as_str())
    };
    if let Some(indent) = indent {
        crate::budget::check_indentation(
            &v,
            indent.len(),
            crate::budget::Layout::Xml,
            "format_xml",
        )?;
    }
    let mut out = String::new();
    // Connect honours root_tag only when indenting: the compact form ignores it.
    let root_tag = match (indent, args.get(2)) {
        (Some(_), Some(Value::String(tag))) => Some(tag.as_str()),
        _ => None,
    };
    if let Some(tag) = root_tag {
        write_xml_element(&mut out, tag, &v, indent, 0);
    } else if map.len() == 1 {
        let (name, value) = map.iter().next().expect("the map has one entry");
        write_xml_element(&mut out, name, value, indent, 0);
    } else {
        write_xml_element(&mut out, "doc", &v, indent, 0);
    }
    Ok(Value::Bytes(out.into_bytes()))
}

fn msgpack_to_value(v: rmpv::Value) -> Value {
    match v {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => match i.as_i64() {
            Some(n) => Value::Int(n),
            None => Value::Float(i.as_f64().unwrap_or_default()),
        },
        rmpv::Value::F32(f) => Value::Float(f64::from(f)),
        rmpv::Value::F64(f) => Value::Float(f),
        rmpv::Value::String(s) => match s.into_str() {
            Some(s) => Value::String(s.into()),
            None => Value::Null,
        },
        rmpv::Value::Binary(b) => Value::Bytes(b),
        rmpv::Value::Array(items) => {
            Value::Array(items.into_iter().map(msgpack_to_value).collect())
        }
        rmpv::Value::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        rmpv::Value::String(s) => s.into_str().unwrap_or_default(),
                        other => msgpack_to_value(other).to_interp_string(),
                    };
                    (key, msgpack_to_value(v))
                })
                .collect(),
        ),
        rmpv::Value::Ext(_, data) => Value::Bytes(data),
    }
}

fn value_to_msgpack(v: &Value) -> rmpv::Value {
    match v {
        Value::Null => rmpv::Value::Nil,
        Value::Bool(b) => rmpv::Value::Boolean(*b),
        Value::Int(i) => rmpv::Value::from(*i),
        Value::Float(f) => rmpv::Value::F64(*f),
        Value::Number(n) => match parse_number_text(n) {
            Some(Num::I(i)) => rmpv::Value::from(i),
            Some(Num::F(f)) => rmpv::Value::F64(f),
            None => rmpv::Value::from(n.as_str()),
        },
        Value::String(s) => rmpv::Value::from(s.as_str()),
        Value::Bytes(b) => rmpv::Value::Binary(b.clone()),
        Value::Timestamp(_) => rmpv::Value::from(v.to_interp_string()),
        Value::Array(items) => rmpv::Value::Array(items.iter().map(value_to_msgpack).collect()),
        Value::Object(map) => rmpv::Value::Map(
            map.iter()
                .map(|(k, v)| (rmpv::Value::from(k.as_str()), value_to_msgpack(v)))
                .collect(),
        ),
    }
}

fn parse_msgpack(v: Value, _: &[Value]) -> Result<Value, String> {
    let bytes = raw_bytes(&v)?;
    let mut rest = bytes.as_slice();
    let decoded = rmpv::decode::read_value(&mut rest)
        .map_err(|e| format!("failed to parse value as MessagePack: {e}"))?;
    Ok(msgpack_to_value(decoded))
}

fn format_msgpack(v: Value, _: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &value_to_msgpack(&v)).map_err(|e| e.to_string())?;
    Ok(Value::Bytes(out))
}

fn to_serde(v: &Value) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&v.to_json_bytes()).map_err(|e| e.to_string())
}

fn from_serde(v: &serde_json::Value) -> Result<Value, String> {
    let bytes = serde_json::to_vec(v).map_err(|e| e.to_string())?;
    Value::from_json_bytes(&bytes)
}

/// Whether a path can only ever select one node, in which case the node itself is returned.
fn is_singular_path(path: &str) -> bool {
    !(path.contains("..")
        || path.contains('*')
        || path.contains('?')
        || path.contains(':')
        || path.contains(','))
}

fn json_path(v: Value, args: &[Value]) -> Result<Value, String> {
    let expr = str_arg(&args[0], "expression")?;
    let path = serde_json_path::JsonPath::parse(&expr)
        .map_err(|e| format!("failed to parse JSON path expression: {e}"))?;
    let doc = to_serde(&v)?;
    let nodes = path.query(&doc).all();
    if is_singular_path(&expr) {
        return match nodes.first() {
            Some(node) => from_serde(node),
            None => Ok(Value::Null),
        };
    }
    nodes
        .into_iter()
        .map(from_serde)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn json_schema(v: Value, args: &[Value]) -> Result<Value, String> {
    let schema_text = str_arg(&args[0], "schema")?;
    let schema = crate::json_schema::JsonSchema::compile(&schema_text)
        .map_err(|e| format!("failed to parse json schema definition: {e}"))?;
    schema.validate(&v)?;
    Ok(v)
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Parsing";
    env.method(
        "parse_xml",
        cat,
        "Parses XML into an object: attributes become `-name` keys, text beside them `#text`, repeated elements arrays.",
        vec![opt("cast", Kind::Bool, Value::Bool(false))],
        vec![
            ex(
                "root.doc = this.doc.parse_xml()",
                &[(
                    r#"{"doc":"<root><title>This is a title</title><content>This is some content</content></root>"}"#,
                    r#"{"doc":{"root":{"content":"This is some content","title":"This is a title"}}}"#,
                )],
            ),
            ex(
                "root.doc = this.doc.parse_xml(cast: false)",
                &[(
                    r#"{"doc":"<root><title>This is a title</title><number id=99>123</number><bool>True</bool></root>"}"#,
                    r##"{"doc":{"root":{"bool":"True","number":{"#text":"123","-id":"99"},"title":"This is a title"}}}"##,
                )],
            ),
            ex(
                "root.doc = this.doc.parse_xml(cast: true)",
                &[(
                    r#"{"doc":"<root><title>This is a title</title><number id=99>123</number><bool>True</bool></root>"}"#,
                    r##"{"doc":{"root":{"bool":true,"number":{"#text":123,"-id":99},"title":"This is a title"}}}"##,
                )],
            ),
        ],
        MethodImpl::Simple(parse_xml),
    );
    env.method(
        "format_xml",
        cat,
        "Serialises an object as XML, indented with four spaces unless told otherwise.",
        vec![
            opt("indent", Kind::Str, Value::Null),
            opt("no_indent", Kind::Bool, Value::Bool(false)),
            opt("root_tag", Kind::Str, Value::Null),
        ],
        vec![
            ex(
                "root = this.format_xml()",
                &[(
                    r#"{"foo":{"bar":{"baz":"foo bar baz"}}}"#,
                    "<foo>\n    <bar>\n        <baz>foo bar baz</baz>\n    </bar>\n</foo>",
                )],
            ),
            ex(
                r#"root = this.format_xml(root_tag: "event")"#,
                &[(r#"{"a":"x"}"#, "<event>\n    <a>x</a>\n</event>")],
            ),
            ex(
                r#"root = this.format_xml(no_indent: true, root_tag: "event")"#,
                &[(r#"{"a":"x"}"#, "<a>x</a>")],
            ),
            ex(
                r#"root = this.format_xml("  ")"#,
                &[(
                    r#"{"foo":{"bar":{"baz":"foo bar baz"}}}"#,
                    "<foo>\n  <bar>\n    <baz>foo bar baz</baz>\n  </bar>\n</foo>",
                )],
            ),
            ex(
                r#"root.doc = this.format_xml("").string()"#,
                &[(
                    r#"{"foo":{"bar":{"baz":"foo bar baz"}}}"#,
                    r#"{"doc":"<foo>\n<bar>\n<baz>foo bar baz</baz>\n</bar>\n</foo>"}"#,
                )],
            ),
            ex(
                "root = this.format_xml(no_indent: true)",
                &[(
                    r#"{"foo":{"bar":{"baz":"foo bar baz"}}}"#,
                    "<foo><bar><baz>foo bar baz</baz></bar></foo>",
                )],
            ),
        ],
        MethodImpl::Simple(format_xml),
    );
    env.method(
        "parse_msgpack",
        cat,
        "Parses MessagePack bytes into a value.",
        vec![],
        vec![ex(
            r#"root = content().decode("hex").parse_msgpack()"#,
            &[("81a3666f6fa3626172", r#"{"foo":"bar"}"#)],
        )],
        MethodImpl::Simple(parse_msgpack),
    );
    env.method(
        "format_msgpack",
        cat,
        "Serialises a value as MessagePack bytes.",
        vec![],
        vec![ex(
            r#"root = this.format_msgpack().encode("hex")"#,
            &[(r#"{"foo":"bar"}"#, "81a3666f6fa3626172")],
        )],
        MethodImpl::Simple(format_msgpack),
    );
    env.method(
        "json_schema",
        "Object & Array Manipulation",
        "Checks a value against a JSON Schema; returns it unchanged when it conforms and fails otherwise.",
        vec![p("schema", Kind::Str)],
        vec![ex(
            "root = this.json_schema(\"\"\"{\n  \"type\":\"object\",\n  \"properties\":{\n    \"foo\":{\n      \"type\":\"string\"\n    }\n  }\n}\"\"\")",
            &[
                (r#"{"foo":"bar"}"#, r#"{"foo":"bar"}"#),
                (r#"{"foo":5}"#, r#"Error("failed assignment (line 1): field `this`: foo invalid type. expected: string, given: integer")"#),
            ],
        )],
        MethodImpl::Simple(json_schema),
    );
    env.method(
        "json_path",
        "Object & Array Manipulation",
        "Selects values with a JSONPath expression.",
        vec![p("expression", Kind::Str)],
        vec![
            ex(
                r#"root.all_names = this.json_path("$..name")"#,
                &[
                    (
                        r#"{"name":"alice","foo":{"name":"bob"}}"#,
                        r#"{"all_names":["alice","bob"]}"#,
                    ),
                    (
                        r#"{"thing":["this","bar",{"name":"alice"}]}"#,
                        r#"{"all_names":["alice"]}"#,
                    ),
                ],
            ),
            ex(
                r#"root.text_objects = this.json_path("$.body[?(@.type=='text')]")"#,
                &[(
                    r#"{"body":[{"type":"image","id":"foo"},{"type":"text","id":"bar"}]}"#,
                    r#"{"text_objects":[{"id":"bar","type":"text"}]}"#,
                )],
            ),
        ],
        MethodImpl::Simple(json_path),
    );
}

#[cfg(test)]
mod tests {
    use crate::testing::map_one as check;

    fn parse(xml: &str) -> Result<String, String> {
        check("root = content().parse_xml()", xml)
    }

    #[test]
    fn nesting_past_the_document_depth_fails() {
        let depth = super::MAX_DOCUMENT_DEPTH + 1;
        let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert_eq!(
            parse(&xml),
            Err("failed assignment (line 1): failed to parse value as XML: exceeded max depth of 10000 nested elements".to_owned())
        );
        assert_eq!(
            parse("<a><b><c>1</c></b></a>").as_deref(),
            Ok(r#"{"a":{"b":{"c":"1"}}}"#)
        );
    }

    #[test]
    fn repeated_children_gather_into_arrays_in_order() {
        assert_eq!(
            parse(r#"<r id="1"><z>1</z><b/><z>2</z><a>x</a><z>3</z>t</r>"#).as_deref(),
            Ok(r##"{"r":{"#text":"t","-id":"1","a":"x","b":"","z":["1","2","3"]}}"##)
        );
    }

    #[test]
    fn repeated_attributes_fail_as_quick_xml_words_it() {
        assert_eq!(
            parse(r#"<r a="1" b="2" a="3"/>"#),
            Err("failed assignment (line 1): failed to parse value as XML: position 14: duplicated attribute, previous declaration at position 2".to_owned())
        );
    }
}
