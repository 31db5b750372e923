//! `warden run` with supervision: rules, stalls, loading patterns, timeouts, the final
//! screen, pending confirmations (printed, and answered from a terminal), endings on
//! login and provider screens, agent selection, presets, and generic adapters from a
//! TOML file. The binary runs as a real process, its agents in real PTYs.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::binary::warden_cmd;
use crate::common::{TIMEOUT, fake_agent};
use serde_json::Value;

/// Runs to the end, or kills it and fails the test after [`TIMEOUT`] × 2.
fn output(cmd: &mut Command) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("warden starts");
    finish(child)
}

fn finish(child: Child) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT * 2) {
        Ok(out) => out.expect("waited"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("warden did not finish within {:?}", TIMEOUT * 2);
        }
    }
}

/// The JSON lines of stdout.
fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["kind"].as_str()).filter(|k| *k != "output").collect()
}

fn output_text(events: &[Value]) -> String {
    events.iter().filter(|e| e["kind"] == "output").filter_map(|e| e["data"].as_str()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn position(events: &[Value], kind: &str) -> Option<usize> {
    events.iter().position(|e| e["kind"] == kind)
}

#[test]
fn a_rule_answers_the_prompt_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let task = r#"read -p "Proceed? [y/N] " a; echo got-$a; exit 0"#;
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--rule",
        r"Proceed\? \[y/N\]=y",
        "--task",
        task,
    ]));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    assert!(output_text(&ev).contains("got-y"), "{}", output_text(&ev));
    // The pattern also matches the echo of the typed command line, which may be answered
    // too (typed ahead, read by `read` just the same): at least one answer, each of them `y`.
    let answers: Vec<&Value> = ev.iter().filter(|e| e["kind"] == "auto_responded").collect();
    assert!(!answers.is_empty(), "{:?}", kinds(&ev));
    for a in answers {
        assert_eq!((a["sent"].as_str(), a["source"].as_str()), (Some("y"), Some("session")), "{a}");
    }

    // Without --json: the terminal on stdout, a note on stderr.
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--rule",
        r"Proceed\? \[y/N\]=y",
        "--task",
        task,
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("got-y"));
    let err = stderr(&out);
    assert!(err.lines().any(|l| l.starts_with("warden: auto-answered \"Proceed? [y/N]\" with y")), "{err}");
}

#[test]
fn a_silent_task_is_reported_stalled_before_it_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--stall-ms",
        "500",
        "--task",
        "sleep 3; exit 0",
    ]));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let stalled = position(&ev, "stalled").unwrap_or_else(|| panic!("no stalled event: {:?}", kinds(&ev)));
    let exited = position(&ev, "exited").expect("exited");
    assert!(stalled < exited, "{:?}", kinds(&ev));
    assert!(ev[stalled]["window_ms"].as_u64() == Some(500), "{}", ev[stalled]);
}

#[test]
fn a_spinner_matching_a_loading_pattern_is_not_stalled() {
    let dir = tempfile::tempdir().expect("tempdir");
    // About 3 s of a spinner redrawn in place, then the task ends by itself.
    let spinner =
        r#"i=0; while [ $i -lt 15 ]; do printf '\r|'; sleep 0.1; printf '\r/'; sleep 0.1; i=$((i+1)); done; exit 0"#;
    let run = |loading: bool| {
        let mut cmd = warden_cmd(dir.path());
        cmd.args(["run", "--agent", "shell", "--json", "--stall-ms", "500", "--task", spinner]);
        if loading {
            cmd.args(["--loading", "^[|/]$"]);
        }
        output(&mut cmd)
    };
    let out = run(true);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    assert!(output_text(&ev).matches('|').count() >= 10, "the spinner turned");
    assert_eq!(position(&ev, "stalled"), None, "{:?}", kinds(&ev));
    // The same spinner without the pattern: a turning glyph is no progress.
    let out = run(false);
    let ev = events(&out);
    assert!(position(&ev, "stalled").is_some(), "without --loading the spinner counts as stalled: {:?}", kinds(&ev));
}

#[test]
fn timeout_stops_the_agent_and_exits_124() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--timeout",
        "1",
        "--task",
        "echo started; sleep 100",
    ]));
    assert_eq!(out.status.code(), Some(124), "stderr: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert!(stderr(&out).contains("warden: timed out after 1s; the agent was stopped"), "{}", stderr(&out));
    let ev = events(&out);
    let last = ev.last().expect("events");
    assert_eq!((last["kind"].as_str(), last["reason"].as_str()), (Some("exited"), Some("stopped")));
}

