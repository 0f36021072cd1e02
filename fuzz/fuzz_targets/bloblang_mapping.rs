#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_bloblang::fuzzing::mapping_over_document(data);
});
