//! Per-message limits on what a mapping may build and how much work it may
//! do. Mappings are written by operators but fed by callers: a method that
//! multiplies sizes (`repeat`, `range`, string `+` inside a `fold`, a
//! decompression) checks what it is about to allocate before allocating,
//! a mapping that runs away is stopped after a number of evaluation steps,
//! and one that holds too much memory at once (a `map_each` building a list
//! of large strings, each under the value limit) is stopped at its next step,
//! so that one request fails with an error instead of taking the process's
//! memory or a worker thread.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::value::Value;

/// The largest value one method may produce, unless configured otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 << 20;

/// The most evaluation steps (one per expression evaluated, lambda bodies
/// once per element) one execution of a mapping may take, unless configured
/// otherwise: about a second of work, far beyond any mapping over a message
/// that fits the value limit.
pub const DEFAULT_MAX_STEPS: u64 = 25_000_000;

/// The most memory one execution of a mapping may hold (what it allocated
/// less what it freed), unless configured otherwise: eight values of the
/// largest size, room for the parsed form of any message that fits the
/// value limit.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 512 << 20;

/// How deeply a parsed document (JSON, XML) may nest: values are dropped
/// and written out recursively, so a document nested deeper than this would
/// end in a stack overflow. Go's JSON decoder stops at the same depth. The
/// methods that walk a value recursively (`diff`, `patch`, `infer_schema`),
/// and hosts that parse JSON beside the crate, keep to it too.
pub const MAX_DOCUMENT_DEPTH: usize = 10_000;

/// How deep named maps may apply one another: recursion past this is a
/// runaway, and would otherwise end in a stack overflow.
pub(crate) const MAX_MAP_DEPTH: u32 = 1_000;

// Process-wide settings: read with one relaxed load on the paths that
// allocate, which costs nothing next to the allocation itself.
static MAX_VALUE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_VALUE_BYTES);
static MAX_STEPS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_STEPS);
static MAX_MEMORY_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MEMORY_BYTES);

/// The bytes this thread holds, as the process's allocator counts them
/// (`sluice_alloc`). A mapping runs on one thread from start to end, so the
/// change over an execution is what it holds. In a process whose allocator
/// does not count, this stays 0 and no memory limit applies.
#[inline]
fn thread_net_bytes() -> isize {
    sluice_alloc::thread_net_bytes()
}

/// Sets the most memory (in bytes) one execution of a mapping may hold.
pub fn set_max_memory_bytes(bytes: usize) {
    MAX_MEMORY_BYTES.store(bytes, Ordering::Relaxed);
}

/// The most memory (in bytes) one execution of a mapping may hold.
pub fn max_memory_bytes() -> usize {
    MAX_MEMORY_BYTES.load(Ordering::Relaxed)
}

/// Sets the largest value (in bytes) a method may produce.
pub fn set_max_value_bytes(bytes: usize) {
    MAX_VALUE_BYTES.store(bytes, Ordering::Relaxed);
}

/// The largest value (in bytes) a method may produce.
pub fn max_value_bytes() -> usize {
    MAX_VALUE_BYTES.load(Ordering::Relaxed)
}

/// Sets the most evaluation steps one mapping execution may take.
pub fn set_max_steps(steps: u64) {
    MAX_STEPS.store(steps, Ordering::Relaxed);
}

/// The most evaluation steps one mapping execution may take.
pub fn max_steps() -> u64 {
    MAX_STEPS.load(Ordering::Relaxed)
}

/// Fails when `what` would produce `bytes` bytes, more than the limit.
/// Callers compute `bytes` with saturating arithmetic, so that an overflow
/// reads as "too large".
pub(crate) fn check_bytes(bytes: usize, what: &str) -> Result<(), String> {
    let limit = max_value_bytes();
    if bytes > limit {
        return Err(format!(
            "{what} would produce {bytes} bytes, more than the limit of {limit} bytes for one value"
        ));
    }
    Ok(())
}

/// Fails when `what` would produce an array of `count` elements whose
/// slots alone exceed the limit.
pub(crate) fn check_elements(count: usize, what: &str) -> Result<(), String> {
    check_bytes(count.saturating_mul(std::mem::size_of::<Value>()), what)
}

/// How an indenting formatter lays out nesting, for [`check_indentation`].
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    /// JSON: every array element and object field on its own line, one
    /// indent deeper than its container.
    Json,
    /// XML: every child element on its own line; an array repeats its
    /// element at the same depth.
    Xml,
    /// YAML: an object's fields on their own lines, one indent deeper when
    /// the object is a field of another; nested sequences share a line.
    Yaml,
}

