//! The session's supervision actors end to end: auto-response rules, stall
//! detection, acknowledged input, restarts (real PTYs and processes).
//!
//! Most scenarios are played by the fake agent (`crates/fake-agent`),
//! drawing the screens of the real CLIs; windows are a few hundred ms so the
//! suite stays fast, and every wait is on an event, with a timeout.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{TIMEOUT, alive, fake_agent, shell_spec, start_warden};
use warden::actors::{ClassifyFuture, StallClassifier, StallContext};
use warden::core::ConfirmationOutcome;
use warden::core::restart::RestartLimits;
use warden::core::stall::{Classification, EscalationStep};
use warden::core::{ActorKind, InputVia, RestartPolicy};
use warden::{
    EventKind, Reply, ResponseRule, SessionError, SessionId, SessionSpec, SessionState, Subscription, SupervisionLevel,
    Warden, WardenConfig,
};

/// Kinds of the session's events until it exits (`exited` included).
async fn kinds_until_exit(sub: &mut warden::Subscription, id: warden::SessionId) -> Vec<EventKind> {
    let mut out = Vec::new();
    loop {
        let e = sub.recv_timeout(TIMEOUT).await.expect("events until exit");
        if e.session != Some(id) {
            continue;
        }
        let end = matches!(e.kind, EventKind::Exited(_));
        out.push(e.kind.clone());
        if end {
            return out;
        }
    }
}

/// A fake agent playing `script` as `persona`, read with the adapter of the same name.
fn fake(persona: &str, script: &str) -> SessionSpec {
    SessionSpec::new(persona, fake_agent()).args(["--persona", persona, "--script-inline", script]).size(40, 120)
}

async fn start_with(dir: &tempfile::TempDir, configure: impl FnOnce(&mut WardenConfig)) -> Warden {
    let mut config = WardenConfig::new(dir.path().join("state"));
    config.node = "test".into();
    config.stop_grace = Duration::from_millis(500);
    configure(&mut config);
    Warden::start(config).await.expect("warden starts")
}

/// One session's events as they arrive, kept for later assertions.
struct Watch {
    sub: Subscription,
    id: SessionId,
    seen: Vec<EventKind>,
    output: Vec<u8>,
}

