//! Git repositories for the tests: git isolated from the system's config,
//! and a bare repository to clone from and push to.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs git in `dir` (no system config, no prompt); its stdout, or a panic with its stderr.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `p` as a string, for git arguments.
pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A bare repository `<root>/remote.git` with one commit on `main` (README.md).
pub fn bare_remote(root: &Path) -> PathBuf {
    let remote = root.join("remote.git");
    let seed = root.join("seed");
    git(root, &["init", "--bare", "-q", "-b", "main", &s(&remote)]);
    git(root, &["clone", "-q", &s(&remote), &s(&seed)]);
    fs::write(seed.join("README.md"), "hello\n").expect("write");
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "-q", "-m", "initial"]);
    git(&seed, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    remote
}
