//! The supervision verbs over NATS against a real `nats-server`: rules in a
//! remote spawn answer prompts, `snapshot` and `classify` read the screen,
//! `add_rules`/`clear_rules` change a running session, `confirm`/`decline`
//! answer pending confirmations, `send_to_agent` replies with a delivery,
//! and bad rules or ids get their error codes.
//!
//! Prompts are printed with `printf '%s? …' Word` so that the command line
//! the shell echoes never matches a rule: only the prompt itself does.

use crate::common;
use crate::common::nats;

use std::time::{Duration, Instant};

use futures::StreamExt;
use nats::NatsServer;
use serde_json::{Value, json};
use warden::{Event, EventKind, SessionId, Warden, WardenConfig};
use warden_bridge::config::BridgeConfig;
use warden_bridge::protocol::{
    AddRulesResult, ClassifyResult, ClearRulesResult, ConfirmResult, Heartbeat, PendingConfirmationsResult, Reply,
    SendResult, SnapshotResult, SpawnResult,
};
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};

const T: Duration = common::TIMEOUT;

/// A warden and its bridge in this process, serving a shell to remote callers.
struct Node {
    warden: Warden,
    bridge: Option<Bridge>,
}

impl Node {
    async fn start(dir: &std::path::Path, nats: &NatsServer, name: &str) -> Node {
        let mut wc = WardenConfig::new(dir.join(name));
        wc.node = name.into();
        wc.stop_grace = Duration::from_millis(300);
        let warden = Warden::start(wc).await.expect("warden starts");
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        let config = BridgeConfig {
            allow_agents: Some(vec!["shell".into()]),
            workdir_roots: vec![dir.to_path_buf()],
            heartbeat_ms: 100,
            ..BridgeConfig::default()
        };
        let settings = BridgeSettings { config, ..BridgeSettings::default() };
        let bridge = Bridge::start(warden.clone(), client, settings).await.expect("bridge starts");
        Node { warden, bridge: Some(bridge) }
    }

