//! Logger setup from the `logger` section and `--log.level`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is a Benthos level name.
pub(crate) fn init(level: &str, format: &str, add_timestamp: bool) {
    let directive = match level.to_ascii_uppercase().as_str() {
        "NONE" | "OFF" => "off",
        "FATAL" | "ERROR" => "error",
        "WARN" | "WARNING" => "warn",
        "DEBUG" => "debug",
        "TRACE" | "ALL" => "trace",
        _ => "info",
    };
    let filter = EnvFilter::new(format!("{directive},hyper=warn,h2=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    // Logs may already be initialised (tests calling twice); ignoring the
    // second attempt keeps the first subscriber.
    let res = match (format, add_timestamp) {
        ("json", true) => builder.json().try_init(),
        ("json", false) => builder.json().without_time().try_init(),
        (_, true) => builder.try_init(),
        (_, false) => builder.without_time().try_init(),
    };
    drop(res);
}
