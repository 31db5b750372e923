//! Pull requests through GitHub's REST API (github.com or Enterprise).
//!
//! Blocking HTTP (ureq 3 + rustls/ring): the engine already runs on a
//! blocking thread, and the client builds in seconds without cmake or nasm.
//! [`parse_remote`] is pure and could move to `warden-core`.

pub use warden_core::workspace::request::parse_remote;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::workspace::error::WorkspaceError;
use warden_core::workspace::outcome::PullRequest;
use warden_core::workspace::redact::{Redactor, Secret};
use warden_core::workspace::request::{PrRequest, RepoSlug};

/// Default API base.
pub const GITHUB_API: &str = "https://api.github.com";

/// How many characters of an error body that is not JSON an error shows.
const MAX_BODY_SHOWN: usize = 300;

/// Where and how to reach GitHub.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// API base, e.g. `https://api.github.com` or `https://ghe.example/api/v3`.
    pub api_base: String,
    /// Token; when `None`, `GITHUB_TOKEN` then `GH_TOKEN` is used.
    pub token: Option<Secret>,
    /// Request timeout.
    pub timeout: Duration,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self { api_base: GITHUB_API.into(), token: None, timeout: Duration::from_secs(30) }
    }
}

impl GithubConfig {
    /// The token from config, else from `GITHUB_TOKEN`, else `GH_TOKEN`
    /// (looked up through `env`, so callers and tests control the source).
    pub fn resolve_token(&self, env: impl Fn(&str) -> Option<String>) -> Option<Secret> {
        self.token.clone().or_else(|| {
            ["GITHUB_TOKEN", "GH_TOKEN"].into_iter().find_map(|k| env(k).filter(|v| !v.is_empty())).map(Secret::new)
        })
    }
}

/// The host whose repositories the configured API serves: the API's host
/// without a leading `api.` (`api.github.com` serves `github.com`;
/// `https://ghe.example/api/v3` serves `ghe.example`).
pub fn served_host(cfg: &GithubConfig) -> String {
    let rest = cfg.api_base.split_once("://").map_or(cfg.api_base.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    host.strip_prefix("api.").map(str::to_owned).unwrap_or(host)
}

/// Whether a repository on `host` (from a remote's URL) is one the
/// configured API serves: a pull request for a repository elsewhere (a
/// GitLab remote, say) must not go to GitHub with the GitHub token.
pub fn serves(cfg: &GithubConfig, host: &str) -> bool {
    host.eq_ignore_ascii_case(&served_host(cfg))
}

#[derive(Serialize)]
struct CreateBody<'a> {
    title: &'a str,
    head: &'a str,
    base: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    draft: bool,
}

#[derive(Deserialize)]
struct Created {
    number: u64,
    html_url: String,
}

/// Open a pull request `head` → `base` on `slug`, then add labels.
pub fn create_pull_request(
    cfg: &GithubConfig,
    token: &Secret,
    slug: &RepoSlug,
    head: &str,
    base: &str,
    req: &PrRequest,
    redactor: &Redactor,
) -> Result<PullRequest, WorkspaceError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(cfg.timeout))
        .http_status_as_error(false)
        .user_agent("warden")
        .build()
        .into();
    let api = cfg.api_base.trim_end_matches('/');
    let url = format!("{api}/repos/{}/{}/pulls", slug.owner, slug.name);
    let body = CreateBody { title: &req.title, head, base, body: req.body.as_deref(), draft: req.draft };
    let created: Created = post_json(&agent, &url, token, &body, redactor)?;
    let mut pr = PullRequest { number: created.number, url: created.html_url, label_error: None };
    if !req.labels.is_empty() {
        let url = format!("{api}/repos/{}/{}/issues/{}/labels", slug.owner, slug.name, pr.number);
        let labels = serde_json::json!({ "labels": req.labels });
        if let Err(e) = post_json::<serde_json::Value>(&agent, &url, token, &labels, redactor) {
            tracing::warn!(number = pr.number, error = %e, "pull request created but labels failed");
            pr.label_error = Some(e.to_string());
        }
    }
    Ok(pr)
}