    async fn stop(mut self) {
        if let Some(mut b) = self.bridge.take() {
            b.stop_commands().await;
            self.warden.shutdown().await;
            b.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// A coordinator: requests, and every event of the node as NATS delivers it.
struct Coordinator {
    remote: Remote,
    events: warden_bridge::async_nats::Subscriber,
    seen: Vec<(String, Event)>,
}

impl Coordinator {
    async fn connect(nats: &NatsServer, node: &str) -> Coordinator {
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        let events = client.subscribe(format!("warden.{node}.evt.>")).await.expect("subscribes");
        client.flush().await.expect("flush");
        Coordinator { remote: Remote::new(client, "warden", T), events, seen: Vec::new() }
    }

    async fn ok<R: serde::de::DeserializeOwned>(&self, node: &str, verb: &str, body: Value) -> R {
        let reply = self.remote.request(node, verb, &body).await.expect("a reply");
        assert!(reply.ok, "{verb} {body}: {reply:?}");
        serde_json::from_value(reply.result.expect("result")).expect("typed result")
    }

    async fn error(&self, node: &str, verb: &str, body: Value) -> (String, String) {
        let reply: Reply = self.remote.request(node, verb, &body).await.expect("a reply");
        assert!(!reply.ok, "{verb} {body} should fail: {reply:?}");
        let e = reply.error.expect("error");
        (e.code.as_str().to_string(), e.message)
    }

    /// Reads the next event NATS delivers (any session) and keeps it.
    async fn pump(&mut self, waiting_for: &str, session: SessionId) -> (String, Event) {
        let msg = match tokio::time::timeout(T, self.events.next()).await {
            Ok(Some(msg)) => msg,
            _ => panic!("no event while waiting for {waiting_for}; output so far: {:?}", self.output(session)),
        };
        let event: Event = serde_json::from_slice(&msg.payload).expect("an event");
        let hit = (msg.subject.to_string(), event);
        self.seen.push(hit.clone());
        hit
    }

    /// The first event of `session` (seen before or arriving within the
    /// timeout) that `pred` accepts, with the subject it came on.
    async fn wait(&mut self, session: SessionId, what: &str, pred: impl Fn(&EventKind) -> bool) -> (String, Event) {
        if let Some(hit) = self.seen.iter().find(|(_, e)| e.session == Some(session) && pred(&e.kind)) {
            return hit.clone();
        }
        loop {
            let hit = self.pump(what, session).await;
            if hit.1.session == Some(session) && pred(&hit.1.kind) {
                return hit;
            }
        }
    }

    /// The next event of `session` that NATS delivers from now on.
    async fn next_of(&mut self, session: SessionId, what: &str) -> Event {
        loop {
            let (_, e) = self.pump(what, session).await;
            if e.session == Some(session) {
                return e;
            }
        }
    }

    /// Waits until the session's whole output satisfies `cond`; returns it.
    async fn wait_output_until(&mut self, session: SessionId, what: &str, cond: impl Fn(&str) -> bool) -> String {
        loop {
            let text = self.output(session);
            if cond(&text) {
                return text;
            }
            self.pump(what, session).await;
        }
    }

    /// Waits until the session's output contains `needle`; returns all of it.
    async fn wait_output(&mut self, session: SessionId, needle: &str) -> String {
        self.wait_output_until(session, needle, |t| t.contains(needle)).await
    }

    fn output(&self, session: SessionId) -> String {
        self.seen
            .iter()
            .filter(|(_, e)| e.session == Some(session))
            .filter_map(
                |(_, e)| if let EventKind::Output(o) = &e.kind { Some(o.text_lossy().into_owned()) } else { None },
            )
            .collect()
    }

    fn count(&self, session: SessionId, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.seen.iter().filter(|(_, e)| e.session == Some(session) && pred(&e.kind)).count()
    }
}

async fn spawn(c: &Coordinator, node: &str, body: Value) -> SessionId {
    let spawned: SpawnResult = c.ok(node, "spawn_agent", body).await;
    assert_eq!(spawned.node, node);
    spawned.session.id
}

/// A rule in the spawn spec answers the prompt: `auto_responded` arrives on
/// the session's events subject, the program gets the answer, `snapshot`
/// shows it on screen and `classify` reads the shell's prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_in_a_remote_spawn_answers_and_the_screen_is_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let node = Node::start(dir.path(), &server, "n1").await;
    let mut c = Coordinator::connect(&server, "n1").await;

    let id = spawn(
        &c,
        "n1",
        json!({
            "agent": "shell",
            "task": "printf '%s? [y/N] ' Proceed; read a; echo got-$a",
            "rules": [{"id": "proceed", "pattern": r"Proceed\? \[y/N\]", "reply": {"type": "text", "value": "y"}}],
            "stall": {"disabled": true},
        }),
    )
    .await;
    let (subject, event) = c.wait(id, "auto_responded", |k| matches!(k, EventKind::AutoResponded { .. })).await;
    assert_eq!(subject, format!("warden.n1.evt.{id}.auto_responded"));
    let EventKind::AutoResponded { rule, source, matched, sent } = event.kind else { unreachable!() };
    assert_eq!((rule.as_str(), source.as_str(), sent.as_str()), ("proceed", "session", "y"));
    assert_eq!(matched, "Proceed? [y/N]");
    c.wait_output(id, "got-y").await;

    let snap: SnapshotResult = c.ok("n1", "snapshot", json!({"session": id})).await;
    assert_eq!((snap.node.as_str(), snap.session), ("n1", id));
    assert!(snap.screen.text.contains("Proceed? [y/N] y"), "{:?}", snap.screen.text);
    assert!(snap.screen.text.contains("got-y"), "{:?}", snap.screen.text);
    assert_eq!((snap.screen.rows, snap.screen.cols), (40, 120));
    assert!(snap.screen.bytes > 0);

    // The shell's prompt is back after `got-y`: the adapter reads it as ready
    // (asked again after each new event until the prompt is drawn).
    let mut verdict = None;
    for _ in 0..50 {
        let v: ClassifyResult = c.ok("n1", "classify", json!({"v": 1, "session": id})).await;
        assert_eq!(v.session, id);
        if v.verdict.state == "ready" {
            verdict = Some(v.verdict);
            break;
        }
        c.next_of(id, "the shell prompt").await;
    }
    let verdict = verdict.expect("the shell prompt reads as ready");
    assert_eq!(verdict.session_state, Some(warden::SessionState::Ready));
    let provenance = verdict.provenance.expect("provenance");
    assert_eq!((provenance.adapter.as_str(), provenance.rule.as_str()), ("shell", "prompt"));
    assert!(verdict.blocking.is_none() && verdict.login.is_none());

    node.stop().await;
}

/// `add_rules` on a running session answers a later prompt; `clear_rules`
/// removes the caller's rules (and says how many), after which the same
/// prompt waits for the caller. Text input replies with its delivery; keys
/// reply without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_added_and_cleared_at_run_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let node = Node::start(dir.path(), &server, "n1").await;
    let mut c = Coordinator::connect(&server, "n1").await;
    let id = spawn(&c, "n1", json!({"agent": "shell", "stall": {"disabled": true}})).await;

    let added: AddRulesResult = c
        .ok(
            "n1",
            "add_rules",
            json!({"session": id, "rules": [
                {"id": "overwrite", "pattern": r"Overwrite\? \(y/n\)", "reply": {"type": "text", "value": "y"}},
                {"pattern": r"Never shown \d+", "reply": {"type": "keys", "value": ["enter"]}, "once": true},
            ]}),
        )
        .await;
    assert_eq!(added.ids.len(), 2);
    assert_eq!(added.ids[0], "overwrite");
    assert!(!added.ids[1].is_empty() && added.ids[1] != "overwrite", "{:?}", added.ids);

    let sent: SendResult = c
        .ok(
            "n1",
            "send_to_agent",
            json!({"session": id, "text": "printf '%s? (y/n) ' Overwrite; read a; echo answer-$a"}),
        )
        .await;
    let delivery = sent.delivery.expect("text input is acknowledged");
    assert!(delivery.delivered, "{delivery:?}");
    let (subject, _) = c
        .wait(
            id,
            "input_delivered",
            |k| matches!(k, EventKind::InputDelivered { input, .. } if *input == delivery.input),
        )
        .await;
    assert_eq!(subject, format!("warden.n1.evt.{id}.input_delivered"));
    c.wait(
        id,
        "auto_responded",
        |k| matches!(k, EventKind::AutoResponded { rule, source, .. } if rule == "overwrite" && source == "runtime"),
    )
    .await;
    c.wait_output(id, "answer-y").await;

    let cleared: ClearRulesResult = c.ok("n1", "clear_rules", json!({"session": id})).await;
    assert_eq!(cleared.removed, 2);
    let again: ClearRulesResult = c.ok("n1", "clear_rules", json!({"session": id})).await;
    assert_eq!(again.removed, 0);

    // Without the rule the prompt waits; the caller answers it by hand.
    let sent: SendResult = c
        .ok(
            "n1",
            "send_to_agent",
            json!({"session": id, "text": "printf '%s? (y/n) ' Overwrite; read b; echo again-$b"}),
        )
        .await;
    assert!(sent.delivery.is_some());
    c.wait_output_until(id, "the second prompt", |t| t.matches("Overwrite? (y/n) ").count() == 2).await;
    let _: SendResult = c.ok("n1", "send_to_agent", json!({"session": id, "text": "n"})).await;
    let out = c.wait_output(id, "again-n").await;
    assert!(!out.contains("again-y"), "a cleared rule answered: {out:?}");
    assert_eq!(c.count(id, |k| matches!(k, EventKind::AutoResponded { .. })), 1);
    let keys: SendResult = c.ok("n1", "send_to_agent", json!({"session": id, "keys": ["ctrl+l"]})).await;
    assert_eq!(keys.session, id);
    assert!(keys.delivery.is_none(), "keys are not acknowledged: {keys:?}");

    node.stop().await;
}

/// Under `"supervision":"confirm"` a matching rule becomes a pending
/// confirmation: the event arrives over NATS, `pending_confirmations` and
/// the heartbeat count it, `confirm` answers it and the program goes on;
/// `decline` types nothing; unknown ids are `unknown_confirmation`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_supervision_waits_for_the_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let node = Node::start(dir.path(), &server, "n1").await;
    let mut c = Coordinator::connect(&server, "n1").await;
    let mut heartbeats = c.remote.client().subscribe("warden.n1.heartbeat").await.expect("subscribes");
    c.remote.client().flush().await.expect("flush");

