//! A YAML tree that remembers where every node came from.
//!
//! Config problems are reported as `(line,col) message`, so the tree keeps a
//! [`Mark`] on every node. Scalars stay text: the typed view is decided later
//! by whoever deserialises the node (see `de.rs`), as YAML's core schema
//! leaves `5` and `"5"` apart only by style.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle as ParserStyle, ScanError};

use super::Lint;

/// A position in the config text. Lines and columns are 1-based and columns
/// count chars. Nodes that did not come from the text (defaults, `--set`
/// values) carry line 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in chars.
    pub col: usize,
}

impl Mark {
    /// A position at `line`, `col`.
    pub const fn new(line: usize, col: usize) -> Mark {
        Mark { line, col }
    }
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// `foo`
    Plain,
    /// `'foo'`
    SingleQuoted,
    /// `"foo"`
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
}

impl ScalarStyle {
    /// Block scalars (`|`, `>`) start their content on the line after the header.
    pub fn is_block(self) -> bool {
        matches!(self, ScalarStyle::Literal | ScalarStyle::Folded)
    }
}

/// The shape of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// An empty value (`key:` with nothing after it).
    Null,
    /// Scalar text and how it was written. `~` and `null` stay scalars; use
    /// [`Node::is_null`].
    Scalar(String, ScalarStyle),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping in source order. Keys are scalar nodes.
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its position.
///
/// For block scalars (`|`, `>`) the mark is where the content starts: the line
/// after the header, at the content's indentation. Every other node is marked
/// at its first char (the opening quote or bracket for quoted and flow nodes).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it starts.
    pub mark: Mark,
}

impl Node {
    /// A node of `kind` at `mark`.
    pub fn new(kind: NodeKind, mark: Mark) -> Node {
        Node { kind, mark }
    }

    /// A plain scalar that was not read from a file.
    pub fn plain(text: impl Into<String>) -> Node {
        Node::new(
            NodeKind::Scalar(text.into(), ScalarStyle::Plain),
            Mark::default(),
        )
    }

    /// An empty mapping that was not read from a file.
    pub fn empty_map() -> Node {
        Node::new(NodeKind::Map(Vec::new()), Mark::default())
    }

