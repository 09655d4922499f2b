//! Pure rules of the gateway's screens: no IO, no async, no protobuf.

pub mod relief;
