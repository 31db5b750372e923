//! Preflight facts and framework selection.
//!
//! The probing itself (looking a binary up on `PATH`, running `--version`, checking that a
//! variable is set or a login file exists) is IO and belongs to the caller; this module
//! says *what* to probe ([`Probe`], from each manifest's `[preflight]`), holds the answers
//! ([`PreflightFacts`]) and chooses an agent from them ([`select`]).

use serde::Serialize;

/// What to probe for one adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Adapter name.
    pub agent: String,
    /// Binary to look up on `PATH` (none for adapters that run the caller's shell).
    pub binary: Option<String>,
    /// Arguments that print the version.
    pub version_args: Vec<String>,
    /// Arguments that print the usage text presets are checked against (`--help`).
    pub help_args: Vec<String>,
    /// Variables whose presence means credentials are configured. Presence only: the
    /// caller must never read out, log or print their values.
    pub auth_env: Vec<String>,
    /// Login files (`~/` = the home directory) whose presence means a login exists.
    /// Presence only: never read.
    pub login_files: Vec<String>,
    /// How to install the CLI.
    pub install_hint: String,
    /// Documentation.
    pub docs_url: String,
}

/// How credentials look for one CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "source", rename_all = "snake_case")]
pub enum AuthFact {
    /// One of the credential variables is set (its name).
    EnvVar(String),
    /// One of the login files exists (its path as written in the probe).
    LoginFile(String),
    /// Nothing found.
    None,
    /// Not probed, or the CLI keeps credentials somewhere warden cannot see.
    Unknown,
}

impl AuthFact {
    /// Whether credentials look present.
    pub fn present(&self) -> bool {
        matches!(self, AuthFact::EnvVar(_) | AuthFact::LoginFile(_))
    }
}

/// The result of probing one adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightFacts {
    /// Adapter name.
    pub name: String,
    /// Whether the binary was found.
    pub installed: bool,
    /// Where.
    pub path: Option<String>,
    /// Version (see [`parse_version`]).
    pub version: Option<String>,
    /// Credentials.
    pub auth: AuthFact,
    /// How to install it.
    pub install_hint: String,
}

/// The first `x.y` or `x.y.z` version number in `--version` output.
pub fn parse_version(output: &str) -> Option<String> {
    let b = output.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            let mut dots = 0;
            while j < b.len()
                && (b[j].is_ascii_digit() || (b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit()))
            {
                if b[j] == b'.' {
                    dots += 1;
                }
                j += 1;
            }
            if dots >= 1 {
                return Some(output[i..j].to_string());
            }
            i = j;
        }
        i += 1;
    }
    None
}

/// How to choose an agent when the caller names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Always this adapter.
    Fixed(String),
    /// Subscription hint first, then installed and authenticated, then installed.
    Heuristic {
        /// e.g. `anthropic-subscription`, `openai-subscription`, `openai-codex`,
        /// `google-subscription`.
        subscription_hint: Option<String>,
    },
}

/// The chosen agent and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Adapter name.
    pub agent: String,
    /// A sentence for people.
    pub reason: String,
}

/// Why no agent could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The fixed agent is not installed.
    #[error("the configured agent `{agent}` is not installed; {hint}")]
    NotInstalled {
        /// Adapter name.
        agent: String,
        /// Install hint.
        hint: String,
    },
    /// The fixed agent is cooling down after hitting its usage limit.
    #[error(
        "the configured agent `{0}` hit its usage limit and is cooling down; try again later or pick another agent"
    )]
    CoolingDown(String),
    /// Nothing usable.
    #[error("no agent CLI is installed{cooling}; install one of: {hints}")]
    NoneAvailable {
        /// ", or all installed ones are cooling down" when that is the case.
        cooling: String,
        /// Install hints.
        hints: String,
    },
}

/// Which adapter a subscription hint points to.
pub fn subscription_agent(hint: &str) -> Option<&'static str> {
    match hint.trim().to_ascii_lowercase().as_str() {
        "anthropic-subscription" | "anthropic" | "claude" | "claude-subscription" => Some("claude"),
        "openai-subscription" | "openai-codex" | "openai" | "chatgpt" | "codex" => Some("codex"),
        "google-subscription" | "google" | "gemini" => Some("gemini"),
        _ => None,
    }
}

