//! Errors of the bridge's own operations (connecting, starting, replaying).
//! Errors answered to remote callers are [`crate::protocol::WireError`]s.

use std::path::PathBuf;

/// Why the bridge could not do something.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The configuration file cannot be read or is invalid.
    #[error("configuration {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting is invalid (bad node name, prefix, root…).
    #[error("{0}")]
    Invalid(String),
    /// Connecting to NATS failed. The message never contains credentials.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// The server URL with any user information removed.
        url: String,
        /// Why.
        message: String,
    },
    /// A credential file cannot be read.
    #[error("cannot read {what} from {path}: {message}")]
    Credentials {
        /// Which credential.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A NATS operation failed.
    #[error("{context}: {message}")]
    Nats {
        /// What was being done.
        context: &'static str,
        /// Why.
        message: String,
    },
    /// Another live warden already serves this node name.
    #[error("node {node} is already served by a live warden ({holder}); stop it or choose another --node")]
    NodeTaken {
        /// The node name.
        node: String,
        /// Who holds it: host, pid and state directory.
        holder: String,
    },
    /// JetStream is needed but not there.
    #[error("{0}")]
    JetStream(String),
}

impl BridgeError {
    pub(crate) fn nats(context: &'static str, e: impl std::fmt::Display) -> Self {
        BridgeError::Nats { context, message: e.to_string() }
    }
}
