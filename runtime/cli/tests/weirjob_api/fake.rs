//! A fake API server in this process holding WeirJobs: list, watch, merge
//! patches of metadata and status, deletion held by finalizers, ConfigMaps
//! and events. It answers what the controller sends as the API server
//! does, without admission, RBAC or schema.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path as FilePath, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::WeirJobApi;
use crate::support::api_status;

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

/// A repeated event: kept as another occurrence of it.
async fn event_patch(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    Json(patch): Json<Value>,
) -> Json<Value> {
    let mut store = shared.lock().unwrap();
    let mut event = store
        .events
        .iter()
        .rev()
        .find(|e| e["metadata"]["name"] == name.as_str())
        .cloned()
        .unwrap_or_else(|| json!({}));
    merge(&mut event, &patch);
    store.events.push(event.clone());
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

pub struct FakeApi {
    shared: Shared,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeApi {
    pub fn start() -> FakeApi {
        let (address, shared) = api_server();
        let dir = tempfile::tempdir().unwrap();
        FakeApi {
            shared,
            kubeconfig: crate::support::write_kubeconfig(dir.path(), address),
            _dir: dir,
        }
    }
}

impl WeirJobApi for FakeApi {
    fn jobmanager_kubeconfig(&self) -> &FilePath {
        &self.kubeconfig
    }

    fn taskmanager_kubeconfig(&self) -> &FilePath {
        &self.kubeconfig
    }

    fn user_kubeconfig(&self) -> &FilePath {
        &self.kubeconfig
    }

    fn create(&self, name: &str, spec: Value) {
        let object = json!({
            "apiVersion": "weir.dev/v1alpha1",
            "kind": "WeirJob",
            "metadata": {"name": name, "namespace": "weir", "uid": format!("uid-{name}"), "generation": 1},
            "spec": spec,
        });
        publish(&mut self.shared.lock().unwrap(), "ADDED", object);
    }

    fn object(&self, name: &str) -> Option<Value> {
        self.shared.lock().unwrap().objects.get(name).cloned()
    }

    fn edit_spec(&self, name: &str, spec: Value) {
        let mut store = self.shared.lock().unwrap();
        let mut resource = store.objects.get(name).cloned().unwrap();
        resource["spec"] = spec;
        let generation = resource["metadata"]["generation"].as_i64().unwrap_or(1);
        resource["metadata"]["generation"] = json!(generation + 1);
        publish(&mut store, "MODIFIED", resource);
    }

    fn delete(&self, name: &str) {
        let mut store = self.shared.lock().unwrap();
        let mut resource = store.objects.get(name).cloned().unwrap();
        resource["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        publish(&mut store, "MODIFIED", resource);
    }

    fn event_reasons(&self) -> Vec<String> {
        self.shared
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}
