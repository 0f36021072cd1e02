//! How the language sees messages: the seam sluice-core implements.

use std::sync::OnceLock;

use crate::value::{Metadata, Value};

/// A message as the language sees it.
///
/// Implemented by sluice-core for its message type and by [`SimpleMessage`]. Calls come from
/// any thread that executes a mapping; implementations only hand out borrows.
pub trait MessageRef {
    /// The raw bytes of the message (`content()`).
    fn content(&self) -> &[u8];
    /// The message parsed as JSON (`this`), parsed once and cached by the implementor.
    /// `Err` holds the parse failure text.
    fn structured(&self) -> Result<&Value, String>;
    /// Whether [`MessageRef::structured`] would answer without parsing. Implementors that
    /// parse lazily say `false` until then, so that a mapping reading one path of the message
    /// can scan the bytes for it instead of building the whole document.
    fn is_parsed(&self) -> bool {
        true
    }
    /// The input metadata (`meta()`, `metadata()`, and `@` before any meta assignment).
    fn metadata(&self) -> &Metadata;
    /// The processing error of the message, if flagged (`error()`, `errored()`).
    fn error(&self) -> Option<&str>;
    /// The component that flagged the error (`error_source_name()` and friends), when the
    /// error came from one. `None` by default: the functions then return null, as Benthos's
    /// do for errors that no component attributed.
    fn error_source(&self) -> Option<ErrorSource<'_>> {
        None
    }
    /// The message's tracing span as a text map (`tracing_span()`), `None` without tracing.
    fn tracing_span(&self) -> Option<&crate::value::Value> {
        None
    }
}

/// The component a processing error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSource<'a> {
    /// The component's type name, such as `mapping`.
    pub name: &'a str,
    /// The component's label, empty when it has none.
    pub label: &'a str,
    /// The dot path of the component in the config.
    pub path: &'a str,
}

/// A batch of messages, read by index (`batch_size()`, `batch_index()`, `json()` of siblings).
pub trait BatchRef {
    /// The number of messages in the batch.
    fn len(&self) -> usize;
    /// The message at `index`. Panics when out of range.
    fn get(&self, index: usize) -> &dyn MessageRef;
    /// Whether the batch is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: MessageRef> BatchRef for [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn get(&self, index: usize) -> &dyn MessageRef {
        &self[index]
    }
}

impl<T: MessageRef> BatchRef for Vec<T> {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn get(&self, index: usize) -> &dyn MessageRef {
        &self[index]
    }
}

impl<B: BatchRef + ?Sized> BatchRef for &B {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> &dyn MessageRef {
        (**self).get(index)
    }
}

/// Parses message bytes as the language does for `this`.
pub fn parse_structured(content: &[u8]) -> Result<Value, String> {
    if content.is_empty() {
        return Err("message is empty".to_owned());
    }
    Value::from_json_bytes(content).map_err(|e| format!("parse as json: {e}"))
}

/// A standalone message owning its bytes and metadata, for the CLI and tests.
#[derive(Debug, Default)]
pub struct SimpleMessage {
    content: Vec<u8>,
    metadata: Metadata,
    error: Option<String>,
    parsed: OnceLock<Result<Value, String>>,
}

impl SimpleMessage {
    /// A message with these bytes and no metadata.
    pub fn new(content: impl Into<Vec<u8>>) -> Self {
        SimpleMessage {
            content: content.into(),
            ..SimpleMessage::default()
        }
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Flags the message with a processing error.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// A message whose structured value is already known.
    pub fn from_value(value: Value) -> Self {
        let msg = SimpleMessage::new(value.to_message_bytes());
        msg.parsed.get_or_init(|| Ok(value));
        msg
    }
}

impl MessageRef for SimpleMessage {
    fn content(&self) -> &[u8] {
        &self.content
    }
    fn structured(&self) -> Result<&Value, String> {
        self.parsed
            .get_or_init(|| parse_structured(&self.content))
            .as_ref()
            .map_err(Clone::clone)
    }
    fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
    fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
