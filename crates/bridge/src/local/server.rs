//! Serving the protocol on a Unix socket: the same verbs, replies and
//! events as over NATS, for one machine's user, with no server to install.
//!
//! Every command goes through the bridge's own dispatcher
//! ([`crate::commands::run_command`]): decoding, the node's policy, the
//! per-session lanes and the `Warden` calls are shared with NATS, only the
//! way a reply travels differs. Replies and events leave on one socket, but
//! a connection's replies are written before its queued events and output,
//! so a flooding session cannot hold up an answer.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};
use warden_actors::Warden;
use warden_core::{EventKind, SessionId};

use super::frame::{FRAME_REST, FrameError, Header, MAX_HEADER, read_frame_within, write_frame};
use crate::commands::{CommandCtx, Respond, respond_with, run_command, run_input, too_large};
use crate::lanes::SessionLanes;
use crate::protocol::{ErrorCode, Reply, WireError};
use crate::subjects::{DEFAULT_PREFIX, Subjects};
use crate::{BridgeConfig, BridgeError};

/// Connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 256;
/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Replies queued for one connection before its commands wait.
const REPLY_QUEUE: usize = 256;
/// Frames of one connection read and not yet answered; at this many the
/// node stops reading the connection until a reply is queued, so a client
/// that does not read its replies is not read either (each unanswered
/// request is a task and its reply in the node's memory).
const IN_FLIGHT: usize = 256;
/// Bytes of replies one connection may have produced and not yet read
/// (queued for the writer or being written). Past it a reply waits, and so
/// does the lane of its session; once [`IN_FLIGHT`] frames wait, the node
/// reads no more of the connection. A client that never reads its replies
/// thus holds this much of them, and one waiting reply per command that
/// runs (per session lane and outside them), instead of [`REPLY_QUEUE`]
/// replies of any size.
const REPLY_BYTES: usize = 16 << 20;
/// Commands of one connection that run at once outside the session lanes
/// (reads, lists, spawns, workspaces); each holds its turn until its reply
/// is queued, so a client that does not read holds at most this many
/// replies waiting for [`REPLY_BYTES`] (a lane holds one).
const RUNNING: usize = 8;
/// Event and output frames queued for one connection before its
/// subscriptions wait (and, if it stays slow, lag on the bus).
const DATA_QUEUE: usize = 64;
/// How long the node waits after a failed `accept` (out of descriptors)
/// before it tries again.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// The socket a node serves by default: `<state_dir>/run/warden.sock`.
pub fn default_socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("run").join("warden.sock")
}

/// How the local socket is served.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// The socket's path (see [`default_socket_path`]).
    pub socket: PathBuf,
    /// The node's configuration: the same policy as over NATS.
    pub config: BridgeConfig,
    /// Root for working directories when the configuration names none.
    pub default_root: Option<PathBuf>,
}