/// Fails when formatting `v` with `per_level` bytes of indentation per
/// level would write more than the value limit in indentation alone. That
/// is the part of an indented document that grows faster than the value:
/// a 60 KB body nested 10,000 deep indents to hundreds of megabytes. The
/// count is a lower bound of what the formatter writes, so a document that
/// fits is never refused.
pub(crate) fn check_indentation<'v>(
    v: &'v Value,
    per_level: usize,
    layout: Layout,
    what: &str,
) -> Result<(), String> {
    if per_level == 0 {
        return Ok(());
    }
    let limit = max_value_bytes();
    let mut total = 0usize;
    // Iterative: a document may nest 10,000 deep. `depth` is the number of
    // indents of the lines a value's own fields or elements start on.
    let mut pending = vec![(v, usize::from(matches!(layout, Layout::Json)))];
    while let Some((v, depth)) = pending.pop() {
        let line = depth.saturating_mul(per_level);
        // Children that each start a line of `depth` indents, their own
        // fields one deeper.
        let mut own_lines = |children: &mut dyn Iterator<Item = &'v Value>| {
            for item in children {
                total = total.saturating_add(line);
                pending.push((item, depth + 1));
            }
        };
        match (v, layout) {
            // Attributes and text share their element's line.
            (Value::Object(map), Layout::Xml) => own_lines(
                &mut map
                    .iter()
                    .filter(|(key, _)| !key.starts_with('-') && key.as_str() != "#text")
                    .map(|(_, item)| item),
            ),
            (Value::Object(map), _) => own_lines(&mut map.values()),
            (Value::Array(items), Layout::Json) => own_lines(&mut items.iter()),
            // An XML array repeats its element where the element stands, a
            // YAML sequence of sequences shares one line: the items' own
            // fields are as deep as the array's.
            (Value::Array(items), _) => pending.extend(items.iter().map(|item| (item, depth))),
            _ => {}
        }
        if total > limit {
            return Err(format!(
                "{what} would write more than the limit of {limit} bytes for one value in indentation alone"
            ));
        }
    }
    Ok(())
}

/// After this many steps an execution counts as long running: about a
/// twentieth of a second of work.
const LONG_RUN_STEPS: u64 = 1_000_000;

static LONG_RUN_HOOK: OnceLock<fn()> = OnceLock::new();

/// Installs what to do, once per execution, when a mapping runs long. An
/// async host hands the rest of its worker's tasks to another thread here,
/// so that one long mapping does not hold up the requests queued behind it.
/// The first hook installed stays.
pub fn on_long_run(hook: fn()) {
    // A second hook is refused: the first stays, as documented.
    LONG_RUN_HOOK.get_or_init(|| hook);
}

/// The steps left to an execution at which it counts as long running.
fn long_run_mark() -> u64 {
    max_steps().checked_sub(LONG_RUN_STEPS).unwrap_or(u64::MAX)
}

fn long_run() {
    if let Some(hook) = LONG_RUN_HOOK.get() {
        hook();
    }
}

/// The evaluation steps one execution of a mapping has left. Evaluation
/// takes them one at a time; work inside a call that evaluation cannot see
/// (a compressor's match search, a password hash's rounds, a mapping run by
/// `bloblang`) takes them in bulk, from the same allowance, so that the
/// limit bounds the message as a whole however its calls are nested.
#[derive(Clone, Copy)]
pub(crate) struct Steps {
    left: u64,
    /// The value of `left` at which the execution counts as long running,
    /// and the host is told (see [`on_long_run`]).
    long_run_mark: u64,
}

impl Steps {
    /// The allowance of a new execution: the per-message step limit.
    pub(crate) fn full() -> Steps {
        Steps {
            left: max_steps(),
            long_run_mark: long_run_mark(),
        }
    }

    /// Takes one step; `false` once none are left. The hot path of
    /// evaluation: one step cannot jump past the mark, so equality suffices.
    #[inline]
    fn take_one(&mut self) -> bool {
        let Some(left) = self.left.checked_sub(1) else {
            return false;
        };
        self.left = left;
        if left == self.long_run_mark {
            long_run();
        }
        true
    }

    /// Takes `units` steps at once; fails with the step limit's error, and
    /// leaves none, when fewer are left. Taking past the long-run mark tells
    /// the host, as passing it one step at a time would.
    #[inline]
    pub(crate) fn take(&mut self, units: u64) -> Result<(), String> {
        let Some(left) = self.left.checked_sub(units) else {
            self.left = 0;
            return Err(steps_exceeded());
        };
        if self.left > self.long_run_mark && left <= self.long_run_mark {
            long_run();
        }
        self.left = left;
        Ok(())
    }

    /// The steps left.
    pub(crate) fn left(&self) -> u64 {
        self.left
    }
}

/// The error of a mapping that made more calls than allowed.
pub(crate) fn steps_exceeded() -> String {
    Overspent::Steps.message()
}

