//! The WeirJob controller end to end, with real processes: a `weir
//! jobmanager --weirjob-controller` and a `weir taskmanager` against a fake
//! API server (an in-process HTTP server holding WeirJobs: list, watch,
//! merge patches of metadata and status, deletion held by finalizers,
//! events), and a real OCI registry the resource's module is pulled from.
//! A WeirJob runs to FINISHED with the word count's output; an endless one
//! is stopped by deleting its resource.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use weir_testing::{guests, repo_root, OciRegistry};

const WEIRJOBS: &str = "/apis/weir.dev/v1alpha1/namespaces/weir/weirjobs";

struct Store {
    objects: std::collections::BTreeMap<String, Value>,
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
        return (StatusCode::NOT_FOUND, Json(json!({"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"}))).into_response();
    };
    let expected = patch["metadata"]["resourceVersion"].clone();
    if !expected.is_null() && expected != object["metadata"]["resourceVersion"] {
        return (
            StatusCode::CONFLICT,
            Json(
                json!({"kind": "Status", "code": 409, "reason": "Conflict", "message": "conflict"}),
            ),
        )
            .into_response();
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
        return StatusCode::NOT_FOUND.into_response();
    };
    merge(&mut object["status"], &patch["status"]);
    let object = publish(&mut store, "MODIFIED", object);
    Json(object).into_response()
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
            axum::routing::patch(patch_status),
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

struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn start(args: &[&str], kubeconfig: &std::path::Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("WEIR_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weir starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Process { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[test]
fn weirjobs_run_with_registry_modules_and_stop_when_deleted() {
    let (api, shared) = api_server();
    let registry = OciRegistry::start(false);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\n\
             users:\n- name: weir\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: weir\n    namespace: weir\n\
             current-context: fake\n"
        ),
    )
    .unwrap();
    let module = guests().path("wordcount");
    let tag = format!("oci://{}/weir/wordcount:1.0", registry.address);
    let pushed = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["push", module.to_str().unwrap(), &tag])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let rpc = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    drop(std::net::TcpListener::bind(rpc));
    let jobmanager = Process::start(
        &[
            "jobmanager",
            "--rpc-address",
            &rpc.to_string(),
            "--rest-address",
            "127.0.0.1:0",
            "--weirjob-controller",
        ],
        &kubeconfig,
    );
    let taskmanager = Process::start(
        &[
            "taskmanager",
            "--jobmanager",
            &rpc.to_string(),
            "--slots",
            "2",
            "--no-cache",
        ],
        &kubeconfig,
    );
    let logs = [&jobmanager, &taskmanager];

    // A word count whose tokenizer is the registry's module (by tag, in
    // spec.modules), writing a file.
    let output = dir.path().join("counts.jsonl");
    create(
        &shared,
        "wordcount",
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
            "modules": {"tokenize": tag},
        }),
    );
    wait_for(
        "the WeirJob finishing",
        Duration::from_secs(60),
        &logs,
        || object(&shared, "wordcount").is_some_and(|o| o["status"]["state"] == "FINISHED"),
    );
    let resource = object(&shared, "wordcount").unwrap();
    assert_eq!(
        resource["metadata"]["finalizers"],
        json!(["weir.dev/stop-job"])
    );
    assert_eq!(resource["status"]["observedGeneration"], 1);
    assert_eq!(resource["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(resource["status"]["conditions"][0]["status"], "True");
    let counts: usize = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["count"]
                .as_u64()
                .unwrap() as usize
        })
        .sum();
    let words: usize = std::fs::read_to_string(repo_root().join("examples/wordcount/input.txt"))
        .unwrap()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .count();
    assert!(
        counts > 0 && counts <= words,
        "{counts} counted of {words} words"
    );
    let expected_total: usize =
        std::fs::read_to_string(repo_root().join("examples/wordcount/expected.txt"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit('\t').next().unwrap().parse::<usize>().unwrap())
            .sum();
    assert_eq!(counts, expected_total);
    let reasons: Vec<String> = shared
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons.contains(&"Submitted".to_string()) && reasons.contains(&"JobFinished".to_string()),
        "{reasons:?}"
    );

    // An endless job: deleting its resource stops it, then the finalizer goes.
    create(
        &shared,
        "endless",
        json!({"job": {"name": "endless", "source": {"type": "generator", "rate": 1000},
                        "sink": {"type": "jsonl", "path": dir.path().join("endless.jsonl")}}}),
    );
    wait_for(
        "the endless job running",
        Duration::from_secs(60),
        &logs,
        || object(&shared, "endless").is_some_and(|o| o["status"]["state"] == "RUNNING"),
    );
    {
        let mut store = shared.lock().unwrap();
        let mut endless = store.objects.get("endless").cloned().unwrap();
        endless["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        publish(&mut store, "MODIFIED", endless);
    }
    wait_for(
        "the deleted WeirJob going",
        Duration::from_secs(60),
        &logs,
        || object(&shared, "endless").is_none(),
    );
    let listed = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["list", "--jobmanager", &rpc.to_string(), "--output", "json"])
        .output()
        .unwrap();
    let jobs: Value = serde_json::from_slice(&listed.stdout).unwrap_or_else(|e| {
        panic!(
            "weir list: {e}: {}",
            String::from_utf8_lossy(&listed.stdout)
        )
    });
    let text = jobs.to_string();
    assert!(
        text.contains("CANCELED"),
        "the endless job was cancelled: {text}"
    );
}
