//! From `warden run`'s arguments to a [`SessionSpec`]: which adapter (named, or chosen
//! from what is installed), how it starts the agent ([`Adapter::launch`]), and the
//! preset's config files written into the working directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use warden_actors::preflight::{self, PreflightEnv};
use warden_adapters::{
    Adapter, LaunchPlan, LaunchRequest, PreflightFacts, Registry, SelectError, Selection, Strategy, WorkspaceFile,
    WriteMode,
};
use warden_core::SessionSpec;

use super::options::{Supervision, one_line};

/// The built-in adapters plus the `--adapter-file` manifests; one-line errors (TOML
/// errors keep their line and column).
pub fn registry(files: &[PathBuf]) -> Result<Registry, String> {
    preflight::registry_from_files(files).map_err(|e| one_line(&e.to_string()))
}

/// The adapter named `name` (canonical name or alias).
pub fn adapter<'r>(registry: &'r Registry, name: &str) -> Result<&'r Adapter, String> {
    registry.get(name).ok_or_else(|| {
        let name: String = name.chars().take(64).collect();
        format!("unknown agent type `{name}`; known agent types: {}", registry.names().join(", "))
    })
}

/// The process environment selection looks at: `PATH` (binaries), `HOME` (login
/// files), `SHELL`, and the names of the credential variables that are set.
pub struct SelectEnv {
    /// `PATH`.
    pub path: Option<std::ffi::OsString>,
    /// The home directory.
    pub home: Option<PathBuf>,
    /// `SHELL`.
    pub shell: Option<String>,
    /// Names of credential variables that are set and non-empty (never their values).
    pub credentials_set: BTreeSet<String>,
}

impl SelectEnv {
    /// This process's environment.
    pub fn from_process(registry: &Registry) -> SelectEnv {
        let env = PreflightEnv::from_process(registry);
        SelectEnv { path: env.path, home: env.home, shell: env.shell, credentials_set: env.credentials_set }
    }
}

/// What selection knows about each adapter: installed (on `PATH`) and whether
/// credentials look present. Unlike `warden adapters`, no `--version` is run: nothing
/// is started just to choose.
pub fn facts(registry: &Registry, env: &SelectEnv) -> Vec<PreflightFacts> {
    registry
        .adapters()
        .iter()
        .map(|a| {
            let path = preflight::probe_binary(a, env.shell.as_deref())
                .and_then(|b| preflight::find_on_path(&b, env.path.as_deref()));
            let auth = preflight::auth_report(
                &a.probe,
                |name| env.credentials_set.contains(name),
                |file| preflight::expand_home(file, env.home.as_deref()).is_some_and(|p| p.exists()),
            );
            PreflightFacts {
                name: a.name.clone(),
                installed: path.is_some(),
                path: path.map(|p| p.display().to_string()),
                version: None,
                auth: auth.fact(),
                install_hint: a.probe.install_hint.clone(),
            }
        })
        .collect()
}

/// Chooses the agent when `--agent` is not given: the heuristic of
/// [`warden_adapters::select`] (subscription hint, then installed and authenticated,
/// then installed, in the order claude, codex, gemini, aider, pi), and the shell when
/// no agent CLI is installed.
pub fn choose(facts: &[PreflightFacts], subscription_hint: Option<&str>) -> Selection {
    let strategy = Strategy::Heuristic { subscription_hint: subscription_hint.map(str::to_string) };
    match warden_adapters::select(&strategy, facts, &[]) {
        Ok(s) => s,
        Err(SelectError::NoneAvailable { .. } | SelectError::NotInstalled { .. } | SelectError::CoolingDown(_)) => {
            Selection { agent: "shell".into(), reason: "no agent CLI is installed on PATH".into() }
        }
    }
}

