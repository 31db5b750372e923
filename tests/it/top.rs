//! `warden top` in a real terminal (tmux): two nodes on one nats-server,
//! their sessions appear as they start, and a pending confirmation answered
//! from `top` reaches the agent.

use crate::common;
use crate::common::binary::{WARDEN, serve, warden_cmd};
use crate::common::nats::NatsServer;
use crate::common::short;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const T: Duration = common::TIMEOUT;

/// A tmux server of its own (`-L`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let socket = format!("warden-it-{name}-{}", std::process::id());
        let t = Tmux { socket };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-x", &cols.to_string(), "-y", &rows.to_string(), command])
            .status()
            .expect("tmux runs");
        assert!(ok.success(), "tmux new-session");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).stderr(std::process::Stdio::null());
        c
    }

    fn capture(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p"]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        assert!(self.cmd().arg("send-keys").args(keys).status().expect("send-keys").success());
    }

    /// Waits until the pane shows every needle; the pane and how long it took.
    fn wait_for(&self, needles: &[&str], timeout: Duration) -> (String, Duration) {
        let t0 = Instant::now();
        loop {
            let screen = self.capture();
            if needles.iter().all(|n| screen.contains(n)) {
                return (screen, t0.elapsed());
            }
            assert!(t0.elapsed() < timeout, "the pane never showed {needles:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn ctl(state: &Path, url: &str, node: &str, verb: &str, body: Value) -> Value {
    let out = warden_cmd(state)
        .args(["ctl", "--nats", url, "--node", node, "raw", verb, &body.to_string()])
        .output()
        .expect("ctl");
    let reply: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(reply["ok"], true, "{reply}");
    reply["result"].clone()
}

#[test]
fn top_shows_two_nodes_and_answers_a_confirmation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let url = server.url();
    let serve_node =
        |node: &str| serve(&dir.path().join(node), &["--nats", &url, "--node", node, "--allow-agent", "shell"]);
    let (mut a, mut b) = (serve_node("node-a"), serve_node("node-b"));

    let top = format!("{} top --nats {url}", WARDEN);
    let tmux = Tmux::start("top", 100, 30, &top);
    tmux.wait_for(&["warden top", "0 node(s)"], T);

    let plain = ctl(&dir.path().join("x"), &url, "node-a", "spawn_agent", json!({"agent": "shell", "label": "plain"}));
    let plain_id = plain["session"]["id"].as_str().expect("id").to_string();
    let (_, took) = tmux.wait_for(&[&short(&plain_id), "node-a"], T);
    eprintln!("node-a's session appeared in top {took:?} after its spawn replied");
    assert!(took < Duration::from_secs(1), "within a second: {took:?}");

    let asking = ctl(
        &dir.path().join("x"),
        &url,
        "node-b",
        "spawn_agent",
        json!({
            "agent": "shell",
            "label": "asks",
            "supervision": "confirm",
            "task": "printf '%s? [y/N] ' Deploy; read a; echo deployed-$a",
            "rules": [{"id": "deploy", "pattern": r"Deploy\? \[y/N\]", "reply": {"type": "text", "value": "y"}}],
            "stall": {"disabled": true},
        }),
    );
    let asking_id = asking["session"]["id"].as_str().expect("id").to_string();
    let (_, took) = tmux.wait_for(&[&short(&asking_id), "node-b", "2 node(s)"], T);
    eprintln!("node-b's session appeared in top {took:?} after its spawn replied");
    assert!(took < Duration::from_secs(1), "within a second: {took:?}");

    // node-b's row comes second (rows by node); it asks, then `y` answers it.
    tmux.wait_for(&["waits for an answer"], T);
    // A `top` started while the question waits shows it too (from `list_agents`).
    {
        let late = Tmux::start("top-late", 100, 30, &top);
        late.wait_for(&[&short(&asking_id), "2 node(s)"], T);
        late.keys(&["j"]);
        late.wait_for(&["asks: Deploy? [y/N]", "[y] answer"], T);
    }
    tmux.keys(&["j"]);
    tmux.wait_for(&["asks: ", "[y] answer"], T);
    tmux.keys(&["y"]);
    let t0 = Instant::now();
    loop {
        let snap = ctl(&dir.path().join("x"), &url, "node-b", "snapshot", json!({"session": asking_id}));
        if snap.to_string().contains("deployed-y") {
            break;
        }
        assert!(t0.elapsed() < T, "the answer never reached the agent: {snap}");
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.wait_for(&["answered"], T);

    // q leaves top; tmux's pane closes with it.
    tmux.keys(&["q"]);
    let t0 = Instant::now();
    while tmux.cmd().args(["has-session"]).status().is_ok_and(|s| s.success()) {
        assert!(t0.elapsed() < T, "top did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.terminate(T), Some(0));
    assert_eq!(b.terminate(T), Some(0));
}

/// At 40×10 and 30×4 `top` still draws (fewer columns), and at 80×24 everything.
#[test]
fn top_degrades_at_small_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &["--allow-agent", "shell"]);
    let out =
        warden_cmd(&state).args(["ctl", "spawn_agent", "--agent", "shell", "--label", "small"]).output().expect("ctl");
    let reply: Value = serde_json::from_slice(&out.stdout).expect("reply");
    let id = short(reply["result"]["session"]["id"].as_str().expect("id"));
    let top = format!("{} --state-dir {} top", WARDEN, state.display());
    let tmux = Tmux::start("small", 80, 24, &top);
    let (screen, _) = tmux.wait_for(&[&id, "LAST EVENT", "q quit"], T);
    assert!(screen.contains("[small]"), "{screen}");
    assert!(tmux.cmd().args(["resize-window", "-x", "40", "-y", "10"]).status().expect("resize").success());
    let (screen, _) = tmux.wait_for(&[&id, "STATE"], T);
    assert!(!screen.contains("LAST EVENT"), "fewer columns at 40 wide:\n{screen}");
    assert!(tmux.cmd().args(["resize-window", "-x", "30", "-y", "2"]).status().expect("resize").success());
    tmux.wait_for(&["1 live / 1 sessions"], T);
    tmux.keys(&["q"]);
    assert_eq!(node.terminate(T), Some(0));
}

/// `warden attach` on a local node: the current screen appears, typed text
/// reaches the agent, the pane's size reaches it, the detach key returns to
/// the shell with the agent still running; a second attach sees the same
/// screen but only watches, and `--take` takes the keyboard over.
#[test]
fn attach_draws_the_screen_types_and_detaches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &["--allow-agent", "shell"]);
    let ctl = |args: &[&str]| -> Value {
        let out = warden_cmd(&state).arg("ctl").args(args).output().expect("ctl");
        let reply: Value = serde_json::from_slice(&out.stdout).expect("reply");
        assert_eq!(reply["ok"], true, "{reply}");
        reply["result"].clone()
    };
    let spawned = ctl(&["spawn_agent", "--agent", "shell", "--label", "att"]);
    let id = spawned["session"]["id"].as_str().expect("id").to_string();
    ctl(&["send_to_agent", "--session", &id, "--text", "echo before-$((20+1))"]);
    let t0 = Instant::now();
    while !ctl(&["raw", "snapshot", &json!({"session": id}).to_string()]).to_string().contains("before-21") {
        assert!(t0.elapsed() < T, "the shell never ran the first command");
        std::thread::sleep(Duration::from_millis(20));
    }

    let shell = "env PS1='outer$ ' bash --norc --noprofile";
    let tmux = Tmux::start("attach", 100, 30, shell);
    tmux.wait_for(&["outer$"], T);
    let attach = format!("{} --state-dir {} attach {id}", WARDEN, state.display());
    tmux.keys(&[&attach, "Enter"]);
    tmux.wait_for(&["before-21"], T);
    tmux.keys(&["echo typed-$((6*7)); stty size", "Enter"]);
    let (screen, _) = tmux.wait_for(&["typed-42", "30 100"], T);
    assert!(!screen.contains("outer$ echo typed"), "typed into the agent, not the outer shell:\n{screen}");

    tmux.keys(&["C-]"]);
    tmux.wait_for(&["detached", "keeps running"], T);
    let listed = ctl(&["list_agents", "--json"]);
    let me =
        listed["agents"].as_array().expect("agents").iter().find(|a| a["id"] == Value::String(id.clone())).cloned();
    assert!(me.is_some_and(|a| a["exit"].is_null()), "the agent still runs: {listed}");
    // The outer terminal is in cooked mode again: a command runs there.
    tmux.keys(&["echo outer-$((1+1))", "Enter"]);
    tmux.wait_for(&["outer-2"], T);

    // Back in: this terminal types; a second one sees the same screen but
    // only watches; a third takes the keyboard over with --take.
    tmux.keys(&[&attach, "Enter"]);
    tmux.wait_for(&["typed-42", "30 100"], T);
    let watcher = Tmux::start("attach2", 100, 30, &attach);
    watcher.wait_for(&["before-21", "typed-42"], T);
    watcher.keys(&["echo from-watcher", "Enter"]);
    tmux.keys(&["echo from-writer-$((2*5))", "Enter"]);
    watcher.wait_for(&["from-writer-10"], T);
    let snap = ctl(&["raw", "snapshot", &json!({"session": id}).to_string()]).to_string();
    assert!(!snap.contains("from-watcher"), "a watcher's keys do not reach the agent: {snap}");

    let taker = Tmux::start("attach3", 100, 30, &format!("{attach} --take"));
    taker.wait_for(&["from-writer-10"], T);
    taker.keys(&["echo taken-$((3*3))", "Enter"]);
    tmux.wait_for(&["taken-9"], T);
    tmux.keys(&["echo old-writer", "Enter"]);
    taker.keys(&["echo new-writer-$((4*4))", "Enter"]);
    tmux.wait_for(&["new-writer-16"], T);
    let snap = ctl(&["raw", "snapshot", &json!({"session": id}).to_string()]).to_string();
    assert!(!snap.contains("old-writer"), "the old writer only watches now: {snap}");
    for t in [&tmux, &watcher, &taker] {
        t.keys(&["C-]"]);
    }
    assert_eq!(node.terminate(T), Some(0));
}
