//! Version-aware launch and the launch-rejected verdict, end to end through
//! `warden run`, with the fake agent playing Claude Code 2.1.197 (its captured
//! `--version` and `--help`, and its rejection of `--permission-mode manual`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::binary::warden_cmd;
use crate::common::{TIMEOUT, fake_agent};

fn run(state: &Path, manifest: &Path, extra: &[&str]) -> Output {
    let mut cmd = warden_cmd(state);
    cmd.args(["run", "--agent", "claude", "--json", "--adapter-file"]).arg(manifest).args(["--task", "hi"]);
    cmd.args(extra).arg("--workdir").arg(state);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("warden starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT * 2) {
        Ok(out) => out.expect("waited"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("warden did not finish within {:?}", TIMEOUT * 2);
        }
    }
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A manifest that makes the fake agent Claude Code `version`: its program and
/// `[preflight]` are the fake agent's, `help` says how `--help` is asked for.
fn manifest(dir: &Path, version: &str, help_args: &str, script: &str, accept_unknown: bool) -> PathBuf {
    let fake = fake_agent();
    let accept = if accept_unknown { r#", "--accept-unknown""# } else { "" };
    let text = format!(
        r#"name = "claude"
program = "{fake}"
args = ["--persona", "claude", "--as-version", "{version}"{accept}, "--script-inline", "{script}"]
ready_settle_ms = 100

[preflight]
binary = "{fake}"
version_args = ["--persona", "claude", "--as-version", "{version}", "--version"]
help_args = {help_args}
"#
    );
    let path = dir.join(format!("claude-{version}.toml"));
    std::fs::write(&path, text).expect("manifest written");
    path
}

#[test]
fn a_cli_that_rejects_an_option_ends_with_126_and_its_own_message_on_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No --help evidence (it prints nothing): the preset's own flags are used, and the
    // fake Claude Code 2.1.197 refuses `--permission-mode manual` as the real one does.
    let m = manifest(
        dir.path(),
        "2.1.197",
        r#"["--persona", "claude", "--script-inline", "exit 0"]"#,
        "screen ready; sleep 20000",
        false,
    );
    let started = std::time::Instant::now();
    let out = run(dir.path(), &m, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "stderr: {err}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let line = err
        .lines()
        .find(|l| l.starts_with("warden: ") && l.contains("rejected its launch"))
        .unwrap_or_else(|| panic!("no verdict: {err}"));
    assert!(
        line.contains(
            "\"error: option '--permission-mode <mode>' argument 'manual' is invalid. Allowed choices are acceptEdits, \
             auto, bypassPermissions, default, dontAsk, plan.\""
        ),
        "the CLI's message on one line: {line}"
    );
    assert!(line.contains("--preset"), "says what to do: {line}");
    let ev = events(&out);
    let rejected = ev.iter().find(|e| e["kind"] == "launch_rejected").unwrap_or_else(|| panic!("no event: {ev:?}"));
    assert_eq!(rejected["code"], 1);
    assert_eq!(rejected["provenance"]["rule"], "launch-rejected-option");
    let exited = ev.iter().position(|e| e["kind"] == "exited").expect("exited");
    assert!(ev.iter().position(|e| e["kind"] == "launch_rejected") < Some(exited), "before exited");
}

#[test]
fn the_installed_version_s_help_chooses_the_flags_and_a_missing_mode_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help_197 = r#"["--persona", "claude", "--as-version", "2.1.197", "--help"]"#;
    let m = manifest(dir.path(), "2.1.197", help_197, "screen ready; sleep 300; exit 0", true);
    let out = run(dir.path(), &m, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let ev = events(&out);
    let started = ev.iter().find(|e| e["kind"] == "session_started").expect("started");
    let args: Vec<&str> = started["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    let at = args.iter().position(|a| *a == "--permission-mode").expect("a permission mode");
    assert_eq!(args[at + 1], "default", "2.1.197 lists default, not manual: {args:?}");
    assert!(err.contains("claude 2.1.197: preset standard with the flags for"), "{err}");
    // A second launch reads the facts from the cache under the state directory.
    let cached = std::fs::read_dir(dir.path().join("cache/cli")).expect("cache dir").count();
    assert_eq!(cached, 1, "one binary, one question");

    // A version whose --help lists neither mode: `standard` is refused, naming it.
    let help_none = r#"["--persona", "claude", "--as-version", "1.0.0", "--help"]"#;
    let m = manifest(dir.path(), "1.0.0", help_none, "screen ready; exit 0", true);
    let out = run(dir.path(), &m, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert!(err.contains("claude 1.0.0 cannot run preset `standard` safely"), "{err}");
    assert!(events(&out).iter().all(|e| e["kind"] != "session_started"), "nothing started");
}

/// What `npm install --ignore-scripts @anthropic-ai/claude-code` leaves as
/// `bin/claude.exe`: a script without `#!` (seen in 2.1.197 and 2.1.332; the screen
/// it draws is `claude/v2.1.197/native-binary-missing.txt`).
const NPM_STUB: &str = "echo \"Error: claude native binary not installed.\" >&2\n\
echo \"\" >&2\n\
echo \"Either postinstall did not run (--ignore-scripts, some pnpm configs)\" >&2\n\
echo \"or the platform-native optional dependency was not downloaded\" >&2\n\
echo \"(--omit=optional).\" >&2\n\
exit 1\n";

#[test]
fn a_script_without_shebang_runs_as_a_shell_would_and_the_npm_stub_is_a_rejected_launch() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let stub = dir.path().join("claude.exe");
    std::fs::write(&stub, NPM_STUB).expect("stub written");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let manifest = dir.path().join("claude.toml");
    let text = format!("name = \"claude\"\nprogram = \"{p}\"\n[preflight]\nbinary = \"{p}\"\n", p = stub.display());
    std::fs::write(&manifest, text).expect("manifest written");
    // Before: exec failed with ENOEXEC and warden said "Exec format error" (125).
    let out = run(dir.path(), &manifest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "stderr: {err}");
    let line = err.lines().find(|l| l.starts_with("warden: ")).unwrap_or_default();
    assert!(line.contains("\"Error: claude native binary not installed.\""), "{line}");
    assert!(line.contains("install.cjs"), "what to do, from the rule: {line}");
}
