//! One launch path: [`Warden::spawn_agent`] starts an agent from an [`AgentRequest`]
//! the same way for every caller — `warden run`, the NATS bridge's `spawn_agent` and
//! `create_task` — so a remote caller gets exactly what a local one gets.
//!
//! The request names the agent or asks for one to be chosen ([`AgentChoice`]); the
//! adapter (from [`crate::WardenConfig::adapters`]: the built-ins plus the user's
//! manifests) makes the launch plan: its program and arguments, the approval preset's
//! flags, environment and config files, the memory file and the arguments that make the
//! CLI read it, the caller's extra arguments, and the task as an argument, after a flag
//! or typed in, as the manifest says ([`warden_adapters::Adapter::launch`]).
//!
//! The decisions are pure ([`plan`], tested by tables below; selection in
//! [`warden_adapters::select_or_fallback`]); [`Warden::spawn_agent`] carries out the
//! effects in order: probe what is installed (only when choosing), check the working
//! directory, write the files, spawn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::info;
use warden_adapters::{
    Adapter, CliFacts, LaunchRequest, PresetFiles, Registry, SelectError, Selection, Strategy, WorkspaceFile, WriteMode,
};
use warden_core::restart::RestartLimits;
use warden_core::{
    ApprovalPreset, LoopGuard, ResponseRule, RestartPolicy, SessionInfo, SessionSpec, StallSpec, SupervisionLevel,
    TermSize,
};

use crate::error::SessionError;
use crate::handle::{Warden, check_workdir};
use crate::preflight::{self, PreflightEnv};

/// Which adapter starts the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChoice {
    /// This adapter (canonical name or alias, any case).
    Named(String),
    /// Chosen by `strategy` from what is installed on this node; the registry's
    /// fallback adapter (the shell) when no agent CLI is usable.
    Selected(Strategy),
    /// The registry's fallback adapter (the shell): for a caller that names a program
    /// but no agent.
    Fallback,
}

/// What to start: an agent, its task and how it is supervised.
///
/// Built with [`AgentRequest::named`] (or [`AgentRequest::selected`],
/// [`AgentRequest::fallback`]) and the field setters; every field has the default
/// [`SessionSpec`] has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    /// Which adapter.
    pub agent: AgentChoice,
    /// The task: an argument, after a flag, or typed in once the agent is ready, as the
    /// adapter says.
    pub task: Option<String>,
    /// The approval preset. Its flags and environment are always applied (`standard`
    /// when `None`); its config files are written into the working directory only when
    /// it is given, and never over a different file of the user's.
    pub preset: Option<ApprovalPreset>,
    /// Instructions appended to the agent's memory file (`CLAUDE.md`, `AGENTS.md`, …)
    /// in the working directory before it starts; refused for an adapter without one.
    pub memory: Option<String>,
    /// A program to run instead of the adapter's: it gets only [`AgentRequest::args`],
    /// and the task is typed in. For local callers; the bridge never sets it.
    pub program: Option<String>,
    /// Extra arguments, after the adapter's and the preset's, before the task's.
    pub args: Vec<String>,
    /// Extra environment (wins over the adapter's and the preset's).
    pub env: BTreeMap<String, String>,
    /// Working directory (must exist); `None` is warden's own.
    pub workdir: Option<PathBuf>,
    /// Terminal size.
    pub size: TermSize,
    /// A label for humans and coordinators.
    pub label: Option<String>,
    /// What warden may answer by itself.
    pub supervision: SupervisionLevel,
    /// The session's own auto-response rules.
    pub rules: Vec<ResponseRule>,
    /// Extra loading patterns.
    pub loading: Vec<String>,
    /// Stall detection settings (the adapter's `stall_ladder` applies when they name
    /// no ladder).
    pub stall: StallSpec,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Limits of the restart policy.
    pub restart_limits: Option<RestartLimits>,
    /// The auto-responder's loop guard.
    pub loop_guard: LoopGuard,
    /// For [`AgentChoice::Selected`]: the adapters the choice may fall on, the fallback
    /// included (canonical names); any when `None`. A remote caller's policy.
    pub allowed_agents: Option<Vec<String>>,
}

