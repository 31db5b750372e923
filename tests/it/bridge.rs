//! The NATS bridge against a real `nats-server`: the CLI flow, two nodes
//! and a coordinator, bad input, a server restart with JetStream, token auth.

use crate::common;
use crate::common::binary::{serve, serving, warden_cmd};
use crate::common::nats;

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nats::{NatsServer, Proc};
use serde_json::{Value, json};
use warden::{EventKind, SessionId, Warden, WardenConfig};
use warden_bridge::config::{BridgeConfig, JetStreamConfig, RateLimitConfig};
use warden_bridge::protocol::{ListResult, Reply, SpawnResult, StopResult};
use warden_bridge::{Bridge, BridgeSettings, FollowOptions, NatsOptions, Remote, follow_events};

const T: Duration = common::TIMEOUT;

/// A warden and its bridge in this process.
pub(crate) struct Node {
    pub(crate) warden: Warden,
    bridge: Option<Bridge>,
}

impl Node {
    pub(crate) async fn start(
        dir: &std::path::Path,
        nats: &NatsServer,
        name: &str,
        config: BridgeConfig,
        jetstream: bool,
    ) -> Node {
        Node::start_with(dir, nats, name, config, jetstream, |_| {}).await
    }

    /// [`Node::start`], with `warden` adjusting the warden's configuration.
    pub(crate) async fn start_with(
        dir: &std::path::Path,
        nats: &NatsServer,
        name: &str,
        config: BridgeConfig,
        jetstream: bool,
        warden: impl FnOnce(&mut WardenConfig),
    ) -> Node {
        let mut wc = WardenConfig::new(dir.join(name));
        wc.node = name.into();
        wc.stop_grace = Duration::from_millis(300);
        warden(&mut wc);
        let warden = Warden::start(wc).await.expect("warden starts");
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        let settings = BridgeSettings { jetstream, config, ..BridgeSettings::default() };
        let bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");
        Node { warden, bridge: Some(bridge) }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(mut b) = self.bridge.take() {
            b.stop_commands().await;
            self.warden.shutdown().await;
            b.shutdown(Duration::from_secs(5)).await;
        }
    }
}

pub(crate) fn shell_config(root: &std::path::Path) -> BridgeConfig {
    BridgeConfig {
        allow_agents: Some(vec!["shell".into()]),
        workdir_roots: vec![root.to_path_buf()],
        ..BridgeConfig::default()
    }
}

pub(crate) async fn remote(nats: &NatsServer) -> Remote {
    let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    Remote::new(client, "warden", T)
}

fn result<R: serde::de::DeserializeOwned>(reply: &Reply) -> R {
    assert!(reply.ok, "reply not ok: {reply:?}");
    serde_json::from_value(reply.result.clone().expect("result")).expect("typed result")
}

async fn code_of(remote: &Remote, node: &str, verb: &str, payload: &[u8]) -> String {
    let raw = remote.request_raw(node, verb, payload.to_vec().into()).await.expect("a reply");
    let reply: Reply = serde_json::from_slice(&raw).expect("reply parses");
    assert!(!reply.ok, "{verb} should fail: {reply:?}");
    reply.error.expect("error").code.as_str().to_string()
}

