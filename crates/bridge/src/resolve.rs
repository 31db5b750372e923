//! Resolving the references a request carries (a whole id, a unique
//! prefix, a short id, a label) against the node's registries, before the
//! verb runs: the dispatcher replaces each reference by the whole id, so
//! the verb's code, its lane and its reply see whole ids only. Rules:
//! `warden_core::idref`; wire errors: `unknown_*` for nothing, `bad_request`
//! naming the candidates' short forms for several.

use std::time::Duration;

use warden_actors::Warden;
use warden_core::idref::{self, Candidate, Found};
use warden_core::task::{TaskFilter, TaskId};
use warden_core::{PendingConfirmation, SessionFilter, SessionId, SessionInfo, WorkspaceId};

use crate::protocol::{ErrorCode, IdRef, RefKind, Request, ResolveArgs, ResolveResult, WireError};

/// How long the root may take to list sessions for a resolution.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// Replaces every reference of `request` by the whole id it names. Whole
/// ids pass without a lookup (an unknown one is the verb's `unknown_*`).
pub(crate) async fn resolve_request(w: &Warden, request: &mut Request) -> Result<(), WireError> {
    match request {
        Request::TaskStatus(a) | Request::PauseTask(a) | Request::ResumeTask(a) | Request::CancelTask(a) => {
            a.task = IdRef::from(task(w, &a.task)?);
        }
        Request::FinalizeWorkspace(a) => {
            a.workspace = workspace(w, &IdRef::new(a.workspace.clone())).await?.as_str().to_string();
        }
        Request::ProvisionWorkspace(a) => {
            if let Some(parent) = &a.parent {
                a.parent = Some(workspace(w, &IdRef::new(parent.clone())).await?.as_str().to_string());
            }
        }
        Request::SendToAgent(a) => a.session = session(w, &a.session).await?.into(),
        Request::StopAgent(a) => {
            if let Some(s) = &a.session {
                a.session = Some(session(w, s).await?.into());
            }
        }
        Request::Resize(a) => a.session = session(w, &a.session).await?.into(),
        Request::Snapshot(a) | Request::Classify(a) | Request::PendingConfirmations(a) | Request::ClearRules(a) => {
            a.session = session(w, &a.session).await?.into()
        }
        Request::Confirm(a) => a.session = session(w, &a.session).await?.into(),
        Request::Decline(a) => a.session = session(w, &a.session).await?.into(),
        Request::AddRules(a) => a.session = session(w, &a.session).await?.into(),
        Request::Attach(a) => a.session = session(w, &a.session).await?.into(),
        Request::Detach(a) => a.session = session(w, &a.session).await?.into(),
        Request::CreateTask(_)
        | Request::ListTasks(_)
        | Request::SpawnAgent(_)
        | Request::ListAgents(_)
        | Request::Resolve(_) => {}
    }
    Ok(())
}

async fn sessions(w: &Warden) -> Result<Vec<SessionInfo>, WireError> {
    match tokio::time::timeout(LIST_TIMEOUT, w.list(SessionFilter::all())).await {
        Ok(Ok(list)) => Ok(list),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(WireError::new(ErrorCode::Unavailable, "the node did not list its sessions in time; retry")),
    }
}

fn session_candidates(list: &[SessionInfo]) -> Vec<Candidate<SessionId>> {
    list.iter()
        .map(|s| Candidate {
            id: s.id.to_string(),
            label: s.label.clone(),
            live: s.exit.is_none() && s.state.is_live(),
            value: s.id,
        })
        .collect()
}

fn ambiguous(kind: &str, reference: &IdRef, shorts: Vec<String>) -> WireError {
    WireError::bad_request(format!(
        "`{}` names {} {kind}s: {}; give more of the id",
        reference.shown(),
        shorts.len(),
        shorts.join(", ")
    ))
}

/// What a node does with a request on `any` that names a session, task or
/// workspace ([`owns`]).
#[derive(Debug)]
pub(crate) enum OnAny {
    /// This node has it: serve the request.
    Serve,
    /// Not this node's: stay silent (the owner answers).
    Silent,
    /// This node has it, but so may others: answer with this error and act on
    /// nothing.
    Refuse(WireError),
}

