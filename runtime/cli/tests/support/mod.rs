//! What the CLI's integration tests share: running the `weir` binary the way
//! a user does, with a deadline. Each test crate uses a part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod lease;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No run may take this long: a hung job fails its test, it does not hang
/// the suite.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `weir` with a deadline; `None` when it had to be killed.
pub fn run_weir(args: &[&str], dir: &Path) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    // Drain the pipes on threads so a chatty job cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CASE_TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Some(Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    })
}

/// A `weir` process whose standard error is collected line by line; killed
/// when dropped.
pub struct Process {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn start(args: &[&str]) -> Process {
        Self::start_with(args, &[])
    }

    /// With `env` added to (or, with an empty value, removed from) the
    /// environment.
    pub fn start_with(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command.args(args).env("WEIR_LOG", "info");
        for (name, value) in env {
            if value.is_empty() {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weir starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Process { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first line containing `needle`, waiting up to `timeout`.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                started.elapsed() < timeout,
                "no line with {needle:?} within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn count_lines(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on loopback now (for a process that must be told its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A kubeconfig naming an API server at `api` (plain HTTP, no credentials,
/// namespace `weir`), written into `dir`: how the tests point `weir` at a
/// fake API server.
pub fn write_kubeconfig(dir: &Path, api: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\n\
             users:\n- name: weir\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: weir\n    namespace: weir\n\
             current-context: fake\n"
        ),
    )
    .expect("the kubeconfig is written");
    path
}

/// The Kubernetes API server's error answer (a `Status` object), for the
/// fake API servers of the tests.
pub fn api_status(code: u16, reason: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::from_u16(code).expect("an HTTP status code"),
        axum::Json(
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": reason, "code": code, "message": reason}),
        ),
    )
        .into_response()
}
