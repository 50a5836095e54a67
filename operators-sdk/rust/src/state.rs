//! Keyed state owned by the runtime.
//!
//! State survives failures because it lives in the host, not in the guest's
//! memory: the runtime snapshots it at checkpoints, restores it after a
//! failure and redistributes it by key when a job is rescaled. It is scoped
//! to a key of the operator's keyed input (`keyBy` in the job spec), and every
//! operation is batched: collect the keys of a batch, then make one call.
//!
//! Values are opaque bytes; encode them as you like (little-endian integers,
//! JSON, ...). A failed host call becomes an [`Error`] of kind
//! [`ErrorKind::Host`](crate::ErrorKind::Host) carrying the runtime's message,
//! for example when the operator's input is not keyed.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use weir_row_codec::write_value;

use crate::__private::HostError;
use crate::sys::keyed_state as host;
use crate::{Error, Row};

/// A state key: the row encoding of the key columns' values (see [`key_of`]).
pub type Key = Vec<u8>;

/// A [`MapState`] update: (key, user key, new value or `None` to remove).
pub type MapUpdate = (Key, Vec<u8>, Option<Vec<u8>>);

/// A [`MapState`] entry of one key: (user key, value).
pub type MapEntry = (Vec<u8>, Vec<u8>);

/// Appends the canonical key of `row` to `out`: for each of `columns`, in
/// order, the value's tag and payload exactly as in the `rows` encoding.
///
/// `columns` are the input column indexes of the key fields, in the order of
/// [`OpenContext::key_fields`](crate::OpenContext::key_fields);
/// [`OpenContext::key_indexes`](crate::OpenContext::key_indexes) resolves
/// them once at `open`.
pub fn key_into(row: &Row<'_>, columns: &[usize], out: &mut Vec<u8>) -> Result<(), Error> {
    for &column in columns {
        write_value(out, &row.get(column)?);
    }
    Ok(())
}

/// The canonical key of `row` over `columns`; see [`key_into`].
pub fn key_of(row: &Row<'_>, columns: &[usize]) -> Result<Key, Error> {
    let mut key = Vec::new();
    key_into(row, columns, &mut key)?;
    Ok(key)
}

/// Turns a host failure into an operator error, keeping the host's message.
pub(crate) fn host_error(what: &str, error: HostError) -> Error {
    let (cause, message) = match error {
        HostError::Unavailable(m) => ("unavailable", m),
        HostError::LimitExceeded(m) => ("limit exceeded", m),
        HostError::InvalidArgument(m) => ("invalid argument", m),
    };
    Error::host(format!("{what}: {cause}: {message}"))
}

macro_rules! state_handle {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        pub struct $name {
            name: String,
            inner: host::$name,
        }

        impl $name {
            /// Opens (creating on first use) the state called `name`. Names
            /// are scoped to the operator; the same name always opens the same
            /// state, also after a restore. Open once, in `open`, and keep
            /// the handle.
            pub fn open(name: &str) -> Result<Self, Error> {
                let inner = host::$name::open(name)
                    .map_err(|e| host_error(&format!(concat!($what, " `{}`"), name), e))?;
                Ok($name {
                    name: name.to_owned(),
                    inner,
                })
            }

            /// The name the state was opened with.
            pub fn name(&self) -> &str {
                &self.name
            }

            fn fail(&self, error: HostError) -> Error {
                host_error(&format!(concat!($what, " `{}`"), self.name), error)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.name)
                    .finish_non_exhaustive()
            }
        }
    };
}

state_handle!(
    /// One value per key.
    ValueState,
    "value state"
);

impl ValueState {
    /// The value of each key, in order; `None` where a key has no value.
    pub fn get(&self, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.inner.get(keys).map_err(|e| self.fail(e))
    }

    /// Sets each key's value, in order; `None` clears it.
    pub fn put(&self, entries: &[(Key, Option<Vec<u8>>)]) -> Result<(), Error> {
        self.inner.put(entries).map_err(|e| self.fail(e))
    }
}

state_handle!(
    /// A map from user keys to values, per key.
    MapState,
    "map state"
);

