//! Built-in sources. A source yields batches of at most `batch_size` rows;
//! every error names the file and line it comes from.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_state::codec::{put_u64, Reader};
use weir_types::{Classify, FailureKind};

use crate::checkpoint::RestoreError;

/// Why a source could not produce its next batch.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed; a later attempt may succeed.
    #[error("{0}")]
    Io(String),
    /// The input is bad at that place (a line over the limit, text that is
    /// not UTF-8, JSON that does not fit the schema): reading it again meets
    /// the same.
    #[error("{0}")]
    BadInput(String),
    /// The input cannot be opened (missing, unreadable).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The schema a source decodes against cannot take JSON (a type arrow's
    /// JSON reader does not read).
    #[error("{0}")]
    Schema(#[source] arrow_schema::ArrowError),
}

impl Classify for SourceError {
    /// Bad input is read again by a restart; a file that cannot be read or
    /// opened may be readable later.
    fn failure_kind(&self) -> FailureKind {
        match self {
            SourceError::BadInput(_) | SourceError::Schema(_) => FailureKind::Configuration,
            SourceError::Io(_) | SourceError::Open { .. } => FailureKind::Transient,
        }
    }
}

/// Produces the records of one source subtask.
pub trait Source: Send {
    /// The next batch, or `None` when the source is exhausted.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError>;

    /// Where the source stands, for a checkpoint: what `restore` needs to
    /// go on from the next record.
    fn position(&self) -> Vec<u8>;

    /// Goes on from a position `position` returned (before any batch).
    fn restore(&mut self, position: &[u8]) -> Result<(), RestoreError>;

    /// When the next batch is due, for a source held to a rate: the task
    /// waits for it without blocking in the source, so it goes on taking
    /// checkpoints and firing timers meanwhile.
    fn ready_at(&self) -> Option<Instant> {
        None
    }
}

/// A source position: two numbers (a file's offset and line, the
/// generator's next id and records left).
fn encode_position(first: u64, second: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_u64(&mut out, first);
    put_u64(&mut out, second);
    out
}

fn decode_position(position: &[u8], source: &str) -> Result<(u64, u64), RestoreError> {
    let mut r = Reader::new(position);
    r.u64()
        .and_then(|first| Ok((first, r.u64()?)))
        .and_then(|p| r.finish().map(|()| p))
        .map_err(|e| {
            RestoreError::Conflict(format!(
                "the {source} position in the checkpoint is damaged: {e}"
            ))
        })
}

/// Holds a source to `rate` records per second, batch by batch: batches
/// keep their size (and so the watermarks between them stay where they
/// would be at full speed); only the time between them grows.
struct Pacer {
    rate: Option<f64>,
    started: Instant,
    emitted: u64,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Pacer {
            rate,
            started: Instant::now(),
            emitted: 0,
        }
    }

    /// When the next batch may go.
    fn due(&self) -> Option<Instant> {
        let rate = self.rate?;
        Some(self.started + Duration::from_secs_f64(self.emitted as f64 / rate))
    }

    fn emitted(&mut self, rows: usize) {
        self.emitted += rows as u64;
    }
}

/// A file read line by line, knowing its byte offset and line number so a
/// checkpoint can record where it stands.
struct LineReader {
    path: PathBuf,
    reader: BufReader<File>,
    /// Bytes consumed so far.
    offset: u64,
    /// Lines consumed so far.
    line: u64,
    /// The longest line read; a longer one is an error, not a buffer that
    /// grows with the file.
    max_line_bytes: usize,
}

/// The longest line a file source reads, unless configured: a record of a
/// megabyte is far past any event, far below a TaskManager's memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

impl LineReader {
    fn open(path: &Path) -> Result<Self, SourceError> {
        Ok(LineReader {
            path: path.to_path_buf(),
            reader: open(path)?,
            offset: 0,
            line: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        })
    }

