//! `warden adapters check`: a self-test a person runs after upgrading an agent CLI.
//!
//! Each installed agent CLI (every adapter that is not the fallback shell, or the
//! ones named) is started the one way warden starts agents ([`Warden::spawn_agent`],
//! preset `standard`, task `hi`) with a throwaway `HOME` and working directory and its
//! credential variables blanked, and watched until it exits, shows a verdict that
//! holds for [`SETTLE`], or the timeout passes. The report says, per CLI: its version,
//! which rules fired on what it drew, whether its launch flags were accepted (or the
//! CLI rejected them, or warden refused a preset the version cannot express), and
//! whether warden's verdict matches what the last screen shows. The network is not
//! cut: a CLI that reaches its provider without a key shows a login.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tracing::{Instrument, info, info_span};
use warden_core::{EventKind, SessionState};

use crate::handle::Warden;
use crate::launch::{AgentRequest, LaunchError};
use crate::preflight::{self, PreflightEnv};

/// How long a verdict must hold before the check takes it (a passing frame does
/// not count).
pub const SETTLE: Duration = Duration::from_secs(2);

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    /// Adapters to check (names or aliases); empty: every adapter that is not the
    /// fallback.
    pub agents: Vec<String>,
    /// Longest wait for one CLI.
    pub timeout: Duration,
    /// A directory for the throwaway homes and working directories (one per CLI).
    pub scratch: PathBuf,
}

/// Whether the CLI took the flags warden launched it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagsOutcome {
    /// It started and drew something other than a rejection.
    Accepted,
    /// It rejected its launch (`launch_rejected`).
    Rejected,
    /// warden refused the preset: the installed version cannot express it.
    Refused,
    /// Not started: not installed, or another launch error.
    NotRun,
}

impl FlagsOutcome {
    /// The table form.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagsOutcome::Accepted => "accepted",
            FlagsOutcome::Rejected => "rejected",
            FlagsOutcome::Refused => "refused",
            FlagsOutcome::NotRun => "not run",
        }
    }
}

/// What the check found for one CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Adapter name.
    pub agent: String,
    /// Whether its binary is on `PATH`.
    pub installed: bool,
    /// Where.
    pub path: Option<String>,
    /// Its version, as the launch learned it.
    pub version: Option<String>,
    /// Whether the launch flags were taken.
    pub flags: FlagsOutcome,
    /// The CLI's rejection, warden's refusal, or why it did not run.
    pub detail: Option<String>,
    /// The launch arguments.
    pub args: Vec<String>,
    /// Rules that fired, in order (from the events and the last screen).
    pub rules_fired: Vec<String>,
    /// warden's verdict: `launch_rejected`, `login_required`, `blocking:<kind>`,
    /// `ready`, `exited:<code>`, or `none`.
    pub verdict: String,
    /// What the adapter reads on the last screen (`login_required`, `exited`, …).
    pub screen: String,
    /// Whether the verdict agrees with the last screen.
    pub matches: bool,
}

/// Whether warden's `verdict` agrees with what the last screen shows (`screen`, a
/// [`warden_adapters::ScreenState::label`]).
pub fn verdict_matches(verdict: &str, screen: &str) -> bool {
    match verdict {
        "launch_rejected" => matches!(screen, "exited" | "unknown"),
        "login_required" => matches!(screen, "login_required" | "blocking:login"),
        "ready" => matches!(screen, "ready" | "task_complete"),
        "none" => matches!(screen, "unknown" | "busy"),
        v if v.starts_with("exited") => matches!(screen, "exited" | "unknown"),
        v => v == screen,
    }
}

/// Checks the CLIs of `req` on `warden`, one after another.
pub async fn check(warden: &Warden, req: &CheckRequest) -> Vec<CheckReport> {
    let registry = warden.adapters();
    let names: Vec<String> = if req.agents.is_empty() {
        registry.adapters().iter().filter(|a| !a.fallback).map(|a| a.name.clone()).collect()
    } else {
        req.agents.clone()
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let span = info_span!("check", agent = %name);
        out.push(check_one(warden, &name, req).instrument(span).await);
    }
    out
}

