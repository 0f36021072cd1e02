//! The concrete inputs, processors, outputs and rate limits of sluice, and
//! [`register_all`] which adds them to an [`Environment`].

#[cfg(feature = "amqp")]
mod amqp;
mod codec;
pub mod http;
mod inputs;
#[cfg(feature = "kafka")]
mod kafka;
mod name_filter;
mod outputs;
mod processors;
mod rate_limits;
mod tls;

use sluice_core::config::ComponentKind;
use sluice_core::environment::{
    ComponentSpec, Environment, InputBuild, OutputBuild, ProcessorBuild, Status,
};

pub use http::ServerOptions;
pub use http::listeners::ListenerPool;
pub use http::shared::{ApiRequest, ApiResponse, RetiredRoutes, SharedHttpServer, VERSION};

/// Adds every component sluice has to `env`.
pub fn register_all(env: &mut Environment) {
    use Status::{Beta, Stable};
    let input = |name, status, summary, build: InputBuild| ComponentSpec {
        name,
        status,
        summary,
        build,
    };
    env.add_input(input(
        "http_server",
        Beta,
        "Receives messages over HTTP POST and WebSocket (TLS, CORS and socket options with its own address) and answers with synchronous responses.",
        inputs::http_server::build,
    ));
    env.add_input(input(
        "resource",
        Stable,
        "Reads from the input resource with the given label.",
        inputs::resource::build,
    ));
    env.add_input(input(
        "stdin",
        Stable,
        "Reads lines from standard input.",
        inputs::stdin::build,
    ));
    env.add_input(input(
        "file",
        Stable,
        "Reads files line by line.",
        inputs::file::build,
    ));
    env.add_input(input(
        "generate",
        Beta,
        "Generates messages from a mapping on an interval (no cron intervals).",
        inputs::generate::build,
    ));
    env.add_input(input(
        "broker",
        Beta,
        "Merges several inputs into one stream (no input-level batching).",
        inputs::broker::build,
    ));

    let processor = |name, status, summary, build: ProcessorBuild| ComponentSpec {
        name,
        status,
        summary,
        build,
    };
    env.add_processor(processor(
        "mapping",
        Stable,
        "Builds a new document from each message with Bloblang.",
        processors::mapping::build,
    ));
    env.add_processor(processor(
        "bloblang",
        Stable,
        "Older name of mapping.",
        processors::mapping::build,
    ));
    env.add_processor(processor(
        "sync_response",
        Stable,
        "Stores the batch as it is now as the synchronous response.",
        processors::sync_response::build,
    ));
    env.add_processor(processor(
        "http",
        Beta,
        "Replaces each message with the response of an HTTP request (no oauth v1 or jwt yet).",
        processors::http::build,
    ));
    env.add_processor(processor(
        "log",
        Stable,
        "Logs a line per message.",
        processors::log::build,
    ));
    env.add_processor(processor(
        "resource",
        Stable,
        "Runs the processor resource with the given label.",
        processors::resource::build,
    ));
    env.add_processor(processor(
        "sleep",
        Stable,
        "Waits a duration per batch.",
        processors::sleep::build,
    ));
    env.add_processor(processor(
        "catch",
        Stable,
        "Runs processors on failed messages and clears their errors.",
        processors::catch::build_catch,
    ));
    env.add_processor(processor(
        "try",
        Stable,
        "Runs processors in order; a failed message skips the rest.",
        processors::catch::build_try,
    ));
    env.add_processor(processor(
        "switch",
        Stable,
        "Runs the processors of the first case whose check passes.",
        processors::catch::build_switch,
    ));

    let output = |name, status, summary, build: OutputBuild| ComponentSpec {
        name,
        status,
        summary,
        build,
    };
    env.add_output(output(
        "sync_response",
        Stable,
        "Answers the request each message came from.",
        outputs::sync_response::build,
    ));
    env.add_output(output(
        "broker",
        Stable,
        "Sends messages to several outputs with one of six patterns.",
        outputs::broker::build,
    ));
    env.add_output(output(
        "stdout",
        Stable,
        "Writes messages to standard output.",
        outputs::stdout::build,
    ));
    env.add_output(output(
        "file",
        Stable,
        "Appends messages to a file.",
        outputs::file::build,
    ));
    env.add_output(output(
        "http_client",
        Beta,
        "Sends messages to an HTTP endpoint; propagate_response answers the caller with the response (no oauth v1, jwt or explicit multipart parts yet).",
        outputs::http_client::build,
    ));
    env.add_output(output(
        "resource",
        Stable,
        "Writes to the output resource with the given label.",
        outputs::resource::build,
    ));
    env.add_output(output(
        "drop",
        Stable,
        "Discards messages.",
        outputs::drop::build,
    ));
    env.add_output(output(
        "reject",
        Stable,
        "Fails every write with an interpolated reason.",
        outputs::reject::build,
    ));

    #[cfg(feature = "kafka")]
    register_kafka(env);
    #[cfg(feature = "amqp")]
    register_amqp(env);

    env.add_rate_limit(ComponentSpec {
        name: "local",
        status: Stable,
        summary: "At most count accesses per interval.",
        build: rate_limits::local::build,
    });

    // Benthos components users meet in request/response configs that sluice
    // does not have yet: a clear error rather than "not recognised".
    env.add_planned(
        ComponentKind::Input,
        &["amqp_1", "nats", "http_client", "socket_server", "gateway"],
    );
    env.add_planned(
        ComponentKind::Output,
        &["amqp_1", "nats", "retry", "switch", "fallback"],
    );
    env.add_planned(
        ComponentKind::Processor,
        &[
            "branch",
            "workflow",
            "split",
            "archive",
            "unarchive",
            "dedupe",
            "cache",
            "group_by",
            "jmespath",
            "jq",
        ],
    );
}

