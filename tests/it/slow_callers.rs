//! Replies too big for NATS, and one connection too many on the local socket:
//! every request gets an answer.

use crate::common;
use crate::common::binary::warden_cmd;
use crate::common::nats::NatsServer;
use crate::local_socket::serve;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warden_bridge::local::{LocalClient, default_socket_path};
use warden_bridge::{NatsOptions, Remote};

const T: Duration = common::TIMEOUT;

async fn request(local: &LocalClient, verb: &str, body: Value) -> Value {
    let raw = local.request_raw(verb, serde_json::to_vec(&body).expect("json").into()).await.expect("reply");
    serde_json::from_slice(&raw).expect("reply json")
}

/// Spawns a shell on a 700x700 screen that fills it with `€` (3 bytes each):
/// a snapshot of ~1.47 MB. Returns the session id once the snapshot is that big.
async fn big_screen(local: &LocalClient) -> String {
    let spawn = json!({"agent": "shell", "size": {"rows": 700, "cols": 700},
                       "task": "yes € | tr -d '\\n' | head -c 1470000; sleep 1000"});
    let reply = request(local, "spawn_agent", spawn).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let id = reply["result"]["session"]["id"].as_str().expect("id").to_string();
    let t0 = Instant::now();
    loop {
        let snap = request(local, "snapshot", json!({"session": id})).await;
        let len = snap["result"]["screen"]["text"].as_str().map(str::len).unwrap_or(0);
        if len > 1_300_000 {
            return id;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the screen never filled: {len} bytes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A reply over NATS larger than the server's max_payload (1 MiB): the
/// caller gets an answer (the reply, or a typed error) instead of silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_nats_servers_max_payload_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&dir.path().join("nats"));
    let state = dir.path().join("state");
    let mut node = serve(&state, &["--nats", &server.url()]);
    let local = LocalClient::connect(&default_socket_path(&state), T).await.expect("local");
    let id = big_screen(&local).await;

    let client = warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("nats");
    let remote = Remote::new(client, warden_bridge::subjects::DEFAULT_PREFIX, Duration::from_secs(10));
    // A small reply works over NATS…
    let small = remote.request_raw("local1", "list_agents", "{}".into()).await;
    assert!(small.is_ok(), "{small:?}");
    // …and the same snapshot the local socket answers gets nothing back.
    let t0 = Instant::now();
    let big = remote
        .request_raw("local1", "snapshot", serde_json::to_vec(&json!({"session": id})).expect("json").into())
        .await;
    let elapsed = t0.elapsed();
    let _ = node.terminate(T);
    let raw = big.unwrap_or_else(|e| panic!("no reply to `snapshot` over NATS after {elapsed:?}: {e}"));
    let reply: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(reply["error"]["code"], "too_large", "{}", &reply.to_string()[..200.min(reply.to_string().len())]);
}

/// A client that sends 200 `snapshot`s of a 1.47 MB screen and reads none of
/// the replies holds, on the node, the connection's room for unread replies
/// (16 MiB) and the few replies that wait for it, not 256 queued replies of
/// any size (before: 289 MB in this test; 34 MB after). Read at last, every
/// reply arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_a_client_does_not_read_are_bounded_in_bytes() {
    use warden_bridge::local::frame::{Header, read_frame, write_frame};
    const MB: u64 = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let local = LocalClient::connect(&default_socket_path(&state), T).await.expect("local");
    let id = big_screen(&local).await;
    let before = common::rss(node.child.id());

    let mut raw = tokio::net::UnixStream::connect(default_socket_path(&state)).await.expect("connect");
    let body = serde_json::to_vec(&json!({"session": id})).expect("json");
    for n in 1..=200 {
        write_frame(&mut raw, &Header::Cmd { id: n, verb: "snapshot".into() }, &body).await.expect("write");
    }
    // The node answers as far as it will; its memory then stays put.
    let t0 = Instant::now();
    let (mut last, mut still_since) = (common::rss(node.child.id()), Instant::now());
    while still_since.elapsed() < Duration::from_secs(2) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the node's memory never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = common::rss(node.child.id());
        if now > last + MB {
            still_since = Instant::now();
        }
        last = last.max(now);
    }
    let grown = last.saturating_sub(before);
    assert!(grown < 100 * MB, "unread replies hold {} MB of the node", grown / MB);

    let mut answered = std::collections::BTreeSet::new();
    for _ in 1..=200 {
        let frame = tokio::time::timeout(T, read_frame(&mut raw, 64 << 20)).await.expect("in time").expect("read");
        let frame = frame.expect("a reply for each request");
        let Header::Reply { id: n } = frame.header else { panic!("a reply, not {:?}", frame.header) };
        let reply: Value = serde_json::from_slice(&frame.body).expect("json");
        assert_eq!(reply["ok"], true, "reply {n}");
        answered.insert(n);
    }
    assert_eq!(answered, (1..=200).collect(), "one reply for each request");
    let _ = node.terminate(T);
}

/// Past the local socket's connection limit a client is told why instead of
/// finding the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_local_connection_too_many_gets_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = serve(&state, &[]);
    let socket = default_socket_path(&state);
    let mut held = Vec::new();
    for _ in 0..warden_bridge::local::server::MAX_CONNECTIONS {
        held.push(tokio::net::UnixStream::connect(&socket).await.expect("connect"));
    }
    let out = warden_cmd(&state).args(["ctl", "list_agents"]).output().expect("ctl");
    let _ = node.terminate(T);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("unavailable") && text.contains("at most 256 local connections"),
        "exit {:?}: {text}",
        out.status.code()
    );
}
