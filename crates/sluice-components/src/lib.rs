//! The concrete inputs, processors, outputs and rate limits of sluice, and
//! [`register_all`] which adds them to an [`Environment`].

#[cfg(feature = "amqp")]
mod amqp;
mod buffers;
mod caches;
mod codec;
pub mod fuzzing;
pub mod http;
mod inproc;
mod inputs;
#[cfg(feature = "kafka")]
mod kafka;
mod name_filter;
mod outputs;
mod processors;
mod rate_limits;
mod redis_client;
#[cfg(test)]
mod schema_tests;
mod tls;
pub mod tracers;

use sluice_core::config::ComponentKind;
use sluice_core::config::json_schema::{
    ConfigSchema, InterpolatedString, MappingText, NoFields, ProcessorNode, described, schema_of,
};
use sluice_core::environment::{
    ComponentSpec, Environment, InputBuild, OutputBuild, ProcessorBuild, Status,
};

pub use buffers::buffer_response_warnings;
pub use http::ServerOptions;
pub use http::listeners::ListenerPool;
pub use http::shared::{ApiRequest, ApiResponse, RetiredRoutes, SharedHttpServer, VERSION};
pub use inproc::InprocPipes;

/// Reads Redpanda Connect's top-level `redpanda` block into `resources`,
/// where `redpanda` inputs and outputs without `seed_brokers` find it.
/// Problems come back as lints; startup warnings go to `warnings`.
pub fn add_redpanda_block(
    node: &sluice_core::config::Node,
    env: &Environment,
    resources: &mut sluice_core::environment::Resources,
    warnings: &mut Vec<sluice_core::config::Lint>,
) -> Vec<sluice_core::config::Lint> {
    #[cfg(feature = "kafka")]
    {
        let mut builder = sluice_core::environment::Builder::new(env, resources);
        let parsed = kafka::redpanda_block::parse(node, &mut builder);
        warnings.extend(builder.take_warnings());
        match parsed {
            Ok(connection) => {
                resources.insert(connection);
                Vec::new()
            }
            Err(lints) => lints,
        }
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (env, resources, warnings);
        vec![sluice_core::config::Lint::error(
            node.mark,
            "the redpanda block needs a build with the kafka feature",
        )]
    }
}

