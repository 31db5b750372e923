//! Instance liveness and the sweep of agents left behind by a dead warden.
//!
//! Each running warden holds an exclusive `flock` on
//! `<state_dir>/instances/<instance-id>.lock`, and every agent it starts
//! carries `WARDEN_INSTANCE=<instance-id>`. Agents themselves die with warden
//! (parent-death signal), but what they started in other process groups may
//! not; at start, warden takes every lock file it can (their owners are dead)
//! and kills the processes that carry those instances' marker.

use std::fs::File;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::env::INSTANCE_ENV;
use crate::sys::{self, procs};

/// Holds this instance's lock for as long as it lives.
pub(crate) struct InstanceGuard {
    pub id: String,
    path: PathBuf,
    _file: File,
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes this instance's lock file.
pub(crate) fn acquire(state_dir: &Path) -> std::io::Result<InstanceGuard> {
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
    Ok(InstanceGuard { id, path, _file: file })
}

/// Kills processes left by instances that died without cleaning up; returns
/// how many were signalled.
pub(crate) fn sweep_dead_instances(state_dir: &Path, me: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(state_dir.join("instances")) else { return 0 };
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
            continue;
        }
        let Ok(file) = File::open(&path) else { continue };
        if let Ok(true) = sys::try_lock_exclusive(&file) {
            dead.push((id, path, file));
        }
    }
    if dead.is_empty() {
        return 0;
    }
    let markers: Vec<Vec<u8>> = dead.iter().map(|(id, _, _)| format!("{INSTANCE_ENV}={id}").into_bytes()).collect();
    let me_pid = sys::my_pid();
    let mut killed = 0;
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
    if killed > 0 {
        info!(killed, "killed processes left behind by a warden that died");
    }
    killed
}