impl Watch {
    fn new(sub: Subscription, id: SessionId) -> Self {
        Watch { sub, id, seen: Vec::new(), output: Vec::new() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// The next event of the session (panics after [`TIMEOUT`]).
    async fn next(&mut self, waiting_for: &str) -> EventKind {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(e) = self.sub.recv_timeout(left).await else {
                panic!("timed out waiting for {waiting_for}; events: {}", self.log());
            };
            if e.session != Some(self.id) {
                continue;
            }
            if let EventKind::Output(o) = &e.kind {
                self.output.extend_from_slice(&o.bytes);
            }
            self.seen.push(e.kind.clone());
            return e.kind.clone();
        }
    }

    /// Waits for an event matching `pred`.
    async fn until(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        loop {
            let k = self.next(what).await;
            if pred(&k) {
                return k;
            }
            if matches!(k, EventKind::Exited(_)) {
                panic!("exited while waiting for {what}; events: {}", self.log());
            }
        }
    }

    /// Returns an event already seen that matches `pred`, or waits for one.
    async fn seen_or_until(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        match self.seen.iter().find(|k| pred(k)) {
            Some(k) => k.clone(),
            None => self.until(what, pred).await,
        }
    }

    /// Waits until the output holds `needle`; returns the index of the event that completed it.
    async fn output_until(&mut self, needle: &str) -> usize {
        loop {
            if self.text().contains(needle) {
                return self.seen.len().saturating_sub(1);
            }
            let k = self.next(needle).await;
            if matches!(k, EventKind::Exited(_)) && !self.text().contains(needle) {
                panic!("exited before {needle:?}; events: {}", self.log());
            }
        }
    }

    /// Waits for the exit; returns it.
    async fn exit(&mut self) -> warden::ExitInfo {
        loop {
            if let EventKind::Exited(e) = self.next("the exit").await {
                return e;
            }
        }
    }

    /// The events seen so far, one line each, output abridged.
    fn log(&self) -> String {
        let mut s = String::new();
        for k in &self.seen {
            match k {
                EventKind::Output(o) => {
                    let t = o.text_lossy();
                    let t: String = t.chars().filter(|c| !c.is_control()).take(60).collect();
                    s.push_str(&format!("\n  output {t:?}"));
                }
                other => s.push_str(&format!("\n  {other:?}")),
            }
        }
        s.push_str(&format!("\n  screen text so far: {:?}", self.text().chars().rev().take(300).collect::<String>()));
        s
    }

    fn count(&self, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.seen.iter().filter(|k| pred(k)).count()
    }
}

fn to_state(k: &EventKind, state: SessionState) -> bool {
    matches!(k, EventKind::StateChanged { to, .. } if *to == state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_answers_a_shell_prompt_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = shell_spec()
        .task(r#"read -p "Proceed? [y/N] " a; echo got-$a; exit 0"#)
        .rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into())));
    let s = w.spawn(spec).await.expect("spawns");
    let kinds = kinds_until_exit(&mut sub, s.id).await;
    let answered: Vec<_> = kinds.iter().filter(|k| matches!(k, EventKind::AutoResponded { .. })).collect();
    assert_eq!(answered.len(), 1, "one answer: {kinds:?}");
    let out: String = kinds
        .iter()
        .filter_map(|k| if let EventKind::Output(o) = k { Some(o.text_lossy().into_owned()) } else { None })
        .collect();
    assert!(out.contains("got-y"), "{out:?}");
    assert!(matches!(kinds.last(), Some(EventKind::Exited(e)) if e.code == Some(0)));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_busy_shell_is_reported_stalled_before_it_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = shell_spec().task("sleep 2; exit 0").stall_window(Duration::from_millis(300));
    let s = w.spawn(spec).await.expect("spawns");
    let kinds = kinds_until_exit(&mut sub, s.id).await;
    let stalled = kinds.iter().position(|k| matches!(k, EventKind::Stalled { .. }));
    assert!(stalled.is_some(), "{kinds:?}");
    assert!(kinds.iter().any(|k| matches!(k, EventKind::StateChanged { to: SessionState::Stalled, .. })));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_prompt_is_answered_automatically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // Claude's trust dialog defaults to "No, exit": the answer must move down, then confirm.
    let script = "screen trust; expect-key down; expect-key enter; screen ready; expect-key ctrl+d; exit 0";
    let s = w.spawn(fake("claude", script)).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let answer = ev.until("the answer", |k| matches!(k, EventKind::AutoResponded { .. })).await;
    let EventKind::AutoResponded { rule, source, sent, .. } = answer else { unreachable!() };
    assert_eq!((rule.as_str(), source.as_str(), sent.as_str()), ("claude/trust-folder", "adapter", "keys:down,enter"));
    // The agent took the answer and went on to its prompt.
    ev.output_until("? for shortcuts").await;
    ev.seen_or_until(
        "the keys written",
        |k| matches!(k, EventKind::Input { via: InputVia::Keys, keys, .. } if keys == &["down", "enter"]),
    )
    .await;
    w.send_keys(s.id, &["ctrl+d"]).await.expect("keys");
    assert_eq!(ev.exit().await.code, Some(0));
    assert_eq!(ev.count(|k| matches!(k, EventKind::AutoResponded { .. })), 1, "{}", ev.log());
    assert_eq!(ev.count(|k| matches!(k, EventKind::ConfirmationPending { .. })), 0, "{}", ev.log());
    // The detector looks at the screen on its own schedule: the dialog may be gone before
    // it looks. When it saw it, it read it as the trust prompt.
    for k in &ev.seen {
        if let EventKind::BlockingPrompt { prompt_kind, safe, provenance, .. } = k {
            assert_eq!((prompt_kind.as_str(), *safe, provenance.rule.as_str()), ("trust", true, "trust-folder"));
        }
    }
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_permission_prompt_waits_for_a_confirmation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let script =
        "screen busy; spinner 200; screen permission; expect-key enter; screen busy; expect-key ctrl+d; exit 0";
    let s = w.spawn(fake("claude", script)).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let pending = ev.until("a pending confirmation", |k| matches!(k, EventKind::ConfirmationPending { .. })).await;
    let EventKind::ConfirmationPending { id, prompt_kind, prompt, choices, suggested, reason, rule } = pending else {
        unreachable!()
    };
    assert_eq!(prompt_kind, "permission");
    assert!(prompt.contains("Do you want to proceed?"), "{prompt:?}");
    assert!(choices.iter().any(|c| c.contains("Yes")), "{choices:?}");
    assert_eq!(suggested.as_deref(), Some("keys:enter"));
    assert!(reason.contains("not safe"), "{reason:?}");
    assert_eq!(rule.as_deref(), Some("claude/permission-proceed"));
    // The detector saw the same prompt (the two actors look independently).
    let blocked = ev.seen_or_until("blocked", |k| to_state(k, SessionState::Blocked)).await;
    assert!(
        matches!(&blocked, EventKind::StateChanged { provenance: Some(p), .. } if p.rule == "permission-proceed"),
        "{blocked:?}"
    );
    let shown = ev.seen_or_until("the blocking prompt", |k| matches!(k, EventKind::BlockingPrompt { .. })).await;
    assert!(
        matches!(&shown, EventKind::BlockingPrompt { prompt_kind, safe: false, .. } if prompt_kind == "permission"),
        "{shown:?}"
    );
    assert_eq!(state_of(&w, s.id).await, SessionState::Blocked);
    let listed = w.pending_confirmations(s.id).await.expect("pending");
    assert_eq!(listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec![id.as_str()]);
    assert!(w.confirm(s.id, "no-such-id", None).await.is_err(), "an unknown id is refused");
    assert_eq!(ev.count(|k| matches!(k, EventKind::AutoResponded { .. })), 0, "nothing typed without asking");

