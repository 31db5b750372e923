//! The on-disk transcript: every byte a session's terminal produced, exactly.
//!
//! Written by the reactor thread as it reads, before the bytes reach any
//! actor, so a crash of an actor never leaves a hole in it. Bounded by a size
//! cap; past the cap nothing more is stored and one event says so.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

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

    /// Appends; returns `Some(bytes)` the first time the cap cuts the stream.
    pub(crate) fn append(&mut self, data: &[u8]) -> Option<u64> {
        if self.truncated {
            return None;
        }
        let room = self.max.saturating_sub(self.written) as usize;
        let take = room.min(data.len());
        if let Err(e) = self.file.write_all(&data[..take]) {
            tracing::warn!(error = %e, "transcript write failed; transcript stops here");
            self.truncated = true;
            return Some(self.written);
        }
        self.written += take as u64;
        if take < data.len() {
            self.truncated = true;
            return Some(self.written);
        }
        None
    }
}
