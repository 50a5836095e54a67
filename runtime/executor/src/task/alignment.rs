//! Barrier alignment: what a task fed by several producers holds back
//! while a checkpoint's barrier has not come from all of them.

use std::collections::{BTreeSet, VecDeque};

use crate::checkpoint::Barrier;
use crate::exchange::Message;

/// Barrier alignment of a task fed by several producers: once a producer's
/// barrier has arrived, what it sends next waits in `held` until the
/// barrier has come from every producer (or the producer has ended).
#[derive(Default)]
pub(super) struct Alignment {
    pub(super) current: Option<(Barrier, BTreeSet<u32>)>,
    pub(super) held: VecDeque<Message>,
    /// Messages to go through before the gate's: what was held, released.
    pub(super) replay: VecDeque<Message>,
    pub(super) ended: BTreeSet<u32>,
    /// The last checkpoint this task took part in: older barriers are late.
    pub(super) last: u64,
}

impl Alignment {
    pub(super) fn is_held(&self, producer: u32) -> bool {
        self.current
            .as_ref()
            .is_some_and(|(_, arrived)| arrived.contains(&producer))
    }

    /// Whether every producer has sent the barrier or ended.
    pub(super) fn complete(&self, producers: usize) -> bool {
        self.current.as_ref().is_some_and(|(_, arrived)| {
            arrived.len() + self.ended.iter().filter(|p| !arrived.contains(p)).count() >= producers
        })
    }

    /// Ends the current alignment: what was held goes first.
    pub(super) fn release(&mut self) -> Option<Barrier> {
        let (barrier, _) = self.current.take()?;
        while let Some(message) = self.held.pop_back() {
            self.replay.push_front(message);
        }
        Some(barrier)
    }
}

pub(super) fn producer_of(message: &Message) -> Option<u32> {
    match message {
        Message::Batch(p, _) | Message::Barrier(p, _) | Message::End(p) | Message::Idle(p) => {
            Some(*p)
        }
        Message::Watermark { producer, .. } => Some(*producer),
        Message::Schema(_) => None,
    }
}
