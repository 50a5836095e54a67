//! A task's input gate: one bounded queue that every producer of the task
//! sends to — task threads of the same process blocking, network receivers
//! of the data plane asynchronously (no thread per channel). When the queue
//! is full, senders wait; that is how back-pressure reaches producers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::exchange::{Message, Outbox, SendError};

struct State {
    queue: VecDeque<Message>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    /// Async senders waiting for room.
    wakers: Vec<Waker>,
}

struct Shared {
    state: Mutex<State>,
    readable: Condvar,
    writable: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates a gate holding at most `capacity` messages.
pub fn gate(capacity: usize) -> (GateSender, GateReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            senders: 1,
            receiver_alive: true,
            wakers: Vec::new(),
        }),
        readable: Condvar::new(),
        writable: Condvar::new(),
    });
    (
        GateSender {
            shared: shared.clone(),
        },
        GateReceiver { shared },
    )
}

/// One producer's handle on a gate; clone it for more producers.
pub struct GateSender {
    shared: Arc<Shared>,
}

impl Clone for GateSender {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        GateSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for GateSender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0 {
            self.shared.readable.notify_all();
        }
    }
}

impl GateSender {
    /// Sends, waiting while the gate is full. Fails when the receiver is gone.
    pub fn send_blocking(&self, message: Message) -> Result<(), SendError> {
        let mut state = self.shared.lock();
        loop {
            if !state.receiver_alive {
                return Err(SendError::Disconnected);
            }
            if state.queue.len() < state.capacity {
                state.queue.push_back(message);
                self.shared.readable.notify_one();
                return Ok(());
            }
            state = self
                .shared
                .writable
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Sends, waiting asynchronously while the gate is full.
    pub fn send(&self, message: Message) -> SendFuture<'_> {
        SendFuture {
            sender: self,
            message: Some(message),
        }
    }
}

impl Outbox for GateSender {
    fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.send_blocking(message)
    }
}

/// The future of [`GateSender::send`].
pub struct SendFuture<'a> {
    sender: &'a GateSender,
    message: Option<Message>,
}

impl Future for SendFuture<'_> {
    type Output = Result<(), SendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.sender.shared;
        let mut state = shared.lock();
        if !state.receiver_alive {
            return Poll::Ready(Err(SendError::Disconnected));
        }
        if state.queue.len() < state.capacity {
            if let Some(message) = self.message.take() {
                state.queue.push_back(message);
                shared.readable.notify_one();
            }
            return Poll::Ready(Ok(()));
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Why `recv_timeout` returned without a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    Timeout,
    /// Every sender is gone and the queue is empty.
    Disconnected,
}

/// The task's end of its gate.
pub struct GateReceiver {
    shared: Arc<Shared>,
}

impl GateReceiver {
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(message) = state.queue.pop_front() {
                self.shared.writable.notify_one();
                for waker in state.wakers.drain(..) {
                    waker.wake();
                }
                return Ok(message);
            }
            if state.senders == 0 {
                return Err(RecvError::Disconnected);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RecvError::Timeout);
            }
            state = self
                .shared
                .readable
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for GateReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        state.queue.clear();
        self.shared.writable.notify_all();
        for waker in state.wakers.drain(..) {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_a_full_gate_blocks_its_senders() {
        let (sender, receiver) = gate(2);
        sender.send_blocking(Message::End(0)).unwrap();
        sender
            .send_blocking(Message::Watermark { producer: 0, at: 1 })
            .unwrap();
        let blocked = std::thread::spawn(move || {
            sender
                .send_blocking(Message::Watermark { producer: 0, at: 2 })
                .map(|()| Instant::now())
        });
        std::thread::sleep(Duration::from_millis(50));
        let freed = Instant::now();
        assert!(matches!(
            receiver.recv_timeout(Duration::from_secs(1)),
            Ok(Message::End(0))
        ));
        let sent = blocked.join().unwrap().unwrap();
        assert!(sent >= freed, "the third send waited for room");
        assert!(matches!(
            receiver.recv_timeout(Duration::from_secs(1)),
            Ok(Message::Watermark { at: 1, .. })
        ));
        assert!(matches!(
            receiver.recv_timeout(Duration::from_secs(1)),
            Ok(Message::Watermark { at: 2, .. })
        ));
        assert_eq!(
            receiver.recv_timeout(Duration::from_millis(10)).err(),
            Some(RecvError::Disconnected),
            "every sender is gone"
        );
    }

    #[test]
    fn a_receiver_that_is_gone_fails_its_senders() {
        let (sender, receiver) = gate(1);
        let other = sender.clone();
        drop(receiver);
        assert!(sender.send_blocking(Message::End(0)).is_err());
        assert!(other.send_blocking(Message::End(0)).is_err());
    }

    #[test]
    fn an_empty_gate_times_out_while_senders_live() {
        let (_sender, receiver) = gate(1);
        assert_eq!(
            receiver.recv_timeout(Duration::from_millis(5)).err(),
            Some(RecvError::Timeout)
        );
    }
}
