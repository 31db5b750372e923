//! The integration tests of the `warden` package, built as one test binary
//! (`autotests = false` in the root `Cargo.toml`): each module was once its
//! own binary, and each linked git2 and async-nats again.

#![deny(unsafe_code)]

mod common;

mod adapters_check;
mod adapters_cli;
mod adapters_life;
mod bridge;
mod bridge_routing;
mod bridge_supervision;
mod budgets;
mod bus_isolation;
mod cli;
mod cli_errors;
// Reaps a git child of a killed warden that came to this process (libc).
#[allow(unsafe_code)]
mod containment;
// Kills processes by pid and opens a PTY for `warden run` (libc).
#[allow(unsafe_code)]
mod cli_run;
mod conversation;
mod fake_agent;
mod fuzz_verbs;
mod hibernation;
mod hostile_input;
mod ids;
mod launch_parity;
mod launch_versions;
mod local_socket;
mod overlays;
mod readme;
mod replies;
mod sessions;
mod slow_callers;
mod supervision;
mod task_clones;
mod task_merge;
mod task_retention;
mod tasks;
mod tasks_nats;
mod terminal;
mod top;
mod workspaces;
