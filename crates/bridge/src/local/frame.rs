//! The local socket's framing: each frame is a JSON header and a body of
//! raw bytes, `[u32 header length][u32 body length][header][body]`, lengths
//! big-endian. The body of a command or reply is exactly the JSON payload
//! of the NATS protocol; the body of input and output frames is the raw
//! terminal bytes, as on the NATS `in.`/`out.` subjects.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use warden_core::SessionId;

/// Largest header a peer may send.
pub const MAX_HEADER: usize = 16 * 1024;

/// What a frame is, with its routing fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Header {
    /// Client → node: run `verb` with the body as its JSON payload.
    Cmd {
        /// Echoed on the reply.
        id: u64,
        /// The verb token, as on NATS (`spawn_agent`, `list_agents`, …).
        verb: String,
    },
    /// Client → node: raw bytes for a session's terminal (an attached
    /// terminal's keystrokes). With `ack`, a reply follows as for commands.
    Input {
        /// Echoed on the reply.
        id: u64,
        /// The session (full id).
        session: String,
        /// Reply once written.
        #[serde(default)]
        ack: bool,
        /// The attached terminal sending it (see `attach`): refused unless
        /// it holds the session's keyboard.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Client → node: follow the node's events and/or raw output.
    Subscribe {
        /// Names the subscription in the frames it produces.
        id: u64,
        /// Only this session's frames.
        #[serde(default)]
        session: Option<SessionId>,
        /// Start at this event `seq` (from what the node still holds).
        #[serde(default)]
        since: Option<u64>,
        /// Send every event as JSON (`event` frames).
        #[serde(default)]
        events: bool,
        /// Send raw output (`output` frames).
        #[serde(default)]
        output: bool,
    },
    /// Client → node: end a subscription.
    Unsubscribe {
        /// The subscription.
        id: u64,
    },
    /// Node → client: the reply (body: the reply JSON) to `cmd`, `input` or `subscribe` `id`.
    Reply {
        /// The request's id.
        id: u64,
    },
    /// Node → client: one event (body: its JSON, as published on NATS).
    Event {
        /// The subscription.
        sub: u64,
    },
    /// Node → client: raw output of a session (body: the bytes).
    Output {
        /// The subscription.
        sub: u64,
        /// The session that wrote it.
        session: SessionId,
        /// The `seq` of the output event.
        seq: u64,
        /// How many bytes the session printed before these.
        #[serde(default)]
        offset: u64,
    },
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Routing.
    pub header: Header,
    /// Payload.
    pub body: Bytes,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection ended or failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The header is over [`MAX_HEADER`] or the body over the limit; the
    /// connection cannot be trusted to be in step any more.
    #[error("frame too large: header {header} bytes (at most {MAX_HEADER}), body {body} bytes (at most {max_body})")]
    TooLarge {
        /// Header length announced.
        header: usize,
        /// Body length announced.
        body: usize,
        /// The body limit.
        max_body: usize,
    },
    /// The header is not a known frame header; the body was read and
    /// dropped, so the connection is still in step.
    #[error("bad frame header: {0}")]
    BadHeader(String),
    /// A frame was begun and its rest did not come within [`FRAME_REST`]
    /// ([`read_frame_within`]); the connection is out of step.
    #[error("a frame was begun and not finished within {} s", FRAME_REST.as_secs())]
    Stalled,
}

/// How long the rest of a frame may take once its first byte came, on a
/// connection the node serves: a frame is written at once, and one begun and
/// left unfinished would hold the connection for good.
pub const FRAME_REST: std::time::Duration = std::time::Duration::from_secs(5);

/// [`read_frame`] for a peer that may stall: it waits as long as it takes for
/// a frame's first byte (a connection may be idle between frames), then
/// [`FRAME_REST`] at most for the rest ([`FrameError::Stalled`]).
pub async fn read_frame_within<R: AsyncRead + Unpin>(r: &mut R, max_body: usize) -> Result<Option<Frame>, FrameError> {
    let mut first = [0u8; 1];
    if r.read(&mut first).await? == 0 {
        return Ok(None);
    }
    let mut whole = (&first[..]).chain(r);
    tokio::time::timeout(FRAME_REST, read_frame(&mut whole, max_body)).await.map_err(|_| FrameError::Stalled)?
}

/// Reads one frame; `Ok(None)` at a clean end of the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max_body: usize) -> Result<Option<Frame>, FrameError> {
    let mut lens = [0u8; 8];
    match r.read_exact(&mut lens).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let header_len = u32::from_be_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
    let body_len = u32::from_be_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
    if header_len > MAX_HEADER || body_len > max_body {
        return Err(FrameError::TooLarge { header: header_len, body: body_len, max_body });
    }
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header).await?;
    let mut body = vec![0u8; body_len];
    r.read_exact(&mut body).await?;
    let header = serde_json::from_slice::<Header>(&header).map_err(|e| FrameError::BadHeader(e.to_string()))?;
    Ok(Some(Frame { header, body: body.into() }))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, header: &Header, body: &[u8]) -> std::io::Result<()> {
    let header = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    let body_len = u32::try_from(body.len()).map_err(|_| std::io::Error::other("frame body over 4 GiB"))?;
    let mut head = Vec::with_capacity(8 + header.len());
    head.extend_from_slice(&(header.len() as u32).to_be_bytes());
    head.extend_from_slice(&body_len.to_be_bytes());
    head.extend_from_slice(&header);
    w.write_all(&head).await?;
    w.write_all(body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let h = Header::Cmd { id: 7, verb: "list_agents".into() };
        write_frame(&mut a, &h, b"{}").await.expect("write");
        let f = read_frame(&mut b, 1024).await.expect("read").expect("frame");
        assert_eq!(f, Frame { header: h, body: Bytes::from_static(b"{}") });

        write_frame(&mut a, &Header::Reply { id: 1 }, &[0u8; 2048]).await.expect("write");
        assert!(matches!(read_frame(&mut b, 1024).await, Err(FrameError::TooLarge { body: 2048, .. })));
    }

    #[tokio::test]
    async fn an_unknown_header_is_a_typed_error() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let header = br#"{"op":"nope"}"#;
        let mut raw = Vec::new();
        raw.extend_from_slice(&(header.len() as u32).to_be_bytes());
        raw.extend_from_slice(&0u32.to_be_bytes());
        raw.extend_from_slice(header);
        a.write_all(&raw).await.expect("write");
        assert!(matches!(read_frame(&mut b, 1024).await, Err(FrameError::BadHeader(_))));
        drop(a);
        assert!(read_frame(&mut b, 1024).await.expect("clean end").is_none());
    }
}
