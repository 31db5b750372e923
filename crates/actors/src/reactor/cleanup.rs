//! Ending what sessions leave behind: batched `/proc` sweeps, SIGKILL after
//! the grace, reaping re-parented orphans.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::debug;

use super::Reactor;
use crate::sys::{self, cgroup, procs};

/// Least time between two `/proc` sweeps: stops and exits that arrive
/// meanwhile share one scan.
pub(super) const SWEEP_INTERVAL: Duration = Duration::from_millis(20);
/// How often, while sessions run, warden reaps the zombies that sessions'
/// orphans leave (it is their subreaper; nothing else waits for them).
pub(crate) const ZOMBIE_SCAN_INTERVAL: Duration = Duration::from_secs(5);
/// How long an orphan is watched for reaping.
pub(super) const REAP_WATCH: Duration = Duration::from_secs(30);

/// How to find the processes of one started agent.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The agent's pid (its session and group id).
    pub(super) leader: i32,
    /// `WARDEN_SESSION_ID=<id>`, matched in orphans' environments.
    pub(super) marker: Vec<u8>,
    /// The agent's cgroup, when cgroup v2 containment is in force.
    pub(super) cgroup: Option<PathBuf>,
    /// The terminal's slave device: an orphan holding it open is the session's.
    pub(super) tty: Option<PathBuf>,
}

/// A request to signal every process of a session, run in a batch: one
/// `/proc` scan per reactor iteration serves every stop, exit and kill that
/// iteration produced (a scan reads every process's `stat`, so one scan per
/// session would make stopping N sessions cost O(N²)).
pub(super) struct Sweep {
    pub(super) target: Target,
    /// SIGKILL now; otherwise SIGHUP + SIGTERM + SIGCONT and, if `then_kill`
    /// is set, SIGKILL for what is left after that long.
    pub(super) kill: bool,
    pub(super) then_kill: Option<Duration>,
}

/// Processes of a session still to be killed with SIGKILL at `at`.
pub(super) struct PendingKill {
    pub(super) target: Target,
    pub(super) at: Instant,
}

impl Reactor {
    /// Runs every queued sweep against one scan of `/proc`.
    pub(super) fn run_sweeps(&mut self) {
        if self.sweeps.is_empty() {
            return;
        }
        let sweeps = std::mem::take(&mut self.sweeps);
        let started = Instant::now();
        self.last_sweep = Some(started);
        let leaders: std::collections::HashSet<i32> = self.sessions.values().map(|s| s.pid).collect();
        let mut snapshot = procs::Snapshot::take(sys::my_pid(), &leaders);
        debug!(
            sweeps = sweeps.len(),
            processes = snapshot.len(),
            scan_micros = started.elapsed().as_micros() as u64,
            "scanned /proc for a sweep"
        );
        for sw in sweeps {
            let t = &sw.target;
            // The terminal's name is the session's only while warden holds
            // its master: once closed, the kernel gives it to the next PTY.
            let open = self.sessions.values().any(|s| s.target.leader == t.leader);
            let tty = t.tty.as_deref().filter(|_| open);
            let mut members = snapshot.session_members(t.leader, &t.marker, tty);
            if let Some(dir) = &t.cgroup {
                // The cgroup holds what the scan cannot see: processes that
                // left the session, cleared their environment and lost their
                // parent all at once.
                for pid in cgroup::pids(dir) {
                    if !members.iter().any(|m| m.pid == pid)
                        && let Some(p) = snapshot.get(pid)
                    {
                        members.push(p);
                    }
                }
                if sw.kill {
                    cgroup::kill(dir);
                }
            }
            let signals: &[i32] =
                if sw.kill { &[libc::SIGKILL] } else { &[libc::SIGHUP, libc::SIGTERM, libc::SIGCONT] };
            for m in &members {
                for sig in signals {
                    sys::signal_pid(m.pid, *sig);
                }
            }
            if !members.is_empty() {
                debug!(leader = t.leader, members = members.len(), kill = sw.kill, "signalled a session's processes");
                self.watch_for_reaping(&members, &leaders);
                if let Some(grace) = sw.then_kill {
                    self.schedule_kill(sw.target, grace);
                }
            }
        }
    }

    pub(super) fn schedule_kill(&mut self, target: Target, grace: Duration) {
        let at = Instant::now() + grace;
        if let Some(k) = self.pending_kills.iter_mut().find(|k| k.target.leader == target.leader) {
            k.at = k.at.min(at);
        } else {
            self.pending_kills.push(PendingKill { target, at });
        }
    }

    /// Reaps zombies re-parented to warden that belong to a running
    /// session: in an agent's session or process group, or (cgroups) whose
    /// cgroup is under this instance's. A running agent's orphans that end
    /// would otherwise stay zombies until their session ends. Never
    /// `waitpid(-1)`: an embedding program's own children are not touched
    /// (they are in no agent's session or cgroup).
    pub(super) fn reap_session_zombies(&mut self) {
        let me = sys::my_pid();
        let leaders: std::collections::HashSet<i32> = self.sessions.values().map(|s| s.pid).collect();
        let instance = self.cgroup_root.as_ref().and_then(|r| r.file_name()).map(|n| n.to_string_lossy().into_owned());
        let mut reaped = 0usize;
        for p in procs::scan() {
            if p.ppid != me || p.state != b'Z' || leaders.contains(&p.pid) {
                continue;
            }
            let ours = leaders.contains(&p.sid)
                || leaders.contains(&p.pgrp)
                || instance.as_deref().is_some_and(|name| procs::in_cgroup_named(p.pid, name));
            if ours && sys::try_reap(p.pid) {
                reaped += 1;
            }
        }
        if reaped > 0 {
            debug!(reaped, "reaped zombies left by sessions' orphans");
        }
    }

    /// Removes the cgroups of ended agents once they are empty (retried on
    /// the reactor's timers; an instance's whole subtree goes at its end).
    pub(super) fn remove_empty_cgroups(&mut self) {
        let now = Instant::now();
        self.cgroups_to_remove.retain(|(dir, until)| !cgroup::remove(dir) && *until > now);
    }

    /// Watches re-parented members for reaping; `leaders` are the live
    /// sessions' own agents, which are reaped through their `ChildProc`.
    fn watch_for_reaping(&mut self, members: &[procs::ProcInfo], leaders: &std::collections::HashSet<i32>) {
        let me = sys::my_pid();
        let until = Instant::now() + REAP_WATCH;
        for m in members {
            if leaders.contains(&m.pid) {
                continue;
            }
            if m.ppid == me || members.iter().any(|o| o.pid == m.ppid) {
                self.reap_watch.push((m.pid, until));
            }
        }
    }
}
