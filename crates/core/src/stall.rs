//! Stall detection as a pure state machine (the `StallDetector` actor feeds it
//! observations and timer ticks; it decides).
//!
//! Progress is the *normalised* screen changing (its hash, from
//! [`crate::screen`]): a spinner or an elapsed-time counter that keeps moving
//! while nothing else changes is not progress. While the adapter says the
//! agent is loading (a spinner is up), the tracker waits the longer
//! `loading_window` instead of `window`, so a frozen agent with a live spinner
//! is still reported, later. After a stall is reported, a classifier's
//! `still_working` answer doubles the window (8 s → 16 s → 30 s cap) and
//! re-arms it; new content resets it. A stall that persists climbs an
//! escalation ladder, one step per further window.
//!
//! Time is passed in as a `Duration` since an arbitrary origin.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One step of the escalation ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step", from = "StepForm")]
pub enum EscalationStep {
    /// Only report (an event for whoever watches).
    Notify,
    /// Press keys, e.g. `escape`.
    Keys {
        /// Key names.
        keys: Vec<String>,
    },
    /// Type a nudge and submit it.
    Nudge {
        /// The text.
        text: String,
    },
    /// Restart the agent with its resume/continue option.
    RestartResume,
    /// Give up: the session becomes `failed`.
    Fail,
}

/// How a step is read: [`EscalationStep`] with its steps that carry nothing
/// written as empty structs, because serde lets a unit variant of an
/// internally tagged enum ignore fields it does not have, and a typo
/// (`{"step":"notify","txt":…}`) must not go unnoticed.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", tag = "step", deny_unknown_fields)]
enum StepForm {
    Notify {},
    Keys { keys: Vec<String> },
    Nudge { text: String },
    RestartResume {},
    Fail {},
}

impl From<StepForm> for EscalationStep {
    fn from(form: StepForm) -> Self {
        match form {
            StepForm::Notify {} => EscalationStep::Notify,
            StepForm::Keys { keys } => EscalationStep::Keys { keys },
            StepForm::Nudge { text } => EscalationStep::Nudge { text },
            StepForm::RestartResume {} => EscalationStep::RestartResume,
            StepForm::Fail {} => EscalationStep::Fail,
        }
    }
}

/// Configuration of stall detection for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallConfig {
    /// Quiet time before a busy agent is stalled (default 8 s).
    pub window: Duration,
    /// Cap of the window after `still_working` answers (default 30 s).
    pub max_window: Duration,
    /// Quiet time while only a spinner moves (default 60 s).
    pub loading_window: Duration,
    /// Steps taken while a stall persists, in order.
    pub ladder: Vec<EscalationStep>,
}

impl Default for StallConfig {
    fn default() -> Self {
        StallConfig {
            window: Duration::from_secs(8),
            max_window: Duration::from_secs(30),
            loading_window: Duration::from_secs(60),
            ladder: vec![
                EscalationStep::Notify,
                EscalationStep::Keys { keys: vec!["escape".into()] },
                EscalationStep::Nudge { text: "Please continue.".into() },
                EscalationStep::RestartResume,
                EscalationStep::Fail,
            ],
        }
    }
}

/// What the classifier said about a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Still working: wait longer.
    StillWorking,
    /// Waiting for input (a question, a prompt).
    WaitingForInput,
    /// A blocking prompt that may be answered.
    BlockingPrompt,
    /// The task is done.
    TaskComplete,
    /// An error is on screen.
    Error,
}

/// What the tracker reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallEvent {
    /// Nothing but (at most) a spinner changed for `idle`.
    Stalled {
        /// Time since the last progress.
        idle: Duration,
        /// The window that elapsed.
        window: Duration,
        /// True when a spinner kept moving (the longer window applied).
        spinner_only: bool,
    },
    /// The stall persists: take this step (steps come in ladder order).
    Escalate {
        /// 0-based position on the ladder.
        index: usize,
        /// The step.
        step: EscalationStep,
    },
    /// Progress again after a stall.
    Resumed,
}

/// One screen update as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When.
    pub now: Duration,
    /// Hash of the normalised screen.
    pub screen_hash: u64,
    /// The adapter says the agent is loading (a spinner is up).
    pub loading: bool,
}

