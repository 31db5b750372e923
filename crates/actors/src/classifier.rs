//! The pluggable stall classifier: asked about a stall when the adapter's own
//! heuristics do not recognise the screen (an in-process trait object; a
//! remote coordinator can stand behind one).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use warden_core::SessionId;
use warden_core::stall::Classification;

/// What a classifier is told about a stall.
#[derive(Debug, Clone)]
pub struct StallContext {
    /// The session.
    pub session: SessionId,
    /// Its adapter.
    pub agent: String,
    /// The screen text.
    pub screen: String,
    /// The terminal title.
    pub title: String,
}

/// The answer of a classifier, or `None` when it cannot tell.
pub type ClassifyFuture = Pin<Box<dyn Future<Output = Option<Classification>> + Send>>;

/// Classifies stalls the adapter's heuristics do not recognise.
pub trait StallClassifier: Send + Sync + 'static {
    /// A name for events (`source`).
    fn name(&self) -> &str;
    /// How long warden waits for an answer (default 5 s); no answer in time
    /// counts as none, and the escalation ladder goes on.
    fn timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    /// Classifies one stall.
    fn classify(&self, ctx: StallContext) -> ClassifyFuture;
}