/// Adds every component sluice has to `env`.
pub fn register_all(env: &mut Environment) {
    use Status::{Beta, Stable};
    let input =
        |name, status, summary, build: InputBuild, config_schema: ConfigSchema| ComponentSpec {
            name,
            status,
            summary,
            build,
            config_schema,
        };
    env.add_input(input(
        "http_server",
        Beta,
        "Receives messages over HTTP POST (path parameters, multipart, gzip) and WebSocket, with rate limits, and answers with synchronous responses; TLS, CORS and tcp socket options need its own address.",
        inputs::http_server::build,
        schema_of::<inputs::http_server::HttpServerConfig>,
    ));
    env.add_input(input(
        "resource",
        Stable,
        "Reads from the input resource with the given label.",
        inputs::resource::build,
        |g| {
            described(
                schema_of::<String>(g),
                "The label of the input resource to use.",
            )
        },
    ));
    env.add_input(input(
        "stdin",
        Stable,
        "Reads standard input, split by a scanner: lines, csv or to_the_end (or an older codec).",
        inputs::stdin::build,
        schema_of::<inputs::stdin::StdinConfig>,
    ));
    env.add_input(input(
        "file",
        Stable,
        "Reads files one after another, split by a scanner: lines, csv or to_the_end (or an older codec).",
        inputs::file::build,
        schema_of::<inputs::file::FileConfig>,
    ));
    env.add_input(input(
        "generate",
        Beta,
        "Generates messages from a mapping on an interval (no cron intervals).",
        inputs::generate::build,
        schema_of::<inputs::generate::GenerateConfig>,
    ));
    env.add_input(input(
        "http_client",
        Beta,
        "Requests a URL over and over and makes each response a message, the payload, URL and headers reading the previous response; or, in stream mode, reads one long response body through a scanner, reconnecting when it ends.",
        inputs::http_client::build,
        inputs::http_client::schema,
    ));
    env.add_input(input(
        "inproc",
        Stable,
        "Reads what the inproc output of the same name in this process writes; acknowledgements travel back to it.",
        inputs::inproc::build,
        |g| {
            described(
                schema_of::<String>(g),
                "The name of the pipe, as the inproc output gives it.",
            )
        },
    ));
    env.add_input(input(
        "sequence",
        Beta,
        "Reads its inputs one after another, each until it ends, or joins their messages by an identifier with sharded_join (at most 1000 iterations).",
        inputs::sequence::build,
        schema_of::<inputs::sequence::SequenceConfig>,
    ));
    env.add_input(input(
        "broker",
        Beta,
        "Merges several inputs into one stream (no input-level batching).",
        inputs::broker::build,
        schema_of::<inputs::broker::BrokerConfig>,
    ));

    let processor =
        |name, status, summary, build: ProcessorBuild, config_schema: ConfigSchema| ComponentSpec {
            name,
            status,
            summary,
            build,
            config_schema,
        };
    env.add_processor(processor(
        "mapping",
        Stable,
        "Builds a new document from each message with Bloblang.",
        processors::mapping::build,
        |g| {
            described(
                schema_of::<MappingText>(g),
                "The Bloblang mapping applied to each message.",
            )
        },
    ));
    env.add_processor(processor(
        "bloblang",
        Stable,
        "Older name of mapping.",
        processors::mapping::build,
        |g| {
            described(
                schema_of::<MappingText>(g),
                "The Bloblang mapping applied to each message, as in mapping.",
            )
        },
    ));
    env.add_processor(processor(
        "sync_response",
        Stable,
        "Stores the batch as it is now as the synchronous response.",
        processors::sync_response::build,
        |g| described(schema_of::<NoFields>(g), "No fields: `sync_response: {}`."),
    ));
    env.add_processor(processor(
        "http",
        Beta,
        "Sends an HTTP request per message mid-pipeline: the response replaces the message and a failure flags it.",
        processors::http::build,
        http::client::processor_schema,
    ));
    env.add_processor(processor(
        "log",
        Stable,
        "Logs a line per message.",
        processors::log::build,
        schema_of::<processors::log::LogConfig>,
    ));
    env.add_processor(processor(
        "resource",
        Stable,
        "Runs the processor resource with the given label.",
        processors::resource::build,
        |g| {
            described(
                schema_of::<String>(g),
                "The label of the processor resource to use.",
            )
        },
    ));
    env.add_processor(processor(
        "sleep",
        Stable,
        "Waits a duration per batch.",
        processors::sleep::build,
        schema_of::<processors::sleep::SleepConfig>,
    ));
    env.add_processor(processor(
        "catch",
        Stable,
        "Runs processors on failed messages and clears their errors.",
        processors::catch::build_catch,
        |g| {
            described(
                schema_of::<Vec<ProcessorNode>>(g),
                "The processors run on each failed message, in order.",
            )
        },
    ));
    env.add_processor(processor(
        "try",
        Stable,
        "Runs processors in order; a failed message skips the rest.",
        processors::catch::build_try,
        |g| {
            described(
                schema_of::<Vec<ProcessorNode>>(g),
                "The processors run in order; a message that fails skips the rest.",
            )
        },
    ));
    env.add_processor(processor(
        "switch",
        Stable,
        "Runs the processors of the first case whose check passes.",
        processors::catch::build_switch,
        processors::catch::switch_schema,
    ));

    register_more_processors(env);
    register_query_processors(env);

    let output =
        |name, status, summary, build: OutputBuild, config_schema: ConfigSchema| ComponentSpec {
            name,
            status,
            summary,
            build,
            config_schema,
        };
    env.add_output(output(
        "sync_response",
        Stable,
        "Answers the request each message came from.",
        outputs::sync_response::build,
        outputs::sync_response::config_schema,
    ));
    env.add_output(output(
        "broker",
        Stable,
        "Sends messages to several outputs with any of the six patterns, with copies and batching.",
        outputs::broker::build,
        schema_of::<outputs::broker::BrokerConfig>,
    ));
    env.add_output(output(
        "stdout",
        Stable,
        "Writes messages to standard output.",
        outputs::stdout::build,
        schema_of::<outputs::stdout::StdoutConfig>,
    ));
    env.add_output(output(
        "file",
        Stable,
        "Appends messages to a file.",
        outputs::file::build,
        schema_of::<outputs::file::FileConfig>,
    ));
    env.add_output(output(
        "http_client",
        Beta,
        "Sends messages to an HTTP endpoint with retries, backoff_on/drop_on/successful_on, redirects, TLS, basic auth, OAuth 1 signing, JWT bearer tokens, OAuth2 client credentials, proxies (proxy_url or the environment), rate limits and multipart bodies; propagate_response answers the caller with the response.",
        outputs::http_client::build,
        http::client::output_schema,
    ));
    env.add_output(output(
        "resource",
        Stable,
        "Writes to the output resource with the given label.",
        outputs::resource::build,
        |g| {
            described(
                schema_of::<String>(g),
                "The label of the output resource to use.",
            )
        },
    ));
    env.add_output(output(
        "inproc",
        Stable,
        "Hands messages to the inproc inputs of the same name in this process; a write is acknowledged when the reading stream's output acknowledged it.",
        outputs::inproc::build,
        |g| {
            described(
                schema_of::<String>(g),
                "The name of the pipe; a later output of the same name takes it over.",
            )
        },
    ));
    env.add_output(output(
        "drop",
        Stable,
        "Discards messages.",
        outputs::drop::build,
        |g| described(schema_of::<NoFields>(g), "No fields: `drop: {}`."),
    ));
    env.add_output(output(
        "reject",
        Stable,
        "Fails every write with an interpolated reason.",
        outputs::reject::build,
        |g| {
            described(
                schema_of::<InterpolatedString>(g),
                "The error each write fails with; supports interpolation.",
            )
        },
    ));

    #[cfg(feature = "kafka")]
    register_kafka(env);
    #[cfg(feature = "amqp")]
    register_amqp(env);

    register_more_outputs(env);
    register_caches(env);
    register_buffers(env);

    env.add_rate_limit(ComponentSpec {
        name: "local",
        status: Stable,
        summary: "At most count accesses per interval.",
        build: rate_limits::local::build,
        config_schema: schema_of::<rate_limits::local::LocalConfig>,
    });
    env.add_rate_limit(ComponentSpec {
        name: "redis",
        status: Beta,
        summary: "At most count accesses per interval across every instance sharing a key in a Redis server.",
        build: rate_limits::redis::build,
        config_schema: schema_of::<rate_limits::redis::RedisRateLimitConfig>,
    });

    // Benthos components users meet in request/response configs that sluice
    // does not have yet: a clear error rather than "not recognised".
    env.add_planned(
        ComponentKind::Input,
        &["amqp_1", "nats", "socket_server", "gateway"],
    );
    env.add_planned(ComponentKind::Output, &["amqp_1", "nats"]);
    env.add_planned(ComponentKind::Buffer, &["sqlite"]);
    env.add_planned_because(
        ComponentKind::Processor,
        "awk",
        "there is no maintained awk interpreter to embed in Rust; a mapping or the jq processor does the same work",
    );
}

