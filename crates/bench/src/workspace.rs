//! Git workspaces: worktrees provisioned per second from one parent, commits
//! per second on one workspace, and the speed-up of
//! [`PARALLEL_WORKSPACES`] workspaces committing in parallel versus one after
//! another — all through the embedding API (actors, registry, events),
//! against a local bare repository of 200 files in a temporary directory.
//! The reference is the `git` program adding worktrees to the same parent.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use warden_actors::{Warden, WardenConfig};
use warden_core::workspace::{
    BranchSpec, CloneSpec, CommitOutcome, CommitRequest, ProvisionSpec, WorkspaceRecord, WorktreeSpec,
};

use crate::BenchError;
use crate::stats::median;

/// Workspaces in the parallel-versus-sequential comparison.
pub const PARALLEL_WORKSPACES: usize = 8;
/// Worktrees the `git` program adds for the reference rate.
const GIT_CLI_WORKTREES: usize = 10;

/// What the workspace benchmark measures.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceOptions {
    /// Runs; the median is reported (at least one runs).
    pub runs: usize,
    /// Worktrees provisioned per run.
    pub worktrees: usize,
    /// Commits on one workspace per run.
    pub commits: usize,
    /// Commits per workspace in the parallel comparison.
    pub parallel_commits: usize,
}

/// Medians of the runs. Serialises to the JSON `warden workspace bench --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceReport {
    /// The options measured (not serialised).
    #[serde(skip)]
    pub options: WorkspaceOptions,
    /// Runs made.
    pub runs: usize,
    /// CPUs available.
    pub cpus: usize,
    /// Worktrees provisioned per second, all requested at once.
    pub worktrees_per_s: f64,
    /// `git worktree add` per second.
    pub git_cli_worktrees_per_s: f64,
    /// Commits per second on one workspace.
    pub commits_per_s: f64,
    /// Seconds for the workspaces' commits one after another.
    pub sequential_s: f64,
    /// Seconds for the workspaces' commits in parallel.
    pub parallel_s: f64,
    /// `sequential_s / parallel_s`.
    pub speedup: f64,
}

/// One run's figures.
struct RunFigures {
    worktrees_per_s: f64,
    git_cli_worktrees_per_s: f64,
    commits_per_s: f64,
    sequential_s: f64,
    parallel_s: f64,
}

/// Runs the benchmark `options.runs` times and reports the medians.
pub async fn measure(options: &WorkspaceOptions) -> Result<WorkspaceReport, BenchError> {
    let runs = options.runs.max(1);
    let (mut wt, mut cli, mut commit, mut seq, mut par) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let r = one_run(options, run).await?;
        wt.push(r.worktrees_per_s);
        cli.push(r.git_cli_worktrees_per_s);
        commit.push(r.commits_per_s);
        seq.push(r.sequential_s);
        par.push(r.parallel_s);
    }
    let (sequential_s, parallel_s) = (median(seq), median(par));
    Ok(WorkspaceReport {
        options: *options,
        runs,
        cpus: crate::cores(),
        worktrees_per_s: median(wt),
        git_cli_worktrees_per_s: median(cli),
        commits_per_s: median(commit),
        sequential_s,
        parallel_s,
        speedup: sequential_s / parallel_s,
    })
}

fn git(dir: &Path, args: &[&str]) -> Result<(), BenchError> {
    let failed = |detail: String| BenchError::Git { args: format!("{args:?}"), detail };
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() { Ok(()) } else { Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())) }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn seed(root: &Path) -> Result<String, BenchError> {
    let remote = root.join("remote.git").to_string_lossy().into_owned();
    let seed = root.join("seed");
    git(root, &["init", "-q", "--bare", "-b", "main", &remote])?;
    git(root, &["clone", "-q", &remote, &seed.to_string_lossy()])?;
    for d in 0..10 {
        std::fs::create_dir_all(seed.join(format!("d{d}")))?;
        for f in 0..20 {
            std::fs::write(seed.join(format!("d{d}/f{f}.txt")), format!("{d} {f}\n").repeat(20))?;
        }
    }
    git(&seed, &["add", "."])?;
    git(&seed, &["commit", "-q", "-m", "seed"])?;
    git(&seed, &["push", "-q", "origin", "HEAD:main"])?;
    Ok(remote)
}

async fn worktree(w: &Warden, parent: &str, id: String) -> Result<WorkspaceRecord, BenchError> {
    let spec = WorktreeSpec {
        parent: parent.into(),
        branch: BranchSpec::Named { name: format!("b/{id}") },
        id: Some(id),
        base: None,
    };
    Ok(w.provision_workspace(ProvisionSpec::Worktree(spec)).await?)
}

