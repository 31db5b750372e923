//! Rules, aliases, manifests, presets, memory files and input, through the public API.

use std::path::Path;

use warden_adapters::{
    ApprovalPreset, InputStyle, LaunchRequest, ManifestError, PromptKind, Registry, ScreenState, ScreenView, WriteMode,
};

fn screen(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn builtin(name: &str) -> &'static warden_adapters::Adapter {
    Registry::builtin().get(name).expect("built-in")
}

#[test]
fn legacy_names_resolve() {
    let r = Registry::builtin();
    for (alias, name) in [
        ("claude-code", "claude"),
        ("Claude", "claude"),
        ("openai-codex", "codex"),
        ("gemini-cli", "gemini"),
        ("aider-chat", "aider"),
        ("pi-coding-agent", "pi"),
        ("bash", "shell"),
    ] {
        assert_eq!(r.get(alias).map(|a| a.name.as_str()), Some(name), "{alias}");
    }
    assert!(r.get("hermes").is_none());
    assert_eq!(r.names(), ["claude", "codex", "gemini", "aider", "pi", "shell"]);
}

#[test]
fn menus_and_logins_carry_their_details() {
    let codex = builtin("codex");
    let login =
        codex.detect_login(&ScreenView::text(&screen("codex/login-signin-choices.txt")).with_cols(120)).expect("login");
    let labels: Vec<_> = login.choices.iter().map(|c| (c.label.as_str(), c.selected)).collect();
    assert_eq!(
        labels,
        [("Sign in with ChatGPT", true), ("Sign in with Device Code", false), ("Sign in another way", false)]
    );
    assert!(login.instructions.contains("codex login --with-api-key"));

    let claude = builtin("claude");
    let b = claude.detect_blocking_prompt(&ScreenView::text(&screen("claude/trust-folder.txt"))).expect("trust");
    assert_eq!(b.kind, PromptKind::Trust);
    assert_eq!(
        b.choices.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
        ["No, exit", "Yes, I trust this folder"]
    );
    assert!(b.prompt.contains("Quick safety check"));
    assert_eq!(b.provenance.adapter, "claude");
    assert!(b.once && b.safe);
    assert!(!b.may_auto_answer(ApprovalPreset::Readonly), "trust needs standard");
    assert!(b.may_auto_answer(ApprovalPreset::Standard));

    let gemini = builtin("gemini");
    let b = gemini.detect_blocking_prompt(&ScreenView::text(&screen("gemini/trust-folder.txt"))).expect("trust");
    assert_eq!(b.choices.len(), 3);
    assert!(b.choices[0].selected && b.choices[0].label.starts_with("Trust folder"));
}

#[test]
fn unsafe_prompts_are_never_auto_answered() {
    let claude = builtin("claude");
    let text = "❯ run it\n Bash command\n   rm -rf build\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n";
    let v = claude.classify(&ScreenView::text(text));
    assert_eq!(v.state, ScreenState::Blocked(PromptKind::Permission));
    let b = v.blocking.expect("prompt");
    assert!(!b.safe);
    assert!(!b.may_auto_answer(ApprovalPreset::Autonomous));
    assert_eq!(b.choices.len(), 2);
}

#[test]
fn text_answers_are_typed_and_submitted() {
    let aider = builtin("aider");
    let b = aider.detect_blocking_prompt(&ScreenView::text(&screen("aider/analytics-prompt.txt"))).expect("analytics");
    assert_eq!(aider.response_bytes(b.response.as_ref().expect("answer")), b"n\r");
    assert_eq!(aider.input_plan("hi").first, b"hi\r");
    let claude = builtin("claude");
    let plan = claude.input_plan("two\nlines");
    assert_eq!(plan.first, b"\x1b[200~two\nlines\x1b[201~");
    assert_eq!(plan.then, Some((100, b"\r".to_vec())));
    assert!(matches!(claude.input, InputStyle::Paste { .. }));
}

