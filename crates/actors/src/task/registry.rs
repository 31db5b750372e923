//! The durable task registry: `<state_dir>/tasks/<id>.json`, one file per
//! task, each write a temp file + fsync + rename + fsync of the directory (a
//! crash leaves the old or the new record, never a torn one).
//!
//! Writes go through one writer thread ([`RegistryWriter`]) in the order the
//! task actors send them, so an actor's handler never blocks on the disk and
//! two writes of one record can never land out of order.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tracing::warn;
use warden_core::task::{TaskId, TaskRecord};

/// The task registry's directory.
#[derive(Debug, Clone)]
pub struct TaskRegistry {
    dir: PathBuf,
}

/// What loading the registry found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every record that parsed.
    pub records: Vec<TaskRecord>,
    /// Files that did not parse, set aside as `*.json.corrupt`.
    pub corrupt: Vec<PathBuf>,
}

impl TaskRegistry {
    /// Opens (creating) `<state_dir>/tasks`.
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        let dir = state_dir.join("tasks");
        fs::create_dir_all(&dir)?;
        // Records of tasks that resume after a restart keep their agents' environment.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        Ok(TaskRegistry { dir })
    }

    fn path(&self, id: TaskId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes one record atomically and durably.
    /// The agents' environment values are kept only when the task is to resume after a
    /// restart (it needs them), and the file is its user's alone.
    pub fn put(&self, record: &TaskRecord) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{}.tmp", record.id));
        let json = if record.spec.resume_on_restart || record.spec.session.env.is_empty() {
            serde_json::to_vec_pretty(record)
        } else {
            serde_json::to_vec_pretty(&record.clone().redacted())
        }
        .map_err(std::io::Error::other)?;
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.path(record.id))?;
        File::open(&self.dir).and_then(|d| d.sync_all())
    }

    /// One record as it is on disk (written by this or another warden process).
    pub fn get(&self, id: TaskId) -> Option<TaskRecord> {
        let bytes = fs::read(self.path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes one record.
    pub fn remove(&self, id: TaskId) -> std::io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every record, oldest first; temp files removed, unreadable files set aside.
    pub fn load(&self) -> std::io::Result<Loaded> {
        let mut out = Loaded::default();
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            match fs::read(&path).ok().and_then(|b| serde_json::from_slice::<TaskRecord>(&b).ok()) {
                Some(r) => out.records.push(r),
                None => {
                    let bad = path.with_extension("json.corrupt");
                    if fs::rename(&path, &bad).is_ok() {
                        out.corrupt.push(bad);
                    }
                }
            }
        }
        out.records.sort_by_key(|r| r.id);
        Ok(out)
    }
}

enum WriterMsg {
    Put(Box<TaskRecord>),
    Remove(TaskId),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The writer thread's mailbox; the thread ends when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct RegistryWriter {
    tx: mpsc::Sender<WriterMsg>,
}

impl RegistryWriter {
    /// Starts the writer thread.
    pub(crate) fn start(registry: TaskRegistry) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<WriterMsg>();
        std::thread::Builder::new().name("warden-tasks".into()).spawn(move || {
            for msg in rx {
                match msg {
                    WriterMsg::Put(r) => {
                        if let Err(e) = registry.put(&r) {
                            warn!(task = %r.id, error = %e, "cannot write the task record");
                        }
                    }
                    WriterMsg::Remove(id) => {
                        if let Err(e) = registry.remove(id) {
                            warn!(task = %id, error = %e, "cannot remove the task record");
                        }
                    }
                    WriterMsg::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })?;
        Ok(RegistryWriter { tx })
    }

    /// Queues a write of `record`.
    pub(crate) fn put(&self, record: &TaskRecord) {
        let _ = self.tx.send(WriterMsg::Put(Box::new(record.clone())));
    }

    /// Queues the removal of a record.
    pub(crate) fn remove(&self, id: TaskId) {
        let _ = self.tx.send(WriterMsg::Remove(id));
    }

    /// Waits until every write queued before it is on disk.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(WriterMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::task::TaskSpec;

    #[test]
    fn records_survive_and_corrupt_files_are_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = TaskRegistry::open(dir.path()).expect("open");
        let r = TaskRecord::new(TaskId::new(), "n", TaskSpec::new("shell", "x"), 1);
        reg.put(&r).expect("put");
        assert_eq!(reg.get(r.id), Some(r.clone()));
        fs::write(dir.path().join("tasks/bad.json"), b"{").expect("write");
        fs::write(dir.path().join("tasks/.x.tmp"), b"{").expect("write");
        let loaded = reg.load().expect("load");
        assert_eq!(loaded.records, vec![r.clone()]);
        assert_eq!(loaded.corrupt.len(), 1);
        assert!(!dir.path().join("tasks/.x.tmp").exists());
        reg.remove(r.id).expect("remove");
        assert!(reg.load().expect("load").records.is_empty());
    }
}
