//! `jq`: transforms each message with a jq filter, run by jaq. The message's
//! metadata is the variable `$metadata`; no output drops the message, several
//! outputs become an array.
//!
//! A filter runs under the message's step and memory limits, as a mapping
//! does: jaq has no limits of its own, so the generators a filter can loop
//! with (`range`, `repeat`, `recurse`, `while`, `until`) are defined over
//! jaq's to take steps at each turn ([`STEPS_PER_TURN`]), and each output
//! takes one.

use std::cell::Cell;

use async_trait::async_trait;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Cv, ValXs, Vars, data, native, unwrap_valr};
use jaq_json::Val;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_bloblang::budget::Allowance;
use sluice_core::component::processor::{Failed, Processor};
use sluice_core::config::{Lint, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};

use super::one_batch;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JqConfig {
    /// The jq filter applied to each message.
    query: String,
    /// Whether the input is the message's raw text as a string, not its JSON document.
    #[serde(default)]
    raw: bool,
    /// Whether string results are written as their text, unquoted.
    #[serde(default)]
    output_raw: bool,
}

struct Jq {
    filter: jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>,
    raw: bool,
    output_raw: bool,
}

/// `value` as jaq's value, through its JSON text. Read by jaq's own parser:
/// serde_json's stops at 128 levels, where gojq (Benthos's jq) and the
/// messages' own JSON go to 10,000.
fn to_val(value: &Value) -> Result<Val, String> {
    let json = value.to_json_bytes();
    if json_nesting(&json) > MAX_JSON_DEPTH {
        return Err(format!(
            "the document nests more than {MAX_JSON_DEPTH} deep for the jq filter"
        ));
    }
    jaq_json::read::parse_single(&json).map_err(|e| e.to_string())
}

fn from_val(val: &Val) -> Result<Value, String> {
    Value::from_json_bytes(val.to_string().as_bytes())
}

