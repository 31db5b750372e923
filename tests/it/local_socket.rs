//! The protocol on the local Unix socket: `warden serve` with no NATS,
//! `warden ctl` and `warden events` against it, the same replies as over
//! NATS, and a socket only its user can reach.

use crate::common;
use crate::common::binary::{WARDEN, serving, warden_cmd, warden_cmd_of};
use crate::common::nats::{NatsServer, Proc};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use warden_bridge::local::{LocalClient, LocalMsg, LocalSubscribe, default_socket_path};
use warden_bridge::protocol::{Reply, SpawnResult};
use warden_bridge::{NatsOptions, Remote};

const T: Duration = common::TIMEOUT;

/// `warden serve` as node `local1` allowing `shell`, plus `extra`, once it serves.
pub(crate) fn serve(state: &Path, extra: &[&str]) -> Proc {
    let mut cmd = warden_cmd(state);
    cmd.args(["serve", "--node", "local1", "--allow-agent", "shell"]).args(extra);
    serving(cmd)
}

fn reply_of(out: &std::process::Output) -> Reply {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reply JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `warden serve` without NATS; `ctl spawn_agent`, `ctl list_agents` and
/// `events --until-exit` reach it through the socket, by default.
#[test]
fn serve_without_nats_answers_ctl_and_events_on_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);

    let socket = default_socket_path(&state);
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is its user's only");
    let dir_mode = std::fs::metadata(socket.parent().expect("dir")).expect("dir").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700, "and so is its directory");

    let out = warden_cmd(&state)
        .args(["ctl", "spawn_agent", "--agent", "shell", "--task", "echo local-hi; exit 3"])
        .output()
        .expect("ctl");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let reply = reply_of(&out);
    let spawned: SpawnResult = serde_json::from_value(reply.result.expect("result")).expect("spawn result");
    assert_eq!(spawned.node, "local1");
    let id = spawned.session.id.to_string();

    // Follows to the exit (the session may end before or after this starts).
    let out = warden_cmd(&state).args(["events", "--session", &id, "--json", "--until-exit"]).output().expect("events");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().expect("a line")).expect("JSON line");
    assert_eq!(last["kind"], "exited");
    assert_eq!(last["code"], 3);

    // Once more, now that the session has certainly ended: returns at once
    // with its exit instead of waiting for ever.
    let t0 = std::time::Instant::now();
    let out = warden_cmd(&state).args(["events", "--session", &id, "--json", "--until-exit"]).output().expect("events");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(t0.elapsed() < T, "returned");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"exited\"") && text.contains("\"code\":3"), "{text}");

    let out = warden_cmd(&state).args(["ctl", "list_agents", "--json"]).output().expect("ctl");
    assert_eq!(out.status.code(), Some(0));
    let reply = reply_of(&out);
    assert!(reply.ok);
    let agents = reply.result.expect("result")["agents"].clone();
    assert!(agents.as_array().expect("agents").iter().any(|a| a["id"] == Value::String(id.clone())), "{agents}");

    assert_eq!(node.terminate(T), Some(0));
    assert!(!socket.exists(), "the socket is removed on a clean stop");
}

/// A second node on the same socket is refused; nothing answers on a
/// socket whose node is gone, and `ctl` says what to do.
#[test]
fn one_node_per_socket_and_a_clear_error_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let out = warden_cmd(&state).args(["ctl", "list_agents"]).output().expect("ctl");
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warden serve") && err.contains("--nats"), "{err}");

    let mut first = serve(&state, &[]);
    let socket = dir.path().join("shared.sock");
    let mut a = serve(&dir.path().join("a"), &["--socket", socket.to_str().expect("utf-8")]);
    let out = warden_cmd(&dir.path().join("b"))
        .args(["serve", "--node", "b", "--socket", socket.to_str().expect("utf-8")])
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already serves"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(a.terminate(T), Some(0));
    assert_eq!(first.terminate(T), Some(0));
}

