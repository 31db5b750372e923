//! The node on the bus (issue 14): one node per name (finding 5), and a
//! command path that no slow event subscriber can stall (finding 6).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::nats::{NatsServer, Proc};

const T: Duration = common::TIMEOUT;

fn warden_cmd(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.arg("--state-dir")
        .arg(state)
        .env_remove("WARDEN_LOG")
        .env_remove("WARDEN_NODE")
        .env_remove("WARDEN_NATS_TOKEN")
        .env_remove("WARDEN_NATS_URL");
    cmd
}

/// Finding 5: two `warden serve --node dup` with different state dirs both
/// executed every command. The second now refuses to start: exit 125 and
/// one line naming the first (its host, pid and state directory).
#[test]
fn a_second_node_with_a_taken_name_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&tmp.path().join("nats"));
    let url = server.url();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut first = Proc::spawn({
        let mut c = warden_cmd(&a);
        c.args(["serve", "--nats", &url, "--node", "dup"]);
        c
    });
    first.wait_stderr("serving on", T);
    let started = Instant::now();
    let out = warden_cmd(&b).args(["serve", "--nats", &url, "--node", "dup"]).output().expect("serve runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(started.elapsed() < T, "the refusal took {:?}", started.elapsed());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains("node dup is already served"), "{stderr}");
    assert!(lines[0].contains(&format!("pid {}", first.child.id())), "names the first's pid: {stderr}");
    assert!(lines[0].contains(&a.display().to_string()), "names the first's state dir: {stderr}");

    // The first still serves, alone: one answer to a command.
    let list = warden_cmd(&a).args(["ctl", "--nats", &url, "--node", "dup", "list_agents"]).output().expect("ctl");
    assert_eq!(list.status.code(), Some(0), "{}", String::from_utf8_lossy(&list.stderr));
    first.terminate(T);

    // Once it is gone, the name is free again.
    let mut second = Proc::spawn({
        let mut c = warden_cmd(&b);
        c.args(["serve", "--nats", &url, "--node", "dup"]);
        c
    });
    second.wait_stderr("serving on", T);
    second.terminate(T);
}

/// Finding 5: the default node name was the host name, so two nodes on one
/// host collided without any flag. It is now unique per host and state dir.
#[test]
fn two_nodes_on_one_host_get_different_default_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::start(&tmp.path().join("nats"));
    let url = server.url();
    let mut names = Vec::new();
    let mut procs = Vec::new();
    for dir in ["a", "b"] {
        let mut p = Proc::spawn({
            let mut c = warden_cmd(&tmp.path().join(dir));
            c.args(["serve", "--nats", &url]);
            c
        });
        let line = p.wait_stderr("serving on", T);
        let name = line.split("node ").nth(1).and_then(|r| r.split(' ').next()).expect("node name").to_string();
        names.push(name);
        procs.push(p);
    }
    let host = warden::default_node_name().replace('.', "_");
    assert!(names.iter().all(|n| n.starts_with(&format!("{host}-"))), "{names:?}");
    assert_ne!(names[0], names[1]);
    // The same state directory keeps its name.
    assert_eq!(warden::actors::node_name_for(&tmp.path().join("a")).replace('.', "_"), names[0]);
    for mut p in procs {
        p.terminate(T);
    }
}