impl AgentRequest {
    /// A request for the adapter `agent` (name or alias), with defaults for the rest.
    pub fn named(agent: impl Into<String>) -> Self {
        Self::with_choice(AgentChoice::Named(agent.into()))
    }

    /// A request whose agent is chosen by `strategy` from what is installed.
    pub fn selected(strategy: Strategy) -> Self {
        Self::with_choice(AgentChoice::Selected(strategy))
    }

    /// A request for the registry's fallback adapter (the shell).
    pub fn fallback() -> Self {
        Self::with_choice(AgentChoice::Fallback)
    }

    fn with_choice(agent: AgentChoice) -> Self {
        let defaults = SessionSpec::new("", "");
        AgentRequest {
            agent,
            task: None,
            preset: None,
            memory: None,
            program: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            workdir: None,
            size: defaults.size,
            label: None,
            supervision: defaults.supervision,
            rules: Vec::new(),
            loading: Vec::new(),
            stall: defaults.stall,
            restart: defaults.restart,
            restart_limits: None,
            loop_guard: defaults.loop_guard,
            allowed_agents: None,
        }
    }

    /// Sets the task.
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }

    /// Sets the approval preset (its files are then written).
    pub fn preset(mut self, preset: ApprovalPreset) -> Self {
        self.preset = Some(preset);
        self
    }

    /// Sets the memory instructions.
    pub fn memory(mut self, text: impl Into<String>) -> Self {
        self.memory = Some(text.into());
        self
    }

    /// Sets the working directory.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Adds one environment variable.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Appends extra arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// Where a file written before the start comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSource {
    /// The approval preset's config file.
    Preset,
    /// The agent's memory file, with [`AgentRequest::memory`] appended.
    Memory,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// Written: created, replaced or appended to.
    Written,
    /// Already there with these contents.
    Unchanged,
    /// A different file of the user's is there; it was left alone.
    Kept,
}

/// One file of the launch, relative to the working directory, and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchFile {
    /// Path relative to the working directory.
    pub path: String,
    /// Preset or memory.
    pub source: FileSource,
    /// Written, unchanged or kept.
    pub outcome: FileOutcome,
}

/// A started agent: the session, how its adapter was chosen, and the files written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchedAgent {
    /// The session as started.
    pub session: SessionInfo,
    /// The choice and its reason, when the agent was chosen rather than named.
    pub selection: Option<Selection>,
    /// The preset and memory files, in the order they were handled.
    pub files: Vec<LaunchFile>,
    /// The installed CLI's version, when the launch learned it (adapters whose presets
    /// state what they need from the CLI).
    pub version: Option<String>,
    /// How the preset was expressed on this CLI, when it was not with its own flags:
    /// the fallback's note (`versions whose --permission-mode lists default …`).
    pub preset_fallback: Option<String>,
}

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No adapter has this name.
    #[error("unknown agent type `{name}`; known agent types: {known}")]
    UnknownAgent {
        /// The name asked for (at most 64 characters).
        name: String,
        /// The names this node knows, comma-separated.
        known: String,
    },
    /// The fallback adapter was asked for, and no adapter is marked `fallback`.
    #[error("no adapter is marked `fallback = true`; name an agent")]
    NoFallback,
    /// No agent was named and none could be chosen.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Memory instructions were given for an adapter without a memory file.
    #[error("agent {agent} has no memory file; instructions cannot be given to it")]
    NoMemoryFile {
        /// The adapter.
        agent: String,
    },
    /// A file of the plan is not a path inside the working directory.
    #[error("file `{path}` is not a path inside the working directory")]
    FileOutside {
        /// The path.
        path: String,
    },
    /// A file could not be written.
    #[error("cannot {action} {}: {source}", path.display())]
    WriteFile {
        /// What was being done (`write`, `append to`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The session could not be started (bad spec or working directory, program not
    /// found, …).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The installed version of the CLI cannot express the preset safely; it is
    /// refused rather than weakened.
    #[error(transparent)]
    Preset(#[from] warden_adapters::PresetError),
}

/// A launch decided: the session spec and the files to write before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPlan {
    /// What to spawn (without the credentials passed through from warden's
    /// environment: [`Warden::spawn_agent`] adds those).
    pub spec: SessionSpec,
    /// Files to write into the working directory first.
    pub files: Vec<(FileSource, WorkspaceFile)>,
    /// Credential variables the adapter passes through from warden's environment.
    pub passthrough_env: Vec<String>,
    /// The note of the preset's fallback, when the installed version needed one.
    pub preset_fallback: Option<String>,
}

