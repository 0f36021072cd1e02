//! `system_window` buffer: groups messages into tumbling (or, with
//! `slide`, sliding) windows of the system clock, by a timestamp from
//! `timestamp_mapping`, and hands each window out as one batch once the
//! clock has passed its end (plus `allowed_lateness`). A message is
//! acknowledged when the first window holding it was delivered, or when it
//! is dropped for being too old.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::{Mapping, Root, Value};
use sluice_core::component::buffer::{Buffer, BufferError, WriteRejected};
use sluice_core::config::{Lint, Node, parse_go_duration};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use sluice_core::transaction::{Ack, DeliveryError, Outcome, Transaction};
use tokio_util::sync::CancellationToken;

fn default_timestamp_mapping() -> String {
    "root = now()".to_owned()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SystemWindowConfig {
    /// A mapping giving each message's timestamp: unix seconds or an RFC 3339 string (`now()`, the processing time, by default).
    #[serde(default = "default_timestamp_mapping")]
    #[schemars(with = "sluice_core::config::json_schema::MappingText")]
    timestamp_mapping: String,
    /// The length of each window; windows are aligned to the UTC clock's zeroth hour.
    #[schemars(with = "sluice_core::config::GoDuration")]
    size: String,
    /// How far each window's start follows the previous one's, for sliding windows ("" = tumbling); shorter than size.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::GoDuration")]
    slide: String,
    /// Moves window starts away from the zeroth hour (may be negative); shorter than size and slide.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::GoDuration")]
    offset: String,
    /// How long after its end a window waits for late messages before it is flushed; shorter than size.
    #[serde(default)]
    #[schemars(with = "sluice_core::config::GoDuration")]
    allowed_lateness: String,
}

/// Seconds from Go's zero time (year 1) to the unix epoch: Go rounds times
/// from its zero time, so windows of sizes that do not divide a day line up
/// as in Benthos only when counted from there.
const GO_ZERO_TO_UNIX_SECS: i128 = 62_135_596_800;
const NANOS: i128 = 1_000_000_000;

/// Nanoseconds since Go's zero time.
type Nanos = i128;

fn now() -> Nanos {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    GO_ZERO_TO_UNIX_SECS * NANOS + since_epoch.as_nanos() as i128
}

fn nanos_of(t: &DateTime<FixedOffset>) -> Nanos {
    GO_ZERO_TO_UNIX_SECS * NANOS
        + i128::from(t.timestamp()) * NANOS
        + i128::from(t.timestamp_subsec_nanos())
}

/// Go's `time.Format(time.RFC3339Nano)` of `t` in UTC.
fn rfc3339_nano(t: Nanos) -> String {
    let unix = t - GO_ZERO_TO_UNIX_SECS * NANOS;
    let secs = i64::try_from(unix.div_euclid(NANOS)).unwrap_or_default();
    let subsec = u32::try_from(unix.rem_euclid(NANOS)).unwrap_or_default();
    let at = DateTime::<Utc>::from_timestamp(secs, subsec).unwrap_or_default();
    Value::Timestamp(at.fixed_offset()).to_interp_string()
}

/// Go's `Time.Round(d)`: the nearest multiple of `d` since the zero time,
/// halves rounded up.
fn round(t: Nanos, d: Nanos) -> Nanos {
    let rest = t.rem_euclid(d);
    if rest + rest < d {
        t - rest
    } else {
        t + d - rest
    }
}

struct Pending {
    ts: Nanos,
    msg: Message,
    /// Taken by the first window that delivers the message.
    ack: Option<Ack>,
}

struct State {
    latest_flushed_end: Nanos,
    oldest: Nanos,
    pending: Vec<Pending>,
}

struct SystemWindow {
    mapping: Mapping,
    size: Nanos,
    slide: Nanos,
    offset: Nanos,
    allowed_lateness: Nanos,
    state: Mutex<State>,
    ended: CancellationToken,
}

/// A window: its first and last instants, both included.
#[derive(Clone, Copy)]
struct Window {
    start: Nanos,
    end: Nanos,
}

impl SystemWindow {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("system_window lock poisoned")
    }

    fn epoch(&self) -> Nanos {
        if self.slide > 0 {
            self.slide
        } else {
            self.size
        }
    }

    /// The previous window and the next one to flush, at `now`.
    fn windows(&self, now: Nanos) -> (Window, Window) {
        let epoch = self.epoch();
        // One nanosecond past the rounded instant, so that a window does not
        // share its first instant with the end of the one before.
        let mut start = round(now, epoch) + 1 + self.offset;
        if start > now {
            start -= epoch;
        }
        if self.slide > 0 {
            start += self.slide - self.size;
        }
        let next = Window {
            start,
            end: start + self.size - 1,
        };
        let prev = Window {
            start: next.start - epoch,
            end: next.end - epoch,
        };
        (prev, next)
    }

    fn timestamp(&self, batch: &[Message], index: usize) -> Result<Nanos, String> {
        let output = self
            .mapping
            .exec(batch, index)
            .map_err(|e| format!("timestamp mapping failed: {e}"))?;
        let value = match output.root {
            Root::Value(value) => value,
            Root::Nothing => match batch[index].structured() {
                Ok(value) => value.clone(),
                Err(_) => Value::from(String::from_utf8_lossy(batch[index].content()).as_ref()),
            },
            Root::Deleted => {
                return Err("timestamp mapping failed: the message was deleted".to_owned());
            }
        };
        value
            .to_timestamp()
            .map(|t| nanos_of(&t))
            .map_err(|e| format!("unable to parse result of timestamp mapping as timestamp: {e}"))
    }

    /// Takes the messages of `window` out as a batch; messages no later
    /// window can hold are dropped (and acknowledged).
    fn flush(&self, window: Window) -> Option<Transaction> {
        let next_start = window.start + self.epoch();
        let now = now();
        let mut state = self.lock();
        let mut messages = Vec::new();
        let mut acks = Vec::new();
        let mut dropped = Vec::new();
        let mut oldest = now;
        let end_text = rfc3339_nano(window.end);
        for mut pending in std::mem::take(&mut state.pending) {
            let in_window = pending.ts >= window.start && pending.ts <= window.end;
            let keep = pending.ts >= next_start;
            if in_window {
                let mut msg = pending.msg.clone();
                msg.set_meta("window_end_timestamp", Value::from(end_text.as_str()));
                messages.push(msg);
                acks.extend(pending.ack.take());
            }
            if keep {
                oldest = oldest.min(pending.ts);
                state.pending.push(pending);
            } else if let Some(ack) = pending.ack.take() {
                dropped.push(ack);
            }
        }
        state.latest_flushed_end = window.end;
        state.oldest = oldest;
        drop(state);
        for ack in dropped {
            ack.resolve(Outcome::Delivered);
        }
        if messages.is_empty() {
            return None;
        }
        Some(Transaction::new(Batch::new(messages), Ack::merge(acks)))
    }
}