impl MapState {
    /// The value under each (key, user key) pair, in order.
    pub fn get(&self, lookups: &[(Key, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.inner.get(lookups).map_err(|e| self.fail(e))
    }

    /// Sets (or with `None`, removes) the value under each (key, user key).
    pub fn put(&self, entries: &[MapUpdate]) -> Result<(), Error> {
        self.inner.put(entries).map_err(|e| self.fail(e))
    }

    /// Every (user key, value) of one key, in user-key byte order.
    pub fn entries(&self, key: &[u8]) -> Result<Vec<MapEntry>, Error> {
        self.inner.entries(key).map_err(|e| self.fail(e))
    }

    /// Removes the whole map of each key.
    pub fn clear(&self, keys: &[Key]) -> Result<(), Error> {
        self.inner.clear(keys).map_err(|e| self.fail(e))
    }
}

state_handle!(
    /// An append-only list of values, per key.
    ListState,
    "list state"
);

impl ListState {
    /// The list of each key, in order (empty where a key has none).
    pub fn get(&self, keys: &[Key]) -> Result<Vec<Vec<Vec<u8>>>, Error> {
        self.inner.get(keys).map_err(|e| self.fail(e))
    }

    /// Appends each value to its key's list.
    pub fn append(&self, entries: &[(Key, Vec<u8>)]) -> Result<(), Error> {
        self.inner.append(entries).map_err(|e| self.fail(e))
    }

    /// Empties the list of each key.
    pub fn clear(&self, keys: &[Key]) -> Result<(), Error> {
        self.inner.clear(keys).map_err(|e| self.fail(e))
    }
}

/// A [`ValueState`] of `T`, stored as JSON: typed, and readable by operators
/// written in any language.
///
/// ```no_run
/// # use weir_operator::state::{TypedValueState, Key};
/// # fn demo(keys: Vec<Key>) -> Result<(), weir_operator::Error> {
/// #[derive(serde::Serialize, serde::Deserialize, Default)]
/// struct Totals { count: u64, sum: f64 }
///
/// let totals: TypedValueState<Totals> = TypedValueState::open("totals")?;
/// let mut current: Vec<Totals> = totals
///     .get(&keys)?
///     .into_iter()
///     .map(Option::unwrap_or_default)
///     .collect();
/// for t in &mut current { t.count += 1; }
/// totals.put(keys.into_iter().zip(current.iter().map(Some)))?;
/// # Ok(()) }
/// ```
pub struct TypedValueState<T> {
    inner: ValueState,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> TypedValueState<T> {
    /// Opens (creating on first use) the value state called `name`.
    pub fn open(name: &str) -> Result<Self, Error> {
        Ok(TypedValueState {
            inner: ValueState::open(name)?,
            _value: PhantomData,
        })
    }

    /// The name the state was opened with.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The value of each key, in order; `None` where a key has no value.
    pub fn get(&self, keys: &[Key]) -> Result<Vec<Option<T>>, Error> {
        self.inner
            .get(keys)?
            .into_iter()
            .map(|bytes| bytes.map(|b| decode(self.name(), &b)).transpose())
            .collect()
    }

    /// Sets each key's value, in order; `None` clears it.
    pub fn put<'a>(
        &self,
        entries: impl IntoIterator<Item = (Key, Option<&'a T>)>,
    ) -> Result<(), Error>
    where
        T: 'a,
    {
        let encoded = entries
            .into_iter()
            .map(|(key, value)| Ok((key, value.map(|v| encode(self.name(), v)).transpose()?)))
            .collect::<Result<Vec<_>, Error>>()?;
        self.inner.put(&encoded)
    }
}

impl<T> std::fmt::Debug for TypedValueState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedValueState")
            .field("name", &self.inner.name())
            .finish_non_exhaustive()
    }
}

fn encode<T: Serialize>(state: &str, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("value state `{state}`: cannot encode a value: {e}")))
}

fn decode<T: DeserializeOwned>(state: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::internal(format!(
            "value state `{state}`: a stored value is not a {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

#[cfg(test)]
mod typed_tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Totals {
        count: u64,
        sum: f64,
    }

    #[test]
    fn typed_values_are_json() {
        let totals = Totals { count: 2, sum: 1.5 };
        let bytes = encode("t", &totals).unwrap();
        assert_eq!(bytes, br#"{"count":2,"sum":1.5}"#);
        assert_eq!(decode::<Totals>("t", &bytes).unwrap(), totals);
    }

    #[test]
    fn a_stored_value_of_another_shape_is_a_clear_error() {
        let error = decode::<Totals>("totals", b"17").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("value state `totals`: a stored value is not a"),
            "{text}"
        );
        assert!(text.contains("Totals"), "{text}");
    }
}
