//! Keyed state owned by the host (the `keyed-state` imports of the operator
//! contract): value, map and list state over bytes, scoped to a key of the
//! operator's keyed input.
//!
//! [`KeyedState`] is what an operator's subtask holds: it checks that every
//! key belongs to the subtask's key groups and that values stay within the
//! configured limit, then stores through a [`StateBackend`]. Every batched
//! call is checked whole before anything changes, so a refused call changes
//! nothing. [`MemoryBackend`] keeps state in memory, organised by key group
//! so that a snapshot or a rescale can take whole key groups; an on-disk or
//! object-store backend implements the same trait.
//!
//! State lives in the subtask, not in a WASM instance: an instance that is
//! recycled, or a guest that crashes and is re-opened, finds its state
//! unchanged.

mod budget;
pub mod codec;
mod memory;
mod snapshot;
mod timers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weir_types::{key_group, KeyGroupRange};

pub use budget::{OverBudget, StateBudget};
pub use memory::MemoryBackend;
pub use snapshot::SNAPSHOT_MAGIC;
pub use timers::{TimeDomain, TimerService, MAX_TIMERS};

/// The three shapes of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    Value,
    Map,
    List,
}

impl StateKind {
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Value => "value state",
            StateKind::Map => "map state",
            StateKind::List => "list state",
        }
    }
}

/// A map-state update: (key, user key, new value or `None` to remove).
pub type MapUpdate = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);
/// A map-state entry of one key: (user key, value).
pub type MapEntry = (Vec<u8>, Vec<u8>);

/// Identifies one declared state of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state '{name}' is a {is}, not a {wanted}")]
    WrongKind {
        name: String,
        is: &'static str,
        wanted: &'static str,
    },
    #[error("state names must be 1 to {MAX_NAME_BYTES} bytes, got {0} bytes")]
    BadName(usize),
    #[error("at most {MAX_STATES} states per operator")]
    TooManyStates,
    #[error(
        "a key in key group {key_group} belongs to another subtask (this one owns key groups \
         {}..{}); keys must come from the operator's own keyed input",
        range.start,
        range.end
    )]
    NotOwned {
        key_group: u32,
        range: KeyGroupRange,
    },
    #[error("a value of {bytes} bytes for state '{name}' exceeds the limit of {limit} bytes (resources.maxStateValue)")]
    TooLarge {
        name: String,
        bytes: usize,
        limit: usize,
    },
    #[error("no state with id {0}")]
    Unknown(u32),
    #[error("at most {MAX_TIMERS} timers may wait per subtask")]
    TooManyTimers,
    #[error("the state snapshot is damaged: {0}")]
    Corrupt(String),
    #[error("{0}")]
    OverBudget(OverBudget),
}

impl StateError {
    /// Whether the error is a limit (as opposed to a bad argument).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            StateError::TooLarge { .. } | StateError::TooManyStates | StateError::OverBudget(_)
        )
    }
}

pub const MAX_NAME_BYTES: usize = 256;
pub const MAX_STATES: usize = 1024;
/// The default largest state value (and map user key): generous for counts,
/// aggregates and small documents, small enough that one value cannot take
/// a TaskManager's memory.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 << 20;