#[async_trait]
impl Buffer for SystemWindow {
    async fn write(&self, tx: Transaction) -> Result<(), WriteRejected> {
        if self.ended.is_cancelled() {
            return Err(WriteRejected {
                tx,
                error: BufferError::WindowIncomplete,
            });
        }
        let messages: &[Message] = &tx.batch;
        let mut stamps = Vec::with_capacity(messages.len());
        for index in 0..messages.len() {
            match self.timestamp(messages, index) {
                Ok(ts) => stamps.push(ts),
                Err(reason) => {
                    tracing::error!(error = %reason, "Timestamp mapping failed for message.");
                    return Err(WriteRejected {
                        tx,
                        error: BufferError::Timestamp(reason.into()),
                    });
                }
            }
        }
        let now = now();
        let (prev, _) = self.windows(now);
        let Transaction { batch, ack } = tx;
        let acks = ack.split(batch.len());
        let mut done = Vec::new();
        let mut state = self.lock();
        // When the output has fallen behind by more than a window, messages
        // older than the previous window are dropped to bound memory.
        if state.latest_flushed_end < prev.start && state.oldest < prev.start {
            let mut oldest = now;
            for mut pending in std::mem::take(&mut state.pending) {
                if pending.ts < prev.start {
                    done.extend(pending.ack.take());
                } else {
                    oldest = oldest.min(pending.ts);
                    state.pending.push(pending);
                }
            }
            state.oldest = oldest;
        }
        for ((msg, ts), ack) in batch.into_messages().into_iter().zip(stamps).zip(acks) {
            // Too old for any window still to come: dropped, acknowledged.
            if ts <= state.latest_flushed_end {
                done.push(ack);
                continue;
            }
            state.oldest = state.oldest.min(ts);
            state.pending.push(Pending {
                ts,
                msg,
                ack: Some(ack),
            });
        }
        drop(state);
        for ack in done {
            ack.resolve(Outcome::Delivered);
        }
        Ok(())
    }

