//! Thin, audited wrappers over the Unix calls warden needs (Linux).
//!
//! Everything `unsafe` in warden-actors lives below this module: spawning a
//! child on a PTY with its own session, pidfds, signals, the `/proc` scan
//! that finds every process a session started, and the subreaper bit.

pub(crate) mod cgroup;
pub(crate) mod procs;
pub(crate) mod spawn;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Opens a pidfd for `pid`: readable once the process has exited.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A close-on-exec duplicate of `fd`.
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller owns; the result,
    // when valid, is a new descriptor nothing else owns.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and is owned here alone.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) })
}

/// Puts an fd in non-blocking mode.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends `sig` to one process; a process that is already gone is not an error.
pub(crate) fn signal_pid(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill(2) with plain integers.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Sends `sig` to a process group.
pub(crate) fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid addresses the group.
        unsafe { libc::kill(-pgid, sig) };
    }
}

/// Reaps `pid` if it has exited; true when it is gone (reaped, or not our child).
pub(crate) fn try_reap(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on one specific pid, WNOHANG, with a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    r == pid || (r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Whether any child of this process has exited and waits to be reaped,
/// without reaping it (`waitid` with `WNOWAIT`): a cheap look before a
/// full scan of `/proc` for the zombies sessions' orphans leave.
pub(crate) fn any_zombie_child() -> bool {
    // SAFETY: an all-zero `siginfo_t` is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on any child, not blocking, not reaping, with a valid
    // out pointer.
    let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    // SAFETY: `si_pid` reads the field waitid fills (0 when no child has
    // changed state, as WNOHANG documents).
    r == 0 && unsafe { info.si_pid() } != 0
}

/// Gives the child of `cmd` the parent-death signal: it gets SIGKILL when the
/// thread that spawns it ends (`PR_SET_PDEATHSIG`), so a `git` that warden
/// started never outlives warden (even a SIGKILLed warden). The spawning
/// thread must wait for the child (as `GitCli::run` does), or the signal
/// fires when that thread ends.
pub(crate) fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = my_pid();
    // SAFETY: the closure runs in the child between fork and exec; it makes
    // only async-signal-safe calls (prctl, getppid) and does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nothing would
            // ever send the signal.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
}

/// Reaps each of `pids` that is (or becomes, before `deadline`) a zombie
/// child of this process; waits until each is reaped or gone from `/proc`
/// (a killed process may become our child only once its parent has died).
pub(crate) fn reap_until(pids: &[i32], deadline: std::time::Instant) {
    let mut left: Vec<i32> = pids.to_vec();
    loop {
        left.retain(|pid| {
            let mut status = 0;
            // SAFETY: waitpid on one specific pid, WNOHANG, valid out pointer.
            let r = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
            r != *pid && std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A child process that kills a cgroup tree when warden dies, however it
/// dies (see [`spawn_cgroup_keeper`]). Dropping it ends the keeper (which
/// then kills the tree: do so only when the tree should go) and reaps it.
pub(crate) struct CgroupKeeper {
    pid: i32,
    /// The write end of the keeper's pipe; the keeper wakes when it closes.
    alive: Option<OwnedFd>,
}

impl Drop for CgroupKeeper {
    fn drop(&mut self) {
        drop(self.alive.take());
        reap_until(&[self.pid], std::time::Instant::now() + std::time::Duration::from_millis(500));
    }
}

/// Forks a keeper for the cgroup `dir`: a process of its own session, moved
/// into `dir` itself (so a live instance's cgroup is never empty, and an
/// empty one is a dead instance's), holding nothing of warden but the read
/// end of a pipe and `dir/cgroup.kill`. It blocks in `read` until warden's
/// end of the pipe closes — when warden exits or is SIGKILLed — then writes
/// `1` to `cgroup.kill` (ending itself with the rest). So escapes from a
/// session (`setsid`, `env -i`, double forks) die with a SIGKILLed warden
/// too, not only at its next start.
pub(crate) fn spawn_cgroup_keeper(dir: &std::path::Path) -> io::Result<CgroupKeeper> {
    let kill = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.kill"))?;
    let procs = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned these fds; we own them.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: after fork the child of this multi-threaded process runs only
    // async-signal-safe system calls (signal, setsid, write, dup2,
    // close_range, read, _exit) on fds opened before the fork; it never
    // returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; only raw system calls until _exit.
        unsafe {
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGQUIT, libc::SIGPIPE, libc::SIGUSR1] {
                libc::signal(sig, libc::SIG_IGN);
            }
            libc::setsid();
            if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(1);
            }
            if libc::dup2(read_end.as_raw_fd(), 0) < 0 || libc::dup2(kill.as_raw_fd(), 1) < 0 {
                libc::_exit(1);
            }
            // Hold nothing else of warden: no lock, socket, terminal or pipe end.
            libc::syscall(libc::SYS_close_range, 2 as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint);
            let mut b = [0u8; 1];
            loop {
                let n = libc::read(0, b.as_mut_ptr().cast(), 1);
                if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
            libc::write(1, b"1".as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    drop(read_end);
    drop(kill);
    drop(procs);
    Ok(CgroupKeeper { pid, alive: Some(write_end) })
}

/// Makes this process the reaper of orphaned descendants (Linux
/// `PR_SET_CHILD_SUBREAPER`), so that processes an agent leaves behind are
/// re-parented to warden, which kills and reaps them, instead of to PID 1.
pub(crate) fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// This process's pid.
pub(crate) fn my_pid() -> i32 {
    std::process::id() as i32
}

/// Takes an exclusive, non-blocking `flock` on a file; false if another
/// process holds it.
pub(crate) fn try_lock_exclusive(file: &std::fs::File) -> io::Result<bool> {
    // SAFETY: flock on an fd owned by `file`.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(e) }
}

/// `read(2)` on a raw fd.
pub(crate) fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `buf.len()` bytes of writes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// `write(2)` on a raw fd.
pub(crate) fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `buf.len()` bytes of reads.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    /// An exited child that nobody has reaped yet is seen, and stays to be
    /// reaped (`WNOWAIT`): the reactor's look before its `/proc` scan.
    #[test]
    fn an_exited_child_is_seen_and_left_for_reaping() {
        let mut child = std::process::Command::new("true").spawn().expect("spawns");
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        while super::procs::stat_of(pid).is_none_or(|p| p.state != b'Z') {
            assert!(Instant::now() < deadline, "the child never exited");
            std::thread::yield_now();
        }
        assert!(super::any_zombie_child());
        // Still there to reap: the look did not take it.
        assert_eq!(super::procs::stat_of(pid).map(|p| p.state), Some(b'Z'));
        assert!(child.wait().expect("reaped").success());
    }
}
