//! `warden workspace bench`: worktrees provisioned per second from one
//! parent, commits per second on one workspace, and the speed-up of 8
//! workspaces committing in parallel versus one after another — all through
//! the embedding API (actors, registry, events), against a local bare
//! repository of 200 files in a temporary directory.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use warden_actors::{Warden, WardenConfig};
use warden_core::workspace::{
    BranchSpec, CloneSpec, CommitOutcome, CommitRequest, ProvisionSpec, WorkspaceRecord, WorktreeSpec,
};

use crate::cli::EXIT_WARDEN_ERROR;

/// Arguments of `warden workspace bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Worktrees provisioned per run.
    #[arg(long, default_value_t = 40)]
    pub worktrees: usize,
    /// Commits on one workspace per run.
    #[arg(long, default_value_t = 200)]
    pub commits: usize,
    /// Commits per workspace in the 8-workspace comparison.
    #[arg(long, default_value_t = 40)]
    pub parallel_commits: usize,
}

const PAR_WS: usize = 8;

/// Medians of the runs.
#[derive(Debug, Serialize)]
struct Results {
    runs: usize,
    cpus: usize,
    worktrees_per_s: f64,
    git_cli_worktrees_per_s: f64,
    commits_per_s: f64,
    sequential_s: f64,
    parallel_s: f64,
    speedup: f64,
}

type Res<T> = Result<T, String>;

/// Runs the benchmark; returns the exit code.
pub async fn bench(args: &BenchArgs, json: bool) -> i32 {
    match run(args).await {
        Ok(r) => {
            if json {
                match serde_json::to_string_pretty(&r) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("warden: {e}");
                        return EXIT_WARDEN_ERROR;
                    }
                }
            } else {
                print_table(args, &r);
            }
            0
        }
        Err(e) => {
            eprintln!("warden: bench: {e}");
            EXIT_WARDEN_ERROR
        }
    }
}

fn print_table(a: &BenchArgs, r: &Results) {
    println!("workspace benchmark (median of {} runs, {} cpus)", r.runs, r.cpus);
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| worktrees provisioned / s (one parent, {} requests at once) | {:.1} |", a.worktrees, r.worktrees_per_s);
    println!("| reference: `git worktree add` / s | {:.1} |", r.git_cli_worktrees_per_s);
    println!("| commits / s (one workspace, {} commits) | {:.1} |", a.commits, r.commits_per_s);
    println!("| {PAR_WS} workspaces x {} commits, one after another (s) | {:.3} |", a.parallel_commits, r.sequential_s);
    println!("| {PAR_WS} workspaces x {} commits, in parallel (s) | {:.3} |", a.parallel_commits, r.parallel_s);
    println!("| parallel speed-up | {:.2}x |", r.speedup);
}

fn git(dir: &Path, args: &[&str]) -> Res<()> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(args: &BenchArgs) -> Res<Results> {
    let runs = args.runs.max(1);
    let (mut wt, mut cli, mut commit, mut seq, mut par) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let r = one_run(args, run).await?;
        wt.push(r.0);
        cli.push(r.1);
        commit.push(r.2);
        seq.push(r.3);
        par.push(r.4);
    }
    let (sequential_s, parallel_s) = (median(seq), median(par));
    Ok(Results {
        runs,
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        worktrees_per_s: median(wt),
        git_cli_worktrees_per_s: median(cli),
        commits_per_s: median(commit),
        sequential_s,
        parallel_s,
        speedup: sequential_s / parallel_s,
    })
}

fn seed(root: &Path) -> Res<String> {
    let remote = root.join("remote.git").to_string_lossy().into_owned();
    let seed = root.join("seed");
    git(root, &["init", "-q", "--bare", "-b", "main", &remote])?;
    git(root, &["clone", "-q", &remote, &seed.to_string_lossy()])?;
    for d in 0..10 {
        std::fs::create_dir_all(seed.join(format!("d{d}"))).map_err(|e| e.to_string())?;
        for f in 0..20 {
            std::fs::write(seed.join(format!("d{d}/f{f}.txt")), format!("{d} {f}\n").repeat(20))
                .map_err(|e| e.to_string())?;
        }
    }
    git(&seed, &["add", "."])?;
    git(&seed, &["commit", "-q", "-m", "seed"])?;
    git(&seed, &["push", "-q", "origin", "HEAD:main"])?;
    Ok(remote)
}

