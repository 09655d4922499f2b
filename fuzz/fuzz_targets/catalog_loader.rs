//! cargo-fuzz target `catalog_loader`: see `knotwork_fuzzing::loader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| knotwork_fuzzing::loader::run(data));
