//! The `warden` command line, run as a real process.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use crate::common::binary::warden_cmd;
use crate::common::{TIMEOUT, alive, eventually, find_number};

#[test]
fn run_json_prints_events_and_exits_with_the_agents_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = warden_cmd(dir.path())
        .args(["run", "--agent", "shell", "--json", "--task", "echo hello; exit 3"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.len() >= 3);
    let mut last_seq = 0;
    for l in &lines {
        let seq = l["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "seq increases");
        last_seq = seq;
        assert!(l["session"].is_string(), "session on every line: {l}");
        assert!(l["kind"].is_string(), "kind on every line: {l}");
    }
    assert!(
        lines.iter().any(|l| l["kind"] == "output" && l["data"].as_str().is_some_and(|d| d.contains("hello"))),
        "an output event carries hello"
    );
    let last = lines.last().expect("lines");
    assert_eq!(last["kind"], "exited");
    assert_eq!(last["code"], 3);
}

#[test]
fn run_shows_the_terminal_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = warden_cmd(dir.path())
        .args(["run", "--agent", "shell", "--task", "echo plain-$((2*21)); exit 0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("plain-42"));
}

#[test]
fn bad_input_gives_one_line_errors_without_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], i32, &str); 4] = [
        (&["run", "--agent", "nope", "--task", "x"], 125, "unknown agent type `nope`"),
        (&["run", "--program", "/definitely/not/a/program", "--task", "x"], 127, "not found"),
        (&["run", "--agent", "shell", "--workdir", "/definitely/not/here", "--task", "x"], 125, "does not exist"),
        (&["run", "--agent", "shell", "--env", "NOEQUALS", "--task", "x"], 125, "NAME=VALUE"),
    ];
    for (args, code, needle) in cases {
        let out = warden_cmd(dir.path()).args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.starts_with("warden: ") && stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    }
}

#[test]
fn keys_lists_the_named_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = warden_cmd(dir.path()).arg("keys").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for key in ["enter", "ctrl+c", "shift+tab", "f12", "ctrl+shift+up"] {
        assert!(text.lines().any(|l| l == key), "{key} listed");
    }
}

/// SIGKILL of warden: the agent dies with it at once (parent-death signal);
/// what the agent had put in other process groups is killed by the next
/// warden that starts on the same state directory.
#[test]
fn sigkill_of_warden_leaves_no_agent_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = warden_cmd(dir.path())
        .args([
            "run",
            "--agent",
            "shell",
            "--json",
            "--task",
            "sleep 1000 & echo BG=$!; echo READY-$((1+1)); sleep 1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut agent, mut session, mut text) = (None, None, String::new());
    while !(agent.is_some() && text.contains("READY-2")) {
        let line = rx.recv_timeout(TIMEOUT).expect("warden prints events");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        if v["kind"] == "session_started" {
            agent = v["pid"].as_i64().map(|p| p as i32);
            session = v["session"].as_str().map(str::to_owned);
        }
        if let Some(d) = v["data"].as_str() {
            text.push_str(d);
        }
    }
    let agent = agent.expect("agent pid");
    let session = session.expect("session id");
    let bg = find_number(&text, "BG").expect("background pid");
    assert!(alive(agent) && alive(bg));

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        assert!(eventually(|| !alive(agent)).await, "agent {agent} outlived warden");
        // A new warden on the same state directory ends what was left behind.
        let w = warden::Warden::start(warden::WardenConfig::new(dir.path())).await.expect("starts");
        assert!(eventually(|| !alive(bg)).await, "background job {bg} survived");
        let marker = format!("WARDEN_SESSION_ID={session}");
        let leftovers = || {
            std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
                .filter(|pid| alive(*pid))
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == marker.as_bytes()))
                })
                .count()
        };
        assert!(eventually(|| leftovers() == 0).await, "processes of the session remain");
        w.shutdown().await;
    });
}
