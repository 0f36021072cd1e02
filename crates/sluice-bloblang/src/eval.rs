//! The executable form of queries and statements, and their evaluation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::env::{FnImpl, MethodImpl, Spec};
use crate::target::{BatchRef, MessageRef};
use crate::value::{Map, Metadata, Num, Value};

/// Control flow out of an expression: a failure, or one of the two assignment outcomes that
/// travel through expressions (`deleted()` and `nothing()`).
#[derive(Debug, Clone)]
pub(crate) enum Flow {
    Err(String),
    Delete,
    Nothing,
}

pub(crate) type R<T> = Result<T, Flow>;

pub(crate) fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(Flow::Err(msg.into()))
}

impl From<String> for Flow {
    fn from(s: String) -> Self {
        Flow::Err(s)
    }
}

/// What `this` refers to: the message being mapped (parsed on first use) or a value.
///
/// Benthos keeps two context slots: the value a method gave its query, and the one it
/// replaced. A named context (`x -> ...`, `_ -> ...`) takes the top value off, so its body
/// sees the replaced value as `this`, or the message when there is none.
#[derive(Clone, Copy)]
pub(crate) enum This<'a> {
    Msg,
    Val(&'a Value),
    /// A value given over another one, which a named context brings back.
    Over(&'a Value, &'a Value),
}

impl<'a> This<'a> {
    /// The context with `value` given over this one, as a method gives an element to its query.
    pub(crate) fn with_value(self, value: &'a Value) -> This<'a> {
        match self {
            This::Msg => This::Val(value),
            This::Val(v) | This::Over(v, _) => This::Over(value, v),
        }
    }

    /// The context a named context's body sees: the top value taken off.
    pub(crate) fn popped(self) -> This<'a> {
        match self {
            This::Msg | This::Val(_) => This::Msg,
            This::Over(_, next) => This::Val(next),
        }
    }

    /// The context with only its top value kept, as it is once a named context took off the
    /// value a method gave over it.
    fn top(self) -> This<'a> {
        match self {
            This::Over(v, _) => This::Val(v),
            other => other,
        }
    }
}

/// The state of the document being built by a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// Nothing was assigned: the message stays as it was.
    Nothing,
    /// `root = deleted()`: the message is removed.
    Deleted,
    /// The new document.
    Value(Value),
}

pub(crate) struct Cx<'m> {
    pub(crate) batch: &'m dyn BatchRef,
    /// The message `content()`, `json()`, `meta()` and `batch_index()`
    /// read: the mapped message's, or another's inside `from`/`from_all`.
    /// Kept as `from` gives it, as Benthos keeps it: `batch_index()` answers
    /// it unchanged, a negative one counts from the end of the batch and one
    /// outside the batch reads as an empty message (see [`Cx::msg`]).
    pub(crate) index: i64,
    /// The message `this` reads when it is the message itself: always the
    /// mapped one, as `from` moves only the functions above (as in Benthos).
    pub(crate) this_index: usize,
    pub(crate) root: Root,
    pub(crate) meta: Option<Metadata>,
    pub(crate) vars: HashMap<String, Value>,
    pub(crate) named: Vec<(String, Value)>,
    pub(crate) maps: &'m Maps,
    /// The mapping reads the message as structured data at one place only: that place may read
    /// its path straight from the bytes instead of parsing the whole message.
    pub(crate) direct_reads: bool,
    /// What this execution has left to spend.
    pub(crate) spend: crate::budget::Spend,
}

pub(crate) type Maps = HashMap<String, Arc<Vec<Stmt>>>;

/// Benthos's text for a query that reads `this` where there is none.
const NO_CONTEXT: &str = "context was undefined";

/// A path as Benthos prints it: segments joined with dots, `~` and `.`
/// inside a segment escaped as `~0` and `~1`.
pub(crate) fn dot_path(path: &[String]) -> String {
    path.iter()
        .map(|seg| seg.replace('~', "~0").replace('.', "~1"))
        .collect::<Vec<_>>()
        .join(".")
}

/// What the message functions read at an index outside the batch: Benthos
/// hands them a new, empty message there.
static EMPTY_MESSAGE: std::sync::LazyLock<crate::target::SimpleMessage> =
    std::sync::LazyLock::new(|| crate::target::SimpleMessage::new(Vec::new()));

impl<'m> Cx<'m> {
    /// Charges a copy of a container taken out of a lambda's context or a
    /// variable (see [`crate::budget::Spend::charge_copy`]).
    pub(crate) fn charge_copy(&mut self, v: Value) -> R<Value> {
        self.spend.charge_copy(&v).map_err(Flow::Err)?;
        Ok(v)
    }

    /// Charges a copy taken out of `this`: only inside a lambda or context,
    /// where `this` is a value; copies out of the message itself are
    /// bounded by the body's size.
    pub(crate) fn charge_copy_of_this(&mut self, this: This<'_>, v: Value) -> R<Value> {
        match this {
            This::Val(_) | This::Over(..) => self.charge_copy(v),
            This::Msg => Ok(v),
        }
    }

    pub(crate) fn msg(&self) -> &'m dyn MessageRef {
        let len = self.batch.len() as i64;
        let index = if self.index < 0 {
            len + self.index
        } else {
            self.index
        };
        if (0..len).contains(&index) {
            self.batch.get(index as usize)
        } else {
            &*EMPTY_MESSAGE
        }
    }

    pub(crate) fn this_value<'a>(&self, this: This<'a>) -> R<std::borrow::Cow<'a, Value>>
    where
        'm: 'a,
    {
        self.this_value_at(this, &[])
    }

    /// [`Cx::this_value`] read for the field at `path`. A message that is no
    /// JSON fails with Benthos's error of a query without a context, which
    /// [`Cx::explain_no_context`] turns into the parse failure once the
    /// statement has failed, as Benthos's executor does.
    pub(crate) fn this_value_at<'a>(
        &self,
        this: This<'a>,
        path: &[String],
    ) -> R<std::borrow::Cow<'a, Value>>
    where
        'm: 'a,
    {
        match this {
            This::Val(v) | This::Over(v, _) => Ok(std::borrow::Cow::Borrowed(v)),
            This::Msg => match self.batch.get(self.this_index).structured() {
                Ok(v) => Ok(std::borrow::Cow::Borrowed(v)),
                Err(_) if path.is_empty() => err(NO_CONTEXT),
                Err(_) => err(format!(
                    "{NO_CONTEXT}, unable to reference `{}`",
                    dot_path(path)
                )),
            },
        }
    }

    /// The error a failed statement reports: one that a query without a
    /// context caused names the field and why the message is no JSON,
    /// whatever wrapped it on the way.
    pub(crate) fn explain_no_context(&self, e: String) -> String {
        let Some((_, after)) = e.split_once(NO_CONTEXT) else {
            return e;
        };
        let Err(parse) = self.batch.get(self.this_index).structured() else {
            return e;
        };
        let field = after
            .strip_prefix(", unable to reference `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| format!(".{field}"))
            .unwrap_or_default();
        format!("unable to reference message as structured (with 'this{field}'): {parse}")
    }

    /// The value at `path` of the message read without parsing the rest of it, when that is
    /// allowed and the message is not parsed already; `None` to read it the usual way.
    pub(crate) fn read_msg_path(
        &self,
        msg: &dyn MessageRef,
        path: &[String],
    ) -> Option<Option<Value>> {
        if !self.direct_reads {
            return None;
        }
        if msg.is_parsed() {
            return None;
        }
        crate::json_path::read_path(msg.content(), path)
    }

    pub(crate) fn out_meta(&self) -> &Metadata {
        match &self.meta {
            Some(m) => m,
            None => self.msg().metadata(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Neq,
    Gt,
    Lt,
    Gte,
    Lte,
    And,
    Or,
    Coalesce,
}

impl BinOp {
    fn verb(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Div => "divide",
            BinOp::Mul => "multiply",
            BinOp::Mod => "modulo",
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Lt | BinOp::Gte | BinOp::Lte => "compare",
            BinOp::And => "boolean and",
            BinOp::Or => "boolean or",
            BinOp::Coalesce => "coalesce",
        }
    }
}

pub(crate) enum Key {
    /// Kept as an object key so that building the object copies no text.
    Static(crate::value::Key),
    Dyn(Expr),
}

pub(crate) enum Pattern {
    Wild,
    Lit(Value),
    Expr(Expr),
}

pub(crate) struct Call {
    pub(crate) spec: &'static Spec,
    pub(crate) target: Option<Expr>,
    pub(crate) args: Vec<Expr>,
    pub(crate) cache: OnceLock<Result<regex::Regex, String>>,
    /// A dot path argument split once when it is a literal.
    pub(crate) path_cache: OnceLock<Vec<String>>,
    /// Per call-site state of stateful functions (`counter()`).
    pub(crate) state: std::sync::Mutex<Option<i64>>,
    /// Whatever an implementation builds once from literal arguments (a compiled mapping).
    pub(crate) memo: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
}

impl Call {
    /// The error of a method's implementation as Benthos shows it: a method of the query engine
    /// names the query that gave its target, a plugin's error stands as it is.
    pub(crate) fn method_error(&self, e: String) -> String {
        match (self.spec.origin, &self.target) {
            (crate::env::Origin::Query, Some(target)) => wrap_from(target, e),
            _ => e,
        }
    }

    pub(crate) fn target(&self, cx: &mut Cx<'_>, this: This<'_>) -> R<Value> {
        self.target
            .as_ref()
            .expect("methods have a target")
            .eval(cx, this)
    }

    /// The target, borrowed when it is a part of `this` (no copy of arrays and objects that
    /// are only read).
    pub(crate) fn target_ref<'a, 'm: 'a>(
        &'a self,
        cx: &mut Cx<'m>,
        this: This<'a>,
    ) -> R<Cow<'a, Value>> {
        self.target
            .as_ref()
            .expect("methods have a target")
            .eval_ref(cx, this)
    }

    /// Every argument, evaluated in order against the caller's `this`.
    #[inline]
    fn eval_args(&self, cx: &mut Cx<'_>, this: This<'_>) -> R<Vec<Value>> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(a.eval(cx, this)?);
        }
        Ok(args)
    }

    pub(crate) fn arg(&self, i: usize, cx: &mut Cx<'_>, this: This<'_>) -> R<Value> {
        match self.args.get(i) {
            Some(e) => e.eval(cx, this),
            None => Ok(Value::Null),
        }
    }

    pub(crate) fn arg_expr(&self, i: usize) -> &Expr {
        &self.args[i]
    }

    /// A regex argument, compiled once when the pattern is a literal.
    pub(crate) fn regex(&self, pattern: &str, literal: bool) -> Result<regex::Regex, String> {
        if literal {
            return self
                .cache
                .get_or_init(|| regex::Regex::new(pattern).map_err(|e| e.to_string()))
                .clone();
        }
        regex::Regex::new(pattern).map_err(|e| e.to_string())
    }
}

