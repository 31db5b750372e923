//! Authorisation of remote callers: which verbs, which agent types, which
//! directories, which environment, how many requests. Refusals are
//! `forbidden` (or `rate_limited`), decided here before the `Warden` handle
//! is called.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{BridgeConfig, RateLimitConfig};
use crate::protocol::{ErrorCode, VERBS, VerbEntry, WireError};

/// The checks, built from a [`BridgeConfig`] with the roots resolved.
#[derive(Debug, Clone)]
pub struct Policy {
    allow_verbs: Vec<&'static str>,
    allow_agents: Vec<String>,
    roots: Vec<PathBuf>,
    deny_env: Vec<String>,
    raw_input: bool,
}

impl Policy {
    /// The policy of `config`. `default_root` is used when the config names
    /// no roots; every root must exist (it is canonicalised here, so
    /// symlinks cannot move it later).
    pub fn new(config: &BridgeConfig, default_roots: &[PathBuf]) -> Result<Self, String> {
        let allow_verbs = match &config.allow_verbs {
            Some(list) => VERBS
                .iter()
                .filter(|e| e.alias_of.is_none() && list.iter().any(|v| v == e.name))
                .map(|e| e.name)
                .collect(),
            None => VERBS.iter().filter(|e| e.alias_of.is_none()).map(|e| e.name).collect(),
        };
        let mut allow_agents: Vec<String> = match &config.allow_agents {
            Some(list) => list.iter().map(|a| a.trim().to_ascii_lowercase()).collect(),
            None => warden_adapters::KNOWN_AGENTS.iter().filter(|a| **a != "shell").map(|a| a.to_string()).collect(),
        };
        for extra in &config.extra_agents {
            let extra = extra.trim().to_ascii_lowercase();
            if !allow_agents.contains(&extra) {
                allow_agents.push(extra);
            }
        }
        let configured: Vec<PathBuf> =
            if config.workdir_roots.is_empty() { default_roots.to_vec() } else { config.workdir_roots.clone() };
        let mut roots = Vec::new();
        for root in config.extra_workdir_roots.iter().cloned().chain(configured) {
            let canonical = std::fs::canonicalize(&root)
                .map_err(|e| format!("workdir root {} is not usable: {e}", root.display()))?;
            if !canonical.is_dir() {
                return Err(format!("workdir root {} is not a directory", root.display()));
            }
            roots.push(canonical);
        }
        Ok(Policy { allow_verbs, allow_agents, roots, deny_env: config.deny_env.clone(), raw_input: config.raw_input })
    }

    /// The allowed roots (canonical).
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether the verb (or the verb a legacy alias stands for) is allowed.
    pub fn check_verb(&self, entry: &VerbEntry) -> Result<(), WireError> {
        if self.allow_verbs.contains(&entry.canonical()) {
            Ok(())
        } else {
            Err(WireError::forbidden(format!(
                "verb `{}` is not allowed on this node; `allow_verbs` in the node's configuration allows it",
                entry.canonical()
            )))
        }
    }

    /// Whether raw input on `in.<session>` is accepted.
    pub fn raw_input_allowed(&self) -> bool {
        self.raw_input && self.allow_verbs.contains(&"send_to_agent")
    }

    /// The agent types remote callers may start (canonical adapter names): what an
    /// `auto` agent of a task is chosen from, and what switching on a usage limit may
    /// start.
    pub fn allowed_agents(&self) -> &[String] {
        &self.allow_agents
    }

    /// Whether remote callers may start `agent` (a canonical adapter name:
    /// aliases such as `bash` for `shell` are resolved before this check).
    pub fn check_agent(&self, agent: &str) -> Result<(), WireError> {
        if self.allow_agents.iter().any(|a| a == agent) {
            Ok(())
        } else {
            Err(WireError::forbidden(format!(
                "agent type `{agent}` is not allowed for remote callers on this node; \
                 `warden serve --allow-agent {agent}` (or `allow_agents` in its configuration) allows it"
            )))
        }
    }

