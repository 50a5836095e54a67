//! The snapshot format of a subtask's keyed state: what checkpoints will
//! write and restores read. It is organised by key group, and a restore
//! keeps only the key groups its subtask owns, so a job can be restored at
//! another parallelism (each new subtask reads the snapshots that cover its
//! key groups).
//!
//! Layout (integers little-endian, byte strings as u32 length + bytes):
//! magic `WEIRKS01`; u32 count of declared states, each (name, kind u8);
//! u32 count of key groups, each (u32 group, u32 record count, records:
//! kind u8 (0 value, 1 map entry, 2 list item), u32 state index, key,
//! [user key], value); u32 count of timers, each (domain u8, i64 timestamp,
//! key).

use crate::codec::{put_bytes, Reader};
use crate::{KeyedState, StateError, StateId, StateKind, StateRecord, TimeDomain};

/// The first bytes of every snapshot, with its format version.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"WEIRKS01";

fn kind_code(kind: StateKind) -> u8 {
    match kind {
        StateKind::Value => 0,
        StateKind::Map => 1,
        StateKind::List => 2,
    }
}

impl KeyedState {
    /// The subtask's state and timers, in the snapshot format.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&(self.names.len() as u32).to_le_bytes());
        for name in &self.names {
            let kind = self
                .declared
                .get(name)
                .map_or(StateKind::Value, |(_, k)| *k);
            put_bytes(&mut out, name.as_bytes());
            out.push(kind_code(kind));
        }
        let groups = self.backend.key_groups();
        out.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for group in groups {
            let records = self.backend.records(group);
            out.extend_from_slice(&group.to_le_bytes());
            out.extend_from_slice(&(records.len() as u32).to_le_bytes());
            for (state, record) in records {
                let (code, key, user_key, value) = match &record {
                    StateRecord::Value { key, value } => (0u8, key, None, value),
                    StateRecord::MapEntry {
                        key,
                        user_key,
                        value,
                    } => (1, key, Some(user_key), value),
                    StateRecord::ListItem { key, value } => (2, key, None, value),
                };
                out.push(code);
                out.extend_from_slice(&state.0.to_le_bytes());
                put_bytes(&mut out, key);
                if let Some(user_key) = user_key {
                    put_bytes(&mut out, user_key);
                }
                put_bytes(&mut out, value);
            }
        }
        let timers = self.timers.all();
        out.extend_from_slice(&(timers.len() as u32).to_le_bytes());
        for (key, timestamp, domain) in timers {
            out.push(match domain {
                TimeDomain::EventTime => 0,
                TimeDomain::ProcessingTime => 1,
            });
            out.extend_from_slice(&timestamp.to_le_bytes());
            put_bytes(&mut out, &key);
        }
        out
    }

    /// Adds what `snapshot` holds for this subtask's key groups (and only
    /// those: snapshots of a job at another parallelism overlap). A damaged
    /// snapshot is an error and changes nothing.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), StateError> {
        let mut r = Reader::new(snapshot);
        if r.take(SNAPSHOT_MAGIC.len())? != SNAPSHOT_MAGIC {
            return Err(StateError::Corrupt(
                "it does not start with WEIRKS01 (not a keyed-state snapshot of this version)"
                    .into(),
            ));
        }
        // Read everything first: a damaged snapshot must change nothing.
        let mut states = Vec::new();
        for _ in 0..r.u32()? {
            let name = String::from_utf8(r.bytes()?)
                .map_err(|_| StateError::Corrupt("a state name is not UTF-8".into()))?;
            let kind = match r.u8()? {
                0 => StateKind::Value,
                1 => StateKind::Map,
                2 => StateKind::List,
                other => return Err(StateError::Corrupt(format!("unknown state kind {other}"))),
            };
            states.push((name, kind));
        }
        let mut records = Vec::new();
        for _ in 0..r.u32()? {
            let group = r.u32()?;
            for _ in 0..r.u32()? {
                let code = r.u8()?;
                let state = r.u32()? as usize;
                if state >= states.len() {
                    return Err(StateError::Corrupt(format!(
                        "a record names state {state} of {}",
                        states.len()
                    )));
                }
                let key = r.bytes()?;
                let record = match code {
                    0 => StateRecord::Value {
                        key,
                        value: r.bytes()?,
                    },
                    1 => {
                        let user_key = r.bytes()?;
                        StateRecord::MapEntry {
                            key,
                            user_key,
                            value: r.bytes()?,
                        }
                    }
                    2 => StateRecord::ListItem {
                        key,
                        value: r.bytes()?,
                    },
                    other => {
                        return Err(StateError::Corrupt(format!("unknown record kind {other}")))
                    }
                };
                records.push((group, state, record));
            }
        }
        let mut timers = Vec::new();
        for _ in 0..r.u32()? {
            let domain = match r.u8()? {
                0 => TimeDomain::EventTime,
                1 => TimeDomain::ProcessingTime,
                other => return Err(StateError::Corrupt(format!("unknown time domain {other}"))),
            };
            let timestamp = r.i64()?;
            timers.push((r.bytes()?, timestamp, domain));
        }
        r.finish()?;

        let mut ids: Vec<StateId> = Vec::with_capacity(states.len());
        for (name, kind) in &states {
            ids.push(self.open(name, *kind)?);
        }
        for (group, state, record) in records {
            if !self.range.contains(group) {
                continue;
            }
            let id = ids[state];
            match record {
                StateRecord::Value { key, value } => {
                    self.backend.value_put(id, group, &key, Some(value))
                }
                StateRecord::MapEntry {
                    key,
                    user_key,
                    value,
                } => self.backend.map_put(id, group, &key, user_key, Some(value)),
                StateRecord::ListItem { key, value } => {
                    self.backend.list_append(id, group, &key, value)
                }
            }
        }
        self.settle_restored()?;
        let owned: Vec<_> = timers
            .into_iter()
            .filter(|(key, _, _)| self.owned(key).is_ok())
            .collect();
        self.timers.register(owned)
    }
}

