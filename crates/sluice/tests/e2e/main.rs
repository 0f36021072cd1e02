//! End-to-end tests: the real binary, real configs, real HTTP over loopback.

mod amqp;
mod bad_input;
mod bloblang;
mod brokers;
mod cli;
mod concurrency;
mod config;
mod edge_cases;
mod faults;
mod http_processor;
mod http_server;
mod kafka;
mod messages;
mod observability;
mod proxy;
mod seeds;
mod shared_server;
mod support;
mod sync_response;
mod upstream;
