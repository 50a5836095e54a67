//! Module artifacts against a real OCI registry on loopback: what users do
//! with `weir push` and what TaskManagers do when they pull.

use std::process::Command;
use std::time::{Duration, Instant};
use weir_types::Classify;

use weir_artifact::{ArtifactError, Credentials, Registries, RegistryOptions};
use weir_testing::{guests, OciRegistry};

fn registries() -> Registries {
    Registries::new(RegistryOptions {
        attempts: 3,
        first_retry_delay: Duration::from_millis(100),
        ..RegistryOptions::default()
    })
}

#[tokio::test]
async fn push_resolve_and_pull_by_digest() {
    let registry = OciRegistry::start(false);
    let module = guests().bytes("wordcount");
    let reference = format!("oci://{}/weir/wordcount:1.0", registry.address);
    let registries = registries();

    let pushed = registries
        .push(&reference, &module, "wordcount.wasm")
        .await
        .unwrap();
    assert_eq!(pushed.module_digest, weir_types::sha256_digest(&module));
    assert_eq!(
        pushed.by_digest,
        format!(
            "{}/weir/wordcount@{}",
            registry.address, pushed.manifest_digest
        )
    );
    // The same module pushes to the same manifest: tags are reproducible.
    let again = registries
        .push(&reference, &module, "wordcount.wasm")
        .await
        .unwrap();
    assert_eq!(again, pushed);

    let resolved = registries.resolve(&reference).await.unwrap();
    assert_eq!(resolved.manifest_digest, pushed.manifest_digest);
    assert_eq!(resolved.module_digest, pushed.module_digest);
    assert_eq!(resolved.size, module.len() as u64);

    let pulled = registries
        .pull(
            &format!("oci://{}", pushed.by_digest),
            &pushed.module_digest,
        )
        .await
        .unwrap();
    assert_eq!(pulled, module);
}

/// skopeo, a standard OCI tool, copies what `weir push` wrote into an OCI
/// layout: the manifest is the CNCF wasm layout and the layer the module.
#[tokio::test]
async fn a_standard_tool_reads_what_weir_pushes() {
    let registry = OciRegistry::start(false);
    let module = guests().bytes("wordcount");
    let pushed = registries()
        .push(
            &format!("oci://{}/weir/interop:1", registry.address),
            &module,
            "wordcount.wasm",
        )
        .await
        .unwrap();
    let layout = tempfile::tempdir().unwrap();
    let output = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/weir/interop:1", registry.address))
        .arg(format!("oci:{}:interop", layout.path().display()))
        .output()
        .expect("skopeo runs (scripts/setup-registry.sh installs it)");
    assert!(
        output.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .path()
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(&pushed.manifest_digest)).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "wordcount.wasm"
    );
    assert_eq!(blob(&pushed.module_digest), module);
    let config: serde_json::Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["layerDigests"][0], pushed.module_digest.as_str());
}

/// The other way round: an artifact pushed by the ORAS SDK (PyPI `oras`),
/// as users of `oras push` do, is a module Weir pulls.
#[tokio::test]
async fn weir_pulls_what_oras_pushes() {
    let registry = OciRegistry::start(false);
    let module = guests().bytes("wordcount");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("module.wasm"), &module).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        br#"{"architecture":"wasm","os":"wasip2"}"#,
    )
    .unwrap();
    let python = weir_testing::tools_dir().join("python/bin/python");
    let script = format!(
        "import oras.client\n\
         c = oras.client.OrasClient(hostname='{address}', insecure=True)\n\
         c.push(files=['module.wasm:application/wasm'], target='{address}/weir/from-oras:2', \
         manifest_config='config.json:application/vnd.wasm.config.v0+json', disable_path_validation=True)\n",
        address = registry.address
    );
    let output = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{} runs (scripts/setup-python.sh): {e}", python.display()));
    assert!(
        output.status.success(),
        "oras push failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference = format!("oci://{}/weir/from-oras:2", registry.address);
    let registries = registries();
    let resolved = registries.resolve(&reference).await.unwrap();
    assert_eq!(resolved.module_digest, weir_types::sha256_digest(&module));
    let pulled = registries
        .pull(
            &format!("oci://{}", resolved.by_digest),
            &resolved.module_digest,
        )
        .await
        .unwrap();
    assert_eq!(pulled, module);
}

#[tokio::test]
async fn a_module_with_another_digest_is_refused() {
    let registry = OciRegistry::start(false);
    let registries = registries();
    let reference = format!("oci://{}/weir/op:latest", registry.address);
    let first = registries
        .push(&reference, &guests().bytes("wordcount"), "op.wasm")
        .await
        .unwrap();

    // The tag moved to another module since the job pinned the first.
    registries
        .push(&reference, &guests().bytes("keyed-count"), "op.wasm")
        .await
        .unwrap();
    let error = registries
        .pull(&reference, &first.module_digest)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ArtifactError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&first.module_digest), "{error}");

    // The registry serves damaged bytes under the right digest.
    let blob = registry.blob_file(&first.module_digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let error = registries
        .pull(&format!("oci://{}", first.by_digest), &first.module_digest)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ArtifactError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_artifact_that_is_not_a_module_is_named() {
    let registry = OciRegistry::start(false);
    let error = registries()
        .resolve(&format!("oci://{}/weir/missing:1", registry.address))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("weir/missing:1"), "{error}");
    assert!(error.to_lowercase().contains("unknown"), "{error}");
}

#[tokio::test]
async fn a_registry_that_is_down_is_retried_then_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reference = format!("oci://127.0.0.1:{port}/weir/op:1");
    let started = Instant::now();
    let error = registries().resolve(&reference).await.unwrap_err();
    let message = error.to_string();
    assert!(error.is_retryable(), "{message}");
    assert!(
        message.contains(&format!("cannot reach the registry 127.0.0.1:{port}"))
            && message.contains("after 3 tries")
            && message.contains("onnection refused"),
        "{message}"
    );
    // Two waits of 100 and 200 ms between the three tries.
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A registry that comes up while the client is retrying is used.
    let module = guests().bytes("wordcount");
    let patient = Registries::new(RegistryOptions {
        attempts: 8,
        first_retry_delay: Duration::from_millis(100),
        ..RegistryOptions::default()
    });
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        OciRegistry::start_at(port, false)
    });
    let pushed = patient.push(&reference, &module, "op.wasm").await.unwrap();
    let _registry = starter.join().unwrap();
    assert_eq!(pushed.module_digest, weir_types::sha256_digest(&module));
}

#[tokio::test]
async fn credentials_come_from_a_docker_config() {
    let registry = OciRegistry::start(true);
    let reference = format!("oci://{}/weir/private:1", registry.address);
    let module = guests().bytes("wordcount");

    let error = registries()
        .push(&reference, &module, "op.wasm")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("refused the credentials"), "{error}");

    let config = format!(
        r#"{{"auths": {{"{}": {{"auth": "d2Vpcjp3ZWlyLXNlY3JldA=="}}}}}}"#,
        registry.address
    );
    let with_login = Registries::new(RegistryOptions {
        credentials: Credentials::parse(&config).unwrap(),
        ..RegistryOptions::default()
    });
    let pushed = with_login
        .push(&reference, &module, "op.wasm")
        .await
        .unwrap();
    let pulled = with_login
        .pull(&reference, &pushed.module_digest)
        .await
        .unwrap();
    assert_eq!(pulled, module);
}