/// `warden serve` + `warden ctl spawn_agent` + `warden events --json`, live
/// and replayed from JetStream.
#[test]
fn cli_serve_ctl_and_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let url = server.url();
    let mut serve =
        serve(&dir.path().join("state"), &["--nats", &url, "--node", "n1", "--jetstream", "--allow-agent", "shell"]);
    let mut live = Proc::spawn({
        let mut c = warden_cmd(&dir.path().join("state"));
        c.args(["events", "--nats", &url, "--node", "n1", "--json"]);
        c
    });
    live.wait_stderr("following", T);

    let out = warden_cmd(&dir.path().join("state"))
        .args(["ctl", "--nats", &url, "--node", "n1", "spawn_agent", "--agent", "shell", "--task", "echo hi; exit 0"])
        .output()
        .expect("ctl runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let reply: Reply = serde_json::from_slice(&out.stdout).expect("reply JSON");
    let spawned: SpawnResult = result(&reply);
    assert_eq!(spawned.node, "n1");
    let id = spawned.session.id;

    // Live: the session's events as JSON lines, ending with `exited`.
    let mut lines = Vec::new();
    loop {
        let line = live.next_stdout(T);
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["session"] != json!(id.to_string()) {
            continue;
        }
        let done = v["kind"] == "exited";
        lines.push(v);
        if done {
            break;
        }
    }
    check_session_lines(&lines, "hi");

    // Replayed from the stream, then stopped at `exited`.
    let out = warden_cmd(&dir.path().join("state"))
        .args(["events", "--nats", &url, "--node", "n1", "--session", &id.to_string(), "--since", "1"])
        .args(["--json", "--until-exit"])
        .output()
        .expect("events runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let replayed: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(replayed, lines, "the stream holds what was published live");

    assert_eq!(serve.terminate(T), Some(0), "serve exits cleanly on SIGTERM: {:?}", serve.drain_stderr());
}

fn check_session_lines(lines: &[Value], needle: &str) {
    assert!(lines.len() >= 3, "{lines:?}");
    let mut last = 0;
    for l in lines {
        let seq = l["seq"].as_u64().expect("seq");
        assert!(seq > last, "seq increases: {lines:?}");
        last = seq;
        assert_eq!(l["v"], 1);
        assert!(l["ts"].is_string() && l["node"].is_string() && l["kind"].is_string(), "{l}");
    }
    assert_eq!(lines[0]["kind"], "session_started");
    let text: String = lines.iter().filter(|l| l["kind"] == "output").filter_map(|l| l["data"].as_str()).collect();
    assert!(text.contains(needle), "output has {needle:?}: {text:?}");
    let exited = lines.last().expect("lines");
    assert_eq!(exited["kind"], "exited");
    assert_eq!(exited["code"], 0);
}

/// Two nodes, one coordinator: `any` spawns land on exactly one node; the
/// other verbs work by node; the events show the session's life in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_and_a_coordinator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let n1 = Node::start(dir.path(), &server, "n1", shell_config(dir.path()), false).await;
    let n2 = Node::start(dir.path(), &server, "n2", shell_config(dir.path()), false).await;
    let remote = remote(&server).await;
    let mut all_events =
        follow_events(remote.client(), &FollowOptions { prefix: "warden".into(), ..FollowOptions::default() })
            .await
            .expect("follows");

    // Scatter on `any` with a queue group: exactly one node answers.
    let spawn = json!({"v":1,"agent":"shell","label":"coord","request_id":"r1"});
    let replies = remote
        .gather_raw("spawn_agent", serde_json::to_vec(&spawn).expect("json").into(), Duration::from_millis(300))
        .await
        .expect("gathers");
    assert_eq!(replies.len(), 1, "exactly one node answers a spawn on any");
    let reply: Reply = serde_json::from_slice(&replies[0]).expect("reply");
    assert_eq!(reply.request_id.as_deref(), Some("r1"));
    let spawned: SpawnResult = result(&reply);
    let (node, other) = if spawned.node == "n1" { ("n1", "n2") } else { ("n2", "n1") };
    let id = spawned.session.id;

    // list_agents by node, and scatter-gather on any.
    let on_node: ListResult = result(&remote.request(node, "list_agents", &json!({})).await.expect("list"));
    assert!(on_node.agents.iter().any(|a| a.id == id && a.label.as_deref() == Some("coord")));
    let on_other: ListResult = result(&remote.request(other, "list_coding_agents", &json!({})).await.expect("list"));
    assert!(on_other.agents.iter().all(|a| a.id != id), "the session runs on one node only");
    let everyone =
        remote.gather_raw("list_agents", b"{}".to_vec().into(), Duration::from_millis(300)).await.expect("g");
    assert_eq!(everyone.len(), 2, "every node answers list_agents on any");

    // send_to_agent (text, keys) and resize by node.
    let ok = |r: Reply| assert!(r.ok, "{r:?}");
    ok(remote.request(node, "resize", &json!({"session": id, "rows": 30, "cols": 100})).await.expect("resize"));
    ok(remote
        .request(node, "send_to_agent", &json!({"session": id, "text": "echo marker-$((6*7))"}))
        .await
        .expect("s"));
    ok(remote.request(node, "send_to_coding_agent", &json!({"sessionId": id, "keys": ["enter"]})).await.expect("k"));
    let code = code_of(&remote, other, "send_to_agent", format!(r#"{{"session":"{id}","text":"x"}}"#).as_bytes()).await;
    assert_eq!(code, "unknown_session", "the other node does not know the session");

    // Wait for the marker in the event stream, then stop by node.
    let mut seen = Vec::new();
    let deadline = Instant::now() + T;
    let mut text = String::new();
    while !text.contains("marker-42") {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, all_events.next()).await.expect("marker in time").expect("stream open");
        if e.session == Some(id) {
            if let EventKind::Output(o) = &e.kind {
                text.push_str(&o.text_lossy());
            }
            seen.push(e);
        }
    }
    let stop: StopResult =
        result(&remote.request(node, "stop_agent", &json!({"session": id, "grace_ms": 200})).await.expect("stop"));
    assert_eq!(stop.session, Some(id));
    assert_eq!(stop.exit.expect("exit").reason, "stopped");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = tokio::time::timeout(left, all_events.next()).await.expect("exit in time").expect("stream open");
        if e.session != Some(id) {
            continue;
        }
        let done = matches!(e.kind, EventKind::Exited(_));
        seen.push(e);
        if done {
            break;
        }
    }
    assert!(matches!(seen[0].kind, EventKind::SessionStarted { .. }), "{:?}", seen[0]);
    assert!(seen.iter().any(|e| matches!(e.kind, EventKind::Resized { .. })));
    assert!(seen.iter().any(|e| matches!(&e.kind, EventKind::Input { keys, .. } if keys == &["enter"])));
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq), "events in seq order");
    assert!(seen.iter().all(|e| e.node == node));

    n1.stop().await;
    n2.stop().await;
}

