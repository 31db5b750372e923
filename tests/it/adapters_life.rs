//! Every adapter's whole life, played by the fake agent and reported by warden:
//! ready (with the adapter rule that decided), busy after the task, a blocking
//! prompt, answered (by a confirmation, or by a caller's rule), busy again,
//! done (`task_complete` after the settle time), and the exit with its code.
//!
//! The fake agent draws the screens the real CLIs draw (`crates/fake-agent/src/`,
//! learned from `crates/adapters/tests/screens/`); each session is read with
//! the built-in adapter of the same name.

use std::time::Instant;

use crate::common::{TIMEOUT, fake_agent, start_warden};
use warden::{EventKind, ExitInfo, Reply, ResponseRule, SessionId, SessionSpec, SessionState, Subscription, Warden};

/// How the agent's blocking prompt gets its answer.
enum Answer {
    /// The adapter's built-in answer is not safe: a pending confirmation, confirmed.
    Confirm { suggested: &'static str },
    /// The caller's rule answers by itself.
    Rule(ResponseRule),
}

/// One adapter's life.
struct Life {
    persona: &'static str,
    /// The rule the ready prompt is recognised by.
    ready_rules: &'static [&'static str],
    /// Steps before the task is read (e.g. echo on, as the CLI's prompt does).
    setup: &'static str,
    /// The screen of the blocking prompt, and how the agent waits for its answer.
    prompt_screen: &'static str,
    wait_answer: &'static str,
    /// What the adapter calls the prompt (`None`: the adapter has no prompt rules).
    prompt: Option<(&'static str, &'static str)>,
    answer: Answer,
    /// The rule the finished turn is recognised by.
    done_rule: &'static str,
    /// Whether the CLI draws something when it exits (pi and aider leave the screen as it was).
    exit_screen: bool,
}

impl Life {
    fn script(&self) -> String {
        let exited = if self.exit_screen { "screen exited; " } else { "" };
        format!(
            "{setup}screen ready; expect-line; screen busy; spinner 300; screen {prompt}; {wait}; screen busy; \
             spinner 300; screen done; expect-key ctrl+d; {exited}exit 0",
            setup = self.setup,
            prompt = self.prompt_screen,
            wait = self.wait_answer,
        )
    }
}

/// One session's events as they arrive, kept for later assertions.
struct Watch {
    sub: Subscription,
    id: SessionId,
    seen: Vec<EventKind>,
}

impl Watch {
    /// Pulls the session's next event (panics after [`TIMEOUT`]).
    async fn pull(&mut self, what: &str) -> EventKind {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(e) = self.sub.recv_timeout(left).await else {
                panic!("timed out waiting for {what}; events: {}", self.log());
            };
            if e.session == Some(self.id) {
                self.seen.push(e.kind.clone());
                return e.kind.clone();
            }
        }
    }

    /// The first event from index `from` on matching `pred` (seen already, or waited for),
    /// with its index.
    async fn after(&mut self, from: usize, what: &str, pred: impl Fn(&EventKind) -> bool) -> (usize, EventKind) {
        if let Some(i) = self.seen.iter().skip(from).position(&pred) {
            return (from + i, self.seen[from + i].clone());
        }
        loop {
            let k = self.pull(what).await;
            if pred(&k) {
                return (self.seen.len() - 1, k);
            }
            if matches!(k, EventKind::Exited(_)) {
                panic!("exited while waiting for {what}; events: {}", self.log());
            }
        }
    }

    async fn until(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        self.after(0, what, pred).await.1
    }

    async fn exit(&mut self) -> ExitInfo {
        match self.until("the exit", |k| matches!(k, EventKind::Exited(_))).await {
            EventKind::Exited(e) => e,
            _ => unreachable!(),
        }
    }

    fn log(&self) -> String {
        self.seen
            .iter()
            .map(|k| match k {
                EventKind::Output(o) => {
                    let t: String = o.text_lossy().chars().filter(|c| !c.is_control()).take(60).collect();
                    format!("\n  output {t:?}")
                }
                other => format!("\n  {other:?}"),
            })
            .collect()
    }
}

