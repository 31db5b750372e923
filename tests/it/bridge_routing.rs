//! Which node and which terminal a request reaches, against a real
//! `nats-server`: on `any`, only the node that has a session by its whole
//! id or its tail serves it (a prefix, shared by ids made in the same minute
//! on every node, is served by none); a workspace id a caller chose, which
//! several nodes may have, is refused on `any`; raw input is checked against
//! the keyboard's holder in the order it came with `attach`, in the session's lane.

use crate::bridge::{Node, remote, shell_config};
use crate::common;
use crate::common::nats::NatsServer;
use crate::common::short;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use warden::SessionId;
use warden_bridge::CLIENT_HEADER;
use warden_bridge::async_nats::HeaderMap;
use warden_bridge::protocol::{Reply, SpawnResult, StopResult};
use warden_bridge::{NatsOptions, Remote};

const T: Duration = common::TIMEOUT;

async fn spawn_shell(remote: &Remote, node: &str) -> SessionId {
    let reply = remote.request(node, "spawn_agent", &json!({"agent": "shell"})).await.expect("spawn reply");
    assert!(reply.ok, "{reply:?}");
    let spawned: SpawnResult = serde_json::from_value(reply.result.expect("result")).expect("spawn result");
    assert_eq!(spawned.node, node);
    spawned.session.id
}

/// The reported defect: `stop_agent` on `any` with the first 8 hex digits of
/// a session id was taken for a short id, resolved as a prefix on every node,
/// and every node whose session had that head (all made in the same minute)
/// stopped it. Only the whole id or its tail is served on `any`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_any_a_prefix_is_served_by_no_node_and_a_tail_by_its_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let n1 = Node::start(dir.path(), &server, "n1", shell_config(dir.path()), false).await;
    let n2 = Node::start(dir.path(), &server, "n2", shell_config(dir.path()), false).await;
    let remote = remote(&server).await;
    // Made together: UUID v7 ids whose first 8 digits (the head of their
    // timestamp) are the same unless a 65-second boundary falls between them.
    let a = spawn_shell(&remote, "n1").await;
    let b = spawn_shell(&remote, "n2").await;
    let head: String = a.to_string().chars().take(8).collect();
    let shared = b.to_string().starts_with(&head);
    assert!(![a, b].iter().any(|id| short(&id.to_string()).ends_with(&head)), "{head} ends an id: draw again");

    // Nobody serves a prefix on `any`: the request gets no reply (as for a
    // session no node has), and no session stops.
    let quick = Remote::new(
        warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("connects"),
        "warden",
        Duration::from_secs(2),
    );
    let stop = json!({"session": head, "grace_ms": 100});
    let replies = quick
        .gather_raw("stop_agent", serde_json::to_vec(&stop).expect("json").into(), Duration::from_millis(300))
        .await
        .expect("gathers");
    let replies: Vec<String> = replies.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
    assert!(replies.is_empty(), "the prefix {head} (b shares it: {shared}) was served on any: {replies:?}");
    for (node, name, id) in [(&n1, "n1", a), (&n2, "n2", b)] {
        // In the session's lane, after a stop the prefix could have queued.
        let resize = remote.request(name, "resize", &json!({"session": id, "rows": 30, "cols": 90})).await;
        assert!(resize.as_ref().is_ok_and(|r| r.ok), "{name}'s session answers: {resize:?}");
        let info = node.warden.get(id).await.expect("the session is known");
        assert!(info.exit.is_none() && info.state.is_live(), "{name}'s session untouched: {info:?}");
    }

    // The tail reaches the node that has the session, and only it.
    let stop = json!({"session": short(&b.to_string()), "grace_ms": 100});
    let replies = remote
        .gather_raw("stop_agent", serde_json::to_vec(&stop).expect("json").into(), Duration::from_millis(300))
        .await
        .expect("gathers");
    assert_eq!(replies.len(), 1, "one node serves a tail on any");
    let reply: Reply = serde_json::from_slice(&replies[0]).expect("reply");
    assert!(reply.ok, "{reply:?}");
    let stopped: StopResult = serde_json::from_value(reply.result.expect("result")).expect("stop result");
    assert_eq!((stopped.node.as_str(), stopped.session), ("n2", Some(b)));
    let info = n1.warden.get(a).await.expect("a is known");
    assert!(info.exit.is_none() && info.state.is_live(), "n1's session untouched: {info:?}");

    n1.stop().await;
    n2.stop().await;
}

