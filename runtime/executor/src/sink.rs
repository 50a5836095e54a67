//! Built-in sinks.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use weir_state::codec::{put_bytes, put_u32, put_u64, Reader};
use weir_types::OutputFormat;

/// Receives the records of one sink subtask.
pub trait Sink: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String>;
    /// The input ended: flush and close.
    fn finish(&mut self) -> Result<(), String>;

    /// The barrier of checkpoint `id` arrived: what came before it is made
    /// durable (not yet visible, for a two-phase sink) and described in
    /// the returned snapshot.
    fn snapshot(&mut self, _id: u64) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }

    /// Checkpoint `id` is complete: what it covers becomes visible.
    fn commit(&mut self, _id: u64) -> Result<(), String> {
        Ok(())
    }

    /// Starts from a snapshot, before anything is written.
    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

fn write_json<W: Write>(out: &mut W, batch: &RecordBatch) -> Result<(), String> {
    let mut writer = arrow_json::LineDelimitedWriter::new(out);
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

fn write_text<W: Write>(out: &mut W, batch: &RecordBatch) -> Result<(), String> {
    let options = FormatOptions::default().with_null("");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    for row in 0..batch.num_rows() {
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                out.write_all(b"\t").map_err(|e| e.to_string())?;
            }
            write!(out, "{}", formatter.value(row)).map_err(|e| e.to_string())?;
        }
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Standard output, as JSON lines or tab-separated text.
pub struct StdoutSink {
    format: OutputFormat,
    out: BufWriter<std::io::Stdout>,
}

impl StdoutSink {
    pub fn new(format: OutputFormat) -> Self {
        StdoutSink {
            format,
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        }
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let written = match self.format {
            OutputFormat::Json => write_json(&mut self.out, batch),
            OutputFormat::Text => write_text(&mut self.out, batch),
        };
        written.map_err(|e| format!("cannot write to standard output: {e}"))
    }

    fn finish(&mut self) -> Result<(), String> {
        self.out
            .flush()
            .map_err(|e| format!("cannot write to standard output: {e}"))
    }
}

/// Output staged for a checkpoint, waiting for it to complete.
#[derive(Debug, Clone, PartialEq)]
struct Staged {
    checkpoint: u64,
    /// File name within the staging directory.
    file: String,
    bytes: u64,
}

/// A file of records, as JSON lines or tab-separated text.
///
/// Without checkpoints it writes the file directly. With them it is
/// two-phase: records go to an in-progress file in a staging directory next
/// to the output (`.<name>.pending/`); at a checkpoint's barrier that file
/// is synced and set aside for the checkpoint; when the checkpoint
/// completes, it is appended to the output. A restore makes the output hold
/// exactly what the restored checkpoint covers: the output is cut back to
/// what was committed then, and what was staged for it is appended (unless
/// it already was). So readers only ever see committed records, and after a
/// crash each record is in the output once.
pub struct FileSink {
    path: PathBuf,
    format: OutputFormat,
    two_phase: bool,
    staging: PathBuf,
    /// Names in-progress files apart from a previous attempt's.
    attempt: u32,
    /// Where records go now: the output, or the in-progress file.
    out: Option<BufWriter<File>>,
    /// Bytes written to `out`.
    written: u64,
    staged: Vec<Staged>,
    /// Length of the output holding every committed record.
    committed: u64,
    restored: bool,
    buf: Vec<u8>,
}

impl FileSink {
    /// A sink writing `path` in `format`; `two_phase` when the job takes
    /// checkpoints. Nothing is opened until the first write (or restore).
    pub fn new(path: &Path, format: OutputFormat, two_phase: bool, attempt: u32) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let staging = path.with_file_name(format!(".{name}.pending"));
        FileSink {
            path: path.to_path_buf(),
            format,
            two_phase,
            staging,
            attempt,
            out: None,
            written: 0,
            staged: Vec::new(),
            committed: 0,
            restored: false,
            buf: Vec::new(),
        }
    }

    fn error(&self, path: &Path, e: impl std::fmt::Display) -> String {
        format!("cannot write {}: {e}", path.display())
    }

    fn in_progress(&self) -> PathBuf {
        self.staging.join(format!("in-progress-{}", self.attempt))
    }

    /// Opens where records go now, the first time they do.
    fn out(&mut self) -> Result<&mut BufWriter<File>, String> {
        if self.out.is_none() {
            if !self.restored {
                // A fresh start: no earlier output or staged files count.
                self.restored = true;
                File::create(&self.path).map_err(|e| self.error(&self.path, e))?;
                if self.two_phase {
                    remove_dir(&self.staging)?;
                }
            }
            let file = if self.two_phase {
                std::fs::create_dir_all(&self.staging).map_err(|e| self.error(&self.staging, e))?;
                File::create(self.in_progress()).map_err(|e| self.error(&self.in_progress(), e))?
            } else {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| self.error(&self.path, e))?;
                self.written = self.committed;
                file
            };
            self.out = Some(BufWriter::with_capacity(256 * 1024, file));
        }
        self.out
            .as_mut()
            .ok_or_else(|| "the sink's file is not open".to_string())
    }

    /// Flushes and syncs `out` (a pipe or device cannot be synced, and
    /// needs not be).
    fn sync(&mut self) -> Result<(), String> {
        if let Some(out) = self.out.as_mut() {
            let synced = out
                .flush()
                .and_then(|()| match out.get_ref().metadata()?.is_file() {
                    true => out.get_ref().sync_all(),
                    false => Ok(()),
                });
            synced.map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        }
        Ok(())
    }

    /// Appends the staged files up to checkpoint `id` to the output.
    fn publish(&mut self, id: u64) -> Result<(), String> {
        let due: Vec<Staged> = self
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
            .map_err(|e| self.error(&self.path, e))?;
        for staged in &due {
            let from = self.staging.join(&staged.file);
            let mut input = File::open(&from).map_err(|e| self.error(&from, e))?;
            std::io::copy(&mut input, &mut output).map_err(|e| self.error(&self.path, e))?;
        }
        output.sync_all().map_err(|e| self.error(&self.path, e))?;
        for staged in &due {
            self.committed += staged.bytes;
            let _ = std::fs::remove_file(self.staging.join(&staged.file));
        }
        self.staged.retain(|s| s.checkpoint > id);
        Ok(())
    }
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