fn state_to(state: SessionState) -> impl Fn(&EventKind) -> bool {
    move |k| matches!(k, EventKind::StateChanged { to, .. } if *to == state)
}

async fn live(life: Life) {
    let dir = tempfile::tempdir().expect("tempdir");
    let w: Warden = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let mut spec = SessionSpec::new(life.persona, fake_agent())
        .args(["--persona", life.persona, "--script-inline", &life.script()])
        .size(40, 120);
    if let Answer::Rule(rule) = &life.answer {
        spec = spec.rule(rule.clone());
    }
    let s = w.spawn(spec).await.expect("spawns");
    let mut ev = Watch { sub, id: s.id, seen: Vec::new() };
    let who = life.persona;

    // Ready, by the adapter's own rule, after its settle time.
    let ready = ev.until("ready", state_to(SessionState::Ready)).await;
    let EventKind::StateChanged { provenance: Some(p), .. } = &ready else { panic!("{who}: no provenance: {ready:?}") };
    assert_eq!(p.adapter, who);
    assert!(life.ready_rules.contains(&p.rule.as_str()), "{who}: ready by {p}");

    // The task: taken, and the agent works.
    let d = w.send(s.id, "fix the bug").await.expect("sent");
    assert!(d.delivered, "{who}: {d:?}");
    let (busy_at, _) = ev.after(0, "busy", state_to(SessionState::Busy)).await;

    // The blocking prompt, as the adapter reads it (the session is blocked on it).
    let mut blocked_at = None;
    if let Some((kind, rule)) = life.prompt {
        let (_, shown) =
            ev.after(busy_at, "the blocking prompt", |k| matches!(k, EventKind::BlockingPrompt { .. })).await;
        let EventKind::BlockingPrompt { prompt_kind, provenance, .. } = &shown else { unreachable!() };
        assert_eq!((prompt_kind.as_str(), provenance.adapter.as_str(), provenance.rule.as_str()), (kind, who, rule));
        blocked_at = Some(ev.after(busy_at, "blocked", state_to(SessionState::Blocked)).await.0);
    }
    // Its answer.
    let answered_at = match &life.answer {
        Answer::Confirm { suggested } => {
            let (at, pending) = ev
                .after(busy_at, "a pending confirmation", |k| matches!(k, EventKind::ConfirmationPending { .. }))
                .await;
            let EventKind::ConfirmationPending { id, prompt_kind, suggested: got, .. } = pending else {
                unreachable!()
            };
            let (kind, _) = life.prompt.expect("an adapter prompt");
            assert_eq!((prompt_kind.as_str(), got.as_deref()), (kind, Some(*suggested)), "{who}");
            w.confirm(s.id, &id, None).await.expect("confirmed");
            ev.after(
                at,
                "the resolution",
                |k| matches!(k, EventKind::ConfirmationResolved { outcome, .. } if outcome == "answered"),
            )
            .await
            .0
        }
        Answer::Rule(_) => {
            let (at, answered) =
                ev.after(busy_at, "the rule's answer", |k| matches!(k, EventKind::AutoResponded { .. })).await;
            assert!(
                matches!(&answered, EventKind::AutoResponded { source, .. } if source == "session"),
                "{answered:?}"
            );
            at
        }
    };
    // Busy again once the answer is taken.
    let mut answer_at = answered_at;
    if let Some(blocked_at) = blocked_at {
        let (again, _) = ev
            .after(blocked_at, "busy again", |k| {
                matches!(k, EventKind::StateChanged { from: SessionState::Blocked, to: SessionState::Busy, .. })
            })
            .await;
        answer_at = answer_at.max(again);
    }

    // Done: the turn's end, after the settle time; ready again. (The agent only gets
    // here once it read the answer: its script waits for it.)
    let (done_at, done) =
        ev.after(answer_at, "the task's completion", |k| matches!(k, EventKind::TaskComplete { .. })).await;
    let EventKind::TaskComplete { provenance: Some(p), .. } = &done else { panic!("{who}: {done:?}") };
    assert_eq!(p.adapter, who);
    let title = w.snapshot(s.id).await.expect("snapshot").title;
    if life.done_rule == "turn-complete-title" && title.is_empty() {
        // Gemini marks a finished turn in the terminal title; a screen model that does not
        // keep titles leaves the composer as the only sign.
        assert_eq!(p.rule, "ready-composer", "{who}");
    } else {
        assert_eq!(p.rule, life.done_rule, "{who}");
    }
    let (ready_again, _) = ev.after(answer_at, "ready again", state_to(SessionState::Ready)).await;
    assert!(ready_again < done_at, "{who}: ready, then done: {}", ev.log());
    assert_eq!(ev.seen.iter().filter(|k| matches!(k, EventKind::TaskComplete { .. })).count(), 1, "{}", ev.log());

    // Exit, with the code.
    w.send_keys(s.id, &["ctrl+d"]).await.expect("keys");
    let exit = ev.exit().await;
    assert_eq!((exit.code, exit.reason.as_str()), (Some(0), "exited"), "{who}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_lives_through_a_permission_prompt() {
    live(Life {
        persona: "claude",
        ready_rules: &["ready-footer", "ready-prompt-box"],
        setup: "",
        prompt_screen: "permission",
        wait_answer: "expect-key enter",
        prompt: Some(("permission", "permission-proceed")),
        answer: Answer::Confirm { suggested: "keys:enter" },
        done_rule: "turn-complete",
        exit_screen: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_lives_through_a_permission_prompt() {
    live(Life {
        persona: "codex",
        ready_rules: &["ready-composer"],
        setup: "",
        prompt_screen: "permission",
        wait_answer: "expect-key enter",
        prompt: Some(("permission", "permission-command")),
        answer: Answer::Confirm { suggested: "keys:enter" },
        done_rule: "turn-complete",
        exit_screen: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_lives_through_a_permission_prompt() {
    live(Life {
        persona: "gemini",
        ready_rules: &["ready-composer"],
        setup: "",
        prompt_screen: "permission",
        wait_answer: "expect-key enter",
        prompt: Some(("permission", "permission-execution")),
        answer: Answer::Confirm { suggested: "keys:enter" },
        done_rule: "turn-complete-title",
        exit_screen: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aider_lives_through_a_shell_command_prompt() {
    live(Life {
        persona: "aider",
        ready_rules: &["ready-prompt"],
        // Aider's prompt echoes what is typed.
        setup: "echo-input; ",
        prompt_screen: "permission",
        wait_answer: "expect-line",
        prompt: Some(("permission", "permission-shell")),
        answer: Answer::Confirm { suggested: "y" },
        done_rule: "turn-complete",
        exit_screen: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pi_lives_through_a_provider_error() {
    // Pi never asks for permission ("No permission popups"); what stops it is the provider.
    // After "Retry failed", typing a message makes it try again (captures: pi/exited.txt).
    live(Life {
        persona: "pi",
        ready_rules: &["ready-status"],
        setup: "",
        prompt_screen: "unreachable",
        wait_answer: "expect-line",
        prompt: Some(("provider_unreachable", "connection-error")),
        answer: Answer::Rule(ResponseRule::new(r"Retry failed after \d+ attempts", Reply::Text("again".into()))),
        done_rule: "ready-status",
        exit_screen: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_lives_through_a_question() {
    // The shell adapter knows its prompt only: the question is the caller's rule's business.
    live(Life {
        persona: "shell",
        ready_rules: &["prompt"],
        setup: "",
        prompt_screen: "permission",
        wait_answer: "expect-line",
        prompt: None,
        answer: Answer::Rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into()))),
        done_rule: "prompt",
        exit_screen: true,
    })
    .await;
}
