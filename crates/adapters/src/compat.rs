//! What the installed version of a CLI accepts: choosing a preset's flags from the
//! CLI's `--help` text and version.
//!
//! Agent CLIs rename flag values between releases (Claude Code 2.1.197 takes
//! `--permission-mode default`, later versions `manual`). A manifest states what each
//! preset's flags need ([`CliNeeds`]: patterns its `--help` must show, a lowest
//! version) and, per preset, fallbacks for other versions. [`choose_preset`] picks
//! the first variant whose needs the installed CLI meets; when none does the preset is
//! refused with an error naming the version — a preset is never silently weakened,
//! and `readonly` never becomes something that can write, because a fallback is only
//! ever another way of saying the same preset.
//!
//! Pure: the caller runs `--version` and `--help` (with a cache) and passes
//! [`CliFacts`] in.

use std::collections::BTreeMap;

use regex::RegexBuilder;
use serde::Serialize;

use crate::manifest::{CliNeeds, PresetSpec};
use crate::preset::ApprovalPreset;

/// What is known about the installed CLI. `None` = could not be learned (the binary
/// printed nothing in time, or was not probed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CliFacts {
    /// Its version (`x.y.z`), from `--version`.
    pub version: Option<String>,
    /// Its `--help` text.
    pub help: Option<String>,
}

impl CliFacts {
    /// Nothing known.
    pub fn unknown() -> CliFacts {
        CliFacts::default()
    }

    /// The version for messages: `2.1.197`, or `an unknown version`.
    pub fn version_label(&self) -> String {
        self.version.clone().unwrap_or_else(|| "an unknown version".into())
    }
}

/// The flags and environment a preset is expressed with on the installed CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresetChoice {
    /// Flags.
    pub args: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// `0` = the preset's own flags; `n` = its `n`-th fallback.
    pub variant: usize,
    /// The chosen variant's note.
    pub note: String,
}

/// A preset the installed CLI cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{agent} {version} cannot run preset `{preset}` safely: its --help does not show {missing}; upgrade {agent}, \
     or pick another preset with --preset"
)]
pub struct PresetError {
    /// The adapter.
    pub agent: String,
    /// The preset.
    pub preset: ApprovalPreset,
    /// The installed version (or `an unknown version`).
    pub version: String,
    /// What the preset's own flags need and the CLI lacks.
    pub missing: String,
}

/// Why a set of needs is not met, or `None` when it is (or cannot be checked: an
/// unknown help text or version is no evidence against the flags).
pub fn unmet(needs: &CliNeeds, facts: &CliFacts) -> Option<String> {
    if let (Some(min), Some(v)) = (&needs.min_version, &facts.version)
        && compare_versions(v, min) == Some(std::cmp::Ordering::Less)
    {
        return Some(format!("version {min} or later"));
    }
    let help = facts.help.as_deref()?;
    needs.help.iter().find(|p| !help_matches(p, help)).map(|p| format!("`{p}`"))
}

fn help_matches(pattern: &str, help: &str) -> bool {
    // Checked when the manifest was loaded; a pattern that does not compile matches nothing.
    RegexBuilder::new(pattern).multi_line(true).size_limit(1 << 20).build().is_ok_and(|re| re.is_match(help))
}

/// Checks that every help pattern of `needs` compiles.
pub(crate) fn check_needs(needs: &CliNeeds) -> Result<(), String> {
    for p in &needs.help {
        RegexBuilder::new(p)
            .multi_line(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("bad help pattern {p:?}: {e}"))?;
    }
    if let Some(v) = &needs.min_version
        && parse_version(v).is_none()
    {
        return Err(format!("min_version `{v}` is not a version (x.y.z)"));
    }
    Ok(())
}

/// The variant of `spec` the installed CLI takes: the preset's own flags when their
/// needs are met, else the first fallback whose needs are, else an error.
pub fn choose_preset(
    agent: &str,
    preset: ApprovalPreset,
    spec: &PresetSpec,
    facts: &CliFacts,
) -> Result<PresetChoice, PresetError> {
    let Some(missing) = unmet(&spec.needs, facts) else {
        return Ok(PresetChoice {
            args: spec.args.clone(),
            env: spec.env.clone(),
            variant: 0,
            note: spec.note.clone(),
        });
    };
    for (i, f) in spec.fallbacks.iter().enumerate() {
        if unmet(&f.needs, facts).is_none() {
            return Ok(PresetChoice { args: f.args.clone(), env: f.env.clone(), variant: i + 1, note: f.note.clone() });
        }
    }
    Err(PresetError { agent: agent.to_string(), preset, version: facts.version_label(), missing })
}

