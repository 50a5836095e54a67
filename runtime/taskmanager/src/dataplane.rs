//! The data plane between TaskManagers.
//!
//! A producer subtask's outbox towards a consumer on another TaskManager is a
//! `NetworkOutbox`: the task thread hands it messages through a one-slot
//! channel, and an async writer coalesces small batches (up to the job's
//! batch size, or until the flush timeout passes, so low-rate streams are not
//! held back) and sends each frame only while it holds a credit. The consumer
//! side grants `CREDITS` frames up front and one more each time a frame has
//! moved into the consumer's input gate, so per channel at most `CREDITS`
//! frames are ever in flight or waiting, whatever the consumer's pace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use prost::Message as _;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};
use weir_executor::{Barrier, GateSender, Message, Outbox, SendError};
use weir_proto::v1::data_plane_client::DataPlaneClient;
use weir_proto::v1::data_plane_server::DataPlane;
use weir_proto::v1::{ChannelMetadata, Credit, FlightData};

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
    fn add(&self, bytes: u64) {
        let now = self.current.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    fn sub(&self, bytes: u64) {
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

    fn sent(&self, frame: &FlightData) {
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

fn batch_bytes(batch: &RecordBatch) -> u64 {
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
            let result: Result<(), String> = async {
                while let Some(frame) = frames.next().await {
                    let frame = frame.map_err(|e| format!("the producer's stream broke: {e}"))?;
                    if !frame.app_metadata.is_empty() {
                        let meta = ChannelMetadata::decode(frame.app_metadata.as_slice())
                            .map_err(|e| format!("bad channel metadata: {e}"))?;
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
                Err("the producer's stream ended before the producer finished".into())
            }
            .await;
            if let Err(why) = result {
                // The job fails (or is already failing) through the task
                // states the JobManager sees; this consumer just stops
                // waiting for this producer's frames.
                tracing::debug!(channel = ?key, "data channel closed: {why}");
                let _ = credit_tx.send(Err(Status::aborted(why))).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(credit_rx)))
    }
}

/// When a producer sends what it has coalesced.
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// Send once this many rows wait (the job's batch size).
    pub rows: usize,
    /// Send once this many bytes wait.
    pub bytes: u64,
    /// Send what waits once its first row has waited this long.
    pub timeout: Duration,
}

/// A consumer's data-plane address that is not one.
#[derive(Debug, thiserror::Error)]
#[error("bad data address '{address}': {source}")]
pub struct BadDataAddress {
    address: String,
    #[source]
    source: tonic::transport::Error,
}

/// Connections to other TaskManagers' data planes, one per address;
/// HTTP/2 multiplexes every channel between two TaskManagers over it.
#[derive(Default)]
pub struct Connections {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Connections {
    fn get(&self, address: &str) -> Result<Channel, BadDataAddress> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(address) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|source| BadDataAddress {
                address: address.to_string(),
                source,
            })?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }
}

/// The producer side of one network channel.
pub struct NetworkOutbox {
    sender: mpsc::Sender<Message>,
}

impl Outbox for NetworkOutbox {
    fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.sender
            .blocking_send(message)
            .map_err(|_| SendError::Channel("the network channel closed".into()))
    }
}

impl NetworkOutbox {
    /// Opens a channel to the consumer described by `metadata` at
    /// `address`. Failures of the channel surface on the next `send`.
    /// When `cancelled` turns true the channel closes at once, so a
    /// producer blocked on it (its consumer never came, say) stops.
    pub fn open(
        runtime: &tokio::runtime::Handle,
        connections: &Connections,
        address: &str,
        metadata: ChannelMetadata,
        policy: FlushPolicy,
        buffered: Arc<DataPlaneStats>,
        mut cancelled: watch::Receiver<bool>,
    ) -> Result<NetworkOutbox, BadDataAddress> {
        let channel = connections.get(address)?;
        let (sender, receiver) = mpsc::channel(1);
        let address = address.to_string();
        runtime.spawn(async move {
            let cancel = async {
                // A dropped sender never cancels.
                if cancelled.wait_for(|c| *c).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                written = write_channel(channel, metadata, receiver, policy, buffered) => {
                    if let Err(why) = written {
                        tracing::warn!(consumer = %address, "data channel failed: {why}");
                    }
                }
                () = cancel => {}
            }
        });
        Ok(NetworkOutbox { sender })
    }
}

