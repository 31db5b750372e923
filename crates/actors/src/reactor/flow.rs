//! Back-pressure between the reactor and a session's consumer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Reading pauses when this many bytes are delivered but not yet consumed…
pub(super) const FLOW_HIGH: usize = 8 * 1024 * 1024;
/// …and resumes when the consumer is back under this.
pub(super) const FLOW_LOW: usize = 2 * 1024 * 1024;
/// Back-pressure between the reactor and a session's consumer: bytes handed
/// over but not yet consumed. Past [`FLOW_HIGH`] the reactor stops reading
/// that PTY (the kernel then blocks the child's writes) until the consumer
/// is back under [`FLOW_LOW`].
#[derive(Debug, Default)]
pub(crate) struct FlowGate {
    inflight: AtomicUsize,
    paused: AtomicBool,
}

impl FlowGate {
    /// The consumer took `n` bytes; true when the reactor must be told to resume.
    pub(crate) fn consumed(&self, n: usize) -> bool {
        let before = self.inflight.fetch_sub(n, Ordering::AcqRel);
        before.saturating_sub(n) <= FLOW_LOW && self.paused.swap(false, Ordering::AcqRel)
    }

    /// Records `n` bytes handed over; true when reading must pause.
    pub(super) fn sent(&self, n: usize) -> bool {
        let now = self.inflight.fetch_add(n, Ordering::AcqRel).wrapping_add(n);
        if now <= FLOW_HIGH {
            return false;
        }
        self.paused.store(true, Ordering::Release);
        // The consumer may have drained below LOW between our add and the
        // store; in that case it saw `paused == false` and will not resume us.
        !(self.inflight.load(Ordering::Acquire) <= FLOW_LOW && self.paused.swap(false, Ordering::AcqRel))
    }
}
