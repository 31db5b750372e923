//! The on-disk transcript: every byte a session's terminal produced, exactly.
//!
//! The reactor thread hands the bytes it reads to one writer thread (in
//! batches) before they reach any actor, so a crash of an actor never leaves
//! a hole in it. Bounded by a size cap; past the cap nothing more is stored
//! and one event says so. The writer thread also writes the sessions'
//! `session.json` records and applies the retention policy of ended
//! sessions' directories ([`SessionRetention`]), so that all of the
//! sessions' file work happens on one thread, in order.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use warden_core::retention::SessionRetention;

/// Where a session's files live under the state directory.
pub fn session_dir(state_dir: &Path, id: &warden_core::SessionId) -> PathBuf {
    state_dir.join("sessions").join(id.to_string())
}

/// The transcript file of a session.
pub fn transcript_path(state_dir: &Path, id: &warden_core::SessionId) -> PathBuf {
    session_dir(state_dir, id).join("transcript")
}

pub(crate) struct Transcript {
    file: File,
    written: u64,
    max: u64,
    truncated: bool,
}

impl Transcript {
    pub(crate) fn create(path: &Path, max: u64) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Transcript { file, written: 0, max, truncated: false })
    }

    /// Appends a batch (in as few `writev` calls as the kernel takes);
    /// returns `Some(bytes)` the first time the cap cuts the stream.
    pub(crate) fn append(&mut self, batch: &TranscriptBatch) -> Option<u64> {
        if self.truncated {
            return None;
        }
        let room = self.max.saturating_sub(self.written) as usize;
        let take = room.min(batch.bytes);
        let mut left = take;
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batch.chunks.len());
        for chunk in &batch.chunks {
            if left == 0 {
                break;
            }
            let n = chunk.len().min(left);
            slices.push(IoSlice::new(&chunk[..n]));
            left -= n;
        }
        if let Err(e) = write_all_vectored(&mut self.file, &mut slices) {
            tracing::warn!(error = %e, "transcript write failed; transcript stops here");
            self.truncated = true;
            return Some(self.written);
        }
        self.written += take as u64;
        if take < batch.bytes {
            self.truncated = true;
            return Some(self.written);
        }
        None
    }
}

/// `write_all` for a list of slices (std's `write_all_vectored` is not stable).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    // A writev takes at most IOV_MAX (1024 on Linux) slices.
    const IOV_MAX: usize = 1024;
    while !slices.is_empty() {
        let upto = slices.len().min(IOV_MAX);
        match file.write_vectored(&slices[..upto]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Output chunks gathered for one transcript write: the chunks the events
/// carry, shared, not copied.
#[derive(Debug, Default)]
pub(crate) struct TranscriptBatch {
    chunks: Vec<bytes::Bytes>,
    bytes: usize,
}

impl TranscriptBatch {
    pub(crate) fn push(&mut self, chunk: bytes::Bytes) {
        self.bytes += chunk.len();
        self.chunks.push(chunk);
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

/// Told once, with the bytes stored, when a transcript reaches its cap.
type TruncateNotice = Box<dyn FnOnce(u64) + Send>;

/// What the writer thread does, in order.
enum TranscriptCmd {
    Open {
        key: u64,
        path: PathBuf,
        max: u64,
        on_truncate: Box<dyn FnOnce(u64) + Send>,
    },
    Append {
        key: u64,
        data: TranscriptBatch,
    },
    /// Close the file, then run `then` (which reports the session's exit, so
    /// that a transcript is complete once its session's `exited` is out).
    Close {
        key: u64,
        then: Box<dyn FnOnce() + Send>,
    },
    /// Write `session.json` in `dir` atomically (temp file + rename).
    Meta {
        dir: PathBuf,
        json: Vec<u8>,
    },
    /// Apply the retention policy of ended sessions' directories.
    Prune,
}

/// Where the sessions' directories are and how many ended ones are kept.
#[derive(Debug, Clone)]
pub(crate) struct Retention {
    /// `<state_dir>/sessions`.
    pub sessions: PathBuf,
    pub policy: SessionRetention,
}

/// A retention pass reads every session's record, so passes are at least
/// this far apart; a request in between is served once it has passed.
const PRUNE_INTERVAL: Duration = Duration::from_secs(2);

/// One pass of the retention policy over `retention.sessions`: the
/// directories of sessions whose record says they ended (the record's last
/// write is when) are removed, oldest first, past the policy's age, count
/// and bytes. Directories without a readable record, or of sessions that
/// have not ended (this warden's or another's), are left alone. Returns
/// how many directories and bytes went.
pub(crate) fn prune_sessions(retention: &Retention, now_ms: u64) -> (usize, u64) {
    let span = tracing::info_span!("session_retention", dir = %retention.sessions.display());
    let _e = span.enter();
    let Ok(entries) = std::fs::read_dir(&retention.sessions) else { return (0, 0) };
    let mut ended: Vec<(PathBuf, (u64, u64))> = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let record = dir.join("session.json");
        let Ok(bytes) = std::fs::read(&record) else { continue };
        let Ok(info) = serde_json::from_slice::<warden_core::SessionInfo>(&bytes) else { continue };
        if !info.state.is_terminal() {
            continue;
        }
        let ended_at = std::fs::metadata(&record)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let size = crate::task::place::dir_bytes(&dir);
        ended.push((dir, (ended_at, size)));
    }
    let sizes: Vec<(u64, u64)> = ended.iter().map(|e| e.1).collect();
    let (mut count, mut bytes) = (0, 0);
    for i in retention.policy.to_remove(&sizes, now_ms) {
        let (dir, (_, size)) = &ended[i];
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {
                count += 1;
                bytes += size;
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove an ended session's directory"),
        }
    }
    if count > 0 {
        tracing::info!(removed = count, bytes, kept = ended.len() - count, "removed ended sessions' directories");
    }
    (count, bytes)
}

/// Writes `session.json` in `dir` atomically (a temporary file, then a
/// rename), making `dir` if needed.
pub(crate) fn write_record(dir: &Path, json: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join("session.json.tmp");
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&tmp, json))
        .and_then(|_| std::fs::rename(&tmp, dir.join("session.json")))
}

fn write_meta_now(dir: &Path, json: &[u8]) {
    if let Err(e) = write_record(dir, json) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write session.json");
    }
}

