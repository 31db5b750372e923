//! The adapters a running node reads its sessions with: the registry it was
//! configured with ([`crate::WardenConfig::adapters`]) overlaid with the user's rule
//! overlays, `<overlays>/<agent>.d/*.toml` ([`crate::WardenConfig::adapter_overlays`],
//! by default `<config dir>/adapters`), picked up without a restart.
//!
//! A poll task looks at the directory every [`crate::WardenConfig::overlay_poll`]
//! (one `read_dir` per `*.d` directory and a `stat` per file, on a blocking thread);
//! when a file was added, removed or changed, the overlays are read and laid over
//! the configured registry again. A session asks the book for its adapter on every
//! look, so the next screen after a change is read with the new rules. An overlay
//! that does not load (bad TOML, a bad regex, an unknown agent) is reported once as
//! a warning and left out; the others still apply.
//!
//! Lock: the book's one mutex guards the current registry and the per-agent cache;
//! nothing else is locked while it is held, and no IO happens under it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tracing::{info, warn};
use warden_adapters::{Adapter, OverlayFile, Registry};

use crate::sync::lock;

/// Most overlay files read (per node); more are ignored with a warning.
const MAX_OVERLAY_FILES: usize = 256;
/// Largest overlay file read.
const MAX_OVERLAY_BYTES: u64 = 1 << 20;

/// What identifies the overlay directory's contents: each file's path, length and
/// modification time.
type Fingerprint = Vec<(PathBuf, u64, i128)>;

/// The node's adapters, with the user's overlays. See the module documentation.
pub(crate) struct AdapterBook {
    base: Arc<Registry>,
    dir: Option<PathBuf>,
    state: Mutex<BookState>,
}

struct BookState {
    registry: Arc<Registry>,
    fingerprint: Fingerprint,
    by_agent: HashMap<String, Arc<Adapter>>,
}

impl AdapterBook {
    /// The book of `base` with the overlays in `dir` (read now: blocking IO).
    pub(crate) fn new(base: Arc<Registry>, dir: Option<PathBuf>) -> AdapterBook {
        let book = AdapterBook {
            state: Mutex::new(BookState {
                registry: Arc::clone(&base),
                fingerprint: Vec::new(),
                by_agent: HashMap::new(),
            }),
            base,
            dir,
        };
        book.refresh();
        book
    }

    /// The registry now (configured adapters with the overlays).
    pub(crate) fn registry(&self) -> Arc<Registry> {
        Arc::clone(&lock(&self.state).registry)
    }

    /// The adapter of `agent` now; an agent no manifest knows gets a bare adapter
    /// (no rules). Compiled once per agent and change of the overlays (at most 256
    /// names are kept; more are compiled per call).
    pub(crate) fn adapter(&self, agent: &str) -> Arc<Adapter> {
        let mut st = lock(&self.state);
        if let Some(a) = st.by_agent.get(agent) {
            return Arc::clone(a);
        }
        let a = Arc::new(match st.registry.get(agent) {
            Some(known) => known.clone(),
            None => bare_adapter(agent),
        });
        if st.by_agent.len() < 256 {
            st.by_agent.insert(agent.to_string(), Arc::clone(&a));
        }
        a
    }

    /// Looks at the overlay directory; when it changed, reads the overlays and lays
    /// them over the configured registry. Blocking IO: call it off the async workers.
    /// Returns whether the registry changed.
    pub(crate) fn refresh(&self) -> bool {
        let Some(dir) = &self.dir else { return false };
        let fingerprint = fingerprint(dir);
        if lock(&self.state).fingerprint == fingerprint {
            return false;
        }
        let files = read_overlays(&fingerprint, dir);
        let mut registry = (*self.base).clone();
        let mut applied = 0;
        for file in &files {
            match registry.overlaid(std::slice::from_ref(file)) {
                Ok(r) => {
                    registry = r;
                    applied += 1;
                }
                Err(e) => warn!(file = %file.origin, error = %e, "adapter overlay left out"),
            }
        }
        info!(dir = %dir.display(), overlays = applied, "adapter overlays loaded");
        let mut st = lock(&self.state);
        st.fingerprint = fingerprint;
        st.registry = Arc::new(registry);
        st.by_agent.clear();
        true
    }
}

