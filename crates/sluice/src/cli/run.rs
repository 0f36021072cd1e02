//! `sluice run` / `sluice -c`: runs one stream until it ends or a signal
//! arrives, then shuts down in two phases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_components::SharedHttpServer;
use tokio_util::sync::CancellationToken;

use super::CommonArgs;
use super::debug;
use super::host::StreamHost;
use super::load::{
    LoadOptions, environment_with_templates, format_lint, http_server_options,
    load_config_tolerant, parse_sets,
};
use super::logging;
use super::telemetry::Telemetry;
use super::watch::Reloader;

/// How `run` runs the stream beyond its config.
struct RunOptions {
    /// How to read the config again on reload.
    load: LoadOptions,
    /// Reload when the config file changes.
    watch: bool,
}

const DEFAULT_PATHS: [&str; 3] = [
    "/benthos.yaml",
    "/etc/benthos/config.yaml",
    "/etc/benthos.yaml",
];

fn resolve_path(common: &CommonArgs, file: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = file.or_else(|| common.config.clone()) {
        return Ok(path);
    }
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no config file given (use -c FILE)")
}

pub(crate) fn run(common: CommonArgs, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = resolve_path(&common, file)?;
    let options = LoadOptions {
        sets: parse_sets(&common.set)?,
        env_files: common.env_file.clone(),
        resources: common.resources.clone(),
        templates: common.templates.clone(),
        chilled: common.chilled,
    };
    let (config, root, tolerated) = match load_config_tolerant(&path, &options)? {
        Ok(loaded) => loaded,
        Err(lints) => {
            logging::init("INFO", &sluice_core::config::LoggerConfig::default())?;
            report_lints(&path, &lints);
            return Ok(ExitCode::FAILURE);
        }
    };
    let level = common
        .log_level
        .clone()
        .unwrap_or_else(|| config.logger.level.clone());
    if !logging::init_configured(&level, &config.logger)? {
        return Ok(ExitCode::FAILURE);
    }
    for lint in &tolerated {
        tracing::warn!("{} (ignored with --chilled)", format_lint(&path, lint));
    }

    // On a single core (a container limit or `taskset`) a current-thread
    // runtime avoids the work-stealing scheduler's cross-thread wake-ups.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores == 1 {
        crate::cli::runtime::current_thread()
    } else {
        crate::cli::runtime::multi_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    config.bloblang.apply();
    // The stream runs as a task on the worker threads: driven from the
    // main thread by `block_on`, every request would cross threads twice.
    let run_options = RunOptions {
        load: options,
        watch: common.watcher,
    };
    runtime.block_on(async move {
        tokio::spawn(async move { run_stream(&path, config, root, run_options).await })
            .await
            .context("the stream task panicked")?
    })
}

fn report_lints(path: &Path, lints: &[sluice_core::config::Lint]) {
    for lint in lints {
        tracing::error!("{}", format_lint(path, lint));
    }
    tracing::error!(
        "Shutting down due to linter errors, to prevent shutdown run sluice with --chilled."
    );
}

async fn run_stream(
    path: &Path,
    config: sluice_core::config::Config,
    root: sluice_core::config::Node,
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
    let env = environment_with_templates(&options.load.templates)?;
    // Watching starts first, so no edit made once the process runs is missed.
    let reloader = options
        .watch
        .then(|| {
            Reloader::new(
                path,
                options.load,
                config.http.clone(),
                config.logger.clone(),
            )
        })
        .transpose()?;
    let telemetry = match Telemetry::start(&config, path) {
        Ok(telemetry) => telemetry,
        Err(lints) => {
            report_lints(path, &lints);
            return Ok(ExitCode::FAILURE);
        }
    };
    let served = telemetry.served.clone();
    let shared = config
        .http
        .enabled
        .then(|| SharedHttpServer::new(&config.http.root_path, served));
    let host = StreamHost::new(
        env,
        telemetry.metrics.clone(),
        shared.clone(),
        false,
        telemetry.tracer.clone(),
    );
    let staged = match host.build("", &config, &root) {
        Ok(staged) => staged,
        Err(lints) => {
            // Build problems stop the run even with --chilled: a component
            // that cannot be built cannot run.
            report_lints(path, &lints);
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in staged.warnings() {
        tracing::warn!("{}", format_lint(path, warning));
    }

    // Signal handlers go in before anything can answer, so that a signal
    // sent as soon as the service responds stops it gracefully.
    let stop = CancellationToken::new();
    let draining = shared.clone();
    let signals = wait_for_signal(stop.clone(), config.shutdown_delay.0, move || {
        if let Some(shared) = draining {
            shared.begin_shutdown();
        }
    });
    // Endpoints go live before the server listens: the first request
    // already finds them.
    let (mut current, _) = host.start(staged);
    let server_stop = CancellationToken::new();
    let mut server_task = None;
    if let Some(shared) = &shared {
        let listener = tokio::net::TcpListener::bind(&config.http.address)
            .await
            .with_context(|| format!("failed to bind to address {}", config.http.address))?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| config.http.address.clone(), |a| a.to_string());
        let scheme = if config.http.cert_file.is_empty() {
            "http"
        } else {
            "https"
        };
        tracing::info!("Listening for HTTP requests at: {scheme}://{bound}");
        let options = http_server_options(&config, &root)
            .map_err(|lints| anyhow::anyhow!("{}", lints[0].message))?;
        if config.http.debug_endpoints {
            debug::register(shared, &root);
        }
        server_task = Some(tokio::spawn(Arc::clone(shared).serve(
            listener,
            options,
            server_stop.clone(),
        )));
    } else if config.input.get("http_server").is_some() {
        tracing::warn!(
            "http.enabled is false: an http_server input without an address receives nothing."
        );
    }

    tokio::spawn(signals);
    if let Some(mut reloader) = reloader {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = current.finished() => break,
                Some(()) = reloader.changed() => {
                    if let Some(staged) = reloader.build(&host) {
                        let (next, retired) = host.start(staged);
                        let old = std::mem::replace(&mut current, next);
                        tracing::info!("Config reloaded: the new stream is running.");
                        tokio::spawn(old.retire(retired));
                    }
                }
            }
        }
    } else {
        tokio::select! {
            () = stop.cancelled() => {}
            () = current.finished() => {}
        }
    }
    current.stop().await;
    server_stop.cancel();
    if let Some(task) = server_task
        && let Err(err) = task.await
    {
        tracing::warn!(error = %err, "HTTP server task failed.");
    }
    telemetry.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGINT or SIGTERM, calls `on_signal` at once, then cancels
/// `stop` after `delay`. The handlers are installed when this is called, not
/// when the future first runs, so a signal sent as soon as the service
/// answers is not missed.
pub(crate) fn wait_for_signal(
    stop: CancellationToken,
    delay: std::time::Duration,
    on_signal: impl FnOnce() + Send + 'static,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::interrupt()).and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
    };
    async move {
        #[cfg(unix)]
        match signals {
            Ok((mut int, mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "Failed to listen for SIGTERM.");
                drop(tokio::signal::ctrl_c().await);
                stop.cancel();
                return;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        on_signal();
        shut_down(stop, delay).await;
    }
}

async fn shut_down(stop: CancellationToken, delay: std::time::Duration) {
    tracing::info!("Received shutdown signal, draining in-flight messages.");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    stop.cancel();
}