impl Sink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.buf.clear();
        let mut buf = std::mem::take(&mut self.buf);
        let encoded = match self.format {
            OutputFormat::Json => write_json(&mut buf, batch),
            OutputFormat::Text => write_text(&mut buf, batch),
        };
        let result = encoded.and_then(|()| {
            let path = self.path.clone();
            self.out()?
                .write_all(&buf)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
        self.written += buf.len() as u64;
        self.buf = buf;
        result
    }

    fn finish(&mut self) -> Result<(), String> {
        self.out()?;
        self.sync()?;
        if self.two_phase {
            // The input is over: everything staged and in progress is final.
            if let Some(out) = self.out.take() {
                drop(out);
                let file = format!("in-progress-{}", self.attempt);
                self.staged.push(Staged {
                    checkpoint: u64::MAX,
                    file,
                    bytes: self.written,
                });
            }
            self.publish(u64::MAX)?;
            remove_dir(&self.staging)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, id: u64) -> Result<Option<Vec<u8>>, String> {
        self.out()?;
        self.sync()?;
        if self.two_phase {
            if let Some(out) = self.out.take() {
                drop(out);
                let file = format!("checkpoint-{id}");
                let to = self.staging.join(&file);
                std::fs::rename(self.in_progress(), &to).map_err(|e| self.error(&to, e))?;
                self.staged.push(Staged {
                    checkpoint: id,
                    file,
                    bytes: self.written,
                });
                self.written = 0;
            }
        } else {
            self.committed = self.written;
        }
        let mut out = Vec::new();
        put_u64(&mut out, self.committed);
        put_u32(&mut out, self.staged.len() as u32);
        for staged in &self.staged {
            put_u64(&mut out, staged.checkpoint);
            put_bytes(&mut out, staged.file.as_bytes());
            put_u64(&mut out, staged.bytes);
        }
        Ok(Some(out))
    }

    fn commit(&mut self, id: u64) -> Result<(), String> {
        if self.two_phase {
            self.publish(id)?;
        }
        Ok(())
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let damaged = |e: weir_state::StateError| format!("the sink's snapshot is damaged: {e}");
        let mut r = Reader::new(snapshot);
        let committed = r.u64().map_err(damaged)?;
        let mut staged = Vec::new();
        for _ in 0..r.u32().map_err(damaged)? {
            let checkpoint = r.u64().map_err(damaged)?;
            let file = r.string().map_err(damaged)?;
            let bytes = r.u64().map_err(damaged)?;
            if file.contains('/') || file.contains("..") {
                return Err(format!(
                    "the sink's snapshot names a staged file '{file}' outside its directory"
                ));
            }
            staged.push(Staged {
                checkpoint,
                file,
                bytes,
            });
        }
        r.finish().map_err(damaged)?;

        let mut output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| self.error(&self.path, e))?;
        let mut length = output
            .metadata()
            .map_err(|e| self.error(&self.path, e))?
            .len();
        if length < committed {
            return Err(format!(
                "{} has {length} bytes, but the checkpoint committed {committed}: \
                 the output was changed or truncated since",
                self.path.display()
            ));
        }
        // Each staged file goes right after what came before it: if the
        // output already holds it (the commit ran before the failure),
        // nothing to do; otherwise cut back to where it starts and append.
        let mut expected = committed;
        for s in &staged {
            if length < expected + s.bytes {
                output
                    .set_len(expected)
                    .map_err(|e| self.error(&self.path, e))?;
                let from = self.staging.join(&s.file);
                let mut input = File::open(&from).map_err(|e| {
                    format!(
                        "the output staged for checkpoint {} ({}) is gone: {e}",
                        s.checkpoint,
                        from.display()
                    )
                })?;
                use std::io::Seek;
                output
                    .seek(std::io::SeekFrom::End(0))
                    .map_err(|e| self.error(&self.path, e))?;
                std::io::copy(&mut input, &mut output).map_err(|e| self.error(&self.path, e))?;
                length = expected + s.bytes;
            }
            expected += s.bytes;
        }
        // Whatever a later checkpoint committed, or a direct write added
        // after the snapshot, is not covered by this one.
        output
            .set_len(expected)
            .map_err(|e| self.error(&self.path, e))?;
        output.sync_all().map_err(|e| self.error(&self.path, e))?;
        remove_dir(&self.staging)?;
        self.committed = expected;
        self.written = expected;
        self.staged.clear();
        self.restored = true;
        Ok(())
    }
}

