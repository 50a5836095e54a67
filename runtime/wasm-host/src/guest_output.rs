//! Where a guest's stdout, stderr and log calls go: into `tracing`, line by
//! line, under a per-instance budget, so a chatty or hostile guest cannot
//! flood the logs or grow host memory. The last stderr lines are kept for
//! error messages (a Rust panic message lands there just before the trap).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A line longer than this is cut and logged in pieces (stdout, stderr) or
/// cut short (the `log` import).
const MAX_LINE_BYTES: usize = 8 * 1024;
/// How much of stderr is kept for error reports.
const STDERR_TAIL_BYTES: usize = 2 * 1024;
/// At most one "dropped" summary per instance this often.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// How much a guest may log: lines and bytes per second, each with a burst
/// of two seconds' worth. Whatever is over is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogLimits {
    pub lines_per_second: f64,
    pub bytes_per_second: f64,
}

/// Lines an operator instance may log per second, unless configured.
pub const DEFAULT_LOG_LINES_PER_SECOND: f64 = 100.0;
/// Bytes an operator instance may log per second, unless configured.
pub const DEFAULT_LOG_BYTES_PER_SECOND: f64 = 64.0 * 1024.0;

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            lines_per_second: DEFAULT_LOG_LINES_PER_SECOND,
            bytes_per_second: DEFAULT_LOG_BYTES_PER_SECOND,
        }
    }
}

/// Token buckets over log lines and bytes, shared by an instance's stdout,
/// stderr and `log` import.
#[derive(Debug)]
pub(crate) struct LogBudget {
    limits: LogLimits,
    lines: f64,
    bytes: f64,
    refilled: Instant,
    dropped_lines: u64,
    dropped_bytes: u64,
    /// When drops were last reported; `None` before the first report, which
    /// goes out at once.
    reported: Option<Instant>,
}

/// What became of one line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Log this many bytes of it (`None`: drop it).
    pub keep: Option<usize>,
    /// Report these drops first: (lines, bytes) since the last report.
    pub report: Option<(u64, u64)>,
}

impl LogBudget {
    pub(crate) fn new(limits: LogLimits) -> Self {
        LogBudget {
            limits,
            lines: limits.lines_per_second * 2.0,
            bytes: limits.bytes_per_second * 2.0,
            refilled: Instant::now(),
            dropped_lines: 0,
            dropped_bytes: 0,
            reported: None,
        }
    }

    /// Whether a line of `len` bytes may be logged (cut to at most
    /// [`MAX_LINE_BYTES`]), and what drops to report before it.
    pub(crate) fn admit(&mut self, len: usize) -> Admission {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let limits = self.limits;
        self.lines =
            (self.lines + elapsed * limits.lines_per_second).min(limits.lines_per_second * 2.0);
        self.bytes =
            (self.bytes + elapsed * limits.bytes_per_second).min(limits.bytes_per_second * 2.0);
        let keep = len.min(MAX_LINE_BYTES);
        let admitted = self.lines >= 1.0 && self.bytes >= keep as f64;
        if admitted {
            self.lines -= 1.0;
            self.bytes -= keep as f64;
        } else {
            self.dropped_lines += 1;
            self.dropped_bytes += len as u64;
        }
        let due = self
            .reported
            .is_none_or(|at| now.duration_since(at) >= REPORT_INTERVAL);
        let report = (self.dropped_lines > 0 && due).then(|| {
            self.reported = Some(now);
            (
                std::mem::take(&mut self.dropped_lines),
                std::mem::take(&mut self.dropped_bytes),
            )
        });
        Admission {
            keep: admitted.then_some(keep),
            report,
        }
    }

    #[cfg(test)]
    pub(crate) fn dropped(&self) -> (u64, u64) {
        (self.dropped_lines, self.dropped_bytes)
    }
}

/// Logs the summary of what an instance's output lost.
pub(crate) fn report_dropped(operator: &str, (lines, bytes): (u64, u64)) {
    tracing::warn!(
        target: "weir::guest",
        operator = %operator,
        dropped_lines = lines,
        dropped_bytes = bytes,
        "guest output over its budget: {lines} lines ({bytes} bytes) dropped (at most one such \
         summary per {} s)",
        REPORT_INTERVAL.as_secs()
    );
}

/// `text` cut to at most `keep` bytes, on a character boundary, marked
/// when cut.
pub(crate) fn cut(text: &str, keep: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= keep {
        return text.into();
    }
    let mut end = keep;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes cut)", &text[..end], text.len() - end).into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
