//! Environment functions: `env`, `hostname`, `file`, `file_rel`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use std::path::{Path, PathBuf};

use crate::env::{Environment, FnImpl, Kind, PrepareCx, opt, p};
use crate::eval::{Call, Cx, Expr, Flow, R, This, type_err};
use crate::value::Value;

/// Variables `env()` sees before the process environment's: `sluice test`
/// sets a case's `environment` here while the case runs. Process-wide, as
/// the process environment is; a lock rather than `std::env::set_var`,
/// which is unsound while other threads read the environment.
static OVERLAY: RwLock<Option<HashMap<String, String>>> = RwLock::new(None);

/// Makes `vars` visible to `env()` ahead of the process environment, until
/// replaced; `None` leaves only the process environment.
pub fn set_env_overlay(vars: Option<HashMap<String, String>>) {
    *OVERLAY.write().unwrap_or_else(PoisonError::into_inner) = vars;
}

fn lookup_env(name: &str) -> Option<String> {
    let overlay = OVERLAY.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(value) = overlay.as_ref().and_then(|vars| vars.get(name)) {
        return Some(value.clone());
    }
    std::env::var(name).ok()
}

fn env_var(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    match call.arg(0, cx, this)? {
        Value::String(name) => Ok(lookup_env(&name).map_or(Value::Null, Value::from)),
        other => Err(Flow::Err(type_err("string", &other))),
    }
}

fn hostname(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    Ok(Value::String(name.into()))
}

/// Reads a file, failing with the words of Go's `os.ReadFile`.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        let shown = path.display();
        match e.kind() {
            std::io::ErrorKind::NotFound => format!("open {shown}: no such file or directory"),
            std::io::ErrorKind::PermissionDenied => format!("open {shown}: permission denied"),
            std::io::ErrorKind::IsADirectory => format!("read {shown}: is a directory"),
            _ => format!("open {shown}: {e}"),
        }
    })
}

/// Where `file_rel` looks for `path`: beside the mapping when it came from a file.
fn relative_to(base_dir: &Value, path: &str) -> PathBuf {
    match base_dir {
        Value::String(dir) if !Path::new(path).is_absolute() => Path::new(dir).join(path),
        _ => PathBuf::from(path),
    }
}

/// Benthos reads a file once, when the mapping is parsed, unless `no_cache` is set: a
/// missing file is then a parse error and later changes go unseen. Hidden arguments follow
/// the two declared ones: the mapping's directory for `file_rel` (so that a dynamic path
/// resolves against it too), then the contents when they were read here.
fn prepare_file(
    args: &[Expr],
    base_dir: Option<&Path>,
    relative: bool,
) -> Result<Vec<Expr>, String> {
    let dir = match base_dir {
        Some(d) if relative => Value::String(d.display().to_string().into()),
        _ => Value::Null,
    };
    let mut hidden = vec![Expr::Lit(dir.clone())];
    if let (Expr::Lit(Value::String(path)), Expr::Lit(Value::Bool(false))) = (&args[0], &args[1]) {
        let content = read_file(&relative_to(&dir, path))?;
        hidden.push(Expr::Lit(Value::Bytes(content)));
    }
    Ok(hidden)
}

fn prepare_file_abs(args: &[Expr], pcx: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    prepare_file(args, pcx.base_dir, false)
}

fn prepare_file_rel(args: &[Expr], pcx: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    prepare_file(args, pcx.base_dir, true)
}