pub(crate) enum Expr {
    Lit(Value),
    This,
    Root,
    Named(String),
    /// A reference to the innermost named context where it is known to be `this` as well;
    /// read like `this`, described like the name.
    NamedThis(String),
    Var(String),
    Meta(Option<String>),
    Get(Box<Expr>, Vec<String>, String),
    Fn(Box<Call>),
    Method(Box<Call>),
    Context(Box<Expr>, Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Array(Vec<Expr>),
    /// Entries in source order, and whether their keys are all static and strictly ascending
    /// (the object is then built by appending, without comparing keys).
    Object(Vec<(Key, Expr)>, bool),
    If(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    Match(Option<Box<Expr>>, Vec<(Pattern, Expr)>),
    /// A query with an optional context name, whether the body still reads the name
    /// through the context stack (references that are `this` at their place don't), and
    /// whether the body reads `this` at all (known once parsed; asked for every element a
    /// method maps).
    Lambda(Option<String>, Box<Expr>, bool, bool),
}

/// A statement of a mapping.
pub(crate) enum Stmt {
    Assign {
        target: Target,
        expr: Expr,
        line: usize,
    },
    If {
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
        line: usize,
    },
}

pub(crate) enum Target {
    Root(Vec<String>),
    Meta(Option<String>),
    Var(String),
}

impl Expr {
    pub(crate) fn is_lit(&self) -> bool {
        matches!(self, Expr::Lit(_))
    }

    /// A short description used in error messages, as Benthos annotates functions.
    pub(crate) fn annotation(&self) -> String {
        match self {
            Expr::Lit(v) => format!("{} literal", v.type_name()),
            Expr::This => "field `this`".to_owned(),
            Expr::Root => "root".to_owned(),
            Expr::Get(_, _, desc) => format!("field `{desc}`"),
            Expr::Meta(Some(k)) => format!("metadata value {k}"),
            Expr::Meta(None) => "metadata object".to_owned(),
            Expr::Var(v) => format!("variable {v}"),
            Expr::Fn(c) => format!("function {}", c.spec.name),
            Expr::Method(c) => format!("method {}", c.spec.name),
            Expr::Named(n) | Expr::NamedThis(n) => format!("context {n}"),
            _ => "expression".to_owned(),
        }
    }

    /// Evaluates, borrowing the result when it is `this`, a literal or a plain field of `this`.
    pub(crate) fn eval_ref<'a, 'm: 'a>(
        &'a self,
        cx: &mut Cx<'m>,
        this: This<'a>,
    ) -> R<Cow<'a, Value>> {
        match self {
            Expr::Lit(v) => Ok(Cow::Borrowed(v)),
            Expr::This | Expr::NamedThis(_) => cx.this_value(this),
            Expr::Get(base, path, _) if matches!(**base, Expr::This | Expr::NamedThis(_)) => {
                if matches!(this, This::Msg)
                    && let Some(found) = cx.read_msg_path(cx.batch.get(cx.this_index), path)
                {
                    return Ok(Cow::Owned(found.unwrap_or(Value::Null)));
                }
                match cx.this_value_at(this, path)? {
                    Cow::Borrowed(v) => Ok(match get_path_ref(v, path) {
                        Some(found) => Cow::Borrowed(found),
                        // Missing, or a key mapped over an array: the general rule applies.
                        None => Cow::Owned(get_path(v, path).unwrap_or(Value::Null)),
                    }),
                    Cow::Owned(v) => Ok(Cow::Owned(get_path(&v, path).unwrap_or(Value::Null))),
                }
            }
            other => other.eval(cx, this).map(Cow::Owned),
        }
    }

