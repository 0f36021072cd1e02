//! The `bloblang` method: runs a mapping given as data on its target.

use std::sync::Arc;

use crate::env::{Environment, Kind, MethodImpl, PrepareCx, ex, p};
use crate::eval::{Call, Cx, Expr, Flow, R, Root, This, err, type_err};
use crate::mapping::Mapping;
use crate::value::Value;

type Compiled = Result<Arc<Mapping>, String>;

/// How deeply mappings run by `bloblang` may nest, counted with the maps applied around
/// them: each level parses and runs a whole mapping, so the bound sits well inside a
/// thread's stack even in debug builds, and far beyond any real use.
const MAX_NESTING: u32 = 32;

fn compile(src: &str) -> Compiled {
    Mapping::parse_dynamic(src)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// A literal mapping must parse when the outer one does, as in Benthos.
fn prepare(args: &[Expr], _: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    if let Expr::Lit(Value::String(src)) = &args[0] {
        compile(src)?;
    }
    Ok(Vec::new())
}

fn bloblang(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let target = call.target(cx, this)?;
    let mapping = match &call.args[0] {
        Expr::Lit(Value::String(src)) => call
            .memo
            .get_or_init(|| Box::new(compile(src)))
            .downcast_ref::<Compiled>()
            .expect("the memo of bloblang holds its compiled mapping")
            .clone(),
        _ => match call.arg(0, cx, this)? {
            Value::String(src) => compile(&src),
            other => return err(format!("field mapping: {}", type_err("string", &other))),
        },
    }
    .map_err(Flow::Err)?;
    if cx.spend.map_depth >= MAX_NESTING {
        return err(format!(
            "mappings run by bloblang more than {MAX_NESTING} deep, a recursion that does not end"
        ));
    }
    match mapping.exec_value(&target, &mut cx.spend) {
        Ok(Root::Value(v)) => Ok(v),
        Ok(Root::Deleted) => Err(Flow::Delete),
        Ok(Root::Nothing) => Err(Flow::Nothing),
        Err(e) => err(e.to_string()),
    }
}

pub(crate) fn register(env: &mut Environment) {
    env.method(
        "bloblang",
        "Parsing",
        "Runs a mapping given as a string on the target. The mapping may not import files nor \
         call functions that read the message or the environment (`content`, `json`, `env`, \
         `file`, ...).",
        vec![p("mapping", Kind::Str)],
        vec![ex(
            "root.body = this.body.bloblang(this.mapping)",
            &[
                (
                    r#"{"body":{"foo":"hello world"},"mapping":"root.foo = this.foo.uppercase()"}"#,
                    r#"{"body":{"foo":"HELLO WORLD"}}"#,
                ),
                (
                    r#"{"body":{"foo":"hello world 2"},"mapping":"root.foo = this.foo.capitalize()"}"#,
                    r#"{"body":{"foo":"Hello World 2"}}"#,
                ),
            ],
        )],
        MethodImpl::Ctx(bloblang),
    );
    env.prepare_method("bloblang", prepare);
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;

    fn check(mapping: &str, input: &str) -> Result<String, String> {
        let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
        let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        match out.root {
            crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
            crate::Root::Deleted => Ok("<deleted>".to_owned()),
            crate::Root::Nothing => Ok("<nothing>".to_owned()),
        }
    }

    #[test]
    fn literal_mappings_run_on_the_target() {
        assert_eq!(
            check(r#"root = this.bloblang("root = this.a + 1")"#, r#"{"a":1}"#).as_deref(),
            Ok("2")
        );
        assert_eq!(
            check(
                r#"root = this.bloblang(mapping: "root.b = this.a")"#,
                r#"{"a":1}"#
            )
            .as_deref(),
            Ok(r#"{"b":1}"#)
        );
        // A mapping that assigns nothing leaves the outer assignment undone.
        assert_eq!(
            check(
                r#"root.x = 1
root.y = this.bloblang("let a = 1")"#,
                r#"{}"#
            )
            .as_deref(),
            Ok(r#"{"x":1}"#)
        );
        assert_eq!(
            check(r#"root = this.bloblang("root = deleted()")"#, "{}").as_deref(),
            Ok("<deleted>")
        );
    }

    #[test]
    fn a_literal_mapping_that_does_not_parse_fails_the_outer_parse() {
        let e = check(r#"root = this.bloblang("root = ")"#, "{}").unwrap_err();
        assert!(e.starts_with("line 1 char 32: "), "{e}");
    }

    #[test]
    fn message_and_environment_functions_are_not_available() {
        for f in [
            "content()",
            "json(\"a\")",
            "env(\"HOME\")",
            "hostname()",
            "batch_index()",
        ] {
            let mapping = format!(
                "root = this.bloblang(\"root = {}\")",
                f.replace('"', "\\\"")
            );
            let e = check(&mapping, "{}").unwrap_err();
            assert!(e.contains("unrecognised function"), "{f}: {e}");
        }
        let e = check(
            r#"root = this.bloblang(this.m)"#,
            r#"{"m":"import \"./x.blobl\""}"#,
        )
        .unwrap_err();
        assert!(e.contains("imports are disabled in this context"), "{e}");
        // Variables and maps are the mapping's own.
        assert_eq!(
            check(
                r#"root = this.bloblang("map x {\n root = this + 1\n}\nlet v = 2\nroot = this.apply(\"x\") + $v")"#,
                "1"
            )
            .as_deref(),
            Ok("4")
        );
    }

    #[test]
    fn a_mapping_that_runs_itself_is_stopped() {
        let e = check(
            r#"root = this.bloblang(this.m)"#,
            r#"{"m":"root = this.bloblang(this.m)"}"#,
        )
        .unwrap_err();
        assert!(e.contains("a recursion that does not end"), "{e}");
    }

    #[test]
    fn failures_inside_name_their_line() {
        assert_eq!(
            check(
                r#"root = this.bloblang(this.m)"#,
                r#"{"m":"root = this.a.number()"}"#
            )
            .unwrap_err(),
            "failed assignment (line 1): failed assignment (line 1): expected number value, got null from field `this.a`"
        );
    }
}
