//! End-to-end tests: the real binary, real configs, real HTTP over loopback.

mod bad_input;
mod bloblang;
mod cli;
mod concurrency;
mod config;
mod edge_cases;
mod http_server;
mod messages;
mod seeds;
mod shared_server;
mod support;
mod sync_response;
