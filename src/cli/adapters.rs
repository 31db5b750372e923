//! `warden adapters`: which agent CLIs are installed, their versions and whether
//! credentials look present (preflight); `warden adapters explain`: what an adapter
//! reads from a captured screen, and why.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use warden_actors::preflight::{self, AuthReport, AuthStatus, PreflightEnv, PreflightReport};
use warden_adapters::{Registry, ScreenView, Verdict};

use super::EXIT_WARDEN_ERROR;

/// Arguments of `warden adapters`.
#[derive(Debug, Args)]
pub struct AdaptersArgs {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// An adapter manifest (TOML, one adapter per file) that overrides a built-in or
    /// defines a generic adapter; repeat for more files. The same option as
    /// `warden run --adapter-file` (`--config` is kept as a hidden alias).
    #[arg(long = "adapter-file", alias = "config", value_name = "FILE", global = true)]
    pub config: Vec<PathBuf>,
    /// Without a subcommand: list every adapter.
    #[command(subcommand)]
    pub command: Option<AdaptersCmd>,
}

/// Subcommands of `warden adapters`.
#[derive(Debug, Subcommand)]
pub enum AdaptersCmd {
    /// Classify a captured screen (text as `tmux capture-pane -p` prints it) with an
    /// adapter's rules and print the verdict with its provenance.
    Explain(ExplainArgs),
    /// Start each installed agent CLI once (preset standard, task `hi`, a throwaway
    /// HOME and directory, no credentials) and report its version, the rules that
    /// fired, whether it took its launch flags, and whether warden's verdict matches
    /// its screen. Exit status 1 when a CLI rejected its flags, was refused, or a
    /// verdict does not match.
    Check(CheckArgs),
}

/// Arguments of `warden adapters check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check only this adapter (repeatable); default: every agent CLI.
    #[arg(long)]
    pub agent: Vec<String>,
    /// Longest wait for one CLI, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

/// Arguments of `warden adapters explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Adapter name or alias.
    #[arg(long)]
    pub agent: String,
    /// Screen text file.
    #[arg(long, value_name = "FILE")]
    pub screen: PathBuf,
    /// Screen width in columns (default: the widest line).
    #[arg(long)]
    pub cols: Option<u16>,
}

/// Runs `warden adapters`; returns the exit code. `overlays` is the rule overlays
/// directory (`<config dir>/adapters`).
pub async fn adapters(_state_dir: Option<PathBuf>, overlays: PathBuf, args: AdaptersArgs) -> i32 {
    if let Some(AdaptersCmd::Check(c)) = &args.command {
        return check(&args.config, overlays, c, args.json).await;
    }
    let registry = match preflight::registry_from_files(&args.config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    let (registry, problems) = warden_actors::adapter_book::overlaid_registry(&registry, &overlays);
    for p in problems {
        eprintln!("warden: overlay left out: {p}");
    }
    match &args.command {
        None => list(&registry, args.json).await,
        Some(AdaptersCmd::Explain(e)) => explain(&registry, e, args.json),
        Some(AdaptersCmd::Check(_)) => EXIT_WARDEN_ERROR,
    }
}

/// `warden adapters check`: a warden of its own in a scratch directory (state, homes,
/// working directories), removed afterwards.
async fn check(config: &[PathBuf], overlays: PathBuf, args: &CheckArgs, json: bool) -> i32 {
    let registry = match preflight::registry_from_files(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    let scratch = match tempfile::Builder::new().prefix("warden-check-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("warden: cannot make a scratch directory: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    let mut wc = warden_actors::WardenConfig::new(scratch.path().join("state"));
    wc.adapters = std::sync::Arc::new(registry);
    wc.adapter_overlays = Some(overlays);
    wc.stop_grace = std::time::Duration::from_secs(1);
    let warden = match warden_actors::Warden::start(wc).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    let req = warden_actors::check::CheckRequest {
        agents: args.agent.clone(),
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        scratch: scratch.path().join("cli"),
    };
    let reports = warden_actors::check::check(&warden, &req).await;
    warden.shutdown().await;
    let failed = reports.iter().any(|r| {
        r.installed
            && (!r.matches
                || matches!(
                    r.flags,
                    warden_actors::check::FlagsOutcome::Rejected | warden_actors::check::FlagsOutcome::Refused
                ))
    });
    if json {
        let code = print_json(&reports);
        return if code != 0 { code } else { i32::from(failed) };
    }
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                r.agent.clone(),
                r.version.clone().unwrap_or_else(|| if r.installed { "?".into() } else { "-".into() }),
                r.flags.as_str().to_string(),
                r.verdict.clone(),
                r.screen.clone(),
                if !r.installed {
                    "-".into()
                } else if r.matches {
                    "yes".into()
                } else {
                    "NO".into()
                },
                if r.rules_fired.is_empty() { "-".into() } else { r.rules_fired.join(", ") },
            ]
        })
        .collect();
    let header = ["AGENT", "VERSION", "FLAGS", "VERDICT", "SCREEN", "MATCH", "RULES FIRED"].map(String::from);
    print!("{}", table(&header, &rows));
    for r in &reports {
        if let Some(d) = &r.detail
            && r.installed
        {
            println!("{}: {}", r.agent, super::print::clean(d));
        }
    }
    i32::from(failed)
}