    /// Parses the first YAML document of `text`. An empty document is an empty
    /// mapping. Anchors and aliases are expanded, as are `<<` merge keys.
    pub fn parse(text: &str) -> Result<Node, Lint> {
        let source = text;
        let source_chars = source.chars().count();
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|err| scan_lint(&err))?;
            let mark = Mark::new(span.start.line(), span.start.col() + 1);
            match event {
                Event::Nothing
                | Event::StreamStart
                | Event::DocumentStart(_)
                | Event::StreamEnd => {}
                Event::DocumentEnd => break,
                Event::Alias(id) => {
                    let Some((target, size)) = builder.anchors.get(&id) else {
                        return Err(Lint::error(mark, "unknown anchor"));
                    };
                    // Aliases of aliases grow a small file exponentially
                    // ("billion laughs"): the copies made are counted.
                    builder.expanded += size;
                    if builder.expanded > MAX_ALIAS_EXPANSION {
                        return Err(Lint::error(
                            mark,
                            format!(
                                "yaml: document contains excessive aliasing (more than \
                                 {MAX_ALIAS_EXPANSION} nodes copied from anchors)"
                            ),
                        ));
                    }
                    let mut node = target.clone();
                    node.mark = mark;
                    builder.complete(node, 0)?;
                }
                Event::Scalar(text, style, anchor, _tag) => {
                    let (style, mark) = match style {
                        ParserStyle::Plain => (ScalarStyle::Plain, mark),
                        ParserStyle::SingleQuoted => (ScalarStyle::SingleQuoted, mark),
                        ParserStyle::DoubleQuoted => (ScalarStyle::DoubleQuoted, mark),
                        // The span starts at the first non-blank content
                        // line; leading blank lines belong to the value.
                        ParserStyle::Literal | ParserStyle::Folded => {
                            let blank = text.chars().take_while(|c| *c == '\n').count();
                            let style = if matches!(style, ParserStyle::Literal) {
                                ScalarStyle::Literal
                            } else {
                                ScalarStyle::Folded
                            };
                            (
                                style,
                                Mark::new(mark.line.saturating_sub(blank).max(1), mark.col),
                            )
                        }
                    };
                    let mut text = text.into_owned();
                    // A block scalar that runs to the end of a file with no
                    // final line break has none to keep: YAML (and Benthos's
                    // parser) ends the value at its last character, where
                    // the scanner adds a line break.
                    if style.is_block()
                        && !source.ends_with('\n')
                        && span.end.index() >= source_chars
                        && text.ends_with('\n')
                    {
                        text.pop();
                    }
                    let kind = if style == ScalarStyle::Plain && text.is_empty() {
                        NodeKind::Null
                    } else {
                        NodeKind::Scalar(text, style)
                    };
                    builder.complete(Node::new(kind, mark), anchor)?;
                }
                Event::SequenceStart(anchor, _) => {
                    builder.enter(mark)?;
                    builder
                        .stack
                        .push(Frame::new(NodeKind::Seq(Vec::new()), mark, anchor));
                }
                Event::MappingStart(anchor, _) => {
                    builder.enter(mark)?;
                    builder
                        .stack
                        .push(Frame::new(NodeKind::Map(Vec::new()), mark, anchor));
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = builder
                        .stack
                        .pop()
                        .expect("parser balances collection events");
                    let mut node = frame.node;
                    if let NodeKind::Map(entries) = &mut node.kind {
                        apply_merge_keys(entries);
                    }
                    builder.complete(node, frame.anchor)?;
                }
            }
        }
        Ok(builder
            .root
            .unwrap_or_else(|| Node::new(NodeKind::Map(Vec::new()), Mark::new(1, 1))))
    }

    /// The value of `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Mutable access to the value of `key` when this is a mapping.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.kind {
            NodeKind::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is an empty value or a plain `~` / `null`.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Null => true,
            NodeKind::Scalar(text, ScalarStyle::Plain) => {
                matches!(text.as_str(), "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(text, _) => Some(text),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The line Benthos reports for this node: a block scalar is reported at
    /// its header line, everything else at its mark.
    pub fn report_line(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(_, style) if style.is_block() => self.mark.line.saturating_sub(1),
            _ => self.mark.line,
        }
    }

    /// The YAML short tag Benthos names in `expected object value, got <tag>`.
    pub fn short_tag(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "!!null",
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
            NodeKind::Scalar(text, ScalarStyle::Plain) => match infer_plain(text) {
                Inferred::Null => "!!null",
                Inferred::Bool(_) => "!!bool",
                Inferred::Int(_) | Inferred::UInt(_) => "!!int",
                Inferred::Float(_) => "!!float",
                Inferred::Str => "!!str",
            },
            NodeKind::Scalar(..) => "!!str",
        }
    }

    /// The file position of the char at (`line_in`, `col_in`) of this
    /// scalar's value, both 1-based and relative to the value text.
    ///
    /// Block scalars map each value line to a file line at the content's
    /// indentation; quoted scalars skip their opening quote. Folded and
    /// multi-line flow scalars only keep line numbers approximately, since
    /// folding has already joined their lines.
    pub fn content_position(&self, line_in: usize, col_in: usize) -> Mark {
        let line_in = line_in.max(1);
        let col_in = col_in.max(1);
        let quote = match &self.kind {
            NodeKind::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) => 1,
            _ => 0,
        };
        let block = matches!(&self.kind, NodeKind::Scalar(_, style) if style.is_block());
        if line_in == 1 || block {
            Mark::new(
                self.mark.line + line_in - 1,
                self.mark.col + quote + col_in - 1,
            )
        } else {
            Mark::new(self.mark.line + line_in - 1, col_in)
        }
    }

    /// Sets the value at a dotted `path` (`input.http_server.path`) to
    /// `value`, which is parsed as a YAML scalar or flow value, as `--set`
    /// does. Numeric segments index sequences (negative ones from the end,
    /// `-` appends); missing mappings are created.
    pub fn set_path(&mut self, path: &str, value: &str) -> Result<(), String> {
        if path.is_empty() {
            return Err("empty path".to_owned());
        }
        let mut new_value = Node::parse(value).map_err(|lint| lint.message)?;
        // The value did not come from the config file.
        clear_marks(&mut new_value);
        if value.trim().is_empty() {
            new_value.kind = NodeKind::Null;
        }
        let mut target = self;
        for segment in path.split('.') {
            target = step_into(target, segment)?;
        }
        *target = new_value;
        Ok(())
    }

    /// The node as block YAML, as `sluice echo` prints it.
    /// The node as JSON. Plain scalars become booleans, numbers or null
    /// when they read as such, as a YAML parser would type them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match &self.kind {
            NodeKind::Null => Json::Null,
            NodeKind::Scalar(text, ScalarStyle::Plain) => plain_scalar_json(text),
            NodeKind::Scalar(text, _) => Json::String(text.clone()),
            NodeKind::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A JSON value as a node that was not read from a file. Strings stay
    /// strings: they are quoted only when they would read back as another
    /// type.
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value as Json;
        let kind = match value {
            Json::Null => NodeKind::Null,
            Json::Bool(b) => NodeKind::Scalar(b.to_string(), ScalarStyle::Plain),
            Json::Number(n) => NodeKind::Scalar(n.to_string(), ScalarStyle::Plain),
            Json::String(text) => {
                let style = if is_plain_safe(text, true) {
                    ScalarStyle::Plain
                } else {
                    ScalarStyle::DoubleQuoted
                };
                NodeKind::Scalar(text.clone(), style)
            }
            Json::Array(items) => NodeKind::Seq(items.iter().map(Node::from_json).collect()),
            Json::Object(entries) => NodeKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| (Node::plain(k.as_str()), Node::from_json(v)))
                    .collect(),
            ),
        };
        Node::new(kind, Mark::default())
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match &self.kind {
            NodeKind::Map(entries) if !entries.is_empty() => emit_map(&mut out, entries, 0),
            NodeKind::Seq(items) if !items.is_empty() => emit_seq(&mut out, items, 0),
            _ => {
                emit_inline(&mut out, self, 0);
                out.push('\n');
            }
        }
        out
    }
}

