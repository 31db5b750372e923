//! The acceptance test of issue 15: the seed's four-message conversation
//! over NATS, one `warden task`/`warden ctl` command per message, each
//! using only what the previous replies printed (a label, a short id):
//!
//! 1. "create a background task to fix the auth bug and open a PR"
//!    → `warden task create --repo … --finalize pr --label fix-auth`
//! 2. "what task agents are running?" → `warden ctl list_agents` (a table:
//!    short id, label, `blocked (1 pending)`, the task, the branch, the question)
//! 3. "tell it to accept the changes" → `warden ctl confirm --session <short id>`
//! 4. "create a PR for the fix" → the task finalizes with a pull request
//!    (against a local stub of GitHub's API); `warden task show <short id>`
//!    (the one step 1 printed) prints its URL.
//!
//! The node is a `Warden` with its bridge in this process (a Claude-like
//! fake agent that asks for permission), the coordinator is the CLI.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use warden::core::workspace::Secret;
use warden::{Event, EventKind, Warden};
use warden_bridge::config::BridgeConfig;
use warden_bridge::{Bridge, BridgeSettings, NatsOptions};

use crate::common::binary::warden_cmd;
use crate::common::git::bare_remote;
use crate::common::nats::NatsServer;
use crate::tasks::{config, fake_claude};
use crate::workspaces::servers::github_stub;

const T: Duration = Duration::from_secs(60);

struct Said {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One message of the conversation: one command line.
fn say(state: &std::path::Path, url: &str, args: &[&str]) -> Said {
    let out = warden_cmd(state).args(args).args(["--nats", url]).output().expect("warden runs");
    Said {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits on the node's events for one that `pick` accepts.
async fn wait_for(
    events: &mut warden_bridge::async_nats::Subscriber,
    what: &str,
    mut pick: impl FnMut(&Event) -> bool,
) {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        let Ok(Some(msg)) = tokio::time::timeout(T, events.next()).await else { break };
        let Ok(event) = serde_json::from_slice::<Event>(&msg.payload) else { continue };
        if pick(&event) {
            return;
        }
    }
    panic!("no {what} within {T:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_conversation_in_four_commands() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(&tmp.path().join("nats"));
    let url = nats.url();
    let repo = bare_remote(tmp.path());
    let (api, seen) = github_stub(vec![(201, r#"{"number":7,"html_url":"https://ghe.example/o/r/pull/7","id":1}"#)]);
    let script = "screen busy; spinner 300; screen permission; expect-key enter; screen busy; spinner 300; \
                  print echo > fixed.txt; screen done; freeze";
    let mut wc = config(tmp.path());
    wc.node = "n1".into();
    wc.adapters = fake_claude(script);
    wc.workspace.github.api_base = api;
    wc.workspace.github.token = Some(Secret::new("ghp_stub"));
    let warden = Warden::start(wc).await.expect("warden starts");
    let client = warden_bridge::connect(&NatsOptions::new(url.clone())).await.expect("connects");
    let settings = BridgeSettings {
        config: BridgeConfig { workdir_roots: vec![tmp.path().to_path_buf()], ..BridgeConfig::default() },
        ..BridgeSettings::default()
    };
    let mut bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");
    let watcher = warden_bridge::connect(&NatsOptions::new(url.clone())).await.expect("connects");
    let mut events = watcher.subscribe("warden.n1.evt.>").await.expect("subscribes");
    watcher.flush().await.expect("flush");
    let me = tmp.path().join("coordinator");

    // 1. "create a background task to fix the auth bug and open a PR"
    let repo_arg = repo.display().to_string();
    let created = say(
        &me,
        &url,
        &[
            "task",
            "create",
            "--agent",
            "claude",
            "--repo",
            &repo_arg,
            "--branch",
            "fix/auth",
            "--finalize",
            "pr",
            "--pr-repo",
            "o/r",
            "--supervision",
            "confirm",
            "--label",
            "fix-auth",
            "--task",
            "fix the auth bug and open a PR",
        ],
    );
    assert_eq!(created.code, 0, "{}\n{}", created.stdout, created.stderr);
    assert!(created.stdout.contains("fix-auth"), "the reply names the label: {}", created.stdout);
    // For a person: `warden: task <short id> (fix-auth) queued on n1`.
    let said =
        created.stderr.lines().find(|l| l.starts_with("warden: task ")).unwrap_or_else(|| panic!("{}", created.stderr));
    assert!(said.ends_with("(fix-auth) queued on n1"), "{said}");
    let task_short = said.split_whitespace().nth(2).expect("the short id").to_string();
    // (The agent works until it asks for permission.)
    wait_for(&mut events, "confirmation_pending", |e| matches!(e.kind, EventKind::ConfirmationPending { .. })).await;

    // 2. "what task agents are running?"
    let listed = say(&me, &url, &["ctl", "list_agents"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let row = listed.stdout.lines().find(|l| l.contains("fix-auth")).unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(row.contains("blocked (1 pending)"), "a session waiting for an answer is blocked: {row}");
    assert!(row.contains("fix the auth bug"), "the task's text: {row}");
    assert!(row.contains("fix/auth"), "the branch: {row}");
    assert!(row.contains("c1:"), "the question waiting for an answer: {row}");
    let short = row.split_whitespace().nth(1).expect("the short id column").to_string();
    assert!(short.len() >= 8 && short.chars().all(|c| c.is_ascii_hexdigit()), "{short}: {row}");

    // 3. "tell it to accept the changes"
    let confirmed = say(&me, &url, &["ctl", "confirm", "--session", &short]);
    assert_eq!(confirmed.code, 0, "{}\n{}", confirmed.stdout, confirmed.stderr);
    let reply: Value = serde_json::from_str(confirmed.stdout.trim()).expect("reply JSON");
    assert_eq!((reply["result"]["id"].as_str(), reply["result"]["outcome"].as_str()), (Some("c1"), Some("answered")));

    // 4. "create a PR for the fix": the task finalizes with a pull request.
    wait_for(
        &mut events,
        "the task's end",
        |e| matches!(&e.kind, EventKind::TaskStatus { to, .. } if to.is_terminal()),
    )
    .await;
    let shown = say(&me, &url, &["task", "show", &task_short]);
    assert_eq!(shown.code, 0, "{}\n{}", shown.stdout, shown.stderr);
    let task: Value = serde_json::from_str(shown.stdout.trim()).expect("reply JSON");
    assert_eq!(task["result"]["task"]["status"], "completed", "{task}");
    assert_eq!(task["result"]["task"]["agents"][0]["pr_url"], "https://ghe.example/o/r/pull/7", "{task}");
    let pr = seen.recv_timeout(Duration::from_secs(10)).expect("the PR request");
    assert_eq!((pr.method.as_str(), pr.body["head"].as_str()), ("POST", Some("fix/auth")));

    bridge.stop_commands().await;
    warden.shutdown().await;
    bridge.shutdown(Duration::from_secs(5)).await;
}
