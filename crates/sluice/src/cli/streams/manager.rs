//! The set of named streams in streams mode: create, replace, delete, and
//! what the API reports about each.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use sluice_core::config::{Config, Lint, Node};
use tokio::sync::Mutex;

use crate::cli::host::{RunningStream, StreamHost};

/// Top-level sections a stream config may have: the process-wide ones
/// (`http`, `logger`, `metrics`...) belong to the observability config.
const STREAM_SECTIONS: [&str; 6] = [
    "input",
    "buffer",
    "pipeline",
    "output",
    "rate_limit_resources",
    "tests",
];

/// Why a change to the set of streams was not made.
pub(crate) enum ManagerError {
    /// The config has problems (lints or build errors), with their lines.
    Invalid(Vec<Lint>),
    /// No stream has that name.
    NotFound,
    /// A stream has that name already.
    Exists,
}

struct Managed {
    running: RunningStream,
    started: Instant,
    config: Value,
}

/// What the API shows about one stream.
pub(crate) struct StreamInfo {
    pub(crate) active: bool,
    pub(crate) uptime: std::time::Duration,
    pub(crate) config: Value,
}

/// The named streams of one process.
pub(crate) struct StreamManager {
    host: StreamHost,
    // One change at a time: a change builds, swaps and retires as one step.
    streams: Mutex<BTreeMap<String, Managed>>,
}

/// Parses a stream config, refusing process-wide sections.
pub(crate) fn parse_stream_config(text: &str) -> Result<(Config, Node), Vec<Lint>> {
    let lookup = |name: &str| std::env::var(name).ok();
    let (config, root) = Config::load(text, &lookup, &[])?;
    let misplaced: Vec<Lint> = root
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter_map(|(key, _)| {
            let name = key.as_str()?;
            (!STREAM_SECTIONS.contains(&name)).then(|| {
                Lint::error(
                    key.mark,
                    format!(
                        "field {name} is not allowed in a stream config: set it in the \
                         observability config (-o)"
                    ),
                )
            })
        })
        .collect();
    if misplaced.is_empty() {
        Ok((config, root))
    } else {
        Err(misplaced)
    }
}

impl StreamManager {
    pub(crate) fn new(host: StreamHost) -> Self {
        Self {
            host,
            streams: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts a new stream `name`.
    pub(crate) async fn create(&self, name: &str, text: &str) -> Result<(), ManagerError> {
        let mut streams = self.streams.lock().await;
        if streams.contains_key(name) {
            return Err(ManagerError::Exists);
        }
        let managed = self.start(name, text)?;
        streams.insert(name.to_owned(), managed);
        tracing::info!("Created stream '{name}'.");
        Ok(())
    }

    /// Replaces the stream `name` with one built from `text`. The old one
    /// answers the requests it already has, then stops.
    pub(crate) async fn update(&self, name: &str, text: &str) -> Result<(), ManagerError> {
        let mut streams = self.streams.lock().await;
        if !streams.contains_key(name) {
            return Err(ManagerError::NotFound);
        }
        self.replace(&mut streams, name, text)
    }

    /// Stops and removes the stream `name`, letting it finish what it has.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), ManagerError> {
        let mut streams = self.streams.lock().await;
        let managed = streams.remove(name).ok_or(ManagerError::NotFound)?;
        let retired = self.host.remove(name);
        managed.running.retire(retired).await;
        tracing::info!("Deleted stream '{name}'.");
        Ok(())
    }

    /// Makes the set of streams exactly `wanted`: others are deleted, the
    /// named ones replaced or created. Every config is checked before any
    /// stream changes.
    pub(crate) async fn set_all(
        &self,
        wanted: BTreeMap<String, String>,
    ) -> Result<(), Vec<(String, Vec<Lint>)>> {
        let problems: Vec<(String, Vec<Lint>)> = wanted
            .iter()
            .filter_map(|(name, text)| {
                parse_stream_config(text)
                    .and_then(|(config, root)| self.host.check(&config, &root))
                    .err()
                    .map(|lints| (name.clone(), lints))
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut streams = self.streams.lock().await;
        let gone: Vec<String> = streams
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(managed) = streams.remove(&name) {
                let retired = self.host.remove(&name);
                managed.running.retire(retired).await;
                tracing::info!("Deleted stream '{name}'.");
            }
        }
        let mut failures = Vec::new();
        for (name, text) in &wanted {
            let result = if streams.contains_key(name) {
                self.replace(&mut streams, name, text)
            } else {
                self.start(name, text).map(|managed| {
                    streams.insert(name.clone(), managed);
                })
            };
            if let Err(ManagerError::Invalid(lints)) = result {
                failures.push((name.clone(), lints));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    /// What the API shows about `name`.
    pub(crate) async fn read(&self, name: &str) -> Option<StreamInfo> {
        let streams = self.streams.lock().await;
        streams.get(name).map(info)
    }

    /// What the API shows about every stream.
    pub(crate) async fn list(&self) -> BTreeMap<String, StreamInfo> {
        let streams = self.streams.lock().await;
        streams.iter().map(|(n, m)| (n.clone(), info(m))).collect()
    }

    /// The config of `name`, for a patch.
    pub(crate) async fn config(&self, name: &str) -> Option<Value> {
        let streams = self.streams.lock().await;
        streams.get(name).map(|m| m.config.clone())
    }

    /// Stops every stream, each draining what it has.
    pub(crate) async fn stop_all(&self) {
        let mut streams = self.streams.lock().await;
        let all = std::mem::take(&mut *streams);
        futures::future::join_all(all.into_values().map(|m| m.running.stop())).await;
    }

    fn start(&self, name: &str, text: &str) -> Result<Managed, ManagerError> {
        let (config, root) = parse_stream_config(text).map_err(ManagerError::Invalid)?;
        let staged = self
            .host
            .build(name, &config, &root)
            .map_err(ManagerError::Invalid)?;
        for warning in staged.warnings() {
            tracing::warn!(
                "Stream '{name}': line {}: {}",
                warning.line,
                warning.message
            );
        }
        let (running, _) = self.host.start(staged);
        Ok(Managed {
            running,
            started: Instant::now(),
            config: root.to_json(),
        })
    }

    fn replace(
        &self,
        streams: &mut BTreeMap<String, Managed>,
        name: &str,
        text: &str,
    ) -> Result<(), ManagerError> {
        let (config, root) = parse_stream_config(text).map_err(ManagerError::Invalid)?;
        let staged = self
            .host
            .build(name, &config, &root)
            .map_err(ManagerError::Invalid)?;
        let (running, retired) = self.host.start(staged);
        let fresh = Managed {
            running,
            started: Instant::now(),
            config: root.to_json(),
        };
        if let Some(old) = streams.insert(name.to_owned(), fresh) {
            tokio::spawn(old.running.retire(retired));
        }
        tracing::info!("Updated stream '{name}'.");
        Ok(())
    }
}

fn info(managed: &Managed) -> StreamInfo {
    StreamInfo {
        active: managed.running.is_running(),
        uptime: managed.started.elapsed(),
        config: managed.config.clone(),
    }
}
