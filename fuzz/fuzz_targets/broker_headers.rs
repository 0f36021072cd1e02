#![no_main]

// Message metadata written as Kafka record headers and AMQP headers and
// read back as the inputs read them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_components::fuzzing::broker_headers(data);
});
