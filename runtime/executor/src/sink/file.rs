//! The file sink: records appended to one file, directly or, when the job
//! takes checkpoints, in two phases so that the file holds each record once
//! through any number of failures.
//!
//! Every length the sink records is read from the file it describes, after
//! a flush, never kept as a running count beside it: a count would have to
//! be reset on every path that opens a new file (a restart, a restore, a
//! checkpoint), and a path that forgot would leave a snapshot describing
//! bytes that do not exist.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use weir_state::codec::{put_bytes, put_u32, put_u64, Reader};
use weir_types::OutputFormat;

use super::{encode, FlushClock, RestoreError, Sink, SinkError};

/// Buffered bytes before a write reaches the file, whatever the clock says.
const BUFFER_BYTES: usize = 256 * 1024;

/// Output staged for a checkpoint, waiting for it to complete.
#[derive(Debug, Clone, PartialEq)]
struct Staged {
    checkpoint: u64,
    /// File name within the staging directory.
    file: String,
    bytes: u64,
}

/// The two-phase part of a file sink: where output waits for its checkpoint.
struct Staging {
    /// `.<name>.pending/` next to the output.
    dir: PathBuf,
    /// Names in-progress files apart from a previous attempt's.
    attempt: u32,
    staged: Vec<Staged>,
}

impl Staging {
    fn in_progress_name(&self) -> String {
        format!("in-progress-{}", self.attempt)
    }

    fn in_progress(&self) -> PathBuf {
        self.dir.join(self.in_progress_name())
    }
}

/// A file of records, as JSON lines or tab-separated text.
///
/// Without checkpoints it appends to the file directly, flushing at least
/// every flush interval. With them it is two-phase: records go to an
/// in-progress file in a staging directory next to the output
/// (`.<name>.pending/`); at a checkpoint's barrier that file is synced and
/// set aside for the checkpoint; when the checkpoint completes, it is
/// appended to the output. A restore makes the output hold exactly what the
/// restored checkpoint covers: the output is cut back to what was committed
/// then, and what was staged for it is appended (unless it already was).
/// So readers only ever see committed records, and after a crash each
/// record is in the output once.
pub struct FileSink {
    path: PathBuf,
    format: OutputFormat,
    /// Present when the job takes checkpoints.
    staging: Option<Staging>,
    /// Where records go now: the output, or the in-progress file.
    out: Option<BufWriter<File>>,
    clock: FlushClock,
    /// Length of the output holding every committed record.
    committed: u64,
    /// Whether the output has been set up: truncated for a fresh start, or
    /// restored from a snapshot.
    started: bool,
    buf: Vec<u8>,
}

