//! Every captured screen against every detector, driven by `screens/expectations.toml`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use warden_adapters::{Adapter, ApprovalPreset, Detection, Registry, ScreenState, ScreenView};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    screen: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    file: String,
    state: String,
    rule: Option<String>,
    loading: Option<bool>,
    login: Option<String>,
    url: Option<String>,
    url_end: Option<String>,
    answer: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
}

const COLS: u16 = 120;
const AGENTS: &[&str] = &["claude", "codex", "gemini", "aider", "pi", "shell"];

fn screens() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn table() -> Table {
    toml::from_str(&read(&screens().join("expectations.toml"))).unwrap_or_else(|e| panic!("expectations.toml: {e}"))
}

fn adapter(name: &str) -> &'static Adapter {
    Registry::builtin().get(name).unwrap_or_else(|| panic!("adapter {name}"))
}

/// All plain-text screen fixtures (not `.esc.txt`, not `help.txt`).
fn fixture_files() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for agent in std::fs::read_dir(screens()).expect("screens dir") {
        let agent = agent.expect("entry").path();
        if !agent.is_dir() {
            continue;
        }
        let dir = agent.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_string();
        for f in std::fs::read_dir(&agent).expect("agent dir") {
            let name = f.expect("entry").file_name().into_string().expect("utf-8 name");
            if name.ends_with(".txt") && !name.ends_with(".esc.txt") && name != "help.txt" {
                out.insert(format!("{dir}/{name}"));
            }
        }
    }
    out
}

/// Checks one screen against its expectation; returns the number of verdicts checked.
fn check(e: &Expect, a: &Adapter, text: &str, what: &str) -> usize {
    let view = ScreenView::text(text).with_cols(COLS);
    let v = a.classify(&view);
    let mut checked = 1;
    assert_eq!(v.state.label(), e.state, "{what}: state (provenance {:?})", v.provenance);
    if let Some(rule) = &e.rule {
        checked += 1;
        assert_eq!(v.provenance.as_ref().map(|p| p.rule.as_str()), Some(rule.as_str()), "{what}: winning rule");
        let p = v.provenance.as_ref().expect("provenance");
        assert_eq!(p.adapter, a.name);
        assert!(!p.evidence.is_empty(), "{what}: evidence");
    }
    if v.state == ScreenState::Unknown {
        assert!(v.provenance.is_none());
    }
    if let Some(loading) = e.loading {
        checked += 1;
        assert_eq!(v.loading, loading, "{what}: loading");
        assert_eq!(a.detect_loading(&view).is_some(), loading, "{what}: detect_loading");
    }
    // The single detectors agree with the combined verdict.
    checked += 1;
    match v.state {
        ScreenState::Exited => assert!(a.detect_exit(&view).is_some(), "{what}: detect_exit"),
        ScreenState::Ready => assert!(a.detect_ready(&view).is_some(), "{what}: detect_ready"),
        ScreenState::Busy => assert!(a.detect_loading(&view).is_some(), "{what}: detect_loading"),
        ScreenState::TaskComplete => assert!(a.detect_task_complete(&view).is_some(), "{what}: detect_task_complete"),
        ScreenState::LoginRequired => assert!(a.detect_login(&view).is_some(), "{what}: detect_login"),
        ScreenState::Blocked(kind) => {
            let b = a.detect_blocking_prompt(&view).expect("detect_blocking_prompt");
            assert_eq!(b.kind, kind, "{what}: blocking kind");
            assert!(!b.prompt.is_empty());
        }
        ScreenState::Unknown => {
            for d in Detection::ALL {
                let hit = match d {
                    Detection::Exit => a.detect_exit(&view).is_some(),
                    Detection::Ready => a.detect_ready(&view).is_some(),
                    Detection::Busy => a.detect_loading(&view).is_some(),
                    Detection::TaskComplete => a.detect_task_complete(&view).is_some(),
                    Detection::Login => a.detect_login(&view).is_some(),
                    Detection::Blocking => a.detect_blocking_prompt(&view).is_some(),
                };
                assert!(!hit, "{what}: unknown screen but {d:?} fired");
            }
        }
    }
    if v.state != ScreenState::Exited {
        assert!(a.detect_exit(&view).is_none(), "{what}: exit fired on a screen that is not an exit");
    }
    if let Some(kind) = &e.login {
        checked += 1;
        let got = a.detect_login(&view).map(|l| l.kind);
        if kind == "none" {
            assert_eq!(got, None, "{what}: login");
        } else {
            assert_eq!(got.map(|k| k.as_str()), Some(kind.as_str()), "{what}: login kind");
        }
    }
    if e.url.is_some() || e.url_end.is_some() {
        checked += 1;
        let url = v
            .login
            .as_ref()
            .and_then(|l| l.url.clone())
            .or_else(|| v.blocking.as_ref().and_then(|b| b.url.clone()))
            .unwrap_or_else(|| panic!("{what}: no URL"));
        if let Some(prefix) = &e.url {
            assert!(url.starts_with(prefix.as_str()), "{what}: url {url}");
        }
        if let Some(suffix) = &e.url_end {
            assert!(url.ends_with(suffix.as_str()), "{what}: url {url} (wrapped lines joined?)");
        }
        assert!(!url.contains(char::is_whitespace));
    }
    if let Some(answer) = &e.answer {
        checked += 1;
        let b = v.blocking.as_ref().unwrap_or_else(|| panic!("{what}: no blocking prompt"));
        let got = b.response.as_ref().map(|r| r.to_string().trim_matches('"').to_string());
        if answer == "none" {
            assert_eq!(got, None, "{what}: answer");
        } else {
            assert_eq!(got.as_deref(), Some(answer.as_str()), "{what}: answer");
            assert!(b.may_auto_answer(ApprovalPreset::Autonomous), "{what}: answerable at autonomous");
        }
    }
    checked
}

