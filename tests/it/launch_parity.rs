//! One launch path: `spawn_agent` over NATS and `warden run` start an agent
//! with the same program, arguments, environment and files — the approval
//! preset's flags and files included (issue 10: a remote `preset: "readonly"`
//! used to start the agent without the read-only flags).
//!
//! The agent is a small shell script that records what it was started with
//! (`$0`, argv, environment, the files in its working directory) into a file
//! outside that directory, then exits.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::common::binary::warden_cmd;
use crate::common::nats::NatsServer;
use serde_json::{Value, json};
use warden::{SessionId, Warden, WardenConfig};
use warden_adapters::{ApprovalPreset, Registry};
use warden_bridge::config::BridgeConfig;
use warden_bridge::protocol::{Reply, SpawnResult};
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};

const T: Duration = common::TIMEOUT;

/// Records how it was started into `$RECORD_DIR/<workdir name>.record`.
const RECORDER: &str = r#"#!/bin/sh
out="$RECORD_DIR/$(basename "$PWD").record"
{
  printf 'program=%s\n' "$0"
  for a in "$@"; do printf 'arg=%s\n' "$a"; done
  env | LC_ALL=C sort | sed 's/^/env=/'
  find . -type f | LC_ALL=C sort | while read -r f; do
    printf 'file=%s\n' "$f"
    sed 's/^/  /' "$f"
  done
} > "$out.tmp"
mv "$out.tmp" "$out"
exit 0
"#;

/// Variables that differ between any two sessions whoever starts them.
const PER_SESSION: &[&str] = &["WARDEN_SESSION_ID", "WARDEN_INSTANCE", "PWD", "OLDPWD", "SHLVL", "_"];

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
}

/// A generic adapter whose program is the recorder: fixed arguments and
/// environment, a credential variable, the task as an argument, a memory file
/// read through a flag, and presets with flags, environment and a file.
fn recorder_manifest(script: &Path) -> String {
    format!(
        r#"name = "recorder"
program = "{script}"
args = ["--base"]
env = {{ RECORDER_FIXED = "1" }}
credential_env = ["CARGO_MANIFEST_DIR"]
task = "argument"

[memory]
path = "RECORDER.md"
args = ["--read", "RECORDER.md"]

[presets.readonly]
args = ["--read-only", "--deny", "write shell"]
env = {{ RECORDER_MODE = "readonly" }}
[[presets.readonly.files]]
path = ".recorder/settings.json"
contents = "{{\"mode\": \"readonly\"}}\n"

[presets.standard]
args = ["--ask"]
"#,
        script = script.display()
    )
}

/// What the recorder saw, without the per-session variables.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    program: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    /// Each file in the working directory at start, with its contents.
    files: String,
}

fn read_record(path: &Path) -> Record {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("no record {}: {e}", path.display()));
    let mut record = Record { program: String::new(), args: Vec::new(), env: BTreeMap::new(), files: String::new() };
    let mut in_files = false;
    for line in text.lines() {
        if in_files {
            record.files.push_str(line);
            record.files.push('\n');
        } else if let Some(p) = line.strip_prefix("program=") {
            record.program = p.to_string();
        } else if let Some(a) = line.strip_prefix("arg=") {
            record.args.push(a.to_string());
        } else if let Some(kv) = line.strip_prefix("env=") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if !PER_SESSION.contains(&k) {
                record.env.insert(k.to_string(), v.to_string());
            }
        } else if line.starts_with("file=") {
            in_files = true;
            record.files.push_str(line);
            record.files.push('\n');
        }
    }
    record
}

/// A warden with these adapters and its bridge, in this process.
struct Node {
    warden: Warden,
    bridge: Bridge,
    remote: Remote,
}

impl Node {
    async fn start(dir: &Path, nats: &NatsServer, adapters: Registry, config: BridgeConfig) -> Node {
        let mut wc = WardenConfig::new(dir.join("node-state"));
        wc.node = "n1".into();
        wc.stop_grace = Duration::from_millis(300);
        wc.adapters = Arc::new(adapters);
        let warden = Warden::start(wc).await.expect("warden starts");
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        let settings = BridgeSettings { config, ..BridgeSettings::default() };
        let bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        Node { warden, bridge, remote: Remote::new(client, "warden", T) }
    }

