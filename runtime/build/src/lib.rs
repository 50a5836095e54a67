//! Builds an operator project to a Weir component with its language's own
//! toolchain: what `weir build DIR` does.
//!
//! The language is told by the project's files:
//!
//! | marker | language | toolchain |
//! |---|---|---|
//! | `Cargo.toml` | Rust | cargo, target `wasm32-wasip2` |
//! | `go.mod` | Go | Go (`GOOS=wasip1`), the Go SDK's builder, wasm-tools |
//! | `package.json` | JavaScript | Node.js, the `weir-operator` npm package (componentize-js) |
//! | `pyproject.toml`, `app.py` or `app/` | Python | the `weir-operator` Python package (componentize-py) |
//! | `*.c` or `src/*.c` | C | clang-19, wasi-libc, wasm-tools |
//!
//! Each SDK owns the details of its build; this crate finds the toolchain,
//! runs the SDK's build, and turns a missing tool into an error that says
//! how to install it.

mod rust;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use tools::tools_dir;

/// The languages `weir build` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    Go,
    C,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::Go => "Go",
            Language::C => "C",
        }
    }

    /// The repository script that installs this language's toolchain.
    fn setup_hint(self) -> &'static str {
        match self {
            Language::Rust => "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`",
            Language::Python => "run scripts/setup-python.sh (a virtualenv with componentize-py and the Python SDK)",
            Language::JavaScript => "run scripts/setup-js.sh (npm ci at the repository root: componentize-js and the JavaScript SDK)",
            Language::Go => "run scripts/setup-go.sh (Go 1.24 or newer, wasm-tools and the WASI adapter)",
            Language::C => "run scripts/setup-c.sh (clang-19, lld-19, wasi-libc, wasm-tools and the WASI adapter)",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{dir} is not an operator project: found none of Cargo.toml, go.mod, package.json, pyproject.toml, app.py, or C sources (*.c, src/*.c)")]
    UnknownProject { dir: PathBuf },
    #[error("{dir}: cannot read the project: {source}")]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("building a {language} operator needs {tool}, which was not found: {hint}")]
    MissingTool {
        language: Language,
        tool: String,
        hint: &'static str,
    },
    #[error("the {language} build of {dir} failed{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Failed {
        language: Language,
        dir: PathBuf,
        detail: Option<String>,
    },
    #[error("the {language} build of {dir} reported success but wrote no component at {output}")]
    NoOutput {
        language: Language,
        dir: PathBuf,
        output: PathBuf,
    },
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("cannot copy {from} to {to}: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

/// Tells the language of the project at `dir` from its files.
pub fn detect(dir: &Path) -> Result<Language, BuildError> {
    let has = |name: &str| dir.join(name).is_file();
    if has("Cargo.toml") {
        return Ok(Language::Rust);
    }
    if has("go.mod") {
        return Ok(Language::Go);
    }
    if has("package.json") {
        return Ok(Language::JavaScript);
    }
    if has("pyproject.toml") || has("app.py") || has("app/__init__.py") {
        return Ok(Language::Python);
    }
    let has_c_in = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == "c"))
        })
    };
    if !dir.is_dir() {
        return Err(BuildError::Read {
            dir: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    if has_c_in(dir) || has_c_in(&dir.join("src")) {
        return Ok(Language::C);
    }
    Err(BuildError::UnknownProject {
        dir: dir.to_path_buf(),
    })
}

/// Builds the operator project at `dir` and returns the component's path:
/// `output` when given, else `DIR/<name>.wasm` (the crate's name for Rust,
/// the directory's for the other languages).
pub fn build(dir: &Path, output: Option<&Path>) -> Result<PathBuf, BuildError> {
    let language = detect(dir)?;
    build_as(language, dir, output)
}

/// Like [`build`], for a project whose language is known.
pub fn build_as(
    language: Language,
    dir: &Path,
    output: Option<&Path>,
) -> Result<PathBuf, BuildError> {
    if language == Language::Rust {
        return rust::build(dir, output);
    }
    let dir = dir.canonicalize().map_err(|source| BuildError::Read {
        dir: dir.to_path_buf(),
        source,
    })?;
    let output = match output {
        Some(path) => absolute(path),
        None => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "operator".into());
            dir.join(format!("{name}.wasm"))
        }
    };
    // A stale component must not pass for a fresh one if the build fails.
    let _ = std::fs::remove_file(&output);
    let mut command = match language {
        Language::Rust => unreachable!("handled above"),
        Language::Python => python_command(&dir, &output)?,
        Language::JavaScript => javascript_command(&dir, &output)?,
        Language::Go => go_command(&dir, &output)?,
        Language::C => c_command(&dir, &output)?,
    };
    command.current_dir(&dir).env("PATH", tools::search_path());
    tracing::debug!(?command, "building a {language} operator");
    let shown = format!("{command:?}");
    let status = command.status().map_err(|source| BuildError::Spawn {
        command: shown,
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Failed {
            language,
            dir,
            detail: None,
        });
    }
    if !output.is_file() {
        return Err(BuildError::NoOutput {
            language,
            dir,
            output,
        });
    }
    Ok(output)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

fn require(language: Language, tool: &str) -> Result<PathBuf, BuildError> {
    tools::find(tool).ok_or_else(|| BuildError::MissingTool {
        language,
        tool: tool.to_string(),
        hint: language.setup_hint(),
    })
}

/// `python -m weir_operator build DIR -o OUT`, with the interpreter of
/// `WEIR_PYTHON`, else the setup's virtualenv, else `python3`.
fn python_command(dir: &Path, output: &Path) -> Result<Command, BuildError> {
    let language = Language::Python;
    let python = match std::env::var_os("WEIR_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => {
            let venv = tools_dir().join("python/bin/python");
            if venv.is_file() {
                venv
            } else {
                require(language, "python3")?
            }
        }
    };
    let probe = Command::new(&python)
        .args(["-c", "import weir_operator, componentize_py"])
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        return Err(BuildError::MissingTool {
            language,
            tool: format!(
                "the Python packages weir-operator and componentize-py (for {})",
                python.display()
            ),
            hint: language.setup_hint(),
        });
    }
    let mut command = Command::new(python);
    command
        .args(["-m", "weir_operator", "build"])
        .arg(dir)
        .arg("-o")
        .arg(output);
    Ok(command)
}

/// `npx --no-install weir-operator build DIR -o OUT`, resolving the SDK from
/// the project's (or an enclosing workspace's) node_modules.
fn javascript_command(dir: &Path, output: &Path) -> Result<Command, BuildError> {
    let language = Language::JavaScript;
    require(language, "node")?;
    let npx = require(language, "npx")?;
    let installed = dir
        .ancestors()
        .any(|d| d.join("node_modules/.bin/weir-operator").exists());
    if !installed {
        return Err(BuildError::MissingTool {
            language,
            tool: "the weir-operator npm package (not in any node_modules above the project)"
                .into(),
            hint: language.setup_hint(),
        });
    }
    let mut command = Command::new(npx);
    command
        .args(["--no-install", "weir-operator", "build"])
        .arg(dir)
        .arg("-o")
        .arg(output);
    Ok(command)
}

/// `go run weir.dev/operator/cmd/weir-go build DIR -o OUT` from the project,
/// whose go.mod resolves the SDK (and so the SDK's own builder).
fn go_command(dir: &Path, output: &Path) -> Result<Command, BuildError> {
    let language = Language::Go;
    let go = require(language, "go")?;
    require(language, "wasm-tools")?;
    let mut command = Command::new(go);
    command
        .args(["run", "weir.dev/operator/cmd/weir-go", "build"])
        .arg(dir)
        .arg("-o")
        .arg(output);
    Ok(command)
}

/// The C SDK's `weir-build-c DIR -o OUT`, found through `WEIR_C_SDK` or in an
/// `operators-sdk/c` above the project.
fn c_command(dir: &Path, output: &Path) -> Result<Command, BuildError> {
    let language = Language::C;
    let sdk = match std::env::var_os("WEIR_C_SDK") {
        Some(sdk) => Some(PathBuf::from(sdk)),
        None => dir
            .ancestors()
            .map(|d| d.join("operators-sdk/c"))
            .find(|d| d.join("weir-build-c").is_file()),
    };
    let Some(sdk) = sdk else {
        return Err(BuildError::MissingTool {
            language,
            tool: "the C SDK (set WEIR_C_SDK to its directory, operators-sdk/c)".into(),
            hint: language.setup_hint(),
        });
    };
    let mut command = Command::new(sdk.join("weir-build-c"));
    command.arg(dir).arg("-o").arg(output);
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_languages_by_their_project_files() {
        let cases: [(&[&str], Language); 6] = [
            (&["Cargo.toml", "src.rs"], Language::Rust),
            (&["go.mod", "main.go"], Language::Go),
            (&["package.json", "operator.js"], Language::JavaScript),
            (&["pyproject.toml"], Language::Python),
            (&["app.py"], Language::Python),
            (&["tokenize.c"], Language::C),
        ];
        for (files, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            for file in files {
                std::fs::write(dir.path().join(file), "").unwrap();
            }
            assert_eq!(detect(dir.path()).unwrap(), expected, "{files:?}");
        }
    }

    #[test]
    fn a_directory_without_a_project_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let error = detect(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is not an operator project"), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
    }
}
