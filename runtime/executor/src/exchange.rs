//! How batches leave a task: into a sink, or through outboxes to the subtasks
//! of the next vertex (forward, rebalance, broadcast, or hash by key group).
//!
//! An outbox is one channel to one consumer subtask: an in-memory bounded
//! channel when both run in one process, a network channel with credit-based
//! flow control otherwise. Either way a send blocks while the consumer is
//! full, so a slow consumer slows its producers instead of letting buffers
//! grow; the time spent blocked is the task's back-pressured time.

use std::sync::atomic::Ordering;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use weir_types::{key_group, subtask_of, Partitioning};

use crate::checkpoint::Barrier;
use crate::metrics::{JobMetrics, TaskMetrics};
use crate::rows;
use crate::schema::{column_indices, SchemaError};
use crate::sink::{Sink, SinkError};

/// What flows between two subtasks, in order: one `Schema`, then batches
/// (with watermarks and barriers among them), then `End`. Messages that a
/// consumer must tell apart by producer carry the producer's subtask index.
#[derive(Debug, Clone)]
pub enum Message {
    /// The producer's output schema, sent once before any batch.
    Schema(SchemaRef),
    /// Records from producer subtask `.0`.
    Batch(u32, RecordBatch),
    /// Producer `producer` (its subtask index) will send no record with an
    /// event time at or before `at` any more.
    Watermark { producer: u32, at: i64 },
    /// Producer `.0` is idle: its consumers stop waiting for its watermark
    /// until it sends one again.
    Idle(u32),
    /// Producer `.0` has sent everything checkpoint `.1` covers.
    Barrier(u32, Barrier),
    /// Producer `.0` has finished; a consumer ends after one per producer.
    End(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The consumer is gone: the job is failing elsewhere.
    #[error("the consumer is gone")]
    Disconnected,
    #[error(transparent)]
    Sink(SinkError),
    /// The network channel failed.
    #[error("{0}")]
    Channel(String),
}

/// One channel to one consumer subtask. `send` blocks while the consumer
/// has no room.
pub trait Outbox: Send {
    fn send(&mut self, message: Message) -> Result<(), SendError>;
}

pub(crate) enum Partitioner {
    Forward,
    Rebalance {
        next: usize,
    },
    Broadcast,
    Hash {
        columns: Vec<String>,
        /// Resolved against the schema at `open`.
        keys: Vec<usize>,
        max_parallelism: u32,
        scratch: Vec<u8>,
        targets: Vec<u32>,
    },
}

pub enum Downstream {
    Sink(Box<dyn Sink>),
    Channels {
        outboxes: Vec<Box<dyn Outbox>>,
        partitioner: Partitioner,
        /// This producer's subtask index, which watermarks carry.
        subtask: u32,
    },
}

impl Downstream {
    /// Channels to the next vertex's subtasks, by subtask index.
    /// `subtask` spreads the first batches of a rebalance apart.
    pub fn channels(
        partitioning: &Partitioning,
        outboxes: Vec<Box<dyn Outbox>>,
        max_parallelism: u32,
        subtask: u32,
    ) -> Downstream {
        let partitioner = match partitioning {
            _ if outboxes.len() == 1 => Partitioner::Forward,
            Partitioning::Source | Partitioning::Forward => Partitioner::Forward,
            Partitioning::Rebalance => Partitioner::Rebalance {
                next: subtask as usize,
            },
            Partitioning::Broadcast => Partitioner::Broadcast,
            Partitioning::Hash(columns) => Partitioner::Hash {
                columns: columns.clone(),
                keys: Vec::new(),
                max_parallelism,
                scratch: Vec::new(),
                targets: Vec::new(),
            },
        };
        Downstream::Channels {
            outboxes,
            partitioner,
            subtask,
        }
    }

    /// Sends a watermark to every consumer (whatever the partitioning: each
    /// must hear from every producer); a sink has no use for it.
    pub fn emit_watermark(&mut self, at: i64) -> Result<(), SendError> {
        self.tell_every_consumer(|producer| Message::Watermark { producer, at })
    }

    /// Tells every consumer this producer is idle.
    pub fn emit_idle(&mut self) -> Result<(), SendError> {
        self.tell_every_consumer(Message::Idle)
    }

    /// Sends a checkpoint barrier to every consumer, after everything the
    /// checkpoint covers; a sink takes its snapshot in the task instead.
    pub fn emit_barrier(&mut self, barrier: &Barrier) -> Result<(), SendError> {
        self.tell_every_consumer(|producer| Message::Barrier(producer, barrier.clone()))
    }

