//! Starting a child on a fresh PTY (see [`spawn_on_pty`]).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Started inside its cgroup by `clone3` (not moved there by itself).
    pub born_in_cgroup: bool,
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

/// The cgroup a child is started in: its directory (for `clone3`'s
/// `CLONE_INTO_CGROUP`) and its `cgroup.procs` open for writing (for the
/// fallback, where the child moves itself in before it execs).
#[derive(Clone, Copy)]
pub(crate) struct CgroupFds {
    pub dir: RawFd,
    pub procs: RawFd,
}

/// Starts `req` as the leader of a new session whose controlling terminal is
/// a new PTY; with `cgroup`, in that cgroup from its first instruction.
///
/// portable-pty opens the PTY pair; the child is started here rather than
/// with portable-pty's `spawn_command`, because warden needs what that does
/// not give: a parent-death signal (an agent dies with warden, even on
/// SIGKILL), exec failures reported as errors (portable-pty reports a failed
/// exec as a successful spawn), no fd walk, an environment built from
/// scratch, and a spawn cost that does not grow with warden's memory: like
/// glibc's `posix_spawn`, the child shares the parent's memory until it
/// execs (`clone(CLONE_VM | CLONE_VFORK)`), so no page table is copied.
///
/// The child is born in its cgroup (`clone3` with `CLONE_INTO_CGROUP`, see
/// [`clone3_vfork`]) where the kernel and the architecture allow; otherwise
/// it moves itself in before it execs. Moving a process takes the kernel's
/// cgroup migration lock for writing, which waits for an RCU grace period
/// whenever no migration happened shortly before: 5–30 ms on a VM, during
/// which this thread (the reactor, which serves every session) is suspended
/// by `CLONE_VFORK`. Born in place, no process is moved.
pub(crate) fn spawn_on_pty(
    req: &SpawnRequest,
    stack: &mut ChildStack,
    cgroup: Option<CgroupFds>,
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
        cgroup_procs: -1,
        parent: crate::sys::my_pid(),
        err: 0,
    };

    let t_prep = t0.elapsed();
    let base = stack.0.as_mut_ptr() as usize;
    let top = (base + stack.0.len()) & !0xf;
    let mut born_in_cgroup = false;
    // SAFETY: all signals are blocked around the clone so that no handler of
    // ours runs on the child's stack; the child only reads `args` and the
    // C strings, which outlive it (CLONE_VFORK suspends us until it execs or
    // exits), and writes `args.err`. The stack `base..top` is ours alone
    // until then.
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut pid = -1;
        if let Some(cg) = cgroup
            && !CLONE3_UNUSABLE.load(Ordering::Relaxed)
        {
            let arg = &mut args as *mut ChildArgs as *mut libc::c_void;
            match clone3_vfork(base, top - base, cg.dir, child_main, arg) {
                Ok(p) => {
                    pid = p;
                    born_in_cgroup = true;
                }
                Err(e) => {
                    // No clone3 (an old kernel, a seccomp filter that refuses
                    // it, another architecture) or no CLONE_INTO_CGROUP: the
                    // child moves itself in, now and from now on.
                    if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)) {
                        CLONE3_UNUSABLE.store(true, Ordering::Relaxed);
                    }
                    tracing::debug!(error = %e, "clone3 into the cgroup failed; the child joins it itself");
                }
            }
        }
        let mut clone_err = None;
        if pid < 0 {
            args.cgroup_procs = cgroup.map_or(-1, |cg| cg.procs);
            let arg = &mut args as *mut ChildArgs as *mut libc::c_void;
            pid = libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                arg,
            );
            clone_err = Some(io::Error::last_os_error());
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(SpawnFailure::Exec(clone_err.unwrap_or_else(io::Error::last_os_error)));
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
        born_in_cgroup,
        post_us = (t0.elapsed() - t_clone).as_micros() as u64,
        "spawn phases"
    );
    Ok(Spawned { child, pidfd, master, born_in_cgroup })
}

/// `struct clone_args` of `<linux/sched.h>`, up to `cgroup`
/// (`CLONE_ARGS_SIZE_VER2`, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Set once `clone3` with `CLONE_INTO_CGROUP` turned out not to exist here.
static CLONE3_UNUSABLE: AtomicBool = AtomicBool::new(false);

