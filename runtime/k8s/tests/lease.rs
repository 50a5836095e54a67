//! Leader election against a mocked API server: every request's method, path
//! and body is checked, and answered as the API server would.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_k8s::testing::{expect, respond, status, Handle};

use http::{Method, Request, Response};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tower_test::mock;
use weir_k8s::{Clock, K8sError, LeaderElector, Leadership, LeaseConfig};

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/weir/leases/weir-jobmanager";
/// Writes carry a query string, empty here.
const LEASE_PUT_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/weir/leases/weir-jobmanager?";
const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/weir/leases?";
const NOW: &str = "2025-06-01T12:00:00Z";

struct TestClock(Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

fn at(offset_secs: i64) -> String {
    let t: Timestamp = NOW.parse().expect("timestamp");
    let t = t
        .checked_add(SignedDuration::from_secs(offset_secs))
        .expect("in range");
    // MicroTime's wire form.
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.6fZ", t).expect("format")
}

fn config() -> LeaseConfig {
    LeaseConfig::new("weir", "weir-jobmanager", "jm-a")
}

fn mocked(config: LeaseConfig) -> (LeaderElector, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let clock = Arc::new(TestClock(Mutex::new(NOW.parse().expect("timestamp"))));
    let elector = LeaderElector::new(client, config)
        .expect("valid config")
        .with_clock(clock);
    (elector, handle)
}

fn lease(resource_version: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "weir-jobmanager", "namespace": "weir", "resourceVersion": resource_version},
        "spec": spec,
    })
}

/// After the code under test is done, nothing else may have been sent.
async fn assert_no_more_requests(mut handle: Handle, elector: LeaderElector) {
    drop(elector);
    let next = timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("the client to shut down");
    assert!(
        next.is_none(),
        "unexpected request: {:?}",
        next.map(|(r, _)| r.uri().clone())
    );
}

#[tokio::test]
async fn creates_the_lease_when_absent() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(r, 404, &status(404, "NotFound"));
        let (body, r) = expect(&mut handle, Method::POST, LEASES_PATH).await;
        assert_eq!(
            body,
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "weir-jobmanager", "namespace": "weir"},
                "spec": {
                    "holderIdentity": "jm-a",
                    "acquireTime": at(0),
                    "renewTime": at(0),
                    "leaseDurationSeconds": 15,
                    "leaseTransitions": 0,
                },
            })
        );
        let mut created = body.clone();
        created["metadata"]["resourceVersion"] = json!("1");
        respond(r, 201, &created);
        handle
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Leader
    );
    let handle = server.await.expect("server");
    assert_no_more_requests(handle, elector).await;
}

#[tokio::test]
async fn renews_a_lease_it_holds() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "41",
                json!({"holderIdentity": "jm-a", "acquireTime": at(-600), "renewTime": at(-2),
                       "leaseDurationSeconds": 15, "leaseTransitions": 3}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        assert_eq!(
            body,
            lease(
                "41",
                json!({"holderIdentity": "jm-a", "acquireTime": at(-600), "renewTime": at(0),
                       "leaseDurationSeconds": 15, "leaseTransitions": 3}),
            )
        );
        respond(r, 200, &body);
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Leader
    );
    server.await.expect("server");
}

#[tokio::test]
async fn does_not_take_over_a_fresh_lease() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        // Renewed 14 s ago with a 15 s lease: one second left.
        respond(
            r,
            200,
            &lease(
                "7",
                json!({"holderIdentity": "jm-b", "acquireTime": at(-100), "renewTime": at(-14),
                       "leaseDurationSeconds": 15, "leaseTransitions": 1}),
            ),
        );
        handle
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Follower {
            holder: Some("jm-b".into())
        }
    );
    let handle = server.await.expect("server");
    assert_no_more_requests(handle, elector).await;
}

