//! The contracts between the runtime and concrete components.

pub mod buffer;
pub mod input;
pub mod output;
pub mod processor;
pub mod shared;

/// A foreign error carried across the component seam.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
