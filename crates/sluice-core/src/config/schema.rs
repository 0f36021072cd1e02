//! The top-level config file, typed. Component nodes stay [`Node`]s: the
//! environment splits and deserialises them once it knows the registry.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::de::from_node_parts;
use super::json_schema::{
    AnyObject, BufferNode, CacheNode, InputNode, OutputNode, ProcessorNode, RateLimitNode,
};
use super::{GoDuration, Lint, Mark, Node, interpolate_env};

/// The whole config file (Benthos's top-level keys).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The shared HTTP server.
    pub http: HttpConfig,
    /// The input component; `stdin: {}` when absent.
    #[schemars(with = "InputNode")]
    pub input: Node,
    /// The buffer component; `none` when absent.
    #[schemars(with = "BufferNode")]
    pub buffer: Option<Node>,
    /// Processing threads and processors.
    pub pipeline: PipelineConfig,
    /// The output component; `stdout: {}` when absent.
    #[schemars(with = "OutputNode")]
    pub output: Node,
    /// Labelled inputs usable through `resource`.
    #[schemars(with = "Vec<InputNode>")]
    pub input_resources: Vec<Node>,
    /// Labelled processors usable through `resource`.
    #[schemars(with = "Vec<ProcessorNode>")]
    pub processor_resources: Vec<Node>,
    /// Labelled outputs usable through `resource`.
    #[schemars(with = "Vec<OutputNode>")]
    pub output_resources: Vec<Node>,
    /// Labelled caches.
    #[schemars(with = "Vec<CacheNode>")]
    pub cache_resources: Vec<Node>,
    /// Labelled rate limits.
    #[schemars(with = "Vec<RateLimitNode>")]
    pub rate_limit_resources: Vec<Node>,
    /// Operational logging.
    pub logger: LoggerConfig,
    /// The metrics exporter; the default exporter when absent.
    #[schemars(with = "AnyObject")]
    pub metrics: Option<Node>,
    /// The tracer; `none` when absent.
    #[schemars(with = "AnyObject")]
    pub tracer: Option<Node>,
    /// Redpanda Connect's shared connection (`seed_brokers`, `client_id`,
    /// `tls`, `sasl`) for `redpanda` inputs and outputs that give none.
    #[schemars(with = "AnyObject")]
    pub redpanda: Option<Node>,
    /// How long to wait for metrics and traces to be flushed on shutdown.
    pub shutdown_delay: GoDuration,
    /// How long a clean shutdown may take before it is forced.
    pub shutdown_timeout: GoDuration,
    /// Unit test definitions for `sluice test`.
    #[schemars(with = "Vec<AnyObject>")]
    pub tests: Vec<Node>,
    /// Pipeline-wide error handling.
    pub error_handling: ErrorHandlingConfig,
    /// Limits on what one execution of a Bloblang mapping may build and do.
    pub bloblang: BloblangConfig,
    /// Not a config field: whether building tolerates unknown fields in
    /// components, as in a file starting with `# BENTHOS LINT DISABLE` or
    /// under `--chilled`.
    #[serde(skip)]
    #[schemars(skip)]
    pub tolerate_lints: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            http: HttpConfig::default(),
            input: component_default("stdin"),
            buffer: None,
            pipeline: PipelineConfig::default(),
            output: component_default("stdout"),
            input_resources: Vec::new(),
            processor_resources: Vec::new(),
            output_resources: Vec::new(),
            cache_resources: Vec::new(),
            rate_limit_resources: Vec::new(),
            logger: LoggerConfig::default(),
            metrics: None,
            tracer: None,
            redpanda: None,
            shutdown_delay: GoDuration::default(),
            shutdown_timeout: GoDuration::from_secs(20),
            tests: Vec::new(),
            error_handling: ErrorHandlingConfig::default(),
            bloblang: BloblangConfig::default(),
            tolerate_lints: false,
        }
    }
}

/// `name: {}`, the node of a component with all defaults.
fn component_default(name: &str) -> Node {
    let mut node = Node::empty_map();
    node.set_path(name, "{}")
        .expect("a fresh map accepts any key");
    node
}

/// The prefix that turns linting off for a file, as in Benthos.
const LINT_DISABLE: &str = "# BENTHOS LINT DISABLE";

impl Config {
    /// Loads a config file: substitutes `${VAR}`s through `env`, parses the
    /// YAML, applies `--set` pairs and deserialises. Returns the typed config
    /// and the tree it came from, or every problem found.
    ///
    /// A file starting with `# BENTHOS LINT DISABLE` tolerates unknown fields
    /// but still fails on YAML and type errors, and still reports missing
    /// environment variables, as Benthos does.
    pub fn load(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        sets: &[(String, String)],
    ) -> Result<(Config, Node), Vec<Lint>> {
        Self::load_tolerant(text, env, sets, false).map(|(config, root, _)| (config, root))
    }

