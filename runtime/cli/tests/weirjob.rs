//! The WeirJob controller end to end, with real processes: a `weir
//! jobmanager --weirjob-controller` and a `weir taskmanager` against a fake
//! API server (an in-process HTTP server holding WeirJobs: list, watch,
//! merge patches of metadata and status, deletion held by finalizers,
//! events), and a real OCI registry the resource's module is pulled from.
//! A WeirJob runs to FINISHED with the word count's output; an endless one
//! is stopped by deleting its resource.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{api_status, Process};
use tokio::sync::broadcast;
use weir_testing::{guests, repo_root, OciRegistry};

mod support;

const WEIRJOBS: &str = "/apis/weir.dev/v1alpha1/namespaces/weir/weirjobs";

struct Store {
    objects: std::collections::BTreeMap<String, Value>,
    config_maps: std::collections::BTreeMap<String, Value>,
    version: u64,
    events: Vec<Value>,
    changes: broadcast::Sender<Value>,
}

type Shared = Arc<Mutex<Store>>;

fn publish(store: &mut Store, kind: &str, mut object: Value) -> Value {
    store.version += 1;
    object["metadata"]["resourceVersion"] = json!(store.version.to_string());
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    if kind == "DELETED" {
        store.objects.remove(&name);
    } else {
        store.objects.insert(name, object.clone());
    }
    let _ = store.changes.send(json!({"type": kind, "object": object}));
    object
}

