//! The session's supervision actors end to end: auto-response rules, stall
//! detection, acknowledged input, restarts (real PTYs and processes).

mod common;

use std::time::Duration;

use common::{TIMEOUT, shell_spec, start_warden};
use warden::{EventKind, Reply, ResponseRule, SessionState};

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