/// Whether this node has what a request on `any` names, by whole id or
/// short id (the id's tail: hexadecimal, at least [`idref::SHORT_LEN`]
/// characters, random, unique across nodes in practice); the reference is
/// replaced by the whole id. Prefixes and labels are not served on `any`,
/// even hexadecimal ones: they may name things on several nodes (ids made
/// in the same minute share their head), and every node that has one would
/// act on it. A client asks `resolve` first. A request that names nothing
/// (`stop_agent` with `all`) is not served on `any` either, nor a tail that
/// names several things of this node.
///
/// A workspace is named by its whole id only. An id the node generated is a
/// UUID, unique across nodes in practice; one a caller chose (`demo`) may
/// name a workspace on several nodes, each of which would push and open a
/// pull request. So a node that has a workspace of a chosen id refuses the
/// request on `any` (`bad_request`, naming the node's own subject) and acts on
/// nothing; another node that has one too refuses too.
pub(crate) async fn owns(w: &Warden, request: &mut Request) -> OnAny {
    if let Request::FinalizeWorkspace(a) = request {
        let Ok(id) = WorkspaceId::parse(&a.workspace) else { return OnAny::Silent };
        if w.workspace(&id).await.is_err() {
            return OnAny::Silent;
        }
        if id.is_unique_form() {
            return OnAny::Serve;
        }
        return OnAny::Refuse(WireError::bad_request(format!(
            "workspace `{id}` has an id chosen by its caller, which other nodes may have too: \
             send `finalize_workspace` to its node (`<prefix>.<node>.cmd.finalize_workspace`), not `any`"
        )));
    }
    let Some((field, reference)) = request.reference_mut() else { return OnAny::Silent };
    let whole = match field {
        "session" => owned_session(w, reference).await.map(IdRef::from),
        "task" => owned_task(w, reference).map(IdRef::from),
        _ => None,
    };
    match whole {
        Some(whole) => {
            *reference = whole;
            OnAny::Serve
        }
        None => OnAny::Silent,
    }
}

/// The session of this node `reference` names by its whole id or its tail
/// ([`idref::find_by_tail`]), if exactly one.
async fn owned_session(w: &Warden, reference: &IdRef) -> Option<SessionId> {
    if let Some(id) = reference.as_session() {
        return w.get(id).await.is_ok().then_some(id);
    }
    if !idref::is_tail(reference.as_str()) {
        return None;
    }
    match idref::find_by_tail(reference.as_str(), &session_candidates(&sessions(w).await.ok()?)) {
        Found::One(id) => Some(id),
        Found::None | Found::Ambiguous(_) => None,
    }
}

/// The task of this node `reference` names by its whole id or its tail.
fn owned_task(w: &Warden, reference: &IdRef) -> Option<TaskId> {
    if let Some(id) = reference.as_task() {
        return w.task(id).is_ok().then_some(id);
    }
    if !idref::is_tail(reference.as_str()) {
        return None;
    }
    match idref::find_by_tail(reference.as_str(), &task_candidates(w)) {
        Found::One(id) => Some(id),
        Found::None | Found::Ambiguous(_) => None,
    }
}

/// The session `reference` names.
pub(crate) async fn session(w: &Warden, reference: &IdRef) -> Result<SessionId, WireError> {
    if let Some(id) = reference.as_session() {
        return Ok(id);
    }
    session_in(&sessions(w).await?, reference)
}

/// The session `reference` names among `list` (the node's sessions).
fn session_in(list: &[SessionInfo], reference: &IdRef) -> Result<SessionId, WireError> {
    if let Some(id) = reference.as_session() {
        return Ok(id);
    }
    match idref::find(reference.as_str(), &session_candidates(list)) {
        Found::One(id) => Ok(id),
        Found::None => Err(WireError::new(
            ErrorCode::UnknownSession,
            format!("no session on this node has the id, short id or label `{}`", reference.shown()),
        )),
        Found::Ambiguous(shorts) => Err(ambiguous("session", reference, shorts)),
    }
}

fn task_candidates(w: &Warden) -> Vec<Candidate<TaskId>> {
    w.list_tasks(&TaskFilter::default())
        .into_iter()
        .map(|t| Candidate {
            id: t.id.to_string(),
            label: t.spec.label.clone(),
            live: !t.status.is_terminal(),
            value: t.id,
        })
        .collect()
}

/// The task `reference` names.
pub(crate) fn task(w: &Warden, reference: &IdRef) -> Result<TaskId, WireError> {
    if let Some(id) = reference.as_task() {
        return Ok(id);
    }
    task_among(&task_candidates(w), reference)
}

/// The task `reference` names among `candidates` (the node's tasks).
fn task_among(candidates: &[Candidate<TaskId>], reference: &IdRef) -> Result<TaskId, WireError> {
    if let Some(id) = reference.as_task() {
        return Ok(id);
    }
    match idref::find(reference.as_str(), candidates) {
        Found::One(id) => Ok(id),
        Found::None => Err(WireError::new(
            ErrorCode::UnknownTask,
            format!("no task on this node has the id, short id or label `{}`", reference.shown()),
        )),
        Found::Ambiguous(shorts) => Err(ambiguous("task", reference, shorts)),
    }
}

