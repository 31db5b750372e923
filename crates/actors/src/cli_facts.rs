//! What the installed CLI accepts: its version (`--version`) and usage text
//! (`--help`), learned once per binary and cached under
//! `<state_dir>/cache/cli/<hash>.json`, keyed by the binary's real path, size and
//! modification time and the arguments that ask — an upgrade (a new file) is probed
//! again, an unchanged binary never twice.
//!
//! The commands run as preflight's `--version` does ([`crate::preflight`]): stdin
//! null, environment cleared except `PATH`, `HOME` and `LANG`, killed after the
//! timeout. What could not be learned is `None` ([`CliFacts`]); presets are then
//! launched with their own flags, and a CLI that rejects them ends with the
//! launch-rejected verdict.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{Instrument, debug, info_span};
use warden_adapters::{CliFacts, Probe};

use crate::preflight::{PreflightEnv, run_capture, version_from_output};

/// How long `--version` and `--help` may take here: longer than a listing's
/// preflight, since a launch waits for them once per binary (Node CLIs on a busy
/// machine take several seconds to start).
pub const FACTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Most bytes of `--help` output kept.
pub const HELP_OUTPUT_MAX: usize = 256 * 1024;

/// The cache directory under a state directory.
pub fn cache_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("cache").join("cli")
}

/// One cached probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    path: String,
    args: Vec<Vec<String>>,
    size: u64,
    mtime_ns: i128,
    version: Option<String>,
    help: Option<String>,
}

/// What identifies one build of a binary: its real path, size and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    path: String,
    /// The version and help arguments.
    args: Vec<Vec<String>>,
    size: u64,
    mtime_ns: i128,
}

fn identity(binary: &Path, probe: &Probe) -> Option<Identity> {
    let real = std::fs::canonicalize(binary).ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    let mtime = meta.modified().ok()?;
    let mtime_ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let args = vec![probe.version_args.clone(), probe.help_args.clone()];
    Some(Identity { path: real.display().to_string(), args, size: meta.len(), mtime_ns })
}

/// FNV-1a 64 of the path and the arguments: the cache file's name.
fn file_name(id: &Identity) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = std::iter::once(id.path.as_str()).chain(id.args.iter().flatten().map(String::as_str));
    for b in parts.flat_map(|p| p.bytes().chain([0])) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}.json")
}

fn read_cache(dir: &Path, id: &Identity) -> Option<CliFacts> {
    let text = std::fs::read(dir.join(file_name(id))).ok()?;
    let c: Cached = serde_json::from_slice(&text).ok()?;
    (c.path == id.path && c.args == id.args && c.size == id.size && c.mtime_ns == id.mtime_ns)
        .then_some(CliFacts { version: c.version, help: c.help })
}

fn write_cache(dir: &Path, id: &Identity, facts: &CliFacts) {
    let c = Cached {
        path: id.path.clone(),
        args: id.args.clone(),
        size: id.size,
        mtime_ns: id.mtime_ns,
        version: facts.version.clone(),
        help: facts.help.clone(),
    };
    let Ok(json) = serde_json::to_vec(&c) else { return };
    let target = dir.join(file_name(id));
    let tmp = target.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&tmp, json))
        .and_then(|_| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        debug!(error = %e, dir = %dir.display(), "cli facts not cached");
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The text of `--help` output: stdout, else stderr, at most [`HELP_OUTPUT_MAX`]
/// bytes (cut on a character boundary); `None` when both are empty, or when the text
/// is not a usage text (every captured CLI's says `usage`: a wrapper script that
/// echoes its arguments is no evidence of what the CLI takes).
pub fn help_from_output(stdout: &[u8], stderr: &[u8]) -> Option<String> {
    let bytes = if stdout.iter().any(|b| !b.is_ascii_whitespace()) { stdout } else { stderr };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let head = &bytes[..bytes.len().min(HELP_OUTPUT_MAX)];
    if !head.windows(5).any(|w| w.eq_ignore_ascii_case(b"usage")) {
        return None;
    }
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(HELP_OUTPUT_MAX)]).into_owned();
    if text.len() > HELP_OUTPUT_MAX {
        let mut cut = HELP_OUTPUT_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Some(text)
}

