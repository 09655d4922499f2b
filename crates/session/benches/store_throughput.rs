//! Placeholder, replaced by the store benchmark.
fn main() {}