/// `base` with the overlays in `dir` laid over it, read once (blocking IO), and the
/// overlays that were left out, each with why: for callers that read the overlays
/// without running a node (`warden adapters explain`).
pub fn overlaid_registry(base: &Registry, dir: &Path) -> (Registry, Vec<String>) {
    let files = read_overlays(&fingerprint(dir), dir);
    let mut registry = base.clone();
    let mut problems = Vec::new();
    for file in &files {
        match registry.overlaid(std::slice::from_ref(file)) {
            Ok(r) => registry = r,
            Err(e) => problems.push(e.to_string()),
        }
    }
    (registry, problems)
}

/// The files `<dir>/<agent>.d/*.toml`, sorted, with their length and mtime.
fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    let Ok(agents) = std::fs::read_dir(dir) else { return out };
    for agent in agents.flatten() {
        let path = agent.path();
        if !path.is_dir() || path.extension().and_then(|e| e.to_str()) != Some("d") {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&path) else { continue };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            if let Ok(meta) = std::fs::metadata(&p)
                && meta.is_file()
            {
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128);
                out.push((p, meta.len(), mtime));
            }
        }
    }
    out.sort();
    out
}

fn read_overlays(fingerprint: &Fingerprint, dir: &Path) -> Vec<OverlayFile> {
    if fingerprint.len() > MAX_OVERLAY_FILES {
        warn!(dir = %dir.display(), files = fingerprint.len(), max = MAX_OVERLAY_FILES, "too many adapter overlays; the rest are ignored");
    }
    fingerprint
        .iter()
        .take(MAX_OVERLAY_FILES)
        .filter_map(|(path, len, _)| {
            if *len > MAX_OVERLAY_BYTES {
                warn!(file = %path.display(), "adapter overlay larger than 1 MiB left out");
                return None;
            }
            let agent = path.parent()?.file_stem()?.to_str()?.to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => Some(OverlayFile { agent, origin: path.display().to_string(), text }),
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "adapter overlay not readable");
                    None
                }
            }
        })
        .collect()
}

/// The adapter of an agent no manifest knows: no rules, so every screen is
/// `unknown` and changes no state (named after the agent, in `[A-Za-z0-9_-]`).
fn bare_adapter(agent: &str) -> warden_adapters::Adapter {
    let name: String = agent.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    let name = if name.is_empty() { "custom" } else { name.as_str() };
    let toml = format!("name = \"{name}\"\nprogram = \"{name}\"\n");
    warden_adapters::parse_manifest(&toml)
        .and_then(|m| warden_adapters::Adapter::from_manifest(&m))
        .unwrap_or_else(|_| warden_adapters::Registry::builtin().adapters()[0].clone())
}

/// Looks at the overlays every `every` while the book lives.
pub(crate) fn watch(book: Weak<AdapterBook>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(b) = book.upgrade() else { return };
            if b.dir.is_none() {
                return;
            }
            let _ = tokio::task::spawn_blocking(move || b.refresh()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROB: &str =
        "[[rules]]\nid = \"frob\"\nstate = \"blocking\"\nkind = \"permission\"\npattern = 'Frobnicate'\n";

    #[test]
    fn unknown_agents_get_a_bare_adapter_named_after_them() {
        let a = bare_adapter("my tool!");
        assert_eq!(a.name, "mytool");
        assert!(a.rules.is_empty());
        assert_eq!(bare_adapter("").name, "custom");
    }

    #[test]
    fn overlays_are_read_at_start_and_again_when_they_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let claude_d = dir.path().join("claude.d");
        std::fs::create_dir_all(&claude_d).expect("mkdir");
        let book = AdapterBook::new(Arc::new(Registry::builtin().clone()), Some(dir.path().to_path_buf()));
        assert!(book.adapter("claude").rule("frob").is_none());
        assert!(!book.refresh(), "nothing changed");
        std::fs::write(claude_d.join("frob.toml"), FROB).expect("write");
        assert!(book.refresh());
        let claude = book.adapter("claude");
        let frob = claude.rule("frob").expect("overlaid");
        assert!(frob.overlay.as_deref().is_some_and(|o| o.ends_with("claude.d/frob.toml")));
        // A broken overlay is left out; the good ones stay.
        std::fs::write(claude_d.join("zz-bad.toml"), "[[rules]]\nid = 3\n").expect("write");
        assert!(book.refresh());
        assert!(book.adapter("claude").rule("frob").is_some());
        std::fs::remove_file(claude_d.join("frob.toml")).expect("rm");
        assert!(book.refresh());
        assert!(book.adapter("claude").rule("frob").is_none());
        assert_eq!(book.adapter("nobody-knows").rules.len(), 0, "bare adapter");
    }
}
