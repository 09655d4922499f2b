//! The bodies of Knotwork's fuzz targets, one function per target, shared by
//! the cargo-fuzz targets in `fuzz/` (coverage-guided, nightly, libFuzzer)
//! and by this crate's corpus replay test (`tests/corpus.rs`, plain
//! `cargo test`), so every committed corpus file is checked on every run.
//!
//! - [`requests::run`]: arbitrary bytes decoded as each public request
//!   message, then answered by the real handlers (catalog, session, and the
//!   gateway's own ViewService checks).
//! - [`loader::run`]: arbitrary text as the catalog data file.
//! - [`tokens::run`]: arbitrary page tokens (catalog and session).
//!
//! Each function panics exactly when it found a bug; a clean refusal is
//! never one.

pub mod loader;
pub mod requests;
pub mod seeds;
pub mod tokens;

/// A fuzz target's name (its folder under `fuzz/corpus/`) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by the name cargo-fuzz knows it by.
pub const TARGETS: [Target; 3] = [
    ("requests", requests::run),
    ("catalog_loader", loader::run),
    ("page_tokens", tokens::run),
];
