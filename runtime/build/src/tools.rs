//! Where build tools are found: the setup scripts install what the package
//! registries offer into one tools directory, which is searched before PATH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `$WEIR_TOOLS`, else `~/.cache/weir/tools`: where the setup scripts install
/// wit-bindgen, wasm-tools, the WASI adapter and the Python virtualenv.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    Path::new(&home).join(".cache/weir/tools")
}

/// The tools directory's `bin`, then `PATH`: what build commands run with.
pub fn search_path() -> OsString {
    let mut dirs = vec![tools_dir().join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| std::env::var_os("PATH").unwrap_or_default())
}

/// The executable `name` on the search path.
pub fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&search_path())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