/// The processors that shape batches, use caches or transform content.
fn register_more_processors(env: &mut Environment) {
    use Status::{Beta, Stable};
    let processor =
        |name, status, summary, build: ProcessorBuild, config_schema: ConfigSchema| ComponentSpec {
            name,
            status,
            summary,
            build,
            config_schema,
        };
    env.add_processor(processor(
        "mutation",
        Stable,
        "Changes each message in place with Bloblang: the document starts as the message's own.",
        processors::mutation::build,
        |g| {
            described(
                schema_of::<MappingText>(g),
                "The Bloblang mutation applied to each message.",
            )
        },
    ));
    env.add_processor(processor(
        "noop",
        Stable,
        "Does nothing.",
        processors::flow::build_noop,
        schema_of::<NoFields>,
    ));
    env.add_processor(processor(
        "for_each",
        Stable,
        "Runs processors on each message of a batch alone, then joins the results.",
        processors::flow::build_for_each,
        |g| {
            described(
                schema_of::<Vec<ProcessorNode>>(g),
                "The processors run on each message.",
            )
        },
    ));
    env.add_processor(processor(
        "while",
        Stable,
        "Runs processors over a batch for as long as a check of its first message holds.",
        processors::flow::build_while,
        schema_of::<processors::flow::WhileConfig>,
    ));
    env.add_processor(processor(
        "branch",
        Stable,
        "Runs processors on a copy of each message built by request_map and maps their result back onto the original with result_map.",
        processors::branch::build,
        schema_of::<processors::branch::BranchConfig>,
    ));
    env.add_processor(processor(
        "rate_limit",
        Stable,
        "Holds each message until the named rate limit resource grants it an access.",
        processors::rate_limit::build,
        schema_of::<processors::rate_limit::RateLimitConfig>,
    ));
    env.add_processor(processor(
        "split",
        Stable,
        "Breaks batches into batches of at most size messages and byte_size bytes.",
        processors::flow::build_split,
        schema_of::<processors::flow::SplitConfig>,
    ));
    env.add_processor(processor(
        "select_parts",
        Stable,
        "Keeps the messages of a batch at the given indexes.",
        processors::flow::build_select_parts,
        schema_of::<processors::flow::SelectPartsConfig>,
    ));
    env.add_processor(processor(
        "bounds_check",
        Stable,
        "Drops batches whose message count or message sizes are out of bounds.",
        processors::flow::build_bounds_check,
        schema_of::<processors::flow::BoundsCheckConfig>,
    ));
    env.add_processor(processor(
        "group_by",
        Stable,
        "Splits a batch into groups by checks, each run through its own processors.",
        processors::flow::build_group_by,
        |g| {
            described(
                schema_of::<Vec<processors::flow::GroupConfig>>(g),
                "The groups, tried in order; messages of none form a last batch.",
            )
        },
    ));
    env.add_processor(processor(
        "group_by_value",
        Stable,
        "Splits a batch into one batch per distinct interpolated value.",
        processors::flow::build_group_by_value,
        schema_of::<processors::flow::GroupByValueConfig>,
    ));
    env.add_processor(processor(
        "archive",
        Beta,
        "Joins a batch into one message: concatenate, lines or json_array (no tar, zip or binary).",
        processors::archive::build_archive,
        schema_of::<processors::archive::ArchiveConfig>,
    ));
    env.add_processor(processor(
        "unarchive",
        Beta,
        "Splits each message into a batch: lines, json_documents, json_array, json_map or csv (no tar, zip or binary).",
        processors::archive::build_unarchive,
        schema_of::<processors::archive::UnarchiveConfig>,
    ));
    env.add_processor(processor(
        "compress",
        Stable,
        "Compresses each message with gzip, zlib, flate, snappy, lz4 or zstd.",
        processors::compress::build_compress,
        schema_of::<processors::compress::CompressConfig>,
    ));
    env.add_processor(processor(
        "decompress",
        Stable,
        "Decompresses each message (gzip, zlib, flate, snappy, lz4, zstd; no bzip2), bounded by max_bytes.",
        processors::compress::build_decompress,
        schema_of::<processors::compress::DecompressConfig>,
    ));
    env.add_processor(processor(
        "cache",
        Stable,
        "Sets, adds, gets, deletes or checks a key of a cache resource per message.",
        processors::cache::build,
        schema_of::<processors::cache::CacheProcessorConfig>,
    ));
    env.add_processor(processor(
        "cached",
        Stable,
        "Answers from a cache resource by key, or runs processors and stores their result.",
        processors::cached::build,
        schema_of::<processors::cached::CachedConfig>,
    ));
    env.add_processor(processor(
        "dedupe",
        Stable,
        "Drops messages whose key a cache resource has seen.",
        processors::dedupe::build,
        schema_of::<processors::dedupe::DedupeConfig>,
    ));
}

