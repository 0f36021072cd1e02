//! End-to-end tests: the real binary, real configs, real HTTP over loopback.

mod seeds;
mod support;
