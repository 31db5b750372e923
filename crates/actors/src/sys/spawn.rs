//! Starting a child on a fresh PTY.
//!
//! portable-pty opens the PTY pair; the child is started here with
//! `std::process::Command` rather than portable-pty's `spawn_command`, because
//! warden needs what that does not give: a parent-death signal (an agent dies
//! with warden, even on SIGKILL), exec failures reported as errors (portable-pty
//! closes std's error pipe), no allocation and no fd walk in the forked child,
//! and an environment built from scratch.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use portable_pty::{MasterPty, PtySize, native_pty_system};
use warden_core::TermSize;

/// What to start.
pub(crate) struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub size: TermSize,
}

/// A started child and the master side of its terminal.
pub(crate) struct Spawned {
    pub child: Child,
    pub pidfd: OwnedFd,
    pub master: Box<dyn MasterPty + Send>,
}

/// Why a spawn failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnFailure {
    #[error("could not open a pseudo-terminal: {0}")]
    Pty(String),
    #[error("{0}")]
    Exec(io::Error),
}

pub(crate) fn pty_size(size: TermSize) -> PtySize {
    PtySize { rows: size.rows, cols: size.cols, pixel_width: 0, pixel_height: 0 }
}

/// Starts `req` as the leader of a new session whose controlling terminal is
/// a new PTY.
pub(crate) fn spawn_on_pty(req: &SpawnRequest) -> Result<Spawned, SpawnFailure> {
    let pair = native_pty_system().openpty(pty_size(req.size)).map_err(|e| SpawnFailure::Pty(e.to_string()))?;
    let tty = pair.master.tty_name().ok_or_else(|| SpawnFailure::Pty("the PTY has no name".into()))?;
    // Our own descriptor of the slave side (O_CLOEXEC is std's default); the
    // child gets it as fds 0-2, and both copies are closed in the parent after
    // the spawn so that EOF on the master means every writer is gone.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&tty)
        .map_err(|e| SpawnFailure::Pty(format!("open {}: {e}", tty.display())))?;
    drop(pair.slave);
    let stdio = |f: &std::fs::File| f.try_clone().map(Stdio::from).map_err(SpawnFailure::Exec);

    let mut cmd = Command::new(&req.program);
    cmd.args(&req.args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&req.cwd)
        .stdin(stdio(&slave)?)
        .stdout(stdio(&slave)?)
        .stderr(stdio(&slave)?);
    let parent = crate::sys::my_pid();
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setsid, ioctl, prctl, getppid, signal,
    // syscall, _exit); it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Die with warden. The signal is tied to the spawning thread,
            // which is the reactor thread that lives as long as warden.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            // Dispositions the embedding process may have set to "ignore"
            // would survive exec; agents expect the defaults.
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGPIPE,
                libc::SIGCHLD,
                libc::SIGTSTP,
                libc::SIGTTIN,
                libc::SIGTTOU,
                libc::SIGALRM,
                libc::SIGUSR1,
                libc::SIGUSR2,
                libc::SIGWINCH,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            // Leak no descriptor of the embedding process into the agent, but
            // mark them close-on-exec instead of closing them, so that std's
            // own pipe still reports a failed exec.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(SpawnFailure::Exec)?;
    drop(slave);
    let pidfd = match crate::sys::pidfd_open(child.id()) {
        Ok(fd) => fd,
        Err(e) => {
            crate::sys::signal_pid(child.id() as i32, libc::SIGKILL);
            let mut child = child;
            let _ = child.wait();
            return Err(SpawnFailure::Exec(e));
        }
    };
    let master = pair.master;
    if let Some(fd) = master.as_raw_fd() {
        crate::sys::set_nonblocking(fd).map_err(|e| SpawnFailure::Pty(format!("non-blocking master: {e}")))?;
    }
    Ok(Spawned { child, pidfd, master })
}

/// Finds `program` the way a shell would: a name with a slash is taken as a
/// path; otherwise each directory of `path_var` is tried. The result must be
/// an executable regular file.
pub(crate) fn resolve_program(program: &str, path_var: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    let executable =
        |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if program.contains('/') {
        let p = if Path::new(program).is_absolute() { PathBuf::from(program) } else { cwd.join(program) };
        return executable(&p).then_some(p);
    }
    let path_var = path_var.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path_var.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(program)).find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_through_path_and_rejects_missing() {
        let cwd = std::env::temp_dir();
        assert!(resolve_program("sh", Some("/nonexistent:/bin:/usr/bin"), &cwd).is_some());
        assert!(resolve_program("definitely-not-a-program-xyz", Some("/bin:/usr/bin"), &cwd).is_none());
        assert!(resolve_program("/bin/sh", None, &cwd).is_some());
        assert!(resolve_program("/etc/hostname", None, &cwd).is_none(), "not executable");
        assert!(resolve_program("/tmp", None, &cwd).is_none(), "a directory");
    }
}
