//! The crash-safe workspace registry in the state directory.
//!
//! Layout under `<state_dir>/workspace-registry/`: `<id>.json`, one file
//! per workspace; `registry.lock` for cross-process exclusion of registry
//! access; `locks/<id>.lock`, held by whichever process mutates workspace
//! `<id>` (see [`Registry::lock_workspace`]).
//!
//! One file per workspace rather than one JSON file rewritten: a write
//! touches only the record that changed (no global rewrite whose cost grows
//! with the number of workspaces, no lost update between two writers of
//! different records), and damage to one file (a disk error, a hand edit)
//! costs one record, never the registry. Each write is temp file + fsync +
//! rename + fsync of the directory, so a crash leaves either the old or the
//! new record, never a torn one; stray temp files are removed by
//! [`Registry::recover`].
//!
//! Every access takes an advisory `flock` on `registry.lock` (shared for
//! reads, exclusive for writes and read-modify-write), so any number of
//! `warden` processes and threads can share one state directory. Nothing is
//! cached in memory: the files are the truth.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::workspace::error::WorkspaceError;
use warden_core::workspace::naming::WorkspaceId;
use warden_core::workspace::record::{ProcessIdentity, WorkspaceRecord, WorkspaceState, now_ms};

/// How long records of workspaces that never became usable (`failed`,
/// `interrupted`) are kept: the newest `keep` of them, none older than
/// `max_age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most `failed` and `interrupted` records kept.
    pub keep: usize,
    /// Oldest such record kept (by its last update).
    pub max_age: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep: 64, max_age: std::time::Duration::from_secs(7 * 24 * 3600) }
    }
}

/// What [`Registry::recover`] found at start-up.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Records whose directory vanished; now marked `missing`.
    pub missing: Vec<WorkspaceId>,
    /// Records left in `provisioning` by a process that is gone; now marked
    /// `interrupted`.
    pub interrupted: Vec<WorkspaceId>,
    /// Files that could not be parsed (left in place, renamed `*.corrupt`).
    pub corrupt: Vec<PathBuf>,
    /// Leftover temp files removed.
    pub temp_files_removed: usize,
}

/// Handle on the registry in one state directory. Cheap; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Registry {
    records_dir: PathBuf,
    lock_path: PathBuf,
    workspace_locks: PathBuf,
}

/// An exclusive, cross-process hold on one workspace; released on drop.
#[derive(Debug)]
pub struct WorkspaceLock {
    _file: File,
}

