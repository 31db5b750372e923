//! The bare baselines' session leaders on a PTY slave.
//!
//! - [`first_byte`], the spawn part's floor: `openpty`, fork/exec a session
//!   leader on the slave, block until the first byte. `Command::pre_exec`
//!   runs `setsid` and `TIOCSCTTY` in the forked child (both
//!   async-signal-safe), as a terminal emulator does.
//! - [`spawn_leader`]: the same session leader started by `posix_spawn`,
//!   without a `fork` (see there why): the throughput loop's producer, and
//!   the spawn part's second floor ([`first_byte_spawned`]).
//!
//! This is the crate's only `unsafe`.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portable_pty::native_pty_system;

use crate::{BARE_PTY_SIZE, BenchError};

/// Time from `openpty` to the first byte `program x` prints; then drains the
/// master and reaps the child.
pub(crate) fn first_byte(program: &str) -> Result<Duration, BenchError> {
    let t0 = Instant::now();
    let pair = native_pty_system().openpty(BARE_PTY_SIZE).map_err(BenchError::pty)?;
    let tty = pair.master.tty_name().ok_or_else(|| BenchError::Pty("the PTY has no tty name".into()))?;
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(&tty)?;
    let mut cmd = Command::new(program);
    cmd.arg("x")
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setsid, ioctl); it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    drop(pair.slave);
    let elapsed = first_byte_after(t0, &*pair.master)?;
    child.wait()?;
    Ok(elapsed)
}

/// Blocks until the first byte on `master`, returns the time since `t0`,
/// then drains the master to its end.
fn first_byte_after(t0: Instant, master: &dyn portable_pty::MasterPty) -> Result<Duration, BenchError> {
    let mut reader = master.try_clone_reader().map_err(BenchError::pty)?;
    let mut buf = [0u8; 4096];
    let n = reader.read(&mut buf)?;
    let elapsed = t0.elapsed();
    if n == 0 {
        return Err(BenchError::Run("the bare child printed nothing".into()));
    }
    while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    Ok(elapsed)
}

/// As [`first_byte`], with the child started by [`spawn_leader`] (no fork).
pub(crate) fn first_byte_spawned(program: &str) -> Result<Duration, BenchError> {
    let t0 = Instant::now();
    let (master, child) = leader_on_a_new_pty(program, &["x".to_string()])?;
    let elapsed = first_byte_after(t0, &*master)?;
    child.wait()?;
    Ok(elapsed)
}

/// A fresh PTY (of the bare baselines' size) with `program args` started on
/// it by [`spawn_leader`]; this process keeps only the master.
pub(crate) fn leader_on_a_new_pty(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[String],
) -> Result<(Box<dyn portable_pty::MasterPty + Send>, Leader), BenchError> {
    let pair = native_pty_system().openpty(BARE_PTY_SIZE).map_err(BenchError::pty)?;
    let tty = pair.master.tty_name().ok_or_else(|| BenchError::Pty("the PTY has no tty name".into()))?;
    let child = spawn_leader(program, args, &tty)?;
    Ok((pair.master, child))
}

/// A child started by [`spawn_leader`], waited for by pid; killed and
/// reaped if dropped unwaited (an error on the way), so that no zombie stays.
#[derive(Debug)]
pub(crate) struct Leader {
    pid: libc::pid_t,
    reaped: bool,
}

impl Leader {
    /// Waits for the child to end.
    pub(crate) fn wait(mut self) -> std::io::Result<()> {
        self.reap()
    }

    fn reap(&mut self) -> std::io::Result<()> {
        let mut status = 0;
        loop {
            // SAFETY: waits for this process's own child; `status` is a valid
            // out pointer.
            if unsafe { libc::waitpid(self.pid, &mut status, 0) } == self.pid {
                self.reaped = true;
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                // ECHILD: nothing is left to reap.
                self.reaped = true;
                return Err(e);
            }
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: signals this process's own child, not yet reaped (its pid
            // cannot have been reused).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.reap();
        }
    }
}