    /// Reads one line into `buf` without its terminator; `false` at the end.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<bool, SourceError> {
        buf.clear();
        // One byte past the limit (plus the newline) tells an overlong line
        // without reading the rest of it.
        let n = (&mut self.reader)
            .take(self.max_line_bytes as u64 + 2)
            .read_until(b'\n', buf)
            .map_err(|e| SourceError::Io(format!("cannot read {}: {e}", self.path.display())))?;
        if n == 0 {
            return Ok(false);
        }
        let content = buf.len() - usize::from(buf.last() == Some(&b'\n'));
        if content > self.max_line_bytes {
            return Err(SourceError::BadInput(format!(
                "{} line {}: longer than the limit of {} bytes (taskmanager.maxLineLength)",
                self.path.display(),
                self.line + 1,
                self.max_line_bytes
            )));
        }
        self.offset += n as u64;
        self.line += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        Ok(true)
    }

    fn position(&self) -> Vec<u8> {
        encode_position(self.offset, self.line)
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), RestoreError> {
        let (offset, line) = decode_position(position, "source")?;
        let io = |e: std::io::Error| {
            RestoreError::Io(format!("cannot read {}: {e}", self.path.display()))
        };
        let length = self.reader.get_ref().metadata().map_err(io)?.len();
        if offset > length {
            return Err(RestoreError::Conflict(format!(
                "{} has {length} bytes, but the checkpoint read up to byte {offset}: \
                 the file changed since",
                self.path.display()
            )));
        }
        self.reader.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.offset = offset;
        self.line = line;
        Ok(())
    }
}

fn open(path: &Path) -> Result<BufReader<File>, SourceError> {
    File::open(path)
        .map(|f| BufReader::with_capacity(256 * 1024, f))
        .map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Lines of a UTF-8 text file: one record `line: utf8` per line.
pub struct TextSource {
    reader: LineReader,
    pacer: Pacer,
    batch_size: usize,
    schema: SchemaRef,
    buf: Vec<u8>,
}

impl TextSource {
    pub fn schema_of() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)]))
    }

    /// `rate`: records per second at most (see [`Pacer`]).
    /// Refuses lines longer than `bytes` (instead of [`DEFAULT_MAX_LINE_BYTES`]).
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.reader.max_line_bytes = bytes;
        self
    }

    pub fn open(path: &Path, batch_size: usize, rate: Option<f64>) -> Result<Self, SourceError> {
        Ok(TextSource {
            reader: LineReader::open(path)?,
            pacer: Pacer::new(rate),
            batch_size,
            schema: Self::schema_of(),
            buf: Vec::new(),
        })
    }
}

impl Source for TextSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        let mut lines = StringBuilder::with_capacity(self.batch_size, self.batch_size * 64);
        let mut rows = 0;
        while rows < self.batch_size && self.reader.next(&mut self.buf)? {
            let text = std::str::from_utf8(&self.buf).map_err(|e| {
                SourceError::BadInput(format!(
                    "{} line {}: not valid UTF-8 (at byte {} of the line)",
                    self.reader.path.display(),
                    self.reader.line,
                    e.valid_up_to()
                ))
            })?;
            lines.append_value(text);
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        self.pacer.emitted(rows);
        let column: StringArray = lines.finish();
        RecordBatch::try_new(self.schema.clone(), vec![Arc::new(column)])
            .map(Some)
            .map_err(|e| SourceError::Io(e.to_string()))
    }

    fn position(&self) -> Vec<u8> {
        self.reader.position()
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), RestoreError> {
        self.reader.restore(position)
    }

    fn ready_at(&self) -> Option<Instant> {
        self.pacer.due()
    }
}

/// JSON objects, one per line, decoded against a declared schema.
pub struct JsonlSource {
    reader: LineReader,
    pacer: Pacer,
    batch_size: usize,
    schema: SchemaRef,
    buf: Vec<u8>,
}