/// `clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)`: runs `f(arg)` in a
/// child born in the cgroup `cgroup_dir`, on the stack `stack..stack+size`
/// (16-byte aligned at its top), and returns the child's pid once the child
/// has exec'd or exited. glibc has no wrapper for it, and the child cannot
/// return into Rust code (it runs on another stack), so the system call and
/// the child's call of `f` are a few instructions of assembly, as glibc's
/// `clone` is.
///
/// # Safety
/// As for `libc::clone` with `CLONE_VM | CLONE_VFORK`: `f` may only make raw
/// system calls and must not return into anything but `exit`; `arg` and the
/// stack must stay valid until the call returns.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vfork(
    stack: usize,
    size: usize,
    cgroup_dir: RawFd,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> io::Result<libc::pid_t> {
    let cl = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: size as u64,
        cgroup: cgroup_dir as u64,
        ..CloneArgs::default()
    };
    let ret: i64;
    // SAFETY: the caller's contract. In the parent the system call returns
    // the pid or -errno and only rax, rcx and r11 change. The child starts
    // on `stack + size` with every other register as the parent had it,
    // calls `f(arg)` (r12, r13) and exits with its result; it never reaches
    // the Rust code after this block.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "mov edi, eax",
            "mov eax, 60", // SYS_exit
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &cl as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") f,
            in("r13") arg,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 { Err(io::Error::from_raw_os_error(-ret as i32)) } else { Ok(ret as libc::pid_t) }
}

/// Elsewhere the child joins its cgroup itself (see [`spawn_on_pty`]).
#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_vfork(
    _stack: usize,
    _size: usize,
    _cgroup_dir: RawFd,
    _f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    _arg: *mut libc::c_void,
) -> io::Result<libc::pid_t> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
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

    /// A child is born in its cgroup: nothing is moved, so the spawn does
    /// not wait for the kernel's migration lock (an RCU grace period, 5–30
    /// ms on a VM, during which the reactor thread, suspended by the vfork,
    /// served no session). The `cgroup.procs` handed over is a pipe here: a
    /// child that moved itself would write `0` into it and stay outside.
    #[test]
    fn a_child_is_born_in_its_cgroup_without_moving() {
        if !cfg!(target_arch = "x86_64") || !kernel_at_least(5, 7) || seccomp_filtered() {
            eprintln!("no clone3 with CLONE_INTO_CGROUP here; the child joins by itself");
            return;
        }
        let Ok(own) = crate::sys::cgroup::own_cgroup_dir() else {
            eprintln!("no cgroup v2 here; nothing to check");
            return;
        };
        let root = own.join(format!("warden-spawn-test-{}", std::process::id()));
        if std::fs::create_dir(&root).is_err() {
            eprintln!("cannot create cgroups under {}; nothing to check", own.display());
            return;
        }
        let cg = crate::sys::cgroup::create(&root, "p1").expect("agent cgroup");
        let (pipe_r, pipe_w) = std::io::pipe().expect("pipe");
        let req = SpawnRequest {
            program: "/bin/sleep".into(),
            args: vec!["30".into()],
            env: vec![],
            cwd: "/".into(),
            size: TermSize { rows: 24, cols: 80 },
        };
        let fds = CgroupFds { dir: cg.dir_fd.as_raw_fd(), procs: pipe_w.as_raw_fd() };
        let mut spawned = spawn_on_pty(&req, &mut ChildStack::new(), Some(fds)).expect("spawn");
        drop(pipe_w);
        let pid = spawned.child.id() as i32;
        let members = crate::sys::cgroup::pids(&cg.dir);
        crate::sys::signal_pid(pid, libc::SIGKILL);
        let _ = spawned.child.wait();
        let _ = std::fs::remove_dir(&cg.dir);
        let _ = std::fs::remove_dir(&root);
        let mut written = Vec::new();
        std::io::Read::read_to_end(&mut { pipe_r }, &mut written).expect("read the pipe");
        assert!(written.is_empty(), "the child moved itself: it wrote {written:?}");
        assert!(members.contains(&pid), "{pid} not in {}: {members:?}", cg.dir.display());
        assert!(spawned.born_in_cgroup);
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (a, b) >= (major, minor)
    }

    fn seccomp_filtered() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2')))
    }
}
