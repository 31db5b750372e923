//! `warden adapters` and `warden adapters explain`, run as a real process. The real agent
//! CLIs may or may not be installed where this runs: only shapes are asserted, plus what
//! fake binaries and fake credentials on a controlled environment make certain.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BUILTINS: &[&str] = &["claude", "codex", "gemini", "aider", "pi", "shell"];

fn warden() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.env_remove("WARDEN_LOG").stdin(Stdio::null());
    cmd
}

fn run_json(cmd: &mut Command) -> (Value, String) {
    let out = cmd.output().expect("warden runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}, stderr: {stderr}", out.status.code());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    (v, stdout)
}

fn fake_cli(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write fake cli");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array().expect("array").iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{name} in {list}"))
}

#[test]
fn json_lists_every_builtin_adapter_with_its_fields() {
    let (list, _) = run_json(warden().args(["adapters", "--json"]));
    let names: Vec<&str> = list.as_array().expect("array").iter().filter_map(|e| e["name"].as_str()).collect();
    for b in BUILTINS {
        assert!(names.contains(b), "{b} listed: {names:?}");
    }
    for e in list.as_array().expect("array") {
        assert!(e["installed"].is_boolean(), "{e}");
        assert!(e["path"].is_string() || e["path"].is_null(), "{e}");
        assert!(e["version"].is_string() || e["version"].is_null(), "{e}");
        assert_eq!(e["installed"].as_bool(), Some(e["path"].is_string()), "installed iff a path: {e}");
        assert!(e["install_hint"].as_str().is_some_and(|h| !h.is_empty()), "{e}");
        let status = e["auth"]["status"].as_str().expect("auth.status");
        assert!(["present", "absent", "unknown"].contains(&status), "{e}");
        assert!(e["auth"]["env"].is_array() && e["auth"]["login_files"].is_array(), "{e}");
    }
}

#[test]
fn fake_binaries_and_credentials_are_seen_but_secrets_never_printed() {
    let bin = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    fake_cli(bin.path(), "codex", "echo 'codex-cli 7.6.5'");
    fake_cli(bin.path(), "gemini", "exit 3");
    let secret = "sk-warden-test-secret-value-0123456789";
    let path = std::env::join_paths([bin.path(), Path::new("/usr/bin"), Path::new("/bin")]).expect("path");
    let (list, stdout) = run_json(
        warden()
            .args(["adapters", "--json"])
            .env_clear()
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("OPENAI_API_KEY", secret),
    );
    assert!(!stdout.contains(secret), "the credential's value is never printed");
    let codex = entry(&list, "codex");
    assert_eq!(codex["installed"], true);
    assert_eq!(codex["path"], bin.path().join("codex").display().to_string());
    assert_eq!(codex["version"], "7.6.5");
    assert_eq!(codex["auth"]["status"], "present");
    assert_eq!(codex["auth"]["env"], serde_json::json!(["OPENAI_API_KEY"]));
    let gemini = entry(&list, "gemini");
    assert_eq!((&gemini["installed"], &gemini["version"]), (&Value::Bool(true), &Value::Null), "failing --version");
    assert_eq!(gemini["auth"]["status"], "absent");
    let claude = entry(&list, "claude");
    assert_eq!(claude["auth"]["status"], "absent", "no key, no login file in the empty home");

    // The table says the same, and also keeps the secret to itself.
    let out = warden()
        .arg("adapters")
        .env_clear()
        .env("PATH", &path)
        .env("HOME", home.path())
        .env("OPENAI_API_KEY", secret)
        .output()
        .expect("runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!table.contains(secret));
    let row = table.lines().find(|l| l.starts_with("codex ")).expect("codex row");
    assert!(row.contains("7.6.5") && row.contains("OPENAI_API_KEY"), "{row}");
}

#[test]
fn a_login_file_counts_by_presence() {
    let home = tempfile::tempdir().expect("tempdir");
    let secret = "login-file-contents-never-read";
    std::fs::create_dir_all(home.path().join(".gemini")).expect("mkdir");
    std::fs::write(home.path().join(".gemini/oauth_creds.json"), secret).expect("write");
    let (list, stdout) = run_json(
        warden().args(["adapters", "--json"]).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", home.path()),
    );
    assert!(!stdout.contains(secret));
    let gemini = entry(&list, "gemini");
    assert_eq!(gemini["auth"]["status"], "present");
    assert_eq!(gemini["auth"]["login_files"], serde_json::json!(["~/.gemini/oauth_creds.json"]));
}

#[test]
fn generic_adapters_come_from_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("my-agent.toml");
    std::fs::write(
        &manifest,
        "name = \"my-agent\"\nprogram = \"my-agent-bin\"\n[preflight]\ninstall_hint = \"build it\"\n\
         [[rules]]\nid = \"ready-prompt\"\nstate = \"ready\"\npattern = '^agent> $'\n",
    )
    .expect("write manifest");
    fake_cli(dir.path(), "my-agent-bin", "echo my-agent 0.3.1");
    let path = std::env::join_paths([dir.path(), Path::new("/usr/bin"), Path::new("/bin")]).expect("path");
    let (list, _) = run_json(warden().args(["adapters", "--json", "--config"]).arg(&manifest).env("PATH", &path));
    let mine = entry(&list, "my-agent");
    assert_eq!((&mine["installed"], &mine["version"]), (&Value::Bool(true), &Value::from("0.3.1")));
    assert_eq!(mine["install_hint"], "build it");
    assert_eq!(list.as_array().expect("array").len(), BUILTINS.len() + 1);

    let screen = dir.path().join("screen.txt");
    std::fs::write(&screen, "starting\nagent> \n").expect("write screen");
    let (v, _) = run_json(
        warden()
            .args(["adapters", "explain", "--agent", "my-agent", "--json", "--config"])
            .arg(&manifest)
            .arg("--screen")
            .arg(&screen),
    );
    assert_eq!(
        (&v["state"], &v["verdict"]["provenance"]["rule"]),
        (&Value::from("ready"), &Value::from("ready-prompt"))
    );

    let out = warden().args(["adapters", "--config"]).arg(dir.path().join("missing.toml")).output().expect("runs");
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read adapter manifest"));
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/adapters/tests/screens").join(rel)
}

#[test]
fn explain_prints_the_verdict_and_its_rule() {
    let (v, _) = run_json(
        warden()
            .args(["adapters", "explain", "--agent", "claude-code", "--json", "--screen"])
            .arg(fixture("claude/trust-folder.txt")),
    );
    assert_eq!(v["agent"], "claude");
    assert_eq!(v["state"], "blocking:trust");
    assert_eq!(v["verdict"]["provenance"]["rule"], "trust-folder");
    assert!(v["verdict"]["provenance"]["evidence"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_eq!(v["verdict"]["blocking"]["kind"], "trust");

    let out = warden()
        .args(["adapters", "explain", "--agent", "codex", "--cols", "120", "--screen"])
        .arg(fixture("codex/busy-working.txt"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("state:    busy"), "{text}");
    assert!(text.contains("rule:     busy-interrupt"), "{text}");
    assert!(text.contains("evidence:"), "{text}");

    let out = warden()
        .args(["adapters", "explain", "--agent", "nope", "--screen"])
        .arg(fixture("codex/busy-working.txt"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown agent type `nope`"));
}
