//! Restart decisions: one small, tested strategy instead of ad-hoc restarts.
//!
//! Used for two things: the agent process of a session (policy `never` |
//! `on-failure` | `always`), and warden's own per-session actors (always
//! restarted, one-for-one). Both share the OTP rules:
//! - **intensity**: more than `max_restarts` restarts within `window` means
//!   the thing keeps failing: give up (the session becomes `failed`);
//! - **back-off**: each restart waits longer than the one before
//!   (`initial × factor^n`, capped), so a crash loop does not spin;
//! - **reset**: after `reset_after` of healthy running, the history is
//!   forgotten and back-off starts again from `initial`.
//!
//! Time is passed in (`Duration` since an arbitrary origin), so the strategy
//! is deterministic and testable without clocks.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What happens when the agent process exits by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// The session ends with the process (the default).
    #[default]
    Never,
    /// Restart when the process exits non-zero or by a signal.
    OnFailure,
    /// Restart whenever the process exits.
    Always,
}

/// Limits of a restart strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartLimits {
    /// Most restarts within `window`…
    pub max_restarts: u32,
    /// …this long.
    #[serde(with = "millis")]
    pub window: Duration,
    /// First back-off.
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    /// Back-off cap.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// Healthy running time after which the history is forgotten.
    #[serde(with = "millis")]
    pub reset_after: Duration,
}

impl Default for RestartLimits {
    /// 3 restarts in 60 s; back-off 1 s, doubling, capped at 30 s; reset
    /// after 10 min healthy. (OTP's 1 in 5 s is too eager for agents that take
    /// seconds to boot; the cap and reset follow systemd and Kubernetes.)
    fn default() -> Self {
        RestartLimits {
            max_restarts: 3,
            window: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            reset_after: Duration::from_secs(600),
        }
    }
}

impl RestartLimits {
    /// Limits for warden's own actors: restart at once, at most 5 times in 10 s.
    pub fn for_actors() -> Self {
        RestartLimits {
            max_restarts: 5,
            window: Duration::from_secs(10),
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::from_millis(100),
            reset_after: Duration::from_secs(60),
        }
    }
}

/// How the thing that ended ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exit code 0.
    Success,
    /// Non-zero exit, killed by a signal, panicked, or returned an error.
    Failure,
    /// Stopped on purpose (by a caller, or by warden shutting down).
    Requested,
}

/// What to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave it ended: the policy does not restart this ending.
    Stay,
    /// Start it again after this delay; `attempt` counts restarts in the window.
    Restart {
        /// Delay before the restart.
        after: Duration,
        /// 1 for the first restart in the window, 2 for the next…
        attempt: u32,
    },
    /// Too many restarts: give up with this reason.
    GiveUp {
        /// Human-readable reason, e.g. "3 restarts within 60s already, the limit; giving up".
        reason: String,
    },
}

/// The restart history of one restartable thing.
#[derive(Debug, Clone)]
pub struct RestartStrategy {
    policy: RestartPolicy,
    limits: RestartLimits,
    /// When the recent restarts happened.
    history: VecDeque<Duration>,
    /// Consecutive restarts since the last reset (drives the back-off).
    streak: u32,
    /// When the current run started.
    started: Duration,
}

impl RestartStrategy {
    /// A strategy for a thing that started at `now`.
    pub fn new(policy: RestartPolicy, limits: RestartLimits, now: Duration) -> Self {
        RestartStrategy { policy, limits, history: VecDeque::new(), streak: 0, started: now }
    }

    /// The policy.
    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// Restarts recorded in the current window.
    pub fn recent_restarts(&self) -> usize {
        self.history.len()
    }

