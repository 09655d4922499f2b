//! cargo-fuzz target `requests`: see `knotwork_fuzzing::requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| knotwork_fuzzing::requests::run(data));
