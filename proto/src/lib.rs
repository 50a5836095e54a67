//! The gRPC contracts of Weir, package `weir.v1`: the job service, the
//! TaskManager connection and the data plane.
//!
//! The Rust code is generated from `proto/weir/v1/*.proto` and committed, so
//! building Weir needs no protoc. `tests/codegen.rs` regenerates it and fails
//! when the committed copy has drifted; `make proto` rewrites it.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!("gen/weir.v1.rs");
}

/// Largest gRPC message either side accepts: a job spec, or one frame of the
/// data plane (a batch of up to `MAX_BATCH_SIZE` wide rows).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Module bytes travel in chunks of this size.
pub const MODULE_CHUNK_BYTES: usize = 1 << 20;

/// Module bytes as the chunks `PutModule` and `FetchModule` stream, the
/// digest ("sha256:<hex>") on the first.
pub fn module_chunks(digest: &str, bytes: &[u8]) -> Vec<v1::ModuleChunk> {
    bytes
        .chunks(MODULE_CHUNK_BYTES)
        .enumerate()
        .map(|(i, data)| v1::ModuleChunk {
            digest: if i == 0 {
                digest.to_string()
            } else {
                String::new()
            },
            data: data.to_vec(),
        })
        .collect()
}
