//! The adapter: one agent CLI, built from its manifest.
//!
//! An [`Adapter`] is data compiled once: how to start the CLI (command, arguments,
//! environment, presets, memory file), how to talk to it (input style) and how to read
//! its screen (rules, in priority order). There is no trait per CLI: the six built-in
//! adapters and any generic adapter a user writes are the same type, differing only in
//! their manifests, so a user file can change any of them without recompiling.

use std::collections::BTreeMap;

use serde::Serialize;
use warden_core::{LoginKind, PromptKind, Reply};

use crate::compat::{CliFacts, PresetChoice, PresetError, choose_preset};
use crate::manifest::{Manifest, PresetSpec};
use crate::preset::{ApprovalPreset, PresetFiles, WorkspaceFile, WriteMode, is_relative_path};
use crate::rule::{Hit, Rule};
use crate::select::Probe;
use crate::verdict::{BlockingPrompt, Detection, LoginInfo, ScreenState, Signal, Verdict};
use crate::view::{Prepared, ScreenView, choices_in};
use crate::{AgentLaunch, ManifestError};

/// How a task reaches the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "style", content = "flag", rename_all = "snake_case")]
pub enum TaskStyle {
    /// As the last command-line argument (interactive session starts on it).
    Argument,
    /// After a flag (`--message`).
    Flag(String),
    /// Typed in once the agent is ready.
    Send,
}

/// How typed text is submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum InputStyle {
    /// Bracketed paste, then the submit key as a separate write `enter_delay_ms` later
    /// (TUIs treat a newline inside a paste as text, and drop a CR in the same read).
    Paste {
        /// Delay before the submit key.
        enter_delay_ms: u64,
        /// Submit key name.
        submit: String,
    },
    /// The text and the submit key in one write (line-based programs, shells, Aider).
    Text {
        /// Submit key name.
        submit: String,
    },
}

/// The bytes to write for one input: `first`, then `then` after `delay_ms` (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPlan {
    /// Written at once.
    pub first: Vec<u8>,
    /// Written after the delay (the submit key of a paste).
    pub then: Option<(u64, Vec<u8>)>,
}

/// What to start an agent with.
#[derive(Debug, Clone, Default)]
pub struct LaunchRequest<'a> {
    /// The task, if one is given at start.
    pub task: Option<&'a str>,
    /// Approval preset; `None` adds nothing.
    pub preset: Option<ApprovalPreset>,
    /// Whether the preset's config files are part of the plan (its flags and
    /// environment always are).
    pub preset_files: PresetFiles,
    /// The caller's extra arguments: after the adapter's and the preset's, before
    /// the ones that carry the task.
    pub extra_args: &'a [String],
    /// The caller's `$SHELL` (for `program = "$SHELL"`).
    pub shell: Option<&'a str>,
    /// Instructions for the agent's memory file.
    pub memory: Option<&'a str>,
    /// Append to an existing memory file instead of replacing it.
    pub memory_append: bool,
}

/// Everything needed to start an agent: the caller writes `files`, sets `env` plus the
/// `passthrough_env` variables it has, spawns `program args`, and types `send_task`
/// once the agent is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchPlan {
    /// Adapter name.
    pub agent: String,
    /// Program.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment to set (fixed and preset values; no secrets).
    pub env: BTreeMap<String, String>,
    /// Credential variables to pass through from the caller's environment, by name.
    pub passthrough_env: Vec<String>,
    /// Files to write into the workspace first.
    pub files: Vec<WorkspaceFile>,
    /// The task, when it must be typed in after the agent is ready.
    pub send_task: Option<String>,
    /// How long the ready signal must hold (ms).
    pub ready_settle_ms: u64,
    /// How the preset was expressed on this CLI (its own flags or a fallback);
    /// `None` without a preset.
    pub preset_choice: Option<PresetChoice>,
}