    /// `spawn_agent` over NATS; waits until the agent has exited.
    async fn spawn_and_wait(&self, body: Value) -> SessionId {
        let reply: Reply = self.remote.request("n1", "spawn_agent", &body).await.expect("a reply");
        assert!(reply.ok, "spawn_agent failed: {reply:?}");
        let spawned: SpawnResult = serde_json::from_value(reply.result.expect("result")).expect("typed result");
        let id = spawned.session.id;
        let exit = tokio::time::timeout(T, self.warden.wait(id)).await.expect("the agent exits in time").expect("wait");
        assert_eq!(exit.code, Some(0), "{exit:?}");
        id
    }

    async fn stop(mut self) {
        self.bridge.stop_commands().await;
        self.warden.shutdown().await;
        self.bridge.shutdown(Duration::from_secs(5)).await;
    }
}

/// `warden run` to its end (killed after [`T`]).
async fn warden_run(state: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::from(warden_cmd(state));
    cmd.arg("run").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    tokio::time::timeout(T, cmd.output()).await.expect("warden run ends in time").expect("warden run starts")
}

fn mkdir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).expect("mkdir");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_agent_over_nats_and_warden_run_start_the_same_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = mkdir(dir.path().join("root"));
    let records = mkdir(dir.path().join("records"));
    let script = dir.path().join("recorder.sh");
    write_executable(&script, RECORDER);
    let manifest = dir.path().join("recorder.toml");
    std::fs::write(&manifest, recorder_manifest(&script)).expect("manifest");
    let adapters = warden_actors::preflight::registry_from_files(std::slice::from_ref(&manifest)).expect("manifest");

    let server = NatsServer::start(&dir.path().join("js"));
    let config = BridgeConfig {
        allow_agents: Some(vec!["recorder".into()]),
        workdir_roots: vec![root.clone()],
        ..BridgeConfig::default()
    };
    let node = Node::start(dir.path(), &server, adapters, config).await;

    // The same request both ways, each in its own (identical, empty) working directory.
    let task = "fix the failing test";
    let memory = "Run the tests before you commit.";
    let record_dir = records.display().to_string();
    for (preset, local, remote) in [("readonly", "local-ro", "remote-ro"), ("standard", "local-std", "remote-std")] {
        let local_dir = mkdir(root.join(local));
        mkdir(root.join(remote));
        let out = warden_run(
            &dir.path().join("run-state"),
            &[
                "--adapter-file",
                &manifest.display().to_string(),
                "--agent",
                "recorder",
                "--preset",
                preset,
                "--task",
                task,
                "--memory",
                memory,
                "--env",
                &format!("RECORD_DIR={record_dir}"),
                "--env",
                "EXTRA=1",
                "--workdir",
                &local_dir.display().to_string(),
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "warden run: {}", String::from_utf8_lossy(&out.stderr));

        node.spawn_and_wait(json!({
            "agent": "recorder",
            "preset": preset,
            "task": task,
            "memory": memory,
            "env": {"RECORD_DIR": record_dir, "EXTRA": "1"},
            "workdir": remote,
        }))
        .await;

        let local = read_record(&records.join(format!("{local}.record")));
        let remote = read_record(&records.join(format!("{remote}.record")));
        assert_eq!(local, remote, "preset {preset}: `warden run` and `spawn_agent` over NATS differ");

        // And it is the launch the manifest describes.
        let preset_args: &[&str] = match preset {
            "readonly" => &["--read-only", "--deny", "write shell"],
            _ => &["--ask"],
        };
        let expected: Vec<String> = ["--base"]
            .iter()
            .chain(preset_args)
            .chain(&["--read", "RECORDER.md", task])
            .map(|s| s.to_string())
            .collect();
        assert_eq!(remote.program, script.display().to_string());
        assert_eq!(remote.args, expected, "preset {preset}");
        assert_eq!(remote.env.get("RECORDER_FIXED").map(String::as_str), Some("1"));
        assert_eq!(remote.env.get("EXTRA").map(String::as_str), Some("1"));
        assert_eq!(remote.env.get("RECORDER_MODE").map(String::as_str), (preset == "readonly").then_some("readonly"));
        assert_eq!(
            remote.env.get("CARGO_MANIFEST_DIR"),
            std::env::var("CARGO_MANIFEST_DIR").ok().as_ref(),
            "credential variables pass through by name"
        );
        let mut files = String::new();
        if preset == "readonly" {
            files.push_str("file=./.recorder/settings.json\n  {\"mode\": \"readonly\"}\n");
        }
        files.push_str(&format!("file=./RECORDER.md\n  {memory}\n"));
        assert_eq!(remote.files, files, "preset {preset}: the files were there before the agent started");
    }
    node.stop().await;
}

