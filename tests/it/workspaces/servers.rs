//! Local HTTP servers for the workspace tests: a stub of the slice of
//! GitHub's REST API that warden uses, and a Basic-auth smart-HTTP git
//! server (`git http-backend` behind a tiny HTTP/1.1 front).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Standard base64 with padding.
pub fn b64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { char::from(A[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

/// One request as the GitHub stub saw it.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub auth: Option<String>,
    pub body: serde_json::Value,
}

/// Serve `replies.len()` requests, one per connection, answering each with
/// the given (status, JSON); report what arrived. Returns the API base.
pub fn github_stub(replies: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, reply) in replies {
            let Ok((stream, _)) = listener.accept() else { return };
            let Ok((method, path, headers, body)) = read_request(&stream) else { return };
            let auth = header(&headers, "authorization");
            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let _ = tx.send(Seen { method, path, auth, body });
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (format!("http://{addr}/api/v3"), rx)
}

type Request = (String, String, Vec<(String, String)>, Vec<u8>);

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut body = Vec::new();
    if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok((method, target, headers, body))
}

/// Requests the git server let through and refused.
#[derive(Default)]
pub struct Counters {
    pub authorized: AtomicUsize,
    pub refused: AtomicUsize,
}

/// Smart-HTTP git server for the repositories under `root`, requiring
/// Basic auth `x-access-token:<token>`. Returns the port.
pub fn git_http_server(root: PathBuf, token: &'static str, counters: Arc<Counters>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let counters = Arc::clone(&counters);
            std::thread::spawn(move || {
                let _ = handle_git(stream, &root, token, &counters);
            });
        }
    });
    port
}

fn handle_git(stream: TcpStream, root: &Path, token: &str, counters: &Counters) -> std::io::Result<()> {
    let (method, target, headers, body) = read_request(&stream)?;
    let mut out = stream;
    let expected = format!("Basic {}", b64(format!("x-access-token:{token}").as_bytes()));
    if header(&headers, "authorization").as_deref() != Some(expected.as_str()) {
        counters.refused.fetch_add(1, Ordering::SeqCst);
        return write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    counters.authorized.fetch_add(1, Ordering::SeqCst);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header(&headers, "content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header(&headers, "content-encoding").unwrap_or_default())
        .env("GIT_PROTOCOL", header(&headers, "git-protocol").unwrap_or_default())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = cgi.stdin.take() {
        stdin.write_all(&body)?;
    }
    let raw = cgi.wait_with_output()?.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((head_end, sep)) = split else {
        return write!(out, "HTTP/1.1 500 Bad CGI\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let cgi_body = &raw[head_end + sep..];
    let mut status = "200 OK".to_owned();
    let mut resp = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some(_) => resp.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    write!(out, "HTTP/1.1 {status}\r\n{resp}Content-Length: {}\r\nConnection: close\r\n\r\n", cgi_body.len())?;
    out.write_all(cgi_body)
}