/// The stall state of one session.
#[derive(Debug, Clone)]
pub struct StallTracker {
    cfg: StallConfig,
    window: Duration,
    armed: bool,
    loading: bool,
    last_hash: Option<u64>,
    last_progress: Duration,
    /// When the current stall was reported, and how far up the ladder it went.
    stalled: Option<(Duration, usize)>,
}

impl StallTracker {
    /// A tracker, disarmed (the agent is not busy yet).
    pub fn new(cfg: StallConfig, now: Duration) -> Self {
        let window = cfg.window;
        StallTracker { cfg, window, armed: false, loading: false, last_hash: None, last_progress: now, stalled: None }
    }

    /// Arms (the agent turned busy) or disarms (ready, blocked, exited) the
    /// tracker. Arming starts a fresh window from `now`.
    pub fn set_busy(&mut self, busy: bool, now: Duration) {
        if busy && !self.armed {
            self.last_progress = now;
            self.window = self.cfg.window;
        }
        if !busy {
            self.stalled = None;
        }
        self.armed = busy;
    }

    /// The window in force now.
    pub fn current_window(&self) -> Duration {
        if self.loading { self.cfg.loading_window.max(self.window) } else { self.window }
    }

    /// Feeds one screen update.
    pub fn observe(&mut self, o: Observation) -> Option<StallEvent> {
        self.loading = o.loading;
        let progressed = self.last_hash.is_some_and(|h| h != o.screen_hash);
        self.last_hash = Some(o.screen_hash);
        if !progressed {
            return None;
        }
        self.last_progress = o.now;
        self.window = self.cfg.window;
        self.stalled.take().map(|_| StallEvent::Resumed)
    }

    /// When [`StallTracker::poll`] should next be called, if at all.
    pub fn deadline(&self) -> Option<Duration> {
        if !self.armed {
            return None;
        }
        match self.stalled {
            None => Some(self.last_progress + self.current_window()),
            Some((at, step)) if step < self.cfg.ladder.len() => Some(at + self.current_window()),
            Some(_) => None,
        }
    }

