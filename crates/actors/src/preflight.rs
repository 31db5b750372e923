//! Preflight: the IO side of adapter probing.
//!
//! For every adapter of a [`Registry`], [`preflight_report`] finds its binary on `PATH`,
//! runs `<binary> <version args>` (stdin null, environment cleared except `PATH`, `HOME`
//! and `LANG`, killed with its process group after [`PreflightEnv::version_timeout`]),
//! and looks whether credentials look present: one of the manifest's `auth_env`
//! variables is set, or one of its `login_files` exists. Presence only: no variable's
//! value is kept, and no login file is opened. All adapters are probed at once, so a
//! preflight takes about as long as the slowest `--version`.
//!
//! What to probe comes from each manifest's `[preflight]` ([`warden_adapters::Probe`]);
//! the facts go to [`warden_adapters::select()`].

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::{Instrument, debug, info_span};
use warden_adapters::{Adapter, AuthFact, ManifestError, PreflightFacts, Probe, Registry};

/// How long `--version` may take before the probe gives up on it.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes of `--version` output looked at.
const VERSION_OUTPUT_MAX: usize = 64 * 1024;

/// Errors of loading user manifests.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A manifest file cannot be read.
    #[error("cannot read adapter manifest {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// The built-in adapters overlaid with the manifests in `files` (TOML, one adapter per
/// file; later files override earlier ones), through [`Registry::with_manifests`].
pub fn registry_from_files(files: &[PathBuf]) -> Result<Registry, PreflightError> {
    let mut texts = Vec::with_capacity(files.len());
    for path in files {
        let text =
            std::fs::read_to_string(path).map_err(|source| PreflightError::Read { path: path.clone(), source })?;
        texts.push((path.display().to_string(), text));
    }
    let refs: Vec<(&str, &str)> = texts.iter().map(|(o, t)| (o.as_str(), t.as_str())).collect();
    Ok(Registry::with_manifests(&refs)?)
}

/// What a preflight looks at from the caller's environment. It holds the *names* of the
/// credential variables that are set, never their values.
#[derive(Debug, Clone)]
pub struct PreflightEnv {
    /// `PATH`, searched for binaries and passed to `--version`.
    pub path: Option<OsString>,
    /// The home directory (`~/` in login files), passed to `--version` as `HOME`.
    pub home: Option<PathBuf>,
    /// `LANG`, passed to `--version`.
    pub lang: Option<OsString>,
    /// `SHELL`, the program of adapters that run the caller's shell.
    pub shell: Option<String>,
    /// Names of the credential variables that are set and non-empty.
    pub credentials_set: BTreeSet<String>,
    /// How long `--version` may take ([`VERSION_TIMEOUT`] by default).
    pub version_timeout: Duration,
}

impl PreflightEnv {
    /// Reads this process's environment: `PATH`, `HOME`, `LANG`, `SHELL`, and whether
    /// each credential variable named by an adapter of `registry` is set.
    pub fn from_process(registry: &Registry) -> PreflightEnv {
        let credentials_set = registry
            .adapters()
            .iter()
            .flat_map(|a| a.probe.auth_env.iter())
            .filter(|name| std::env::var_os(name.as_str()).is_some_and(|v| !v.is_empty()))
            .cloned()
            .collect();
        PreflightEnv {
            path: std::env::var_os("PATH"),
            home: std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
            lang: std::env::var_os("LANG"),
            shell: std::env::var("SHELL").ok(),
            credentials_set,
            version_timeout: VERSION_TIMEOUT,
        }
    }
}

/// Whether credentials look present, as the CLI prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    /// A credential variable is set or a login file exists.
    Present,
    /// The adapter names variables or login files, and none is there.
    Absent,
    /// The adapter names none: warden cannot tell.
    Unknown,
}

/// Where credentials were seen for one adapter: names and paths only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthReport {
    /// Present, absent or unknown.
    pub status: AuthStatus,
    /// The adapter's credential variables that are set (names only, in manifest order).
    pub env: Vec<String>,
    /// The adapter's login files that exist (as written in the manifest, `~/…`).
    pub login_files: Vec<String>,
}

