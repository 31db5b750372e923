//! Starting a child on a fresh PTY (see [`spawn_on_pty`]).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use portable_pty::{MasterPty, PtySize, native_pty_system};
use warden_core::TermSize;

/// What to start.
#[derive(Clone)]
pub(crate) struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    pub size: TermSize,
}

/// A started child and the master side of its terminal.
pub(crate) struct Spawned {
    pub child: ChildProc,
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

/// A child process started by [`spawn_on_pty`]; reaped only through
/// [`ChildProc::try_wait`] / [`ChildProc::wait`] (never `waitpid(-1)`, which
/// would steal the statuses of an embedding program's own children).
#[derive(Debug)]
pub(crate) struct ChildProc {
    pid: i32,
    status: Option<ExitStatus>,
}

impl ChildProc {
    pub(crate) fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the child has exited (reaps it).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_with(libc::WNOHANG)
    }

    /// Blocks until the child exits.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        self.wait_with(0)?.ok_or_else(|| io::Error::other("waitpid returned no status"))
    }

    fn wait_with(&mut self, flags: i32) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child with a valid out pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                let s = ExitStatus::from_raw(status);
                self.status = Some(s);
                return Ok(Some(s));
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Everything the child needs, prepared by the parent: the child runs in the
/// parent's memory (`CLONE_VM`) until it execs, so it must not allocate.
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// `/bin/sh` and `[sh, path, args…]`: what runs a file the kernel cannot
    /// execute (`ENOEXEC`: a script without `#!`), as `execvp` and shells do.
    sh: *const libc::c_char,
    sh_argv: *const *const libc::c_char,
    cwd: *const libc::c_char,
    slave: RawFd,
    /// `cgroup.procs` of the cgroup the child joins, or -1.
    cgroup_procs: RawFd,
    parent: libc::pid_t,
    /// errno of the step that failed, written by the child before `_exit`.
    err: libc::c_int,
}

/// The child side of [`spawn_on_pty`]: becomes a session leader with the PTY
/// as its controlling terminal, asks to die with its parent, restores default
/// signal handling, and execs. Runs on its own stack in the parent's memory
/// while the parent is suspended (`CLONE_VFORK`): only raw system calls here.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent keeps alive (and does not
    // touch) until this child has exec'd or exited.
    unsafe {
        let a = &mut *(arg as *mut ChildArgs);
        let fail = |a: &mut ChildArgs| -> ! {
            a.err = *libc::__errno_location();
            libc::_exit(127)
        };
        // Default dispositions for everything the parent handles (not just
        // ignores): the parent's handlers make no sense in the agent.
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // Join the session's cgroup before anything runs: what the agent
        // starts is then born inside it.
        if a.cgroup_procs >= 0 && libc::write(a.cgroup_procs, b"0".as_ptr().cast(), 1) != 1 {
            fail(a);
        }
        if libc::setsid() < 0 {
            fail(a);
        }
        if libc::ioctl(a.slave, libc::TIOCSCTTY as _, 0) < 0 {
            fail(a);
        }
        for fd in 0..3 {
            if libc::dup2(a.slave, fd) < 0 {
                fail(a);
            }
        }
        if a.slave > 2 {
            libc::close(a.slave);
        }
        if libc::chdir(a.cwd) < 0 {
            fail(a);
        }
        // Die with warden. The signal is tied to the spawning thread, which is
        // the reactor thread that lives as long as warden.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
            fail(a);
        }
        if libc::getppid() != a.parent {
            libc::_exit(137);
        }
        // Leak no descriptor of the embedding process into the agent.
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC);
        libc::execve(a.path, a.argv, a.envp);
        if *libc::__errno_location() == libc::ENOEXEC {
            libc::execve(a.sh, a.sh_argv, a.envp);
        }
        fail(a)
    }
}

/// Stack the child runs on until it execs; reused for every spawn of a
/// reactor (spawns are serial, and the parent waits for each exec).
pub(crate) struct ChildStack(Box<[u8]>);

impl ChildStack {
    pub(crate) fn new() -> Self {
        ChildStack(vec![0u8; 64 * 1024].into_boxed_slice())
    }
}

fn cstring(s: &[u8], what: &str) -> Result<CString, SpawnFailure> {
    CString::new(s).map_err(|_| {
        SpawnFailure::Exec(io::Error::new(io::ErrorKind::InvalidInput, format!("{what} contains a NUL byte")))
    })
}

