//! Which files a job's sources and sinks may touch: only under the
//! directories the cluster's configuration allows, and never the checkpoint
//! storage, the job's own spec or the process's own files, whatever the
//! allowed directories hold. A path is judged after it is made absolute,
//! cleared of `.` and `..`, and resolved through symbolic links (as far as
//! it exists), so neither `..` nor a link leads out.

use std::path::{Component, Path, PathBuf};

/// Where the rule of a TaskManager comes from, for its errors.
const SETTING: &str = "taskmanager.allowedPaths, --allowed-path";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{field}: {path} is outside the paths allowed here ({allowed}; set by {SETTING})")]
    NotAllowed {
        field: String,
        path: String,
        allowed: String,
    },
    #[error("{field}: {path} is inside {what} ({protected}), which jobs may not touch")]
    Protected {
        field: String,
        path: String,
        what: &'static str,
        protected: String,
    },
}

/// A protected place and what it is, for the error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Protected {
    path: PathBuf,
    what: &'static str,
}

/// The rule: allowed roots, and what stays out of bounds inside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathPolicy {
    allowed: Vec<PathBuf>,
    protected: Vec<Protected>,
    /// Local checkpoint storage: out of bounds for sources and sinks,
    /// where snapshots may go.
    storage: Vec<PathBuf>,
}

/// `path` made absolute against `base`, without `.` and `..` (lexically:
/// `..` of the root is the root), then with its longest existing prefix
/// resolved through symbolic links.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other.as_os_str()),
        }
    }
    // The longest prefix that exists, resolved; the rest appended.
    let mut existing = clean.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return clean,
        }
    }
}

impl PathPolicy {
    /// Nothing allowed: every file path is refused.
    pub fn deny_all() -> Self {
        PathPolicy::default()
    }

    /// Allows everything under `root` (resolved against the working
    /// directory when relative).
    pub fn allow(mut self, root: &Path) -> Self {
        let root = resolve(&cwd(), root);
        if !self.allowed.contains(&root) {
            self.allowed.push(root);
        }
        self
    }

    /// Keeps `path` (a file or a directory) out of bounds.
    pub fn protect(mut self, path: &Path, what: &'static str) -> Self {
        let path = resolve(&cwd(), path);
        if !self.protected.iter().any(|p| p.path == path) {
            self.protected.push(Protected { path, what });
        }
        self
    }

    /// Keeps the process's own files out of bounds: its binary and the
    /// kernel's views of processes and devices.
    pub fn protect_process(mut self) -> Self {
        if let Ok(binary) = std::env::current_exe() {
            self = self.protect(&binary, "the Weir binary");
        }
        for (dir, what) in [
            ("/proc", "the kernel's process files"),
            ("/sys", "the kernel's system files"),
            ("/dev", "the devices"),
        ] {
            self = self.protect(Path::new(dir), what);
        }
        self
    }

    /// A checkpoint storage location (a URL); only local ones matter here.
    pub fn with_storage(mut self, location: &str) -> Self {
        if let Some(path) = local_path(location) {
            let path = resolve(&cwd(), &path);
            if !self.storage.contains(&path) {
                self.storage.push(path);
            }
        }
        self
    }