/// The version and `--help` text of the CLI at `binary` (as `probe` says to ask for
/// them), from the cache under `cache` when the binary is unchanged, else by running
/// both (at once) and caching the answer. Never fails: what cannot be learned is
/// `None`.
pub async fn learn(binary: &Path, probe: &Probe, env: &PreflightEnv, cache: Option<&Path>) -> CliFacts {
    let span = info_span!("cli_facts", agent = %probe.agent, binary = %binary.display());
    async {
        let bin = binary.to_path_buf();
        let dir = cache.map(Path::to_path_buf);
        let asked = probe.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let id = identity(&bin, &asked)?;
            let hit = dir.as_deref().and_then(|d| read_cache(d, &id));
            Some((id, hit))
        })
        .await
        .ok()
        .flatten();
        let id = match looked {
            Some((_, Some(facts))) => {
                debug!(version = facts.version.as_deref().unwrap_or(""), "cli facts from the cache");
                return facts;
            }
            Some((id, None)) => Some(id),
            None => None,
        };
        let (version, help) =
            tokio::join!(run_capture(binary, &probe.version_args, env), run_capture(binary, &probe.help_args, env));
        let facts = CliFacts {
            version: version.and_then(|o| version_from_output(o.status.success(), &o.stdout, &o.stderr)),
            help: help.and_then(|o| help_from_output(&o.stdout, &o.stderr)),
        };
        debug!(
            version = facts.version.as_deref().unwrap_or(""),
            help_bytes = facts.help.as_ref().map_or(0, String::len),
            "cli facts learned"
        );
        if let (Some(id), Some(dir)) = (id, cache) {
            let (dir, facts) = (dir.to_path_buf(), facts.clone());
            let _ = tokio::task::spawn_blocking(move || write_cache(&dir, &id, &facts)).await;
        }
        facts
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    fn probe() -> Probe {
        Probe {
            agent: "x".into(),
            binary: Some("x".into()),
            version_args: vec!["--version".into()],
            help_args: vec!["--help".into()],
            auth_env: vec![],
            login_files: vec![],
            install_hint: String::new(),
            docs_url: String::new(),
        }
    }

    fn env(dir: &Path) -> PreflightEnv {
        PreflightEnv {
            path: Some(std::env::join_paths([Path::new("/usr/bin"), Path::new("/bin")]).expect("join")),
            home: Some(dir.to_path_buf()),
            lang: None,
            shell: None,
            credentials_set: Default::default(),
            version_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn facts_are_learned_once_per_binary_and_again_after_it_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = dir.path().join("runs");
        let body = format!(
            "echo run >> {c}\ncase \"$1\" in --version) echo '2.1.197 (Fake)';; --help) echo 'Usage: x --permission-mode <default|plan>' >&2; exit 1;; esac",
            c = count.display()
        );
        let bin = script(dir.path(), "x", &body);
        let cache = dir.path().join("cache");
        let f = learn(&bin, &probe(), &env(dir.path()), Some(&cache)).await;
        assert_eq!(f.version.as_deref(), Some("2.1.197"));
        assert!(f.help.as_deref().is_some_and(|h| h.contains("<default|plan>")), "help from stderr: {f:?}");
        let again = learn(&bin, &probe(), &env(dir.path()), Some(&cache)).await;
        assert_eq!(again, f);
        assert_eq!(std::fs::read_to_string(&count).expect("runs").lines().count(), 2, "the second time from the cache");
        // An upgrade: another size and mtime.
        std::thread::sleep(Duration::from_millis(20));
        script(dir.path(), "x", &body.replace("2.1.197", "2.1.332"));
        let upgraded = learn(&bin, &probe(), &env(dir.path()), Some(&cache)).await;
        assert_eq!(upgraded.version.as_deref(), Some("2.1.332"));
        assert_eq!(std::fs::read_to_string(&count).expect("runs").lines().count(), 4);
        // Other arguments ask another question: not answered from the cache.
        let other = Probe { help_args: vec!["-h".into()], ..probe() };
        let asked_otherwise = learn(&bin, &other, &env(dir.path()), Some(&cache)).await;
        assert_eq!(asked_otherwise.help, None);
        assert_eq!(std::fs::read_to_string(&count).expect("runs").lines().count(), 6);
    }

    #[tokio::test]
    async fn a_binary_that_prints_nothing_gives_unknown_facts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = script(dir.path(), "x", "exit 3");
        let f = learn(&bin, &probe(), &env(dir.path()), None).await;
        assert_eq!(f, CliFacts::unknown());
        assert_eq!(help_from_output(b"  \n", b""), None);
        assert_eq!(help_from_output(b"", b"usage: x").as_deref(), Some("usage: x"));
        assert_eq!(help_from_output(b"fake-claude --help\n", b""), None, "not a usage text");
    }
}
