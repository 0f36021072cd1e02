//! Rate limit resources.

pub(crate) mod local;
pub(crate) mod redis;