#[test]
fn presets_map_to_each_clis_flags_and_files() {
    let plan =
        |name: &str, p: ApprovalPreset| builtin(name).launch(&LaunchRequest { preset: Some(p), ..Default::default() });
    let c = plan("claude", ApprovalPreset::Readonly);
    assert_eq!(&c.args[..2], ["--permission-mode", "plan"]);
    assert_eq!(c.files[0].path, ".claude/settings.local.json");
    assert!(c.files[0].contents.contains("\"deny\""));
    let c = plan("claude", ApprovalPreset::Autonomous);
    assert!(c.args.contains(&"--dangerously-skip-permissions".to_string()));
    assert_eq!(c.env.get("IS_SANDBOX").map(String::as_str), Some("1"));
    assert_eq!(c.env.get("DISABLE_AUTOUPDATER").map(String::as_str), Some("1"));
    let x = plan("codex", ApprovalPreset::Readonly);
    assert_eq!(x.args, ["--no-daemon", "--sandbox", "read-only", "--ask-for-approval", "on-request"]);
    assert_eq!(x.files[0].path, ".codex/config.toml");
    assert!(
        plan("codex", ApprovalPreset::Autonomous)
            .args
            .contains(&"--dangerously-bypass-approvals-and-sandbox".to_string())
    );
    assert_eq!(plan("gemini", ApprovalPreset::Permissive).args, ["--approval-mode", "auto_edit"]);
    assert_eq!(plan("aider", ApprovalPreset::Autonomous).args, ["--yes-always"]);
    assert_eq!(plan("pi", ApprovalPreset::Readonly).args, ["--tools", "read"]);
    // Every file is relative, every preset exists for every agent CLI.
    for name in ["claude", "codex", "gemini", "aider", "pi"] {
        for p in ApprovalPreset::ALL {
            assert!(builtin(name).presets.contains_key(&p), "{name} {p}");
            for f in plan(name, p).files {
                assert!(!f.path.starts_with('/') && !f.path.contains(".."));
            }
        }
    }
    // Credentials pass through by name only.
    assert!(plan("claude", ApprovalPreset::Standard).passthrough_env.contains(&"ANTHROPIC_API_KEY".to_string()));
    assert!(!plan("claude", ApprovalPreset::Standard).env.contains_key("ANTHROPIC_API_KEY"));
}

#[test]
fn tasks_and_memory_files() {
    let req =
        |task| LaunchRequest { task: Some(task), memory: Some("Be brief."), memory_append: true, ..Default::default() };
    let c = builtin("claude").launch(&req("fix the bug"));
    assert_eq!(c.args.last().map(String::as_str), Some("fix the bug"));
    assert_eq!(c.send_task, None);
    let m = c.files.iter().find(|f| f.path == "CLAUDE.md").expect("memory file");
    assert_eq!((m.contents.as_str(), m.mode), ("Be brief.\n", WriteMode::Append));
    let c = builtin("claude").launch(&req("--help me"));
    assert_eq!(c.send_task.as_deref(), Some("--help me"), "a task that looks like a flag is typed in");
    let a = builtin("aider").launch(&req("fix the bug"));
    assert_eq!(a.send_task.as_deref(), Some("fix the bug"));
    assert_eq!(a.args, ["--read", ".aider.conventions.md"]);
    assert_eq!(a.files[0].path, ".aider.conventions.md");
    for (name, file) in [("codex", "AGENTS.md"), ("gemini", "GEMINI.md"), ("pi", "AGENTS.md")] {
        assert_eq!(builtin(name).memory_file("x", false).expect("memory").path, file);
    }
    assert!(builtin("shell").memory_file("x", false).is_none());
}