impl Jq {
    /// The filter's outputs for one message.
    fn run(&self, msg: &Message) -> Result<Vec<Val>, String> {
        let input = if self.raw {
            Val::from(String::from_utf8_lossy(msg.content()).into_owned())
        } else {
            to_val(msg.structured()?)?
        };
        let metadata = to_val(&Value::Object(
            msg.metadata()
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
        ))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([metadata]));
        let _run = RunAllowance::start();
        let mut outputs = Vec::new();
        for out in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            let out = out.map_err(|e| e.to_string())?;
            RunAllowance::step()?;
            if nesting_exceeds(&out, MAX_JSON_DEPTH) {
                dismantle(out);
                return Err(format!(
                    "the jq filter built a value nested more than {MAX_JSON_DEPTH} deep"
                ));
            }
            outputs.push(out);
        }
        Ok(outputs)
    }

    /// The message's new content, or `None` when the filter gave nothing.
    fn apply(&self, msg: &mut Message) -> Result<bool, String> {
        let outputs = self.run(msg)?;
        if self.output_raw {
            if outputs.is_empty() {
                return Ok(false);
            }
            let mut text = Vec::new();
            for out in &outputs {
                match from_val(out)? {
                    Value::String(s) => text.extend_from_slice(s.as_bytes()),
                    other => text.extend_from_slice(&other.to_json_bytes()),
                }
            }
            msg.set_content(text);
            return Ok(true);
        }
        let mut values = outputs
            .iter()
            .map(from_val)
            .collect::<Result<Vec<_>, _>>()?;
        match values.len() {
            0 => Ok(false),
            1 => {
                msg.set_structured(values.pop().expect("one value"));
                Ok(true)
            }
            _ => {
                msg.set_structured(Value::Array(values));
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl Processor for Jq {
    async fn process(&self, batch: Batch) -> Result<Vec<Batch>, Failed<Batch>> {
        let mut out = Vec::with_capacity(batch.len());
        for mut msg in batch {
            match self.apply(&mut msg) {
                Ok(true) => out.push(msg),
                Ok(false) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "jq filter failed.");
                    msg.set_error(err);
                    out.push(msg);
                }
            }
        }
        Ok(one_batch(out))
    }
}

/// The deepest JSON text jaq's parser is given, by `fromjson` (and
/// `tonumber`, which parses through it) or with the message: it recurses
/// once per level, so text nested millions deep (a megabyte of `[`) would
/// overflow the thread's stack and abort the process. The same limit as for
/// the messages' own JSON.
const MAX_JSON_DEPTH: usize = sluice_bloblang::budget::MAX_DOCUMENT_DEPTH;

/// How deeply `text` nests arrays and objects, as JSON would read it.
fn json_nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Passes its input on, or fails when it is text nested too deep for
/// `fromjson` to parse.
fn fromjson_depth_guard(cv: Cv<'_, data::JustLut<Val>>) -> ValXs<'_, Val> {
    let (_, input) = cv;
    if let Val::TStr(text) | Val::BStr(text) = &input
        && json_nesting(text) > MAX_JSON_DEPTH
    {
        return native::bome(Err(jaq_json::Error::str(format_args!(
            "cannot parse JSON nested more than {MAX_JSON_DEPTH} deep"
        ))));
    }
    native::bome(Ok(input))
}

thread_local! {
    /// The allowance of the filter run under way on this thread. The
    /// natives that take steps see no state of the processor; a run goes
    /// from start to end on one thread (its outputs are pulled in `run`).
    static ALLOWANCE: Cell<Option<Allowance>> = const { Cell::new(None) };
}

/// The allowance of one run, on this thread for as long as it lives.
struct RunAllowance;

impl RunAllowance {
    fn start() -> RunAllowance {
        ALLOWANCE.set(Some(Allowance::fresh("the jq filter")));
        RunAllowance
    }

    /// Takes a step of the run under way, if there is one.
    fn step() -> Result<(), String> {
        Self::take(1)
    }

    /// Takes a turn of a loop: [`STEPS_PER_TURN`] steps.
    fn turn() -> Result<(), String> {
        Self::take(STEPS_PER_TURN)
    }

    fn take(steps: u64) -> Result<(), String> {
        let Some(mut allowance) = ALLOWANCE.get() else {
            return Ok(());
        };
        let taken = allowance.take(steps);
        ALLOWANCE.set(Some(allowance));
        taken
    }
}

impl Drop for RunAllowance {
    fn drop(&mut self) {
        ALLOWANCE.set(None);
    }
}

/// What one turn of a loop costs, in the message's evaluation steps: a
/// turn evaluates the loop's body, several expressions. It also bounds how
/// deep a loop can nest the value it builds (the default limit allows
/// 100,000 turns): jaq drops, compares and writes values recursively, and a
/// value nested millions deep overflows the stack.
const STEPS_PER_TURN: u64 = 250;

/// Passes its input on, taking a turn of the run; fails once the run is
/// past its limits. Once past, every later turn fails too, so a filter that
/// catches the error cannot loop on.
fn take_turn(cv: Cv<'_, data::JustLut<Val>>) -> ValXs<'_, Val> {
    let (_, input) = cv;
    match RunAllowance::turn() {
        Ok(()) => native::bome(Ok(input)),
        Err(e) => native::bome(Err(jaq_json::Error::str(e))),
    }
}

/// jaq's native `range/3`, taking a turn per value: the turn is taken
/// inside the generator, where piping each value through `sluice_turn`
/// made a `[range(1e6)]` four times as slow.
fn stepped_range(mut cv: Cv<'_, data::JustLut<Val>>) -> ValXs<'_, Val> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let by = cv.0.pop_var();
    let upto = cv.0.pop_var();
    let from = cv.0.pop_var();
    let direction = by.partial_cmp(&Val::from(0isize)).unwrap_or(Equal);
    let mut next = Some(Ok(from));
    Box::new(std::iter::from_fn(move || {
        let x = match next.take()? {
            Ok(x) => x,
            // The sum that failed is the last value, as in jaq's `range`.
            Err(e) => return Some(Err(e)),
        };
        let more = match direction {
            Greater => x < upto,
            Less => x > upto,
            Equal => x != upto,
        };
        if !more {
            return None;
        }
        if let Err(e) = RunAllowance::turn() {
            return Some(Err(jaq_core::Exn::from(jaq_json::Error::str(e))));
        }
        next = Some((x.clone() + by.clone()).map_err(jaq_core::Exn::from));
        Some(Ok(x))
    }))
}

/// The generators a filter loops with, each taking a turn's steps; jaq's
/// own definitions otherwise (jaq-core's defs.jq).
const STEPPED_GENERATORS: &str = "def range(from; upto; by): sluice_stepped_range(from; upto; by);\n\
    def range(from; upto): range(from; upto; 1);\n\
    def range(upto): range(0; upto);\n\
    def repeat(f): def rec: f, (sluice_turn | rec); rec;\n\
    def recurse(f): def rec: ., (f | sluice_turn | rec); rec;\n\
    def recurse: recurse(.[]?);\n\
    def recurse(f; cond): recurse(f | select(cond));\n\
    def while(cond; update): def rec: if cond then ., (update | sluice_turn | rec) else empty end; rec;\n\
    def until(cond; update): def rec: if cond then . else update | sluice_turn | rec end; rec;";

/// Whether `val` nests arrays and objects more than `limit` deep, found
/// without recursing (or allocating per value: every output is checked).
fn nesting_exceeds(val: &Val, limit: usize) -> bool {
    let mut pending = vec![(val, 0usize)];
    while let Some((val, depth)) = pending.pop() {
        let inside = depth + 1;
        match val {
            Val::Arr(_) | Val::Obj(_) if inside > limit => return true,
            Val::Arr(items) => pending.extend(items.iter().map(|child| (child, inside))),
            Val::Obj(map) => pending.extend(map.values().map(|child| (child, inside))),
            _ => {}
        }
    }
    false
}

/// Drops `val` without recursing: jaq's values drop recursively, and one
/// nested a million deep would overflow the stack.
fn dismantle(val: Val) {
    let mut pending = vec![val];
    while let Some(val) = pending.pop() {
        match val {
            Val::Arr(items) => {
                if let Ok(items) = std::rc::Rc::try_unwrap(items) {
                    pending.extend(items);
                }
            }
            Val::Obj(map) => {
                if let Ok(map) = std::rc::Rc::try_unwrap(map) {
                    pending.extend(map.into_values());
                }
            }
            _ => {}
        }
    }
}

/// Puts the depth guard in front of `fromjson`. The native is bound under
/// another name first; the definitions that follow (jaq-json's `tonumber`
/// among them) and the user's filter then see the guarded one.
const GUARDED_FROMJSON: &str = "def sluice_native_fromjson: fromjson;\n\
    def fromjson: sluice_fromjson_depth_guard | sluice_native_fromjson;";

pub(crate) fn build(node: &Node, builder: &mut Builder<'_>) -> BuildResult<Box<dyn Processor>> {
    let config: JqConfig = builder.config(node)?;
    let lint = |e: String| {
        vec![Lint::error(
            node.mark,
            format!("error parsing jq query: {e}"),
        )]
    };
    let guarded_fromjson = jaq_core::load::parse(GUARDED_FROMJSON, |p| p.defs())
        .expect("the guarded fromjson definitions parse");
    let stepped_generators = jaq_core::load::parse(STEPPED_GENERATORS, |p| p.defs())
        .expect("the stepped generator definitions parse");
    let defs = jaq_core::defs()
        .chain(stepped_generators)
        .chain(jaq_std::defs())
        .chain(guarded_fromjson)
        .chain(jaq_json::defs());
    let depth_guard: jaq_core::RunPtr<data::JustLut<Val>> = fromjson_depth_guard;
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .chain([
            native::run::<data::JustLut<Val>>((
                "sluice_fromjson_depth_guard",
                native::v(0),
                depth_guard,
            )),
            native::run::<data::JustLut<Val>>(("sluice_turn", native::v(0), take_turn)),
            native::run::<data::JustLut<Val>>((
                "sluice_stepped_range",
                native::v(3),
                stepped_range,
            )),
        ]);
    let arena = Arena::default();
    let program = File {
        code: config.query.as_str(),
        path: (),
    };
    let modules = Loader::new(defs)
        .load(&arena, program)
        .map_err(|e| lint(format!("{e:?}")))?;
    let filter = Compiler::default()
        .with_funs(funs)
        .with_global_vars(["$metadata"])
        .compile(modules)
        .map_err(|e| lint(format!("{e:?}")))?;
    Ok(Box::new(Jq {
        filter,
        raw: config.raw,
        output_raw: config.output_raw,
    }))
}
