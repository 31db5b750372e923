//! The bare spawn baseline: `openpty`, fork/exec a session leader on the
//! slave, block until the first byte.
//!
//! This is the crate's only `unsafe`: `Command::pre_exec` runs `setsid` and
//! `TIOCSCTTY` in the forked child (both async-signal-safe), as a terminal
//! emulator does, so the floor costs what warden's own spawn path costs.

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
    let mut reader = pair.master.try_clone_reader().map_err(BenchError::pty)?;
    let mut buf = [0u8; 4096];
    let n = reader.read(&mut buf)?;
    let elapsed = t0.elapsed();
    if n == 0 {
        return Err(BenchError::Run("the bare child printed nothing".into()));
    }
    while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    child.wait()?;
    Ok(elapsed)
}
