//! Connecting to NATS: credentials (token, user and password, nkey seed,
//! creds file), TLS, and reconnecting forever with a growing back-off.
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` print
//! `<redacted>`; URLs are shown without their user information. Nothing
//! here logs a credential.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use tracing::{debug, info, warn};
use warden_core::text::percent_decode;

use crate::error::BridgeError;

/// A secret string (token, password, nkey seed). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret, trimming surrounding whitespace (files end in newlines).
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into().trim().to_string())
    }

    /// Reads a secret from a file.
    pub fn from_file(what: &'static str, path: &std::path::Path) -> Result<Self, BridgeError> {
        std::fs::read_to_string(path).map(Secret::new).map_err(|e| BridgeError::Credentials {
            what,
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The secret itself, for handing to the NATS client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials given apart (a URL's `user:pass@` or `token@` is used).
    #[default]
    None,
    /// A token.
    Token(Secret),
    /// User and password.
    UserPassword {
        /// User name.
        user: String,
        /// Password.
        password: Secret,
    },
    /// An nkey seed (`SU…`).
    Nkey(Secret),
    /// A `.creds` file (JWT and nkey seed).
    CredsFile(PathBuf),
}

/// TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra root certificates (PEM).
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), with `key`.
    pub cert: Option<PathBuf>,
    /// Client key (PEM), with `cert`.
    pub key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    pub required: bool,
    /// TLS before the NATS handshake (servers with `handshake_first`).
    pub first: bool,
}

/// Everything needed to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsOptions {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// Credentials.
    pub auth: NatsAuth,
    /// TLS.
    pub tls: TlsOptions,
    /// Connection name shown by the server.
    pub name: Option<String>,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
}

impl NatsOptions {
    /// Options for `url` without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        NatsOptions {
            url: url.into(),
            auth: NatsAuth::None,
            tls: TlsOptions::default(),
            name: None,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// One server URL split around its user information: `(scheme, userinfo,
/// the rest)`. The userinfo ends at the authority's last `@` (a password
/// may hold a raw `@`).
fn split_userinfo(one: &str) -> (Option<&str>, Option<&str>, &str) {
    let (scheme, rest) = match one.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, one),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => (scheme, Some(&rest[..at]), &rest[at + 1..]),
        None => (scheme, None, rest),
    }
}

/// The URL(s) with user information (`user:pass@`, `token@`) removed.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, userinfo, rest) = split_userinfo(one.trim());
            let rest = match userinfo {
                Some(_) => format!("<redacted>@{rest}"),
                None => rest.to_string(),
            };
            match scheme {
                Some(s) => format!("{s}://{rest}"),
                None => rest,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The URL(s) without user information, and the credentials it carried
/// (`user:pass@` a user and password, `token@` a token; percent-decoded).
/// The NATS client neither authenticates with a URL's credentials nor keeps
/// them out of its debug log (it logs each server's parsed URL, password
/// included), so they never reach it.
fn take_url_credentials(url: &str) -> Result<(String, NatsAuth), BridgeError> {
    let mut found = NatsAuth::None;
    let mut servers = Vec::new();
    for one in url.split(',') {
        let (scheme, userinfo, rest) = split_userinfo(one.trim());
        servers.push(match scheme {
            Some(s) => format!("{s}://{rest}"),
            None => rest.to_string(),
        });
        let auth = match userinfo.map(|u| u.split_once(':')) {
            None => continue,
            Some(Some((user, password))) => {
                NatsAuth::UserPassword { user: percent_decode(user), password: Secret::new(percent_decode(password)) }
            }
            Some(None) => NatsAuth::Token(Secret::new(percent_decode(userinfo.unwrap_or_default()))),
        };
        if found != NatsAuth::None && found != auth {
            return Err(BridgeError::Invalid("the NATS URLs carry different credentials; give one set".into()));
        }
        found = auth;
    }
    Ok((servers.join(","), found))
}

/// The reconnect back-off: at once, then 50 ms doubling to 5 s.
pub fn reconnect_delay(attempt: usize) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let exp = (attempt - 1).min(16) as u32;
    Duration::from_millis(50u64.saturating_mul(1u64 << exp)).min(Duration::from_secs(5))
}

async fn options(opts: &NatsOptions, auth: &NatsAuth) -> Result<ConnectOptions, BridgeError> {
    let mut o = match auth {
        NatsAuth::None => ConnectOptions::new(),
        NatsAuth::Token(t) => ConnectOptions::with_token(t.expose().to_string()),
        NatsAuth::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user.clone(), password.expose().to_string())
        }
        NatsAuth::Nkey(seed) => ConnectOptions::with_nkey(seed.expose().to_string()),
        NatsAuth::CredsFile(path) => ConnectOptions::with_credentials_file(path).await.map_err(|e| {
            BridgeError::Credentials { what: "NATS credentials", path: path.clone(), message: e.to_string() }
        })?,
    };
    if let Some(ca) = &opts.tls.ca {
        o = o.add_root_certificates(ca.clone());
    }
    match (&opts.tls.cert, &opts.tls.key) {
        (Some(cert), Some(key)) => o = o.add_client_certificate(cert.clone(), key.clone()),
        (None, None) => {}
        _ => return Err(BridgeError::Invalid("a TLS client certificate needs both --tls-cert and --tls-key".into())),
    }
    if opts.tls.required || opts.tls.ca.is_some() || opts.tls.cert.is_some() {
        o = o.require_tls(true);
    }
    if opts.tls.first {
        o = o.tls_first();
    }
    if let Some(name) = &opts.name {
        o = o.name(name);
    }
    Ok(o.connection_timeout(opts.connect_timeout)
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .subscription_capacity(256 * 1024)
        .event_callback(|event| async move {
            match event {
                Event::Disconnected => warn!("NATS connection lost; reconnecting"),
                Event::Connected => info!("connected to NATS"),
                Event::SlowConsumer(sid) => warn!(sid, "NATS subscription fell behind; messages were dropped"),
                Event::ServerError(e) => warn!(error = %e, "NATS server error"),
                Event::ClientError(e) => debug!(error = %e, "NATS client error"),
                other => debug!(event = %other, "NATS event"),
            }
        }))
}