    /// Like [`Config::load`]; with `tolerate` (`--chilled`) the problems
    /// that do not stop the config from being read, unknown fields and unset
    /// environment variables, come back beside it instead of failing it.
    pub fn load_tolerant(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        sets: &[(String, String)],
        tolerate: bool,
    ) -> Result<(Config, Node, Vec<Lint>), Vec<Lint>> {
        let (text, env_lints) = interpolate_env(text, env);
        let mut lints = Vec::new();
        let mut root = Node::parse(&text).map_err(|lint| vec![lint])?;
        for (path, value) in sets {
            if let Err(err) = root.set_path(path, value) {
                let message = format!("failed to set config field {path}: {err}");
                lints.push(Lint::error(Mark::default(), message));
            }
        }
        let (config, mut unknown) = from_node_parts::<Config>(&root);
        let lint_disabled = text.starts_with(LINT_DISABLE);
        if lint_disabled {
            unknown.clear();
        }
        let config = config.map(|mut config| {
            config.tolerate_lints = lint_disabled || tolerate;
            config
        });
        if tolerate {
            let soft = env_lints.into_iter().chain(unknown).collect();
            return match config {
                Ok(config) if lints.is_empty() => Ok((config, root, soft)),
                Ok(_) => Err(lints),
                Err(fatal) => {
                    lints.push(fatal);
                    Err(lints)
                }
            };
        }
        lints.splice(0..0, env_lints);
        lints.extend(unknown);
        match config {
            Ok(config) if lints.is_empty() => Ok((config, root, Vec::new())),
            Ok(_) => Err(lints),
            Err(fatal) => {
                lints.push(fatal);
                lints.sort_by_key(|lint| (lint.line, lint.col));
                Err(lints)
            }
        }
    }
}

/// The shared HTTP server (`http:`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    pub address: String,
    /// Whether the server runs at all.
    pub enabled: bool,
    /// A prefix under which every endpoint is also served.
    pub root_path: String,
    /// Whether to serve debug endpoints.
    pub debug_endpoints: bool,
    /// TLS certificate file; needs `key_file` too.
    pub cert_file: String,
    /// TLS key file; needs `cert_file` too.
    pub key_file: String,
    /// Cross-origin settings.
    pub cors: CorsConfig,
    /// Basic authentication of every endpoint.
    pub basic_auth: BasicAuthConfig,
    /// How long a client may take to send a request's headers, and a
    /// kept-alive connection may wait for its next request, before it is
    /// closed (a sluice extension; Go's server has no limit).
    pub read_header_timeout: GoDuration,
    /// Connections open at once, past which new ones wait in the listen
    /// backlog; 0 derives it from the open-file limit (a sluice extension).
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            address: "0.0.0.0:4195".to_owned(),
            enabled: true,
            root_path: "/benthos".to_owned(),
            debug_endpoints: false,
            cert_file: String::new(),
            key_file: String::new(),
            cors: CorsConfig::default(),
            basic_auth: BasicAuthConfig::default(),
            read_header_timeout: GoDuration::from_secs(30),
            max_connections: 0,
        }
    }
}

/// `http.cors`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Whether CORS headers are sent.
    pub enabled: bool,
    /// Origins allowed to call the server.
    pub allowed_origins: Vec<String>,
}

/// `http.basic_auth`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// Whether requests must authenticate.
    pub enabled: bool,
    /// The realm sent in challenges.
    pub realm: String,
    /// The expected user name.
    pub username: String,
    /// The hashed password.
    pub password_hash: String,
    /// The hash algorithm of `password_hash`.
    pub algorithm: String,
    /// The salt of `password_hash`.
    pub salt: String,
}

impl Default for BasicAuthConfig {
    fn default() -> BasicAuthConfig {
        BasicAuthConfig {
            enabled: false,
            realm: "restricted".to_owned(),
            username: String::new(),
            password_hash: String::new(),
            algorithm: "sha256".to_owned(),
            salt: String::new(),
        }
    }
}

/// `pipeline:`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Worker count; -1 means one per CPU.
    pub threads: i64,
    /// Processor component nodes, applied in order.
    #[schemars(with = "Vec<ProcessorNode>")]
    pub processors: Vec<Node>,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            threads: -1,
            processors: Vec::new(),
        }
    }
}

/// `logger:`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggerConfig {
    /// Minimum level: OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL or NONE.
    pub level: String,
    /// `logfmt` or `json`.
    pub format: String,
    /// Whether to add a timestamp to each entry.
    pub add_timestamp: bool,
    /// The level field name of JSON logs.
    pub level_name: String,
    /// The timestamp field name of JSON logs.
    pub timestamp_name: String,
    /// The message field name of JSON logs.
    pub message_name: String,
    /// Fields added to every entry.
    pub static_fields: BTreeMap<String, String>,
    /// Optional logging to a file.
    pub file: LoggerFileConfig,
}

impl Default for LoggerConfig {
    fn default() -> LoggerConfig {
        LoggerConfig {
            level: "INFO".to_owned(),
            format: "logfmt".to_owned(),
            add_timestamp: false,
            level_name: "level".to_owned(),
            timestamp_name: "time".to_owned(),
            message_name: "msg".to_owned(),
            static_fields: BTreeMap::from([("@service".to_owned(), "sluice".to_owned())]),
            file: LoggerFileConfig::default(),
        }
    }
}