/// The outputs that wrap other outputs.
fn register_more_outputs(env: &mut Environment) {
    let output = |name, summary, build: OutputBuild, config_schema: ConfigSchema| ComponentSpec {
        name,
        status: Status::Stable,
        summary,
        build,
        config_schema,
    };
    env.add_output(output(
        "switch",
        "Routes each message to the outputs of the cases whose check it passes (continue, strict_mode, retry_until_success).",
        outputs::switch::build,
        schema_of::<outputs::switch::SwitchConfig>,
    ));
    env.add_output(output(
        "fallback",
        "Tries its outputs in order until one takes the batch; later ones see fallback_error.",
        outputs::fallback::build,
        |g| {
            described(
                schema_of::<Vec<sluice_core::config::json_schema::OutputNode>>(g),
                "The outputs, tried in order.",
            )
        },
    ));
    env.add_output(output(
        "retry",
        "Writes to its output again after a failure, with backoff, up to max_retries.",
        outputs::retry::build,
        schema_of::<outputs::retry::RetryConfig>,
    ));
    env.add_output(output(
        "drop_on",
        "Drops what its output fails to write: on any error, matching error_patterns, or past back_pressure.",
        outputs::drop_on::build,
        schema_of::<outputs::drop_on::DropOnConfig>,
    ));
    env.add_output(output(
        "reject_errored",
        "Refuses messages flagged with a processing error; the rest go to its output.",
        outputs::reject_errored::build,
        |g| {
            described(
                schema_of::<sluice_core::config::json_schema::OutputNode>(g),
                "The output of messages without an error.",
            )
        },
    ));
}