/// Discards records; the job's metrics count them.
pub struct BlackholeSink;

impl Sink for BlackholeSink {
    fn write(&mut self, _batch: &RecordBatch) -> Result<(), String> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
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
    fn jsonl_file_is_written_and_a_bad_path_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(&path, OutputFormat::Json, false, 0);
        sink.write(&batch()).unwrap();
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        let mut sink = FileSink::new(
            &dir.path().join("missing/out.jsonl"),
            OutputFormat::Json,
            false,
            0,
        );
        let err = sink.write(&batch()).unwrap_err();
        assert!(err.contains("missing/out.jsonl"), "{err}");
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn two_phase_output_appears_when_its_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut sink = FileSink::new(&path, OutputFormat::Text, true, 0);
        sink.write(&batch()).unwrap();
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
        let mut resumed = FileSink::new(&path, OutputFormat::Text, true, 1);
        resumed.restore(&second).unwrap();
        assert_eq!(lines(&path), 4, "checkpoint 2's staged output is published");
        assert!(!dir.path().join(".out.txt.pending").exists());
        resumed.write(&batch()).unwrap();
        resumed.finish().unwrap();
        assert_eq!(lines(&path), 6);

        // Falling back to checkpoint 1 cuts the output back to it, and
        // refuses once what it staged is gone and not in the output.
        let mut older = FileSink::new(&path, OutputFormat::Text, true, 2);
        older.restore(&first).unwrap();
        assert_eq!(lines(&path), 2);
        std::fs::write(&path, "").unwrap();
        let mut gone = FileSink::new(&path, OutputFormat::Text, true, 3);
        let err = gone.restore(&first).unwrap_err();
        assert!(
            err.contains("changed or truncated") || err.contains("is gone"),
            "{err}"
        );
    }

    #[test]
    fn direct_output_is_cut_back_to_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(&path, OutputFormat::Json, false, 0);
        sink.write(&batch()).unwrap();
        let snapshot = sink.snapshot(1).unwrap().unwrap();
        sink.write(&batch()).unwrap();
        sink.finish().unwrap();
        assert_eq!(lines(&path), 4);
        let mut resumed = FileSink::new(&path, OutputFormat::Json, false, 1);
        resumed.restore(&snapshot).unwrap();
        resumed.write(&batch()).unwrap();
        resumed.finish().unwrap();
        assert_eq!(lines(&path), 4);
        assert!(resumed
            .restore(&snapshot[..5])
            .unwrap_err()
            .contains("damaged"));
    }
}
