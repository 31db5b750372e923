//! Adapter manifests: the TOML form of an adapter, as shipped and as users write them.
//!
//! Every built-in adapter is one TOML file under `manifests/`, embedded with
//! `include_str!`. A user file of the same shape either overrides a built-in (same `name`,
//! or `extends = "claude"`: fields given replace the built-in's, rules with the same `id`
//! replace the built-in's rule, new rules are added, `disable_rules` removes rules) or
//! defines a new, *generic* adapter (any other name; `program` is then required).
//! Parsing is pure: the caller reads the file and hands the text to [`parse_manifest`].
//! The format is documented with a full example in `docs/ADAPTERS.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ManifestError;

/// An adapter manifest as written in TOML. Optional fields are optional so that an
/// override can name only what it changes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Canonical adapter name (`claude`, `my-agent`).
    pub name: String,
    /// Built-in adapter this manifest overrides or extends.
    pub extends: Option<String>,
    /// Human name ("Claude Code").
    pub display_name: Option<String>,
    /// Other names that resolve to this adapter (`claude-code`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Program to run: a name looked up on `PATH`, a path, or `$SHELL` (the caller's shell).
    pub program: Option<String>,
    /// Arguments always passed.
    pub args: Option<Vec<String>>,
    /// Environment always set (not secrets: use `credential_env` for those).
    pub env: Option<BTreeMap<String, String>>,
    /// Names of credential variables passed through from the caller's environment.
    pub credential_env: Option<Vec<String>>,
    /// How long the ready signal must hold before the session is declared ready (ms).
    pub ready_settle_ms: Option<u64>,
    /// How a task reaches the agent: `argument` (last argv item), `flag` (after
    /// `task_flag`) or `send` (typed in once the agent is ready).
    pub task: Option<String>,
    /// The flag that carries the task when `task = "flag"`.
    pub task_flag: Option<String>,
    /// The program reads input typed ahead of its prompt (a shell's line discipline
    /// buffers it): a task that is typed in is typed at once, not when the screen first
    /// looks ready. Default `false`.
    pub type_ahead: Option<bool>,
    /// The escalation steps taken while a stall persists, when the session names none
    /// (default: warden's ladder). A shell has nothing to nudge or resume:
    /// `stall_ladder = [{ step = "notify" }]`.
    pub stall_ladder: Option<Vec<warden_core::stall::EscalationStep>>,
    /// Chosen when the caller names no agent and no agent CLI is installed, or names a
    /// program but no agent (the shell). Default `false`.
    pub fallback: Option<bool>,
    /// Arguments that continue the most recent session in the working directory
    /// instead of starting a new one (`--continue`, `resume --last`); placed right
    /// after `args`.
    pub resume_args: Option<Vec<String>>,
    /// How typed input is submitted.
    pub input: Option<InputSpec>,
    /// What preflight probes.
    pub preflight: Option<PreflightSpec>,
    /// The agent's instruction (memory) file.
    pub memory: Option<MemorySpec>,
    /// Approval presets by name (`readonly`, `standard`, `permissive`, `autonomous`).
    #[serde(default)]
    pub presets: BTreeMap<String, PresetSpec>,
    /// Detection and auto-response rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Rule ids of the base manifest to drop (overrides only).
    #[serde(default)]
    pub disable_rules: Vec<String>,
}

/// `[input]`: how text is submitted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `paste` (bracketed paste, then the submit key as a separate write) or `text`
    /// (the text and the submit key in one write).
    pub style: Option<String>,
    /// Delay between the pasted text and the submit key (ms).
    pub enter_delay_ms: Option<u64>,
    /// Key name that submits (`enter`).
    pub submit: Option<String>,
}

/// `[preflight]`: what to probe to tell whether the CLI is installed and logged in.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreflightSpec {
    /// Binary looked up on `PATH`.
    pub binary: Option<String>,
    /// Arguments that print the version.
    pub version_args: Option<Vec<String>>,
    /// Arguments that print the usage text presets are checked against (`--help`).
    pub help_args: Option<Vec<String>>,
    /// Environment variables whose presence means credentials are configured.
    pub auth_env: Option<Vec<String>>,
    /// Login files (`~/` = home) whose presence means the CLI is logged in.
    pub login_files: Option<Vec<String>>,
    /// How to install the CLI.
    pub install_hint: Option<String>,
    /// Where its documentation lives.
    pub docs_url: Option<String>,
}