    w.confirm(s.id, &id, None).await.expect("confirmed");
    let resolved = ev.until("the resolution", |k| matches!(k, EventKind::ConfirmationResolved { .. })).await;
    assert!(
        matches!(&resolved, EventKind::ConfirmationResolved { outcome, sent, .. }
            if outcome == "answered" && sent.as_deref() == Some("keys:enter")),
        "{resolved:?}"
    );
    // The agent goes on: busy again.
    ev.until("busy again", |k| {
        matches!(k, EventKind::StateChanged { from: SessionState::Blocked, to: SessionState::Busy, .. })
    })
    .await;
    assert!(w.pending_confirmations(s.id).await.expect("pending").is_empty());
    w.send_keys(s.id, &["ctrl+d"]).await.expect("keys");
    assert_eq!(ev.exit().await.code, Some(0));
    w.shutdown().await;
}

/// A confirmed answer is resolved in the event stream before the agent can act on it.
/// Before, the answer was typed first: an agent that exits on it could end the stream
/// (`exited`) before `confirmation_resolved`, and `warden run --json`, which stops at
/// the exit, never printed the resolution (seen once in CI). The hook holds the
/// answer between its two steps, so the order of the steps shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_answer_is_resolved_before_the_agent_acts_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let script = "screen busy; spinner 200; screen permission; expect-key enter; print took-it; exit 0";
    let s = w.spawn(fake("claude", script)).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let pending = ev.until("a pending confirmation", |k| matches!(k, EventKind::ConfirmationPending { .. })).await;
    let EventKind::ConfirmationPending { id, .. } = pending else { unreachable!() };
    let hold = w.hold_confirmed_answers(s.id).await.expect("held");
    let confirm = {
        let w = w.clone();
        tokio::spawn(async move { w.confirm(s.id, &id, None).await })
    };
    let first = ev
        .until("the resolution or the end", |k| {
            matches!(k, EventKind::ConfirmationResolved { .. } | EventKind::Exited(_))
        })
        .await;
    drop(hold);
    assert!(matches!(first, EventKind::ConfirmationResolved { .. }), "{}", ev.log());
    confirm.await.expect("joined").expect("confirmed");
    assert_eq!(ev.exit().await.code, Some(0));
    assert!(ev.text().contains("took-it"), "{}", ev.log());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeating_prompt_trips_the_loop_guard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // The agent asks the same question again after each answer.
    let ask = "screen permission; expect-line";
    let script = format!("{ask}; {ask}; {ask}; {ask}; print went-on-after-{{input}}; expect-line; exit 0");
    let spec = fake("shell", &script).rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into())));
    let s = w.spawn(spec).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let pending = ev.until("the loop guard", |k| matches!(k, EventKind::ConfirmationPending { .. })).await;
    let EventKind::ConfirmationPending { id, reason, suggested, .. } = pending else { unreachable!() };
    assert!(reason.contains("loop guard"), "{reason:?}");
    assert_eq!(suggested.as_deref(), Some("y"));
    assert_eq!(ev.count(|k| matches!(k, EventKind::AutoResponded { .. })), 3, "{}", ev.log());
    w.confirm(s.id, &id, Some(Reply::Text("yes".into()))).await.expect("confirmed");
    ev.output_until("went-on-after-yes").await;
    w.send_nowait(s.id, "bye").await.expect("sent");
    assert_eq!(ev.exit().await.code, Some(0));
    assert_eq!(ev.count(|k| matches!(k, EventKind::AutoResponded { .. })), 3, "{}", ev.log());
    w.shutdown().await;
}

/// A classifier that always says the agent is still working.
struct StillWorking(AtomicUsize);

