//! Message info functions: `content`, `json`, `meta`, `metadata`, batch and error accessors.

use crate::env::{Environment, FnImpl, Kind, ex, opt, p};
use crate::eval::{Call, Cx, R, This, err, get_path, split_dot_path};
use crate::value::Value;

fn content(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Bytes(cx.msg().content().to_vec()))
}

fn json(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let dynamic;
    let segs: &[String] = match &call.args[0] {
        crate::eval::Expr::Lit(Value::String(s)) => {
            call.path_cache.get_or_init(|| split_dot_path(s))
        }
        _ => match call.arg(0, cx, this)? {
            Value::String(s) => {
                dynamic = split_dot_path(&s);
                &dynamic
            }
            other => return err(crate::eval::type_err("string", &other)),
        },
    };
    let msg = cx.msg();
    if let Some(found) = cx.read_msg_path(msg, segs) {
        return Ok(found.map(Value::sanitised).unwrap_or(Value::Null));
    }
    let doc = match msg.structured() {
        Ok(v) => v,
        // Benthos gives the decoder's error as it is.
        Err(e) => return err(Value::go_message_json_error(msg.content(), &e)),
    };
    Ok(get_path(doc, segs)
        .map(Value::sanitised)
        .unwrap_or(Value::Null))
}

fn meta(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let key = call.arg(0, cx, this)?;
    meta_as_text(cx.msg().metadata(), key)
}

/// `meta()` of the message being built: what the mapping's own `meta`
/// assignments left, as Benthos's `root_meta` reads it.
fn root_meta(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let key = call.arg(0, cx, this)?;
    meta_as_text(cx.out_meta(), key)
}

/// The value of `key` in `md` as text, null when empty or missing; all of
/// them as an object of texts without a key.
fn meta_as_text(md: &crate::value::Metadata, key: Value) -> R<Value> {
    match key {
        Value::Null => Ok(Value::Object(
            md.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.to_interp_string().into())))
                .collect(),
        )),
        Value::String(k) => Ok(match md.get(k.as_str()) {
            Some(v) => {
                let s = v.to_interp_string();
                if s.is_empty() {
                    Value::Null
                } else {
                    Value::String(s.into())
                }
            }
            None => Value::Null,
        }),
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn metadata(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let key = call.arg(0, cx, this)?;
    let md = cx.msg().metadata();
    match key {
        Value::Null => Ok(Value::from_metadata(md)),
        Value::String(k) => Ok(md.get(k.as_str()).cloned().unwrap_or(Value::Null)),
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn batch_index(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Int(cx.index))
}

fn batch_size(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Int(cx.batch.len() as i64))
}

fn error(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(cx
        .msg()
        .error()
        .map_or(Value::Null, |e| Value::String(e.to_owned().into())))
}

fn errored(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::Bool(cx.msg().error().is_some()))
}

fn var(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(name) => match cx.vars.get(name.as_str()) {
            Some(v) => Ok(v.clone()),
            None => err(format!("variable '{name}' undefined")),
        },
        other => err(crate::eval::type_err("string", &other)),
    }
}

fn error_source_name(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(error_source(cx, |s| s.name))
}

fn error_source_label(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(error_source(cx, |s| s.label))
}

fn error_source_path(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(error_source(cx, |s| s.path))
}

/// A field of the error's source, or null when the message has no error or its error has no
/// source.
fn error_source(
    cx: &Cx<'_>,
    field: for<'s> fn(&crate::target::ErrorSource<'s>) -> &'s str,
) -> Value {
    let msg = cx.msg();
    if msg.error().is_none() {
        return Value::Null;
    }
    msg.error_source()
        .map_or(Value::Null, |s| Value::String(field(&s).to_owned().into()))
}

fn tracing_span(cx: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(cx.msg().tracing_span().cloned().unwrap_or(Value::Null))
}

