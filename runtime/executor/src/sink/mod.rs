//! Built-in sinks: standard output, files (two-phase when the job takes
//! checkpoints), and a blackhole.

mod file;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::ArrowError;
use weir_types::{Classify, FailureKind, OutputFormat};

pub use crate::checkpoint::RestoreError;
pub use file::FileSink;

/// A batch that could not be put in a sink's format.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Why a sink could not take, flush, stage or commit records.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] EncodeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Weir's own bookkeeping went wrong.
    #[error("{0}")]
    Internal(&'static str),
}

impl Classify for SinkError {
    /// Where the output goes may work again (space freed, a mount back);
    /// a broken rule of the sink's own is a bug, retried from a checkpoint.
    fn failure_kind(&self) -> FailureKind {
        match self {
            SinkError::Internal(_) => FailureKind::Internal,
            _ => FailureKind::Transient,
        }
    }
}

/// Receives the records of one sink subtask.
pub trait Sink: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError>;
    /// The input ended: flush and close.
    fn finish(&mut self) -> Result<(), SinkError>;

    /// Makes buffered records visible once they have waited the sink's
    /// flush interval. The task calls it on every turn of its loop, input
    /// or not, so a slow stream's records are not held back by the buffer.
    fn flush_if_due(&mut self, _now: Instant) -> Result<(), SinkError> {
        Ok(())
    }

    /// The barrier of checkpoint `id` arrived: what came before it is made
    /// durable (not yet visible, for a two-phase sink) and described in
    /// the returned snapshot.
    fn snapshot(&mut self, _id: u64) -> Result<Option<Vec<u8>>, SinkError> {
        Ok(None)
    }

    /// Checkpoint `id` is complete: what it covers becomes visible.
    fn commit(&mut self, _id: u64) -> Result<(), SinkError> {
        Ok(())
    }

    /// Starts from a snapshot, before anything is written.
    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), RestoreError> {
        Ok(())
    }
}

/// When buffered output is due: at most `interval` after the first byte
/// that has not been flushed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlushClock {
    interval: Duration,
    pending_since: Option<Instant>,
}

impl FlushClock {
    pub(crate) fn new(interval: Duration) -> Self {
        FlushClock {
            interval,
            pending_since: None,
        }
    }

    /// Something was buffered at `now`.
    pub(crate) fn buffered(&mut self, now: Instant) {
        self.pending_since.get_or_insert(now);
    }

    /// Whether the buffer is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.pending_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.interval)
    }

    pub(crate) fn flushed(&mut self) {
        self.pending_since = None;
    }
}

pub(crate) fn write_json<W: Write>(out: &mut W, batch: &RecordBatch) -> Result<(), EncodeError> {
    let mut writer = arrow_json::LineDelimitedWriter::new(out);
    writer.write(batch)?;
    Ok(writer.finish()?)
}

pub(crate) fn write_text<W: Write>(out: &mut W, batch: &RecordBatch) -> Result<(), EncodeError> {
    let options = FormatOptions::default().with_null("");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                out.write_all(b"\t")?;
            }
            write!(out, "{}", formatter.value(row))?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Encodes `batch` in `format` into `out`.
pub(crate) fn encode<W: Write>(
    format: OutputFormat,
    out: &mut W,
    batch: &RecordBatch,
) -> Result<(), EncodeError> {
    match format {
        OutputFormat::Json => write_json(out, batch),
        OutputFormat::Text => write_text(out, batch),
    }
}

/// Standard output, as JSON lines or tab-separated text.
pub struct StdoutSink {
    format: OutputFormat,
    out: BufWriter<std::io::Stdout>,
    clock: FlushClock,
}

impl StdoutSink {
    pub fn new(format: OutputFormat, flush_interval: Duration) -> Self {
        StdoutSink {
            format,
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            clock: FlushClock::new(flush_interval),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.clock.flushed();
        self.out
            .flush()
            .map_err(|e| SinkError::Stdout(EncodeError::Io(e)))
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        encode(self.format, &mut self.out, batch).map_err(SinkError::Stdout)?;
        let now = Instant::now();
        self.clock.buffered(now);
        self.flush_if_due(now)
    }

    fn flush_if_due(&mut self, now: Instant) -> Result<(), SinkError> {
        match self.clock.due(now) {
            true => self.flush(),
            false => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}

/// Discards records; the job's metrics count them.
pub struct BlackholeSink;

impl Sink for BlackholeSink {
    fn write(&mut self, _batch: &RecordBatch) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    pub(crate) fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("count", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("weir"), None])),
                Arc::new(Int64Array::from(vec![3, 1])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn text_is_tab_separated_with_empty_nulls() {
        let mut out = Vec::new();
        write_text(&mut out, &batch()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "weir\t3\n\t1\n");
    }

    #[test]
    fn json_lines_omit_nulls() {
        let mut out = Vec::new();
        write_json(&mut out, &batch()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"word\":\"weir\",\"count\":3}\n{\"count\":1}\n"
        );
    }

    #[test]
    fn the_flush_clock_is_due_an_interval_after_the_first_unflushed_write() {
        let start = Instant::now();
        let mut clock = FlushClock::new(Duration::from_millis(200));
        assert!(
            !clock.due(start + Duration::from_secs(5)),
            "nothing buffered"
        );
        clock.buffered(start);
        clock.buffered(start + Duration::from_millis(150));
        assert!(!clock.due(start + Duration::from_millis(199)));
        assert!(clock.due(start + Duration::from_millis(200)));
        clock.flushed();
        assert!(!clock.due(start + Duration::from_secs(5)));
    }
}