/// A plain scalar typed as JSON: bool, null, integer or finite number, else
/// the text.
fn plain_scalar_json(text: &str) -> serde_json::Value {
    use serde_json::Value as Json;
    match text {
        "true" | "True" | "TRUE" => return Json::Bool(true),
        "false" | "False" | "FALSE" => return Json::Bool(false),
        "~" | "null" | "Null" | "NULL" => return Json::Null,
        _ => {}
    }
    if let Ok(n) = text.parse::<i64>() {
        return Json::from(n);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && text.chars().any(|c| c.is_ascii_digit()) => {
            serde_json::Number::from_f64(f)
                .map_or_else(|| Json::String(text.to_owned()), Json::Number)
        }
        _ => Json::String(text.to_owned()),
    }
}

fn scan_lint(err: &ScanError) -> Lint {
    let marker = err.marker();
    Lint::error(
        Mark::new(marker.line(), marker.col() + 1),
        format!("yaml: {}", err.info()),
    )
}

struct Frame {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
}

impl Frame {
    fn new(kind: NodeKind, mark: Mark, anchor: usize) -> Frame {
        Frame {
            node: Node::new(kind, mark),
            anchor,
            pending_key: None,
        }
    }
}

/// Nodes that aliases may copy in one document: far beyond what a config
/// reuses, far below what would exhaust memory.
const MAX_ALIAS_EXPANSION: usize = 100_000;

/// How deep collections may nest. The code that walks a config recurses, so
/// a file of 20,000 `[` must be an error, not a stack overflow.
const MAX_DEPTH: usize = 500;

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    // Each anchor's node and its size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    // Nodes copied by aliases so far.
    expanded: usize,
}

/// The number of nodes in `node`, itself included.
fn node_count(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(node_count).sum(),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| node_count(k) + node_count(v))
            .sum(),
        NodeKind::Null | NodeKind::Scalar(..) => 0,
    }
}

