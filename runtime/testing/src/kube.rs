//! A real Kubernetes control plane for the tests: etcd and kube-apiserver
//! (and, on request, kube-controller-manager, which runs the garbage
//! collector and the ServiceAccount token controller) from
//! `scripts/setup-kube-control-plane.sh`, on free loopback ports, with
//! certificates made for the run. Everything lives in a directory of its own,
//! stopped and removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a control plane may take to answer `/readyz`: about 5 s here.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// Why `kubectl` gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    #[error("cannot run kubectl: {0}")]
    Spawn(#[source] std::io::Error),
    /// kubectl ran and refused: its standard error, which names the cause
    /// (`NotFound`, the field a schema refused).
    #[error("{stderr}")]
    Failed { stderr: String },
}

pub struct KubeControlPlane {
    /// The admin's kubeconfig (`system:masters`).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`
    pub server: String,
    pub dir: PathBuf,
    children: Vec<(&'static str, Child)>,
}

/// Where the setup script links the binaries.
fn binary(name: &str) -> PathBuf {
    let tools = std::env::var_os("WEIR_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir/tools")))
        .unwrap_or_else(|| PathBuf::from(".cache/weir/tools"));
    let path = tools.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-kube-control-plane.sh",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A key and a certificate signed by the run's CA.