fn remove_dir(dir: &Path) -> Result<(), SinkError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SinkError::Remove {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn cannot_write(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Flushes `out` and returns the length of its file, synced to disk first
/// when `durable` (a pipe or device cannot be synced, and needs not be).
fn flush_and_measure(out: &mut BufWriter<File>, durable: bool) -> std::io::Result<u64> {
    out.flush()?;
    let metadata = out.get_ref().metadata()?;
    if durable && metadata.is_file() {
        out.get_ref().sync_all()?;
    }
    Ok(metadata.len())
}

impl FileSink {
    /// A sink writing `path` in `format`; `two_phase` when the job takes
    /// checkpoints. Nothing is opened until the first write (or restore).
    pub fn new(
        path: &Path,
        format: OutputFormat,
        two_phase: bool,
        attempt: u32,
        flush_interval: Duration,
    ) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        FileSink {
            path: path.to_path_buf(),
            format,
            staging: two_phase.then(|| Staging {
                dir: path.with_file_name(format!(".{name}.pending")),
                attempt,
                staged: Vec::new(),
            }),
            out: None,
            clock: FlushClock::new(flush_interval),
            committed: 0,
            started: false,
            buf: Vec::new(),
        }
    }

    /// Opens where records go now, the first time they do.
    fn out(&mut self) -> Result<&mut BufWriter<File>, SinkError> {
        if self.out.is_none() {
            if !self.started {
                // A fresh start: no earlier output or staged files count.
                self.started = true;
                File::create(&self.path).map_err(|e| cannot_write(&self.path, e))?;
                if let Some(staging) = &self.staging {
                    remove_dir(&staging.dir)?;
                }
            }
            let file = match &self.staging {
                Some(staging) => {
                    std::fs::create_dir_all(&staging.dir)
                        .map_err(|e| cannot_write(&staging.dir, e))?;
                    let in_progress = staging.in_progress();
                    File::create(&in_progress).map_err(|e| cannot_write(&in_progress, e))?
                }
                None => OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| cannot_write(&self.path, e))?,
            };
            self.out = Some(BufWriter::with_capacity(BUFFER_BYTES, file));
        }
        self.out
            .as_mut()
            .ok_or(SinkError::Internal("the sink's file is not open"))
    }

    /// Flushes, syncs and closes where records go now; returns its length.
    fn close_out(&mut self) -> Result<u64, SinkError> {
        self.out()?;
        let Some(mut out) = self.out.take() else {
            return Ok(0);
        };
        self.clock.flushed();
        flush_and_measure(&mut out, true).map_err(|e| cannot_write(&self.path, e))
    }

    /// Appends the staged files up to checkpoint `id` to the output.
    fn publish(&mut self, id: u64) -> Result<(), SinkError> {
        let Some(staging) = self.staging.as_mut() else {
            return Ok(());
        };
        let due: Vec<Staged> = staging
            .staged
            .iter()
            .filter(|s| s.checkpoint <= id)
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut output = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| cannot_write(&self.path, e))?;
        for staged in &due {
            let from = staging.dir.join(&staged.file);
            let mut input = File::open(&from).map_err(|e| cannot_write(&from, e))?;
            std::io::copy(&mut input, &mut output).map_err(|e| cannot_write(&self.path, e))?;
            // A crash between two appends leaves a commit half done.
            weir_types::fault::point("sink.commit");
        }
        output.sync_all().map_err(|e| cannot_write(&self.path, e))?;
        for staged in &due {
            self.committed += staged.bytes;
            let _ = std::fs::remove_file(staging.dir.join(&staged.file));
        }
        staging.staged.retain(|s| s.checkpoint > id);
        Ok(())
    }

    fn encode_snapshot(&self) -> Vec<u8> {
        let staged = self.staging.as_ref().map_or(&[][..], |s| &s.staged[..]);
        let mut out = Vec::new();
        put_u64(&mut out, self.committed);
        put_u32(&mut out, staged.len() as u32);
        for staged in staged {
            put_u64(&mut out, staged.checkpoint);
            put_bytes(&mut out, staged.file.as_bytes());
            put_u64(&mut out, staged.bytes);
        }
        out
    }
}

fn decode_snapshot(snapshot: &[u8]) -> Result<(u64, Vec<Staged>), RestoreError> {
    let damaged =
        |e: weir_state::StateError| RestoreError::Conflict(format!("its snapshot is damaged: {e}"));
    let mut r = Reader::new(snapshot);
    let committed = r.u64().map_err(damaged)?;
    let mut staged = Vec::new();
    for _ in 0..r.u32().map_err(damaged)? {
        let checkpoint = r.u64().map_err(damaged)?;
        let file = r.string().map_err(damaged)?;
        let bytes = r.u64().map_err(damaged)?;
        if file.contains('/') || file.contains("..") {
            return Err(RestoreError::Conflict(format!(
                "its snapshot names a staged file '{file}' outside its directory"
            )));
        }
        staged.push(Staged {
            checkpoint,
            file,
            bytes,
        });
    }
    r.finish().map_err(damaged)?;
    Ok((committed, staged))
}

