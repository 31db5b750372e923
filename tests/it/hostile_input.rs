//! What a caller sends that is out of range, shaped to hurt, or aimed
//! somewhere else: answered with a typed error (or done safely), never a
//! panic, never a request to a place the caller chose.

use std::time::Duration;

use crate::common::*;

/// A grace period too long to add to a clock reading (`Duration::MAX`) is
/// taken as "as long as possible": the session stops (its shell dies of the
/// SIGHUP), and the node's I/O thread, which every session shares, lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_an_endless_grace_does_not_panic_the_io_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(shell_spec()).await.expect("spawns");
    w.send(s.id, "echo ready-$((2+3))").await.expect("sent");
    wait_output(&mut sub, s.id, "ready-5").await;
    let exit = tokio::time::timeout(TIMEOUT, w.stop_with_grace(s.id, Duration::MAX))
        .await
        .expect("the stop answers")
        .expect("stops");
    assert_eq!(exit.reason, "stopped", "{exit:?}");
    // Every session shares the I/O thread: a new one still runs.
    let t = w.spawn(shell_spec()).await.expect("spawns again");
    w.send(t.id, "echo alive-$((3+4))").await.expect("sent");
    wait_output(&mut sub, t.id, "alive-7").await;
    w.shutdown().await;
}

/// The repository a pull request goes to is an `owner/name` pair that goes
/// into the GitHub API's path with the node's token: one that carries `/`,
/// `?` or `..` would aim that authenticated POST at another endpoint
/// (`r/forks?` forks a repository). It is refused (`bad_request`) before
/// anything is committed, pushed or sent; a task's `pr_repo` likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_repository_cannot_steer_the_github_request() {
    use crate::common::git::bare_remote;
    use crate::common::nats::NatsServer;
    use crate::workspaces::servers::github_stub;
    use serde_json::json;
    use warden::Warden;
    use warden::core::workspace::Secret;
    use warden_bridge::config::BridgeConfig;
    use warden_bridge::protocol::Reply;
    use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};

    let tmp = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(&tmp.path().join("nats"));
    let remote_repo = bare_remote(tmp.path());
    let (api, seen) = github_stub(vec![(201, r#"{"number":7,"html_url":"https://github.com/o/r/pull/7"}"#)]);
    let mut wc = crate::tasks::config(tmp.path());
    wc.node = "n1".into();
    wc.workspace.github.api_base = api;
    wc.workspace.github.token = Some(Secret::new("ghp_stub"));
    let warden = Warden::start(wc).await.expect("warden starts");
    let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    let settings = BridgeSettings {
        config: BridgeConfig { workdir_roots: vec![tmp.path().to_path_buf()], ..BridgeConfig::default() },
        ..BridgeSettings::default()
    };
    let mut bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");
    let remote =
        Remote::new(warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects"), "warden", TIMEOUT);

    let provision = json!({"repo": remote_repo.display().to_string(), "id": "pr-ws",
                           "branch": {"from": "named", "name": "fix/pr"}});
    let reply: Reply = remote.request("n1", "provision_workspace", &provision).await.expect("reply");
    assert!(reply.ok, "{reply:?}");
    let path = reply.result.expect("result")["workspace"]["path"].as_str().expect("path").to_string();
    std::fs::write(std::path::Path::new(&path).join("f.txt"), "x\n").expect("write");

    for (owner, name) in [("o", "r/forks?x="), ("o", "../../user/repos?"), ("..", "r"), ("o", "r#"), ("", "r")] {
        let finalize = json!({"workspace": "pr-ws", "commit": {"message": "m"}, "push": {},
                              "pr": {"title": "t", "repo": {"host": "github.com", "owner": owner, "name": name}}});
        let reply: Reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
        let error = reply.error.clone().unwrap_or_else(|| panic!("{owner}/{name} refused: {reply:?}"));
        assert_eq!(error.code.as_str(), "bad_request", "{owner}/{name}: {reply:?}");
        assert!(reply.result.is_none(), "nothing was done: {reply:?}");
    }
    // Nothing was committed or pushed: the branch is not on the remote.
    let pushed = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", "refs/heads/fix/pr"])
        .current_dir(&remote_repo)
        .output()
        .expect("git");
    assert!(!pushed.status.success(), "the refused finalizes pushed nothing");

    // A task's `pr_repo` is one `owner/name` pair too.
    for pr_repo in ["o/r/forks?", "o/../../x", "o", "o/r?"] {
        let task = json!({"agent": "shell", "task": "true", "repo": remote_repo.display().to_string(),
                          "finalize": "pr", "pr_repo": pr_repo});
        let reply: Reply = remote.request("n1", "create_task", &task).await.expect("reply");
        let error = reply.error.clone().unwrap_or_else(|| panic!("{pr_repo} refused: {reply:?}"));
        assert_eq!(error.code.as_str(), "bad_request", "{pr_repo}: {reply:?}");
    }

    // A plain pair still opens its pull request, and it is the first
    // request GitHub saw.
    let finalize = json!({"workspace": "pr-ws", "commit": {"message": "m"}, "push": {},
                          "pr": {"title": "t", "repo": {"host": "github.com", "owner": "o.x", "name": "r_1-a"}}});
    let reply: Reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
    assert!(reply.ok, "{reply:?}");
    let first = seen.recv_timeout(TIMEOUT).expect("GitHub saw the pull request");
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/api/v3/repos/o.x/r_1-a/pulls"));

    bridge.stop_commands().await;
    warden.shutdown().await;
    bridge.shutdown(Duration::from_secs(5)).await;
}
