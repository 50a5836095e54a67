//! The committed CRD is the one the types generate: a change to
//! `crd.rs` without `WEIR_CRD_WRITE=1 cargo test -p weir-k8s --test crd`
//! fails here, so the YAML users apply never lags the controller.

use std::path::Path;

#[test]
fn committed_crd_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/crd/weirjob.yaml");
    let generated = weir_k8s::crd::crd_yaml();
    if std::env::var_os("WEIR_CRD_WRITE").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "k8s/crd/weirjob.yaml differs from the WeirJob types; regenerate it with \
         WEIR_CRD_WRITE=1 cargo test --release -p weir-k8s --test crd"
    );
}

#[test]
fn the_crd_round_trips_a_weirjob() {
    let yaml = r#"
apiVersion: weir.dev/v1alpha1
kind: WeirJob
metadata: {name: wc, namespace: weir}
spec:
  job: {name: wc, source: {type: generator, count: 10}, sink: {type: stdout}}
  modules: {tokenize: "oci://r.example/w:1"}
  upgradeMode: last-state
"#;
    let job: weir_k8s::WeirJob = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(job.spec.upgrade_mode, weir_k8s::UpgradeMode::LastState);
    assert_eq!(job.spec.state, weir_k8s::DesiredState::Running);
    assert!(
        matches!(&job.spec.job.source,
                 weir_types::SourceSpec::Generator(g) if g.count == Some(10)),
        "{:?}",
        job.spec.job.source
    );
    let bad = yaml.replace("last-state", "rolling");
    let error = serde_yaml_ng::from_str::<weir_k8s::WeirJob>(&bad)
        .unwrap_err()
        .to_string();
    assert!(error.contains("rolling"), "{error}");
}
