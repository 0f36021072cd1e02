#![no_main]

// What a WebSocket client sends to http_server's socket: frames read with
// the server's limits and loop step, each message echoed back.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_components::fuzzing::websocket_frames(data);
});
