//! Test support: builds the repository's guest operators (the examples and
//! the adversarial fixtures in tests/fixtures/operators) to components, once
//! per test process, and says where they are.
//!
//! Guests build in a target directory of their own (`<target>/guests`), so
//! that the nested cargo never waits on the lock of the build running the
//! tests.

mod kube;

pub use kube::{KubeControlPlane, KubectlError};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root directory: the nearest ancestor of the package
/// under test (cargo sets `CARGO_MANIFEST_DIR` when it runs a test) that
/// holds the operator contract.
///
/// Found at run time, not from this crate's build-time manifest directory: a
/// target directory shared between clones (as CI's cache is) may hold a build
/// of this crate from another clone, and cargo does not rebuild it for a new
/// path.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    start
        .ancestors()
        .find(|dir| dir.join("operators-sdk/wit/operator.wit").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("cannot find the repository root above {}", start.display()))
}

/// Where guest components are built.
pub fn guest_target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("guests")
}

/// The built guest components.
#[derive(Debug, Clone)]
pub struct Guests {
    dir: PathBuf,
}

impl Guests {
    /// The component of the crate `name` (`wordcount`, `keyed-count`,
    /// `misbehave`, `scale`, `scale-arrow`, `sandbox-probe`, `wrong-world`).
    pub fn path(&self, name: &str) -> PathBuf {
        let file = if name == "wrong-world" {
            name.to_string()
        } else {
            name.replace('-', "_")
        };
        self.dir.join(format!("{file}.wasm"))
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        let path = self.path(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }
}

/// Builds every guest workspace once and returns where the components are.
/// Panics with cargo's own output when a build fails (a missing
/// `wasm32-wasip2` target says how to add it).
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let root = repo_root();
        let target = guest_target_dir();
        for workspace in ["examples", "tests/fixtures/operators"] {
            build_workspace(&root.join(workspace).join("Cargo.toml"), &target);
        }
        Guests {
            dir: target.join("wasm32-wasip2/release"),
        }
    })
}

fn build_workspace(manifest: &Path, target: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--workspace",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\nhint: rustup target add wasm32-wasip2"
            } else {
                ""
            };
        panic!(
            "building the guests of {} failed:\n{stderr}{hint}",
            manifest.display()
        );
    }
}

/// A core WebAssembly module (not a component): the smallest valid one.
pub const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// An S3-compatible object store on loopback (moto's server, which
/// `scripts/setup-python.sh` installs), with one bucket, for the checkpoint
/// storage tests. Stopped when dropped.
/// Where the setup scripts install tools: `$WEIR_TOOLS`, by default
/// `~/.cache/weir/tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("WEIR_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir/tools")))
        .expect("HOME or WEIR_TOOLS is set")
}

pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    pub fn start(bucket: &str) -> S3Server {
        let server = tools_dir().join("python/bin/moto_server");
        assert!(
            server.is_file(),
            "{} is missing: run scripts/setup-python.sh",
            server.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let s3 = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
        };
        let started = std::time::Instant::now();
        loop {
            if s3
                .request("PUT", &format!("/{bucket}"))
                .is_some_and(|code| code == 200)
            {
                return s3;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the S3 server did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The environment an object_store S3 client needs to reach it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "weir".into()),
            ("AWS_SECRET_ACCESS_KEY", "weir-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// The status code of a bodiless request, if the server answered.
    pub fn request(&self, method: &str, path: &str) -> Option<u16> {
        let address = self.endpoint.trim_start_matches("http://");
        http_request(address, method, path).map(|(code, _)| code)
    }
}

/// A bodiless HTTP/1.1 request to `address` (`host:port`): the status code
/// and the whole response, if the server answered. Enough for probes and
/// fakes, with no HTTP client in the tests.
pub fn http_request(address: &str, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response))
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real OCI registry (CNCF distribution, Debian's `docker-registry`) on a
/// free loopback port, with its storage in a directory of its own; stopped
/// and removed on drop. `with_login` makes it ask for user `weir`, password
/// `weir-secret` (htpasswd, bcrypt).
pub struct OciRegistry {
    child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub address: String,
    pub storage: PathBuf,
    dir: PathBuf,
}

impl OciRegistry {
    pub fn start(with_login: bool) -> OciRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_at(port, with_login)
    }

    /// On a given port: a test can make a registry appear where a client is
    /// already retrying.
    pub fn start_at(port: u16, with_login: bool) -> OciRegistry {
        let binary = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("docker-registry is missing: run scripts/setup-registry.sh");
        let dir = std::env::temp_dir().join(format!("weir-registry-{}-{port}", std::process::id()));
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).expect("the registry's directory");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if with_login {
            let htpasswd = dir.join("htpasswd");
            std::fs::write(
                &htpasswd,
                "weir:$2b$04$mQ5U2hf4di/Qjcxzjjjj9eFfkufgeEN0dA8EJcPAhKXgixhz7zsKy\n",
            )
            .expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: weir-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).expect("the registry's config");
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let registry = OciRegistry {
            child,
            address: format!("127.0.0.1:{port}"),
            storage,
            dir,
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the registry did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        registry
    }

    /// The file holding the blob with `digest` (`sha256:<hex>`), for tests
    /// that damage what the registry serves.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