fn certificate(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let key = format!("{name}.key");
    let request = format!("{name}.csr");
    let extension_file = format!("{name}.ext");
    std::fs::write(dir.join(&extension_file), extensions).expect("an extensions file");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req", "-new", "-key", &key, "-subj", subject, "-out", &request,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extension_file,
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=weir-test-ca",
            "-days",
            "2",
            "-out",
            "ca.crt",
        ],
    );
    certificate(
        dir,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,\
         DNS:kubernetes.default,DNS:kubernetes.default.svc,\
         DNS:kubernetes.default.svc.cluster.local\n\
         extendedKeyUsage=serverAuth\n",
    );
    certificate(
        dir,
        "admin",
        "/O=system:masters/CN=kubernetes-admin",
        "extendedKeyUsage=clientAuth\n",
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sa.key",
        ],
    );
    openssl(dir, &["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

fn start(name: &'static str, command: &mut Command, log: &Path) -> (&'static str, Child) {
    let log = std::fs::File::create(log).expect("a log file");
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    (name, child)
}

impl KubeControlPlane {
    /// etcd and kube-apiserver: enough for a controller, Leases, RBAC.
    pub fn start() -> KubeControlPlane {
        Self::start_with(false)
    }

    /// With kube-controller-manager as well: owner references are acted on
    /// (garbage collection) and ServiceAccounts get their tokens.
    pub fn start_with_controller_manager() -> KubeControlPlane {
        Self::start_with(true)
    }

    fn start_with(controller_manager: bool) -> KubeControlPlane {
        let dir =
            std::env::temp_dir().join(format!("weir-kube-{}-{}", std::process::id(), free_port()));
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).expect("the control plane's directory");
        make_pki(&pki);
        let (etcd_client, etcd_peer, api_port) = (free_port(), free_port(), free_port());
        let mut plane = KubeControlPlane {
            kubeconfig: dir.join("admin.kubeconfig"),
            server: format!("https://127.0.0.1:{api_port}"),
            dir: dir.clone(),
            children: Vec::new(),
        };
        plane.children.push(start(
            "etcd",
            Command::new(binary("etcd"))
                .arg("--name=weir-test")
                .arg(format!("--data-dir={}", dir.join("etcd").display()))
                .arg(format!(
                    "--listen-client-urls=http://127.0.0.1:{etcd_client}"
                ))
                .arg(format!(
                    "--advertise-client-urls=http://127.0.0.1:{etcd_client}"
                ))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"))
                .arg(format!(
                    "--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"
                ))
                .arg(format!(
                    "--initial-cluster=weir-test=http://127.0.0.1:{etcd_peer}"
                ))
                // A test's cluster dies with the test: durability buys nothing.
                .arg("--unsafe-no-fsync"),
            &dir.join("etcd.log"),
        ));
        let pki_file = |name: &str| pki.join(name).display().to_string();
        plane.children.push(start(
            "kube-apiserver",
            Command::new(binary("kube-apiserver"))
                .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_client}"))
                .arg("--bind-address=127.0.0.1")
                .arg("--advertise-address=127.0.0.1")
                .arg(format!("--secure-port={api_port}"))
                // Required with a loopback advertise address.
                .arg("--endpoint-reconciler-type=none")
                .arg(format!(
                    "--cert-dir={}",
                    dir.join("apiserver-certs").display()
                ))
                .arg(format!("--tls-cert-file={}", pki_file("apiserver.crt")))
                .arg(format!(
                    "--tls-private-key-file={}",
                    pki_file("apiserver.key")
                ))
                .arg(format!("--client-ca-file={}", pki_file("ca.crt")))
                .arg(format!(
                    "--service-account-issuer=https://127.0.0.1:{api_port}"
                ))
                .arg(format!("--service-account-key-file={}", pki_file("sa.pub")))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    pki_file("sa.key")
                ))
                .arg("--service-cluster-ip-range=10.0.0.0/24")
                .arg("--authorization-mode=Node,RBAC")
                .arg("--allow-privileged=true")
                .arg("--profiling=false"),
            &dir.join("kube-apiserver.log"),
        ));
        std::fs::write(&plane.kubeconfig, plane.kubeconfig_text()).expect("the kubeconfig");
        plane.wait_ready();
        if controller_manager {
            plane.children.push(start(
                "kube-controller-manager",
                Command::new(binary("kube-controller-manager"))
                    .arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
                    .arg(format!(
                        "--authentication-kubeconfig={}",
                        plane.kubeconfig.display()
                    ))
                    .arg(format!(
                        "--authorization-kubeconfig={}",
                        plane.kubeconfig.display()
                    ))
                    .arg("--bind-address=127.0.0.1")
                    .arg(format!("--secure-port={}", free_port()))
                    .arg(format!(
                        "--service-account-private-key-file={}",
                        pki_file("sa.key")
                    ))
                    .arg(format!("--root-ca-file={}", pki_file("ca.crt")))
                    .arg(format!(
                        "--cluster-signing-cert-file={}",
                        pki_file("ca.crt")
                    ))
                    .arg(format!("--cluster-signing-key-file={}", pki_file("ca.key")))
                    .arg("--use-service-account-credentials=true")
                    .arg("--leader-elect=false")
                    // No node sends heartbeats here.
                    .arg("--controllers=*,-node-lifecycle-controller"),
                &dir.join("kube-controller-manager.log"),
            ));
        }
        plane
    }

    fn kubeconfig_text(&self) -> String {
        let pki = self.dir.join("pki");
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: weir-test\n  cluster:\n    server: {server}\n    \
             certificate-authority: {ca}\n\
             users:\n- name: admin\n  user:\n    client-certificate: {cert}\n    \
             client-key: {key}\n\
             contexts:\n- name: weir-test\n  context:\n    cluster: weir-test\n    user: admin\n\
             current-context: weir-test\n",
            server = self.server,
            ca = pki.join("ca.crt").display(),
            cert = pki.join("admin.crt").display(),
            key = pki.join("admin.key").display(),
        )
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            let answer = self.kubectl_output(&["get", "--raw", "/readyz"]);
            if answer.as_deref().is_ok_and(|text| text.trim() == "ok") {
                return;
            }
            for (name, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{name} exited ({status}); its log: {}",
                        self.dir.join(format!("{name}.log")).display()
                    );
                }
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "the API server was not ready within {READY_WITHIN:?}: {answer:?}; logs in {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kubectl` as the admin; its standard output, or why it failed.
    pub fn kubectl_output(&self, args: &[&str]) -> Result<String, KubectlError> {
        let output = Command::new(binary("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .output()
            .map_err(KubectlError::Spawn)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(KubectlError::Failed {
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// A kubeconfig acting as ServiceAccount `namespace/name`, with a token
    /// from the TokenRequest API (`kubectl create token`): a test using it
    /// can do exactly what the account's Roles grant, as a pod would.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let token = self.kubectl(&["create", "token", name, "-n", namespace, "--duration=1h"]);
        let path = self.dir.join(format!("{namespace}-{name}.kubeconfig"));
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: weir-test\n  cluster:\n    server: {server}\n    \
             certificate-authority: {ca}\n\
             users:\n- name: {name}\n  user:\n    token: {token}\n\
             contexts:\n- name: weir-test\n  context:\n    cluster: weir-test\n    \
             user: {name}\n    namespace: {namespace}\n\
             current-context: weir-test\n",
            server = self.server,
            ca = self.dir.join("pki/ca.crt").display(),
            token = token.trim(),
        );
        std::fs::write(&path, text).expect("the ServiceAccount's kubeconfig");
        path
    }

    /// `kubectl apply -f` of files under the repository (`k8s/base/...`).
    pub fn apply(&self, files: &[&str]) {
        for file in files {
            let path = crate::repo_root().join(file);
            self.kubectl(&["apply", "-f", &path.display().to_string()]);
        }
    }

    /// `kubectl`, which must succeed.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_output(args)
            .unwrap_or_else(|error| panic!("kubectl {}: {error}", args.join(" ")))
    }
}

impl Drop for KubeControlPlane {
    fn drop(&mut self) {
        // The API server before etcd, which it would otherwise retry.
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
