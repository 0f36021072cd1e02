//! Tracing contracts: the W3C trace context that travels with a message and
//! the tracer that starts spans (the `tracer` section).
//!
//! The core knows no tracing backend. With `tracer: none` there is no
//! [`Tracer`] at all, messages carry no context, and the hot path only checks
//! an `Option`.

use std::fmt;

/// The identity of one span in W3C Trace Context terms, as carried by the
/// `traceparent` header: `00-<trace id>-<span id>-<flags>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace the span belongs to; never all zeros.
    pub trace_id: [u8; 16],
    /// The span itself; never all zeros.
    pub span_id: [u8; 8],
    /// Whether the trace is sampled (recorded and exported).
    pub sampled: bool,
}

fn hex_into<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (idx, byte) in out.iter_mut().enumerate() {
        let pair = text.get(idx * 2..idx * 2 + 2)?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

impl TraceContext {
    /// Parses a `traceparent` header value; `None` when it is malformed or
    /// names the invalid all-zero ids, in which case a new trace starts, as
    /// the W3C spec asks.
    pub fn from_traceparent(value: &str) -> Option<TraceContext> {
        let mut parts = value.trim().split('-');
        let version = parts.next()?;
        let trace_id = hex_into::<16>(parts.next()?)?;
        let span_id = hex_into::<8>(parts.next()?)?;
        let flags = hex_into::<1>(parts.next()?)?;
        // Version ff is forbidden; later versions may append fields.
        if hex_into::<1>(version)? == [0xff] || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            sampled: flags[0] & 1 == 1,
        })
    }

    /// The `traceparent` header value naming this span as the parent.
    pub fn to_traceparent(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("00-")?;
        for byte in self.trace_id {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("-")?;
        for byte in self.span_id {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "-{:02x}", u8::from(self.sampled))
    }
}

/// Starts spans. Built once from the `tracer` section and shared by every
/// component; `start` is called once per message and stage, from any task.
pub trait Tracer: Send + Sync {
    /// Starts a span named `name`, a child of `parent` or the root of a new
    /// trace. The span ends when the returned handle is dropped.
    fn start(&self, name: &str, parent: Option<&TraceContext>) -> Box<dyn Span>;
}

/// A running span; dropping it ends it.
pub trait Span: Send {
    /// This span's identity, for messages and outgoing requests to carry.
    fn context(&self) -> TraceContext;
    /// Marks the span as failed with `message`.
    fn set_error(&mut self, message: &str);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str) -> Option<String> {
        TraceContext::from_traceparent(header).map(|ctx| ctx.to_traceparent())
    }

    #[test]
    fn traceparent_round_trips_and_rejects_malformed_values() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(check(valid).as_deref(), Some(valid));
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert_eq!(check(unsampled).as_deref(), Some(unsampled));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(check(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(check("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
    }
}
