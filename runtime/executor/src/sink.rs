//! Built-in sinks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use weir_types::OutputFormat;

/// Receives the records of one sink subtask.
pub trait Sink: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String>;
    /// The input ended: flush and close.
    fn finish(&mut self) -> Result<(), String>;
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

/// A file of JSON objects, one per line.
pub struct JsonlSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonlSink {
    pub fn create(path: &Path) -> Result<Self, String> {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, file),
        })
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        write_json(&mut self.out, batch)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    fn finish(&mut self) -> Result<(), String> {
        // A pipe or a device (a FIFO, /dev/stdout) cannot be synced; only a
        // regular file has anything to make durable.
        self.out
            .flush()
            .and_then(|()| match self.out.get_ref().metadata()?.is_file() {
                true => self.out.get_ref().sync_all(),
                false => Ok(()),
            })
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
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
        let mut sink = JsonlSink::create(&path).unwrap();
        sink.write(&batch()).unwrap();
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        let err = JsonlSink::create(&dir.path().join("missing/out.jsonl"))
            .err()
            .unwrap();
        assert!(err.contains("missing/out.jsonl"), "{err}");
    }
}