impl Builder {
    /// A collection starts at `mark`: refused past the nesting limit.
    fn enter(&self, mark: Mark) -> Result<(), Lint> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Lint::error(
                mark,
                format!("yaml: exceeded max depth of {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Lint> {
        if anchor != 0 {
            let size = node_count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut frame.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match frame.pending_key.take() {
                Some(key) => {
                    // Go's yaml.v3 refuses duplicate keys, and so does Benthos.
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.kind == key.kind) {
                        let message = format!(
                            "yaml: mapping key {:?} already defined at line {}",
                            key.as_str().unwrap_or_default(),
                            first.mark.line
                        );
                        return Err(Lint::error(key.mark, message));
                    }
                    entries.push((key, node));
                }
                None => {
                    let key = match node.kind {
                        NodeKind::Scalar(..) => node,
                        NodeKind::Null => Node::new(
                            NodeKind::Scalar(String::new(), ScalarStyle::Plain),
                            node.mark,
                        ),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            return Err(Lint::error(
                                node.mark,
                                "yaml: complex mapping keys are not supported",
                            ));
                        }
                    };
                    frame.pending_key = Some(key);
                }
            },
            NodeKind::Null | NodeKind::Scalar(..) => {
                unreachable!("only collections are pushed on the stack")
            }
        }
        Ok(())
    }
}

/// Expands `<<: *anchor` (or a sequence of anchors) into the mapping; keys
/// already present win, as in YAML 1.1 merge semantics.
fn apply_merge_keys(entries: &mut Vec<(Node, Node)>) {
    let is_merge = |key: &Node| matches!(&key.kind, NodeKind::Scalar(text, ScalarStyle::Plain) if text == "<<");
    if !entries.iter().any(|(key, _)| is_merge(key)) {
        return;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = std::mem::take(entries)
        .into_iter()
        .partition(|(key, _)| is_merge(key));
    for (_, value) in merges {
        let sources = match value.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node::new(other, value.mark)],
        };
        for source in sources {
            let NodeKind::Map(source_entries) = source.kind else {
                continue;
            };
            for (key, value) in source_entries {
                if !own.iter().any(|(k, _)| k.as_str() == key.as_str()) {
                    own.push((key, value));
                }
            }
        }
    }
    *entries = own;
}

fn clear_marks(node: &mut Node) {
    node.mark = Mark::default();
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(clear_marks),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(key, value)| {
            clear_marks(key);
            clear_marks(value);
        }),
        NodeKind::Null | NodeKind::Scalar(..) => {}
    }
}

fn step_into<'a>(node: &'a mut Node, segment: &str) -> Result<&'a mut Node, String> {
    if !matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
        node.kind = NodeKind::Map(Vec::new());
    }
    match &mut node.kind {
        NodeKind::Seq(items) => step_into_seq(items, segment),
        NodeKind::Map(entries) => {
            let position = entries
                .iter()
                .position(|(key, _)| key.as_str() == Some(segment));
            let position = position.unwrap_or_else(|| {
                entries.push((
                    Node::plain(segment),
                    Node::new(NodeKind::Null, Mark::default()),
                ));
                entries.len() - 1
            });
            Ok(&mut entries[position].1)
        }
        NodeKind::Null | NodeKind::Scalar(..) => unreachable!("made a collection above"),
    }
}

fn step_into_seq<'a>(items: &'a mut Vec<Node>, segment: &str) -> Result<&'a mut Node, String> {
    if segment == "-" {
        items.push(Node::new(NodeKind::Null, Mark::default()));
        return Ok(items.last_mut().expect("just pushed"));
    }
    let index: i64 = segment
        .parse()
        .map_err(|_| format!("{segment}: failed to parse path segment as array index"))?;
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let index = if index < 0 { len + index } else { index };
    if index < 0 {
        return Err(format!("{segment}: target index less than zero"));
    }
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    items
        .get_mut(index)
        .ok_or_else(|| format!("{segment}: target index greater than array length"))
}

/// What a plain scalar means under YAML 1.2's core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Inferred {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str,
}

