//! The data plane between TaskManagers: the consumer side.
//!
//! A producer's `NetworkOutbox` (see `network_outbox`) sends frames only
//! while it holds a credit. This side grants `CREDITS` frames up front and
//! one more each time a frame has moved into the consumer's input gate, so
//! per channel at most `CREDITS` frames are ever in flight or waiting,
//! whatever the consumer's pace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use prost::Message as _;
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use weir_executor::{Barrier, GateSender, Message};
use weir_proto::v1::data_plane_server::DataPlane;
use weir_proto::v1::{ChannelMetadata, Credit, FlightData};

use crate::channel_error::ChannelError;
use crate::codec::{self, Decoded};

/// Frames a consumer lets one producer have in flight.
pub const CREDITS: u32 = 4;
/// How long a producer waits for its consumer's task to be deployed.
const GATE_WAIT: Duration = Duration::from_secs(60);

/// Identifies one consumer subtask's input gate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GateKey {
    pub job_id: String,
    pub attempt: u32,
    pub vertex: u32,
    pub subtask: u32,
}

/// What the data plane holds and has sent. Held: batches waiting to be
/// coalesced or sent, and frames received but not yet in an input gate;
/// `max` is its high-water mark.
#[derive(Debug, Default)]
pub struct DataPlaneStats {
    current: AtomicU64,
    max: AtomicU64,
    sent_bytes: AtomicU64,
    sent_frames: AtomicU64,
}

impl DataPlaneStats {
    pub(crate) fn add(&self, bytes: u64) {
        let now = self.current.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn sub(&self, bytes: u64) {
        self.current.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// Bytes of data frames (Arrow IPC header and body) sent to other
    /// TaskManagers.
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Ordering::Relaxed)
    }

    pub fn sent_frames(&self) -> u64 {
        self.sent_frames.load(Ordering::Relaxed)
    }

    pub(crate) fn sent(&self, frame: &FlightData) {
        self.sent_bytes.fetch_add(
            (frame.data_header.len() + frame.data_body.len()) as u64,
            Ordering::Relaxed,
        );
        self.sent_frames.fetch_add(1, Ordering::Relaxed);
    }
}

/// The input gates of the tasks deployed here, for producers to find.
#[derive(Default)]
pub struct GateRegistry {
    gates: Mutex<HashMap<GateKey, GateSender>>,
    changed: Notify,
}

impl GateRegistry {
    pub fn register(&self, key: GateKey, sender: GateSender) {
        self.lock().insert(key, sender);
        self.changed.notify_waiters();
    }

    pub fn get(&self, key: &GateKey) -> Option<GateSender> {
        self.lock().get(key).cloned()
    }

    /// Forgets every gate of a job attempt (and of earlier attempts).
    pub fn remove_job(&self, job_id: &str, attempt: u32) {
        self.lock()
            .retain(|key, _| !(key.job_id == job_id && key.attempt <= attempt));
    }