/// Starts `req` as the leader of a new session whose controlling terminal is
/// a new PTY; with `cgroup_procs` (an open `cgroup.procs`), in that cgroup.
///
/// portable-pty opens the PTY pair; the child is started here rather than
/// with portable-pty's `spawn_command`, because warden needs what that does
/// not give: a parent-death signal (an agent dies with warden, even on
/// SIGKILL), exec failures reported as errors (portable-pty reports a failed
/// exec as a successful spawn), no fd walk, an environment built from
/// scratch, and a spawn cost that does not grow with warden's memory: like
/// glibc's `posix_spawn`, the child shares the parent's memory until it
/// execs (`clone(CLONE_VM | CLONE_VFORK)`), so no page table is copied.
pub(crate) fn spawn_on_pty(
    req: &SpawnRequest,
    stack: &mut ChildStack,
    cgroup_procs: Option<RawFd>,
) -> Result<Spawned, SpawnFailure> {
    let t0 = std::time::Instant::now();
    let pair = native_pty_system().openpty(pty_size(req.size)).map_err(|e| SpawnFailure::Pty(e.to_string()))?;
    let tty = pair.master.tty_name().ok_or_else(|| SpawnFailure::Pty("the PTY has no name".into()))?;
    // Our own descriptor of the slave side (close-on-exec); the child dups it
    // to fds 0-2, and the parent closes it after the spawn so that EOF on the
    // master means every writer is gone.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&tty)
        .map_err(|e| SpawnFailure::Pty(format!("open {}: {e}", tty.display())))?;
    drop(pair.slave);

    let t_pty = t0.elapsed();
    let path = cstring(req.program.as_os_str().as_bytes(), "program")?;
    let mut argv_c = vec![path.clone()];
    for a in &req.args {
        argv_c.push(cstring(a.as_bytes(), "argument")?);
    }
    let mut env_c = Vec::with_capacity(req.env.len());
    for (k, v) in &req.env {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        env_c.push(cstring(&kv, "environment")?);
    }
    let cwd = cstring(req.cwd.as_os_str().as_bytes(), "working directory")?;
    let argv: Vec<*const libc::c_char> =
        argv_c.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let sh = c"/bin/sh";
    let sh_argv: Vec<*const libc::c_char> = std::iter::once(sh.as_ptr())
        .chain(argv_c.iter().map(|c| c.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> =
        env_c.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let mut args = ChildArgs {
        path: path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        sh: sh.as_ptr(),
        sh_argv: sh_argv.as_ptr(),
        cwd: cwd.as_ptr(),
        slave: slave.as_raw_fd(),
        cgroup_procs: cgroup_procs.unwrap_or(-1),
        parent: crate::sys::my_pid(),
        err: 0,
    };

    let t_prep = t0.elapsed();
    let top = {
        let base = stack.0.as_mut_ptr() as usize;
        (base + stack.0.len()) & !0xf
    };
    // SAFETY: all signals are blocked around the clone so that no handler of
    // ours runs on the child's stack; the child only reads `args` and the
    // C strings, which outlive it (CLONE_VFORK suspends us until it execs or
    // exits), and writes `args.err`.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &mut args as *mut ChildArgs as *mut libc::c_void,
        );
        let clone_err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(SpawnFailure::Exec(clone_err));
        }
        pid
    };
    let t_clone = t0.elapsed();
    drop(slave);
    let mut child = ChildProc { pid, status: None };
    if args.err != 0 {
        let _ = child.wait();
        return Err(SpawnFailure::Exec(io::Error::from_raw_os_error(args.err)));
    }
    let pidfd = match crate::sys::pidfd_open(child.id()) {
        Ok(fd) => fd,
        Err(e) => {
            crate::sys::signal_pid(pid, libc::SIGKILL);
            let _ = child.wait();
            return Err(SpawnFailure::Exec(e));
        }
    };
    let master = pair.master;
    if let Some(fd) = master.as_raw_fd() {
        crate::sys::set_nonblocking(fd).map_err(|e| SpawnFailure::Pty(format!("non-blocking master: {e}")))?;
    }
    tracing::trace!(
        pty_us = t_pty.as_micros() as u64,
        prep_us = (t_prep - t_pty).as_micros() as u64,
        clone_us = (t_clone - t_prep).as_micros() as u64,
        post_us = (t0.elapsed() - t_clone).as_micros() as u64,
        "spawn phases"
    );
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
        let plain = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::set_permissions(plain.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let plain = plain.path().to_str().expect("utf8 path");
        assert!(resolve_program(plain, None, &cwd).is_none(), "not executable");
        assert!(resolve_program("/tmp", None, &cwd).is_none(), "a directory");
    }
}