/// An agent CLI adapter compiled from a manifest.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// Canonical name.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Other names that resolve to it.
    pub aliases: Vec<String>,
    /// Program (`$SHELL` = the caller's shell).
    pub program: String,
    /// Arguments always passed.
    pub args: Vec<String>,
    /// Environment always set.
    pub env: BTreeMap<String, String>,
    /// Credential variable names passed through.
    pub credential_env: Vec<String>,
    /// Ready settle time (ms).
    pub ready_settle_ms: u64,
    /// How the task arrives.
    pub task: TaskStyle,
    /// How input is submitted.
    pub input: InputStyle,
    /// What to probe.
    pub probe: Probe,
    /// Memory file path and the arguments that make the CLI read it.
    pub memory: Option<(String, Vec<String>)>,
    /// The program reads typed-ahead input: a typed task goes in at once, not when
    /// the agent first looks ready (manifest `type_ahead`).
    pub type_ahead: bool,
    /// Escalation steps when the session names none (manifest `stall_ladder`).
    pub stall_ladder: Option<Vec<warden_core::stall::EscalationStep>>,
    /// Chosen when no agent is named and none is installed (manifest `fallback`).
    pub fallback: bool,
    /// Arguments that continue the most recent session in the working directory
    /// instead of starting a new one, placed right after [`Adapter::args`] (manifest
    /// `resume_args`): Claude Code `--continue`, Codex `resume --last`, Gemini CLI
    /// `--resume latest`, Aider `--restore-chat-history`, pi `--continue`. Empty when
    /// the CLI offers none. See [`Adapter::resume_plan`].
    pub resume_args: Vec<String>,
    /// Presets.
    pub presets: BTreeMap<ApprovalPreset, PresetSpec>,
    /// Rules, highest priority first (declaration order among equals).
    pub rules: Vec<Rule>,
    /// The manifest it was built from.
    pub manifest: Manifest,
}

