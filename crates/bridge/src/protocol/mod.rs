//! The wire protocol: verbs, typed requests, replies, error codes and the
//! heartbeat. `docs/PROTOCOL.md` describes the same types for coordinators,
//! and a test parses its examples into these types.
//!
//! Everything from the network is decoded here, at the edge, into typed
//! values: [`decode_request`] never panics, bounds what it reads and names
//! what was wrong.
//!
//! - [`verbs`]: the verb table (names, legacy aliases, how `any` treats them);
//! - [`request`]: the arguments of the session and workspace verbs;
//! - [`idref`]: references to sessions, tasks and workspaces (id, prefix,
//!   short id, label);
//! - [`resolve`]: the `resolve` verb (which node has what a reference names);
//! - [`task`]: the arguments and results of the task verbs;
//! - [`supervision`]: the arguments of the supervision verbs and the
//!   supervision fields of a spawn, with their limits;
//! - [`decode`]: from subject token and bytes to a checked [`Request`];
//! - [`error`]: error codes and [`WireError`];
//! - [`reply`]: the reply envelope and the typed results of every verb;
//! - [`heartbeat`]: the node's heartbeat.

pub mod attach;
pub mod decode;
pub mod error;
pub mod heartbeat;
pub mod idref;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod supervision;
pub mod task;
pub mod verbs;

/// The protocol version carried in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

pub use attach::{AttachArgs, AttachResult, DetachArgs, DetachResult, MAX_CLIENT_ID, check_client_id};
pub use decode::{MAX_REQUEST_ID, Request, decode_request};
pub use error::{ErrorCode, WireError};
pub use heartbeat::Heartbeat;
pub use idref::IdRef;
pub use reply::{
    AddRulesResult, AgentEntry, ClassifyResult, ClearRulesResult, ConfirmResult, FinalizeWorkspaceResult, ListResult,
    PendingConfirmationsResult, ProvisionWorkspaceResult, Reply, ResizeResult, SendResult, SnapshotResult, SpawnResult,
    StopResult, WireChoice, WireLogin, WirePrompt, WireVerdict,
};
pub use request::{
    FinalizeWorkspaceArgs, KeyList, ListArgs, ProvisionWorkspaceArgs, ResizeArgs, SendArgs, SendInput, SpawnArgs,
    StopArgs,
};
pub use resolve::{RefKind, ResolveArgs, ResolveResult};
pub use supervision::{
    AddRulesArgs, ConfirmArgs, DeclineArgs, MAX_LADDER_STEPS, MAX_LOADING_PATTERNS, MAX_MS, MAX_PATTERN_BYTES,
    MAX_RESTARTS, MAX_RULES, RestartLimitsArgs, SessionArgs,
};
pub use task::{CreateTaskArgs, ListTasksArgs, ListTasksResult, TaskArgs, TaskResult};
pub use verbs::{AnyMode, PLANNED_VERBS, VERBS, Verb, VerbEntry, lookup_verb};
