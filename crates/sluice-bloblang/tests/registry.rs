//! The registry's names are checked against `tests/registry.txt`, so that dropping or renaming a
//! function or method is a visible change to this file rather than a silent regression.

use sluice_bloblang::env::Environment;

fn listed() -> (Vec<String>, Vec<String>) {
    let text = include_str!("registry.txt");
    let mut functions = Vec::new();
    let mut methods = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(' ') {
            Some(("function", name)) => functions.push(name.to_owned()),
            Some(("method", name)) => methods.push(name.to_owned()),
            _ => panic!("registry.txt: unreadable line {line:?}"),
        }
    }
    functions.sort();
    methods.sort();
    (functions, methods)
}

fn diff(kind: &str, listed: &[String], registered: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for name in listed {
        if !registered.contains(&name.as_str()) {
            problems.push(format!("{kind} {name} is listed but not registered"));
        }
    }
    for name in registered {
        if !listed.iter().any(|l| l == name) {
            problems.push(format!("{kind} {name} is registered but not listed"));
        }
    }
    problems
}

#[test]
fn registry_matches_the_checked_in_list() {
    let env = Environment::standard_ref();
    let (functions, methods) = listed();
    let mut problems = diff("function", &functions, &env.function_names());
    problems.extend(diff("method", &methods, &env.method_names()));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
