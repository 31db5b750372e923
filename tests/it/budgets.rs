//! Budgets of what a caller can make a node hold (issue 14, finding 1): a
//! real `warden serve` in a child process, its resident memory read from
//! `/proc`, while callers send heavy rule sets over NATS.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden_bridge::protocol::{Reply, SnapshotResult, SpawnResult};
use warden_bridge::{NatsOptions, Remote};

use crate::common;
use crate::common::binary::{serving, warden_cmd};
use crate::common::nats::{NatsServer, Proc};
use crate::common::rss;

const T: Duration = common::TIMEOUT;
const MB: u64 = 1024 * 1024;

/// A `warden serve` in a child process (shell allowed under its temp dir), and a client.
pub(crate) struct Node {
    pub(crate) serve: Proc,
    remote: Remote,
    _nats: NatsServer,
    _dir: tempfile::TempDir,
}

impl Node {
    pub(crate) async fn start() -> Node {
        Node::start_with(&[]).await
    }

    /// With extra `serve` arguments.
    pub(crate) async fn start_with(extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = NatsServer::start(&dir.path().join("js"));
        let mut cmd = warden_cmd(&dir.path().join("state"));
        cmd.current_dir(dir.path())
            .args(["serve", "--nats", &nats.url(), "--node", "budget", "--allow-agent", "shell"])
            .args(["--workdir-root", dir.path().to_str().expect("utf-8 path")])
            .args(extra);
        let serve = serving(cmd);
        let client = warden_bridge::connect(&NatsOptions::new(nats.url())).await.expect("connects");
        Node { serve, remote: Remote::new(client, "warden", T), _nats: nats, _dir: dir }
    }

    /// The node's workdir root (its temp dir).
    pub(crate) fn root(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.serve.child.id()
    }

    pub(crate) async fn request(&self, verb: &str, body: Value) -> Reply {
        self.remote.request("budget", verb, &body).await.expect("a reply")
    }

    /// Spawns a shell with `rules` that prints a screen of words, waits until
    /// the screen shows it (the rules ran on it), stops it. Returns the
    /// refusal instead when the spawn is refused.
    async fn run_with_rules(&self, rules: &[Value]) -> Result<(), warden_bridge::protocol::WireError> {
        let task = "for i in $(seq 1 30); do echo words and more words in a line of text $i; done; echo DONE-MARK";
        let reply = self.request("spawn_agent", json!({"agent":"shell","task":task,"rules":rules})).await;
        if !reply.ok {
            return Err(reply.error.expect("an error"));
        }
        let spawned: SpawnResult = serde_json::from_value(reply.result.expect("result")).expect("spawn result");
        let id = spawned.session.id;
        let deadline = Instant::now() + T;
        loop {
            let snap = self.request("snapshot", json!({"session": id})).await;
            assert!(snap.ok, "snapshot: {snap:?}");
            let snap: SnapshotResult = serde_json::from_value(snap.result.expect("result")).expect("snapshot");
            if snap.screen.text.lines().any(|l| l.trim() == "DONE-MARK") {
                break;
            }
            assert!(Instant::now() < deadline, "the screen never showed the marker: {}", snap.screen.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stop = self.request("stop_agent", json!({"session": id})).await;
        assert!(stop.ok, "stop: {stop:?}");
        Ok(())
    }
}

fn rules(pattern: impl Fn(usize) -> String) -> Vec<Value> {
    (0..256).map(|i| json!({"pattern": pattern(i), "reply": {"type":"text","value":"y"}})).collect()
}

/// The spawn of the finding (256 rules `\w{20}q<i>`, 17.6 KB) repeated 20
/// times leaves the node's memory within 50 MB of where it started, and is
/// refused with `too_large` naming the per-rule budget; 256 small rules
/// still run, 20 times over, within the same bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_rule_sets_are_refused_by_a_budget_and_memory_returns() {
    let node = Node::start().await;
    // Warm up: one session with a small rule set, so the baseline includes
    // what any first session allocates.
    node.run_with_rules(&rules(|i| format!("never-{i}"))).await.expect("small rules are accepted");
    let start = rss(node.pid());

    let heavy = rules(|i| format!(r"\w{{20}}q{i}"));
    assert!(serde_json::to_vec(&heavy).expect("json").len() < 20_000, "the finding's request size");
    for round in 0..20 {
        let refused = node.run_with_rules(&heavy).await.expect_err("the heavy spawn is over a budget");
        assert_eq!(refused.code.as_str(), "too_large", "round {round}: {refused:?}");
        assert!(refused.message.contains("rule_compiled_bytes"), "the budget is named: {}", refused.message);
        let now = rss(node.pid());
        assert!(now < start + 50 * MB, "round {round}: rss {} MB, started at {} MB", now / MB, start / MB);
    }
    // Rules that fit one by one but not all together: refused by the
    // session's budget, before all of them are compiled.
    let many = rules(|i| format!(r"\w{{4}}q{i}"));
    let refused = node.run_with_rules(&many).await.expect_err("over the session's budget");
    assert_eq!(refused.code.as_str(), "too_large", "{refused:?}");
    assert!(refused.message.contains("session_rule_bytes"), "the budget is named: {}", refused.message);

    // 256 ordinary rules are accepted and run on the screen, again and again.
    for round in 0..20 {
        node.run_with_rules(&rules(|i| format!(r"(?i)proceed\? \[y/N\] {i}|[a-z]{{20}}q{i}"))).await.expect("accepted");
        let now = rss(node.pid());
        assert!(now < start + 50 * MB, "round {round}: rss {} MB, started at {} MB", now / MB, start / MB);
    }
    let mut serve = node.serve;
    assert_eq!(serve.terminate(T), Some(0), "serve exits cleanly: {:?}", serve.drain_stderr());
}
