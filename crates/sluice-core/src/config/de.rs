//! A serde `Deserializer` over [`Node`] whose errors point into the file.
//!
//! Scalars are converted on demand, so `port: "8080"` and `port: 8080` both
//! fill an integer field while `deserialize_any` follows YAML 1.2's core
//! schema. Structs are strict: every key not among the struct's fields becomes
//! a `field X not recognised` lint, and all of them are gathered rather than
//! only the first.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lint::with_suggestion;
use super::yaml::{Inferred, infer_plain, parse_float, parse_int};
use super::{Lint, Mark, Node, NodeKind, ScalarStyle};

/// The newtype name through which [`Node`]'s `Deserialize` asks for the raw
/// subtree; only this module's deserializer answers it.
const RAW_NODE: &str = "$sluice::config::Node";

thread_local! {
    // Hands the subtree from `deserialize_newtype_struct` to `NodeVisitor`
    // without going through serde's data model, which would lose positions.
    static RAW_NODE_STASH: Cell<Option<Node>> = const { Cell::new(None) };
}

/// Deserialises `T` from `node`; the first problem is returned, positioned in
/// the file. See [`from_node_all`] to get every problem.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Lint> {
    from_node_all(node).map_err(|mut lints| lints.swap_remove(0))
}

/// Deserialises `T` from `node`, returning every unknown field found plus the
/// first type problem, in file order.
pub fn from_node_all<T: DeserializeOwned>(node: &Node) -> Result<T, Vec<Lint>> {
    let (result, mut lints) = from_node_parts(node);
    match result {
        Ok(value) if lints.is_empty() => return Ok(value),
        Ok(_) => {}
        Err(fatal) => lints.push(fatal),
    }
    lints.sort_by_key(|lint| (lint.line, lint.col));
    Err(lints)
}

/// The value (or the problem that stopped it) and, apart, the unknown-field
/// lints, which do not stop deserialisation.
pub(crate) fn from_node_parts<T: DeserializeOwned>(node: &Node) -> (Result<T, Lint>, Vec<Lint>) {
    let acc = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDeserializer { node, acc: &acc });
    (result.map_err(|err| err.into_lint(node)), acc.into_inner())
}

/// The error of [`NodeDeserializer`]; becomes a [`Lint`] at the end.
#[derive(Debug)]
pub struct Error {
    line: Option<usize>,
    message: String,
    /// Raised by a `Deserialize` impl rather than by this module, so it still
    /// needs the field name in front to make sense.
    needs_field: bool,
}

impl Error {
    fn at(node: &Node, message: impl Into<String>) -> Error {
        Error {
            line: Some(node.report_line()),
            message: message.into(),
            needs_field: false,
        }
    }

    fn into_lint(self, root: &Node) -> Lint {
        Lint::at_line(
            self.line.unwrap_or_else(|| root.report_line()),
            self.message,
        )
    }