/// RFC 7386, as the API server applies `application/merge-patch+json`.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else {
            merge(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

async fn list_or_watch(
    State(shared): State<Shared>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if query.get("watch").map(String::as_str) == Some("true") {
        let mut changes = shared.lock().unwrap().changes.subscribe();
        let stream = async_stream(move |send| async move {
            while let Ok(event) = changes.recv().await {
                let mut line = serde_json::to_vec(&event).unwrap();
                line.push(b'\n');
                if send.send(Ok::<_, Infallible>(line)).await.is_err() {
                    return;
                }
            }
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let store = shared.lock().unwrap();
    Json(json!({
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "WeirJobList",
        "metadata": {"resourceVersion": store.version.to_string()},
        "items": store.objects.values().cloned().collect::<Vec<_>>(),
    }))
    .into_response()
}

/// A stream fed by a task, without a streams crate.
fn async_stream<F, Fut>(
    produce: F,
) -> tokio_stream::wrappers::ReceiverStream<Result<Vec<u8>, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Vec<u8>, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (send, receive) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(send));
    tokio_stream::wrappers::ReceiverStream::new(receive)
}

async fn patch_object(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Json(patch): Json<Value>,
) -> Response {
    let mut store = shared.lock().unwrap();
    let Some(mut object) = store.objects.get(&name).cloned() else {
        return api_status(404, "NotFound");
    };
    let expected = patch["metadata"]["resourceVersion"].clone();
    if !expected.is_null() && expected != object["metadata"]["resourceVersion"] {
        return api_status(409, "Conflict");
    }
    let mut patch = patch;
    if let Some(metadata) = patch["metadata"].as_object_mut() {
        metadata.remove("resourceVersion");
    }
    merge(&mut object, &patch);
    let gone = !object["metadata"]["deletionTimestamp"].is_null()
        && object["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
    let object = publish(
        &mut store,
        if gone { "DELETED" } else { "MODIFIED" },
        object,
    );
    Json(object).into_response()
}

async fn patch_status(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Json(patch): Json<Value>,
) -> Response {
    let mut store = shared.lock().unwrap();
    let Some(mut object) = store.objects.get(&name).cloned() else {
        return api_status(404, "NotFound");
    };
    merge(&mut object["status"], &patch["status"]);
    let object = publish(&mut store, "MODIFIED", object);
    Json(object).into_response()
}

/// GET of the status subresource: the whole object, as the API server
/// answers it.
async fn read_status(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    match shared.lock().unwrap().objects.get(&name) {
        Some(object) => Json(object.clone()).into_response(),
        None => api_status(404, "NotFound"),
    }
}

async fn create_config_map(
    State(shared): State<Shared>,
    Json(config_map): Json<Value>,
) -> Response {
    let name = config_map["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut store = shared.lock().unwrap();
    if store.config_maps.contains_key(&name) {
        return api_status(409, "AlreadyExists");
    }
    store.config_maps.insert(name, config_map.clone());
    (StatusCode::CREATED, Json(config_map)).into_response()
}

async fn read_config_map(State(shared): State<Shared>, Path(name): Path<String>) -> Response {
    match shared.lock().unwrap().config_maps.get(&name) {
        Some(config_map) => Json(config_map.clone()).into_response(),
        None => api_status(404, "NotFound"),
    }
}

async fn event(State(shared): State<Shared>, Json(event): Json<Value>) -> Json<Value> {
    shared.lock().unwrap().events.push(event.clone());
    Json(event)
}

async fn event_patch(
    State(_): State<Shared>,
    Path(_): Path<String>,
    Json(event): Json<Value>,
) -> Json<Value> {
    Json(event)
}

fn api_server() -> (SocketAddr, Shared) {
    let (changes, _) = broadcast::channel(1024);
    let shared: Shared = Arc::new(Mutex::new(Store {
        objects: Default::default(),
        config_maps: Default::default(),
        version: 1,
        events: Vec::new(),
        changes,
    }));
    let app = Router::new()
        .route(WEIRJOBS, get(list_or_watch))
        .route(
            &format!("{WEIRJOBS}/{{name}}"),
            axum::routing::patch(patch_object),
        )
        .route(
            &format!("{WEIRJOBS}/{{name}}/status"),
            axum::routing::patch(patch_status).get(read_status),
        )
        .route(
            "/api/v1/namespaces/weir/configmaps",
            post(create_config_map),
        )
        .route(
            "/api/v1/namespaces/weir/configmaps/{name}",
            get(read_config_map),
        )
        .route("/apis/events.k8s.io/v1/namespaces/weir/events", post(event))
        .route(
            "/apis/events.k8s.io/v1/namespaces/weir/events/{name}",
            axum::routing::patch(event_patch),
        )
        .with_state(shared.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
    });
    (address, shared)
}

fn create(shared: &Shared, name: &str, spec: Value) {
    let object = json!({
        "apiVersion": "weir.dev/v1alpha1",
        "kind": "WeirJob",
        "metadata": {"name": name, "namespace": "weir", "uid": format!("uid-{name}"), "generation": 1},
        "spec": spec,
    });
    publish(&mut shared.lock().unwrap(), "ADDED", object);
}

fn object(shared: &Shared, name: &str) -> Option<Value> {
    shared.lock().unwrap().objects.get(name).cloned()
}

fn wait_for(what: &str, within: Duration, logs: &[&Process], mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < within,
            "{what} did not happen within {within:?}; logs:\n{}",
            logs.iter()
                .map(|p| p.log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Cluster {
    shared: Shared,
    dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    rpc: SocketAddr,
    jobmanager: Process,
    taskmanager: Process,
}

/// `weir jobmanager --weirjob-controller` on `rpc`, its storage in `dir`.
fn start_jobmanager(
    rpc: SocketAddr,
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
) -> Process {
    Process::start_with(
        &[
            "jobmanager",
            "--rpc-address",
            &rpc.to_string(),
            "--rest-address",
            "127.0.0.1:0",
            "--weirjob-controller",
            "--checkpoint-storage",
            dir.join("checkpoints").to_str().unwrap(),
        ],
        &[
            ("KUBECONFIG", kubeconfig.as_os_str()),
            ("KUBERNETES_SERVICE_HOST", "".as_ref()),
        ],
    )
}

impl Cluster {
    /// Kills the JobManager (kill -9) and starts another on the same
    /// address and storage.
    fn restart_jobmanager(&mut self) {
        support::cluster::kill_9(&self.jobmanager);
        let _ = self.jobmanager.child.wait();
        let started = Instant::now();
        while std::net::TcpListener::bind(self.rpc).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} stays taken",
                self.rpc
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.jobmanager = start_jobmanager(self.rpc, self.dir.path(), &self.kubeconfig);
        self.jobmanager
            .wait_for_line("JobManager ready", Duration::from_secs(60));
    }

    fn start() -> Cluster {
        let (api, shared) = api_server();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = support::write_kubeconfig(dir.path(), api);
        let rpc = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let env: [(&str, &std::ffi::OsStr); 2] = [
            ("KUBECONFIG", kubeconfig.as_os_str()),
            ("KUBERNETES_SERVICE_HOST", "".as_ref()),
        ];
        let jobmanager = start_jobmanager(rpc, dir.path(), &kubeconfig);
        let taskmanager = Process::start_with(
            &[
                "taskmanager",
                "--jobmanager",
                &rpc.to_string(),
                "--slots",
                "2",
                "--no-cache",
                "--allowed-path",
                &support::cluster::test_files_root(),
                // The word-count example's input, which the jobs read.
                "--allowed-path",
                weir_testing::repo_root().join("examples").to_str().unwrap(),
            ],
            &env,
        );
        Cluster {
            shared,
            dir,
            kubeconfig,
            rpc,
            jobmanager,
            taskmanager,
        }
    }

    fn logs(&self) -> [&Process; 2] {
        [&self.jobmanager, &self.taskmanager]
    }

    fn weir(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "weir {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn jobs(&self) -> Value {
        let listed = self.weir(&[
            "list",
            "--jobmanager",
            &self.rpc.to_string(),
            "--output",
            "json",
        ]);
        serde_json::from_slice(&listed.stdout).unwrap()
    }
}

fn wordcount(module: &str, output: &std::path::Path) -> Value {
    json!({
        "job": {
            "name": "wordcount",
            "source": {"type": "text", "path": repo_root().join("examples/wordcount/input.txt")},
            "operators": [
                {"name": "tokenize", "module": "placeholder.wasm", "config": {"lowercase": true}},
                {"name": "count", "builtin": "count", "keyBy": ["word"], "config": {"emit": "final"}}
            ],
            "sink": {"type": "jsonl", "path": output}
        },
        "modules": {"tokenize": module},
    })
}

/// The sum of the word count's counts: every word of the input, once.
fn counted(output: &std::path::Path) -> usize {
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["count"]
                .as_u64()
                .unwrap() as usize
        })
        .sum()
}

fn expected_words() -> usize {
    std::fs::read_to_string(repo_root().join("examples/wordcount/expected.txt"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap().parse::<usize>().unwrap())
        .sum()
}

fn event_reasons(shared: &Shared) -> Vec<String> {
    shared
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn delete(shared: &Shared, name: &str) {
    let mut store = shared.lock().unwrap();
    let mut resource = store.objects.get(name).cloned().unwrap();
    resource["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    publish(&mut store, "MODIFIED", resource);
}

#[test]
fn weirjobs_run_with_registry_modules_and_stop_when_deleted() {
    let cluster = Cluster::start();
    let (shared, dir) = (&cluster.shared, &cluster.dir);
    let logs = cluster.logs();
    let registry = OciRegistry::start(false);
    let module = guests().path("wordcount");
    let tag = format!("oci://{}/weir/wordcount:1.0", registry.address);
    cluster.weir(&["push", module.to_str().unwrap(), &tag]);

    // A word count whose tokenizer is the registry's module, by tag.
    let output = dir.path().join("counts.jsonl");
    create(shared, "wordcount", wordcount(&tag, &output));
    wait_for(
        "the WeirJob finishing",
        Duration::from_secs(60),
        &logs,
        || object(shared, "wordcount").is_some_and(|o| o["status"]["state"] == "FINISHED"),
    );
    let resource = object(shared, "wordcount").unwrap();
    assert_eq!(
        resource["metadata"]["finalizers"],
        json!(["weir.dev/stop-job"])
    );
    assert_eq!(resource["status"]["observedGeneration"], 1);
    assert_eq!(resource["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(resource["status"]["conditions"][0]["status"], "True");
    assert_eq!(counted(&output), expected_words());
    let reasons = event_reasons(shared);
    assert!(
        reasons.contains(&"Submitted".to_string()) && reasons.contains(&"JobFinished".to_string()),
        "{reasons:?}"
    );

    // An endless job: deleting its resource stops it, then the finalizer goes.
    create(
        shared,
        "endless",
        json!({"job": {"name": "endless", "source": {"type": "generator", "rate": 1000},
                        "sink": {"type": "jsonl", "path": dir.path().join("endless.jsonl")}}}),
    );
    wait_for(
        "the endless job running",
        Duration::from_secs(60),
        &logs,
        || object(shared, "endless").is_some_and(|o| o["status"]["state"] == "RUNNING"),
    );
    delete(shared, "endless");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || object(shared, "endless").is_none(),
    );
    let jobs = cluster.jobs().to_string();
    assert!(
        jobs.contains("\"name\":\"endless\"") && jobs.contains("CANCELED"),
        "{jobs}"
    );
}

/// `weir push FILE configmap://` stores the module through the API; the
/// TaskManager reads it back through the API for a WeirJob naming it.
/// Then a spec change in savepoint mode: the job stops with a savepoint and
/// the new spec resumes from it, every record committed exactly once.
#[test]
fn configmap_modules_and_an_upgrade_through_a_savepoint() {
    let cluster = Cluster::start();
    let (shared, dir) = (&cluster.shared, &cluster.dir);
    let logs = cluster.logs();
    let module = guests().path("wordcount");
    let pushed = cluster.weir(&[
        "push",
        module.to_str().unwrap(),
        "configmap://",
        "--namespace",
        "weir",
    ]);
    let reference = String::from_utf8(pushed.stdout).unwrap().trim().to_string();
    let digest = weir_types::sha256_digest(&std::fs::read(&module).unwrap());
    assert_eq!(
        reference,
        format!("configmap://weir-module-{}/module.wasm.gz", &digest[7..])
    );
    let output = dir.path().join("counts.jsonl");
    create(shared, "wordcount", wordcount(&reference, &output));
    wait_for(
        "the WeirJob finishing",
        Duration::from_secs(60),
        &logs,
        || object(shared, "wordcount").is_some_and(|o| o["status"]["state"] == "FINISHED"),
    );
    assert_eq!(counted(&output), expected_words());

    // An endless, checkpointed job in savepoint mode.
    let ids = dir.path().join("ids.jsonl");
    let spec = |rate: u32| {
        json!({
            "job": {"name": "ids", "source": {"type": "generator", "rate": rate},
                    "checkpointing": {"interval": "200ms", "storage": dir.path().join("checkpoints")},
                    "sink": {"type": "jsonl", "path": ids}},
            "upgradeMode": "savepoint",
            "savepointDirectory": dir.path().join("savepoints"),
        })
    };
    create(shared, "ids", spec(2000));
    wait_for(
        "a checkpoint in the status",
        Duration::from_secs(60),
        &logs,
        || object(shared, "ids").is_some_and(|o| !o["status"]["lastCheckpoint"].is_null()),
    );
    let first = object(shared, "ids").unwrap()["status"]["jobId"].clone();

    // The user edits the spec (a new rate): generation 2.
    {
        let mut store = shared.lock().unwrap();
        let mut resource = store.objects.get("ids").cloned().unwrap();
        resource["spec"] = spec(3000);
        resource["metadata"]["generation"] = json!(2);
        publish(&mut store, "MODIFIED", resource);
    }
    wait_for(
        "the upgraded job running",
        Duration::from_secs(60),
        &logs,
        || {
            object(shared, "ids").is_some_and(|o| {
                o["status"]["observedGeneration"] == 2 && o["status"]["state"] == "RUNNING"
            })
        },
    );
    let status = object(shared, "ids").unwrap()["status"].clone();
    assert_ne!(status["jobId"], first);
    let savepoint = status["lastSavepoint"].as_str().unwrap().to_string();
    assert!(
        savepoint.contains(&dir.path().join("savepoints").display().to_string()),
        "{status}"
    );
    assert!(
        status.get("pendingStop").is_none() && status.get("restoreFrom").is_none(),
        "{status}"
    );
    let reasons = event_reasons(shared);
    assert!(
        reasons.contains(&"SavepointCompleted".to_string()),
        "{reasons:?}"
    );
    let jobs = cluster.jobs().to_string();
    assert!(
        jobs.contains("FINISHED"),
        "the first job ended with its savepoint: {jobs}"
    );

    // Let the new job commit past the savepoint, then stop it.
    wait_for(
        "a checkpoint of the new job",
        Duration::from_secs(60),
        &logs,
        || {
            object(shared, "ids").is_some_and(|o| {
                o["status"]["lastCheckpoint"]["location"]
                    .as_str()
                    .is_some_and(|l| l.contains(status["jobId"].as_str().unwrap_or("-")))
            })
        },
    );
    delete(shared, "ids");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || object(shared, "ids").is_none(),
    );
    // Exactly once across the upgrade: the committed ids are 0..n, each once.
    let mut seen: Vec<u64> = std::fs::read_to_string(&ids)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no id twice");
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&(total as u64 - 1)), "no id missing");
    assert!(total > 0);
}

/// A WeirJob's job outlives the JobManager: a JobManager killed and started
/// again on its storage resumes it (the same job, not a resubmission), and
/// the controller follows it on.
#[test]
fn a_weirjob_s_job_survives_its_jobmanager() {
    let mut cluster = Cluster::start();
    let output = cluster.dir.path().join("counts.jsonl");
    create(
        &cluster.shared,
        "endless",
        json!({"job": {"name": "endless", "parallelism": 1,
                        "source": {"type": "generator", "rate": 2000, "keys": 10},
                        "operators": [{"name": "count", "builtin": "count", "keyBy": ["key"],
                                       "config": {"emit": "running"}}],
                        "sink": {"type": "jsonl", "path": output},
                        "checkpointing": {"interval": "200ms"}}}),
    );
    let running = |cluster: &Cluster| {
        object(&cluster.shared, "endless").is_some_and(|o| o["status"]["state"] == "RUNNING")
    };
    wait_for(
        "the job running",
        Duration::from_secs(60),
        &cluster.logs(),
        || {
            running(&cluster)
                && object(&cluster.shared, "endless")
                    .is_some_and(|o| o["status"]["lastCheckpoint"].is_object())
        },
    );
    let job_id = object(&cluster.shared, "endless").unwrap()["status"]["jobId"].clone();

    cluster.restart_jobmanager();
    wait_for(
        "the job running again",
        Duration::from_secs(60),
        &cluster.logs(),
        || {
            cluster.jobs().as_array().is_some_and(|jobs| {
                jobs.iter()
                    .any(|j| j["jid"] == job_id && j["state"] == "RUNNING")
            })
        },
    );
    let resource = object(&cluster.shared, "endless").unwrap();
    assert_eq!(resource["status"]["jobId"], job_id, "{resource:#}");
    let submitted = event_reasons(&cluster.shared)
        .iter()
        .filter(|r| *r == "Submitted")
        .count();
    assert_eq!(submitted, 1, "resumed, not submitted again");

    delete(&cluster.shared, "endless");
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &cluster.logs(),
        || object(&cluster.shared, "endless").is_none(),
    );
}
