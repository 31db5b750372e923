//! Stable error codes and the error of a failed reply, with the mapping from
//! the embedding API's errors.

use serde::{Deserialize, Serialize};
use warden_core::WorkspaceErrorCode;

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
    /// No task has this id on this node.
    UnknownTask,
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
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownVerb,
        ErrorCode::UnknownSession,
        ErrorCode::UnknownWorkspace,
        ErrorCode::UnknownConfirmation,
        ErrorCode::UnknownTask,
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
            ErrorCode::UnknownTask => "unknown_task",
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

// Every library error that can reach a remote caller maps to a code here, by an
// exhaustive `match` (no `_ =>`): a new variant does not compile until it is given
// its code.

impl From<warden_actors::SessionError> for WireError {
    fn from(e: warden_actors::SessionError) -> Self {
        WireError::new(session_code(&e), e.to_string())
    }
}

/// The code of a session error.
fn session_code(e: &warden_actors::SessionError) -> ErrorCode {
    use warden_actors::SessionError as E;
    match e {
        E::UnknownSession(_) => ErrorCode::UnknownSession,
        E::UnknownConfirmation { .. } => ErrorCode::UnknownConfirmation,
        E::Exited(_) => ErrorCode::Conflict,
        // An invalid rule is an invalid request: the message names the
        // rule and what is wrong with it.
        E::BadWorkdir { .. } | E::Spec(_) | E::UnknownKey(_) | E::BadRule(_) => ErrorCode::BadRequest,
        // Over a budget: the message names it (`rule_compiled_bytes`, …).
        E::OverBudget(_) => ErrorCode::TooLarge,
        E::ProgramNotFound { .. } | E::TooManySessions { .. } | E::ShuttingDown | E::InputFull { .. } => {
            ErrorCode::Unavailable
        }
        E::Spawn(_) | E::Io(_) | E::Internal(_) => ErrorCode::Internal,
    }
}