async fn check_one(warden: &Warden, name: &str, req: &CheckRequest) -> CheckReport {
    let registry = warden.adapters();
    let mut report = CheckReport {
        agent: name.to_string(),
        installed: false,
        path: None,
        version: None,
        flags: FlagsOutcome::NotRun,
        detail: None,
        args: Vec::new(),
        rules_fired: Vec::new(),
        verdict: "none".into(),
        screen: "unknown".into(),
        matches: false,
    };
    let Some(adapter) = registry.get(name).cloned() else {
        report.detail = Some(format!("unknown agent type `{}`", name.chars().take(64).collect::<String>()));
        return report;
    };
    report.agent = adapter.name.clone();
    let env = PreflightEnv::from_process(&registry);
    let shell = std::env::var("SHELL").ok();
    let binary = preflight::probe_binary(&adapter, shell.as_deref());
    let path = env.path.clone();
    let found = tokio::task::spawn_blocking(move || binary.and_then(|b| preflight::find_on_path(&b, path.as_deref())))
        .await
        .ok()
        .flatten();
    let Some(found) = found else {
        report.detail = Some("not installed".into());
        return report;
    };
    report.installed = true;
    report.path = Some(found.display().to_string());
    let dir = req.scratch.join(&adapter.name);
    let (home, work) = (dir.join("home"), dir.join("work"));
    if let Err(e) = make_dirs(&home, &work) {
        report.detail = Some(format!("cannot make the scratch directories: {e}"));
        return report;
    }
    let mut request = AgentRequest::named(adapter.name.clone()).task("hi").workdir(&work);
    request.env.insert("HOME".into(), home.display().to_string());
    for var in adapter.credential_env.iter().chain(&adapter.probe.auth_env) {
        // Blank, so warden's own credentials are not passed through.
        request.env.insert(var.clone(), String::new());
    }
    let mut events = warden.subscribe(Some(warden.bus().next_seq()));
    let launched = match warden.spawn_agent(request).await {
        Ok(l) => l,
        Err(LaunchError::Preset(e)) => {
            report.version = Some(e.version.clone());
            report.flags = FlagsOutcome::Refused;
            report.verdict = "refused".into();
            report.detail = Some(e.to_string());
            report.matches = true;
            return report;
        }
        Err(e) => {
            report.detail = Some(e.to_string());
            return report;
        }
    };
    let id = launched.session.id;
    report.version = launched.version.clone();
    report.args = launched.session.args.clone();
    report.flags = FlagsOutcome::Accepted;
    let deadline = tokio::time::Instant::now() + req.timeout;
    let mut settle_at: Option<tokio::time::Instant> = None;
    let mut exited = false;
    loop {
        let until = settle_at.map_or(deadline, |s| s.min(deadline));
        let event = match tokio::time::timeout_at(until, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(_) if tokio::time::Instant::now() >= deadline => break,
            Err(_) => {
                // Settled: taken if the screen still shows it (not a passing frame, and
                // not a prompt warden has answered since).
                let now = warden.classify(id).await.map(|v| v.state.label()).unwrap_or_default();
                if verdict_matches(&report.verdict, &now) {
                    break;
                }
                settle_at = None;
                continue;
            }
        };
        if event.session != Some(id) {
            continue;
        }
        let mut fired = |rule: &str| {
            if !report.rules_fired.iter().any(|r| r == rule) {
                report.rules_fired.push(rule.to_string());
            }
        };
        match &event.kind {
            EventKind::LaunchRejected { message, provenance, .. } => {
                if let Some(p) = provenance {
                    fired(&p.rule);
                }
                report.verdict = "launch_rejected".into();
                report.flags = FlagsOutcome::Rejected;
                report.detail = Some(message.clone());
            }
            EventKind::LoginRequired { provenance, .. } => {
                fired(&provenance.rule);
                report.verdict = "login_required".into();
                settle_at.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
            }
            EventKind::BlockingPrompt { prompt_kind, provenance, safe, suggested, .. } => {
                fired(&provenance.rule);
                if !(prompt_kind.as_str() == "login" && report.verdict == "login_required") {
                    report.verdict = format!("blocking:{prompt_kind}");
                }
                // A prompt warden may answer by itself is not where the CLI stops: wait
                // for the answer (or the timeout) rather than settle on it.
                if !(*safe && suggested.is_some()) {
                    settle_at.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                }
            }
            EventKind::AutoResponded { rule, .. } => {
                // Answered: what comes next is the verdict.
                fired(rule.rsplit('/').next().unwrap_or(rule));
                report.verdict = "none".into();
                settle_at = None;
            }
            EventKind::StateChanged { to, provenance, .. } => {
                if let Some(p) = provenance {
                    fired(&p.rule);
                }
                if *to == SessionState::Ready && report.verdict == "none" {
                    report.verdict = "ready".into();
                    settle_at.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                }
            }
            EventKind::Exited(exit) => {
                if report.verdict == "none" {
                    report.verdict = format!("exited:{}", exit.shell_code());
                }
                exited = true;
                break;
            }
            _ => {}
        }
    }
    // A session that ended is read from its last screen.
    let verdict = match warden.classify(id).await {
        Ok(v) => Some(v),
        Err(_) => warden
            .snapshot(id)
            .await
            .ok()
            .map(|s| adapter.classify(&warden_adapters::ScreenView::text(&s.text).with_cols(s.cols))),
    };
    if let Some(v) = verdict {
        report.screen = v.state.label();
        if let Some(p) = &v.provenance {
            let rule = p.rule.clone();
            if !report.rules_fired.contains(&rule) {
                report.rules_fired.push(rule);
            }
        }
    }
    if !exited {
        let _ = warden.stop_with_grace(id, Duration::from_secs(1)).await;
    }
    report.matches = verdict_matches(&report.verdict, &report.screen);
    info!(verdict = %report.verdict, screen = %report.screen, matches = report.matches, "checked");
    report
}

fn make_dirs(home: &Path, work: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(home)?;
    std::fs::create_dir_all(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_match_the_screens_that_show_them() {
        let rows = [
            ("launch_rejected", "exited", true),
            ("login_required", "blocking:login", true),
            ("login_required", "ready", false),
            ("blocking:trust", "blocking:trust", true),
            ("blocking:trust", "blocking:config", false),
            ("ready", "task_complete", true),
            ("exited:1", "unknown", true),
            ("exited:1", "ready", false),
            ("none", "busy", true),
            ("none", "login_required", false),
        ];
        for (verdict, screen, want) in rows {
            assert_eq!(verdict_matches(verdict, screen), want, "{verdict} on {screen}");
        }
    }
}
