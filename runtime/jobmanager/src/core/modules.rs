//! The module store: components uploaded for jobs, checked against the
//! digest the client claims and the store's limits.

use std::sync::Arc;
use std::time::Instant;

use weir_types::Digest;

use super::*;

pub(super) struct StoredModule {
    pub(super) bytes: Arc<Vec<u8>>,
    /// When it was uploaded, or last named by a submission.
    pub(super) stored: Instant,
    /// It is in the job store too.
    pub(super) persisted: bool,
}

impl Core {
    /// Keeps `bytes` if they have `claimed` digest and fit the module
    /// limits; returns the digest.
    pub fn put_module(&self, claimed: &str, bytes: Vec<u8>) -> Result<Digest, PutModuleError> {
        self.limits
            .check_module_size(bytes.len() as u64)
            .map_err(PutModuleError::Limit)?;
        let digest = Digest::of(&bytes);
        if !claimed.is_empty() && Digest::parse(claimed).ok() != Some(digest) {
            return Err(PutModuleError::Digest {
                actual: digest,
                claimed: claimed.to_string(),
            });
        }
        let mut state = self.lock();
        if let Some(module) = state.modules.get_mut(&digest) {
            module.stored = Instant::now();
            return Ok(digest);
        }
        let held: u64 = state.modules.values().map(|m| m.bytes.len() as u64).sum();
        self.limits
            .check_module_store(held, bytes.len() as u64)
            .map_err(PutModuleError::Limit)?;
        state.modules.insert(
            digest,
            StoredModule {
                bytes: Arc::new(bytes),
                stored: Instant::now(),
                persisted: false,
            },
        );
        Ok(digest)
    }

    pub fn module(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.lock().modules.get(digest).map(|m| m.bytes.clone())
    }
}
