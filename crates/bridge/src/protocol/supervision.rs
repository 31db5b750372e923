//! Arguments of the supervision verbs (`snapshot`, `classify`,
//! `pending_confirmations`, `confirm`, `decline`, `add_rules`,
//! `clear_rules`) and the checks of the supervision fields a spawn may
//! carry (rules, loading patterns, stall settings, restart limits).
//!
//! The checks here are cheap and bound what a remote caller can ask for;
//! they run in the serving loop. Compiling regular expressions is left to
//! the session, off the loop, which answers `bad_request` naming the
//! pattern that does not compile.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use warden_core::restart::RestartLimits;
use warden_core::stall::EscalationStep;
use warden_core::supervise::Reply as Answer;
use warden_core::{ResponseRule, StallSpec};

use super::error::WireError;
use super::idref::IdRef;
use super::request::check_typed_text;

/// Most rules in one `spawn_agent` or `add_rules` request.
pub const MAX_RULES: usize = 256;
/// Most loading patterns in one `spawn_agent` request.
pub const MAX_LOADING_PATTERNS: usize = 256;
/// Longest rule or loading pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4096;
/// Most steps of an escalation ladder.
pub const MAX_LADDER_STEPS: usize = 16;
/// Longest duration a caller may give in milliseconds (one day).
pub const MAX_MS: u64 = 86_400_000;
/// Most restarts a restart window may allow.
pub const MAX_RESTARTS: u32 = 100;
/// Longest rule id, in bytes.
const MAX_RULE_ID: usize = 64;
/// Longest confirmation id, in bytes.
const MAX_CONFIRMATION_ID: usize = 128;

/// Arguments of the verbs that name only a session: `snapshot`,
/// `classify`, `pending_confirmations` and `clear_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
}

/// Arguments of `confirm`: answer a pending confirmation with `reply`, or
/// with the suggested answer when `reply` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
    /// The pending confirmation's id (from `confirmation_pending` or
    /// `pending_confirmations`) or a unique prefix of it; absent: the
    /// session's only pending confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What to send: `{"type":"text","value":"y"}` or
    /// `{"type":"keys","value":["down","enter"]}`; absent: the suggested answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Answer>,
}

impl ConfirmArgs {
    /// Checks the id and the answer.
    pub fn check(&self) -> Result<(), WireError> {
        self.session.check("session")?;
        if let Some(id) = &self.id {
            check_confirmation_id(id)?;
        }
        if let Some(answer) = &self.reply {
            check_answer(answer, "`reply`")?;
        }
        Ok(())
    }
}

/// Arguments of `decline`: nothing is typed, the prompt stays for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclineArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
    /// The pending confirmation's id or a unique prefix of it; absent: the
    /// session's only pending confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl DeclineArgs {
    /// Checks the id.
    pub fn check(&self) -> Result<(), WireError> {
        self.session.check("session")?;
        match &self.id {
            Some(id) => check_confirmation_id(id),
            None => Ok(()),
        }
    }
}

/// Arguments of `add_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRulesArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
    /// The rules, 1 to [`MAX_RULES`].
    pub rules: Vec<ResponseRule>,
}

impl AddRulesArgs {
    /// Checks the rules (at least one).
    pub fn check(&self) -> Result<(), WireError> {
        self.session.check("session")?;
        if self.rules.is_empty() {
            return Err(WireError::bad_request("`rules` is empty; give at least one rule"));
        }
        check_rules(&self.rules)
    }
}

/// Limits of a restart policy on the wire; absent fields take the defaults
/// (3 restarts in 60 s, back-off from 1 s doubling to 30 s, history
/// forgotten after 10 min healthy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartLimitsArgs {
    /// Most restarts within `window_ms` (at most [`MAX_RESTARTS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// The window of `max_restarts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// First back-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff_ms: Option<u64>,
    /// Back-off cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// Healthy running time after which the restart history is forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after_ms: Option<u64>,
}

impl RestartLimitsArgs {
    /// Checks the bounds.
    pub fn check(&self) -> Result<(), WireError> {
        if self.max_restarts.is_some_and(|n| n > MAX_RESTARTS) {
            return Err(WireError::bad_request(format!("`restart_limits.max_restarts` is at most {MAX_RESTARTS}")));
        }
        let fields = [
            ("window_ms", self.window_ms),
            ("initial_backoff_ms", self.initial_backoff_ms),
            ("max_backoff_ms", self.max_backoff_ms),
            ("reset_after_ms", self.reset_after_ms),
        ];
        for (name, ms) in fields {
            check_ms(&format!("restart_limits.{name}"), ms)?;
        }
        Ok(())
    }

