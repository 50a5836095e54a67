//! Bounds on the keyed state a TaskManager holds: one per job on the
//! TaskManager and one for the whole TaskManager, shared by every subtask
//! they cover. A write that would go over either is refused before it
//! changes anything, as an error the operator sees; the TaskManager's
//! memory, shared by other tenants, is never the limit that is hit.

use std::sync::atomic::{AtomicU64, Ordering};

use weir_types::format_bytes;

/// One bound, shared by the holders it covers.
#[derive(Debug)]
pub struct StateBudget {
    /// What it bounds, for errors: "job j1 on this TaskManager".
    scope: String,
    /// The setting that sets it, for errors.
    setting: &'static str,
    limit: u64,
    used: AtomicU64,
}

/// A write over a budget: what it bounds, by how much, and its setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    pub scope: String,
    pub setting: &'static str,
    pub limit: u64,
    pub used: u64,
    pub adding: u64,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "keyed state of {} would grow to {}, over its limit of {} ({})",
            self.scope,
            format_bytes(self.used.saturating_add(self.adding)),
            format_bytes(self.limit),
            self.setting
        )
    }
}

impl StateBudget {
    pub fn new(scope: impl Into<String>, setting: &'static str, limit: u64) -> Self {
        StateBudget {
            scope: scope.into(),
            setting,
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes held under it now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether `bytes` more fit.
    pub(crate) fn fits(&self, bytes: u64) -> Result<(), OverBudget> {
        let used = self.used();
        if used.saturating_add(bytes) > self.limit {
            return Err(OverBudget {
                scope: self.scope.clone(),
                setting: self.setting,
                limit: self.limit,
                used,
                adding: bytes,
            });
        }
        Ok(())
    }

    /// Moves what is held by `delta` bytes (growth or release).
    pub(crate) fn adjust(&self, delta: i64) {
        if delta >= 0 {
            self.used.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            let freed = delta.unsigned_abs();
            // Never below zero, whatever the order of releases.
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    Some(used.saturating_sub(freed))
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_growth_past_its_limit_and_names_its_setting() {
        let budget = StateBudget::new("job j on this TaskManager", "taskmanager.jobStateSize", 100);
        assert!(budget.fits(100).is_ok());
        budget.adjust(60);
        let over = budget.fits(41).unwrap_err();
        assert_eq!(over.used, 60);
        let text = over.to_string();
        assert!(
            text.contains("job j on this TaskManager")
                && text.contains("101 B")
                && text.contains("taskmanager.jobStateSize"),
            "{text}"
        );
        budget.adjust(-80);
        assert_eq!(budget.used(), 0);
    }
}
