//! The committed generated code matches the .proto files. Run with
//! `WEIR_PROTO_WRITE=1` (`make proto`) to rewrite it after editing them.

use std::path::Path;

#[test]
fn generated_code_matches_the_proto_files() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protos = [
        crate_dir.join("weir/v1/cluster.proto"),
        crate_dir.join("weir/v1/data.proto"),
    ];
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .out_dir(out.path())
        .compile_protos(&protos, &[crate_dir.to_path_buf()])
        .unwrap_or_else(|e| {
            panic!(
                "cannot generate the code (is protoc installed? scripts/setup.sh installs it): {e}"
            )
        });
    let generated = std::fs::read_to_string(out.path().join("weir.v1.rs")).unwrap();
    let committed_path = crate_dir.join("src/gen/weir.v1.rs");
    if std::env::var_os("WEIR_PROTO_WRITE").is_some() {
        std::fs::write(&committed_path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with proto/weir/v1: run `make proto` and commit the result",
        committed_path.display()
    );
}