/// The defect this fixes: a remote `spawn_agent` with `preset: "readonly"`
/// for the built-in `claude` adapter started claude without its read-only
/// flags (and typed the task in instead of passing it as claude takes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_readonly_spawn_gets_the_presets_flags_and_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = mkdir(dir.path().join("root"));
    let records = mkdir(dir.path().join("records"));
    let bin = mkdir(dir.path().join("bin"));
    // A `claude` that records how it was started, found through the request's PATH.
    write_executable(&bin.join("claude"), RECORDER);
    let work = mkdir(root.join("work"));

    let server = NatsServer::start(&dir.path().join("js"));
    let config = BridgeConfig { workdir_roots: vec![root.clone()], ..BridgeConfig::default() };
    let node = Node::start(dir.path(), &server, Registry::builtin().clone(), config).await;
    node.spawn_and_wait(json!({
        "agent": "claude",
        "preset": "readonly",
        "task": "summarise the repository",
        "env": {"PATH": format!("{}:/usr/bin:/bin", bin.display()), "RECORD_DIR": records.display().to_string()},
        "workdir": "work",
    }))
    .await;
    node.stop().await;

    let record = read_record(&records.join("work.record"));
    let claude = Registry::builtin().get("claude").expect("claude");
    let readonly = &claude.presets[&ApprovalPreset::Readonly];
    let mut expected = claude.args.clone();
    expected.extend(readonly.args.iter().cloned());
    expected.push("summarise the repository".into());
    assert_eq!(record.args, expected, "claude's read-only flags, then the task as its argument");
    assert_eq!(record.env.get("DISABLE_AUTOUPDATER").map(String::as_str), Some("1"));
    let settings = std::fs::read_to_string(work.join(".claude/settings.local.json")).expect("preset file written");
    assert_eq!(settings, readonly.files[0].contents);
    assert!(record.files.starts_with("file=./.claude/settings.local.json\n"), "{}", record.files);
}

/// A launch that cannot start (its program is not on the `PATH` the agent
/// would get) fails before anything is written into the working directory:
/// no memory file, no preset files left behind for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_whose_program_is_missing_writes_no_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty_bin = mkdir(dir.path().join("bin"));
    let work = mkdir(dir.path().join("work"));
    let mut wc = WardenConfig::new(dir.path().join("state"));
    wc.adapters = Arc::new(Registry::builtin().clone());
    let warden = Warden::start(wc).await.expect("warden starts");
    let req = warden::actors::AgentRequest::named("claude")
        .preset(ApprovalPreset::Readonly)
        .memory("Run the tests before you commit.")
        .env("PATH", empty_bin.display().to_string())
        .workdir(&work);
    let err = warden.spawn_agent(req).await.expect_err("no claude on that PATH");
    warden.shutdown().await;
    assert!(
        matches!(err, warden::actors::LaunchError::Session(warden::actors::SessionError::ProgramNotFound { .. })),
        "{err:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&work).expect("read work").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "files written for a launch that could not start: {left:?}");
}
