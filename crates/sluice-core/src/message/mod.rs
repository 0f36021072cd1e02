//! Messages and batches: Benthos's `Part` and `Batch`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sluice_bloblang::{MessageRef, Value};

use crate::response::ResponseStore;
use crate::trace::TraceContext;

/// Message metadata: string keys to typed values, sorted by key.
pub type Metadata = sluice_bloblang::Metadata;

/// Builds a message's metadata on first access. Inputs whose metadata is
/// costly and often unused (every HTTP request header) hand this over
/// instead of a ready map. It returns a shared map, so that the parts of one
/// request (a multipart body of thousands) can share one copy of the
/// request's metadata until a part changes its own.
pub type MetadataSource = Arc<dyn Fn() -> Arc<Metadata> + Send + Sync>;

/// One message: raw bytes, a lazily parsed structured view, metadata, an
/// error flag and an invisible context that travels with every copy.
///
/// Cloning is cheap: the data sits behind an `Arc` and is copied on write,
/// while the context (and with it the response store) is shared by all copies.
#[derive(Clone)]
pub struct Message {
    part: Arc<Part>,
    context: MessageContext,
}

/// What travels invisibly with a message through every component.
#[derive(Clone, Default)]
pub struct MessageContext {
    response_store: Option<ResponseStore>,
    /// The span this message is part of; only set when a tracer is on.
    /// Boxed so that messages stay small when tracing is off.
    trace: Option<Box<TraceContext>>,
    /// When the request's caller stops waiting, when deadlines propagate.
    deadline: Option<crate::deadline::Deadline>,
}

impl MessageContext {
    /// A context carrying the given response store.
    pub fn with_response_store(store: ResponseStore) -> Self {
        Self {
            response_store: Some(store),
            trace: None,
            deadline: None,
        }
    }

    /// This context with the request's `deadline`.
    pub fn with_deadline(mut self, deadline: crate::deadline::Deadline) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// This context with `trace` as the message's current span.
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(Box::new(trace));
        self
    }

    /// This context without the request it came from (its response store
    /// and deadline), keeping the trace: for messages that outlive the
    /// answer to their caller, such as those an acknowledging buffer holds.
    pub fn without_request(&self) -> Self {
        Self {
            response_store: None,
            trace: self.trace.clone(),
            deadline: None,
        }
    }
}

/// A part's metadata map, built from its source when it has one.
fn build_metadata(source: Option<&MetadataSource>) -> Arc<Metadata> {
    source.map(|build| build()).unwrap_or_default()
}

#[derive(Clone)]
struct Part {
    // At least one of `raw` and a successful `structured` is always set.
    raw: OnceLock<Bytes>,
    structured: OnceLock<Result<Value, String>>,
    // Built from `metadata_source` on first access when that is set. Shared
    // between copies of the part (a fan_out's children each hold one), so
    // changing one copy's content does not copy the map.
    metadata: OnceLock<Arc<Metadata>>,
    metadata_source: Option<MetadataSource>,
    error: Option<Arc<str>>,
}

impl Message {
    /// A message holding `content` as its raw bytes, with empty metadata.
    pub fn new(content: impl Into<Bytes>) -> Self {
        let raw = OnceLock::from(content.into());
        Self {
            part: Arc::new(Part {
                raw,
                structured: OnceLock::new(),
                metadata: OnceLock::new(),
                metadata_source: None,
                error: None,
            }),
            context: MessageContext::default(),
        }
    }

    /// The raw bytes, serialising the structured value first if needed.
    pub fn content(&self) -> &[u8] {
        self.bytes_ref()
    }

    /// The raw bytes as a cheaply clonable buffer.
    pub fn bytes(&self) -> Bytes {
        self.bytes_ref().clone()
    }

    fn bytes_ref(&self) -> &Bytes {
        self.part
            .raw
            .get_or_init(|| match self.part.structured.get() {
                Some(Ok(value)) => Bytes::from(value.to_json_bytes()),
                _ => Bytes::new(),
            })
    }

