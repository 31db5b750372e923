//! The protocol on a local Unix socket: one machine, no NATS server.
//!
//! - [`frame`]: the framing (JSON header + raw body) and its limits;
//! - [`server`]: [`LocalServer`], serving a node's verbs through the same
//!   dispatcher as NATS, and its events and raw output;
//! - [`client`]: [`LocalClient`], for `warden ctl`, `events`, `attach` and
//!   `top` (and embedders) on the same machine.
//!
//! docs/PROTOCOL.md ("The local socket") is the contract.

pub mod client;
pub mod frame;
pub mod server;

pub use client::{LocalClient, LocalMsg, LocalSubscribe};
pub use server::{LocalServer, LocalSettings, default_socket_path};