#[test]
fn screen_prints_the_final_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let task = "clear; echo screen-$((6*7)); exit 0";
    let args = ["run", "--agent", "shell", "--screen", "--rows", "6", "--cols", "40", "--task", task];
    let out = output(warden_cmd(dir.path()).args(args).arg("--json"));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let last = ev.last().expect("events");
    assert_eq!(last["kind"], "screen");
    assert!(last["session"].is_string() && last["rows"] == 6 && last["cursor_row"].is_u64(), "{last}");
    let text = last["text"].as_str().expect("text");
    assert!(text.lines().any(|l| l == "screen-42"), "{text:?}");
    assert!(!text.contains('\x1b') && !text.contains('\r'), "plain text: {text:?}");
    assert_eq!(ev[ev.len() - 2]["kind"], "exited", "the screen comes after the events");

    // Without --json: the terminal output, then the same screen as plain lines.
    let out = output(warden_cmd(dir.path()).args(args));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("screen-42\r\n"), "the terminal output: {stdout:?}");
    let shown = text.trim_end();
    assert!(stdout.ends_with(&format!("\n{shown}\n")), "{stdout:?} ends with the screen {shown:?}");
}

#[test]
fn pending_confirmations_are_printed_when_stdin_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--supervision",
        "confirm",
        "--rule",
        r"^Proceed\? \[y/N\]=y",
        "--timeout",
        "2",
        "--task",
        r#"read -p "Proceed? [y/N] " a; echo got-$a; exit 0"#,
    ]));
    assert_eq!(out.status.code(), Some(124), "nothing answered it: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.lines().any(|l| l == "warden: c1 pending (rule): Proceed? [y/N] — suggested: y"), "{err}");
    assert!(!err.contains("answer c1"), "no answer is asked for without a terminal: {err}");
    let ev = events(&out);
    assert!(position(&ev, "confirmation_pending").is_some(), "{:?}", kinds(&ev));
    assert_eq!(position(&ev, "auto_responded"), None);
    assert!(!output_text(&ev).contains("got-y"));
}

/// Kills a process when dropped unless disarmed, so a failing test leaves no warden behind.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A pseudo-terminal pair (master, slave) from openpty(3).
fn pty_pair() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the ints we pass; the rest may be null.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn pending_confirmations_are_answered_from_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (master, slave) = pty_pair();
    let mut child = warden_cmd(dir.path())
        .args([
            "run",
            "--agent",
            "shell",
            "--json",
            "--supervision",
            "confirm",
            // Anchored, so the echo of the command line does not match.
            "--rule",
            r"^Proceed\? \[y/N\]=y",
            "--rule",
            r"^Again\? \[y/N\]=y",
            "--task",
            r#"read -p "Proceed? [y/N] " a; read -p "Again? [y/N] " b; echo got-$a-$b; exit 0"#,
        ])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("warden starts");
    let mut guard = KillOnDrop(Some(child.id() as i32));
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr_seen = Vec::new();
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("no {needle:?} on stderr: {stderr_seen:?}"));
            stderr_seen.push(line.clone());
            if line.contains(needle) {
                return;
            }
        }
    };
    let mut terminal = std::fs::File::from(master);
    wait_for("warden: c1 pending (rule): Proceed? [y/N] — suggested: y");
    wait_for("warden: answer c1: Enter sends the suggestion");
    terminal.write_all(b"\n").expect("typed Enter");
    wait_for("warden: c1 answered with the suggestion");
    wait_for("warden: c2 pending (rule): Again? [y/N]");
    terminal.write_all(b"sure\n").expect("typed a reply");
    wait_for("warden: c2 answered: sure");
    let out = finish(child);
    guard.0 = None;
    let text = reader.join().expect("stdout read");
    assert_eq!(out.status.code(), Some(0));
    let ev: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert!(output_text(&ev).contains("got-y-sure"), "{}", output_text(&ev));
    let resolved: Vec<(&str, &str)> = ev
        .iter()
        .filter(|e| e["kind"] == "confirmation_resolved")
        .map(|e| (e["id"].as_str().unwrap_or(""), e["sent"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(resolved, vec![("c1", "y"), ("c2", "sure")]);
    drop(terminal);
}

/// `warden run --agent <persona> --program fake-agent --json -- <script>`.
fn fake_run(state: &Path, persona: &str, script: &str, extra: &[&str]) -> Output {
    let mut cmd = warden_cmd(state);
    cmd.args(["run", "--agent", persona, "--program", fake_agent(), "--json"]).args(extra);
    cmd.args(["--", "--persona", persona, "--script-inline", script]);
    output(&mut cmd)
}

#[test]
fn notify_types_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--supervision",
        "notify",
        "--rule",
        r"^Proceed\? \[y/N\]=y",
        "--timeout",
        "1.5",
        "--task",
        r#"read -p "Proceed? [y/N] " a; echo got-$a; exit 0"#,
    ]));
    assert_eq!(out.status.code(), Some(124), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("timed out after 1.5s"), "{}", stderr(&out));
    let ev = events(&out);
    assert_eq!(position(&ev, "auto_responded"), None, "{:?}", kinds(&ev));
    assert_eq!(position(&ev, "confirmation_pending"), None, "{:?}", kinds(&ev));
    let typed: Vec<&Value> = ev.iter().filter(|e| e["kind"] == "input").collect();
    assert_eq!(typed.len(), 1, "only the task was typed: {typed:?}");
}

