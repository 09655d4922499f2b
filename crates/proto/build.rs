//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed,
//! and writes the encoded file descriptor set used by server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: a build script compiled in another checkout of the
    // same target directory must not look in that checkout.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "knotwork/catalog/v1/catalog.proto",
        "knotwork/session/v1/session.proto",
        "knotwork/session/raft/v1/raft.proto",
        "knotwork/gateway/v1/gateway.proto",
        "knotwork/bench/v1/echo.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("knotwork_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Undecodable messages are INVALID_ARGUMENT, not tonic's INTERNAL.
        .codec_path("crate::codec::ProstCodec")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
