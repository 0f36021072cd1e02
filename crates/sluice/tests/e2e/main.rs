//! End-to-end tests: the real binary, real configs, real HTTP over loopback.

mod amqp;
mod bad_input;
mod blobl_browser;
mod blobl_server;
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
mod proxy;
mod resources;
mod schema;
mod seeds;
mod shared_server;
mod streams;
mod support;
mod sync_response;
mod unit_tests;
mod upstream;
mod watcher;