#[test]
fn a_generic_adapter_comes_from_toml() {
    let text = r#"
name = "my-agent"
aliases = ["mine"]
program = "/opt/my-agent/bin/agent"
args = ["--interactive"]
task = "flag"
task_flag = "--task"
credential_env = ["MY_AGENT_TOKEN"]

[input]
style = "text"

[[rules]]
id = "ready"
state = "ready"
pattern = '^agent> $'
region = "bottom:1"

[[rules]]
id = "proceed"
state = "blocking"
kind = "permission"
pattern = 'Proceed\? \[y/N\]'
region = "bottom:2"
response = "y"
min_preset = "permissive"
"#;
    let r = Registry::with_manifests(&[("my-agent.toml", text)]).expect("valid");
    let a = r.get("MINE").expect("alias");
    assert_eq!(a.name, "my-agent");
    let plan = a.launch(&LaunchRequest { task: Some("hello"), ..Default::default() });
    assert_eq!(plan.args, ["--interactive", "--task", "hello"]);
    assert_eq!(plan.passthrough_env, ["MY_AGENT_TOKEN"]);
    let v = a.classify(&ScreenView::text("starting\nagent> "));
    assert_eq!(v.state, ScreenState::Ready);
    assert_eq!(v.provenance.expect("why").rule, "ready");
    let v = a.classify(&ScreenView::text("delete x\nProceed? [y/N]"));
    let b = v.blocking.expect("prompt");
    assert!(!b.may_auto_answer(ApprovalPreset::Standard) && b.may_auto_answer(ApprovalPreset::Permissive));
    assert_eq!(a.classify(&ScreenView::text("something else")).state, ScreenState::Unknown);
    assert!(r.get("claude").is_some(), "built-ins stay");
}

#[test]
fn a_user_file_overrides_a_builtin() {
    let text = r#"
name = "claude-code"
args = ["--model", "opus"]
disable_rules = ["trust-folder"]
[[rules]]
id = "ready-footer"
state = "ready"
pattern = 'my new footer'
region = "after_last_rule"
"#;
    let r = Registry::with_manifests(&[("override.toml", text)]).expect("valid");
    let c = r.get("claude").expect("claude");
    assert_eq!(c.args, ["--model", "opus"]);
    assert!(c.rules.iter().all(|r| r.id != "trust-folder"));
    let v = c.classify(&ScreenView::text(&screen("claude/trust-folder.txt")));
    assert_eq!(v.state, ScreenState::Unknown, "trust rule disabled");
    assert_eq!(c.rules.iter().filter(|r| r.id == "ready-footer").count(), 1);
    // `extends` under a new name adds an adapter based on the built-in.
    let r = Registry::with_manifests(&[(
        "x.toml",
        "name = \"claude-opus\"\nextends = \"claude\"\nargs = [\"--model\", \"opus\"]\n",
    )])
    .expect("valid");
    assert_eq!(r.get("claude-opus").expect("new").program, "claude");
    assert_eq!(r.get("claude").expect("kept").args, Vec::<String>::new());
}

#[test]
fn manifest_errors_are_clear() {
    let err = |text: &str| Registry::with_manifests(&[("user.toml", text)]).expect_err("invalid").to_string();
    let e = err("name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"ready\"\npattern = \"(\"\n");
    assert!(e.contains("rule `r`") && e.contains("bad pattern"), "{e}");
    let e = err("name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"sleepy\"\npattern = \"a\"\n");
    assert!(e.contains("unknown state `sleepy`"), "{e}");
    let e = err(
        "name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"blocking\"\nkind = \"nap\"\npattern = \"a\"\n",
    );
    assert!(e.contains("unknown prompt kind `nap`"), "{e}");
    let e = err(
        "name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"login\"\nkind = \"magic_link\"\npattern = \"a\"\n",
    );
    assert!(e.contains("unknown login kind `magic_link`") && e.contains("device_code"), "{e}");
    let e = err(
        "name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"ready\"\npattern = \"a\"\nresponse = \"keys:down,jump\"\n",
    );
    assert!(e.contains("bad response") && e.contains("jump"), "{e}");
    let e = err(
        "name = \"x\"\nprogram = \"x\"\n[[rules]]\nid = \"r\"\nstate = \"ready\"\npattern = \"a\"\nregion = \"middle\"\n",
    );
    assert!(e.contains("unknown region"), "{e}");
    let e = err("name = \"x\"\n");
    assert!(e.contains("`program` is missing"), "{e}");
    let e =
        err("name = \"x\"\nprogram = \"x\"\n\n[presets.readonly]\nfiles = [{ path = \"/etc/x\", contents = \"\" }]\n");
    assert!(e.contains("must be relative"), "{e}");
    let e = err("name = \"x\"\nprogram = \"x\"\naliases = [\"claude-code\"]\n");
    assert!(e.contains("already used by adapter `claude`"), "{e}");
    let e = err("name = \"x\"\nextends = \"nothing\"\n");
    assert!(e.contains("names no adapter"), "{e}");
    let e = Registry::with_manifests(&[("user.toml", "name = \"x\"\nprogram = [1\n")]).expect_err("toml");
    assert!(matches!(e, ManifestError::Toml { .. }));
    assert!(e.to_string().starts_with("user.toml: ") && e.to_string().contains("line 2"), "{e}");
}