/// One stored item, as snapshots carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRecord {
    Value {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    MapEntry {
        key: Vec<u8>,
        user_key: Vec<u8>,
        value: Vec<u8>,
    },
    ListItem {
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

/// Where state is stored. Every method takes the key's key group, so a
/// backend can keep (and snapshot, or hand over) key groups apart.
pub trait StateBackend: Send {
    /// The key groups that hold anything.
    fn key_groups(&self) -> Vec<u32>;
    /// Everything one key group holds, as (state, record), in a stable order.
    fn records(&self, key_group: u32) -> Vec<(StateId, StateRecord)>;
    fn value_get(&self, state: StateId, key_group: u32, key: &[u8]) -> Option<Vec<u8>>;
    fn value_put(&mut self, state: StateId, key_group: u32, key: &[u8], value: Option<Vec<u8>>);
    fn map_get(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: &[u8],
    ) -> Option<Vec<u8>>;
    fn map_put(
        &mut self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: Vec<u8>,
        value: Option<Vec<u8>>,
    );
    /// In user-key byte order.
    fn map_entries(&self, state: StateId, key_group: u32, key: &[u8]) -> Vec<MapEntry>;
    fn map_clear(&mut self, state: StateId, key_group: u32, key: &[u8]);
    fn list_get(&self, state: StateId, key_group: u32, key: &[u8]) -> Vec<Vec<u8>>;
    fn list_append(&mut self, state: StateId, key_group: u32, key: &[u8], value: Vec<u8>);
    fn list_clear(&mut self, state: StateId, key_group: u32, key: &[u8]);
    /// Bytes held: keys, values and the cost of each entry, as limits count
    /// them.
    fn size_bytes(&self) -> u64;
    /// How `size_bytes` would change with `value_put` of `value`.
    fn value_put_growth(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> i64;
    /// How `size_bytes` would change with `map_put` of `value`.
    fn map_put_growth(
        &self,
        state: StateId,
        key_group: u32,
        key: &[u8],
        user_key: &[u8],
        value: Option<&[u8]>,
    ) -> i64;
    /// How `size_bytes` grows with a new entry of `key` and `value` (a list
    /// item; with its user key's length added, a map entry).
    fn new_entry_size(&self, key: &[u8], value: &[u8]) -> u64;
}

/// What limits keyed state.
#[derive(Debug, Clone)]
pub struct StateLimits {
    /// Largest value (and map user key) in bytes.
    pub max_value_bytes: usize,
    /// Bounds shared with other subtasks (the job's on its TaskManager, the
    /// TaskManager's); every write must fit all of them.
    pub budgets: Vec<Arc<StateBudget>>,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            budgets: Vec::new(),
        }
    }
}

/// The keyed state of one operator's subtask.
pub struct KeyedState {
    backend: Box<dyn StateBackend>,
    range: KeyGroupRange,
    max_parallelism: u32,
    limits: StateLimits,
    declared: HashMap<String, (StateId, StateKind)>,
    names: Vec<String>,
    timers: TimerService,
    /// Bytes this subtask has counted against its budgets.
    charged: u64,
}

/// Keyed state shared by the successive instances of one subtask.
pub type SharedKeyedState = Arc<Mutex<KeyedState>>;

impl KeyedState {
    /// State of subtask `subtask` of `parallelism`, in memory.
    pub fn in_memory(
        subtask: u32,
        parallelism: u32,
        max_parallelism: u32,
        limits: StateLimits,
    ) -> KeyedState {
        KeyedState::new(
            Box::new(MemoryBackend::default()),
            subtask,
            parallelism,
            max_parallelism,
            limits,
        )
    }

    pub fn new(
        backend: Box<dyn StateBackend>,
        subtask: u32,
        parallelism: u32,
        max_parallelism: u32,
        limits: StateLimits,
    ) -> KeyedState {
        KeyedState {
            backend,
            range: KeyGroupRange::of(subtask, parallelism, max_parallelism),
            max_parallelism,
            limits,
            declared: HashMap::new(),
            names: Vec::new(),
            timers: TimerService::default(),
            charged: 0,
        }
    }

    /// Whether growing by `upper` bytes at most fits every budget; when it
    /// may not, `exact` tells the real growth (it looks entries up, so it
    /// runs only near a limit).
    fn admit(&self, upper: u64, exact: impl FnOnce(&Self) -> i64) -> Result<(), StateError> {
        if self.limits.budgets.iter().all(|b| b.fits(upper).is_ok()) {
            return Ok(());
        }
        let growth = exact(self);
        if growth <= 0 {
            return Ok(());
        }
        for budget in &self.limits.budgets {
            budget.fits(growth as u64).map_err(StateError::OverBudget)?;
        }
        Ok(())
    }

    /// Brings the budgets up to date with what the backend holds.
    fn settle(&mut self) {
        let now = self.backend.size_bytes();
        let delta = now as i64 - self.charged as i64;
        if delta != 0 {
            for budget in &self.limits.budgets {
                budget.adjust(delta);
            }
            self.charged = now;
        }
    }

    pub fn shared(self) -> SharedKeyedState {
        Arc::new(Mutex::new(self))
    }

    /// Opens (declaring on first use) the state `name` of `kind`.
    pub fn open(&mut self, name: &str, kind: StateKind) -> Result<StateId, StateError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(StateError::BadName(name.len()));
        }
        if let Some(&(id, is)) = self.declared.get(name) {
            if is != kind {
                return Err(StateError::WrongKind {
                    name: name.to_string(),
                    is: is.name(),
                    wanted: kind.name(),
                });
            }
            return Ok(id);
        }
        if self.declared.len() >= MAX_STATES {
            return Err(StateError::TooManyStates);
        }
        let id = StateId(self.names.len() as u32);
        self.declared.insert(name.to_string(), (id, kind));
        self.names.push(name.to_string());
        Ok(id)
    }

    fn name_of(&self, state: StateId) -> Result<&str, StateError> {
        self.names
            .get(state.0 as usize)
            .map(String::as_str)
            .ok_or(StateError::Unknown(state.0))
    }

    /// The key group of `key`, if this subtask owns it.
    fn owned(&self, key: &[u8]) -> Result<u32, StateError> {
        let group = key_group(key, self.max_parallelism);
        if self.range.contains(group) {
            Ok(group)
        } else {
            Err(StateError::NotOwned {
                key_group: group,
                range: self.range,
            })
        }
    }

    fn check_size(&self, state: StateId, bytes: usize) -> Result<(), StateError> {
        if bytes > self.limits.max_value_bytes {
            return Err(StateError::TooLarge {
                name: self.name_of(state)?.to_string(),
                bytes,
                limit: self.limits.max_value_bytes,
            });
        }
        Ok(())
    }

    fn groups<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u32>, StateError> {
        keys.into_iter().map(|key| self.owned(key)).collect()
    }

    pub fn value_get(
        &self,
        state: StateId,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        self.name_of(state)?;
        let groups = self.groups(keys.iter().map(Vec::as_slice))?;
        Ok(keys
            .iter()
            .zip(groups)
            .map(|(key, group)| self.backend.value_get(state, group, key))
            .collect())
    }

    pub fn value_put(
        &mut self,
        state: StateId,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), StateError> {
        let groups = self.groups(entries.iter().map(|(k, _)| k.as_slice()))?;
        for (_, value) in &entries {
            self.check_size(state, value.as_ref().map_or(0, Vec::len))?;
        }
        let upper: u64 = entries
            .iter()
            .filter_map(|(key, value)| Some(self.backend.new_entry_size(key, value.as_deref()?)))
            .sum();
        self.admit(upper, |this| {
            entries
                .iter()
                .zip(&groups)
                .map(|((key, value), &group)| {
                    this.backend
                        .value_put_growth(state, group, key, value.as_deref())
                })
                .sum()
        })?;
        for ((key, value), group) in entries.into_iter().zip(groups) {
            self.backend.value_put(state, group, &key, value);
        }
        self.settle();
        Ok(())
    }

    pub fn map_get(
        &self,
        state: StateId,
        lookups: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        self.name_of(state)?;
        let groups = self.groups(lookups.iter().map(|(k, _)| k.as_slice()))?;
        Ok(lookups
            .iter()
            .zip(groups)
            .map(|((key, user_key), group)| self.backend.map_get(state, group, key, user_key))
            .collect())
    }

    pub fn map_put(&mut self, state: StateId, entries: Vec<MapUpdate>) -> Result<(), StateError> {
        let groups = self.groups(entries.iter().map(|(k, _, _)| k.as_slice()))?;
        for (_, user_key, value) in &entries {
            self.check_size(state, user_key.len())?;
            self.check_size(state, value.as_ref().map_or(0, Vec::len))?;
        }
        let upper: u64 = entries
            .iter()
            .filter_map(|(key, user_key, value)| {
                let value = value.as_deref()?;
                Some(self.backend.new_entry_size(key, value) + user_key.len() as u64)
            })
            .sum();
        self.admit(upper, |this| {
            entries
                .iter()
                .zip(&groups)
                .map(|((key, user_key, value), &group)| {
                    this.backend
                        .map_put_growth(state, group, key, user_key, value.as_deref())
                })
                .sum()
        })?;
        for ((key, user_key, value), group) in entries.into_iter().zip(groups) {
            self.backend.map_put(state, group, &key, user_key, value);
        }
        self.settle();
        Ok(())
    }

    pub fn map_entries(&self, state: StateId, key: &[u8]) -> Result<Vec<MapEntry>, StateError> {
        self.name_of(state)?;
        let group = self.owned(key)?;
        Ok(self.backend.map_entries(state, group, key))
    }

    pub fn map_clear(&mut self, state: StateId, keys: &[Vec<u8>]) -> Result<(), StateError> {
        self.name_of(state)?;
        let groups = self.groups(keys.iter().map(Vec::as_slice))?;
        for (key, group) in keys.iter().zip(groups) {
            self.backend.map_clear(state, group, key);
        }
        self.settle();
        Ok(())
    }

    pub fn list_get(
        &self,
        state: StateId,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Vec<Vec<u8>>>, StateError> {
        self.name_of(state)?;
        let groups = self.groups(keys.iter().map(Vec::as_slice))?;
        Ok(keys
            .iter()
            .zip(groups)
            .map(|(key, group)| self.backend.list_get(state, group, key))
            .collect())
    }

    pub fn list_append(
        &mut self,
        state: StateId,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StateError> {
        let groups = self.groups(entries.iter().map(|(k, _)| k.as_slice()))?;
        for (_, value) in &entries {
            self.check_size(state, value.len())?;
        }
        let growth: u64 = entries
            .iter()
            .map(|(key, value)| self.backend.new_entry_size(key, value))
            .sum();
        self.admit(growth, |_| growth as i64)?;
        for ((key, value), group) in entries.into_iter().zip(groups) {
            self.backend.list_append(state, group, &key, value);
        }
        self.settle();
        Ok(())
    }

    pub fn list_clear(&mut self, state: StateId, keys: &[Vec<u8>]) -> Result<(), StateError> {
        self.name_of(state)?;
        let groups = self.groups(keys.iter().map(Vec::as_slice))?;
        for (key, group) in keys.iter().zip(groups) {
            self.backend.list_clear(state, group, key);
        }
        self.settle();
        Ok(())
    }

    pub fn size_bytes(&self) -> u64 {
        self.backend.size_bytes()
    }

    /// After a restore: counts what was restored against the budgets, and
    /// refuses state that does not fit them (a limit lowered since the
    /// checkpoint, say).
    pub(crate) fn settle_restored(&mut self) -> Result<(), StateError> {
        let restored = self.backend.size_bytes();
        let growth = restored.saturating_sub(self.charged);
        for budget in &self.limits.budgets {
            budget.fits(growth).map_err(StateError::OverBudget)?;
        }
        self.settle();
        Ok(())
    }

    /// Registers timers (key, timestamp, domain); one per distinct triple.
    pub fn register_timers(
        &mut self,
        timers: Vec<(Vec<u8>, i64, TimeDomain)>,
    ) -> Result<(), StateError> {
        self.groups(timers.iter().map(|(k, _, _)| k.as_slice()))?;
        self.timers.register(timers)
    }

    /// Deletes timers; deleting one that does not exist is no error.
    pub fn delete_timers(
        &mut self,
        timers: Vec<(Vec<u8>, i64, TimeDomain)>,
    ) -> Result<(), StateError> {
        self.groups(timers.iter().map(|(k, _, _)| k.as_slice()))?;
        self.timers.delete(timers);
        Ok(())
    }

    /// Removes and returns, in (timestamp, key) order, at most `limit`
    /// timers of `domain` due at `time`.
    pub fn take_due_timers(
        &mut self,
        domain: TimeDomain,
        time: i64,
        limit: usize,
    ) -> Vec<(Vec<u8>, i64)> {
        self.timers.take_due(domain, time, limit)
    }

    /// Timers waiting, of both domains.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }
}

impl Drop for KeyedState {
    /// A subtask that goes (its job cancelled, failed or finished) gives
    /// back what it held.
    fn drop(&mut self) {
        for budget in &self.limits.budgets {
            budget.adjust(-(self.charged as i64));
        }
    }
}

#[cfg(test)]
mod tests {
    use weir_types::subtask_of;

    use super::*;

    /// Keys owned by subtask `subtask` of `parallelism` (max parallelism 128).
    fn owned_keys(subtask: u32, parallelism: u32, count: usize) -> Vec<Vec<u8>> {
        (0u32..)
            .map(|i| format!("key-{i}").into_bytes())
            .filter(|k| subtask_of(key_group(k, 128), 128, parallelism) == subtask)
            .take(count)
            .collect()
    }

    #[test]
    fn value_state_keeps_one_value_per_key() {
        let mut state = KeyedState::in_memory(0, 1, 128, StateLimits::default());
        let counts = state.open("counts", StateKind::Value).unwrap();
        let keys = owned_keys(0, 1, 3);
        assert_eq!(
            state.value_get(counts, &keys).unwrap(),
            vec![None, None, None]
        );
        state
            .value_put(
                counts,
                vec![
                    (keys[0].clone(), Some(b"1".to_vec())),
                    (keys[2].clone(), Some(b"3".to_vec())),
                ],
            )
            .unwrap();
        assert_eq!(
            state.value_get(counts, &keys).unwrap(),
            vec![Some(b"1".to_vec()), None, Some(b"3".to_vec())]
        );
        state
            .value_put(counts, vec![(keys[0].clone(), None)])
            .unwrap();
        assert_eq!(state.value_get(counts, &keys[..1]).unwrap(), vec![None]);
        // Reopening by name finds the same state; another kind is refused.
        assert_eq!(state.open("counts", StateKind::Value).unwrap(), counts);
        let error = state.open("counts", StateKind::Map).unwrap_err();
        assert_eq!(
            error.to_string(),
            "state 'counts' is a value state, not a map state"
        );
    }

    #[test]
    fn map_and_list_state_are_per_key() {
        let mut state = KeyedState::in_memory(1, 2, 128, StateLimits::default());
        let keys = owned_keys(1, 2, 2);
        let map = state.open("seen", StateKind::Map).unwrap();
        state
            .map_put(
                map,
                vec![
                    (keys[0].clone(), b"b".to_vec(), Some(b"2".to_vec())),
                    (keys[0].clone(), b"a".to_vec(), Some(b"1".to_vec())),
                    (keys[1].clone(), b"a".to_vec(), Some(b"9".to_vec())),
                ],
            )
            .unwrap();
        assert_eq!(
            state.map_entries(map, &keys[0]).unwrap(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        assert_eq!(
            state
                .map_get(map, &[(keys[1].clone(), b"a".to_vec())])
                .unwrap(),
            vec![Some(b"9".to_vec())]
        );
        state.map_clear(map, &keys[..1]).unwrap();
        assert!(state.map_entries(map, &keys[0]).unwrap().is_empty());

        let list = state.open("events", StateKind::List).unwrap();
        state
            .list_append(
                list,
                vec![
                    (keys[0].clone(), b"x".to_vec()),
                    (keys[0].clone(), b"y".to_vec()),
                ],
            )
            .unwrap();
        assert_eq!(
            state.list_get(list, &keys).unwrap(),
            vec![vec![b"x".to_vec(), b"y".to_vec()], vec![]]
        );
        state.list_clear(list, &keys[..1]).unwrap();
        assert_eq!(
            state.list_get(list, &keys[..1]).unwrap(),
            vec![Vec::<Vec<u8>>::new()]
        );
        assert!(state.size_bytes() > 0);
    }

    #[test]
    fn a_batch_with_a_foreign_key_changes_nothing() {
        let mut state = KeyedState::in_memory(0, 2, 128, StateLimits::default());
        let counts = state.open("counts", StateKind::Value).unwrap();
        let mine = owned_keys(0, 2, 1).remove(0);
        let theirs = owned_keys(1, 2, 1).remove(0);
        let error = state
            .value_put(
                counts,
                vec![
                    (mine.clone(), Some(b"1".to_vec())),
                    (theirs, Some(b"1".to_vec())),
                ],
            )
            .unwrap_err();
        assert!(matches!(error, StateError::NotOwned { .. }), "{error}");
        assert!(
            error.to_string().contains("belongs to another subtask"),
            "{error}"
        );
        assert_eq!(state.value_get(counts, &[mine]).unwrap(), vec![None]);
    }

    #[test]
    fn writes_past_a_shared_budget_are_refused_and_dropping_gives_back() {
        let job = Arc::new(StateBudget::new("job j", "jobStateSize", 4096));
        let limits = StateLimits {
            budgets: vec![job.clone()],
            ..StateLimits::default()
        };
        let keys = owned_keys(0, 1, 64);
        let mut first = KeyedState::in_memory(0, 1, 128, limits.clone());
        let mut second = KeyedState::in_memory(0, 1, 128, limits);
        let a = first.open("a", StateKind::Value).unwrap();
        let b = second.open("b", StateKind::Value).unwrap();
        first
            .value_put(
                a,
                keys[..20]
                    .iter()
                    .map(|k| (k.clone(), Some(vec![0; 64])))
                    .collect(),
            )
            .unwrap();
        let held = job.used();
        assert_eq!(held, first.size_bytes());
        // Overwriting in place near the limit needs no more room.
        first
            .value_put(
                a,
                keys[..20]
                    .iter()
                    .map(|k| (k.clone(), Some(vec![1; 64])))
                    .collect(),
            )
            .unwrap();
        assert_eq!(job.used(), held);
        let refused = second
            .value_put(
                b,
                keys.iter()
                    .map(|k| (k.clone(), Some(vec![0; 64])))
                    .collect(),
            )
            .unwrap_err();
        assert!(refused.is_limit(), "{refused}");
        assert!(refused.to_string().contains("jobStateSize"), "{refused}");
        assert_eq!(second.size_bytes(), 0, "a refused write changes nothing");
        first.value_put(a, vec![(keys[0].clone(), None)]).unwrap();
        assert!(job.used() < held);
        drop(first);
        assert_eq!(job.used(), 0);
    }

    #[test]
    fn a_value_over_the_limit_is_refused_whole() {
        let limits = StateLimits {
            max_value_bytes: 8,
            ..StateLimits::default()
        };
        let mut state = KeyedState::in_memory(0, 1, 128, limits);
        let counts = state.open("counts", StateKind::Value).unwrap();
        let keys = owned_keys(0, 1, 2);
        let error = state
            .value_put(
                counts,
                vec![
                    (keys[0].clone(), Some(vec![1; 8])),
                    (keys[1].clone(), Some(vec![1; 9])),
                ],
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "a value of 9 bytes for state 'counts' exceeds the limit of 8 bytes (resources.maxStateValue)"
        );
        assert!(error.is_limit());
        assert_eq!(state.value_get(counts, &keys[..1]).unwrap(), vec![None]);
    }

    #[test]
    fn names_are_checked() {
        let mut state = KeyedState::in_memory(0, 1, 128, StateLimits::default());
        assert!(matches!(
            state.open("", StateKind::Value),
            Err(StateError::BadName(0))
        ));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(state.open(&long, StateKind::Value).is_err());
    }
}
