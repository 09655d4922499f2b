//! Pure rules of the gateway: no IO, no async, no protobuf.

pub mod forwarded;
pub mod relief;
