//! How a console reaches nodes: the local node's socket, or every node on a
//! NATS server. Only the documented protocol: `list_agents`, `confirm`,
//! `decline`, `send_to_agent`, `stop_agent`, and the event stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use warden_bridge::CLIENT_HEADER;
use warden_bridge::local::{LocalClient, LocalMsg, LocalSubscribe};
use warden_bridge::protocol::{AgentEntry, Reply};
use warden_bridge::publish::{OFFSET_HEADER, SEQ_HEADER};
use warden_bridge::{FollowOptions, Remote, Subjects, follow_events};
use warden_core::{Event, EventKind, SessionId};

use crate::LinkError;

/// Events buffered between the stream and the screen.
const EVENT_QUEUE: usize = 4096;
/// Output chunks buffered between the stream and an attached terminal.
const OUTPUT_QUEUE: usize = 1024;

/// What an attached terminal receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachMsg {
    /// Output, with its event `seq`.
    Output {
        /// The output event's `seq` (0 when the transport did not say).
        seq: u64,
        /// The bytes.
        bytes: Bytes,
    },
    /// The session ended, with its exit code if it had one.
    Exited(Option<i32>),
    /// The stream fell behind and output was skipped: what the terminal
    /// shows is no longer the session's screen, so it is drawn again.
    Lagged {
        /// A snapshot whose `seq` is at least this shows everything skipped
        /// (the `seq` of the last event skipped, or one before the first
        /// output after the gap); `None` when the transport cannot tell (a
        /// connection made again): only a snapshot asked for after this
        /// notice does.
        covered_by: Option<u64>,
    },
}

/// Where a session's output stands for an attached terminal, by the offsets
/// the node puts on it: output whose offset is past the end of the last
/// output seen means some was missed on the way.
#[derive(Debug, Default)]
struct OutputTrack {
    /// The offset the next output should have; `None` before the first.
    next: Option<u64>,
}

impl OutputTrack {
    /// Takes note of output at `offset` (`None`: the node did not say), `len`
    /// bytes long; true when output before it was missed.
    fn missed_before(&mut self, offset: Option<u64>, len: usize) -> bool {
        let Some(offset) = offset else { return false };
        let missed = self.next.is_some_and(|next| offset > next);
        self.next = Some(offset.saturating_add(len as u64));
        missed
    }

    /// Forgets where the output stood (the screen is about to be drawn
    /// again): the next output sets it.
    fn forget(&mut self) {
        self.next = None;
    }
}

/// How often an attached terminal over NATS looks whether its connection
/// was made again (what the server sent meanwhile is lost).
const RECONNECT_CHECK: Duration = Duration::from_millis(200);

/// A header of a NATS message, as a number.
fn header_number(m: &warden_bridge::async_nats::Message, name: &str) -> Option<u64> {
    m.headers.as_ref().and_then(|h| h.get(name)).and_then(|v| v.as_str().parse().ok())
}

/// A way to the nodes.
#[derive(Clone)]
pub enum Link {
    /// The local node's socket.
    Local(Arc<LocalClient>),
    /// Every node on a NATS server, under a subject prefix.
    Nats {
        /// Requests.
        remote: Arc<Remote>,
        /// Events.
        client: warden_bridge::async_nats::Client,
        /// Subject prefix.
        prefix: String,
    },
}

fn parse_reply(raw: &[u8]) -> Result<Reply, LinkError> {
    serde_json::from_slice(raw).map_err(|e| LinkError::Protocol(format!("a reply that does not parse: {e}")))
}

/// The sessions in `list_agents` replies: `(node, entry)`. A reply that is
/// not `ok`, and an entry that does not parse, are left out.
fn listed(raws: &[Bytes]) -> Result<Vec<(String, AgentEntry)>, LinkError> {
    let mut out = Vec::new();
    for raw in raws {
        let reply = parse_reply(raw)?;
        let Some(result) = reply.result.filter(|_| reply.ok) else { continue };
        let node = result.get("node").and_then(|n| n.as_str()).unwrap_or("?").to_string();
        let agents = result.get("agents").and_then(|a| a.as_array()).cloned().unwrap_or_default();
        for a in agents {
            if let Ok(entry) = serde_json::from_value::<AgentEntry>(a) {
                out.push((node.clone(), entry));
            }
        }
    }
    Ok(out)
}

impl Link {
    /// Sends `verb` to `node`; the reply, `ok` or not.
    pub async fn command(&self, node: &str, verb: &str, body: serde_json::Value) -> Result<Reply, LinkError> {
        let payload = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let raw = match self {
            Link::Local(c) => c.request_raw(verb, payload).await?,
            Link::Nats { remote, .. } => remote.request_raw(node, verb, payload).await?,
        };
        parse_reply(&raw)
    }

