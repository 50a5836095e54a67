//! ConfigMap modules against a mocked API server: the exact objects Weir
//! sends, and what it does with what comes back.

use std::io::Read as _;

use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::client::Body;
use kube::Api;
use weir_artifact::configmap::{self, CONFIGMAP_LIMIT, MODULE_KEY};
use weir_artifact::ArtifactError;
use weir_testing::guests;
use weir_types::sha256_digest;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn api() -> (Api<ConfigMap>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    (Api::namespaced(client, "weir"), handle)
}

fn json_response(status: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn a_module_is_stored_as_an_immutable_config_map_named_by_digest() {
    let module = guests().bytes("wordcount");
    let digest = sha256_digest(&module);
    let hex = digest.trim_start_matches("sha256:").to_string();
    let (api, mut handle) = api();
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.expect("a create");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/api/v1/namespaces/weir/configmaps");
        let body = request.into_body().collect_bytes().await.unwrap();
        let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(created["metadata"]["name"], format!("weir-module-{hex}"));
        assert_eq!(created["immutable"], true);
        assert_eq!(
            created["metadata"]["annotations"]["weir.dev/module-digest"],
            format!("sha256:{hex}")
        );
        assert_eq!(
            created["metadata"]["labels"]["app.kubernetes.io/name"],
            "weir"
        );
        // Exactly one key, the gzipped module.
        let data = created["binaryData"].as_object().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), vec![MODULE_KEY]);
        assert!(created.get("data").is_none());
        send.send_response(json_response(201, created.clone()));
        created
    });
    let reference = configmap::store(&api, &module, "wordcount.wasm")
        .await
        .unwrap();
    assert_eq!(
        reference,
        format!("configmap://weir-module-{}/{MODULE_KEY}", &digest[7..])
    );
    let created = server.await.unwrap();
    let stored: ConfigMap = serde_json::from_value(created).unwrap();
    let compressed = &stored.binary_data.unwrap()[MODULE_KEY].0;
    assert!(compressed.len() < module.len());
    assert_eq!(gunzip(compressed), module);
}

#[tokio::test]
async fn a_module_too_large_for_a_config_map_is_refused_before_any_request() {
    // Incompressible bytes: a xorshift stream.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let module: Vec<u8> = (0..CONFIGMAP_LIMIT + 4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let (api, mut handle) = api();
    let error = configmap::store(&api, &module, "big.wasm")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ArtifactError::TooLargeForConfigMap { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("big.wasm"), "{message}");
    assert!(message.contains("weir push FILE oci://"), "{message}");
    drop(api);
    assert!(
        handle.next_request().await.is_none(),
        "no request may reach the API server"
    );
}

#[tokio::test]
async fn an_existing_config_map_is_checked_not_replaced() {
    let module = guests().bytes("wordcount");
    let stored = configmap::config_map_of(&module, "wordcount.wasm").unwrap();
    let name = stored.metadata.name.clone().unwrap();
    let (api, mut handle) = api();
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::POST);
        send.send_response(json_response(
            409,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "AlreadyExists", "code": 409, "message": "already exists"}),
        ));
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(
            request.uri().path(),
            format!("/api/v1/namespaces/weir/configmaps/{name}")
        );
        send.send_response(json_response(200, serde_json::to_value(&stored).unwrap()));
        assert!(handle.next_request().await.is_none(), "no replace");
    });
    configmap::store(&api, &module, "wordcount.wasm")
        .await
        .unwrap();
    drop(api);
    server.await.unwrap();
}

#[tokio::test]
async fn a_read_module_is_verified() {
    let module = guests().bytes("wordcount");
    let digest = sha256_digest(&module);
    let good = configmap::config_map_of(&module, "m").unwrap();
    let name = good.metadata.name.clone().unwrap();
    // Another module under this module's name.
    let mut damaged = configmap::config_map_of(&guests().bytes("misbehave"), "m").unwrap();
    damaged.metadata.name = Some(name.clone());

    let (api, mut handle) = api();
    let answers = vec![
        json_response(200, serde_json::to_value(&good).unwrap()),
        json_response(200, serde_json::to_value(&damaged).unwrap()),
        json_response(
            404,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404, "message": "not found"}),
        ),
    ];
    tokio::spawn(async move {
        for answer in answers {
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(request.method(), Method::GET);
            send.send_response(answer);
        }
    });
    let read = configmap::read(&api, &name, MODULE_KEY, &digest)
        .await
        .unwrap();
    assert_eq!(read, module);

    let error = configmap::read(&api, &name, MODULE_KEY, &digest)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ArtifactError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(&format!("configmap://{name}/")),
        "{error}"
    );

    let error = configmap::read(&api, &name, MODULE_KEY, &digest)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&name) && error.contains("does not exist"),
        "{error}"
    );
}
