//! What every actor of a warden instance shares.

use std::path::PathBuf;

use crate::bus::EventBus;
use crate::reactor::ReactorHandle;

/// What every actor of an instance shares (immutable after start).
pub(crate) struct Ctx {
    pub reactor: ReactorHandle,
    pub bus: EventBus,
    pub ring_bytes: usize,
    pub state_dir: PathBuf,
    pub transcripts: bool,
    pub transcript_max_bytes: u64,
    pub max_sessions: usize,
    pub retain_exited: usize,
}
