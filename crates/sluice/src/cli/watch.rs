//! `--watcher`: notices edits to the config file and builds the stream that
//! replaces the running one. A config with problems is refused and logged;
//! the running stream goes on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};
use sluice_core::config::{HttpConfig, LoggerConfig};
use tokio::sync::mpsc;

use super::host::{StagedStream, StreamHost};
use super::load::{LoadOptions, format_lint, load_config_tolerant};

/// Editors save in bursts (truncate, write, rename): a change counts once
/// the file has been quiet this long.
const SETTLE: Duration = Duration::from_millis(100);

/// Watches one config file and builds its new versions.
pub(crate) struct Reloader {
    path: PathBuf,
    options: LoadOptions,
    // Sections that only take effect at start, to warn when they change.
    http: HttpConfig,
    logger: LoggerConfig,
    // What the running stream was built from, to ignore saves that change
    // nothing.
    loaded: Option<String>,
    events: mpsc::UnboundedReceiver<()>,
    // Kept alive: dropping it stops the notifications.
    _watcher: notify::RecommendedWatcher,
}

impl Reloader {
    pub(crate) fn new(
        path: &Path,
        options: LoadOptions,
        http: HttpConfig,
        logger: LoggerConfig,
    ) -> anyhow::Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        let name = path.file_name().map(ToOwned::to_owned);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Only events about our file: the directory is watched so that a
                // save by rename (a new inode) is seen too.
                let ours = event.is_ok_and(|e| {
                    e.paths
                        .iter()
                        .any(|p| p.file_name().map(ToOwned::to_owned) == name)
                });
                if ours {
                    // The receiver is gone only while the process shuts down.
                    tx.send(()).ok();
                }
            })
            .context("failed to start the config watcher")?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("failed to watch {}", dir.display()))?;
        tracing::info!("Watching {} for changes.", path.display());
        Ok(Self {
            path: path.to_owned(),
            options,
            http,
            logger,
            loaded: std::fs::read_to_string(path).ok(),
            events,
            _watcher: watcher,
        })
    }

    /// Resolves when the file has changed and settled. `None` if the
    /// watcher stopped.
    pub(crate) async fn changed(&mut self) -> Option<()> {
        loop {
            self.events.recv().await?;
            while let Ok(Some(())) = tokio::time::timeout(SETTLE, self.events.recv()).await {}
            let text = std::fs::read_to_string(&self.path).ok();
            if text.is_some() && text != self.loaded {
                return Some(());
            }
        }
    }

    /// Reads and builds the file's current version. Problems are logged and
    /// give `None`: the running stream stays.
    pub(crate) fn build(&mut self, host: &StreamHost) -> Option<StagedStream> {
        let path = &self.path;
        tracing::info!("Config file {} changed, reloading.", path.display());
        let refused = || {
            tracing::error!("Config reload refused: the previous stream keeps running.");
        };
        let loaded = match load_config_tolerant(path, &self.options) {
            Ok(Ok((config, root, tolerated))) => {
                for lint in &tolerated {
                    tracing::warn!("{} (ignored with --chilled)", format_lint(path, lint));
                }
                (config, root)
            }
            Ok(Err(lints)) => {
                lints
                    .iter()
                    .for_each(|l| tracing::error!("{}", format_lint(path, l)));
                refused();
                return None;
            }
            Err(err) => {
                tracing::error!("{err:#}");
                refused();
                return None;
            }
        };
        let (config, root) = loaded;
        let staged = match host.build("", &config, &root) {
            Ok(staged) => staged,
            Err(lints) => {
                lints
                    .iter()
                    .for_each(|l| tracing::error!("{}", format_lint(path, l)));
                refused();
                return None;
            }
        };
        for warning in staged.warnings() {
            tracing::warn!("{}", format_lint(path, warning));
        }
        if config.http != self.http {
            tracing::warn!("Changes to the http section take effect after a restart.");
        }
        if config.logger != self.logger {
            tracing::warn!("Changes to the logger section take effect after a restart.");
        }
        self.loaded = std::fs::read_to_string(path).ok();
        Some(staged)
    }
}
