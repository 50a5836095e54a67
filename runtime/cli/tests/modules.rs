//! Jobs whose modules live in an OCI registry: `weir push` to a real
//! registry on loopback, then `weir run` of a job naming the artifact. The
//! TaskManager pulls it by digest and verifies it; the output is the one of
//! the same job with the module on disk.

mod support;

use std::path::Path;

use support::run_weir;
use weir_testing::{guests, repo_root, OciRegistry};

fn write_job(dir: &Path, module: &str, pin: Option<&str>) -> std::path::PathBuf {
    // Beside the job: `weir run` lets a job read its own directory.
    let input = dir.join("input.txt");
    std::fs::copy(repo_root().join("examples/wordcount/input.txt"), &input).unwrap();
    let pin = pin
        .map(|d| format!("\n    sha256: {d}"))
        .unwrap_or_default();
    let job = format!(
        "name: wordcount-oci\nparallelism: 1\nsource:\n  type: text\n  path: {}\n\
         operators:\n  - name: tokenize\n    module: {module}{pin}\n    config:\n      lowercase: true\n\
         \x20 - name: count\n    builtin: count\n    keyBy: [word]\n    config:\n      emit: final\n\
         sink:\n  type: stdout\n  format: text\n",
        input.display()
    );
    let path = dir.join("job.yaml");
    std::fs::write(&path, job).unwrap();
    path
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_job_runs_a_module_pulled_from_a_registry() {
    let registry = OciRegistry::start(false);
    let dir = tempfile::tempdir().unwrap();
    let module = guests().path("wordcount");
    let target = format!("oci://{}/weir/wordcount:1.0", registry.address);
    let pushed =
        run_weir(&["push", module.to_str().unwrap(), &target], dir.path()).expect("weir push ends");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let by_digest = String::from_utf8(pushed.stdout).unwrap().trim().to_string();
    assert!(
        by_digest.starts_with(&format!(
            "oci://{}/weir/wordcount@sha256:",
            registry.address
        )),
        "{by_digest}"
    );

    let expected =
        std::fs::read_to_string(repo_root().join("examples/wordcount/expected.txt")).unwrap();
    // By tag and by the digest `weir push` printed.
    for reference in [&target, &by_digest] {
        let job = write_job(dir.path(), reference, None);
        let cache = dir.path().join("cache");
        let run = run_weir(
            &[
                "run",
                job.to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
            dir.path(),
        )
        .expect("weir run ends");
        assert!(
            run.status.success(),
            "{reference}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            sorted_lines(&String::from_utf8_lossy(&run.stdout)),
            sorted_lines(&expected),
            "{reference}"
        );
    }
}

#[test]
fn a_pinned_digest_that_does_not_match_the_artifact_is_refused() {
    let registry = OciRegistry::start(false);
    let dir = tempfile::tempdir().unwrap();
    let module = guests().path("wordcount");
    let target = format!("oci://{}/weir/wordcount:1.0", registry.address);
    let pushed = run_weir(&["push", module.to_str().unwrap(), &target], dir.path()).unwrap();
    assert!(pushed.status.success());
    let other = format!("sha256:{}", "ab".repeat(32));
    let job = write_job(dir.path(), &target, Some(&other));
    let run = run_weir(&["run", job.to_str().unwrap()], dir.path()).unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("operators[0] 'tokenize'") && stderr.contains(&format!("pins {other}")),
        "{stderr}"
    );
}

#[test]
fn a_registry_that_is_down_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        &format!("oci://127.0.0.1:{port}/weir/x:1"),
        None,
    );
    let run = run_weir(&["run", job.to_str().unwrap()], dir.path()).unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the registry 127.0.0.1:{port}"))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

#[test]
fn push_refuses_what_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = run_weir(
        &["push", core.to_str().unwrap(), "oci://127.0.0.1:1/x:1"],
        dir.path(),
    )
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("core WebAssembly module, not a component"),
        "{stderr}"
    );
}