async fn list(registry: &Registry, json: bool) -> i32 {
    let env = PreflightEnv::from_process(registry);
    let reports = preflight::preflight_report(registry, &env).await;
    if json {
        return print_json(&reports);
    }
    let rows: Vec<[String; 5]> = reports
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                if r.installed { "yes".into() } else { "no".into() },
                r.version.clone().unwrap_or_else(|| "-".into()),
                auth_cell(&r.auth),
                where_cell(r),
            ]
        })
        .collect();
    let header = ["NAME", "INSTALLED", "VERSION", "AUTH", "PATH / INSTALL"].map(String::from);
    print!("{}", table(&header, &rows));
    println!("\ncontainment: {}", warden_actors::probe_containment().describe());
    0
}

fn auth_cell(auth: &AuthReport) -> String {
    let seen: Vec<String> = auth.env.iter().cloned().chain(auth.login_files.iter().cloned()).collect();
    match auth.status {
        AuthStatus::Present => format!("present ({})", seen.join(", ")),
        AuthStatus::Absent => "absent".into(),
        AuthStatus::Unknown => "unknown".into(),
    }
}

fn where_cell(r: &PreflightReport) -> String {
    match &r.path {
        Some(p) => p.clone(),
        None => format!("install: {}", r.install_hint),
    }
}

/// Left-aligned columns, two spaces apart (`table::columns`).
fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.to_vec()).collect();
    super::table::columns(&header, &rows)
}

fn explain(registry: &Registry, args: &ExplainArgs, json: bool) -> i32 {
    let Some(adapter) = registry.get(&args.agent) else {
        let name: String = args.agent.chars().take(64).collect();
        eprintln!("warden: unknown agent type `{name}`; known agent types: {}", registry.names().join(", "));
        return EXIT_WARDEN_ERROR;
    };
    let bytes = match std::fs::read(&args.screen) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("warden: cannot read screen file {}: {e}", args.screen.display());
            return EXIT_WARDEN_ERROR;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut view = ScreenView::text(&text);
    if let Some(cols) = args.cols {
        view = view.with_cols(cols);
    }
    let verdict = adapter.classify(&view);
    // The overlay file the winning rule came from, if it came from one.
    let overlay = verdict.provenance.as_ref().and_then(|p| adapter.rule(&p.rule)).and_then(|r| r.overlay.clone());
    if json {
        return print_json(&json!({
            "agent": adapter.name,
            "screen": args.screen.display().to_string(),
            "state": verdict.state.label(),
            "overlay": overlay,
            "verdict": verdict,
        }));
    }
    print!("{}", explain_text(&adapter.name, &verdict, overlay.as_deref()));
    0
}

fn explain_text(agent: &str, v: &Verdict, overlay: Option<&str>) -> String {
    let mut out = format!("agent:    {agent}\nstate:    {}\n", v.state.label());
    match &v.provenance {
        Some(p) => {
            out.push_str(&format!("rule:     {}\nregion:   {}\nevidence: {:?}\n", p.rule, p.region, p.evidence));
            if let Some(file) = overlay {
                out.push_str(&format!("overlay:  {file}\n"));
            }
        }
        None => out.push_str("rule:     (none: no rule recognises this screen; it changes no state)\n"),
    }
    out.push_str(&format!("loading:  {}\n", v.loading));
    if let Some(l) = &v.login {
        out.push_str(&format!("login:    {} (rule {})\n", l.kind, l.provenance.rule));
        if let Some(url) = &l.url {
            out.push_str(&format!("  url:    {url}\n"));
        }
        if let Some(code) = &l.code {
            out.push_str(&format!("  code:   {code}\n"));
        }
        out.push_str(&format!("  what:   {}\n", l.instructions));
    }
    if let Some(b) = &v.blocking {
        out.push_str(&format!("prompt:   {} (rule {}): {:?}\n", b.kind, b.provenance.rule, b.prompt));
        let answer = match &b.response {
            None => "none".to_string(),
            Some(warden_core::Reply::Text(t)) => format!("{t:?}"),
            Some(keys) => keys.to_string(),
        };
        out.push_str(&format!(
            "  answer: {answer} (safe: {}, from preset {}, once: {})\n",
            b.safe,
            b.min_preset.as_str(),
            b.once
        ));
    }
    out
}

fn print_json<T: serde::Serialize>(value: &T) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("warden: cannot encode JSON: {e}");
            EXIT_WARDEN_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let header = ["A", "BB"].map(String::from);
        let rows = [["long".to_string(), "x".to_string()]];
        assert_eq!(table(&header, &rows), "A     BB\nlong  x\n");
    }
}
