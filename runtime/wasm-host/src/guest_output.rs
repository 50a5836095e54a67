//! Where a guest's stdout, stderr and log calls go: into `tracing`, line by
//! line, under a per-instance budget, so a chatty or hostile guest cannot
//! flood the logs or grow host memory. The last stderr lines are kept for
//! error messages (a Rust panic message lands there just before the trap).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Lines an instance may log in a burst, and per second after that.
const BURST_LINES: f64 = 200.0;
const LINES_PER_SECOND: f64 = 100.0;
/// A line longer than this is cut and logged in pieces.
const MAX_LINE_BYTES: usize = 8 * 1024;
/// How much of stderr is kept for error reports.
const STDERR_TAIL_BYTES: usize = 2 * 1024;

/// A token bucket over log lines, shared by an instance's stdout, stderr and
/// `log` import.
#[derive(Debug)]
pub(crate) struct LogBudget {
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
}

impl LogBudget {
    pub(crate) fn new() -> Self {
        LogBudget {
            tokens: BURST_LINES,
            refilled: Instant::now(),
            suppressed: 0,
        }
    }

    /// Whether one more line may be logged. When lines were dropped and the
    /// budget recovers, returns how many, so the gap is reported once.
    pub(crate) fn admit(&mut self) -> Admission {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * LINES_PER_SECOND).min(BURST_LINES);
        self.refilled = now;
        if self.tokens < 1.0 {
            self.suppressed += 1;
            return Admission::Dropped;
        }
        self.tokens -= 1.0;
        let suppressed = std::mem::take(&mut self.suppressed);
        Admission::Logged { suppressed }
    }

    #[cfg(test)]
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

pub(crate) enum Admission {
    Logged { suppressed: u64 },
    Dropped,
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
        let admission = lock(&self.budget).admit();
        if let Admission::Logged { suppressed } = admission {
            if suppressed > 0 {
                tracing::warn!(target: "weir::guest", operator = %self.operator, suppressed, "guest output over budget: lines dropped");
            }
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
    fn budget_drops_lines_past_the_burst_and_reports_them() {
        let mut budget = LogBudget::new();
        let mut logged = 0;
        for _ in 0..1000 {
            if let Admission::Logged { .. } = budget.admit() {
                logged += 1;
            }
        }
        assert!(
            logged >= BURST_LINES as usize && logged < 250,
            "logged {logged}"
        );
        assert!(budget.suppressed() > 700);
    }

    #[test]
    fn stderr_keeps_only_its_tail() {
        let out = GuestOutput::new(
            Arc::from("op"),
            Stream::Stderr,
            Arc::new(Mutex::new(LogBudget::new())),
        );
        out.write_bytes(&vec![b'x'; 10_000]);
        out.write_bytes(b"\npanicked at boom\n");
        let tail = out.tail();
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("panicked at boom\n"));
    }
}
