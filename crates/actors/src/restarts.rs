//! Restart bookkeeping of the agent process: the session's restart policy,
//! the separate budget of restarts a stall escalation asks for, and what the
//! end of a process means for the session. The decisions themselves are
//! [`warden_core::restart`]'s; this module only keeps their history.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use warden_core::restart::{Decision, Ending, RestartLimits, RestartStrategy};
use warden_core::{ExitInfo, ExitReason, RestartPolicy};

use crate::sync::lock;

/// What the end of the agent process means.
#[derive(Debug)]
pub(crate) enum AfterExit {
    /// Start it again after `after`.
    Restart { after: Duration, attempt: u32, reason: String },
    /// The session ends with this exit.
    End(ExitInfo),
    /// The restart policy gave up: the session fails.
    GiveUp { exit: ExitInfo, reason: String },
}

/// The restart history of one session.
pub(crate) struct Restarts {
    origin: Instant,
    inner: Mutex<Book>,
}

struct Book {
    /// The session's policy.
    policy: RestartStrategy,
    /// Restarts asked for by a stall escalation (counted even under `never`).
    forced: RestartStrategy,
    /// A forced restart is in progress (the process is being stopped for it).
    forcing: bool,
    /// A caller stopped the session: whatever ends the process, it ends the
    /// session (a stop that came as the process was ending by itself, or
    /// between two lives, is not lost to the restart).
    stopping: bool,
}

impl Restarts {
    pub(crate) fn new(policy: RestartPolicy, limits: RestartLimits) -> Restarts {
        Restarts {
            origin: Instant::now(),
            inner: Mutex::new(Book {
                policy: RestartStrategy::new(policy, limits, Duration::ZERO),
                forced: RestartStrategy::new(RestartPolicy::Always, limits, Duration::ZERO),
                forcing: false,
                stopping: false,
            }),
        }
    }

    /// A stall escalation asked to restart the process: its end is a restart.
    pub(crate) fn force(&self) {
        lock(&self.inner).forcing = true;
    }

    /// A caller stops the session: no restart after this.
    pub(crate) fn stop(&self) {
        lock(&self.inner).stopping = true;
    }

    /// Whether a caller stopped the session.
    pub(crate) fn stopped(&self) -> bool {
        lock(&self.inner).stopping
    }

    /// A new process of the session runs.
    pub(crate) fn process_started(&self) {
        let now = self.origin.elapsed();
        let mut b = lock(&self.inner);
        b.policy.on_started(now);
        b.forced.on_started(now);
    }

    /// Decides what the end of the agent process means for the session.
    /// `requested`: a caller stopped it.
    pub(crate) fn process_ended(&self, exit: &ExitInfo, requested: bool) -> AfterExit {
        if exit.reason == ExitReason::Failed {
            // The session failed while this process ran (the stall ladder's
            // last step): no policy restarts a failed session.
            return AfterExit::End(exit.clone());
        }
        let now = self.origin.elapsed();
        let (forced, decision) = {
            let mut b = lock(&self.inner);
            // A caller's stop wins over an escalation's restart.
            let forced = std::mem::take(&mut b.forcing) && !b.stopping;
            let requested = requested || b.stopping;
            let decision = if forced {
                // An escalation asked for this restart: it has its own history
                // and limit, whatever the session's policy.
                b.forced.on_end(Ending::Failure, now)
            } else {
                let ending = if requested {
                    Ending::Requested
                } else if exit.code == Some(0) {
                    Ending::Success
                } else {
                    Ending::Failure
                };
                b.policy.on_end(ending, now)
            };
            (forced, decision)
        };
        let what = match (exit.code, exit.signal) {
            _ if forced => "restart requested by the stall escalation".to_string(),
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "ended".to_string(),
        };
        match decision {
            Decision::Stay => AfterExit::End(exit.clone()),
            Decision::Restart { after, attempt } => AfterExit::Restart { after, attempt, reason: what },
            Decision::GiveUp { reason } => AfterExit::GiveUp {
                exit: ExitInfo { code: exit.code, signal: exit.signal, reason: ExitReason::Failed },
                reason: format!("{what}; {reason}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32) -> ExitInfo {
        ExitInfo { code: Some(code), signal: None, reason: ExitReason::Exited }
    }

    #[test]
    fn never_ends_the_session_but_a_forced_restart_restarts() {
        let r = Restarts::new(RestartPolicy::Never, RestartLimits::default());
        r.process_started();
        assert!(matches!(r.process_ended(&exit(1), false), AfterExit::End(_)));
        r.force();
        match r.process_ended(&exit(1), false) {
            AfterExit::Restart { reason, .. } => assert!(reason.contains("stall escalation")),
            other => panic!("expected a restart, got {other:?}"),
        }
        // The force is used up by that end.
        assert!(matches!(r.process_ended(&exit(1), false), AfterExit::End(_)));
    }

    #[test]
    fn a_process_of_a_failed_session_is_not_restarted() {
        let r = Restarts::new(RestartPolicy::Always, RestartLimits::default());
        r.process_started();
        r.force();
        let failed = ExitInfo { code: Some(1), signal: None, reason: ExitReason::Failed };
        assert!(matches!(r.process_ended(&failed, false), AfterExit::End(e) if e == failed));
    }

    #[test]
    fn a_requested_stop_under_on_failure_ends_the_session() {
        let r = Restarts::new(RestartPolicy::OnFailure, RestartLimits::default());
        r.process_started();
        assert!(matches!(r.process_ended(&exit(143), true), AfterExit::End(_)));
        assert!(matches!(r.process_ended(&exit(1), false), AfterExit::Restart { .. }));
    }

    #[test]
    fn after_a_stop_no_end_restarts_the_process() {
        let r = Restarts::new(RestartPolicy::Always, RestartLimits::default());
        r.process_started();
        assert!(!r.stopped());
        r.force();
        r.stop();
        assert!(r.stopped());
        // Not a restart, though the process ended by itself, and an escalation asked for one.
        assert!(matches!(r.process_ended(&exit(1), false), AfterExit::End(_)));
        assert!(matches!(r.process_ended(&exit(0), false), AfterExit::End(_)));
    }
}