    pub(crate) fn eval(&self, cx: &mut Cx<'_>, this: This<'_>) -> R<Value> {
        if let Err(overspent) = cx.spend.step() {
            return err(overspent.message());
        }
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::This | Expr::NamedThis(_) => {
                let v = cx.this_value(this)?.into_owned();
                cx.charge_copy_of_this(this, v)
            }
            Expr::Root => Ok(match &cx.root {
                Root::Value(v) => v.clone(),
                Root::Nothing | Root::Deleted => Value::Null,
            }),
            Expr::Named(name) => {
                for (n, v) in cx.named.iter().rev() {
                    if n == name {
                        let v = v.clone();
                        return cx.charge_copy(v);
                    }
                }
                err(format!("context {name} was not found"))
            }
            Expr::Var(name) => match cx.vars.get(name) {
                Some(v) => {
                    let v = v.clone();
                    cx.charge_copy(v)
                }
                None => err(format!("variable '{name}' undefined")),
            },
            Expr::Meta(None) => Ok(Value::from_metadata(cx.out_meta())),
            Expr::Meta(Some(k)) => Ok(cx
                .out_meta()
                .get(k.as_str())
                .cloned()
                .unwrap_or(Value::Null)),
            Expr::Get(base, path, _) => match &**base {
                Expr::This | Expr::NamedThis(_) => {
                    if matches!(this, This::Msg)
                        && let Some(found) = cx.read_msg_path(cx.batch.get(cx.this_index), path)
                    {
                        return Ok(found.unwrap_or(Value::Null));
                    }
                    let v = cx.this_value_at(this, path)?;
                    let found = get_path(&v, path).unwrap_or(Value::Null);
                    cx.charge_copy_of_this(this, found)
                }
                Expr::Named(name) => {
                    for (n, v) in cx.named.iter().rev() {
                        if n == name {
                            let found = get_path(v, path).unwrap_or(Value::Null);
                            return cx.charge_copy(found);
                        }
                    }
                    err(format!("context {name} was not found"))
                }
                Expr::Var(name) => match cx.vars.get(name) {
                    Some(v) => {
                        let found = get_path(v, path).unwrap_or(Value::Null);
                        cx.charge_copy(found)
                    }
                    None => err(format!("variable '{name}' undefined")),
                },
                Expr::Root => Ok(match &cx.root {
                    Root::Value(v) => get_path(v, path).unwrap_or(Value::Null),
                    Root::Nothing | Root::Deleted => Value::Null,
                }),
                other => {
                    let v = other.eval(cx, this)?;
                    Ok(get_path(&v, path).unwrap_or(Value::Null))
                }
            },
            Expr::Fn(call) => match &call.spec.imp {
                crate::env::Impl::Function(FnImpl::Simple(f)) => {
                    let args = call.eval_args(cx, this)?;
                    f(&args).map_err(Flow::Err)
                }
                crate::env::Impl::Function(FnImpl::Ctx(f)) => f(cx, this, call),
                crate::env::Impl::Method(_) => err("not a function"),
            },
            Expr::Method(call) => match &call.spec.imp {
                crate::env::Impl::Method(MethodImpl::Simple(f)) => {
                    let target = call.target(cx, this)?;
                    let args = call.eval_args(cx, this)?;
                    f(target, &args).map_err(|e| Flow::Err(call.method_error(e)))
                }
                crate::env::Impl::Method(MethodImpl::Ref(f)) => {
                    let target = call.target_ref(cx, this)?;
                    let args = call.eval_args(cx, this)?;
                    f(&target, &args).map_err(|e| Flow::Err(call.method_error(e)))
                }
                crate::env::Impl::Method(MethodImpl::Metered(f)) => {
                    let target = call.target(cx, this)?;
                    let args = call.eval_args(cx, this)?;
                    f(target, &args, &mut cx.spend.steps)
                        .map_err(|e| Flow::Err(call.method_error(e)))
                }
                crate::env::Impl::Method(MethodImpl::Ctx(f)) => f(cx, this, call),
                crate::env::Impl::Function(_) => err("not a method"),
            },
            Expr::Context(target, q) => {
                let v = target.eval(cx, this)?;
                q.eval_with_context(cx, this, &v)
            }
            Expr::Bin(op, l, r) => eval_bin(*op, l, r, cx, this),
            Expr::Not(e) => match e.eval(cx, this)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => err(format!("{}: {}", e.annotation(), type_err("bool", &other))),
            },
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match i.eval(cx, this) {
                        Ok(v) => out.push(v),
                        Err(Flow::Delete | Flow::Nothing) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(Value::Array(out))
            }
            Expr::Object(entries, sorted) => {
                let mut out = Map::with_capacity(entries.len());
                for (k, e) in entries {
                    // Benthos names the entry whose key or value failed.
                    let key = match k {
                        Key::Static(s) => s.clone(),
                        Key::Dyn(ke) => match ke.eval(cx, this) {
                            Ok(Value::String(s)) => s,
                            Ok(Value::Bytes(b)) => String::from_utf8_lossy(&b).as_ref().into(),
                            Ok(other) => {
                                return err(format!(
                                    "mapping returned invalid key type: {}",
                                    go_type_name(&other)
                                ));
                            }
                            Err(Flow::Err(e)) => return err(format!("failed to resolve key: {e}")),
                            Err(Flow::Delete) => {
                                return err("mapping returned invalid key type: value.Delete");
                            }
                            Err(Flow::Nothing) => {
                                return err("mapping returned invalid key type: value.Nothing");
                            }
                        },
                    };
                    match e.eval(cx, this) {
                        Ok(v) if *sorted => out.push_greatest(key, v),
                        Ok(v) => {
                            out.insert(key, v);
                        }
                        Err(Flow::Delete | Flow::Nothing) => {}
                        Err(Flow::Err(e)) => {
                            return err(format!("failed to resolve '{key}' value: {e}"));
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Expr::If(branches, otherwise) => {
                for (i, (cond, then)) in branches.iter().enumerate() {
                    let v = cond.eval(cx, this).map_err(|flow| match flow {
                        // Benthos numbers the `else if` conditions from 1.
                        Flow::Err(e) if i == 0 => {
                            Flow::Err(format!("failed to check if condition: {e}"))
                        }
                        Flow::Err(e) => Flow::Err(format!("failed to check if condition {i}: {e}")),
                        outcome => Flow::Err(outcome_not_boolean(cond, &outcome)),
                    })?;
                    match v {
                        Value::Bool(true) => return then.eval(cx, this),
                        // Benthos lets null through as false here, until its v5.
                        Value::Bool(false) | Value::Null => {}
                        other => return err(not_boolean(cond, &other)),
                    }
                }
                match otherwise {
                    Some(e) => e.eval(cx, this),
                    None => Err(Flow::Nothing),
                }
            }
            Expr::Match(subject, cases) => {
                // The cases see the subject given over the caller's context (without a subject,
                // `this` given over itself).
                let subject_val;
                let ctx_this = match subject {
                    Some(s) => {
                        subject_val = s.eval(cx, this)?;
                        this.with_value(&subject_val)
                    }
                    None => match this {
                        This::Msg => This::Msg,
                        This::Val(v) | This::Over(v, _) => This::Over(v, v),
                    },
                };
                for (i, (pat, result)) in cases.iter().enumerate() {
                    let hit = match pat {
                        Pattern::Wild => true,
                        Pattern::Lit(v) => {
                            let cur = cx.this_value(ctx_this)?;
                            values_equal(&cur, v)
                        }
                        // As in Benthos, a case that is not a boolean true
                        // (another value, nothing, a deletion) is no match;
                        // only a failure stops the match.
                        Pattern::Expr(e) => match e.eval(cx, ctx_this) {
                            Ok(Value::Bool(b)) => b,
                            Ok(_) | Err(Flow::Nothing | Flow::Delete) => false,
                            Err(Flow::Err(msg)) => {
                                return err(format!("failed to check match case {i}: {msg}"));
                            }
                        },
                    };
                    if hit {
                        return result.eval(cx, ctx_this);
                    }
                }
                Err(Flow::Nothing)
            }
            Expr::Lambda(name, body, binds, body_reads_this) => {
                // Taking the context off requires one, named or not.
                let Ok(v) = cx.this_value(this) else {
                    let label = name.as_deref().unwrap_or("_");
                    return err(format!(
                        "failed to capture context {label}: context was undefined"
                    ));
                };
                match name {
                    Some(n) if *binds => {
                        let v = v.into_owned();
                        cx.named.push((n.clone(), v));
                        let res = body.eval(cx, this.popped());
                        cx.named.pop();
                        res
                    }
                    // References to the name were rewritten to read `this`, and the body reads
                    // nothing else of the context.
                    Some(_) if !*body_reads_this => body.eval(cx, this),
                    _ => body.eval(cx, this.popped()),
                }
            }
        }
    }

    /// Evaluates this query with `value` given as its context, as a method does with each
    /// element (Benthos's `ctx.WithValue`): a plain query sees `value` as `this` over the
    /// caller's context; a lambda (`x -> ...`, `_ -> ...`) takes `value` off again, binding
    /// it to the name, so that `this` inside it is the caller's `this`, `outer`.
    pub(crate) fn eval_with_context(
        &self,
        cx: &mut Cx<'_>,
        outer: This<'_>,
        value: &Value,
    ) -> R<Value> {
        match self {
            // A body that never reads `this` gives the same result against `value` (its named
            // references were rewritten to read it as `this`, see `bind_named_to_this`).
            Expr::Lambda(Some(name), body, binds, true) => {
                if !*binds {
                    return body.eval(cx, outer.top());
                }
                cx.named.push((name.clone(), value.clone()));
                let res = body.eval(cx, outer.top());
                cx.named.pop();
                res
            }
            Expr::Lambda(None, body, ..) => body.eval(cx, outer.top()),
            _ => self.eval(cx, outer.with_value(value)),
        }
    }

    /// Rewrites references to the context `name` that are evaluated against the same `this`
    /// the context was named from into [`Expr::NamedThis`], so that the value needs no copy on
    /// the context stack. Subexpressions evaluated against another `this` (query arguments,
    /// the right side of `.( )`, match cases on a subject, `from` targets) are left alone.
    pub(crate) fn bind_named_to_this(&mut self, name: &str) {
        match self {
            Expr::Named(n) if n == name => *self = Expr::NamedThis(std::mem::take(n)),
            Expr::Lit(_)
            | Expr::This
            | Expr::Root
            | Expr::Named(_)
            | Expr::NamedThis(_)
            | Expr::Var(_)
            | Expr::Meta(_)
            | Expr::Lambda(..) => {}
            Expr::Get(base, _, _) => base.bind_named_to_this(name),
            Expr::Fn(c) | Expr::Method(c) => {
                if let Some(t) = c.target.as_mut()
                    && !matches!(c.spec.name, "from" | "from_all")
                {
                    t.bind_named_to_this(name);
                }
                // Plain implementations evaluate every argument against the caller's `this`;
                // the others may not.
                if matches!(
                    c.spec.imp,
                    crate::env::Impl::Function(FnImpl::Simple(_))
                        | crate::env::Impl::Method(
                            MethodImpl::Simple(_) | MethodImpl::Ref(_) | MethodImpl::Metered(_)
                        )
                ) {
                    for a in &mut c.args {
                        a.bind_named_to_this(name);
                    }
                }
            }
            Expr::Context(target, _) => target.bind_named_to_this(name),
            Expr::Bin(_, l, r) => {
                l.bind_named_to_this(name);
                r.bind_named_to_this(name);
            }
            Expr::Not(e) => e.bind_named_to_this(name),
            Expr::Array(items) => items.iter_mut().for_each(|e| e.bind_named_to_this(name)),
            Expr::Object(entries, _) => {
                for (k, v) in entries {
                    if let Key::Dyn(k) = k {
                        k.bind_named_to_this(name);
                    }
                    v.bind_named_to_this(name);
                }
            }
            Expr::If(branches, otherwise) => {
                for (c, e) in branches {
                    c.bind_named_to_this(name);
                    e.bind_named_to_this(name);
                }
                if let Some(e) = otherwise {
                    e.bind_named_to_this(name);
                }
            }
            Expr::Match(subject, cases) => match subject {
                Some(s) => s.bind_named_to_this(name),
                None => {
                    for (p, e) in cases {
                        if let Pattern::Expr(p) = p {
                            p.bind_named_to_this(name);
                        }
                        e.bind_named_to_this(name);
                    }
                }
            },
        }
    }

    /// Whether the expression reads the context `name` from the context stack.
    pub(crate) fn mentions_named(&self, name: &str) -> bool {
        match self {
            Expr::Named(n) => n == name,
            Expr::Lit(_)
            | Expr::This
            | Expr::Root
            | Expr::NamedThis(_)
            | Expr::Var(_)
            | Expr::Meta(_) => false,
            Expr::Get(base, _, _) | Expr::Not(base) | Expr::Lambda(_, base, ..) => {
                base.mentions_named(name)
            }
            Expr::Fn(c) | Expr::Method(c) => {
                c.target.as_ref().is_some_and(|t| t.mentions_named(name))
                    || c.args.iter().any(|a| a.mentions_named(name))
            }
            Expr::Context(a, b) | Expr::Bin(_, a, b) => {
                a.mentions_named(name) || b.mentions_named(name)
            }
            Expr::Array(items) => items.iter().any(|e| e.mentions_named(name)),
            Expr::Object(entries, _) => entries.iter().any(|(k, v)| {
                matches!(k, Key::Dyn(k) if k.mentions_named(name)) || v.mentions_named(name)
            }),
            Expr::If(branches, otherwise) => {
                branches
                    .iter()
                    .any(|(c, e)| c.mentions_named(name) || e.mentions_named(name))
                    || otherwise.as_ref().is_some_and(|e| e.mentions_named(name))
            }
            Expr::Match(subject, cases) => {
                subject.as_ref().is_some_and(|s| s.mentions_named(name))
                    || cases.iter().any(|(p, e)| {
                        matches!(p, Pattern::Expr(p) if p.mentions_named(name))
                            || e.mentions_named(name)
                    })
            }
        }
    }

    /// How many places of the expression may read the message as structured data; functions
    /// and methods not known to leave it alone count as one each.
    pub(crate) fn message_reads(&self) -> usize {
        match self {
            Expr::Lit(_) | Expr::Root | Expr::Var(_) | Expr::Meta(_) | Expr::Named(_) => 0,
            Expr::This | Expr::NamedThis(_) => 1,
            Expr::Get(b, _, _) | Expr::Not(b) => b.message_reads(),
            Expr::Fn(c) | Expr::Method(c) => {
                usize::from(!NOT_READING_THIS.contains(&c.spec.name))
                    + c.target.as_ref().map_or(0, Expr::message_reads)
                    + c.args.iter().map(Expr::message_reads).sum::<usize>()
            }
            Expr::Context(a, b) | Expr::Bin(_, a, b) => a.message_reads() + b.message_reads(),
            Expr::Array(items) => items.iter().map(Expr::message_reads).sum(),
            Expr::Object(entries, _) => entries
                .iter()
                .map(|(k, v)| {
                    v.message_reads()
                        + match k {
                            Key::Dyn(e) => e.message_reads(),
                            Key::Static(_) => 0,
                        }
                })
                .sum(),
            Expr::If(branches, o) => {
                branches
                    .iter()
                    .map(|(a, b)| a.message_reads() + b.message_reads())
                    .sum::<usize>()
                    + o.as_ref().map_or(0, |e| e.message_reads())
            }
            Expr::Match(s, cases) => {
                s.as_ref().map_or(1, |e| e.message_reads())
                    + cases
                        .iter()
                        .map(|(p, e)| {
                            e.message_reads()
                                + match p {
                                    Pattern::Expr(x) => x.message_reads(),
                                    Pattern::Wild | Pattern::Lit(_) => 0,
                                }
                        })
                        .sum::<usize>()
            }
            Expr::Lambda(_, b, ..) => 1 + b.message_reads(),
        }
    }

    pub(crate) fn reads_this(&self) -> bool {
        match self {
            Expr::Lit(_)
            | Expr::Root
            | Expr::Var(_)
            | Expr::Meta(_)
            | Expr::Named(_)
            | Expr::NamedThis(_) => false,
            Expr::This => true,
            Expr::Get(b, _, _) => b.reads_this(),
            Expr::Fn(c) | Expr::Method(c) => {
                !NOT_READING_THIS.contains(&c.spec.name)
                    || c.target.as_ref().is_some_and(Expr::reads_this)
                    || c.args.iter().any(Expr::reads_this)
            }
            Expr::Context(a, b) => a.reads_this() || b.reads_this(),
            Expr::Bin(_, a, b) => a.reads_this() || b.reads_this(),
            Expr::Not(a) => a.reads_this(),
            Expr::Array(items) => items.iter().any(Expr::reads_this),
            Expr::Object(entries, _) => entries
                .iter()
                .any(|(k, v)| matches!(k, Key::Dyn(e) if e.reads_this()) || v.reads_this()),
            Expr::If(branches, o) => {
                branches
                    .iter()
                    .any(|(a, b)| a.reads_this() || b.reads_this())
                    || o.as_ref().is_some_and(|e| e.reads_this())
            }
            Expr::Match(s, cases) => {
                s.as_ref().is_none_or(|e| e.reads_this())
                    || cases.iter().any(|(p, e)| {
                        matches!(p, Pattern::Expr(x) if x.reads_this()) || e.reads_this()
                    })
            }
            // A lambda takes its context off: the body's `this` is another one, which only
            // the place it is evaluated at knows.
            Expr::Lambda(..) => true,
        }
    }
}

/// Functions and methods that never read the message as structured data themselves.
const NOT_READING_THIS: &[&str] = &[
    "content",
    "meta",
    "metadata",
    "now",
    "uuid_v4",
    "deleted",
    "nothing",
    "timestamp_unix",
    "hostname",
    "env",
    "batch_index",
    "batch_size",
    "count",
    "counter",
    "random_int",
    "error",
    "errored",
    "throw",
    "range",
    "nanoid",
    "ksuid",
    "timestamp_unix_nano",
    "timestamp_unix_milli",
    "timestamp_unix_micro",
    "uppercase",
    "lowercase",
    "string",
    "format",
    "bytes",
    "number",
    "or",
    "catch",
    "length",
    "trim",
    "replace_all",
    "split",
    "has_prefix",
    "has_suffix",
    "contains",
    "capitalize",
    "int64",
    "ts_format",
    "ts_parse",
    "ts_unix",
    "type",
    "not_null",
    "encode",
    "decode",
    "hash",
    "parse_json",
];

/// An error of a method, named after the query that gave the method its target (Benthos
/// `ErrFrom`): a type error names it after the type, any other error is prefixed with it.
pub(crate) fn wrap_from(target: &Expr, e: String) -> String {
    let known = matches!(
        target,
        Expr::Get(..)
            | Expr::This
            | Expr::Lit(_)
            | Expr::Meta(_)
            | Expr::Var(_)
            | Expr::Fn(_)
            | Expr::Method(_)
            | Expr::Named(_)
            | Expr::NamedThis(_)
    );
    if !known || e.starts_with("field `") {
        return e;
    }
    match type_err_parts(&e) {
        // Benthos names the query inside a type error rather than before it.
        Some((head, tail)) => format!("{head} from {}{tail}", target.annotation()),
        None => format!("{}: {e}", target.annotation()),
    }
}

/// A type error (`expected X value, got T (V)`) split after its type `T`, where Benthos puts
/// the query's name.
fn type_err_parts(e: &str) -> Option<(&str, &str)> {
    if !e.starts_with("expected ") {
        return None;
    }
    let got = e.find(" value, got ")? + " value, got ".len();
    let rest = e.get(got..)?;
    let type_len = rest.find(' ').unwrap_or(rest.len());
    if !rest.get(type_len..)?.is_empty() && !rest.get(type_len..)?.starts_with(" (") {
        return None;
    }
    Some(e.split_at(got + type_len))
}

/// Go's `%T` of a value as Benthos holds it, which a few messages print: a
/// number read from a message is a `json.Number` there.
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int64",
        Value::Float(_) => "float64",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Bytes(_) => "[]uint8",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Timestamp(_) => "time.Time",
    }
}

