//! The cross-language conformance suite (tests/conformance/README.md): the
//! same job, input and expected bytes for the `conform` operator in every
//! language, then each language's `misbehave` fixture for the adversarial
//! cases, a soak of thousands of batches through one instance, and guest
//! errors carrying the guest's message.
//!
//! Every component is built with `weir build`, the way a user builds it. A
//! language whose toolchain is missing fails its tests with the build's
//! message (which names the setup script); nothing is skipped.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use support::run_weir;
use weir_testing::{guest_target_dir, guests, repo_root};

/// A language under test and what its instances need.
#[derive(Clone, Copy)]
struct Lang {
    /// Directory under tests/fixtures (`None` for Rust, whose fixtures are
    /// crates of the guest workspace).
    dir: Option<&'static str>,
    /// Memory limit for the misbehave cases: interpreters need room to start.
    memory: &'static str,
    /// Deadline of one call in the misbehave cases.
    call_timeout: &'static str,
    /// Memory limit of the soak: tight, so that a guest whose memory grows
    /// is recycled within the run (CPython's does: componentize-py keeps a
    /// copy of every batch a call returns).
    soak_memory: u64,
}

const RUST: Lang = Lang {
    dir: None,
    memory: "32Mi",
    call_timeout: "500ms",
    soak_memory: 32 << 20,
};
const PYTHON: Lang = Lang {
    dir: Some("python"),
    memory: "128Mi",
    call_timeout: "2s",
    soak_memory: 16 << 20,
};
const JS: Lang = Lang {
    dir: Some("js"),
    memory: "128Mi",
    call_timeout: "2s",
    soak_memory: 32 << 20,
};
const GO: Lang = Lang {
    dir: Some("go"),
    memory: "64Mi",
    call_timeout: "1s",
    soak_memory: 32 << 20,
};
const C: Lang = Lang {
    dir: Some("c"),
    memory: "32Mi",
    call_timeout: "500ms",
    soak_memory: 32 << 20,
};