    /// Decides what to do about an ending at `now`, and records a restart
    /// when it decides one.
    pub fn on_end(&mut self, ending: Ending, now: Duration) -> Decision {
        let wanted = match (self.policy, ending) {
            (_, Ending::Requested) => false,
            (RestartPolicy::Never, _) => false,
            (RestartPolicy::OnFailure, Ending::Success) => false,
            (RestartPolicy::OnFailure, Ending::Failure) | (RestartPolicy::Always, _) => true,
        };
        if !wanted {
            return Decision::Stay;
        }
        if now.saturating_sub(self.started) >= self.limits.reset_after {
            self.history.clear();
            self.streak = 0;
        }
        while let Some(first) = self.history.front() {
            if now.saturating_sub(*first) > self.limits.window {
                self.history.pop_front();
            } else {
                break;
            }
        }
        if self.history.len() as u32 >= self.limits.max_restarts {
            return Decision::GiveUp {
                reason: format!(
                    "{} restarts within {}s already, the limit; giving up",
                    self.history.len(),
                    self.limits.window.as_secs()
                ),
            };
        }
        let after = self.backoff(self.streak);
        self.streak = self.streak.saturating_add(1);
        self.history.push_back(now);
        Decision::Restart { after, attempt: self.history.len() as u32 }
    }

    /// Records that the thing is running again since `now`.
    pub fn on_started(&mut self, now: Duration) {
        self.started = now;
    }

    fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(20));
        self.limits.initial_backoff.saturating_mul(factor).min(self.limits.max_backoff)
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn policies_decide_which_endings_restart() {
        let l = RestartLimits::default();
        for (policy, ending, restarts) in [
            (RestartPolicy::Never, Ending::Failure, false),
            (RestartPolicy::Never, Ending::Success, false),
            (RestartPolicy::OnFailure, Ending::Failure, true),
            (RestartPolicy::OnFailure, Ending::Success, false),
            (RestartPolicy::Always, Ending::Success, true),
            (RestartPolicy::Always, Ending::Requested, false),
            (RestartPolicy::OnFailure, Ending::Requested, false),
        ] {
            let d = RestartStrategy::new(policy, l, s(0)).on_end(ending, s(1));
            assert_eq!(matches!(d, Decision::Restart { .. }), restarts, "{policy:?} {ending:?}: {d:?}");
        }
    }

    #[test]
    fn backoff_grows_and_intensity_gives_up() {
        let mut st = RestartStrategy::new(RestartPolicy::OnFailure, RestartLimits::default(), s(0));
        let mut delays = Vec::new();
        for t in 1..=3 {
            match st.on_end(Ending::Failure, s(t)) {
                Decision::Restart { after, attempt } => {
                    assert_eq!(attempt, t as u32);
                    delays.push(after);
                }
                other => panic!("{other:?}"),
            }
            st.on_started(s(t));
        }
        assert_eq!(delays, vec![s(1), s(2), s(4)]);
        match st.on_end(Ending::Failure, s(4)) {
            Decision::GiveUp { reason } => assert!(reason.contains("3 restarts within 60s already"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn old_restarts_leave_the_window_and_healthy_runs_reset_the_backoff() {
        let mut st = RestartStrategy::new(RestartPolicy::Always, RestartLimits::default(), s(0));
        for t in [1, 2, 3] {
            assert!(matches!(st.on_end(Ending::Failure, s(t)), Decision::Restart { .. }));
            st.on_started(s(t));
        }
        // 100 s later the three restarts are out of the 60 s window.
        match st.on_end(Ending::Failure, s(103)) {
            Decision::Restart { after, attempt } => {
                assert_eq!(attempt, 1);
                assert_eq!(after, s(8), "streak continues without a healthy period");
            }
            other => panic!("{other:?}"),
        }
        st.on_started(s(103));
        // Ten healthy minutes forget the streak.
        match st.on_end(Ending::Failure, s(103 + 600)) {
            Decision::Restart { after, .. } => assert_eq!(after, s(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_is_capped() {
        let limits = RestartLimits { max_restarts: 100, ..RestartLimits::default() };
        let mut st = RestartStrategy::new(RestartPolicy::Always, limits, s(0));
        let mut last = Duration::ZERO;
        for t in 1..50 {
            if let Decision::Restart { after, .. } = st.on_end(Ending::Failure, s(t)) {
                last = after;
            }
        }
        assert_eq!(last, s(30));
    }

    #[test]
    fn actor_limits_restart_at_once() {
        let mut st = RestartStrategy::new(RestartPolicy::Always, RestartLimits::for_actors(), s(0));
        assert_eq!(st.on_end(Ending::Failure, s(1)), Decision::Restart { after: Duration::ZERO, attempt: 1 });
    }
}
