//! Ending what sessions leave behind: batched `/proc` sweeps, SIGKILL after
//! the grace, reaping re-parented orphans. A sweep's scan and signals run on
//! a thread of their own ([`Sweeper`]), so the reactor goes on serving every
//! session while the host's processes are read.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mio::Waker;
use tracing::{debug, warn};

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

/// One batch of sweeps, as the sweeper thread runs it.
pub(super) struct SweepJob {
    sweeps: Vec<Sweep>,
    /// The live sessions' own agents (reaped through their `ChildProc`).
    leaders: HashSet<i32>,
    /// Leaders whose terminal warden still holds: its name is theirs.
    open: HashSet<i32>,
    /// Also look for zombies that sessions' orphans left: see
    /// [`Reactor::reap_session_zombies`].
    zombies: bool,
    /// A duplicate of each of those terminals' masters, dropped when the
    /// batch is done: the kernel gives a PTY's name to another only once
    /// every master descriptor is closed, so a session that ends meanwhile
    /// cannot hand its name to a new one whose processes the sweep would
    /// then signal.
    _held: Vec<OwnedFd>,
}

/// What the reactor does with a batch's outcome.
pub(super) struct SweepDone {
    /// Re-parented members to reap as they end.
    watch: Vec<i32>,
    /// Sessions whose remaining processes get SIGKILL after the grace.
    kills: Vec<(Target, Duration)>,
    /// Zombie children of warden that sessions' orphans left, to reap.
    zombies: Vec<i32>,
}

/// The thread that runs sweeps: a scan reads every process's `stat` on the
/// host (about 9 µs each; 27–36 ms with 3,000 processes), and on the reactor
/// thread that held every session's output, input and exits meanwhile.
pub(super) struct Sweeper {
    jobs: mpsc::Sender<SweepJob>,
    done: mpsc::Receiver<SweepDone>,
    /// A batch is on the thread; the next one waits for it.
    busy: bool,
}

impl Sweeper {
    /// Starts the thread; it wakes the reactor through `waker` after each
    /// batch. `instance` is the name of this instance's cgroup, if any.
    pub(super) fn start(waker: Arc<Waker>, instance: Option<String>) -> std::io::Result<Sweeper> {
        let (jobs, job_rx) = mpsc::channel::<SweepJob>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new().name("warden-sweep".into()).stack_size(256 * 1024).spawn(move || {
            while let Ok(job) = job_rx.recv() {
                // A bug in a sweep must not stop every later one: the batch
                // is reported done (empty) and the thread goes on.
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute(job, instance.as_deref())))
                    .unwrap_or_else(|_| {
                        warn!("a sweep panicked; its sessions' leftovers may survive");
                        SweepDone { watch: Vec::new(), kills: Vec::new(), zombies: Vec::new() }
                    });
                if done_tx.send(done).is_err() {
                    break;
                }
                let _ = waker.wake();
            }
        })?;
        Ok(Sweeper { jobs, done, busy: false })
    }

    /// A batch is on the thread.
    pub(super) fn busy(&self) -> bool {
        self.busy
    }
}

impl Reactor {
    /// Hands every queued sweep, as one batch against one scan of `/proc`,
    /// to the sweeper thread (or runs it here without one, or when `now`).
    pub(super) fn run_sweeps(&mut self, now: bool) {
        self.start_batch(now, false);
    }

    /// Reaps zombies re-parented to warden that belong to a running
    /// session: in an agent's session or process group, or (cgroups) whose
    /// cgroup is under this instance's. A running agent's orphans that end
    /// would otherwise stay zombies until their session ends. Never
    /// `waitpid(-1)`: an embedding program's own children are not touched
    /// (they are in no agent's session or cgroup). The `/proc` scan runs on
    /// the sweeper thread; the reaping here, when it is done.
    pub(super) fn reap_session_zombies(&mut self) {
        self.start_batch(false, true);
    }

    /// Starts a batch: the queued sweeps, and the zombie scan if `zombies`.
    fn start_batch(&mut self, now: bool, zombies: bool) {
        if (self.sweeps.is_empty() && !zombies) || (!now && self.sweep_in_flight()) {
            return;
        }
        if !self.sweeps.is_empty() {
            self.last_sweep = Some(Instant::now());
        }
        let sweeps = std::mem::take(&mut self.sweeps);
        let leaders: HashSet<i32> = self.sessions.values().map(|s| s.pid).collect();
        let mut open = HashSet::new();
        let mut held = Vec::new();
        for sw in &sweeps {
            let t = &sw.target;
            // Only with its master held does the terminal's name stay the
            // session's for the whole batch.
            if !open.contains(&t.leader)
                && let Some(s) = self.sessions.values().find(|s| s.target.leader == t.leader)
                && let Some(dup) = s.master.as_raw_fd().and_then(|fd| sys::dup_cloexec(fd).ok())
            {
                open.insert(t.leader);
                held.push(dup);
            }
        }
        let mut job = SweepJob { sweeps, leaders, open, zombies, _held: held };
        if let Some(sweeper) = self.sweeper.as_mut().filter(|_| !now) {
            match sweeper.jobs.send(job) {
                Ok(()) => {
                    sweeper.busy = true;
                    return;
                }
                Err(mpsc::SendError(back)) => {
                    warn!("the sweeper thread is gone; sweeping on the reactor thread");
                    self.sweeper = None;
                    job = back;
                }
            }
        }
        let done = execute(job, instance_name(self.cgroup_root.as_deref()).as_deref());
        self.apply_sweep(done);
    }

