//! File path methods: `filepath_join` and `filepath_split`, with Unix separators as Benthos
//! on Linux has.

use crate::env::{Environment, MethodImpl, ex};
use crate::eval::type_err;
use crate::methods::text;
use crate::value::Value;

/// Go's `path.Clean`: the shortest path naming the same file, lexically.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `..` above the root is the root; above a relative start it stays.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join`: the non-empty elements joined and cleaned, or "" when all are empty.
fn join(parts: &[String]) -> String {
    let kept: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    clean(&kept.join("/"))
}

fn filepath_join(v: &Value, _: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = v else {
        return Err(type_err("array", v));
    };
    let mut parts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(_) | Value::Bytes(_) => parts.push(text(item)?),
            Value::Timestamp(t) => parts.push(crate::value::format_rfc3339_nano(t)),
            other => return Err(format!("path element {i}: {}", type_err("string", other))),
        }
    }
    Ok(Value::String(join(&parts).into()))
}

fn filepath_split(v: &Value, _: &[Value]) -> Result<Value, String> {
    let path = text(v)?;
    // Go's `filepath.Split`: everything up to and including the last separator, then the rest.
    let (dir, file) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path.as_str()),
    };
    Ok(Value::Array(vec![
        Value::String(dir.to_owned().into()),
        Value::String(file.to_owned().into()),
    ]))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "String Manipulation";
    env.method(
        "filepath_join",
        cat,
        "Joins an array of path elements into one path with the separator, and cleans it.",
        vec![],
        vec![ex(
            "root.path = this.path_elements.filepath_join()",
            &[(
                r#"{"path_elements":["/foo/","bar.txt"]}"#,
                r#"{"path":"/foo/bar.txt"}"#,
            )],
        )],
        MethodImpl::Ref(filepath_join),
    );
    env.method(
        "filepath_split",
        cat,
        "Splits a path after its last separator into a directory and a file name.",
        vec![],
        vec![ex(
            "root.path_sep = this.path.filepath_split()",
            &[
                (
                    r#"{"path":"/foo/bar.txt"}"#,
                    r#"{"path_sep":["/foo/","bar.txt"]}"#,
                ),
                (r#"{"path":"baz.txt"}"#, r#"{"path_sep":["","baz.txt"]}"#),
            ],
        )],
        MethodImpl::Ref(filepath_split),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::map_one as check;

    #[test]
    fn clean_follows_go() {
        for (input, expected) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("./a//b/./", "a/b"),
            ("../../a/..", "../.."),
            ("a/..", "."),
        ] {
            assert_eq!(clean(input), expected, "{input}");
        }
    }

    #[test]
    fn join_drops_empty_elements_and_cleans() {
        for (input, expected) in [
            (r#"["a","b","c"]"#, "a/b/c"),
            (r#"["","",""]"#, ""),
            (r#"["","a"]"#, "a"),
            (r#"["/","..","x/"]"#, "/x"),
            (r#"[]"#, ""),
        ] {
            assert_eq!(
                check("root = this.filepath_join()", input).as_deref(),
                Ok(expected),
                "{input}"
            );
        }
        assert_eq!(
            check("root = this.filepath_join()", r#"["a",5]"#).unwrap_err(),
            "failed assignment (line 1): field `this`: path element 1: expected string value, got number (5)"
        );
        assert!(check("root = this.filepath_join()", r#""a""#).is_err());
    }

    #[test]
    fn split_keeps_the_separator_on_the_directory() {
        assert_eq!(
            check("root = this.filepath_split()", r#""/a/b/""#).as_deref(),
            Ok(r#"["/a/b/",""]"#)
        );
        assert_eq!(
            check("root = this.filepath_split()", r#""/""#).as_deref(),
            Ok(r#"["/",""]"#)
        );
    }
}