impl AuthReport {
    /// The single fact [`warden_adapters::select()`] works with: the first variable, else
    /// the first login file.
    pub fn fact(&self) -> AuthFact {
        match (self.status, self.env.first(), self.login_files.first()) {
            (AuthStatus::Unknown, _, _) => AuthFact::Unknown,
            (_, Some(var), _) => AuthFact::EnvVar(var.clone()),
            (_, None, Some(file)) => AuthFact::LoginFile(file.clone()),
            (_, None, None) => AuthFact::None,
        }
    }
}

/// Everything preflight found about one adapter (the JSON of `warden adapters --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    /// Adapter name.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Whether the binary was found.
    pub installed: bool,
    /// Where.
    pub path: Option<String>,
    /// Its version, when `--version` answered in time with one.
    pub version: Option<String>,
    /// Credentials.
    pub auth: AuthReport,
    /// How to install the CLI.
    pub install_hint: String,
    /// Its documentation.
    pub docs_url: String,
}

impl PreflightReport {
    /// The facts [`warden_adapters::select()`] chooses from.
    pub fn facts(&self) -> PreflightFacts {
        PreflightFacts {
            name: self.name.clone(),
            installed: self.installed,
            path: self.path.clone(),
            version: self.version.clone(),
            auth: self.auth.fact(),
            install_hint: self.install_hint.clone(),
        }
    }
}

/// [`selection_facts`] for this process's environment, probed on a
/// blocking thread (it runs `--version` of every installed CLI).
pub(crate) async fn selection_facts_now(registry: &std::sync::Arc<Registry>) -> Result<Vec<PreflightFacts>, String> {
    let probed = std::sync::Arc::clone(registry);
    tokio::task::spawn_blocking(move || selection_facts(&probed, &PreflightEnv::from_process(&probed)))
        .await
        .map_err(|e| e.to_string())
}

/// What choosing an agent needs to know about each adapter of `registry`: installed
/// (its binary on `PATH`) and whether credentials look present. Unlike
/// [`preflight_report`], no `--version` is run: nothing is started just to choose. Reads
/// the filesystem (PATH lookups, login files): call it off the async workers.
pub fn selection_facts(registry: &Registry, env: &PreflightEnv) -> Vec<PreflightFacts> {
    registry
        .adapters()
        .iter()
        .map(|a| {
            let path = probe_binary(a, env.shell.as_deref()).and_then(|b| find_on_path(&b, env.path.as_deref()));
            let auth = auth_report(
                &a.probe,
                |name| env.credentials_set.contains(name),
                |file| expand_home(file, env.home.as_deref()).is_some_and(|p| p.exists()),
            );
            PreflightFacts {
                name: a.name.clone(),
                installed: path.is_some(),
                path: path.map(|p| p.display().to_string()),
                version: None,
                auth: auth.fact(),
                install_hint: a.probe.install_hint.clone(),
            }
        })
        .collect()
}

/// Probes every adapter of `registry` in parallel; one [`PreflightFacts`] per adapter, in
/// registry order.
pub async fn preflight(registry: &Registry, env: &PreflightEnv) -> Vec<PreflightFacts> {
    preflight_report(registry, env).await.iter().map(PreflightReport::facts).collect()
}

/// Probes every adapter of `registry` in parallel; one [`PreflightReport`] per adapter,
/// in registry order. Never fails: what cannot be found is reported as missing.
pub async fn preflight_report(registry: &Registry, env: &PreflightEnv) -> Vec<PreflightReport> {
    let env = Arc::new(env.clone());
    let tasks: Vec<_> = registry
        .adapters()
        .iter()
        .map(|adapter| {
            let span = info_span!("preflight", agent = %adapter.name);
            let (adapter, env) = (adapter.clone(), Arc::clone(&env));
            (adapter.name.clone(), tokio::spawn(probe_adapter(adapter, env).instrument(span)))
        })
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for (name, task) in tasks {
        match task.await {
            Ok(report) => reports.push(report),
            Err(e) => {
                debug!(agent = %name, error = %e, "preflight probe failed");
                if let Some(a) = registry.get(&name) {
                    reports.push(missing_report(a));
                }
            }
        }
    }
    reports
}