#[cfg(test)]
mod tests {
    use weir_types::{key_group, subtask_of};

    use crate::{KeyedState, StateError, StateKind, StateLimits, TimeDomain};

    fn keys(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("key-{i}").into_bytes())
            .collect()
    }

    fn filled() -> KeyedState {
        let mut state = KeyedState::in_memory(0, 1, 128, StateLimits::default());
        let value = state.open("v", StateKind::Value).unwrap();
        let map = state.open("m", StateKind::Map).unwrap();
        let list = state.open("l", StateKind::List).unwrap();
        let keys = keys(20);
        state
            .value_put(
                value,
                keys.iter()
                    .map(|k| (k.clone(), Some(k.repeat(2))))
                    .collect(),
            )
            .unwrap();
        state
            .map_put(
                map,
                keys.iter()
                    .map(|k| (k.clone(), b"u".to_vec(), Some(k.clone())))
                    .collect(),
            )
            .unwrap();
        state
            .list_append(
                list,
                keys.iter()
                    .flat_map(|k| [(k.clone(), b"1".to_vec()), (k.clone(), b"2".to_vec())])
                    .collect(),
            )
            .unwrap();
        state
            .register_timers(
                keys.iter()
                    .map(|k| (k.clone(), 7, TimeDomain::EventTime))
                    .collect(),
            )
            .unwrap();
        state
    }

    #[test]
    fn a_snapshot_restores_to_equal_state_and_equal_bytes() {
        let original = filled();
        let bytes = original.snapshot();
        let mut restored = KeyedState::in_memory(0, 1, 128, StateLimits::default());
        restored.restore(&bytes).unwrap();
        assert_eq!(restored.snapshot(), bytes);
        let list = restored.open("l", StateKind::List).unwrap();
        assert_eq!(
            restored.list_get(list, &keys(1)).unwrap(),
            vec![vec![b"1".to_vec(), b"2".to_vec()]],
            "lists keep their order"
        );
        assert_eq!(
            restored
                .take_due_timers(TimeDomain::EventTime, 7, 100)
                .len(),
            20
        );
    }

    #[test]
    fn a_restore_at_another_parallelism_keeps_only_owned_key_groups() {
        let bytes = filled().snapshot();
        let mut halves = Vec::new();
        for subtask in 0..2 {
            let mut half = KeyedState::in_memory(subtask, 2, 128, StateLimits::default());
            half.restore(&bytes).unwrap();
            let value = half.open("v", StateKind::Value).unwrap();
            let mine: Vec<Vec<u8>> = keys(20)
                .into_iter()
                .filter(|k| subtask_of(key_group(k, 128), 128, 2) == subtask)
                .collect();
            assert_eq!(
                half.value_get(value, &mine)
                    .unwrap()
                    .iter()
                    .flatten()
                    .count(),
                mine.len()
            );
            halves.push(half.timer_count());
        }
        assert_eq!(
            halves.iter().sum::<usize>(),
            20,
            "every timer lands in exactly one half"
        );
    }

    #[test]
    fn a_damaged_snapshot_is_refused_and_changes_nothing() {
        let bytes = filled().snapshot();
        let mut state = KeyedState::in_memory(0, 1, 128, StateLimits::default());
        let error = state.restore(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(matches!(error, StateError::Corrupt(_)), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("the state snapshot is damaged: "),
            "{error}"
        );
        assert_eq!(state.size_bytes(), 0);
        assert!(state.restore(b"not a snapshot").is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(state
            .restore(&trailing)
            .unwrap_err()
            .to_string()
            .contains("1 bytes follow"));
    }
}
