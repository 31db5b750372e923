//! The bridge's configuration file (`warden serve --config FILE`), TOML or
//! JSON by extension. Every field has a default; unknown fields are errors,
//! so a typo never silently widens what remote callers may do.
//!
//! ```toml
//! allow_agents = ["shell"]            # raw shells are off unless listed
//! workdir_roots = ["/srv/warden/work"]
//! max_request_bytes = 262144
//! [rate_limit]
//! per_second = 50.0
//! burst = 100
//! [jetstream]
//! stream = "WARDEN_EVENTS"
//! outbox_max_events = 100000
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::BridgeError;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// Verbs remote callers may use (canonical names; legacy aliases follow
    /// their verb). `None`: every verb this node serves.
    pub allow_verbs: Option<Vec<String>>,
    /// Agent types remote callers may start. `None`: every known agent type
    /// except `shell` (a raw shell is arbitrary code execution, so it must be
    /// listed explicitly).
    pub allow_agents: Option<Vec<String>>,
    /// Largest request payload in bytes.
    pub max_request_bytes: usize,
    /// Per-node rate limit of remote requests (commands and raw input).
    pub rate_limit: RateLimitConfig,
    /// Directories under which remote callers may start agents. Empty:
    /// `<state_dir>/work`, created on start.
    pub workdir_roots: Vec<PathBuf>,
    /// Environment variable names remote callers may not set; a trailing `*`
    /// matches a prefix.
    pub deny_env: Vec<String>,
    /// Accept raw input on `<prefix>.<node>.in.<session>` (needs
    /// `send_to_agent` to be allowed too).
    pub raw_input: bool,
    /// Milliseconds between heartbeats.
    pub heartbeat_ms: u64,
    /// JetStream settings (used with `--jetstream`).
    pub jetstream: JetStreamConfig,
    /// Agent types allowed on top of `allow_agents` (or of its default):
    /// `warden serve --allow-agent`. Not read from files.
    #[serde(skip)]
    pub extra_agents: Vec<String>,
    /// Roots allowed on top of `workdir_roots` (or of the default roots),
    /// first in the list (relative paths are taken from the first root):
    /// `warden serve --workdir-root`. Not read from files.
    #[serde(skip)]
    pub extra_workdir_roots: Vec<PathBuf>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            allow_verbs: None,
            allow_agents: None,
            max_request_bytes: 256 * 1024,
            rate_limit: RateLimitConfig::default(),
            workdir_roots: Vec::new(),
            deny_env: ["LD_*", "DYLD_*", "BASH_ENV", "ENV", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "IFS"]
                .map(String::from)
                .to_vec(),
            raw_input: true,
            heartbeat_ms: 5_000,
            jetstream: JetStreamConfig::default(),
            extra_agents: Vec::new(),
            extra_workdir_roots: Vec::new(),
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second (0 disables the limit).
    pub per_second: f64,
    /// Requests allowed in a burst.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { per_second: 200.0, burst: 400 }
    }
}

/// JetStream settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JetStreamConfig {
    /// Stream name (default `WARDEN_EVENTS`, or `WARDEN_EVENTS_<PREFIX>` for
    /// another prefix).
    pub stream: Option<String>,
    /// Events kept in the outbox while the server has not acknowledged them.
    pub outbox_max_events: usize,
    /// Bytes (JSON) kept in the outbox at most.
    pub outbox_max_bytes: usize,
    /// The stream's duplicate window in seconds (dedupe of re-publishes).
    pub duplicate_window_secs: u64,
    /// How long to wait for one acknowledgement before publishing again.
    pub ack_timeout_ms: u64,
    /// Oldest events the stream keeps, in seconds (0: no age limit).
    pub max_age_secs: u64,
    /// Bytes the stream keeps at most (-1: no limit).
    pub max_bytes: i64,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            stream: None,
            outbox_max_events: 100_000,
            outbox_max_bytes: 64 * 1024 * 1024,
            duplicate_window_secs: 120,
            ack_timeout_ms: 2_000,
            max_age_secs: 7 * 24 * 3600,
            max_bytes: -1,
        }
    }
}

impl JetStreamConfig {
    /// The stream name for `prefix`.
    pub fn stream_name(&self, prefix: &str) -> String {
        self.stream.clone().unwrap_or_else(|| default_stream_name(prefix))
    }

    /// The acknowledgement timeout.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms.max(50))
    }
}

/// `WARDEN_EVENTS` for the default prefix, `WARDEN_EVENTS_<PREFIX>` otherwise.
pub fn default_stream_name(prefix: &str) -> String {
    if prefix == crate::subjects::DEFAULT_PREFIX {
        return "WARDEN_EVENTS".into();
    }
    let tail: String =
        prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("WARDEN_EVENTS_{tail}")
}

impl BridgeConfig {
    /// Reads a `.toml` file, or JSON for any other extension.
    pub fn from_file(path: &Path) -> Result<Self, BridgeError> {
        let bad = |message: String| BridgeError::Config { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let config: BridgeConfig = if is_toml {
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        config.validate().map_err(bad)?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_bytes == 0 {
            return Err("max_request_bytes must be at least 1".into());
        }
        if !(self.rate_limit.per_second >= 0.0 && self.rate_limit.per_second.is_finite()) {
            return Err("rate_limit.per_second must be a finite number >= 0".into());
        }
        if self.heartbeat_ms < 100 {
            return Err("heartbeat_ms must be at least 100".into());
        }
        if let Some(verbs) = &self.allow_verbs {
            for v in verbs {
                if !crate::protocol::VERBS.iter().any(|e| e.name == v && e.alias_of.is_none()) {
                    return Err(format!("allow_verbs: `{v}` is not a verb this node serves"));
                }
            }
        }
        for root in &self.workdir_roots {
            if !root.is_absolute() {
                return Err(format!("workdir_roots: `{}` is not an absolute path", root.display()));
            }
        }
        if self.jetstream.outbox_max_events == 0 {
            return Err("jetstream.outbox_max_events must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_parse_and_typos_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = dir.path().join("c.toml");
        std::fs::write(&t, "allow_agents = [\"shell\"]\n[rate_limit]\nper_second = 5.0\nburst = 3\n").expect("write");
        let c = BridgeConfig::from_file(&t).expect("parses");
        assert_eq!(c.allow_agents, Some(vec!["shell".to_string()]));
        assert_eq!(c.rate_limit.burst, 3);
        assert_eq!(c.max_request_bytes, 256 * 1024);
        let j = dir.path().join("c.json");
        std::fs::write(&j, r#"{"allow_agent":["shell"]}"#).expect("write");
        let e = BridgeConfig::from_file(&j).expect_err("typo");
        assert!(e.to_string().contains("allow_agent"), "{e}");
        std::fs::write(&j, r#"{"allow_verbs":["frobnicate"]}"#).expect("write");
        assert!(BridgeConfig::from_file(&j).is_err());
        assert_eq!(default_stream_name("acme.warden"), "WARDEN_EVENTS_ACME_WARDEN");
    }
}
