//! YAML text as Benthos's `format_yaml` writes it: the block layout and quoting of Go's
//! yaml.v3 encoder (four-space indents, sequences indented under their key, strings that would
//! read back as another type double-quoted, YAML 1.1 booleans quoted too, no line width so
//! nothing is folded). Bytes are written as the sequence of their values, as Go marshals a
//! byte slice.

use std::cmp::Ordering;

use crate::value::{Num, Value};

const BEST_INDENT: i64 = 4;

/// The YAML document of `v`, ending in a newline.
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
        indents: Vec::new(),
    };
    e.node(v, Context::Root);
    // The document ends on a line of its own.
    e.write_indent_at(0);
    e.out
}

/// Where a node sits: what yaml.v3 decides indentation and key styles from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    SequenceItem,
    SimpleKey,
    ComplexKey,
    MapValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i64,
    indents: Vec<i64>,
}

impl Emitter {
    fn push_str(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    /// A nested node's indentation: two past a sequence's dash, else the next multiple of
    /// four (flow contexts start from four).
    fn increase_indent(&mut self, flow: bool, ctx: Context) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if ctx == Context::SequenceItem {
            self.indent += 2;
        } else {
            self.indent = BEST_INDENT * ((self.indent + BEST_INDENT) / BEST_INDENT);
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self
            .indents
            .pop()
            .expect("indents are pushed before popped");
    }

    fn write_indent(&mut self) {
        let indent = usize::try_from(self.indent.max(0)).unwrap_or_default();
        self.write_indent_at(indent);
    }

    fn write_indent_at(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.out.push(' ');
            self.column += 1;
        }
        self.whitespace = true;
    }

