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
use std::time::Duration;

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
        "distinct-count",
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

/// The case directories under `root`, in name order.
fn golden_cases_under(root: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Whether `got` has the lines of `expected`: in order, or in any order
/// when the case has a file named `unordered`.
fn same_output(case: &Path, got: &str, expected: &str) -> bool {
    let (mut got, mut want): (Vec<&str>, Vec<&str>) =
        (got.lines().collect(), expected.lines().collect());
    if case.join("unordered").exists() {
        got.sort_unstable();
        want.sort_unstable();
    }
    got == want
}

/// Files the job writes besides its sink: `expected-files/NAME` holds what
/// NAME must hold.
fn check_files(case: &Path, work: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(case.join("expected-files")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let want = std::fs::read_to_string(entry.path()).unwrap();
        let got = std::fs::read_to_string(work.join(&name))
            .map_err(|e| format!("{}: {e}", name.to_string_lossy()))?;
        if got != want {
            return Err(format!(
                "{} differs.\n--- expected\n{want}--- got\n{got}",
                name.to_string_lossy()
            ));
        }
    }
    Ok(())
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
        if !same_output(case, &stdout, &expected) {
            return Err(format!(
                "standard output differs.\n--- expected\n{expected}--- got\n{stdout}"
            ));
        }
        return check_files(case, work.path());
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

/// How long the crash run of a case should take at its paced rate: long
/// enough for checkpoints every 100 ms to complete in the middle.
const PACED_RUN: f64 = 1.5;

fn source_records(spec: &serde_yaml_ng::Value, dir: &Path) -> f64 {
    let source = &spec["source"];
    if let Some(count) = source["count"].as_u64() {
        return count as f64;
    }
    let path = source["path"].as_str().unwrap_or_default();
    std::fs::read_to_string(dir.join(path))
        .map(|text| text.lines().filter(|l| !l.trim().is_empty()).count() as f64)
        .unwrap_or(1.0)
}

/// The case's job, paced and checkpointed, writing its sink to `out.txt`
/// with the exactly-once file sink.
fn checkpointed_job(dir: &Path) -> String {
    use serde_yaml_ng::{Mapping, Value};
    let text = std::fs::read_to_string(dir.join("job.yaml")).unwrap();
    let mut spec: Value = serde_yaml_ng::from_str(&text).unwrap();
    let records = source_records(&spec, dir);
    let map = spec.as_mapping_mut().unwrap();
    // Without event time, batch boundaries change no result: one record per
    // batch gives the pacing batches to space out.
    if !map.contains_key("batchSize") && !map.contains_key("eventTime") {
        map.insert("batchSize".into(), 1.into());
    }
    let format = map["sink"]["format"].clone();
    let mut sink = Mapping::new();
    sink.insert("type".into(), "file".into());
    sink.insert("path".into(), "out.txt".into());
    if !format.is_null() {
        sink.insert("format".into(), format);
    }
    map.insert("sink".into(), Value::Mapping(sink));
    let mut checkpointing = Mapping::new();
    checkpointing.insert("interval".into(), "100ms".into());
    checkpointing.insert("storage".into(), "checkpoints".into());
    map.insert("checkpointing".into(), Value::Mapping(checkpointing));
    if let Some(source) = map.get_mut("source").and_then(Value::as_mapping_mut) {
        source.insert("rate".into(), (records / PACED_RUN).max(1.0).into());
    }
    serde_yaml_ng::to_string(&spec).unwrap()
}

/// The newest completed checkpoint under `storage`.
fn latest_checkpoint(storage: &Path) -> Option<(u64, PathBuf)> {
    let mut best: Option<(u64, PathBuf)> = None;
    for job in std::fs::read_dir(storage).ok()?.flatten() {
        for chk in std::fs::read_dir(job.path()).ok()?.flatten() {
            let name = chk.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("chk-")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if chk.path().join("_metadata").is_file() && best.as_ref().is_none_or(|b| b.0 < id) {
                best = Some((id, chk.path()));
            }
        }
    }
    best
}

/// How many times the crash run of a case is killed before it may finish.
const CRASHES: usize = 2;

/// Runs `weir run crash.yaml` (resuming from `restore` when given) until a
/// checkpoint newer than `after` has completed and the run is at least
/// `min_age` old, then kills it (kill -9). Returns the newest completed
/// checkpoint at the time of death.
fn run_until_a_checkpoint_then_kill(
    work: &Path,
    restore: Option<&Path>,
    after: u64,
    min_age: Duration,
) -> Result<(u64, PathBuf), String> {
    let mut args = vec!["run", "crash.yaml", "--no-cache", "--progress", "never"];
    if let Some(location) = restore {
        args.extend(["--from-savepoint", location.to_str().unwrap()]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(&args)
        .current_dir(work)
        .env("WEIR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("weir starts");
    let started = std::time::Instant::now();
    let storage = work.join("checkpoints");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!(
                "the paced run ended ({status}) before a checkpoint after {after} completed midway"
            ));
        }
        if started.elapsed() >= min_age
            && latest_checkpoint(&storage).is_some_and(|(id, _)| id > after)
        {
            break;
        }
        if started.elapsed() > CASE_TIMEOUT {
            child.kill().ok();
            return Err(format!("no checkpoint after {after} completed"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A later checkpoint may have completed before the kill landed.
    latest_checkpoint(&storage).ok_or_else(|| "the checkpoints are gone".to_string())
}

/// Runs the case paced and checkpointed, kills the process (kill -9) once a
/// checkpoint has completed midway, resumes from that checkpoint, kills the
/// resumed run once it has completed a checkpoint of its own, resumes
/// again, and compares the committed output with the expected file.
fn check_case_through_crashes(case: &Path, expected: &str) -> Result<(), String> {
    let work = tempfile::tempdir().unwrap();
    copy_dir(case, work.path());
    install_modules(work.path());
    std::fs::write(
        work.path().join("crash.yaml"),
        checkpointed_job(work.path()),
    )
    .unwrap();
    let mut restore: Option<(u64, PathBuf)> = None;
    let mut committed_at_crash = Vec::new();
    for crash in 0..CRASHES {
        // The first run is killed past the middle of its input; each
        // resumed one as soon as it completed a checkpoint of its own.
        let min_age = match crash {
            0 => Duration::from_secs_f64(PACED_RUN * 0.5),
            _ => Duration::ZERO,
        };
        let after = restore.as_ref().map_or(0, |(id, _)| *id);
        let killed_at = run_until_a_checkpoint_then_kill(
            work.path(),
            restore.as_ref().map(|(_, location)| location.as_path()),
            after,
            min_age,
        )
        .map_err(|e| format!("crash {}: {e}", crash + 1))?;
        let committed = std::fs::read_to_string(work.path().join("out.txt")).unwrap_or_default();
        committed_at_crash.push(format!(
            "checkpoint {} ({} lines committed)",
            killed_at.0,
            committed.lines().count()
        ));
        restore = Some(killed_at);
    }
    let (id, location) = restore.expect("at least one crash");
    let output = run_weir(
        &[
            "run",
            "crash.yaml",
            "--no-cache",
            "--progress",
            "never",
            "--from-savepoint",
            location.to_str().unwrap(),
        ],
        work.path(),
    )
    .ok_or("the resumed run did not finish")?;
    if !output.status.success() {
        return Err(format!(
            "resuming from checkpoint {id} after {CRASHES} crashes failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let got = std::fs::read_to_string(work.path().join("out.txt")).unwrap();
    let crashes = committed_at_crash.join(", then ");
    if !same_output(case, &got, expected) {
        return Err(format!(
            "after crashes at {crashes}, the output differs.\n\
             --- expected\n{expected}--- got\n{got}"
        ));
    }
    check_files(case, work.path()).map_err(|e| format!("after crashes at {crashes}: {e}"))?;
    eprintln!(
        "golden {} through {CRASHES} crashes: ok ({crashes}, of {} lines)",
        case.file_name().unwrap().to_string_lossy(),
        expected.lines().count()
    );
    Ok(())
}

/// Every golden case with an expected output gives it again when its job is
/// checkpointed, killed after a checkpoint, resumed from it, killed again
/// after a checkpoint of the resumed run, and resumed again.
#[test]
fn golden_cases_through_two_crashes() {
    let root = repo_root().join("tests/golden");
    let mut cases: Vec<PathBuf> = golden_cases_under(&root)
        .into_iter()
        .filter(|p| p.join("expected.txt").is_file())
        .collect();
    assert!(cases.len() >= 10, "expected golden cases with outputs");
    // A case says why it cannot be restored in a file of that name.
    cases.retain(|case| {
        let skip = case.join("not-checkpointed").exists();
        if skip {
            eprintln!(
                "golden {}: left out (see its not-checkpointed)",
                case.file_name().unwrap().to_string_lossy()
            );
        }
        !skip
    });
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
            check_case_through_crashes(case, &expected)
                .err()
                .map(|why| {
                    format!(
                        "golden {}: {why}",
                        case.file_name().unwrap().to_string_lossy()
                    )
                })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn golden_cases() {
    let root = repo_root().join("tests/golden");
    let cases = golden_cases_under(&root);
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

/// The examples read their input beside their job spec (`weir run` lets a
/// job read its own directory); every copy of the word-count text is the
/// same, so every language's example prints the same counts.
#[test]
fn every_example_reads_the_same_word_count_text() {
    let root = repo_root().join("examples");
    let text = std::fs::read(root.join("wordcount/input.txt")).unwrap();
    for example in [
        "python/tokenize",
        "js/tokenize",
        "go/tokenize",
        "c/tokenize",
        "mixed",
        "keyed-count",
    ] {
        let copy = root.join(example).join("input.txt");
        let bytes = std::fs::read(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
        assert!(
            bytes == text,
            "{} differs from examples/wordcount/input.txt",
            copy.display()
        );
    }
}