    /// Checks the clock: reports a stall once its window has passed, then one
    /// escalation step per further window.
    pub fn poll(&mut self, now: Duration) -> Option<StallEvent> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        match self.stalled {
            None => {
                self.stalled = Some((now, 0));
                Some(StallEvent::Stalled {
                    idle: now.saturating_sub(self.last_progress),
                    window: self.current_window(),
                    spinner_only: self.loading,
                })
            }
            Some((_, index)) => {
                let step = self.cfg.ladder.get(index)?.clone();
                self.stalled = Some((now, index + 1));
                Some(StallEvent::Escalate { index, step })
            }
        }
    }

    /// Takes a classifier's answer about the current stall. `still_working`
    /// doubles the window (up to the cap) and waits again from `now`; any other
    /// answer leaves the decision to the caller and disarms the tracker.
    pub fn classified(&mut self, answer: Classification, now: Duration) {
        match answer {
            Classification::StillWorking => {
                self.window = (self.window * 2).min(self.cfg.max_window);
                self.last_progress = now;
                self.stalled = None;
            }
            _ => self.set_busy(false, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_step_round_trips_and_refuses_fields_it_does_not_have() {
        for step in StallConfig::default().ladder {
            let json = serde_json::to_string(&step).expect("json");
            assert_eq!(serde_json::from_str::<EscalationStep>(&json).expect("parses"), step, "{json}");
        }
        for bad in [
            r#"{"step":"notify","text":"x"}"#,
            r#"{"step":"nudge","text":"go","txet":"x"}"#,
            r#"{"step":"keys","keys":["escape"],"key":"x"}"#,
            r#"{"step":"restart_resume","x":1}"#,
            r#"{"step":"fail","after":2}"#,
            r#"{"step":"nudge"}"#,
        ] {
            assert!(serde_json::from_str::<EscalationStep>(bad).is_err(), "{bad}");
        }
    }

    fn obs(now: u64, hash: u64, loading: bool) -> Observation {
        Observation { now: ms(now), screen_hash: hash, loading }
    }

    fn armed(cfg: StallConfig) -> StallTracker {
        let mut t = StallTracker::new(cfg, ms(0));
        t.set_busy(true, ms(0));
        t.observe(obs(0, 1, false));
        t
    }

    #[test]
    fn reports_a_stall_exactly_when_the_window_passes() {
        let mut t = armed(StallConfig::default());
        assert_eq!(t.deadline(), Some(ms(8_000)));
        assert_eq!(t.poll(ms(7_999)), None);
        match t.poll(ms(8_000)) {
            Some(StallEvent::Stalled { idle, window, spinner_only }) => {
                assert_eq!((idle, window, spinner_only), (ms(8_000), ms(8_000), false));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_busy_means_no_stall() {
        let mut t = StallTracker::new(StallConfig::default(), ms(0));
        assert_eq!(t.deadline(), None);
        assert_eq!(t.poll(ms(100_000)), None);
    }

    #[test]
    fn new_content_resets_and_resumes() {
        let mut t = armed(StallConfig::default());
        t.observe(obs(5_000, 2, false));
        assert_eq!(t.deadline(), Some(ms(13_000)));
        assert!(matches!(t.poll(ms(13_000)), Some(StallEvent::Stalled { .. })));
        assert_eq!(t.observe(obs(14_000, 3, false)), Some(StallEvent::Resumed));
        assert_eq!(t.deadline(), Some(ms(22_000)));
    }

    #[test]
    fn an_unchanged_normalised_screen_is_not_progress() {
        // A spinner frame changes the raw bytes but not the normalised hash.
        let mut t = armed(StallConfig::default());
        for now in (1_000..8_000).step_by(100) {
            assert_eq!(t.observe(obs(now, 1, false)), None);
        }
        assert!(matches!(t.poll(ms(8_000)), Some(StallEvent::Stalled { .. })));
    }

    #[test]
    fn still_working_doubles_to_the_cap_and_content_resets_it() {
        let mut t = armed(StallConfig::default());
        let mut now = 0;
        let mut windows = Vec::new();
        for _ in 0..4 {
            let deadline = t.deadline().expect("armed");
            windows.push(deadline.as_millis() as u64 - now);
            now = deadline.as_millis() as u64;
            assert!(matches!(t.poll(ms(now)), Some(StallEvent::Stalled { .. })));
            t.classified(Classification::StillWorking, ms(now));
        }
        assert_eq!(windows, vec![8_000, 16_000, 30_000, 30_000]);
        t.observe(obs(now + 1, 9, false));
        assert_eq!(t.deadline(), Some(ms(now + 1 + 8_000)));
    }

    #[test]
    fn a_live_spinner_gets_the_longer_window_but_is_still_reported() {
        let cfg = StallConfig { loading_window: ms(20_000), ..StallConfig::default() };
        let mut t = armed(cfg);
        t.observe(obs(100, 1, true));
        assert_eq!(t.poll(ms(8_000)), None, "a spinner is up: not yet");
        match t.poll(ms(20_000)) {
            Some(StallEvent::Stalled { spinner_only, window, .. }) => {
                assert!(spinner_only);
                assert_eq!(window, ms(20_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_ladder_is_climbed_in_order_one_step_per_window() {
        let mut t = armed(StallConfig::default());
        assert!(matches!(t.poll(ms(8_000)), Some(StallEvent::Stalled { .. })));
        let mut steps = Vec::new();
        let mut now = 8_000;
        while let Some(deadline) = t.deadline() {
            assert_eq!(deadline, ms(now + 8_000));
            now += 8_000;
            match t.poll(ms(now)) {
                Some(StallEvent::Escalate { index, step }) => steps.push((index, step)),
                other => panic!("{other:?}"),
            }
        }
        let names: Vec<usize> = steps.iter().map(|(i, _)| *i).collect();
        assert_eq!(names, vec![0, 1, 2, 3, 4]);
        assert_eq!(steps[0].1, EscalationStep::Notify);
        assert_eq!(steps[4].1, EscalationStep::Fail);
    }

    #[test]
    fn other_answers_disarm() {
        let mut t = armed(StallConfig::default());
        assert!(matches!(t.poll(ms(8_000)), Some(StallEvent::Stalled { .. })));
        t.classified(Classification::TaskComplete, ms(8_001));
        assert_eq!(t.deadline(), None);
    }
}