    async fn read(&self) -> Result<Transaction, BufferError> {
        let (prev, mut next) = self.windows(now());
        // Not read since the previous window ended: back-fill it first.
        if self.lock().latest_flushed_end < prev.start
            && let Some(tx) = self.flush(prev)
        {
            return Ok(tx);
        }
        loop {
            let wait = next.end - now() + self.allowed_lateness;
            if wait > 0 {
                let wait = Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX));
                tokio::select! {
                    () = self.ended.cancelled() => return Err(BufferError::EndOfBuffer),
                    () = tokio::time::sleep(wait) => {}
                }
            } else if self.ended.is_cancelled() {
                return Err(BufferError::EndOfBuffer);
            }
            if let Some(tx) = self.flush(next) {
                return Ok(tx);
            }
            // Nothing in that window: on to the next.
            next = self.windows(now()).1;
        }
    }

    fn stopping(&self) {
        self.end_of_input();
    }

    fn end_of_input(&self) {
        if self.ended.is_cancelled() {
            return;
        }
        self.ended.cancel();
        // Unfinished windows are nacked, so that an input that redelivers
        // brings them back on the next run (as Benthos does).
        let pending = std::mem::take(&mut self.lock().pending);
        for mut pending in pending {
            if let Some(ack) = pending.ack.take() {
                ack.resolve(Outcome::Failed(DeliveryError::Buffer(Arc::new(
                    BufferError::WindowIncomplete,
                ))));
            }
        }
    }
}

/// A duration field: "" is zero when `optional`; `offset` may be negative.
fn duration(
    text: &str,
    name: &str,
    optional: bool,
    mark: sluice_core::config::Mark,
) -> BuildResult<Nanos> {
    if optional && text.is_empty() {
        return Ok(0);
    }
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) if name == "offset" => (true, rest),
        _ => (false, text),
    };
    let parsed = parse_go_duration(magnitude).map_err(|e| {
        vec![Lint::error(
            mark,
            format!("failed to parse field '{name}' as duration: {e}"),
        )]
    })?;
    let nanos = parsed.as_nanos() as i128;
    Ok(if negative { -nanos } else { nanos })
}

