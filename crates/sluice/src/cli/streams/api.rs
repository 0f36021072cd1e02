//! The streams REST API under `/streams`, with Benthos's paths, bodies and
//! statuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sluice_components::{ApiRequest, ApiResponse, SharedHttpServer};
use sluice_core::config::{GoDuration, Lint, Node};

use super::json::patch_config;
use super::manager::{ManagerError, StreamInfo, StreamManager};

/// Adds the `/streams` endpoints to `server`.
pub(crate) fn register(server: &SharedHttpServer, manager: &Arc<StreamManager>) {
    let m = Arc::clone(manager);
    server.register_api(
        "/streams",
        "GET: lists every stream with its status and uptime. POST: replaces the whole set of \
         streams with an object of stream names to configs.",
        move |req| {
            let m = Arc::clone(&m);
            async move { streams(&m, req).await }.boxed()
        },
    );
    let m = Arc::clone(manager);
    server.register_api(
        "/streams/{id}",
        "POST creates, GET reads, PUT replaces, PATCH updates and DELETE removes one stream.",
        move |req| {
            let m = Arc::clone(&m);
            async move { stream(&m, req).await }.boxed()
        },
    );
}

async fn streams(manager: &StreamManager, req: ApiRequest) -> ApiResponse {
    match req.method {
        Method::GET => {
            let list: serde_json::Map<String, Value> = manager
                .list()
                .await
                .into_iter()
                .map(|(name, info)| (name, status(&info)))
                .collect();
            json_response(StatusCode::OK, &Value::Object(list))
        }
        Method::POST => {
            let set = match parse_set(&req.body) {
                Ok(set) => set,
                Err(err) => return text(StatusCode::BAD_REQUEST, &format!("Error: {err}")),
            };
            match manager.set_all(set).await {
                Ok(()) => text(StatusCode::OK, ""),
                Err(problems) => {
                    let mut lints: Vec<String> = problems
                        .iter()
                        .flat_map(|(name, lints)| {
                            lints
                                .iter()
                                .map(move |l| format!("stream '{name}': {}", line_message(l)))
                        })
                        .collect();
                    lints.sort();
                    json_response(StatusCode::BAD_REQUEST, &json!({ "lint_errors": lints }))
                }
            }
        }
        _ => text(StatusCode::BAD_REQUEST, "Error: method not supported"),
    }
}

async fn stream(manager: &StreamManager, req: ApiRequest) -> ApiResponse {
    let Some(name) = req
        .params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
    else {
        return text(StatusCode::BAD_REQUEST, "Var `id` must be set");
    };
    let body = || String::from_utf8_lossy(&req.body).into_owned();
    let result = match req.method {
        Method::GET => {
            return match manager.read(&name).await {
                Some(info) => {
                    let mut shown = status(&info);
                    shown["config"] = info.config;
                    json_response(StatusCode::OK, &shown)
                }
                None => text(StatusCode::NOT_FOUND, "Stream not found"),
            };
        }
        Method::POST => manager.create(&name, &body()).await,
        Method::PUT => manager.update(&name, &body()).await,
        Method::DELETE => manager.delete(&name).await,
        Method::PATCH => match manager.config(&name).await {
            None => Err(ManagerError::NotFound),
            Some(mut config) => match Node::parse(&body()) {
                Err(lint) => Err(ManagerError::Invalid(vec![lint])),
                Ok(patch) => {
                    patch_config(&mut config, patch.to_json());
                    manager.update(&name, &config.to_string()).await
                }
            },
        },
        other => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Error: verb not supported: {other}"),
            );
        }
    };
    match result {
        Ok(()) => text(StatusCode::OK, ""),
        Err(ManagerError::NotFound) => text(StatusCode::NOT_FOUND, "Stream not found"),
        Err(ManagerError::Exists) => text(StatusCode::BAD_REQUEST, "Stream already exists"),
        Err(ManagerError::Invalid(lints)) => {
            let lints: Vec<String> = lints.iter().map(line_message).collect();
            json_response(StatusCode::BAD_REQUEST, &json!({ "lint_errors": lints }))
        }
    }
}

/// The body of `POST /streams`: stream names to configs, as YAML or JSON.
fn parse_set(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let root = Node::parse(text).map_err(|l| line_message(&l))?;
    let entries = root
        .as_map()
        .ok_or_else(|| "expected an object of stream names to configs".to_owned())?;
    entries
        .iter()
        .map(|(key, value)| {
            let name = key
                .as_str()
                .ok_or_else(|| "stream names must be strings".to_owned())?;
            Ok((name.to_owned(), value.to_yaml()))
        })
        .collect()
}

fn status(info: &StreamInfo) -> Value {
    json!({
        "active": info.active,
        "uptime": info.uptime.as_secs_f64(),
        "uptime_str": GoDuration(info.uptime).to_string(),
    })
}

fn line_message(lint: &Lint) -> String {
    format!("line {}: {}", lint.line, lint.message)
}

fn json_response(status: StatusCode, value: &Value) -> ApiResponse {
    ApiResponse {
        status,
        body: Bytes::from(value.to_string()),
        content_type: "application/json",
    }
}

fn text(status: StatusCode, message: &str) -> ApiResponse {
    let body = if message.is_empty() {
        Bytes::new()
    } else {
        Bytes::from(format!("{message}\n"))
    };
    ApiResponse {
        status,
        body,
        content_type: "text/plain; charset=utf-8",
    }
}