fn tracing_id(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    Ok(Value::String(String::new().into()))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Message Info";
    env.function(
        "content",
        cat,
        "Returns the full raw contents of the message.",
        vec![],
        vec![ex(
            "root.doc = content().string()",
            &[(r#"{"foo":"bar"}"#, r#"{"doc":"{\"foo\":\"bar\"}"}"#)],
        )],
        FnImpl::Ctx(content),
    );
    env.function(
        "json",
        cat,
        "Returns a value from the message parsed as JSON at a dot path, or the whole document.",
        vec![opt("path", Kind::Str, Value::String(String::new().into()))],
        vec![
            ex(
                r#"root.mapped = json("foo.bar")"#,
                &[(
                    r#"{"foo":{"bar":"hello world"}}"#,
                    r#"{"mapped":"hello world"}"#,
                )],
            ),
            ex(
                "root.doc = json()",
                &[(
                    r#"{"foo":{"bar":"hello world"}}"#,
                    r#"{"doc":{"foo":{"bar":"hello world"}}}"#,
                )],
            ),
        ],
        FnImpl::Ctx(json),
    );
    env.function(
        "meta",
        cat,
        "Returns an input metadata value as a string, or null; without a key, all of them.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(meta),
    );
    env.function(
        "metadata",
        cat,
        "Returns an input metadata value with its type, or null; without a key, all of them.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(metadata),
    );
    env.function(
        "root_meta",
        cat,
        "Returns a metadata value of the message being built as a string, or null; without \
         a key, all of them. Metadata assignments made earlier in the mapping are seen.",
        vec![opt("key", Kind::Str, Value::Null)],
        vec![],
        FnImpl::Ctx(root_meta),
    );
    env.function(
        "batch_index",
        cat,
        "The index of the message within its batch.",
        vec![],
        vec![ex("root = batch_index()", &[("{}", "0")])],
        FnImpl::Ctx(batch_index),
    );
    env.function(
        "batch_size",
        cat,
        "The size of the batch of the message.",
        vec![],
        vec![ex("root = batch_size()", &[("{}", "1")])],
        FnImpl::Ctx(batch_size),
    );
    env.function(
        "error",
        cat,
        "The processing error of the message, or null.",
        vec![],
        vec![ex("root = error()", &[("{}", "null")])],
        FnImpl::Ctx(error),
    );
    env.function(
        "errored",
        cat,
        "Whether the message has a processing error.",
        vec![],
        vec![ex("root = errored()", &[("{}", "false")])],
        FnImpl::Ctx(errored),
    );
    env.function(
        "tracing_id",
        cat,
        "The trace id of the message, empty without tracing.",
        vec![],
        vec![],
        FnImpl::Ctx(tracing_id),
    );
    env.function(
        "tracing_span",
        cat,
        "The tracing span of the message as a text map object, or null without one.",
        vec![],
        vec![ex(
            "root.span = tracing_span()",
            &[("{}", r#"{"span":null}"#)],
        )],
        FnImpl::Ctx(tracing_span),
    );
    for (name, imp, description, example, output) in [
        (
            "error_source_name",
            error_source_name as crate::env::CtxFn,
            "The type name of the component that flagged the message's error, or null when the \
             message has no error or no component flagged it.",
            "root.doc.error_source_name = error_source_name()",
            r#"{"doc":{"error_source_name":null}}"#,
        ),
        (
            "error_source_label",
            error_source_label,
            "The label of the component that flagged the message's error (empty without one), \
             or null when the message has no error or no component flagged it.",
            "root.doc.error_source_label = error_source_label()",
            r#"{"doc":{"error_source_label":null}}"#,
        ),
        (
            "error_source_path",
            error_source_path,
            "The dot path of the component that flagged the message's error, or null when the \
             message has no error or no component flagged it.",
            "root.doc.error_source_path = error_source_path()",
            r#"{"doc":{"error_source_path":null}}"#,
        ),
    ] {
        env.function(
            name,
            cat,
            description,
            vec![],
            vec![ex(example, &[("{}", output)])],
            FnImpl::Ctx(imp),
        );
    }
    env.function(
        "var",
        cat,
        "The value of a variable set with `let`.",
        vec![p("name", Kind::Str)],
        vec![ex(
            "let foo = \"bar\"\nroot.foo = var(\"foo\")",
            &[("{}", r#"{"foo":"bar"}"#)],
        )],
        FnImpl::Ctx(var),
    );
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapping;
    use crate::target::{ErrorSource, MessageRef, SimpleMessage};
    use crate::value::{Metadata, Value};

    /// A message whose error a component flagged, and which carries a span.
    struct Traced {
        inner: SimpleMessage,
        span: Value,
    }

    impl MessageRef for Traced {
        fn content(&self) -> &[u8] {
            self.inner.content()
        }
        fn structured(&self) -> Result<&Value, String> {
            self.inner.structured()
        }
        fn metadata(&self) -> &Metadata {
            self.inner.metadata()
        }
        fn error(&self) -> Option<&str> {
            self.inner.error()
        }
        fn error_source(&self) -> Option<ErrorSource<'_>> {
            Some(ErrorSource {
                name: "mapping",
                label: "",
                path: "root.pipeline.processors.0",
            })
        }
        fn tracing_span(&self) -> Option<&Value> {
            Some(&self.span)
        }
    }

    fn run<M: MessageRef>(mapping: &str, msg: M) -> String {
        let mapping = Mapping::parse(mapping).unwrap();
        let out = mapping.exec(&[msg][..], 0).unwrap();
        match out.root {
            crate::Root::Value(v) => String::from_utf8(v.to_message_bytes()).unwrap(),
            other => panic!("unexpected root {other:?}"),
        }
    }

    #[test]
    fn json_gives_the_decoder_error_of_a_message_that_is_not_json() {
        let cases = [
            (
                "hello",
                "invalid character 'h' looking for beginning of value",
            ),
            (r#"{"a":"#, "unexpected EOF"),
            ("   ", "EOF"),
            ("", "target message part does not exist"),
            (
                "{} x",
                "invalid character 'x' looking for beginning of value",
            ),
            ("{} {}", "message contains multiple valid documents"),
            (
                "{} {} x",
                "invalid character 'x' looking for beginning of value",
            ),
            ("[1 2]", "invalid character '2' after array element"),
        ];
        for (input, message) in cases {
            assert_eq!(
                crate::testing::map_one(r#"root = json("a")"#, input).unwrap_err(),
                format!("failed assignment (line 1): {message}"),
                "{input:?}"
            );
            assert_eq!(
                run(
                    "root = json().catch(e -> e)",
                    SimpleMessage::new(input.as_bytes().to_vec())
                ),
                message
            );
        }
    }

    const ERROR_INFO: &str = "root = {\"name\": error_source_name(), \"label\": error_source_label(), \"path\": error_source_path()}";

    #[test]
    fn error_source_reads_the_flagging_component() {
        let traced = |error: Option<&str>| {
            let inner = SimpleMessage::new(b"{}".to_vec());
            Traced {
                inner: match error {
                    Some(e) => inner.with_error(e),
                    None => inner,
                },
                span: Value::Null,
            }
        };
        assert_eq!(
            run(ERROR_INFO, traced(Some("boom"))),
            r#"{"label":"","name":"mapping","path":"root.pipeline.processors.0"}"#
        );
        // Without an error there is no source, whatever the message says.
        assert_eq!(
            run(ERROR_INFO, traced(None)),
            r#"{"label":null,"name":null,"path":null}"#
        );
        // An error no component flagged has no source either.
        assert_eq!(
            run(
                ERROR_INFO,
                SimpleMessage::new(b"{}".to_vec()).with_error("boom")
            ),
            r#"{"label":null,"name":null,"path":null}"#
        );
        // The documented example.
        assert_eq!(
            run(
                r#"root.error_category = error_source_label().or("unknown")"#,
                SimpleMessage::new(b"{}".to_vec()).with_error("boom")
            ),
            r#"{"error_category":"unknown"}"#
        );
    }

    #[test]
    fn tracing_span_is_the_text_map_or_null() {
        let span = Value::from_json_bytes(
            br#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#,
        )
        .unwrap();
        let msg = Traced {
            inner: SimpleMessage::new(
                br#"{"some_stuff":"just can't be explained by science"}"#.to_vec(),
            ),
            span,
        };
        assert_eq!(
            run("root.headers.traceparent = tracing_span().traceparent", msg),
            r#"{"headers":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#
        );
        assert_eq!(
            run("root = tracing_span()", SimpleMessage::new(b"{}".to_vec())),
            "null"
        );
    }

    #[test]
    fn root_meta_reads_the_metadata_being_built() {
        let msg = || {
            let mut md = Metadata::new();
            md.insert("in".into(), Value::from("input"));
            SimpleMessage::new(b"{}".to_vec()).with_metadata(md)
        };
        assert_eq!(
            run(
                "meta foo = \"exists now\"\nroot.foo = root_meta(\"foo\")\nroot.in = root_meta(\"in\")",
                msg()
            ),
            r#"{"foo":"exists now","in":"input"}"#
        );
        assert_eq!(
            run("meta = {\"a\": 5}\nroot = root_meta()", msg()),
            r#"{"a":"5"}"#
        );
        assert_eq!(run("root = root_meta(\"nope\")", msg()), "null");
    }
}
