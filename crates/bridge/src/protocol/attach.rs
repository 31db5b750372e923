//! `attach` and `detach`: which attached terminal holds a session's
//! keyboard. Several terminals may watch a session; one writes. Raw input
//! that names an attach client (`client` on a local `input` frame, the
//! `Warden-Client` header on NATS) is refused unless that client holds the
//! keyboard; raw input that names none is not affected.

use serde::{Deserialize, Serialize};
use warden_core::SessionId;

use super::error::WireError;
use super::idref::IdRef;

/// Longest attach client id.
pub const MAX_CLIENT_ID: usize = 64;

/// Checks an attach client id: 1 to [`MAX_CLIENT_ID`] printable ASCII
/// characters without spaces.
pub fn check_client_id(client: &str) -> Result<(), WireError> {
    if client.is_empty() || client.len() > MAX_CLIENT_ID || !client.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WireError::bad_request(format!(
            "`client` must be 1 to {MAX_CLIENT_ID} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

/// Arguments of `attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    pub session: IdRef,
    /// The attached terminal's id (chosen by it, e.g. a UUID).
    pub client: String,
    /// Take the keyboard even if another terminal holds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub take: bool,
}

/// Arguments of `detach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session: its id, a unique prefix, its short id or its label.
    pub session: IdRef,
    /// The attached terminal's id.
    pub client: String,
}

/// Result of `attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// Whether this client now holds the keyboard (false: watch only).
    pub writer: bool,
    /// The client that holds it.
    pub holder: String,
}

/// Result of `detach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// Whether this client held the keyboard and let it go.
    pub released: bool,
}
