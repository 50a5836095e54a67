//! Timers: per key, in event time or processing time, kept by the host with
//! the subtask's state, fired in (timestamp, key) order.

use std::collections::BTreeSet;

use crate::StateError;

/// Timers that may wait at once in one subtask: a guest cannot grow host
/// memory without bound through them.
pub const MAX_TIMERS: usize = 1 << 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Fires when the watermark reaches the timestamp.
    EventTime,
    /// Fires when the TaskManager's clock reaches the timestamp.
    ProcessingTime,
}

/// The timers of one subtask. A timer's key group follows from its key, so
/// a snapshot or a rescale can take the timers of whole key groups.
#[derive(Debug, Default)]
pub struct TimerService {
    event: BTreeSet<(i64, Vec<u8>)>,
    processing: BTreeSet<(i64, Vec<u8>)>,
}

impl TimerService {
    fn set(&mut self, domain: TimeDomain) -> &mut BTreeSet<(i64, Vec<u8>)> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    pub fn len(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers timers whose keys are already checked. Refuses the whole
    /// batch if it would pass `MAX_TIMERS`.
    pub fn register(
        &mut self,
        timers: impl IntoIterator<Item = (Vec<u8>, i64, TimeDomain)>,
    ) -> Result<(), StateError> {
        let timers: Vec<_> = timers.into_iter().collect();
        if self.len() + timers.len() > MAX_TIMERS {
            return Err(StateError::TooManyTimers);
        }
        for (key, timestamp, domain) in timers {
            self.set(domain).insert((timestamp, key));
        }
        Ok(())
    }

    pub fn delete(&mut self, timers: impl IntoIterator<Item = (Vec<u8>, i64, TimeDomain)>) {
        for (key, timestamp, domain) in timers {
            self.set(domain).remove(&(timestamp, key));
        }
    }

    /// Every timer, for snapshots: (key, timestamp, domain), in order.
    pub fn all(&self) -> Vec<(Vec<u8>, i64, TimeDomain)> {
        let event = self
            .event
            .iter()
            .map(|(t, k)| (k.clone(), *t, TimeDomain::EventTime));
        let processing = self
            .processing
            .iter()
            .map(|(t, k)| (k.clone(), *t, TimeDomain::ProcessingTime));
        event.chain(processing).collect()
    }

    /// Removes and returns the due timers of `domain`, oldest first.
    pub fn take_due(&mut self, domain: TimeDomain, time: i64, limit: usize) -> Vec<(Vec<u8>, i64)> {
        let set = self.set(domain);
        let mut due = Vec::new();
        while due.len() < limit {
            match set.first() {
                Some((timestamp, _)) if *timestamp <= time => {
                    if let Some((timestamp, key)) = set.pop_first() {
                        due.push((key, timestamp));
                    }
                }
                _ => break,
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(key: &str, at: i64, domain: TimeDomain) -> (Vec<u8>, i64, TimeDomain) {
        (key.as_bytes().to_vec(), at, domain)
    }

    #[test]
    fn due_timers_come_out_in_time_then_key_order_once() {
        let mut timers = TimerService::default();
        timers
            .register([
                timer("b", 20, TimeDomain::EventTime),
                timer("a", 20, TimeDomain::EventTime),
                timer("c", 10, TimeDomain::EventTime),
                timer("c", 10, TimeDomain::EventTime),
                timer("p", 5, TimeDomain::ProcessingTime),
            ])
            .unwrap();
        assert_eq!(timers.len(), 4, "the same timer twice is one timer");
        let due = timers.take_due(TimeDomain::EventTime, 20, 10);
        let order: Vec<(&[u8], i64)> = due.iter().map(|(k, t)| (k.as_slice(), *t)).collect();
        assert_eq!(order, [(&b"c"[..], 10), (&b"a"[..], 20), (&b"b"[..], 20)]);
        assert!(timers.take_due(TimeDomain::EventTime, 100, 10).is_empty());
        assert_eq!(timers.take_due(TimeDomain::ProcessingTime, 4, 10).len(), 0);
        assert_eq!(timers.take_due(TimeDomain::ProcessingTime, 5, 10).len(), 1);
    }

    #[test]
    fn deleted_timers_do_not_fire_and_limits_hold() {
        let mut timers = TimerService::default();
        timers
            .register([
                timer("a", 1, TimeDomain::EventTime),
                timer("b", 2, TimeDomain::EventTime),
            ])
            .unwrap();
        timers.delete([(b"a".to_vec(), 1, TimeDomain::EventTime)]);
        let due = timers.take_due(TimeDomain::EventTime, 10, 1);
        assert_eq!(due, vec![(b"b".to_vec(), 2)]);
        assert!(timers.is_empty());
    }
}