impl JsonlSource {
    /// Refuses lines longer than `bytes` (instead of [`DEFAULT_MAX_LINE_BYTES`]).
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.reader.max_line_bytes = bytes;
        self
    }

    pub fn open(
        path: &Path,
        schema: SchemaRef,
        batch_size: usize,
        rate: Option<f64>,
    ) -> Result<Self, SourceError> {
        Ok(JsonlSource {
            reader: LineReader::open(path)?,
            pacer: Pacer::new(rate),
            batch_size,
            schema,
            buf: Vec::new(),
        })
    }

    fn decoder(&self) -> Result<arrow_json::reader::Decoder, SourceError> {
        arrow_json::ReaderBuilder::new(self.schema.clone())
            .with_batch_size(self.batch_size)
            .with_strict_mode(true)
            .build_decoder()
            .map_err(SourceError::Schema)
    }

    /// Decodes one line alone, to tell which line of a failed batch is bad:
    /// the line's error, or `None` when it decodes.
    fn line_error(&self, text: &[u8]) -> Result<Option<arrow_schema::ArrowError>, SourceError> {
        let mut decoder = self.decoder()?;
        let decoded = decoder.decode(text).and_then(|_| decoder.flush());
        Ok(decoded.err())
    }
}

impl Source for JsonlSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        let mut decoder = self.decoder()?;
        let mut lines: Vec<(u64, Vec<u8>)> = Vec::new();
        while lines.len() < self.batch_size && self.reader.next(&mut self.buf)? {
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines.push((self.reader.line, self.buf.clone()));
        }
        if lines.is_empty() {
            return Ok(None);
        }
        self.pacer.emitted(lines.len());
        let path = self.reader.path.display();
        let decoded = lines
            .iter()
            .try_for_each(|(_, text)| decoder.decode(text).map(|_| ()))
            .and_then(|()| decoder.flush());
        match decoded {
            Ok(Some(batch)) => Ok(Some(batch)),
            Ok(None) => Ok(None),
            Err(batch_error) => {
                for (line, text) in &lines {
                    if let Some(e) = self.line_error(text)? {
                        return Err(SourceError::BadInput(format!("{path} line {line}: {e}")));
                    }
                }
                Err(SourceError::BadInput(format!(
                    "{path} lines {}-{}: {batch_error}",
                    lines[0].0, self.reader.line
                )))
            }
        }
    }

    fn position(&self) -> Vec<u8> {
        self.reader.position()
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), RestoreError> {
        self.reader.restore(position)
    }

    fn ready_at(&self) -> Option<Instant> {
        self.pacer.due()
    }
}

/// Where generated timestamps start: 2023-11-14T22:13:20Z.
const GENERATOR_EPOCH_MS: i64 = 1_700_000_000_000;
/// How often a rate-limited generator emits what it has.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Synthetic records `id, key, value, ts`, deterministic in `id`: subtask
/// `i` of `n` produces ids `i, i + n, i + 2n, ...`.
pub struct GeneratorSource {
    next_id: i64,
    step: i64,
    remaining: Option<u64>,
    keys: Vec<String>,
    rate: Option<f64>,
    started: Instant,
    emitted: u64,
    batch_size: usize,
    schema: SchemaRef,
}

impl GeneratorSource {
    pub fn schema_of() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]))
    }

    /// Subtask `subtask` of `parallelism`, sharing `count` records and
    /// `rate` records per second with its siblings.
    pub fn new(
        subtask: u32,
        parallelism: u32,
        count: Option<u64>,
        rate: Option<f64>,
        keys: u64,
        batch_size: usize,
    ) -> Self {
        let parallelism = u64::from(parallelism.max(1));
        let subtask = u64::from(subtask);
        let remaining = count.map(|c| c / parallelism + u64::from(subtask < c % parallelism));
        // Key names are made once; a batch then only copies them.
        let keys = (0..keys.clamp(1, 1 << 20))
            .map(|k| format!("key-{k}"))
            .collect();
        GeneratorSource {
            next_id: subtask as i64,
            step: parallelism as i64,
            remaining,
            keys,
            rate: rate.map(|r| r / parallelism as f64),
            started: Instant::now(),
            emitted: 0,
            batch_size,
            schema: Self::schema_of(),
        }
    }

    fn rows_now(&mut self) -> usize {
        let mut rows = self.batch_size as u64;
        if let Some(remaining) = self.remaining {
            rows = rows.min(remaining);
        }
        if let Some(rate) = self.rate {
            // Pace to the rate: at most a flush interval's worth at once,
            // and at least one record, so slow streams still move.
            rows = rows.min(((rate * FLUSH_INTERVAL.as_secs_f64()).ceil() as u64).max(1));
        }
        rows as usize
    }
}

