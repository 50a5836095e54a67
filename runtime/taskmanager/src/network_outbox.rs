//! A producer subtask's outbox towards a consumer on another TaskManager:
//! the task thread hands it messages through a one-slot channel, and an
//! async writer coalesces small batches (up to the job's batch size, or
//! until the flush timeout passes, so low-rate streams are not held back)
//! and sends each frame only while it holds one of the consumer's credits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use prost::Message as _;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use weir_executor::{Message, Outbox, SendError};
use weir_proto::v1::data_plane_client::DataPlaneClient;
use weir_proto::v1::{ChannelMetadata, FlightData};

use crate::channel_error::ChannelError;
use crate::codec;
use crate::dataplane::{batch_bytes, DataPlaneStats};

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
) -> Result<(), ChannelError> {
    let (frame_tx, frame_rx) = mpsc::channel::<FlightData>(1);
    let first = FlightData {
        app_metadata: metadata.encode_to_vec(),
        ..FlightData::default()
    };
    frame_tx
        .send(first)
        .await
        .map_err(|_| ChannelError::Closed)?;
    let mut client = DataPlaneClient::new(channel)
        .max_decoding_message_size(weir_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(weir_proto::MAX_MESSAGE_BYTES);
    let response = client
        .exchange(ReceiverStream::new(frame_rx))
        .await
        .map_err(|e| ChannelError::Refused(e.message().to_string()))?;
    let credits = Arc::new(Semaphore::new(0));
    let mut credit_stream = response.into_inner();
    let granted = credits.clone();
    let credit_task = tokio::spawn(async move {
        while let Some(credit) = credit_stream.next().await {
            match credit {
                Ok(credit) => granted.add_permits(credit.frames as usize),
                Err(status) => {
                    return Err(ChannelError::CreditsBroke(status.message().to_string()))
                }
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
                        frame_tx.send(codec::schema_frame(&s)).await.map_err(|_| ChannelError::ConsumerGone)?;
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
                            .map_err(|_| ChannelError::ConsumerGone)?;
                        return Ok::<(), ChannelError>(());
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
                    .map_err(|_| ChannelError::ConsumerGone)?;
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
) -> Result<(), ChannelError> {
    if pending.is_empty() {
        return Ok(());
    }
    let schema = schema.ok_or(ChannelError::BatchBeforeSchema)?;
    let batch = match pending.pop() {
        Some(only) if pending.is_empty() => only,
        last => {
            pending.extend(last);
            let merged = arrow_select::concat::concat_batches(schema, pending.iter())
                .map_err(ChannelError::Coalesce)?;
            pending.clear();
            merged
        }
    };
    // A batch too large for one gRPC message (an operator may emit one of
    // any size its memory holds) goes as several frames of whole rows.
    for frame in frames_of(&batch)? {
        credits
            .acquire()
            .await
            .map_err(|_| ChannelError::CreditsClosed)?
            .forget();
        stats.sent(&frame);
        frames
            .send(frame)
            .await
            .map_err(|_| ChannelError::ConsumerGone)?;
    }
    Ok(())
}

/// The most bytes one data frame carries: well inside the largest gRPC
/// message either side accepts.
const MAX_FRAME_BYTES: usize = weir_proto::MAX_MESSAGE_BYTES / 4;

/// `batch` as data frames of at most [`MAX_FRAME_BYTES`], halving it by rows
/// until each part fits; a single row larger than that is an error.
fn frames_of(batch: &RecordBatch) -> Result<Vec<FlightData>, ChannelError> {
    let frame = codec::batch_frame(batch)?;
    let size = frame.data_header.len() + frame.data_body.len();
    if size <= MAX_FRAME_BYTES {
        return Ok(vec![frame]);
    }
    let rows = batch.num_rows();
    if rows <= 1 {
        return Err(ChannelError::RecordTooLarge {
            size: weir_types::format_bytes(size as u64),
            limit: weir_types::format_bytes(MAX_FRAME_BYTES as u64),
        });
    }
    let half = rows / 2;
    let mut frames = frames_of(&batch.slice(0, half))?;
    frames.extend(frames_of(&batch.slice(half, rows - half))?);
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

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
        let err = frames_of(&one).unwrap_err().to_string();
        assert!(err.contains("larger than a data frame may be"), "{err}");
    }
}