/// `expected X value, got Y from F (Z)`: a type error naming the query that gave the value,
/// as Benthos words it once a method knows its target.
pub(crate) fn type_err_from(expected: &str, got: &Value, from: &str) -> String {
    let shown = match got {
        Value::String(s) => format!(" ({s:?})"),
        Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
            format!(" ({})", got.to_interp_string())
        }
        _ => String::new(),
    };
    format!(
        "expected {expected} value, got {} from {from}{shown}",
        got.type_name()
    )
}

/// `expected X value, got Y (Z)` as Benthos phrases type errors.
pub(crate) fn type_err(expected: &str, got: &Value) -> String {
    match got {
        Value::Null => format!("expected {expected} value, got null"),
        Value::Array(_) | Value::Object(_) => {
            format!("expected {expected} value, got {}", got.type_name())
        }
        _ => {
            let mut s = got.to_interp_string();
            if s.chars().count() > 64 {
                s = s.chars().take(64).collect::<String>() + "...";
            }
            if matches!(got, Value::String(_) | Value::Bytes(_)) {
                s = format!("{s:?}");
            }
            format!("expected {expected} value, got {} ({s})", got.type_name())
        }
    }
}

/// Reads a path of keys; numeric keys index arrays, other keys map over arrays.
pub(crate) fn get_path(v: &Value, path: &[String]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v.clone());
    };
    match v {
        Value::Object(m) => m.get(first).and_then(|c| get_path(c, rest)),
        Value::Array(items) => {
            if let Ok(i) = first.parse::<usize>() {
                items.get(i).and_then(|c| get_path(c, rest))
            } else {
                let collected: Vec<Value> = items
                    .iter()
                    .map(|c| get_path(c, path).unwrap_or(Value::Null))
                    .collect();
                Some(Value::Array(collected))
            }
        }
        _ => None,
    }
}

