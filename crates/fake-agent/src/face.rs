//! How a persona's CLI answers on its command line: `--version` and `--help` as the
//! captured versions printed them (`crates/adapters/tests/screens/<cli>/v<version>/`),
//! and an argument it does not take rejected the way that CLI rejects it (the
//! captured `bad-flag.txt` and, for Claude Code 2.1.197, `preset-standard.txt`).

/// A captured version of a persona's CLI.
struct Captured {
    persona: &'static str,
    version: &'static str,
    version_text: &'static str,
    help: &'static str,
}

macro_rules! captured {
    ($persona:literal, $version:literal) => {
        Captured {
            persona: $persona,
            version: $version,
            version_text: include_str!(concat!(
                "../../adapters/tests/screens/",
                $persona,
                "/v",
                $version,
                "/version.txt"
            )),
            help: include_str!(concat!("../../adapters/tests/screens/", $persona, "/v", $version, "/help.txt")),
        }
    };
}

static CAPTURED: &[Captured] = &[
    captured!("claude", "2.1.197"),
    captured!("claude", "2.1.332"),
    captured!("codex", "0.165.0"),
    captured!("codex", "0.171.0"),
    captured!("gemini", "0.54.4"),
    captured!("gemini", "0.61.0"),
    captured!("aider", "0.85.0"),
    captured!("aider", "0.86.2"),
    captured!("pi", "0.70.0"),
    captured!("pi", "0.73.1"),
];

fn captured(persona: &str, version: Option<&str>) -> Option<&'static Captured> {
    let mut of_persona = CAPTURED.iter().filter(|c| c.persona == persona);
    match version {
        Some(v) => of_persona.find(|c| c.version == v),
        // The newest captured version.
        None => of_persona.next_back(),
    }
}

/// What `--version` prints for `persona` as `version` (the newest captured when
/// `None`); a version never captured prints `<version> (fake <persona>)`.
pub fn version_text(persona: &str, version: Option<&str>) -> String {
    match (captured(persona, version), version) {
        (Some(c), _) => c.version_text.to_string(),
        (None, Some(v)) => format!("{v} (fake {persona})\n"),
        (None, None) => format!("0.0.0 (fake {persona})\n"),
    }
}

/// What `--help` prints, when that version was captured.
pub fn help_text(persona: &str, version: Option<&str>) -> Option<&'static str> {
    captured(persona, version).map(|c| c.help)
}

/// How `persona`'s CLI rejects the argument `arg` (followed by `value`, if any):
/// its message and exit status, as captured.
pub fn rejection(persona: &str, version: Option<&str>, arg: &str, value: Option<&str>) -> (String, u8) {
    if persona == "claude" && arg == "--permission-mode" {
        let choices = if version == Some("2.1.197") {
            "acceptEdits, auto, bypassPermissions, default, dontAsk, plan"
        } else {
            "acceptEdits, auto, bypassPermissions, manual, dontAsk, plan"
        };
        let v = value.unwrap_or("");
        return (
            format!(
                "error: option '--permission-mode <mode>' argument '{v}' is invalid. Allowed choices are {choices}."
            ),
            1,
        );
    }
    match persona {
        "claude" => (format!("error: unknown option '{arg}'"), 1),
        "codex" => (
            format!(
                "error: unexpected argument '{arg}' found\n\n  tip: to pass '{arg}' as a value, use '-- {arg}'\n\n\
                 Usage: codex [OPTIONS] [PROMPT]\n\nFor more information, try '--help'."
            ),
            2,
        ),
        "gemini" => (format!("Unknown arguments: {}", arg.trim_start_matches('-')), 1),
        "aider" => (format!("usage: aider [-h] [FILE ...]\naider: error: unrecognized arguments: {arg}"), 2),
        "pi" => (format!("Error: Unknown option: {arg}"), 1),
        _ => (format!("fake-agent: unknown argument `{arg}`"), 2),
    }
}

/// Whether `persona` as `version` takes `--permission-mode value` (Claude Code's
/// choices changed between the captured versions).
pub fn takes_permission_mode(version: Option<&str>, value: &str) -> bool {
    let old = version == Some("2.1.197");
    match value {
        "acceptEdits" | "auto" | "bypassPermissions" | "dontAsk" | "plan" => true,
        "default" => old,
        "manual" => !old,
        _ => false,
    }
}