    /// Takes in what the sweeper thread finished (one batch is out at most).
    pub(super) fn collect_sweeps(&mut self) {
        let Some(sweeper) = self.sweeper.as_mut().filter(|s| s.busy) else { return };
        match sweeper.done.try_recv() {
            Ok(done) => {
                sweeper.busy = false;
                self.apply_sweep(done);
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                warn!("the sweeper thread is gone; sweeping on the reactor thread");
                self.sweeper = None;
            }
        }
    }

    /// A batch is on the sweeper thread: reaping waits for it, so that no
    /// pid it scanned is freed (and reused) before it has been signalled.
    pub(super) fn sweep_in_flight(&self) -> bool {
        self.sweeper.as_ref().is_some_and(Sweeper::busy)
    }

    /// Waits (at most `limit`) for the batch on the sweeper thread: at the
    /// reactor's end, before the last sweep runs here.
    pub(super) fn wait_for_sweeper(&mut self, limit: Duration) {
        let Some(sweeper) = self.sweeper.as_mut() else { return };
        if sweeper.busy
            && let Ok(done) = sweeper.done.recv_timeout(limit)
        {
            sweeper.busy = false;
            self.apply_sweep(done);
        }
    }

    fn apply_sweep(&mut self, done: SweepDone) {
        // Reaped here, where the live sessions' agents are known now: one
        // started after the scan is reaped through its own `ChildProc`.
        let mut reaped = 0usize;
        for pid in done.zombies {
            if !self.sessions.values().any(|s| s.pid == pid) && sys::try_reap(pid) {
                reaped += 1;
            }
        }
        if reaped > 0 {
            debug!(reaped, "reaped zombies left by sessions' orphans");
        }
        let until = Instant::now() + REAP_WATCH;
        self.reap_watch.extend(done.watch.into_iter().map(|pid| (pid, until)));
        for (target, grace) in done.kills {
            self.schedule_kill(target, grace);
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

    /// Removes the cgroups of ended agents once they are empty (retried on
    /// the reactor's timers; an instance's whole subtree goes at its end).
    pub(super) fn remove_empty_cgroups(&mut self) {
        let now = Instant::now();
        self.cgroups_to_remove.retain(|(dir, until)| !cgroup::remove(dir) && *until > now);
    }
}

/// Runs a batch of sweeps against one scan of `/proc`: signals every
/// process of each session (its Unix session, process group and
/// descendants, marked or terminal-holding orphans, its cgroup).
fn execute(job: SweepJob, instance: Option<&str>) -> SweepDone {
    let SweepJob { sweeps, leaders, open, zombies, _held } = job;
    let started = Instant::now();
    let me = sys::my_pid();
    let mut snapshot = procs::Snapshot::take(me, &leaders);
    debug!(
        sweeps = sweeps.len(),
        processes = snapshot.len(),
        scan_micros = started.elapsed().as_micros() as u64,
        "scanned /proc for a sweep"
    );
    let mut done = SweepDone { watch: Vec::new(), kills: Vec::new(), zombies: Vec::new() };
    if zombies {
        done.zombies = snapshot
            .zombie_children()
            .filter(|p| !leaders.contains(&p.pid))
            .filter(|p| {
                leaders.contains(&p.sid)
                    || leaders.contains(&p.pgrp)
                    || instance.is_some_and(|name| procs::in_cgroup_named(p.pid, name))
            })
            .map(|p| p.pid)
            .collect();
    }
    for sw in sweeps {
        let t = &sw.target;
        // The terminal's name is the session's only while warden holds
        // its master: once closed, the kernel gives it to the next PTY.
        let tty = t.tty.as_deref().filter(|_| open.contains(&t.leader));
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
        let signals: &[i32] = if sw.kill { &[libc::SIGKILL] } else { &[libc::SIGHUP, libc::SIGTERM, libc::SIGCONT] };
        for m in &members {
            for sig in signals {
                sys::signal_pid(m.pid, *sig);
            }
        }
        if !members.is_empty() {
            debug!(leader = t.leader, members = members.len(), kill = sw.kill, "signalled a session's processes");
            // Re-parented members are reaped as they end; the live
            // sessions' own agents are reaped through their `ChildProc`.
            for m in &members {
                if !leaders.contains(&m.pid) && (m.ppid == me || members.iter().any(|o| o.pid == m.ppid)) {
                    done.watch.push(m.pid);
                }
            }
            if let Some(grace) = sw.then_kill {
                done.kills.push((sw.target.clone(), grace));
            }
        }
    }
    debug!(micros = started.elapsed().as_micros() as u64, "sweep done");
    done
}

/// The name of this instance's cgroup (`warden-<instance>`), if cgroup
/// containment is in force.
pub(super) fn instance_name(cgroup_root: Option<&std::path::Path>) -> Option<String> {
    cgroup_root.and_then(|r| r.file_name()).map(|n| n.to_string_lossy().into_owned())
}