#[test]
fn restart_on_failure_restarts_until_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = output(warden_cmd(dir.path()).args([
        "run",
        "--agent",
        "shell",
        "--json",
        "--restart",
        "on-failure",
        "--program",
        "/bin/sh",
        "--",
        "-c",
        "echo life; exit 3",
    ]));
    assert_eq!(out.status.code(), Some(3), "the last life's status: {}", stderr(&out));
    let ev = events(&out);
    let restarts: Vec<(u64, u64)> = ev
        .iter()
        .filter(|e| e["kind"] == "restarting")
        .map(|e| (e["attempt"].as_u64().unwrap_or(0), e["delay_ms"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(restarts, vec![(1, 1000), (2, 2000), (3, 4000)], "a growing back-off, then the limit");
    assert_eq!(ev.iter().filter(|e| e["kind"] == "session_started").count(), 4);
    assert_eq!(output_text(&ev).matches("life").count(), 4);
    let last = ev.last().expect("events");
    assert_eq!((last["kind"].as_str(), last["reason"].as_str()), (Some("exited"), Some("failed")));
}

#[test]
fn a_login_screen_ends_the_run_with_121_and_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = fake_run(dir.path(), "claude", "screen trust; expect-key enter; screen login; sleep 100000", &[]);
    assert_eq!(out.status.code(), Some(121), "stderr: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15));
    let ev = events(&out);
    // The trust prompt on the way was answered (the standard preset allows it), then the login ended the run.
    let auto = position(&ev, "auto_responded").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    assert_eq!(ev[auto]["rule"], "claude/trust-folder");
    let login = position(&ev, "login_required").expect("login_required");
    assert!(auto < login);
    assert!(ev[login]["choices"].as_array().is_some_and(|c| c.len() == 3), "{}", ev[login]);
    assert_eq!(ev.last().map(|e| e["kind"].clone()), Some(Value::from("exited")), "events first");
    let err = stderr(&out);
    assert!(err.contains("warden: Claude Code needs a login: Select login method:"), "{err}");
    assert!(err.contains("Claude account with subscription"), "{err}");
    assert!(
        err.contains("log in by running `claude` once in a terminal") && err.contains("ANTHROPIC_API_KEY"),
        "{err}"
    );
}

#[test]
fn a_login_screen_that_passes_does_not_end_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Drawn for a moment while the CLI starts (as Gemini CLI does), then replaced.
    let script = "screen login; sleep 300; screen trust; expect-key enter; print past-the-trust-dialog; exit 0";
    let out = fake_run(dir.path(), "claude", script, &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let login = position(&ev, "login_required").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    let auto = position(&ev, "auto_responded").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    assert!(login < auto);
    assert!(output_text(&ev).contains("past-the-trust-dialog"));
    assert!(!stderr(&out).contains("needs a login"), "{}", stderr(&out));
}

#[test]
fn an_unreachable_provider_ends_the_run_with_122() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out =
        fake_run(dir.path(), "codex", "screen ready; expect-line; screen unreachable; sleep 100000", &["--task", "hi"]);
    assert_eq!(out.status.code(), Some(122), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let prompt = position(&ev, "blocking_prompt").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    assert_eq!(ev[prompt]["prompt_kind"], "provider_unreachable");
    let err = stderr(&out);
    assert!(err.contains("warden: OpenAI Codex CLI cannot reach its provider:"), "{err}");
    assert!(err.contains("check the network"), "{err}");
}

#[test]
fn an_unsafe_prompt_waits_and_other_prompts_are_answered_as_the_preset_allows() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Claude's permission prompt is never answered by itself: a pending confirmation.
    let out = fake_run(
        dir.path(),
        "claude",
        "screen ready; screen permission; expect-key enter; exit 0",
        &["--timeout", "3"],
    );
    assert_eq!(out.status.code(), Some(124), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let pending = position(&ev, "confirmation_pending").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    assert_eq!(ev[pending]["prompt_kind"], "permission");
    assert!(stderr(&out).contains("warden: c1 pending (permission):"), "{}", stderr(&out));
    // Under readonly even the trust prompt (answered from standard up) waits for a person.
    let work = tempfile::tempdir().expect("workdir");
    let workdir = work.path().to_str().expect("utf8");
    let out = fake_run(
        dir.path(),
        "claude",
        "screen trust; expect-key enter; exit 0",
        &["--timeout", "3", "--preset", "readonly", "--workdir", workdir],
    );
    assert_eq!(out.status.code(), Some(124), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let pending = position(&ev, "confirmation_pending").unwrap_or_else(|| panic!("{:?}", kinds(&ev)));
    assert_eq!(ev[pending]["prompt_kind"], "trust");
    assert_eq!(position(&ev, "auto_responded"), None, "{:?}", kinds(&ev));
}

#[test]
fn the_agent_is_chosen_from_what_is_installed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(&home).expect("home");
    let run = |path: &Path, task: &str| {
        let mut cmd = warden_cmd(&dir.path().join("state"));
        cmd.env_clear().env("PATH", path).env("HOME", &home).env("SHELL", "/bin/sh");
        cmd.args(["run", "--task", task]);
        output(&mut cmd)
    };
    // Nothing installed: the shell.
    let out = run(&bin, "echo picked-$((6*7)); exit 0");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().next(), Some("warden: agent shell (no agent CLI is installed on PATH)"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("picked-42"));

    // A `claude` on PATH: claude, started with the task as its argument and its environment.
    let script = bin.join("claude");
    std::fs::write(&script, "#!/bin/sh\necho \"fake-claude [$DISABLE_AUTOUPDATER] $*\"\nexit 0\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let out = run(&bin, "say hi");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("warden: agent claude (claude is installed"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("fake-claude")).unwrap_or_else(|| panic!("{stdout:?}"));
    assert!(line.starts_with("fake-claude [1] ") && line.trim_end().ends_with(" say hi"), "{line}");
    assert!(line.contains("--permission-mode"), "the standard preset's flags: {line}");

    // With codex installed too, a subscription hint decides.
    let script = bin.join("codex");
    std::fs::write(&script, "#!/bin/sh\necho \"fake-codex $*\"\nexit 0\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut cmd = warden_cmd(&dir.path().join("state"));
    cmd.env_clear().env("PATH", &bin).env("HOME", &home).env("WARDEN_SUBSCRIPTION", "openai-subscription");
    let out = output(cmd.args(["run", "--task", "hi"]));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("warden: agent codex (subscription hint `openai-subscription` points to codex"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("fake-codex --no-daemon"), "{}", stderr(&out));
}

#[test]
fn credentials_pass_through_by_name_and_are_not_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "sk-ant-test-4242";
    let run = |agent: &str| {
        let mut cmd = warden_cmd(dir.path());
        cmd.env("ANTHROPIC_API_KEY", secret).args(["run", "--agent", agent, "--json", "--program", "/bin/sh"]);
        output(cmd.args(["--", "-c", "echo key=${ANTHROPIC_API_KEY:-none}; exit 0"]))
    };
    let out = run("claude");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    assert!(output_text(&ev).contains(&format!("key={secret}")), "claude's adapter passes its key through");
    let not_output: String = ev.iter().filter(|e| e["kind"] != "output").map(|e| e.to_string()).collect();
    assert!(!not_output.contains(secret) && !stderr(&out).contains(secret), "never printed by warden");
    let out = run("shell");
    assert!(output_text(&events(&out)).contains("key=none"), "the shell adapter does not pass it");
}

#[test]
fn a_generic_adapter_from_a_toml_file_detects_its_ready_prompt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("myprompt.toml");
    std::fs::write(
        &manifest,
        r#"name = "myprompt"
program = "sh"
args = ["-c", "printf 'myprompt> '; read x; echo got $x; exit 0"]
task = "send"

[[rules]]
id = "myprompt-ready"
state = "ready"
pattern = '^myprompt>\s*$'
region = "bottom:1"
"#,
    )
    .expect("manifest");
    let out = output(
        warden_cmd(dir.path())
            .args(["run", "--adapter-file"])
            .arg(&manifest)
            .args(["--agent", "myprompt", "--json", "--task", "hello"]),
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let ev = events(&out);
    let ready = ev
        .iter()
        .find(|e| e["kind"] == "state_changed" && e["to"] == "ready")
        .unwrap_or_else(|| panic!("never ready: {:?}", kinds(&ev)));
    assert_eq!(ready["provenance"]["adapter"], "myprompt");
    assert_eq!(ready["provenance"]["rule"], "myprompt-ready");
    assert_eq!(ready["provenance"]["evidence"], "myprompt>");
    // The task was typed once the prompt was ready.
    assert!(output_text(&ev).contains("got hello"), "{}", output_text(&ev));
    assert_eq!(ev[0]["agent"], "myprompt");
}

#[test]
fn an_explicit_preset_writes_its_config_files_and_never_over_yours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work");
    let settings = work.join(".claude/settings.local.json");
    let run = |preset: Option<&str>| {
        let mut cmd = warden_cmd(&dir.path().join("state"));
        cmd.args(["run", "--agent", "claude", "--program", "/bin/sh", "--workdir"]).arg(&work);
        if let Some(p) = preset {
            cmd.args(["--preset", p]);
        }
        cmd.args(["--", "-c", "echo listing; ls -A; exit 0"]);
        output(&mut cmd)
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(!work.join(".claude").exists(), "nothing written without --preset");

    let out = run(Some("readonly"));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("warden: wrote .claude/settings.local.json (preset readonly)"), "{}", stderr(&out));
    let written = std::fs::read_to_string(&settings).expect("written");
    assert!(written.contains("\"defaultMode\": \"plan\""), "{written}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(".claude"), "written before the agent started");

    std::fs::write(&settings, "{\"mine\": true}\n").expect("user file");
    let out = run(Some("permissive"));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("warden: kept your .claude/settings.local.json"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).expect("kept"), "{\"mine\": true}\n");
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "name = \"x\"\nprogram = \n").expect("toml");
    let no_program = dir.path().join("noprogram.toml");
    std::fs::write(&no_program, "name = \"x\"\n").expect("toml");
    let bad = bad_toml.to_str().expect("utf8");
    let incomplete = no_program.to_str().expect("utf8");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--rule", "no equals"], "--rule: rule `no equals` has no `=`"),
        (vec!["--rule", "x=keys:warp"], "--rule `x=keys:warp`"),
        (vec!["--rule", "a[=y"], "unclosed character class"),
        (vec!["--loading", "("], "loading pattern"),
        (vec!["--stall-ms", "soon"], "--stall-ms expects a whole number"),
        (vec!["--restart", "sometimes"], "--restart expects never, on-failure or always"),
        (vec!["--supervision", "lax"], "--supervision expects autonomous, confirm or notify"),
        (vec!["--preset", "yolo!"], "--preset expects readonly, standard, permissive or autonomous"),
        (vec!["--timeout=-3"], "--timeout expects a number of seconds"),
        (vec!["--adapter-file", "/definitely/not/here.toml"], "cannot read adapter manifest"),
        (vec!["--adapter-file", bad], "line 2, column"),
        (vec!["--adapter-file", incomplete], "`program` is missing"),
        (vec!["--agent", "nope"], "unknown agent type `nope`"),
        (vec!["--rows", "tall"], "--rows expects a number of cells from 1 to 4096"),
        (vec!["--cols", "0"], "--cols expects a number of cells"),
    ];
    for (flags, needle) in cases {
        let mut cmd = warden_cmd(dir.path());
        cmd.arg("run").args(&flags).args(["--task", "exit 0"]);
        if !flags.contains(&"--agent") {
            cmd.args(["--agent", "shell"]);
        }
        let out = output(&mut cmd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flags:?}: one line: {err}");
        assert!(err.starts_with("warden: ") && err.contains(needle), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn memory_instructions_are_appended_to_the_agents_memory_file() {
    let state = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("workdir");
    std::fs::write(work.path().join("CLAUDE.md"), "# mine\n").expect("seed");
    let workdir = work.path().to_string_lossy().into_owned();
    let extra = ["--workdir", workdir.as_str(), "--memory", "Run the tests before you commit."];
    let out = fake_run(state.path(), "claude", "print hello; exit 0", &extra);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let memory = std::fs::read_to_string(work.path().join("CLAUDE.md")).expect("memory file");
    assert!(memory.starts_with("# mine\n") && memory.contains("Run the tests before you commit."), "{memory:?}");
    assert!(stderr(&out).contains("appended the instructions to CLAUDE.md"), "{}", stderr(&out));
    // A shell has no memory file: a one-line error, nothing started.
    let out = output(warden_cmd(state.path()).args(["run", "--agent", "shell", "--memory", "x", "--task", "exit 0"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("has no memory file"), "{}", stderr(&out));
}
