//! State in memory, by key group.

use std::collections::{BTreeMap, HashMap};

use crate::{MapEntry, StateBackend, StateId, StateRecord};

type Key = Vec<u8>;

/// One key group's state: per declared state, per key.
#[derive(Default)]
struct Group {
    values: HashMap<(StateId, Key), Vec<u8>>,
    maps: HashMap<(StateId, Key), BTreeMap<Vec<u8>, Vec<u8>>>,
    lists: HashMap<(StateId, Key), Vec<Vec<u8>>>,
}

/// Keyed state in memory. Key groups are kept apart, so a snapshot or a
/// rescale takes whole groups.
#[derive(Default)]
pub struct MemoryBackend {
    groups: BTreeMap<u32, Group>,
    bytes: u64,
}

impl MemoryBackend {
    fn group(&self, key_group: u32) -> Option<&Group> {
        self.groups.get(&key_group)
    }

    fn group_mut(&mut self, key_group: u32) -> &mut Group {
        self.groups.entry(key_group).or_default()
    }
}

/// What one entry costs beyond its bytes (its allocations and its slot in
/// a hash map), so that limits on state track the memory it takes even for
/// many small entries.
const ENTRY_OVERHEAD: u64 = 64;

fn size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

impl StateBackend for MemoryBackend {
    fn key_groups(&self) -> Vec<u32> {
        self.groups.keys().copied().collect()
    }

    fn records(&self, key_group: u32) -> Vec<(StateId, StateRecord)> {
        let Some(group) = self.groups.get(&key_group) else {
            return Vec::new();
        };
        let mut records: Vec<(StateId, StateRecord)> = Vec::new();
        for ((state, key), value) in &group.values {
            records.push((
                *state,
                StateRecord::Value {
                    key: key.clone(),
                    value: value.clone(),
                },
            ));
        }
        for ((state, key), map) in &group.maps {
            for (user_key, value) in map {
                records.push((
                    *state,
                    StateRecord::MapEntry {
                        key: key.clone(),
                        user_key: user_key.clone(),
                        value: value.clone(),
                    },
                ));
            }
        }
        for ((state, key), list) in &group.lists {
            for value in list {
                records.push((
                    *state,
                    StateRecord::ListItem {
                        key: key.clone(),
                        value: value.clone(),
                    },
                ));
            }
        }
        // Hash maps iterate in no fixed order; snapshots of equal state are
        // equal bytes. Lists keep their order: the sort is stable.
        records
            .sort_by(|a, b| (a.0 .0, record_sort_key(&a.1)).cmp(&(b.0 .0, record_sort_key(&b.1))));
        records
    }

    fn value_get(&self, state: StateId, key_group: u32, key: &[u8]) -> Option<Vec<u8>> {
        self.group(key_group)?
            .values
            .get(&(state, key.to_vec()))
            .cloned()
    }

    fn value_put(&mut self, state: StateId, key_group: u32, key: &[u8], value: Option<Vec<u8>>) {
        let group = self.group_mut(key_group);
        let slot = (state, key.to_vec());
        let old = match value {
            Some(value) => {
                let added = size(key, &value);
                let old = group.values.insert(slot, value);
                self.bytes += added;
                old
            }
            None => group.values.remove(&slot),
        };
        if let Some(old) = old {
            self.bytes -= size(key, &old);
        }
    }

    fn map_get(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: &[u8],
    ) -> Option<Vec<u8>> {
        self.group(key_group)?
            .maps
            .get(&(state, key.to_vec()))?
            .get(user_key)
            .cloned()
    }

    fn map_put(
        &mut self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) {
        let group = self.group_mut(key_group);
        let slot = (state, key.to_vec());
        let (added, old) = match value {
            Some(value) => {
                let added = size(&user_key, &value) + key.len() as u64;
                let map = group.maps.entry(slot).or_default();
                let old = map.insert(user_key.clone(), value);
                (added, old)
            }
            None => {
                let old = match group.maps.get_mut(&slot) {
                    Some(map) => {
                        let old = map.remove(&user_key);
                        if map.is_empty() {
                            group.maps.remove(&slot);
                        }
                        old
                    }
                    None => None,
                };
                (0, old)
            }
        };
        self.bytes += added;
        if let Some(old) = old {
            self.bytes -= size(&user_key, &old) + key.len() as u64;
        }
    }

    fn map_entries(&self, state: StateId, key_group: u32, key: &[u8]) -> Vec<MapEntry> {
        self.group(key_group)
            .and_then(|g| g.maps.get(&(state, key.to_vec())))
            .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn map_clear(&mut self, state: StateId, key_group: u32, key: &[u8]) {
        if let Some(map) = self
            .group_mut(key_group)
            .maps
            .remove(&(state, key.to_vec()))
        {
            let freed: u64 = map.iter().map(|(k, v)| size(k, v) + key.len() as u64).sum();
            self.bytes -= freed;
        }
    }

    fn list_get(&self, state: StateId, key_group: u32, key: &[u8]) -> Vec<Vec<u8>> {
        self.group(key_group)
            .and_then(|g| g.lists.get(&(state, key.to_vec())))
            .cloned()
            .unwrap_or_default()
    }

    fn list_append(&mut self, state: StateId, key_group: u32, key: &[u8], value: Vec<u8>) {
        self.bytes += size(key, &value);
        self.group_mut(key_group)
            .lists
            .entry((state, key.to_vec()))
            .or_default()
            .push(value);
    }

    fn list_clear(&mut self, state: StateId, key_group: u32, key: &[u8]) {
        if let Some(list) = self
            .group_mut(key_group)
            .lists
            .remove(&(state, key.to_vec()))
        {
            let freed: u64 = list.iter().map(|v| size(key, v)).sum();
            self.bytes -= freed;
        }
    }

    fn size_bytes(&self) -> u64 {
        self.bytes
    }

    fn value_put_growth(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> i64 {
        let old = self
            .group(key_group)
            .and_then(|g| g.values.get(&(state, key.to_vec())))
            .map_or(0, |old| size(key, old));
        let new = value.map_or(0, |v| size(key, v));
        new as i64 - old as i64
    }

    fn map_put_growth(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: &[u8],
        value: Option<&[u8]>,
    ) -> i64 {
        let entry = |v: &[u8]| size(user_key, v) + key.len() as u64;
        let old = self
            .group(key_group)
            .and_then(|g| g.maps.get(&(state, key.to_vec())))
            .and_then(|map| map.get(user_key))
            .map_or(0, |old| entry(old));
        let new = value.map_or(0, entry);
        new as i64 - old as i64
    }

    fn new_entry_size(&self, key: &[u8], value: &[u8]) -> u64 {
        size(key, value)
    }
}

fn record_sort_key(record: &StateRecord) -> (u8, &[u8], &[u8]) {
    match record {
        StateRecord::Value { key, .. } => (0, key, &[]),
        StateRecord::MapEntry { key, user_key, .. } => (1, key, user_key),
        StateRecord::ListItem { key, .. } => (2, key, &[]),
    }
}
