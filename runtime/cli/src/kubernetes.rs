//! The JobManager's Kubernetes side, wired to its core: the WeirJob
//! controller acting on this JobManager's jobs.

use std::sync::Arc;

use weir_artifact::Registries;
use weir_jobmanager::{Core, SavepointStatus, SubmitError};
use weir_k8s::controller::{BoxFuture, ControlError, JobControl, JobView, SavepointProgress};
use weir_k8s::crd::CheckpointReference;
use weir_types::{JobSpec, ModuleRef};

/// The JobManager's core as the WeirJob controller sees it.
pub struct CoreJobs {
    pub core: Arc<Core>,
    pub registries: Arc<Registries>,
}

impl JobControl for CoreJobs {
    fn submit(
        &self,
        spec: JobSpec,
        restore_from: Option<String>,
    ) -> BoxFuture<'_, Result<String, ControlError>> {
        Box::pin(async move {
            let refused = |e: SubmitError| ControlError::Submit(Box::new(e));
            let restore = match restore_from {
                Some(location) => Some(
                    weir_jobmanager::read_restore_point(&location)
                        .await
                        .map_err(refused)?,
                ),
                None => None,
            };
            let job_id = self.core.submit_spec(spec, restore).map_err(refused)?;
            // The resource's status names the job only once the job would
            // survive this JobManager.
            self.core.durable(&job_id).await.map_err(refused)?;
            Ok(job_id)
        })
    }

    fn pin_modules(&self, mut spec: JobSpec) -> BoxFuture<'_, Result<JobSpec, ControlError>> {
        Box::pin(async move {
            // Nothing can upload a file for a resource: its modules come
            // from a registry or a ConfigMap.
            for (index, op) in spec.operators.iter().enumerate() {
                if let Some(module) = &op.module {
                    if let Ok(ModuleRef::Path(path)) = ModuleRef::parse(module) {
                        return Err(ControlError::FileModule {
                            index,
                            operator: op.name.clone(),
                            path,
                        });
                    }
                }
            }
            weir_artifact::pin_remote_modules(&mut spec, &self.registries)
                .await
                .map_err(|e| ControlError::PinModules(Box::new(e)))?;
            Ok(spec)
        })
    }

    fn job(&self, job_id: &str) -> Option<JobView> {
        let details = self.core.job(job_id)?;
        let last_checkpoint = details.checkpoints.as_ref().and_then(|stats| {
            stats
                .history
                .iter()
                .find(|c| c.status == "COMPLETED" && !c.location.is_empty())
                .map(|c| CheckpointReference {
                    id: c.id,
                    location: c.location.clone(),
                    completed_ms: Some(c.latest_ack_timestamp_ms),
                })
        });
        Some(JobView {
            // A state this build does not know is not an end: the
            // controller must not submit the job again because of it.
            state: details.job_state().unwrap_or(weir_types::JobState::Created),
            message: details.status_message,
            restarts: details.restarts,
            last_checkpoint,
        })
    }

    fn cancel(&self, job_id: &str) {
        self.core.cancel(job_id);
    }

    fn stop_with_savepoint(
        &self,
        job_id: &str,
        directory: Option<String>,
    ) -> Result<String, ControlError> {
        self.core
            .trigger_savepoint(job_id, directory, true, None)
            .map_err(|e| ControlError::StopWithSavepoint(Box::new(e)))
    }

    fn savepoint(&self, job_id: &str, request_id: &str) -> Option<SavepointProgress> {
        Some(match self.core.savepoint_status(job_id, request_id)? {
            SavepointStatus::InProgress => SavepointProgress::InProgress,
            SavepointStatus::Completed(location) => SavepointProgress::Completed(location),
            SavepointStatus::Failed(why) => SavepointProgress::Failed(why),
        })
    }
}

/// Serves the probes of a standby JobManager on `rest` until this process
/// is elected: `/healthz` answers 200 (the process is fine), `/readyz` 503
/// (the `weir-jobmanager` Service must send nothing here). Returns once
/// leading, with the port free again for the JobManager's REST API.
pub async fn stand_by_until_leader(
    rest: std::net::SocketAddr,
    lease: &str,
    leader: &mut tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    if *leader.borrow_and_update() {
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(rest)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {rest}: {e}"))?;
    let standby = format!("standby: another JobManager holds the lease {lease}\n");
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let standby = standby.clone();
                async move { (StatusCode::SERVICE_UNAVAILABLE, standby) }
            }),
        );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!("standby: waiting for the lease {lease}");
    loop {
        if leader.changed().await.is_err() {
            anyhow::bail!("the leader election stopped");
        }
        if *leader.borrow_and_update() {
            break;
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    tracing::info!("elected: this JobManager holds the lease {lease}");
    Ok(())
}

/// Resolves when this process stops leading.
pub async fn leadership_lost(leader: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if !*leader.borrow_and_update() {
            return;
        }
        if leader.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: std::net::SocketAddr, path: &str) -> Option<String> {
        weir_testing::http_request(&address.to_string(), "GET", path).map(|(_, response)| response)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standby_is_alive_but_not_ready_until_elected() {
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (elect, mut leader) = tokio::sync::watch::channel(false);
        let waiting = tokio::spawn(async move {
            stand_by_until_leader(address, "weir-jobmanager-leader", &mut leader)
                .await
                .map(|()| leader)
        });
        let probe = |path: &'static str| {
            tokio::task::spawn_blocking(move || {
                for _ in 0..100 {
                    if let Some(response) = get(address, path) {
                        return response;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                panic!("nothing answers on {address}");
            })
        };
        let ready = probe("/readyz").await.unwrap();
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(ready.contains("weir-jobmanager-leader"), "{ready}");
        let healthy = probe("/healthz").await.unwrap();
        assert!(healthy.starts_with("HTTP/1.1 200"), "{healthy}");
        assert!(!waiting.is_finished());

        elect.send(true).unwrap();
        let mut leader = waiting.await.unwrap().unwrap();
        // The port is free for the JobManager's own REST API.
        std::net::TcpListener::bind(address).unwrap();

        let lost = tokio::spawn(async move { leadership_lost(&mut leader).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!lost.is_finished(), "still leading");
        elect.send(false).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), lost)
            .await
            .expect("a lost lease is noticed")
            .unwrap();
    }
}