fn post_json<T: serde::de::DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    token: &Secret,
    body: &impl Serialize,
    redactor: &Redactor,
) -> Result<T, WorkspaceError> {
    let fail =
        |status: Option<u16>, message: String| WorkspaceError::Github { status, message: redactor.redact(&message) };
    let mut resp = agent
        .post(url)
        .header("Authorization", &format!("Bearer {}", token.expose()))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send_json(body)
        .map_err(|e| fail(None, format!("POST {url}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| fail(Some(status), format!("reading response: {e}")))?;
    if !(200..300).contains(&status) {
        let detail = error_detail(&text, redactor);
        return Err(fail(Some(status), format!("POST {url} returned {status}: {detail}")));
    }
    serde_json::from_str(&text).map_err(|e| fail(Some(status), format!("unexpected response from {url}: {e}")))
}

/// What an error response says: GitHub's `message` and `errors`, or the
/// start of a body that is not JSON. The body is redacted whole first,
/// before it is cut or re-encoded: a token the cut splits, or one JSON
/// escapes, would no longer be recognised.
fn error_detail(body: &str, redactor: &Redactor) -> String {
    let body = redactor.redact(body);
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .map(|v| {
            let msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("").to_owned();
            match v.get("errors") {
                Some(errs) => format!("{msg} {errs}"),
                None => msg,
            }
        })
        .unwrap_or_else(|| body.chars().take(MAX_BODY_SHOWN).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_redacted_before_they_are_cut() {
        let token = "ghp_CutByTheLimit0123456789";
        let mut r = Redactor::new();
        r.add(&Secret::new(token));
        for at in [MAX_BODY_SHOWN - 20, MAX_BODY_SHOWN - 4, MAX_BODY_SHOWN - 1] {
            let body = format!("{}{token} trailing", "x".repeat(at));
            let detail = error_detail(&body, &r);
            assert!(!detail.contains(&token[..4]), "{at}: {detail}");
            assert!(detail.chars().count() <= MAX_BODY_SHOWN, "{at}: cut");
        }
        let json = format!(r#"{{"message":"bad {token}","errors":[{{"message":"seen {token}"}}]}}"#);
        assert_eq!(error_detail(&json, &r), r#"bad *** [{"message":"seen ***"}]"#);
    }

    #[test]
    fn parses_remote_forms() {
        let want = Some(RepoSlug { host: "github.com".into(), owner: "o".into(), name: "r".into() });
        for url in [
            "https://github.com/o/r.git",
            "https://github.com/o/r",
            "https://x-access-token@github.com/o/r.git",
            "git@github.com:o/r.git",
            "ssh://git@github.com/o/r.git",
            "ssh://git@github.com:22/o/r",
        ] {
            assert_eq!(parse_remote(url), want, "{url}");
        }
        assert_eq!(parse_remote("/srv/repo.git"), None);
        let github = GithubConfig::default();
        assert_eq!(served_host(&github), "github.com");
        assert!(serves(&github, "github.com") && serves(&github, "GitHub.com"));
        assert!(!serves(&github, "gitlab.example.com") && !serves(&github, "api.github.com"));
        let ghe = GithubConfig { api_base: "https://ghe.example:8443/api/v3".into(), ..GithubConfig::default() };
        assert_eq!(served_host(&ghe), "ghe.example");
        assert!(serves(&ghe, "ghe.example") && !serves(&ghe, "github.com"));
        assert_eq!(parse_remote("https://github.com/o"), None);
        assert_eq!(parse_remote("https://ghe.corp/o/r/extra"), None);
    }

    #[test]
    fn token_resolution_order() {
        let cfg = GithubConfig::default();
        let env = |k: &str| (k == "GH_TOKEN").then(|| "gh".to_owned());
        assert_eq!(cfg.resolve_token(env).map(|s| s.expose().to_owned()).as_deref(), Some("gh"));
        let cfg = GithubConfig { token: Some(Secret::new("cfg")), ..GithubConfig::default() };
        assert_eq!(cfg.resolve_token(env).map(|s| s.expose().to_owned()).as_deref(), Some("cfg"));
    }
}
