//! The `warden` binary as a child process: one command builder for every
//! test that runs it on a state directory, and `warden serve` started and
//! ready.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use super::TIMEOUT;
use super::nats::Proc;

/// The `warden` binary of this package.
pub const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// Variables of the caller's environment that would change what warden
/// does (its log on stderr, node name, NATS server and credential,
/// subscription, git token); a test that wants one sets it on the command.
const CLEARED: &[&str] =
    &["WARDEN_LOG", "WARDEN_NODE", "WARDEN_NATS_URL", "WARDEN_NATS_TOKEN", "WARDEN_SUBSCRIPTION", "WARDEN_GIT_TOKEN"];

/// `warden --state-dir <state>`, without [`CLEARED`] variables, stdin from /dev/null.
pub fn warden_cmd(state: &Path) -> Command {
    warden_cmd_of(Path::new(WARDEN), state)
}

/// [`warden_cmd`] for the warden binary at `exe` (a copy of [`WARDEN`]).
pub fn warden_cmd_of(exe: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("--state-dir").arg(state).stdin(Stdio::null());
    for name in CLEARED {
        cmd.env_remove(name);
    }
    cmd
}

/// `warden --state-dir <state> serve <args…>`, once it has printed "serving on".
pub fn serve(state: &Path, args: &[&str]) -> Proc {
    let mut cmd = warden_cmd(state);
    cmd.arg("serve").args(args);
    serving(cmd)
}

/// Starts `cmd`, a `warden … serve`, and waits up to [`TIMEOUT`] for its
/// "serving on" line (then the last of [`Proc::stderr_seen`]).
pub fn serving(cmd: Command) -> Proc {
    let mut serve = Proc::spawn(cmd);
    serve.wait_stderr("serving on", TIMEOUT);
    serve
}