/// What `warden run` asks of the adapter.
pub struct SpecRequest<'a> {
    /// `--task`.
    pub task: Option<&'a str>,
    /// `--program`.
    pub program: Option<&'a str>,
    /// Arguments after `--`.
    pub extra_args: &'a [String],
    /// The caller's `$SHELL`.
    pub shell: Option<&'a str>,
    /// The supervision flags.
    pub supervision: &'a Supervision,
}

/// The session spec for `adapter`, and the launch plan it came from (its `files` and
/// `passthrough_env` are for the caller).
///
/// The task goes where the adapter wants it: as an argument or after a flag (then the
/// extra arguments come before it), or typed once the agent is ready. With `--program`
/// the adapter's program and arguments are replaced by the program and the extra
/// arguments, and the task is typed in.
pub fn spec(adapter: &Adapter, req: &SpecRequest<'_>) -> (SessionSpec, LaunchPlan) {
    let sup = req.supervision;
    let launch = |task| {
        adapter.launch(&LaunchRequest {
            task,
            preset: Some(sup.preset),
            shell: req.shell,
            memory: None,
            memory_append: false,
        })
    };
    let plan = launch(req.task);
    let mut spec = SessionSpec::new(plan.agent.clone(), plan.program.clone());
    match req.program {
        Some(program) => {
            spec.program = program.to_string();
            spec.args = req.extra_args.to_vec();
            spec.task = req.task.filter(|t| !t.trim().is_empty()).map(str::to_string);
        }
        None => {
            // The arguments the task added (a positional prompt, or a flag and its value) go last.
            let base = launch(None).args;
            let task_args = plan.args.get(base.len()..).unwrap_or_default();
            spec.args = [base.as_slice(), req.extra_args, task_args].concat();
            spec.task = plan.send_task.clone();
        }
    }
    spec.env = plan.env.clone();
    spec.supervision = sup.level;
    spec.preset = sup.preset;
    spec.rules = sup.rules.clone();
    spec.loading = sup.loading.clone();
    spec.stall = sup.stall.clone();
    spec.restart = sup.restart;
    (spec, plan)
}

/// What happened to one preset file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Written (created, replaced or appended to).
    Written(String),
    /// Already there with these contents.
    Unchanged(String),
    /// A different file is there; it was left alone.
    Kept(String),
}

/// Writes the preset's config files into `workdir`. An existing file with other
/// contents is never replaced: the user's own configuration wins, and the caller says
/// so.
pub fn write_files(workdir: &Path, files: &[WorkspaceFile]) -> Result<Vec<FileOutcome>, String> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if !warden_adapters::preset::is_relative_path(&f.path) {
            return Err(format!("preset file `{}` is not a path inside the working directory", f.path));
        }
        let path = workdir.join(&f.path);
        let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", path.display());
        match (f.mode, std::fs::read(&path)) {
            (_, Ok(existing)) if existing == f.contents.as_bytes() => {
                out.push(FileOutcome::Unchanged(f.path.clone()));
                continue;
            }
            (WriteMode::Replace, Ok(_)) => {
                out.push(FileOutcome::Kept(f.path.clone()));
                continue;
            }
            _ => {}
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail("create the directory of", e))?;
        }
        match f.mode {
            WriteMode::Replace => std::fs::write(&path, &f.contents).map_err(|e| fail("write", e))?,
            WriteMode::Append => {
                use std::io::Write;
                let mut file =
                    std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| fail("open", e))?;
                let sep = if file.metadata().map(|m| m.len()).unwrap_or(0) > 0 { "\n" } else { "" };
                write!(file, "{sep}{}", f.contents).map_err(|e| fail("append to", e))?;
            }
        }
        out.push(FileOutcome::Written(f.path.clone()));
    }
    Ok(out)
}

