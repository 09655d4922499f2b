//! wip
#![forbid(unsafe_code)]
pub mod domain;
pub mod error;
pub mod store;
pub use error::Error;