/// Preference order among agent CLIs when nothing else decides.
pub const PREFERENCE: &[&str] = &["claude", "codex", "gemini", "aider", "pi"];

/// Chooses an agent. `facts` is the preflight of every candidate; `cooling_down` names
/// the adapters that hit a usage limit recently (the caller keeps the clock). The shell
/// and generic adapters are chosen only by `Fixed`.
pub fn select(strategy: &Strategy, facts: &[PreflightFacts], cooling_down: &[&str]) -> Result<Selection, SelectError> {
    let cooling = |n: &str| cooling_down.contains(&n);
    match strategy {
        Strategy::Fixed(name) => {
            let fact = facts.iter().find(|f| f.name == *name);
            if let Some(f) = fact.filter(|f| !f.installed) {
                return Err(SelectError::NotInstalled { agent: name.clone(), hint: f.install_hint.clone() });
            }
            if cooling(name) {
                return Err(SelectError::CoolingDown(name.clone()));
            }
            Ok(Selection { agent: name.clone(), reason: format!("{name} is the configured default agent") })
        }
        Strategy::Heuristic { subscription_hint } => {
            let rank = |n: &str| PREFERENCE.iter().position(|p| *p == n).unwrap_or(PREFERENCE.len());
            let mut candidates: Vec<&PreflightFacts> =
                facts.iter().filter(|f| f.installed && rank(&f.name) < PREFERENCE.len()).collect();
            candidates.sort_by_key(|f| rank(&f.name));
            let usable: Vec<&PreflightFacts> = candidates.iter().copied().filter(|f| !cooling(&f.name)).collect();
            if let Some(hint) = subscription_hint.as_deref()
                && let Some(target) = subscription_agent(hint)
                && let Some(f) = usable.iter().find(|f| f.name == target)
            {
                let auth = if f.auth.present() { "" } else { " (no login seen; it may ask for one)" };
                return Ok(Selection {
                    agent: f.name.clone(),
                    reason: format!("subscription hint `{hint}` points to {}, which is installed{auth}", f.name),
                });
            }
            if let Some(f) = usable.iter().find(|f| f.auth.present()) {
                let how = match &f.auth {
                    AuthFact::EnvVar(v) => format!("{v} is set"),
                    AuthFact::LoginFile(p) => format!("{p} exists"),
                    _ => String::new(),
                };
                return Ok(Selection {
                    agent: f.name.clone(),
                    reason: format!("{} is installed and authenticated ({how})", f.name),
                });
            }
            if let Some(f) = usable.first() {
                return Ok(Selection {
                    agent: f.name.clone(),
                    reason: format!("{} is installed (no credentials seen for any installed agent)", f.name),
                });
            }
            let hints: Vec<String> = facts
                .iter()
                .filter(|f| rank(&f.name) < PREFERENCE.len())
                .map(|f| format!("{} ({})", f.name, f.install_hint))
                .collect();
            Err(SelectError::NoneAvailable {
                cooling: if candidates.is_empty() {
                    String::new()
                } else {
                    ", or all installed ones are cooling down".into()
                },
                hints: if hints.is_empty() { PREFERENCE.join(", ") } else { hints.join("; ") },
            })
        }
    }
}