/// The reported defect: raw input was checked against the keyboard's holder
/// when it arrived, `attach` only when its turn in the session's lane came.
/// With the lane busy, B's input after B's `attach {take: true}` was refused,
/// and A's input after B took the keyboard was written. Both are checked in
/// the lane now, in the order they came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_input_is_checked_against_the_keyboard_in_the_order_it_came_with_attach() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    // `send_to_agent` waits for the screen to show its input taken: for as
    // long as the session's lane allows, not the default 3 s.
    let node = Node::start_with(dir.path(), &server, "k1", shell_config(dir.path()), false, |wc| {
        wc.input_ack_timeout = Duration::from_secs(30);
    })
    .await;
    let remote = remote(&server).await;
    let client = remote.client().clone();
    let id = spawn_shell(&remote, "k1").await;
    let mut events = node.warden.subscribe(None);
    let attach = |who: &str, take: bool| json!({"session": id, "client": who, "take": take});
    let a = remote.request("k1", "attach", &attach("A", false)).await.expect("attach reply");
    assert_eq!(a.result.as_ref().map(|r| &r["holder"]), Some(&json!("A")), "A holds the keyboard: {a:?}");

    // The shell reads a line with echo off and shows it only once `release`
    // exists: until then the screen does not show a sent text taken, and its
    // `send_to_agent` holds the session's lane.
    let release = dir.path().join("release");
    let script = format!(
        "stty -echo; echo ar''med; read -r x; while [ ! -e '{}' ]; do sleep 0.02; done; echo \"got-$x\"",
        release.display()
    );
    let armed = remote.request("k1", "send_to_agent", &json!({"session": id, "text": script})).await;
    assert!(armed.as_ref().is_ok_and(|r| r.ok), "{armed:?}");
    common::wait_output(&mut events, id, "armed").await;

    let inbox = client.new_inbox();
    let mut replies = client.subscribe(format!("{inbox}.*")).await.expect("subscribes");
    client.flush().await.expect("flush");
    let body = |v: Value| serde_json::to_vec(&v).expect("json").into();
    let command = |verb: &str| format!("warden.k1.cmd.{verb}");
    client
        .publish_with_reply(
            command("send_to_agent"),
            format!("{inbox}.hold"),
            body(json!({"session": id, "text": "lane"})),
        )
        .await
        .expect("publish");
    client.publish_with_reply(command("attach"), format!("{inbox}.take"), body(attach("B", true))).await.expect("pub");
    // On the same subscription as the two above, so handled after them: once
    // it is answered, both wait in the session's lane behind the held input.
    let listed = remote.request("k1", "list_agents", &json!({})).await.expect("list reply");
    assert!(listed.ok, "{listed:?}");
    let typed = |who: &str| {
        let mut h = HeaderMap::new();
        h.insert(CLIENT_HEADER, who);
        h
    };
    let input = format!("warden.k1.in.{id}");
    for (who, text) in [("A", "echo typed-by-a-$((3+4))\r"), ("B", "echo typed-by-b-$((2+3))\r")] {
        let reply_to = format!("{inbox}.{}", who.to_lowercase());
        let payload = text.as_bytes().to_vec().into();
        client.publish_with_reply_and_headers(input.clone(), reply_to, typed(who), payload).await.expect("pub");
    }
    // Input to a session the node does not have, on the same subscription as
    // the two above: its reply says the node has handled them.
    let other = format!("warden.k1.in.{}", SessionId::new());
    let barrier = client.request(other, "x".into());
    let barrier = tokio::time::timeout(T, barrier).await.expect("in time").expect("reply");
    let barrier: Reply = serde_json::from_slice(&barrier.payload).expect("reply");
    assert!(!barrier.ok, "{barrier:?}");

    std::fs::write(&release, "").expect("release");
    let mut got: HashMap<String, Reply> = HashMap::new();
    while got.len() < 4 {
        let msg = tokio::time::timeout(T, replies.next()).await;
        let msg = msg.unwrap_or_else(|_| panic!("every reply in time; got {got:?}")).expect("open");
        let which = msg.subject.rsplit('.').next().unwrap_or_default().to_string();
        got.insert(which, serde_json::from_slice(&msg.payload).expect("reply"));
    }
    let code = |r: &Reply| if r.ok { "ok".to_string() } else { r.error.as_ref().expect("error").code.as_str().into() };
    assert_eq!(code(&got["hold"]), "ok", "{:?}", got["hold"]);
    assert_eq!(got["take"].result.as_ref().map(|r| &r["holder"]), Some(&json!("B")), "{:?}", got["take"]);
    assert_eq!(
        (code(&got["a"]), code(&got["b"])),
        ("conflict".to_string(), "ok".to_string()),
        "A typed after B took the keyboard, B after taking it: {got:?}"
    );
    // B's keystrokes reached the shell; A's, which would have come first, did not.
    let text = common::wait_output(&mut events, id, "typed-by-b-5").await;
    assert!(!text.contains("typed-by-a-7"), "{text:?}");
    node.stop().await;
}

