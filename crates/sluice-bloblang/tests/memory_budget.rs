//! The memory limit on one execution of a mapping, in a process whose
//! allocator counts per thread, as the sluice binary's does. The limit is
//! process-wide, so every test here sets the same one.

use sluice_bloblang::{Mapping, Root, SimpleMessage, Value, budget};

#[global_allocator]
static GLOBAL: sluice_alloc::CountingMiMalloc = sluice_alloc::CountingMiMalloc;

const LIMIT: usize = 64 << 20;

fn run(mapping: &str) -> Result<Value, String> {
    budget::set_max_memory_bytes(LIMIT);
    let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
    let batch = [SimpleMessage::new(b"{}".to_vec())];
    let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
    match out.root {
        Root::Value(v) => Ok(v),
        other => Err(format!("unexpected root {other:?}")),
    }
}

#[test]
fn a_list_of_large_strings_each_under_the_value_limit_stops_at_the_memory_limit() {
    // Each string is 4 MiB, well under the 64 MiB value limit; a hundred of
    // them would hold 400 MiB.
    let err = run(r#"let big = "x".repeat(4194304)
root = range(0, 100).map_each(i -> $big + i.string()).length()"#)
    .unwrap_err();
    assert!(
        err.contains("more than its limit of 67108864 bytes for one message"),
        "{err}"
    );
    assert!(err.starts_with("failed assignment (line 2)"), "{err}");
}

#[test]
fn copies_of_a_variable_count_against_the_limit() {
    let err = run(r#"let big = "x".repeat(4194304)
root = range(0, 100).map_each(_ -> $big).length()"#)
    .unwrap_err();
    assert!(
        err.contains("bytes of memory, more than its limit"),
        "{err}"
    );
}

#[test]
fn memory_a_mapping_frees_as_it_goes_does_not_count() {
    // Forty 4 MiB strings built one after another, each dropped once its
    // length is taken: 160 MiB built in all, never more than a few held.
    let out = run(r#"let big = "x".repeat(4194304)
root = range(0, 40).map_each(i -> ($big + i.string()).length()).sum()"#)
    .unwrap();
    assert_eq!(out, Value::Int(40 * 4_194_304 + 10 + 30 * 2));
}

#[test]
fn a_caught_memory_error_leaves_the_mapping_free_to_go_on() {
    let out = run(r#"let big = "x".repeat(4194304)
root.n = range(0, 100).map_each(i -> $big + i.string()).length().catch(-1)
root.after = range(0, 3).length()"#)
    .unwrap();
    assert_eq!(
        String::from_utf8(out.to_message_bytes()).unwrap(),
        r#"{"after":3,"n":-1}"#,
        "the held strings are freed when the error unwinds"
    );
}
