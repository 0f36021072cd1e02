#![no_main]

// The config loader over arbitrary YAML: anchors, aliases, deep nesting,
// wrong types. Every outcome is a config or lints, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_core::config::fuzzing::config_yaml(data);
});
