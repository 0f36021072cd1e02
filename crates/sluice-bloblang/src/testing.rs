//! Helpers for the crate's own tests.

use crate::mapping::Mapping;
use crate::target::SimpleMessage;
use crate::value::Value;

/// Runs `mapping` over one message holding `input`; the new root, or the
/// parse or execution error as text.
pub(crate) fn map_value(mapping: &str, input: &str) -> Result<Value, String> {
    let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
    let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
    let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
    match out.root {
        crate::Root::Value(v) => Ok(v),
        other => Err(format!("unexpected root {other:?}")),
    }
}

/// [`map_value`] with the new root as the message's bytes.
pub(crate) fn map_one(mapping: &str, input: &str) -> Result<String, String> {
    map_value(mapping, input).map(|v| String::from_utf8(v.to_message_bytes()).unwrap())
}

/// Runs `f` on a thread with the stack the binary gives its workers: the
/// test harness's default is far smaller than deep documents need,
/// especially in a debug build.
pub(crate) fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(128 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the test passed");
}
