//! The registry of functions and methods with their specs.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::eval::{Call, Cx, R, This};
use crate::value::Value;

/// The type a parameter accepts; literal arguments are checked against it at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Any,
    Str,
    Int,
    Num,
    Bool,
    /// A timestamp, or a value Benthos reads as one (unix seconds, RFC 3339 text).
    Timestamp,
    /// An unevaluated query, run by the implementation (lambdas, predicates).
    Query,
}

#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// `None` means required.
    pub(crate) default: Option<Value>,
}

pub(crate) fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        default: None,
    }
}

pub(crate) fn opt(name: &'static str, kind: Kind, default: Value) -> Param {
    Param {
        name,
        kind,
        default: Some(default),
    }
}

/// A documented example: a mapping and input/output pairs. An output starting with `Error(`
/// expects a failure.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub(crate) mapping: &'static str,
    pub(crate) cases: Vec<(&'static str, &'static str)>,
}

pub(crate) fn ex(mapping: &'static str, cases: &[(&'static str, &'static str)]) -> Example {
    Example {
        mapping,
        cases: cases.to_vec(),
    }
}

pub(crate) type SimpleFn = fn(&[Value]) -> Result<Value, String>;
pub(crate) type CtxFn = fn(&mut Cx<'_>, This<'_>, &Call) -> R<Value>;
pub(crate) type SimpleMethod = fn(Value, &[Value]) -> Result<Value, String>;
pub(crate) type RefMethod = fn(&Value, &[Value]) -> Result<Value, String>;
/// A method whose work inside the call grows with its input or arguments beyond what its
/// result's size shows (a compressor's search, a password hash's rounds): it takes that work
/// from the message's evaluation steps.
pub(crate) type MeteredMethod =
    fn(Value, &[Value], &mut crate::budget::Steps) -> Result<Value, String>;

pub(crate) enum FnImpl {
    Simple(SimpleFn),
    Ctx(CtxFn),
}

pub(crate) enum MethodImpl {
    Simple(SimpleMethod),
    /// Reads its target without taking it, so a field of `this` is not copied first.
    Ref(RefMethod),
    /// Takes its work from the message's evaluation steps.
    Metered(MeteredMethod),
    Ctx(CtxFn),
}

pub(crate) enum Impl {
    Function(FnImpl),
    Method(MethodImpl),
}

/// What a parse-time check of a call can see besides its arguments.
pub(crate) struct PrepareCx<'a> {
    /// The directory relative imports resolve against, when the mapping came from a file.
    pub(crate) base_dir: Option<&'a std::path::Path>,
}

/// Runs once when a call is parsed, over its resolved arguments: Benthos builds a function
/// from its arguments at parse time, so invalid literal arguments are parse errors there and
/// here. Returns hidden arguments to append, which the implementation reads (a base
/// directory, say).
pub(crate) type PrepareFn =
    fn(&[crate::eval::Expr], &PrepareCx<'_>) -> Result<Vec<crate::eval::Expr>, String>;

/// The spec of a function or method.
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) description: &'static str,
    pub(crate) params: Vec<Param>,
    pub(crate) examples: Vec<Example>,
    pub(crate) imp: Impl,
    pub(crate) prepare: Option<PrepareFn>,
    /// How the method came to Benthos, which decides how its errors read and when it runs.
    pub(crate) origin: Origin,
}

/// Benthos has two kinds of methods: those of its query engine, whose errors are prefixed
/// with the query that gave the target (`ErrFrom`), and plugins registered through the public
/// API, whose errors are their own and which, when marked static, run at parse time on a
/// literal target with literal arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A function, or a method of the query engine.
    Query,
    Plugin,
    /// A plugin folded at parse time when its target and arguments are literals.
    StaticPlugin,
}