    let id = spawn(
        &c,
        "n1",
        json!({
            "agent": "shell",
            "supervision": "confirm",
            "task": "printf '%s? [y/N] ' Deploy; read a; echo deployed-$a",
            "rules": [{"id": "deploy", "pattern": r"Deploy\? \[y/N\]", "reply": {"type": "text", "value": "y"}}],
            "stall": {"disabled": true},
        }),
    )
    .await;
    let (subject, event) =
        c.wait(id, "confirmation_pending", |k| matches!(k, EventKind::ConfirmationPending { .. })).await;
    assert_eq!(subject, format!("warden.n1.evt.{id}.confirmation_pending"));
    let EventKind::ConfirmationPending { id: first, prompt_kind, prompt, suggested, reason, rule, .. } = event.kind
    else {
        unreachable!()
    };
    assert_eq!((prompt_kind.as_str(), suggested.as_deref(), rule.as_deref()), ("rule", Some("y"), Some("deploy")));
    assert!(prompt.contains("Deploy? [y/N]"), "{prompt:?}");
    assert!(reason.contains("confirm"), "{reason:?}");

    let pending: PendingConfirmationsResult = c.ok("n1", "pending_confirmations", json!({"session": id})).await;
    assert_eq!(pending.pending.len(), 1, "{pending:?}");
    assert_eq!(pending.pending[0].id, first);
    assert_eq!(pending.pending[0].suggested, Some(warden::Reply::Text("y".into())));
    assert_eq!(pending.pending[0].rule.as_deref(), Some("deploy"), "the rule's id, as in the event");
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, heartbeats.next()).await.expect("heartbeats").expect("open");
        let hb: Heartbeat = serde_json::from_slice(&msg.payload).expect("heartbeat");
        if hb.pending_confirmations == 1 {
            assert_eq!(hb.sessions, 1);
            break;
        }
    }

    let (code, message) = c.error("n1", "confirm", json!({"session": id, "id": "c999"})).await;
    assert_eq!(code, "unknown_confirmation");
    assert!(message.contains("c999"), "{message}");
    assert!(!c.output(id).contains("deployed-y"), "nothing answered before confirm");

    let answered: ConfirmResult = c.ok("n1", "confirm", json!({"session": id, "id": first})).await;
    assert_eq!((answered.id.as_str(), answered.outcome.as_str()), (first.as_str(), "answered"));
    let (_, resolved) =
        c.wait(id, "confirmation_resolved", |k| matches!(k, EventKind::ConfirmationResolved { .. })).await;
    let EventKind::ConfirmationResolved { id: rid, outcome, sent } = resolved.kind else { unreachable!() };
    assert_eq!((rid.as_str(), outcome.as_str(), sent.as_deref()), (first.as_str(), "answered", Some("y")));
    c.wait_output(id, "deployed-y").await;
    assert_eq!(c.error("n1", "confirm", json!({"session": id, "id": first})).await.0, "unknown_confirmation");

    // A second prompt: declined, so nothing is typed; the caller answers it.
    let _: SendResult = c
        .ok("n1", "send_to_agent", json!({"session": id, "text": "printf '%s? [y/N] ' Deploy; read b; echo second-$b"}))
        .await;
    let (_, event) = c
        .wait(id, "a second confirmation", |k| matches!(k, EventKind::ConfirmationPending { id, .. } if *id != first))
        .await;
    let EventKind::ConfirmationPending { id: second, .. } = event.kind else { unreachable!() };
    let declined: ConfirmResult = c.ok("n1", "decline", json!({"session": id, "id": second})).await;
    assert_eq!(declined.outcome, "declined");
    c.wait(id, "declined", |k| {
        matches!(k, EventKind::ConfirmationResolved { id, outcome, sent: None } if *id == second && outcome == "declined")
    })
    .await;
    let pending: PendingConfirmationsResult = c.ok("n1", "pending_confirmations", json!({"session": id})).await;
    assert!(pending.pending.is_empty(), "{pending:?}");
    assert_eq!(c.error("n1", "decline", json!({"session": id, "id": second})).await.0, "unknown_confirmation");
    let _: SendResult = c.ok("n1", "send_to_agent", json!({"session": id, "text": "n"})).await;
    c.wait_output(id, "second-n").await;
    assert_eq!(c.count(id, |k| matches!(k, EventKind::AutoResponded { .. })), 0, "confirm never answers by itself");

    node.stop().await;
}

