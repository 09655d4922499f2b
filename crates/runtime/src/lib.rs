//! What every Knotwork service shares, so the three services read the same way:
//! structured logging ([`telemetry`]), the shutdown signal ([`shutdown`]),
//! health and reflection wiring ([`grpc`]), the internal trust boundary
//! between the gateway and the backends ([`internal`]), TLS and mTLS
//! ([`tls`]), how listeners accept connections under limits ([`listen`]),
//! how big an error reply may be ([`bounded`]), which secrets production
//! mode refuses ([`prod`]), Prometheus metrics with the admin port
//! ([`metrics`]), trace context across the hops of a call ([`trace`]), the
//! development credentials ([`dev`]), a handler's panic answered as
//! INTERNAL ([`unwind`]) and how a service serves its listener until
//! shutdown, drain deadline included ([`serve()`]), behind the layers every
//! backend runs ([`backend_layers`], [`serve_backend`]).
//!
//! Invariant: this crate never reads the environment on its own; binaries
//! pass configuration in (clap reads `KNOTWORK_*` variables in `main.rs`).

#![forbid(unsafe_code)]

pub mod bounded;
pub mod dev;
pub mod drain;
pub mod grpc;
pub mod internal;
pub mod listen;
pub mod memory;
pub mod metrics;
pub mod prod;
pub mod reload;
mod serve;
pub mod shardmap;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod trace;
pub mod unwind;

pub use serve::{AdminPort, BackendLayers, backend_layers, serve, serve_backend, spawn_admin};
