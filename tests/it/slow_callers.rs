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
