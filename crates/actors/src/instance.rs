//! Instance liveness and the sweep of agents left behind by a dead warden.
//!
//! Each running warden holds an exclusive `flock` on
//! `<state_dir>/instances/<instance-id>.lock`, and every agent it starts
//! carries `WARDEN_INSTANCE=<instance-id>`. Beside the lock it keeps
//! `<instance-id>.cgroup` (its cgroup subtree, when cgroup v2 containment is
//! in force) and `<instance-id>.sessions` (the ids of the sessions it
//! started). Agents themselves die with warden (parent-death signal), but
//! what they started in other process groups may not; at start, warden takes
//! every lock file it can (their owners are dead), kills everything in those
//! instances' cgroups and every process that carries their marker, and marks
//! their sessions' records `exited` with reason `node_restarted`.

use std::fs::File;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use warden_core::{ExitInfo, ExitReason, SessionId, SessionInfo, SessionState};

use crate::env::INSTANCE_ENV;
use crate::sys::cgroup::{self, Containment};
use crate::sys::{self, procs};

/// How long the sweep of a dead instance waits for its cgroups to empty.
const CGROUP_KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Holds this instance's lock for as long as it lives.
pub(crate) struct InstanceGuard {
    pub id: String,
    /// How this instance finds its sessions' processes.
    pub containment: Containment,
    /// Kills the instance's cgroup tree when warden dies (cgroup mode).
    keeper: Option<sys::CgroupKeeper>,
    path: PathBuf,
    _file: File,
}

impl InstanceGuard {
    /// Opens `<id>.sessions` for appending the ids of started sessions.
    pub(crate) fn sessions_log(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new().create(true).append(true).open(self.path.with_extension("sessions"))
    }
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        if let Containment::Cgroup(dir) = &self.containment {
            cgroup::kill_tree(dir, std::time::Duration::from_millis(500));
        }
        drop(self.keeper.take());
        let _ = std::fs::remove_file(self.path.with_extension("cgroup"));
        let _ = std::fs::remove_file(self.path.with_extension("sessions"));
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes this instance's lock file and sets up its containment (a cgroup v2
/// subtree when `cgroups` is set and the host allows it).
pub(crate) fn acquire(state_dir: &Path, cgroups: bool) -> std::io::Result<InstanceGuard> {
    let dir = state_dir.join("instances");
    std::fs::create_dir_all(&dir)?;
    let id = uuid::Uuid::now_v7().to_string();
    let path = dir.join(format!("{id}.lock"));
    // Lock under a private name, then rename into place: a visible lock
    // file is always held, so a concurrent sweep never takes it for dead.
    let tmp = dir.join(format!(".{id}.tmp"));
    let file = File::create(&tmp)?;
    if !sys::try_lock_exclusive(&file)? {
        return Err(std::io::Error::other("instance lock unexpectedly held"));
    }
    std::fs::rename(&tmp, &path)?;
    let containment =
        if cgroups { cgroup::setup(&id) } else { Containment::Procs("cgroups are turned off by configuration".into()) };
    let mut keeper = None;
    if let Containment::Cgroup(dir) = &containment {
        std::fs::write(path.with_extension("cgroup"), dir.as_os_str().as_encoded_bytes())?;
        match sys::spawn_cgroup_keeper(dir) {
            Ok(k) => keeper = Some(k),
            Err(e) => {
                warn!(error = %e, "no keeper for the instance's cgroup: escapes outlive a killed warden until the next start")
            }
        }
    }
    Ok(InstanceGuard { id, containment, keeper, path, _file: file })
}

/// What the sweep of dead instances did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SweepReport {
    /// Processes killed (in the instances' cgroups, or carrying their marker).
    pub killed: usize,
    /// Session records marked `exited` (reason `node_restarted`).
    pub sessions: usize,
}

