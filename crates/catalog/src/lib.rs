//! Knotwork's catalog service.
#![forbid(unsafe_code)]
pub mod domain;
