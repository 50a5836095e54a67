//! The gRPC services: translation between messages and `Core`.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use weir_proto::v1::job_manager_message::Message as ToTaskManager;
use weir_proto::v1::job_service_server::JobService;
use weir_proto::v1::resource_manager_server::ResourceManager;
use weir_proto::v1::task_manager_message::Message as FromTaskManager;
use weir_proto::v1::{
    CancelJobRequest, CancelJobResponse, FetchModuleRequest, GetJobRequest, JobDetails,
    JobManagerMessage, ListJobsRequest, ListJobsResponse, ModuleChunk, PutModuleResponse,
    Registered, SubmitJobRequest, SubmitJobResponse, TaskManagerMessage, TriggerSavepointRequest,
    TriggerSavepointResponse,
};

use weir_types::Digest;

use crate::checkpoints::Completed;
use crate::core::{Core, PutModuleError, SubmitError, TaskManagerLink};

/// Reads the metadata of a savepoint or retained checkpoint to start from.
pub async fn read_restore_point(location: &str) -> Result<Completed, SubmitError> {
    let fail = |why: String| SubmitError::Savepoint {
        location: location.to_string(),
        why,
    };
    let location = weir_checkpoint::location_of(location, std::path::Path::new("/"))
        .map_err(|e| fail(e.to_string()))?;
    let storage = weir_checkpoint::Storage::new();
    let bytes = storage
        .get(&weir_checkpoint::join(
            &location,
            weir_checkpoint::METADATA_FILE,
        ))
        .await
        .map_err(|e| match e.is_not_found() {
            true => fail(format!(
                "it has no {} (not a savepoint or completed checkpoint)",
                weir_checkpoint::METADATA_FILE
            )),
            false => fail(e.to_string()),
        })?;
    let metadata = weir_checkpoint::CheckpointMetadata::parse(&bytes, &location)
        .map_err(|e| fail(e.to_string()))?;
    Ok(Completed { location, metadata })
}

pub struct Jobs {
    core: Arc<Core>,
    /// Submissions and uploads under way; more than the limit are refused.
    admissions: Arc<Semaphore>,
}

impl Jobs {
    pub fn new(core: Arc<Core>) -> Self {
        let admissions = Arc::new(Semaphore::new(core.limits.max_concurrent_submissions));
        Jobs { core, admissions }
    }

    /// A place among the submissions handled at once, or a refusal naming
    /// the limit (RESOURCE_EXHAUSTED: the client may retry).
    fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.admissions.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "the JobManager is handling {} submissions and uploads already \
                 (maxConcurrentSubmissions); try again shortly",
                self.core.limits.max_concurrent_submissions
            ))
        })
    }
}

