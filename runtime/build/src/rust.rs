//! Rust: builds an operator crate to a component with cargo, and copies the
//! component to `DIR/<crate>.wasm` (or the output asked for).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{BuildError, Language};

const TARGET: &str = "wasm32-wasip2";

fn failed(dir: &Path, detail: impl Into<String>) -> BuildError {
    BuildError::Failed {
        language: Language::Rust,
        dir: dir.to_path_buf(),
        detail: Some(detail.into()),
    }
}

pub fn build(dir: &Path, output: Option<&Path>) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| BuildError::MissingTool {
            language: Language::Rust,
            tool: "cargo".into(),
            hint: Language::Rust.setup_hint(),
        })?;

    // Cargo names each artifact it builds; the component is the cdylib of the
    // package at DIR.
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut component = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| failed(dir, format!("reading cargo's output: {e}")))?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            let is_cdylib = message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
            let ours = message["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path());
            if is_cdylib && ours {
                component = message["filenames"]
                    .as_array()
                    .and_then(|files| {
                        files
                            .iter()
                            .filter_map(|f| f.as_str())
                            .find(|f| f.ends_with(".wasm"))
                    })
                    .map(PathBuf::from);
            }
        }
    }
    let mut stderr_text = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{line}");
            stderr_text.push_str(&line);
            stderr_text.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| failed(dir, format!("waiting for cargo: {e}")))?;
    if !status.success() {
        if stderr_text.contains(TARGET) && stderr_text.contains("may not be installed") {
            return Err(BuildError::MissingTool {
                language: Language::Rust,
                tool: format!("the {TARGET} target of the Rust toolchain"),
                hint: "install it with `rustup target add wasm32-wasip2`",
            });
        }
        return Err(BuildError::Failed {
            language: Language::Rust,
            dir: dir.to_path_buf(),
            detail: None,
        });
    }
    let component = component.ok_or_else(|| {
        failed(
            dir,
            "cargo built no component: the crate needs `[lib] crate-type = [\"cdylib\"]`",
        )
    })?;
    let output = match output {
        Some(path) => path.to_path_buf(),
        None => {
            let name = component
                .file_name()
                .ok_or_else(|| failed(dir, "cargo reported an artifact without a file name"))?;
            dir.join(name)
        }
    };
    std::fs::copy(&component, &output).map_err(|source| BuildError::Copy {
        from: component.clone(),
        to: output.clone(),
        source,
    })?;
    Ok(output)
}
