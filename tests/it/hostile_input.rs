//! What a caller sends that is out of range, shaped to hurt, or aimed
//! somewhere else: answered with a typed error (or done safely), never a
//! panic, never a request to a place the caller chose.

use std::time::Duration;

use crate::common::*;

/// A grace period too long to add to a clock reading (`Duration::MAX`) is
/// taken as "as long as possible": the session stops (its shell dies of the
/// SIGHUP), and the node's I/O thread, which every session shares, lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_an_endless_grace_does_not_panic_the_io_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(shell_spec()).await.expect("spawns");
    w.send(s.id, "echo ready-$((2+3))").await.expect("sent");
    wait_output(&mut sub, s.id, "ready-5").await;
    let exit = tokio::time::timeout(TIMEOUT, w.stop_with_grace(s.id, Duration::MAX))
        .await
        .expect("the stop answers")
        .expect("stops");
    assert_eq!(exit.reason, "stopped", "{exit:?}");
    // Every session shares the I/O thread: a new one still runs.
    let t = w.spawn(shell_spec()).await.expect("spawns again");
    w.send(t.id, "echo alive-$((3+4))").await.expect("sent");
    wait_output(&mut sub, t.id, "alive-7").await;
    w.shutdown().await;
}

/// The repository a pull request goes to is an `owner/name` pair that goes
/// into the GitHub API's path with the node's token: one that carries `/`,
/// `?` or `..` would aim that authenticated POST at another endpoint
/// (`r/forks?` forks a repository). It is refused (`bad_request`) before
/// anything is committed, pushed or sent; a task's `pr_repo` likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_repository_cannot_steer_the_github_request() {
    use crate::common::git::bare_remote;
    use crate::workspaces::servers::github_stub;
    use serde_json::json;
    use warden_bridge::protocol::Reply;

    let tmp = tempfile::tempdir().expect("tempdir");
    let remote_repo = bare_remote(tmp.path());
    let (api, seen) = github_stub(vec![(201, r#"{"number":7,"html_url":"https://github.com/o/r/pull/7"}"#)]);
    let node = crate::common::node::github_node(tmp.path(), api, TIMEOUT, |_| {}, |_| {}).await;
    let remote = &node.remote;

    node.provision_with_a_change(&remote_repo, "pr-ws", "fix/pr", "f.txt", "x\n").await;

    for (owner, name) in [("o", "r/forks?x="), ("o", "../../user/repos?"), ("..", "r"), ("o", "r#"), ("", "r")] {
        let finalize = json!({"workspace": "pr-ws", "commit": {"message": "m"}, "push": {},
                              "pr": {"title": "t", "repo": {"host": "github.com", "owner": owner, "name": name}}});
        let reply: Reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
        let error = reply.error.clone().unwrap_or_else(|| panic!("{owner}/{name} refused: {reply:?}"));
        assert_eq!(error.code.as_str(), "bad_request", "{owner}/{name}: {reply:?}");
        assert!(reply.result.is_none(), "nothing was done: {reply:?}");
    }
    // Nothing was committed or pushed: the branch is not on the remote.
    let pushed = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", "refs/heads/fix/pr"])
        .current_dir(&remote_repo)
        .output()
        .expect("git");
    assert!(!pushed.status.success(), "the refused finalizes pushed nothing");

    // A task's `pr_repo` is one `owner/name` pair too.
    for pr_repo in ["o/r/forks?", "o/../../x", "o", "o/r?"] {
        let task = json!({"agent": "shell", "task": "true", "repo": remote_repo.display().to_string(),
                          "finalize": "pr", "pr_repo": pr_repo});
        let reply: Reply = remote.request("n1", "create_task", &task).await.expect("reply");
        let error = reply.error.clone().unwrap_or_else(|| panic!("{pr_repo} refused: {reply:?}"));
        assert_eq!(error.code.as_str(), "bad_request", "{pr_repo}: {reply:?}");
    }

    // A plain pair still opens its pull request, and it is the first
    // request GitHub saw.
    let finalize = json!({"workspace": "pr-ws", "commit": {"message": "m"}, "push": {},
                          "pr": {"title": "t", "repo": {"host": "github.com", "owner": "o.x", "name": "r_1-a"}}});
    let reply: Reply = remote.request("n1", "finalize_workspace", &finalize).await.expect("reply");
    assert!(reply.ok, "{reply:?}");
    let first = seen.recv_timeout(TIMEOUT).expect("GitHub saw the pull request");
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/api/v3/repos/o.x/r_1-a/pulls"));
    node.shutdown().await;
}

/// A local client that sends commands and never reads the replies: the
/// node answers a bounded number and then stops reading it (the client's
/// writes block) instead of keeping every unsent reply, and its work, in
/// memory — once it was about 12 KiB per request, without end. When the
/// client reads again, every request it sent is answered.
#[test]
fn a_local_client_that_never_reads_its_replies_is_not_read_either() {
    use std::io::{Read, Write};
    use warden_bridge::local::default_socket_path;

    const MB: u64 = 1024 * 1024;
    /// Far more than the node holds unanswered for one connection, plus
    /// what the socket buffers.
    const SENT_AT_MOST: usize = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = crate::local_socket::serve(&state, &[]);
    let pid = node.child.id();
    let before = rss(pid);
    let mut stream = std::os::unix::net::UnixStream::connect(default_socket_path(&state)).expect("connects");
    let header = br#"{"op":"cmd","id":1,"verb":"list_agents"}"#;
    let mut frame = Vec::new();
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&2u32.to_be_bytes());
    frame.extend_from_slice(header);
    frame.extend_from_slice(b"{}");

    // Writes until a write waits (the node stopped reading) or all are sent.
    // A write that waits this long waits for good: before, the node read
    // every frame at once.
    stream.set_write_timeout(Some(Duration::from_secs(2))).expect("write timeout");
    let (mut sent, mut offset) = (0, 0);
    while sent < SENT_AT_MOST {
        match stream.write(&frame[offset..]) {
            Ok(n) => {
                offset += n;
                if offset == frame.len() {
                    (sent, offset) = (sent + 1, 0);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    let grown = rss(pid).saturating_sub(before);
    eprintln!("{sent} requests sent before the node stopped reading; {} KiB more", grown / 1024);
    assert!(
        sent < SENT_AT_MOST,
        "the node read all {sent} requests whose replies nobody read ({} MiB more)",
        grown / MB
    );
    assert!(grown < 64 * MB, "{} MiB more for {sent} unread replies", grown / MB);

    // Reading again: the rest of a frame cut short goes out, and every
    // request sent is answered.
    let mut reader = stream.try_clone().expect("clone");
    reader.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    let answers = std::thread::spawn(move || {
        let mut replies = 0;
        let mut lens = [0u8; 8];
        while reader.read_exact(&mut lens).is_ok() {
            let h = u32::from_be_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
            let b = u32::from_be_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
            let mut rest = vec![0u8; h + b];
            reader.read_exact(&mut rest).expect("a whole frame");
            let reply: serde_json::Value = serde_json::from_slice(&rest[h..]).expect("reply JSON");
            assert_eq!(reply["ok"], true, "{reply}");
            replies += 1;
            if replies == SENT_AT_MOST {
                break;
            }
        }
        replies
    });
    stream.set_write_timeout(None).expect("no write timeout");
    if offset > 0 {
        stream.write_all(&frame[offset..]).expect("the rest of the frame");
        sent += 1;
    }
    // Closing our side ends the node's reading; it still answers what it read.
    stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    assert_eq!(answers.join().expect("reader"), sent, "every request is answered");
    assert_eq!(node.terminate(TIMEOUT), Some(0), "{:?}", node.drain_stderr());
}

/// Commands outside a session's lane that wait on something slow (here a
/// GitHub that accepts the pull request's connection and never answers) do
/// not pile up without bound: past the node's limit of such commands at
/// once, the next ones are refused at once (`unavailable`, retry later)
/// instead of each holding its request and a task until the slow part ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_commands_outside_a_lane_are_bounded_and_the_rest_refused_at_once() {
    use crate::common::git::bare_remote;
    use futures::StreamExt;
    use serde_json::json;
    use warden_bridge::config::RateLimitConfig;

    /// The node's limit (`MAX_IN_FLIGHT` in the bridge) and a few more.
    const LIMIT: usize = 1024;
    const SENT: usize = LIMIT + 40;
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote_repo = bare_remote(tmp.path());
    // A GitHub that takes connections and never answers, until told to stop.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}/api/v3", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let hanger = std::thread::spawn(move || {
        let mut held = Vec::new();
        while stop_rx.try_recv().is_err() {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let node = crate::common::node::github_node(
        tmp.path(),
        api,
        Duration::from_secs(300),
        |w| w.workspace.github.timeout = Duration::from_secs(120),
        |b| b.rate_limit = RateLimitConfig { per_second: 0.0, burst: 0 },
    )
    .await;
    let remote = &node.remote;
    node.provision_with_a_change(&remote_repo, "slow-ws", "fix/slow", "f.txt", "x\n").await;

    let finalize = json!({"workspace": "slow-ws", "commit": {"message": "m"}, "push": {},
                          "pr": {"title": "t", "repo": {"host": "github.com", "owner": "o", "name": "r"}}});
    let mut replies = futures::stream::iter(0..SENT)
        .map(|_| remote.request("n1", "finalize_workspace", &finalize))
        .buffer_unordered(SENT);
    let mut refused = 0;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while refused < SENT - LIMIT {
        let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.next()).await else { break };
        let reply = reply.expect("a reply");
        let error = reply.error.clone().unwrap_or_else(|| panic!("only refusals come back now: {reply:?}"));
        assert_eq!(error.code.as_str(), "unavailable", "{reply:?}");
        assert!(error.message.contains("retry later"), "{reply:?}");
        refused += 1;
    }
    assert_eq!(refused, SENT - LIMIT, "the requests past the limit are refused at once");
    // Nothing else comes back while GitHub does not answer: the others wait.
    assert!(tokio::time::timeout(Duration::from_millis(500), replies.next()).await.is_err());

    // GitHub goes away: the waiting ones end (with an error) and free their room.
    stop_tx.send(()).expect("stop");
    hanger.join().expect("the hanging GitHub ends");
    drop(replies);
    node.shutdown().await;
}