/// Bad rules, ids, answers and sessions get their codes; nothing is started
/// by a bad spawn; the node keeps serving; an ended session's screen stays
/// readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_supervision_requests_get_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let node = Node::start(dir.path(), &server, "n1").await;
    let mut c = Coordinator::connect(&server, "n1").await;
    let text_rule = |pattern: &str| json!({"pattern": pattern, "reply": {"type": "text", "value": "y"}});

    let (code, message) = c.error("n1", "spawn_agent", json!({"agent": "shell", "rules": [text_rule("(")]})).await;
    assert_eq!(code, "bad_request");
    assert!(message.contains("pattern `(`") && message.contains("regex"), "{message}");
    let (code, message) = c.error("n1", "spawn_agent", json!({"agent": "shell", "loading": ["[z-a]"]})).await;
    assert_eq!(code, "bad_request");
    assert!(message.contains("loading pattern"), "{message}");
    let many: Vec<Value> = (0..257).map(|i| text_rule(&format!("p{i}"))).collect();
    let (code, message) = c.error("n1", "spawn_agent", json!({"agent": "shell", "rules": many})).await;
    assert_eq!(code, "bad_request");
    assert!(message.contains("at most 256"), "{message}");
    let long = text_rule(&"a".repeat(4097));
    assert_eq!(c.error("n1", "spawn_agent", json!({"agent": "shell", "rules": [long]})).await.0, "bad_request");
    for bad in [
        json!({"agent": "shell", "supervision": "sometimes"}),
        json!({"agent": "shell", "preset": "reckless"}),
        json!({"agent": "shell", "stall": {"window_ms": 1, "bogus": 1}}),
        json!({"agent": "shell", "restart_limits": {"max_restarts": 100000}}),
        json!({"agent": "shell", "rules": [{"pattern": "x", "reply": {"type": "keys", "value": ["nokey"]}}]}),
    ] {
        assert_eq!(c.error("n1", "spawn_agent", bad.clone()).await.0, "bad_request", "{bad}");
    }
    let listed: warden_bridge::protocol::ListResult = c.ok("n1", "list_agents", json!({})).await;
    assert!(listed.agents.is_empty(), "a bad spawn starts nothing: {listed:?}");

    let id = spawn(&c, "n1", json!({"agent": "shell", "stall": {"disabled": true}})).await;
    let (code, message) = c.error("n1", "add_rules", json!({"session": id, "rules": [text_rule("a(")]})).await;
    assert_eq!(code, "bad_request");
    assert!(message.contains("regex"), "{message}");
    assert_eq!(c.error("n1", "add_rules", json!({"session": id, "rules": []})).await.0, "bad_request");
    let too_many: Vec<Value> = (0..257).map(|i| text_rule(&format!("q{i}"))).collect();
    assert_eq!(c.error("n1", "add_rules", json!({"session": id, "rules": too_many})).await.0, "bad_request");
    let cleared: ClearRulesResult = c.ok("n1", "clear_rules", json!({"session": id})).await;
    assert_eq!(cleared.removed, 0, "refused rules were not added");
    assert_eq!(c.error("n1", "confirm", json!({"session": id, "id": "c1"})).await.0, "unknown_confirmation");
    assert_eq!(c.error("n1", "decline", json!({"session": id, "id": "c1"})).await.0, "unknown_confirmation");
    let control = json!({"session": id, "id": "c1", "reply": {"type": "text", "value": "\u{1b}[A"}});
    assert_eq!(c.error("n1", "confirm", control).await.0, "bad_request");
    assert_eq!(c.error("n1", "confirm", json!({"session": id, "id": "c1", "decline": true})).await.0, "bad_request");

    let nobody = SessionId::new();
    for verb in ["snapshot", "classify", "pending_confirmations", "clear_rules"] {
        assert_eq!(c.error("n1", verb, json!({"session": nobody})).await.0, "unknown_session", "{verb}");
    }
    assert_eq!(c.error("n1", "confirm", json!({"session": nobody, "id": "c1"})).await.0, "unknown_session");
    let rules = json!({"session": nobody, "rules": [text_rule("x")]});
    assert_eq!(c.error("n1", "add_rules", rules).await.0, "unknown_session");

    // An ended session: its final screen stays readable; its rules cannot change.
    let _: SendResult = c.ok("n1", "send_to_agent", json!({"session": id, "text": "echo final-$((40+2))"})).await;
    c.wait_output(id, "final-42").await;
    let stopped: warden_bridge::protocol::StopResult = c.ok("n1", "stop_agent", json!({"session": id})).await;
    assert_eq!(stopped.session, Some(id));
    let snap: SnapshotResult = c.ok("n1", "snapshot", json!({"session": id})).await;
    assert!(snap.screen.text.contains("final-42"), "{:?}", snap.screen.text);
    assert_eq!(c.error("n1", "add_rules", json!({"session": id, "rules": [text_rule("x")]})).await.0, "conflict");
    node.stop().await;
}