#[tokio::test]
async fn takes_over_an_expired_lease() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        // The holder promised 15 s and last renewed 16 s ago.
        respond(
            r,
            200,
            &lease(
                "7",
                json!({"holderIdentity": "jm-b", "acquireTime": at(-100), "renewTime": at(-16),
                       "leaseDurationSeconds": 15, "leaseTransitions": 1}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        assert_eq!(
            body,
            lease(
                "7",
                json!({"holderIdentity": "jm-a", "acquireTime": at(0), "renewTime": at(0),
                       "leaseDurationSeconds": 15, "leaseTransitions": 2}),
            )
        );
        respond(r, 200, &body);
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Leader
    );
    server.await.expect("server");
}

#[tokio::test]
async fn expiry_uses_the_holders_lease_duration() {
    // We would wait 15 s, but the holder promised only 5 s.
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "8",
                json!({"holderIdentity": "jm-b", "renewTime": at(-6),
                       "leaseDurationSeconds": 5, "leaseTransitions": 4}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        assert_eq!(body["spec"]["holderIdentity"], json!("jm-a"));
        assert_eq!(body["spec"]["leaseTransitions"], json!(5));
        respond(r, 200, &body);
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Leader
    );
    server.await.expect("server");
}

#[tokio::test]
async fn takes_over_a_released_lease_at_once() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        // Released a moment ago: no holder, though renewTime is fresh.
        respond(
            r,
            200,
            &lease(
                "9",
                json!({"renewTime": at(-1), "leaseDurationSeconds": 1, "leaseTransitions": 2}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        assert_eq!(
            body,
            lease(
                "9",
                json!({"holderIdentity": "jm-a", "acquireTime": at(0), "renewTime": at(0),
                       "leaseDurationSeconds": 15, "leaseTransitions": 3}),
            )
        );
        respond(r, 200, &body);
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Leader
    );
    server.await.expect("server");
}

#[tokio::test]
async fn a_conflict_on_replace_means_follower() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "7",
                json!({"holderIdentity": "jm-b", "renewTime": at(-60),
                       "leaseDurationSeconds": 15, "leaseTransitions": 1}),
            ),
        );
        // Another standby replaced it first.
        let (_, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        respond(r, 409, &status(409, "Conflict"));
    });
    assert_eq!(
        elector
            .try_acquire_or_renew()
            .await
            .expect("a lost race is no error"),
        Leadership::Follower { holder: None }
    );
    server.await.expect("server");
}

#[tokio::test]
async fn losing_the_create_race_means_follower() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(r, 404, &status(404, "NotFound"));
        let (_, r) = expect(&mut handle, Method::POST, LEASES_PATH).await;
        respond(r, 409, &status(409, "AlreadyExists"));
    });
    assert_eq!(
        elector.try_acquire_or_renew().await.expect("round"),
        Leadership::Follower { holder: None }
    );
    server.await.expect("server");
}

#[tokio::test]
async fn other_api_errors_name_the_lease() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(r, 403, &status(403, "Forbidden"));
    });
    let err = elector
        .try_acquire_or_renew()
        .await
        .expect_err("forbidden is an error");
    assert!(matches!(err, K8sError::Api { .. }), "{err:?}");
    assert_eq!(err.status_code(), Some(403));
    assert!(
        err.to_string()
            .starts_with("get Lease weir/weir-jobmanager: "),
        "{err}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn release_clears_the_holder() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "12",
                json!({"holderIdentity": "jm-a", "acquireTime": at(-30), "renewTime": at(-1),
                       "leaseDurationSeconds": 15, "leaseTransitions": 3}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        assert_eq!(
            body,
            lease(
                "12",
                json!({"renewTime": at(0), "leaseDurationSeconds": 1, "leaseTransitions": 3}),
            )
        );
        respond(r, 200, &body);
    });
    elector.release().await.expect("release");
    server.await.expect("server");
}

#[tokio::test]
async fn release_leaves_someone_elses_lease_alone() {
    let (elector, mut handle) = mocked(config());
    let server = tokio::spawn(async move {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "12",
                json!({"holderIdentity": "jm-b", "renewTime": at(-1), "leaseDurationSeconds": 15}),
            ),
        );
        handle
    });
    elector.release().await.expect("release");
    let handle = server.await.expect("server");
    assert_no_more_requests(handle, elector).await;
}

#[tokio::test]
async fn unsafe_timings_are_rejected() {
    let (service, _handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "weir");
    let mut config = config();
    config.renew_deadline = config.lease_duration;
    let err = LeaderElector::new(client, config)
        .err()
        .expect("renew_deadline == lease_duration allows two leaders");
    assert!(
        err.to_string()
            .contains("renew_deadline (15s) must be shorter than lease_duration (15s)"),
        "{err}"
    );
}

fn fast_config() -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(200),
        retry_period: Duration::from_millis(20),
        ..config()
    }
}

async fn wait_for(rx: &mut watch::Receiver<bool>, value: bool) -> Instant {
    timeout(Duration::from_secs(5), rx.wait_for(|v| *v == value))
        .await
        .unwrap_or_else(|_| panic!("leadership {value} within 5s"))
        .expect("elector alive");
    Instant::now()
}