/// The launch of `adapter` for `req`: pure (no file is written, no variable read);
/// `shell` is the caller's `$SHELL`, for adapters that run it.
///
/// The task goes where the adapter wants it. With [`AgentRequest::program`] the
/// adapter's program and arguments are replaced by it and [`AgentRequest::args`], and
/// the task is typed in.
pub fn plan(adapter: &Adapter, req: &AgentRequest, shell: Option<&str>) -> Result<AgentPlan, LaunchError> {
    plan_for(adapter, req, shell, &CliFacts::unknown())
}

/// [`plan`] for the installed CLI described by `facts`: each preset's flags as that
/// version takes them ([`Adapter::launch_for`]), or [`LaunchError::Preset`] when it
/// cannot express the preset.
pub fn plan_for(
    adapter: &Adapter,
    req: &AgentRequest,
    shell: Option<&str>,
    facts: &CliFacts,
) -> Result<AgentPlan, LaunchError> {
    let memory = req.memory.as_deref().filter(|t| !t.trim().is_empty());
    if memory.is_some() && adapter.memory.is_none() {
        return Err(LaunchError::NoMemoryFile { agent: adapter.name.clone() });
    }
    let task = req.task.as_deref().filter(|t| !t.trim().is_empty());
    // Checked whether the task is typed or passed as an argument.
    if let Some(t) = task {
        warden_core::text::check_task("task", t).map_err(|e| SessionError::from(warden_core::SpecError::from(e)))?;
    }
    let launch_req = LaunchRequest {
        task,
        preset: Some(req.preset.unwrap_or_default()),
        preset_files: if req.preset.is_some() { PresetFiles::Write } else { PresetFiles::Skip },
        extra_args: &req.args,
        shell,
        memory,
        memory_append: true,
    };
    // A caller's own program is not the adapter's CLI: its flags are not checked.
    let launch =
        if req.program.is_some() { adapter.launch(&launch_req) } else { adapter.launch_for(&launch_req, facts)? };
    let preset_fallback = launch.preset_choice.as_ref().filter(|c| c.variant > 0).map(|c| c.note.clone());
    let mut spec = SessionSpec::new(launch.agent.clone(), launch.program.clone());
    match &req.program {
        Some(program) => {
            spec.program = program.clone();
            spec.args = req.args.clone();
            spec.task = task.map(str::to_string);
        }
        None => {
            spec.args = launch.args;
            spec.task = launch.send_task;
        }
    }
    spec.env = launch.env;
    spec.env.extend(req.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    spec.workdir = req.workdir.clone();
    spec.size = req.size;
    spec.label = req.label.clone();
    spec.supervision = req.supervision;
    spec.preset = req.preset.unwrap_or_default();
    spec.rules = req.rules.clone();
    spec.loading = req.loading.clone();
    spec.stall = req.stall.clone();
    spec.restart = req.restart;
    spec.restart_limits = req.restart_limits;
    spec.loop_guard = req.loop_guard;
    spec.validate().map_err(SessionError::from)?;
    // `Adapter::launch` lists the preset's files, then the memory file.
    let memory_at = if memory.is_some() { launch.files.len().saturating_sub(1) } else { launch.files.len() };
    let files = launch
        .files
        .into_iter()
        .enumerate()
        .map(|(i, f)| (if i == memory_at { FileSource::Memory } else { FileSource::Preset }, f))
        .collect();
    Ok(AgentPlan { spec, files, passthrough_env: launch.passthrough_env, preset_fallback })
}

/// The adapter `name` of `registry`, or a typed error naming the known ones.
pub fn adapter_named<'r>(registry: &'r Registry, name: &str) -> Result<&'r Adapter, LaunchError> {
    registry.get(name).ok_or_else(|| LaunchError::UnknownAgent {
        name: name.chars().take(64).collect(),
        known: registry.names().join(", "),
    })
}

