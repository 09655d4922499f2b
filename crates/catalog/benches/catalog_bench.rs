//! Benchmark (written last).
fn main() {}
