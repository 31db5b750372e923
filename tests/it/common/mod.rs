//! Helpers shared by the end-to-end tests: a warden per test, waiting for
//! events with timeouts (never sleeping and hoping), process checks.
#![allow(dead_code)]

pub mod binary;
pub mod git;
// SIGTERM to the nats-server, so it can flush JetStream (libc::kill).
#[allow(unsafe_code)]
pub mod nats;
pub mod node;

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

/// The short id warden accepts for `id`: its last 8 characters without dashes.
pub fn short(id: &str) -> String {
    let hex = id.replace('-', "");
    hex[hex.len() - 8..].to_string()
}

/// Polls `cond` every 20 ms, blocking the thread, until it holds or `limit` passes.
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
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

/// The path of the `fake-agent` binary, built (or found up to date) once per test run.
///
/// The fake agent is its own unpublished crate (`crates/fake-agent`), so that
/// `cargo install` of warden never installs it. Cargo only gives a test
/// `CARGO_BIN_EXE_<name>` for binaries of the test's own package, and stable
/// Cargo has no artifact dependencies, so this helper asks the cargo that
/// built the tests (`env!("CARGO")`) to build `warden-fake-agent` into the
/// same target directory and profile as this test binary
/// (`target/<profile>/deps/it-…` → `target/<profile>/fake-agent`). Cargo has
/// released its build lock by the time tests run; when the binary is already
/// fresh (`cargo test --workspace` built it) this is a quick no-op, and a
/// `cargo test -p warden` after an edit of the fake agent still runs the new one.
pub fn fake_agent() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(build_fake_agent)
}

fn build_fake_agent() -> String {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir =
        exe.parent().and_then(std::path::Path::parent).expect("the test binary is in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("the profile directory is in a target directory");
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--package", "warden-fake-agent", "--bin", "fake-agent", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
        None => panic!("no profile directory above {}", exe.display()),
    }
    let status = cargo.status().expect("cargo runs to build fake-agent");
    assert!(status.success(), "cargo build -p warden-fake-agent failed: {status}");
    let path = profile_dir.join("fake-agent");
    assert!(path.is_file(), "fake-agent not at {} after building it", path.display());
    path.into_os_string().into_string().expect("the target directory's path is UTF-8")
}

/// Resident memory of a process, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status of the node");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}
