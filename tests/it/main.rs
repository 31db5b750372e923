//! The integration tests of the `warden` package, built as one test binary
//! (`autotests = false` in the root `Cargo.toml`): each module was once its
//! own binary, and each linked git2 and async-nats again.

#![deny(unsafe_code)]

mod common;

mod adapters_cli;
mod adapters_life;
mod bridge;
mod bridge_supervision;
mod bus_isolation;
mod cli;
// Reaps a git child of a killed warden that came to this process (libc).
#[allow(unsafe_code)]
mod containment;
// Kills processes by pid and opens a PTY for `warden run` (libc).
#[allow(unsafe_code)]
mod cli_run;
mod fake_agent;
mod hibernation;
mod launch_parity;
mod sessions;
mod supervision;
mod workspaces;
