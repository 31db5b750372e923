//! Bridge benchmark against a real nats-server started here (loopback,
//! JetStream store in a temp dir):
//!
//! - command round trip over NATS (`list_agents`, sequential): median, p99;
//! - events published per second, core NATS and JetStream (bus → NATS
//!   subscriber, synthetic node-level events);
//! - output bytes per second reaching a NATS subscriber on `out.<session>`,
//!   as a ratio to the in-process subscriber of the same session.
//!
//! `cargo run --release -p warden-bridge --example bench [-- MIB]`
//! (`NATS_SERVER` overrides `/usr/sbin/nats-server`).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use warden_actors::{Warden, WardenConfig};
use warden_bridge::config::{BridgeConfig, RateLimitConfig};
use warden_bridge::{Bridge, BridgeSettings, NatsOptions, Remote};
use warden_core::{EventKind, SessionSpec};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(store: &std::path::Path) -> Result<(Server, String), Box<dyn std::error::Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let bin = std::env::var("NATS_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("nats-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((Server(child), format!("nats://127.0.0.1:{port}")))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn node(
    dir: &std::path::Path,
    url: &str,
    name: &str,
    jetstream: bool,
) -> Result<(Warden, Bridge), Box<dyn std::error::Error>> {
    let mut wc = WardenConfig::new(dir.join(name));
    wc.node = name.into();
    wc.transcripts = false;
    let warden = Warden::start(wc).await?;
    let config = BridgeConfig {
        allow_agents: Some(vec!["shell".into()]),
        rate_limit: RateLimitConfig { per_second: 0.0, burst: 1 },
        ..BridgeConfig::default()
    };
    let client = warden_bridge::connect(&NatsOptions::new(url)).await?;
    let bridge =
        Bridge::start(warden.clone(), client, BridgeSettings { jetstream, config, ..Default::default() }).await?;
    Ok((warden, bridge))
}

/// Publishes `n` synthetic events on the bus and waits until a NATS
/// subscriber got them all; returns events per second.
async fn events_rate(warden: &Warden, url: &str, node: &str, n: u64) -> Result<f64, Box<dyn std::error::Error>> {
    let client = warden_bridge::connect(&NatsOptions::new(url)).await?;
    let mut sub = client.subscribe(format!("warden.{node}.evt._node.*")).await?;
    client.flush().await?;
    let start = Instant::now();
    let w = warden.clone();
    let producer = tokio::spawn(async move {
        for i in 0..n {
            w.bus().inject(None, EventKind::Error { message: format!("bench event {i}") });
            if i % 1024 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let (mut got, mut missed) = (0u64, 0u64);
    while got + missed < n {
        match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
            Ok(Some(m)) => match serde_json::from_slice::<warden_core::Event>(&m.payload).map(|e| e.kind) {
                Ok(EventKind::Lagged { missed: k }) => missed += k,
                _ => got += 1,
            },
            _ => break,
        }
    }
    producer.await?;
    let secs = start.elapsed().as_secs_f64();
    if got < n {
        eprintln!("  ({node}: {got} of {n} events arrived, {missed} reported as lagged)");
    }
    Ok(got as f64 / secs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir()?;
    let (_server, url) = start_server(&dir.path().join("js"))?;
    let (warden, bridge) = node(dir.path(), &url, "bench", false).await?;
    let client = warden_bridge::connect(&NatsOptions::new(url.as_str())).await?;
    let remote = Remote::new(client.clone(), "warden", Duration::from_secs(10));

    // 1. Command round trip.
    for _ in 0..200 {
        remote.request_raw("bench", "list_agents", "{}".into()).await?;
    }
    let mut rtts = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let t = Instant::now();
        remote.request_raw("bench", "list_agents", "{}".into()).await?;
        rtts.push(t.elapsed());
    }
    rtts.sort();
    println!(
        "command round trip (list_agents, sequential, n=5000): median {:.0} µs, p99 {:.0} µs",
        percentile(&rtts, 0.5).as_secs_f64() * 1e6,
        percentile(&rtts, 0.99).as_secs_f64() * 1e6
    );

    // 2. Events per second, core NATS.
    let rate = events_rate(&warden, &url, "bench", 80_000).await?;
    println!("events published, core NATS (80k, bus → subscriber): {rate:.0} events/s");

    // 3. Output bytes: one session `cat`s a file; in-process vs NATS subscriber.
    let file = dir.path().join("blob");
    let line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=+/\n".repeat(1024);
    let mut blob = Vec::with_capacity((mib * 1024 * 1024) as usize);
    while (blob.len() as u64) < mib * 1024 * 1024 {
        blob.extend_from_slice(line.as_bytes());
    }
    std::fs::write(&file, &blob)?;
    let mut local = warden.subscribe(None);
    let spec = SessionSpec::new("shell", "cat").args([file.display().to_string()]).workdir(dir.path());
    // Subscribe to every session's output before the session exists.
    let mut out = client.subscribe("warden.bench.out.*".to_string()).await?;
    client.flush().await?;
    let start = Instant::now();
    let info = warden.spawn(spec).await?;
    let nats_task = tokio::spawn(async move {
        let mut bytes = 0u64;
        let mut last = Instant::now();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(3), out.next()).await {
            bytes += m.payload.len() as u64;
            last = Instant::now();
        }
        (bytes, last)
    });
    let mut local_bytes = 0u64;
    let local_end;
    loop {
        let Some(e) = local.recv().await else { return Err("bus closed".into()) };
        if e.session != Some(info.id) {
            continue;
        }
        match &e.kind {
            EventKind::Output(o) => local_bytes += o.bytes.len() as u64,
            EventKind::Exited(_) => {
                local_end = Instant::now();
                break;
            }
            EventKind::Lagged { missed } => eprintln!("  (in-process subscriber lagged by {missed})"),
            _ => {}
        }
    }
    let (nats_bytes, nats_end) = nats_task.await?;
    let mib_s = |b: u64, end: Instant| b as f64 / 1048576.0 / end.duration_since(start).as_secs_f64();
    let local_rate = mib_s(local_bytes, local_end);
    let nats_rate = mib_s(nats_bytes, nats_end);
    println!(
        "output {mib} MiB via `cat` in a PTY: in-process {local_rate:.1} MiB/s; NATS subscriber {nats_rate:.1} MiB/s \
         ({nats_bytes} of {local_bytes} bytes); ratio {:.2}",
        nats_rate / local_rate
    );
    let mut bridge = bridge;
    bridge.stop_commands().await;
    warden.shutdown().await;
    bridge.shutdown(Duration::from_secs(5)).await;

    // 4. Events per second through JetStream (outbox, one acknowledged at a time).
    let (warden, mut bridge) = node(dir.path(), &url, "benchjs", true).await?;
    let n = 20_000;
    let rate = events_rate(&warden, &url, "benchjs", n).await?;
    println!("events published, JetStream (20k, acknowledged one at a time): {rate:.0} events/s");
    bridge.stop_commands().await;
    warden.shutdown().await;
    bridge.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