/// Why [`Registry::wait_lock_workspace`] returned without the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockWait {
    /// Someone held it for the whole time allowed.
    #[error("still held after {} s", waited.as_secs())]
    TimedOut {
        /// How long was waited.
        waited: std::time::Duration,
    },
    /// The waiter gave up (its cancellation completed).
    #[error("the wait was cancelled")]
    Cancelled,
    /// The lock file could not be used.
    #[error(transparent)]
    Failed(WorkspaceError),
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Registry {
    /// Open (creating if needed) the registry under `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, WorkspaceError> {
        let records_dir = state_dir.join("workspace-registry");
        let workspace_locks = records_dir.join("locks");
        fs::create_dir_all(&workspace_locks)
            .map_err(|e| WorkspaceError::io(format!("creating {}", workspace_locks.display()), e))?;
        Ok(Self { lock_path: records_dir.join("registry.lock"), records_dir, workspace_locks })
    }

    /// Wait for and take the exclusive lock of workspace `id`. Every
    /// mutation of a workspace holds it (a parent's for worktree add/remove
    /// and fetch), so that two warden processes on one state directory take
    /// turns instead of interleaving.
    pub fn lock_workspace(&self, id: &WorkspaceId) -> Result<WorkspaceLock, WorkspaceError> {
        let (path, file) = self.workspace_lock_file(id)?;
        file.lock().map_err(|e| WorkspaceError::io(format!("locking {}", path.display()), e))?;
        Ok(WorkspaceLock { _file: file })
    }

    /// The lock file of workspace `id` (created if needed), open.
    fn workspace_lock_file(&self, id: &WorkspaceId) -> Result<(PathBuf, File), WorkspaceError> {
        let path = self.workspace_locks.join(format!("{id}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| WorkspaceError::io(format!("opening {}", path.display()), e))?;
        Ok((path, file))
    }

    /// Take the exclusive lock of workspace `id` if nobody holds it
    /// (`None` when someone does), without waiting.
    pub fn try_lock_workspace(&self, id: &WorkspaceId) -> Result<Option<WorkspaceLock>, WorkspaceError> {
        let (path, file) = self.workspace_lock_file(id)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WorkspaceLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(WorkspaceError::io(format!("locking {}", path.display()), e)),
        }
    }

    /// Wait for and take the exclusive lock of workspace `id`, for at most
    /// `limit`, and only while `cancelled` has not completed: the lock, or
    /// why there is none. Polls (every 10 ms at first, then up to every
    /// 250 ms) so that it can give up; each attempt runs off the async
    /// runtime.
    pub async fn wait_lock_workspace(
        &self,
        id: &WorkspaceId,
        limit: std::time::Duration,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<WorkspaceLock, LockWait> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut pause = std::time::Duration::from_millis(10);
        tokio::pin!(cancelled);
        loop {
            let (registry, key) = (self.clone(), id.clone());
            let tried = tokio::task::spawn_blocking(move || registry.try_lock_workspace(&key))
                .await
                .map_err(|e| LockWait::Failed(WorkspaceError::Unavailable { message: e.to_string() }))?;
            if let Some(lock) = tried.map_err(LockWait::Failed)? {
                return Ok(lock);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(LockWait::TimedOut { waited: limit });
            }
            tokio::select! {
                () = &mut cancelled => return Err(LockWait::Cancelled),
                () = tokio::time::sleep(pause.min(deadline - now)) => {}
            }
            pause = (pause * 2).min(std::time::Duration::from_millis(250));
        }
    }

    fn lock(&self, exclusive: bool) -> Result<File, WorkspaceError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| WorkspaceError::io(format!("opening {}", self.lock_path.display()), e))?;
        let res = if exclusive { file.lock() } else { file.lock_shared() };
        res.map_err(|e| WorkspaceError::io(format!("locking {}", self.lock_path.display()), e))?;
        Ok(file)
    }

    fn record_path(&self, id: &WorkspaceId) -> PathBuf {
        self.records_dir.join(format!("{id}.json"))
    }

    /// Insert or replace a record, atomically and durably.
    pub fn put(&self, record: &WorkspaceRecord) -> Result<(), WorkspaceError> {
        let _guard = self.lock(true)?;
        self.write_locked(record)
    }

    /// Insert a record whose id must not exist yet.
    pub fn insert_new(&self, record: &WorkspaceRecord) -> Result<(), WorkspaceError> {
        let _guard = self.lock(true)?;
        if self.record_path(&record.id).exists() {
            return Err(WorkspaceError::AlreadyExists { what: format!("workspace {}", record.id) });
        }
        self.write_locked(record)
    }

    /// Read-modify-write one record under the exclusive lock.
    pub fn update(
        &self,
        id: &WorkspaceId,
        f: impl FnOnce(&mut WorkspaceRecord),
    ) -> Result<WorkspaceRecord, WorkspaceError> {
        let _guard = self.lock(true)?;
        let mut record =
            self.read_locked(id)?.ok_or_else(|| WorkspaceError::NotFound { what: format!("workspace {id}") })?;
        f(&mut record);
        record.updated_at = now_ms();
        self.write_locked(&record)?;
        Ok(record)
    }

    /// One record, if present.
    pub fn get(&self, id: &WorkspaceId) -> Result<Option<WorkspaceRecord>, WorkspaceError> {
        let _guard = self.lock(false)?;
        self.read_locked(id)
    }

    /// All readable records, ordered by id. Unreadable files are skipped
    /// here and reported by [`Registry::recover`].
    pub fn list(&self) -> Result<Vec<WorkspaceRecord>, WorkspaceError> {
        let _guard = self.lock(false)?;
        let mut out: Vec<_> = self.record_files()?.into_iter().filter_map(|p| read_record(&p).ok()).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Delete a record (after cleanup, if the caller does not want a tombstone).
    pub fn remove(&self, id: &WorkspaceId) -> Result<(), WorkspaceError> {
        let _guard = self.lock(true)?;
        match fs::remove_file(self.record_path(id)) {
            Ok(()) => sync_dir(&self.records_dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(WorkspaceError::io(format!("removing record {id}"), e)),
        }
    }

    /// Forgets `failed` and `interrupted` records beyond the newest
    /// `retention.keep`, and those not updated for `retention.max_age`;
    /// returns the records forgotten (their directories are the caller's).
    pub fn prune(&self, retention: &Retention, now_ms: u64) -> Result<Vec<WorkspaceRecord>, WorkspaceError> {
        let _guard = self.lock(true)?;
        let mut ended: Vec<WorkspaceRecord> = self
            .record_files()?
            .into_iter()
            .filter_map(|p| read_record(&p).ok())
            .filter(|r| matches!(r.state, WorkspaceState::Failed | WorkspaceState::Interrupted))
            .collect();
        // Newest first; the tail past `keep` goes, and anything too old.
        ended.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| b.id.cmp(&a.id)));
        let max_age = u64::try_from(retention.max_age.as_millis()).unwrap_or(u64::MAX);
        let mut gone = Vec::new();
        for (i, r) in ended.into_iter().enumerate() {
            if i >= retention.keep || now_ms.saturating_sub(r.updated_at) > max_age {
                match fs::remove_file(self.record_path(&r.id)) {
                    Ok(()) => gone.push(r),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(WorkspaceError::io(format!("removing record {}", r.id), e)),
                }
            }
        }
        if !gone.is_empty() {
            sync_dir(&self.records_dir)?;
        }
        Ok(gone)
    }

    /// Run at start-up: remove temp files, mark records whose directory is
    /// gone as `missing`, report provisioning cut short by a dead process
    /// and files that do not parse.
    pub fn recover(&self) -> Result<RecoveryReport, WorkspaceError> {
        let _guard = self.lock(true)?;
        let mut report = RecoveryReport::default();
        let entries = fs::read_dir(&self.records_dir)
            .map_err(|e| WorkspaceError::io(format!("reading {}", self.records_dir.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(entry.path())
                    .map_err(|e| WorkspaceError::io(format!("removing temp file {name}"), e))?;
                report.temp_files_removed += 1;
            }
        }
        for path in self.record_files()? {
            let mut record = match read_record(&path) {
                Ok(r) => r,
                Err(_) => {
                    let bad = path.with_extension("json.corrupt");
                    fs::rename(&path, &bad)
                        .map_err(|e| WorkspaceError::io(format!("setting aside {}", path.display()), e))?;
                    report.corrupt.push(bad);
                    continue;
                }
            };
            let dir_exists = record.path.is_dir();
            match record.state {
                WorkspaceState::Provisioning if !record.owner.is_some_and(process_alive) => {
                    record.state = WorkspaceState::Interrupted;
                    record.owner = None;
                    record.error = Some("provisioning was cut short: its process died".into());
                    record.updated_at = now_ms();
                    self.write_locked(&record)?;
                    report.interrupted.push(record.id.clone());
                }
                WorkspaceState::Ready if !dir_exists => {
                    record.state = WorkspaceState::Missing;
                    record.updated_at = now_ms();
                    self.write_locked(&record)?;
                    report.missing.push(record.id.clone());
                }
                _ => {}
            }
        }
        sync_dir(&self.records_dir)?;
        Ok(report)
    }

    fn record_files(&self) -> Result<Vec<PathBuf>, WorkspaceError> {
        let entries = fs::read_dir(&self.records_dir)
            .map_err(|e| WorkspaceError::io(format!("reading {}", self.records_dir.display()), e))?;
        Ok(entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
            })
            .collect())
    }

    fn read_locked(&self, id: &WorkspaceId) -> Result<Option<WorkspaceRecord>, WorkspaceError> {
        let path = self.record_path(id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| WorkspaceError::Registry {
                message: format!("record {} is corrupt: {e}", path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(WorkspaceError::io(format!("reading {}", path.display()), e)),
        }
    }

    fn write_locked(&self, record: &WorkspaceRecord) -> Result<(), WorkspaceError> {
        let target = self.record_path(&record.id);
        let tmp = self.records_dir.join(format!(
            ".{}.{}.{}.tmp",
            record.id,
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| WorkspaceError::Registry { message: format!("encoding record: {e}") })?;
        let io = |what: &str, e| WorkspaceError::io(format!("{what} {}", tmp.display()), e);
        let mut f = File::create(&tmp).map_err(|e| io("creating", e))?;
        f.write_all(&json).map_err(|e| io("writing", e))?;
        f.sync_all().map_err(|e| io("syncing", e))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(|e| io("renaming", e))?;
        sync_dir(&self.records_dir)
    }
}

fn read_record(path: &Path) -> Result<WorkspaceRecord, WorkspaceError> {
    let bytes = fs::read(path).map_err(|e| WorkspaceError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| WorkspaceError::Registry { message: format!("record {} is corrupt: {e}", path.display()) })
}

fn sync_dir(dir: &Path) -> Result<(), WorkspaceError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WorkspaceError::io(format!("syncing directory {}", dir.display()), e))
}