    /// Every session of every node that answers: `(node, entry)`, each with
    /// its pending confirmations.
    pub async fn list(&self) -> Result<Vec<(String, AgentEntry)>, LinkError> {
        let raws = match self {
            Link::Local(c) => vec![c.request_raw("list_agents", Bytes::from_static(b"{}")).await?],
            Link::Nats { remote, .. } => {
                remote.gather_raw("list_agents", Bytes::from_static(b"{}"), Duration::from_millis(300)).await?
            }
        };
        listed(&raws)
    }

    /// One session's raw output and its end, from now on.
    pub async fn attach_stream(&self, node: &str, session: SessionId) -> Result<mpsc::Receiver<AttachMsg>, LinkError> {
        let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
        match self {
            Link::Local(c) => {
                let what = LocalSubscribe { session: Some(session), since: None, events: true, output: true };
                let mut sub = c.subscribe(what).await?;
                tokio::spawn(async move {
                    while let Some(msg) = sub.recv().await {
                        let out = match msg {
                            LocalMsg::Output { seq, bytes, .. } => AttachMsg::Output { seq, bytes },
                            LocalMsg::Event(json) => match serde_json::from_slice::<Event>(&json) {
                                Ok(Event { kind: EventKind::Exited(exit), .. }) => AttachMsg::Exited(exit.code),
                                Ok(Event { kind: EventKind::Lagged { .. }, seq, .. }) => {
                                    AttachMsg::Lagged { covered_by: Some(seq) }
                                }
                                _ => continue,
                            },
                        };
                        let end = matches!(out, AttachMsg::Exited(_));
                        if tx.send(out).await.is_err() || end {
                            break;
                        }
                    }
                });
            }
            Link::Nats { client, prefix, .. } => {
                let subjects = Subjects::new(prefix, node).map_err(|e| LinkError::Protocol(e.to_string()))?;
                let nats = |e: warden_bridge::async_nats::SubscribeError| LinkError::Protocol(e.to_string());
                let mut out = client.subscribe(subjects.output(session)).await.map_err(nats)?;
                let mut exited = client.subscribe(subjects.event(Some(session), "exited")).await.map_err(nats)?;
                // The node's publisher fell behind its bus: output was skipped.
                let mut lagged = client.subscribe(subjects.event(None, "lagged")).await.map_err(nats)?;
                client.flush().await.map_err(|e| LinkError::Protocol(e.to_string()))?;
                let stats = client.statistics();
                tokio::spawn(async move {
                    let mut track = OutputTrack::default();
                    // A connection made again lost what the server sent meanwhile
                    // (it drops a reader that falls too far behind, for one).
                    let connects = || stats.connects.load(std::sync::atomic::Ordering::Relaxed);
                    let mut known_connects = connects();
                    let mut check = tokio::time::interval(RECONNECT_CHECK);
                    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        let msg = tokio::select! {
                            m = out.next() => match m {
                                Some(m) => {
                                    let seq = header_number(&m, SEQ_HEADER).unwrap_or(0);
                                    let offset = header_number(&m, OFFSET_HEADER);
                                    if track.missed_before(offset, m.payload.len()) {
                                        known_connects = connects();
                                        // What was missed came before this output.
                                        let covered_by = seq.checked_sub(1);
                                        if tx.send(AttachMsg::Lagged { covered_by }).await.is_err() {
                                            break;
                                        }
                                    }
                                    AttachMsg::Output { seq, bytes: m.payload }
                                }
                                None => break,
                            },
                            _ = check.tick() => {
                                let now = connects();
                                if now == known_connects {
                                    continue;
                                }
                                known_connects = now;
                                track.forget();
                                AttachMsg::Lagged { covered_by: None }
                            },
                            m = exited.next() => match m {
                                Some(m) => match serde_json::from_slice::<Event>(&m.payload) {
                                    Ok(Event { kind: EventKind::Exited(exit), .. }) => AttachMsg::Exited(exit.code),
                                    _ => continue,
                                },
                                None => break,
                            },
                            m = lagged.next() => match m {
                                Some(m) => {
                                    track.forget();
                                    // The marker's `seq` is the last event it stands for.
                                    let covered_by = serde_json::from_slice::<Event>(&m.payload).ok().map(|e| e.seq);
                                    AttachMsg::Lagged { covered_by }
                                }
                                None => break,
                            },
                        };
                        let end = matches!(msg, AttachMsg::Exited(_));
                        if tx.send(msg).await.is_err() || end {
                            break;
                        }
                    }
                });
            }
        }
        Ok(rx)
    }

    /// Writes raw bytes (keystrokes) to a session's terminal as the attached
    /// terminal `me`, without waiting for the write.
    pub async fn input(&self, node: &str, session: SessionId, me: &str, bytes: Bytes) -> Result<(), LinkError> {
        match self {
            Link::Local(c) => Ok(c.write_input(session, Some(me), bytes).await?),
            Link::Nats { client, prefix, .. } => {
                let subjects = Subjects::new(prefix, node).map_err(|e| LinkError::Protocol(e.to_string()))?;
                let mut headers = warden_bridge::async_nats::HeaderMap::new();
                headers.insert(CLIENT_HEADER, me);
                client
                    .publish_with_headers(subjects.input(session), headers, bytes)
                    .await
                    .map_err(|e| LinkError::Protocol(e.to_string()))
            }
        }
    }

    /// The live event stream of every node (no output), from now on.
    pub async fn events(&self) -> Result<mpsc::Receiver<Event>, LinkError> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        match self {
            Link::Local(c) => {
                let mut sub = c.subscribe(LocalSubscribe { events: true, ..Default::default() }).await?;
                tokio::spawn(async move {
                    while let Some(msg) = sub.recv().await {
                        if let LocalMsg::Event(json) = msg
                            && let Ok(event) = serde_json::from_slice::<Event>(&json)
                            && tx.send(event).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
            Link::Nats { client, prefix, .. } => {
                let follow =
                    FollowOptions { prefix: prefix.clone(), node: None, session: None, since: None, stream: None };
                let mut stream = follow_events(client, &follow).await?;
                tokio::spawn(async move {
                    while let Some(event) = stream.next().await {
                        if matches!(event.kind, warden_core::EventKind::Output(_)) {
                            continue;
                        }
                        if tx.send(event).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_end_of_the_last_is_output_missed() {
        let mut t = OutputTrack::default();
        assert!(!t.missed_before(Some(4096), 10), "the first output sets the place, wherever it is");
        assert!(!t.missed_before(Some(4106), 5));
        assert!(t.missed_before(Some(5000), 3), "894 bytes were missed");
        assert!(!t.missed_before(Some(5003), 0));
        assert!(!t.missed_before(None, 7), "a node that does not say is not checked");
        assert!(!t.missed_before(Some(5003), 1));
        t.forget();
        assert!(!t.missed_before(Some(9000), 1), "after a redraw the next output sets the place again");
        assert!(t.missed_before(Some(9002), 1));
    }

    #[test]
    fn list_agents_replies_give_each_session_with_its_pending_confirmations() {
        let n1 = r#"{"v":1,"ok":true,"result":{"node":"n1","agents":[{"id":"0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f","agent":"shell","program":"/bin/bash","args":["-i"],"workdir":"/w","pid":4242,"state":"exited","size":{"rows":40,"cols":120},"created_at":"2026-11-25T19:30:00.123Z","exit":{"code":0,"reason":"exited"}}]}}"#;
        let n2 = r#"{"v":1,"ok":true,"result":{"node":"n2","agents":[{"id":"0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e70","agent":"claude","program":"/usr/local/bin/claude","args":[],"workdir":"/w","pid":4250,"state":"blocked","size":{"rows":40,"cols":120},"created_at":"2026-11-25T19:30:02.500Z","short":"3c4d5e70","pending":1,"pending_confirmations":[{"id":"c1","prompt_kind":"permission","prompt":"Edit auth.rs?","suggested":{"type":"keys","value":["enter"]},"reason":"supervision level is confirm"}]},{"not":"an entry"}]}}"#;
        let refused = r#"{"v":1,"ok":false,"error":{"code":"forbidden","message":"no"}}"#;
        let raws = [n1, n2, refused].map(|r| Bytes::from(r.to_string()));
        let sessions = listed(&raws).expect("parses");
        let nodes: Vec<&str> = sessions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(nodes, ["n1", "n2"]);
        assert!(sessions[0].1.pending_confirmations.is_empty());
        let pending = &sessions[1].1.pending_confirmations;
        assert_eq!((pending.len(), pending[0].id.as_str(), pending[0].prompt.as_str()), (1, "c1", "Edit auth.rs?"));
        assert!(pending[0].suggested.is_some());
        assert!(listed(&[Bytes::from_static(b"not json")]).is_err());
    }
}
