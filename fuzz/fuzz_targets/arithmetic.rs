#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Small limits keep each execution short; the limits themselves are
    // what is being tested, not their size.
    sluice_bloblang::budget::set_max_value_bytes(1 << 20);
    sluice_bloblang::budget::set_max_steps(200_000);
    sluice_bloblang::fuzzing::arithmetic(data);
});