    fn write_indicator(
        &mut self,
        s: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.push_str(" ");
        }
        self.push_str(s);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Value, ctx: Context) {
        match v {
            Value::Object(m) if m.is_empty() => self.empty_flow("{", "}", ctx),
            Value::Array(a) if a.is_empty() => self.empty_flow("[", "]", ctx),
            Value::Bytes(b) if b.is_empty() => self.empty_flow("[", "]", ctx),
            Value::Object(m) => {
                // yaml.v3's key order is not total on every set of keys: sorted by a
                // sort that cannot panic on that.
                let keys: Vec<(&crate::value::Key, &Value)> = m.iter().collect();
                let Ok(keys) = super::structured::merge_sort_by(keys, &mut |right, left| {
                    Ok::<_, std::convert::Infallible>(natural_cmp(right.0, left.0).is_lt())
                });
                self.increase_indent(false, ctx);
                for (k, v) in keys {
                    self.write_indent();
                    let key = Scalar::of_string(k);
                    if !key.analysis.multiline && k.len() <= 128 {
                        self.scalar(&key, Context::SimpleKey);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.scalar(&key, Context::ComplexKey);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(v, Context::MapValue);
                }
                self.pop_indent();
            }
            Value::Array(items) => {
                self.increase_indent(false, ctx);
                for item in items {
                    self.item(item);
                }
                self.pop_indent();
            }
            Value::Bytes(bytes) => {
                self.increase_indent(false, ctx);
                for b in bytes {
                    self.item(&Value::Int(i64::from(*b)));
                }
                self.pop_indent();
            }
            scalar => self.scalar(&Scalar::of_value(scalar), ctx),
        }
    }

    fn item(&mut self, v: &Value) {
        self.write_indent();
        self.write_indicator("-", true, false, true);
        self.node(v, Context::SequenceItem);
    }

    fn empty_flow(&mut self, open: &str, close: &str, ctx: Context) {
        self.write_indicator(open, true, true, false);
        // The flow collection's indentation is pushed and popped without effect.
        self.increase_indent(true, ctx);
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, s: &Scalar, ctx: Context) {
        let simple_key = ctx == Context::SimpleKey;
        let a = &s.analysis;
        let mut style = s.requested;
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.text.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        self.increase_indent(true, ctx);
        match style {
            Style::Plain => self.write_plain(&s.text),
            Style::Single => self.write_single(&s.text),
            Style::Double => self.write_double(&s.text),
            Style::Literal => self.write_literal(&s.text),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, value: &str) {
        if !value.is_empty() {
            if !self.whitespace {
                self.push_str(" ");
            }
            self.push_str(value);
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn write_single(&mut self, value: &str) {
        self.write_indicator("'", true, false, false);
        let b = value.as_bytes();
        let mut breaks = false;
        let mut i = 0;
        while i < b.len() {
            let w = width(b[i]);
            if b[i] == b' ' {
                self.push_str(" ");
            } else if is_break(b, i) {
                // Line and paragraph separators: written raw, and the line starts anew.
                if !breaks && b[i] == b'\n' {
                    self.put_break();
                }
                if b[i] == b'\n' {
                    self.put_break();
                } else {
                    self.out.push_str(&value[i..i + w]);
                    self.column = 0;
                    self.indention = true;
                }
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                breaks = false;
                if b[i] == b'\'' {
                    self.push_str("'");
                }
                self.push_str(&value[i..i + w]);
                self.indention = false;
            }
            i += w;
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str) {
        self.write_indicator("\"", true, false, false);
        let b = value.as_bytes();
        // Go checks for a byte order mark at the start of the whole value here, so one there
        // escapes every character.
        let starts_with_bom = b.starts_with(&[0xEF, 0xBB, 0xBF]);
        let mut i = 0;
        while i < b.len() {
            let w = width(b[i]);
            let c = value[i..]
                .chars()
                .next()
                .expect("a char starts at every boundary");
            if !is_printable(b, i) || starts_with_bom || is_break(b, i) || c == '"' || c == '\\' {
                self.push_str("\\");
                let esc = match c {
                    '\0' => "0".to_owned(),
                    '\u{7}' => "a".to_owned(),
                    '\u{8}' => "b".to_owned(),
                    '\t' => "t".to_owned(),
                    '\n' => "n".to_owned(),
                    '\u{b}' => "v".to_owned(),
                    '\u{c}' => "f".to_owned(),
                    '\r' => "r".to_owned(),
                    '\u{1b}' => "e".to_owned(),
                    '"' => "\"".to_owned(),
                    '\\' => "\\".to_owned(),
                    '\u{85}' => "N".to_owned(),
                    '\u{a0}' => "_".to_owned(),
                    '\u{2028}' => "L".to_owned(),
                    '\u{2029}' => "P".to_owned(),
                    c if u32::from(c) <= 0xFF => format!("x{:02X}", u32::from(c)),
                    c if u32::from(c) <= 0xFFFF => format!("u{:04X}", u32::from(c)),
                    c => format!("U{:08X}", u32::from(c)),
                };
                self.push_str(&esc);
            } else {
                self.push_str(&value[i..i + w]);
            }
            i += w;
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        let b = value.as_bytes();
        if is_space(b, 0) || is_break(b, 0) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        if let Some(chomp) = chomp_hint(b) {
            self.write_indicator(chomp, false, false, false);
        }
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < b.len() {
            let w = width(b[i]);
            if is_break(b, i) {
                if b[i] == b'\n' {
                    self.put_break();
                } else {
                    self.out.push_str(&value[i..i + w]);
                    self.column = 0;
                    self.indention = true;
                }
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.push_str(&value[i..i + w]);
                self.indention = false;
                breaks = false;
            }
            i += w;
        }
    }
}

/// `-` when the text does not end in a line break, `+` when it ends in two (or is one).
fn chomp_hint(b: &[u8]) -> Option<&'static str> {
    if b.is_empty() {
        return Some("-");
    }
    let mut i = b.len() - 1;
    while b[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    if !is_break(b, i) {
        return Some("-");
    }
    if i == 0 {
        return Some("+");
    }
    i -= 1;
    while b[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    is_break(b, i).then_some("+")
}

/// A scalar's text and the style Go's encoder asks for.
struct Scalar {
    text: String,
    requested: Style,
    analysis: Analysis,
}

impl Scalar {
    fn of_string(s: &str) -> Scalar {
        let requested = if s.contains('\n') {
            Style::Literal
        } else if !resolves_to_other_type(s) && !is_base60_float(s) && !is_old_bool(s) {
            Style::Plain
        } else {
            Style::Double
        };
        Scalar {
            text: s.to_owned(),
            requested,
            analysis: analyze(s.as_bytes()),
        }
    }

    fn of_value(v: &Value) -> Scalar {
        let text = match v {
            Value::String(s) => return Scalar::of_string(s),
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_text(*f),
            Value::Number(_) => match v.as_num() {
                Some(Num::I(i)) => i.to_string(),
                Some(Num::F(f)) => float_text(f),
                None => return Scalar::of_string(&v.to_interp_string()),
            },
            Value::Timestamp(t) => crate::value::format_rfc3339_nano(t),
            Value::Bytes(_) | Value::Array(_) | Value::Object(_) => {
                unreachable!("collections are not scalars")
            }
        };
        Scalar {
            analysis: analyze(text.as_bytes()),
            text,
            requested: Style::Plain,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's infinities and NaN.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        crate::value::format_float_g(f)
    }
}

/// What a scalar's characters allow, as yaml.v3's emitter works it out.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn width(b: u8) -> usize {
    match b {
        b if b & 0x80 == 0 => 1,
        b if b & 0xE0 == 0xC0 => 2,
        b if b & 0xF0 == 0xE0 => 3,
        b if b & 0xF8 == 0xF0 => 4,
        _ => 1,
    }
}

fn is_space(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b' ')
}

fn is_blank(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), Some(b' ' | b'\t'))
}

fn is_break(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(b'\r' | b'\n') => true,
        Some(0xC2) => b.get(i + 1) == Some(&0x85),
        Some(0xE2) => b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)),
        _ => false,
    }
}

