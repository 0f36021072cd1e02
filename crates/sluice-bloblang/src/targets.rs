//! What a mapping reads from the message and what it assigns, as paths.
//! The `workflow` processor orders its branches by them: a branch whose
//! `request_map` reads a path another branch's `result_map` writes runs
//! after it.

use crate::eval::{Expr, Key, Pattern, Stmt, Target};
use crate::value::Value;

/// Where a path points.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetKind {
    /// Into the message's document (`this.a.b`, `root.a.b`).
    Value,
    /// Into its metadata (`@key`, `meta key`).
    Metadata,
}

/// One path a mapping reads or assigns; an empty path is the whole document
/// or the whole metadata.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetPath {
    pub kind: TargetKind,
    pub path: Vec<String>,
}

impl TargetPath {
    fn value(path: Vec<String>) -> Self {
        Self {
            kind: TargetKind::Value,
            path,
        }
    }

    fn metadata(key: Option<&str>) -> Self {
        Self {
            kind: TargetKind::Metadata,
            path: key.map(|k| vec![k.to_owned()]).unwrap_or_default(),
        }
    }
}

/// The paths `stmts` assign to (variables are not the message's).
pub(crate) fn assigned(stmts: &[Stmt], out: &mut Vec<TargetPath>) {
    for stmt in stmts {
        match stmt {
            Stmt::Assign { target, .. } => match target {
                Target::Root(path) => out.push(TargetPath::value(path.clone())),
                Target::Meta(key) => out.push(TargetPath::metadata(key.as_deref())),
                Target::Var(_) => {}
            },
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                for (_, body) in branches {
                    assigned(body, out);
                }
                if let Some(body) = otherwise {
                    assigned(body, out);
                }
            }
        }
    }
}

/// The message paths `stmts` read.
pub(crate) fn queried(stmts: &[Stmt], out: &mut Vec<TargetPath>) {
    for stmt in stmts {
        match stmt {
            Stmt::Assign { expr, .. } => reads(expr, out),
            Stmt::If {
                branches,
                otherwise,
                ..
            } => {
                for (check, body) in branches {
                    reads(check, out);
                    queried(body, out);
                }
                if let Some(body) = otherwise {
                    queried(body, out);
                }
            }
        }
    }
}

/// A literal dot path argument, split as `json("a.b")` reads it.
fn literal_path(args: &[Expr]) -> Vec<String> {
    match args.first() {
        Some(Expr::Lit(Value::String(path))) if !path.is_empty() => {
            path.split('.').map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

fn reads(expr: &Expr, out: &mut Vec<TargetPath>) {
    match expr {
        Expr::This => out.push(TargetPath::value(Vec::new())),
        Expr::Get(base, path, _) if matches!(**base, Expr::This) => {
            out.push(TargetPath::value(path.clone()));
        }
        Expr::Get(base, _, _) | Expr::Not(base) => reads(base, out),
        Expr::Meta(key) => out.push(TargetPath::metadata(key.as_deref())),
        Expr::Fn(call) => {
            match call.spec.name {
                "json" => out.push(TargetPath::value(literal_path(&call.args))),
                "meta" | "metadata" => match call.args.first() {
                    Some(Expr::Lit(Value::String(key))) => {
                        out.push(TargetPath::metadata(Some(key)));
                    }
                    _ => out.push(TargetPath::metadata(None)),
                },
                _ => {}
            }
            call.args.iter().for_each(|a| reads(a, out));
        }
        // A method's arguments run against values the method hands them
        // (an element, an accumulator), not the message: only its target
        // reads the message.
        Expr::Method(call) => {
            if let Some(target) = &call.target {
                reads(target, out);
            }
        }
        Expr::Context(a, b) | Expr::Bin(_, a, b) => {
            reads(a, out);
            reads(b, out);
        }
        Expr::Array(items) => items.iter().for_each(|e| reads(e, out)),
        Expr::Object(entries, _) => {
            for (key, value) in entries {
                if let Key::Dyn(key) = key {
                    reads(key, out);
                }
                reads(value, out);
            }
        }
        Expr::If(branches, otherwise) => {
            for (check, value) in branches {
                reads(check, out);
                reads(value, out);
            }
            if let Some(otherwise) = otherwise {
                reads(otherwise, out);
            }
        }
        Expr::Match(subject, cases) => {
            match subject {
                Some(subject) => reads(subject, out),
                None => out.push(TargetPath::value(Vec::new())),
            }
            for (pattern, value) in cases {
                if let Pattern::Expr(p) = pattern {
                    reads(p, out);
                }
                reads(value, out);
            }
        }
        Expr::Lit(_)
        | Expr::Root
        | Expr::Named(_)
        | Expr::NamedThis(_)
        | Expr::Var(_)
        | Expr::Lambda(..) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mapping;

    fn value(path: &[&str]) -> TargetPath {
        TargetPath::value(path.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn assignments_are_the_paths_written() {
        let m = Mapping::parse(
            "root.user.name = this.name\nmeta kind = \"x\"\nlet v = 1\nif this.a { root.b = 2 }",
        )
        .unwrap();
        assert_eq!(
            m.assignment_targets(),
            vec![
                value(&["b"]),
                value(&["user", "name"]),
                TargetPath::metadata(Some("kind")),
            ]
        );
    }

    #[test]
    fn queries_are_the_message_paths_read() {
        let m = Mapping::parse(
            r#"root.a = this.user.id
root.b = json("order.total")
root.c = @tenant
root.d = this.items.map_each(i -> i.sku)
root.e = $v"#,
        )
        .unwrap();
        assert_eq!(
            m.query_targets(),
            vec![
                value(&["items"]),
                value(&["order", "total"]),
                value(&["user", "id"]),
                TargetPath::metadata(Some("tenant")),
            ]
        );
    }
}
