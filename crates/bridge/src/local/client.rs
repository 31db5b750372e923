//! A client of a node's local socket: commands with replies, raw input, and
//! subscriptions to events and output — what `warden ctl`, `events`,
//! `attach` and `top` use when no NATS server is named.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;
use warden_core::SessionId;

use super::frame::{Header, read_frame, write_frame};
use crate::BridgeError;

/// Largest frame body a client accepts from the node.
const MAX_BODY_FROM_NODE: usize = 64 << 20;
/// Frames a subscription buffers before the connection's reader waits.
const SUBSCRIPTION_QUEUE: usize = 256;

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalMsg {
    /// One event, as the JSON published on NATS.
    Event(Bytes),
    /// Raw output of a session.
    Output {
        /// The session.
        session: SessionId,
        /// The output event's `seq`.
        seq: u64,
        /// How many bytes the session printed before these.
        offset: u64,
        /// The bytes.
        bytes: Bytes,
    },
}

/// What a subscription asks for.
#[derive(Debug, Clone, Default)]
pub struct LocalSubscribe {
    /// Only this session.
    pub session: Option<SessionId>,
    /// From this `seq` (default: only new events).
    pub since: Option<u64>,
    /// Events as JSON.
    pub events: bool,
    /// Raw output.
    pub output: bool,
}

type Pending = Arc<Mutex<Waiters>>;

/// Requests waiting for their replies; once the connection has ended, what every
/// later one gets instead.
#[derive(Default)]
struct Waiters {
    by_id: HashMap<u64, oneshot::Sender<Bytes>>,
    /// `Some` once the connection has ended: the node's last reply to no request
    /// (why it closed), if it sent one.
    ended: Option<Option<Bytes>>,
}
type Subs = Arc<Mutex<HashMap<u64, mpsc::Sender<LocalMsg>>>>;

/// A connection to a node's local socket. Cheap to share behind an `Arc`;
/// every call may run concurrently.
pub struct LocalClient {
    tx: mpsc::Sender<(Header, Bytes)>,
    pending: Pending,
    subs: Subs,
    next_id: AtomicU64,
    timeout: Duration,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

fn local_error(path: &Path, e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Invalid(format!("the local node at {}: {e}", path.display()))
}

impl LocalClient {
    /// Connects to the socket at `path`; replies are awaited up to `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<LocalClient, BridgeError> {
        let stream = UnixStream::connect(path).await.map_err(|e| {
            BridgeError::Invalid(format!(
                "no warden node answers on {} ({e}); start one with `warden serve`, or name a NATS server with --nats",
                path.display()
            ))
        })?;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<(Header, Bytes)>(256);
        let writer = tokio::spawn(async move {
            while let Some((h, b)) = rx.recv().await {
                if write_frame(&mut wr, &h, &b).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let subs: Subs = Arc::default();
        let (p, s) = (pending.clone(), subs.clone());
        let reader = tokio::spawn(async move {
            // The node's answer to no request of ours (id 0): a refusal of the whole
            // connection comes so, just before it closes.
            let mut unclaimed: Option<Bytes> = None;
            loop {
                let frame = match read_frame(&mut rd, MAX_BODY_FROM_NODE).await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        debug!(error = %e, "local connection ended");
                        break;
                    }
                };
                match frame.header {
                    Header::Reply { id } => {
                        let waiter = crate::sync_lock(&p).by_id.remove(&id);
                        match waiter {
                            Some(w) => {
                                let _ = w.send(frame.body);
                            }
                            // Id 0: the node answers a frame it could not read (or refuses us).
                            None => {
                                debug!(id, reply = %String::from_utf8_lossy(&frame.body), "unexpected reply");
                                unclaimed = Some(frame.body);
                            }
                        }
                    }
                    Header::Event { sub } => {
                        let tx = crate::sync_lock(&s).get(&sub).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.send(LocalMsg::Event(frame.body)).await;
                        }
                    }
                    Header::Output { sub, session, seq, offset } => {
                        let tx = crate::sync_lock(&s).get(&sub).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.send(LocalMsg::Output { session, seq, offset, bytes: frame.body }).await;
                        }
                    }
                    _ => debug!("unexpected frame from the node"),
                }
            }
            // Wake every waiter: the connection is gone. What the node said last to no
            // request in particular (why it closed) is their answer, if it said anything.
            let waiters: Vec<_> = {
                let mut g = crate::sync_lock(&p);
                g.ended = Some(unclaimed.clone());
                g.by_id.drain().map(|(_, w)| w).collect()
            };
            for w in waiters {
                if let Some(body) = &unclaimed {
                    let _ = w.send(body.clone());
                }
            }
            crate::sync_lock(&s).clear();
        });
        Ok(LocalClient { tx, pending, subs, next_id: AtomicU64::new(1), timeout, reader, writer })
    }

    async fn exchange(&self, header: Header, id: u64, body: Bytes) -> Result<Bytes, BridgeError> {
        let (tx, rx) = oneshot::channel();
        let gone = || BridgeError::Invalid("the local node closed the connection".into());
        {
            let mut g = crate::sync_lock(&self.pending);
            if let Some(ended) = &g.ended {
                return ended.clone().ok_or_else(gone);
            }
            g.by_id.insert(id, tx);
        }
        if self.tx.send((header, body)).await.is_err() {
            crate::sync_lock(&self.pending).by_id.remove(&id);
            return Err(gone());
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(gone()),
            Err(_) => {
                crate::sync_lock(&self.pending).by_id.remove(&id);
                Err(BridgeError::Invalid(format!("the local node did not answer within {:?}", self.timeout)))
            }
        }
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `verb` with its JSON payload; returns the reply JSON as sent.
    pub async fn request_raw(&self, verb: &str, payload: Bytes) -> Result<Bytes, BridgeError> {
        let id = self.id();
        self.exchange(Header::Cmd { id, verb: verb.into() }, id, payload).await
    }

    /// Writes raw bytes to a session's terminal without waiting, as the
    /// attached terminal `client` when given.
    pub async fn write_input(&self, session: SessionId, client: Option<&str>, bytes: Bytes) -> Result<(), BridgeError> {
        let header = Header::Input {
            id: self.id(),
            session: session.to_string(),
            ack: false,
            client: client.map(str::to_string),
        };
        self.tx
            .send((header, bytes))
            .await
            .map_err(|_| BridgeError::Invalid("the local node closed the connection".into()))
    }

    /// Starts a subscription; its messages arrive on the receiver until the
    /// connection ends or the receiver is dropped.
    pub async fn subscribe(&self, what: LocalSubscribe) -> Result<mpsc::Receiver<LocalMsg>, BridgeError> {
        let id = self.id();
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
        crate::sync_lock(&self.subs).insert(id, tx);
        let header = Header::Subscribe {
            id,
            session: what.session,
            since: what.since,
            events: what.events,
            output: what.output,
        };
        let reply = self.exchange(header, id, Bytes::new()).await?;
        match serde_json::from_slice::<crate::protocol::Reply>(&reply) {
            Ok(r) if r.ok => Ok(rx),
            _ => {
                crate::sync_lock(&self.subs).remove(&id);
                Err(local_error(Path::new("socket"), String::from_utf8_lossy(&reply)))
            }
        }
    }
}
