//! The README and the docs are tested (issue 15): every `warden …` command
//! line of the README's usage section and of the docs' shell blocks is
//! checked against the real command line parser, and the README's usage
//! lines that need nothing outside this machine are run for real against
//! temporary state, a local nats-server and a bare repository.
//!
//! The parse check runs the binary with `--help` inserted (before `--`, if
//! any): clap reads every argument up to it, so an unknown flag, a flag in
//! the wrong subcommand or a bad value fails, while required arguments and
//! placeholders need no real values. Notation in the docs: `[--x Y]` is
//! optional (checked with it), `a|b|c` is one of (each is checked), `…`
//! after a flag is a value and elsewhere "more arguments" (dropped), and
//! `<id>`, `URL`, `SEQ` are placeholders.

use std::path::Path;
use std::time::Duration;

use crate::common::binary::{serving, warden_cmd};
use crate::common::nats::NatsServer;
use crate::common::short;

const T: Duration = crate::common::TIMEOUT;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `warden …` lines of the fenced shell blocks of `text` (under the
/// heading `section` when given), with their line numbers.
fn command_lines(text: &str, section: Option<&str>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_section = section.is_none();
    let mut fence: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        if fence.is_none() && line.starts_with("## ") {
            in_section = section.is_none_or(|s| line.trim_start_matches("## ").trim() == s);
        }
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(info.trim().to_string()),
            };
            continue;
        }
        let shell = fence.as_deref().is_some_and(|f| f.is_empty() || f == "sh" || f == "bash");
        if !(in_section && shell) {
            continue;
        }
        let trimmed = line.trim();
        let rest = trimmed.strip_prefix("./target/release/").unwrap_or(trimmed);
        if rest.starts_with("warden ") {
            out.push((n + 1, rest.to_string()));
        }
    }
    out
}

/// Shell words of a line, without its comment; quotes removed.
fn words(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                quoted = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    out.push((std::mem::take(&mut word), quoted));
                }
                in_word = false;
                quoted = false;
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push((word, quoted));
    }
    out
}

/// The argument lists a documented command line stands for (after `warden`).
fn expand(line: &str, nats_url: &str) -> Vec<Vec<String>> {
    let mut lists: Vec<Vec<String>> = vec![Vec::new()];
    let mut previous_flag = false;
    for (word, quoted) in words(line).into_iter().skip(1) {
        if word == "&" {
            continue;
        }
        let word = if quoted { word } else { word.trim_start_matches('[').trim_end_matches(']').to_string() };
        if word.is_empty() {
            continue;
        }
        let replaced = match word.as_str() {
            "…" if previous_flag => "x".to_string(),
            "…" => {
                previous_flag = false;
                continue;
            }
            "<id>" => "0193c2b6".to_string(),
            "URL" => nats_url.to_string(),
            "SEQ" => "1".to_string(),
            w => w.replace('…', "x"),
        };
        previous_flag = replaced.starts_with('-') && !quoted && replaced != "--";
        if !quoted && replaced.contains('|') && !replaced.starts_with('-') {
            let alternatives: Vec<String> = replaced.split('|').map(str::to_string).collect();
            lists = lists
                .into_iter()
                .flat_map(|l| {
                    alternatives.iter().map(move |a| {
                        let mut l = l.clone();
                        l.push(a.clone());
                        l
                    })
                })
                .collect();
        } else {
            for l in &mut lists {
                l.push(replaced.clone());
            }
        }
    }
    lists
}

/// Runs `warden <args…> --help`; `Err` with what clap said when it refuses.
fn parse_check(args: &[String], state: &Path) -> Result<(), String> {
    let mut argv: Vec<String> = args.to_vec();
    let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    argv.insert(at, "--help".into());
    let out = warden_cmd(state).args(&argv).output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

fn check_file(path: &str, section: Option<&str>) -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(path)).expect("readable");
    let lines = command_lines(&text, section);
    assert!(!lines.is_empty() || section.is_none(), "{path}: no command lines found");
    let state = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (n, line) in lines {
        for args in expand(&line, "nats://127.0.0.1:4222") {
            if let Err(e) = parse_check(&args, state.path()) {
                failures.push(format!("{path}:{n}: `{line}` ({}): {e}", args.join(" ")));
            }
        }
    }
    failures
}

#[test]
fn the_notation_of_documented_lines_expands_as_meant() {
    let url = "nats://h:1";
    assert_eq!(
        expand("warden workspace finalize <id> --message 'add g' --push [--pr-title …]", url),
        vec![
            ["workspace", "finalize", "0193c2b6", "--message", "add g", "--push", "--pr-title", "x"]
                .map(String::from)
                .to_vec()
        ]
    );
    assert_eq!(expand("warden task --nats URL list|show …", url).len(), 2);
    assert_eq!(expand("warden task --nats URL list|show …", url)[1], ["task", "--nats", url, "show"]);
    assert_eq!(
        expand("warden serve --allow-agent shell &   # comment", url),
        vec![vec!["serve", "--allow-agent", "shell"]]
    );
    assert_eq!(
        expand("warden run --json --rule 'a # b' --task '…'", url)[0],
        ["run", "--json", "--rule", "a # b", "--task", "x"]
    );
    // An unknown flag fails the check.
    let state = tempfile::tempdir().expect("tempdir");
    let bad = expand("warden workspace finalize <id> --message m --pr --title t", url);
    assert!(parse_check(&bad[0], state.path()).is_err_and(|e| e.contains("--pr")));
    let good = expand("warden workspace finalize <id> --message m --pr-title t", url);
    assert_eq!(parse_check(&good[0], state.path()), Ok(()));
}

