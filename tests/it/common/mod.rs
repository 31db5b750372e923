//! Helpers shared by the end-to-end tests: a warden per test, waiting for
//! events with timeouts (never sleeping and hoping), process checks.
#![allow(dead_code)]

pub mod nats;

use std::time::{Duration, Instant};

use warden::{EventKind, ExitInfo, SessionId, SessionSpec, Subscription, Warden, WardenConfig};

pub const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn start_warden(dir: &tempfile::TempDir) -> Warden {
    let mut config = WardenConfig::new(dir.path().join("state"));
    config.node = "test".into();
    config.stop_grace = Duration::from_millis(500);
    Warden::start(config).await.expect("warden starts")
}

/// An interactive bash without rc files and with a plain prompt.
pub fn shell_spec() -> SessionSpec {
    SessionSpec::new("shell", "bash").args(["--noprofile", "--norc", "-i"]).env("PS1", "$ ")
}

/// Output of one session, accumulated until `needle` appears; returns all text seen.
pub async fn wait_output(sub: &mut Subscription, id: SessionId, needle: &str) -> String {
    let mut text = String::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = sub.recv_timeout(left).await else {
            panic!("timed out waiting for {needle:?}; output so far: {text:?}");
        };
        if event.session != Some(id) {
            continue;
        }
        match &event.kind {
            EventKind::Output(o) => {
                text.push_str(&o.text_lossy());
                if text.contains(needle) {
                    return text;
                }
            }
            EventKind::Exited(exit) => panic!("exited ({exit:?}) before {needle:?}; output: {text:?}"),
            _ => {}
        }
    }
}

/// Bytes of one session until it exits, and how it exited.
pub async fn wait_exit(sub: &mut Subscription, id: SessionId) -> (Vec<u8>, ExitInfo) {
    let mut bytes = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = sub.recv_timeout(left).await else {
            panic!("timed out waiting for exit; output so far: {:?}", String::from_utf8_lossy(&bytes));
        };
        if event.session != Some(id) {
            continue;
        }
        match &event.kind {
            EventKind::Output(o) => bytes.extend_from_slice(&o.bytes),
            EventKind::Exited(exit) => return (bytes, exit.clone()),
            _ => {}
        }
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or the timeout passes.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// The first `NAME=<number>` in `text` (skipping `NAME=` not followed by
/// digits, such as the echo of the command that prints it).
pub fn find_number(text: &str, name: &str) -> Option<i32> {
    let key = format!("{name}=");
    text.match_indices(&key).find_map(|(at, _)| {
        let digits: String = text[at + key.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}
