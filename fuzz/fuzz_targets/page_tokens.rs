//! cargo-fuzz target `page_tokens`: see `knotwork_fuzzing::tokens`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| knotwork_fuzzing::tokens::run(data));