impl Source for GeneratorSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SourceError> {
        let rows = self.rows_now();
        if rows == 0 {
            return Ok(None);
        }
        let mut ids = Int64Builder::with_capacity(rows);
        let mut keys = StringBuilder::with_capacity(rows, rows * 8);
        let mut values = Float64Builder::with_capacity(rows);
        let mut ts = TimestampMillisecondBuilder::with_capacity(rows);
        for _ in 0..rows {
            let id = self.next_id;
            ids.append_value(id);
            keys.append_value(&self.keys[(id as u64 % self.keys.len() as u64) as usize]);
            values.append_value((id % 1000) as f64 * 0.5);
            ts.append_value(GENERATOR_EPOCH_MS + id);
            self.next_id += self.step;
        }
        self.emitted += rows as u64;
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= rows as u64;
        }
        RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(ids.finish()),
                Arc::new(keys.finish()),
                Arc::new(values.finish()),
                Arc::new(ts.finish()),
            ],
        )
        .map(Some)
        .map_err(|e| SourceError::Io(e.to_string()))
    }

    fn position(&self) -> Vec<u8> {
        encode_position(self.next_id as u64, self.remaining.unwrap_or(u64::MAX))
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), RestoreError> {
        let (next_id, remaining) = decode_position(position, "generator")?;
        if (next_id as i64).rem_euclid(self.step) != self.next_id.rem_euclid(self.step) {
            return Err(RestoreError::Conflict(format!(
                "the checkpoint's generator position (id {next_id}) belongs to another subtask"
            )));
        }
        self.next_id = next_id as i64;
        self.remaining = (remaining != u64::MAX).then_some(remaining);
        // Pacing starts over from here.
        self.started = Instant::now();
        self.emitted = 0;
        Ok(())
    }

    fn ready_at(&self) -> Option<Instant> {
        let rate = self.rate?;
        Some(self.started + Duration::from_secs_f64(self.emitted as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use std::io::Write;

    #[test]
    fn generator_subtasks_split_the_ids() {
        let mut all = Vec::new();
        for subtask in 0..3 {
            let mut source = GeneratorSource::new(subtask, 3, Some(10), None, 4, 3);
            while let Some(batch) = source.next_batch().unwrap() {
                all.extend(
                    batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .iter()
                        .copied(),
                );
            }
        }
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<i64>>());
    }

    #[test]
    fn text_lines_in_batches_and_bad_utf8_named() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"one\r\ntwo\nthree").unwrap();
        let mut source = TextSource::open(file.path(), 2, None).unwrap();
        let first = source.next_batch().unwrap().unwrap();
        let lines: Vec<&str> = first
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(lines, vec!["one", "two"]);
        assert_eq!(source.next_batch().unwrap().unwrap().num_rows(), 1);
        assert!(source.next_batch().unwrap().is_none());

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        bad.write_all(b"fine\nbad \xff here\n").unwrap();
        let mut source = TextSource::open(bad.path(), 10, None).unwrap();
        let err = source.next_batch().unwrap_err();
        assert!(matches!(err, SourceError::BadInput(_)), "{err:?}");
        assert!(
            err.to_string()
                .ends_with("line 2: not valid UTF-8 (at byte 4 of the line)"),
            "{err}"
        );
    }

    #[test]
    fn a_line_over_the_limit_is_bad_input_read_no_further() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(
            b"short
",
        )
        .unwrap();
        file.write_all(&vec![b'x'; 5000]).unwrap();
        let mut source = TextSource::open(file.path(), 10, None)
            .unwrap()
            .with_max_line_bytes(1024);
        let err = source.next_batch().unwrap_err();
        assert!(matches!(err, SourceError::BadInput(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("line 2: longer than the limit of 1024 bytes")
                && err.to_string().contains("maxLineLength"),
            "{err}"
        );
        // A line of exactly the limit is fine, with or without its newline.
        let mut exact = tempfile::NamedTempFile::new().unwrap();
        exact.write_all(&vec![b'y'; 1024]).unwrap();
        exact.write_all(b"\n").unwrap();
        exact.write_all(&vec![b'z'; 1024]).unwrap();
        let mut source = TextSource::open(exact.path(), 10, None)
            .unwrap()
            .with_max_line_bytes(1024);
        assert_eq!(source.next_batch().unwrap().unwrap().num_rows(), 2);
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"{\"user\":\"a\",\"n\":1}\n\n{\"user\":\"b\",\"n\":\"x\"}\n")
            .unwrap();
        let mut source = JsonlSource::open(file.path(), schema.clone(), 10, None).unwrap();
        let err = source.next_batch().unwrap_err().to_string();
        assert!(err.contains("line 3:"), "{err}");

        let mut good = tempfile::NamedTempFile::new().unwrap();
        good.write_all(b"{\"user\":\"a\",\"n\":1}\n{\"user\":\"b\"}\n")
            .unwrap();
        let mut source = JsonlSource::open(good.path(), schema, 10, None).unwrap();
        assert_eq!(source.next_batch().unwrap().unwrap().num_rows(), 2);
        assert!(source.next_batch().unwrap().is_none());
    }

    #[test]
    fn file_sources_go_on_from_a_position() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"{\"n\":1}\n\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n")
            .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let values = |batch: RecordBatch| -> Vec<i64> {
            batch
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        };
        let mut first = JsonlSource::open(file.path(), schema.clone(), 2, None).unwrap();
        assert_eq!(values(first.next_batch().unwrap().unwrap()), vec![1, 2]);
        let position = first.position();
        let mut resumed = JsonlSource::open(file.path(), schema.clone(), 2, None).unwrap();
        resumed.restore(&position).unwrap();
        assert_eq!(values(resumed.next_batch().unwrap().unwrap()), vec![3, 4]);
        assert!(resumed.next_batch().unwrap().is_none());

        // A position past the end of the file: the file changed.
        let short = tempfile::NamedTempFile::new().unwrap();
        let mut other = JsonlSource::open(short.path(), schema, 2, None).unwrap();
        let err = other.restore(&position).unwrap_err();
        assert!(matches!(err, RestoreError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains("the file changed since"), "{err}");
        assert!(other
            .restore(&position[..3])
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }

    #[test]
    fn generator_goes_on_from_a_position() {
        let ids = |source: &mut GeneratorSource| -> Vec<i64> {
            let mut all = Vec::new();
            while let Some(batch) = source.next_batch().unwrap() {
                all.extend(batch.column(0).as_primitive::<Int64Type>().values().iter());
            }
            all
        };
        let mut source = GeneratorSource::new(1, 2, Some(10), None, 4, 2);
        source.next_batch().unwrap();
        let position = source.position();
        let mut resumed = GeneratorSource::new(1, 2, Some(10), None, 4, 2);
        resumed.restore(&position).unwrap();
        assert_eq!(ids(&mut resumed), vec![5, 7, 9]);
        let mut other = GeneratorSource::new(0, 2, Some(10), None, 4, 2);
        assert!(other
            .restore(&position)
            .unwrap_err()
            .to_string()
            .contains("another subtask"));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = TextSource::open(Path::new("/no/such/input.txt"), 1, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("cannot open /no/such/input.txt:"), "{err}");
    }
}