/// How a person gets the agent past a login: run the CLI once in a terminal, or set
/// one of its credential variables.
pub fn login_hint(adapter: &Adapter) -> String {
    let program = adapter.probe.binary.clone().unwrap_or_else(|| adapter.program.clone());
    let vars = &adapter.probe.auth_env;
    match vars.len() {
        0 => format!("log in by running `{program}` once in a terminal"),
        1 => format!("log in by running `{program}` once in a terminal, or set {}", vars[0]),
        _ => format!("log in by running `{program}` once in a terminal, or set one of {}", vars.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::run::options::{RawSupervision, parse};

    fn sup() -> Supervision {
        parse(&RawSupervision::default()).expect("defaults")
    }

    fn fact(name: &str, installed: bool) -> PreflightFacts {
        PreflightFacts {
            name: name.into(),
            installed,
            path: None,
            version: None,
            auth: warden_adapters::AuthFact::None,
            install_hint: format!("install {name}"),
        }
    }

    #[test]
    fn the_task_goes_where_the_adapter_wants_it() {
        let r = Registry::builtin();
        let sup = sup();
        let extra = vec!["--model".to_string(), "x".to_string()];
        let req =
            SpecRequest { task: Some("fix it"), program: None, extra_args: &extra, shell: None, supervision: &sup };
        let (spec, plan) = spec(adapter(r, "claude").expect("claude"), &req);
        assert_eq!(spec.args[spec.args.len() - 3..], ["--model", "x", "fix it"]);
        assert!(spec.args.contains(&"--permission-mode".to_string()), "{:?}", spec.args);
        assert_eq!(spec.task, None);
        assert!(plan.passthrough_env.contains(&"ANTHROPIC_API_KEY".to_string()));
        let (spec, _) = spec_for(r, "aider", &req);
        assert_eq!(spec.task.as_deref(), Some("fix it"));
        assert!(!spec.args.contains(&"fix it".to_string()));
        let with_program = SpecRequest { program: Some("/bin/true"), ..req };
        let (spec, _) = spec_for(r, "claude", &with_program);
        assert_eq!((spec.program.as_str(), spec.args.clone()), ("/bin/true", extra.clone()));
        assert_eq!(spec.task.as_deref(), Some("fix it"));
    }

    fn spec_for(r: &Registry, name: &str, req: &SpecRequest<'_>) -> (SessionSpec, LaunchPlan) {
        spec(adapter(r, name).expect("known"), req)
    }

    #[test]
    fn selection_falls_back_to_the_shell() {
        let s = choose(&[fact("claude", false), fact("codex", false)], None);
        assert_eq!(s.agent, "shell");
        let s = choose(&[fact("claude", false), fact("codex", true)], None);
        assert_eq!(s.agent, "codex");
        assert!(s.reason.contains("installed"), "{}", s.reason);
    }

    #[test]
    fn preset_files_never_replace_a_users_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |path: &str, contents: &str| WorkspaceFile {
            path: path.into(),
            contents: contents.into(),
            mode: WriteMode::Replace,
        };
        let out = write_files(dir.path(), &[file(".x/settings.json", "{}\n")]).expect("writes");
        assert_eq!(out, vec![FileOutcome::Written(".x/settings.json".into())]);
        let out = write_files(dir.path(), &[file(".x/settings.json", "{}\n")]).expect("same");
        assert_eq!(out, vec![FileOutcome::Unchanged(".x/settings.json".into())]);
        let out = write_files(dir.path(), &[file(".x/settings.json", "{\"a\":1}\n")]).expect("kept");
        assert_eq!(out, vec![FileOutcome::Kept(".x/settings.json".into())]);
        assert_eq!(std::fs::read_to_string(dir.path().join(".x/settings.json")).expect("read"), "{}\n");
        assert!(write_files(dir.path(), &[file("../escape", "x")]).is_err());
    }

    #[test]
    fn login_hints_name_the_cli_and_its_variables() {
        let r = Registry::builtin();
        let h = login_hint(adapter(r, "claude").expect("claude"));
        assert!(h.contains("`claude`") && h.contains("ANTHROPIC_API_KEY"), "{h}");
        assert!(adapter(r, "nope").expect_err("unknown").contains("unknown agent type `nope`"));
    }
}