/// Where built components and their compile cache live: beside the guests,
/// so a warm target directory spares the slow compiles of the interpreters.
fn work_dir() -> PathBuf {
    let dir = guest_target_dir().join("polyglot");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cache_dir() -> String {
    work_dir().join("compiled").display().to_string()
}

/// Builds `tests/fixtures/<lang>/<name>` with `weir build`, once per process.
fn component(lang: Lang, name: &str) -> PathBuf {
    let Some(lang_dir) = lang.dir else {
        return guests().path(name);
    };
    type Built = Arc<OnceLock<Result<PathBuf, String>>>;
    static BUILDS: OnceLock<Mutex<HashMap<String, Built>>> = OnceLock::new();
    let key = format!("{lang_dir}-{name}");
    let slot = {
        let mut builds = BUILDS.get_or_init(Default::default).lock().unwrap();
        Arc::clone(builds.entry(key.clone()).or_default())
    };
    let built = slot.get_or_init(|| {
        let project = repo_root().join("tests/fixtures").join(lang_dir).join(name);
        let output = work_dir().join(format!("{key}.wasm"));
        weir_build(&project, Some(&output)).map(|()| output)
    });
    match built {
        Ok(path) => path.clone(),
        Err(why) => panic!("{why}"),
    }
}

/// Builds `project` with `weir build`, to `output` or the project's default.
fn weir_build(project: &Path, output: Option<&Path>) -> Result<(), String> {
    let mut args = vec!["build".to_string(), project.display().to_string()];
    if let Some(output) = output {
        args.extend(["-o".to_string(), output.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_weir(&args, project)
        .ok_or_else(|| format!("weir build {} did not finish", project.display()))?;
    if !run.status.success() {
        return Err(format!(
            "weir build {} failed:\n{}",
            project.display(),
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    Ok(())
}

struct JobRun {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `yaml` with `weir run` in a fresh directory holding `files`.
fn run_job(yaml: &str, files: &[(&str, &Path)]) -> JobRun {
    let dir = tempfile::tempdir().unwrap();
    for (name, from) in files {
        std::fs::copy(from, dir.path().join(name)).unwrap();
    }
    run_job_in(dir.path(), yaml)
}

/// Writes `yaml` to `dir/job.yaml` and runs it.
fn run_job_in(dir: &Path, yaml: &str) -> JobRun {
    std::fs::write(dir.join("job.yaml"), yaml).unwrap();
    run_job_file(dir)
}

/// Runs `dir/job.yaml` with `weir run`, with the suite's compile cache and
/// the summary as JSON (on standard error).
fn run_job_file(dir: &Path) -> JobRun {
    let cache = cache_dir();
    let output = run_weir(
        &[
            "run",
            "job.yaml",
            "--cache-dir",
            &cache,
            "--progress",
            "never",
            "--summary-json",
        ],
        dir,
    )
    .expect("the job finishes within the deadline");
    JobRun {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn conformance_dir() -> PathBuf {
    repo_root().join("tests/conformance")
}

/// The conformance job with `module`, and `config` instead of the
/// job's own when given.
fn conform_job(module: &Path, config: Option<&str>) -> String {
    let job = std::fs::read_to_string(conformance_dir().join("job.yaml")).unwrap();
    let job = job.replace("MODULE", &module.display().to_string());
    match config {
        None => job,
        Some(config) => {
            let start = job.find("    config:").expect("the job has a config");
            let end = job[start..].find("sink:").expect("the job has a sink") + start;
            format!("{}    config: {config}\n{}", &job[..start], &job[end..])
        }
    }
}

fn run_conform(lang: Lang, config: Option<&str>) -> JobRun {
    let module = component(lang, "conform");
    run_job(
        &conform_job(&module, config),
        &[("input.jsonl", &conformance_dir().join("input.jsonl"))],
    )
}

fn assert_failed_with(run: &JobRun, needles: &[&str]) {
    assert_eq!(run.code, Some(1), "expected a failed job:\n{}", run.stderr);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "standard error lacks {needle:?}:\n{}",
            run.stderr
        );
    }
}

/// The same bytes as the Rust reference, for the job as written.
fn output_is_byte_identical(lang: Lang) {
    let run = run_conform(lang, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let expected = std::fs::read(conformance_dir().join("expected.jsonl")).unwrap();
    if run.stdout != expected {
        let got = String::from_utf8_lossy(&run.stdout);
        let want = String::from_utf8_lossy(&expected);
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "output differs from expected.jsonl from line {}:\n  got:  {:?}\n  want: {:?}\n({} lines vs {})",
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first),
            got.lines().count(),
            want.lines().count()
        );
    }
}

/// An error raised in guest code reaches the user with the guest's message,
/// and configuration errors name the field.
fn guest_errors_carry_the_guest_message(lang: Lang) {
    let run = run_conform(lang, Some("{minScore: 50, failOnId: 13}"));
    assert_failed_with(
        &run,
        &[
            "operator 'conform' failed in process: invalid-input error",
            "conform: rejected record with id 13",
        ],
    );
    let run = run_conform(lang, Some("{minScore: 50, colour: blue}"));
    assert_failed_with(
        &run,
        &[
            "operator 'conform' failed in open: invalid-config error",
            "colour",
        ],
    );
}

fn misbehave_job(lang: Lang, mode: &str, after_batches: u32) -> String {
    format!(
        "name: misbehave-{mode}\nbatchSize: 10\n\
         source: {{type: generator, count: 1000}}\n\
         operators:\n  - name: probe\n    module: {}\n    config: {{mode: {mode}, afterBatches: {after_batches}}}\n    resources: {{memory: {}, callTimeout: {}}}\n\
         sink: {{type: blackhole}}\n",
        component(lang, "misbehave").display(),
        lang.memory,
        lang.call_timeout
    )
}

/// The foundation's adversarial cases: each fails the job with a clear
/// error, after some batches went through fine.
fn adversarial_cases_fail_cleanly(lang: Lang) {
    let cases: [(&str, &[&str]); 5] = [
        ("loop", &["operator 'probe' exceeded its deadline of"]),
        (
            "memory-bomb",
            &["operator 'probe' exceeded its memory limit of"],
        ),
        ("trap", &["operator 'probe' trapped in process"]),
        (
            "error",
            &[
                "operator 'probe' failed in process",
                "misbehave: deliberate error on batch 2",
            ],
        ),
        (
            "open-error",
            &[
                "operator 'probe' failed in open: invalid-config error",
                "misbehave: deliberate open failure",
            ],
        ),
    ];
    for (mode, needles) in cases {
        let run = run_job(&misbehave_job(lang, mode, 2), &[]);
        assert_failed_with(&run, needles);
    }
    let run = run_job(&misbehave_job(lang, "passthrough", 0), &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Thousands of batches through one operator instance: every record arrives
/// exactly once, and no instance outgrows its limit (the host recycles one
/// that nears it).
fn soak_keeps_every_record_and_memory_bounded(lang: Lang) {
    const RECORDS: usize = 100_000;
    let memory = lang.soak_memory;
    let yaml = format!(
        "name: soak\nbatchSize: 25\n\
         source: {{type: generator, count: {RECORDS}}}\n\
         operators:\n  - name: passthrough\n    module: {}\n    config: {{mode: passthrough}}\n    resources: {{memory: {memory}, callTimeout: 10s}}\n\
         sink: {{type: jsonl, path: out.jsonl}}\n",
        component(lang, "misbehave").display(),
    );
    let dir = tempfile::tempdir().unwrap();
    let run = run_job_in(dir.path(), &yaml);
    let stderr = &run.stderr;
    assert_eq!(run.code, Some(0), "{stderr}");
    let summary: serde_json::Value = stderr
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON summary in:\n{stderr}"));
    let operator = &summary["operators"][0];
    let peak = operator["peakMemoryBytes"].as_u64().unwrap();
    let recycles = operator["instanceRecycles"].as_u64().unwrap();
    eprintln!(
        "soak: {} batches, peak {:.1} MiB, {recycles} recycles",
        RECORDS / 25,
        peak as f64 / (1 << 20) as f64
    );
    assert!(peak > 0 && peak < memory, "peak {peak} of limit {memory}");

    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let mut seen = vec![false; RECORDS];
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = record["id"].as_u64().unwrap() as usize;
        assert!(!seen[id], "record {id} arrived twice");
        seen[id] = true;
    }
    let lost = seen.iter().filter(|s| !**s).count();
    assert_eq!(lost, 0, "{lost} records lost");
}

/// Keyed state through each SDK: a running count per word in value state,
/// at parallelism 2, must give the built-in count's running output.
fn keyed_state_counts_like_the_builtin(lang: Lang) {
    let root = repo_root();
    let yaml = "name: keyed-state\nparallelism: 2\n\
                source: {type: text, path: input.txt}\n\
                operators:\n  - {name: tokenize, module: tokenize.wasm}\n\
                \x20 - {name: count, module: count.wasm, keyBy: [word]}\n\
                sink: {type: stdout, format: text}\n";
    let run = run_job(
        yaml,
        &[
            ("input.txt", &root.join("examples/wordcount/input.txt")),
            ("tokenize.wasm", &guests().path("wordcount")),
            ("count.wasm", &component(lang, "keyed-count")),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let mut got: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(String::from)
        .collect();
    got.sort();
    let mut expected: Vec<String> =
        std::fs::read_to_string(root.join("tests/golden/keyed-count-state/expected.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
    expected.sort();
    assert_eq!(got.len(), expected.len(), "{}", run.stderr);
    assert!(got == expected, "the counts differ from the built-in's");
}

macro_rules! language_suite {
    ($module:ident, $lang:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn output_is_byte_identical_to_the_reference() {
                output_is_byte_identical($lang);
            }

            #[test]
            fn guest_errors_carry_the_guest_message() {
                super::guest_errors_carry_the_guest_message($lang);
            }

            #[test]
            fn adversarial_cases_fail_cleanly() {
                super::adversarial_cases_fail_cleanly($lang);
            }

            #[test]
            fn soak_keeps_every_record_and_memory_bounded() {
                super::soak_keeps_every_record_and_memory_bounded($lang);
            }

            #[test]
            fn keyed_state_counts_like_the_builtin() {
                super::keyed_state_counts_like_the_builtin($lang);
            }
        }
    };
}

language_suite!(rust, RUST);
language_suite!(python, PYTHON);
language_suite!(javascript, JS);
language_suite!(go, GO);
language_suite!(c, C);

/// The mixed-language example: Python, JavaScript and Go stages in one job,
/// each built with `weir build` where the example says, against counts
/// computed from the rules alone.
#[test]
fn the_mixed_language_example_counts_word_lengths() {
    let root = repo_root();
    for project in [
        "examples/python/tokenize",
        "examples/mixed/stopwords",
        "examples/mixed/wordlen",
    ] {
        weir_build(&root.join(project), None).unwrap_or_else(|why| panic!("{why}"));
    }
    let example = root.join("examples/mixed");
    let run = run_job_file(&example);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let expected = std::fs::read_to_string(example.join("expected.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), expected);
}
