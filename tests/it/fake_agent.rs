//! The fake agent under warden: it draws its persona's screens, waits for the
//! keys it is told to, animates its spinner, and exits with the status asked.

use crate::common::*;
use warden::{EventKind, SessionSpec, SupervisionLevel};

fn fake(persona: &str, script: &str) -> SessionSpec {
    SessionSpec::new(persona, fake_agent()).args(["--persona", persona, "--script-inline", script]).size(40, 120)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_screen_is_drawn_with_real_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    // Warden only watches here (the trust prompt is answered by the test, not by the adapter's rule).
    let spec = fake("claude", "screen trust; expect-key enter; exit 0").supervision(SupervisionLevel::Notify);
    let s = w.spawn(spec).await.expect("spawns");
    let text = wait_output(&mut sub, s.id, "Yes, I trust this folder").await;
    assert!(text.contains("Is this a project you created or one you trust?"), "{text:?}");
    // Cleared and positioned like the TUI, with a full-width rule.
    assert!(text.contains("\x1b[2J") && text.contains("\x1b[2;1H"), "{text:?}");
    assert!(text.contains(&"─".repeat(120)), "{text:?}");
    w.send_keys(s.id, &["enter"]).await.expect("keys");
    let (_, exit) = wait_exit(&mut sub, s.id).await;
    assert_eq!(exit.code, Some(0));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_key_enter_waits_for_enter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w
        .spawn(fake("shell", "screen ready; echo-input; expect-key enter; print got-enter; exit 0"))
        .await
        .expect("spawns");
    wait_output(&mut sub, s.id, "$ ").await;
    // Other keys are read (and echoed, so we know they arrived) without moving on.
    w.send_keys(s.id, &["down"]).await.expect("keys");
    w.write(s.id, b"zz7".to_vec()).await.expect("written");
    let text = wait_output(&mut sub, s.id, "zz7").await;
    assert!(!text.contains("got-enter"), "moved on before enter: {text:?}");
    w.send_keys(s.id, &["enter"]).await.expect("keys");
    wait_output(&mut sub, s.id, "got-enter").await;
    let (_, exit) = wait_exit(&mut sub, s.id).await;
    assert_eq!(exit.code, Some(0));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinner_keeps_redrawing_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(fake("claude", "screen busy; spinner 1200; exit 0")).await.expect("spawns");
    let (bytes, exit) = wait_exit(&mut sub, s.id).await;
    assert_eq!(exit.code, Some(0));
    let text = String::from_utf8_lossy(&bytes);
    // One redraw of the spinner row per frame (80 ms), each saving and restoring the cursor.
    let redraws = text.matches("\x1b7\x1b[7;1H\x1b[2K").count();
    assert!(redraws >= 8, "{redraws} redraws: {text:?}");
    let glyphs = ["·", "✢", "✳", "✶", "✻", "✽"].iter().filter(|g| text.contains(&format!("{g} Working…"))).count();
    assert!(glyphs >= 4, "only {glyphs} spinner glyphs: {text:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_is_the_one_scripted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(fake("codex", "screen ready; exit 3")).await.expect("spawns");
    let (bytes, exit) = wait_exit(&mut sub, s.id).await;
    assert_eq!(exit.code, Some(3));
    assert!(String::from_utf8_lossy(&bytes).contains("Ask Codex to do anything"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_life_with_a_permission_prompt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let script = "screen ready; expect-line; screen busy; spinner 200; screen permission; expect-key enter; \
                  screen busy; spinner 200; screen done; title ◇  Ready; expect-key ctrl+d; screen exited; exit 0";
    let s = w.spawn(fake("gemini", script)).await.expect("spawns");
    wait_output(&mut sub, s.id, "Type your message or @path/to/file").await;
    w.send(s.id, "fix the bug").await.expect("sent");
    // The line typed shows up in the busy screen, then the prompt.
    wait_output(&mut sub, s.id, "> fix the bug").await;
    wait_output(&mut sub, s.id, "Allow execution of").await;
    w.send_keys(s.id, &["enter"]).await.expect("keys");
    wait_output(&mut sub, s.id, "Done: the change is in place.").await;
    w.send_keys(s.id, &["ctrl+d"]).await.expect("keys");
    let (bytes, exit) = wait_exit(&mut sub, s.id).await;
    assert_eq!(exit.code, Some(0));
    assert!(String::from_utf8_lossy(&bytes).contains("Agent powering down. Goodbye!"));
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_input_swallows_what_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(fake("pi", "screen ready; print ignoring; ignore-input")).await.expect("spawns");
    wait_output(&mut sub, s.id, "ignoring").await;
    w.send(s.id, "hello?").await.expect("sent");
    // Raw mode: no terminal echo either. The agent is still there after a stop is asked.
    w.send(s.id, "marker-after").await.expect("sent");
    let exit = w.stop(s.id).await.expect("stops");
    let mut text = String::new();
    while let Some(event) = sub.recv_timeout(std::time::Duration::from_millis(200)).await {
        if let EventKind::Output(o) = &event.kind
            && event.session == Some(s.id)
        {
            text.push_str(&o.text_lossy());
        }
    }
    assert!(!text.contains("hello?") && !text.contains("marker-after"), "{text:?}");
    assert_eq!(exit.reason, "stopped");
    w.shutdown().await;
}

#[test]
fn a_bad_script_exits_2_with_a_message() {
    let out = std::process::Command::new(fake_agent())
        .args(["--persona", "aider", "--script-inline", "screen ready; sleep soon"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("step 2") && err.contains("milliseconds"), "{err}");
    assert!(out.stdout.is_empty(), "drew before refusing: {:?}", out.stdout);
}
