//! Hand-written recursive descent over chars, shaped like Benthos's parser so that errors land
//! on the same positions with the same expectations.

use crate::value::Map;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::diagnostic::ParseError;
use crate::env::{Environment, Kind};
use crate::eval::{BinOp, Call, Expr, Flow, Key, Maps, Pattern, Stmt, Target, apply_bin};
use crate::value::Value;

/// A parser failure at a char position.
#[derive(Debug, Clone)]
pub(crate) struct PErr {
    pub(crate) pos: usize,
    pub(crate) expected: Vec<String>,
    pub(crate) fatal: Option<String>,
}

impl PErr {
    fn new(pos: usize, expected: &[&str]) -> Self {
        PErr {
            pos,
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            fatal: None,
        }
    }

    fn fatal(pos: usize, msg: impl Into<String>) -> Self {
        PErr {
            pos,
            expected: Vec::new(),
            fatal: Some(msg.into()),
        }
    }

    fn required(mut self) -> Self {
        if self.fatal.is_none() {
            self.fatal = Some("required".to_owned());
        }
        self
    }

    fn is_fatal(&self) -> bool {
        self.fatal.is_some()
    }

    fn expect(mut self, at: usize, names: &[&str]) -> Self {
        if !self.is_fatal() && self.pos == at {
            self.expected = names.iter().map(|s| (*s).to_owned()).collect();
        }
        self
    }
}

type P<T> = Result<T, PErr>;

/// Keeps the deepest of two failures, merging expectations at the same depth.
fn merge(acc: Option<PErr>, e: PErr) -> PErr {
    match acc {
        None => e,
        Some(mut a) => {
            if e.pos > a.pos {
                e
            } else if e.pos == a.pos {
                a.expected.extend(e.expected);
                a
            } else {
                a
            }
        }
    }
}

/// Benthos's message for named arguments that match no parameter: sorted, with the
/// parameters still missing as suggestions.
fn unknown_params(
    mut unknown: Vec<String>,
    params: &[crate::env::Param],
    slots: &[Option<Expr>],
) -> String {
    unknown.sort();
    let missing: Vec<&str> = params
        .iter()
        .zip(slots)
        .filter(|(p, slot)| slot.is_none() && p.default.is_none())
        .map(|(p, _)| p.name)
        .collect();
    let hint = match missing.as_slice() {
        [] => String::new(),
        [one] => format!(", did you mean {one}?"),
        many => format!(", expected {}", many.join(", ")),
    };
    match unknown.as_slice() {
        [one] => format!("unknown parameter {one}{hint}"),
        many => format!("unknown parameters {}{hint}", many.join(", ")),
    }
}

/// A literal argument converted to its parameter's type as Benthos does when it builds a
/// function: integers truncate floats, booleans take numbers, timestamps parse.
fn literal_arg(kind: Kind, v: Value) -> Result<Value, String> {
    let type_error = |expected: &str, v: &Value| {
        let shown = match v {
            Value::String(s) => format!(" (\"{s}\")"),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                format!(" ({})", v.to_interp_string())
            }
            _ => String::new(),
        };
        format!("expected {expected} value, got {}{shown}", v.type_name())
    };
    match kind {
        Kind::Any | Kind::Query => Ok(v),
        Kind::Str => match v {
            Value::String(_) => Ok(v),
            Value::Bytes(b) => Ok(Value::String(
                String::from_utf8_lossy(&b).into_owned().into(),
            )),
            other => Err(format!(
                "wrong argument type, expected string, got {}",
                other.type_name()
            )),
        },
        Kind::Int => match v.as_num() {
            Some(crate::value::Num::I(i)) => Ok(Value::Int(i)),
            Some(crate::value::Num::F(f)) => Ok(Value::Int(f as i64)),
            None => Err(type_error("number", &v)),
        },
        Kind::Num => match v.as_num() {
            Some(_) => Ok(v),
            None => Err(type_error("number", &v)),
        },
        Kind::Bool => match &v {
            Value::Bool(_) => Ok(v),
            other => match other.as_num() {
                Some(n) => Ok(Value::Bool(n.as_f64() != 0.0)),
                None => Err(type_error("bool", other)),
            },
        },
        Kind::Timestamp => crate::methods::time::get_timestamp(&v).map(Value::Timestamp),
    }
}

pub(crate) struct Parser {
    chars: Vec<char>,
    pub(crate) pos: usize,
    env: &'static Environment,
    named: Vec<String>,
    base_dir: Option<PathBuf>,
    /// Mappings given to the `bloblang` method may not import files.
    imports_disabled: bool,
    /// How many terms are being parsed one inside the other.
    depth: usize,
}