    /// Sends every consumer the message `of` makes from this producer's
    /// subtask index; nothing for a sink.
    fn tell_every_consumer(&mut self, of: impl Fn(u32) -> Message) -> Result<(), SendError> {
        match self {
            Downstream::Sink(_) => Ok(()),
            Downstream::Channels {
                outboxes, subtask, ..
            } => outboxes
                .iter_mut()
                .try_for_each(|outbox| outbox.send(of(*subtask))),
        }
    }

    /// The sink, if the task writes one.
    pub fn sink(&mut self) -> Option<&mut (dyn Sink + 'static)> {
        match self {
            Downstream::Sink(sink) => Some(sink.as_mut()),
            Downstream::Channels { .. } => None,
        }
    }

    /// The task's output schema is known: resolves key columns and tells
    /// every consumer. The error names the missing key column.
    pub fn open(&mut self, schema: &SchemaRef) -> Result<(), OpenError> {
        let Downstream::Channels {
            outboxes,
            partitioner,
            ..
        } = self
        else {
            return Ok(());
        };
        if let Partitioner::Hash { columns, keys, .. } = partitioner {
            *keys = column_indices(schema, columns).map_err(OpenError::KeyBy)?;
        }
        for outbox in outboxes {
            outbox
                .send(Message::Schema(schema.clone()))
                .map_err(OpenError::Send)?;
        }
        Ok(())
    }

    pub fn emit(
        &mut self,
        batch: RecordBatch,
        metrics: &JobMetrics,
        task: &TaskMetrics,
    ) -> Result<(), SendError> {
        let rows = batch.num_rows() as u64;
        let (outboxes, partitioner, producer) = match self {
            Downstream::Sink(sink) => {
                sink.write(&batch).map_err(SendError::Sink)?;
                metrics.sink_records.fetch_add(rows, Ordering::Relaxed);
                task.records_out.fetch_add(rows, Ordering::Relaxed);
                return Ok(());
            }
            Downstream::Channels {
                outboxes,
                partitioner,
                subtask,
            } => (outboxes, partitioner, *subtask),
        };
        task.records_out.fetch_add(rows, Ordering::Relaxed);
        let send = |outbox: &mut Box<dyn Outbox>, batch| {
            task.begin_backpressure();
            let result = outbox.send(Message::Batch(producer, batch));
            task.end_backpressure();
            result
        };
        match partitioner {
            Partitioner::Forward => send(&mut outboxes[0], batch),
            Partitioner::Rebalance { next } => {
                let target = *next % outboxes.len();
                *next = next.wrapping_add(1);
                send(&mut outboxes[target], batch)
            }
            Partitioner::Broadcast => {
                for outbox in outboxes.iter_mut() {
                    send(outbox, batch.clone())?;
                }
                Ok(())
            }
            Partitioner::Hash {
                keys,
                max_parallelism,
                scratch,
                targets,
                ..
            } => {
                let parallelism = outboxes.len() as u32;
                targets.clear();
                let key_columns = rows::key_columns(&batch, keys);
                for row in 0..batch.num_rows() {
                    scratch.clear();
                    rows::write_key(&key_columns, row, scratch);
                    let group = key_group(scratch, *max_parallelism);
                    targets.push(subtask_of(group, *max_parallelism, parallelism));
                }
                let first = targets.first().copied().unwrap_or(0);
                if targets.iter().all(|&t| t == first) {
                    return send(&mut outboxes[first as usize], batch);
                }
                for (subtask, outbox) in outboxes.iter_mut().enumerate() {
                    let indices: UInt32Array = targets
                        .iter()
                        .enumerate()
                        .filter(|(_, &t)| t as usize == subtask)
                        .map(|(row, _)| row as u32)
                        .collect();
                    if indices.is_empty() {
                        continue;
                    }
                    let part = arrow_select::take::take_record_batch(&batch, &indices)
                        .map_err(|e| SendError::Channel(e.to_string()))?;
                    send(outbox, part)?;
                }
                Ok(())
            }
        }
    }

    /// Tells every consumer this producer is done, or finishes the sink.
    pub fn finish(&mut self) -> Result<(), SendError> {
        match self {
            Downstream::Sink(sink) => sink.finish().map_err(SendError::Sink),
            Downstream::Channels { .. } => self.tell_every_consumer(Message::End),
        }
    }
}

#[derive(Debug)]
pub enum OpenError {
    KeyBy(SchemaError),
    Send(SendError),
}