/// A malformed request gets the same error reply over the socket as over
/// NATS, from the same node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_same_reply_on_both_transports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let state = dir.path().join("state");
    let mut node = serve(&state, &["--nats", &server.url()]);

    let local = LocalClient::connect(&default_socket_path(&state), T).await.expect("local");
    let client = warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("nats");
    let remote = Remote::new(client, warden_bridge::subjects::DEFAULT_PREFIX, T);
    let cases: &[(&str, &[u8])] = &[
        ("spawn_agent", b"{"),
        ("spawn_agent", br#"{"agent":"shell","bogus":1}"#),
        ("send_to_agent", br#"{"session":"not-an-id","text":"x"}"#),
        ("create_task", br#"{"agent":"shell"}"#),
        ("snapshot", b"\xff\xfe"),
        ("no_such_verb", b"{}"),
    ];
    for (verb, payload) in cases {
        let over_socket = local.request_raw(verb, payload.to_vec().into()).await.expect("local reply");
        let over_nats = remote.request_raw("local1", verb, payload.to_vec().into()).await.expect("nats reply");
        let (a, b): (Value, Value) =
            (serde_json::from_slice(&over_socket).expect("json"), serde_json::from_slice(&over_nats).expect("json"));
        assert_eq!(a, b, "{verb} {:?}", String::from_utf8_lossy(payload));
        assert_eq!(a["ok"], false, "{a}");
    }

    // Output and events of a session over the socket.
    let raw = local
        .request_raw("spawn_agent", br#"{"agent":"shell","task":"echo sock-out; exit 0"}"#.to_vec().into())
        .await
        .expect("spawn");
    let reply: Reply = serde_json::from_slice(&raw).expect("reply");
    let spawned: SpawnResult = serde_json::from_value(reply.result.expect("result")).expect("spawned");
    let mut rx = local
        .subscribe(LocalSubscribe { session: Some(spawned.session.id), since: Some(1), events: true, output: true })
        .await
        .expect("subscribe");
    let (mut out, mut exited) = (Vec::new(), false);
    while !exited {
        match tokio::time::timeout(T, rx.recv()).await.expect("in time").expect("open") {
            LocalMsg::Output { bytes, .. } => out.extend_from_slice(&bytes),
            LocalMsg::Event(json) => exited = serde_json::from_slice::<Value>(&json).expect("json")["kind"] == "exited",
        }
    }
    assert!(String::from_utf8_lossy(&out).contains("sock-out"), "{}", String::from_utf8_lossy(&out));

    // `events --until-exit` over NATS for a session that has already ended
    // returns with its exit (it used to wait for ever).
    let id = spawned.session.id.to_string();
    let mut events = Proc::spawn({
        let mut c = warden_cmd(&state);
        c.args(["events", "--nats", &server.url(), "--node", "local1", "--session", &id, "--json", "--until-exit"]);
        c
    });
    let line: Value = serde_json::from_str(&events.next_stdout(T)).expect("JSON line");
    assert_eq!(line["kind"], "exited");
    assert_eq!(line["session"], Value::String(id));
    assert_eq!(events.wait_exit(T), Some(0), "it ends by itself");
    drop(local);
    assert_eq!(node.terminate(T), Some(0));
}

/// Another user cannot reach the socket (run as root: the test connects as
/// `nobody`).
#[test]
fn another_user_is_refused() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let socket = default_socket_path(&state);
    let me = rustix_uid();
    if me == 0 {
        // Let `nobody` reach the binary and the socket's path; the socket's own
        // modes (and the node's peer check) must still refuse it.
        for p in [dir.path(), state.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // The binary itself may sit below a directory only its owner can
        // enter (a checkout in a `mktemp -d`): `nobody` runs a copy.
        let exe = dir.path().join("warden");
        if std::fs::hard_link(WARDEN, &exe).is_err() {
            std::fs::copy(WARDEN, &exe).expect("copy the binary");
        }
        let out = warden_cmd_of(&exe, &state)
            .args(["ctl", "--socket", socket.to_str().expect("utf-8"), "list_agents"])
            .uid(65534)
            .gid(65534)
            .output()
            .expect("ctl as nobody");
        assert_eq!(out.status.code(), Some(125), "stdout: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ermission denied"), "{err}");
    } else {
        let mode = std::fs::metadata(&socket).expect("socket").permissions().mode();
        assert_eq!(mode & 0o077, 0, "no access for group or others");
    }
    assert_eq!(node.terminate(T), Some(0));
}

fn rustix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// An attached terminal, as `warden attach` keeps it (snapshot, then output
/// with a higher `seq`), ends up showing exactly the node's `snapshot` after
/// a flood, over the local socket and over NATS, and keystrokes typed during
/// the flood come back (the timing is `warden bench --only attach`'s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_terminal_ends_equal_to_the_snapshot_after_a_flood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let options = warden_bench::attach::AttachOptions { mbytes: 3, nats: Some(server.url()) };
    let report = warden_bench::attach::measure(&options).await.expect("the attach part runs");
    assert_eq!(report.runs.len(), 2, "{report}");
    for run in &report.runs {
        assert!(run.screen_equals_snapshot, "{}: the terminal differs from the snapshot\n{report}", run.transport);
        assert!(!run.echo_ms.is_empty(), "{}: no keystroke came back\n{report}", run.transport);
    }
}

/// `warden task` talks to the local node by default: a task created there
/// runs to `completed`.
#[test]
fn task_commands_use_the_local_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let out = warden_cmd(&state)
        .args(["task", "create", "--agent", "shell", "--task", "echo hi > f.txt; exit 0"])
        .output()
        .expect("task create");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let reply = reply_of(&out);
    let id = reply.result.expect("result")["task"]["id"].as_str().expect("task id").to_string();
    let t0 = std::time::Instant::now();
    loop {
        let out = warden_cmd(&state).args(["task", "show", &id]).output().expect("task show");
        let status = reply_of(&out).result.expect("result")["task"]["status"].clone();
        if status == "completed" {
            break;
        }
        assert!(!matches!(status.as_str(), Some("failed" | "cancelled")), "{status}");
        assert!(t0.elapsed() < T, "the task never completed: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(node.terminate(T), Some(0));
}

/// A node out of file descriptors (its limit here is 64, and a client holds
/// 150 connections) waits a little after a failed `accept` instead of trying
/// again at once: the connection stays in the backlog, so every retry failed
/// again, and the node spun a core and logged a warning per retry (268 844
/// lines in 2 s). Once the client lets go, the node serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_out_of_descriptors_backs_off_its_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut warden = warden_cmd(&state);
    warden.args(["serve", "--node", "local1"]);
    // The limit set by a shell that then becomes the node (`exec`: the same pid).
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", r#"ulimit -n 64 && exec "$0" "$@""#]).arg(warden.get_program()).args(warden.get_args());
    for (name, value) in warden.get_envs() {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    cmd.stdin(std::process::Stdio::null());
    let mut node = serving(cmd);
    let socket = default_socket_path(&state);
    let held: Vec<_> = (0..150).map(|_| std::os::unix::net::UnixStream::connect(&socket).expect("connect")).collect();
    node.wait_stderr("accept failed", T);
    let before = node.stderr_seen.len();
    // The rate of failed accepts, over one second with descriptors exhausted.
    std::thread::sleep(Duration::from_secs(1));
    let failed = node.drain_stderr()[before..].iter().filter(|l| l.contains("accept failed")).count();
    drop(held);
    let local = LocalClient::connect(&socket, T).await.expect("connects again");
    let reply: Value =
        serde_json::from_slice(&local.request_raw("list_agents", "{}".into()).await.expect("reply")).expect("json");
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(failed <= 50, "{failed} failed accepts logged in one second: the accept loop spins");
    drop(local);
    assert_eq!(node.terminate(T), Some(0));
}

/// A frame whose header is over the limit (16 KiB) is refused `too_large`
/// naming the header: the message used to be the body's ("request is 10
/// bytes; this node accepts at most 262144"), which says nothing wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_over_the_limit_is_refused_naming_the_header() {
    use tokio::io::AsyncWriteExt;
    use warden_bridge::local::frame::{Header, MAX_HEADER, read_frame};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let mut stream = tokio::net::UnixStream::connect(default_socket_path(&state)).await.expect("connect");
    let mut lens = Vec::new();
    lens.extend_from_slice(&(MAX_HEADER as u32 + 1).to_be_bytes());
    lens.extend_from_slice(&10u32.to_be_bytes());
    stream.write_all(&lens).await.expect("write");
    let frame = tokio::time::timeout(T, read_frame(&mut stream, 1 << 20)).await.expect("in time").expect("read");
    let frame = frame.expect("a reply");
    assert_eq!(frame.header, Header::Reply { id: 0 });
    let reply: Value = serde_json::from_slice(&frame.body).expect("json");
    assert_eq!(reply["error"]["code"], "too_large", "{reply}");
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(message.contains("header") && message.contains(&MAX_HEADER.to_string()), "{message}");
    assert_eq!(node.terminate(T), Some(0));
}

/// A node told to stop as soon as it says it serves stops cleanly (exit 0,
/// its socket removed): it used to install its SIGTERM handler only after
/// printing "serving on", so a signal right after that line killed it by
/// the default action (no exit code, the socket left behind).
#[test]
fn a_node_stopped_right_after_it_serves_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..20 {
        let state = dir.path().join(format!("state{i}"));
        let mut node = serve(&state, &[]);
        assert_eq!(node.terminate(T), Some(0), "start {i}: {:?}", node.drain_stderr());
        assert!(!default_socket_path(&state).exists(), "start {i}: the socket is left behind");
    }
}

