//! Records and time through a task's chain: each batch through every
//! operator in turn, then downstream; watermarks, processing time and the
//! end of input to each operator, what it emits through the rest of the
//! chain. What an operator sets aside for a side output goes to it after
//! each call.

use std::sync::atomic::Ordering;

use arrow_array::RecordBatch;

use super::{send_error, Task};
use crate::job::JobError;
use crate::metrics::{JobMetrics, TaskMetrics};

impl Task {
    /// Lets each operator of the chain fire its due processing-time timers.
    pub(super) fn fire_processing_time(
        &mut self,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
    ) -> Result<(), JobError> {
        self.last_processing_time = std::time::Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        for position in 0..self.chain.len() {
            let mut out = Vec::new();
            self.chain[position]
                .operator
                .on_processing_time(now, &mut out)?;
            self.emitted(position, out, metrics, task_metrics)?;
        }
        Ok(())
    }

    /// Event time reached `watermark`: each operator of the chain hears it in
    /// turn (what it emits goes through the rest of the chain first), then
    /// every consumer.
    pub(super) fn advance_watermark(
        &mut self,
        watermark: i64,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
    ) -> Result<(), JobError> {
        for position in 0..self.chain.len() {
            let mut out = Vec::new();
            self.chain[position]
                .operator
                .on_watermark(watermark, &mut out)?;
            self.emitted(position, out, metrics, task_metrics)?;
        }
        self.downstream
            .emit_watermark(watermark)
            .map_err(send_error)
    }

    /// The input ended: each operator in turn emits what it still holds.
    pub(super) fn close_chain(
        &mut self,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
    ) -> Result<(), JobError> {
        for position in 0..self.chain.len() {
            let mut out = Vec::new();
            self.chain[position].operator.close(&mut out)?;
            self.emitted(position, out, metrics, task_metrics)?;
        }
        Ok(())
    }

    /// The operator at `position` emitted `out` outside `process`: counts
    /// it, writes its side outputs, and runs `out` through the rest of the
    /// chain.
    fn emitted(
        &mut self,
        position: usize,
        out: Vec<RecordBatch>,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
    ) -> Result<(), JobError> {
        let link = &mut self.chain[position];
        let produced: usize = out.iter().map(RecordBatch::num_rows).sum();
        metrics.operators[link.index]
            .records_out
            .fetch_add(produced as u64, Ordering::Relaxed);
        if link.has_side_outputs {
            let set_aside = link.operator.take_side_output();
            self.side_outputs.write(link.index, set_aside)?;
        }
        self.push(position + 1, out, metrics, task_metrics)
    }

    /// Runs `batches` through the chain from `from` on, then downstream.
    pub(super) fn push(
        &mut self,
        from: usize,
        mut batches: Vec<RecordBatch>,
        metrics: &JobMetrics,
        task_metrics: &TaskMetrics,
    ) -> Result<(), JobError> {
        for link in &mut self.chain[from..] {
            if batches.is_empty() {
                return Ok(());
            }
            let counters = &metrics.operators[link.index];
            let mut next = Vec::new();
            for batch in batches {
                counters
                    .records_in
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                link.operator.process(batch, &mut next)?;
            }
            if link.has_side_outputs {
                let set_aside = link.operator.take_side_output();
                self.side_outputs.write(link.index, set_aside)?;
            }
            let produced: usize = next.iter().map(RecordBatch::num_rows).sum();
            counters
                .records_out
                .fetch_add(produced as u64, Ordering::Relaxed);
            batches = next;
        }
        for batch in batches {
            if batch.num_rows() > 0 {
                self.downstream
                    .emit(batch, metrics, task_metrics)
                    .map_err(send_error)?;
            }
        }
        Ok(())
    }
}
