//! An attached terminal during a flood: how long a keystroke's echo takes
//! to come back while the agent prints N MB, over the local socket (and
//! over NATS when a server is named), through the same client `warden
//! attach` uses; and whether what the terminal ends up showing equals the
//! node's `snapshot`.
//!
//! The terminal is modelled as `attach` drives it: the snapshot drawn first,
//! then output with a higher `seq`, all fed to a [`Screen`] of the session's
//! size. Keystrokes are raw input naming the attached client; the echo is the
//! PTY's own (the agent's terminal is in cooked mode), so what is measured
//! is the path input → node → PTY → node → client, behind the flood's output.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warden_bridge::local::{LocalClient, LocalServer, LocalSettings};
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};
use warden_console::Link;
use warden_console::attach::draw_snapshot;
use warden_console::link::AttachMsg;
use warden_core::term::Screen;
use warden_core::{ScreenSnapshot, SessionId, SessionSpec};

use crate::stats::{percentile, sorted};
use crate::{BenchError, start_warden};

const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest any step of a run may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// A keystroke every this often during the flood.
const KEY_EVERY: Duration = Duration::from_millis(50);
/// The last byte of every keystroke: the flood prints no capital letters,
/// so its echo marks the keystroke's end wherever it lands. The terminal
/// echoes what it can while the flood fills its buffer and the rest before
/// the producer's next write, so an echo may come split by flood bytes.
const KEY_END: u8 = b'Q';
/// What the agent prints when its flood is over.
const FLOOD_END: &[u8] = b"FLOOD-END";

/// What the attach part measures.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Megabytes (10^6 bytes) the agent prints.
    pub mbytes: usize,
    /// A NATS server to measure over as well (`nats://…`).
    pub nats: Option<String>,
}

/// One transport's figures.
#[derive(Debug, Clone)]
pub struct AttachRun {
    /// `local socket` or `NATS`.
    pub transport: &'static str,
    /// Keystroke → its echo on the attached terminal during the flood, ms, sorted.
    pub echo_ms: Vec<f64>,
    /// How long the flood took to reach the terminal, s.
    pub flood_secs: f64,
    /// Whether the terminal's screen equals the node's snapshot at the end.
    pub screen_equals_snapshot: bool,
}

/// The attach part's report.
#[derive(Debug, Clone)]
pub struct AttachReport {
    /// The options measured.
    pub options: AttachOptions,
    /// One run per transport.
    pub runs: Vec<AttachRun>,
}

/// Measures over the local socket, then over NATS when named.
pub async fn measure(options: &AttachOptions) -> Result<AttachReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let warden = start_warden(dir.path(), true).await?;
    let result = async {
        let settings = LocalSettings {
            socket: dir.path().join("run").join("warden.sock"),
            config: Default::default(),
            default_root: None,
        };
        let local = LocalServer::start(warden.clone(), settings).await.map_err(run_error)?;
        let client = LocalClient::connect(local.path(), REPLY_TIMEOUT).await.map_err(run_error)?;
        let mut runs = vec![flood_run(&warden, Link::Local(Arc::new(client)), "local socket", options.mbytes).await?];
        if let Some(url) = &options.nats {
            let nats = warden_bridge::connect(&NatsOptions::new(url.clone())).await.map_err(run_error)?;
            let bridge = Bridge::start(warden.clone(), nats, BridgeSettings::default()).await.map_err(run_error)?;
            let client = warden_bridge::connect(&NatsOptions::new(url.clone())).await.map_err(run_error)?;
            let remote = Arc::new(Remote::new(client.clone(), "warden", REPLY_TIMEOUT));
            let link = Link::Nats { remote, client, prefix: "warden".into() };
            let run = flood_run(&warden, link, "NATS", options.mbytes).await;
            bridge.shutdown(Duration::from_secs(2)).await;
            runs.push(run?);
        }
        local.shutdown().await;
        Ok::<_, BenchError>(runs)
    }
    .await;
    warden.shutdown().await;
    Ok(AttachReport { options: options.clone(), runs: result? })
}