fn missing_report(adapter: &Adapter) -> PreflightReport {
    PreflightReport {
        name: adapter.name.clone(),
        display_name: adapter.display_name.clone(),
        installed: false,
        path: None,
        version: None,
        auth: AuthReport { status: AuthStatus::Unknown, env: vec![], login_files: vec![] },
        install_hint: adapter.probe.install_hint.clone(),
        docs_url: adapter.probe.docs_url.clone(),
    }
}

async fn probe_adapter(adapter: Adapter, env: Arc<PreflightEnv>) -> PreflightReport {
    let binary = probe_binary(&adapter, env.shell.as_deref());
    let files_env = Arc::clone(&env);
    let probe = adapter.probe.clone();
    let lookup = binary.clone();
    // PATH lookup and login-file checks touch the filesystem: off the async workers.
    let (path, auth) = tokio::task::spawn_blocking(move || {
        let path = lookup.and_then(|b| find_on_path(&b, files_env.path.as_deref()));
        let home = files_env.home.as_deref();
        let auth = auth_report(
            &probe,
            |name| files_env.credentials_set.contains(name),
            |file| expand_home(file, home).is_some_and(|p| p.exists()),
        );
        (path, auth)
    })
    .await
    .unwrap_or_else(|_| (None, AuthReport { status: AuthStatus::Unknown, env: vec![], login_files: vec![] }));
    let version = match &path {
        Some(p) => run_version(p, &adapter.probe.version_args, &env).await,
        None => None,
    };
    debug!(
        binary = binary.as_deref().unwrap_or(""),
        installed = path.is_some(),
        version = version.as_deref().unwrap_or(""),
        auth = ?auth.status,
        auth_env = ?auth.env,
        login_files = ?auth.login_files,
        "probed"
    );
    let mut report = missing_report(&adapter);
    report.installed = path.is_some();
    report.path = path.map(|p| p.display().to_string());
    report.version = version;
    report.auth = auth;
    report
}

/// The binary to look for: the manifest's `[preflight] binary`, else — for adapters that
/// run the caller's shell — the program [`Adapter::agent_launch`] would start.
pub fn probe_binary(adapter: &Adapter, shell: Option<&str>) -> Option<String> {
    adapter.probe.binary.clone().or_else(|| Some(adapter.agent_launch(shell).program)).filter(|b| !b.is_empty())
}