/// A node serving the protocol on a Unix socket; stops on [`LocalServer::shutdown`].
pub struct LocalServer {
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Binds the socket (its directory `0700`, the socket `0600`, so only the
    /// node's user can reach it; every connection's peer is checked too) and
    /// serves until shut down. A socket left by a dead node is replaced; one a
    /// live node answers on is an error.
    pub async fn start(warden: Warden, settings: LocalSettings) -> Result<LocalServer, BridgeError> {
        let policy = crate::node_policy(&warden, &settings.config, settings.default_root.clone())?;
        let path = settings.socket.clone();
        let listener = bind(&path)?;
        let owner = std::fs::metadata(&path)
            .map_err(|e| BridgeError::Invalid(format!("cannot read {}: {e}", path.display())))?
            .uid();
        let subjects = Subjects::new(DEFAULT_PREFIX, warden.node()).map_err(|e| BridgeError::Invalid(e.to_string()))?;
        let ctx = Arc::new(CommandCtx {
            warden,
            client: None,
            subjects,
            policy,
            max_request_bytes: settings.config.max_request_bytes,
            keyboards: Default::default(),
            in_flight: CommandCtx::in_flight_room(),
        });
        let (stop, stop_rx) = watch::channel(false);
        info!(socket = %path.display(), "serving the protocol on the local socket");
        let task = tokio::spawn(accept_loop(ctx, listener, owner, stop_rx));
        Ok(LocalServer { path, stop, task })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, closes every connection and removes the socket.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

fn bind(path: &Path) -> Result<UnixListener, BridgeError> {
    let invalid = |what: &str, e: std::io::Error| BridgeError::Invalid(format!("{what} {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| invalid("cannot create", e))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BridgeError::Invalid(format!(
                "a warden node already serves {} (stop it first, or give this one another --state-dir)",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(|e| invalid("cannot remove the stale socket", e))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| invalid("cannot listen on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| invalid("cannot restrict", e))?;
    Ok(listener)
}

async fn accept_loop(ctx: Arc<CommandCtx>, listener: UnixListener, owner: u32, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or memory, the connection stays in
                // the backlog and the next `accept` fails the same at once: wait a little
                // instead of spinning (and logging) until something is freed.
                warn!(error = %e, "local socket accept failed; waiting before the next");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        if conns.len() >= MAX_CONNECTIONS {
            debug!("too many local connections; refusing a new one");
            // Told why, not just closed: one small frame on a new socket does not block.
            tokio::spawn(async move {
                let (mut rd, mut wr) = stream.into_split();
                let e = WireError::new(
                    ErrorCode::Unavailable,
                    format!("this node serves at most {MAX_CONNECTIONS} local connections at once; retry later"),
                );
                let reply = Reply::err(e, None).to_bytes();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async move {
                    let _ = write_frame(&mut wr, &Header::Reply { id: 0 }, &reply).await;
                    drop(wr);
                    // Closing with the client's request unread would reset the connection
                    // before it reads the answer: read until it hangs up (1 s at most).
                    let mut sink = [0u8; 4096];
                    while matches!(tokio::io::AsyncReadExt::read(&mut rd, &mut sink).await, Ok(n) if n > 0) {}
                })
                .await;
            });
            continue;
        }
        let ctx = ctx.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            // A bug in one connection must not stop the node.
            if std::panic::AssertUnwindSafe(connection(ctx, stream, owner, stop)).catch_unwind().await.is_err() {
                warn!("a local connection's handler panicked; the node keeps serving");
            }
        });
    }
    conns.shutdown().await;
}

type Out = (Header, Bytes);
/// A reply queued for the writer, with the room it takes in the
/// connection's [`REPLY_BYTES`] until it is written.
type QueuedReply = (Header, Bytes, Option<OwnedSemaphorePermit>);

/// Where a connection's replies go: the writer's queue, and the room for
/// replies not yet written (in KiB).
struct Replies {
    tx: mpsc::Sender<QueuedReply>,
    room: Arc<Semaphore>,
}

/// Where the reply to frame `id` goes; `permit` counts the frame as in
/// flight until its reply is queued (or it is dropped unanswered). A reply
/// waits for room among the replies not yet written ([`REPLY_BYTES`]; one
/// larger than all of it waits for all of it).
fn responder(replies: &Replies, id: u64, permit: OwnedSemaphorePermit) -> Respond {
    let (tx, room) = (replies.tx.clone(), Arc::clone(&replies.room));
    Some(Box::new(move |reply: Reply| {
        async move {
            let body: Bytes = reply.to_bytes().into();
            drop(reply);
            let kib = body.len().div_ceil(1024).clamp(1, REPLY_BYTES / 1024);
            let room = room.acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX)).await.ok();
            let _ = tx.send((Header::Reply { id }, body, room)).await;
            drop(permit);
        }
        .boxed()
    }))
}

