//! A person's terminal: terminal queries answered by warden for detached sessions
//! (and not while a terminal is attached), and `warden run` in a real terminal (tmux):
//! keystrokes, ctrl+c, resizes, and the terminal left as it was.

use crate::common::*;
use warden::SessionSpec;

/// The fake agent asks for the cursor position after printing `abc` and prints what came back.
fn cpr_agent() -> SessionSpec {
    SessionSpec::new("fake", fake_agent()).args([
        "--persona",
        "shell",
        "--script-inline",
        r"raw abc\e[6n; expect-reply 1500; print reply={input}; raw \e]11\;?\e\\ ; expect-reply 1500; print colour={input}; exit 0",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_session_gets_its_terminal_queries_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(cpr_agent()).await.expect("spawns");
    let (bytes, exit) = wait_exit(&mut sub, s.id).await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(exit.code, Some(0), "{text}");
    // Row 1, column 4: just after `abc`, where the cursor was when it asked.
    assert!(text.contains("reply=^[[1;4R"), "{text:?}");
    assert!(text.contains("colour=^[]11;rgb:0000/0000/0000"), "{text:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_terminal_answers_instead_of_warden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = SessionSpec::new("fake", fake_agent()).args([
        "--persona",
        "shell",
        "--script-inline",
        r"print started; expect-line; raw \e[6n; expect-reply 3000; print reply={input}; exit 0",
    ]);
    let s = w.spawn(spec).await.expect("spawns");
    wait_output(&mut sub, s.id, "started").await;
    let attachment = w.attach_terminal(s.id).await.expect("attaches");
    w.write(s.id, &b"go\r"[..]).await.expect("typed");
    // Warden stays silent; the "terminal" (this test) answers, once.
    wait_output(&mut sub, s.id, "\x1b[6n").await;
    w.write(s.id, &b"\x1b[7;7R"[..]).await.expect("the terminal's reply");
    let (bytes, _) = wait_exit(&mut sub, s.id).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("reply=^[[7;7R"), "only the attached terminal's reply: {text:?}");
    drop(attachment);
    w.shutdown().await;
}