    /// Where a remote caller may clone from: a network URL (`https://`,
    /// `http://`, `ssh://`, `git://`, or scp-style `user@host:path`), or a
    /// path on this node inside the allowed roots. Anything else (`file://`
    /// elsewhere, `ext::`, `fd::`, option-like names) is `forbidden`. A
    /// source with credentials in it (`https://token@host/…`, see
    /// [`warden_core::workspace::repo_url`]) is `bad_request`, checked
    /// first so that no refusal echoes it.
    pub fn check_repo_source(&self, repo: &str) -> Result<String, WireError> {
        let repo = repo.trim();
        if repo.is_empty() {
            return Err(WireError::bad_request("`repo` is empty"));
        }
        if let Some(found) = warden_core::workspace::url_credential(repo) {
            return Err(WireError::bad_request(found.refusal()));
        }
        if repo.starts_with('-') || repo.contains("::") || repo.chars().any(char::is_control) {
            return Err(WireError::forbidden(format!(
                "repository source `{repo}` is not allowed: give a network URL (https, ssh, git) or a path \
                 inside the node's roots (`warden serve --workdir-root DIR` or `workdir_roots`)"
            )));
        }
        let lower = repo.to_ascii_lowercase();
        if ["https://", "http://", "ssh://", "git://"].iter().any(|p| lower.starts_with(p)) {
            return Ok(repo.to_string());
        }
        let scp_like = !repo.starts_with('/')
            && !repo.contains("://")
            && repo.split_once(':').is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
        if scp_like {
            return Ok(repo.to_string());
        }
        let path = repo.strip_prefix("file://").unwrap_or(repo);
        if path.contains("://") {
            return Err(WireError::forbidden(format!(
                "repository source `{repo}` is not allowed: give a network URL (https, ssh, git) or a path \
                 inside the node's roots (`warden serve --workdir-root DIR` or `workdir_roots`)"
            )));
        }
        let resolved = self.resolve_workdir(Some(Path::new(path))).map_err(|e| match e.code {
            ErrorCode::Forbidden => WireError::forbidden(format!(
                "repository path {path} is outside the allowed roots of this node; \
                 `warden serve --workdir-root DIR` (or `workdir_roots` in its configuration) allows it"
            )),
            ErrorCode::BadRequest => {
                WireError::bad_request(e.message.replacen("working directory", "repository path", 1))
            }
            _ => e,
        })?;
        // A repository (bare or not) is a directory; a file would reach git
        // and come back as an untyped failure.
        if !resolved.is_dir() {
            return Err(WireError::bad_request(format!("repository path {path} is not a directory")));
        }
        Ok(resolved.display().to_string())
    }

    /// The working directory for a request: inside an allowed root after
    /// resolving `..` and symlinks. Relative paths are taken from the first
    /// root; no path means the first root.
    pub fn resolve_workdir(&self, requested: Option<&Path>) -> Result<PathBuf, WireError> {
        let first = self.roots.first().ok_or_else(|| WireError::internal("no workdir roots configured"))?;
        let Some(requested) = requested else { return Ok(first.clone()) };
        if requested.as_os_str().is_empty() {
            return Ok(first.clone());
        }
        let joined = if requested.is_absolute() { requested.to_path_buf() } else { first.join(requested) };
        let canonical = std::fs::canonicalize(&joined).map_err(|e| {
            WireError::new(
                ErrorCode::BadRequest,
                format!("working directory {} is not usable: {e}", requested.display()),
            )
        })?;
        if self.roots.iter().any(|root| canonical.starts_with(root)) {
            Ok(canonical)
        } else {
            Err(WireError::forbidden(format!(
                "working directory {} is outside the allowed roots of this node; \
                 `warden serve --workdir-root DIR` (or `workdir_roots` in its configuration) allows it",
                requested.display()
            )))
        }
    }

    /// Refuses environment names the configuration denies.
    pub fn check_env(&self, env: &BTreeMap<String, String>) -> Result<(), WireError> {
        for name in env.keys() {
            let denied = self.deny_env.iter().any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            });
            if denied {
                let shown: String = name.chars().take(64).collect();
                return Err(WireError::forbidden(format!(
                    "environment variable `{shown}` may not be set remotely; `deny_env` in the node's configuration \
                     lists the names refused"
                )));
            }
        }
        Ok(())
    }
}