/// `[memory]`: the instruction file the CLI reads from the workspace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    /// Path relative to the workspace (`CLAUDE.md`).
    pub path: Option<String>,
    /// Arguments that make the CLI read it (Aider: `--read`, path).
    pub args: Option<Vec<String>>,
}

/// `[presets.<name>]`: what an approval preset means for this CLI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PresetSpec {
    /// Flags added to the command line.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment added.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Files written into the workspace before the start.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Why this mapping (shown in docs and `warden adapters`).
    #[serde(default)]
    pub note: String,
    /// What the installed CLI must show for `args` to be used; unmet, the first
    /// fallback whose needs are met is used instead, and with none the preset is
    /// refused (never weakened).
    #[serde(default)]
    pub needs: CliNeeds,
    /// Other ways to say the same preset on other versions, tried in order.
    #[serde(default)]
    pub fallbacks: Vec<PresetVariant>,
}

/// What a preset's flags need from the installed CLI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CliNeeds {
    /// Patterns (Rust `regex`, multi-line) that must all match the CLI's `--help` text:
    /// the flag, and the value when the value is what changes between versions
    /// (`'"manual"'` among `--permission-mode`'s choices).
    #[serde(default)]
    pub help: Vec<String>,
    /// The lowest version (`x.y.z`) that takes the flags.
    pub min_version: Option<String>,
}

/// `[[presets.<name>.fallbacks]]`: the same preset said for other versions of the CLI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PresetVariant {
    /// Flags instead of the preset's `args`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment instead of the preset's `env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What these flags need.
    #[serde(default)]
    pub needs: CliNeeds,
    /// Why these flags mean the same preset.
    #[serde(default)]
    pub note: String,
}

/// A file to write, relative to the workspace.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Path relative to the workspace.
    pub path: String,
    /// Contents.
    pub contents: String,
}

/// `[[rules]]`: one detection rule, optionally with an automatic answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique id within the adapter (`trust-folder`).
    pub id: String,
    /// What a match means: `ready`, `busy`, `login`, `blocking`, `task_complete`, `exit`.
    pub state: String,
    /// Sub-kind: the prompt type for `blocking` (`trust`, `permission`, …), the login kind
    /// for `login` (`oauth`, `api_key`, `cli_auth`, `choices`, `device_code`), free text
    /// otherwise.
    #[serde(default)]
    pub kind: String,
    /// Regular expression (Rust `regex` syntax, multi-line: `^`/`$` match at line ends).
    pub pattern: String,
    /// More patterns that must all match the same region.
    #[serde(default)]
    pub also: Vec<String>,
    /// Patterns none of which may match the same region.
    #[serde(default)]
    pub unless: Vec<String>,
    /// Where to look (default `screen`): `screen`, `top:N`, `bottom:N`,
    /// `after_last_rule`, `above_last_rule:N`, `prompt_box`, `above_prompt_box:N`,
    /// `title`, `scrollback`.
    pub region: Option<String>,
    /// Higher wins when rules of different states match the same screen. Defaults:
    /// exit 900, blocking 700, login 600, busy 400, task_complete 300, ready 200.
    pub priority: Option<i32>,
    /// Extract the first URL after the match (wrapped lines joined).
    #[serde(default)]
    pub url: bool,
    /// Regex with one capture group that extracts a device/one-time code.
    pub code: Option<String>,
    /// Automatic answer: text (typed and submitted) or `keys:down,enter`.
    pub response: Option<String>,
    /// Answer at most once per session.
    #[serde(default)]
    pub once: bool,
    /// Whether answering is safe; unsafe prompts become pending confirmations.
    pub safe: Option<bool>,
    /// Lowest approval preset that may answer automatically (default `readonly`).
    pub min_preset: Option<String>,
    /// What the rule recognises, for events and docs.
    #[serde(default)]
    pub description: String,
    /// Where the pattern comes from: `seen: <fixture>` or `read: <source>`.
    #[serde(default)]
    pub source: String,
    /// The overlay file this rule came from (set when overlays are merged; never
    /// read from TOML).
    #[serde(skip)]
    pub overlay: Option<String>,
}

