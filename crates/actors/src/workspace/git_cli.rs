//! The `git` program, for network operations (clone from URL, fetch, push).
//!
//! git2 0.21 has no HTTPS/SSH transports by default, and the `git` program
//! already honours users' SSH config, agents, proxies and credential
//! helpers. Calls are synchronous (the engine runs on a blocking thread),
//! bounded by a timeout that kills the whole process group.
//!
//! Credentials: an HTTPS token travels only in the child's environment
//! (`WARDEN_GIT_TOKEN`) and is handed to git by an inline credential helper
//! scoped to the remote's scheme and host; it is never in argv, a URL or a
//! config file. `GIT_TERMINAL_PROMPT=0` makes a missing credential fail fast.
//!
//! Containment: every `git` child gets the parent-death signal and is always
//! waited for (also on the timeout path). Automatic maintenance runs in the
//! foreground (`gc.autoDetach=false`, `maintenance.autoDetach=false`), so git
//! waits for it instead of leaving a detached daemon behind — under a warden
//! that is the subreaper such daemons came back to warden and stayed zombies.
//! Whatever a run still leaves behind (it carries the run's marker
//! `WARDEN_GIT_RUN=<id>` in its environment) is killed and reaped when the
//! run ends.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::workspace::error::WorkspaceError;
use warden_core::workspace::redact::{Redactor, Secret};

/// Environment variable marking every process of one `git` run.
pub const RUN_ENV: &str = "WARDEN_GIT_RUN";

/// How long the end of a run waits for its killed leftovers to be reaped.
const LEFTOVER_REAP: Duration = Duration::from_secs(2);

/// Environment variable through which the token reaches the helper.
pub const TOKEN_ENV: &str = "WARDEN_GIT_TOKEN";

/// The helper: answers `get` with the token from the environment.
const HELPER: &str =
    "!f(){ test \"$1\" = get || exit 0; echo username=x-access-token; echo \"password=$WARDEN_GIT_TOKEN\"; }; f";

/// Environment variables removed from every git child: curl's verbose
/// output prints protocol data, and inherited repository pointers would
/// redirect git.
const SCRUBBED_ENV: &[&str] =
    &["GIT_CURL_VERBOSE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", TOKEN_ENV];

/// The prefix of git's tracing variables (`GIT_TRACE`, `GIT_TRACE_CURL`,
/// `GIT_TRACE_PACKET`, `GIT_TRACE2_EVENT`, `GIT_TRACE2_ENV_VARS`, …), all
/// removed from every git child: a trace prints protocol data, and trace2
/// prints the environment variables it is told to, the token's among them.
const TRACE_PREFIX: &str = "GIT_TRACE";

/// trace2's targets, set to `0` (off) in every git child: the user's git
/// config may turn trace2 on too (`trace2.normalTarget`, `trace2.envVars`),
/// and these variables take precedence over it.
const TRACE2_TARGETS: &[&str] = &["GIT_TRACE2", "GIT_TRACE2_EVENT", "GIT_TRACE2_PERF"];

/// How to run `git`.
#[derive(Debug, Clone)]
pub struct GitCli {
    /// The program (default `git`, found on `PATH`).
    pub program: PathBuf,
    /// Limit for one network operation.
    pub timeout: Duration,
    /// Token for HTTPS remotes, if any.
    pub token: Option<Secret>,
    /// Extra environment for the child (tests use it for `HOME`).
    pub extra_env: Vec<(OsString, OsString)>,
}

impl Default for GitCli {
    fn default() -> Self {
        Self { program: PathBuf::from("git"), timeout: Duration::from_secs(600), token: None, extra_env: Vec::new() }
    }
}

/// Output of a successful git run.
#[derive(Debug, Clone)]
pub struct GitOutput {
    /// Standard output (UTF-8, lossy).
    pub stdout: String,
    /// Standard error (UTF-8, lossy), redacted.
    pub stderr: String,
}