impl From<warden_actors::TaskError> for WireError {
    fn from(e: warden_actors::TaskError) -> Self {
        use warden_actors::TaskError as E;
        let code = match &e {
            E::Spec(_) | E::UnknownAgent { .. } => ErrorCode::BadRequest,
            E::UnknownTask(_) => ErrorCode::UnknownTask,
            E::NotNow { .. } | E::NoSession(_) => ErrorCode::Conflict,
            E::ShuttingDown | E::TooMany { .. } => ErrorCode::Unavailable,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_actors::WorkspaceError> for WireError {
    fn from(e: warden_actors::WorkspaceError) -> Self {
        // The message is already redacted by the workspace layer.
        WireError::new(workspace_code(e.code()), e.to_string())
    }
}

/// The error of a finalize whose requested step failed: the first failed
/// step's code and message, naming the step; `None` when none failed.
pub fn failed_step(report: &warden_core::workspace::FinalizeReport) -> Option<WireError> {
    use warden_core::workspace::StepResult;
    fn failed<T>(step: &StepResult<T>) -> Option<(WorkspaceErrorCode, &str)> {
        match step {
            StepResult::Failed { code, message } => Some((*code, message.as_str())),
            StepResult::Done { .. } | StepResult::Skipped { .. } => None,
        }
    }
    let steps = [
        ("commit", failed(&report.commit)),
        ("push", failed(&report.push)),
        ("pull request", failed(&report.pr)),
        ("cleanup", failed(&report.cleanup)),
    ];
    let (step, (code, message)) = steps.into_iter().find_map(|(name, f)| f.map(|f| (name, f)))?;
    Some(WireError::new(
        workspace_code(code),
        format!("the {step} step failed ({}): {message}; `result.report` says what was done", code.as_str()),
    ))
}

/// The reply code of a workspace failure's code.
fn workspace_code(code: WorkspaceErrorCode) -> ErrorCode {
    use WorkspaceErrorCode as W;
    match code {
        W::NotFound => ErrorCode::UnknownWorkspace,
        // A base branch or remote the request names that the repository lacks.
        W::InvalidBranch | W::InvalidName | W::InvalidCommit | W::Config | W::RefNotFound => ErrorCode::BadRequest,
        W::PathEscape => ErrorCode::Forbidden,
        W::AlreadyExists | W::NotReady | W::Dirty | W::Unpushed | W::Conflict => ErrorCode::Conflict,
        W::Unavailable | W::Network | W::Timeout | W::Github => ErrorCode::Unavailable,
        W::Git | W::Registry | W::Io => ErrorCode::Internal,
    }
}

impl From<warden_adapters::AdapterError> for WireError {
    fn from(e: warden_adapters::AdapterError) -> Self {
        use warden_adapters::AdapterError as E;
        let code = match &e {
            E::UnknownAgent { .. } => ErrorCode::BadRequest,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_adapters::SelectError> for WireError {
    fn from(e: warden_adapters::SelectError) -> Self {
        use warden_adapters::SelectError as E;
        // No agent to run on this node (now): the caller may try another node or later.
        let code = match &e {
            E::NotInstalled { .. } | E::CoolingDown(_) | E::NoneAvailable { .. } => ErrorCode::Unavailable,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_core::SpecError> for WireError {
    fn from(e: warden_core::SpecError) -> Self {
        use warden_core::SpecError as E;
        let code = match &e {
            E::EmptyProgram
            | E::BadSize { .. }
            | E::NulByte(_)
            | E::BadEnvName(_)
            | E::BadRule(_)
            | E::ControlChar(_) => ErrorCode::BadRequest,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_core::workspace::NamingError> for WireError {
    fn from(e: warden_core::workspace::NamingError) -> Self {
        // Every naming rule is about a name the caller gave.
        WireError::bad_request(e.to_string())
    }
}

impl From<warden_core::UnknownKey> for WireError {
    fn from(e: warden_core::UnknownKey) -> Self {
        WireError::bad_request(e.to_string())
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
    fn workspace_errors_map_to_codes() {
        use warden_actors::WorkspaceError as E;
        let cases = [
            (E::NotFound { what: "workspace w1".into() }, ErrorCode::UnknownWorkspace),
            (E::Dirty { files: 2 }, ErrorCode::Conflict),
            (E::Unpushed { commits: 1 }, ErrorCode::Conflict),
            (E::Network { message: "unreachable".into() }, ErrorCode::Unavailable),
            (E::Timeout { what: "git push".into(), secs: 5 }, ErrorCode::Unavailable),
            (E::PathEscape { path: "../x".into(), root: "/w".into() }, ErrorCode::Forbidden),
            (E::Config { message: "no token".into() }, ErrorCode::BadRequest),
            (E::Git { message: "bad object".into() }, ErrorCode::Internal),
            (E::Registry { message: "unreadable".into() }, ErrorCode::Internal),
        ];
        for (e, code) in cases {
            let text = e.to_string();
            let wire = WireError::from(e);
            assert_eq!((wire.code, wire.message.as_str()), (code, text.as_str()));
        }
        // Every workspace code has a reply code; only warden-side failures are `internal`.
        let internal: Vec<_> =
            WorkspaceErrorCode::ALL.iter().filter(|c| workspace_code(**c) == ErrorCode::Internal).collect();
        assert_eq!(internal, [&WorkspaceErrorCode::Git, &WorkspaceErrorCode::Registry, &WorkspaceErrorCode::Io]);
    }

    #[test]
    fn launch_and_spec_errors_map_to_codes() {
        let unknown = warden_adapters::launch("nope", None).expect_err("unknown agent");
        assert_eq!(WireError::from(unknown).code, ErrorCode::BadRequest);
        let none = warden_adapters::SelectError::NoneAvailable { cooling: String::new(), hints: "x".into() };
        assert_eq!(WireError::from(none).code, ErrorCode::Unavailable);
        assert_eq!(WireError::from(warden_core::SpecError::EmptyProgram).code, ErrorCode::BadRequest);
        let bad = warden_core::workspace::WorkspaceId::parse("a/../b").expect_err("refused");
        assert_eq!(WireError::from(bad).code, ErrorCode::BadRequest);
    }

    #[test]
    fn messages_are_bounded() {
        let e = WireError::bad_request("x".repeat(5000));
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS);
    }
}
