//! Helpers for the crate's own tests.

use crate::mapping::Mapping;
use crate::target::SimpleMessage;

/// Runs `mapping` over one message holding `input`; the new root as the
/// message's bytes, or the parse or execution error as text.
pub(crate) fn map_one(mapping: &str, input: &str) -> Result<String, String> {
    let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
    let batch = [SimpleMessage::new(input.as_bytes().to_vec())];
    let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
    match out.root {
        crate::Root::Value(v) => Ok(String::from_utf8(v.to_message_bytes()).unwrap()),
        other => Err(format!("unexpected root {other:?}")),
    }
}
