//! Built-in sources. A source yields batches of at most `batch_size` rows;
//! every error names the file and line it comes from.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Produces the records of one source subtask.
pub trait Source: Send {
    /// The next batch, or `None` when the source is exhausted.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, String>;
}

fn open(path: &Path) -> Result<BufReader<File>, String> {
    File::open(path)
        .map(|f| BufReader::with_capacity(256 * 1024, f))
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Reads one line into `buf` without its terminator; `false` at the end.
fn read_line(reader: &mut BufReader<File>, buf: &mut Vec<u8>, path: &Path) -> Result<bool, String> {
    buf.clear();
    let n = reader
        .read_until(b'\n', buf)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(true)
}

/// Lines of a UTF-8 text file: one record `line: utf8` per line.
pub struct TextSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    batch_size: usize,
    schema: SchemaRef,
    buf: Vec<u8>,
}

impl TextSource {
    pub fn schema_of() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)]))
    }

    pub fn open(path: &Path, batch_size: usize) -> Result<Self, String> {
        Ok(TextSource {
            path: path.to_path_buf(),
            reader: open(path)?,
            line: 0,
            batch_size,
            schema: Self::schema_of(),
            buf: Vec::new(),
        })
    }
}

impl Source for TextSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, String> {
        let mut lines = StringBuilder::with_capacity(self.batch_size, self.batch_size * 64);
        let mut rows = 0;
        while rows < self.batch_size && read_line(&mut self.reader, &mut self.buf, &self.path)? {
            self.line += 1;
            let text = std::str::from_utf8(&self.buf).map_err(|e| {
                format!(
                    "{} line {}: not valid UTF-8 (at byte {} of the line)",
                    self.path.display(),
                    self.line,
                    e.valid_up_to()
                )
            })?;
            lines.append_value(text);
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let column: StringArray = lines.finish();
        RecordBatch::try_new(self.schema.clone(), vec![Arc::new(column)])
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// JSON objects, one per line, decoded against a declared schema.
pub struct JsonlSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    batch_size: usize,
    schema: SchemaRef,
    buf: Vec<u8>,
}

impl JsonlSource {
    pub fn open(path: &Path, schema: SchemaRef, batch_size: usize) -> Result<Self, String> {
        Ok(JsonlSource {
            path: path.to_path_buf(),
            reader: open(path)?,
            line: 0,
            batch_size,
            schema,
            buf: Vec::new(),
        })
    }

    fn decoder(&self) -> Result<arrow_json::reader::Decoder, String> {
        arrow_json::ReaderBuilder::new(self.schema.clone())
            .with_batch_size(self.batch_size)
            .with_strict_mode(true)
            .build_decoder()
            .map_err(|e| e.to_string())
    }

    /// Decodes one line alone, to tell which line of a failed batch is bad.
    fn check_line(&self, text: &[u8]) -> Result<(), String> {
        let mut decoder = self.decoder()?;
        decoder.decode(text).map_err(|e| e.to_string())?;
        decoder.flush().map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Source for JsonlSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, String> {
        let mut decoder = self.decoder()?;
        let mut lines: Vec<(u64, Vec<u8>)> = Vec::new();
        while lines.len() < self.batch_size
            && read_line(&mut self.reader, &mut self.buf, &self.path)?
        {
            self.line += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines.push((self.line, self.buf.clone()));
        }
        if lines.is_empty() {
            return Ok(None);
        }
        let decoded = lines
            .iter()
            .try_for_each(|(_, text)| decoder.decode(text).map(|_| ()))
            .and_then(|()| decoder.flush());
        match decoded {
            Ok(Some(batch)) => Ok(Some(batch)),
            Ok(None) => Ok(None),
            Err(batch_error) => {
                for (line, text) in &lines {
                    if let Err(e) = self.check_line(text) {
                        return Err(format!("{} line {line}: {e}", self.path.display()));
                    }
                }
                Err(format!(
                    "{} lines {}-{}: {batch_error}",
                    self.path.display(),
                    lines[0].0,
                    self.line
                ))
            }
        }
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
            // Pace to the rate: never more than is due, and at least one
            // record per flush interval so slow streams still move.
            rows = rows.min(((rate * FLUSH_INTERVAL.as_secs_f64()).ceil() as u64).max(1));
            let due_at =
                self.started + Duration::from_secs_f64((self.emitted + rows) as f64 / rate);
            let now = Instant::now();
            if due_at > now {
                std::thread::sleep(due_at - now);
            }
        }
        rows as usize
    }
}

impl Source for GeneratorSource {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, String> {
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
        .map_err(|e| e.to_string())
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
        let mut source = TextSource::open(file.path(), 2).unwrap();
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
        let mut source = TextSource::open(bad.path(), 10).unwrap();
        let err = source.next_batch().unwrap_err();
        assert!(
            err.ends_with("line 2: not valid UTF-8 (at byte 4 of the line)"),
            "{err}"
        );
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
        let mut source = JsonlSource::open(file.path(), schema.clone(), 10).unwrap();
        let err = source.next_batch().unwrap_err();
        assert!(err.contains("line 3:"), "{err}");

        let mut good = tempfile::NamedTempFile::new().unwrap();
        good.write_all(b"{\"user\":\"a\",\"n\":1}\n{\"user\":\"b\"}\n")
            .unwrap();
        let mut source = JsonlSource::open(good.path(), schema, 10).unwrap();
        assert_eq!(source.next_batch().unwrap().unwrap().num_rows(), 2);
        assert!(source.next_batch().unwrap().is_none());
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = TextSource::open(Path::new("/no/such/input.txt"), 1)
            .err()
            .unwrap();
        assert!(err.starts_with("cannot open /no/such/input.txt:"), "{err}");
    }
}
