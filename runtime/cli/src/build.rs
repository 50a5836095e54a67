//! `weir build DIR`: builds a Rust operator crate to a component with cargo,
//! and copies the component to `DIR/<crate>.wasm` (or `--output`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

const TARGET: &str = "wasm32-wasip2";

pub fn build(dir: &Path, output: Option<&Path>) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: `weir build` builds Rust operator crates (see operators-sdk/rust/README.md)",
            dir.display()
        );
    }
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
        .context("cannot run cargo: is the Rust toolchain installed? (https://rustup.rs)")?;

    // Cargo names each artifact it builds; the component is the cdylib of the
    // package at DIR.
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut component = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
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
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        if stderr_text.contains(TARGET) && stderr_text.contains("may not be installed") {
            bail!("the {TARGET} target of the Rust toolchain is missing: install it with `rustup target add {TARGET}`");
        }
        bail!("cargo failed to build {}", dir.display());
    }
    let component = component.ok_or_else(|| {
        anyhow!(
            "cargo built no component for {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
            dir.display()
        )
    })?;
    let output = match output {
        Some(path) => path.to_path_buf(),
        None => {
            let name = component
                .file_name()
                .ok_or_else(|| anyhow!("cargo reported an artifact without a file name"))?;
            dir.join(name)
        }
    };
    std::fs::copy(&component, &output).with_context(|| {
        format!(
            "cannot copy {} to {}",
            component.display(),
            output.display()
        )
    })?;
    Ok(output)
}