pub(crate) fn infer_plain(text: &str) -> Inferred {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Inferred::Null,
        "true" | "True" | "TRUE" => return Inferred::Bool(true),
        "false" | "False" | "FALSE" => return Inferred::Bool(false),
        _ => {}
    }
    if let Some(int) = parse_int(text) {
        return match i64::try_from(int) {
            Ok(int) => Inferred::Int(int),
            Err(_) => match u64::try_from(int) {
                Ok(int) => Inferred::UInt(int),
                Err(_) => Inferred::Float(int as f64),
            },
        };
    }
    match parse_float(text) {
        Some(float) => Inferred::Float(float),
        None => Inferred::Str,
    }
}

/// Core schema integers: decimal with an optional sign, `0o` octal, `0x` hex.
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = digits.strip_prefix("0o") {
        (8, octal)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -value } else { value })
}

/// Core schema floats, including `.inf` and `.nan`.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let sign = if text.starts_with('-') { -1.0 } else { 1.0 };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac_part {
        Some(frac) => {
            all_digits(int_part) && all_digits(frac) && !(int_part.is_empty() && frac.is_empty())
        }
        None => !int_part.is_empty() && all_digits(int_part),
    };
    let exponent_ok = exponent.is_none_or(|exp| {
        let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
        !exp.is_empty() && all_digits(exp)
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    text.parse().ok()
}

// --- emitting -------------------------------------------------------------

fn indent(out: &mut String, depth: usize) {
    out.extend(std::iter::repeat_n(' ', depth));
}

fn emit_map(out: &mut String, entries: &[(Node, Node)], depth: usize) {
    for (key, value) in entries {
        indent(out, depth);
        emit_key(out, key);
        out.push(':');
        emit_child(out, value, depth);
    }
}

fn emit_seq(out: &mut String, items: &[Node], depth: usize) {
    for item in items {
        indent(out, depth);
        out.push('-');
        match &item.kind {
            // A mapping item starts on the dash line and continues below it.
            NodeKind::Map(entries) if !entries.is_empty() => {
                out.push(' ');
                let mut nested = String::new();
                emit_map(&mut nested, entries, depth + 2);
                out.push_str(nested.trim_start_matches(' '));
            }
            _ => emit_child(out, item, depth),
        }
    }
}

/// Emits what follows `key:` or `-`, including the line break.
fn emit_child(out: &mut String, value: &Node, depth: usize) {
    match &value.kind {
        NodeKind::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            emit_map(out, entries, depth + 2);
        }
        NodeKind::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(out, items, depth + 2);
        }
        NodeKind::Null => out.push_str(" null\n"),
        _ => {
            out.push(' ');
            emit_inline(out, value, depth + 2);
            out.push('\n');
        }
    }
}

fn emit_key(out: &mut String, key: &Node) {
    match &key.kind {
        NodeKind::Scalar(text, style) => emit_flow_scalar(out, text, *style),
        _ => out.push_str("null"),
    }
}

/// Emits a scalar or an empty collection; block scalars use `content_depth`
/// for their content lines.
fn emit_inline(out: &mut String, node: &Node, content_depth: usize) {
    match &node.kind {
        NodeKind::Null => out.push_str("null"),
        NodeKind::Map(_) => out.push_str("{}"),
        NodeKind::Seq(_) => out.push_str("[]"),
        NodeKind::Scalar(text, style) => {
            if text.contains('\n') && !text.chars().any(|c| c.is_control() && c != '\n') {
                emit_block_scalar(out, text, content_depth.max(2));
            } else {
                emit_flow_scalar(out, text, *style);
            }
        }
    }
}

fn emit_block_scalar(out: &mut String, text: &str, depth: usize) {
    out.push('|');
    // Content sits two columns right of its parent; say so when the text
    // itself starts with spaces, which would otherwise look like indentation.
    if text.starts_with([' ', '\n']) {
        out.push('2');
    }
    let body = text.trim_end_matches('\n');
    match text.len() - body.len() {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let mut lines: Vec<&str> = text.split('\n').collect();
    // `split` yields a final empty piece after the last line break.
    if text.ends_with('\n') {
        lines.pop();
    }
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            indent(out, depth);
            out.push_str(line);
        }
    }
}