fn register_buffers(env: &mut Environment) {
    env.add_buffer(ComponentSpec {
        name: "none",
        status: Status::Stable,
        summary: "No buffer: acknowledgements travel from the output back to the input.",
        build: buffers::none::build,
        config_schema: |g| described(schema_of::<NoFields>(g), "No fields: `none: {}`."),
    });
    env.add_buffer(ComponentSpec {
        name: "memory",
        status: Status::Stable,
        summary: "Holds messages in memory up to limit bytes, acknowledging each to the input once stored; batch_policy merges them as they leave (no check), nacked batches are read again.",
        build: buffers::memory::build,
        config_schema: schema_of::<buffers::memory::MemoryConfig>,
    });
    env.add_buffer(ComponentSpec {
        name: "system_window",
        status: Status::Beta,
        summary: "Groups messages into tumbling or sliding windows of the system clock by timestamp_mapping and emits each window as one batch, acknowledging messages once their window was delivered.",
        build: buffers::system_window::build,
        config_schema: schema_of::<buffers::system_window::SystemWindowConfig>,
    });
}

fn register_caches(env: &mut Environment) {
    env.add_cache(ComponentSpec {
        name: "memory",
        status: Status::Stable,
        summary: "Keys in the process's memory, with a default TTL and compaction.",
        build: caches::memory::build,
        config_schema: schema_of::<caches::memory::MemoryConfig>,
    });
    env.add_cache(ComponentSpec {
        name: "lru",
        status: Status::Stable,
        summary: "At most cap keys in memory, the least recently used evicted first.",
        build: caches::lru::build,
        config_schema: schema_of::<caches::lru::LruConfig>,
    });
    env.add_cache(ComponentSpec {
        name: "ttlru",
        status: Status::Stable,
        summary: "At most cap keys in memory, each living default_ttl from its last write, the least recently used evicted first.",
        build: caches::ttlru::build,
        config_schema: schema_of::<caches::ttlru::TtlruConfig>,
    });
    env.add_cache(ComponentSpec {
        name: "multilevel",
        status: Status::Stable,
        summary: "Cache resources as levels: reads go through them in order and fill the earlier levels on a hit, writes go to all.",
        build: caches::multilevel::build,
        config_schema: |g| {
            described(
                schema_of::<Vec<String>>(g),
                "The labels of the cache resources, first level first (at least two).",
            )
        },
    });
    env.add_cache(ComponentSpec {
        name: "redis",
        status: Status::Stable,
        summary: "Keys in a Redis server, shared by every instance that points at it; simple kind, no TLS yet.",
        build: caches::redis::build,
        config_schema: schema_of::<caches::redis::RedisConfig>,
    });
}

#[cfg(feature = "kafka")]
fn register_kafka(env: &mut Environment) {
    let input = |name, summary, build: InputBuild, config_schema: ConfigSchema| ComponentSpec {
        name,
        status: Status::Beta,
        summary,
        build,
        config_schema,
    };
    env.add_input(input(
        "kafka",
        "Consumes Kafka topics, in a consumer group or from explicit partitions; commits only acknowledged offsets and replays nacked records; batching per partition (no kafka_lag metadata).",
        inputs::kafka::build,
        schema_of::<inputs::kafka::KafkaInputConfig>,
    ));
    env.add_input(input(
        "kafka_franz",
        "The franz-go flavoured Kafka input, on the same client as kafka.",
        inputs::kafka_franz::build,
        schema_of::<inputs::kafka_franz::FranzInputConfig>,
    ));
    env.add_input(input(
        "redpanda",
        "kafka_franz with Redpanda's defaults; without seed_brokers it uses the top-level redpanda block's connection.",
        inputs::redpanda::build,
        schema_of::<inputs::kafka_franz::FranzInputConfig>,
    ));
    let output = |name, summary, build: OutputBuild, config_schema: ConfigSchema| ComponentSpec {
        name,
        status: Status::Beta,
        summary,
        build,
        config_schema,
    };
    env.add_output(output(
        "kafka",
        "Writes records to Kafka and acknowledges once the broker did; metadata becomes headers; all five partitioners; custom_topic_creation creates missing topics.",
        outputs::kafka::build,
        schema_of::<outputs::kafka::KafkaConfig>,
    ));
    env.add_output(output(
        "kafka_franz",
        "The franz-go flavoured Kafka output (only selected metadata becomes headers); murmur2_hash, round_robin, least_backup and manual partitioners.",
        outputs::kafka_franz::build,
        schema_of::<outputs::kafka_franz::FranzConfig>,
    ));
    env.add_output(output(
        "redpanda",
        "kafka_franz with Redpanda's defaults; without seed_brokers it uses the top-level redpanda block's connection.",
        outputs::redpanda::build,
        schema_of::<outputs::kafka_franz::FranzConfig>,
    ));
}

