//! Logger setup from the `logger` section and `--log.level`: Benthos's
//! logfmt (default) or JSON lines, with its field names and static fields,
//! to stderr or to `logger.file.path`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use anyhow::Context as _;
use sluice_core::config::LoggerConfig;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Logfmt,
    Json,
}

/// Formats events the way Benthos's logger does.
struct BenthosFormat {
    format: Format,
    add_timestamp: bool,
    level_name: String,
    timestamp_name: String,
    message_name: String,
    static_fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.pairs.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name(), format!("{value:?}")));
        }
    }
}

fn level_text(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn logfmt_value(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control());
    if plain {
        out.push_str(value);
    } else {
        out.push('"');
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

impl<S, N> FormatEvent<S, N> for BenthosFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // Like logrus, which Benthos logs through: the time, level and
        // message first, then every other field sorted by key (a later
        // field of the same name wins).
        let mut pairs: Vec<(String, String)> = Vec::new();
        if self.add_timestamp {
            let now = chrono_like_now();
            pairs.push((self.timestamp_name.clone(), now));
        }
        pairs.push((
            self.level_name.clone(),
            level_text(*event.metadata().level()).to_owned(),
        ));
        pairs.push((self.message_name.clone(), fields.message));
        let mut rest: BTreeMap<String, String> = self.static_fields.clone();
        // The innermost span names the component, as Benthos's `path` does.
        if let Some(span) = ctx.event_scope().and_then(|mut scope| scope.next()) {
            rest.insert("path".to_owned(), format!("root.{}", span.name()));
        }
        for (k, v) in fields.pairs {
            rest.insert(k.to_owned(), v);
        }
        pairs.extend(rest);
        let mut line = String::new();
        match self.format {
            Format::Logfmt => {
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(k);
                    line.push('=');
                    logfmt_value(&mut line, v);
                }
            }
            Format::Json => {
                // Go marshals a map with its keys sorted: so do we.
                let map: BTreeMap<String, String> = pairs.into_iter().collect();
                line.push_str(&serde_json::to_string(&map).map_err(|_| fmt::Error)?);
            }
        }
        writeln!(writer, "{line}")
    }
}

// RFC 3339 in UTC with seconds precision, without a date-time dependency.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Where log lines go: `logger.file.path` instead of stderr when set, as in
/// Benthos, appended to and created if missing.
fn writer(config: &LoggerConfig) -> anyhow::Result<BoxMakeWriter> {
    let file = &config.file;
    if file.path.is_empty() {
        return Ok(BoxMakeWriter::new(std::io::stderr));
    }
    if file.rotate {
        anyhow::bail!("logger field file.rotate is not supported yet");
    }
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file.path)
        .with_context(|| format!("failed to open log file {}", file.path))?;
    Ok(BoxMakeWriter::new(Mutex::new(opened)))
}

/// Installs the configured subscriber. When the config's logger is unusable
/// (say its file cannot be opened), logs why with the default logger and
/// returns `false`: the command should stop.
pub(crate) fn init_configured(level: &str, config: &LoggerConfig) -> anyhow::Result<bool> {
    match init(level, config) {
        Ok(()) => Ok(true),
        Err(err) => {
            init("INFO", &LoggerConfig::default())?;
            tracing::error!("{err}");
            Ok(false)
        }
    }
}

/// Installs the global subscriber. `level` is a Benthos level name.
pub(crate) fn init(level: &str, config: &LoggerConfig) -> anyhow::Result<()> {
    let format = match config.format.as_str() {
        "logfmt" => Format::Logfmt,
        "json" => Format::Json,
        "gcp_errorreporting" => {
            anyhow::bail!("log format 'gcp_errorreporting' is not supported yet")
        }
        other => anyhow::bail!("log format '{other}' not recognized"),
    };
    let writer = writer(config)?;
    let directive = match level.to_ascii_uppercase().as_str() {
        "NONE" | "OFF" => "off",
        "FATAL" | "ERROR" => "error",
        "WARN" | "WARNING" => "warn",
        "DEBUG" => "debug",
        "TRACE" | "ALL" => "trace",
        _ => "info",
    };
    let filter = EnvFilter::new(format!(
        "{directive},hyper=warn,h2=warn,lapin=warn,rdkafka=warn"
    ));
    let format = BenthosFormat {
        format,
        add_timestamp: config.add_timestamp,
        level_name: config.level_name.clone(),
        timestamp_name: config.timestamp_name.clone(),
        message_name: config.message_name.clone(),
        static_fields: config.static_fields.clone(),
    };
    // Logs may already be initialised (tests calling twice); ignoring the
    // second attempt keeps the first subscriber.
    let res = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(format)
        .try_init();
    drop(res);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_logfmt_values_only_when_needed() {
        let mut out = String::new();
        logfmt_value(&mut out, "plain");
        out.push(' ');
        logfmt_value(&mut out, "two words \"q\"");
        assert_eq!(out, r#"plain "two words \"q\"""#);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let now = chrono_like_now();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z'));
    }
}