fn emit_flow_scalar(out: &mut String, text: &str, style: ScalarStyle) {
    let plain_ok = match style {
        ScalarStyle::Plain => is_plain_safe(text, false),
        _ => is_plain_safe(text, true),
    };
    if plain_ok && style != ScalarStyle::DoubleQuoted && style != ScalarStyle::SingleQuoted {
        out.push_str(text);
    } else if style == ScalarStyle::SingleQuoted && !text.chars().any(char::is_control) {
        out.push('\'');
        out.push_str(&text.replace('\'', "''"));
        out.push('\'');
    } else {
        emit_double_quoted(out, text);
    }
}

fn emit_double_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `text` reads back as the same plain scalar. When `must_be_string`
/// is set it must also not look like a null, bool or number.
fn is_plain_safe(text: &str, must_be_string: bool) -> bool {
    if text.is_empty() || text != text.trim() {
        return false;
    }
    if must_be_string && infer_plain(text) != Inferred::Str {
        return false;
    }
    let first = text.chars().next().expect("text is not empty");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let next = text.chars().nth(1);
        // `-x`, `:x` and `?x` are fine as plain scalars.
        if !("-?:".contains(first) && next.is_some_and(|c| !c.is_whitespace())) {
            return false;
        }
    }
    !(text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.chars().any(|c| c.is_control()))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    #[test]
    fn to_json_types_plain_scalars_like_yaml() {
        let node = Node::parse("a: 1\nb: '1'\nc: true\nd: 1.5\ne: x\nf:\ng: [1, y]\n").unwrap();
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": "x", "f": null, "g": [1, "y"]})
        );
    }

    #[test]
    fn a_block_scalar_at_the_end_of_a_file_without_a_line_break_has_none() {
        let text = |yaml: &str| match Node::parse(yaml).unwrap().get("a").unwrap().kind.clone() {
            NodeKind::Scalar(text, _) => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(text("a: |\n  x\n  y"), "x\ny");
        assert_eq!(text("a: |\n  x\n  y\n"), "x\ny\n");
        assert_eq!(text("a: |\n  x\nb: 1"), "x\n");
        assert_eq!(text("a: >\n  x\n  y"), "x y");
    }

    /// Renders every node of `node` as `line:col what`, one per line.
    fn outline(node: &Node, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let Mark { line, col } = node.mark;
        match &node.kind {
            NodeKind::Null => out.push_str(&format!("{pad}{line}:{col} null\n")),
            NodeKind::Scalar(text, style) => {
                out.push_str(&format!("{pad}{line}:{col} {style:?} {text:?}\n"));
            }
            NodeKind::Seq(items) => {
                out.push_str(&format!("{pad}{line}:{col} seq\n"));
                items.iter().for_each(|item| outline(item, depth + 1, out));
            }
            NodeKind::Map(entries) => {
                out.push_str(&format!("{pad}{line}:{col} map\n"));
                for (key, value) in entries {
                    outline(key, depth + 1, out);
                    outline(value, depth + 2, out);
                }
            }
        }
    }

    /// Parses `text` and renders its outline, or the parse error.
    fn check(text: &str, expected: Expect) {
        let actual = match Node::parse(text) {
            Ok(node) => {
                let mut out = String::new();
                outline(&node, 0, &mut out);
                out
            }
            Err(lint) => lint.to_string(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn parses_with_positions() {
        check(
            "input:\n  http_server:\n    path: /post\n    sync_response: ~\n    n: [1, 'two']\n    empty:\n",
            expect![[r#"
                1:1 map
                  1:1 Plain "input"
                    2:3 map
                      2:3 Plain "http_server"
                        3:5 map
                          3:5 Plain "path"
                            3:11 Plain "/post"
                          4:5 Plain "sync_response"
                            4:20 Plain "~"
                          5:5 Plain "n"
                            5:8 seq
                              5:9 Plain "1"
                              5:12 SingleQuoted "two"
                          6:5 Plain "empty"
                            6:10 null
            "#]],
        );
    }

    #[test]
    fn empty_documents_are_empty_maps() {
        check(
            "",
            expect![[r#"
            1:1 map
        "#]],
        );
        check(
            "# only a comment\n",
            expect![[r#"
            1:1 map
        "#]],
        );
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let err = Node::parse(&text).unwrap_err();
        assert!(
            err.message.contains("excessive aliasing"),
            "{}",
            err.message
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("a: {}{}", "[".repeat(20_000), "]".repeat(20_000));
        let err = Node::parse(&text).unwrap_err();
        // The YAML parser has its own limit, which may come first.
        assert!(
            err.message.contains("exceeded max depth") || err.message.contains("recursion limit"),
            "{}",
            err.message
        );
        // Block collections have no limit in the parser.
        let block: String = (0..600)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let err = Node::parse(&block).unwrap_err();
        assert!(
            err.message.contains("exceeded max depth of 500"),
            "{}",
            err.message
        );
        let ok = format!("a: {}{}", "[".repeat(100), "]".repeat(100));
        assert!(Node::parse(&ok).is_ok());
    }

    #[test]
    fn expands_anchors_and_merge_keys() {
        check(
            "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\n",
            expect![[r#"
                1:1 map
                  1:1 Plain "base"
                    1:7 map
                      1:11 Plain "a"
                        1:14 Plain "1"
                      1:17 Plain "b"
                        1:20 Plain "2"
                  2:1 Plain "derived"
                    3:3 map
                      4:3 Plain "b"
                        4:6 Plain "3"
                      1:11 Plain "a"
                        1:14 Plain "1"
            "#]],
        );
    }

    #[test]
    fn reports_yaml_errors_with_positions() {
        check(
            "a: b: c\n",
            expect!["(1,5) yaml: mapping values are not allowed in this context"],
        );
        check(
            "a: 1\nb: 2\na: 3\n",
            expect![[r#"(3,1) yaml: mapping key "a" already defined at line 1"#]],
        );
        check(
            "a: [1, 2\n",
            expect!["(2,1) yaml: while parsing a flow sequence, expected ',' or ']'"],
        );
    }

    #[test]
    fn maps_block_scalar_content_to_file_positions() {
        let text = "pipeline:\n  processors:\n    - mapping: |\n        root = this\n        root.x = foo(\n";
        let root = Node::parse(text).unwrap();
        let processors = root.get("pipeline").unwrap().get("processors").unwrap();
        let mapping = processors.as_seq().unwrap()[0].get("mapping").unwrap();
        assert_eq!(mapping.as_str(), Some("root = this\nroot.x = foo(\n"));
        assert_eq!(mapping.report_line(), 3);
        // Char 5 of the mapping's second line is the `x` of `root.x`.
        assert_eq!(mapping.content_position(2, 6), Mark::new(5, 14));
        assert_eq!(mapping.content_position(1, 1), Mark::new(4, 9));
        assert_eq!(mapping.content_position(2, 5), Mark::new(5, 13));

        let leading_blank = Node::parse("m: |\n\n  foo\n").unwrap();
        let m = leading_blank.get("m").unwrap();
        assert_eq!(m.content_position(2, 1), Mark::new(3, 3));
        assert_eq!(m.report_line(), 1);
    }

    #[test]
    fn maps_flow_scalar_content_to_file_positions() {
        let root = Node::parse("a: root = x\nb: 'root = y'\nc: \"z\"\n").unwrap();
        assert_eq!(
            root.get("a").unwrap().content_position(1, 8),
            Mark::new(1, 11)
        );
        assert_eq!(
            root.get("b").unwrap().content_position(1, 8),
            Mark::new(2, 12)
        );
        assert_eq!(
            root.get("c").unwrap().content_position(1, 1),
            Mark::new(3, 5)
        );
    }

    #[test]
    fn tells_nulls_and_tags() {
        let root =
            Node::parse("a: ~\nb: null\nc:\nd: 'null'\ne: 5\nf: 1.5\ng: true\nh: x\ni: []\n")
                .unwrap();
        let nulls: Vec<bool> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|k| root.get(k).unwrap().is_null())
            .collect();
        assert_eq!(nulls, [true, true, true, false, false]);
        let tags: Vec<&str> = ["a", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .map(|k| root.get(k).unwrap().short_tag())
            .collect();
        expect![[
            r#"["!!null", "!!null", "!!str", "!!int", "!!float", "!!bool", "!!str", "!!seq"]"#
        ]]
        .assert_eq(&format!("{tags:?}"));
    }

    #[test]
    fn sets_paths_like_dash_dash_set() {
        let mut root = Node::parse(
            "input:\n  http_server:\n    path: /a\npipeline:\n  processors:\n    - a: 1\n",
        )
        .unwrap();
        root.set_path("input.http_server.path", "/x").unwrap();
        root.set_path("input.http_server.timeout", "5s").unwrap();
        root.set_path("pipeline.processors.0.a", "2").unwrap();
        root.set_path("pipeline.processors.-", "{b: [1, 2]}")
            .unwrap();
        root.set_path("output.drop", "{}").unwrap();
        root.set_path("logger.static_fields.quoted", "'5'").unwrap();
        expect![[r#"
            input:
              http_server:
                path: /x
                timeout: 5s
            pipeline:
              processors:
                - a: 2
                - b:
                    - 1
                    - 2
            output:
              drop: {}
            logger:
              static_fields:
                quoted: '5'
        "#]]
        .assert_eq(&root.to_yaml());
        let err = root.set_path("pipeline.processors.7", "x").unwrap_err();
        expect!["7: target index greater than array length"].assert_eq(&err);
    }

    #[test]
    fn emits_block_yaml_that_reads_back() {
        let text = r#"http:
  address: "0.0.0.0:4195"
  enabled: true
input:
  label: in
  http_server:
    path: /post
    allowed_verbs: [POST, "GET"]
pipeline:
  processors:
    - mapping: |
        root = this
          .uppercase()
    - bloblang: 'root = "x"'
    - log:
        message: "a\tb"
    - branch:
        request_map: "  indented\nline\n\n"
    - ~
output:
  stdout: {}
  processors: []
key with space: 'it''s'
"#;
        let root = Node::parse(text).unwrap();
        let yaml = root.to_yaml();
        expect![[r#"
            http:
              address: "0.0.0.0:4195"
              enabled: true
            input:
              label: in
              http_server:
                path: /post
                allowed_verbs:
                  - POST
                  - "GET"
            pipeline:
              processors:
                - mapping: |
                    root = this
                      .uppercase()
                - bloblang: 'root = "x"'
                - log:
                    message: "a\tb"
                - branch:
                    request_map: |2+
                        indented
                      line

                - ~
            output:
              stdout: {}
              processors: []
            key with space: 'it''s'
        "#]]
        .assert_eq(&yaml);
        // Multi-line strings come back as block scalars: same values, new style.
        let reparsed = Node::parse(&yaml).unwrap();
        let as_json = |node: &Node| serde_json::to_string(node).unwrap();
        assert_eq!(as_json(&reparsed), as_json(&root));
        assert_eq!(reparsed.to_yaml(), yaml);
    }

    #[test]
    fn infers_core_schema_types() {
        let cases = [
            "~", "true", "False", "12", "-3", "0x1F", "0o17", "1.5", "-.5", "1e3", ".inf", ".NaN",
            "1_000", "0b1", "12abc", "yes",
        ];
        let inferred: Vec<String> = cases
            .iter()
            .map(|c| format!("{c}={:?}", infer_plain(c)))
            .collect();
        expect![[r#"["~=Null", "true=Bool(true)", "False=Bool(false)", "12=Int(12)", "-3=Int(-3)", "0x1F=Int(31)", "0o17=Int(15)", "1.5=Float(1.5)", "-.5=Float(-0.5)", "1e3=Float(1000.0)", ".inf=Float(inf)", ".NaN=Float(NaN)", "1_000=Str", "0b1=Str", "12abc=Str", "yes=Str"]"#]]
            .assert_eq(&format!("{inferred:?}"));
    }
}
