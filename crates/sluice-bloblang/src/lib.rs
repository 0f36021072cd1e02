//! The Bloblang mapping language: parser, interpreter and standard library.

pub mod budget;
pub mod diagnostic;
pub mod env;
pub(crate) mod eval;
pub(crate) mod functions;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod go_url;
pub mod interpolation;
pub(crate) mod json_path;
pub mod json_schema;
pub mod mapping;
pub(crate) mod methods;
pub mod recovered_panic;
pub(crate) mod syntax;
pub mod target;
pub mod targets;
#[cfg(test)]
mod testing;
pub(crate) mod time_fmt;
pub(crate) mod timefmt;
pub mod value;

pub use diagnostic::{ExecError, ParseError};
pub use eval::Root;
pub use functions::environment::set_env_overlay;
pub use interpolation::Interpolation;
pub use mapping::{Mapping, MappingOutput};
pub use methods::codecs::{DecompressError, compress_bytes, decompress_bounded};
pub use target::{BatchRef, ErrorSource, MessageRef, SimpleMessage};
pub use value::{Key, Map, Metadata, Value};