/// Answers GET with "absent" and POST with "created": the elector leads.
async fn grant_leadership(handle: &mut Handle) {
    let (_, r) = expect(handle, Method::GET, LEASE_PATH).await;
    respond(r, 404, &status(404, "NotFound"));
    let (body, r) = expect(handle, Method::POST, LEASES_PATH).await;
    let mut created = body;
    created["metadata"]["resourceVersion"] = json!("1");
    respond(r, 201, &created);
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_after_the_renew_deadline() {
    let (elector, mut handle) = mocked(fast_config());
    let (tx, mut rx) = watch::channel(false);
    let task = elector.spawn(tx);

    grant_leadership(&mut handle).await;
    let became_leader = wait_for(&mut rx, true).await;

    // From now on the API server fails every request.
    let server = tokio::spawn(async move {
        while let Some((_, r)) = handle.next_request().await {
            respond(r, 500, &status(500, "InternalError"));
        }
    });
    let stepped_down = wait_for(&mut rx, false).await;
    let led_for = stepped_down - became_leader;
    // Not at the first failed round (20 ms), but by the deadline (200 ms).
    assert!(
        led_for >= Duration::from_millis(120),
        "stepped down after {led_for:?}"
    );
    assert!(
        led_for < Duration::from_secs(1),
        "stepped down after {led_for:?}"
    );

    task.abort();
    let _ = task.await;
    server.abort();
}

#[tokio::test]
async fn a_leader_whose_renewal_hangs_steps_down_after_the_renew_deadline() {
    let (elector, mut handle) = mocked(fast_config());
    let (tx, mut rx) = watch::channel(false);
    let task = elector.spawn(tx);

    grant_leadership(&mut handle).await;
    let became_leader = wait_for(&mut rx, true).await;

    // The API server accepts the next request and never answers it.
    let (_, unanswered) = expect(&mut handle, Method::GET, LEASE_PATH).await;
    let stepped_down = wait_for(&mut rx, false).await;
    let led_for = stepped_down - became_leader;
    assert!(
        led_for >= Duration::from_millis(120),
        "stepped down after {led_for:?}"
    );
    assert!(
        led_for < Duration::from_secs(1),
        "stepped down after {led_for:?}"
    );

    drop(unanswered);
    task.abort();
    let _ = task.await;
}

#[tokio::test]
async fn a_leader_renews_then_steps_down_when_another_takes_over() {
    let (elector, mut handle) = mocked(fast_config());
    let (tx, mut rx) = watch::channel(false);
    let task = elector.spawn(tx);

    grant_leadership(&mut handle).await;
    wait_for(&mut rx, true).await;

    // A successful renewal keeps it leading.
    let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
    respond(
        r,
        200,
        &lease(
            "2",
            json!({"holderIdentity": "jm-a", "renewTime": at(0), "leaseDurationSeconds": 1}),
        ),
    );
    let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
    respond(r, 200, &body);
    // The next round finds jm-b holding a fresh lease.
    let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
    assert!(*rx.borrow(), "still leader after renewing");
    respond(
        r,
        200,
        &lease(
            "3",
            json!({"holderIdentity": "jm-b", "renewTime": at(0), "leaseDurationSeconds": 1}),
        ),
    );
    wait_for(&mut rx, false).await;

    task.abort();
    let _ = task.await;
}

#[tokio::test]
async fn the_loop_releases_the_lease_when_nobody_listens() {
    let (elector, mut handle) = mocked(fast_config());
    let (tx, mut rx) = watch::channel(false);
    let task = elector.spawn(tx);

    grant_leadership(&mut handle).await;
    wait_for(&mut rx, true).await;
    drop(rx);

    // Possibly one renewal round still in flight, then the release.
    loop {
        let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        respond(
            r,
            200,
            &lease(
                "2",
                json!({"holderIdentity": "jm-a", "acquireTime": at(0), "renewTime": at(0),
                       "leaseDurationSeconds": 1, "leaseTransitions": 0}),
            ),
        );
        let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
        let released = body["spec"].get("holderIdentity").is_none();
        respond(r, 200, &body);
        if released {
            assert_eq!(body["spec"]["leaseDurationSeconds"], json!(1));
            break;
        }
    }
    timeout(Duration::from_secs(5), task)
        .await
        .expect("the loop ends")
        .expect("no panic");
}

/// A leader that stops releases the Lease; the standby must notice before a
/// replica starting in the stopped one's place, so it looks more often
/// than the leader renews.
#[tokio::test]
async fn a_standby_takes_a_released_lease_within_its_poll_period_not_the_retry_period() {
    let (elector, mut handle) = mocked(LeaseConfig {
        standby_poll_period: Duration::from_millis(50),
        ..config()
    });
    let (tx, mut rx) = watch::channel(false);
    let task = elector.spawn(tx);

    // Held, and fresh: the elector stays a standby.
    let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
    respond(
        r,
        200,
        &lease(
            "8",
            json!({"holderIdentity": "jm-b", "renewTime": at(0), "leaseDurationSeconds": 15,
                   "leaseTransitions": 2}),
        ),
    );
    let standby_since = Instant::now();
    // Then released by its leader, which stops.
    let (_, r) = expect(&mut handle, Method::GET, LEASE_PATH).await;
    respond(
        r,
        200,
        &lease(
            "9",
            json!({"renewTime": at(0), "leaseDurationSeconds": 1, "leaseTransitions": 2}),
        ),
    );
    let (body, r) = expect(&mut handle, Method::PUT, LEASE_PUT_PATH).await;
    respond(r, 200, &body);
    let leading = wait_for(&mut rx, true).await - standby_since;
    // The retry period is 2 s: the standby looked again long before it.
    assert!(
        leading < Duration::from_secs(1),
        "took the released Lease after {leading:?}"
    );

    task.abort();
    let _ = task.await;
}