async fn write_channel(
    channel: Channel,
    metadata: ChannelMetadata,
    mut messages: mpsc::Receiver<Message>,
    policy: FlushPolicy,
    buffered: Arc<DataPlaneStats>,
) -> Result<(), String> {
    let (frame_tx, frame_rx) = mpsc::channel::<FlightData>(1);
    let first = FlightData {
        app_metadata: metadata.encode_to_vec(),
        ..FlightData::default()
    };
    frame_tx
        .send(first)
        .await
        .map_err(|_| "the channel closed".to_string())?;
    let mut client = DataPlaneClient::new(channel)
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    let response = client
        .exchange(ReceiverStream::new(frame_rx))
        .await
        .map_err(|e| format!("the consumer refused the channel: {}", e.message()))?;
    let credits = Arc::new(Semaphore::new(0));
    let mut credit_stream = response.into_inner();
    let granted = credits.clone();
    let credit_task = tokio::spawn(async move {
        while let Some(credit) = credit_stream.next().await {
            match credit {
                Ok(credit) => granted.add_permits(credit.frames as usize),
                Err(status) => return Err(status.message().to_string()),
            }
        }
        Ok(())
    });

    let mut schema: Option<SchemaRef> = None;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0usize;
    let mut pending_bytes = 0u64;
    let mut deadline: Option<tokio::time::Instant> = None;

    let result = async {
        loop {
            let (flush_now, mark) = tokio::select! {
                message = messages.recv() => match message {
                    Some(Message::Schema(s)) => {
                        frame_tx.send(codec::schema_frame(&s)).await.map_err(|_| "the consumer is gone")?;
                        schema = Some(s);
                        (false, None)
                    }
                    Some(Message::Batch(_, batch)) => {
                        let bytes = batch_bytes(&batch);
                        buffered.add(bytes);
                        pending_rows += batch.num_rows();
                        pending_bytes += bytes;
                        pending.push(batch);
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + policy.timeout);
                        (pending_rows >= policy.rows || pending_bytes >= policy.bytes, None)
                    }
                    // Marks go after the batches before them (which are
                    // flushed first) and need no credit: they hold no records.
                    Some(Message::Watermark { at, .. }) => {
                        (true, Some(ChannelMetadata { watermark: Some(at), ..metadata.clone() }))
                    }
                    Some(Message::Barrier(_, barrier)) => (
                        true,
                        Some(ChannelMetadata {
                            barrier: Some(barrier.id),
                            barrier_location: barrier.location.to_string(),
                            barrier_timestamp_ms: barrier.timestamp_ms,
                            ..metadata.clone()
                        }),
                    ),
                    Some(Message::Idle(_)) => (true, Some(ChannelMetadata { idle: true, ..metadata.clone() })),
                    Some(Message::End(_)) => {
                        flush(&mut pending, schema.as_ref(), &credits, &frame_tx, &buffered).await?;
                        buffered.sub(pending_bytes);
                        pending_bytes = 0;
                        let end = ChannelMetadata { end: true, ..metadata.clone() };
                        frame_tx
                            .send(FlightData { app_metadata: end.encode_to_vec(), ..FlightData::default() })
                            .await
                            .map_err(|_| "the consumer is gone")?;
                        return Ok::<(), String>(());
                    }
                    // The task stopped without finishing: it failed or was
                    // cancelled; the stream ends without its end frame.
                    None => return Ok(()),
                },
                _ = sleep_until(deadline) => (true, None),
            };
            if flush_now {
                flush(&mut pending, schema.as_ref(), &credits, &frame_tx, &buffered).await?;
                buffered.sub(pending_bytes);
                pending_rows = 0;
                pending_bytes = 0;
                deadline = None;
            }
            if let Some(mark) = mark {
                frame_tx
                    .send(FlightData { app_metadata: mark.encode_to_vec(), ..FlightData::default() })
                    .await
                    .map_err(|_| "the consumer is gone")?;
            }
        }
    }
    .await;
    buffered.sub(pending_bytes);
    drop(frame_tx);
    if result.is_err() && credit_task.is_finished() {
        if let Ok(Err(why)) = credit_task.await {
            return Err(why);
        }
    }
    result
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends what is pending as one frame, once a credit allows.
async fn flush(
    pending: &mut Vec<RecordBatch>,
    schema: Option<&SchemaRef>,
    credits: &Semaphore,
    frames: &mpsc::Sender<FlightData>,
    stats: &DataPlaneStats,
) -> Result<(), String> {
    if pending.is_empty() {
        return Ok(());
    }
    let schema = schema.ok_or("a batch came before the schema")?;
    let batch = if pending.len() == 1 {
        pending.pop().ok_or("nothing pending")?
    } else {
        let merged = arrow_select::concat::concat_batches(schema, pending.iter())
            .map_err(|e| format!("cannot coalesce batches: {e}"))?;
        pending.clear();
        merged
    };
    // A batch too large for one gRPC message (an operator may emit one of
    // any size its memory holds) goes as several frames of whole rows.
    for frame in frames_of(&batch)? {
        credits
            .acquire()
            .await
            .map_err(|_| "the credits closed")?
            .forget();
        stats.sent(&frame);
        frames
            .send(frame)
            .await
            .map_err(|_| "the consumer is gone".to_string())?;
    }
    Ok(())
}

