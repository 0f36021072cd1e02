//! `http.debug_endpoints`: the running config at `/debug/config/json` and
//! `/debug/config/yaml`. Benthos also serves Go's profiler and goroutine
//! dumps there; those belong to the Go runtime and have no counterpart, so
//! a log line says which endpoints exist.

use bytes::Bytes;
use futures::FutureExt as _;
use http::StatusCode;
use sluice_components::{ApiResponse, SharedHttpServer};
use sluice_core::config::Node;

/// Adds the debug endpoints for the config `root`.
pub(crate) fn register(server: &SharedHttpServer, root: &Node) {
    let json = Bytes::from(root.to_json().to_string());
    let yaml = Bytes::from(root.to_yaml());
    server.register_api(
        "/debug/config/json",
        "Returns the loaded config as JSON.",
        move |_| {
            let body = json.clone();
            async move { answer(body, "application/json") }.boxed()
        },
    );
    server.register_api(
        "/debug/config/yaml",
        "Returns the loaded config as YAML.",
        move |_| {
            let body = yaml.clone();
            async move { answer(body, "application/x-yaml") }.boxed()
        },
    );
    tracing::info!(
        "Debug endpoints enabled: /debug/config/json and /debug/config/yaml (the Go profiling endpoints of Benthos have no equivalent)."
    );
}

fn answer(body: Bytes, content_type: &'static str) -> ApiResponse {
    ApiResponse {
        status: StatusCode::OK,
        body,
        content_type,
    }
}
