//! A real `nats-server` per test on a free loopback port, JetStream store in
//! a temp dir, killed on drop; plus helpers for processes that announce
//! readiness on stderr.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A running nats-server.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub store: PathBuf,
    token: Option<String>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("addr").port()
}

impl NatsServer {
    /// Starts a server with JetStream, storing in `store`.
    pub fn start(store: &Path) -> Self {
        Self::start_on(free_port(), store, None)
    }

    /// Starts a server that requires `token`.
    pub fn start_with_token(store: &Path, token: &str) -> Self {
        Self::start_on(free_port(), store, Some(token.to_string()))
    }

    /// Starts on a given port (for restarts on the same port and store).
    pub fn start_on(port: u16, store: &Path, token: Option<String>) -> Self {
        std::fs::create_dir_all(store).expect("store dir");
        let mut cmd = Command::new(NATS_SERVER);
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(t) = &token {
            // The test's own server: the token on its argv is the test's, not warden's.
            cmd.args(["--auth", t]);
        }
        let child = cmd.spawn().expect("nats-server starts (apt-get install nats-server)");
        let server = NatsServer { child: Some(child), port, store: store.to_path_buf(), token };
        server.wait_listening();
        server
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        let again = NatsServer::start_on(self.port, &self.store.clone(), self.token.clone());
        *self = again;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child process whose stdout and stderr lines arrive on channels; killed on drop.
pub struct Proc {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
    pub stderr_seen: Vec<String>,
}

fn lines<R: std::io::Read + Send + 'static>(r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawns");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Proc { child, stdout, stderr, stderr_seen: Vec::new() }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {needle:?}; stderr so far: {:?}", self.stderr_seen),
            }
        }
    }

    /// The next stdout line.
    pub fn next_stdout(&mut self, timeout: Duration) -> String {
        match self.stdout.recv_timeout(timeout) {
            Ok(l) => l,
            Err(_) => panic!("no stdout line in {timeout:?}; stderr: {:?}", self.drain_stderr()),
        }
    }

    /// Every stderr line received so far.
    pub fn drain_stderr(&mut self) -> Vec<String> {
        while let Ok(l) = self.stderr.try_recv() {
            self.stderr_seen.push(l);
        }
        self.stderr_seen.clone()
    }

    /// Waits up to `timeout` for the process to end by itself; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
