//! Rate limit resources.

pub(crate) mod local;
