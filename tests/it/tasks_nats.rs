//! Tasks over NATS against a real `nats-server`: `create_task` on `any`
//! with a Claude-like fake agent whose unsafe permission prompt is confirmed
//! over NATS, a pull request against a local stub of the GitHub API, the
//! task verbs and `list_agents`' task fields.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use warden::core::workspace::Secret;
use warden::{Event, EventKind, Warden};
use warden_bridge::config::BridgeConfig;
use warden_bridge::protocol::{ListResult, ListTasksResult, PendingConfirmationsResult, Reply, TaskResult};
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};

use crate::common::git::bare_remote;
use crate::common::nats::NatsServer;
use crate::tasks::{config, fake_claude};
use crate::workspaces::servers::github_stub;

const T: Duration = Duration::from_secs(60);

async fn ok<R: serde::de::DeserializeOwned>(remote: &Remote, node: &str, verb: &str, body: Value) -> R {
    let reply: Reply = remote.request(node, verb, &body).await.expect("a reply");
    assert!(reply.ok, "{verb} {body}: {reply:?}");
    serde_json::from_value(reply.result.expect("result")).expect("typed result")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_like_task_over_nats_waits_for_a_confirmation_and_opens_a_pr() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(&tmp.path().join("nats"));
    let remote_repo = bare_remote(tmp.path());
    let (api, seen) = github_stub(vec![(201, r#"{"number":7,"html_url":"https://ghe.example/o/r/pull/7","id":1}"#)]);
    let script = "screen busy; spinner 300; screen permission; expect-key enter; screen busy; spinner 300; \
                  print echo > fixed.txt; screen done; freeze";
    let mut wc = config(tmp.path());
    wc.node = "n1".into();
    wc.adapters = fake_claude(script);
    wc.workspace.github.api_base = api;
    wc.workspace.github.token = Some(Secret::new("ghp_stub"));
    let warden = Warden::start(wc).await.expect("warden starts");
    let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    let settings = BridgeSettings {
        config: BridgeConfig {
            workdir_roots: vec![tmp.path().to_path_buf()],
            heartbeat_ms: 100,
            ..BridgeConfig::default()
        },
        ..BridgeSettings::default()
    };
    let mut bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");

    let coord = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    let mut events = coord.subscribe("warden.n1.evt.>").await.expect("subscribes");
    coord.flush().await.expect("flush");
    let remote = Remote::new(coord, "warden", T);

    let created: TaskResult = ok(
        &remote,
        "any",
        "create_task",
        json!({"v":1,"agent":"claude","task":"fix the auth bug","repo":remote_repo,"branch":"fix/auth",
               "finalize":"pr","pr_repo":"o/r","supervision":"confirm"}),
    )
    .await;
    let id = created.task.id;
    assert_eq!(created.node, "n1");

    // Follow the task's statuses; answer the confirmation over NATS.
    let mut statuses = Vec::new();
    let mut pr_url = None;
    let deadline = Instant::now() + T * 2;
    while Instant::now() < deadline {
        let Ok(Some(msg)) = tokio::time::timeout(T, events.next()).await else { break };
        let event: Event = serde_json::from_slice(&msg.payload).expect("an event");
        match &event.kind {
            EventKind::TaskStatus { task, to, .. } if *task == id => {
                statuses.push(to.to_string());
                if to.is_terminal() {
                    break;
                }
            }
            EventKind::TaskFinalized { task, pr_url: url, .. } if *task == id => pr_url = url.clone(),
            EventKind::ConfirmationPending { id: confirmation, .. } => {
                let session = event.session.expect("a session event");
                // The coordinator sees the task on the session.
                let listed: ListResult = ok(&remote, "n1", "list_agents", json!({})).await;
                let entry = listed.agents.iter().find(|a| a.id == session).expect("listed");
                assert_eq!(entry.task, Some(id));
                assert_eq!(entry.branch.as_deref(), Some("fix/auth"));
                let pending: PendingConfirmationsResult =
                    ok(&remote, "n1", "pending_confirmations", json!({"session": session})).await;
                assert!(pending.pending.iter().any(|p| &p.id == confirmation));
                let waiting: TaskResult = ok(&remote, "n1", "task_status", json!({"task": id})).await;
                assert_eq!(waiting.task.status.to_string(), "waiting");
                let _: Value = ok(&remote, "n1", "confirm", json!({"session": session, "id": confirmation})).await;
            }
            _ => {}
        }
    }
    assert_eq!(statuses, ["provisioning", "running", "waiting", "running", "finalizing", "completed"]);
    assert_eq!(pr_url.as_deref(), Some("https://ghe.example/o/r/pull/7"));
    let pr = seen.recv_timeout(Duration::from_secs(10)).expect("the PR request");
    assert_eq!((pr.method.as_str(), pr.path.as_str()), ("POST", "/api/v3/repos/o/r/pulls"));
    assert_eq!(pr.body["head"], "fix/auth");

    let listed: ListTasksResult = ok(&remote, "n1", "list_tasks", json!({"statuses":["completed"]})).await;
    assert_eq!(listed.tasks.len(), 1);
    assert_eq!(listed.tasks[0].agents[0].pr_url.as_deref(), Some("https://ghe.example/o/r/pull/7"));
    let reply: Reply = remote.request("n1", "cancel_task", &json!({"task": id})).await.expect("reply");
    assert_eq!(reply.error.expect("an error").code.as_str(), "conflict");
    let reply: Reply = remote
        .request("n1", "task_status", &json!({"task": "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f"}))
        .await
        .expect("reply");
    assert_eq!(reply.error.expect("an error").code.as_str(), "unknown_task");

    bridge.stop_commands().await;
    warden.shutdown().await;
    bridge.shutdown(Duration::from_secs(5)).await;
}

/// `warden serve` + `warden task create|show|list|cancel`: a fan-out task of
/// two agents, each in its own worktree of the same parent on its own branch.
#[test]
fn cli_task_commands_against_a_serving_node_with_fan_out() {
    use crate::common::binary::warden_cmd;
    use crate::common::nats::Proc;
    use std::process::Command;

    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let url = server.url();
    let remote_repo = bare_remote(dir.path());
    let cmd = || {
        let mut c = warden_cmd(&dir.path().join("state"));
        c.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_AUTHOR_NAME", "T").env("GIT_AUTHOR_EMAIL", "t@example.com");
        c
    };
    let mut serve = Proc::spawn({
        let mut c = cmd();
        c.args(["serve", "--nats", &url, "--node", "n1", "--allow-agent", "shell", "--workdir-root"]).arg(dir.path());
        c
    });
    serve.wait_stderr("serving on", T);
    let task = |args: &[&str]| -> (i32, Value) {
        let out = cmd().args(["task", "--nats", &url]).args(args).output().expect("warden task runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("null");
        (out.status.code().unwrap_or(-1), serde_json::from_str(first).unwrap_or(Value::Null))
    };
    let repo = remote_repo.display().to_string();
    let (code, reply) = task(&[
        "create",
        "--agent",
        "shell=echo a > a.txt; exit 0",
        "--agent",
        "shell=echo b > b.txt; exit 0",
        "--repo",
        &repo,
        "--branch",
        "fan",
        "--finalize",
        "push",
        "--task",
        "two parts",
    ]);
    assert_eq!(code, 0, "{reply}");
    let id = reply["result"]["task"]["id"].as_str().expect("a task id").to_string();
    let deadline = Instant::now() + T;
    let done = loop {
        let (_, shown) = task(&["--node", "n1", "show", &id]);
        let status = shown["result"]["task"]["status"].as_str().unwrap_or("").to_string();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) || Instant::now() > deadline {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["result"]["task"]["status"], "completed", "{done}");
    let agents = done["result"]["task"]["agents"].as_array().expect("agents").clone();
    assert_eq!(agents.len(), 2);
    assert_ne!(agents[0]["workdir"], agents[1]["workdir"], "each agent has its own worktree");
    let git = |args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(&remote_repo).args(args).output().expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(git(&["show", "fan-shell0:a.txt"]), "a");
    assert_eq!(git(&["show", "fan-shell1:b.txt"]), "b");
    let (code, listed) = task(&["list", "--json", "--status", "completed"]);
    assert_eq!(code, 0, "{listed}");
    assert_eq!(listed["result"]["tasks"][0]["id"], id.as_str());
    // The same fan-out merged into one branch (`--merge`): only `fanm` reaches the remote.
    let (code, reply) = task(&[
        "create",
        "--agent",
        "shell=echo c > c.txt; exit 0",
        "--agent",
        "shell=echo d > d.txt; exit 0",
        "--repo",
        &repo,
        "--branch",
        "fanm",
        "--finalize",
        "push",
        "--merge",
        "--task",
        "two parts, one branch",
    ]);
    assert_eq!(code, 0, "{reply}");
    let merged_id = reply["result"]["task"]["id"].as_str().expect("a task id").to_string();
    let deadline = Instant::now() + T;
    let merged = loop {
        let (_, shown) = task(&["--node", "n1", "show", &merged_id]);
        let status = shown["result"]["task"]["status"].as_str().unwrap_or("").to_string();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) || Instant::now() > deadline {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(merged["result"]["task"]["status"], "completed", "{merged}");
    assert_eq!(merged["result"]["task"]["merged"]["branch"], "fanm", "{merged}");
    assert_eq!(git(&["show", "fanm:c.txt"]), "c");
    assert_eq!(git(&["show", "fanm:d.txt"]), "d");
    assert_eq!(git(&["rev-parse", "--verify", "-q", "refs/heads/fanm-shell0"]), "", "agent branches stay local");
    let (code, outside) = task(&["create", "--agent", "shell", "--repo", "/etc", "--task", "x"]);
    assert_eq!((code, outside["error"]["code"].as_str()), (1, Some("forbidden")), "{outside}");
    let (code, refused) = task(&["--node", "n1", "cancel", &id]);
    assert_eq!((code, refused["error"]["code"].as_str()), (1, Some("conflict")));
    serve.terminate(T);
}