/// The identity of this process (pid + start time).
pub fn this_process() -> ProcessIdentity {
    let pid = std::process::id();
    ProcessIdentity { pid, start: process_start(pid).unwrap_or(0) }
}

/// Whether `p` is still running (Linux: pid exists with the same start
/// time). A zombie is not: a warden killed under a parent that has not
/// reaped it yet (a container's pid 1 that never reaps, a busy shell) owns
/// nothing any more.
pub fn process_alive(p: ProcessIdentity) -> bool {
    let Some(info) = i32::try_from(p.pid).ok().and_then(crate::sys::procs::stat_of) else { return false };
    !matches!(info.state, b'Z' | b'X') && (p.start == 0 || info.start == p.start)
}

/// Start time of `pid` in clock ticks since boot, from `/proc/<pid>/stat`.
fn process_start(pid: u32) -> Option<u64> {
    crate::sys::procs::stat_of(i32::try_from(pid).ok()?).map(|p| p.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use warden_core::workspace::naming::BranchName;

    fn record(id: &str, state: WorkspaceState, updated_at: u64) -> WorkspaceRecord {
        WorkspaceRecord {
            version: 1,
            id: WorkspaceId::parse(id).expect("id"),
            path: PathBuf::from(format!("/nonexistent/{id}")),
            repo: "r".into(),
            branch: BranchName::parse("b").expect("branch"),
            base: String::new(),
            parent: None,
            state,
            created_at: updated_at,
            updated_at,
            owner: None,
            error: None,
        }
    }

    #[test]
    fn a_running_process_is_alive_and_an_unreaped_dead_one_is_not() {
        assert!(process_alive(this_process()));
        let mut child = std::process::Command::new("sleep").arg("600").spawn().expect("spawns");
        let pid = child.id();
        let owner = ProcessIdentity { pid, start: process_start(pid).expect("its start") };
        assert!(process_alive(owner));
        assert!(!process_alive(ProcessIdentity { pid, start: owner.start + 1 }), "another process on a reused pid");
        child.kill().expect("killed");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while crate::sys::procs::stat_of(pid as i32).is_none_or(|p| p.state != b'Z') {
            assert!(std::time::Instant::now() < deadline, "the child never became a zombie");
            std::thread::yield_now();
        }
        assert!(!process_alive(owner), "a zombie owns nothing");
        child.wait().expect("reaped");
        assert!(!process_alive(owner));
    }

    /// The wait for a workspace's lock takes it once its holder lets go
    /// (flock: a second open file of the same process conflicts like another
    /// process), gives up at its limit, and stops when cancelled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_for_a_workspace_lock_is_bounded_and_cancellable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path()).expect("opens");
        let id = WorkspaceId::parse("repo-1").expect("id");
        let held = reg.try_lock_workspace(&id).expect("lockable").expect("free");
        assert!(reg.try_lock_workspace(&id).expect("lockable").is_none(), "held twice");

        let never = std::future::pending::<()>();
        let started = std::time::Instant::now();
        let err = reg.wait_lock_workspace(&id, Duration::from_millis(300), never).await.expect_err("timed out");
        assert!(matches!(err, LockWait::TimedOut { .. }), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(300), "gave up early");

        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let waiting = {
            let (reg, id) = (reg.clone(), id.clone());
            tokio::spawn(async move {
                reg.wait_lock_workspace(&id, Duration::from_secs(600), async {
                    let _ = cancelled.await;
                })
                .await
            })
        };
        drop(cancel);
        let err = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("a cancelled wait ends at once")
            .expect("joined")
            .expect_err("cancelled");
        assert!(matches!(err, LockWait::Cancelled), "{err:?}");

        let waiting = {
            let (reg, id) = (reg.clone(), id.clone());
            tokio::spawn(
                async move { reg.wait_lock_workspace(&id, Duration::from_secs(600), std::future::pending()).await },
            )
        };
        drop(held);
        let lock =
            tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("taken once free").expect("joined");
        assert!(lock.is_ok(), "{lock:?}");
    }

    #[test]
    fn prune_keeps_the_newest_failed_and_interrupted_records_within_their_age() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path()).expect("opens");
        let day = 24 * 3600 * 1000;
        let now = 100 * day;
        reg.put(&record("ready-old", WorkspaceState::Ready, 0)).expect("put");
        reg.put(&record("failed-old", WorkspaceState::Failed, now - 30 * day)).expect("put");
        reg.put(&record("interrupted-old", WorkspaceState::Interrupted, now - 8 * day)).expect("put");
        for i in 0..4 {
            reg.put(&record(&format!("failed-{i}"), WorkspaceState::Failed, now - 1000 + i)).expect("put");
        }
        let retention = Retention { keep: 3, max_age: Duration::from_secs(7 * 24 * 3600) };
        let gone: Vec<String> =
            reg.prune(&retention, now).expect("prunes").into_iter().map(|r| r.id.to_string()).collect();
        let left: Vec<String> = reg.list().expect("list").into_iter().map(|r| r.id.to_string()).collect();
        assert_eq!(left, vec!["failed-1", "failed-2", "failed-3", "ready-old"], "gone: {gone:?}");
        assert_eq!(gone.len(), 3);
    }
}
