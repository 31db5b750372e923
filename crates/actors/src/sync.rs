//! Locking plain data.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`. A panic while holding the lock leaves plain data behind (every
/// mutex of the session core guards data that is valid between any two
/// statements), so a poisoned lock is used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