/// A token bucket for the per-node rate limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(config: &RateLimitConfig) -> Self {
        let capacity = f64::from(config.burst.max(1));
        RateLimiter { per_second: config.per_second, capacity, tokens: capacity, last: Instant::now() }
    }

    /// Takes one token at `now`; `false` when the bucket is empty.
    pub fn try_take_at(&mut self, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token now.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::lookup_verb;
    use std::time::Duration;

    fn policy(config: &BridgeConfig, root: &Path) -> Policy {
        Policy::new(config, &[root.to_path_buf()]).expect("policy")
    }

    #[test]
    fn shell_is_off_by_default_and_verbs_follow_the_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = policy(&BridgeConfig::default(), dir.path());
        assert_eq!(p.check_agent("shell").expect_err("off").code, ErrorCode::Forbidden);
        assert!(p.check_verb(lookup_verb("stop_coding_agent").expect("verb")).is_ok());
        let config = BridgeConfig {
            allow_agents: Some(vec!["Shell".into()]),
            allow_verbs: Some(vec!["list_agents".into()]),
            ..BridgeConfig::default()
        };
        let p = policy(&config, dir.path());
        assert!(p.check_agent("shell").is_ok());
        assert!(p.check_verb(lookup_verb("list_coding_agents").expect("verb")).is_ok());
        assert_eq!(p.check_verb(lookup_verb("spawn_agent").expect("verb")).expect_err("no").code, ErrorCode::Forbidden);
        assert!(!p.raw_input_allowed());
    }

    #[test]
    fn repository_sources_are_urls_or_paths_inside_the_roots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("repo.git")).expect("repo dir");
        std::fs::create_dir_all(dir.path().join("outside.git")).expect("outside");
        let p = policy(&BridgeConfig::default(), &root);
        for ok in ["https://github.com/a/b.git", "ssh://git@host/x.git", "git@github.com:a/b.git", "git://h/x"] {
            assert_eq!(p.check_repo_source(ok).expect(ok), ok);
        }
        let inside = p.check_repo_source("repo.git").expect("relative path inside the root");
        assert!(inside.ends_with("repo.git"));
        let outside = dir.path().join("outside.git");
        for bad in [outside.to_str().expect("utf8"), "ext::sh -c touch% /tmp/x", "-uhelp", "fd::3", "../outside.git"] {
            assert_eq!(p.check_repo_source(bad).expect_err(bad).code, ErrorCode::Forbidden, "{bad}");
        }
        assert_eq!(p.check_repo_source(" ").expect_err("empty").code, ErrorCode::BadRequest);
        // A file, or nothing, inside the roots: a typed refusal naming the repository path.
        std::fs::write(root.join("README"), "x").expect("file");
        for (bad, says) in [("README", "is not a directory"), ("missing.git", "is not usable")] {
            let refused = p.check_repo_source(bad).expect_err(bad);
            assert_eq!(refused.code, ErrorCode::BadRequest, "{bad}");
            assert!(refused.message.contains(&format!("repository path {bad} {says}")), "{bad}: {}", refused.message);
        }
        for secret in
            ["https://tok3n@h/x.git", "https://u:tok3n@h/a::b", "ext::https://tok3n@h/x", "http://h/x?token=tok3n"]
        {
            let refused = p.check_repo_source(secret).expect_err(secret);
            assert_eq!(refused.code, ErrorCode::BadRequest, "{secret}");
            assert!(!refused.message.contains("tok3n"), "{secret}: {}", refused.message);
        }
    }

    #[test]
    fn workdirs_stay_inside_the_roots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("escape")).expect("symlink");
        let p = policy(&BridgeConfig::default(), &root);
        let canon = std::fs::canonicalize(&root).expect("canon");
        assert_eq!(p.resolve_workdir(None).expect("default"), canon);
        assert_eq!(p.resolve_workdir(Some(Path::new("a/b"))).expect("relative"), canon.join("a/b"));
        assert_eq!(p.resolve_workdir(Some(&root.join("a"))).expect("absolute"), canon.join("a"));
        for bad in [Path::new("../outside"), Path::new("escape"), Path::new("/"), Path::new("a/../../outside")] {
            assert_eq!(p.resolve_workdir(Some(bad)).expect_err("outside").code, ErrorCode::Forbidden, "{bad:?}");
        }
        assert_eq!(p.resolve_workdir(Some(Path::new("missing"))).expect_err("missing").code, ErrorCode::BadRequest);
    }

    #[test]
    fn env_denials_and_rate_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = policy(&BridgeConfig::default(), dir.path());
        let env = |k: &str| BTreeMap::from([(k.to_string(), "x".to_string())]);
        assert!(p.check_env(&env("FOO")).is_ok());
        assert!(p.check_env(&env("LD_PRELOAD")).is_err());
        assert!(p.check_env(&env("BASH_ENV")).is_err());
        let mut r = RateLimiter::new(&RateLimitConfig { per_second: 10.0, burst: 2 });
        let t0 = Instant::now();
        assert!(r.try_take_at(t0) && r.try_take_at(t0));
        assert!(!r.try_take_at(t0));
        assert!(r.try_take_at(t0 + Duration::from_millis(150)));
        let mut off = RateLimiter::new(&RateLimitConfig { per_second: 0.0, burst: 1 });
        assert!((0..1000).all(|_| off.try_take()));
    }
}