async fn connection(ctx: Arc<CommandCtx>, stream: UnixStream, owner: u32, mut stop: watch::Receiver<bool>) {
    let peer = stream.peer_cred().map(|c| c.uid());
    let (mut rd, mut wr) = stream.into_split();
    if peer.as_ref().ok() != Some(&owner) {
        warn!(peer = ?peer, owner, "refusing a local connection from another user");
        let e = WireError::new(ErrorCode::Forbidden, "this socket serves only the user that runs the node");
        let _ = write_frame(&mut wr, &Header::Reply { id: 0 }, &Reply::err(e, None).to_bytes()).await;
        return;
    }
    let (reply_tx, reply_rx) = mpsc::channel::<QueuedReply>(REPLY_QUEUE);
    let replies = Replies { tx: reply_tx, room: Arc::new(Semaphore::new(REPLY_BYTES / 1024)) };
    let (data_tx, data_rx) = mpsc::channel::<Out>(DATA_QUEUE);
    let writer = tokio::spawn(write_loop(wr, reply_rx, data_rx));
    let mut lanes = SessionLanes::default();
    let mut subs: HashMap<u64, JoinHandle<()>> = HashMap::new();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let running = Arc::new(Semaphore::new(RUNNING));
    loop {
        // Room for one more unanswered frame before the next is read.
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            p = in_flight.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { break };
        let frame = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            f = read_frame_within(&mut rd, ctx.max_request_bytes) => f,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::BadHeader(e)) => {
                let e = WireError::bad_request(format!("bad frame header: {e}"));
                respond_with(responder(&replies, 0, permit), Reply::err(e, None)).await;
                continue;
            }
            Err(FrameError::TooLarge { header, body, .. }) => {
                // The stream is out of step now: answer and close.
                let e = if header > MAX_HEADER {
                    WireError::new(
                        ErrorCode::TooLarge,
                        format!("frame header is {header} bytes; this node accepts at most {MAX_HEADER}"),
                    )
                } else {
                    too_large(&ctx, body)
                };
                respond_with(responder(&replies, 0, permit), Reply::err(e, None)).await;
                break;
            }
            Err(FrameError::Stalled) => {
                // Out of step too: answer and close, freeing the connection's place.
                let e = WireError::bad_request(format!(
                    "a frame was begun and not finished within {} s; closing",
                    FRAME_REST.as_secs()
                ));
                respond_with(responder(&replies, 0, permit), Reply::err(e, None)).await;
                break;
            }
            Err(FrameError::Io(e)) => {
                debug!(error = %e, "local connection ended");
                break;
            }
        };
        match frame.header {
            Header::Cmd { id, verb } => {
                let turn = Some(Arc::clone(&running));
                run_command(&ctx, &mut lanes, &verb, &frame.body, responder(&replies, id, permit), turn).await
            }
            Header::Input { id, session, ack, client } => {
                let respond = if ack { responder(&replies, id, permit) } else { None };
                run_input(&ctx, &mut lanes, &session, client.as_deref(), frame.body, respond).await
            }
            Header::Subscribe { id, session, since, events, output } => {
                subs.retain(|_, t| !t.is_finished());
                let reply = if subs.len() >= MAX_SUBSCRIPTIONS || subs.contains_key(&id) {
                    Reply::err(
                        WireError::bad_request(format!(
                            "subscription {id} exists, or this connection holds {MAX_SUBSCRIPTIONS} already"
                        )),
                        None,
                    )
                } else {
                    let sub = ctx.warden.subscribe(since.or(Some(ctx.warden.bus().next_seq())));
                    subs.insert(id, tokio::spawn(forward(sub, id, session, events, output, data_tx.clone())));
                    Reply::ok(serde_json::json!({"node": ctx.subjects.node(), "subscription": id}), None)
                };
                respond_with(responder(&replies, id, permit), reply).await;
            }
            Header::Unsubscribe { id } => {
                if let Some(t) = subs.remove(&id) {
                    t.abort();
                }
                respond_with(responder(&replies, id, permit), Reply::ok(serde_json::json!({"subscription": id}), None))
                    .await;
            }
            Header::Reply { id } | Header::Event { sub: id } | Header::Output { sub: id, .. } => {
                let e = WireError::bad_request("a client sends `cmd`, `input`, `subscribe` or `unsubscribe` frames");
                respond_with(responder(&replies, id, permit), Reply::err(e, None)).await;
            }
        }
    }
    for (_, t) in subs {
        t.abort();
    }
    drop(replies);
    drop(data_tx);
    let _ = writer.await;
}

/// Sends a subscription's events and output to the connection's writer.
async fn forward(
    mut sub: warden_actors::Subscription,
    id: u64,
    session: Option<SessionId>,
    events: bool,
    output: bool,
    tx: mpsc::Sender<Out>,
) {
    while let Some(event) = sub.recv().await {
        // Markers without a session (a subscriber's `lagged`) concern every subscription.
        if session.is_some() && event.session.is_some() && event.session != session {
            continue;
        }
        if output
            && let (EventKind::Output(o), Some(s)) = (&event.kind, event.session)
            && tx
                .send((Header::Output { sub: id, session: s, seq: event.seq, offset: o.offset }, o.bytes.clone()))
                .await
                .is_err()
        {
            return;
        }
        if events && tx.send((Header::Event { sub: id }, Bytes::from(event.to_json()))).await.is_err() {
            return;
        }
    }
}

/// Writes a connection's frames: replies first, then events and output.
async fn write_loop(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    mut replies: mpsc::Receiver<QueuedReply>,
    mut data: mpsc::Receiver<Out>,
) {
    loop {
        // A reply's room is given back once it is written (at the end of the turn).
        let (header, body, _room) = tokio::select! {
            biased;
            Some(r) = replies.recv() => r,
            Some((h, b)) = data.recv() => (h, b, None),
            else => break,
        };
        if let Err(e) = write_frame(&mut wr, &header, &body).await {
            debug!(error = %e, "local connection closed while writing");
            break;
        }
    }
}