/// Malformed, mistyped, unknown, oversized and forbidden requests get their
/// codes; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_error_codes_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::create_dir_all(dir.path().join("outside")).expect("outside");
    // `strict`: the default policy (no shell), small requests.
    let strict = BridgeConfig { max_request_bytes: 4096, ..BridgeConfig::default() };
    let n1 = Node::start(dir.path(), &server, "strict", strict, false).await;
    // `open`: shell allowed under `root` only; a tiny rate limit.
    let open = BridgeConfig {
        rate_limit: RateLimitConfig { per_second: 0.5, burst: 40 },
        allow_verbs: Some(["spawn_agent", "list_agents", "send_to_agent"].map(String::from).to_vec()),
        ..shell_config(&root)
    };
    let n2 = Node::start(dir.path(), &server, "open", open, false).await;
    let r = remote(&server).await;
    let sid = SessionId::new();

    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("strict", "spawn_agent", b"{not json".to_vec(), "bad_request"),
        ("strict", "spawn_agent", b"\xff\xfe\x00garbage".to_vec(), "bad_request"),
        ("strict", "spawn_agent", br#"{"agent": 5}"#.to_vec(), "bad_request"),
        ("strict", "spawn_agent", br#"{"agent": "shell", "extra": true}"#.to_vec(), "bad_request"),
        ("strict", "resize", format!(r#"{{"session":"{sid}","rows":"x","cols":1}}"#).into_bytes(), "bad_request"),
        ("strict", "frobnicate", b"{}".to_vec(), "unknown_verb"),
        ("strict", "snapshot", b"{}".to_vec(), "bad_request"),
        ("strict", "classify", format!(r#"{{"session":"{sid}"}}"#).into_bytes(), "unknown_session"),
        ("strict", "confirm", format!(r#"{{"session":"{sid}","id":"c1"}}"#).into_bytes(), "unknown_session"),
        (
            "strict",
            "add_rules",
            format!(r#"{{"session":"{sid}","rules":[{{"pattern":"(","reply":{{"type":"text","value":"y"}}}}]}}"#)
                .into_bytes(),
            "unknown_session",
        ),
        ("open", "snapshot", format!(r#"{{"session":"{sid}"}}"#).into_bytes(), "forbidden"),
        ("strict", "provision_workspace", b"{}".to_vec(), "bad_request"),
        ("strict", "send_to_agent", format!(r#"{{"session":"{sid}","text":"hi"}}"#).into_bytes(), "unknown_session"),
        ("strict", "stop_agent", format!(r#"{{"session":"{sid}"}}"#).into_bytes(), "unknown_session"),
        ("strict", "attach", format!(r#"{{"session":"{sid}","client":"c"}}"#).into_bytes(), "unknown_session"),
        ("strict", "detach", format!(r#"{{"session":"{sid}","client":"c"}}"#).into_bytes(), "unknown_session"),
        ("strict", "spawn_agent", format!(r#"{{"agent":"{}"}}"#, "x".repeat(5000)).into_bytes(), "too_large"),
        ("strict", "spawn_agent", br#"{"agent":"shell"}"#.to_vec(), "forbidden"),
        ("strict", "spawn_coding_agent", br#"{"agentType":"bash"}"#.to_vec(), "forbidden"),
        ("open", "spawn_agent", br#"{"agent":"shell","workdir":"/"}"#.to_vec(), "forbidden"),
        ("open", "spawn_agent", br#"{"agent":"shell","workdir":"../outside"}"#.to_vec(), "forbidden"),
        ("open", "spawn_agent", br#"{"agent":"shell","env":{"LD_PRELOAD":"x"}}"#.to_vec(), "forbidden"),
        ("open", "stop_agent", format!(r#"{{"session":"{sid}"}}"#).into_bytes(), "forbidden"),
        ("open", "spawn_agent", br#"{"agent":"nope"}"#.to_vec(), "bad_request"),
    ];
    for (node, verb, payload, want) in &cases {
        let got = code_of(&r, node, verb, payload).await;
        assert_eq!(&got, want, "{node} {verb} {:?}", String::from_utf8_lossy(payload));
    }
    // Raw input to an unknown session, with a reply subject: unknown_session.
    let raw = r.client().request(format!("warden.strict.in.{sid}"), "x".into()).await.expect("input reply");
    let reply: Reply = serde_json::from_slice(&raw.payload).expect("reply");
    assert_eq!(reply.error.expect("error").code.as_str(), "unknown_session");

    // Both nodes still serve.
    let list: ListResult = result(&r.request("strict", "list_agents", &json!({"v":1})).await.expect("list"));
    assert_eq!(list.node, "strict");
    let spawned: SpawnResult =
        result(&r.request("open", "spawn_agent", &json!({"agent":"shell","workdir":"."})).await.expect("spawn"));
    assert_eq!(spawned.session.workdir, std::fs::canonicalize(&root).expect("canon"));

    // The rate limit of `open` runs out (burst 40, then 0.5/s): rate_limited.
    let mut limited = 0;
    for _ in 0..45 {
        let raw = r.request_raw("open", "list_agents", b"{}".to_vec().into()).await.expect("reply");
        let reply: Reply = serde_json::from_slice(&raw).expect("reply");
        if reply.error.is_some_and(|e| e.code.as_str() == "rate_limited") {
            limited += 1;
        }
    }
    assert!(limited >= 1, "the rate limit answers rate_limited");

    n1.stop().await;
    n2.stop().await;
}

/// nats-server dies while a session prints and comes back on the same port
/// and store: the stream holds every event in `seq` order, no gap, no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_keeps_every_event_across_a_server_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = NatsServer::start(&dir.path().join("js"));
    let config = BridgeConfig {
        jetstream: JetStreamConfig { ack_timeout_ms: 300, ..JetStreamConfig::default() },
        ..shell_config(dir.path())
    };
    let node = Node::start(dir.path(), &server, "n1", config, true).await;
    let bridge = node.bridge.as_ref().expect("bridge");
    let w = node.warden.clone();
    let mut sub = w.subscribe(None);
    let mut spec = common::shell_spec();
    spec.workdir = Some(dir.path().to_path_buf());
    let info = w.spawn(spec).await.expect("spawns");
    w.send(info.id, "for i in $(seq 1 150); do echo line-$i; sleep 0.01; done; exit 0").await.expect("send");
    common::wait_output(&mut sub, info.id, "line-10\r\n").await;
    assert!(common::eventually(|| bridge.stats().js_acked_seq >= 5).await, "JetStream acks before the outage");

    server.kill();
    let (_, exit) = common::wait_exit(&mut sub, info.id).await;
    assert_eq!(exit.code, Some(0));
    let last = w.bus().next_seq() - 1;
    assert!(bridge.stats().js_acked_seq < last, "some events waited in the outbox");
    server.restart();
    assert!(
        common::eventually(|| bridge.stats().js_acked_seq >= last).await,
        "the outbox drains after the restart: {:?}",
        bridge.stats()
    );
    assert_eq!(bridge.stats().outbox_dropped, 0);

    let client = warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("connects");
    let opts = FollowOptions { prefix: "warden".into(), node: Some("n1".into()), since: Some(1), ..Default::default() };
    let mut replay = follow_events(&client, &opts).await.expect("replays");
    let mut seqs = Vec::new();
    while seqs.last().is_none_or(|s| *s < last) {
        let e = tokio::time::timeout(T, replay.next()).await.expect("replay in time").expect("open");
        assert!(!matches!(e.kind, EventKind::Lagged { .. }), "no gap marker: {e:?}");
        seqs.push(e.seq);
    }
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "every event once, in seq order");
    node.stop().await;
}

/// A server that requires a token: the wrong one is refused, the right one
/// works, and the token appears in no output or log.
#[test]
fn token_auth_refuses_the_wrong_token_and_never_logs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "tok-Secret-8c1f2e";
    let server = NatsServer::start_with_token(&dir.path().join("js"), token);
    let url = server.url();
    let state = dir.path().join("state");

    let out = warden_cmd(&state)
        .args(["serve", "--nats", &url, "--node", "n1"])
        .env("WARDEN_NATS_TOKEN", "wrong-token")
        .env("WARDEN_LOG", "debug")
        .output()
        .expect("serve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.to_lowercase().contains("authorization"), "{stderr}");
    assert!(!stderr.contains("wrong-token"), "{stderr}");

    let mut cmd = warden_cmd(&state);
    cmd.args(["serve", "--nats", &url, "--node", "n1"]).env("WARDEN_NATS_TOKEN", token).env("WARDEN_LOG", "debug");
    let mut serve = serving(cmd);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let ok = warden_cmd(&state)
        .args(["ctl", "--nats", &url, "--node", "n1", "--nats-token-file"])
        .arg(&token_file)
        .args(["list_agents"])
        .output()
        .expect("ctl runs");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let no_token =
        warden_cmd(&state).args(["ctl", "--nats", &url, "--node", "n1", "list_agents"]).output().expect("ctl");
    assert_eq!(no_token.status.code(), Some(125));

    assert_eq!(serve.terminate(T), Some(0));
    let log = serve.drain_stderr().join("\n");
    for text in [log.as_str(), &String::from_utf8_lossy(&ok.stdout), &String::from_utf8_lossy(&ok.stderr)] {
        assert!(!text.contains(token), "the token leaked: {text}");
    }
    assert!(log.contains("connected to NATS") || log.contains("serving"), "{log}");
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `provision_workspace` and `finalize_workspace` over NATS: a clone of a
/// repository inside the node's roots, a commit pushed to it; sources
/// outside the roots are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_are_provisioned_and_finalized_remotely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let remote_repo = root.join("remote.git");
    git(&root, &["init", "-q", "--bare", "-b", "main", "remote.git"]);
    let seed = dir.path().join("seed");
    git(dir.path(), &["init", "-q", "-b", "main", "seed"]);
    std::fs::write(seed.join("README"), "hi\n").expect("seed file");
    git(&seed, &["add", "README"]);
    git(&seed, &["commit", "-q", "-m", "init"]);
    git(&seed, &["push", "-q", remote_repo.to_str().expect("utf8"), "main"]);
    let outside = dir.path().join("outside.git");
    git(dir.path(), &["init", "-q", "--bare", "outside.git"]);

    let node = Node::start(dir.path(), &server, "ws", shell_config(&root), false).await;
    let r = remote(&server).await;
    let reply = r
        .request(
            "ws",
            "provision_workspace",
            &serde_json::json!({"repo": "remote.git", "branch": {"from": "named", "name": "feat/remote"}, "id": "w1"}),
        )
        .await
        .expect("reply");
    let provisioned: warden_bridge::protocol::ProvisionWorkspaceResult = result(&reply);
    assert_eq!(provisioned.workspace.branch.to_string(), "feat/remote");
    std::fs::write(std::path::Path::new(&provisioned.workspace.path).join("g.txt"), "g\n").expect("write");
    let reply = r
        .request(
            "ws",
            "finalize_workspace",
            &serde_json::json!({"workspace": "w1", "commit": {"message": "add g"}, "push": {}}),
        )
        .await
        .expect("reply");
    let finalized: warden_bridge::protocol::FinalizeWorkspaceResult = result(&reply);
    assert_eq!(finalized.workspace, "w1");
    let shown =
        Command::new("git").args(["show", "feat/remote:g.txt"]).current_dir(&remote_repo).output().expect("git");
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "g\n", "the pushed branch has the file");
    // On `any`, the node that has the workspace answers: refusing an id its
    // caller chose (another node may have it too), serving a generated one;
    // for one nobody has, nobody does.
    std::fs::write(std::path::Path::new(&provisioned.workspace.path).join("h.txt"), "h\n").expect("write");
    let again = serde_json::json!({"workspace": "w1", "commit": {"message": "add h"}, "push": {}});
    assert_eq!(code_of(&r, "any", "finalize_workspace", again.to_string().as_bytes()).await, "bad_request");
    let reply = r
        .request(
            "ws",
            "provision_workspace",
            &serde_json::json!({"repo": "remote.git", "branch": {"from": "named", "name": "feat/gen"}}),
        )
        .await
        .expect("reply");
    let generated: warden_bridge::protocol::ProvisionWorkspaceResult = result(&reply);
    std::fs::write(std::path::Path::new(&generated.workspace.path).join("h.txt"), "h\n").expect("write");
    let id = generated.workspace.id.to_string();
    let again = serde_json::json!({"workspace": id, "commit": {"message": "add h"}, "push": {}});
    let reply = r.request("any", "finalize_workspace", &again).await.expect("the owner answers on any");
    let finalized: warden_bridge::protocol::FinalizeWorkspaceResult = result(&reply);
    assert_eq!(finalized.workspace, id);
    let nobody = serde_json::json!({"workspace": "nope", "commit": {"message": "m"}});
    assert!(r.request("any", "finalize_workspace", &nobody).await.is_err(), "nobody has it");

    let bad = serde_json::json!({"repo": outside.to_str().expect("utf8"), "branch": {"from": "named", "name": "x"}});
    assert_eq!(code_of(&r, "ws", "provision_workspace", bad.to_string().as_bytes()).await, "forbidden");
    let ext = serde_json::json!({"repo": "ext::sh -c id", "branch": {"from": "named", "name": "x"}});
    assert_eq!(code_of(&r, "ws", "provision_workspace", ext.to_string().as_bytes()).await, "forbidden");
    let unknown = serde_json::json!({"workspace": "nope", "commit": {"message": "m"}});
    assert_eq!(code_of(&r, "ws", "finalize_workspace", unknown.to_string().as_bytes()).await, "unknown_workspace");
    let bad_branch = serde_json::json!({"repo": "remote.git", "branch": {"from": "named", "name": "a..b"}});
    assert_eq!(code_of(&r, "ws", "provision_workspace", bad_branch.to_string().as_bytes()).await, "bad_request");
    node.stop().await;
}

/// A terminal following a session's output over NATS is told when output
/// went missing on the way: by the `Warden-Offset` header, an output that
/// starts past the end of the last one (with `--jetstream` the node's
/// publisher marks no gap of its own; the server may drop messages to a
/// slow reader). Output without the header (an older node) is not checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_stream_over_nats_is_told_of_a_gap_in_the_offsets() {
    use warden_bridge::publish::{OFFSET_HEADER, SEQ_HEADER};
    use warden_console::link::{AttachMsg, Link};
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(&dir.path().join("nats"));
    let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
    let link = Link::Nats {
        remote: std::sync::Arc::new(Remote::new(client.clone(), "warden", T)),
        client: client.clone(),
        prefix: "warden".into(),
    };
    let session = SessionId::new();
    let mut stream = link.attach_stream("n1", session).await.expect("follows");
    let subject = warden_bridge::Subjects::new("warden", "n1").expect("subjects").output(session);
    let sent: [(Option<u64>, &str); 5] =
        [(Some(4000), "abc"), (Some(4003), "de"), (Some(5000), "zz"), (None, "old"), (Some(5002), "!")];
    for (i, (offset, text)) in sent.iter().enumerate() {
        let mut headers = warden_bridge::async_nats::HeaderMap::new();
        headers.insert(SEQ_HEADER, (i + 1).to_string().as_str());
        if let Some(offset) = offset {
            headers.insert(OFFSET_HEADER, offset.to_string().as_str());
        }
        client.publish_with_headers(subject.clone(), headers, text.as_bytes().to_vec().into()).await.expect("sent");
    }
    client.flush().await.expect("flushed");
    let mut got = Vec::new();
    while got.len() < 6 {
        let msg = tokio::time::timeout(T, stream.recv()).await.expect("in time").expect("open");
        got.push(match msg {
            AttachMsg::Output { bytes, .. } => String::from_utf8_lossy(&bytes).into_owned(),
            AttachMsg::Lagged { covered_by } => format!("<lagged {covered_by:?}>"),
            AttachMsg::Exited(_) => "<exited>".into(),
        });
    }
    // What was missed came before "zz" (seq 3): a screen up to seq 2 shows it.
    assert_eq!(got, ["abc", "de", "<lagged Some(2)>", "zz", "old", "!"]);
}
