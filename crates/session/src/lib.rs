//! wip
#![forbid(unsafe_code)]
pub mod domain;
