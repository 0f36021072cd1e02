//! Compiled mappings and their execution against messages.

use std::collections::HashMap;
use std::path::Path;

use crate::diagnostic::{ExecError, ParseError, QueryError};
use crate::env::STD;
pub use crate::eval::Root;
use crate::eval::{Cx, Maps, Stmt, Target, This, run_stmts};
use crate::syntax::parser::Parser;
use crate::target::BatchRef;
use crate::value::{Metadata, Value};

/// A parsed mapping. Compiled once, executed concurrently from many threads.
pub struct Mapping {
    stmts: Vec<Stmt>,
    maps: Maps,
    reads_this: bool,
    /// The message is read as structured data at one place only.
    direct_reads: bool,
}

/// What a mapping produced for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingOutput {
    /// The new document, deleted, or nothing (keep the input).
    pub root: Root,
    /// `None` when the mapping never touched metadata; otherwise the full new metadata.
    pub metadata: Option<Metadata>,
}

impl Mapping {
    /// Parses a mapping.
    pub fn parse(src: &str) -> Result<Mapping, ParseError> {
        Self::parse_in(src, None)
    }

    /// Parses a mapping whose relative imports resolve against `dir`.
    pub fn parse_in(src: &str, dir: Option<&Path>) -> Result<Mapping, ParseError> {
        let mut parser = Parser::new(src, &STD).with_base_dir(dir.map(Path::to_path_buf));
        match parser.parse_mapping() {
            Ok(parsed) => {
                let reads_this = stmts_read_this(&parsed.stmts)
                    || parsed.maps.values().any(|m| stmts_read_this(m));
                let reads = stmts_message_reads(&parsed.stmts)
                    + parsed
                        .maps
                        .values()
                        .map(|m| stmts_message_reads(m))
                        .sum::<usize>();
                Ok(Mapping {
                    stmts: parsed.stmts,
                    maps: parsed.maps,
                    reads_this,
                    direct_reads: reads == 1,
                })
            }
            Err(e) => Err(parser.to_error(&e)),
        }
    }

    /// Parses a mapping given as data to the `bloblang` method: no imports, and none of the
    /// functions that read the message or the environment.
    pub(crate) fn parse_dynamic(src: &str) -> Result<Mapping, ParseError> {
        let mut parser = Parser::new(src, &crate::env::DYNAMIC).without_imports();
        match parser.parse_mapping() {
            Ok(parsed) => Ok(Mapping {
                stmts: parsed.stmts,
                maps: parsed.maps,
                reads_this: true,
                direct_reads: false,
            }),
            Err(e) => Err(parser.to_error(&e)),
        }
    }

    /// Executes the mapping with `this` as `value` and no message beyond an empty one, as
    /// the `bloblang` method runs its argument. It spends from the caller's `spend`: the
    /// steps and memory are the message's, and the depth carries on the caller's count so
    /// that a mapping which runs itself again and again is stopped.
    pub(crate) fn exec_value(
        &self,
        value: &Value,
        spend: &mut crate::budget::Spend,
    ) -> Result<Root, ExecError> {
        let batch = [crate::target::SimpleMessage::new(Vec::new())];
        let batch: &dyn BatchRef = &&batch[..];
        let mut cx = Cx {
            batch,
            index: 0,
            this_index: 0,
            root: Root::Nothing,
            meta: None,
            vars: HashMap::new(),
            named: Vec::new(),
            maps: &self.maps,
            direct_reads: false,
            spend: spend.nested(),
        };
        let ran = run_stmts(&self.stmts, &mut cx, This::Val(value));
        // The steps it took are the caller's: one message, one allowance.
        spend.steps = cx.spend.steps;
        ran.map_err(|(line, cause)| ExecError::Assignment {
            line,
            cause: QueryError::new(cause),
        })?;
        Ok(cx.root)
    }

    /// Executes the mapping against the message at `index` of `batch`.
    pub fn exec<B: BatchRef + ?Sized>(
        &self,
        batch: &B,
        index: usize,
    ) -> Result<MappingOutput, ExecError> {
        let batch: &dyn BatchRef = &batch;
        let mut cx = Cx {
            batch,
            index: index as i64,
            this_index: index,
            root: Root::Nothing,
            meta: None,
            vars: HashMap::new(),
            named: Vec::new(),
            maps: &self.maps,
            direct_reads: self.direct_reads,
            spend: crate::budget::Spend::fresh(),
        };
        run_stmts(&self.stmts, &mut cx, This::Msg).map_err(|(line, cause)| {
            ExecError::Assignment {
                line,
                cause: QueryError::new(cx.explain_no_context(cause)),
            }
        })?;
        Ok(MappingOutput {
            root: cx.root,
            metadata: cx.meta,
        })
    }

    /// Executes the mapping with `root` and the metadata starting from the
    /// given values instead of empty: a `mutation` starts from the message's
    /// own document, a branch's `result_map` from the original message while
    /// `this` and `@` read the branch's result. With `meta` given, the
    /// output's metadata is always set.
    pub fn exec_onto<B: BatchRef + ?Sized>(
        &self,
        batch: &B,
        index: usize,
        root: Root,
        meta: Option<Metadata>,
    ) -> Result<MappingOutput, ExecError> {
        let batch: &dyn BatchRef = &batch;
        let mut cx = Cx {
            batch,
            index: index as i64,
            this_index: index,
            root,
            meta,
            vars: HashMap::new(),
            named: Vec::new(),
            maps: &self.maps,
            direct_reads: self.direct_reads,
            spend: crate::budget::Spend::fresh(),
        };
        run_stmts(&self.stmts, &mut cx, This::Msg).map_err(|(line, cause)| {
            ExecError::Assignment {
                line,
                cause: QueryError::new(cx.explain_no_context(cause)),
            }
        })?;
        Ok(MappingOutput {
            root: cx.root,
            metadata: cx.meta,
        })
    }

    /// The message paths the mapping assigns, sorted, without repeats.
    pub fn assignment_targets(&self) -> Vec<crate::targets::TargetPath> {
        let mut out = Vec::new();
        crate::targets::assigned(&self.stmts, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The message paths the mapping reads, sorted, without repeats.
    pub fn query_targets(&self) -> Vec<crate::targets::TargetPath> {
        let mut out = Vec::new();
        crate::targets::queried(&self.stmts, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// Whether the mapping may read the message as structured data (`this`); `true` if unsure.
    pub fn reads_this(&self) -> bool {
        self.reads_this
    }
}

/// How many places of the statements may read the message as structured data.
fn stmts_message_reads(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .map(|s| match s {
            Stmt::Assign { expr, .. } => expr.message_reads(),
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                branches
                    .iter()
                    .map(|(c, b)| c.message_reads() + stmts_message_reads(b))
                    .sum::<usize>()
                    + otherwise.as_ref().map_or(0, |b| stmts_message_reads(b))
            }
        })
        .sum()
}

fn stmts_read_this(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Assign { expr, target, .. } => {
            let _ = matches!(target, Target::Root(_));
            expr.reads_this()
        }
        Stmt::If {
            branches,
            otherwise,
            ..
        } => {
            branches
                .iter()
                .any(|(c, b)| c.reads_this() || stmts_read_this(b))
                || otherwise.as_ref().is_some_and(|b| stmts_read_this(b))
        }
    })
}
