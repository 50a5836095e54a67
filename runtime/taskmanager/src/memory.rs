//! Giving memory back to the system once a job's tasks are gone. Their
//! keyed state is freed to the allocator when they end, but glibc's
//! allocator keeps freed heap pages for reuse: a TaskManager whose job held
//! hundreds of megabytes of state would go on holding them, idle, on a
//! machine it shares with other tenants. Trimming returns them.

/// Returns the allocator's free pages to the system (glibc on Linux; a
/// no-op elsewhere).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_freed_memory() {
    // SAFETY: malloc_trim takes no pointer and touches only the
    // allocator's own free lists, under its own locks; it is safe to call
    // from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns the allocator's free pages to the system (glibc on Linux; a
/// no-op elsewhere).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() {}
