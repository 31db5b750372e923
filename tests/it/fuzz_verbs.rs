//! Every verb carried out with hostile arguments against a real node (issue
//! 14): a `warden serve` with a shell allowed and a git repository in its
//! root gets 600 generated requests over NATS — spawns, input, answers,
//! rules, resizes, stops, provisions with bad bases, finalizes — and never
//! answers `internal`, never crashes, and still serves afterwards. The
//! decoder alone has its own 12,000 cases in `crates/bridge/tests`.

use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::budgets::Node;
use crate::common;

/// Tasks typed into a shell: harmless commands, or hostile bytes.
fn task() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("true")),
        Just(json!("echo fuzz; exit 0")),
        Just(json!("exit 3")),
        Just(json!("\u{3}")),
        Just(json!("echo \u{1b}[2J")),
        Just(json!("a\u{0}b")),
        Just(json!("line\nline2\tx")),
        Just(json!("")),
        Just(json!(5)),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("hello")),
        Just(json!("\u{3}")),
        Just(json!("x\u{0}")),
        Just(json!("")),
        Just(json!("y".repeat(3000))),
        "[a-z \\t\\n\\x00-\\x1f]{0,12}".prop_map(Value::from),
    ]
}

fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("main")),
        Just(json!("ma\u{0}in")),
        Just(json!("a~1")),
        Just(json!("a..b")),
        Just(json!("nosuch")),
        Just(json!("feat/x")),
        Just(json!("-x")),
        Just(json!("x\u{1b}y")),
        Just(json!("HEAD")),
        "[a-z/~^:.@{}\\x00-\\x1f-]{0,10}".prop_map(Value::from),
    ]
}

fn rules() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!([])),
        Just(json!([{"pattern": "y/N", "reply": {"type": "text", "value": "y"}}])),
        Just(json!([{"pattern": "(", "reply": {"type": "text", "value": "y"}}])),
        Just(json!([{"pattern": "\\w{20}q1", "reply": {"type": "text", "value": "y"}}])),
        Just(json!([{"pattern": "x", "reply": {"type": "keys", "value": ["nokey"]}}])),
        Just(json!([{"pattern": "x", "reply": {"type": "text", "value": "a\u{3}"}}])),
    ]
}

fn session(live: Vec<String>) -> impl Strategy<Value = Value> {
    let mut choices: Vec<Value> = live.into_iter().map(Value::from).collect();
    choices.push(json!("0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f"));
    choices.push(json!("not-a-session"));
    proptest::sample::select(choices)
}

/// One request: (verb, body).
fn request(live: Vec<String>) -> impl Strategy<Value = (&'static str, Value)> {
    let s = move || session(live.clone());
    let size = (prop_oneof![Just(0), Just(1), Just(40), Just(5000)], prop_oneof![Just(0), Just(80), Just(70000)]);
    prop_oneof![
        (task(), prop_oneof![Just("shell"), Just("nope"), Just("claude")], rules(), size.clone()).prop_map(
            |(t, a, r, (rows, cols))| (
                "spawn_agent",
                json!({"agent": a, "task": t, "rules": r, "size": {"rows": rows, "cols": cols}})
            )
        ),
        (task(), prop_oneof![Just("."), Just("/"), Just("../x"), Just("sub"), Just("a\u{0}b")])
            .prop_map(|(t, w)| ("create_task", json!({"agent": "shell", "task": t, "workdir": w}))),
        (s(), text()).prop_map(|(s, t)| ("send_to_agent", json!({"session": s, "text": t}))),
        (s(), text()).prop_map(|(s, t)| ("send_to_agent", json!({"session": s, "paste": t}))),
        (s(), prop_oneof![Just(json!(["enter"])), Just(json!("ctrl+c")), Just(json!(["nokey"]))])
            .prop_map(|(s, k)| ("send_to_agent", json!({"session": s, "keys": k}))),
        (s(), size).prop_map(|(s, (r, c))| ("resize", json!({"session": s, "rows": r, "cols": c}))),
        s().prop_map(|s| ("snapshot", json!({"session": s}))),
        s().prop_map(|s| ("classify", json!({"session": s}))),
        s().prop_map(|s| ("pending_confirmations", json!({"session": s}))),
        (s(), text()).prop_map(|(s, id)| ("confirm", json!({"session": s, "id": id}))),
        (s(), text()).prop_map(|(s, id)| ("decline", json!({"session": s, "id": id}))),
        (s(), rules()).prop_map(|(s, r)| ("add_rules", json!({"session": s, "rules": r}))),
        s().prop_map(|s| ("clear_rules", json!({"session": s}))),
        s().prop_map(|s| ("stop_agent", json!({"session": s, "grace_ms": 100}))),
        Just(("list_agents", json!({}))),
        (name(), name(), prop_oneof![Just(json!("repo.git")), Just(json!("nope.git")), Just(json!("a\u{0}"))])
            .prop_map(|(branch, base, repo)| (
                "provision_workspace",
                json!({"repo": repo, "branch": {"from": "named", "name": branch}, "base": base})
            )),
        (name(), name()).prop_map(|(id, branch)| (
            "provision_workspace",
            json!({"parent": id, "branch": {"from": "named", "name": branch}})
        )),
        (name(), text()).prop_map(|(ws, m)| ("finalize_workspace", json!({"workspace": ws, "commit": {"message": m}}))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_hostile_requests_never_answer_internal() {
    let config = tempfile::Builder::new().suffix(".toml").tempfile().expect("config");
    std::fs::write(config.path(), "[rate_limit]\nper_second = 100000.0\nburst = 100000\n").expect("config");
    let node = Node::start_with(&["--config", config.path().to_str().expect("utf-8")]).await;
    let root = node.root().to_path_buf();
    std::fs::create_dir_all(root.join("sub")).expect("sub");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(&root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "-b", "main", "seed"]);
    std::fs::write(root.join("seed/README"), "x\n").expect("readme");
    git(&["-C", "seed", "add", "."]);
    git(&["-C", "seed", "commit", "-q", "-m", "init"]);
    git(&["clone", "-q", "--bare", "seed", "repo.git"]);

    let mut runner = TestRunner::deterministic();
    let mut live: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..600 {
        let (verb, body) = request(live.clone()).new_tree(&mut runner).expect("a request").current();
        let reply = node.request(verb, body.clone()).await;
        match &reply.error {
            Some(e) => {
                assert_ne!(e.code.as_str(), "internal", "request {i}: {verb} {body}: {e:?}");
                *seen.entry(format!("{verb}:{}", e.code.as_str())).or_default() += 1;
            }
            None => {
                *seen.entry(format!("{verb}:ok")).or_default() += 1;
                if let Some(id) = reply.result.as_ref().and_then(|r| r["session"]["id"].as_str()) {
                    live.push(id.to_string());
                    if live.len() > 8 {
                        live.remove(0);
                    }
                }
            }
        }
    }
    eprintln!("answers: {seen:?}");
    // The node still serves, and every kind of answer was seen.
    let stop = node.request("stop_agent", json!({"all": true})).await;
    assert!(stop.ok, "{stop:?}");
    let list = node.request("list_agents", json!({})).await;
    assert!(list.ok, "{list:?}");
    assert!(seen.keys().any(|k| k == "spawn_agent:ok"), "{seen:?}");
    assert!(seen.keys().any(|k| k.ends_with(":bad_request")), "{seen:?}");
    let mut serve = node.serve;
    assert_eq!(serve.terminate(common::TIMEOUT), Some(0), "{:?}", serve.drain_stderr());
}
