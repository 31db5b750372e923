//! Locking plain data, and what a caught panic said.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`. A panic while holding the lock leaves plain data behind (every
/// mutex of the session core guards data that is valid between any two
/// statements), so a poisoned lock is used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The message of a panic caught with `catch_unwind` (empty when it was not text).
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
