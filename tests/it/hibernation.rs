//! Observers hibernate: a session whose screen is idle with nothing armed
//! stops its stall detector and auto-responder (their memory stays in the
//! session core), and the next output, input or rule wakes them with
//! nothing lost.

use std::time::{Duration, Instant};

use crate::common::{TIMEOUT, fake_agent, shell_spec, start_warden, wait_output};
use warden::{EventKind, Reply, ResponseRule, SessionId, SessionSpec, Warden};

/// Waits (bounded) until the session's observers sleep.
async fn until_asleep(w: &Warden, id: SessionId) {
    let deadline = Instant::now() + TIMEOUT;
    while w.observers_awake(id).await.expect("session is live") {
        assert!(Instant::now() < deadline, "the observers of an idle session never hibernated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_prompt_hibernates_and_the_next_question_is_still_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(None);
    let spec = shell_spec().rule(ResponseRule::new(r"Proceed\? \[y/N\]", Reply::Text("y".into())));
    let s = w.spawn(spec).await.expect("spawn");
    wait_output(&mut sub, s.id, "$ ").await;
    until_asleep(&w, s.id).await;
    // `send` notes what warden typed, so the echo of the command line is
    // not taken for the question.
    w.send(s.id, "read -p 'Proceed? [y/N] ' a; echo got-$a").await.expect("send");
    let text = wait_output(&mut sub, s.id, "got-y").await;
    assert!(text.contains("got-y"), "{text}");
    assert!(w.observers_awake(s.id).await.expect("live"), "input and output woke the observers");
    w.stop(s.id).await.expect("stop");
    let mut all = w.subscribe(Some(0));
    let mut answered = 0;
    loop {
        let e = all.recv_timeout(TIMEOUT).await.expect("the session's events from the start");
        if e.session != Some(s.id) {
            continue;
        }
        match e.kind {
            EventKind::AutoResponded { .. } => answered += 1,
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    assert_eq!(answered, 1, "one question, one answer");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_screen_is_reported_once_across_hibernation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(None);
    let spec = SessionSpec::new("codex", fake_agent())
        .args(["--persona", "codex", "--script-inline", "screen login; expect-line; screen login; sleep 300; exit 0"])
        .size(40, 120);
    let s = w.spawn(spec).await.expect("spawn");
    let mut logins = 0;
    loop {
        let e = sub.recv_timeout(TIMEOUT).await.expect("login_required");
        if e.session == Some(s.id) && matches!(e.kind, EventKind::LoginRequired { .. }) {
            logins += 1;
            break;
        }
    }
    until_asleep(&w, s.id).await;
    // The agent redraws the same login screen: the woken detector remembers it.
    w.send_nowait(s.id, "x").await.expect("send");
    loop {
        let e = sub.recv_timeout(TIMEOUT).await.expect("events until exit");
        if e.session != Some(s.id) {
            continue;
        }
        match e.kind {
            EventKind::LoginRequired { .. } => logins += 1,
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    assert_eq!(logins, 1, "one login screen, one login_required");
    w.shutdown().await;
}