impl Warden {
    /// Starts an agent the one way every caller does: chooses its adapter (when the
    /// request names none), makes the launch plan ([`plan`]), passes the adapter's
    /// credential variables through from warden's environment by name, checks the
    /// working directory, writes the preset's and the memory file into it, and spawns
    /// the session ([`Warden::spawn`]).
    ///
    /// ```no_run
    /// # async fn demo(warden: warden_actors::Warden) -> Result<(), warden_actors::LaunchError> {
    /// use warden_actors::AgentRequest;
    /// use warden_core::ApprovalPreset;
    ///
    /// let req = AgentRequest::named("claude").task("fix the failing test").preset(ApprovalPreset::Readonly);
    /// let launched = warden.spawn_agent(req).await?;
    /// println!("{} runs {:?}", launched.session.id, launched.session.args);
    /// # Ok(()) }
    /// ```
    pub async fn spawn_agent(&self, req: AgentRequest) -> Result<LaunchedAgent, LaunchError> {
        let registry = self.adapters();
        let cooling = self.cooling_agent_names();
        let (adapter, selection) = choose(&registry, &req.agent, &cooling, req.allowed_agents.as_deref()).await?;
        let shell = std::env::var("SHELL").ok();
        let facts = if req.program.is_none() && adapter.presets_need_facts() {
            installed_cli_facts(&registry, adapter, shell.as_deref(), &self.config().state_dir).await
        } else {
            CliFacts::unknown()
        };
        let AgentPlan { mut spec, files, passthrough_env, preset_fallback } =
            plan_for(adapter, &req, shell.as_deref(), &facts)?;
        if let Some(note) = &preset_fallback {
            info!(agent = %adapter.name, version = facts.version.as_deref().unwrap_or(""), %note, "preset fallback");
        }
        if let Some(s) = &selection {
            info!(agent = %s.agent, reason = %s.reason, "agent chosen");
        }
        for name in &passthrough_env {
            // Lowest precedence: the adapter's, the preset's and the caller's values win.
            if let Ok(value) = std::env::var(name)
                && !spec.env.contains_key(name)
            {
                spec.env.insert(name.clone(), value);
            }
        }
        let workdir = match &req.workdir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir()
                .map_err(|e| SessionError::BadWorkdir { path: ".".into(), reason: e.to_string() })?,
        };
        // Nothing is written into the working directory for a launch that cannot start.
        check_workdir(&workdir)?;
        self.program_of(&spec, &workdir)?;
        spec.workdir = Some(workdir.clone());
        let written = tokio::task::spawn_blocking(move || prepare_workdir(&workdir, &files))
            .await
            .map_err(|e| SessionError::Internal(format!("writing the launch files: {e}")))??;
        let session = self.spawn(spec).await?;
        Ok(LaunchedAgent { session, selection, files: written, version: facts.version, preset_fallback })
    }
}

