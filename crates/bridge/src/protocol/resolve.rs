//! `resolve`: which session, task or workspace a reference names on this
//! node. Sent to `<prefix>.any.cmd.resolve`, every node answers (the owner
//! with the whole id, the others `unknown_*`), so a client that was not told
//! the node finds it — `warden ctl` and `warden task` do this before a verb
//! on `--node any`.

use serde::{Deserialize, Serialize};

use super::idref::IdRef;

/// What a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// A session (id, prefix, short id or label).
    Session,
    /// A task (id, prefix, short id or label).
    Task,
    /// A workspace (id, prefix or short id).
    Workspace,
}

impl RefKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Session => "session",
            RefKind::Task => "task",
            RefKind::Workspace => "workspace",
        }
    }
}

/// Arguments of `resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What kind of thing the reference names.
    pub kind: RefKind,
    /// The reference.
    pub id: IdRef,
}

/// Result of `resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveResult {
    /// The node that has it.
    pub node: String,
    /// What it is.
    pub kind: RefKind,
    /// The whole id.
    pub id: String,
    /// Its short form, unique among the node's live ones of its kind.
    pub short: String,
    /// Its label, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}