/// Where `binary` is: itself when it contains a `/`, else the first executable file
/// of that name in the directories of `path` (empty entries are skipped).
pub fn find_on_path(binary: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `~/x` and `~` under `home`; other paths unchanged; `None` for `~/…` without a home.
pub fn expand_home(file: &str, home: Option<&Path>) -> Option<PathBuf> {
    match file.strip_prefix('~') {
        Some("") => home.map(Path::to_path_buf),
        Some(rest) if rest.starts_with('/') => home.map(|h| h.join(rest.trim_start_matches('/'))),
        _ => Some(PathBuf::from(file)),
    }
}

/// Which of `probe`'s credential variables are set and login files exist, given the two
/// presence tests. `Unknown` when the probe names neither variables nor files.
pub fn auth_report(
    probe: &Probe,
    env_is_set: impl Fn(&str) -> bool,
    login_file_exists: impl Fn(&str) -> bool,
) -> AuthReport {
    let env: Vec<String> = probe.auth_env.iter().filter(|v| env_is_set(v)).cloned().collect();
    let login_files: Vec<String> = probe.login_files.iter().filter(|f| login_file_exists(f)).cloned().collect();
    let status = if !env.is_empty() || !login_files.is_empty() {
        AuthStatus::Present
    } else if probe.auth_env.is_empty() && probe.login_files.is_empty() {
        AuthStatus::Unknown
    } else {
        AuthStatus::Absent
    };
    AuthReport { status, env, login_files }
}

/// The version in `--version` output: stdout first, then stderr. Output of a command
/// that failed is ignored.
pub fn version_from_output(success: bool, stdout: &[u8], stderr: &[u8]) -> Option<String> {
    if !success {
        return None;
    }
    [stdout, stderr].into_iter().find_map(|bytes| {
        let bytes = &bytes[..bytes.len().min(VERSION_OUTPUT_MAX)];
        warden_adapters::select::parse_version(&String::from_utf8_lossy(bytes))
    })
}

/// Runs `<binary> <args>` as `--version`; any failure is `None`.
async fn run_version(binary: &Path, args: &[String], env: &PreflightEnv) -> Option<String> {
    let out = run_capture(binary, args, env).await?;
    version_from_output(out.status.success(), &out.stdout, &out.stderr)
}

/// Runs `<binary> <args>` the way probes run: stdin null, environment cleared except
/// `PATH`, `HOME` and `LANG`, its own process group, killed with its group after
/// [`PreflightEnv::version_timeout`]. `None` when it did not start or finish in time.
pub(crate) async fn run_capture(binary: &Path, args: &[String], env: &PreflightEnv) -> Option<std::process::Output> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(p) = &env.path {
        cmd.env("PATH", p);
    }
    if let Some(h) = &env.home {
        cmd.env("HOME", h);
    }
    if let Some(l) = &env.lang {
        cmd.env("LANG", l);
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "probe command did not start");
            return None;
        }
    };
    let pid = child.id();
    match tokio::time::timeout(env.version_timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Some(out),
        Ok(Err(e)) => {
            debug!(error = %e, "probe command failed");
            None
        }
        Err(_) => {
            // The future owned the child; kill what it may have left behind.
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                crate::sys::signal_group(pid, libc::SIGKILL);
            }
            debug!(timeout_ms = env.version_timeout.as_millis() as u64, "probe command timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(auth_env: &[&str], login_files: &[&str]) -> Probe {
        Probe {
            agent: "x".into(),
            binary: Some("x".into()),
            version_args: vec!["--version".into()],
            help_args: vec!["--help".into()],
            auth_env: auth_env.iter().map(|s| s.to_string()).collect(),
            login_files: login_files.iter().map(|s| s.to_string()).collect(),
            install_hint: "install x".into(),
            docs_url: String::new(),
        }
    }

    #[test]
    fn home_is_expanded_only_at_the_start() {
        let home = Path::new("/home/u");
        assert_eq!(expand_home("~/.codex/auth.json", Some(home)), Some(PathBuf::from("/home/u/.codex/auth.json")));
        assert_eq!(expand_home("~", Some(home)), Some(PathBuf::from("/home/u")));
        assert_eq!(expand_home("/etc/x", Some(home)), Some(PathBuf::from("/etc/x")));
        assert_eq!(expand_home("~/.x", None), None);
        assert_eq!(expand_home("~other/x", Some(home)), Some(PathBuf::from("~other/x")));
    }

    #[test]
    fn auth_is_present_absent_or_unknown() {
        let p = probe(&["GEMINI_API_KEY", "GOOGLE_API_KEY"], &["~/.gemini/oauth_creds.json"]);
        let r = auth_report(&p, |v| v == "GOOGLE_API_KEY", |_| false);
        assert_eq!(r.status, AuthStatus::Present);
        assert_eq!(r.env, vec!["GOOGLE_API_KEY"]);
        assert_eq!(r.fact(), AuthFact::EnvVar("GOOGLE_API_KEY".into()));
        let r = auth_report(&p, |_| false, |f| f.ends_with("oauth_creds.json"));
        assert_eq!(
            (r.status, r.fact()),
            (AuthStatus::Present, AuthFact::LoginFile("~/.gemini/oauth_creds.json".into()))
        );
        let r = auth_report(&p, |_| false, |_| false);
        assert_eq!((r.status, r.fact()), (AuthStatus::Absent, AuthFact::None));
        let r = auth_report(&probe(&[], &[]), |_| true, |_| true);
        assert_eq!((r.status, r.fact()), (AuthStatus::Unknown, AuthFact::Unknown));
    }

    #[test]
    fn versions_come_from_successful_output() {
        assert_eq!(version_from_output(true, b"codex-cli 0.169.0\n", b"").as_deref(), Some("0.169.0"));
        assert_eq!(version_from_output(true, b"", b"aider 0.86.2").as_deref(), Some("0.86.2"));
        assert_eq!(version_from_output(false, b"1.2.3", b""), None);
        assert_eq!(version_from_output(true, b"no version", b""), None);
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn binaries_are_found_on_path_when_executable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = script(dir.path(), "agent", "true");
        std::fs::write(dir.path().join("plain"), "x").expect("write");
        let path = std::env::join_paths(["", "/nonexistent", &dir.path().display().to_string()]).expect("join");
        assert_eq!(find_on_path("agent", Some(&path)), Some(p.clone()));
        assert_eq!(find_on_path("plain", Some(&path)), None, "not executable");
        assert_eq!(find_on_path("missing", Some(&path)), None);
        assert_eq!(find_on_path(&p.display().to_string(), None), Some(p));
        assert_eq!(find_on_path("agent", None), None);
    }

    fn env_for(dir: &Path, timeout: Duration) -> PreflightEnv {
        PreflightEnv {
            path: Some(std::env::join_paths([dir, Path::new("/usr/bin"), Path::new("/bin")]).expect("join")),
            home: Some(dir.to_path_buf()),
            lang: None,
            shell: Some("/bin/sh".into()),
            credentials_set: ["OPENAI_API_KEY".to_string()].into(),
            version_timeout: timeout,
        }
    }

    #[tokio::test]
    async fn preflight_runs_versions_in_parallel_and_survives_hangs_and_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        script(dir.path(), "claude", "echo '9.8.7 (Claude Code)'");
        script(dir.path(), "codex", "exec sleep 30");
        script(dir.path(), "gemini", "echo 1.2.3; exit 1");
        script(dir.path(), "aider", "exec sleep 30");
        std::fs::create_dir_all(dir.path().join(".claude")).expect("mkdir");
        std::fs::write(dir.path().join(".claude/.credentials.json"), "{}").expect("write");
        let env = env_for(dir.path(), Duration::from_millis(800));
        let started = std::time::Instant::now();
        let reports = preflight_report(Registry::builtin(), &env).await;
        assert!(started.elapsed() < Duration::from_secs(4), "hung probes ran in parallel: {:?}", started.elapsed());
        let by = |n: &str| reports.iter().find(|r| r.name == n).expect(n);
        let claude = by("claude");
        assert!(claude.installed);
        assert_eq!(claude.version.as_deref(), Some("9.8.7"));
        assert_eq!(claude.auth.login_files, vec!["~/.claude/.credentials.json"]);
        let codex = by("codex");
        assert!(codex.installed && codex.version.is_none(), "hang gives no version: {codex:?}");
        assert_eq!(codex.auth.env, vec!["OPENAI_API_KEY"]);
        assert!(by("gemini").installed && by("gemini").version.is_none(), "failure gives no version");
        assert_eq!(by("gemini").auth.status, AuthStatus::Absent);
        let shell = by("shell");
        assert_eq!((shell.path.as_deref(), shell.auth.status), (Some("/bin/sh"), AuthStatus::Unknown));
        let facts = preflight(Registry::builtin(), &env).await;
        assert_eq!(facts.len(), Registry::builtin().adapters().len());
        assert_eq!(facts[0].auth, AuthFact::LoginFile("~/.claude/.credentials.json".into()));
    }

    #[test]
    fn selection_facts_see_binaries_and_logins_without_running_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A `--version` that would hang: selection never runs it.
        script(dir.path(), "claude", "exec sleep 30");
        std::fs::create_dir_all(dir.path().join(".codex")).expect("mkdir");
        std::fs::write(dir.path().join(".codex/auth.json"), "{}").expect("write");
        let facts = selection_facts(Registry::builtin(), &env_for(dir.path(), Duration::from_secs(30)));
        let by = |n: &str| facts.iter().find(|f| f.name == n).expect(n);
        assert!(by("claude").installed && by("claude").version.is_none());
        assert_eq!(by("claude").auth, AuthFact::None);
        assert_eq!(by("codex").auth, AuthFact::EnvVar("OPENAI_API_KEY".into()));
        assert_eq!(by("shell").path.as_deref(), Some("/bin/sh"));
    }

    #[test]
    fn user_manifests_load_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("mine.toml");
        std::fs::write(&f, "name = \"mine\"\nprogram = \"mine-agent\"\n").expect("write");
        let r = registry_from_files(std::slice::from_ref(&f)).expect("loads");
        assert!(r.get("mine").is_some());
        let e = registry_from_files(&[dir.path().join("none.toml")]).expect_err("missing");
        assert!(e.to_string().contains("cannot read adapter manifest"), "{e}");
    }
}
