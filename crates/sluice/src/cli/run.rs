//! `sluice run` / `sluice -c`: runs one stream until it ends or a signal
//! arrives, then shuts down in two phases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_components::SharedHttpServer;
use sluice_components::tracers::TracerSetup;
use sluice_core::runtime::stream::Stream;
use tokio_util::sync::CancellationToken;

use super::CommonArgs;
use super::load::{
    LoadOptions, build_stream, environment, format_lint, is_error, load_config, parse_sets,
};
use super::{logging, metrics};

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

fn refuse_unsupported(common: &CommonArgs) -> anyhow::Result<()> {
    if !common.resources.is_empty() {
        anyhow::bail!("flag --resources is not supported yet");
    }
    if common.watcher {
        anyhow::bail!("flag --watcher is not supported yet");
    }
    if !common.templates.is_empty() {
        anyhow::bail!("flag --templates is not supported yet");
    }
    Ok(())
}

pub(crate) fn run(common: CommonArgs, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    refuse_unsupported(&common)?;
    let path = resolve_path(&common, file)?;
    let options = LoadOptions {
        sets: parse_sets(&common.set)?,
        env_files: common.env_file.clone(),
    };
    let (config, root) = match load_config(&path, &options)? {
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
    if let Err(err) = logging::init(&level, &config.logger) {
        // The configured logger is unusable: say why on stderr.
        logging::init("INFO", &sluice_core::config::LoggerConfig::default())?;
        tracing::error!("{err}");
        return Ok(ExitCode::FAILURE);
    }

    // On a single core (a container limit or `taskset`) a current-thread
    // runtime avoids the work-stealing scheduler's cross-thread wake-ups.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    // The stream runs as a task on the worker threads: driven from the
    // main thread by `block_on`, every request would cross threads twice.
    let chilled = common.chilled;
    runtime.block_on(async move {
        tokio::spawn(async move { run_stream(&path, config, root, chilled).await })
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
    chilled: bool,
) -> anyhow::Result<ExitCode> {
    let env = environment();
    let metrics_setup = match metrics::setup(config.metrics.as_ref()) {
        Ok(setup) => setup,
        Err(lints) => {
            report_lints(path, &lints);
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &metrics_setup.warnings {
        tracing::warn!("{}", format_lint(path, warning));
    }
    let metrics = metrics_setup.metrics;
    let tracer_setup = match TracerSetup::parse(config.tracer.as_ref()) {
        Ok(setup) => setup,
        Err(lints) => {
            report_lints(path, &lints);
            return Ok(ExitCode::FAILURE);
        }
    };
    let running_tracer = match tracer_setup.start(tokio::runtime::Handle::current()) {
        Ok(running) => running,
        Err(err) => {
            tracing::error!("{err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let tracer = running_tracer.as_ref().map(|t| Arc::clone(&t.tracer));
    let served = metrics_setup.served.then(|| metrics.clone());
    let shared = config
        .http
        .enabled
        .then(|| SharedHttpServer::new(&config.http.root_path, served));
    let built = match build_stream(
        &env,
        &config,
        &root,
        &metrics,
        shared.clone(),
        tracer.clone(),
        false,
    ) {
        Ok(built) => built,
        Err(lints) => {
            let fatal = lints.iter().any(is_error);
            report_lints(path, &lints);
            if fatal || !chilled {
                return Ok(ExitCode::FAILURE);
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &built.warnings {
        tracing::warn!("{}", format_lint(path, warning));
    }

    let server_stop = CancellationToken::new();
    let mut server_task = None;
    if let Some(shared) = &shared {
        let listener = tokio::net::TcpListener::bind(&config.http.address)
            .await
            .with_context(|| format!("failed to bind to address {}", config.http.address))?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| config.http.address.clone(), |a| a.to_string());
        tracing::info!("Listening for HTTP requests at: http://{bound}");
        server_task = Some(tokio::spawn(
            Arc::clone(shared).serve(listener, server_stop.clone()),
        ));
    } else if config.input.get("http_server").is_some() {
        tracing::warn!(
            "http.enabled is false: an http_server input without an address receives nothing."
        );
    }

    let threads = match config.pipeline.threads {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let stream = Stream {
        input: built.input,
        pipeline: built.pipeline,
        threads,
        output: built.output,
        output_type: built.output_type,
        shutdown_timeout: config.shutdown_timeout.0,
        metrics,
        tracer,
    };
    let stop = CancellationToken::new();
    tokio::spawn(wait_for_signal(stop.clone(), config.shutdown_delay.0));
    let readiness_server = shared.clone();
    stream
        .run(stop, move |readiness| {
            if let Some(server) = readiness_server {
                server.add_readiness_check(move || readiness.statuses());
            }
        })
        .await;
    server_stop.cancel();
    if let Some(task) = server_task
        && let Err(err) = task.await
    {
        tracing::warn!(error = %err, "HTTP server task failed.");
    }
    if let Some(running) = running_tracer {
        // Flushing blocks until the exporter has sent what it buffered; the
        // sends themselves run on this runtime, so wait off its threads.
        match tokio::task::spawn_blocking(move || running.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("{err}"),
            Err(err) => tracing::warn!(error = %err, "Trace flush task failed."),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal(stop: CancellationToken, delay: std::time::Duration) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::error!(error = %err, "Failed to listen for SIGTERM.");
                    drop(ctrl_c.await);
                    stop.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("Received shutdown signal, draining in-flight messages.");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    stop.cancel();
}