/// Why an execution was stopped at a step.
pub(crate) enum Overspent {
    /// It took more evaluation steps than allowed.
    Steps,
    /// It held `held` bytes, more than allowed.
    Memory { held: isize },
}

impl Overspent {
    /// The error the mapping fails with.
    pub(crate) fn message(&self) -> String {
        self.message_for("the mapping")
    }

    /// The error of `subject` ("the mapping"), stopped here.
    fn message_for(&self, subject: &str) -> String {
        match self {
            Overspent::Steps => format!(
                "{subject} exceeded its limit of {} evaluation steps for one message",
                max_steps()
            ),
            Overspent::Memory { held } => format!(
                "{subject} held {held} bytes of memory, more than its limit of {} bytes for one message",
                max_memory_bytes()
            ),
        }
    }
}

/// What one execution of a mapping has left to spend. A mapping run inside
/// another (by `bloblang`) runs on a copy and hands back what it left.
#[derive(Clone, Copy)]
pub(crate) struct Spend {
    /// Evaluation steps left before the mapping is stopped.
    pub(crate) steps: Steps,
    /// How many named maps are being applied, one inside the other.
    pub(crate) map_depth: u32,
    /// This thread's net allocated bytes when the execution began.
    memory_start: isize,
    /// The most bytes the execution may hold beyond `memory_start`.
    max_memory: isize,
}

impl Spend {
    /// The budget of a new execution, from the process's limits.
    pub(crate) fn fresh() -> Spend {
        Spend {
            steps: Steps::full(),
            map_depth: 0,
            memory_start: thread_net_bytes(),
            max_memory: isize::try_from(max_memory_bytes()).unwrap_or(isize::MAX),
        }
    }

    /// The budget of a mapping run inside this execution: what this one
    /// has left, one map deeper.
    pub(crate) fn nested(&self) -> Spend {
        Spend {
            map_depth: self.map_depth + 1,
            ..*self
        }
    }

    /// Counts one evaluation step, and checks what the execution holds:
    /// one step allocates at most a few values within the value limit, so
    /// checking at every step bounds what a mapping can take.
    #[inline]
    pub(crate) fn step(&mut self) -> Result<(), Overspent> {
        if !self.steps.take_one() {
            return Err(Overspent::Steps);
        }
        let held = thread_net_bytes().wrapping_sub(self.memory_start);
        if held > self.max_memory {
            return Err(Overspent::Memory { held });
        }
        Ok(())
    }

    /// Charges a copy of `v`: copying is work, and in a loop (a `fold`
    /// building `[t.tally, t.tally]`) copies are how a mapping doubles a
    /// value at every step. Each value copied costs a step, and a copy
    /// larger than the value limit fails.
    pub(crate) fn charge_copy(&mut self, v: &Value) -> Result<(), String> {
        if !matches!(v, Value::Array(_) | Value::Object(_)) {
            return Ok(());
        }
        let limit = max_value_bytes();
        let value_nodes = limit / std::mem::size_of::<Value>();
        let steps = usize::try_from(self.steps.left()).unwrap_or(usize::MAX);
        let nodes = count_nodes(v, value_nodes.min(steps).saturating_add(1));
        if nodes > value_nodes {
            return Err(format!(
                "a copy of more than {value_nodes} values would exceed the limit of {limit} bytes for one value"
            ));
        }
        self.steps.take(nodes as u64)
    }
}

/// The same step and memory limits for one message's run by another
/// evaluator than Bloblang's (the jq processor), which takes steps at each
/// point where its run can loop. Its errors name the evaluator.
#[derive(Clone, Copy)]
pub struct Allowance {
    spend: Spend,
    /// What the errors say was stopped ("the jq filter").
    subject: &'static str,
}

impl Allowance {
    /// The allowance of a run of `subject` starting now, on this thread.
    pub fn fresh(subject: &'static str) -> Allowance {
        Allowance {
            spend: Spend::fresh(),
            subject,
        }
    }

    /// Takes `steps` steps, and checks what the run holds; past a limit,
    /// the error naming it.
    pub fn take(&mut self, steps: u64) -> Result<(), String> {
        let spent = match self.spend.steps.take(steps.saturating_sub(1)) {
            Ok(()) => self.spend.step(),
            Err(_) => Err(Overspent::Steps),
        };
        spent.map_err(|overspent| overspent.message_for(self.subject))
    }
}

/// The values in `v`, itself included, counted up to `cap`.
fn count_nodes(v: &Value, cap: usize) -> usize {
    let mut count = 0;
    let mut pending = vec![v];
    while let Some(v) = pending.pop() {
        count += 1;
        if count >= cap {
            return count;
        }
        match v {
            Value::Array(items) => pending.extend(items.iter()),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}