/// `logger.file`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggerFileConfig {
    /// The file to write to; empty disables file logging.
    pub path: String,
    /// Whether to rotate the file.
    pub rotate: bool,
    /// Days to keep rotated files; 0 keeps them forever.
    pub rotate_max_age_days: i64,
}

/// `error_handling:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorHandlingConfig {
    /// Whether a message that failed processing is nacked instead of
    /// delivered.
    pub strict: bool,
}

/// `bloblang:`, sluice's limits on one execution of a mapping (Benthos has
/// none): past them the mapping fails for that message with an error,
/// instead of one request taking the process's memory or a worker.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BloblangConfig {
    /// The largest value, in bytes, that one method may produce (`repeat`,
    /// `range`, string `+`, `format`, `join`, `concat`, `decompress`).
    pub max_value_bytes: usize,
    /// The most evaluation steps (expressions evaluated) one execution may
    /// take; the `jq` processor's filters keep to it too.
    pub max_steps: u64,
    /// The most memory, in bytes, one execution may hold at once (what it
    /// allocated less what it freed), checked at every step.
    pub max_memory_bytes: usize,
}

impl Default for BloblangConfig {
    fn default() -> BloblangConfig {
        BloblangConfig {
            max_value_bytes: sluice_bloblang::budget::DEFAULT_MAX_VALUE_BYTES,
            max_steps: sluice_bloblang::budget::DEFAULT_MAX_STEPS,
            max_memory_bytes: sluice_bloblang::budget::DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

impl BloblangConfig {
    /// Makes these the limits of every mapping in the process.
    pub fn apply(&self) {
        sluice_bloblang::budget::set_max_value_bytes(self.max_value_bytes);
        sluice_bloblang::budget::set_max_steps(self.max_steps);
        sluice_bloblang::budget::set_max_memory_bytes(self.max_memory_bytes);
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PORT_PATH").then(|| "/from-env".to_owned())
    }

    /// Loads `text` with `sets` and renders a summary or every lint.
    fn check(text: &str, sets: &[(&str, &str)], expected: Expect) {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let actual = match Config::load(text, &env, &sets) {
            Ok((config, _root)) => format!(
                "http {} {}\ninput {}output {}threads {} processors {}\nlogger {} {:?}\nshutdown {} {}\nstrict {}",
                config.http.address,
                config.http.enabled,
                config.input.to_yaml(),
                config.output.to_yaml(),
                config.pipeline.threads,
                config.pipeline.processors.len(),
                config.logger.level,
                config.logger.static_fields,
                config.shutdown_delay,
                config.shutdown_timeout,
                config.error_handling.strict,
            ),
            Err(lints) => lints.iter().map(|lint| format!("{lint}\n")).collect(),
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn defaults_everything() {
        check(
            "",
            &[],
            expect![[r#"
            http 0.0.0.0:4195 true
            input stdin: {}
            output stdout: {}
            threads -1 processors 0
            logger INFO {"@service": "sluice"}
            shutdown 0s 20s
            strict false"#]],
        );
    }

    #[test]
    fn loads_a_pipeline_with_env_and_sets() {
        check(
            "http:\n  address: ${ADDR:127.0.0.1:4197}\ninput:\n  http_server:\n    path: ${PORT_PATH}\npipeline:\n  threads: 2\n  processors:\n    - mapping: root = this\nshutdown_timeout: 1m\nerror_handling:\n  strict: true\n",
            &[
                ("input.http_server.timeout", "5s"),
                ("logger.level", "DEBUG"),
            ],
            expect![[r#"
                http 127.0.0.1:4197 true
                input http_server:
                  path: /from-env
                  timeout: 5s
                output stdout: {}
                threads 2 processors 1
                logger DEBUG {"@service": "sluice"}
                shutdown 0s 1m0s
                strict true"#]],
        );
    }

    #[test]
    fn lints_unknown_top_level_fields_and_missing_env() {
        check(
            "resources:\n  caches: {}\ninput:\n  stdin: {}\nhttp:\n  adress: x\n  enabled: ${NOPE}\n",
            &[],
            expect![[r#"
                (1,1) required environment variables were not set: [NOPE]
                (1,1) field resources not recognised
                (6,1) field adress not recognised (did you mean address?)
            "#]],
        );
        check(
            "shutdown_timeout: soon\n",
            &[],
            expect![[r#"
            (1,1) field shutdown_timeout: time: invalid duration "soon"
        "#]],
        );
        check(
            "a: [\n",
            &[],
            expect![[r#"
            (2,1) yaml: while parsing a node, did not find expected node content
        "#]],
        );
    }

    #[test]
    fn lint_disable_tolerates_unknown_fields_only() {
        check(
            "# BENTHOS LINT DISABLE\nresources: {}\n",
            &[],
            expect![[r#"
                http 0.0.0.0:4195 true
                input stdin: {}
                output stdout: {}
                threads -1 processors 0
                logger INFO {"@service": "sluice"}
                shutdown 0s 20s
                strict false"#]],
        );
        check(
            "# BENTHOS LINT DISABLE\nhttp: 5\n",
            &[],
            expect![[r#"
            (2,1) expected object value, got !!int
        "#]],
        );
    }
}
