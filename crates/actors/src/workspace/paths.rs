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
/// commit): relative, no `..`, no NUL, and no symlinked directory on the way
/// that leads out of `root`. Returns the path with `/` separators.
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
    if parts.is_empty() || parts.first().is_some_and(|f| f == ".git") {
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
