//! The environment an agent gets: built on purpose, never inherited wholesale.
//!
//! Only a short allowlist of warden's own variables passes (locale, `PATH`,
//! `HOME`, user and temp dirs; plus names the configuration adds); then what
//! the spec asks for; then `TERM` and warden's session markers. So a NATS
//! credential or a git token in warden's environment never reaches an agent
//! unless the caller passes it in the spec.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The variable naming the session in every process an agent starts.
pub const SESSION_ENV: &str = "WARDEN_SESSION_ID";
/// The variable naming the warden instance that started the agent.
pub const INSTANCE_ENV: &str = "WARDEN_INSTANCE";

/// Names passed from warden's environment to agents by default.
pub const DEFAULT_PASSTHROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
];

/// Builds the child's environment from warden's environment `parent`.
pub(crate) fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    extra_passthrough: &[String],
    spec_env: &BTreeMap<String, String>,
    session: &str,
    instance: &str,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    for (k, v) in parent {
        let name = k.to_string_lossy();
        let pass = DEFAULT_PASSTHROUGH.contains(&name.as_ref())
            || name.starts_with("LC_")
            || extra_passthrough.iter().any(|p| p == name.as_ref());
        if pass {
            env.insert(k, v);
        }
    }
    env.insert("TERM".into(), "xterm-256color".into());
    for (k, v) in spec_env {
        env.insert(k.into(), v.into());
    }
    env.insert(SESSION_ENV.into(), session.into());
    env.insert(INSTANCE_ENV.into(), instance.into());
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowlist_passes_and_the_spec_wins() {
        let parent = vec![
            ("PATH".into(), "/bin".into()),
            ("NATS_TOKEN".into(), "secret".into()),
            ("GITHUB_TOKEN".into(), "ghp_x".into()),
            ("LC_ALL".into(), "C".into()),
            ("MY_VAR".into(), "1".into()),
        ];
        let mut spec = BTreeMap::new();
        spec.insert("TERM".to_string(), "dumb".to_string());
        spec.insert("API_KEY".to_string(), "given".to_string());
        let env: BTreeMap<_, _> = child_env(parent, &["MY_VAR".into()], &spec, "s1", "i1").into_iter().collect();
        let get = |k: &str| env.get(&OsString::from(k)).map(|v| v.to_string_lossy().into_owned());
        assert_eq!(get("PATH").as_deref(), Some("/bin"));
        assert_eq!(get("LC_ALL").as_deref(), Some("C"));
        assert_eq!(get("MY_VAR").as_deref(), Some("1"));
        assert_eq!(get("NATS_TOKEN"), None);
        assert_eq!(get("GITHUB_TOKEN"), None);
        assert_eq!(get("TERM").as_deref(), Some("dumb"));
        assert_eq!(get("API_KEY").as_deref(), Some("given"));
        assert_eq!(get(SESSION_ENV).as_deref(), Some("s1"));
        assert_eq!(get(INSTANCE_ENV).as_deref(), Some("i1"));
    }
}
