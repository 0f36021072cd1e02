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

pub(crate) enum FnImpl {
    Simple(SimpleFn),
    Ctx(CtxFn),
}

pub(crate) enum MethodImpl {
    Simple(SimpleMethod),
    Ctx(CtxFn),
}

pub(crate) enum Impl {
    Function(FnImpl),
    Method(MethodImpl),
}

/// The spec of a function or method.
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) description: &'static str,
    pub(crate) params: Vec<Param>,
    pub(crate) examples: Vec<Example>,
    pub(crate) imp: Impl,
    /// Whether the result depends only on the arguments, so literal calls can be folded.
    pub(crate) pure: bool,
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
        let pure = matches!(imp, FnImpl::Simple(_));
        self.functions.insert(
            name,
            Spec {
                name,
                category,
                description,
                params,
                examples,
                imp: Impl::Function(imp),
                pure,
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
        let pure = matches!(imp, MethodImpl::Simple(_));
        self.methods.insert(
            name,
            Spec {
                name,
                category,
                description,
                params,
                examples,
                imp: Impl::Method(imp),
                pure,
            },
        );
    }

    /// The standard library.
    pub fn standard() -> Environment {
        let mut env = Environment::default();
        crate::functions::register(&mut env);
        crate::methods::register(&mut env);
        env
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

/// The standard environment, built once.
pub(crate) static STD: LazyLock<Environment> = LazyLock::new(Environment::standard);
