//! The connection to a Redis server that the `redis` cache and the `redis`
//! rate limit share: the url checks, and a connection made on first use.

use std::time::Duration;

use redis::aio::ConnectionManager;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::OnceCell;

pub(crate) fn default_kind() -> String {
    "simple".to_owned()
}

pub(crate) fn default_client_name() -> String {
    "sluice".to_owned()
}

#[derive(Default, Deserialize, JsonSchema)]
#[serde(default)]
pub(crate) struct TlsToggle {
    /// Whether TLS is used.
    pub(crate) enabled: bool,
}

/// The connection fields of Benthos's redis components, checked.
pub(crate) struct ClientFields<'a> {
    pub(crate) url: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) master: &'a str,
    pub(crate) tls: bool,
}

/// A client for `fields`, or why it cannot be made.
pub(crate) fn open(fields: &ClientFields<'_>) -> Result<redis::Client, String> {
    if fields.kind != "simple" {
        return Err(format!(
            "redis kind '{}' is not supported yet (only simple)",
            fields.kind
        ));
    }
    if !fields.master.is_empty() {
        return Err(
            "redis master is only used by kind failover, which is not supported yet".to_owned(),
        );
    }
    if fields.tls {
        return Err("redis tls is not supported yet".to_owned());
    }
    if fields.url.contains(',') {
        return Err("several redis urls need kind cluster, which is not supported yet".to_owned());
    }
    // Benthos takes `tcp://` as `redis://`.
    let url = match fields.url.strip_prefix("tcp://") {
        Some(rest) => format!("redis://{rest}"),
        None => fields.url.to_owned(),
    };
    redis::IntoConnectionInfo::into_connection_info(url.as_str())
        .and_then(redis::Client::open)
        .map_err(|err| format!("invalid redis url {:?}: {err}", fields.url))
}

/// A connection made on first use, so a config loads (and lints) without
/// the server; the manager reconnects by itself afterwards.
pub(crate) struct LazyConnection {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    client_name: String,
}

impl LazyConnection {
    pub(crate) fn new(client: redis::Client, client_name: String) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            client_name,
        }
    }

    pub(crate) async fn get(&self) -> Result<ConnectionManager, redis::RedisError> {
        self.connection
            .get_or_try_init(|| async {
                // go-redis's dial and read timeouts, so an unreachable
                // server fails a command instead of hanging it; callers
                // retry as their component's config says, not here.
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(3)));
                let mut manager = self
                    .client
                    .get_connection_manager_with_config(config)
                    .await?;
                if !self.client_name.is_empty() {
                    redis::cmd("CLIENT")
                        .arg("SETNAME")
                        .arg(&self.client_name)
                        .query_async::<()>(&mut manager)
                        .await?;
                }
                Ok(manager)
            })
            .await
            .cloned()
    }
}