/// The methods of Benthos's query engine (`internal/bloblang/query`); every other method is
/// a plugin.
const QUERY_METHODS: &[&str] = &[
    "all",
    "any",
    "append",
    "apply",
    "array",
    "assign",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bool",
    "bytes",
    "capitalize",
    "catch",
    "ceil",
    "collapse",
    "contains",
    "decode",
    "decrypt_aes",
    "encode",
    "encrypt_aes",
    "enumerated",
    "escape_html",
    "escape_url_path",
    "escape_url_query",
    "exists",
    "explode",
    "filepath_join",
    "filepath_split",
    "filter",
    "find",
    "find_all",
    "find_all_by",
    "find_by",
    "flatten",
    "floor",
    "fold",
    "format",
    "format_json",
    "format_yaml",
    "from",
    "from_all",
    "get",
    "has_prefix",
    "has_suffix",
    "hash",
    "index",
    "index_of",
    "join",
    "json_schema",
    "key_values",
    "keys",
    "length",
    "log",
    "log10",
    "lowercase",
    "map",
    "map_each",
    "map_each_key",
    "max",
    "merge",
    "min",
    "not",
    "not_empty",
    "not_null",
    "number",
    "or",
    "parse_csv",
    "parse_json",
    "parse_logfmt",
    "parse_url",
    "parse_yaml",
    "quote",
    "re_find_all",
    "re_find_all_object",
    "re_find_all_submatch",
    "re_find_object",
    "re_match",
    "re_replace",
    "re_replace_all",
    "repeat",
    "replace",
    "replace_all",
    "replace_all_many",
    "replace_many",
    "reverse",
    "round",
    "slice",
    "sort",
    "sort_by",
    "split",
    "string",
    "sum",
    "timestamp",
    "trim",
    "trim_prefix",
    "trim_suffix",
    "type",
    "unescape_html",
    "unescape_url_path",
    "unescape_url_query",
    "unique",
    "unquote",
    "uppercase",
    "uuid_v5",
    "values",
    "without",
];

/// The plugins Benthos marks static (`PluginSpec.Static`): the time methods.
const STATIC_PLUGINS: &[&str] = &[
    "format_timestamp",
    "format_timestamp_strftime",
    "format_timestamp_unix",
    "format_timestamp_unix_micro",
    "format_timestamp_unix_milli",
    "format_timestamp_unix_nano",
    "parse_duration",
    "parse_duration_iso8601",
    "parse_timestamp",
    "parse_timestamp_strptime",
    "ts_add_iso8601",
    "ts_format",
    "ts_parse",
    "ts_round",
    "ts_strftime",
    "ts_strptime",
    "ts_sub",
    "ts_sub_iso8601",
    "ts_tz",
    "ts_unix",
    "ts_unix_micro",
    "ts_unix_milli",
    "ts_unix_nano",
];

fn method_origin(name: &str) -> Origin {
    if QUERY_METHODS.contains(&name) {
        Origin::Query
    } else if STATIC_PLUGINS.contains(&name) {
        Origin::StaticPlugin
    } else {
        Origin::Plugin
    }
}

/// The documentation of a function or method, as registered.
#[derive(Debug, Clone)]
pub struct SpecDoc {
    /// The name it is called by.
    pub name: &'static str,
    /// The Benthos category.
    pub category: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Parameter names in order.
    pub params: Vec<&'static str>,
    /// Examples: a mapping with (input, output) pairs.
    pub examples: Vec<(&'static str, Vec<(&'static str, &'static str)>)>,
}

impl Spec {
    fn doc(&self) -> SpecDoc {
        SpecDoc {
            name: self.name,
            category: self.category,
            description: self.description,
            params: self.params.iter().map(|p| p.name).collect(),
            examples: self
                .examples
                .iter()
                .map(|e| (e.mapping, e.cases.clone()))
                .collect(),
        }
    }
}

/// The functions and methods a mapping can call.
#[derive(Default)]
pub struct Environment {
    pub(crate) functions: HashMap<&'static str, Spec>,
    pub(crate) methods: HashMap<&'static str, Spec>,
}

impl Environment {
    /// Registers a function.
    pub(crate) fn function(
        &mut self,
        name: &'static str,
        category: &'static str,
        description: &'static str,
        params: Vec<Param>,
        examples: Vec<Example>,
        imp: FnImpl,
    ) {
        self.functions.insert(
            name,
            Spec {
                name,
                category,
                description,
                params,
                examples,
                imp: Impl::Function(imp),
                prepare: None,
                origin: Origin::Query,
            },
        );
    }

    /// Registers a method.
    pub(crate) fn method(
        &mut self,
        name: &'static str,
        category: &'static str,
        description: &'static str,
        params: Vec<Param>,
        examples: Vec<Example>,
        imp: MethodImpl,
    ) {
        self.methods.insert(
            name,
            Spec {
                name,
                category,
                description,
                params,
                examples,
                imp: Impl::Method(imp),
                prepare: None,
                origin: method_origin(name),
            },
        );
    }

    /// Gives the registered function `name` a parse-time check.
    pub(crate) fn prepare_function(&mut self, name: &str, prepare: PrepareFn) {
        let spec = self
            .functions
            .get_mut(name)
            .expect("prepared functions are registered");
        spec.prepare = Some(prepare);
    }