async fn commit_loop(w: Warden, ws: WorkspaceRecord, n: usize) -> Result<(), BenchError> {
    for i in 0..n {
        std::fs::write(ws.path.join(format!("d{}/f{}.txt", i % 10, i % 20)), format!("edit {i}\n"))?;
        let req = CommitRequest { message: format!("c{i}"), ..Default::default() };
        match w.commit(&ws.id, req).await? {
            CommitOutcome::Committed { .. } => {}
            CommitOutcome::NothingToCommit => return Err(BenchError::Run("expected a commit".into())),
        }
    }
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn one_run(a: &WorkspaceOptions, run: usize) -> Result<RunFigures, BenchError> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = TempDir(std::env::temp_dir().join(format!("warden-ws-bench-{}-{nanos}-{run}", std::process::id())));
    std::fs::create_dir_all(&tmp.0)?;
    let remote = seed(&tmp.0)?;
    let mut config = WardenConfig::new(tmp.0.join("state"));
    config.subreaper = false;
    let w = Warden::start(config).await?;
    let result = one_run_on(&w, a, &tmp.0, remote).await;
    w.shutdown().await;
    result
}

async fn one_run_on(w: &Warden, a: &WorkspaceOptions, root: &Path, remote: String) -> Result<RunFigures, BenchError> {
    let spec = CloneSpec {
        id: Some("parent".into()),
        source: remote,
        branch: BranchSpec::Named { name: "parent".into() },
        base: None,
        depth: None,
    };
    let parent = w.provision_workspace(ProvisionSpec::Clone(spec)).await?;

    // 1. Worktrees of one parent, all requested at once (the parent's actor serialises them).
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..a.worktrees {
        let w = w.clone();
        set.spawn(async move { worktree(&w, "parent", format!("wt{i}")).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let worktrees_per_s = a.worktrees as f64 / secs(t.elapsed());
    // Reference: the git program adding worktrees to the same parent.
    let t = Instant::now();
    for i in 0..GIT_CLI_WORKTREES {
        let dir = root.join(format!("cli{i}"));
        git(&parent.path, &["worktree", "add", "-q", "-b", &format!("cli/{i}"), &dir.to_string_lossy()])?;
    }
    let git_cli_worktrees_per_s = GIT_CLI_WORKTREES as f64 / secs(t.elapsed());

    // 2. Commits on one workspace.
    let one = worktree(w, "parent", "one".into()).await?;
    let t = Instant::now();
    commit_loop(w.clone(), one, a.commits).await?;
    let commits_per_s = a.commits as f64 / secs(t.elapsed());

    // 3. Several workspaces: one after another, then in parallel.
    let mut seq = Vec::new();
    let mut par = Vec::new();
    for i in 0..PARALLEL_WORKSPACES {
        seq.push(worktree(w, "parent", format!("seq{i}")).await?);
        par.push(worktree(w, "parent", format!("par{i}")).await?);
    }
    let t = Instant::now();
    for ws in seq {
        commit_loop(w.clone(), ws, a.parallel_commits).await?;
    }
    let sequential_s = secs(t.elapsed());
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for ws in par {
        set.spawn(commit_loop(w.clone(), ws, a.parallel_commits));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let parallel_s = secs(t.elapsed());
    Ok(RunFigures { worktrees_per_s, git_cli_worktrees_per_s, commits_per_s, sequential_s, parallel_s })
}

impl fmt::Display for WorkspaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, n) = (&self.options, PARALLEL_WORKSPACES);
        writeln!(f, "workspace benchmark (median of {} runs, {} cpus)", self.runs, self.cpus)?;
        writeln!(f, "| measure | value |")?;
        writeln!(f, "|---|---:|")?;
        writeln!(
            f,
            "| worktrees provisioned / s (one parent, {} requests at once) | {:.1} |",
            a.worktrees, self.worktrees_per_s
        )?;
        writeln!(f, "| reference: `git worktree add` / s | {:.1} |", self.git_cli_worktrees_per_s)?;
        writeln!(f, "| commits / s (one workspace, {} commits) | {:.1} |", a.commits, self.commits_per_s)?;
        writeln!(
            f,
            "| {n} workspaces x {} commits, one after another (s) | {:.3} |",
            a.parallel_commits, self.sequential_s
        )?;
        writeln!(f, "| {n} workspaces x {} commits, in parallel (s) | {:.3} |", a.parallel_commits, self.parallel_s)?;
        write!(f, "| parallel speed-up | {:.2}x |", self.speedup)
    }
}