#[cfg(feature = "amqp")]
fn register_amqp(env: &mut Environment) {
    env.add_input(ComponentSpec {
        name: "amqp_0_9",
        status: Status::Beta,
        summary: "Consumes an AMQP 0.9 queue with queue and binding declarations; acks delivered messages, nacks failed ones with requeue or dead-letters them by nack_reject_patterns; amqps with trusted CAs, a client certificate or skip_cert_verify.",
        build: inputs::amqp_0_9::build,
        config_schema: schema_of::<inputs::amqp_0_9::AmqpInputConfig>,
    });
    env.add_output(ComponentSpec {
        name: "amqp_0_9",
        status: Status::Beta,
        summary: "Publishes to an AMQP 0.9 exchange, acknowledged by publisher confirms; mandatory returns are errors; amqps with trusted CAs, a client certificate or skip_cert_verify (no timeout).",
        build: outputs::amqp_0_9::build,
        config_schema: schema_of::<outputs::amqp_0_9::AmqpOutputConfig>,
    });
}

/// The processors that query, check or parse documents with another
/// language than Bloblang, and the utility ones (`metric`, `crash`, `parallel`).
fn register_query_processors(env: &mut Environment) {
    use Status::{Beta, Stable};
    let processor =
        |name, status, summary, build: ProcessorBuild, config_schema: ConfigSchema| ComponentSpec {
            name,
            status,
            summary,
            build,
            config_schema,
        };
    env.add_processor(processor(
        "workflow",
        Stable,
        "Runs branches in tiers (from order, or worked out from their request and result maps), a tier's branches at once, recording per message which succeeded, were skipped or failed at meta_path.",
        processors::workflow::build,
        schema_of::<processors::workflow::WorkflowConfig>,
    ));
    env.add_processor(processor(
        "jmespath",
        Stable,
        "Replaces each JSON document with the result of a JMESPath query over it.",
        processors::jmespath::build,
        schema_of::<processors::jmespath::JmespathConfig>,
    ));
    env.add_processor(processor(
        "jq",
        Stable,
        "Transforms each JSON document with a jq filter (run by jaq), with the metadata as $metadata.",
        processors::jq::build,
        schema_of::<processors::jq::JqConfig>,
    ));
    env.add_processor(processor(
        "grok",
        Stable,
        "Parses text into a JSON object with the first matching grok expression; logstash's default patterns, custom definitions and pattern files.",
        processors::grok::build,
        schema_of::<processors::grok::GrokConfig>,
    ));
    env.add_processor(processor(
        "json_schema",
        Stable,
        "Flags each message whose JSON document does not conform to a JSON Schema, with Benthos's error texts (schema_path over http:// is not supported yet).",
        processors::json_schema::build,
        schema_of::<processors::json_schema::JsonSchemaConfig>,
    ));
    env.add_processor(processor(
        "protobuf",
        Beta,
        "Converts between Protobuf and JSON with message types compiled at start-up from the .proto files of import_paths (no Buf Schema Registry).",
        processors::protobuf::build,
        schema_of::<processors::protobuf::ProtobufConfig>,
    ));
    env.add_processor(processor(
        "metric",
        Stable,
        "Counts, sets or times a custom metric per message, labelled by interpolations, beside sluice's own metrics.",
        processors::metric::build,
        schema_of::<processors::metric::MetricConfig>,
    ));
    env.add_processor(processor(
        "parallel",
        Stable,
        "Runs processors on each message of a batch alone, up to cap messages at once, keeping their order.",
        processors::parallel::build,
        schema_of::<processors::parallel::ParallelConfig>,
    ));
    env.add_processor(processor(
        "crash",
        Beta,
        "Logs an interpolated message at the error level and ends the process with status 1.",
        processors::crash::build,
        |g| {
            described(
                schema_of::<InterpolatedString>(g),
                "The message logged before the process ends; supports interpolation.",
            )
        },
    ));
}