/// Kills processes left by instances that died without cleaning up and
/// closes the records of their sessions.
pub(crate) fn sweep_dead_instances(state_dir: &Path, me: &str) -> SweepReport {
    let Ok(entries) = std::fs::read_dir(state_dir.join("instances")) else { return SweepReport::default() };
    let mut dead: Vec<(String, PathBuf, File)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
        if path.extension().is_some_and(|e| e == "tmp") {
            // A lock file whose owner died before renaming it into place. A
            // young one may be between its creation and its flock: leave it.
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60));
            if old
                && let Ok(file) = File::open(&path)
                && let Ok(true) = sys::try_lock_exclusive(&file)
            {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if id == me || path.extension().is_none_or(|e| e != "lock") {
            if path.extension().is_some_and(|e| e == "cgroup" || e == "sessions")
                && !path.with_extension("lock").exists()
                && id != me
            {
                // Left by an instance whose lock is gone (removed by a sweep
                // that died half-way): nothing holds it.
                sweep_files(state_dir, &path.with_extension("lock"), &id);
            }
            continue;
        }
        let Ok(file) = File::open(&path) else { continue };
        if let Ok(true) = sys::try_lock_exclusive(&file) {
            dead.push((id, path, file));
        }
    }
    if dead.is_empty() {
        return SweepReport::default();
    }
    let mut report = SweepReport::default();
    for (id, path, _) in &dead {
        let r = sweep_files(state_dir, path, id);
        report.killed += r.killed;
        report.sessions += r.sessions;
    }
    let markers: Vec<Vec<u8>> = dead.iter().map(|(id, _, _)| format!("{INSTANCE_ENV}={id}").into_bytes()).collect();
    let me_pid = sys::my_pid();
    let mut killed = report.killed;
    for p in procs::scan() {
        if p.pid == me_pid || p.pid <= 1 {
            continue;
        }
        if markers.iter().any(|m| procs::environ_has(p.pid, m)) {
            sys::signal_pid(p.pid, libc::SIGKILL);
            killed += 1;
        }
    }
    for (id, path, _file) in dead {
        if let Err(e) = std::fs::remove_file(&path) {
            warn!(instance = %id, error = %e, "cannot remove dead instance lock");
        }
    }
    if killed > 0 || report.sessions > 0 {
        info!(killed, sessions = report.sessions, "cleaned up after a warden that died");
    }
    SweepReport { killed, sessions: report.sessions }
}

/// Kills what is left in a dead instance's cgroup (its `.cgroup` file next
/// to `lock`), closes the records of the sessions it listed, and removes both
/// files.
fn sweep_files(state_dir: &Path, lock: &Path, id: &str) -> SweepReport {
    let mut report = SweepReport::default();
    let cg_file = lock.with_extension("cgroup");
    if let Ok(dir) = std::fs::read_to_string(&cg_file) {
        let dir = PathBuf::from(dir.trim());
        // Only a cgroup warden made (`warden-<instance>`), never another.
        if dir.file_name().is_some_and(|n| n.to_string_lossy() == format!("warden-{id}")) {
            report.killed += cgroup::kill_tree(&dir, CGROUP_KILL_WAIT);
        }
        let _ = std::fs::remove_file(&cg_file);
    }
    let list = lock.with_extension("sessions");
    if let Ok(text) = std::fs::read_to_string(&list) {
        for sid in text.lines().filter_map(|l| l.trim().parse::<SessionId>().ok()) {
            if close_record(state_dir, &sid) {
                report.sessions += 1;
            }
        }
        let _ = std::fs::remove_file(&list);
    }
    report
}

/// Marks the record of a session of a dead instance `exited` (reason
/// `node_restarted`) unless it already ended; true when it changed it.
fn close_record(state_dir: &Path, id: &SessionId) -> bool {
    let dir = crate::transcript::session_dir(state_dir, id);
    let Ok(bytes) = std::fs::read(dir.join("session.json")) else { return false };
    let Ok(mut info) = serde_json::from_slice::<SessionInfo>(&bytes) else {
        warn!(session = %id, "unreadable session record left by a dead instance");
        return false;
    };
    if info.state.is_terminal() {
        return false;
    }
    info.state = SessionState::Exited;
    info.exit = Some(ExitInfo { code: None, signal: None, reason: ExitReason::NodeRestarted });
    let Ok(json) = serde_json::to_vec_pretty(&info) else { return false };
    match crate::transcript::write_record(&dir, &json) {
        Ok(()) => true,
        Err(e) => {
            warn!(session = %id, error = %e, "cannot close the record of a session of a dead instance");
            false
        }
    }
}