#[test]
fn every_command_line_of_the_readme_and_the_docs_parses() {
    let mut failures = check_file("README.md", Some("Usage"));
    let docs = std::fs::read_dir(repo_root().join("docs")).expect("docs");
    let mut names: Vec<String> = docs
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        failures.extend(check_file(&format!("docs/{name}"), None));
    }
    assert!(failures.is_empty(), "documented command lines warden refuses:\n{}", failures.join("\n"));
}

/// The README's usage lines that need nothing outside this machine, run
/// for real, in order, against temporary state, a local nats-server and a
/// bare repository (`../app.git`, as the README says).
#[test]
fn the_readme_usage_lines_run() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let lines = command_lines(&text, Some("Usage"));
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = NatsServer::start(&dir.path().join("js"));
    let url = nats.url();
    // The README's relative repository: `../app.git` from the working directory.
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).expect("cwd");
    let remote = crate::common::git::bare_remote(dir.path());
    std::fs::rename(&remote, dir.path().join("app.git")).expect("app.git");
    let state = dir.path().join("state");
    let run = |args: &[String]| {
        warden_cmd(&state)
            .current_dir(&cwd)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("warden runs")
    };
    let find = |start: &str| -> String {
        lines
            .iter()
            .find(|(_, l)| l.starts_with(start))
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("README has no `{start}…`"))
    };
    // The README's server is this test's nats-server.
    let one = |line: &str| {
        expand(line, &url).remove(0).into_iter().map(|a| a.replace("nats://127.0.0.1:4222", &url)).collect::<Vec<_>>()
    };
    let mut ran = 0;

    // Lines that end by themselves, with their documented exit code.
    for (start, code) in [
        ("warden keys", 0),
        ("warden run --agent shell --json --task 'echo hi; exit 3'", 3),
        ("warden run --agent shell --repo ../app.git", 0),
    ] {
        let line = find(start);
        let out = run(&one(&line));
        assert_eq!(out.status.code(), Some(code), "`{line}`: {}", String::from_utf8_lossy(&out.stderr));
        ran += 1;
    }

    // A workspace: provision (prints its id), finalize it by that id.
    let out = run(&one(&find("warden workspace provision --repo ../app.git")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let (id, path) = (record["id"].as_str().expect("id"), record["path"].as_str().expect("path"));
    std::fs::write(Path::new(path).join("g.txt"), "g\n").expect("write");
    let finalize = find("warden workspace finalize");
    let mut args = one(&finalize);
    // Without the optional pull request (no GitHub here).
    if let Some(at) = args.iter().position(|a| a == "--pr-title") {
        args.truncate(at);
    }
    // By its short id: the last 8 characters of the id without dashes.
    for a in &mut args {
        if a == "0193c2b6" {
            *a = short(id);
        }
    }
    let out = run(&args);
    assert!(out.status.success(), "`{finalize}`: {}", String::from_utf8_lossy(&out.stderr));
    ran += 2;

    // A local node, ctl and events on its socket; then the same over NATS.
    let serve_line = find("warden serve --allow-agent shell");
    let mut cmd = warden_cmd(&state);
    cmd.args(one(&serve_line)).args(["--nats", &url, "--node", "n1"]);
    let mut node = serving(cmd);
    let spawned = run(&one(&find("warden ctl spawn_agent")));
    assert!(spawned.status.success(), "{}", String::from_utf8_lossy(&spawned.stderr));
    let listed = run(&one(&find("warden ctl list_agents")));
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("shell"));
    // Over NATS: a session that exits by itself; `events --until-exit` on
    // the socket by its short id (the last 8 hex digits) returns with its exit.
    let over_nats = run(&one(&find("warden ctl --nats")));
    assert!(over_nats.status.success(), "{}", String::from_utf8_lossy(&over_nats.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&over_nats.stdout).expect("JSON");
    let session = reply["result"]["session"]["id"].as_str().expect("id").to_string();
    let mut events = one(&find("warden events --session <id>"));
    for a in &mut events {
        if a == "0193c2b6" {
            *a = short(&session);
        }
    }
    let out = run(&events);
    assert!(out.status.success(), "`warden events`: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"exited\""));
    ran += 5;
    node.terminate(T);
    assert!(ran >= 10, "{ran}");
}

/// A repository path that does not exist is named as such (it was
/// `git: unsupported URL protocol`).
#[test]
fn a_repository_path_that_does_not_exist_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = warden_cmd(&dir.path().join("s"))
        .args(["workspace", "provision", "--repo", "/path/that/does/not/exist.git", "--branch", "feat/y"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/path/that/does/not/exist.git does not exist"), "{err}");
    assert!(!err.contains("unsupported URL protocol"), "{err}");
}

/// One spelling per concept: an adapter manifest is `--adapter-file` for
/// `run` and `adapters` alike (`adapters --config` stays as a hidden alias).
#[test]
fn adapter_files_have_one_spelling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("my-agent.toml");
    std::fs::write(
        &manifest,
        "name = \"my-agent\"\nprogram = \"my-agent-bin\"\n[[rules]]\nid = \"ready-prompt\"\nstate = \"ready\"\npattern = '^agent> $'\n",
    )
    .expect("manifest");
    let screen = dir.path().join("screen.txt");
    std::fs::write(&screen, "agent> \n").expect("screen");
    for spelling in ["--adapter-file", "--config"] {
        let out = warden_cmd(&dir.path().join("s"))
            .args(["adapters", "explain", "--agent", "my-agent", "--json", spelling])
            .arg(&manifest)
            .arg("--screen")
            .arg(&screen)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{spelling}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["verdict"]["provenance"]["rule"], "ready-prompt", "{spelling}");
    }
    let help = warden_cmd(&dir.path().join("s")).args(["adapters", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--adapter-file") && !help.contains("--config <"), "{help}");
}