fn submit_status(e: SubmitError) -> Status {
    match e {
        SubmitError::Spec(_) => Status::invalid_argument(e.to_string()),
        SubmitError::Limit(_) => Status::resource_exhausted(e.to_string()),
        SubmitError::Storage { .. } => Status::unavailable(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

#[tonic::async_trait]
impl JobService for Jobs {
    async fn put_module(
        &self,
        request: Request<Streaming<ModuleChunk>>,
    ) -> Result<Response<PutModuleResponse>, Status> {
        let _admitted = self.admit()?;
        let mut chunks = request.into_inner();
        let mut claimed = String::new();
        let mut bytes = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if claimed.is_empty() {
                claimed = chunk.digest;
            }
            // Refused as it arrives, not once it has all been held.
            self.core
                .limits
                .check_module_size((bytes.len() + chunk.data.len()) as u64)
                .map_err(|e| Status::resource_exhausted(e.to_string()))?;
            bytes.extend_from_slice(&chunk.data);
        }
        let size = bytes.len() as u64;
        let digest = self.core.put_module(&claimed, bytes).map_err(|e| match e {
            PutModuleError::Limit(why) => Status::resource_exhausted(why.to_string()),
            PutModuleError::Digest { .. } => Status::data_loss(e.to_string()),
        })?;
        Ok(Response::new(PutModuleResponse {
            digest: digest.to_string(),
            size,
        }))
    }

    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobResponse>, Status> {
        let _admitted = self.admit()?;
        let request = request.into_inner();
        let restore = match request.from_savepoint.trim() {
            "" => None,
            location => Some(read_restore_point(location).await.map_err(submit_status)?),
        };
        // Parsing is CPU work sized by the client: off the threads that
        // serve heartbeats.
        let core = self.core.clone();
        let job_id = tokio::task::spawn_blocking(move || core.submit(&request.spec_yaml, restore))
            .await
            .map_err(|e| Status::internal(format!("the submission failed: {e}")))?
            .map_err(submit_status)?;
        // The id goes out only once the job would survive this JobManager.
        self.core.durable(&job_id).await.map_err(submit_status)?;
        Ok(Response::new(SubmitJobResponse { job_id }))
    }

    async fn trigger_savepoint(
        &self,
        request: Request<TriggerSavepointRequest>,
    ) -> Result<Response<TriggerSavepointResponse>, Status> {
        let request = request.into_inner();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let directory = Some(request.target_directory).filter(|d| !d.trim().is_empty());
        self.core
            .trigger_savepoint(&request.job_id, directory, request.stop, Some(reply))
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        match answer.await {
            Ok(Ok(location)) => Ok(Response::new(TriggerSavepointResponse { location })),
            Ok(Err(why)) => Err(Status::aborted(format!("the savepoint failed: {why}"))),
            Err(_) => Err(Status::aborted("the savepoint was abandoned")),
        }
    }

    async fn list_jobs(
        &self,
        _request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        Ok(Response::new(ListJobsResponse {
            jobs: self.core.jobs(),
        }))
    }

    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<Response<JobDetails>, Status> {
        let job_id = request.into_inner().job_id;
        self.core
            .job(&job_id)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("there is no job {job_id}")))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<CancelJobResponse>, Status> {
        let job_id = request.into_inner().job_id;
        let previous = self
            .core
            .cancel(&job_id)
            .ok_or_else(|| Status::not_found(format!("there is no job {job_id}")))?;
        Ok(Response::new(CancelJobResponse {
            previous_state: weir_proto::v1::JobState::from(previous) as i32,
        }))
    }
}

pub struct Resources {
    pub core: Arc<Core>,
}

type Outbound = ReceiverStream<Result<JobManagerMessage, Status>>;
type Chunks = Pin<Box<dyn Stream<Item = Result<ModuleChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ResourceManager for Resources {
    type AttachStream = Outbound;
    type FetchModuleStream = Chunks;

    async fn attach(
        &self,
        request: Request<Streaming<TaskManagerMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut inbound = request.into_inner();
        let registration = match inbound.message().await? {
            Some(TaskManagerMessage {
                message: Some(FromTaskManager::Register(registration)),
            }) => registration,
            _ => {
                return Err(Status::invalid_argument(
                    "a TaskManager must register first",
                ))
            }
        };
        if registration.task_manager_id.is_empty() || registration.slots == 0 {
            return Err(Status::invalid_argument(
                "a TaskManager needs an id and at least one slot",
            ));
        }
        let (sender, receiver) = mpsc::channel(1024);
        let _ = sender
            .send(Ok(JobManagerMessage {
                message: Some(ToTaskManager::Registered(Registered {
                    heartbeat_interval_ms: self.core.heartbeat_interval.as_millis() as u64,
                    heartbeat_timeout_ms: self.core.heartbeat_timeout.as_millis() as u64,
                })),
            }))
            .await;
        let tm_id = registration.task_manager_id.clone();
        let session = self.core.register(registration, sender);
        let core = self.core.clone();
        tokio::spawn(async move {
            let why = loop {
                match inbound.message().await {
                    Ok(Some(message)) => match message.message {
                        Some(FromTaskManager::Heartbeat(beat)) => {
                            core.heartbeat(&tm_id, session, beat.jobs)
                        }
                        Some(FromTaskManager::TaskState(update)) => {
                            core.task_state(&tm_id, session, update)
                        }
                        Some(FromTaskManager::CheckpointAck(ack)) => {
                            core.checkpoint_ack(&tm_id, session, ack)
                        }
                        Some(FromTaskManager::Register(_)) | None => {}
                    },
                    Ok(None) => break "it closed its connection".to_string(),
                    Err(status) => break format!("its connection broke ({})", status.message()),
                }
            };
            core.disconnected(&tm_id, session, &why);
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn fetch_module(
        &self,
        request: Request<FetchModuleRequest>,
    ) -> Result<Response<Self::FetchModuleStream>, Status> {
        let digest = request.into_inner().digest;
        let digest = Digest::parse(&digest).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let bytes = self
            .core
            .module(&digest)
            .ok_or_else(|| Status::not_found(format!("no module {digest} here")))?;
        let chunks: Vec<Result<ModuleChunk, Status>> =
            weir_proto::module_chunks(&digest.to_string(), &bytes)
                .into_iter()
                .map(Ok)
                .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

/// A TaskManager's control stream, as the JobManager's rules reach it.
impl TaskManagerLink for mpsc::Sender<Result<JobManagerMessage, Status>> {
    fn send(&self, message: ToTaskManager) -> bool {
        self.try_send(Ok(JobManagerMessage {
            message: Some(message),
        }))
        .is_ok()
    }
}
