//! Ids people can type, and verbs that find their node (issue 15): short
//! ids, prefixes and labels in every session verb, ambiguity named with
//! the candidates, `warden ctl` on `--node any` reaching the node that has
//! the session, options after the verb, and `list_agents` as a table.

use crate::common;
use crate::common::binary::{serve, warden_cmd};
use crate::common::nats::NatsServer;
use crate::common::short;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

const T: Duration = common::TIMEOUT;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.lines().next().unwrap_or("null"))
            .unwrap_or_else(|e| panic!("JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn run(state: &Path, args: &[&str]) -> Run {
    let out = warden_cmd(state).args(args).output().expect("warden runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn short_ids_labels_and_prefixes_reach_the_node_that_has_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("js"));
    let url = server.url();
    let serve_node =
        |node: &str| serve(&dir.path().join(node), &["--nats", &url, "--node", node, "--allow-agent", "shell"]);
    let mut n1 = serve_node("n1");
    let mut n2 = serve_node("n2");
    let state = dir.path().join("client");
    let ctl = |args: &[&str]| {
        let mut all = vec!["ctl", "--nats", url.as_str()];
        all.extend_from_slice(args);
        run(&state, &all)
    };

    // Options after the verb (the issue: `unexpected argument '--node'`).
    let a = ctl(&["spawn_agent", "--agent", "shell", "--label", "alpha", "--node", "n1"]);
    assert_eq!(a.code, 0, "{} {}", a.stdout, a.stderr);
    let alpha = a.json()["result"]["session"]["id"].as_str().expect("id").to_string();
    let b = ctl(&["spawn_agent", "--agent", "shell", "--label", "bravo", "--node", "n1"]);
    let bravo = b.json()["result"]["session"]["id"].as_str().expect("id").to_string();
    let c = ctl(&["--node", "n2", "spawn_agent", "--agent", "shell", "--label", "charlie"]);
    let charlie = c.json()["result"]["session"]["id"].as_str().expect("id").to_string();

    // Without --node: the node that has the session answers, by short id…
    let sent = ctl(&["send_to_agent", "--session", &short(&alpha), "--text", "echo one-$((1+1))"]);
    assert_eq!(sent.code, 0, "{} {}", sent.stdout, sent.stderr);
    assert_eq!(sent.json()["result"]["node"], "n1");
    assert_eq!(sent.json()["result"]["session"], alpha.as_str(), "replies carry the whole id");
    // … by label, on the other node, in upper case …
    let sent = ctl(&["send_to_agent", "--session", "CHARLIE", "--text", "echo three-$((1+2))"]);
    assert_eq!(sent.code, 0, "{} {}", sent.stdout, sent.stderr);
    assert_eq!(sent.json()["result"]["node"], "n2");
    // … by a prefix of the whole id, without dashes.
    let prefix: String = bravo.replace('-', "").chars().take(20).collect();
    let shot = ctl(&["snapshot", "--session", &prefix]);
    assert_eq!(shot.code, 0, "{} {}", shot.stdout, shot.stderr);
    assert_eq!(shot.json()["result"]["session"], bravo.as_str());

    // A prefix two sessions of a node share: bad_request naming both.
    let head: String = alpha.chars().take(4).collect();
    let amb = ctl(&["--node", "n1", "snapshot", "--session", &head]);
    assert_eq!(amb.code, 1, "{}", amb.stdout);
    let err = &amb.json()["error"];
    assert_eq!(err["code"], "bad_request", "{err}");
    let message = err["message"].as_str().expect("message");
    assert!(message.contains(&short(&alpha)) && message.contains(&short(&bravo)), "{message}");
    // The same prefix on `any` names sessions on two nodes: the client says so.
    let both = ctl(&["snapshot", "--session", &head]);
    assert_ne!(both.code, 0);
    assert!(both.stderr.contains(&short(&alpha)) && both.stderr.contains("on n2"), "{}", both.stderr);
    // Nothing by that name anywhere.
    let none = ctl(&["send_to_agent", "--session", "no-such-label", "--text", "x"]);
    assert_ne!(none.code, 0);
    assert!(none.stderr.contains("no node has a session"), "{}", none.stderr);

    // The table: short ids and labels a person can type next.
    let deadline = Instant::now() + T;
    let table = loop {
        let t = ctl(&["list_agents"]);
        assert_eq!(t.code, 0, "{}", t.stderr);
        if t.stdout.contains("alpha") && t.stdout.contains("charlie") || Instant::now() > deadline {
            break t.stdout;
        }
    };
    assert!(table.starts_with("NODE"), "{table}");
    for (id, label, node) in [(&alpha, "alpha", "n1"), (&bravo, "bravo", "n1"), (&charlie, "charlie", "n2")] {
        let row = table.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {table}"));
        assert!(row.starts_with(node) && row.contains(&short(id)), "{row}");
        assert!(!row.contains(id.as_str()), "the table shows short ids: {row}");
    }
    // JSON under --json, as before.
    let json = ctl(&["list_agents", "--node", "n2", "--json"]);
    assert_eq!(json.json()["result"]["agents"][0]["short"], short(&charlie).as_str());

    // A coordinator that sends a session verb to `any` by whole or short id:
    // the node that has the session answers, the others stay silent.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = warden_bridge::connect(&warden_bridge::NatsOptions::new(url.clone())).await.expect("connects");
        let remote = warden_bridge::Remote::new(client, "warden", Duration::from_secs(5));
        for reference in [charlie.clone(), short(&charlie)] {
            let body = serde_json::json!({"session": reference, "text": "echo on-any"});
            let reply = remote.request("any", "send_to_agent", &body).await.expect("the owner answers");
            assert!(reply.ok, "{reply:?}");
            assert_eq!(reply.result.expect("result")["node"], "n2");
        }
        // Nobody has it: no node answers (as NATS says).
        let body = serde_json::json!({"session": "0000000000000000", "text": "x"});
        assert!(remote.request("any", "send_to_agent", &body).await.is_err());
    });

    // Stop by short id, from `any`.
    let stopped = ctl(&["stop_agent", "--session", &short(&charlie)]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert_eq!(stopped.json()["result"]["node"], "n2");

    n1.terminate(T);
    n2.terminate(T);
}

/// A session whose caller rule made a pending confirmation is `blocked`
/// with the pending count and the question, whatever its screen shows; an
/// ended one shows how it ended; `events` in human mode marks every line
/// with the session's short id and label.
#[test]
fn list_agents_tells_the_truth_about_states() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &["--node", "s1", "--allow-agent", "shell"]);
    let spawn = serde_json::json!({
        "agent": "shell", "label": "asker", "supervision": "confirm",
        "rules": [{"pattern": "Proceed\\? \\[y/N\\]", "reply": {"type": "text", "value": "y"}}]
    });
    let out = run(&state, &["ctl", "raw", "spawn_agent", &spawn.to_string()]);
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    let id = out.json()["result"]["session"]["id"].as_str().expect("id").to_string();
    let sent = run(&state, &["ctl", "send_to_agent", "--session", "asker", "--text", "read -p 'Proceed? [y/N] ' x"]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);

    let deadline = Instant::now() + T;
    let entry = loop {
        let listed = run(&state, &["ctl", "list_agents", "--json"]);
        let agents = listed.json()["result"]["agents"].clone();
        let me = agents.as_array().and_then(|a| a.iter().find(|a| a["id"] == id.as_str()).cloned());
        if let Some(me) = me.filter(|m| m["pending"] == 1) {
            break me;
        }
        assert!(Instant::now() < deadline, "no pending confirmation: {agents}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(entry["state"], "blocked", "{entry}");
    assert!(entry["pending_confirmations"][0]["prompt"].as_str().is_some_and(|p| p.contains("Proceed")), "{entry}");
    let table = run(&state, &["ctl", "list_agents"]).stdout;
    let row = table.lines().find(|l| l.contains("asker")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("blocked (1 pending)") && row.contains("c1: ") && row.contains("Proceed"), "{row}");

    // Answered by label (the only pending one), then stopped: the table says how it ended.
    let confirmed = run(&state, &["ctl", "confirm", "--session", "asker"]);
    assert_eq!(confirmed.code, 0, "{} {}", confirmed.stdout, confirmed.stderr);
    let stopped = run(&state, &["ctl", "stop_agent", "--session", &short(&id)]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let table = run(&state, &["ctl", "list_agents"]).stdout;
    let row = table.lines().find(|l| l.contains("asker")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("exited") && row.contains("stopped ("), "{row}");

    // Human events of the ended session: one line, marked with its short id and label.
    let events = run(&state, &["events", "--session", "asker", "--until-exit"]);
    assert_eq!(events.code, 0, "{}", events.stderr);
    let line = events.stdout.lines().last().unwrap_or_default().to_string();
    assert!(line.starts_with(&format!("{} asker | stopped (", short(&id))), "{}", events.stdout);
    node.terminate(T);
}