fn parse_version(v: &str) -> Option<Vec<u64>> {
    let core = v.trim().trim_start_matches('v').split(['-', '+', ' ']).next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

/// Compares two `x.y.z` versions numerically (missing parts count as 0); `None` when
/// either is not a version.
pub fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let (mut a, mut b) = (parse_version(a)?, parse_version(b)?);
    let n = a.len().max(b.len());
    a.resize(n, 0);
    b.resize(n, 0);
    Some(a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const HELP_2_1_197: &str = include_str!("../tests/screens/claude/v2.1.197/help.txt");
    const HELP_2_1_332: &str = include_str!("../tests/screens/claude/v2.1.332/help.txt");

    fn facts(version: &str, help: &str) -> CliFacts {
        CliFacts { version: Some(version.into()), help: Some(help.into()) }
    }

    fn claude_preset(p: ApprovalPreset) -> &'static PresetSpec {
        Registry::builtin().get("claude").expect("claude").presets.get(&p).expect("preset")
    }

    #[test]
    fn versions_compare_numerically() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("2.1.197", "2.1.332"), Some(Less));
        assert_eq!(compare_versions("0.10.0", "0.9.9"), Some(Greater));
        assert_eq!(compare_versions("v1.2", "1.2.0"), Some(Equal));
        assert_eq!(compare_versions("1.2.3-beta", "1.2.3"), Some(Equal));
        assert_eq!(compare_versions("x", "1"), None);
    }

    #[test]
    fn claude_2_1_197_gets_default_mode_for_standard_and_newer_ones_manual() {
        // The defect: 2.1.197 rejects `--permission-mode manual`.
        let old = choose_preset(
            "claude",
            ApprovalPreset::Standard,
            claude_preset(ApprovalPreset::Standard),
            &facts("2.1.197", HELP_2_1_197),
        )
        .expect("expressible");
        assert_eq!(old.args[..2], ["--permission-mode", "default"]);
        assert_eq!(old.variant, 1);
        let new = choose_preset(
            "claude",
            ApprovalPreset::Standard,
            claude_preset(ApprovalPreset::Standard),
            &facts("2.1.332", HELP_2_1_332),
        )
        .expect("expressible");
        assert_eq!((new.args[..2].to_vec(), new.variant), (vec!["--permission-mode".to_string(), "manual".into()], 0));
        for p in ApprovalPreset::ALL {
            for f in [facts("2.1.197", HELP_2_1_197), facts("2.1.332", HELP_2_1_332)] {
                assert!(choose_preset("claude", p, claude_preset(p), &f).is_ok(), "{p} on {:?}", f.version);
            }
        }
    }

    #[test]
    fn a_preset_the_cli_cannot_express_is_refused_naming_the_version() {
        let help = "Usage: claude [options]\n  --permission-mode <mode> (choices: \"acceptEdits\")\n";
        let e = choose_preset(
            "claude",
            ApprovalPreset::Readonly,
            claude_preset(ApprovalPreset::Readonly),
            &facts("1.0.0", help),
        )
        .expect_err("no plan mode: readonly is refused, never weakened");
        assert_eq!((e.version.as_str(), e.preset), ("1.0.0", ApprovalPreset::Readonly));
        assert!(e.to_string().starts_with("claude 1.0.0 cannot run preset `readonly` safely"), "{e}");
        assert!(e.to_string().contains("--preset"), "{e}");
    }

    #[test]
    fn nothing_known_keeps_the_presets_own_flags() {
        let c = choose_preset(
            "claude",
            ApprovalPreset::Standard,
            claude_preset(ApprovalPreset::Standard),
            &CliFacts::unknown(),
        )
        .expect("unknown is no evidence");
        assert_eq!(c.variant, 0);
    }

    #[test]
    fn min_version_is_checked_when_the_version_is_known() {
        let spec = PresetSpec {
            args: vec!["--new".into()],
            needs: CliNeeds { help: vec![], min_version: Some("2.0.0".into()) },
            ..Default::default()
        };
        assert!(choose_preset("x", ApprovalPreset::Standard, &spec, &facts("1.9.9", "")).is_err());
        assert!(choose_preset("x", ApprovalPreset::Standard, &spec, &facts("2.0.0", "")).is_ok());
        assert!(check_needs(&CliNeeds { help: vec!["(".into()], min_version: None }).is_err());
        assert!(check_needs(&CliNeeds { help: vec![], min_version: Some("new".into()) }).is_err());
    }
}

#[cfg(test)]
mod resume_tests {
    use crate::{CliFacts, LaunchRequest, Registry};

    #[test]
    fn every_agent_cli_says_how_to_resume_and_the_arguments_follow_its_own() {
        let r = Registry::builtin();
        for (name, args) in [
            ("claude", vec!["--continue"]),
            ("codex", vec!["resume", "--last"]),
            ("gemini", vec!["--resume", "latest"]),
            ("aider", vec!["--restore-chat-history"]),
            ("pi", vec!["--continue"]),
        ] {
            assert_eq!(r.get(name).expect(name).resume_args, args, "{name}");
        }
        assert!(r.get("shell").expect("shell").resume_args.is_empty());
        let codex = r.get("codex").expect("codex");
        let req = LaunchRequest { task: Some("go on"), ..Default::default() };
        let plan = codex.resume_plan(&req, &CliFacts::unknown()).expect("codex resumes").expect("plan");
        assert_eq!(plan.args, ["--no-daemon", "resume", "--last", "go on"]);
        assert!(r.get("shell").expect("shell").resume_plan(&req, &CliFacts::unknown()).is_none());
    }
}
