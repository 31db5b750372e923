//! Replies that tell the truth and flags that do what they say (issue 15):
//! a finalize whose pull request failed is `ok: false` with the partial
//! report (and `warden ctl` exits 1); `warden serve --allow-agent shell`
//! adds shell to the default agents instead of replacing them; every
//! `forbidden` names the setting that would allow the request.

use crate::common;
use crate::common::binary::{serve, serving, warden_cmd};

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use warden_bridge::protocol::Reply;

use crate::common::git::bare_remote;
use crate::workspaces::servers::github_stub;

const T: Duration = common::TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalize_whose_pull_request_failed_is_not_ok_and_keeps_its_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote_repo = bare_remote(tmp.path());
    let (api, _seen) =
        github_stub(vec![(422, r#"{"message":"Validation Failed"}"#), (422, r#"{"message":"Validation Failed"}"#)]);
    let node = crate::common::node::github_node(tmp.path(), api, T, |_| {}, |_| {}).await;
    let remote = &node.remote;

    let path = node.provision_with_a_change(&remote_repo, "fix-auth-ws", "fix/auth", "auth.txt", "fixed\n").await;

    // By its short form (the id's last 8 characters without dashes).
    let finalize = json!({"workspace": "authws", "commit": {"message": "fix auth"}, "push": {},
                          "pr": {"title": "Fix auth", "repo": {"host": "github.com", "owner": "o", "name": "r"}}});
    let reply: Reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
    assert!(!reply.ok, "the pull request failed: {reply:?}");
    let error = reply.error.clone().expect("an error");
    assert_eq!(error.code.as_str(), "unavailable", "{error:?}");
    assert!(error.message.contains("pull request") && error.message.contains("github"), "{error:?}");
    let report = &reply.result.as_ref().expect("the partial report")["report"];
    assert_eq!(report["commit"]["status"], "done", "{report}");
    assert!(report["commit"]["value"]["commit"].is_string(), "the commit id: {report}");
    assert_eq!(report["push"]["status"], "done", "{report}");
    assert_eq!(report["pr"]["status"], "failed", "{report}");
    let pushed =
        Command::new("git").args(["show", "fix/auth:auth.txt"]).current_dir(&remote_repo).output().expect("git");
    assert_eq!(String::from_utf8_lossy(&pushed.stdout), "fixed\n");

    // `warden ctl` exits non-zero on it (and prints the reply).
    std::fs::write(path.join("auth2.txt"), "more\n").expect("write");
    let out = warden_cmd(&tmp.path().join("client"))
        .args(["ctl", "raw", "finalize_workspace", &finalize.to_string(), "--nats", &node.nats.url(), "--node", "n1"])
        .output()
        .expect("ctl");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("reply JSON");
    assert_eq!(
        (printed["ok"].as_bool(), printed["result"]["report"]["push"]["status"].as_str()),
        (Some(false), Some("done"))
    );

    node.shutdown().await;
}

/// `--allow-agent shell` adds shell to the default agents (claude stays
/// allowed: refused only as not installed, never `forbidden`);
/// `--workdir-root` adds a root; each `forbidden` names its setting.
#[test]
fn serve_flags_add_to_the_configuration_and_forbidden_names_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(&extra).expect("extra root");
    let mut cmd = warden_cmd(&state);
    cmd.args(["serve", "--node", "f1", "--allow-agent", "shell", "--workdir-root"]).arg(&extra);
    let mut node = serving(cmd);
    let ctl = |args: &[&str]| -> Value {
        let out = warden_cmd(&state).arg("ctl").args(args).output().expect("ctl");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    // Shell is allowed now …
    let shell = ctl(&["spawn_agent", "--agent", "shell", "--task", "exit 0"]);
    assert_eq!(shell["ok"], true, "{shell}");
    // … and the default agents still are (not installed here is `unavailable`, not `forbidden`).
    for agent in ["claude", "codex", "gemini", "aider"] {
        let r = ctl(&["spawn_agent", "--agent", agent, "--task", "x"]);
        assert_ne!(r["error"]["code"], "forbidden", "{agent}: {r}");
    }
    // The added root is allowed, and so is the default one.
    let inside =
        ctl(&["spawn_agent", "--agent", "shell", "--task", "exit 0", "--workdir", extra.to_str().expect("utf-8")]);
    assert_eq!(inside["ok"], true, "{inside}");
    let default = ctl(&[
        "spawn_agent",
        "--agent",
        "shell",
        "--task",
        "exit 0",
        "--workdir",
        state.join("work").to_str().expect("utf-8"),
    ]);
    assert_eq!(default["ok"], true, "{default}");
    // Outside: forbidden, naming the flag.
    let outside = ctl(&["spawn_agent", "--agent", "shell", "--workdir", "/etc"]);
    assert_eq!(outside["error"]["code"], "forbidden", "{outside}");
    assert!(outside["error"]["message"].as_str().is_some_and(|m| m.contains("--workdir-root")), "{outside}");
    let env = ctl(&["spawn_agent", "--agent", "shell", "--env", "LD_PRELOAD=x"]);
    assert!(env["error"]["message"].as_str().is_some_and(|m| m.contains("deny_env")), "{env}");
    node.terminate(T);

    // Without the flag, shell is refused naming the flag that allows it.
    let mut node = serve(&state, &["--node", "f1"]);
    let refused = ctl(&["spawn_agent", "--agent", "shell"]);
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("--allow-agent shell")), "{refused}");
    node.terminate(T);
}