#[test]
fn every_fixture_has_an_expectation_and_meets_it() {
    let table = table();
    let listed: BTreeSet<String> = table.screen.iter().map(|e| e.file.clone()).collect();
    assert_eq!(listed.len(), table.screen.len(), "a fixture is listed twice");
    let files = fixture_files();
    let missing: Vec<_> = files.difference(&listed).collect();
    assert!(missing.is_empty(), "fixtures without an expectation in expectations.toml: {missing:?}");
    let extra: Vec<_> = listed.difference(&files).collect();
    assert!(extra.is_empty(), "expectations for missing fixtures: {extra:?}");

    let mut verdicts = 0;
    for e in &table.screen {
        let agent = e.file.split('/').next().expect("agent dir");
        let a = adapter(agent);
        let path = screens().join(&e.file);
        verdicts += check(e, a, &read(&path), &e.file);
        // The coloured capture of the same screen, escapes stripped, gives the same verdict.
        let esc = path.with_file_name(e.file.rsplit('/').next().expect("name").replace(".txt", ".esc.txt"));
        if esc.exists() {
            let text = warden_core::screen::strip_escapes(&read(&esc));
            verdicts += check(e, a, &text, &format!("{} (.esc.txt)", e.file));
        }
    }
    eprintln!("{} fixtures, {verdicts} verdicts checked", table.screen.len());
    assert!(verdicts > 300, "{verdicts}");
}

/// No adapter answers, or reports an exit on, another CLI's screen: the dangerous mistakes.
#[test]
fn other_adapters_do_not_answer_or_exit_on_foreign_screens() {
    for file in fixture_files() {
        let owner = file.split('/').next().expect("agent");
        let text = read(&screens().join(&file));
        let view = ScreenView::text(&text).with_cols(COLS);
        for name in AGENTS.iter().filter(|n| **n != owner) {
            let a = adapter(name);
            let v = a.classify(&view);
            if let Some(b) = &v.blocking {
                assert!(
                    !b.may_auto_answer(ApprovalPreset::Autonomous),
                    "{name} would answer {file} ({})",
                    b.provenance
                );
            }
            assert!(a.detect_exit(&view).is_none(), "{name} sees an exit on {file}");
        }
    }
}

#[test]
fn a_shell_prompt_is_ready_for_shell_and_nothing_for_the_agents() {
    for prompt in ["user@host:~/repo$ ", "bash-5.2# ", "% ", "$"] {
        let text = format!("$ ls\nCargo.toml  src\n{prompt}\n\n\n");
        let view = ScreenView::text(&text).with_cols(COLS);
        assert_eq!(adapter("shell").classify(&view).state, ScreenState::Ready, "{prompt}");
        for name in ["claude", "codex", "gemini", "aider", "pi"] {
            let v = adapter(name).classify(&view);
            assert_eq!(v.state, ScreenState::Unknown, "{name} on shell prompt {prompt:?}: {:?}", v.provenance);
        }
    }
    let cont = ScreenView::text("$ cat <<EOF\nheredoc> ");
    assert_eq!(adapter("shell").classify(&cont).state, ScreenState::Unknown);
}

#[test]
fn raw_streams_normalise_without_panicking() {
    for agent in AGENTS {
        let dir = screens().join(agent);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for f in entries {
            let path = f.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) == Some("raw") {
                let bytes = std::fs::read(&path).expect("raw");
                let text = String::from_utf8_lossy(&bytes);
                let n = warden_core::screen::normalize(&text);
                assert_eq!(warden_core::screen::normalize(&n), n, "{}", path.display());
                assert!(!n.contains('\x1b'));
            }
        }
    }
}
