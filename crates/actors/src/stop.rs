//! Why one of the session's actors stopped: the reason a stopping actor gives
//! ractor, and its supervisor matches. Imports no actor.

/// The reason an actor of a session stopped with (ractor carries it as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The session's process has exited and everything it wrote was published:
    /// the session is over.
    Exited,
    /// The process ended and the restart policy starts a new one: the session goes on.
    Restart,
    /// The session's PTY actor failed; the session was failed with it.
    PtyFailed,
    /// The embedding handle was dropped.
    Dropped,
    /// `Warden::shutdown`.
    Shutdown,
    /// An observer went to sleep: its session is idle with nothing armed.
    Hibernate,
}

impl StopReason {
    /// The string ractor carries.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StopReason::Exited => "exited",
            StopReason::Restart => "restart",
            StopReason::PtyFailed => "pty actor failed",
            StopReason::Dropped => "warden dropped",
            StopReason::Shutdown => "shutdown",
            StopReason::Hibernate => "hibernate",
        }
    }

    /// The argument of `ActorRef::stop`.
    pub(crate) fn reason(self) -> Option<String> {
        Some(self.as_str().to_string())
    }

    /// Whether the reason a supervisor received is this one.
    pub(crate) fn is(self, reason: Option<&str>) -> bool {
        reason == Some(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_recognised_by_their_supervisors() {
        let all = [
            StopReason::Exited,
            StopReason::Restart,
            StopReason::PtyFailed,
            StopReason::Dropped,
            StopReason::Shutdown,
            StopReason::Hibernate,
        ];
        for r in all {
            let given = r.reason();
            assert!(r.is(given.as_deref()));
            assert_eq!(all.iter().filter(|o| o.is(given.as_deref())).count(), 1, "{r:?} is distinct");
        }
        assert!(!StopReason::Exited.is(None));
    }
}