/// Connects once (failing fast on a bad URL or bad credentials); after that
/// the client reconnects forever with [`reconnect_delay`], resubscribing
/// and keeping publishes buffered while disconnected.
pub async fn connect(opts: &NatsOptions) -> Result<Client, BridgeError> {
    let (servers, from_url) = take_url_credentials(&opts.url)?;
    let auth = match (&opts.auth, from_url) {
        (given, NatsAuth::None) => given.clone(),
        (NatsAuth::None, from_url) => from_url,
        _ => {
            return Err(BridgeError::Invalid(
                "NATS credentials both in the URL and given apart; give them once".into(),
            ));
        }
    };
    let o = options(opts, &auth).await?;
    o.connect(servers.as_str())
        .await
        .map_err(|e| BridgeError::Connect { url: servers.clone(), message: connect_message(&e.to_string()) })
}

/// The two connections of a bridge: commands and replies on one, events and
/// output on the other. nats-server delivers what a connection publishes
/// from that connection's read loop; when a subscriber reads slowly the
/// server blocks there up to its write deadline, and everything else that
/// connection sent waits behind it. Apart, a flood of events to a slow
/// subscriber cannot delay a reply.
#[derive(Clone)]
pub struct Connections {
    /// Commands in, replies out, raw input, heartbeat, node-name claim.
    pub commands: Client,
    /// Events, raw output, JetStream publishing.
    pub events: Client,
}

impl Connections {
    /// One connection for both (replies can then wait behind events).
    pub fn shared(client: Client) -> Connections {
        Connections { commands: client.clone(), events: client }
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connections { commands, events }")
    }
}

/// Connects twice with the same options: the commands connection (named
/// `<name>`) and the events connection (named `<name>-events`).
pub async fn connect_pair(opts: &NatsOptions) -> Result<Connections, BridgeError> {
    let commands = connect(opts).await?;
    let mut events_opts = opts.clone();
    events_opts.name = opts.name.as_ref().map(|n| format!("{n}-events"));
    let events = connect(&events_opts).await?;
    Ok(Connections { commands, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_urls_are_redacted() {
        let s = Secret::new("s3cret\n");
        assert_eq!(s.expose(), "s3cret");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let auth = NatsAuth::UserPassword { user: "u".into(), password: s };
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert_eq!(redact_url("nats://tok@h:4222,nats://h2:4222"), "nats://<redacted>@h:4222,nats://h2:4222");
        assert_eq!(redact_url("u:p@h:1"), "<redacted>@h:1");
        assert_eq!(redact_url("nats://u:p@ss@h:1"), "nats://<redacted>@h:1");
    }

    #[test]
    fn url_credentials_are_taken_out_of_the_url() {
        let (url, auth) = take_url_credentials("nats://u:p%40ss@h:1, nats://u:p%40ss@h2:1").expect("one set");
        assert_eq!(url, "nats://h:1,nats://h2:1");
        assert_eq!(auth, NatsAuth::UserPassword { user: "u".into(), password: Secret::new("p@ss") });
        let (url, auth) = take_url_credentials("tok@h:1,nats://h2:1").expect("a token");
        assert_eq!((url.as_str(), auth), ("h:1,nats://h2:1", NatsAuth::Token(Secret::new("tok"))));
        assert_eq!(take_url_credentials("nats://h:1").expect("none").1, NatsAuth::None);
        assert!(take_url_credentials("nats://a@h:1,nats://b@h2:1").is_err(), "two sets");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::from_millis(50));
        assert_eq!(reconnect_delay(3), Duration::from_millis(200));
        assert_eq!(reconnect_delay(1000), Duration::from_secs(5));
    }
}

/// The NATS client's connect error in one clause: its kind and its source
/// often say the same thing twice (`authorization violation: nats:
/// authorization violation`); repeated parts and the `nats:` tag go.
fn connect_message(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split(": ") {
        let part = part.trim().trim_start_matches("nats:").trim();
        if part.is_empty() || part.eq_ignore_ascii_case("nats") || parts.iter().any(|p| p.eq_ignore_ascii_case(part)) {
            continue;
        }
        parts.push(part);
    }
    parts.join(": ")
}

#[cfg(test)]
mod message_tests {
    use super::connect_message;

    #[test]
    fn connect_errors_say_each_thing_once() {
        assert_eq!(
            connect_message("authorization violation: nats: authorization violation"),
            "authorization violation"
        );
        assert_eq!(connect_message("timed out: "), "timed out");
        assert_eq!(
            connect_message("io error: connection refused (os error 111)"),
            "io error: connection refused (os error 111)"
        );
    }
}