/// Printable in YAML's sense, judged from the UTF-8 bytes as libyaml does (so characters
/// outside the basic plane count as unprintable and are escaped).
fn is_printable(b: &[u8], i: usize) -> bool {
    let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
    let c = at(0);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (c == 0xC2 && at(1) >= 0xA0)
        || (c > 0xC2 && c < 0xED)
        || (c == 0xED && at(1) < 0xA0)
        || c == 0xEE
        || (c == 0xEF
            && !(at(1) == 0xBB && at(2) == 0xBF)
            && !(at(1) == 0xBF && (at(2) == 0xBE || at(2) == 0xBF)))
}

fn analyze(value: &[u8]) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = value.starts_with(b"---") || value.starts_with(b"...");
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut i = 0;
    while i < value.len() {
        let w = width(value[i]);
        let followed_by_whitespace = i + w >= value.len() || is_blank(value, i + w);
        if i == 0 {
            match value[i] {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
                b'?' | b':' | b'-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match value[i] {
                b':' if followed_by_whitespace => block_indicators = true,
                b'#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if value[i] == b'\t' {
            tabs = true;
        } else if !is_printable(value, i) {
            special = true;
        }
        if value[i] == b' ' {
            leading_space |= i == 0;
            trailing_space |= i + w == value.len();
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(value, i) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + w == value.len();
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank(value, i) || is_break(value, i) || value[i] == 0;
        i += w;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// YAML 1.1 booleans, which yaml.v3 still quotes so that older readers agree.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Sexagesimal floats of YAML 1.1 (`1:20`), also quoted.
fn is_base60_float(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first == '+' || first == '-' || first.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("the base 60 pattern compiles")
    });
    RE.is_match(s)
}

/// Whether yaml.v3 would read the plain text as something other than a string (null, a
/// boolean, a number or a timestamp), so that it must be quoted to stay a string.
fn resolves_to_other_type(s: &str) -> bool {
    // ("<<", the merge key, is in Go's table too but never looked up: '<' starts nothing.)
    const SPECIAL: [&str; 23] = [
        "true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL", ".nan",
        ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    match s.as_bytes().first() {
        Some(b'.') => go_parse_float(s),
        Some(b'+' | b'-' | b'0'..=b'9') => {
            if is_yaml_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            if go_parse_int(&plain) {
                return true;
            }
            static FLOAT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
                    .expect("the float pattern compiles")
            });
            FLOAT.is_match(&plain)
        }
        _ => false,
    }
}

/// Go's `strconv.ParseFloat` on text starting with a dot (decimal forms only).
fn go_parse_float(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^\.[0-9](_?[0-9])*([eE][-+]?[0-9](_?[0-9])*)?$")
            .expect("the dot float pattern compiles")
    });
    // Go accepts underscores only with a base prefix, which a leading dot rules out.
    RE.is_match(s) && !s.contains('_')
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeding.
fn go_parse_int(s: &str) -> bool {
    let (signed, body) = match s.as_bytes().first() {
        Some(b'+' | b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    let magnitude = u128::from_str_radix(digits, radix).unwrap_or(u128::MAX);
    let negative = s.starts_with('-');
    if negative {
        magnitude <= 1u128 << 63
    } else if signed {
        magnitude <= i64::MAX as u128
    } else {
        magnitude <= u128::from(u64::MAX)
    }
}

/// The timestamp forms yaml.v3 recognises in plain text: a date, or a date and time.
fn is_yaml_timestamp(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"^(\d{4})-(\d{1,2})-(\d{1,2})",
            r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))",
            r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?$"
        ))
        .expect("the timestamp pattern compiles")
    });
    let Some(c) = RE.captures(s) else {
        return false;
    };
    let num = |k: usize| c.get(k).map(|m| m.as_str().parse::<u32>().unwrap_or(99));
    let (Some(y), Some(m), Some(d)) = (num(1), num(2), num(3)) else {
        return false;
    };
    if chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_none() {
        return false;
    }
    // A date alone, or a time in the first (zoned) or second (local) form.
    let (Some(h), Some(min), Some(sec)) = (num(4).or(num(7)), num(5).or(num(8)), num(6).or(num(9)))
    else {
        return true;
    };
    h < 24 && min < 60 && sec < 60
}

/// yaml.v3's order of map keys: digit runs compare as numbers, letters before other
/// characters (after them inside a number).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}