    async fn wait_for(&self, key: &GateKey) -> Option<GateSender> {
        let deadline = tokio::time::Instant::now() + GATE_WAIT;
        loop {
            let changed = self.changed.notified();
            if let Some(sender) = self.get(key) {
                return Some(sender);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return None;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<GateKey, GateSender>> {
        self.gates.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The consumer side: the `DataPlane` gRPC service.
pub struct DataPlaneService {
    pub gates: Arc<GateRegistry>,
    pub buffered: Arc<DataPlaneStats>,
}

pub(crate) fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch.get_array_memory_size() as u64
}

#[tonic::async_trait]
impl DataPlane for DataPlaneService {
    type ExchangeStream = ReceiverStream<Result<Credit, Status>>;

    async fn exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::ExchangeStream>, Status> {
        let mut frames = request.into_inner();
        let first = frames
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the exchange stream is empty"))?;
        let metadata = ChannelMetadata::decode(first.app_metadata.as_slice()).map_err(|e| {
            Status::invalid_argument(format!("the first frame lacks its channel metadata: {e}"))
        })?;
        let key = GateKey {
            job_id: metadata.job_id.clone(),
            attempt: metadata.attempt,
            vertex: metadata.vertex,
            subtask: metadata.subtask,
        };
        let gate = self.gates.wait_for(&key).await.ok_or_else(|| {
            Status::not_found(format!(
                "no task of job {} attempt {} vertex {} subtask {} is deployed here",
                key.job_id, key.attempt, key.vertex, key.subtask
            ))
        })?;

        let (credit_tx, credit_rx) = mpsc::channel(CREDITS as usize + 1);
        let _ = credit_tx.send(Ok(Credit { frames: CREDITS })).await;
        // Decoded messages wait here (at most CREDITS of them) while the gate
        // is full; the forwarder waits asynchronously, so a TaskManager needs
        // no thread per incoming channel.
        let (message_tx, mut message_rx) = mpsc::channel::<(Message, u64)>(CREDITS as usize);
        let buffered = self.buffered.clone();
        let forward_credits = credit_tx.clone();
        tokio::spawn(async move {
            while let Some((message, bytes)) = message_rx.recv().await {
                let delivered = gate.send(message).await.is_ok();
                buffered.sub(bytes);
                if !delivered {
                    break;
                }
                if bytes > 0
                    && forward_credits
                        .send(Ok(Credit { frames: 1 }))
                        .await
                        .is_err()
                {
                    break;
                }
            }
        });

        let buffered = self.buffered.clone();
        let producer = metadata.producer_subtask;
        tokio::spawn(async move {
            let mut schema: Option<SchemaRef> = None;
            let result: Result<(), ChannelError> = async {
                while let Some(frame) = frames.next().await {
                    let frame = frame.map_err(ChannelError::ProducerBroke)?;
                    if !frame.app_metadata.is_empty() {
                        let meta = ChannelMetadata::decode(frame.app_metadata.as_slice())
                            .map_err(ChannelError::Metadata)?;
                        if meta.end {
                            let end = Message::End(meta.producer_subtask);
                            let _ = message_tx.send((end, 0)).await;
                            return Ok(());
                        }
                        if meta.idle {
                            let idle = Message::Idle(meta.producer_subtask);
                            if message_tx.send((idle, 0)).await.is_err() {
                                return Ok(());
                            }
                        }
                        if let Some(id) = meta.barrier {
                            let barrier = Message::Barrier(
                                meta.producer_subtask,
                                Barrier {
                                    id,
                                    location: meta.barrier_location.as_str().into(),
                                    timestamp_ms: meta.barrier_timestamp_ms,
                                },
                            );
                            if message_tx.send((barrier, 0)).await.is_err() {
                                return Ok(());
                            }
                        }
                        if let Some(at) = meta.watermark {
                            let watermark = Message::Watermark {
                                producer: meta.producer_subtask,
                                at,
                            };
                            if message_tx.send((watermark, 0)).await.is_err() {
                                return Ok(());
                            }
                        }
                        continue;
                    }
                    let message = match codec::decode(frame, schema.as_ref())? {
                        Decoded::Schema(s) => {
                            schema = Some(s.clone());
                            (Message::Schema(s), 0)
                        }
                        Decoded::Batch(batch) => {
                            let bytes = batch_bytes(&batch);
                            buffered.add(bytes);
                            (Message::Batch(producer, batch), bytes)
                        }
                    };
                    if message_tx.send(message).await.is_err() {
                        return Ok(());
                    }
                }
                Err(ChannelError::ProducerEndedEarly)
            }
            .await;
            if let Err(why) = result {
                // The job fails (or is already failing) through the task
                // states the JobManager sees; this consumer just stops
                // waiting for this producer's frames.
                tracing::debug!(channel = ?key, "data channel closed: {why}");
                let _ = credit_tx.send(Err(Status::aborted(why.to_string()))).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(credit_rx)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use weir_executor::{gate, GateReceiver};

    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};
    use tokio_stream::wrappers::TcpListenerStream;
    use weir_proto::v1::data_plane_server::DataPlaneServer;

    use super::*;
    use crate::network_outbox::{Connections, FlushPolicy, NetworkOutbox};
    use tokio::sync::watch;
    use weir_executor::Outbox;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn batch(rows: usize) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))],
        )
        .unwrap()
    }

    struct Consumer {
        address: String,
        gates: Arc<GateRegistry>,
        stats: Arc<DataPlaneStats>,
        connections: Connections,
    }

    async fn consumer() -> Consumer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let gates = Arc::new(GateRegistry::default());
        let stats = Arc::new(DataPlaneStats::default());
        let service = DataPlaneServer::new(DataPlaneService {
            gates: gates.clone(),
            buffered: stats.clone(),
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Consumer {
            address,
            gates,
            stats,
            connections: Connections::default(),
        }
    }

    impl Consumer {
        fn gate(&self, capacity: usize) -> GateReceiver {
            let (sender, receiver) = gate(capacity);
            self.gates.register(key(), sender);
            receiver
        }

        fn outbox(
            &self,
            policy: FlushPolicy,
            producer_stats: Arc<DataPlaneStats>,
        ) -> NetworkOutbox {
            let metadata = ChannelMetadata {
                job_id: "job".into(),
                attempt: 0,
                vertex: 1,
                subtask: 0,
                producer_subtask: 0,
                ..ChannelMetadata::default()
            };
            NetworkOutbox::open(
                &tokio::runtime::Handle::current(),
                &self.connections,
                &self.address,
                metadata,
                policy,
                producer_stats,
                watch::channel(false).1,
            )
            .unwrap()
        }
    }

    fn key() -> GateKey {
        GateKey {
            job_id: "job".into(),
            attempt: 0,
            vertex: 1,
            subtask: 0,
        }
    }

    fn received(gate: &GateReceiver) -> Message {
        gate.recv_timeout(Duration::from_secs(10))
            .expect("a message within 10 s")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_small_batch_is_sent_after_the_flush_timeout() {
        let consumer = consumer().await;
        let gate = consumer.gate(8);
        let policy = FlushPolicy {
            rows: 1000,
            bytes: u64::MAX,
            timeout: Duration::from_millis(50),
        };
        let mut outbox = consumer.outbox(policy, Arc::default());
        let producer = std::thread::spawn(move || {
            outbox.send(Message::Schema(schema())).unwrap();
            outbox.send(Message::Batch(0, batch(3))).unwrap();
            // No more rows and no end: only the timeout can send these.
            std::thread::sleep(Duration::from_secs(30));
        });
        let gate = tokio::task::spawn_blocking(move || {
            assert!(matches!(received(&gate), Message::Schema(_)));
            match received(&gate) {
                Message::Batch(_, b) => assert_eq!(b.num_rows(), 3),
                other => panic!("expected the batch, got {other:?}"),
            }
        });
        gate.await.unwrap();
        drop(producer);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_pieces_are_coalesced_up_to_the_batch_size() {
        let consumer = consumer().await;
        let gate = consumer.gate(8);
        let policy = FlushPolicy {
            rows: 1000,
            bytes: u64::MAX,
            timeout: Duration::from_secs(60),
        };
        let mut outbox = consumer.outbox(policy, Arc::default());
        std::thread::spawn(move || {
            outbox.send(Message::Schema(schema())).unwrap();
            for _ in 0..5 {
                outbox.send(Message::Batch(0, batch(300))).unwrap();
            }
            outbox.send(Message::End(0)).unwrap();
        });
        let rows = tokio::task::spawn_blocking(move || {
            assert!(matches!(received(&gate), Message::Schema(_)));
            let mut sizes = Vec::new();
            loop {
                match received(&gate) {
                    Message::Batch(_, b) => sizes.push(b.num_rows()),
                    Message::End(_) => return sizes,
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
        .await
        .unwrap();
        // Four pieces reach 1200 rows and go as one frame; the fifth goes
        // with the end.
        assert_eq!(rows, vec![1200, 300]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_that_never_reads_stops_its_producer_within_the_credits() {
        let consumer = consumer().await;
        let gate = consumer.gate(1);
        let policy = FlushPolicy {
            rows: 100,
            bytes: u64::MAX,
            timeout: Duration::from_millis(10),
        };
        let producer_stats = Arc::new(DataPlaneStats::default());
        let mut outbox = consumer.outbox(policy, producer_stats.clone());
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        std::thread::spawn(move || {
            outbox.send(Message::Schema(schema())).unwrap();
            for _ in 0..200 {
                if outbox.send(Message::Batch(0, batch(100))).is_err() {
                    return;
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Wait until the producer has been stuck for a while.
        let mut last = usize::MAX;
        let mut stable = 0;
        while stable < 5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = sent.load(Ordering::Relaxed);
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
        }
        // The gate (1), the consumer's forwarder (1), frames granted by the
        // initial credits (CREDITS) and the one credit returned, the
        // producer's coalescing buffer (1) and its outbox slot (1).
        let bound = 1 + 1 + CREDITS as usize + 1 + 1 + 1;
        assert!(
            last <= bound,
            "{last} batches left the producer; at most {bound} fit"
        );
        let batch_bytes = batch(100).get_array_memory_size() as u64;
        let held = consumer.stats.max() + producer_stats.max();
        assert!(
            held <= bound as u64 * batch_bytes,
            "{held} bytes held for {last} batches of {batch_bytes} bytes"
        );
        drop(gate);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watermarks_and_barriers_follow_the_batches_sent_before_them() {
        let consumer = consumer().await;
        let gate = consumer.gate(8);
        let policy = FlushPolicy {
            rows: 1000,
            bytes: u64::MAX,
            timeout: Duration::from_secs(60),
        };
        let mut outbox = consumer.outbox(policy, Arc::default());
        std::thread::spawn(move || {
            outbox.send(Message::Schema(schema())).unwrap();
            outbox.send(Message::Batch(0, batch(10))).unwrap();
            outbox
                .send(Message::Watermark {
                    producer: 0,
                    at: 42,
                })
                .unwrap();
            outbox.send(Message::Batch(0, batch(5))).unwrap();
            let barrier = Barrier {
                id: 7,
                location: "file:///ckpt/chk-7".into(),
                timestamp_ms: 99,
            };
            outbox.send(Message::Barrier(0, barrier)).unwrap();
            outbox.send(Message::Idle(0)).unwrap();
            outbox.send(Message::End(0)).unwrap();
        });
        let got = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            loop {
                match received(&gate) {
                    Message::Schema(_) => got.push("schema".to_string()),
                    Message::Batch(_, b) => got.push(format!("batch {}", b.num_rows())),
                    Message::Watermark { producer, at } => {
                        got.push(format!("watermark {producer} {at}"))
                    }
                    Message::Barrier(producer, b) => got.push(format!(
                        "barrier {producer} {} {} {}",
                        b.id, b.location, b.timestamp_ms
                    )),
                    Message::Idle(producer) => got.push(format!("idle {producer}")),
                    Message::End(_) => return got,
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(
            got,
            [
                "schema",
                "batch 10",
                "watermark 0 42",
                "batch 5",
                "barrier 0 7 file:///ckpt/chk-7 99",
                "idle 0"
            ]
        );
    }
}