    /// The message parsed as JSON; parsed once and cached.
    pub fn structured(&self) -> Result<&Value, String> {
        self.part
            .structured
            .get_or_init(|| {
                let raw = self.part.raw.get().map(|b| &b[..]).unwrap_or_default();
                if raw.is_empty() {
                    return Err("message is empty".to_owned());
                }
                Value::from_json_bytes(raw).map_err(|e| format!("parse as json: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Replaces the content with raw bytes.
    pub fn set_content(&mut self, content: impl Into<Bytes>) {
        self.replace_content(OnceLock::from(content.into()), OnceLock::new());
    }

    /// Replaces the content with a structured value; bytes are produced on demand.
    pub fn set_structured(&mut self, value: Value) {
        self.replace_content(OnceLock::new(), OnceLock::from(Ok(value)));
    }

    /// Replaces the content. A part shared with other copies is not copied
    /// first (`Arc::make_mut` would copy its parsed document only to drop
    /// it): splitting a 60,000-element array into messages would otherwise
    /// copy the whole array once per element.
    fn replace_content(
        &mut self,
        raw: OnceLock<Bytes>,
        structured: OnceLock<Result<Value, String>>,
    ) {
        if let Some(part) = Arc::get_mut(&mut self.part) {
            part.raw = raw;
            part.structured = structured;
            return;
        }
        let shared = &self.part;
        self.part = Arc::new(Part {
            raw,
            structured,
            metadata: shared.metadata.clone(),
            metadata_source: shared.metadata_source.clone(),
            error: shared.error.clone(),
        });
    }

    /// The metadata of this message.
    pub fn metadata(&self) -> &Metadata {
        self.part
            .metadata
            .get_or_init(|| build_metadata(self.part.metadata_source.as_ref()))
    }

    /// Mutable metadata (copies the data if it is shared).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        let part = Arc::make_mut(&mut self.part);
        part.metadata
            .get_or_init(|| build_metadata(part.metadata_source.as_ref()));
        part.metadata_source = None;
        Arc::make_mut(
            part.metadata
                .get_mut()
                .expect("metadata was initialised just above"),
        )
    }

    /// Sets a metadata value.
    ///
    /// While the metadata is still an unread source (an HTTP request's
    /// headers, say), the value is laid over that source instead: the map is
    /// then built only if something reads it, which an output that just
    /// answers the caller never does.
    pub fn set_meta(&mut self, key: impl Into<sluice_bloblang::Key>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        let part = Arc::make_mut(&mut self.part);
        if part.metadata.get().is_none()
            && let Some(source) = part.metadata_source.take()
        {
            part.metadata_source = Some(Arc::new(move || {
                let mut built = source();
                Arc::make_mut(&mut built).insert(key.clone(), value.clone());
                built
            }));
            return;
        }
        self.metadata_mut().insert(key, value);
    }

    /// Replaces all metadata.
    pub fn set_metadata(&mut self, metadata: Metadata) {
        let part = Arc::make_mut(&mut self.part);
        part.metadata = OnceLock::from(Arc::new(metadata));
        part.metadata_source = None;
    }

    /// Replaces all metadata with a map built on first access.
    pub fn set_metadata_source(&mut self, source: MetadataSource) {
        let part = Arc::make_mut(&mut self.part);
        part.metadata = OnceLock::new();
        part.metadata_source = Some(source);
    }

    /// The processing error recorded on this message, if any.
    pub fn error(&self) -> Option<&str> {
        self.part.error.as_deref()
    }

    /// Flags the message as failed by a processor.
    pub fn set_error(&mut self, error: impl fmt::Display) {
        Arc::make_mut(&mut self.part).error = Some(Arc::from(error.to_string()));
    }

    /// Clears the error flag.
    pub fn clear_error(&mut self) {
        if self.part.error.is_some() {
            Arc::make_mut(&mut self.part).error = None;
        }
    }

    /// The response store of the request this message came from, if any.
    pub fn response_store(&self) -> Option<&ResponseStore> {
        self.context.response_store.as_ref()
    }

    /// The deadline of the request this message belongs to, if it carries
    /// one.
    pub fn deadline(&self) -> Option<&crate::deadline::Deadline> {
        self.context.deadline.as_ref()
    }

    /// The span this message is part of, when tracing is on: outputs that
    /// call other services pass it on as a `traceparent`.
    pub fn trace_context(&self) -> Option<&TraceContext> {
        self.context.trace.as_deref()
    }

    /// Makes `trace` the message's current span (a stage's child span).
    pub fn set_trace_context(&mut self, trace: TraceContext) {
        self.context.trace = Some(Box::new(trace));
    }

    /// The context shared by all copies of this message.
    pub fn context(&self) -> &MessageContext {
        &self.context
    }

    /// Attaches a context (inputs do this before handing a batch over).
    pub fn set_context(&mut self, context: MessageContext) {
        self.context = context;
    }

    /// A copy that shares no mutable data with the original, with its
    /// context stripped.
    ///
    /// The data is copy-on-write, so sharing the `Arc` is already a deep copy
    /// as far as anyone can observe: the first mutation of either side copies.
    pub fn deep_clone_without_context(&self) -> Message {
        Message {
            part: Arc::clone(&self.part),
            context: MessageContext::default(),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("content", &String::from_utf8_lossy(self.content()))
            .field("metadata", self.metadata())
            .field("error", &self.error())
            .finish()
    }
}

impl MessageRef for Message {
    fn content(&self) -> &[u8] {
        Message::content(self)
    }

    fn structured(&self) -> Result<&Value, String> {
        Message::structured(self)
    }

    fn is_parsed(&self) -> bool {
        self.part.structured.get().is_some()
    }

    fn metadata(&self) -> &Metadata {
        Message::metadata(self)
    }

    fn error(&self) -> Option<&str> {
        Message::error(self)
    }
}

/// An ordered list of messages, the unit that moves between components.
#[derive(Clone, Debug, Default)]
pub struct Batch(Vec<Message>);

impl Batch {
    /// A batch of the given messages.
    pub fn new(messages: Vec<Message>) -> Self {
        Self(messages)
    }

    /// The messages, by value.
    pub fn into_messages(self) -> Vec<Message> {
        self.0
    }

    /// A batch with every message's data copied and contexts stripped.
    pub fn deep_clone_without_context(&self) -> Batch {
        Batch(
            self.0
                .iter()
                .map(Message::deep_clone_without_context)
                .collect(),
        )
    }
}

impl From<Vec<Message>> for Batch {
    fn from(messages: Vec<Message>) -> Self {
        Self(messages)
    }
}

impl From<Message> for Batch {
    fn from(message: Message) -> Self {
        Self(vec![message])
    }
}

impl std::ops::Deref for Batch {
    type Target = [Message];
    fn deref(&self) -> &[Message] {
        &self.0
    }
}

impl std::ops::DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut [Message] {
        &mut self.0
    }
}

impl IntoIterator for Batch {
    type Item = Message;
    type IntoIter = std::vec::IntoIter<Message>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<Message> for Batch {
    fn extend<I: IntoIterator<Item = Message>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl FromIterator<Message> for Batch {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_do_not_share_mutations_but_share_context() {
        let store = ResponseStore::default();
        let mut original = Message::new("a");
        original.set_context(MessageContext::with_response_store(store.clone()));
        let mut copy = original.clone();
        copy.set_content("b");
        copy.set_meta("k", "v");
        assert_eq!(original.content(), b"a");
        assert!(original.metadata().is_empty());
        assert_eq!(copy.content(), b"b");
        copy.response_store()
            .unwrap()
            .push(&Batch::from(copy.clone()));
        assert_eq!(store.take().len(), 1);
    }

    #[test]
    fn replacing_a_shared_parts_content_keeps_the_rest_and_leaves_the_original() {
        let mut original = Message::new(r#"{"items":[1,2,3]}"#);
        original.set_meta("k", "v");
        original.set_error("flagged");
        original.structured().unwrap();
        let mut part = original.clone();
        part.set_structured(Value::Int(2));
        assert_eq!(part.content(), b"2");
        assert_eq!(part.metadata().get("k"), Some(&Value::from("v")));
        assert_eq!(part.error(), Some("flagged"));
        let mut line = original.clone();
        line.set_content("raw");
        assert_eq!(line.content(), b"raw");
        assert!(line.structured().is_err());
        assert_eq!(original.content(), br#"{"items":[1,2,3]}"#);
        assert_eq!(
            original.structured().unwrap().to_json_bytes(),
            br#"{"items":[1,2,3]}"#
        );
    }

    #[test]
    fn the_parts_of_one_request_share_its_metadata_until_one_changes_it() {
        let built = Arc::new(OnceLock::new());
        let shared = Arc::clone(&built);
        let source: MetadataSource = Arc::new(move || {
            Arc::clone(
                shared.get_or_init(|| Arc::new(Metadata::from([("k".into(), Value::from("v"))]))),
            )
        });
        let mut parts: Vec<Message> = (0..3)
            .map(|i| {
                let mut msg = Message::new(i.to_string());
                msg.set_metadata_source(Arc::clone(&source));
                msg
            })
            .collect();
        let first: *const Metadata = parts[0].metadata();
        assert!(parts.iter().all(|p| std::ptr::eq(p.metadata(), first)));
        parts[1].set_meta("own", "x");
        assert_eq!(parts[1].metadata().len(), 2);
        assert_eq!(parts[0].metadata().len(), 1);
        assert!(std::ptr::eq(parts[2].metadata(), first));
    }

    #[test]
    fn metadata_sources_run_once_on_first_access() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let mut msg = Message::new("x");
        msg.set_metadata_source(Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(Metadata::from([("k".into(), Value::from("v"))]))
        }));
        let copy = msg.clone();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(msg.metadata().len(), 1);
        msg.set_meta("other", "w");
        assert_eq!(msg.metadata().len(), 2);
        assert_eq!(copy.metadata().len(), 1);
    }

    #[test]
    fn values_set_before_an_unread_source_is_read_override_it_without_building_it() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let mut msg = Message::new("x");
        msg.set_metadata_source(Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(Metadata::from([
                ("k".into(), Value::from("v")),
                ("code".into(), Value::from("from the source")),
            ]))
        }));
        let original = msg.clone();
        msg.set_meta("code", Value::Int(201));
        msg.set_meta("new", "n");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        let got: Vec<(String, String)> = msg
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_interp_string()))
            .collect();
        let want = [("code", "201"), ("k", "v"), ("new", "n")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            original.metadata().get("code"),
            Some(&Value::from("from the source"))
        );
        assert_eq!(original.metadata().get("new"), None);
    }

    #[test]
    fn structured_is_parsed_lazily_and_reencoded() {
        let msg = Message::new(r#"{"b":1,"a":2}"#);
        assert!(msg.structured().is_ok());
        let mut mapped = msg.clone();
        mapped.set_structured(msg.structured().unwrap().clone());
        assert_eq!(mapped.content(), br#"{"a":2,"b":1}"#);
        assert!(Message::new("").structured().is_err());
    }
}