async fn workspace_candidates(w: &Warden) -> Result<Vec<Candidate<WorkspaceId>>, WireError> {
    let list = w.list_workspaces().await?;
    Ok(list
        .into_iter()
        .map(|r| Candidate {
            id: r.id.as_str().to_string(),
            label: None,
            live: !matches!(r.state, warden_core::WorkspaceState::Cleaned),
            value: r.id,
        })
        .collect())
}

/// The workspace `reference` names: the id as given when the node has it,
/// else a unique prefix or short id.
pub(crate) async fn workspace(w: &Warden, reference: &IdRef) -> Result<WorkspaceId, WireError> {
    if let Ok(id) = reference.workspace()
        && w.workspace(&id).await.is_ok()
    {
        return Ok(id);
    }
    workspace_among(&workspace_candidates(w).await?, reference)
}

/// The workspace `reference` names among `candidates` (the node's
/// workspaces), by a unique prefix or short id, else the id as given.
fn workspace_among(candidates: &[Candidate<WorkspaceId>], reference: &IdRef) -> Result<WorkspaceId, WireError> {
    match idref::find(reference.as_str(), candidates) {
        Found::One(id) => Ok(id),
        Found::None => match reference.workspace() {
            // A well-formed id the node does not have: the verb says so.
            Ok(id) => Ok(id),
            Err(e) => Err(e),
        },
        Found::Ambiguous(shorts) => Err(ambiguous("workspace", reference, shorts)),
    }
}

/// The pending confirmation `reference` names among `pending` (the id, a
/// unique prefix of it), or the only one when no id is given.
pub(crate) fn confirmation(
    session: SessionId,
    reference: Option<&str>,
    pending: &[PendingConfirmation],
) -> Result<String, WireError> {
    let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    let unknown = |what: String| WireError::new(ErrorCode::UnknownConfirmation, what);
    match reference {
        None => match ids.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(unknown(format!("session {} has no pending confirmation", idref::short(&session.to_string())))),
            many => Err(WireError::bad_request(format!(
                "session {} has {} pending confirmations ({}); name one with `id`",
                idref::short(&session.to_string()),
                many.len(),
                many.join(", ")
            ))),
        },
        Some(r) => {
            if ids.contains(&r) {
                return Ok(r.to_string());
            }
            let hits: Vec<&str> = ids.iter().copied().filter(|id| id.starts_with(r)).collect();
            match hits.as_slice() {
                [one] => Ok(one.to_string()),
                // Not pending (any more): the session says which.
                [] => Ok(r.to_string()),
                many => Err(WireError::bad_request(format!(
                    "`{r}` names {} pending confirmations: {}",
                    many.len(),
                    many.join(", ")
                ))),
            }
        }
    }
}

/// `resolve`: what a reference names on this node.
pub(crate) async fn run(w: &Warden, node: String, args: &ResolveArgs) -> Result<ResolveResult, WireError> {
    match args.kind {
        RefKind::Session => {
            let list = sessions(w).await?;
            let id = session_in(&list, &args.id)?;
            let info = list
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| WireError::new(ErrorCode::UnknownSession, format!("no session {id} on this node")))?;
            let live: Vec<String> = list.iter().filter(|s| s.exit.is_none()).map(|s| s.id.to_string()).collect();
            Ok(ResolveResult {
                node,
                kind: args.kind,
                id: id.to_string(),
                short: idref::short_among(&id.to_string(), live.iter().map(String::as_str)),
                label: info.label.clone(),
            })
        }
        RefKind::Task => {
            let all = task_candidates(w);
            let id = task_among(&all, &args.id)?;
            let record = w.task(id)?;
            let live = all.iter().filter(|c| c.live).map(|c| c.id.as_str());
            Ok(ResolveResult {
                node,
                kind: args.kind,
                id: id.to_string(),
                short: idref::short_among(&id.to_string(), live),
                label: record.spec.label,
            })
        }
        RefKind::Workspace => {
            let all = workspace_candidates(w).await?;
            let id = match args.id.workspace() {
                Ok(id) if all.iter().any(|c| c.value == id) => id,
                _ => workspace_among(&all, &args.id)?,
            };
            w.workspace(&id).await?;
            let live = all.iter().filter(|c| c.live).map(|c| c.id.as_str());
            Ok(ResolveResult {
                node,
                kind: args.kind,
                id: id.as_str().to_string(),
                short: idref::short_among(id.as_str(), live),
                label: None,
            })
        }
    }
}
