//! What the JobManager accepts from clients, bounded: specs (size and
//! nesting, checked before parsing), modules (each, and all it holds), and
//! submissions at once. A refusal names the limit and its setting, so that
//! a client can tell it from a fault.

use weir_types::{format_bytes, SpecLimits, DEFAULT_MAX_MODULE_BYTES};

/// All modules the JobManager holds in memory at once (uploaded and not
/// yet retired).
pub const DEFAULT_MODULE_STORE_BYTES: u64 = 1 << 30;
/// Submissions (and module uploads) handled at once; more are refused
/// with a retryable status, so that a flood of them cannot starve the
/// JobManager's other work (heartbeats above all).
pub const DEFAULT_MAX_CONCURRENT_SUBMISSIONS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobManagerLimits {
    pub spec: SpecLimits,
    /// Largest module (`maxModuleSize`).
    pub max_module_bytes: u64,
    /// Modules held at once (`moduleStoreSize`).
    pub module_store_bytes: u64,
    /// Submissions and uploads at once (`maxConcurrentSubmissions`).
    pub max_concurrent_submissions: usize,
}

impl Default for JobManagerLimits {
    fn default() -> Self {
        JobManagerLimits {
            spec: SpecLimits::default(),
            max_module_bytes: DEFAULT_MAX_MODULE_BYTES,
            module_store_bytes: DEFAULT_MODULE_STORE_BYTES,
            max_concurrent_submissions: DEFAULT_MAX_CONCURRENT_SUBMISSIONS,
        }
    }
}

/// Why a module was refused: it, or it with the modules held already, is
/// over a limit. Each names the limit and its setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `bytes` is what arrived so far: a module is refused as it arrives.
    #[error(
        "the module is larger than the JobManager's limit of {} (maxModuleSize); {} arrived",
        format_bytes(*.limit),
        format_bytes(*.bytes)
    )]
    ModuleTooLarge { bytes: u64, limit: u64 },
    #[error(
        "the JobManager holds {} of modules and cannot take {} more within its limit of {} \
         (moduleStoreSize); modules no job needs are freed after 10 minutes",
        format_bytes(*.held),
        format_bytes(*.adding),
        format_bytes(*.limit)
    )]
    ModuleStoreFull { held: u64, adding: u64, limit: u64 },
}

impl JobManagerLimits {
    /// Refuses a module of `bytes` (checked while it arrives, too).
    pub fn check_module_size(&self, bytes: u64) -> Result<(), LimitError> {
        if bytes > self.max_module_bytes {
            return Err(LimitError::ModuleTooLarge {
                bytes,
                limit: self.max_module_bytes,
            });
        }
        Ok(())
    }

    /// Refuses `adding` bytes of module when `held` are held already.
    pub fn check_module_store(&self, held: u64, adding: u64) -> Result<(), LimitError> {
        if held.saturating_add(adding) > self.module_store_bytes {
            return Err(LimitError::ModuleStoreFull {
                held,
                adding,
                limit: self.module_store_bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_limit_and_its_setting() {
        let limits = JobManagerLimits {
            max_module_bytes: 1 << 20,
            module_store_bytes: 3 << 20,
            ..JobManagerLimits::default()
        };
        assert!(limits.check_module_size(1 << 20).is_ok());
        let err = limits
            .check_module_size((1 << 20) + 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1.0 MiB (maxModuleSize)"), "{err}");
        assert!(limits.check_module_store(2 << 20, 1 << 20).is_ok());
        let err = limits
            .check_module_store(2 << 20, 2 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3.0 MiB (moduleStoreSize)"), "{err}");
    }
}