/// Provisions workspace `id` (or a generated one) of `remote.git` on branch
/// `branch` on `node`, writes a file into it; the workspace's id.
async fn provisioned(remote: &Remote, node: &str, id: Option<&str>, branch: &str) -> String {
    let mut body = json!({"repo": "remote.git", "branch": {"from": "named", "name": branch}});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    let reply = remote.request(node, "provision_workspace", &body).await.expect("provision reply");
    assert!(reply.ok, "{node}: {reply:?}");
    let ws = &reply.result.expect("result")["workspace"];
    std::fs::write(std::path::Path::new(ws["path"].as_str().expect("path")).join("f.txt"), node).expect("write");
    ws["id"].as_str().expect("id").to_string()
}

/// The reported defect: a workspace id a caller chose (`demo`) may exist on
/// two nodes, and `finalize_workspace` on `any` was served by both: both
/// committed and pushed (and would have opened two pull requests). Now each
/// node that has a chosen id refuses it on `any` and acts on nothing; a
/// generated id (a UUID) is served by its node on `any`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_any_a_workspace_id_a_caller_chose_is_refused_and_nothing_is_pushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let bare = common::git::bare_remote(&root);
    let n1 = Node::start(dir.path(), &server, "n1", shell_config(&root), false).await;
    let n2 = Node::start(dir.path(), &server, "n2", shell_config(&root), false).await;
    let remote = remote(&server).await;
    provisioned(&remote, "n1", Some("demo"), "feat/one").await;
    provisioned(&remote, "n2", Some("demo"), "feat/two").await;

    let finalize = json!({"workspace": "demo", "commit": {"message": "m"}, "push": {}});
    let replies = remote
        .gather_raw("finalize_workspace", serde_json::to_vec(&finalize).expect("json").into(), Duration::from_secs(3))
        .await
        .expect("gathers");
    assert_eq!(replies.len(), 2, "both nodes that have `demo` answer");
    for raw in &replies {
        let reply: Reply = serde_json::from_slice(raw).expect("reply");
        let error = reply.error.as_ref().unwrap_or_else(|| panic!("refused: {reply:?}"));
        assert_eq!(error.code.as_str(), "bad_request", "{reply:?}");
        assert!(error.message.contains("not `any`"), "the message says what to do: {}", error.message);
    }
    let branches = common::git::git(&bare, &["branch", "--list"]);
    assert!(!branches.contains("feat/"), "nothing was pushed: {branches}");

    // Addressed to its node, the chosen id is served.
    let reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
    assert!(reply.ok, "{reply:?}");
    // A generated id is served on `any` by the node that has it.
    let id = provisioned(&remote, "n2", None, "feat/three").await;
    let finalize = json!({"workspace": id, "commit": {"message": "m"}, "push": {}});
    let reply = remote.request("any", "finalize_workspace", &finalize).await.expect("the owner answers");
    assert!(reply.ok, "{reply:?}");
    assert_eq!(reply.result.expect("result")["node"], "n2");
    let branches = common::git::git(&bare, &["branch", "--list"]);
    assert!(branches.contains("feat/one") && branches.contains("feat/three"), "{branches}");
    assert!(!branches.contains("feat/two"), "{branches}");

    n1.stop().await;
    n2.stop().await;
}