/// How deeply terms may nest (brackets, literals, arguments): far beyond
/// any mapping written by hand, and well inside the stack.
const MAX_TERM_DEPTH: usize = 500;

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_snake(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// The char position of a byte offset, 1-based line and column.
pub(crate) fn line_col(chars: &[char], pos: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for &c in chars.iter().take(pos) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

pub(crate) struct ParsedMapping {
    pub(crate) stmts: Vec<Stmt>,
    pub(crate) maps: Maps,
}

/// Runs a static plugin on a literal target with literal arguments at parse time, as Benthos
/// does, so that its failure is a parse error. `None` when the call cannot be folded.
fn fold_static(
    spec: &crate::env::Spec,
    target: &Expr,
    args: &[Expr],
) -> Option<Result<Value, String>> {
    use crate::env::{Impl, MethodImpl, Origin};
    if spec.origin != Origin::StaticPlugin {
        return None;
    }
    let Expr::Lit(target) = target else {
        return None;
    };
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        let Expr::Lit(v) = a else {
            return None;
        };
        values.push(v.clone());
    }
    match &spec.imp {
        Impl::Method(MethodImpl::Simple(f)) => Some(f(target.clone(), &values)),
        Impl::Method(MethodImpl::Ref(f)) => Some(f(target, &values)),
        Impl::Method(MethodImpl::Metered(f)) => Some(f(
            target.clone(),
            &values,
            &mut crate::budget::Steps::full(),
        )),
        _ => None,
    }
}

impl Parser {
    pub(crate) fn new(src: &str, env: &'static Environment) -> Self {
        Parser {
            chars: src.chars().collect(),
            pos: 0,
            env,
            named: Vec::new(),
            base_dir: None,
            imports_disabled: false,
            depth: 0,
        }
    }

    pub(crate) fn without_imports(mut self) -> Self {
        self.imports_disabled = true;
        self
    }

    pub(crate) fn with_base_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.base_dir = dir;
        self
    }

    pub(crate) fn to_error(&self, e: &PErr) -> ParseError {
        let (line, col) = line_col(&self.chars, e.pos);
        ParseError::new(line, col, e.expected.clone(), e.fatal.clone())
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn starts_with(&self, s: &str) -> bool {
        for (i, c) in (self.pos..).zip(s.chars()) {
            if self.chars.get(i) != Some(&c) {
                return false;
            }
        }
        true
    }

    fn term(&mut self, s: &str) -> P<()> {
        if self.starts_with(s) {
            self.pos += s.chars().count();
            Ok(())
        } else {
            Err(PErr::new(self.pos, &[s]))
        }
    }

    fn ch(&mut self, c: char) -> P<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            let s = c.to_string();
            Err(PErr::new(self.pos, &[s.as_str()]))
        }
    }

    /// Zero or more spaces and tabs.
    fn spaces(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// One or more spaces and tabs.
    fn req_spaces(&mut self) -> P<()> {
        if self.spaces() == 0 {
            return Err(PErr::new(self.pos, &["whitespace"]));
        }
        Ok(())
    }

    /// A comment or line break.
    fn newline_allow_comment(&mut self) -> P<()> {
        let start = self.pos;
        if self.peek() == Some('#') {
            let mut i = self.pos;
            while i < self.chars.len() && self.chars[i] != '\n' {
                i += 1;
            }
            if i < self.chars.len() {
                self.pos = i + 1;
                return Ok(());
            }
            return Err(PErr::new(self.chars.len(), &["line break"]));
        }
        if self.peek() == Some('\r') && self.peek_at(1) == Some('\n') {
            self.pos += 2;
            return Ok(());
        }
        if self.peek() == Some('\n') {
            self.pos += 1;
            return Ok(());
        }
        Err(PErr::new(start, &["line break"]))
    }

    /// Any spaces, comments and line breaks.
    fn ws_nl(&mut self) {
        loop {
            if self.spaces() > 0 {
                continue;
            }
            let save = self.pos;
            if self.newline_allow_comment().is_ok() {
                continue;
            }
            self.pos = save;
            break;
        }
    }

    fn word(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_word) {
            self.pos += 1;
        }
        if self.pos == start {
            None
        } else {
            Some(self.chars[start..self.pos].iter().collect())
        }
    }

    fn snake(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_snake) {
            self.pos += 1;
        }
        if self.pos == start {
            None
        } else {
            Some(self.chars[start..self.pos].iter().collect())
        }
    }

    fn quoted_string(&mut self) -> P<String> {
        let start = self.pos;
        if self.peek() != Some('"') {
            return Err(PErr::new(start, &["quoted string"]));
        }
        let mut i = start + 1;
        let mut escaped = false;
        while i < self.chars.len() {
            let c = self.chars[i];
            if c == '"' && !escaped {
                let raw: String = self.chars[start + 1..i].iter().collect();
                let s = unquote(&raw).map_err(|e| {
                    PErr::fatal(
                        start,
                        format!("failed to unescape quoted string contents: {e}"),
                    )
                })?;
                self.pos = i + 1;
                return Ok(s);
            }
            if c == '\\' {
                escaped = !escaped;
            } else {
                escaped = false;
            }
            i += 1;
        }
        Err(PErr {
            pos: self.chars.len(),
            expected: vec!["end quote".to_owned()],
            fatal: Some("required".to_owned()),
        })
    }

    fn triple_quoted(&mut self) -> P<String> {
        let start = self.pos;
        if !self.starts_with("\"\"\"") {
            return Err(PErr::new(start, &["quoted string"]));
        }
        let mut i = start + 3;
        while i + 2 < self.chars.len() {
            if self.chars[i] == '"' && self.chars[i + 1] == '"' && self.chars[i + 2] == '"' {
                let s: String = self.chars[start + 3..i].iter().collect();
                self.pos = i + 3;
                return Ok(s);
            }
            i += 1;
        }
        Err(PErr {
            pos: self.chars.len(),
            expected: vec!["end triple-quote".to_owned()],
            fatal: Some("required".to_owned()),
        })
    }

    // ---------------------------------------------------------------- mappings

    pub(crate) fn parse_mapping(&mut self) -> P<ParsedMapping> {
        // `from "file"` alone imports a whole mapping.
        let start = self.pos;
        self.ws_nl();
        if self.term("from").is_ok()
            && self.req_spaces().is_ok()
            && let Ok(path) = self.quoted_string()
        {
            self.ws_nl();
            if self.at_end() {
                return self.import_mapping(start, &path);
            }
        }
        self.pos = start;

        let mut maps = Maps::new();
        let exe = self.executor(&mut maps);
        let exe = match exe {
            Ok(stmts) => return Ok(ParsedMapping { stmts, maps }),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => e,
        };
        self.pos = start;
        match self.single_root() {
            Ok(stmt) => Ok(ParsedMapping {
                stmts: vec![stmt],
                maps: Maps::new(),
            }),
            Err(e) => {
                if e.is_fatal() || e.pos > exe.pos {
                    Err(e)
                } else {
                    Err(exe)
                }
            }
        }
    }

    fn read_import(&self, at: usize, path: &str) -> P<String> {
        if self.imports_disabled {
            return Err(PErr::fatal(
                at,
                "failed to read import: imports are disabled in this context",
            ));
        }
        let full = match &self.base_dir {
            Some(d) if !std::path::Path::new(path).is_absolute() => d.join(path),
            _ => PathBuf::from(path),
        };
        std::fs::read_to_string(&full).map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => format!("open {path}: no such file or directory"),
                _ => format!("open {path}: {e}"),
            };
            PErr::fatal(at, format!("failed to read import: {reason}"))
        })
    }

    fn sub_parser(&self, content: &str, path: &str) -> Parser {
        let full = match &self.base_dir {
            Some(d) if !std::path::Path::new(path).is_absolute() => d.join(path),
            _ => PathBuf::from(path),
        };
        Parser::new(content, self.env).with_base_dir(full.parent().map(PathBuf::from))
    }

    fn import_mapping(&mut self, at: usize, path: &str) -> P<ParsedMapping> {
        let content = self.read_import(at, path)?;
        let mut sub = self.sub_parser(&content, path);
        let mut maps = Maps::new();
        match sub.executor(&mut maps) {
            Ok(stmts) => Ok(ParsedMapping { stmts, maps }),
            Err(e) => {
                let inner = sub.to_error(&e);
                Err(PErr::fatal(
                    at,
                    format!("failed to parse import '{path}': {inner}"),
                ))
            }
        }
    }

    fn single_root(&mut self) -> P<Stmt> {
        self.ws_nl();
        let start = self.pos;
        let expr = self.query()?;
        let end = self.pos;
        self.ws_nl();
        if !self.at_end() {
            let text: String = self.chars[start..end].iter().collect();
            let shown: String = if text.chars().count() > 12 {
                text.chars().take(12).collect::<String>() + "..."
            } else {
                text
            };
            return Err(PErr {
                pos: self.pos,
                expected: vec![format!(
                    "the mapping to end here as the beginning is shorthand for `root = {shown}`, but this shorthand form cannot be followed with more assignments"
                )],
                fatal: None,
            });
        }
        Ok(Stmt::Assign {
            target: Target::Root(Vec::new()),
            expr,
            line: 1,
        })
    }

    fn executor(&mut self, maps: &mut Maps) -> P<Vec<Stmt>> {
        let mut stmts = Vec::new();
        self.ws_nl();
        if let Some(s) = self.statement(Some(maps), true)? {
            stmts.push(s);
        }
        loop {
            self.spaces();
            if self.at_end() {
                break;
            }
            self.newline_allow_comment()?;
            self.ws_nl();
            if self.at_end() {
                break;
            }
            if let Some(s) = self.statement(Some(maps), true)? {
                stmts.push(s);
            }
        }
        Ok(stmts)
    }

    fn line_here(&self) -> usize {
        line_col(&self.chars, self.pos).0
    }

    /// One statement; `None` for statements that only define things (maps, imports).
    fn statement(&mut self, maps: Option<&mut Maps>, allow_meta: bool) -> P<Option<Stmt>> {
        let start = self.pos;
        let mut acc: Option<PErr> = None;
        let mut maps = maps;

        // import
        if self.term("import").is_ok() {
            let r = (|| -> P<String> {
                self.req_spaces()?;
                self.quoted_string()
                    .map_err(|e| e.expect(self.pos, &["filepath"]).required())
            })();
            match r {
                Ok(path) => {
                    let Some(maps) = maps.as_deref_mut() else {
                        return Err(PErr::fatal(
                            start,
                            "importing mappings is not allowed within this block",
                        ));
                    };
                    let content = self.read_import(start, &path)?;
                    let mut sub = self.sub_parser(&content, &path);
                    let mut sub_maps = Maps::new();
                    if let Err(e) = sub.executor(&mut sub_maps) {
                        let inner = sub.to_error(&e);
                        return Err(PErr::fatal(
                            start,
                            format!("failed to parse import '{path}': {inner}"),
                        ));
                    }
                    if sub_maps.is_empty() {
                        return Err(PErr::fatal(
                            start,
                            format!("no maps to import from '{path}'"),
                        ));
                    }
                    let mut collisions = Vec::new();
                    for (k, v) in sub_maps {
                        if let std::collections::hash_map::Entry::Vacant(e) = maps.entry(k.clone())
                        {
                            e.insert(v);
                        } else {
                            collisions.push(k);
                        }
                    }
                    if !collisions.is_empty() {
                        return Err(PErr::fatal(
                            start,
                            format!(
                                "map name collisions from import '{path}': [{}]",
                                collisions.join(" ")
                            ),
                        ));
                    }
                    return Ok(None);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => acc = Some(merge(acc, e)),
            }
        } else {
            acc = Some(merge(acc, PErr::new(start, &["import"])));
        }
        self.pos = start;

        // map
        if self.term("map").is_ok() {
            let r = (|| -> P<(String, Vec<Stmt>)> {
                self.req_spaces()?;
                let name = match self.quoted_string() {
                    Ok(s) => s,
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(_) => match self.word() {
                        Some(w) => w,
                        None => return Err(PErr::new(self.pos, &["map name"]).required()),
                    },
                };
                self.req_spaces()?;
                self.ch('{')?;
                self.ws_nl();
                let body = self.block(false)?;
                Ok((name, body))
            })();
            match r {
                Ok((name, body)) => {
                    let Some(maps) = maps else {
                        return Err(PErr::fatal(
                            start,
                            "defining maps is not allowed within this block",
                        ));
                    };
                    if maps.contains_key(&name) {
                        return Err(PErr::fatal(start, format!("map name collision: {name}")));
                    }
                    maps.insert(name, Arc::new(body));
                    return Ok(None);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => acc = Some(merge(acc, e)),
            }
        } else {
            acc = Some(merge(acc, PErr::new(start, &["map"])));
        }
        self.pos = start;

        // let
        let line = self.line_here();
        if self.term("let").is_ok() {
            let r = (|| -> P<Stmt> {
                self.req_spaces()?;
                let name = match self.quoted_string() {
                    Ok(s) => s,
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(_) => match self.word() {
                        Some(w) => w,
                        None => return Err(PErr::new(self.pos, &["variable name"]).required()),
                    },
                };
                self.req_spaces()?;
                self.ch('=')?;
                self.req_spaces()?;
                let expr = self.query()?;
                Ok(Stmt::Assign {
                    target: Target::Var(name),
                    expr,
                    line,
                })
            })();
            match r {
                Ok(s) => return Ok(Some(s)),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => acc = Some(merge(acc, e)),
            }
        } else {
            acc = Some(merge(acc, PErr::new(start, &["assignment"])));
        }
        self.pos = start;

        // meta
        if self.term("meta").is_ok() {
            let r = (|| -> P<Stmt> {
                self.req_spaces()?;
                let key = match self.quoted_string() {
                    Ok(s) => Some(s),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(_) => self.word(),
                };
                self.spaces();
                self.ch('=')?;
                self.req_spaces()?;
                let expr = self.query()?;
                Ok(Stmt::Assign {
                    target: Target::Meta(key),
                    expr,
                    line,
                })
            })();
            match r {
                Ok(s) => {
                    if !allow_meta {
                        return Err(PErr::fatal(
                            start,
                            "setting meta fields is not allowed within this block",
                        ));
                    }
                    return Ok(Some(s));
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => acc = Some(merge(acc, e)),
            }
        }
        self.pos = start;

        // plain path assignment
        let r = (|| -> P<Stmt> {
            let path = self.target_path()?;
            self.req_spaces()?;
            self.ch('=')?;
            self.req_spaces()?;
            let expr = self.query()?;
            Ok(Stmt::Assign {
                target: Target::Root(path),
                expr,
                line,
            })
        })();
        match r {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => acc = Some(merge(acc, e)),
        }
        self.pos = start;

        // if statement
        if self.term("if").is_ok() {
            let r = self.if_statement(line, allow_meta);
            match r {
                Ok(s) => return Ok(Some(s)),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => acc = Some(merge(acc, e)),
            }
        }
        self.pos = start;
        Err(acc.expect("at least one statement form failed"))
    }

    fn target_path(&mut self) -> P<Vec<String>> {
        let start = self.pos;
        let Some(first) = self.word() else {
            return Err(PErr::new(start, &["assignment"]));
        };
        let mut path = Vec::new();
        if first != "root" {
            path.push(first);
        }
        while self.peek() == Some('.') {
            self.pos += 1;
            match self.quoted_string() {
                Ok(s) => path.push(s),
                Err(e) if e.is_fatal() => return Err(e),
                Err(_) => match self.word() {
                    Some(w) => path.extend(crate::eval::split_dot_path(&w)),
                    None => return Err(PErr::new(self.pos, &["target path"])),
                },
            }
        }
        Ok(path)
    }

    /// Statements until `}`; the opening brace is consumed already.
    fn block(&mut self, allow_meta: bool) -> P<Vec<Stmt>> {
        let mut stmts = Vec::new();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(stmts);
        }
        loop {
            match self.statement(None, allow_meta) {
                Ok(Some(s)) => stmts.push(s),
                Ok(None) => {}
                Err(e) => {
                    let save = self.pos;
                    self.ws_nl();
                    if self.peek() == Some('}') && !e.is_fatal() && stmts.is_empty() {
                        self.pos += 1;
                        return Ok(stmts);
                    }
                    self.pos = save;
                    return Err(e);
                }
            }
            let save = self.pos;
            self.spaces();
            match self.newline_allow_comment() {
                Ok(()) => {
                    self.ws_nl();
                    if self.peek() == Some('}') {
                        self.pos += 1;
                        return Ok(stmts);
                    }
                }
                Err(e) => {
                    self.pos = save;
                    self.ws_nl();
                    if self.peek() == Some('}') {
                        self.pos += 1;
                        return Ok(stmts);
                    }
                    let mut e = e;
                    e.expected.push("}".to_owned());
                    return Err(e);
                }
            }
        }
    }

    fn if_statement(&mut self, line: usize, allow_meta: bool) -> P<Stmt> {
        let mut branches = Vec::new();
        self.req_spaces()?;
        let cond = self.query().map_err(PErr::required)?;
        self.ws_nl();
        self.ch('{').map_err(PErr::required)?;
        self.ws_nl();
        let body = self.block(allow_meta)?;
        branches.push((cond, body));
        let mut otherwise = None;
        loop {
            let save = self.pos;
            self.ws_nl();
            if self.term("else if").is_ok() {
                self.req_spaces().map_err(PErr::required)?;
                let cond = self.query().map_err(PErr::required)?;
                self.ws_nl();
                self.ch('{').map_err(PErr::required)?;
                self.ws_nl();
                let body = self.block(allow_meta)?;
                branches.push((cond, body));
                continue;
            }
            if self.term("else").is_ok() {
                self.ws_nl();
                self.ch('{').map_err(PErr::required)?;
                self.ws_nl();
                otherwise = Some(self.block(allow_meta)?);
                break;
            }
            self.pos = save;
            break;
        }
        Ok(Stmt::If {
            branches,
            otherwise,
            line,
        })
    }

    // ---------------------------------------------------------------- queries

    /// A full query: terms joined by operators.
    pub(crate) fn query(&mut self) -> P<Expr> {
        self.spaces();
        // Benthos reports a failing fold of literals at the start of the query.
        let start = self.pos;
        let mut terms = Vec::new();
        let mut ops = Vec::new();
        loop {
            let neg = if self.peek() == Some('-') {
                let save = self.pos;
                self.pos += 1;
                self.ws_nl();
                // A number literal takes its own sign.
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos = save;
                    false
                } else {
                    true
                }
            } else {
                false
            };
            let mut t = self.term_with_tails()?;
            if neg {
                t = fold_bin(BinOp::Sub, Expr::Lit(Value::Int(0)), t, start)?;
            }
            terms.push(t);
            let save = self.pos;
            self.spaces();
            match self.operator() {
                Some(op) => {
                    self.ws_nl();
                    ops.push(op);
                }
                None => {
                    self.pos = save;
                    break;
                }
            }
        }
        build_arith(terms, ops, start)
    }

    fn operator(&mut self) -> Option<BinOp> {
        let two = |p: &Self, s: &str| p.starts_with(s);
        let (op, n) = if two(self, "&&") {
            (BinOp::And, 2)
        } else if two(self, "||") {
            (BinOp::Or, 2)
        } else if two(self, "==") {
            (BinOp::Eq, 2)
        } else if two(self, "!=") {
            (BinOp::Neq, 2)
        } else if two(self, ">=") {
            (BinOp::Gte, 2)
        } else if two(self, "<=") {
            (BinOp::Lte, 2)
        } else {
            match self.peek()? {
                '+' => (BinOp::Add, 1),
                '-' => (BinOp::Sub, 1),
                '/' => (BinOp::Div, 1),
                '*' => (BinOp::Mul, 1),
                '%' => (BinOp::Mod, 1),
                '>' => (BinOp::Gt, 1),
                '<' => (BinOp::Lt, 1),
                '|' => (BinOp::Coalesce, 1),
                _ => return None,
            }
        };
        // `=>` in match cases and `->` in lambdas are not operators.
        if n == 1 && self.peek_at(1) == Some('>') && matches!(op, BinOp::Sub) {
            return None;
        }
        self.pos += n;
        Some(op)
    }

    fn term_with_tails(&mut self) -> P<Expr> {
        if self.depth >= MAX_TERM_DEPTH {
            return Err(PErr::fatal(
                self.pos,
                format!("expression nested more than {MAX_TERM_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        let parsed = self.term_with_tails_inner();
        self.depth -= 1;
        parsed
    }

    fn term_with_tails_inner(&mut self) -> P<Expr> {
        let start = self.pos;
        let not = if self.peek() == Some('!') {
            self.pos += 1;
            self.spaces();
            true
        } else {
            false
        };
        let mut e = self
            .root_term()
            .map_err(|e| e.expect(if not { start + 1 } else { start }, &["query"]))?;
        loop {
            let save = self.pos;
            if self.peek() != Some('.') {
                break;
            }
            self.pos += 1;
            self.ws_nl();
            e = self.tail(e).map_err(PErr::required)?;
            let _ = save;
        }
        if not {
            e = match e {
                Expr::Lit(Value::Bool(b)) => Expr::Lit(Value::Bool(!b)),
                other => Expr::Not(Box::new(other)),
            };
        }
        Ok(e)
    }

    fn tail(&mut self, target: Expr) -> P<Expr> {
        let start = self.pos;
        // foo.(query)
        if self.peek() == Some('(') {
            self.pos += 1;
            self.ws_nl();
            let q = self.query()?;
            self.ws_nl();
            self.ch(')')?;
            if let Expr::Lambda(Some(_), inner, ..) = &q
                && let Expr::Lambda(Some(_), ..) = &**inner
            {
                return Err(PErr::fatal(
                    start,
                    "it would be in poor taste to capture the same context under both names",
                ));
            }
            return Ok(Expr::Context(Box::new(target), Box::new(q)));
        }
        // foo.method(args)
        let save = self.pos;
        if let Some(name) = self.snake()
            && self.peek() == Some('(')
        {
            let args = self.call_args()?;
            let after = self.pos;
            let Some(spec) = self.env.methods.get(name.as_str()) else {
                return Err(PErr::fatal(after, format!("unrecognised method '{name}'")));
            };
            // The environment lives for the program's lifetime.
            let mut args = self.resolve_args(spec, args, after)?;
            self.prepare(spec, &mut args, after)?;
            if let Some(folded) = fold_static(spec, &target, &args) {
                return folded.map(Expr::Lit).map_err(|e| PErr::fatal(after, e));
            }
            return Ok(Expr::Method(Box::new(Call {
                spec,
                target: Some(target),
                args,
                cache: OnceLock::new(),
                path_cache: OnceLock::new(),
                state: std::sync::Mutex::new(None),
                memo: OnceLock::new(),
            })));
        }
        self.pos = save;
        // foo.field
        let seg = match self.quoted_string() {
            Ok(s) => s,
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => match self.word() {
                Some(w) => w,
                None => return Err(PErr::new(start, &["method", "field path"])),
            },
        };
        Ok(match target {
            Expr::Get(base, mut path, mut desc) => {
                // Extended in place: a new string per segment made a long
                // path (a caller's mapping for `bloblang`) quadratic to parse.
                desc.push('.');
                desc.push_str(&seg);
                path.push(seg);
                Expr::Get(base, path, desc)
            }
            other => {
                let desc = match &other {
                    Expr::This => format!("this.{seg}"),
                    Expr::Root => format!("root.{seg}"),
                    Expr::Named(n) => format!("{n}.{seg}"),
                    _ => seg.clone(),
                };
                Expr::Get(Box::new(other), vec![seg], desc)
            }
        })
    }

    fn call_args(&mut self) -> P<Vec<(Option<String>, Expr)>> {
        self.ch('(')
            .map_err(|e| e.expect(self.pos, &["function arguments"]))?;
        self.ws_nl();
        let mut args = Vec::new();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            // named argument?
            let save = self.pos;
            let mut named = None;
            if let Some(n) = self.snake() {
                if self.peek() == Some(':') {
                    self.pos += 1;
                    self.spaces();
                    named = Some(n);
                } else {
                    self.pos = save;
                }
            }
            let arg_start = self.pos;
            let q = self.query().map_err(|e| {
                let e = if named.is_some() {
                    e.expect(arg_start, &["argument value"])
                } else {
                    e.expect(arg_start, &["function argument"])
                };
                e.required()
            })?;
            args.push((named, q));
            self.spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
                self.ws_nl();
                // A trailing comma is allowed, as in Benthos.
                if self.peek() == Some(')') {
                    self.pos += 1;
                    return Ok(args);
                }
                continue;
            }
            self.ws_nl();
            if self.peek() == Some(')') {
                self.pos += 1;
                return Ok(args);
            }
            return Err(PErr {
                pos: self.pos,
                expected: vec!["comma".into(), "closing bracket".into()],
                fatal: Some("required".into()),
            });
        }
    }

    fn resolve_args(
        &self,
        spec: &'static crate::env::Spec,
        args: Vec<(Option<String>, Expr)>,
        at: usize,
    ) -> P<Vec<Expr>> {
        let has_named = args.iter().any(|(n, _)| n.is_some());
        let has_unnamed = args.iter().any(|(n, _)| n.is_none());
        if has_named && has_unnamed {
            return Err(PErr::fatal(at, "cannot mix named and nameless arguments"));
        }
        let params = &spec.params;
        let mut slots: Vec<Option<Expr>> = (0..params.len()).map(|_| None).collect();
        if has_named {
            if params.len() == 1 && params[0].name == "..." {
                return Err(PErr::fatal(at, "named arguments are not supported"));
            }
            let mut unknown = Vec::new();
            for (name, e) in args {
                let name = name.expect("all named");
                let Some(i) = params.iter().position(|p| p.name == name) else {
                    unknown.push(name);
                    continue;
                };
                if slots[i].is_some() {
                    return Err(PErr::fatal(at, format!("duplicate named arg: {name}")));
                }
                slots[i] = Some(e);
            }
            if !unknown.is_empty() {
                return Err(PErr::fatal(at, unknown_params(unknown, params, &slots)));
            }
        } else {
            let variadic = params.len() == 1 && params[0].name == "...";
            if variadic {
                return Ok(args.into_iter().map(|(_, e)| e).collect());
            }
            if args.len() > params.len() {
                return Err(PErr::fatal(
                    at,
                    format!(
                        "wrong number of arguments, expected {}, got {}",
                        params.len(),
                        args.len()
                    ),
                ));
            }
            for (i, (_, e)) in args.into_iter().enumerate() {
                slots[i] = Some(e);
            }
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&slots)
            .filter(|(p, slot)| slot.is_none() && p.default.is_none())
            .map(|(p, _)| p.name)
            .collect();
        match missing.as_slice() {
            [] => {}
            [one] => return Err(PErr::fatal(at, format!("missing parameter: {one}"))),
            many => {
                return Err(PErr::fatal(
                    at,
                    format!("missing parameters: {}", many.join(", ")),
                ));
            }
        }
        let mut out = Vec::with_capacity(params.len());
        for (param, slot) in params.iter().zip(slots) {
            let e = match slot {
                Some(e) => e,
                None => Expr::Lit(
                    param
                        .default
                        .clone()
                        .expect("missing parameters are refused"),
                ),
            };
            let e = match e {
                Expr::Lit(v) => {
                    let optional_null =
                        param.default.as_ref().is_some_and(Value::is_null) && v.is_null();
                    if optional_null {
                        Expr::Lit(v)
                    } else {
                        let v = literal_arg(param.kind, v)
                            .map_err(|e| PErr::fatal(at, format!("field {}: {e}", param.name)))?;
                        Expr::Lit(v)
                    }
                }
                e => e,
            };
            out.push(e);
        }
        Ok(out)
    }

    fn prepare(&self, spec: &crate::env::Spec, args: &mut Vec<Expr>, at: usize) -> P<()> {
        let Some(prepare) = spec.prepare else {
            return Ok(());
        };
        let pcx = crate::env::PrepareCx {
            base_dir: self.base_dir.as_deref(),
        };
        let hidden = prepare(args, &pcx).map_err(|e| PErr::fatal(at, e))?;
        args.extend(hidden);
        Ok(())
    }

    fn root_term(&mut self) -> P<Expr> {
        let start = self.pos;
        let mut acc: Option<PErr> = None;
        macro_rules! attempt {
            ($e:expr) => {{
                self.pos = start;
                match $e {
                    Ok(v) => return Ok(v),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => acc = Some(merge(acc, e)),
                }
            }};
        }
        attempt!(self.match_expr());
        attempt!(self.if_expr());
        attempt!(self.lambda());
        attempt!(self.brackets());
        attempt!(self.literal());
        attempt!(self.function());
        attempt!(self.meta_ref());
        attempt!(self.var_ref());
        attempt!(self.field_root());
        self.pos = start;
        Err(acc.expect("some term failed"))
    }

    fn match_expr(&mut self) -> P<Expr> {
        self.term("match")?;
        self.req_spaces()?;
        let save = self.pos;
        let subject = match self.query() {
            Ok(q) => Some(Box::new(q)),
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => {
                self.pos = save;
                None
            }
        };
        self.ws_nl();
        self.ch('{').map_err(PErr::required)?;
        self.ws_nl();
        let mut cases = Vec::new();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Expr::Match(subject, cases));
        }
        loop {
            let case_start = self.pos;
            let pat = if self.peek() == Some('_') && {
                let save = self.pos;
                self.pos += 1;
                self.spaces();
                let ok = self.starts_with("=>");
                self.pos = save;
                ok
            } {
                self.pos += 1;
                self.spaces();
                self.term("=>")?;
                Pattern::Wild
            } else {
                let q = self
                    .query()
                    .map_err(|e| e.expect(case_start, &["match case"]).required())?;
                self.spaces();
                self.term("=>").map_err(PErr::required)?;
                match q {
                    Expr::Lit(v) => Pattern::Lit(v),
                    other => Pattern::Expr(other),
                }
            };
            self.spaces();
            let result = self.query().map_err(PErr::required)?;
            cases.push((pat, result));
            let save = self.pos;
            self.spaces();
            let delim = if self.peek() == Some(',') {
                self.pos += 1;
                true
            } else {
                self.newline_allow_comment().is_ok()
            };
            if delim {
                self.ws_nl();
                if self.peek() == Some('}') {
                    self.pos += 1;
                    return Ok(Expr::Match(subject, cases));
                }
                continue;
            }
            self.pos = save;
            self.ws_nl();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Expr::Match(subject, cases));
            }
            return Err(PErr {
                pos: self.pos,
                expected: vec![",".into(), "line break".into(), "}".into()],
                fatal: Some("required".into()),
            });
        }
    }

    fn if_expr(&mut self) -> P<Expr> {
        self.term("if")?;
        self.req_spaces()?;
        let mut branches = Vec::new();
        let cond = self.query().map_err(PErr::required)?;
        self.ws_nl();
        self.ch('{').map_err(PErr::required)?;
        self.ws_nl();
        let then = self.query().map_err(PErr::required)?;
        self.ws_nl();
        self.ch('}').map_err(PErr::required)?;
        branches.push((cond, then));
        let mut otherwise = None;
        loop {
            let save = self.pos;
            self.ws_nl();
            if self.term("else if").is_ok() {
                self.req_spaces().map_err(PErr::required)?;
                let cond = self.query().map_err(PErr::required)?;
                self.ws_nl();
                self.ch('{').map_err(PErr::required)?;
                self.ws_nl();
                let then = self.query().map_err(PErr::required)?;
                self.ws_nl();
                self.ch('}').map_err(PErr::required)?;
                branches.push((cond, then));
                continue;
            }
            if self.term("else").is_ok() {
                self.ws_nl();
                self.ch('{').map_err(PErr::required)?;
                self.ws_nl();
                let e = self.query().map_err(PErr::required)?;
                self.ws_nl();
                self.ch('}').map_err(PErr::required)?;
                otherwise = Some(Box::new(e));
                break;
            }
            self.pos = save;
            break;
        }
        Ok(Expr::If(branches, otherwise))
    }

    fn lambda(&mut self) -> P<Expr> {
        let start = self.pos;
        let Some(name) = self.word() else {
            return Err(PErr::new(start, &["function"]));
        };
        self.spaces();
        if !self.starts_with("->") {
            return Err(PErr::new(start, &["function"]));
        }
        self.pos += 2;
        self.spaces();
        let bound = if name == "_" {
            None
        } else {
            if self.named.contains(&name) {
                return Err(PErr::fatal(
                    start,
                    format!("context label `{name}` would shadow a parent context"),
                ));
            }
            if name == "root" || name == "this" {
                return Err(PErr::fatal(
                    start,
                    format!("context label `{name}` is not allowed"),
                ));
            }
            Some(name)
        };
        if let Some(n) = &bound {
            self.named.push(n.clone());
        }
        let body = self.query().map_err(PErr::required);
        if bound.is_some() {
            self.named.pop();
        }
        let body = body?;
        if let Expr::Lambda(Some(inner), ..) = &body {
            return Err(PErr::fatal(
                start,
                format!(
                    "it would be in poor taste to capture the same context under both '{}' and '{inner}'",
                    bound.as_deref().unwrap_or("_")
                ),
            ));
        }
        let mut body = body;
        let binds = match &bound {
            // Where the body reads `this` (the caller's context, once the named one is taken
            // off), the name must be bound; elsewhere it can be read as `this`.
            Some(n) => {
                if !body.reads_this() {
                    body.bind_named_to_this(n);
                }
                body.mentions_named(n)
            }
            None => false,
        };
        let body_reads_this = body.reads_this();
        Ok(Expr::Lambda(bound, Box::new(body), binds, body_reads_this))
    }

    fn brackets(&mut self) -> P<Expr> {
        let start = self.pos;
        self.ch('(').map_err(|_| PErr::new(start, &["function"]))?;
        self.ws_nl();
        let q = self.query()?;
        self.ws_nl();
        self.ch(')')
            .map_err(|e| e.expect(self.pos, &["closing bracket"]).required())?;
        Ok(q)
    }

    fn number(&mut self) -> P<Value> {
        let start = self.pos;
        let mut text = String::new();
        if self.peek() == Some('-') {
            text.push('-');
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            self.pos = start;
            return Err(PErr::new(start, &["number"]));
        }
        text.extend(&self.chars[digits_start..self.pos]);
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            let fs = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            text.push('.');
            text.extend(&self.chars[fs..self.pos]);
            return text.parse::<f64>().map(Value::Float).map_err(|e| {
                PErr::fatal(start, format!("failed to parse '{text}' as float: {e}"))
            });
        }
        text.parse::<i64>().map(Value::Int).map_err(|_| {
            PErr::fatal(
                start,
                format!("failed to parse '{text}' as integer: strconv.ParseInt: parsing \"{text}\": value out of range"),
            )
        })
    }

    fn literal(&mut self) -> P<Expr> {
        let start = self.pos;
        if self.term("true").is_ok() {
            return Ok(Expr::Lit(Value::Bool(true)));
        }
        if self.term("false").is_ok() {
            return Ok(Expr::Lit(Value::Bool(false)));
        }
        match self.number() {
            Ok(v) => return Ok(Expr::Lit(v)),
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => {}
        }
        self.pos = start;
        if self.starts_with("\"\"\"") {
            return self
                .triple_quoted()
                .map(|s| Expr::Lit(Value::String(s.into())));
        }
        if self.peek() == Some('"') {
            return self
                .quoted_string()
                .map(|s| Expr::Lit(Value::String(s.into())));
        }
        if self.term("null").is_ok() {
            return Ok(Expr::Lit(Value::Null));
        }
        if self.peek() == Some('[') {
            return self.array_literal();
        }
        if self.peek() == Some('{') {
            return self.object_literal();
        }
        Err(PErr::new(
            start,
            &[
                "boolean",
                "number",
                "quoted string",
                "null",
                "array",
                "object",
            ],
        ))
    }

    fn array_literal(&mut self) -> P<Expr> {
        self.pos += 1;
        self.ws_nl();
        let mut items = Vec::new();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Expr::Lit(Value::Array(Vec::new())));
        }
        loop {
            let item_start = self.pos;
            let q = self
                .query()
                .map_err(|e| e.expect(item_start, &["object"]))?;
            items.push(q);
            self.spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
                self.ws_nl();
                if self.peek() == Some(']') {
                    self.pos += 1;
                    break;
                }
                continue;
            }
            self.ws_nl();
            if self.peek() == Some(']') {
                self.pos += 1;
                break;
            }
            return Err(PErr::new(self.pos, &[",", "]"]));
        }
        if items.iter().all(Expr::is_lit) {
            let vals = items
                .into_iter()
                .map(|e| match e {
                    Expr::Lit(v) => v,
                    _ => unreachable!("all literals"),
                })
                .collect();
            return Ok(Expr::Lit(Value::Array(vals)));
        }
        Ok(Expr::Array(items))
    }

    fn object_literal(&mut self) -> P<Expr> {
        let open = self.pos;
        self.pos += 1;
        self.ws_nl();
        let mut entries: Vec<(Key, Expr)> = Vec::new();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Expr::Lit(Value::Object(Map::new())));
        }
        loop {
            let key_start = self.pos;
            // A bare identifier followed by a colon is a static key (see the
            // README's compatibility notes); a number, `true`, `false` and
            // `null` are literals, keys Benthos refuses.
            let mut key = None;
            if self.peek().is_some_and(|c| !c.is_ascii_digit())
                && let Some(w) = self.word()
            {
                self.spaces();
                if self.peek() == Some(':') && !matches!(w.as_str(), "true" | "false" | "null") {
                    key = Some(Key::Static(w.into()));
                } else {
                    self.pos = key_start;
                }
            }
            let key = match key {
                Some(k) => k,
                None => match self.quoted_string() {
                    Ok(s) if !self.starts_with("\"\"") => Key::Static(s.into()),
                    Err(e) if e.is_fatal() => return Err(e),
                    _ => {
                        self.pos = key_start;
                        let q = self.query().map_err(|e| e.expect(key_start, &["object"]))?;
                        match q {
                            Expr::Lit(Value::String(s)) => Key::Static(s),
                            // Benthos reports a literal key that is no string
                            // at the opening brace, with its Go type.
                            Expr::Lit(other) => {
                                return Err(PErr::fatal(
                                    open,
                                    format!(
                                        "object keys must be strings, received: {}",
                                        crate::eval::go_type_name(&other)
                                    ),
                                ));
                            }
                            other => Key::Dyn(other),
                        }
                    }
                },
            };
            self.spaces();
            self.ch(':')?;
            self.ws_nl();
            let vstart = self.pos;
            let v = self.query().map_err(|e| e.expect(vstart, &["object"]))?;
            entries.push((key, v));
            self.spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
                self.ws_nl();
                if self.peek() == Some('}') {
                    self.pos += 1;
                    break;
                }
                continue;
            }
            self.ws_nl();
            if self.peek() == Some('}') {
                self.pos += 1;
                break;
            }
            return Err(PErr::new(self.pos, &[",", "}"]));
        }
        if entries
            .iter()
            .all(|(k, v)| matches!(k, Key::Static(_)) && v.is_lit())
        {
            let mut map = Map::new();
            for (k, v) in entries {
                if let (Key::Static(k), Expr::Lit(v)) = (k, v) {
                    map.insert(k, v);
                }
            }
            return Ok(Expr::Lit(Value::Object(map)));
        }
        let sorted = entries.windows(2).all(|w| match (&w[0].0, &w[1].0) {
            (Key::Static(a), Key::Static(b)) => a < b,
            _ => false,
        }) && entries.iter().all(|(k, _)| matches!(k, Key::Static(_)));
        Ok(Expr::Object(entries, sorted))
    }

    fn function(&mut self) -> P<Expr> {
        let start = self.pos;
        let Some(name) = self.snake() else {
            return Err(PErr::new(start, &["function"]));
        };
        if self.peek() != Some('(') {
            return Err(PErr::new(self.pos, &["function arguments"]));
        }
        let args = self.call_args()?;
        let after = self.pos;
        let Some(spec) = self.env.functions.get(name.as_str()) else {
            return Err(PErr::fatal(
                after,
                format!("unrecognised function '{name}'"),
            ));
        };
        let mut args = self.resolve_args(spec, args, after)?;
        self.prepare(spec, &mut args, after)?;
        let call = Call {
            spec,
            target: None,
            args,
            cache: OnceLock::new(),
            path_cache: OnceLock::new(),
            state: std::sync::Mutex::new(None),
            memo: OnceLock::new(),
        };
        Ok(Expr::Fn(Box::new(call)))
    }

    fn meta_ref(&mut self) -> P<Expr> {
        let start = self.pos;
        self.ch('@')
            .map_err(|_| PErr::new(start, &["metadata path"]))?;
        if let Some(w) = self.word() {
            return Ok(Expr::Meta(Some(w)));
        }
        match self.quoted_string() {
            Ok(s) => Ok(Expr::Meta(Some(s))),
            Err(e) if e.is_fatal() => Err(e),
            Err(_) => Ok(Expr::Meta(None)),
        }
    }

    fn var_ref(&mut self) -> P<Expr> {
        let start = self.pos;
        self.ch('$')
            .map_err(|_| PErr::new(start, &["variable path"]))?;
        match self.word() {
            Some(w) => Ok(Expr::Var(w)),
            None => Err(PErr::new(start, &["variable path"])),
        }
    }

    fn field_root(&mut self) -> P<Expr> {
        let start = self.pos;
        let Some(w) = self.word() else {
            return Err(PErr::new(start, &["field path"]));
        };
        Ok(match w.as_str() {
            "this" => Expr::This,
            "root" => Expr::Root,
            _ if self.named.contains(&w) => Expr::Named(w),
            _ => {
                let desc = format!("this.{w}");
                Expr::Get(Box::new(Expr::This), vec![w], desc)
            }
        })
    }
}