impl Adapter {
    /// Compiles a complete manifest (overlays already applied).
    pub fn from_manifest(m: &Manifest) -> Result<Adapter, ManifestError> {
        let name = m.name.trim().to_ascii_lowercase();
        let invalid = |message: String| ManifestError::Invalid { adapter: name.clone(), message };
        let program = m.program.clone().filter(|p| !p.trim().is_empty()).ok_or_else(|| {
            invalid("`program` is missing; a generic adapter needs the program to run (or `extends` a built-in)".into())
        })?;
        let task = match m.task.as_deref().unwrap_or("send") {
            "argument" => TaskStyle::Argument,
            "send" => TaskStyle::Send,
            "flag" => TaskStyle::Flag(
                m.task_flag
                    .clone()
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| invalid("`task = \"flag\"` needs `task_flag`".into()))?,
            ),
            other => return Err(invalid(format!("unknown task style `{other}`; styles: argument, flag, send"))),
        };
        let input_spec = m.input.clone().unwrap_or_default();
        let submit = input_spec.submit.unwrap_or_else(|| "enter".into());
        warden_core::keys::key_bytes(&submit).map_err(|e| invalid(format!("[input] submit: {e}")))?;
        let input = match input_spec.style.as_deref().unwrap_or("text") {
            "paste" => InputStyle::Paste { enter_delay_ms: input_spec.enter_delay_ms.unwrap_or(80), submit },
            "text" => InputStyle::Text { submit },
            other => return Err(invalid(format!("unknown input style `{other}`; styles: paste, text"))),
        };
        let pf = m.preflight.clone().unwrap_or_default();
        let probe = Probe {
            agent: name.clone(),
            binary: pf.binary.or_else(|| (program != "$SHELL").then(|| program.clone())),
            version_args: pf.version_args.unwrap_or_else(|| vec!["--version".into()]),
            help_args: pf.help_args.unwrap_or_else(|| vec!["--help".into()]),
            auth_env: pf.auth_env.unwrap_or_default(),
            login_files: pf.login_files.unwrap_or_default(),
            install_hint: pf.install_hint.unwrap_or_else(|| format!("install `{program}` and put it on PATH")),
            docs_url: pf.docs_url.unwrap_or_default(),
        };
        let memory = match &m.memory {
            Some(spec) => match &spec.path {
                Some(p) if is_relative_path(p) => Some((p.clone(), spec.args.clone().unwrap_or_default())),
                Some(p) => return Err(invalid(format!("[memory] path `{p}` must be relative to the workspace"))),
                None => None,
            },
            None => None,
        };
        let mut presets = BTreeMap::new();
        for (k, v) in &m.presets {
            let p = ApprovalPreset::parse(k).ok_or_else(|| {
                invalid(format!("unknown preset `{k}`; presets: readonly, standard, permissive, autonomous"))
            })?;
            if let Some(f) = v.files.iter().find(|f| !is_relative_path(&f.path)) {
                return Err(invalid(format!("preset `{k}`: file path `{}` must be relative to the workspace", f.path)));
            }
            for needs in std::iter::once(&v.needs).chain(v.fallbacks.iter().map(|f| &f.needs)) {
                crate::compat::check_needs(needs).map_err(|e| invalid(format!("preset `{k}`: {e}")))?;
            }
            presets.insert(p, v.clone());
        }
        let mut rules = Vec::with_capacity(m.rules.len());
        for spec in &m.rules {
            if rules.iter().any(|r: &Rule| r.id == spec.id) {
                return Err(invalid(format!("two rules have the id `{}`", spec.id)));
            }
            rules.push(Rule::compile(spec, &name)?);
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.priority)); // stable: declaration order among equals
        Ok(Adapter {
            display_name: m.display_name.clone().unwrap_or_else(|| name.clone()),
            aliases: m.aliases.iter().map(|a| a.trim().to_ascii_lowercase()).collect(),
            program,
            args: m.args.clone().unwrap_or_default(),
            env: m.env.clone().unwrap_or_default(),
            credential_env: m.credential_env.clone().unwrap_or_default(),
            ready_settle_ms: m.ready_settle_ms.unwrap_or(500),
            task,
            input,
            probe,
            memory,
            type_ahead: m.type_ahead.unwrap_or(false),
            stall_ladder: m.stall_ladder.clone(),
            fallback: m.fallback.unwrap_or(false),
            resume_args: m.resume_args.clone().unwrap_or_default(),
            presets,
            rules,
            manifest: m.clone(),
            name,
        })
    }

    // ---- detection -------------------------------------------------------------------

    fn first_hit<'r>(&'r self, screen: &Prepared<'_>, state: Detection) -> Option<Hit<'r>> {
        self.rules.iter().filter(|r| r.state == state).find_map(|r| r.eval(screen, &self.name))
    }

    fn signal(hit: Hit<'_>) -> Signal {
        Signal { kind: hit.rule.kind.clone(), provenance: hit.provenance }
    }

    fn login_info(&self, screen: &Prepared<'_>, hit: Hit<'_>) -> LoginInfo {
        let url = if hit.rule.url { screen.url_after(hit.at.unwrap_or(0)) } else { None };
        let instructions = if hit.rule.description.is_empty() {
            hit.provenance.evidence.clone()
        } else {
            hit.rule.description.clone()
        };
        LoginInfo {
            kind: hit.rule.login_kind.unwrap_or(LoginKind::Unknown),
            url,
            code: hit.code,
            instructions,
            choices: choices_in(&hit.region_text),
            provenance: hit.provenance,
        }
    }

    fn blocking_prompt(&self, screen: &Prepared<'_>, hit: Hit<'_>) -> BlockingPrompt {
        let r = hit.rule;
        BlockingPrompt {
            kind: r.prompt_kind.unwrap_or(PromptKind::Unknown),
            prompt: hit.provenance.evidence.clone(),
            choices: choices_in(&hit.region_text),
            response: r.response.clone(),
            safe: r.safe,
            min_preset: r.min_preset,
            once: r.once,
            description: r.description.clone(),
            url: if r.url { screen.url_after(hit.at.unwrap_or(0)) } else { None },
            provenance: hit.provenance,
        }
    }

    /// The agent waits for input.
    pub fn detect_ready(&self, view: &ScreenView<'_>) -> Option<Signal> {
        self.first_hit(&Prepared::new(*view), Detection::Ready).map(Self::signal)
    }

    /// The agent asks for a login: kind, URL, code, instructions, choices.
    pub fn detect_login(&self, view: &ScreenView<'_>) -> Option<LoginInfo> {
        let p = Prepared::new(*view);
        let hit = self.first_hit(&p, Detection::Login)?;
        Some(self.login_info(&p, hit))
    }

    /// The agent shows a prompt that needs an answer.
    pub fn detect_blocking_prompt(&self, view: &ScreenView<'_>) -> Option<BlockingPrompt> {
        let p = Prepared::new(*view);
        let hit = self.first_hit(&p, Detection::Blocking)?;
        Some(self.blocking_prompt(&p, hit))
    }

    /// The agent is working (suppresses stall detection).
    pub fn detect_loading(&self, view: &ScreenView<'_>) -> Option<Signal> {
        self.first_hit(&Prepared::new(*view), Detection::Busy).map(Self::signal)
    }

    /// The agent finished a turn (the caller re-checks after its settle timer).
    pub fn detect_task_complete(&self, view: &ScreenView<'_>) -> Option<Signal> {
        self.first_hit(&Prepared::new(*view), Detection::TaskComplete).map(Self::signal)
    }

    /// The agent is exiting or has exited.
    pub fn detect_exit(&self, view: &ScreenView<'_>) -> Option<Signal> {
        self.first_hit(&Prepared::new(*view), Detection::Exit).map(Self::signal)
    }

    /// All detectors at once, each rule evaluated at most once: the state of the
    /// highest-priority matching rule, plus the loading flag and the best login and
    /// blocking detections. A screen no rule recognises is [`ScreenState::Unknown`].
    pub fn classify(&self, view: &ScreenView<'_>) -> Verdict {
        let p = Prepared::new(*view);
        let mut winner: Option<Hit<'_>> = None;
        let mut loading = false;
        let mut login = None;
        let mut blocking = None;
        for rule in &self.rules {
            let wanted = winner.is_none()
                || (rule.state == Detection::Busy && !loading)
                || (rule.state == Detection::Login && login.is_none())
                || (rule.state == Detection::Blocking && blocking.is_none());
            if !wanted {
                continue;
            }
            let Some(hit) = rule.eval(&p, &self.name) else { continue };
            match rule.state {
                Detection::Busy => loading = true,
                Detection::Login if login.is_none() => login = Some(self.login_info(&p, hit.clone())),
                Detection::Blocking if blocking.is_none() => blocking = Some(self.blocking_prompt(&p, hit.clone())),
                _ => {}
            }
            if winner.is_none() {
                winner = Some(hit);
            }
        }
        let state = match &winner {
            None => ScreenState::Unknown,
            Some(h) => match h.rule.state {
                Detection::Ready => ScreenState::Ready,
                Detection::Busy => ScreenState::Busy,
                Detection::Login => ScreenState::LoginRequired,
                Detection::Blocking => ScreenState::Blocked(h.rule.prompt_kind.unwrap_or(PromptKind::Unknown)),
                Detection::TaskComplete => ScreenState::TaskComplete,
                Detection::Exit => ScreenState::Exited,
            },
        };
        Verdict { state, provenance: winner.map(|h| h.provenance), loading, login, blocking }
    }

    /// Whether any preset states what its flags need from the installed CLI (then a
    /// launch learns the CLI's `--help` and version first).
    pub fn presets_need_facts(&self) -> bool {
        self.presets
            .values()
            .any(|p| !p.needs.help.is_empty() || p.needs.min_version.is_some() || !p.fallbacks.is_empty())
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The rules that carry an automatic answer.
    pub fn auto_response_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.response.is_some())
    }

    // ---- starting and talking ------------------------------------------------------

    /// How to start this agent for `req`, with each preset's own flags (as if the
    /// installed CLI takes them); [`Adapter::launch_for`] checks them against it.
    pub fn launch(&self, req: &LaunchRequest<'_>) -> LaunchPlan {
        let choice = req.preset.and_then(|p| self.presets.get(&p)).map(|spec| PresetChoice {
            args: spec.args.clone(),
            env: spec.env.clone(),
            variant: 0,
            note: spec.note.clone(),
        });
        self.plan_with(req, choice.as_ref())
    }

    /// How to start this agent for `req` on the installed CLI described by `facts`:
    /// the preset's flags, or the first of its fallbacks that this version takes
    /// ([`crate::compat::choose_preset`]). A preset the CLI cannot express is refused,
    /// never weakened.
    pub fn launch_for(&self, req: &LaunchRequest<'_>, facts: &CliFacts) -> Result<LaunchPlan, PresetError> {
        let choice = match req.preset.and_then(|p| self.presets.get(&p).map(|s| (p, s))) {
            Some((p, spec)) => Some(choose_preset(&self.name, p, spec, facts)?),
            None => None,
        };
        Ok(self.plan_with(req, choice.as_ref()))
    }

    /// The plan for continuing the most recent session ([`Adapter::resume_args`] after
    /// the base arguments), or `None` when the CLI offers no way to resume.
    pub fn resume_plan(&self, req: &LaunchRequest<'_>, facts: &CliFacts) -> Option<Result<LaunchPlan, PresetError>> {
        if self.resume_args.is_empty() {
            return None;
        }
        Some(self.launch_for(req, facts).map(|mut plan| {
            let at = self.args.len().min(plan.args.len());
            plan.args.splice(at..at, self.resume_args.iter().cloned());
            plan
        }))
    }

    fn plan_with(&self, req: &LaunchRequest<'_>, preset: Option<&PresetChoice>) -> LaunchPlan {
        let (program, mut args, mut env) = if self.program == "$SHELL" {
            let l = crate::shell_launch(req.shell);
            (l.program, l.args, l.env)
        } else {
            (self.program.clone(), self.args.clone(), BTreeMap::new())
        };
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut files = Vec::new();
        if let Some(choice) = preset
            && let Some(preset) = req.preset.and_then(|p| self.presets.get(&p))
        {
            args.extend(choice.args.iter().cloned());
            env.extend(choice.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            if req.preset_files == PresetFiles::Write {
                files.extend(preset.files.iter().map(|f| WorkspaceFile {
                    path: f.path.clone(),
                    contents: f.contents.clone(),
                    mode: WriteMode::Replace,
                }));
            }
        }
        if let Some(content) = req.memory
            && let Some(file) = self.memory_file(content, req.memory_append)
        {
            files.push(file);
            if let Some((_, margs)) = &self.memory {
                args.extend(margs.iter().cloned());
            }
        }
        args.extend(req.extra_args.iter().cloned());
        let mut send_task = None;
        if let Some(task) = req.task.filter(|t| !t.trim().is_empty()) {
            match &self.task {
                // A task that starts with `-` would be read as a flag: type it in instead.
                TaskStyle::Argument if !task.starts_with('-') => args.push(task.to_string()),
                TaskStyle::Flag(flag) => {
                    args.push(flag.clone());
                    args.push(task.to_string());
                }
                _ => send_task = Some(task.to_string()),
            }
        }
        LaunchPlan {
            agent: self.name.clone(),
            program,
            args,
            env,
            passthrough_env: self.credential_env.clone(),
            files,
            send_task,
            ready_settle_ms: self.ready_settle_ms,
            preset_choice: preset.cloned(),
        }
    }

    /// The old-style launch (program, args, fixed env) for `shell` and friends.
    pub fn agent_launch(&self, shell: Option<&str>) -> AgentLaunch {
        let plan = self.launch(&LaunchRequest { shell, ..Default::default() });
        AgentLaunch { agent: plan.agent, program: plan.program, args: plan.args, env: plan.env }
    }

    /// How a person gets the agent past a login: run the CLI once in a terminal, or
    /// set one of its credential variables.
    pub fn login_hint(&self) -> String {
        let program = self.probe.binary.as_deref().unwrap_or(&self.program);
        let vars = &self.probe.auth_env;
        match vars.len() {
            0 => format!("log in by running `{program}` once in a terminal"),
            1 => format!("log in by running `{program}` once in a terminal, or set {}", vars[0]),
            _ => format!("log in by running `{program}` once in a terminal, or set one of {}", vars.join(", ")),
        }
    }

    /// The memory file holding `content`, or `None` when the CLI has none.
    pub fn memory_file(&self, content: &str, append: bool) -> Option<WorkspaceFile> {
        let (path, _) = self.memory.as_ref()?;
        let mut contents = content.to_string();
        if !contents.ends_with('\n') {
            contents.push('\n');
        }
        Some(WorkspaceFile {
            path: path.clone(),
            contents,
            mode: if append { WriteMode::Append } else { WriteMode::Replace },
        })
    }

    /// The bytes that submit `text` the way this CLI expects.
    pub fn input_plan(&self, text: &str) -> InputPlan {
        match &self.input {
            InputStyle::Paste { enter_delay_ms, submit } => InputPlan {
                first: warden_core::keys::bracketed_paste(text),
                then: Some((*enter_delay_ms, submit_bytes(submit))),
            },
            InputStyle::Text { submit } => {
                let mut first = text.as_bytes().to_vec();
                first.extend_from_slice(&submit_bytes(submit));
                InputPlan { first, then: None }
            }
        }
    }

    /// The bytes of an automatic answer: keys as their escape sequences; text typed
    /// and submitted as [`Adapter::input_plan`] does, flattened (delays dropped: answers
    /// are short and typed, not pasted).
    pub fn response_bytes(&self, response: &Reply) -> Vec<u8> {
        match response {
            Reply::Keys(keys) => warden_core::keys::keys_bytes(keys).unwrap_or_default(),
            Reply::Text(t) => {
                let submit = match &self.input {
                    InputStyle::Paste { submit, .. } | InputStyle::Text { submit } => submit,
                };
                let mut b = t.as_bytes().to_vec();
                b.extend_from_slice(&submit_bytes(submit));
                b
            }
        }
    }
}

fn submit_bytes(key: &str) -> Vec<u8> {
    // Validated when the adapter was built.
    warden_core::keys::key_bytes(key).map(<[u8]>::to_vec).unwrap_or_else(|_| b"\r".to_vec())
}
