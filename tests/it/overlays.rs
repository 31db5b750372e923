//! Rule overlays: a file dropped into `<config>/adapters/<agent>.d/` changes how a
//! running node reads the next screen, without a restart; `adapters explain` names
//! the file a rule came from.

use std::process::Command;
use std::time::{Duration, Instant};

use warden::{EventKind, SessionSpec, Warden, WardenConfig};

use crate::common::{TIMEOUT, fake_agent};

const OVERLAY: &str = r#"# Teach claude a prompt the built-in rules do not know.
[[rules]]
id = "frobnicate"
state = "blocking"
kind = "permission"
pattern = 'Frobnicate the widget\? \[y/N\]'
safe = false
description = "a question only this overlay knows"
"#;

#[tokio::test]
async fn dropping_an_overlay_changes_a_running_node_s_verdict_on_the_next_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let overlays = dir.path().join("config/adapters");
    std::fs::create_dir_all(overlays.join("claude.d")).expect("mkdir");
    let mut config = WardenConfig::new(dir.path().join("state"));
    config.node = "test".into();
    config.stop_grace = Duration::from_millis(500);
    config.adapter_overlays = Some(overlays.clone());
    config.overlay_poll = Duration::from_millis(100);
    let warden = Warden::start(config).await.expect("warden starts");
    let mut sub = warden.subscribe(None);
    // The prompt is drawn once before the overlay exists, and again after a line is typed.
    let script =
        "print Frobnicate the widget? [y/N]; expect-line; print Frobnicate the widget? [y/N]; expect-line; exit 0";
    let spec =
        SessionSpec::new("claude", fake_agent()).args(["--persona", "claude", "--script-inline", script]).size(40, 120);
    let id = warden.spawn(spec).await.expect("spawned").id;
    crate::common::wait_output(&mut sub, id, "Frobnicate the widget?").await;
    let before = warden.classify(id).await.expect("classified");
    assert_eq!(before.provenance, None, "no built-in rule knows the prompt: {before:?}");

    std::fs::write(overlays.join("claude.d/frob.toml"), OVERLAY).expect("overlay written");
    // The node picks the file up by itself (no restart, no call).
    let deadline = Instant::now() + TIMEOUT;
    while warden.adapters().get("claude").and_then(|a| a.rule("frobnicate")).is_none() {
        assert!(Instant::now() < deadline, "the overlay was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    warden.send_nowait(id, "next").await.expect("typed");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = sub.recv_timeout(left).await.expect("a blocking_prompt from the overlay's rule");
        if event.session != Some(id) {
            continue;
        }
        match &event.kind {
            EventKind::BlockingPrompt { provenance, .. } if provenance.rule == "frobnicate" => break,
            EventKind::Exited(e) => panic!("exited before the overlay's verdict: {e:?}"),
            _ => {}
        }
    }
    let after = warden.classify(id).await.expect("classified");
    assert_eq!(after.provenance.map(|p| p.rule), Some("frobnicate".into()));
    warden.shutdown().await;
}

#[test]
fn adapters_explain_names_the_overlay_a_rule_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("adapters/claude.d")).expect("mkdir");
    let file = config.join("adapters/claude.d/frob.toml");
    std::fs::write(&file, OVERLAY).expect("overlay written");
    let screen = dir.path().join("screen.txt");
    std::fs::write(&screen, "  Frobnicate the widget? [y/N]\n").expect("screen written");
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("--config-dir")
        .arg(&config)
        .args(["adapters", "explain", "--agent", "claude", "--screen"])
        .arg(&screen)
        .output()
        .expect("warden runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("rule:     frobnicate"), "{text}");
    assert!(text.contains(&format!("overlay:  {}", file.display())), "{text}");
}