fn fold_bin(op: BinOp, l: Expr, r: Expr, at: usize) -> P<Expr> {
    if let (Expr::Lit(lv), Expr::Lit(rv)) = (&l, &r)
        && !matches!(op, BinOp::And | BinOp::Or | BinOp::Coalesce)
    {
        return match apply_bin(op, &l, &r, lv, rv) {
            Ok(v) => Ok(Expr::Lit(v)),
            Err(Flow::Err(e)) => Err(PErr::fatal(at, e)),
            Err(_) => Ok(Expr::Bin(op, Box::new(l), Box::new(r))),
        };
    }
    Ok(Expr::Bin(op, Box::new(l), Box::new(r)))
}

/// Resolves operator precedence as Benthos does: `* / % |`, then `+ -`, then comparisons, then
/// `&& ||`, each level left to right.
fn build_arith(terms: Vec<Expr>, ops: Vec<BinOp>, at: usize) -> P<Expr> {
    let levels: [&[BinOp]; 4] = [
        &[BinOp::Mul, BinOp::Div, BinOp::Mod, BinOp::Coalesce],
        &[BinOp::Add, BinOp::Sub],
        &[
            BinOp::Eq,
            BinOp::Neq,
            BinOp::Gt,
            BinOp::Lt,
            BinOp::Gte,
            BinOp::Lte,
        ],
        &[BinOp::And, BinOp::Or],
    ];
    let mut terms = terms;
    let mut ops = ops;
    for level in levels {
        if ops.is_empty() {
            break;
        }
        let mut new_terms: Vec<Expr> = Vec::new();
        let mut new_ops = Vec::new();
        let mut it = terms.into_iter();
        new_terms.push(it.next().expect("one more term than operators"));
        for (op, rhs) in ops.into_iter().zip(it) {
            if level.contains(&op) {
                let lhs = new_terms.pop().expect("a left operand");
                new_terms.push(fold_bin(op, lhs, rhs, at)?);
            } else {
                new_terms.push(rhs);
                new_ops.push(op);
            }
        }
        terms = new_terms;
        ops = new_ops;
    }
    Ok(terms.pop().expect("one term left"))
}