fn run_error(e: impl fmt::Display) -> BenchError {
    BenchError::Run(e.to_string())
}

/// Snapshot and its `seq`, as `attach` takes them.
async fn snapshot(link: &Link, node: &str, id: SessionId) -> Result<(ScreenSnapshot, u64), BenchError> {
    let reply = link.command(node, "snapshot", serde_json::json!({"session": id})).await.map_err(run_error)?;
    let result = reply.result.filter(|_| reply.ok).ok_or_else(|| run_error("snapshot refused"))?;
    let screen = serde_json::from_value(result["screen"].clone()).map_err(run_error)?;
    Ok((screen, result["seq"].as_u64().unwrap_or(0)))
}

/// The terminal as `attach` keeps it, and where the echoes were seen.
struct Terminal {
    screen: Screen,
    drawn_up_to: u64,
    tail: Vec<u8>,
    bytes: usize,
}

impl Terminal {
    /// Applies one message; says whether it holds the end of a keystroke's
    /// echo ([`KEY_END`]) and whether `FLOOD-END` is in it or across its start.
    fn take(&mut self, seq: u64, bytes: &Bytes) -> Seen {
        if seq != 0 && seq <= self.drawn_up_to {
            return Seen::default();
        }
        self.screen.process(bytes);
        self.bytes += bytes.len();
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(&bytes[..bytes.len().min(64)]);
        let flood_end = contains(&window, FLOOD_END) || contains(bytes, FLOOD_END);
        let keep = bytes.len().min(32);
        self.tail = bytes[bytes.len() - keep..].to_vec();
        Seen { key_end: bytes.contains(&KEY_END), flood_end }
    }
}

/// What one message of the attached stream held.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    key_end: bool,
    flood_end: bool,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