    /// The directories allowed, for messages.
    fn allowed_text(&self) -> String {
        match self.allowed.as_slice() {
            [] => "none are".into(),
            roots => roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Where a source or sink named by spec field `field` may go: `path`
    /// resolved against `base`, if it is allowed.
    pub fn check(&self, field: &str, base: &Path, path: &str) -> Result<PathBuf, PathError> {
        let resolved = resolve(base, Path::new(path));
        let shown = resolved.display().to_string();
        for protected in &self.protected {
            if resolved.starts_with(&protected.path) {
                return Err(PathError::Protected {
                    field: field.to_string(),
                    path: shown,
                    what: protected.what,
                    protected: protected.path.display().to_string(),
                });
            }
        }
        for storage in &self.storage {
            if resolved.starts_with(storage) || storage.starts_with(&resolved) {
                return Err(PathError::Protected {
                    field: field.to_string(),
                    path: shown,
                    what: "the checkpoint storage",
                    protected: storage.display().to_string(),
                });
            }
        }
        if !self.allowed.iter().any(|root| resolved.starts_with(root)) {
            return Err(PathError::NotAllowed {
                field: field.to_string(),
                path: shown,
                allowed: self.allowed_text(),
            });
        }
        Ok(resolved)
    }

    /// Whether snapshots may be written to or read from `location` (a
    /// URL): anywhere in a remote store, locally only in the checkpoint
    /// storage or under an allowed directory, never in a protected place.
    pub fn check_storage(&self, field: &str, location: &str) -> Result<(), PathError> {
        let Some(path) = local_path(location) else {
            return Ok(());
        };
        let resolved = resolve(&cwd(), &path);
        for protected in &self.protected {
            if resolved.starts_with(&protected.path) {
                return Err(PathError::Protected {
                    field: field.to_string(),
                    path: location.to_string(),
                    what: protected.what,
                    protected: protected.path.display().to_string(),
                });
            }
        }
        let inside = |roots: &[PathBuf]| roots.iter().any(|r| resolved.starts_with(r));
        if inside(&self.storage) || inside(&self.allowed) {
            return Ok(());
        }
        Err(PathError::NotAllowed {
            field: field.to_string(),
            path: location.to_string(),
            allowed: self.allowed_text(),
        })
    }
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

/// The local path of a `file://` URL, or of a plain path.
fn local_path(location: &str) -> Option<PathBuf> {
    match location.split_once("://") {
        Some(("file", rest)) => Some(PathBuf::from(format!("/{}", rest.trim_start_matches('/')))),
        Some(_) => None,
        None => Some(PathBuf::from(location)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_judged_after_normalisation_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("in")).unwrap();
        std::fs::write(root.join("in/a.txt"), "a").unwrap();
        let checkpoints = root.join("checkpoints");
        let policy = PathPolicy::deny_all()
            .allow(&root)
            .protect(&root.join("job.yaml"), "the job's spec")
            .with_storage(&format!("file://{}", checkpoints.display()));

        assert_eq!(
            policy.check("source.path", &root, "in/a.txt").unwrap(),
            root.join("in/a.txt").canonicalize().unwrap()
        );
        assert!(policy.check("sink.path", &root, "out/new.jsonl").is_ok());

        let escape = policy
            .check("source.path", &root, "in/../../secret")
            .unwrap_err();
        assert!(matches!(escape, PathError::NotAllowed { .. }), "{escape}");
        assert!(escape.to_string().contains("allowedPaths"), "{escape}");
        assert!(policy.check("source.path", &root, "/etc/shadow").is_err());

        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let linked = policy
            .check("source.path", &root, "link/passwd")
            .unwrap_err();
        assert!(linked.to_string().contains("/etc/passwd"), "{linked}");

        let spec = policy
            .check("sink.path", &root, "./in/../job.yaml")
            .unwrap_err();
        assert!(spec.to_string().contains("the job's spec"), "{spec}");
        let storage = policy
            .check("sink.path", &root, "checkpoints/x/chk-1/_metadata")
            .unwrap_err();
        assert!(
            storage.to_string().contains("the checkpoint storage"),
            "{storage}"
        );
        // A sink at the storage's parent would hold it in its staging.
        assert!(policy.check("sink.path", &root, "checkpoints").is_err());

        let none = PathPolicy::deny_all()
            .check("source.path", &root, "in/a.txt")
            .unwrap_err();
        assert!(none.to_string().contains("none are"), "{none}");
    }

    #[test]
    fn snapshots_go_to_the_storage_or_allowed_places() {
        let dir = tempfile::tempdir().unwrap();
        let policy = PathPolicy::deny_all()
            .allow(&dir.path().join("data"))
            .with_storage(&format!("file://{}/ckpt", dir.path().display()));
        let at = |p: &str| format!("file://{}/{p}", dir.path().display());
        assert!(policy
            .check_storage("checkpoint", &at("ckpt/j/chk-1"))
            .is_ok());
        assert!(policy.check_storage("savepoint", &at("data/sp")).is_ok());
        assert!(policy
            .check_storage("savepoint", "file:///root/.ssh")
            .is_err());
        assert!(policy.check_storage("savepoint", "s3://bucket/sp").is_ok());
    }
}
