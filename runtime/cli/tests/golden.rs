//! Golden job cases: every directory of tests/golden is a job run through
//! the `weir` binary as a user runs it.
//!
//! A case holds `job.yaml` and its inputs, and either `expected.txt` (the
//! exact standard output; compared as a set of lines when a file named
//! `unordered` is present) or `expected-error.txt` (lines that standard error
//! must contain, with a failing exit status). Jobs find the guest components
//! under `modules/`, which the runner fills with freshly built fixtures, a
//! core module (`core-module.wasm`) and a text file (`not-wasm.wasm`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{run_weir, CASE_TIMEOUT};

use weir_testing::{guests, repo_root, CORE_MODULE};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn install_modules(dir: &Path) {
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    let guests = guests();
    for name in [
        "wordcount",
        "keyed-count",
        "session-alerts",
        "event-time-probe",
        "misbehave",
        "scale",
        "scale-arrow",
        "wrong-world",
    ] {
        let from = guests.path(name);
        let to = modules.join(from.file_name().unwrap());
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    std::fs::write(modules.join("core-module.wasm"), CORE_MODULE).unwrap();
    std::fs::write(modules.join("not-wasm.wasm"), "this is not wasm\n").unwrap();
}

fn check_case(case: &Path) -> Result<(), String> {
    let work = tempfile::tempdir().unwrap();
    copy_dir(case, work.path());
    install_modules(work.path());
    let output = run_weir(
        &["run", "job.yaml", "--no-cache", "--progress", "never"],
        work.path(),
    )
    .ok_or_else(|| format!("did not finish within {CASE_TIMEOUT:?}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Ok(expected) = std::fs::read_to_string(case.join("expected.txt")) {
        if !output.status.success() {
            return Err(format!("failed ({}):\n{stderr}", output.status));
        }
        let (mut got, mut want): (Vec<&str>, Vec<&str>) =
            (stdout.lines().collect(), expected.lines().collect());
        if case.join("unordered").exists() {
            got.sort_unstable();
            want.sort_unstable();
        }
        if got != want {
            return Err(format!(
                "standard output differs.\n--- expected\n{expected}--- got\n{stdout}"
            ));
        }
        return Ok(());
    }
    let expected = std::fs::read_to_string(case.join("expected-error.txt"))
        .map_err(|_| "has neither expected.txt nor expected-error.txt".to_string())?;
    // A misbehaving job fails cleanly: exit status 1, not a signal or a crash.
    if output.status.code() != Some(1) {
        return Err(format!(
            "expected exit status 1, got {}:\n{stderr}",
            output.status
        ));
    }
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        if !stderr.contains(line) {
            return Err(format!("standard error lacks {line:?}:\n{stderr}"));
        }
    }
    // Nothing half-written reaches a failed job's output here: every error
    // case fails before or at its first batch.
    if !stdout.is_empty() {
        return Err(format!("a failed job wrote to standard output:\n{stdout}"));
    }
    Ok(())
}

#[test]
fn golden_cases() {
    let root = repo_root().join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the golden cases under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match check_case(case) {
            Ok(()) => eprintln!("golden {name}: ok"),
            Err(why) => failures.push(format!("golden {name}: {why}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The README's word-count example, built with `weir build` the way a user
/// builds it, against counts computed independently of the operator.
#[test]
fn the_wordcount_example_counts_correctly() {
    let root = repo_root();
    let example = root.join("examples/wordcount");
    let built = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["build", "operator"])
        .current_dir(&example)
        // The guests' own target directory: the one running these tests is locked.
        .env("CARGO_TARGET_DIR", weir_testing::guest_target_dir())
        .output()
        .expect("weir build runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(example.join("operator/wordcount.wasm").is_file());

    let output = run_weir(
        &["run", "job.yaml", "--no-cache", "--progress", "never"],
        &example,
    )
    .expect("finishes");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = std::fs::read_to_string(example.join("expected.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("job 'wordcount' finished"), "{summary}");
}

#[test]
fn weir_build_explains_a_directory_without_a_project() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "").unwrap();
    let output = run_weir(&["build", "."], dir.path()).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not an operator project"), "{stderr}");
    assert!(
        stderr.contains("go.mod, package.json, pyproject.toml"),
        "{stderr}"
    );
}