async fn worktree(w: &Warden, parent: &str, id: String) -> Res<WorkspaceRecord> {
    let spec = WorktreeSpec {
        parent: parent.into(),
        branch: BranchSpec::Named { name: format!("b/{id}") },
        id: Some(id),
        base: None,
    };
    w.provision_workspace(ProvisionSpec::Worktree(spec)).await.map_err(|e| e.to_string())
}

async fn commit_loop(w: Warden, ws: WorkspaceRecord, n: usize) -> Res<()> {
    for i in 0..n {
        std::fs::write(ws.path.join(format!("d{}/f{}.txt", i % 10, i % 20)), format!("edit {i}\n"))
            .map_err(|e| e.to_string())?;
        let req = CommitRequest { message: format!("c{i}"), ..Default::default() };
        match w.commit(&ws.id, req).await.map_err(|e| e.to_string())? {
            CommitOutcome::Committed { .. } => {}
            CommitOutcome::NothingToCommit => return Err("expected a commit".into()),
        }
    }
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn one_run(a: &BenchArgs, run: usize) -> Res<(f64, f64, f64, f64, f64)> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = TempDir(std::env::temp_dir().join(format!("warden-ws-bench-{}-{nanos}-{run}", std::process::id())));
    std::fs::create_dir_all(&tmp.0).map_err(|e| e.to_string())?;
    let remote = seed(&tmp.0)?;
    let mut config = WardenConfig::new(tmp.0.join("state"));
    config.subreaper = false;
    let w = Warden::start(config).await.map_err(|e| e.to_string())?;
    let result = measure(&w, a, &tmp.0, remote).await;
    w.shutdown().await;
    result
}

async fn measure(w: &Warden, a: &BenchArgs, root: &Path, remote: String) -> Res<(f64, f64, f64, f64, f64)> {
    let spec = CloneSpec {
        id: Some("parent".into()),
        source: remote,
        branch: BranchSpec::Named { name: "parent".into() },
        base: None,
        depth: None,
    };
    let parent = w.provision_workspace(ProvisionSpec::Clone(spec)).await.map_err(|e| e.to_string())?;

    // 1. Worktrees of one parent, all requested at once (the parent's actor serialises them).
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..a.worktrees {
        let w = w.clone();
        set.spawn(async move { worktree(&w, "parent", format!("wt{i}")).await });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    let wt_rate = a.worktrees as f64 / secs(t.elapsed());
    // Reference: the git program adding worktrees to the same parent.
    let t = Instant::now();
    for i in 0..10 {
        let dir = root.join(format!("cli{i}"));
        git(&parent.path, &["worktree", "add", "-q", "-b", &format!("cli/{i}"), &dir.to_string_lossy()])?;
    }
    let cli_rate = 10.0 / secs(t.elapsed());

    // 2. Commits on one workspace.
    let one = worktree(w, "parent", "one".into()).await?;
    let t = Instant::now();
    commit_loop(w.clone(), one, a.commits).await?;
    let commit_rate = a.commits as f64 / secs(t.elapsed());

    // 3. Eight workspaces: one after another, then in parallel.
    let mut seq = Vec::new();
    let mut par = Vec::new();
    for i in 0..PAR_WS {
        seq.push(worktree(w, "parent", format!("seq{i}")).await?);
        par.push(worktree(w, "parent", format!("par{i}")).await?);
    }
    let t = Instant::now();
    for ws in seq {
        commit_loop(w.clone(), ws, a.parallel_commits).await?;
    }
    let seq_s = secs(t.elapsed());
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for ws in par {
        set.spawn(commit_loop(w.clone(), ws, a.parallel_commits));
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    let par_s = secs(t.elapsed());
    Ok((wt_rate, cli_rate, commit_rate, seq_s, par_s))
}