impl StallClassifier for StillWorking {
    fn name(&self) -> &str {
        "still-working"
    }
    fn classify(&self, _ctx: StallContext) -> ClassifyFuture {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Some(Classification::StillWorking) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stall_window_doubles_on_still_working_and_resets_on_new_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let classifier = Arc::new(StillWorking(AtomicUsize::new(0)));
    let c = classifier.clone();
    let w = start_with(&dir, |cfg| cfg.classifier = Some(c)).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let script = "screen ready; expect-line; print working; expect-line; print more output; freeze";
    let s = w.spawn(fake("shell", script).stall_window(Duration::from_millis(250))).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    ev.until("ready", |k| to_state(k, SessionState::Ready)).await;
    assert!(w.send(s.id, "go").await.expect("sent").delivered);
    let classified = |k: &EventKind| matches!(k, EventKind::StallClassified { .. });
    let mut windows = Vec::new();
    for _ in 0..2 {
        let stall = ev.until("a stall", |k| matches!(k, EventKind::Stalled { .. })).await;
        let answer = ev.until("its classification", classified).await;
        windows.push((stall, answer));
    }
    // New content (the agent prints after a raw write, which is not warden's input
    // bookkeeping) resets the window.
    w.write(s.id, b"x\r".to_vec()).await.expect("written");
    ev.output_until("more output").await;
    let stall = ev.until("a stall after new content", |k| matches!(k, EventKind::Stalled { .. })).await;
    let answer = ev.until("its classification", classified).await;
    windows.push((stall, answer));
    let got: Vec<(u64, Option<u64>)> = windows
        .iter()
        .map(|(stall, answer)| match (stall, answer) {
            (
                EventKind::Stalled { window_ms, idle_ms, spinner_only: false, .. },
                EventKind::StallClassified { answer: Classification::StillWorking, source, next_window_ms },
            ) => {
                assert!(idle_ms >= window_ms, "{idle_ms} < {window_ms}");
                assert_eq!(source, "still-working");
                (*window_ms, *next_window_ms)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, vec![(250, Some(500)), (500, Some(1000)), (250, Some(500))], "{}", ev.log());
    assert!(classifier.0.load(Ordering::Relaxed) >= 3);
    // Each answer put the session back to busy.
    assert!(
        ev.count(|k| matches!(k, EventKind::StateChanged { from: SessionState::Stalled, to: SessionState::Busy, .. }))
            >= 2
    );
    w.stop(s.id).await.expect("stops");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_is_detected_through_decorative_redraws() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // Codex (2 s settle). Mid-turn, its composer shows alone for 100 ms between two busy
    // spells; after the turn, the finished screen is repainted every 200 ms for 3.2 s
    // (clear and redraw, nothing new); then a title marker, and the agent waits.
    let redraws = vec!["screen done; sleep 200"; 16].join("; ");
    let script = format!(
        "screen ready; expect-line; screen busy; spinner 300; screen ready; sleep 100; screen busy; spinner 300; \
         {redraws}; title redraws-over; expect-key ctrl+d; screen exited; exit 0"
    );
    let s = w.spawn(fake("codex", &script)).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    ev.until("ready", |k| to_state(k, SessionState::Ready)).await;
    assert!(w.send(s.id, "fix the bug").await.expect("sent").delivered);
    let busy_at = ev.seen.len();
    let done_at = ev.output_until("Done: the change is in place.").await;
    let marker_at = ev.output_until("redraws-over").await;
    w.send_keys(s.id, &["ctrl+d"]).await.expect("keys");
    assert_eq!(ev.exit().await.code, Some(0));
    let completions: Vec<usize> = ev
        .seen
        .iter()
        .enumerate()
        .filter(|(_, k)| matches!(k, EventKind::TaskComplete { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(completions.len(), 1, "one completion: {}", ev.log());
    let at = completions[0];
    assert!(at > done_at, "completed before the finished screen (the mid-turn composer faked it): {}", ev.log());
    assert!(at < marker_at, "the redraws held the completion back until they stopped: {}", ev.log());
    assert!(
        matches!(&ev.seen[at], EventKind::TaskComplete { provenance: Some(p), .. } if p.rule == "turn-complete"),
        "{:?}",
        ev.seen[at]
    );
    let ready_mid_turn = ev.seen[busy_at..done_at].iter().filter(|k| to_state(k, SessionState::Ready)).count();
    assert_eq!(ready_mid_turn, 0, "the mid-turn composer was committed as ready: {}", ev.log());
    assert_eq!(ev.count(|k| to_state(k, SessionState::Ready)), 2, "ready at start and after the turn: {}", ev.log());
    w.shutdown().await;
}

/// Names of the `escalated` steps seen, as `index:step`.
fn ladder_steps(ev: &Watch) -> Vec<String> {
    ev.seen
        .iter()
        .filter_map(|k| match k {
            EventKind::Escalated { index, step } => {
                let name = serde_json::to_value(step).ok()?.get("step")?.as_str()?.to_string();
                Some(format!("{index}:{name}"))
            }
            _ => None,
        })
        .collect()
}

fn position(ev: &Watch, pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
    ev.seen.iter().position(pred)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinner_alone_is_stalled_after_the_longer_window_and_the_ladder_climbs_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // Claude given its task as an argument starts working at once; here it freezes while
    // its spinner keeps turning (and reads nothing).
    let mut spec = fake("claude", "screen busy; freeze spinner").stall_window(Duration::from_millis(200));
    spec.stall.loading_window_ms = Some(700);
    spec.stall.ladder = Some(vec![
        EscalationStep::Notify,
        EscalationStep::Keys { keys: vec!["escape".into()] },
        EscalationStep::Nudge { text: "Please continue.".into() },
        EscalationStep::Fail,
    ]);
    let s = w.spawn(spec).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let stall = ev.until("the stall", |k| matches!(k, EventKind::Stalled { .. })).await;
    let EventKind::Stalled { window_ms, idle_ms, spinner_only, .. } = stall else { unreachable!() };
    assert!(spinner_only, "a live spinner is not progress");
    assert_eq!(window_ms, 700, "the longer loading window applies, not the 200 ms one");
    assert!(idle_ms >= 700, "{idle_ms}");
    let exit = ev.exit().await;
    assert_eq!(ladder_steps(&ev), vec!["0:notify", "1:keys", "2:nudge", "3:fail"], "{}", ev.log());
    // Each step did what it says, in order.
    let step =
        |n: usize| position(&ev, |k| matches!(k, EventKind::Escalated { index, .. } if *index == n)).expect("step");
    let escape = position(&ev, |k| matches!(k, EventKind::Input { keys, .. } if keys == &["escape"])).expect("escape");
    assert!(step(1) < escape && escape < step(2), "{}", ev.log());
    let nudge = position(&ev, |k| matches!(k, EventKind::Input { via: InputVia::Text, len, .. } if *len > 1))
        .expect("nudge typed");
    assert!(step(2) < nudge && nudge < step(3), "{}", ev.log());
    let failed = position(&ev, |k| to_state(k, SessionState::Failed)).expect("failed");
    assert!(step(3) < failed, "{}", ev.log());
    // The spinner kept turning all along, and the session stayed stalled: spinner
    // frames are not progress, and do not flip it back to busy.
    let flips =
        ev.count(|k| matches!(k, EventKind::StateChanged { from: SessionState::Stalled, to: SessionState::Busy, .. }));
    assert_eq!(flips, 0, "{}", ev.log());
    assert_eq!(ev.count(|k| matches!(k, EventKind::Stalled { .. })), 1, "{}", ev.log());
    assert_eq!(state_of(&w, s.id).await, SessionState::Failed);
    let waited = tokio::time::timeout(TIMEOUT, w.wait(s.id)).await.expect("wait returns").expect("exit");
    assert_eq!(waited, exit);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_to_an_agent_that_ignores_it_is_undelivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_with(&dir, |cfg| cfg.input_ack_timeout = Duration::from_millis(800)).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // It takes the first message, then works with its spinner turning and reads nothing more.
    let s = w.spawn(fake("codex", "screen ready; expect-line; screen busy; freeze spinner")).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    ev.output_until("Ask Codex to do anything").await;
    let first = w.send(s.id, "fix the bug").await.expect("sent");
    assert!(first.delivered, "{first:?}");
    ev.until("delivered", |k| matches!(k, EventKind::InputDelivered { .. })).await;
    ev.output_until("Working").await;
    let second = w.send(s.id, "are you there?").await.expect("sent");
    assert!(!second.delivered, "the spinner moved, but nothing took the input: {second:?}");
    assert!(second.detail.contains("did not show the input taken"), "{second:?}");
    let k = ev.until("undelivered", |k| matches!(k, EventKind::InputUndelivered { .. })).await;
    assert!(matches!(k, EventKind::InputUndelivered { input, .. } if input == second.input));

    // One that never reads anything at all.
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let deaf = w.spawn(fake("claude", "screen ready; ignore-input")).await.expect("spawns");
    let mut ev = Watch::new(sub, deaf.id);
    ev.output_until("? for shortcuts").await;
    let d = w.send(deaf.id, "hello?").await.expect("sent");
    assert!(!d.delivered, "{d:?}");
    w.stop(s.id).await.expect("stops");
    w.stop(deaf.id).await.expect("stops");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_to_a_shell_is_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(shell_spec()).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    ev.until("ready", |k| to_state(k, SessionState::Ready)).await;
    let d = w.send(s.id, "echo de$((20+1))livered").await.expect("sent");
    assert!(d.delivered, "{d:?}");
    ev.until("delivered", |k| matches!(k, EventKind::InputDelivered { input, .. } if *input == d.input)).await;
    ev.output_until("de21livered").await;
    w.send_nowait(s.id, "exit 0").await.expect("sent");
    assert_eq!(ev.exit().await.code, Some(0));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_not_typed_into_a_prompt_on_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(fake("codex", "screen permission; echo-input; expect-key enter; exit 0")).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    ev.until("the prompt", |k| matches!(k, EventKind::BlockingPrompt { .. })).await;
    let d = w.send(s.id, "yolo").await.expect("sent");
    assert!(!d.delivered && d.detail.contains("permission prompt"), "{d:?}");
    w.send_keys(s.id, &["enter"]).await.expect("keys");
    assert_eq!(ev.exit().await.code, Some(0));
    assert!(!ev.text().contains("yolo"), "the keystrokes reached the prompt: {}", ev.log());
    assert_eq!(ev.count(|k| matches!(k, EventKind::Input { via: InputVia::Paste | InputVia::Text, .. })), 0);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulted_observers_come_back_and_no_byte_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    const LINES: usize = 300;
    let script = format!(
        "for i in $(seq 1 {LINES}); do echo \"n=$i ........................................................\"; \
         sleep 0.005; done; read -p 'Proceed? [y/N] ' a; echo got-$a; printf 'ready$ '; read b; echo bye-$b"
    );
    let spec = SessionSpec::new("shell", "bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into())));
    let s = w.spawn(spec).await.expect("spawns");
    let pid = i32::try_from(s.pid.expect("pid")).expect("pid fits");
    let mut ev = Watch::new(sub, s.id);
    ev.output_until("n=20 ").await;
    w.inject_fault(s.id, ActorKind::StallDetector).await.expect("fault");
    w.inject_fault(s.id, ActorKind::AutoResponder).await.expect("fault");
    let mut restarted = BTreeSet::new();
    while restarted.len() < 2 {
        if let EventKind::ActorRestarted { actor, .. } =
            ev.until("actor restarts", |k| matches!(k, EventKind::ActorRestarted { .. })).await
        {
            restarted.insert(actor.as_str());
        }
    }
    let restarted_at = ev.seen.len();
    assert_eq!(restarted.into_iter().collect::<Vec<_>>(), vec!["auto_responder", "stall_detector"]);
    assert!(alive(pid), "the agent died with its observers");
    assert!(!ev.text().contains(&format!("n={LINES} ")), "the faults landed after the printing: {}", ev.log());
    // Both observers work again: the responder answers, the detector sees the prompt.
    let answered = ev.until("the answer", |k| matches!(k, EventKind::AutoResponded { .. })).await;
    assert!(ev.seen.len() > restarted_at && matches!(answered, EventKind::AutoResponded { .. }));
    ev.output_until("got-y").await;
    let ready = ev.until("ready", |k| to_state(k, SessionState::Ready)).await;
    assert!(matches!(ready, EventKind::StateChanged { provenance: Some(p), .. } if p.rule == "prompt"));
    w.send_nowait(s.id, "ok").await.expect("sent");
    let exit = ev.exit().await;
    assert_eq!(exit.code, Some(0));
    assert!(ev.text().contains("bye-ok"));
    assert_eq!(ev.count(|k| matches!(k, EventKind::ActorRestarted { .. })), 2, "{}", ev.log());
    // The transcript holds every byte, in order.
    let path = warden::actors::transcript::transcript_path(&w.config().state_dir, &s.id);
    let transcript = std::fs::read(&path).expect("transcript");
    assert_eq!(transcript, ev.output, "the transcript is the output, byte for byte");
    let text = String::from_utf8_lossy(&transcript);
    let counted: Vec<usize> =
        text.lines().filter_map(|l| l.strip_prefix("n=")?.split(' ').next()?.parse().ok()).collect();
    assert_eq!(counted, (1..=LINES).collect::<Vec<_>>(), "the counter is complete");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_is_restarted_up_to_the_limit_then_the_session_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    // It crashes while starting up.
    let mut spec = fake("shell", "print starting; sleep 100; print crash; exit 3").restart(RestartPolicy::OnFailure);
    spec.restart_limits = Some(RestartLimits {
        max_restarts: 2,
        window: Duration::from_secs(60),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        reset_after: Duration::from_secs(600),
    });
    let s = w.spawn(spec).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let exit = ev.exit().await;
    let waited = tokio::time::timeout(TIMEOUT, w.wait(s.id)).await.expect("wait returns").expect("exit");
    assert_eq!(exit, waited);
    assert_eq!((exit.code, exit.reason.as_str()), (Some(3), "failed"));
    let attempts: Vec<(u32, u64)> = ev
        .seen
        .iter()
        .filter_map(|k| {
            if let EventKind::Restarting { attempt, delay_ms, .. } = k { Some((*attempt, *delay_ms)) } else { None }
        })
        .collect();
    assert_eq!(attempts, vec![(1, 50), (2, 100)], "{}", ev.log());
    assert!(
        ev.seen
            .iter()
            .any(|k| matches!(k, EventKind::Restarting { reason, .. } if reason.contains("exited with code 3"))),
        "{}",
        ev.log()
    );
    let failed = ev.seen.iter().find(|k| to_state(k, SessionState::Failed)).expect("failed");
    let EventKind::StateChanged { reason, .. } = failed else { unreachable!() };
    assert!(reason.contains("exited with code 3") && reason.contains("restarts within"), "{reason:?}");
    // Three lives, each printed its last words.
    assert_eq!(ev.text().matches("crash").count(), 3, "{}", ev.log());
    assert_eq!(ev.count(|k| matches!(k, EventKind::SessionStarted { .. })), 3, "{}", ev.log());
    // Each output's offset is where the one before it ended, over the three
    // lives: a reader can tell output it missed.
    let mut next = 0;
    for k in &ev.seen {
        if let EventKind::Output(o) = k {
            assert_eq!(o.offset, next, "{}", ev.log());
            next = o.end();
        }
    }
    assert_eq!(next as usize, ev.output.len(), "{}", ev.log());
    assert_eq!(w.get(s.id).await.expect("info").state, SessionState::Failed);
    w.shutdown().await;
}

async fn state_of(w: &Warden, id: SessionId) -> SessionState {
    w.get(id).await.expect("info").state
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_ladder_restarts_the_agent_then_fails_if_it_stalls_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let mut spec = fake("claude", "screen busy; freeze spinner").stall_window(Duration::from_millis(200));
    spec.stall.loading_window_ms = Some(500);
    spec.restart_limits = Some(RestartLimits {
        max_restarts: 3,
        window: Duration::from_secs(60),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        reset_after: Duration::from_secs(600),
    });
    let s = w.spawn(spec).await.expect("spawns");
    let first_pid = s.pid;
    let mut ev = Watch::new(sub, s.id);
    let exit = ev.exit().await;
    assert_eq!(ladder_steps(&ev), vec!["0:notify", "1:keys", "2:nudge", "3:restart_resume", "4:fail"], "{}", ev.log());
    let step =
        |n: usize| position(&ev, |k| matches!(k, EventKind::Escalated { index, .. } if *index == n)).expect("step");
    let restarting = position(&ev, |k| matches!(k, EventKind::Restarting { .. })).expect("restarted");
    let second_life = position(&ev, |k| matches!(k, EventKind::SessionStarted { pid, .. } if Some(*pid) != first_pid))
        .expect("a second process");
    let stalls: Vec<usize> =
        ev.seen.iter().enumerate().filter(|(_, k)| matches!(k, EventKind::Stalled { .. })).map(|(i, _)| i).collect();
    // The restarted agent froze again: it stalled again, and only then was the session failed.
    assert_eq!(stalls.len(), 2, "{}", ev.log());
    assert!(step(3) < restarting && restarting < second_life, "{}", ev.log());
    assert!(second_life < stalls[1] && stalls[1] < step(4), "{}", ev.log());
    assert!(exit.code.is_none(), "killed: {exit:?}");
    assert_eq!(state_of(&w, s.id).await, SessionState::Failed);
    w.shutdown().await;
}

/// A session restarted after its process ended, with a back-off longer than
/// any wait here: the restart is the only way on.
/// Its process ends at the first line it reads.
fn restarted_after_a_long_back_off() -> SessionSpec {
    let mut spec = SessionSpec::new("shell", "sh").args(["-c", "read x; exit 1"]).restart(RestartPolicy::Always);
    spec.restart_limits = Some(RestartLimits {
        max_restarts: 3,
        window: Duration::from_secs(600),
        initial_backoff: Duration::from_secs(600),
        max_backoff: Duration::from_secs(600),
        reset_after: Duration::from_secs(600),
    });
    spec
}

/// Waits for the session of [`restarted_after_a_long_back_off`] to end, and
/// checks it ended failed, saying its last process's code, with one `error`.
async fn ended_failed_with_one_error(w: &Warden, ev: &mut Watch, id: SessionId) {
    let exit = ev.exit().await;
    assert_eq!(exit.reason.as_str(), "failed", "{}", ev.log());
    assert_eq!(exit.code, Some(1), "{}", ev.log());
    let errors = ev.seen.iter().filter(|k| matches!(k, EventKind::Error { .. })).count();
    assert_eq!(errors, 1, "{}", ev.log());
    assert_eq!(state_of(w, id).await, SessionState::Failed);
}

/// The stall detector's last escalation step fails the session. When that
/// lands after a process ended and before its supervisor was told to
/// restart it, the restart found the session failed and did nothing, and no
/// process was left whose exit would end it: the session stayed `failed`
/// with no `exited`, and `wait` never answered. It ends there now, saying
/// the last process's code, with one `error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_before_the_supervisor_hears_of_a_restart_ends_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(restarted_after_a_long_back_off()).await.expect("spawns");
    let hold = w.hold_respawns(s.id).await.expect("held");
    w.write(s.id, &b"end\r"[..]).await.expect("written");
    let mut ev = Watch::new(sub, s.id);
    ev.until("the restart", |k| matches!(k, EventKind::Restarting { .. })).await;
    w.fail_as_the_detector_does(s.id, "stalled: every escalation step was taken").await.expect("fails");
    drop(hold);
    ended_failed_with_one_error(&w, &mut ev, s.id).await;
    let waited = tokio::time::timeout(TIMEOUT, w.wait(s.id)).await.expect("wait answers").expect("ended");
    assert_eq!(waited.reason.as_str(), "failed");
    w.shutdown().await;
}

/// The same failure landing anywhere in the back-off between two lives (the
/// supervisor told or not yet) ends the session, failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_two_lives_ends_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    for _ in 0..10 {
        let sub = w.subscribe(Some(w.bus().next_seq()));
        let s = w.spawn(restarted_after_a_long_back_off()).await.expect("spawns");
        w.write(s.id, &b"end\r"[..]).await.expect("written");
        let mut ev = Watch::new(sub, s.id);
        ev.until("the restart", |k| matches!(k, EventKind::Restarting { .. })).await;
        w.fail_as_the_detector_does(s.id, "stalled: every escalation step was taken").await.expect("fails");
        ended_failed_with_one_error(&w, &mut ev, s.id).await;
    }
    w.shutdown().await;
}

/// A stop that comes while the agent is ending by itself, or between two
/// lives of a restart, ends the session. Before, a stop that
/// reached the process's actor after its exit, or the supervisor before it
/// knew of the exit, was dropped: the restart went ahead, and the stop
/// waited for a later life's end (here: the restart limit, a `failed` end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_as_the_agent_restarts_is_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut reasons = Vec::new();
    for i in 0..40u64 {
        // A process that ends at once, restarted after 1 ms, up to 200 times.
        let mut spec = SessionSpec::new("shell", "sh").args(["-c", "exit 1"]).restart(RestartPolicy::Always);
        spec.restart_limits = Some(RestartLimits {
            max_restarts: 200,
            window: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            reset_after: Duration::from_secs(600),
        });
        let s = w.spawn(spec).await.expect("spawns");
        // Somewhere in its lives: the stops fall at different points of one.
        tokio::time::sleep(Duration::from_micros(500 * (i % 7))).await;
        let exit = tokio::time::timeout(TIMEOUT, w.stop(s.id)).await.expect("the stop returns").expect("stopped");
        reasons.push(exit.reason.as_str().to_string());
    }
    // `exited` when the process had ended by itself just before the stop.
    assert!(reasons.iter().all(|r| r == "stopped" || r == "exited"), "{reasons:?}");
    w.shutdown().await;
}

/// The reported defect: a person who answered a pending prompt on the agent's
/// screen (an attached terminal's keys, with an Enter) left the confirmation
/// pending, because a line prompt's text stays on the screen; a caller's later
/// `confirm` then typed warden's answer into whatever the agent showed by then
/// (here: the shell, which ran `y`). Now the Enter resolves it `on_screen`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_answered_on_the_agents_screen_is_no_longer_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = shell_spec()
        .task(r#"read -p "Proceed? [y/N] " a; echo got-$a; read -p "next> " b; echo typed-$b"#)
        .rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into())))
        .supervision(SupervisionLevel::Confirm);
    let s = w.spawn(spec).await.expect("spawns");
    let mut ev = Watch::new(sub, s.id);
    let pending = ev.until("a pending confirmation", |k| matches!(k, EventKind::ConfirmationPending { .. })).await;
    let EventKind::ConfirmationPending { id, .. } = pending else { unreachable!() };
    // Arrows and letters answer nothing; the Enter does.
    w.write(s.id, &b"Y"[..]).await.expect("written");
    assert_eq!(w.pending_confirmations(s.id).await.expect("pending").len(), 1, "no Enter yet");
    w.write(s.id, &b"\r"[..]).await.expect("written");
    let resolved = ev.until("the resolution", |k| matches!(k, EventKind::ConfirmationResolved { .. })).await;
    let EventKind::ConfirmationResolved { id: rid, outcome, sent } = resolved else { unreachable!() };
    assert_eq!((rid.as_str(), outcome, sent), (id.as_str(), ConfirmationOutcome::OnScreen, None));
    ev.output_until("next> ").await;
    assert!(w.pending_confirmations(s.id).await.expect("pending").is_empty(), "{}", ev.log());
    let late = w.confirm(s.id, &id, None).await;
    assert!(matches!(late, Err(SessionError::UnknownConfirmation { .. })), "{late:?}");
    w.write(s.id, &b"end\r"[..]).await.expect("written");
    ev.output_until("typed-end").await;
    assert!(ev.text().contains("got-Y"), "{}", ev.log());
    w.shutdown().await;
}
