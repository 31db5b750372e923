//! Every persona's screens are recognised by its adapter's rules, and the
//! command line refuses what it cannot play.

use warden_adapters::{Registry, ScreenState, ScreenView};

use super::parse_args;
use super::personas::PERSONAS;

/// What each screen must be classified as by the built-in manifest of the same name.
fn expected(screen: &str) -> Option<&'static str> {
    Some(match screen {
        "ready" => "ready",
        "busy" => "busy",
        "permission" => "blocking:permission",
        "login" => "login",
        "done" => "task_complete",
        "unreachable" => "blocking:provider_unreachable",
        "exited" => "exited",
        _ => return None,
    })
}

#[test]
fn every_screen_is_recognised_by_its_adapter() {
    let mut failures = Vec::new();
    for persona in PERSONAS {
        let adapter = Registry::builtin().get(persona.name).expect("a built-in adapter per persona");
        for screen in persona.screens {
            let text = screen.plain(120, persona.frames[0]);
            let view = ScreenView { text: &text, title: screen.title.unwrap_or(""), cols: 120, ..Default::default() };
            let got = adapter.classify(&view).state;
            let label = got.label();
            let ok = match (screen.name, expected(screen.name)) {
                // Onboarding prompts: any blocking kind (aider's git-repo and analytics
                // questions are `config`).
                ("trust" | "analytics", _) => matches!(got, ScreenState::Blocked(_)),
                // Login screens are a login either way: a prompt or a login state.
                ("login", _) => matches!(got, ScreenState::LoginRequired | ScreenState::Blocked(_)),
                // Pi has no turn-complete rule: its finished turn is plainly ready.
                ("done", _) if persona.name == "pi" => got == ScreenState::Ready,
                // Shell has no busy or prompt rules beyond its `$ ` prompt.
                (_, _) if persona.name == "shell" => screen.name != "ready" || got == ScreenState::Ready,
                (_, Some(want)) => label == want,
                (_, None) => got != ScreenState::Unknown,
            };
            if !ok {
                failures.push(format!("{}/{}: {label}\n{text}", persona.name, screen.name));
            }
        }
    }
    assert!(failures.is_empty(), "misread screens:\n{}", failures.join("\n\n"));
}

#[test]
fn spinner_frames_keep_the_busy_state() {
    for persona in PERSONAS.iter().filter(|p| p.name != "shell") {
        let adapter = Registry::builtin().get(persona.name).expect("adapter");
        let Ok(busy) = persona.screen("busy") else { continue };
        assert!(busy.spinner_row().is_some(), "{}: busy has a spinner row", persona.name);
        for glyph in persona.frames {
            let text = busy.plain(120, glyph);
            let state = adapter.classify(&ScreenView::text(&text).with_cols(120)).state;
            assert_eq!(state, ScreenState::Busy, "{} with {glyph:?}:\n{text}", persona.name);
        }
    }
}

#[test]
fn every_persona_has_the_life_screens() {
    for persona in PERSONAS {
        for name in ["ready", "busy", "done"] {
            assert!(persona.screen(name).is_ok(), "{} lacks {name}", persona.name);
        }
    }
}

fn args(list: &[&str]) -> Result<(), String> {
    parse_args(list.iter().map(|s| s.to_string())).map(|_| ())
}

#[test]
fn command_line_errors_are_messages() {
    assert!(args(&["--persona", "claude", "--script-inline", "screen ready; exit 0"]).is_ok());
    let cases: &[(&[&str], &str)] = &[
        (&["--persona", "vim", "--script-inline", "exit 0"], "unknown persona `vim`"),
        (&["--persona", "pi", "--script-inline", "screen permission"], "has no screen `permission`"),
        (&["--persona", "claude"], "no script given"),
        (&["--script-inline"], "needs a value"),
        (&["--script", "/nonexistent/fake-agent.script"], "cannot read script"),
        (&["--script-inline", "wobble"], "unknown step"),
        (&["--frobnicate"], "unknown argument"),
        // Named first, the persona's CLI rejects what it does not take, as captured.
        (&["--persona", "claude", "--frobnicate"], "error: unknown option '--frobnicate'"),
        (&["--persona", "codex", "--frobnicate"], "error: unexpected argument '--frobnicate' found"),
        (&["--persona", "pi", "--frobnicate"], "Error: Unknown option: --frobnicate"),
        (
            &["--persona", "claude", "--as-version", "2.1.197", "--permission-mode", "manual"],
            "argument 'manual' is invalid. Allowed choices are acceptEdits, auto, bypassPermissions, default",
        ),
        (&["--persona", "claude", "--version"], "2.1.332 (Claude Code)"),
        (&["--persona", "claude", "--as-version", "2.1.197", "--help"], "\"default\""),
    ];
    for (argv, needle) in cases {
        let err = args(argv).expect_err(needle);
        assert!(err.contains(needle), "{argv:?}: {err}");
    }
    let accepted = ["--persona", "claude", "--as-version", "2.1.197", "--permission-mode", "default"];
    let script = ["--accept-unknown", "--allowedTools", "Read", "--script-inline", "exit 0", "hi"];
    assert!(args(&[&accepted[..], &script[..]].concat()).is_ok(), "2.1.197 takes default; unknown ones ignored");
}

#[test]
fn arguments_after_a_double_dash_are_ignored_and_first_run_parses() {
    assert!(
        args(&["--persona", "claude", "--script-inline", "exit 0", "--", "--permission-mode", "plan", "x"]).is_ok()
    );
    let steps = crate::script::parse_inline("first-run .marker 2; exit 3; exit 4").expect("parses");
    assert_eq!(steps[0], crate::script::Step::FirstRun { file: ".marker".into(), steps: 2 });
    for bad in ["first-run", "first-run .m", "first-run .m x"] {
        assert!(crate::script::parse_inline(bad).is_err(), "{bad}");
    }
}