/// Starts `program args` as the leader of a new session whose controlling
/// terminal is the PTY slave at `tty`, on its stdin, stdout and stderr — as
/// warden starts an agent — without `fork`.
///
/// glibc's `posix_spawn` runs the child on this process's memory until it
/// execs (`clone(CLONE_VM | CLONE_VFORK)`), as warden's own spawn does. A
/// `fork` from the bench would write-protect every page of this process, the
/// warden instances' included, and the warden runs after each bare run would
/// pay a page fault for every page they write (~60 per MB of output
/// measured, on warden's reactor thread): the baseline would slow down what
/// it is compared with.
pub(crate) fn spawn_leader(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[String],
    tty: &std::path::Path,
) -> std::io::Result<Leader> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("a NUL byte in {what}"));
    let tty = CString::new(tty.as_os_str().as_bytes()).map_err(|_| invalid("the tty path"))?;
    let mut argv_owned = vec![CString::new(program.as_ref().as_bytes()).map_err(|_| invalid("the program"))?];
    for a in args {
        argv_owned.push(CString::new(a.as_str()).map_err(|_| invalid("an argument"))?);
    }
    let env_owned: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let argv: Vec<*mut libc::c_char> =
        argv_owned.iter().map(|a| a.as_ptr().cast_mut()).chain(std::iter::once(std::ptr::null_mut())).collect();
    let envp: Vec<*mut libc::c_char> =
        env_owned.iter().map(|a| a.as_ptr().cast_mut()).chain(std::iter::once(std::ptr::null_mut())).collect();
    let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(r)) };
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed after it; every pointer handed over points into the
    // CStrings above, which outlive the call; argv and envp end with a null
    // pointer.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attr))?;
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        if let Err(e) = check(libc::posix_spawn_file_actions_init(&mut actions)) {
            libc::posix_spawnattr_destroy(&mut attr);
            return Err(e);
        }
        let result = (|| {
            // Every signal at its default and none blocked, as warden's spawn
            // and `std::process::Command` leave them (the Rust runtime
            // ignores SIGPIPE, which a shell pipeline must not inherit).
            let flags = libc::c_int::from(libc::POSIX_SPAWN_SETSID)
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK;
            check(libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short))?;
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &none))?;
            // glibc runs `setsid` before the file actions, so the new session
            // leader opens the slave without O_NOCTTY and it becomes the
            // session's controlling terminal.
            check(libc::posix_spawn_file_actions_addopen(&mut actions, 0, tty.as_ptr(), libc::O_RDWR, 0))?;
            check(libc::posix_spawn_file_actions_adddup2(&mut actions, 0, 1))?;
            check(libc::posix_spawn_file_actions_adddup2(&mut actions, 0, 2))?;
            let mut pid = 0;
            check(libc::posix_spawnp(&mut pid, argv[0], &actions, &attr, argv.as_ptr(), envp.as_ptr()))?;
            Ok(Leader { pid, reaped: false })
        })();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(master: &dyn portable_pty::MasterPty) -> String {
        let mut reader = master.try_clone_reader().expect("reader");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// This thread's minor page faults so far.
    fn thread_faults() -> i64 {
        // SAFETY: `usage` is a valid out pointer for getrusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
        usage.ru_minflt
    }

    #[test]
    fn a_spawned_leader_leads_its_session_on_the_terminal_it_controls() {
        // Field 6 of /proc/<pid>/stat is the session id; /dev/tty opens only
        // for a process with a controlling terminal.
        let script = r#"read -r pid comm state ppid pgrp sid rest < /proc/$$/stat
[ "$sid" = "$$" ] && echo "leader of $sid" > /dev/tty && tty"#;
        let (master, child) = leader_on_a_new_pty("sh", &["-c".into(), script.into()]).expect("spawn");
        let tty = master.tty_name().expect("tty name");
        let out = read_all(&*master);
        child.wait().expect("wait");
        assert!(out.contains("leader of "), "not a session leader with a controlling terminal: {out:?}");
        assert!(out.contains(&tty.display().to_string()), "stdin is not {tty:?}: {out:?}");
    }

    #[test]
    fn a_spawned_leader_has_every_signal_at_its_default() {
        // SigIgn and SigBlk of /proc/self/status: no standard signal (1–31)
        // ignored or blocked (this test process ignores SIGPIPE, as every Rust
        // program does; glibc keeps its own real-time signals 32 and 33).
        let script = "grep -E '^Sig(Ign|Blk)' /proc/self/status";
        let (master, child) = leader_on_a_new_pty("sh", &["-c".into(), script.into()]).expect("spawn");
        let out = read_all(&*master);
        child.wait().expect("wait");
        for field in ["SigIgn", "SigBlk"] {
            let line = out.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in {out:?}"));
            let mask = line.split_whitespace().nth(1).and_then(|h| u64::from_str_radix(h, 16).ok());
            assert_eq!(mask.map(|m| m & 0x7fff_ffff), Some(0), "{line:?}");
        }
    }

    #[test]
    fn a_spawned_leader_does_not_write_protect_this_process() {
        // A fork would write-protect these pages, and writing them again
        // would fault once per page.
        let mut mem = vec![1u8; 4 << 20];
        let (master, child) = leader_on_a_new_pty("true", &[]).expect("spawn");
        read_all(&*master);
        child.wait().expect("wait");
        let before = thread_faults();
        for page in mem.chunks_mut(4096) {
            page[0] = 2;
        }
        let faults = thread_faults() - before;
        std::hint::black_box(&mem);
        assert!(faults < 256, "{faults} page faults writing 1024 pages after a spawn");
    }

    #[test]
    fn a_nul_in_an_argument_is_refused() {
        let err =
            spawn_leader("sh", &["a\0b".into()], std::path::Path::new("/dev/null")).expect_err("a NUL must be refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
