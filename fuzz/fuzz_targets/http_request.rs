#![no_main]

// One HTTP/1.1 request as http_server takes it: the head as hyper parses
// it, the metadata built from it, a multipart body's parts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_components::fuzzing::http_request(data);
});
