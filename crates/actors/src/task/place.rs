//! Where a task's agents work, the blocking part: scratch directories and
//! their retention, the local git exclude of the files warden writes, and the
//! id of the parent clone a repository's tasks share.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};
use warden_adapters::Registry;
use warden_core::task::TaskId;
use warden_core::workspace::WorkspaceId;

/// The directory (under the workspace base) that holds scratch directories.
pub(crate) const SCRATCH_DIR: &str = ".task-scratch";

/// Instruction and approval files agents read, beside the ones the adapters name.
const INSTRUCTION_FILES: &[&str] =
    &["CLAUDE.md", ".claude/", "GEMINI.md", ".gemini/", "AGENTS.md", ".codex/", ".aider*", ".pi/"];

/// A fresh scratch directory for task `id`.
pub(crate) fn make_scratch(base: &Path, id: TaskId) -> std::io::Result<PathBuf> {
    let dir = base.join(SCRATCH_DIR).join(id.to_string());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes the oldest scratch directories not in `live` until at most
/// `max_count` remain and they hold at most `max_bytes`. Returns how many were
/// removed.
pub(crate) fn prune_scratch(base: &Path, live: &HashSet<PathBuf>, max_count: usize, max_bytes: u64) -> usize {
    let root = base.join(SCRATCH_DIR);
    let Ok(entries) = std::fs::read_dir(&root) else { return 0 };
    // Names are UUID v7 task ids: sorting by name is sorting by age.
    let mut dirs: Vec<(PathBuf, u64)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let p = e.path();
            let size = dir_bytes(&p);
            (p, size)
        })
        .collect();
    dirs.sort();
    let mut count = dirs.len();
    let mut bytes: u64 = dirs.iter().map(|(_, b)| b).sum();
    let mut removed = 0;
    for (dir, size) in dirs {
        if count <= max_count && bytes <= max_bytes {
            break;
        }
        if live.contains(&dir) {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                count -= 1;
                bytes = bytes.saturating_sub(size);
                removed += 1;
                debug!(dir = %dir.display(), "scratch directory removed by the retention policy");
            }
            Err(e) => warn!(dir = %dir.display(), error = %e, "cannot remove a scratch directory"),
        }
    }
    removed
}

/// Bytes of the files under `dir` (symbolic links not followed).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

/// The patterns of every instruction and approval file warden may write: the
/// fixed list and each adapter's memory and preset files (their top directory).
pub(crate) fn instruction_patterns(registry: &Registry) -> Vec<String> {
    let mut out: Vec<String> = INSTRUCTION_FILES.iter().map(|s| (*s).to_owned()).collect();
    for adapter in registry.adapters() {
        let mut paths: Vec<&str> = Vec::new();
        if let Some((path, _)) = &adapter.memory {
            paths.push(path);
        }
        for preset in adapter.presets.values() {
            paths.extend(preset.files.iter().map(|f| f.path.as_str()));
        }
        for path in paths {
            let pattern = match path.split_once('/') {
                Some((top, _)) => format!("{top}/"),
                None => path.to_owned(),
            };
            if !out.contains(&pattern) {
                out.push(pattern);
            }
        }
    }
    out
}

/// Adds `patterns` to the repository's local exclude file
/// (`<common git dir>/info/exclude`, shared by its worktrees), once each.
pub(crate) fn exclude_locally(workdir: &Path, patterns: &[String]) -> Result<(), String> {
    let repo = git2::Repository::open(workdir).map_err(|e| e.message().to_owned())?;
    let path = repo.commondir().join("info").join("exclude");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let have: HashSet<&str> = existing.lines().map(str::trim).collect();
    let missing: Vec<&String> = patterns.iter().filter(|p| !have.contains(p.as_str())).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# instruction and approval files written by warden\n");
    for p in missing {
        text.push_str(p);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&path, text).map_err(|e| e.to_string())
}

/// The id of the parent clone shared by every task on `source`.
pub(crate) fn parent_id(source: &str) -> WorkspaceId {
    // FNV-1a: stable across runs and builds (unlike the std hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.trim_end_matches('/').bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    WorkspaceId::parse(&format!("repo-{h:016x}")).expect("`repo-` and hex digits make a valid id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_retention_keeps_live_dirs_and_bounds_the_rest() {
        let base = tempfile::tempdir().expect("tempdir");
        let mut ids = Vec::new();
        for _ in 0..6 {
            let id = TaskId::new();
            let dir = make_scratch(base.path(), id).expect("scratch");
            std::fs::write(dir.join("f"), vec![0u8; 100]).expect("write");
            ids.push(dir);
        }
        let live: HashSet<PathBuf> = [ids[0].clone()].into();
        assert_eq!(prune_scratch(base.path(), &live, 3, u64::MAX), 3);
        assert!(ids[0].exists(), "live dirs stay");
        assert!(!ids[1].exists() && ids[5].exists(), "oldest first");
        assert_eq!(prune_scratch(base.path(), &HashSet::new(), 10, 150), 2);
        assert_eq!(std::fs::read_dir(base.path().join(SCRATCH_DIR)).expect("dir").count(), 1);
    }

    #[test]
    fn patterns_cover_the_adapters_files_and_the_exclude_is_written_once() {
        let patterns = instruction_patterns(Registry::builtin());
        for p in ["CLAUDE.md", ".claude/", "AGENTS.md", ".aider*"] {
            assert!(patterns.contains(&p.to_string()), "{p}: {patterns:?}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        git2::Repository::init(dir.path()).expect("init");
        exclude_locally(dir.path(), &patterns).expect("exclude");
        exclude_locally(dir.path(), &patterns).expect("again");
        let text = std::fs::read_to_string(dir.path().join(".git/info/exclude")).expect("read");
        assert_eq!(text.matches("CLAUDE.md").count(), 1);
        assert_eq!(parent_id("/r.git"), parent_id("/r.git/"));
    }
}
