//! Integration tests: the gateway on 127.0.0.1:0 in front of fake backends
//! (one test binary, so the crate links once).

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod failure;
mod grpc_web;
mod limits;
mod oidc;
mod session_bytes;
mod sharding;
mod spoofing;
mod views;