    /// The limits, with defaults for absent fields.
    pub fn limits(&self) -> RestartLimits {
        let d = RestartLimits::default();
        let ms = |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
        RestartLimits {
            max_restarts: self.max_restarts.unwrap_or(d.max_restarts),
            window: ms(self.window_ms, d.window),
            initial_backoff: ms(self.initial_backoff_ms, d.initial_backoff),
            max_backoff: ms(self.max_backoff_ms, d.max_backoff),
            reset_after: ms(self.reset_after_ms, d.reset_after),
        }
    }
}

fn check_ms(name: &str, ms: Option<u64>) -> Result<(), WireError> {
    match ms {
        Some(ms) if ms > MAX_MS => Err(WireError::bad_request(format!("`{name}` is at most {MAX_MS} (one day)"))),
        _ => Ok(()),
    }
}

fn check_confirmation_id(id: &str) -> Result<(), WireError> {
    if id.is_empty() || id.len() > MAX_CONFIRMATION_ID {
        return Err(WireError::bad_request(format!("`id` must be 1 to {MAX_CONFIRMATION_ID} bytes")));
    }
    Ok(())
}

/// An answer typed into a session: text without control characters other
/// than tab and newline, or a non-empty list of known key names.
pub(crate) fn check_answer(answer: &Answer, what: &str) -> Result<(), WireError> {
    match answer {
        Answer::Text(text) => check_typed_text(text, false),
        Answer::Keys(keys) => check_keys(keys, what),
    }
}

fn check_keys(keys: &[String], what: &str) -> Result<(), WireError> {
    if keys.is_empty() {
        return Err(WireError::bad_request(format!("{what} has no keys")));
    }
    warden_core::keys::keys_bytes(keys).map(|_| ()).map_err(|e| WireError::bad_request(format!("{what}: {e}")))
}

/// The supervision settings a spawn or a task carries — rules, loading
/// patterns, stall settings, restart limits — each within its limits.
pub(crate) fn check_session_tuning(
    rules: &[ResponseRule],
    loading: &[String],
    stall: Option<&StallSpec>,
    restart_limits: Option<&RestartLimitsArgs>,
) -> Result<(), WireError> {
    check_rules(rules)?;
    check_loading(loading)?;
    if let Some(stall) = stall {
        check_stall(stall)?;
    }
    if let Some(limits) = restart_limits {
        limits.check()?;
    }
    Ok(())
}

/// Checks caller rules: at most [`MAX_RULES`], each with a non-empty
/// pattern of at most [`MAX_PATTERN_BYTES`], a short id and a valid answer.
pub(crate) fn check_rules(rules: &[ResponseRule]) -> Result<(), WireError> {
    if rules.len() > MAX_RULES {
        return Err(WireError::bad_request(format!("{} rules; at most {MAX_RULES} per request", rules.len())));
    }
    for (i, rule) in rules.iter().enumerate() {
        let what = format!("rule {i}");
        check_pattern(&rule.pattern, &what)?;
        if let Some(id) = &rule.id
            && (id.len() > MAX_RULE_ID || id.chars().any(char::is_control))
        {
            return Err(WireError::bad_request(format!(
                "{what}: `id` must be at most {MAX_RULE_ID} bytes without control characters"
            )));
        }
        check_answer(&rule.reply, &format!("{what}: `reply`"))
            .map_err(|e| WireError::bad_request(format!("{what}: {}", e.message)))?;
    }
    Ok(())
}

/// Checks loading patterns: at most [`MAX_LOADING_PATTERNS`], each
/// non-empty and at most [`MAX_PATTERN_BYTES`].
pub(crate) fn check_loading(patterns: &[String]) -> Result<(), WireError> {
    if patterns.len() > MAX_LOADING_PATTERNS {
        return Err(WireError::bad_request(format!(
            "{} loading patterns; at most {MAX_LOADING_PATTERNS}",
            patterns.len()
        )));
    }
    for (i, p) in patterns.iter().enumerate() {
        check_pattern(p, &format!("loading pattern {i}"))?;
    }
    Ok(())
}