/// The reported defect: a client that sent part of a frame and stopped held
/// its connection (one of 256) for good. The rest of a started frame must now
/// come within `FRAME_REST` (5 s); past it the node answers `bad_request` and
/// closes. A connection that is idle between frames is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_started_and_never_finished_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use warden_bridge::local::frame::{FRAME_REST, Header, read_frame};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let socket = default_socket_path(&state);
    let idle = LocalClient::connect(&socket, T).await.expect("connects");
    let mut stream = tokio::net::UnixStream::connect(&socket).await.expect("connect");
    stream.write_all(&[0, 0, 0]).await.expect("three bytes of a frame");
    let started = std::time::Instant::now();
    let frame = tokio::time::timeout(FRAME_REST + T, read_frame(&mut stream, 1 << 20))
        .await
        .expect("the node answers the stalled frame")
        .expect("read")
        .expect("a reply");
    assert!(started.elapsed() >= FRAME_REST, "cut off early: {:?}", started.elapsed());
    assert_eq!(frame.header, Header::Reply { id: 0 });
    let reply: Value = serde_json::from_slice(&frame.body).expect("json");
    assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(T, stream.read_to_end(&mut rest)).await.expect("closed").expect("read");
    assert_eq!(n, 0, "the connection is closed after the reply");
    // The idle connection, as old, still serves.
    let reply: Value =
        serde_json::from_slice(&idle.request_raw("list_agents", "{}".into()).await.expect("reply")).expect("json");
    assert_eq!(reply["ok"], true, "{reply}");
    drop(idle);
    assert_eq!(node.terminate(T), Some(0));
}