    fn locate(mut self, node: &Node) -> Error {
        self.line.get_or_insert_with(|| node.report_line());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error {
            line: None,
            message: msg.to_string(),
            needs_field: true,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Error {
        let message = format!("field {field} not recognised");
        Error {
            line: None,
            message: with_suggestion(message, field, expected.iter().copied()),
            needs_field: false,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Error {
        let message = format!("value {variant} is not a valid option for this field");
        Error {
            line: None,
            message: with_suggestion(message, variant, expected.iter().copied()),
            needs_field: true,
        }
    }

    fn missing_field(field: &'static str) -> Error {
        Error {
            line: None,
            message: format!("field {field} is required"),
            needs_field: false,
        }
    }
}

/// A `Deserializer` borrowing one node; unknown-field lints go to `acc`.
#[derive(Clone, Copy)]
struct NodeDeserializer<'n, 'a> {
    node: &'n Node,
    acc: &'a RefCell<Vec<Lint>>,
}

impl<'n, 'a> NodeDeserializer<'n, 'a> {
    fn child(&self, node: &'n Node) -> NodeDeserializer<'n, 'a> {
        NodeDeserializer {
            node,
            acc: self.acc,
        }
    }

    /// The scalar text, treating quoted and plain alike.
    fn scalar(&self, what: &str) -> Result<&'n str, Error> {
        match &self.node.kind {
            NodeKind::Scalar(text, _) => Ok(text),
            _ => Err(Error::at(self.node, format!("expected {what} value"))),
        }
    }

    fn int(&self) -> Result<i128, Error> {
        let text = self.scalar("int")?;
        parse_int(text.trim()).ok_or_else(|| Error::at(self.node, "expected int value"))
    }

    fn expected_object(&self) -> Error {
        Error::at(
            self.node,
            format!("expected object value, got {}", self.node.short_tag()),
        )
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident as $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let int = self.int()?;
            let int = <$ty>::try_from(int).map_err(|_| Error::at(self.node, "expected int value"))?;
            visitor.$visit(int).map_err(|err: Error| err.locate(self.node))
        }
    )*};
}

impl<'de> Deserializer<'de> for NodeDeserializer<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Seq(_) => return self.deserialize_seq(visitor),
            NodeKind::Map(_) => return self.deserialize_map(visitor),
            NodeKind::Scalar(text, ScalarStyle::Plain) => match infer_plain(text) {
                Inferred::Null => visitor.visit_unit(),
                Inferred::Bool(b) => visitor.visit_bool(b),
                Inferred::Int(int) => visitor.visit_i64(int),
                Inferred::UInt(int) => visitor.visit_u64(int),
                Inferred::Float(float) => visitor.visit_f64(float),
                Inferred::Str => visitor.visit_str(text),
            },
            NodeKind::Scalar(text, _) => visitor.visit_str(text),
        };
        result.map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Besides the core schema, accept the YAML 1.1 words that Go's yaml.v3
        // still takes for bool fields.
        let value = match self.scalar("bool")?.trim() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                true
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => false,
            _ => return Err(Error::at(self.node, "expected bool value")),
        };
        visitor
            .visit_bool(value)
            .map_err(|err: Error| err.locate(self.node))
    }

    deserialize_int! {
        deserialize_i8 => visit_i8 as i8,
        deserialize_i16 => visit_i16 as i16,
        deserialize_i32 => visit_i32 as i32,
        deserialize_i64 => visit_i64 as i64,
        deserialize_i128 => visit_i128 as i128,
        deserialize_u8 => visit_u8 as u8,
        deserialize_u16 => visit_u16 as u16,
        deserialize_u32 => visit_u32 as u32,
        deserialize_u64 => visit_u64 as u64,
        deserialize_u128 => visit_u128 as u128,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = self.scalar("float")?.trim();
        let float = parse_float(text)
            .or_else(|| parse_int(text).map(|int| int as f64))
            .ok_or_else(|| Error::at(self.node, "expected float value"))?;
        visitor
            .visit_f64(float)
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = match &self.node.kind {
            // Go leaves a string field empty when given a null.
            NodeKind::Null => "",
            NodeKind::Scalar(..) if self.node.is_null() => "",
            NodeKind::Scalar(text, _) => text,
            NodeKind::Seq(_) | NodeKind::Map(_) => {
                return Err(Error::at(self.node, "expected string value"));
            }
        };
        visitor
            .visit_str(text)
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor
                .visit_none()
                .map_err(|err: Error| err.locate(self.node))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor
            .visit_unit()
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_NODE {
            RAW_NODE_STASH.with(|stash| stash.set(Some(self.node.clone())));
            return visitor.visit_unit();
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let items: &[Node] = match &self.node.kind {
            NodeKind::Seq(items) => items,
            _ if self.node.is_null() => &[],
            _ => return Err(Error::at(self.node, "expected array value")),
        };
        let mut access = SeqAccess {
            de: self,
            items: items.iter(),
        };
        let value = visitor
            .visit_seq(&mut access)
            .map_err(|err: Error| err.locate(self.node))?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries: &[(Node, Node)] = match &self.node.kind {
            NodeKind::Map(entries) => entries,
            _ if self.node.is_null() => &[],
            _ => return Err(self.expected_object()),
        };
        let access = MapAccess {
            de: self,
            entries: entries.iter().collect(),
            next: 0,
        };
        visitor
            .visit_map(access)
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let entries: &[(Node, Node)] = match &self.node.kind {
            NodeKind::Map(entries) => entries,
            _ if self.node.is_null() => &[],
            _ => return Err(self.expected_object()),
        };
        // Report every unknown key, then let the struct see only known ones,
        // so one typo does not hide the next.
        let mut known = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.0.as_str().unwrap_or_default();
            if fields.contains(&name) {
                // A null value leaves the field at its default, as Go's YAML
                // decoding does; `enabled: ${UNSET:}` is not a type error.
                if !entry.1.is_null() {
                    known.push(entry);
                }
            } else {
                let message = with_suggestion(
                    format!("field {name} not recognised"),
                    name,
                    fields.iter().copied(),
                );
                self.acc
                    .borrow_mut()
                    .push(Lint::at_line(entry.0.mark.line, message));
            }
        }
        let access = MapAccess {
            de: self,
            entries: known,
            next: 0,
        };
        visitor
            .visit_map(access)
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (variant, value) = match &self.node.kind {
            NodeKind::Scalar(..) => (self.node, None),
            NodeKind::Map(entries) if entries.len() == 1 => (&entries[0].0, Some(&entries[0].1)),
            _ => return Err(Error::at(self.node, "expected string value")),
        };
        let access = EnumAccess {
            de: self,
            variant,
            value,
        };
        visitor
            .visit_enum(access)
            .map_err(|err: Error| err.locate(self.node))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'n, 'a> {
    de: NodeDeserializer<'n, 'a>,
    items: std::slice::Iter<'n, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(item) => seed
                .deserialize(self.de.child(item))
                .map(Some)
                .map_err(|err: Error| err.locate(item)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'n, 'a> {
    de: NodeDeserializer<'n, 'a>,
    entries: Vec<&'n (Node, Node)>,
    next: usize,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(self.de.child(key))
            .map(Some)
            .map_err(|err| {
                let mut err = err.locate(key);
                err.needs_field = false;
                err
            })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self.entries[self.next];
        self.next += 1;
        seed.deserialize(self.de.child(value)).map_err(|err| {
            let mut err = err.locate(value);
            if err.needs_field {
                let name = key.as_str().unwrap_or_default();
                err.message = format!("field {name}: {}", err.message);
                err.needs_field = false;
            }
            err
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

struct EnumAccess<'n, 'a> {
    de: NodeDeserializer<'n, 'a>,
    variant: &'n Node,
    value: Option<&'n Node>,
}

impl<'de, 'n, 'a> de::EnumAccess<'de> for EnumAccess<'n, 'a> {
    type Error = Error;
    type Variant = VariantAccess<'n, 'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let variant = seed.deserialize(self.de.child(self.variant))?;
        Ok((
            variant,
            VariantAccess {
                de: self.de,
                value: self.value,
            },
        ))
    }
}

struct VariantAccess<'n, 'a> {
    de: NodeDeserializer<'n, 'a>,
    value: Option<&'n Node>,
}

impl<'n, 'a> VariantAccess<'n, 'a> {
    fn value(&self) -> Result<NodeDeserializer<'n, 'a>, Error> {
        match self.value {
            Some(value) => Ok(self.de.child(value)),
            None => Err(Error::at(
                self.de.node,
                format!("expected object value, got {}", self.de.node.short_tag()),
            )),
        }
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(value) if value.is_null() => Ok(()),
            Some(value) => Err(Error::at(value, "expected null value")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.value()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.value()?.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.value()?.deserialize_struct("", fields, visitor)
    }
}

// --- Node as a serde type ------------------------------------------------

impl<'de> Deserialize<'de> for Node {
    /// Through [`from_node`] this yields the exact subtree with positions;
    /// through other deserializers the tree is rebuilt without positions.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_NODE, NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        let stashed = RAW_NODE_STASH.with(Cell::take);
        Ok(stashed.unwrap_or_else(|| Node::new(NodeKind::Null, Mark::default())))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(AnyNodeVisitor)
    }
}

/// Rebuilds a [`Node`] from any self-describing format.
struct AnyNodeVisitor;

fn scalar_node(text: String, style: ScalarStyle) -> Node {
    Node::new(NodeKind::Scalar(text, style), Mark::default())
}

impl<'de> Visitor<'de> for AnyNodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(scalar_node(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(scalar_node(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(scalar_node(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(scalar_node(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        // Quote strings that would otherwise read back as another type.
        let style = if infer_plain(v) == Inferred::Str {
            ScalarStyle::Plain
        } else {
            ScalarStyle::DoubleQuoted
        };
        Ok(scalar_node(v.to_owned(), style))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::new(NodeKind::Null, Mark::default()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(AnyNodeSeed)? {
            items.push(item);
        }
        Ok(Node::new(NodeKind::Seq(items), Mark::default()))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(AnyNodeSeed)? {
            // serde_json's `arbitrary_precision` hands numbers over as a
            // one-entry map under this key.
            if entries.is_empty() && key.as_str() == Some(JSON_NUMBER_TOKEN) {
                let text: String = map.next_value()?;
                return Ok(scalar_node(text, ScalarStyle::Plain));
            }
            entries.push((key, map.next_value_seed(AnyNodeSeed)?));
        }
        Ok(Node::new(NodeKind::Map(entries), Mark::default()))
    }
}

struct AnyNodeSeed;

const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> DeserializeSeed<'de> for AnyNodeSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(AnyNodeVisitor)
    }
}

impl Serialize for Node {
    /// Scalars are typed by YAML 1.2's core schema; quoted ones are strings.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match &self.kind {
            NodeKind::Null => serializer.serialize_unit(),
            NodeKind::Scalar(text, ScalarStyle::Plain) => match infer_plain(text) {
                Inferred::Null => serializer.serialize_unit(),
                Inferred::Bool(b) => serializer.serialize_bool(b),
                Inferred::Int(int) => serializer.serialize_i64(int),
                Inferred::UInt(int) => serializer.serialize_u64(int),
                Inferred::Float(float) => serializer.serialize_f64(float),
                Inferred::Str => serializer.serialize_str(text),
            },
            NodeKind::Scalar(text, _) => serializer.serialize_str(text),
            NodeKind::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            NodeKind::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key.as_str().unwrap_or_default(), value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use expect_test::{Expect, expect};

    use super::*;
    use crate::config::GoDuration;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(
        dead_code,
        reason = "the fields are compared through their Debug output"
    )]
    struct ServerConfig {
        #[serde(default)]
        address: String,
        path: String,
        #[serde(default)]
        enabled: bool,
        #[serde(default)]
        timeout: GoDuration,
        #[serde(default)]
        verbs: Vec<String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        tls: TlsConfig,
        #[serde(default)]
        sync_response: Option<Node>,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        ratio: f64,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct TlsConfig {
        enabled: bool,
        skip_cert_verify: bool,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Fast,
        Safe,
    }

    /// Deserialises `text` into `ServerConfig` and renders it or every lint.
    fn check(text: &str, expected: Expect) {
        let node = Node::parse(text).unwrap();
        let actual = match from_node_all::<ServerConfig>(&node) {
            Ok(config) => format!("{config:?}"),
            Err(lints) => lints.iter().map(|lint| format!("{lint}\n")).collect(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn fills_defaults_and_converts_scalars() {
        check(
            "path: /post\nenabled: yes\ntimeout: 1m30s\nverbs: [POST, 5]\nheaders: {a: 1}\nlimit: '7'\nratio: 2\nmode: safe\n",
            expect![[
                r#"ServerConfig { address: "", path: "/post", enabled: true, timeout: GoDuration(90s), verbs: ["POST", "5"], headers: {"a": "1"}, tls: TlsConfig { enabled: false, skip_cert_verify: false }, sync_response: None, mode: Safe, limit: Some(7), ratio: 2.0 }"#
            ]],
        );
        check(
            "path: x\ntls: ~\nlimit: null\naddress:\n",
            expect![[
                r#"ServerConfig { address: "", path: "x", enabled: false, timeout: GoDuration(0ns), verbs: [], headers: {}, tls: TlsConfig { enabled: false, skip_cert_verify: false }, sync_response: None, mode: Fast, limit: None, ratio: 0.0 }"#
            ]],
        );
    }

    #[test]
    fn reports_every_unknown_field_at_column_one() {
        check(
            "path: /x\n    # comment\naddres: a\ntls:\n  enabled: true\n  nope: 1\n",
            expect![[r#"
                (3,1) field addres not recognised (did you mean address?)
                (6,1) field nope not recognised
            "#]],
        );
    }

    #[test]
    fn reports_type_problems_like_benthos() {
        check(
            "path: x\nenabled: maybe\n",
            expect![[r#"
            (2,1) expected bool value
        "#]],
        );
        check(
            "path: x\ntls: true\n",
            expect![[r#"
            (2,1) expected object value, got !!bool
        "#]],
        );
        check(
            "path: x\nverbs: POST\n",
            expect![[r#"
            (2,1) expected array value
        "#]],
        );
        check(
            "path: [a]\n",
            expect![[r#"
            (1,1) expected string value
        "#]],
        );
        check(
            "path: x\nlimit: -1\n",
            expect![[r#"
            (2,1) expected int value
        "#]],
        );
        check(
            "path: x\ntimeout: 5x\n",
            expect![[r#"
            (2,1) field timeout: time: unknown unit "x" in duration "5x"
        "#]],
        );
        check(
            "path: x\nmode: slow\n",
            expect![[r#"
            (2,1) field mode: value slow is not a valid option for this field
        "#]],
        );
        check(
            "address: x\n",
            expect![[r#"
            (1,1) field path is required
        "#]],
        );
        check(
            "- a\n",
            expect![[r#"
            (1,1) expected object value, got !!seq
        "#]],
        );
    }

    #[test]
    fn lints_a_block_scalar_at_its_header_line() {
        check(
            "path: x\ntls: |\n  a\n",
            expect![[r#"
            (2,1) expected object value, got !!str
        "#]],
        );
    }

    #[test]
    fn keeps_node_positions_through_from_node() {
        let text = "path: x\nsync_response:\n  status: 200\n  headers: {a: b}\n";
        let root = Node::parse(text).unwrap();
        let config: ServerConfig = from_node(&root).unwrap();
        assert_eq!(config.sync_response.as_ref(), root.get("sync_response"));
        assert_eq!(config.sync_response.unwrap().mark, Mark::new(3, 3));

        let all: Vec<Node> = from_node(&Node::parse("- a: 1\n- ~\n").unwrap()).unwrap();
        assert_eq!(all[0].get("a").unwrap().mark, Mark::new(1, 6));
        assert!(all[1].is_null());

        let map: BTreeMap<String, Node> = from_node(&Node::parse("x: {y: 1}\n").unwrap()).unwrap();
        assert_eq!(map["x"].get("y").unwrap().mark, Mark::new(1, 8));
    }

    #[test]
    fn null_option_node_is_none() {
        let config: ServerConfig =
            from_node(&Node::parse("path: x\nsync_response: ~\n").unwrap()).unwrap();
        assert!(config.sync_response.is_none());
        let config: ServerConfig =
            from_node(&Node::parse("path: x\nsync_response: {}\n").unwrap()).unwrap();
        assert_eq!(config.sync_response.unwrap().as_map(), Some(&[][..]));
    }

    #[test]
    fn nodes_cross_other_formats_without_positions() {
        let node = Node::parse("a: [1, '2', true, ~, x]\nb: {c: 1.5}\n").unwrap();
        let json = serde_json::to_string(&node).unwrap();
        expect![[r#"{"a":[1,"2",true,null,"x"],"b":{"c":1.5}}"#]].assert_eq(&json);
        let back: Node = serde_json::from_str(&json).unwrap();
        expect![[r#"
            a:
              - 1
              - "2"
              - true
              - null
              - x
            b:
              c: 1.5
        "#]]
        .assert_eq(&back.to_yaml());
    }

    #[test]
    fn infers_untyped_values_by_core_schema() {
        let node = Node::parse("a: 5\nb: '5'\nc: 0x10\nd: .inf\ne: ~\nf: yes\n").unwrap();
        let value: serde_json::Value = from_node(&node).unwrap();
        expect![[r#"{"a":5,"b":"5","c":16,"d":null,"e":null,"f":"yes"}"#]]
            .assert_eq(&value.to_string());
    }
}