    /// Gives the registered method `name` a parse-time check.
    pub(crate) fn prepare_method(&mut self, name: &str, prepare: PrepareFn) {
        let spec = self
            .methods
            .get_mut(name)
            .expect("prepared methods are registered");
        spec.prepare = Some(prepare);
    }

    /// The standard library.
    pub fn standard() -> Environment {
        let mut env = Environment::default();
        crate::functions::register(&mut env);
        crate::methods::register(&mut env);
        env
    }

    /// Documentation of all functions, sorted by name.
    pub fn function_docs(&self) -> Vec<SpecDoc> {
        let mut v: Vec<SpecDoc> = self.functions.values().map(Spec::doc).collect();
        v.sort_by_key(|d| d.name);
        v
    }

    /// Documentation of all methods, sorted by name.
    pub fn method_docs(&self) -> Vec<SpecDoc> {
        let mut v: Vec<SpecDoc> = self.methods.values().map(Spec::doc).collect();
        v.sort_by_key(|d| d.name);
        v
    }

    /// The standard environment, built once.
    pub fn standard_ref() -> &'static Environment {
        &STD
    }

    /// Names of all functions, sorted.
    pub fn function_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.functions.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Names of all methods, sorted.
    pub fn method_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.methods.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

/// Functions Benthos files under message info: mappings run by the `bloblang` method have no
/// message to read. (`meta`, `root_meta` and `var` are filed elsewhere and stay.)
const MESSAGE_FUNCTIONS: [&str; 12] = [
    "batch_index",
    "batch_size",
    "content",
    "error",
    "errored",
    "error_source_label",
    "error_source_name",
    "error_source_path",
    "json",
    "metadata",
    "tracing_id",
    "tracing_span",
];

/// Functions that reach outside the mapping (Benthos marks them impure).
const IMPURE_FUNCTIONS: [&str; 5] = ["count", "env", "file", "file_rel", "hostname"];

/// The environment of mappings given as data to the `bloblang` method.
pub(crate) static DYNAMIC: LazyLock<Environment> = LazyLock::new(|| {
    let mut env = Environment::standard();
    env.functions
        .retain(|name, _| !MESSAGE_FUNCTIONS.contains(name) && !IMPURE_FUNCTIONS.contains(name));
    env
});

/// The standard environment, built once.
pub(crate) static STD: LazyLock<Environment> = LazyLock::new(Environment::standard);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;
    use crate::value::Value;

    fn run(mapping: &Mapping, input: &str) -> Result<String, String> {
        let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        Ok(match out.root {
            crate::Root::Value(v) => String::from_utf8_lossy(&v.to_message_bytes()).into_owned(),
            crate::Root::Deleted => String::new(),
            crate::Root::Nothing => input.to_owned(),
        })
    }

    fn same(expected: &str, actual: &str) -> bool {
        match (
            Value::from_json_bytes(expected.as_bytes()),
            Value::from_json_bytes(actual.as_bytes()),
        ) {
            (Ok(a), Ok(b)) => crate::eval::values_equal(&a, &b),
            _ => expected == actual,
        }
    }

    #[test]
    fn every_registered_example_holds() {
        let env = &*STD;
        let mut failures = Vec::new();
        let mut n = 0;
        for spec in env.functions.values().chain(env.methods.values()) {
            for example in &spec.examples {
                let mapping = match Mapping::parse(example.mapping) {
                    Ok(m) => m,
                    Err(e) => {
                        failures.push(format!(
                            "{}: {:?} does not parse: {e}",
                            spec.name, example.mapping
                        ));
                        continue;
                    }
                };
                for (input, expected) in &example.cases {
                    n += 1;
                    let res = run(&mapping, input);
                    let ok = match (&res, expected.starts_with("Error(")) {
                        (Err(_), true) => true,
                        (Ok(actual), false) => same(expected, actual),
                        _ => false,
                    };
                    if !ok {
                        failures.push(format!(
                            "{}: {:?} on {input}: expected {expected}, got {res:?}",
                            spec.name, example.mapping
                        ));
                    }
                }
            }
        }
        assert!(n > 100, "only {n} examples ran");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn specs_are_documented() {
        for spec in STD.functions.values().chain(STD.methods.values()) {
            assert!(
                !spec.description.is_empty(),
                "{} has no description",
                spec.name
            );
            assert!(!spec.category.is_empty(), "{} has no category", spec.name);
        }
    }
}
