//! Parsing of mappings and queries.

pub(crate) mod parser;
