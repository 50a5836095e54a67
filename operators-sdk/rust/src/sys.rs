//! The host imports, or stand-ins for them outside wasm.
//!
//! wit-bindgen's imports compile natively as stubs that panic, which would
//! make an operator's native unit tests crash on the first log line. The
//! stand-ins let such tests run: logs go to stderr, metrics are dropped, and
//! state and timers report themselves unavailable, exactly as a runtime does
//! for an operator without a keyed input.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::__private::bindings::weir::operator::{keyed_state, log, metrics, timers};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod log {
    pub(crate) use crate::__private::bindings::weir::operator::log::Level;

    pub(crate) fn log(level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }

    pub(crate) fn enabled(_level: Level) -> bool {
        true
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod metrics {
    pub(crate) fn counter_add(_name: &str, _delta: u64) {}

    pub(crate) fn gauge_set(_name: &str, _value: f64) {}
}

#[cfg(not(target_arch = "wasm32"))]
fn outside_runtime() -> crate::__private::HostError {
    crate::__private::HostError::Unavailable(
        "keyed state and timers exist only inside a Weir runtime".to_owned(),
    )
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod timers {
    use crate::__private::{HostError, Timer};

    pub(crate) fn register(_timers: &[Timer]) -> Result<(), HostError> {
        Err(super::outside_runtime())
    }

    pub(crate) fn delete(_timers: &[Timer]) -> Result<(), HostError> {
        Err(super::outside_runtime())
    }

    pub(crate) fn current_watermark() -> Option<i64> {
        None
    }

    pub(crate) fn current_processing_time() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Handles that cannot exist outside wasm: `open` fails, so the methods are
/// unreachable by construction (the types are uninhabited).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod keyed_state {
    use crate::__private::HostError;

    type Key = Vec<u8>;
    type Bytes = Vec<u8>;

    pub(crate) enum ValueState {}

    impl ValueState {
        pub(crate) fn open(_name: &str) -> Result<Self, HostError> {
            Err(super::outside_runtime())
        }
        pub(crate) fn get(&self, _keys: &[Key]) -> Result<Vec<Option<Bytes>>, HostError> {
            match *self {}
        }
        pub(crate) fn put(&self, _entries: &[(Key, Option<Bytes>)]) -> Result<(), HostError> {
            match *self {}
        }
    }

    pub(crate) enum MapState {}

    impl MapState {
        pub(crate) fn open(_name: &str) -> Result<Self, HostError> {
            Err(super::outside_runtime())
        }
        pub(crate) fn get(
            &self,
            _lookups: &[(Key, Bytes)],
        ) -> Result<Vec<Option<Bytes>>, HostError> {
            match *self {}
        }
        pub(crate) fn put(
            &self,
            _entries: &[(Key, Bytes, Option<Bytes>)],
        ) -> Result<(), HostError> {
            match *self {}
        }
        pub(crate) fn entries(&self, _key: &[u8]) -> Result<Vec<(Bytes, Bytes)>, HostError> {
            match *self {}
        }
        pub(crate) fn clear(&self, _keys: &[Key]) -> Result<(), HostError> {
            match *self {}
        }
    }

    pub(crate) enum ListState {}

    impl ListState {
        pub(crate) fn open(_name: &str) -> Result<Self, HostError> {
            Err(super::outside_runtime())
        }
        pub(crate) fn get(&self, _keys: &[Key]) -> Result<Vec<Vec<Bytes>>, HostError> {
            match *self {}
        }
        pub(crate) fn append(&self, _entries: &[(Key, Bytes)]) -> Result<(), HostError> {
            match *self {}
        }
        pub(crate) fn clear(&self, _keys: &[Key]) -> Result<(), HostError> {
            match *self {}
        }
    }
}