struct State {
    operator: Arc<str>,
    stream: Stream,
    budget: Arc<Mutex<LogBudget>>,
    partial: Vec<u8>,
    tail: VecDeque<u8>,
}

/// One of a guest's output streams.
#[derive(Debug, Clone)]
pub(crate) struct GuestOutput {
    state: Arc<Mutex<State>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent in a
    // way that matters for logging, so a poisoned lock is still used.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GuestOutput {
    pub(crate) fn new(operator: Arc<str>, stream: Stream, budget: Arc<Mutex<LogBudget>>) -> Self {
        GuestOutput {
            state: Arc::new(Mutex::new(State {
                operator,
                stream,
                budget,
                partial: Vec::new(),
                tail: VecDeque::new(),
            })),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut state = lock(&self.state);
        if state.stream == Stream::Stderr {
            state.tail.extend(bytes);
            let excess = state.tail.len().saturating_sub(STDERR_TAIL_BYTES);
            state.tail.drain(..excess);
        }
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut state.partial);
                state.emit(&line);
            } else {
                state.partial.push(byte);
                if state.partial.len() >= MAX_LINE_BYTES {
                    let line = std::mem::take(&mut state.partial);
                    state.emit(&line);
                }
            }
        }
    }

    /// Logs a line the guest left unterminated (before a trap, typically).
    pub(crate) fn flush_partial(&self) {
        let mut state = lock(&self.state);
        if !state.partial.is_empty() {
            let line = std::mem::take(&mut state.partial);
            state.emit(&line);
        }
    }

    /// The last bytes written to this stream, as text.
    pub(crate) fn tail(&self) -> String {
        let state = lock(&self.state);
        let bytes: Vec<u8> = state.tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(crate) fn clear_tail(&self) {
        lock(&self.state).tail.clear();
    }
}

impl State {
    fn emit(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return;
        }
        let admission = lock(&self.budget).admit(line.len());
        if let Some(dropped) = admission.report {
            report_dropped(&self.operator, dropped);
        }
        if admission.keep.is_some() {
            match self.stream {
                Stream::Stdout => {
                    tracing::info!(target: "weir::guest", operator = %self.operator, stream = "stdout", "{line}")
                }
                Stream::Stderr => {
                    tracing::warn!(target: "weir::guest", operator = %self.operator, stream = "stderr", "{line}")
                }
            }
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Writes never block: excess lines are dropped by the budget instead.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_drops_lines_past_the_burst_and_reports_them_once() {
        let mut budget = LogBudget::new(LogLimits::default());
        let (mut logged, mut reports) = (0, 0);
        for _ in 0..1000 {
            let admission = budget.admit(10);
            logged += usize::from(admission.keep.is_some());
            reports += usize::from(admission.report.is_some());
        }
        let burst = (DEFAULT_LOG_LINES_PER_SECOND * 2.0) as usize;
        assert!(logged >= burst && logged < burst + 50, "logged {logged}");
        assert_eq!(reports, 1, "one summary per interval, not one per line");
        assert!(budget.dropped().0 > 700);
    }

    #[test]
    fn large_lines_spend_the_byte_budget_and_are_cut() {
        let mut budget = LogBudget::new(LogLimits::default());
        let mut logged_bytes = 0;
        for _ in 0..100 {
            if let Some(keep) = budget.admit(10 << 20).keep {
                assert_eq!(keep, MAX_LINE_BYTES);
                logged_bytes += keep;
            }
        }
        // Two seconds' worth of bytes, not 100 lines of 10 MB.
        assert!(
            logged_bytes <= (DEFAULT_LOG_BYTES_PER_SECOND * 2.0) as usize + MAX_LINE_BYTES,
            "{logged_bytes}"
        );
        assert_eq!(cut("héllo", 2), "h... (5 bytes cut)");
        assert_eq!(cut("short", 10), "short");
    }

    #[test]
    fn stderr_keeps_only_its_tail() {
        let out = GuestOutput::new(
            Arc::from("op"),
            Stream::Stderr,
            Arc::new(Mutex::new(LogBudget::new(LogLimits::default()))),
        );
        out.write_bytes(&vec![b'x'; 10_000]);
        out.write_bytes(b"\npanicked at boom\n");
        let tail = out.tail();
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("panicked at boom\n"));
    }
}