#[cfg(feature = "kafka")]
fn register_kafka(env: &mut Environment) {
    let input = |name, summary, build: InputBuild| ComponentSpec {
        name,
        status: Status::Beta,
        summary,
        build,
    };
    env.add_input(input(
        "kafka",
        "Consumes Kafka topics, in a consumer group or from explicit partitions; commits only acknowledged offsets; batching per partition.",
        inputs::kafka::build,
    ));
    env.add_input(input(
        "kafka_franz",
        "The franz-go flavoured Kafka input, on the same client as kafka.",
        inputs::kafka_franz::build,
    ));
    env.add_input(input(
        "redpanda",
        "kafka_franz with Redpanda's defaults (no top-level redpanda block yet).",
        inputs::redpanda::build,
    ));
    let output = |name, summary, build: OutputBuild| ComponentSpec {
        name,
        status: Status::Beta,
        summary,
        build,
    };
    env.add_output(output(
        "kafka",
        "Writes records to Kafka and acknowledges once the broker did; metadata becomes headers; custom_topic_creation creates missing topics.",
        outputs::kafka::build,
    ));
    env.add_output(output(
        "kafka_franz",
        "The franz-go flavoured Kafka output (only selected metadata becomes headers).",
        outputs::kafka_franz::build,
    ));
    env.add_output(output(
        "redpanda",
        "kafka_franz with Redpanda's defaults (no top-level redpanda block yet).",
        outputs::redpanda::build,
    ));
}

#[cfg(feature = "amqp")]
fn register_amqp(env: &mut Environment) {
    env.add_input(ComponentSpec {
        name: "amqp_0_9",
        status: Status::Beta,
        summary: "Consumes an AMQP 0.9 queue; acks delivered messages, nacks failed ones with requeue or dead-letters them (no TLS options yet).",
        build: inputs::amqp_0_9::build,
    });
    env.add_output(ComponentSpec {
        name: "amqp_0_9",
        status: Status::Beta,
        summary: "Publishes to an AMQP 0.9 exchange, acknowledged by publisher confirms (no TLS options yet).",
        build: outputs::amqp_0_9::build,
    });
}