/// Parses a manifest from TOML text. `origin` names the text in error messages (a
/// path, or `built-in claude`). Errors carry TOML's line and column.
pub fn parse_manifest_from(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Toml {
        origin: origin.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    if manifest.name.trim().is_empty() {
        return Err(ManifestError::Invalid { adapter: origin.to_string(), message: "`name` must not be empty".into() });
    }
    Ok(manifest)
}

/// Parses a manifest from TOML text (origin `manifest`); see [`parse_manifest_from`].
pub fn parse_manifest(text: &str) -> Result<Manifest, ManifestError> {
    parse_manifest_from(text, "manifest")
}

impl Manifest {
    /// This manifest laid over `base`: given fields replace, aliases and presets merge,
    /// rules replace by id or are appended, `disable_rules` drops base rules.
    pub fn overlay(&self, base: &Manifest) -> Manifest {
        let mut out = base.clone();
        out.extends = None;
        for a in &self.aliases {
            if !out.aliases.contains(a) {
                out.aliases.push(a.clone());
            }
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if self.$f.is_some() { out.$f = self.$f.clone(); } )* };
        }
        take!(
            display_name,
            program,
            args,
            env,
            credential_env,
            ready_settle_ms,
            task,
            task_flag,
            type_ahead,
            stall_ladder,
            fallback,
            resume_args,
            input,
            preflight,
            memory
        );
        for (k, v) in &self.presets {
            out.presets.insert(k.clone(), v.clone());
        }
        out.rules.retain(|r| !self.disable_rules.contains(&r.id));
        for rule in &self.rules {
            match out.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(existing) => {
                    // A rule replaced to change its wording keeps how far it may be
                    // answered by itself unless it says otherwise: an overlay that
                    // leaves `safe` or `min_preset` out must not make an unsafe rule safe.
                    let mut rule = rule.clone();
                    rule.safe = rule.safe.or(existing.safe);
                    rule.min_preset = rule.min_preset.take().or_else(|| existing.min_preset.clone());
                    *existing = rule;
                }
                None => out.rules.push(rule.clone()),
            }
        }
        out.disable_rules.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_carry_line_numbers() {
        let e = parse_manifest("name = \"x\"\nprogram = \n").expect_err("bad toml");
        let msg = e.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        let e = parse_manifest("name = \"x\"\nprogramm = \"y\"\n").expect_err("unknown field");
        assert!(e.to_string().contains("unknown field `programm`"), "{e}");
        assert!(parse_manifest("name = \"\"").is_err());
    }

    #[test]
    fn overlay_replaces_fields_and_rules_by_id() {
        let base = parse_manifest(
            r#"name = "a"
program = "a"
args = ["--x"]
[[rules]]
id = "r1"
state = "ready"
pattern = "old"
[[rules]]
id = "r2"
state = "busy"
pattern = "busy"
"#,
        )
        .expect("base");
        let over = parse_manifest(
            r#"name = "a"
args = ["--y"]
aliases = ["aa"]
disable_rules = ["r2"]
[[rules]]
id = "r1"
state = "ready"
pattern = "new"
[[rules]]
id = "r3"
state = "exit"
pattern = "bye"
"#,
        )
        .expect("over");
        let m = over.overlay(&base);
        assert_eq!(m.program.as_deref(), Some("a"));
        assert_eq!(m.args, Some(vec!["--y".to_string()]));
        assert_eq!(m.aliases, ["aa"]);
        let ids: Vec<_> = m.rules.iter().map(|r| (r.id.as_str(), r.pattern.as_str())).collect();
        assert_eq!(ids, [("r1", "new"), ("r3", "bye")]);
    }
}