async fn flood_run(
    warden: &warden_actors::Warden,
    link: Link,
    transport: &'static str,
    mbytes: usize,
) -> Result<AttachRun, BenchError> {
    let node = warden.node().to_string();
    // Prints a screenful, waits for `go`, floods, then echoes what it is given.
    let script = format!(
        "seq 1 30; read go; yes 'attach flood line 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c {}; echo; echo FLOOD-END; cat >/dev/null",
        mbytes * 1_000_000
    );
    let info = warden.spawn(SessionSpec::new("bench", "sh").args(["-c".to_string(), script])).await?;
    let id = info.id;
    let me = "bench-attach";
    let result = async {
        let mut stream = link.attach_stream(&node, id).await.map_err(run_error)?;
        // The first screenful is there before the snapshot is taken.
        let t0 = Instant::now();
        while !snapshot(&link, &node, id).await?.0.text.contains("30") {
            if t0.elapsed() > STEP_TIMEOUT {
                return Err(run_error("the agent never drew its first screen"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (snap, drawn_up_to) = snapshot(&link, &node, id).await?;
        let mut term = Terminal { screen: Screen::new(snap.rows, snap.cols), drawn_up_to, tail: Vec::new(), bytes: 0 };
        term.screen.process(draw_snapshot(&snap).as_bytes());
        let started = Instant::now();
        link.input(&node, id, me, Bytes::from_static(b"go\r")).await.map_err(run_error)?;

        let mut echo_ms = Vec::new();
        let mut key = 0u32;
        let mut pending: Option<Instant> = None;
        let mut next_key = Instant::now() + KEY_EVERY;
        let mut flood_done = None;
        loop {
            if pending.is_none() && Instant::now() >= next_key && flood_done.is_none() {
                key += 1;
                let typed = format!("K{key}{}", char::from(KEY_END));
                link.input(&node, id, me, Bytes::from(typed)).await.map_err(run_error)?;
                pending = Some(Instant::now());
            }
            let wait =
                if pending.is_none() { next_key.saturating_duration_since(Instant::now()) } else { STEP_TIMEOUT };
            let msg = match tokio::time::timeout(wait.max(Duration::from_millis(1)), stream.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => return Err(run_error("the output stream ended")),
                Err(_) if pending.is_none() => continue,
                Err(_) => return Err(run_error("a keystroke's echo never came")),
            };
            let (seq, bytes) = match msg {
                AttachMsg::Output { seq, bytes } => (seq, bytes),
                AttachMsg::Lagged { .. } => return Err(run_error("the attached stream fell behind the flood")),
                AttachMsg::Exited(_) => return Err(run_error("the agent ended")),
            };
            let seen = term.take(seq, &bytes);
            if seen.key_end
                && let Some(at) = pending.take()
            {
                echo_ms.push(at.elapsed().as_secs_f64() * 1000.0);
                next_key = Instant::now() + KEY_EVERY;
            }
            if flood_done.is_none() && seen.flood_end {
                flood_done = Some(started.elapsed());
            }
            if flood_done.is_some() && pending.is_none() {
                break;
            }
            if started.elapsed() > STEP_TIMEOUT {
                return Err(run_error("the flood did not end in time"));
            }
        }
        // Everything is out: the terminal equals the node's screen.
        let (end, _) = snapshot(&link, &node, id).await?;
        Ok(AttachRun {
            transport,
            echo_ms: sorted(echo_ms),
            flood_secs: flood_done.map_or(0.0, |d| d.as_secs_f64()),
            screen_equals_snapshot: end.text == term.screen.text(),
        })
    }
    .await;
    let _ = warden.stop(id).await;
    result
}

impl fmt::Display for AttachReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "attached terminal during a flood ({} MB printed; a keystroke every {} ms, echoed by the agent's PTY)",
            self.options.mbytes,
            KEY_EVERY.as_millis()
        )?;
        writeln!(f, "| transport | keystrokes | echo median | p99 | max | flood took | final screen = snapshot |")?;
        write!(f, "|---|---|---|---|---|---|---|")?;
        for r in &self.runs {
            let e = &r.echo_ms;
            write!(
                f,
                "\n| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} s | {} |",
                r.transport,
                e.len(),
                percentile(e, 0.5),
                percentile(e, 0.99),
                e.last().copied().unwrap_or(0.0),
                r.flood_secs,
                if r.screen_equals_snapshot { "yes" } else { "NO" }
            )?;
        }
        if self.options.nats.is_none() {
            write!(f, "\n(over NATS too: `warden bench --only attach --nats URL`)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal() -> Terminal {
        Terminal { screen: Screen::new(24, 80), drawn_up_to: 0, tail: Vec::new(), bytes: 0 }
    }

    #[test]
    fn an_echo_split_by_flood_output_still_ends_the_keystroke() {
        // The terminal echoed what fitted in its buffer, then the flood went on,
        // then the rest of the echo: the keystroke ends with its last byte.
        let mut term = terminal();
        let first = term.take(1, &Bytes::from_static(b"attach flood line 0123\r\nK7"));
        assert!(!first.key_end, "the echo is not over yet");
        let rest = term.take(2, &Bytes::from_static(b"456789 abcdefghijklmnopqrstuvwxyz\r\natQ"));
        assert!(rest.key_end, "the end of the echo came");
    }

    #[test]
    fn the_end_of_the_flood_is_seen_across_two_messages() {
        let mut term = terminal();
        assert!(!term.take(1, &Bytes::from_static(b"xyz\r\n\r\nFLOOD")).flood_end);
        assert!(term.take(2, &Bytes::from_static(b"-END\r\n")).flood_end);
    }

    #[test]
    fn output_the_snapshot_already_drew_is_not_taken_again() {
        let mut term = terminal();
        term.drawn_up_to = 5;
        let seen = term.take(5, &Bytes::from_static(b"K1Q FLOOD-END"));
        assert!(!seen.key_end && !seen.flood_end);
        assert_eq!(term.bytes, 0);
    }
}