/// A thread that writes every transcript, so that the reactor never waits on
/// the disk. Its queue is bounded: a disk slower than the terminals slows the
/// reactor (and so, through the kernel, the agents) instead of losing bytes.
/// It also writes the sessions' `session.json` records, so that all of a
/// session's file work happens on one thread, in order.
#[derive(Clone)]
pub(crate) struct TranscriptWriter {
    tx: std::sync::mpsc::SyncSender<TranscriptCmd>,
    /// A `Prune` waits in the queue (so a burst of ends queues one).
    prune_queued: Arc<AtomicBool>,
}

/// Commands queued at most (each `Append` holds one batch, ≤ 320 KiB: the
/// reactor gathers up to 256 KiB plus one chunk), so at most ~20 MiB waits.
const WRITER_QUEUE: usize = 64;

impl TranscriptWriter {
    /// Starts the writer thread; with `retention`, it also prunes ended
    /// sessions' directories when asked ([`TranscriptWriter::prune`]).
    pub(crate) fn start(retention: Option<Retention>) -> std::io::Result<TranscriptWriter> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<TranscriptCmd>(WRITER_QUEUE);
        let prune_queued = Arc::new(AtomicBool::new(false));
        let queued = Arc::clone(&prune_queued);
        std::thread::Builder::new().name("warden-transcripts".into()).stack_size(256 * 1024).spawn(move || {
            let mut files: std::collections::HashMap<u64, (Transcript, Option<TruncateNotice>)> =
                std::collections::HashMap::new();
            let mut last_pass: Option<Instant> = None;
            let mut deferred: Option<Instant> = None;
            loop {
                let cmd = match deferred {
                    // Due while commands keep coming: served before the next one.
                    Some(at) if Instant::now() >= at => TranscriptCmd::Prune,
                    Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(cmd) => cmd,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => TranscriptCmd::Prune,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    },
                    None => match rx.recv() {
                        Ok(cmd) => cmd,
                        Err(_) => break,
                    },
                };
                match cmd {
                    TranscriptCmd::Prune => {
                        queued.store(false, Ordering::Release);
                        let Some(retention) = &retention else { continue };
                        let now = Instant::now();
                        match last_pass.map(|t| t + PRUNE_INTERVAL).filter(|next| *next > now) {
                            Some(next) => {
                                deferred.get_or_insert(next);
                            }
                            None => {
                                deferred = None;
                                last_pass = Some(now);
                                prune_sessions(retention, warden_core::workspace::now_ms());
                            }
                        }
                    }
                    TranscriptCmd::Open { key, path, max, on_truncate } => match Transcript::create(&path, max) {
                        Ok(t) => {
                            files.insert(key, (t, Some(on_truncate)));
                        }
                        Err(e) => tracing::warn!(error = %e, path = %path.display(), "cannot create transcript"),
                    },
                    TranscriptCmd::Append { key, data } => {
                        if let Some((t, notify)) = files.get_mut(&key)
                            && let Some(bytes) = t.append(&data)
                            && let Some(notify) = notify.take()
                        {
                            notify(bytes);
                        }
                    }
                    TranscriptCmd::Close { key, then } => {
                        files.remove(&key);
                        then();
                    }
                    TranscriptCmd::Meta { dir, json } => write_meta_now(&dir, &json),
                }
            }
        })?;
        Ok(TranscriptWriter { tx, prune_queued })
    }

    /// Asks for a retention pass over ended sessions' directories, after
    /// everything queued before (so a record written just now is seen).
    /// Never blocks: with a pass already queued, or the queue full, this is
    /// a no-op (the next ask, or the deferred pass, catches up).
    pub(crate) fn prune(&self) {
        if !self.prune_queued.swap(true, Ordering::AcqRel) && self.tx.try_send(TranscriptCmd::Prune).is_err() {
            self.prune_queued.store(false, Ordering::Release);
        }
    }

    pub(crate) fn open(&self, key: u64, path: PathBuf, max: u64, on_truncate: TruncateNotice) {
        let _ = self.tx.send(TranscriptCmd::Open { key, path, max, on_truncate });
    }

    pub(crate) fn append(&self, key: u64, data: TranscriptBatch) {
        let _ = self.tx.send(TranscriptCmd::Append { key, data });
    }

    /// Writes a session record without blocking the caller (an actor): when
    /// the queue is full, the write goes to a blocking-pool thread instead.
    pub(crate) fn write_meta(&self, dir: PathBuf, json: Vec<u8>) {
        use std::sync::mpsc::TrySendError;
        match self.tx.try_send(TranscriptCmd::Meta { dir, json }) {
            Ok(()) => {}
            Err(TrySendError::Full(TranscriptCmd::Meta { dir, json }))
            | Err(TrySendError::Disconnected(TranscriptCmd::Meta { dir, json })) => {
                tokio::task::spawn_blocking(move || write_meta_now(&dir, &json));
            }
            Err(_) => {}
        }
    }

    /// Closes the transcript and then runs `then`; runs `then` at once if the
    /// writer is gone.
    pub(crate) fn close(&self, key: u64, then: Box<dyn FnOnce() + Send>) {
        if let Err(std::sync::mpsc::SendError(TranscriptCmd::Close { then, .. })) =
            self.tx.send(TranscriptCmd::Close { key, then })
        {
            then();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(chunks: &[&[u8]]) -> TranscriptBatch {
        let mut b = TranscriptBatch::default();
        for c in chunks {
            b.push(bytes::Bytes::copy_from_slice(c));
        }
        b
    }

    #[test]
    fn batches_are_written_whole_and_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t");
        let mut t = Transcript::create(&path, 1 << 20).expect("create");
        assert_eq!(t.append(&batch(&[b"abc", b"", b"def"])), None);
        // More slices than one writev takes.
        let many: Vec<Vec<u8>> = (0..3000).map(|i| format!("{i},").into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(|v| v.as_slice()).collect();
        assert_eq!(t.append(&batch(&refs)), None);
        let want: Vec<u8> = b"abcdef".iter().copied().chain(many.concat()).collect();
        assert_eq!(std::fs::read(&path).expect("read"), want);
    }

    #[test]
    fn the_cap_cuts_inside_a_chunk_and_is_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t");
        let mut t = Transcript::create(&path, 7).expect("create");
        assert_eq!(t.append(&batch(&[b"abcd"])), None);
        assert_eq!(t.append(&batch(&[b"ef", b"ghij", b"kl"])), Some(7));
        assert_eq!(t.append(&batch(&[b"mn"])), None);
        assert_eq!(std::fs::read(&path).expect("read"), b"abcdefg");
    }
}