impl Sink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.buf.clear();
        let mut buf = std::mem::take(&mut self.buf);
        let result = encode(self.format, &mut buf, batch)
            .map_err(SinkError::from)
            .and_then(|()| {
                let path = self.path.clone();
                self.out()?
                    .write_all(&buf)
                    .map_err(|e| cannot_write(&path, e))
            });
        self.buf = buf;
        result?;
        if self.staging.is_none() {
            let now = Instant::now();
            self.clock.buffered(now);
            self.flush_if_due(now)?;
        }
        Ok(())
    }

    fn flush_if_due(&mut self, now: Instant) -> Result<(), SinkError> {
        if !self.clock.due(now) {
            return Ok(());
        }
        self.clock.flushed();
        match self.out.as_mut() {
            Some(out) => out.flush().map_err(|e| cannot_write(&self.path, e)),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let bytes = self.close_out()?;
        if let Some(staging) = self.staging.as_mut() {
            // The input is over: everything staged and in progress is final.
            staging.staged.push(Staged {
                checkpoint: u64::MAX,
                file: staging.in_progress_name(),
                bytes,
            });
            self.publish(u64::MAX)?;
            if let Some(staging) = &self.staging {
                remove_dir(&staging.dir)?;
            }
        }
        Ok(())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<Vec<u8>>, SinkError> {
        let bytes = self.close_out()?;
        match self.staging.as_mut() {
            Some(staging) => {
                let from = staging.in_progress();
                if bytes == 0 {
                    // Nothing came since the last barrier: nothing to stage.
                    std::fs::remove_file(&from).map_err(|e| cannot_write(&from, e))?;
                } else {
                    let file = format!("checkpoint-{id}");
                    let to = staging.dir.join(&file);
                    std::fs::rename(&from, &to).map_err(|e| cannot_write(&to, e))?;
                    staging.staged.push(Staged {
                        checkpoint: id,
                        file,
                        bytes,
                    });
                }
            }
            None => self.committed = bytes,
        }
        Ok(Some(self.encode_snapshot()))
    }

    fn commit(&mut self, id: u64) -> Result<(), SinkError> {
        self.publish(id)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), RestoreError> {
        let (committed, staged) = decode_snapshot(snapshot)?;
        let io = |e: std::io::Error| RestoreError::Io(cannot_write(&self.path, e).to_string());
        let mut output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(io)?;
        let mut length = output.metadata().map_err(io)?.len();
        if length < committed {
            return Err(RestoreError::Conflict(format!(
                "{} has {length} bytes, but the checkpoint committed {committed}: \
                 the output was changed or truncated since",
                self.path.display()
            )));
        }
        let staging_dir = self.staging.as_ref().map(|s| s.dir.clone());
        // Each staged file goes right after what came before it: if the
        // output already holds it (the commit ran before the failure),
        // nothing to do; otherwise cut back to where it starts and append.
        let mut expected = committed;
        for s in &staged {
            if length < expected + s.bytes {
                let Some(dir) = &staging_dir else {
                    return Err(RestoreError::Conflict(
                        "its snapshot has staged output, but the job takes no checkpoints".into(),
                    ));
                };
                output.set_len(expected).map_err(io)?;
                weir_types::fault::point("sink.restore");
                let from = dir.join(&s.file);
                let mut input = File::open(&from).map_err(|e| {
                    RestoreError::Conflict(format!(
                        "{} has {length} bytes where the checkpoint expects at least {}, and \
                         the output staged for checkpoint {} ({}) is gone ({e}): the output \
                         was changed or truncated since, or its staging directory removed",
                        self.path.display(),
                        expected + s.bytes,
                        s.checkpoint,
                        from.display()
                    ))
                })?;
                output.seek(SeekFrom::End(0)).map_err(io)?;
                std::io::copy(&mut input, &mut output).map_err(io)?;
                length = expected + s.bytes;
            }
            expected += s.bytes;
        }
        // Whatever a later checkpoint committed, or a direct write added
        // after the snapshot, is not covered by this one.
        output.set_len(expected).map_err(io)?;
        output.sync_all().map_err(io)?;
        if let Some(dir) = &staging_dir {
            remove_dir(dir).map_err(|e| RestoreError::Io(e.to_string()))?;
        }
        if let Some(staging) = self.staging.as_mut() {
            staging.staged.clear();
        }
        self.committed = expected;
        self.started = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::batch;
    use super::*;

    const FLUSH: Duration = Duration::from_millis(200);

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn jsonl_file_is_written_and_a_bad_path_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(&path, OutputFormat::Json, false, 0, FLUSH);
        sink.write(&batch()).unwrap();
        sink.finish().unwrap();
        assert_eq!(lines(&path), 2);
        let mut sink = FileSink::new(
            &dir.path().join("missing/out.jsonl"),
            OutputFormat::Json,
            false,
            0,
            FLUSH,
        );
        let err = sink.write(&batch()).unwrap_err().to_string();
        assert!(err.contains("missing/out.jsonl"), "{err}");
    }

    #[test]
    fn direct_output_is_flushed_once_it_has_waited_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(&path, OutputFormat::Json, false, 0, FLUSH);
        sink.write(&batch()).unwrap();
        assert_eq!(lines(&path), 0, "a small write waits in the buffer");
        sink.flush_if_due(Instant::now() + FLUSH / 2).unwrap();
        assert_eq!(lines(&path), 0, "not due yet");
        sink.flush_if_due(Instant::now() + FLUSH).unwrap();
        assert_eq!(lines(&path), 2, "due: in the file without a finish");
    }

    #[test]
    fn two_phase_output_appears_when_its_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut sink = FileSink::new(&path, OutputFormat::Text, true, 0, FLUSH);
        sink.write(&batch()).unwrap();
        sink.flush_if_due(Instant::now() + FLUSH * 10).unwrap();
        assert_eq!(lines(&path), 0, "nothing is visible before a checkpoint");
        let first = sink.snapshot(1).unwrap().unwrap();
        sink.write(&batch()).unwrap();
        let second = sink.snapshot(2).unwrap().unwrap();
        assert_eq!(lines(&path), 0);
        sink.commit(1).unwrap();
        assert_eq!(lines(&path), 2);
        sink.write(&batch()).unwrap();

        // A crash now; the restart restores checkpoint 2, which completed
        // but whose commit never ran.
        drop(sink);
        let mut resumed = FileSink::new(&path, OutputFormat::Text, true, 1, FLUSH);
        resumed.restore(&second).unwrap();
        assert_eq!(lines(&path), 4, "checkpoint 2's staged output is published");
        assert!(!dir.path().join(".out.txt.pending").exists());
        resumed.write(&batch()).unwrap();
        resumed.finish().unwrap();
        assert_eq!(lines(&path), 6);

        // Falling back to checkpoint 1 cuts the output back to it, and
        // refuses once what it staged is gone and not in the output.
        let mut older = FileSink::new(&path, OutputFormat::Text, true, 2, FLUSH);
        older.restore(&first).unwrap();
        assert_eq!(lines(&path), 2);
        std::fs::write(&path, "").unwrap();
        let mut gone = FileSink::new(&path, OutputFormat::Text, true, 3, FLUSH);
        let err = gone.restore(&first).unwrap_err();
        assert!(matches!(err, RestoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains("changed or truncated"), "{err}");
    }

    /// The bug that made a second failure unrecoverable: after a restore,
    /// the first checkpoint described its staged file as holding the whole
    /// output restored before it as well, so the next restore found the
    /// output "truncated".
    #[test]
    fn a_restored_sink_records_what_it_staged_and_survives_a_second_restore() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut first_run = FileSink::new(&path, OutputFormat::Json, true, 0, FLUSH);
        first_run.write(&batch()).unwrap();
        let checkpoint_1 = first_run.snapshot(1).unwrap().unwrap();
        first_run.commit(1).unwrap();
        drop(first_run);

        let mut second_run = FileSink::new(&path, OutputFormat::Json, true, 1, FLUSH);
        second_run.restore(&checkpoint_1).unwrap();
        second_run.write(&batch()).unwrap();
        let checkpoint_2 = second_run.snapshot(2).unwrap().unwrap();
        second_run.commit(2).unwrap();
        second_run.write(&batch()).unwrap();
        drop(second_run);
        assert_eq!(lines(&path), 4);

        let mut third_run = FileSink::new(&path, OutputFormat::Json, true, 2, FLUSH);
        third_run.restore(&checkpoint_2).unwrap();
        third_run.write(&batch()).unwrap();
        third_run.finish().unwrap();
        assert_eq!(lines(&path), 6, "each record once");
    }

    #[test]
    fn direct_output_is_cut_back_to_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(&path, OutputFormat::Json, false, 0, FLUSH);
        sink.write(&batch()).unwrap();
        let snapshot = sink.snapshot(1).unwrap().unwrap();
        sink.write(&batch()).unwrap();
        sink.finish().unwrap();
        assert_eq!(lines(&path), 4);
        let mut resumed = FileSink::new(&path, OutputFormat::Json, false, 1, FLUSH);
        resumed.restore(&snapshot).unwrap();
        resumed.write(&batch()).unwrap();
        resumed.finish().unwrap();
        assert_eq!(lines(&path), 4);
        let err = resumed.restore(&snapshot[..5]).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }

    /// A tiny deterministic generator, so the model test needs no crate.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// The sink against a model of exactly-once: random writes,
    /// checkpoints, completions (some lost), crashes and restores from the
    /// latest completed checkpoint, many times over. After every restore
    /// the output must hold exactly the records the restored checkpoint
    /// covers, and at the end every record once.
    #[test]
    fn any_sequence_of_crashes_and_restores_leaves_each_record_once() {
        for seed in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("out.txt");
            let mut rng = Lcg(seed);
            let mut attempt = 0;
            let mut sink = FileSink::new(&path, OutputFormat::Text, true, attempt, FLUSH);
            // Records the model says each completed checkpoint covers.
            let mut completed: Vec<(u64, Vec<u8>, u64)> = Vec::new();
            let mut written = 0u64; // records written this attempt, since restore
            let mut base = 0u64; // records the restore point covered
            let mut next_id = 1u64;
            let mut pending: Option<(u64, Vec<u8>, u64)> = None;
            for _ in 0..200 {
                match rng.below(10) {
                    0..=4 => {
                        let batch = text_batch(base + written);
                        sink.write(&batch).unwrap();
                        written += 1;
                    }
                    5 | 6 => {
                        let id = next_id;
                        next_id += 1;
                        let covered = base + written;
                        pending = Some((id, sink.snapshot(id).unwrap().unwrap(), covered));
                    }
                    7 => {
                        // The checkpoint completes; its commit may not arrive.
                        if let Some((id, snapshot, records)) = pending.take() {
                            completed.push((id, snapshot, records));
                            if rng.below(2) == 0 {
                                sink.commit(id).unwrap();
                            }
                        }
                    }
                    _ => {
                        // A crash, and a restart from the latest completed
                        // checkpoint (or from the beginning without one).
                        drop(sink);
                        attempt += 1;
                        pending = None;
                        sink = FileSink::new(&path, OutputFormat::Text, true, attempt, FLUSH);
                        match completed.last() {
                            Some((_, snapshot, records)) => {
                                sink.restore(snapshot).unwrap_or_else(|e| {
                                    panic!("seed {seed}: restore after {attempt} crashes: {e}")
                                });
                                base = *records;
                                assert_eq!(
                                    lines(&path) as u64,
                                    base,
                                    "seed {seed}: the output after a restore"
                                );
                            }
                            None => base = 0,
                        }
                        written = 0;
                    }
                }
            }
            sink.finish().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let got: Vec<u64> = text
                .lines()
                .map(|l| l.split('\t').next().unwrap().parse().unwrap())
                .collect();
            let want: Vec<u64> = (0..base + written).collect();
            assert_eq!(got, want, "seed {seed}: each record once, in order");
        }
    }

    fn text_batch(id: u64) -> RecordBatch {
        use arrow_array::Int64Array;
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![id as i64]))]).unwrap()
    }
}