#[test]
fn every_builtin_rule_names_its_source() {
    for a in Registry::builtin().adapters() {
        for r in &a.rules {
            assert!(
                r.source.starts_with("seen") || r.source.starts_with("read"),
                "{}/{}: {:?}",
                a.name,
                r.id,
                r.source
            );
        }
    }
}

#[test]
fn probes_are_data() {
    let probe = |n: &str| builtin(n).probe.clone();
    assert_eq!(probe("claude").login_files, ["~/.claude/.credentials.json"]);
    assert_eq!(probe("codex").login_files, ["~/.codex/auth.json"]);
    assert!(probe("gemini").login_files.contains(&"~/.gemini/oauth_creds.json".to_string()));
    assert!(probe("gemini").auth_env.contains(&"GOOGLE_GENERATIVE_AI_API_KEY".to_string()));
    assert_eq!(probe("aider").install_hint, "pip install aider-chat");
    assert_eq!(probe("shell").binary, None);
    assert_eq!(probe("pi").version_args, ["--version"]);
}

/// An overlay that replaces a built-in rule only to re-word its pattern keeps the
/// rule's `safe` and `min_preset`: it used to make an unsafe permission rule one
/// warden answers by itself at every preset. Saying `safe = true` still does.
#[test]
fn an_overlay_rewording_an_unsafe_rule_keeps_it_unsafe() {
    use warden_adapters::{ApprovalPreset, OverlayFile, Registry, ScreenView};
    let screen = " Bash command\n   rm -rf ~/project\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n";
    let base = Registry::builtin();
    let classify =
        |r: &Registry| r.get("claude").expect("claude").classify(&ScreenView::text(screen)).blocking.expect("blocking");
    let b = classify(base);
    assert_eq!(b.provenance.rule, "permission-proceed");
    assert!(!b.may_auto_answer(ApprovalPreset::Autonomous), "built-in: never answered by itself");
    let overlay = |extra: &str| OverlayFile {
        agent: "claude".into(),
        origin: "/cfg/adapters/claude.d/10-wording.toml".into(),
        text: format!(
            "[[rules]]\nid = \"permission-proceed\"\nstate = \"blocking\"\nkind = \"permission\"\n\
             pattern = 'Do you want to (proceed|continue)\\?'\nresponse = \"keys:enter\"\n{extra}"
        ),
    };
    let reworded = base.overlaid(&[overlay("")]).expect("overlaid");
    let b = classify(&reworded);
    assert_eq!(b.provenance.rule, "permission-proceed");
    assert!(!b.may_auto_answer(ApprovalPreset::Autonomous), "re-worded, still never answered by itself");
    let meant = base.overlaid(&[overlay("safe = true\n")]).expect("overlaid");
    assert!(classify(&meant).may_auto_answer(ApprovalPreset::Autonomous), "the user said so");
}
