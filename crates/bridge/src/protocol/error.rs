//! Stable error codes and the error of a failed reply, with the mapping from
//! the embedding API's errors.

use serde::{Deserialize, Serialize};

/// Stable error codes of replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request does not parse or does not make sense (wrong types,
    /// missing or unknown fields, a bad working directory, an invalid rule…).
    BadRequest,
    /// No such verb on this node (also for verbs planned but not built yet).
    UnknownVerb,
    /// No session has this id on this node.
    UnknownSession,
    /// No workspace has this id on this node.
    UnknownWorkspace,
    /// The session has no pending confirmation with this id (never had one,
    /// already answered, or the prompt left the screen).
    UnknownConfirmation,
    /// The node's configuration refuses this verb, agent type, directory…
    Forbidden,
    /// The request conflicts with the session's state (e.g. it has exited).
    Conflict,
    /// The request is larger than the node accepts.
    TooLarge,
    /// The node's rate limit for remote requests is exhausted; retry later.
    RateLimited,
    /// The node cannot do it now (too many sessions, shutting down, the
    /// agent's program is not installed on this node).
    Unavailable,
    /// A failure inside warden.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownVerb,
        ErrorCode::UnknownSession,
        ErrorCode::UnknownWorkspace,
        ErrorCode::UnknownConfirmation,
        ErrorCode::Forbidden,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownVerb => "unknown_verb",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::UnknownWorkspace => "unknown_workspace",
            ErrorCode::UnknownConfirmation => "unknown_confirmation",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The error of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{}: {message}", code.as_str())]
pub struct WireError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for humans.
    pub message: String,
}

/// Longest error message sent back (messages quote input; keep them short).
pub(crate) const MAX_MESSAGE_CHARS: usize = 400;

impl WireError {
    /// An error with a message cut to a bounded length.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.chars().count() > MAX_MESSAGE_CHARS {
            message.chars().take(MAX_MESSAGE_CHARS).collect()
        } else {
            message
        };
        WireError { code, message }
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<warden_actors::SessionError> for WireError {
    fn from(e: warden_actors::SessionError) -> Self {
        use warden_actors::SessionError as E;
        let code = match &e {
            E::UnknownSession(_) => ErrorCode::UnknownSession,
            E::UnknownConfirmation { .. } => ErrorCode::UnknownConfirmation,
            E::Exited(_) => ErrorCode::Conflict,
            // An invalid rule is an invalid request: the message names the
            // rule and what is wrong with it.
            E::BadWorkdir { .. } | E::Spec(_) | E::UnknownKey(_) | E::BadRule(_) => ErrorCode::BadRequest,
            E::ProgramNotFound { .. } | E::TooManySessions { .. } | E::ShuttingDown => ErrorCode::Unavailable,
            E::Spawn(_) | E::Io(_) | E::Internal(_) => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_actors::WorkspaceError> for WireError {
    fn from(e: warden_actors::WorkspaceError) -> Self {
        // The message is already redacted by the workspace layer.
        let code = match e.code() {
            "not_found" => ErrorCode::UnknownWorkspace,
            "invalid_branch" | "invalid_name" | "config" => ErrorCode::BadRequest,
            "path_escape" => ErrorCode::Forbidden,
            "already_exists" | "not_ready" | "dirty" | "unpushed" | "conflict" => ErrorCode::Conflict,
            "unavailable" | "network" | "timeout" | "github" => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_actors::SessionError;
    use warden_core::SessionId;

    #[test]
    fn session_errors_map_to_codes() {
        let id = SessionId::new();
        let cases = [
            (SessionError::UnknownSession(id), ErrorCode::UnknownSession),
            (SessionError::UnknownConfirmation { session: id, id: "c9".into() }, ErrorCode::UnknownConfirmation),
            (SessionError::BadRule("pattern `(`: unclosed group".into()), ErrorCode::BadRequest),
            (SessionError::Exited(id), ErrorCode::Conflict),
            (SessionError::ShuttingDown, ErrorCode::Unavailable),
            (SessionError::Internal("x".into()), ErrorCode::Internal),
        ];
        for (e, code) in cases {
            let text = e.to_string();
            let wire = WireError::from(e);
            assert_eq!(wire.code, code, "{text}");
            assert_eq!(wire.message, text);
        }
    }

    #[test]
    fn messages_are_bounded() {
        let e = WireError::bad_request("x".repeat(5000));
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS);
    }
}