fn file(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    if let Some(Expr::Lit(cached @ Value::Bytes(_))) = call.args.get(3) {
        return Ok(cached.clone());
    }
    let base_dir = call.arg(2, cx, this)?;
    match call.arg(0, cx, this)? {
        Value::String(path) => read_file(&relative_to(&base_dir, &path))
            .map(Value::Bytes)
            .map_err(Flow::Err),
        other => Err(Flow::Err(type_err("string", &other))),
    }
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Environment";
    env.function(
        "env",
        cat,
        "The value of an environment variable, or null.",
        vec![
            p("name", Kind::Str),
            opt("no_cache", Kind::Bool, Value::Bool(false)),
        ],
        vec![],
        FnImpl::Ctx(env_var),
    );
    env.function(
        "hostname",
        cat,
        "The hostname of the machine.",
        vec![],
        vec![],
        FnImpl::Ctx(hostname),
    );
    env.function(
        "file",
        cat,
        "The contents of a file as bytes.",
        vec![
            p("path", Kind::Str),
            opt("no_cache", Kind::Bool, Value::Bool(false)),
        ],
        vec![],
        FnImpl::Ctx(file),
    );
    env.prepare_function("file", prepare_file_abs);
    env.function(
        "file_rel",
        cat,
        "The contents of a file as bytes, its path relative to the mapping's own file.",
        vec![
            p("path", Kind::Str),
            opt("no_cache", Kind::Bool, Value::Bool(false)),
        ],
        vec![],
        FnImpl::Ctx(file),
    );
    env.prepare_function("file_rel", prepare_file_rel);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::mapping::Mapping;
    use crate::target::SimpleMessage;

    fn check(mapping: &str, dir: Option<&Path>) -> Result<String, String> {
        let mapping = Mapping::parse_in(mapping, dir).map_err(|e| e.to_string())?;
        let batch = [SimpleMessage::new(b"{}".to_vec())];
        let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
        match out.root {
            crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
            other => Err(format!("unexpected root {other:?}")),
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sluice-blobl-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        dir
    }

    #[test]
    fn file_rel_resolves_beside_the_mapping() {
        let dir = scratch("file-rel");
        std::fs::write(dir.join("data/lookup.json"), r#"{"a":1}"#).unwrap();
        assert_eq!(
            check(
                r#"root = file_rel("./data/lookup.json").parse_json()"#,
                Some(&dir)
            )
            .as_deref(),
            Ok(r#"{"a":1}"#)
        );
        assert_eq!(
            check(
                r#"root = file_rel(path: "data/lookup.json", no_cache: true).parse_json().a"#,
                Some(&dir)
            )
            .as_deref(),
            Ok("1")
        );
        // A dynamic path resolves against the mapping's directory as well.
        assert_eq!(
            check(
                r#"root = file_rel("data/" + "lookup.json").string()"#,
                Some(&dir)
            )
            .as_deref(),
            Ok(r#"{"a":1}"#)
        );
        let missing = dir.join("data/nope.txt");
        assert_eq!(
            check(r#"root = file_rel("data/nope.txt")"#, Some(&dir)).unwrap_err(),
            format!(
                "line 1 char 33: open {}: no such file or directory",
                missing.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_is_read_when_parsed_unless_no_cache() {
        let dir = scratch("file");
        let path = dir.join("data/x.txt");
        std::fs::write(&path, "first").unwrap();
        let cached =
            Mapping::parse(&format!("root = file({:?}).string()", path.display())).unwrap();
        let fresh = Mapping::parse(&format!(
            "root = file(path: {:?}, no_cache: true).string()",
            path.display()
        ))
        .unwrap();
        std::fs::write(&path, "second").unwrap();
        let batch = [SimpleMessage::new(b"{}".to_vec())];
        let text = |m: &Mapping| match m.exec(&batch[..], 0).unwrap().root {
            crate::Root::Value(v) => String::from_utf8(v.to_message_bytes()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&cached), "first");
        assert_eq!(text(&fresh), "second");
        assert_eq!(
            check(r#"root = file("/nonexistent/sluice/x")"#, None).unwrap_err(),
            "line 1 char 37: open /nonexistent/sluice/x: no such file or directory"
        );
        // A file that does not exist yet is only an error at run time with no_cache.
        assert!(Mapping::parse(r#"root = file("/nonexistent/sluice/x", true)"#).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