pub(crate) fn get_path_ref<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Splits a Benthos dot path (`a.b~1c` escapes a dot as `~1` and a tilde as `~0`).
pub(crate) fn split_dot_path(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    if !path.contains('~') {
        return path.split('.').map(str::to_owned).collect();
    }
    path.split('.')
        .map(|s| s.replace("~1", ".").replace("~0", "~"))
        .collect()
}

/// Deep equality with numbers compared by value.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb))
        }
        (Value::String(x), Value::Bytes(y)) | (Value::Bytes(y), Value::String(x)) => {
            x.as_bytes() == y.as_slice()
        }
        _ => match (a.as_num(), b.as_num()) {
            (Some(Num::I(x)), Some(Num::I(y))) => x == y,
            (Some(x), Some(y)) => x.as_f64() == y.as_f64(),
            (None, None) => a == b,
            _ => false,
        },
    }
}

/// The failure of an `if` whose condition gave no boolean, in Benthos's
/// words: the value as Go's `%v` and its Go type.
fn resolved_non_boolean(cond: &Expr, printed: &str, type_name: &str) -> String {
    format!(
        "{} resolved to a non-boolean value {printed} ({type_name})",
        cond.annotation()
    )
}

/// [`resolved_non_boolean`] for a condition that gave a value.
fn not_boolean(cond: &Expr, got: &Value) -> String {
    resolved_non_boolean(cond, &crate::methods::strings::go_v(got), go_type_name(got))
}

/// [`resolved_non_boolean`] for a condition that gave `deleted()` or
/// `nothing()`: Go prints those as typed nil pointers, `<nil>` of
/// `value.Delete` or `value.Nothing`, so unlike null they are not let
/// through as false. An error stays the error it is.
fn outcome_not_boolean(cond: &Expr, outcome: &Flow) -> String {
    match outcome {
        Flow::Delete => resolved_non_boolean(cond, "<nil>", "value.Delete"),
        Flow::Nothing => resolved_non_boolean(cond, "<nil>", "value.Nothing"),
        Flow::Err(e) => e.clone(),
    }
}

pub(crate) fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(type_err("bool", other)),
    }
}

fn mismatch(op: BinOp, l: &Expr, r: &Expr, lv: &Value, rv: &Value) -> Flow {
    Flow::Err(format!(
        "cannot {} types {} (from {}) and {} (from {})",
        op.verb(),
        lv.type_name(),
        l.annotation(),
        rv.type_name(),
        r.annotation()
    ))
}

fn eval_bin<'a, 'm: 'a>(
    op: BinOp,
    l: &'a Expr,
    r: &'a Expr,
    cx: &mut Cx<'m>,
    this: This<'a>,
) -> R<Value> {
    match op {
        // As in Benthos, a failure, null, `deleted()` and `nothing()` all
        // fall through to the right-hand side.
        BinOp::Coalesce => match l.eval(cx, this) {
            Ok(v) if !v.is_null() => Ok(v),
            _ => r.eval(cx, this),
        },
        BinOp::And => {
            let lv = l.eval(cx, this)?;
            if !as_bool(&lv)? {
                return Ok(Value::Bool(false));
            }
            let rv = r.eval(cx, this)?;
            Ok(Value::Bool(as_bool(&rv)?))
        }
        BinOp::Or => {
            let lv = l.eval(cx, this)?;
            if as_bool(&lv)? {
                return Ok(Value::Bool(true));
            }
            let rv = r.eval(cx, this)?;
            Ok(Value::Bool(as_bool(&rv)?))
        }
        _ => {
            // Operands are only read: fields of `this` are compared and added in place.
            let lv = l.eval_ref(cx, this)?;
            let rv = r.eval_ref(cx, this)?;
            apply_bin(op, l, r, &lv, &rv)
        }
    }
}