/// What the adapter's installed CLI accepts: its binary found on warden's `PATH`,
/// then its version and `--help` ([`crate::cli_facts::learn`], cached under the state
/// directory). Unknown when the binary is not found.
async fn installed_cli_facts(
    registry: &Registry,
    adapter: &Adapter,
    shell: Option<&str>,
    state_dir: &Path,
) -> CliFacts {
    let env = PreflightEnv::from_process(registry);
    let binary = preflight::probe_binary(adapter, shell);
    let path = env.path.clone();
    let found = tokio::task::spawn_blocking(move || binary.and_then(|b| preflight::find_on_path(&b, path.as_deref())))
        .await
        .ok()
        .flatten();
    match found {
        Some(bin) => {
            crate::cli_facts::learn(&bin, &adapter.probe, &env, Some(&crate::cli_facts::cache_dir(state_dir))).await
        }
        None => CliFacts::unknown(),
    }
}

/// The adapter of `choice`, and the selection when it was chosen.
async fn choose<'r>(
    registry: &'r Arc<Registry>,
    choice: &AgentChoice,
    cooling: &[String],
    allowed: Option<&[String]>,
) -> Result<(&'r Adapter, Option<Selection>), LaunchError> {
    let may = |name: &str| allowed.is_none_or(|list| list.iter().any(|a| a == name));
    let fallback = || registry.fallback().map(|a| a.name.clone()).filter(|name| may(name));
    match choice {
        AgentChoice::Named(name) => Ok((adapter_named(registry, name)?, None)),
        AgentChoice::Fallback => {
            let adapter = registry.fallback().ok_or(LaunchError::NoFallback)?;
            Ok((adapter, None))
        }
        AgentChoice::Selected(strategy) => {
            let mut facts = preflight::selection_facts_now(registry)
                .await
                .map_err(|e| SessionError::Internal(format!("probing the agent CLIs: {e}")))?;
            facts.retain(|f| may(&f.name));
            let fallback = fallback();
            let cooling: Vec<&str> = cooling.iter().map(String::as_str).collect();
            let selection = warden_adapters::select_or_fallback(strategy, &facts, &cooling, fallback.as_deref())?;
            Ok((adapter_named(registry, &selection.agent)?, Some(selection)))
        }
    }
}

/// Checks the working directory, then writes the files (blocking IO).
fn prepare_workdir(workdir: &Path, files: &[(FileSource, WorkspaceFile)]) -> Result<Vec<LaunchFile>, LaunchError> {
    check_workdir(workdir)?;
    let mut out = Vec::with_capacity(files.len());
    for (source, file) in files {
        let outcome = write_file(workdir, file)?;
        out.push(LaunchFile { path: file.path.clone(), source: *source, outcome });
    }
    Ok(out)
}

/// Writes one file into `workdir`. A file that is there with other contents is never
/// replaced: the user's own configuration wins ([`FileOutcome::Kept`]). An appended
/// file is separated from what was there by a newline.
pub fn write_file(workdir: &Path, file: &WorkspaceFile) -> Result<FileOutcome, LaunchError> {
    if !warden_adapters::preset::is_relative_path(&file.path) {
        return Err(LaunchError::FileOutside { path: file.path.clone() });
    }
    let path = workdir.join(&file.path);
    if !stays_inside(workdir, &file.path) {
        return Err(LaunchError::FileOutside { path: file.path.clone() });
    }
    let fail = |action: &'static str| {
        let path = path.clone();
        move |source| LaunchError::WriteFile { action, path, source }
    };
    match (file.mode, std::fs::read(&path)) {
        (_, Ok(existing)) if existing == file.contents.as_bytes() => return Ok(FileOutcome::Unchanged),
        (WriteMode::Replace, Ok(_)) => return Ok(FileOutcome::Kept),
        _ => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail("create the directory of"))?;
    }
    match file.mode {
        WriteMode::Replace => std::fs::write(&path, &file.contents).map_err(fail("write"))?,
        WriteMode::Append => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(fail("open"))?;
            let sep = if f.metadata().map(|m| m.len()).unwrap_or(0) > 0 { "\n" } else { "" };
            write!(f, "{sep}{}", file.contents).map_err(fail("append to"))?;
        }
    }
    Ok(FileOutcome::Written)
}

