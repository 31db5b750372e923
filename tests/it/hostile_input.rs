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