pub(crate) fn build(
    node: &Node,
    builder: &mut Builder<'_>,
) -> BuildResult<Option<Arc<dyn Buffer>>> {
    let config: SystemWindowConfig = builder.config(node)?;
    let mark_of = |field: &str| node.get(field).map_or(node.mark, |n| n.mark);
    let size = duration(&config.size, "size", false, mark_of("size"))?;
    let slide = duration(&config.slide, "slide", true, mark_of("slide"))?;
    let offset = duration(&config.offset, "offset", true, mark_of("offset"))?;
    let allowed_lateness = duration(
        &config.allowed_lateness,
        "allowed_lateness",
        true,
        mark_of("allowed_lateness"),
    )?;
    let show = |nanos: Nanos| {
        let text = sluice_core::config::GoDuration(Duration::from_nanos(
            u64::try_from(nanos.abs()).unwrap_or(u64::MAX),
        ))
        .to_string();
        if nanos < 0 { format!("-{text}") } else { text }
    };
    let problem = if slide >= size {
        Some((
            "slide",
            format!(
                "invalid window slide '{}' must be lower than the size '{}'",
                show(slide),
                show(size)
            ),
        ))
    } else if offset >= size {
        Some((
            "offset",
            format!(
                "invalid offset '{}' must be lower than the size '{}'",
                show(offset),
                show(size)
            ),
        ))
    } else if slide > 0 && offset >= slide {
        Some((
            "offset",
            format!(
                "invalid offset '{}' must be lower than the slide '{}'",
                show(offset),
                show(slide)
            ),
        ))
    } else if allowed_lateness >= size {
        Some((
            "allowed_lateness",
            format!(
                "invalid allowed_lateness '{}' must be lower than the size '{}'",
                show(allowed_lateness),
                show(size)
            ),
        ))
    } else {
        None
    };
    if let Some((field, message)) = problem {
        return Err(vec![Lint::error(mark_of(field), message)]);
    }
    let mapping = match node.get("timestamp_mapping") {
        Some(text) => builder.mapping(text)?,
        None => Mapping::parse(&config.timestamp_mapping).map_err(|e| {
            vec![Lint::error(
                node.mark,
                format!("failed to parse mapping: {e}"),
            )]
        })?,
    };
    Ok(Some(Arc::new(SystemWindow {
        mapping,
        size,
        slide,
        offset,
        allowed_lateness,
        state: Mutex::new(State {
            // Go's zero time: nothing has been flushed yet.
            latest_flushed_end: 0,
            oldest: now(),
            pending: Vec::new(),
        }),
        ended: CancellationToken::new(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Nanos {
        nanos_of(&DateTime::parse_from_rfc3339(text).unwrap())
    }

    fn window(size: &str, slide: &str, offset: &str, now: &str) -> (String, String) {
        let nanos =
            |t: &str| duration(t, "offset", true, sluice_core::config::Mark::default()).unwrap();
        let buffer = SystemWindow {
            mapping: Mapping::parse("root = now()").unwrap(),
            size: nanos(size),
            slide: nanos(slide),
            offset: nanos(offset),
            allowed_lateness: 0,
            state: Mutex::new(State {
                latest_flushed_end: 0,
                oldest: 0,
                pending: Vec::new(),
            }),
            ended: CancellationToken::new(),
        };
        let (_, next) = buffer.windows(at(now));
        (rfc3339_nano(next.start), rfc3339_nano(next.end))
    }

    #[tokio::test]
    async fn a_sliding_window_acks_a_message_at_its_first_delivery() {
        let buffer = SystemWindow {
            mapping: Mapping::parse("root = this.ts").unwrap(),
            size: 2 * NANOS,
            slide: NANOS,
            offset: 0,
            allowed_lateness: 0,
            state: Mutex::new(State {
                latest_flushed_end: 0,
                oldest: now(),
                pending: Vec::new(),
            }),
            ended: CancellationToken::new(),
        };
        // Whole seconds a little ahead, so that nothing is late.
        let unix = (now() / NANOS - GO_ZERO_TO_UNIX_SECS + 10) as f64;
        let message = |ts: f64| Message::new(format!(r#"{{"ts":{ts}}}"#));
        let (ack, delivery) = Ack::pair();
        let batch = Batch::new(vec![message(unix + 0.5), message(unix + 1.5)]);
        buffer.write(Transaction::new(batch, ack)).await.unwrap();
        let start = (GO_ZERO_TO_UNIX_SECS + unix as i128) * NANOS + 1;
        let first = buffer
            .flush(Window {
                start,
                end: start + 2 * NANOS - 1,
            })
            .unwrap();
        assert_eq!(first.batch.len(), 2);
        first.ack.resolve(Outcome::Delivered);
        assert!(delivery.await.is_delivered(), "acked by the first window");
        // The later message is also in the next window, once more.
        let second = buffer
            .flush(Window {
                start: start + NANOS,
                end: start + 3 * NANOS - 1,
            })
            .unwrap();
        let contents: Vec<_> = second.batch.iter().map(|m| m.content().to_vec()).collect();
        assert_eq!(contents, [message(unix + 1.5).content().to_vec()]);
        let end = second.batch[0]
            .metadata()
            .get("window_end_timestamp")
            .cloned();
        assert_eq!(end, Some(Value::from(rfc3339_nano(start + 3 * NANOS - 1))));
        second.ack.resolve(Outcome::Delivered);
    }

    #[test]
    fn windows_follow_the_utc_clock() {
        let check = |size, slide, offset, now, expected: (&str, &str)| {
            let (start, end) = window(size, slide, offset, now);
            assert_eq!(
                (start.as_str(), end.as_str()),
                expected,
                "{size} {slide} {offset} {now}"
            );
        };
        check(
            "1h",
            "",
            "",
            "2021-08-07T09:49:35Z",
            ("2021-08-07T09:00:00.000000001Z", "2021-08-07T10:00:00Z"),
        );
        check(
            "1h",
            "",
            "",
            "2021-08-07T09:00:00Z",
            ("2021-08-07T08:00:00.000000001Z", "2021-08-07T09:00:00Z"),
        );
        check(
            "1h",
            "",
            "30m",
            "2021-08-07T09:49:35Z",
            ("2021-08-07T09:30:00.000000001Z", "2021-08-07T10:30:00Z"),
        );
        check(
            "1h",
            "",
            "-6m",
            "2021-08-07T09:49:35Z",
            ("2021-08-07T08:54:00.000000001Z", "2021-08-07T09:54:00Z"),
        );
        check(
            "1h",
            "10m",
            "",
            "2021-08-07T09:49:35Z",
            ("2021-08-07T08:50:00.000000001Z", "2021-08-07T09:50:00Z"),
        );
    }
}