/// Go's `strconv.Unquote` for the inside of a double-quoted string. `\x` and octal escapes
/// give bytes, which stay as they are where they are no part of UTF-8, as in a Go string.
pub(crate) fn unquote(raw: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let push = |out: &mut Vec<u8>, c: char| {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    };
    while let Some(c) = chars.next() {
        if c == '\n' {
            return Err("invalid syntax".to_owned());
        }
        if c != '\\' {
            push(&mut out, c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err("invalid syntax".to_owned());
        };
        match e {
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '\\' => out.push(b'\\'),
            '"' => out.push(b'"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(16))
                        .ok_or("invalid syntax")?;
                    v = v * 16 + d;
                }
                if e == 'x' {
                    out.push(u8::try_from(v).expect("two hex digits"));
                } else {
                    push(&mut out, char::from_u32(v).ok_or("invalid syntax")?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).expect("octal digit");
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or("invalid syntax")?;
                    v = v * 8 + d;
                }
                out.push(u8::try_from(v).map_err(|_| "invalid syntax")?);
            }
            _ => return Err("invalid syntax".to_owned()),
        }
    }
    Ok(crate::value::str_from_go_bytes(&out).into())
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use proptest::prelude::*;

    use crate::mapping::Mapping;

    fn check(mapping: &str, expected: Expect) {
        let actual = match Mapping::parse(mapping) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn a_long_field_path_reads_its_field_and_names_it_whole() {
        // Each segment extends the path's description in place; a long path
        // (a caller's mapping run by `bloblang`) once took a new copy per
        // segment.
        let path = ".a".repeat(20_000);
        assert_eq!(
            crate::testing::map_one(&format!("root = this{path}"), r#"{"a":{"a":1}}"#),
            Ok("null".to_owned())
        );
        let err =
            crate::testing::map_one(&format!("root = this{path}.uppercase()"), "{}").unwrap_err();
        assert!(
            err.ends_with(&format!("from field `this{path}`")),
            "{}",
            &err[err.len().saturating_sub(200)..]
        );
    }

    #[test]
    fn parse_errors() {
        check(
            "root = this.",
            expect![["line 1 char 13: required: expected method or field path"]],
        );
        check(
            "root = json(\"foo",
            expect![["line 1 char 17: required: expected end quote"]],
        );
        check(
            "root = not_a_function()",
            expect![["line 1 char 24: unrecognised function 'not_a_function'"]],
        );
        check(
            "root = json(\"foo\").not_a_thing()",
            expect!["line 1 char 33: unrecognised method 'not_a_thing'"],
        );
        check("foo wat bar", expect![["line 1 char 5: expected ="]]);
        check(
            "# foobar",
            expect!["line 1 char 1: expected import, map, or assignment"],
        );
        check(
            "root = (json(\"foo\") + ",
            expect!["line 1 char 23: expected query"],
        );
        check(
            "map foo {\n  foo = bar\n}\nmap foo {\n  foo = bar\n}",
            expect![["line 4 char 1: map name collision: foo"]],
        );
        check(
            "root = json(5)",
            expect![[
                "line 1 char 15: field path: wrong argument type, expected string, got number"
            ]],
        );
        check(
            "root = { city: json(\"location\"), temperature_c: 22 }",
            expect![["ok"]],
        );
    }

    #[test]
    fn literal_object_keys_must_be_strings() {
        check(
            r#"root = {5:"foo"}"#,
            expect!["line 1 char 8: object keys must be strings, received: int64"],
        );
        check(
            r#"root = {"a": 1, (2.5): "foo"}"#,
            expect!["line 1 char 8: object keys must be strings, received: float64"],
        );
        check(
            r#"root = [{true: "foo"}]"#,
            expect!["line 1 char 9: object keys must be strings, received: bool"],
        );
        check(
            r#"root = {null: "foo"}"#,
            expect!["line 1 char 8: object keys must be strings, received: <nil>"],
        );
        check(r#"root = {("a" + "b"): "foo", truth: 1}"#, expect!["ok"]);
    }

    #[test]
    fn a_failing_fold_of_literals_is_reported_where_its_query_starts() {
        check(
            r#"root = 5 + "a""#,
            expect![
                "line 1 char 8: cannot add types number (from number literal) and string (from string literal)"
            ],
        );
        check(
            r#"root = ["foo",(5 + "not a number"),"bar"]"#,
            expect![
                "line 1 char 16: cannot add types number (from number literal) and string (from string literal)"
            ],
        );
        check(
            "root = this.a +\n  (-\"a\")",
            expect![
                "line 2 char 4: cannot subtract types number (from number literal) and string (from string literal)"
            ],
        );
    }

    #[test]
    fn arguments_take_a_trailing_comma() {
        check(r#"root = this.without("a", "b",)"#, expect!["ok"]);
        check("root = this.without(\n  \"a\",\n  \"b\",\n)", expect!["ok"]);
        check(
            r#"root = this.without(,)"#,
            expect!["line 1 char 21: required: expected function argument"],
        );
    }

    #[test]
    fn argument_errors_read_as_benthos_words_them() {
        check(
            "root = this.slice(loww: 1)",
            expect!["line 1 char 27: unknown parameter loww, did you mean low?"],
        );
        check(
            "root = this.replace_all(olds: \"a\", news: \"b\")",
            expect!["line 1 char 46: unknown parameters news, olds, expected old, new"],
        );
        check(
            "root = this.ts_format(zone: \"UTC\")",
            expect!["line 1 char 35: unknown parameter zone"],
        );
        check(
            "root = this.replace_all()",
            expect!["line 1 char 26: missing parameters: old, new"],
        );
        check(
            "root = this.from()",
            expect!["line 1 char 19: missing parameter: index"],
        );
        check(
            "root = [1].append(values: 2)",
            expect!["line 1 char 29: named arguments are not supported"],
        );
        check(
            "root = this.from(\"nah\")",
            expect![[r#"line 1 char 24: field index: expected number value, got string ("nah")"#]],
        );
        check(
            "root = this.split(5)",
            expect![
                "line 1 char 21: field delimiter: wrong argument type, expected string, got number"
            ],
        );
        check(
            "root = this.format_json(no_indent: \"yes\")",
            expect![[
                r#"line 1 char 42: field no_indent: expected bool value, got string ("yes")"#
            ]],
        );
        // Booleans take numbers and integers take floats, as Benthos converts them.
        check("root = this.format_json(no_indent: 1)", expect!["ok"]);
        check("root = range(0, 10.7)", expect!["ok"]);
        check(
            "root = this.slice(0, high: 5)",
            expect!["line 1 char 30: cannot mix named and nameless arguments"],
        );
        check(
            "root = this.split(\",\", true, 3)",
            expect!["line 1 char 32: wrong number of arguments, expected 2, got 3"],
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,64}") {
            drop(Mapping::parse(&s));
            drop(crate::Interpolation::parse(&s));
        }

        #[test]
        fn parser_never_panics_on_bloblang_like_input(s in "[a-z_\\.\\(\\)\\{\\}\\[\\]\"=:,|&!<>+\\-*/% \n#@$0-9]{0,48}") {
            drop(Mapping::parse(&s));
        }
    }
}
