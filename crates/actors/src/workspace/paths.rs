//! Keeping workspaces inside `base_dir` and file arguments inside a workspace.

use std::path::{Component, Path, PathBuf};

use crate::workspace::error::WorkspaceError;
use warden_core::workspace::naming::{NamingError, WorkspaceId};

/// Create (if needed) and canonicalise the directory that holds workspaces.
pub fn prepare_base_dir(base_dir: &Path) -> Result<PathBuf, WorkspaceError> {
    std::fs::create_dir_all(base_dir).map_err(|e| WorkspaceError::io(format!("creating {}", base_dir.display()), e))?;
    base_dir.canonicalize().map_err(|e| WorkspaceError::io(format!("resolving {}", base_dir.display()), e))
}

/// `base_dir/<id>`, for a workspace that does not exist yet.
pub fn new_workspace_dir(base_dir: &Path, id: &WorkspaceId) -> Result<PathBuf, WorkspaceError> {
    let dir = base_dir.join(id.as_str());
    match std::fs::symlink_metadata(&dir) {
        Ok(_) => Err(WorkspaceError::AlreadyExists { what: format!("directory {}", dir.display()) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dir),
        Err(e) => Err(WorkspaceError::io(format!("inspecting {}", dir.display()), e)),
    }
}

/// Check that an existing workspace directory is a real directory inside
/// `base_dir` (no symlink leading out) and return its canonical form.
pub fn existing_workspace_dir(base_dir: &Path, dir: &Path) -> Result<PathBuf, WorkspaceError> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            WorkspaceError::NotFound { what: format!("directory {}", dir.display()) }
        } else {
            WorkspaceError::io(format!("inspecting {}", dir.display()), e)
        }
    })?;
    let escape = || WorkspaceError::PathEscape { path: dir.to_path_buf(), root: base_dir.to_path_buf() };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(escape());
    }
    let canon = dir.canonicalize().map_err(|e| WorkspaceError::io(format!("resolving {}", dir.display()), e))?;
    if canon.parent() != Some(base_dir) {
        return Err(escape());
    }
    Ok(canon)
}

/// Validate a caller-supplied path inside a workspace (e.g. a file to
/// commit): relative, no `..`, no NUL, no component that names the git
/// directory ([`names_git_dir`]: `.git`, `.GIT`, `sub/.git`, …), and no
/// symlinked directory on the way that leads out of `root`. Returns the path
/// with `/` separators.
pub fn relative_path_in(root: &Path, path: &str) -> Result<String, WorkspaceError> {
    let invalid = |source| WorkspaceError::InvalidName { name: path.to_owned(), source };
    if path.is_empty() {
        return Err(invalid(NamingError::Empty));
    }
    if path.contains('\0') {
        return Err(invalid(NamingError::ForbiddenChar { ch: '\0' }));
    }
    let escape = || WorkspaceError::PathEscape { path: PathBuf::from(path), root: root.to_path_buf() };
    let p = Path::new(path);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(escape());
            }
        }
    }
    if parts.is_empty() || parts.iter().any(|part| names_git_dir(part)) {
        return Err(escape());
    }
    // Resolve the deepest existing ancestor and make sure it stays inside.
    let joined = root.join(parts.join("/"));
    let mut probe = joined.parent().map(Path::to_path_buf);
    while let Some(dir) = probe {
        if dir.exists() {
            let canon =
                dir.canonicalize().map_err(|e| WorkspaceError::io(format!("resolving {}", dir.display()), e))?;
            if !canon.starts_with(root) {
                return Err(escape());
            }
            break;
        }
        probe = dir.parent().map(Path::to_path_buf);
    }
    Ok(parts.join("/"))
}

/// Whether one path component names a git directory as git itself sees it
/// (`verify_path` with `core.protectNTFS`, on by default, and
/// `core.protectHFS`): `.git` in any case, also with trailing dots or spaces
/// (`.git.`, `.GIT `), an NTFS stream (`.git::$INDEX_ALLOCATION`) or a
/// backslash after it, or characters HFS+ ignores inside (`.g\u{200c}it`),
/// and its NTFS short name `git~1` the same ways. git refuses such paths in
/// its index, so a commit of one could only ever do nothing, or reach into
/// `.git`.
pub fn names_git_dir(component: &str) -> bool {
    // Code points HFS+ ignores when it compares names.
    const HFS_IGNORED: &[char] = &[
        '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
        '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}', '\u{206f}', '\u{feff}',
    ];
    let folded: String = component.chars().filter(|c| !HFS_IGNORED.contains(c)).collect();
    let head = folded.split([':', '\\']).next().unwrap_or_default();
    let trimmed = head.trim_end_matches(['.', ' ']);
    trimmed.eq_ignore_ascii_case(".git") || trimmed.eq_ignore_ascii_case("git~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_dir_is_named_in_every_spelling_git_refuses() {
        for name in [
            ".git",
            ".GIT",
            ".Git",
            ".gIt",
            ".git.",
            ".GIT  ",
            ".git. .",
            "git~1",
            "GIT~1",
            "git~1. ",
            ".git::$INDEX_ALLOCATION",
            ".git\\config",
            ".g\u{200c}it",
            "\u{feff}.git",
        ] {
            assert!(names_git_dir(name), "{name:?}");
        }
        for name in ["git", ".github", ".gitignore", ".git~1", "x.git", ".gitx", "git~2", ".", "..", ""] {
            assert!(!names_git_dir(name), "{name:?}");
        }
    }

    #[test]
    fn commit_paths_naming_the_git_dir_or_leaving_the_root_are_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path().canonicalize().expect("canonical");
        for bad in [
            ".git",
            ".GIT",
            ".Git/config",
            "./.git",
            ".git/..",
            "sub/.git/HEAD",
            "sub/.GIT",
            "git~1/config",
            ".git.",
            "..",
            "a/../../b",
            "/etc/passwd",
            ".",
            "./",
        ] {
            let err = relative_path_in(&root, bad).expect_err(bad);
            assert!(matches!(err, WorkspaceError::PathEscape { .. }), "{bad}: {err:?}");
        }
        for good in
            ["src/lib.rs", "./README.md", ".github/workflows/ci.yml", ".gitignore", "docs/.git-blame-ignore-revs"]
        {
            assert!(relative_path_in(&root, good).is_ok(), "{good}");
        }
    }
}