impl GitCli {
    /// Run `git <args>` in `cwd`. `remote_url` (if given and HTTP(S)) scopes
    /// the token helper to that remote's origin. Errors are redacted and
    /// classified as [`WorkspaceError::Network`] (or `Conflict` for a
    /// rejected push).
    pub fn run(
        &self,
        cwd: &Path,
        args: &[&str],
        remote_url: Option<&str>,
        redactor: &Redactor,
    ) -> Result<GitOutput, WorkspaceError> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("--no-optional-locks");
        cmd.arg("-c").arg("gc.autoDetach=false").arg("-c").arg("maintenance.autoDetach=false");
        cmd.current_dir(cwd);
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        for (k, _) in std::env::vars_os().filter(|(k, _)| k.as_encoded_bytes().starts_with(TRACE_PREFIX.as_bytes())) {
            cmd.env_remove(k);
        }
        for k in TRACE2_TARGETS {
            cmd.env(k, "0");
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_TRACE_REDACT", "1").env("LC_ALL", "C");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        if let (Some(token), Some(scope)) = (&self.token, remote_url.and_then(http_origin)) {
            // An empty helper first clears inherited helpers (so no other
            // helper stores the token), then ours answers for this origin.
            cmd.arg("-c").arg("credential.helper=");
            cmd.arg("-c").arg(format!("credential.{scope}.helper={HELPER}"));
            cmd.env(TOKEN_ENV, token.expose());
        }
        cmd.args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Own process group, so a timeout can kill git's helpers too.
        cmd.process_group(0);
        let run_marker = format!("{RUN_ENV}={}", uuid::Uuid::now_v7());
        if let Some((k, v)) = run_marker.split_once('=') {
            cmd.env(k, v);
        }
        crate::sys::die_with_parent(&mut cmd);

        let what = format!("git {}", args.first().copied().unwrap_or(""));
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| WorkspaceError::io(format!("starting {}", self.program.display()), e))?;
        // Not reaped yet, so its stat is there and its pid not reused.
        let since = crate::sys::procs::stat_of(child.id() as i32).map_or(0, |p| p.start);
        let result = self.wait_for(child, started, &what, redactor);
        let left = crate::sys::procs::end_marked(run_marker.as_bytes(), since, LEFTOVER_REAP);
        if left > 0 {
            tracing::debug!(op = %what, killed = left, "ended processes a git run left behind");
        }
        result
    }

    /// Collects the output of a started `git` and waits for it; on timeout
    /// kills its process group and still waits.
    fn wait_for(
        &self,
        mut child: std::process::Child,
        started: Instant,
        what: &str,
        redactor: &Redactor,
    ) -> Result<GitOutput, WorkspaceError> {
        let what = what.to_string();
        let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
        for (is_out, pipe) in [
            (true, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
            (false, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        ] {
            let tx = tx.clone();
            if let Some(mut pipe) = pipe {
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let _ = pipe.read_to_end(&mut buf);
                    let _ = tx.send((is_out, buf));
                });
            }
        }
        drop(tx);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let deadline = started + self.timeout;
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, b)) => stdout = b,
                Ok((false, b)) => stderr = b,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    kill_group(child.id());
                    let _ = child.wait();
                    tracing::warn!(op = %what, timeout_s = self.timeout.as_secs(), "git timed out; killed");
                    return Err(WorkspaceError::Timeout { what, secs: self.timeout.as_secs() });
                }
            }
        }
        let status = child.wait().map_err(|e| WorkspaceError::io(format!("waiting for {what}"), e))?;
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = redactor.redact(&String::from_utf8_lossy(&stderr));
        tracing::debug!(op = %what, elapsed_ms = started.elapsed().as_millis() as u64, ok = status.success(), "git finished");
        if status.success() {
            return Ok(GitOutput { stdout, stderr });
        }
        let message = summarise(&stderr, &redactor.redact(&stdout), status.code());
        // `git clone --branch nosuch`: the request named what the remote lacks.
        if stderr.contains("not found in upstream") || stderr.contains("couldn't find remote ref") {
            return Err(WorkspaceError::RefNotFound { what: message });
        }
        if stdout.contains("[rejected]") || stderr.contains("[rejected]") || stderr.contains("non-fast-forward") {
            Err(WorkspaceError::Conflict { message })
        } else {
            Err(WorkspaceError::Network { message })
        }
    }
}

/// `scheme://host[:port]` of an HTTP(S) URL, for scoping the credential helper.
pub fn http_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    if host.is_empty() {
        return None;
    }
    Some(format!("{}://{host}", scheme.to_ascii_lowercase()))
}

fn summarise(stderr: &str, stdout: &str, code: Option<i32>) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines().filter(|l| l.starts_with('!')))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .collect();
    let tail = lines[lines.len().saturating_sub(6)..].join("; ");
    match code {
        Some(c) => format!("exit {c}: {tail}"),
        None => format!("killed by signal: {tail}"),
    }
}

fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // The child is not yet reaped, so its pid (= process-group id) cannot
    // have been reused.
    crate::sys::signal_group(pgid, libc::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(http_origin("https://github.com/o/r.git").as_deref(), Some("https://github.com"));
        assert_eq!(http_origin("http://127.0.0.1:8080/r").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(http_origin("git@github.com:o/r.git"), None);
        assert_eq!(http_origin("/srv/repo.git"), None);
    }
}
