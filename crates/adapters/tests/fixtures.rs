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

/// Whether a file of a fixture directory is a screen (not its coloured twin, its
/// scrollback, the CLI's `--help` or `--version`).
fn is_screen(name: &str) -> bool {
    name.ends_with(".txt")
        && !name.ends_with(".esc.txt")
        && !name.ends_with(".history.txt")
        && name != "help.txt"
        && name != "version.txt"
}

/// The version directories (`v2.1.197`) of one CLI's fixtures: the drift corpus.
fn version_dirs(agent: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(screens().join(agent))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// All plain-text screen fixtures: `<cli>/<file>` (the first corpus) and
/// `<cli>/v<version>/<file>` (one directory per captured version).
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
            if is_screen(&name) {
                out.insert(format!("{dir}/{name}"));
            }
        }
        for v in version_dirs(&dir) {
            let version = v.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_string();
            for f in std::fs::read_dir(&v).expect("version dir") {
                let name = f.expect("entry").file_name().into_string().expect("utf-8 name");
                if is_screen(&name) {
                    out.insert(format!("{dir}/{version}/{name}"));
                }
            }
        }
    }
    out
}

/// The scrollback captured with a screen (`X.history.txt`: what scrolled off the top
/// and the screen), or nothing.
fn history_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 name").replace(".txt", ".history.txt");
    std::fs::read_to_string(path.with_file_name(name)).unwrap_or_default()
}

/// Checks one screen against its expectation; returns the number of verdicts checked.
fn check(e: &Expect, a: &Adapter, text: &str, scrollback: &str, what: &str) -> usize {
    let mut view = ScreenView::text(text).with_cols(COLS);
    view.scrollback = scrollback;
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
        let history = history_of(&path);
        verdicts += check(e, a, &read(&path), &history, &e.file);
        // The coloured capture of the same screen, escapes stripped, gives the same verdict.
        let esc = path.with_file_name(e.file.rsplit('/').next().expect("name").replace(".txt", ".esc.txt"));
        if esc.exists() {
            let text = warden_core::screen::strip_escapes(&read(&esc));
            verdicts += check(e, a, &text, &history, &format!("{} (.esc.txt)", e.file));
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
        let history = history_of(&screens().join(&file));
        let mut view = ScreenView::text(&text).with_cols(COLS);
        view.scrollback = &history;
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

/// The drift corpus: at least two captured versions of every real CLI, each directory
/// named after the version its `--version` printed, with its `--help`.
#[test]
fn every_cli_has_captures_of_two_versions_named_by_their_version() {
    for agent in ["claude", "codex", "gemini", "aider", "pi"] {
        let dirs = version_dirs(agent);
        assert!(dirs.len() >= 2, "{agent}: {} captured versions", dirs.len());
        for d in dirs {
            let name = d.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
            let version = name.strip_prefix('v').unwrap_or_else(|| panic!("{agent}/{name}: not v<version>"));
            let printed = read(&d.join("version.txt"));
            assert!(printed.contains(version), "{agent}/{name}: --version printed {printed:?}");
            assert!(read(&d.join("help.txt")).len() > 500, "{agent}/{name}: --help captured");
            assert!(d.join("start.txt").exists() && d.join("bad-flag.txt").exists(), "{agent}/{name}");
        }
    }
}

/// Every version's rejection of an unknown flag is recognised as a launch rejection,
/// quoting the CLI's own message line.
#[test]
fn every_version_s_bad_flag_is_a_launch_rejection() {
    for agent in ["claude", "codex", "gemini", "aider", "pi"] {
        for d in version_dirs(agent) {
            let path = d.join("bad-flag.txt");
            let text = read(&path);
            let history = history_of(&path);
            let mut view = ScreenView::text(&text).with_cols(COLS);
            view.scrollback = &history;
            let v = adapter(agent).classify(&view);
            let p = v.provenance.unwrap_or_else(|| panic!("{}: unknown", path.display()));
            assert_eq!(v.state, ScreenState::Exited, "{}", path.display());
            assert_eq!(
                adapter(agent).rule(&p.rule).map(|r| r.kind.as_str()),
                Some("launch_rejected"),
                "{}",
                path.display()
            );
            assert!(p.evidence.contains("warden-no-such-flag"), "{}: evidence {:?}", path.display(), p.evidence);
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
