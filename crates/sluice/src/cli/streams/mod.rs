//! `sluice streams`: several named streams in one process, sharing one HTTP
//! server, managed through a REST API under `/streams`.

mod api;
pub(crate) mod json;
mod manager;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use sluice_components::SharedHttpServer;
use sluice_core::config::{Config, Lint, Node};
use tokio_util::sync::CancellationToken;

use super::CommonArgs;
use super::debug;
use super::host::StreamHost;
use super::load::{
    LoadOptions, environment_with_templates, format_lint, http_server_options, load_config,
    parse_sets,
};
use super::logging;
use super::telemetry::Telemetry;
use manager::{ManagerError, StreamManager};

/// Arguments of `sluice streams`.
#[derive(clap::Args)]
pub(crate) struct StreamsArgs {
    /// Stream config files or directories of them (`.yaml`, `.yml`); a
    /// stream is named after its file, relative to the directory given.
    paths: Vec<PathBuf>,
    /// Leave the `/streams` REST API out.
    #[arg(long = "no-api")]
    no_api: bool,
    /// Serve each stream's `http_server` endpoints under `/<stream name>`.
    #[arg(
        long = "prefix-stream-endpoints",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    prefix_stream_endpoints: bool,
    /// A config whose `http`, `logger` and `metrics` sections apply to the
    /// whole process.
    #[arg(short = 'o', long = "observability")]
    observability: Option<PathBuf>,
}

pub(crate) fn run(args: StreamsArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        sets: parse_sets(&common.set)?,
        env_files: common.env_file.clone(),
        resources: Vec::new(),
        templates: common.templates.clone(),
        chilled: false,
    };
    let (observability, root) = match load_observability(args.observability.as_deref(), &options)? {
        Ok(loaded) => loaded,
        Err(lints) => {
            let path = args.observability.as_deref().unwrap_or(Path::new("--set"));
            for lint in &lints {
                eprintln!("{}", format_lint(path, lint));
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let level = common
        .log_level
        .clone()
        .unwrap_or_else(|| observability.logger.level.clone());
    if !logging::init_configured(&level, &observability.logger)? {
        return Ok(ExitCode::FAILURE);
    }

    observability.bloblang.apply();
    let mut files = BTreeMap::new();
    for path in &args.paths {
        collect_files(path, &mut files)?;
    }
    let env = environment_with_templates(&options.templates)?;
    let runtime = crate::cli::runtime::multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        tokio::spawn(serve(args, env, observability, root, files))
            .await
            .context("the streams task panicked")?
    })
}

/// The process-wide config: the observability file, or defaults with the
/// `--set` values. Its `http` section must be usable.
fn load_observability(
    path: Option<&Path>,
    options: &LoadOptions,
) -> anyhow::Result<Result<(Config, Node), Vec<Lint>>> {
    let loaded = match path {
        Some(path) => load_config(path, options)?,
        None => {
            let lookup = |name: &str| std::env::var(name).ok();
            Config::load("", &lookup, &options.sets)
        }
    };
    Ok(loaded.and_then(|(config, root)| {
        http_server_options(&config, &root)?;
        Ok((config, root))
    }))
}

/// Adds the stream files under `path` to `files`, by stream name.
fn collect_files(path: &Path, files: &mut BTreeMap<String, PathBuf>) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("failed to read {}", path.display()))?;
    if !meta.is_dir() {
        return add_file(Path::new(""), path, files);
    }
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("failed to read {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let file = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(file);
            } else if file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                add_file(path, &file, files)?;
            }
        }
    }
    Ok(())
}

/// Names a stream after its file: the path relative to `dir`, without the
/// extension, with separators turned into `_`. Config test files are not
/// streams.
fn add_file(dir: &Path, file: &Path, files: &mut BTreeMap<String, PathBuf>) -> anyhow::Result<()> {
    let relative = file.strip_prefix(dir).unwrap_or(file);
    let name = relative
        .with_extension("")
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "_");
    if name.ends_with("_benthos_test") {
        return Ok(());
    }
    if files.insert(name.clone(), file.to_owned()).is_some() {
        anyhow::bail!("stream id ({name}) collision from file: {}", file.display());
    }
    Ok(())
}

async fn serve(
    args: StreamsArgs,
    env: sluice_core::environment::Environment,
    observability: Config,
    observability_root: Node,
    files: BTreeMap<String, PathBuf>,
) -> anyhow::Result<ExitCode> {
    let path = args.observability.clone().unwrap_or_default();
    let telemetry = match Telemetry::start(&observability, &path) {
        Ok(telemetry) => telemetry,
        Err(lints) => {
            lints
                .iter()
                .for_each(|l| tracing::error!("{}", format_lint(&path, l)));
            return Ok(ExitCode::FAILURE);
        }
    };
    let shared = SharedHttpServer::new(&observability.http.root_path, telemetry.served.clone());
    shared.set_ready_without_streams();
    let host = StreamHost::new(
        env,
        telemetry.metrics.clone(),
        Some(Arc::clone(&shared)),
        args.prefix_stream_endpoints,
        telemetry.tracer.clone(),
    );
    let manager = Arc::new(StreamManager::new(host));

    // Every file is read and started before the server listens; one with
    // problems stops the process, as `run` does.
    let mut failed = false;
    for (name, path) in &files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config {}", path.display()))?;
        match manager.create(name, &text).await {
            Ok(()) => {}
            Err(ManagerError::Invalid(lints)) => {
                lints
                    .iter()
                    .for_each(|l| tracing::error!("{}", format_lint(path, l)));
                failed = true;
            }
            Err(ManagerError::Exists | ManagerError::NotFound) => {
                anyhow::bail!("stream id ({name}) collision from file: {}", path.display());
            }
        }
    }
    if failed {
        tracing::error!("Shutting down due to stream config errors.");
        manager.stop_all().await;
        return Ok(ExitCode::FAILURE);
    }
    if !args.no_api {
        api::register(&shared, &manager);
    }

    if observability.http.debug_endpoints {
        debug::register(&shared, &observability_root);
    }
    let address = &observability.http.address;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("failed to bind to address {address}"))?;
    let bound = listener
        .local_addr()
        .map_or_else(|_| address.clone(), |a| a.to_string());
    let scheme = if observability.http.cert_file.is_empty() {
        "http"
    } else {
        "https"
    };
    tracing::info!("Listening for HTTP requests at: {scheme}://{bound}");
    let server_stop = CancellationToken::new();
    let options = http_server_options(&observability, &observability_root)
        .map_err(|lints| anyhow::anyhow!("{}", lints[0].message))?;
    let server = tokio::spawn(Arc::clone(&shared).serve(listener, options, server_stop.clone()));

    let draining = Arc::clone(&shared);
    super::run::wait_for_signal(
        CancellationToken::new(),
        observability.shutdown_delay.0,
        move || draining.begin_shutdown(),
    )
    .await;
    manager.stop_all().await;
    server_stop.cancel();
    if let Err(err) = server.await {
        tracing::warn!(error = %err, "HTTP server task failed.");
    }
    telemetry.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
