//! `warden adapters check` against the fake agents: each persona plays its CLI (the
//! captured `--version` and `--help`, a login screen), and one plays Claude Code
//! 2.1.197 refusing the `standard` preset's `--permission-mode manual`.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::fake_agent;

fn persona_manifest(dir: &Path, name: &str, extends: Option<&str>, args: &str, probe_args: (&str, &str)) -> String {
    let (version_args, help_args) = probe_args;
    let fake = fake_agent();
    let extends = extends.map(|e| format!("extends = \"{e}\"\n")).unwrap_or_default();
    let text = format!(
        r#"name = "{name}"
{extends}program = "{fake}"
args = {args}
ready_settle_ms = 100

[preflight]
binary = "{fake}"
version_args = {version_args}
help_args = {help_args}
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("manifest written");
    path.display().to_string()
}

#[test]
fn check_reports_each_persona_and_a_cli_that_rejects_its_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for p in ["claude", "codex", "gemini", "aider", "pi"] {
        let args =
            format!(r#"["--persona", "{p}", "--accept-unknown", "--script-inline", "screen login; sleep 30000"]"#);
        let version = format!(r#"["--persona", "{p}", "--version"]"#);
        let help = format!(r#"["--persona", "{p}", "--help"]"#);
        files.push(persona_manifest(dir.path(), p, None, &args, (&version, &help)));
    }
    // Claude Code 2.1.197 whose --help says nothing: launched with `manual`, it refuses.
    let args = r#"["--persona", "claude", "--as-version", "2.1.197", "--script-inline", "screen ready; sleep 30000"]"#;
    let version = r#"["--persona", "claude", "--as-version", "2.1.197", "--version"]"#;
    let help = r#"["--persona", "claude", "--script-inline", "exit 0"]"#;
    files.push(persona_manifest(dir.path(), "claude-old", Some("claude"), args, (version, help)));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.arg("--config-dir").arg(dir.path().join("config")).env_remove("WARDEN_LOG");
    cmd.args(["adapters", "check", "--json", "--timeout", "15"]);
    for f in &files {
        cmd.args(["--config", f]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("warden runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a CLI rejected its flags: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = serde_json::from_str(&stdout).expect("JSON");
    let by =
        |n: &str| reports.iter().find(|r| r["agent"] == n).unwrap_or_else(|| panic!("no report for {n}: {stdout}"));
    assert!(reports.iter().all(|r| r["agent"] != "shell"), "the fallback shell is not a CLI to check");
    for (p, version) in
        [("claude", "2.1.332"), ("codex", "0.171.0"), ("gemini", "0.61.0"), ("aider", "0.86.2"), ("pi", "0.73.1")]
    {
        let r = by(p);
        assert_eq!(r["installed"], true, "{r}");
        assert_eq!(r["version"], version, "{r}");
        assert_eq!(r["flags"], "accepted", "{r}");
        assert!(
            matches!(r["verdict"].as_str(), Some("login_required" | "blocking:login")),
            "{p}: the login screen is the verdict: {r}"
        );
        assert_eq!(r["matches"], true, "{r}");
        assert!(!r["rules_fired"].as_array().expect("rules").is_empty(), "{r}");
    }
    let old = by("claude-old");
    assert_eq!((old["flags"].as_str(), old["verdict"].as_str()), (Some("rejected"), Some("launch_rejected")), "{old}");
    assert_eq!(old["version"], "2.1.197");
    assert!(old["detail"].as_str().is_some_and(|d| d.contains("argument 'manual' is invalid")), "{old}");
    assert_eq!(old["matches"], true, "{old}");
}
