//! Leader election on a real API server, as the JobManager's ServiceAccount
//! with the Role of `k8s/base` (so the Lease verbs it grants are the ones
//! the election needs): one of two JobManagers leads, the standby takes over
//! only after the leader's lease ran out, and a released lease is taken at
//! once. The mocked tests (`lease.rs`) check each request; these check that
//! the API server answers them as assumed.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use weir_k8s::testing::client_from_kubeconfig;
use weir_k8s::{LeaderElector, Leadership, LeaseConfig};
use weir_testing::KubeControlPlane;

const LEASE_DURATION: Duration = Duration::from_secs(3);

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        lease_duration: LEASE_DURATION,
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
        ..LeaseConfig::new("weir", "weir-jobmanager", identity)
    }
}

fn follower_of(holder: &str) -> Leadership {
    Leadership::Follower {
        holder: Some(holder.to_string()),
    }
}

#[tokio::test]
async fn one_of_two_jobmanagers_leads_and_the_standby_takes_over_when_its_lease_runs_out() {
    let plane = KubeControlPlane::start();
    plane.apply(&["k8s/base/namespace.yaml", "k8s/base/jobmanager-rbac.yaml"]);
    let kubeconfig = plane.service_account_kubeconfig("weir", "weir-jobmanager");
    let client = client_from_kubeconfig(&kubeconfig).await;
    let a = LeaderElector::new(client.clone(), config("jm-a")).expect("a valid config");
    let b = LeaderElector::new(client.clone(), config("jm-b")).expect("a valid config");

    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Leadership::Leader);
    assert_eq!(b.try_acquire_or_renew().await.unwrap(), follower_of("jm-a"));
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Leadership::Leader);
    let leases: Api<Lease> = Api::namespaced(client, "weir");
    let lease = leases.get("weir-jobmanager").await.expect("the Lease");
    let spec = lease.spec.expect("a Lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("jm-a"));
    assert_eq!(spec.lease_duration_seconds, Some(3));

    // jm-a stops renewing (its process died): jm-b leads once the lease ran
    // out, not before.
    let last_renewal = Instant::now();
    loop {
        match b.try_acquire_or_renew().await.unwrap() {
            Leadership::Leader => break,
            follower => {
                assert_eq!(follower, follower_of("jm-a"));
                assert!(
                    last_renewal.elapsed() < LEASE_DURATION * 5,
                    "jm-b did not take over"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let waited = last_renewal.elapsed();
    assert!(
        waited >= LEASE_DURATION - Duration::from_millis(100),
        "jm-b took over after {waited:?}, before the lease ran out"
    );
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), follower_of("jm-b"));

    // A leader that stops cleanly releases the lease: the standby leads at
    // once.
    b.release().await.expect("the release");
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Leadership::Leader);
    let transitions = leases
        .get("weir-jobmanager")
        .await
        .expect("the Lease")
        .spec
        .and_then(|spec| spec.lease_transitions);
    assert_eq!(transitions, Some(2));
}