/// Applies an arithmetic or comparison operator to two values.
pub(crate) fn apply_bin(op: BinOp, l: &Expr, r: &Expr, lv: &Value, rv: &Value) -> R<Value> {
    match op {
        BinOp::Add => match lv {
            Value::String(_) | Value::Bytes(_) => match rv {
                Value::String(_) | Value::Bytes(_) => {
                    // Doubling a string in a `fold` is the cheapest way to
                    // ask for a huge one.
                    crate::budget::check_bytes(
                        text_len(lv).saturating_add(text_len(rv)),
                        "string concatenation",
                    )
                    .map_err(Flow::Err)?;
                    Ok(Value::String((a_str(lv) + &a_str(rv)).into()))
                }
                _ => Err(mismatch(op, l, r, lv, rv)),
            },
            _ => num_op(op, l, r, lv, rv),
        },
        BinOp::Sub | BinOp::Mul => num_op(op, l, r, lv, rv),
        BinOp::Div => {
            let (Some(a), Some(b)) = (lv.as_num(), rv.as_num()) else {
                return Err(mismatch(op, l, r, lv, rv));
            };
            if b.as_f64() == 0.0 {
                return err(format!("{}: attempted to divide by zero", r.annotation()));
            }
            Ok(Value::Float(a.as_f64() / b.as_f64()))
        }
        BinOp::Mod => {
            let (Some(a), Some(b)) = (int_of(lv), int_of(rv)) else {
                return Err(mismatch(op, l, r, lv, rv));
            };
            if b == 0 {
                return err(format!("{}: attempted to divide by zero", r.annotation()));
            }
            Ok(Value::Int(a.wrapping_rem(b)))
        }
        BinOp::Eq => Ok(Value::Bool(values_equal(lv, rv))),
        BinOp::Neq => Ok(Value::Bool(!values_equal(lv, rv))),
        BinOp::Gt | BinOp::Lt | BinOp::Gte | BinOp::Lte => {
            let ord = match (lv, rv) {
                (Value::String(_) | Value::Bytes(_), Value::String(_) | Value::Bytes(_)) => {
                    Some(a_str(lv).cmp(&a_str(rv)))
                }
                (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
                _ => match (lv.as_num(), rv.as_num()) {
                    (Some(Num::I(a)), Some(Num::I(b))) => Some(a.cmp(&b)),
                    (Some(a), Some(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                    _ => return Err(mismatch(op, l, r, lv, rv)),
                },
            };
            let Some(ord) = ord else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(match op {
                BinOp::Gt => ord.is_gt(),
                BinOp::Lt => ord.is_lt(),
                BinOp::Gte => ord.is_ge(),
                _ => ord.is_le(),
            }))
        }
        BinOp::And | BinOp::Or | BinOp::Coalesce => err("unreachable operator"),
    }
}

fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

fn a_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone().into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_interp_string(),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v.as_num()? {
        Num::I(i) => Some(i),
        Num::F(f) => Some(f as i64),
    }
}

fn num_op(op: BinOp, l: &Expr, r: &Expr, lv: &Value, rv: &Value) -> R<Value> {
    let (Some(a), Some(b)) = (lv.as_num(), rv.as_num()) else {
        return Err(mismatch(op, l, r, lv, rv));
    };
    Ok(match (a, b) {
        // Go wraps silently here; a wrapped sum is a wrong answer passed on
        // as a right one, so an overflow fails the mapping instead.
        (Num::I(x), Num::I(y)) => match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            _ => x.checked_mul(y),
        }
        .map(Value::Int)
        .ok_or_else(|| {
            Flow::Err(format!(
                "cannot {} {x} (from {}) and {y} (from {}): integer overflow",
                op.verb(),
                l.annotation(),
                r.annotation()
            ))
        })?,
        (x, y) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            Value::Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                _ => x * y,
            })
        }
    })
}

/// Applies a value to a path of the document being built.
pub(crate) fn assign_path(
    root: &mut Root,
    path: &[String],
    value: Option<Value>,
) -> Result<(), String> {
    if path.is_empty() {
        *root = match value {
            Some(v) => Root::Value(v),
            None => Root::Deleted,
        };
        return Ok(());
    }
    let doc = match root {
        Root::Value(v @ Value::Object(_)) | Root::Value(v @ Value::Array(_)) => v,
        Root::Value(Value::Null) | Root::Nothing => {
            *root = Root::Value(Value::Object(Map::new()));
            match root {
                Root::Value(v) => v,
                _ => unreachable!("just assigned"),
            }
        }
        Root::Value(other) => {
            return Err(format!(
                "unable to set target path {} as the value of the root was a non-object type ({})",
                path.join("."),
                other.type_name()
            ));
        }
        Root::Deleted => {
            return Err(format!(
                "unable to set target path {} as the value of the root was a non-object type (delete)",
                path.join(".")
            ));
        }
    };
    match value {
        None => {
            delete_path(doc, path);
            Ok(())
        }
        Some(v) => set_path(doc, path, v, path),
    }
}

fn delete_path(doc: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match doc {
        Value::Object(m) => {
            if rest.is_empty() {
                m.remove(first);
            } else if let Some(c) = m.get_mut(first) {
                delete_path(c, rest);
            }
        }
        Value::Array(items) => {
            if let Ok(i) = first.parse::<usize>() {
                if rest.is_empty() {
                    if i < items.len() {
                        items.remove(i);
                    }
                } else if let Some(c) = items.get_mut(i) {
                    delete_path(c, rest);
                }
            }
        }
        _ => {}
    }
}

fn set_path(doc: &mut Value, path: &[String], v: Value, full: &[String]) -> Result<(), String> {
    let (first, rest) = path.split_first().expect("path is not empty");
    match doc {
        Value::Object(m) => {
            if rest.is_empty() {
                m.insert(first.as_str(), v);
                return Ok(());
            }
            let child = m.get_or_insert_with(first, || Value::Null);
            if matches!(child, Value::Null) {
                *child = Value::Object(Map::new());
            }
            set_path(child, rest, v, full)
        }
        Value::Array(items) => {
            let idx = first.parse::<usize>().ok().filter(|i| *i < items.len());
            match idx {
                Some(i) => {
                    if rest.is_empty() {
                        items[i] = v;
                        Ok(())
                    } else {
                        if matches!(items[i], Value::Null) {
                            items[i] = Value::Object(Map::new());
                        }
                        set_path(&mut items[i], rest, v, full)
                    }
                }
                None => Err(collision(full, path, doc)),
            }
        }
        _ => Err(collision(full, path, doc)),
    }
}

/// Why `full` cannot be set: `found`, met with `remaining` of the path left,
/// is no object. Worded as Benthos words it, with the type of what was found.
fn collision(full: &[String], remaining: &[String], found: &Value) -> String {
    let culprit = &full[..full.len() - remaining.len()];
    if culprit.is_empty() {
        return format!(
            "unable to set target path {} as the value of the root was a non-object type ({})",
            full.join("."),
            found.type_name()
        );
    }
    format!(
        "unable to set target path {} as the value of {} was a non-object type ({})",
        full.join("."),
        culprit.join("."),
        found.type_name()
    )
}

/// Runs statements against a context.
pub(crate) fn run_stmts(
    stmts: &[Stmt],
    cx: &mut Cx<'_>,
    this: This<'_>,
) -> Result<(), (usize, String)> {
    for stmt in stmts {
        match stmt {
            Stmt::Assign { target, expr, line } => {
                let res = match expr.eval(cx, this) {
                    Ok(v) => Some(v),
                    Err(Flow::Delete) => None,
                    Err(Flow::Nothing) => continue,
                    Err(Flow::Err(e)) => return Err((*line, e)),
                };
                apply_target(target, res, cx).map_err(|e| (*line, e))?;
            }
            Stmt::If {
                branches,
                otherwise,
                line,
            } => {
                // As in Benthos, the statements of a branch fail as the `if`
                // statement itself, on its line.
                let mut done = false;
                for (i, (cond, body)) in branches.iter().enumerate() {
                    let c = match cond.eval(cx, this) {
                        Ok(v) => v,
                        Err(Flow::Err(e)) => {
                            return Err((
                                *line,
                                format!("failed to check if condition {}: {e}", i + 1),
                            ));
                        }
                        Err(outcome) => return Err((*line, outcome_not_boolean(cond, &outcome))),
                    };
                    match c {
                        Value::Bool(true) => {
                            run_stmts(body, cx, this).map_err(|(_, e)| (*line, e))?;
                            done = true;
                            break;
                        }
                        Value::Bool(false) => {}
                        other => return Err((*line, not_boolean(cond, &other))),
                    }
                }
                if !done && let Some(body) = otherwise {
                    run_stmts(body, cx, this).map_err(|(_, e)| (*line, e))?;
                }
            }
        }
    }
    Ok(())
}