fn check_pattern(pattern: &str, what: &str) -> Result<(), WireError> {
    if pattern.is_empty() {
        return Err(WireError::bad_request(format!("{what}: the pattern is empty")));
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(WireError::bad_request(format!(
            "{what}: the pattern is {} bytes; at most {MAX_PATTERN_BYTES}",
            pattern.len()
        )));
    }
    Ok(())
}

/// Checks stall settings: durations up to [`MAX_MS`], a ladder of at most
/// [`MAX_LADDER_STEPS`] steps whose keys and nudges could be typed.
pub(crate) fn check_stall(stall: &StallSpec) -> Result<(), WireError> {
    check_ms("stall.window_ms", stall.window_ms)?;
    check_ms("stall.max_window_ms", stall.max_window_ms)?;
    check_ms("stall.loading_window_ms", stall.loading_window_ms)?;
    let Some(ladder) = &stall.ladder else { return Ok(()) };
    if ladder.len() > MAX_LADDER_STEPS {
        return Err(WireError::bad_request(format!(
            "`stall.ladder` has {} steps; at most {MAX_LADDER_STEPS}",
            ladder.len()
        )));
    }
    for (i, step) in ladder.iter().enumerate() {
        match step {
            EscalationStep::Keys { keys } => check_keys(keys, &format!("`stall.ladder` step {i}"))?,
            EscalationStep::Nudge { text } => check_typed_text(text, false)
                .map_err(|e| WireError::bad_request(format!("`stall.ladder` step {i}: {}", e.message)))?,
            EscalationStep::Notify | EscalationStep::RestartResume | EscalationStep::Fail => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, reply: Answer) -> ResponseRule {
        ResponseRule::new(pattern, reply)
    }

    #[test]
    fn rules_are_bounded_and_their_answers_typeable() {
        let ok = rule(r"Proceed\? \[y/N\]", Answer::Text("y".into()));
        assert!(check_rules(std::slice::from_ref(&ok)).is_ok());
        assert!(check_rules(&vec![ok.clone(); MAX_RULES]).is_ok());
        assert!(check_rules(&vec![ok; MAX_RULES + 1]).expect_err("too many").message.contains("at most 256"));
        let long = rule(&"a".repeat(MAX_PATTERN_BYTES + 1), Answer::Text("y".into()));
        assert!(check_rules(&[long]).expect_err("long").message.contains("at most 4096"));
        assert!(check_rules(&[rule("", Answer::Text("y".into()))]).is_err());
        assert!(check_rules(&[rule("x", Answer::Text("\u{1b}[A".into()))]).is_err());
        assert!(check_rules(&[rule("x", Answer::Keys(vec![]))]).is_err());
        assert!(check_rules(&[rule("x", Answer::Keys(vec!["nokey".into()]))]).is_err());
        assert!(check_rules(&[rule("x", Answer::Keys(vec!["down".into(), "enter".into()]))]).is_ok());
        let mut with_id = rule("x", Answer::Text("y".into()));
        with_id.id = Some("i".repeat(65));
        assert!(check_rules(&[with_id]).is_err());
    }

    #[test]
    fn stall_and_restart_settings_are_bounded() {
        assert!(check_stall(&StallSpec { window_ms: Some(500), ..Default::default() }).is_ok());
        assert!(check_stall(&StallSpec { window_ms: Some(u64::MAX), ..Default::default() }).is_err());
        let ladder = |step| StallSpec { ladder: Some(vec![step]), ..Default::default() };
        assert!(check_stall(&ladder(EscalationStep::Keys { keys: vec!["escape".into()] })).is_ok());
        assert!(check_stall(&ladder(EscalationStep::Keys { keys: vec!["bogus".into()] })).is_err());
        assert!(check_stall(&ladder(EscalationStep::Nudge { text: "go on\u{7}".into() })).is_err());
        let long = StallSpec { ladder: Some(vec![EscalationStep::Notify; MAX_LADDER_STEPS + 1]), ..Default::default() };
        assert!(check_stall(&long).is_err());
        let limits = RestartLimitsArgs { max_restarts: Some(5), window_ms: Some(1000), ..Default::default() };
        assert!(limits.check().is_ok());
        let l = limits.limits();
        assert_eq!((l.max_restarts, l.window), (5, Duration::from_secs(1)));
        assert_eq!(l.max_backoff, RestartLimits::default().max_backoff);
        assert!(RestartLimitsArgs { max_restarts: Some(1000), ..Default::default() }.check().is_err());
        assert!(RestartLimitsArgs { reset_after_ms: Some(MAX_MS + 1), ..Default::default() }.check().is_err());
    }
}
