//! Config loading: `${VAR}` substitution, YAML with positions, typed
//! deserialisation and Benthos-compatible lints.
//!
//! The flow is [`interpolate_env`] → [`Node::parse`] → [`Node::set_path`] for
//! each `--set` → [`from_node`] for the top level ([`Config::load`] does all
//! of it), then [`split_component`] and [`from_node`] for each component once
//! the registry is known.

mod component;
mod de;
mod defaults;
mod duration;
#[doc(hidden)]
pub mod fuzzing;
mod interpolate;
pub mod json_schema;
mod lint;
mod schema;
mod yaml;

pub use component::{
    ComponentKind, ComponentNode, split_component, split_component_tolerant, validate_label,
};
pub(crate) use de::from_node_parts;
pub use de::{Error as DeserializeError, from_node, from_node_all};
pub use defaults::with_defaults;
pub use duration::{GoDuration, parse_go_duration};
pub use interpolate::{interpolate_env, parse_env_file};
pub(crate) use lint::with_suggestion;
pub use lint::{Lint, LintLevel, did_you_mean};
pub use schema::{
    BasicAuthConfig, Config, CorsConfig, ErrorHandlingConfig, HttpConfig, LoggerConfig,
    LoggerFileConfig, PipelineConfig,
};
pub use yaml::{Mark, Node, NodeKind, ScalarStyle};