/// [`select`] for a caller that always starts something: when the heuristic finds no
/// usable agent CLI, the `fallback` adapter (the registry's, see
/// [`crate::Registry::fallback`]: the shell) is chosen, and the reason says why. Errors
/// of a [`Strategy::Fixed`] stand, and so does [`SelectError::NoneAvailable`] when there
/// is no fallback.
pub fn select_or_fallback(
    strategy: &Strategy,
    facts: &[PreflightFacts],
    cooling_down: &[&str],
    fallback: Option<&str>,
) -> Result<Selection, SelectError> {
    match (select(strategy, facts, cooling_down), strategy, fallback) {
        (Err(SelectError::NoneAvailable { cooling, .. }), Strategy::Heuristic { .. }, Some(agent)) => {
            let reason = if cooling.is_empty() {
                "no agent CLI is installed on PATH".to_string()
            } else {
                "every installed agent CLI is cooling down after its usage limit".to_string()
            };
            Ok(Selection { agent: agent.to_string(), reason })
        }
        (result, _, _) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(name: &str, installed: bool, auth: AuthFact) -> PreflightFacts {
        PreflightFacts {
            name: name.into(),
            installed,
            path: None,
            version: None,
            auth,
            install_hint: format!("install {name}"),
        }
    }

    #[test]
    fn versions_are_found() {
        assert_eq!(parse_version("2.1.332 (Claude Code)").as_deref(), Some("2.1.332"));
        assert_eq!(parse_version("codex-cli 0.169.0").as_deref(), Some("0.169.0"));
        assert_eq!(parse_version("aider 0.86.2\n").as_deref(), Some("0.86.2"));
        assert_eq!(parse_version("v12 x"), None);
    }

    #[test]
    fn heuristic_prefers_hint_then_auth_then_installed() {
        let facts = vec![
            fact("claude", true, AuthFact::None),
            fact("codex", true, AuthFact::LoginFile("~/.codex/auth.json".into())),
            fact("gemini", false, AuthFact::None),
            fact("shell", true, AuthFact::Unknown),
        ];
        let h = |hint: Option<&str>| Strategy::Heuristic { subscription_hint: hint.map(str::to_string) };
        let s = select(&h(Some("anthropic-subscription")), &facts, &[]).expect("pick");
        assert_eq!(s.agent, "claude");
        assert!(s.reason.contains("anthropic-subscription"), "{}", s.reason);
        let s = select(&h(None), &facts, &[]).expect("pick");
        assert_eq!(s.agent, "codex");
        assert!(s.reason.contains("auth.json exists"));
        let s = select(&h(None), &facts, &["codex"]).expect("pick");
        assert_eq!((s.agent.as_str(), s.reason.contains("installed")), ("claude", true));
        let s = select(&h(Some("google-subscription")), &facts, &[]).expect("gemini not installed: fall through");
        assert_eq!(s.agent, "codex");
        let e = select(&h(None), &facts, &["codex", "claude"]).expect_err("all cooling");
        assert!(e.to_string().contains("cooling down"));
        let e = select(&h(None), &[fact("claude", false, AuthFact::None)], &[]).expect_err("none");
        assert!(e.to_string().contains("install claude"));
    }

    #[test]
    fn the_fallback_is_taken_when_nothing_is_installed() {
        let h = Strategy::Heuristic { subscription_hint: None };
        let none = [fact("claude", false, AuthFact::None), fact("shell", true, AuthFact::Unknown)];
        let s = select_or_fallback(&h, &none, &[], Some("shell")).expect("fallback");
        assert_eq!((s.agent.as_str(), s.reason.as_str()), ("shell", "no agent CLI is installed on PATH"));
        assert!(select_or_fallback(&h, &none, &[], None).is_err(), "no fallback adapter");
        let codex = [fact("claude", false, AuthFact::None), fact("codex", true, AuthFact::None)];
        let s = select_or_fallback(&h, &codex, &[], Some("shell")).expect("codex");
        assert_eq!(s.agent, "codex");
        assert!(s.reason.contains("installed"), "{}", s.reason);
        let fixed = Strategy::Fixed("claude".into());
        assert!(matches!(select_or_fallback(&fixed, &none, &[], Some("shell")), Err(SelectError::NotInstalled { .. })));
    }

    #[test]
    fn fixed_is_fixed() {
        let facts = vec![fact("aider", false, AuthFact::None)];
        assert_eq!(select(&Strategy::Fixed("shell".into()), &facts, &[]).expect("ok").agent, "shell");
        assert!(matches!(select(&Strategy::Fixed("aider".into()), &facts, &[]), Err(SelectError::NotInstalled { .. })));
        assert!(matches!(
            select(&Strategy::Fixed("shell".into()), &facts, &["shell"]),
            Err(SelectError::CoolingDown(_))
        ));
    }
}