/// The most bytes one data frame carries: well inside the largest gRPC
/// message either side accepts.
const MAX_FRAME_BYTES: usize = weir_proto::MAX_MESSAGE_BYTES / 4;

/// `batch` as data frames of at most [`MAX_FRAME_BYTES`], halving it by rows
/// until each part fits; a single row larger than that is an error.
fn frames_of(batch: &RecordBatch) -> Result<Vec<FlightData>, String> {
    let frame = codec::batch_frame(batch)?;
    let size = frame.data_header.len() + frame.data_body.len();
    if size <= MAX_FRAME_BYTES {
        return Ok(vec![frame]);
    }
    let rows = batch.num_rows();
    if rows <= 1 {
        return Err(format!(
            "a record of {} is larger than a data frame may be ({})",
            weir_types::format_bytes(size as u64),
            weir_types::format_bytes(MAX_FRAME_BYTES as u64)
        ));
    }
    let half = rows / 2;
    let mut frames = frames_of(&batch.slice(0, half))?;
    frames.extend(frames_of(&batch.slice(half, rows - half))?);
    Ok(frames)
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

    #[test]
    fn a_batch_larger_than_a_frame_goes_as_several_and_a_huge_row_is_named() {
        use arrow_array::StringArray;
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let row = "x".repeat(1 << 20);
        let rows = MAX_FRAME_BYTES / (1 << 20) + 6;
        let big = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![row.as_str(); rows]))],
        )
        .unwrap();
        let frames = frames_of(&big).unwrap();
        assert!(frames.len() >= 2, "{} frames", frames.len());
        for frame in &frames {
            assert!(frame.data_header.len() + frame.data_body.len() <= MAX_FRAME_BYTES);
        }
        let huge = "y".repeat(MAX_FRAME_BYTES + 1);
        let one = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec![huge.as_str()]))],
        )
        .unwrap();
        let err = frames_of(&one).unwrap_err();
        assert!(err.contains("larger than a data frame may be"), "{err}");
    }
}