fn apply_target(target: &Target, value: Option<Value>, cx: &mut Cx<'_>) -> Result<(), String> {
    match target {
        Target::Root(path) => assign_path(&mut cx.root, path, value),
        Target::Var(name) => {
            match value {
                Some(v) => {
                    cx.vars.insert(name.clone(), v);
                }
                None => {
                    cx.vars.remove(name);
                }
            }
            Ok(())
        }
        Target::Meta(key) => {
            if cx.meta.is_none() {
                cx.meta = Some(cx.msg().metadata().clone());
            }
            let meta = cx.meta.as_mut().expect("just initialised");
            match (key, value) {
                (None, None) => meta.clear(),
                (None, Some(Value::Object(m))) => {
                    *meta = m.into_iter().collect();
                }
                (None, Some(other)) => {
                    return Err(format!(
                        "setting root meta object requires object value, received: {}",
                        go_type_name(&other)
                    ));
                }
                (Some(k), None) => {
                    meta.remove(k.as_str());
                }
                (Some(k), Some(v)) => {
                    meta.insert(k.as_str().into(), v);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;
    use crate::{MessageRef as _, Root};

    fn run(mapping: &str, input: &str) -> String {
        let mapping = Mapping::parse(mapping).expect("mapping parses");
        let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
        match mapping.exec(&batch[..], 0) {
            Ok(out) => match out.root {
                Root::Value(v) => String::from_utf8(v.to_message_bytes()).expect("utf-8"),
                Root::Deleted => "<deleted>".to_owned(),
                Root::Nothing => String::from_utf8_lossy(batch[0].content()).into_owned(),
            },
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn from_moves_the_message_functions_read_but_not_this() {
        let mapping = Mapping::parse(
            r#"root.json = json("foo").from(1)
root.content = content().from(1).string()
root.this = this.foo.from(1)
root.index = batch_index().from(1)
root.all = this.foo.from_all()
root.all_json = json("foo").from_all()"#,
        )
        .expect("mapping parses");
        let batch = [
            SimpleMessage::new(br#"{"foo":"zero"}"#.to_vec()),
            SimpleMessage::new(br#"{"foo":"one"}"#.to_vec()),
        ];
        let out = mapping.exec(&batch[..], 0).expect("mapping runs");
        let Root::Value(v) = out.root else {
            panic!("no document");
        };
        assert_eq!(
            String::from_utf8(v.to_message_bytes()).unwrap(),
            r#"{"all":["zero","zero"],"all_json":["zero","one"],"content":"{\"foo\":\"one\"}","index":1,"json":"one","this":"zero"}"#
        );
        // A mapping with one read takes its path straight from the bytes:
        // the same messages must be read there.
        for (text, want) in [
            (r#"root = this.foo.from(1)"#, "zero"),
            (r#"root = json("foo").from(1)"#, "one"),
        ] {
            let single = Mapping::parse(text).expect("mapping parses");
            let out = single.exec(&batch[..], 0).expect("mapping runs");
            assert_eq!(out.root, Root::Value(crate::Value::from(want)), "{text}");
        }
    }

    #[test]
    fn if_expressions_fail_in_benthos_words() {
        assert_eq!(
            run("root = if this.x.uppercase() == \"A\" { 1 }", r#"{"x":3}"#),
            "error: failed assignment (line 1): failed to check if condition: expected string value, got number from field `this.x` (3)"
        );
        assert_eq!(
            run(
                "root = if false { 1 } else if this.x.uppercase() == \"A\" { 2 }",
                r#"{"x":3}"#
            ),
            "error: failed assignment (line 1): failed to check if condition 1: expected string value, got number from field `this.x` (3)"
        );
        assert_eq!(
            run(r#"root = if this.x { 1 }"#, r#"{"x":"s"}"#),
            "error: failed assignment (line 1): field `this.x` resolved to a non-boolean value s (string)"
        );
        assert_eq!(
            run(r#"root = if "hello world" { 1 }"#, "{}"),
            "error: failed assignment (line 1): string literal resolved to a non-boolean value hello world (string)"
        );
        // Null is still taken as false in an expression.
        assert_eq!(run(r#"root = if this.x { 1 } else { 2 }"#, "{}"), "2");
    }

    #[test]
    fn if_conditions_that_give_deleted_or_nothing_are_not_booleans() {
        // Go holds both as typed nil pointers: not the null an `if`
        // expression lets through as false.
        assert_eq!(
            run("root = if deleted() { 1 } else { 2 }", "{}"),
            "error: failed assignment (line 1): function deleted resolved to a non-boolean value <nil> (value.Delete)"
        );
        assert_eq!(
            run("root = if true { 1 } else if nothing() { 2 }", "{}"),
            "1"
        );
        assert_eq!(
            run("root = if false { 1 } else if nothing() { 2 }", "{}"),
            "error: failed assignment (line 1): function nothing resolved to a non-boolean value <nil> (value.Nothing)"
        );
        assert_eq!(
            run("root = {}\nif deleted() {\n  root.a = 1\n}", "{}"),
            "error: failed assignment (line 2): function deleted resolved to a non-boolean value <nil> (value.Delete)"
        );
        assert_eq!(
            run(
                "root = {}\nif false {\n  root.a = 1\n} else if nothing() {\n  root.b = 1\n}",
                "{}"
            ),
            "error: failed assignment (line 2): function nothing resolved to a non-boolean value <nil> (value.Nothing)"
        );
    }

    #[test]
    fn if_statements_fail_in_benthos_words_on_their_own_line() {
        let mapping = "root.a = 1
if this.x.uppercase() == \"A\" {
  root.b = 2
} else if this.y {
  root.c = this.z.uppercase()
}";
        assert_eq!(
            run(mapping, r#"{"x":3}"#),
            "error: failed assignment (line 2): failed to check if condition 1: expected string value, got number from field `this.x` (3)"
        );
        assert_eq!(
            run(mapping, r#"{"x":"b","y":null}"#),
            "error: failed assignment (line 2): field `this.y` resolved to a non-boolean value <nil> (<nil>)"
        );
        assert_eq!(
            run(mapping, r#"{"x":"b","y":["s"]}"#),
            "error: failed assignment (line 2): field `this.y` resolved to a non-boolean value [s] ([]interface {})"
        );
        assert_eq!(
            run(mapping, r#"{"x":"b","y":true}"#),
            "error: failed assignment (line 2): expected string value, got null from field `this.z`"
        );
        assert_eq!(
            run(
                "if this.x == 1 {\n  if true {\n    root = this.y.uppercase()\n  }\n}",
                r#"{"x":1}"#
            ),
            "error: failed assignment (line 1): expected string value, got null from field `this.y`"
        );
    }

    #[test]
    fn a_message_that_is_no_json_fails_naming_the_field_read() {
        for (mapping, field) in [
            ("root = this", "this"),
            ("root.a = this.bar.baz", "this.bar.baz"),
            ("root.a = this.bar.uppercase()", "this.bar"),
            (r#"root.a = {"x": [this.bar]}"#, "this.bar"),
            (r#"root = this."a.b""#, "this.a~1b"),
        ] {
            assert_eq!(
                run(mapping, "{nope"),
                format!(
                    "error: failed assignment (line 1): unable to reference message as structured (with '{field}'): parse as json: invalid character 'n' looking for beginning of object key string"
                ),
                "{mapping}"
            );
        }
        // What a catch sees is the query's own error.
        assert_eq!(
            run("root = this.bar.catch(e -> e)", "{nope"),
            "context was undefined, unable to reference `bar`"
        );
    }

    #[test]
    fn setting_a_path_through_a_non_object_names_its_type() {
        assert_eq!(
            run("root.a = \"x\"\nroot.a.b = 1", "{}"),
            "error: failed assignment (line 2): unable to set target path a.b as the value of a was a non-object type (string)"
        );
        assert_eq!(
            run("root = []\nroot.foo = 1", "{}"),
            "error: failed assignment (line 2): unable to set target path foo as the value of the root was a non-object type (array)"
        );
    }

    #[test]
    fn object_literal_errors_name_the_entry() {
        assert_eq!(
            run(r#"root = {"a": this.b.uppercase()}"#, "{}"),
            "error: failed assignment (line 1): failed to resolve 'a' value: expected string value, got null from field `this.b`"
        );
        assert_eq!(
            run(r#"root = {this.b.uppercase(): 1}"#, "{}"),
            "error: failed assignment (line 1): failed to resolve key: expected string value, got null from field `this.b`"
        );
        assert_eq!(
            run(r#"root = {this.b: 1}"#, "{}"),
            "error: failed assignment (line 1): mapping returned invalid key type: <nil>"
        );
        assert_eq!(
            run(r#"root = {this.b: 1}"#, r#"{"b":true}"#),
            "error: failed assignment (line 1): mapping returned invalid key type: bool"
        );
        assert_eq!(
            run("meta = 5", "{}"),
            "error: failed assignment (line 1): setting root meta object requires object value, received: int64"
        );
    }

    #[test]
    fn a_match_case_that_is_not_true_is_no_match_and_a_failing_one_names_its_index() {
        let mapping = r#"root = match this {
  this.n => "first"
  this.n > 1 => "second"
  _ => "neither"
}"#;
        // `this.n` is a number, not a boolean: no match, as in Benthos.
        assert_eq!(run(mapping, r#"{"n":5}"#), "second");
        assert_eq!(run(mapping, r#"{"n":0}"#), "neither");
        let failing = r#"root = match this {
  this.n.uppercase() == "A" => "a"
  _ => "other"
}"#;
        let out = run(failing, r#"{"n":5}"#);
        assert!(
            out.starts_with("error: ") && out.contains("failed to check match case 0: "),
            "{out}"
        );
    }

    #[test]
    fn named_contexts_read_the_right_value_at_every_depth() {
        let doc = r#"{"id":"o1","items":[{"sku":"a","tags":["x","y"]},{"sku":"b","tags":["z"]}]}"#;
        // The outer name is read inside an inner query, where `this` is something else.
        assert_eq!(
            run(
                "root = this.items.map_each(i -> i.tags.map_each(t -> i.sku + t))",
                doc
            ),
            r#"[["ax","ay"],["bz"]]"#
        );
        // Read beside `this` in the same query, which is the caller's context again once the
        // named one is taken off (Benthos's PopValue), and inside `.( )` whose `this` differs.
        assert_eq!(
            run(
                r#"root = this.items.map_each(i -> i.sku + this.id + i.tags.index(0).(t -> t + i.sku))"#,
                doc
            ),
            r#"["ao1xa","bo1zb"]"#
        );
        // An unnamed query sees the element as `this`; a named one nested in it sees the
        // element again.
        assert_eq!(
            run(
                "root = this.items.map_each(this.tags.map_each(t -> t + this.sku))",
                doc
            ),
            r#"[["xa","ya"],["zb"]]"#
        );
        // `catch` gives its fallback the error text as context.
        assert_eq!(
            run(
                r#"root = this.id.number().catch(err -> {"error": err, "id": this.id})"#,
                doc
            ),
            r#"{"error":"field `this.id`: strconv.ParseFloat: parsing \"o1\": invalid syntax","id":"o1"}"#
        );
        assert_eq!(
            run("root = this.id.number().catch(this.length())", doc),
            "65"
        );
        // A match on a subject rebinds `this` for its cases.
        assert_eq!(
            run(
                r#"root = this.items.map_each(i -> match i.sku { "a" => i.tags.length(), _ => this })"#,
                doc
            ),
            r#"[2,"b"]"#
        );
        assert_eq!(
            run(
                "root = this.items.fold(0, acc -> acc.tally + acc.value.tags.length())",
                doc
            ),
            "3"
        );
    }

    #[test]
    fn lambdas_outside_loops_take_the_top_context_off() {
        let doc = r#"{"id":"o1","items":[{"sku":"a","n":null},{"sku":"b","n":null}]}"#;
        // `or` runs its fallback in its own context: a name takes the element off, leaving the
        // message as `this` (Benthos keeps nothing beneath the first element context).
        assert_eq!(
            run(
                "root = this.items.map_each(this.missing.or(x -> [x.sku, this.id]))",
                doc
            ),
            r#"[["a","o1"],["b","o1"]]"#
        );
        // Beneath a value given by `.( )` lies the element it was given over.
        assert_eq!(
            run(
                "root = this.items.map_each(this.n.(this.or(y -> [y, this.sku])))",
                doc
            ),
            r#"[[null,"a"],[null,"b"]]"#
        );
        // The cases of a match without a subject see `this` over itself.
        assert_eq!(
            run(
                r#"root = this.items.map_each(match { this.sku == "a" => this.missing.or(y -> [y.sku, this.sku]), _ => "other" })"#,
                doc
            ),
            r#"[["a","a"],"other"]"#
        );
        // `_` takes the context off without naming it.
        assert_eq!(
            run("root = this.items.map_each(_ -> this.id)", doc),
            r#"["o1","o1"]"#
        );
        assert_eq!(run("root = this.items.index(0).(_ -> this.id)", doc), "o1");
        // At the top the message is both the name and `this`.
        assert_eq!(
            run("root = this.missing.or(x -> [x.id, this.id])", doc),
            r#"["o1","o1"]"#
        );
        // A name taking the element off inside a mapping applied to it.
        assert_eq!(
            run(
                "map m {\n  root = this.missing.or(x -> [x.sku, this.id])\n}\nroot = this.items.map_each(this.apply(\"m\"))",
                doc
            ),
            r#"[["a",null],["b",null]]"#
        );
    }

    #[test]
    fn named_contexts_keep_their_error_messages() {
        assert_eq!(
            run("root = this.xs.map_each(x -> x + 1)", r#"{"xs":["a"]}"#),
            "error: failed assignment (line 1): cannot add types string (from context x) and number (from number literal)"
        );
        // Naming the context requires one even when the name is never read;
        // the statement then fails as any read of a message that is no JSON.
        assert_eq!(
            run(r#"root = (x -> "constant")"#, "not json"),
            "error: failed assignment (line 1): unable to reference message as structured (with 'this'): parse as json: invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            run(r#"root = (x -> "constant").catch(e -> e)"#, "not json"),
            "failed to capture context x: context was undefined"
        );
    }

    #[test]
    fn borrowed_targets_leave_the_message_as_it_was() {
        let doc = r#"{"a":[1,2,3],"o":{"k":"v"}}"#;
        assert_eq!(
            run(
                "root.m = this.a.map_each(n -> n * 2)\nroot.f = this.a.filter(n -> n > 1)\nroot.s = this.a.fold(0, t -> t.tally + t.value)\nroot.a = this.a\nroot.o = this.o.map_each(kv -> kv.value.uppercase())\nroot.n = this.missing.map_each(x -> x).catch(\"none\")\nroot.l = this.a.length()\nroot.i = this.a.index(-1)\nroot.e = this.o.exists(\"k\")\nroot.g = this.o.get(\"k\")\nroot.x = this.o.index(0).catch(\"not an array\")",
                doc
            ),
            r#"{"a":[1,2,3],"e":true,"f":[2,3],"g":"v","i":3,"l":3,"m":[2,4,6],"n":"none","o":{"k":"V"},"s":6,"x":"not an array"}"#
        );
    }

    #[test]
    fn method_errors_read_by_where_the_method_comes_from() {
        // A method of the query engine names the query of its target, a literal too.
        assert_eq!(
            run(r#"root = "%ZZ".unescape_url_path().catch(e -> e)"#, "{}"),
            r#"string literal: invalid URL escape "%ZZ""#
        );
        assert_eq!(
            run(
                r#"root = this.v.unescape_url_path().catch(e -> e)"#,
                r#"{"v":"%ZZ"}"#
            ),
            r#"field `this.v`: invalid URL escape "%ZZ""#
        );
        // A plugin's error is its own.
        assert_eq!(
            run(
                r#"root = this.v.parse_form_url_encoded().catch(e -> e)"#,
                r#"{"v":"a;b"}"#
            ),
            "failed to parse value as url-encoded data: invalid semicolon separator in query"
        );
        assert_eq!(
            run(
                r#"root = this.v.ts_parse("2006").catch(e -> e)"#,
                r#"{"v":"x"}"#
            ),
            r#"parsing time "x" as "2006": cannot parse "x" as "2006""#
        );
    }

    #[test]
    fn static_plugins_run_at_parse_time_on_literals() {
        let parse_err = |m: &str| Mapping::parse(m).err().map(|e| e.to_string());
        assert_eq!(
            parse_err(r#"root = "nope".ts_parse("2006-01-02")"#).as_deref(),
            Some(
                r#"line 1 char 37: parsing time "nope" as "2006-01-02": cannot parse "nope" as "2006""#
            )
        );
        // A failure at parse time cannot be caught.
        assert!(parse_err(r#"root = "nope".ts_parse("2006").catch("x")"#).is_some());
        // The folded value is the method's result.
        assert_eq!(
            run(
                r#"root = "2020-08-14".ts_parse("2006-01-02").ts_unix()"#,
                "{}"
            ),
            "1597363200"
        );
        // Dynamic arguments, or a method that is not static, wait for the mapping to run.
        assert_eq!(
            run(
                r#"root = "nope".ts_parse(this.f).catch("caught")"#,
                r#"{"f":"2006"}"#
            ),
            "caught"
        );
        assert_eq!(
            run(
                r#"root = "a;b".parse_form_url_encoded().catch("caught")"#,
                "{}"
            ),
            "caught"
        );
    }
}