/// Whether every part of `relative` that already exists under `workdir` resolves
/// inside it: a symbolic link (in a cloned repository, say) cannot lead a write out of
/// the working directory.
fn stays_inside(workdir: &Path, relative: &str) -> bool {
    let Ok(root) = std::fs::canonicalize(workdir) else { return false };
    let mut at = workdir.to_path_buf();
    for part in relative.split('/') {
        at.push(part);
        match std::fs::canonicalize(&at) {
            Ok(real) if real.starts_with(&root) => {}
            Ok(_) => return false,
            // Not there yet: it is created as a plain directory or file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return std::fs::symlink_metadata(&at).is_err();
            }
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> &'static Adapter {
        Registry::builtin().get(name).expect("built-in")
    }

    fn paths(plan: &AgentPlan) -> Vec<(FileSource, &str)> {
        plan.files.iter().map(|(s, f)| (*s, f.path.as_str())).collect()
    }

    #[test]
    fn the_task_goes_where_the_adapter_wants_it() {
        let req = AgentRequest::named("claude").task("fix it").args(["--model", "x"]);
        let p = plan(builtin("claude"), &req, None).expect("plan");
        assert_eq!(p.spec.args[p.spec.args.len() - 3..], ["--model", "x", "fix it"]);
        assert!(p.spec.args.contains(&"--permission-mode".to_string()), "the standard preset: {:?}", p.spec.args);
        assert_eq!((p.spec.task.as_deref(), p.spec.agent.as_str()), (None, "claude"));
        assert!(p.passthrough_env.contains(&"ANTHROPIC_API_KEY".to_string()));
        assert!(p.files.is_empty(), "no preset named: no files");
        let p = plan(builtin("aider"), &req, None).expect("plan");
        assert_eq!(p.spec.task.as_deref(), Some("fix it"));
        assert!(!p.spec.args.contains(&"fix it".to_string()));
        let with_program = AgentRequest { program: Some("/bin/true".into()), ..req };
        let p = plan(builtin("claude"), &with_program, None).expect("plan");
        assert_eq!(p.spec.program, "/bin/true");
        assert_eq!(p.spec.args, ["--model", "x"]);
        assert_eq!(p.spec.task.as_deref(), Some("fix it"));
    }

    #[test]
    fn presets_give_flags_always_and_files_when_named() {
        let readonly = plan(builtin("claude"), &AgentRequest::named("claude").preset(ApprovalPreset::Readonly), None)
            .expect("plan");
        assert_eq!(readonly.spec.args[..2], ["--permission-mode", "plan"]);
        assert_eq!(readonly.spec.preset, ApprovalPreset::Readonly);
        assert_eq!(paths(&readonly), [(FileSource::Preset, ".claude/settings.local.json")]);
        let memory = AgentRequest::named("aider").preset(ApprovalPreset::Readonly).memory("Be brief.").task("go");
        let p = plan(builtin("aider"), &memory, None).expect("plan");
        assert_eq!(p.spec.args, ["--chat-mode", "ask", "--no-auto-commits", "--read", ".aider.conventions.md"]);
        assert_eq!(paths(&p), [(FileSource::Memory, ".aider.conventions.md")]);
        let p = plan(builtin("claude"), &AgentRequest { preset: Some(ApprovalPreset::Readonly), ..memory }, None)
            .expect("plan");
        assert_eq!(paths(&p), [(FileSource::Preset, ".claude/settings.local.json"), (FileSource::Memory, "CLAUDE.md")]);
        let e = plan(builtin("shell"), &AgentRequest::named("shell").memory("x"), None).expect_err("no memory file");
        assert!(matches!(e, LaunchError::NoMemoryFile { ref agent } if agent == "shell"), "{e}");
        assert!(plan(builtin("shell"), &AgentRequest::named("shell").memory("  "), None).is_ok(), "blank: ignored");
    }

    #[test]
    fn the_callers_environment_wins_and_the_spec_is_checked() {
        let req = AgentRequest::named("claude").env("DISABLE_AUTOUPDATER", "0").env("X", "1");
        let p = plan(builtin("claude"), &req, None).expect("plan");
        assert_eq!(p.spec.env.get("DISABLE_AUTOUPDATER").map(String::as_str), Some("0"));
        assert_eq!(p.spec.env.get("X").map(String::as_str), Some("1"));
        let shell = plan(builtin("shell"), &AgentRequest::named("shell"), Some("/bin/zsh")).expect("plan");
        assert_eq!(
            (shell.spec.program.as_str(), shell.spec.args.clone()),
            ("/bin/zsh", vec!["-f".to_string(), "-i".into()])
        );
        let bad = AgentRequest { size: TermSize { rows: 0, cols: 1 }, ..AgentRequest::named("shell") };
        assert!(matches!(plan(builtin("shell"), &bad, None), Err(LaunchError::Session(SessionError::Spec(_)))));
    }

    #[test]
    fn unknown_agents_name_the_known_ones() {
        let e = adapter_named(Registry::builtin(), "nope").expect_err("unknown");
        assert!(e.to_string().starts_with("unknown agent type `nope`; known agent types: claude"), "{e}");
        assert_eq!(adapter_named(Registry::builtin(), "BASH").expect("alias").name, "shell");
    }

    #[test]
    fn files_never_replace_a_users_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file =
            |path: &str, contents: &str, mode| WorkspaceFile { path: path.into(), contents: contents.into(), mode };
        let write = |f: &WorkspaceFile| write_file(dir.path(), f).expect("writes");
        assert_eq!(write(&file(".x/settings.json", "{}\n", WriteMode::Replace)), FileOutcome::Written);
        assert_eq!(write(&file(".x/settings.json", "{}\n", WriteMode::Replace)), FileOutcome::Unchanged);
        assert_eq!(write(&file(".x/settings.json", "{\"a\":1}\n", WriteMode::Replace)), FileOutcome::Kept);
        assert_eq!(std::fs::read_to_string(dir.path().join(".x/settings.json")).expect("read"), "{}\n");
        assert_eq!(write(&file("M.md", "one\n", WriteMode::Append)), FileOutcome::Written);
        assert_eq!(write(&file("M.md", "two\n", WriteMode::Append)), FileOutcome::Written);
        assert_eq!(std::fs::read_to_string(dir.path().join("M.md")).expect("read"), "one\n\ntwo\n");
        let outside = write_file(dir.path(), &file("../escape", "x", WriteMode::Replace));
        assert!(matches!(outside, Err(LaunchError::FileOutside { .. })));
        // Links that lead out of the working directory are not followed; links inside it are.
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(".out")).expect("link");
        std::os::unix::fs::symlink(dir.path().join(".x"), dir.path().join(".in")).expect("link");
        std::os::unix::fs::symlink(elsewhere.path().join("dangling"), dir.path().join("D.md")).expect("link");
        for path in [".out/settings.json", "D.md"] {
            let e = write_file(dir.path(), &file(path, "x", WriteMode::Append)).expect_err(path);
            assert!(matches!(e, LaunchError::FileOutside { .. }), "{path}: {e}");
        }
        assert_eq!(write(&file(".in/new.json", "{}", WriteMode::Replace)), FileOutcome::Written);
        assert!(dir.path().join(".x/new.json").exists());
        assert_eq!(std::fs::read_dir(elsewhere.path()).expect("read").count(), 0, "nothing written outside");
    }

    #[test]
    fn a_missing_workdir_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let files =
            [(FileSource::Preset, WorkspaceFile { path: "a".into(), contents: "x".into(), mode: WriteMode::Replace })];
        let e = prepare_workdir(&missing, &files).expect_err("missing");
        assert!(e.to_string().ends_with("is not usable: does not exist"), "{e}");
        assert!(!missing.exists());
    }
}
