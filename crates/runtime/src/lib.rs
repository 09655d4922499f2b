//! What every Knotwork service shares, so the three services read the same way:
//! structured logging ([`telemetry`]), the shutdown signal ([`shutdown`]),
//! health and reflection wiring ([`grpc`]), the internal trust boundary
//! between the gateway and the backends ([`internal`]), TLS and mTLS
//! ([`tls`]), how listeners accept connections under limits ([`listen`]) and
//! how big an error reply may be ([`bounded`]), and which secrets
//! production mode refuses ([`prod`]).
//!
//! Invariant: this crate never reads the environment on its own; binaries
//! pass configuration in (clap reads `KNOTWORK_*` variables in `main.rs`).

#![forbid(unsafe_code)]

pub mod bounded;
pub mod drain;
pub mod grpc;
pub mod internal;
pub mod listen;
pub mod prod;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod tls;
