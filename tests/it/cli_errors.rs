//! What warden accepts and how it says no (issue 14, finding 7): control
//! characters in a task are refused by the CLI and by `spawn_agent` and
//! `create_task`; argument errors are one line, a hint, exit 125; a wrong
//! NATS token is one line.

use std::process::Command;

use serde_json::json;

use crate::budgets::Node;
use crate::common::binary::warden_cmd;
use crate::common::nats::NatsServer;

/// Runs warden; returns (exit code, stderr lines).
fn run(cmd: &mut Command) -> (Option<i32>, Vec<String>) {
    let out = cmd.output().expect("warden runs");
    let stderr = String::from_utf8_lossy(&out.stderr).lines().map(str::to_owned).collect();
    (out.status.code(), stderr)
}

#[test]
fn argument_errors_are_one_line_with_a_hint_and_exit_125() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let cases: [(&[&str], &str); 5] = [
        (&["run", "--bogus"], "see `warden run --help`"),
        (&["serve", "--nats"], "see `warden serve --help`"),
        (&["ctl", "--node", "n1", "list_agents", "--nope"], "see `warden ctl --help`"),
        (&["frobnicate"], "see `warden --help`"),
        (&[], "a command is required"),
    ];
    for (args, hint) in cases {
        let (code, err) = run(warden_cmd(&state).args(args));
        assert_eq!(code, Some(125), "{args:?}: {err:?}");
        assert_eq!(err.len(), 1, "{args:?}: one line: {err:?}");
        assert!(err[0].starts_with("warden: ") && err[0].contains(hint), "{args:?}: {err:?}");
    }
    let (code, err) =
        run(warden_cmd(&state).args(["run", "--agent", "shell", "--timeout", "1000000000", "--task", "x"]));
    assert_eq!(code, Some(125));
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].contains("too long") && !err[0].contains("greater than 0"), "{err:?}");
    // Help and the version are answers: stdout, exit 0.
    let out = warden_cmd(&state).arg("--version").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("warden "));
}

#[test]
fn the_cli_refuses_control_characters_in_a_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    for task in ["\u{3}", "echo \u{1b}[2J hi", "a\rb"] {
        let (code, err) =
            run(warden_cmd(&state).current_dir(dir.path()).args(["run", "--agent", "shell", "--task", task]));
        assert_eq!(code, Some(125), "{task:?}: {err:?}");
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("control character"), "{err:?}");
    }
    // Newlines and tabs are text.
    let (code, err) =
        run(warden_cmd(&state).current_dir(dir.path()).args(["run", "--agent", "shell", "--task", "echo\ta\nexit 0"]));
    assert_eq!(code, Some(0), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_agent_and_create_task_refuse_control_characters_in_a_task() {
    let node = Node::start().await;
    for verb in ["spawn_agent", "create_task"] {
        for task in ["\u{3}", "echo \u{1b}[2J", "x\u{0}y", "x\u{9b}y"] {
            let reply = node.request(verb, json!({"agent":"shell","task":task})).await;
            let err = reply.error.unwrap_or_else(|| panic!("{verb} {task:?} was accepted"));
            assert_eq!(err.code.as_str(), "bad_request", "{verb} {task:?}: {err:?}");
            assert!(err.message.contains("control character"), "{err:?}");
        }
    }
    let ok = node.request("create_task", json!({"agent":"shell","task":"echo a\tb\nexit 0"})).await;
    assert!(ok.ok, "newlines and tabs are allowed: {ok:?}");
    let mut serve = node.serve;
    assert_eq!(serve.terminate(crate::common::TIMEOUT), Some(0));
}

#[test]
fn a_wrong_nats_token_is_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start_with_token(&dir.path().join("js"), "right-token");
    let state = dir.path().join("state");
    for args in [
        vec!["ctl", "--nats", &server.url(), "--node", "n1", "list_agents"],
        vec!["serve", "--nats", &server.url(), "--node", "n1"],
    ] {
        let (code, err) = run(warden_cmd(&state).args(&args).env("WARDEN_NATS_TOKEN", "wrong-token"));
        assert_eq!(code, Some(125), "{args:?}: {err:?}");
        assert_eq!(err.len(), 1, "{args:?}: one line: {err:?}");
        assert!(err[0].starts_with("warden: ") && !err[0].trim_end().ends_with(':'), "{err:?}");
        assert!(!err[0].contains("wrong-token"), "{err:?}");
        assert_eq!(err[0].matches("authorization violation").count(), 1, "said once: {err:?}");
    }
}
