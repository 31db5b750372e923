//! Serving commands: decode at the edge, authorise, call the `Warden`
//! handle, reply. One loop reads every command and input subscription, so
//! the rate limiter needs no lock. Commands that act on one session's
//! terminal or supervision run in that session's lane ([`SessionLanes`]),
//! in arrival order, so keystrokes are never reordered; other verbs run in
//! their own tasks. Nothing that waits runs in the loop itself.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subject, Subscriber};
use futures::future::BoxFuture;
use futures::stream::SelectAll;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};
use warden_actors::Warden;
use warden_actors::launch::{self, AgentRequest, LaunchError};
use warden_core::SessionId;
use warden_core::task::TaskRecord;

use crate::error::BridgeError;
use crate::lanes::{LaneFull, MAX_LANE_BYTES, MAX_LANE_DEPTH, MAX_QUEUED_BYTES, SessionLanes};
use crate::policy::{Policy, RateLimiter};
use crate::protocol::{
    AddRulesResult, AnyMode, AttachResult, ClassifyResult, ClearRulesResult, ConfirmResult, DetachResult, ErrorCode,
    FinalizeWorkspaceResult, ListResult, ListTasksResult, PendingConfirmationsResult, ProvisionWorkspaceResult, Reply,
    Request, ResizeResult, SendInput, SendResult, SnapshotResult, SpawnArgs, SpawnResult, StopResult, TaskResult,
    VERBS, WireError, decode_request,
};
use crate::resolve::OnAny;
use crate::subjects::{Incoming, Subjects};

/// Header naming the attached terminal that sends raw input on NATS.
pub const CLIENT_HEADER: &str = "Warden-Client";

/// How long a job in a session's lane may take before it is answered
/// `internal` and the lane moves on (`stop_agent` is bounded by its grace).
const LANE_TIMEOUT: Duration = Duration::from_secs(10);

/// What command handlers need.
pub(crate) struct CommandCtx {
    pub warden: Warden,
    /// The NATS connection replies go out on; `None` on a node served only
    /// over the local socket.
    pub client: Option<Client>,
    pub subjects: Subjects,
    pub policy: Policy,
    pub max_request_bytes: usize,
    /// Which attached terminal holds each session's keyboard.
    pub keyboards: Keyboards,
    /// Room for commands outside a session's lane ([`MAX_IN_FLIGHT`]).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// Commands outside a session's lane (spawns, lists, tasks, workspaces) a
/// node runs at once; past it a command is refused at once (`unavailable`)
/// instead of waiting: slow ones (a clone, a push, a GitHub request) would
/// otherwise pile up without bound, each holding its request (≤ 256 KiB).
pub(crate) const MAX_IN_FLIGHT: usize = 1024;

impl CommandCtx {
    /// The room of a new node's commands.
    pub(crate) fn in_flight_room() -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT))
    }
}

/// Sessions whose keyboard an attached terminal holds (`attach`/`detach`).
/// The holder's terminal also answers the agent's terminal queries: while
/// it holds the keyboard, the node does not ([`Warden::attach_terminal`]).
#[derive(Debug, Default)]
pub(crate) struct Keyboards {
    holders: std::sync::Mutex<std::collections::HashMap<SessionId, Holder>>,
}

#[derive(Debug)]
struct Holder {
    client: String,
    /// Dropped with the holder: the node answers terminal queries again.
    _terminal: Option<warden_actors::TerminalAttachment>,
}

/// Sessions with a keyboard holder kept at most; beyond it the oldest
/// entries go (a holder that vanished without `detach` holds nothing for ever).
const MAX_KEYBOARDS: usize = 4096;

impl Keyboards {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<SessionId, Holder>> {
        crate::sync_lock(&self.holders)
    }

    /// Gives `client` the keyboard when nobody holds it, it holds it
    /// already, or it takes it; returns whether it holds it, and who does.
    pub(crate) fn attach(
        &self,
        session: SessionId,
        client: &str,
        take: bool,
        terminal: Option<warden_actors::TerminalAttachment>,
    ) -> (bool, String) {
        let mut holders = self.lock();
        if holders.len() >= MAX_KEYBOARDS && !holders.contains_key(&session) {
            // Session ids are time-ordered: the smallest is the oldest.
            if let Some(oldest) = holders.keys().min().copied() {
                holders.remove(&oldest);
            }
        }
        let new = Holder { client: client.to_string(), _terminal: terminal };
        let holder = holders.entry(session).or_insert(new);
        // (When the entry existed, `new` and its attachment were dropped above
        // unless this is a take-over.)
        if take && holder.client != client {
            holder.client = client.to_string();
        }
        (holder.client == client, holder.client.clone())
    }

    /// Lets go of the keyboard if `client` holds it.
    pub(crate) fn detach(&self, session: SessionId, client: &str) -> bool {
        let mut holders = self.lock();
        if holders.get(&session).is_some_and(|h| h.client == client) {
            holders.remove(&session);
            return true;
        }
        false
    }

    /// Whether raw input naming `client` (or none) may reach the session.
    pub(crate) fn may_type(&self, session: SessionId, client: Option<&str>) -> bool {
        match client {
            None => true,
            Some(c) => self.lock().get(&session).is_none_or(|h| h.client == c),
        }
    }
}

/// Subscribes to this node's command subjects, the `any` subjects and raw input.
pub(crate) async fn subscribe(ctx: &CommandCtx, c: &Client) -> Result<SelectAll<Subscriber>, BridgeError> {
    let sub = |e| BridgeError::nats("subscribing to command subjects", e);
    let mut all = SelectAll::new();
    all.push(c.subscribe(ctx.subjects.commands_wildcard()).await.map_err(sub)?);
    for entry in VERBS {
        let subject = ctx.subjects.any_command(entry.name);
        match entry.any {
            AnyMode::Queue => all.push(c.queue_subscribe(subject, ctx.subjects.any_queue_group()).await.map_err(sub)?),
            AnyMode::Gather | AnyMode::Owner => all.push(c.subscribe(subject).await.map_err(sub)?),
            AnyMode::No => {}
        }
    }
    if ctx.policy.raw_input_allowed() {
        all.push(c.subscribe(ctx.subjects.input_wildcard()).await.map_err(sub)?);
    }
    c.flush().await.map_err(|e| BridgeError::nats("flushing subscriptions", e))?;
    Ok(all)
}

/// The serving loop; returns when `stop` turns true or the subscriptions end.
pub(crate) async fn serve(
    ctx: Arc<CommandCtx>,
    mut subs: SelectAll<Subscriber>,
    mut rate: RateLimiter,
    mut stop: watch::Receiver<bool>,
) {
    let mut lanes = SessionLanes::default();
    loop {
        let msg = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            m = subs.next() => m,
        };
        let Some(msg) = msg else { break };
        // A bug in a handler must not stop the node: contain panics per message.
        let handled = std::panic::AssertUnwindSafe(handle(&ctx, &mut rate, &mut lanes, msg)).catch_unwind().await;
        if handled.is_err() {
            warn!("a command handler panicked; the node keeps serving");
        }
    }
    for s in subs.iter_mut() {
        let _ = s.unsubscribe().await;
    }
}

async fn handle(ctx: &Arc<CommandCtx>, rate: &mut RateLimiter, lanes: &mut SessionLanes, msg: Message) {
    let Some(incoming) = ctx.subjects.parse_incoming(msg.subject.as_str()) else {
        debug!(subject = %msg.subject, "message on an unexpected subject");
        return;
    };
    let respond = msg.reply.clone().and_then(|to| nats_responder(ctx, to));
    if msg.payload.len() > ctx.max_request_bytes {
        return respond_with(respond, Reply::err(too_large(ctx, msg.payload.len()), None)).await;
    }
    if !rate.try_take() {
        let e = WireError::new(ErrorCode::RateLimited, "this node's request rate limit is exhausted; retry later");
        return respond_with(respond, Reply::err(e, lenient_request_id(&msg.payload))).await;
    }
    match incoming {
        Incoming::Input { session } => {
            let client = msg.headers.as_ref().and_then(|h| h.get(CLIENT_HEADER)).map(|v| v.as_str().to_string());
            run_input(ctx, lanes, session, client.as_deref(), msg.payload, respond).await
        }
        Incoming::Command { verb, any } => run_scoped(ctx, lanes, verb, &msg.payload, respond, any, None).await,
    }
}

/// Where a reply goes: a NATS reply subject or a local connection. `None`
/// when the caller asked for no reply.
pub(crate) type Respond = Option<Box<dyn FnOnce(Reply) -> BoxFuture<'static, ()> + Send>>;

/// Sends `reply` where `respond` says, if anywhere.
pub(crate) async fn respond_with(respond: Respond, reply: Reply) {
    if let Some(r) = respond {
        r(reply).await;
    }
}

fn nats_responder(ctx: &Arc<CommandCtx>, to: Subject) -> Respond {
    let client = ctx.client.clone()?;
    Some(Box::new(move |reply: Reply| {
        async move {
            let mut bytes = reply.to_bytes();
            // The server refuses a message over its `max_payload`: the caller would only
            // see its request time out. It gets a typed error instead.
            let max = client.server_info().max_payload;
            if max > 0 && bytes.len() > max {
                warn!(bytes = bytes.len(), max, "a reply is over the NATS server's max_payload");
                bytes = Reply::err(reply_too_large(bytes.len(), max), reply.request_id).to_bytes();
            }
            if let Err(e) = client.publish(to, bytes.into()).await {
                debug!(error = %e, "cannot send a reply");
            }
        }
        .boxed()
    }))
}

/// The error that stands in for a reply the NATS server would not carry.
fn reply_too_large(len: usize, max: usize) -> WireError {
    WireError::new(
        ErrorCode::TooLarge,
        format!(
            "the reply is {len} bytes; the NATS server carries at most {max} (`max_payload`): ask for less \
             (a filter, a smaller screen) or use the node's local socket"
        ),
    )
}

/// The error of a request over the node's size limit.
pub(crate) fn too_large(ctx: &CommandCtx, len: usize) -> WireError {
    WireError::new(
        ErrorCode::TooLarge,
        format!("request is {len} bytes; this node accepts at most {}", ctx.max_request_bytes),
    )
}

/// Writes raw input into a session's terminal, in the session's lane (the
/// keyboard holder checked there too, in order with `attach`/`detach`); the
/// same for every transport.
pub(crate) async fn run_input(
    ctx: &Arc<CommandCtx>,
    lanes: &mut SessionLanes,
    session: &str,
    client: Option<&str>,
    payload: bytes::Bytes,
    respond: Respond,
) {
    let bytes = payload.len();
    let parsed = session.parse::<SessionId>();
    let full = parsed.as_ref().ok().and_then(|id| lanes.room(*id, bytes).err());
    match (parsed, full) {
        (Ok(id), Some(full)) => respond_with(respond, Reply::err(lane_full(id, full), None)).await,
        (Ok(id), None) => {
            let ctx = ctx.clone();
            let client = client.map(str::to_string);
            lanes.run(id, bytes, async move {
                // The keyboard is checked in the lane, just before the write: after
                // every `attach`/`detach` that came before this input, and before
                // any that came after it.
                if !ctx.keyboards.may_type(id, client.as_deref()) {
                    let e = WireError::new(
                        ErrorCode::Conflict,
                        "another attached terminal holds this session's keyboard (attach with --take to take it over)",
                    );
                    return respond_with(respond, Reply::err(e, None)).await;
                }
                let result = ctx
                    .warden
                    .write(id, payload)
                    .await
                    .map(|()| serde_json::json!({"node": ctx.subjects.node(), "session": id}))
                    .map_err(WireError::from);
                respond_with(respond, reply_of(result.map_err(Failure::from), None)).await;
            });
        }
        (Err(e), _) => respond_with(respond, Reply::err(WireError::bad_request(e.to_string()), None)).await,
    }
}

/// Decodes, authorises and runs one command — in its session's lane when it
/// acts on one session's terminal, on its own task otherwise — and replies;
/// the same for every transport. With a `turn`, a command outside the lanes
/// waits for one of its permits and holds it until its reply is delivered:
/// the caller's bound on its commands running, and on the replies they hold
/// while it does not read them (the local socket's, per connection).
pub(crate) async fn run_command(
    ctx: &Arc<CommandCtx>,
    lanes: &mut SessionLanes,
    verb: &str,
    payload: &[u8],
    respond: Respond,
    turn: Option<Arc<Semaphore>>,
) {
    run_scoped(ctx, lanes, verb, payload, respond, false, turn).await
}

/// [`run_command`], for a request that came on `<prefix>.any.cmd.<verb>`
/// when `on_any`: a verb that names a session, task or workspace
/// ([`AnyMode::Owner`]) is then served only by the node that has it, and
/// the others stay silent (so the owner's is the one reply).
async fn run_scoped(
    ctx: &Arc<CommandCtx>,
    lanes: &mut SessionLanes,
    verb: &str,
    payload: &[u8],
    respond: Respond,
    on_any: bool,
    turn: Option<Arc<Semaphore>>,
) {
    let (entry, mut request) = match decode_request(verb, payload, ctx.max_request_bytes) {
        Ok(d) => d,
        Err(e) => return respond_with(respond, Reply::err(e, lenient_request_id(payload))).await,
    };
    let request_id = request.request_id();
    if on_any && entry.any == AnyMode::Owner {
        match crate::resolve::owns(&ctx.warden, &mut request).await {
            OnAny::Serve => {}
            OnAny::Silent => {
                debug!(verb = entry.name, "a request on `any` for something this node does not have");
                return;
            }
            OnAny::Refuse(e) => {
                debug!(verb = entry.name, "a request on `any` for something other nodes may have too");
                return respond_with(respond, Reply::err(e, request_id)).await;
            }
        }
    }
    if let Err(e) = ctx.policy.check_verb(entry) {
        return respond_with(respond, Reply::err(e, request_id)).await;
    }
    // A session verb's lane is keyed by the whole id: a short id or label is
    // resolved first (a read of the root's registry, bounded; whole ids
    // need none). Other verbs resolve on their own task.
    if needs_lane(&request)
        && let Err(e) = crate::resolve::resolve_request(&ctx.warden, &mut request).await
    {
        return respond_with(respond, Reply::err(e, request_id)).await;
    }
    let lane = lane_of(&request);
    if let Some((session, _)) = lane
        && let Err(full) = lanes.room(session, payload.len())
    {
        return respond_with(respond, Reply::err(lane_full(session, full), request_id)).await;
    }
    let ctx = ctx.clone();
    match lane {
        Some((session, bounded)) => lanes.run(session, payload.len(), async move {
            let result = if bounded {
                tokio::time::timeout(LANE_TIMEOUT, execute(&ctx, request))
                    .await
                    .unwrap_or_else(|_| Err(WireError::internal("the session did not answer in time").into()))
            } else {
                execute(&ctx, request).await
            };
            respond_with(respond, reply_of(result, request_id)).await;
        }),
        None => {
            // The node's room is taken now, or, when the command first waits for
            // its caller's turn, once it runs.
            let permit = match turn {
                Some(_) => None,
                None => match node_room(&ctx) {
                    Ok(p) => Some(p),
                    Err(e) => return respond_with(respond, Reply::err(e, request_id)).await,
                },
            };
            tokio::spawn(async move {
                let _turn = match turn {
                    Some(turn) => turn.acquire_owned().await.ok(),
                    None => None,
                };
                let permit = match permit.map_or_else(|| node_room(&ctx), Ok) {
                    Ok(p) => p,
                    Err(e) => return respond_with(respond, Reply::err(e, request_id)).await,
                };
                let result = execute(&ctx, request).await;
                // The node's room is for commands running, not for replies waiting on a
                // caller that does not read them (it would hold every other caller off).
                drop(permit);
                respond_with(respond, reply_of(result, request_id)).await;
            });
        }
    }
}

/// Whether a request acts on one session's terminal or supervision (input,
/// size, answers, rules, stop) and so runs in that session's lane: the
/// reference to the session (none for a stop of every agent), and whether
/// [`LANE_TIMEOUT`] bounds it. `None` for the others, which run on their
/// own (reads of a session's state, spawns, lists, workspaces).
fn lane_ref(request: &Request) -> Option<(Option<&crate::protocol::IdRef>, bool)> {
    match request {
        Request::SendToAgent(a) => Some((Some(&a.session), true)),
        Request::Resize(a) => Some((Some(&a.session), true)),
        Request::Confirm(a) => Some((Some(&a.session), true)),
        Request::Decline(a) => Some((Some(&a.session), true)),
        Request::AddRules(a) => Some((Some(&a.session), true)),
        Request::ClearRules(a) => Some((Some(&a.session), true)),
        Request::Attach(a) => Some((Some(&a.session), true)),
        Request::Detach(a) => Some((Some(&a.session), true)),
        // Stopping waits for the grace period the caller chose.
        Request::StopAgent(a) => Some((a.session.as_ref(), false)),
        Request::CreateTask(_)
        | Request::TaskStatus(_)
        | Request::ListTasks(_)
        | Request::PauseTask(_)
        | Request::ResumeTask(_)
        | Request::CancelTask(_)
        | Request::SpawnAgent(_)
        | Request::ListAgents(_)
        | Request::ProvisionWorkspace(_)
        | Request::FinalizeWorkspace(_)
        | Request::Snapshot(_)
        | Request::Classify(_)
        | Request::PendingConfirmations(_)
        | Request::Resolve(_) => None,
    }
}

/// The lane of a request (see [`lane_ref`]), keyed by the whole session id
/// once references are resolved.
fn lane_of(request: &Request) -> Option<(SessionId, bool)> {
    let (session, bounded) = lane_ref(request)?;
    session.and_then(|r| r.as_session()).map(|s| (s, bounded))
}

/// Whether the request runs in a session's lane (keyed by the whole id).
fn needs_lane(request: &Request) -> bool {
    lane_ref(request).is_some()
}

/// A permit of the node's room for commands running outside the lanes.
fn node_room(ctx: &CommandCtx) -> Result<tokio::sync::OwnedSemaphorePermit, WireError> {
    Arc::clone(&ctx.in_flight).try_acquire_owned().map_err(|_| too_many_in_flight())
}

fn too_many_in_flight() -> WireError {
    WireError::new(
        ErrorCode::Unavailable,
        format!("the node is running {MAX_IN_FLIGHT} commands already (spawns, lists, tasks, workspaces); retry later"),
    )
}

fn lane_full(session: SessionId, full: LaneFull) -> WireError {
    let why = match full {
        LaneFull::Depth => format!("too many commands are waiting for session {session} (at most {MAX_LANE_DEPTH})"),
        LaneFull::LaneBytes => {
            format!("too many bytes of commands are waiting for session {session} (at most {MAX_LANE_BYTES})")
        }
        LaneFull::NodeBytes => {
            format!("too many bytes of commands are waiting for sessions (at most {MAX_QUEUED_BYTES} in all)")
        }
    };
    WireError::new(ErrorCode::Unavailable, format!("{why}; retry later"))
}

fn reply_of(result: Result<Value, Failure>, request_id: Option<String>) -> Reply {
    match result {
        Ok(v) => Reply::ok(v, request_id),
        Err(Failure { error, partial: None }) => Reply::err(error, request_id),
        Err(Failure { error, partial: Some(partial) }) => Reply::partial(error, partial, request_id),
    }
}

/// A verb that failed: the error, and what it did before the step that
/// failed (a finalize's commit and push before its pull request failed).
/// The rule: a reply whose requested step failed is `ok: false`.
pub(crate) struct Failure {
    error: WireError,
    partial: Option<Value>,
}

impl From<WireError> for Failure {
    fn from(error: WireError) -> Self {
        Failure { error, partial: None }
    }
}

/// The `request_id` of a request that failed to decode, when one can be read.
fn lenient_request_id(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        request_id: Option<String>,
    }
    serde_json::from_slice::<Id>(payload)
        .ok()
        .and_then(|i| i.request_id)
        .filter(|r| r.len() <= crate::protocol::MAX_REQUEST_ID)
}

pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, WireError> {
    serde_json::to_value(v).map_err(|e| WireError::internal(e.to_string()))
}

/// Runs one request against the `Warden` handle: `finalize_workspace`, whose
/// steps may fail after others were done, here; the others in [`run_verb`].
/// Every reference in the request (a short id, a label) is resolved here,
/// once, before either runs.
async fn execute(ctx: &CommandCtx, mut request: Request) -> Result<Value, Failure> {
    let w = &ctx.warden;
    crate::resolve::resolve_request(w, &mut request).await?;
    let Request::FinalizeWorkspace(args) = request else { return Ok(run_verb(ctx, request).await?) };
    let id = warden_core::workspace::WorkspaceId::parse(&args.workspace)
        .map_err(|e| WireError::bad_request(e.to_string()))?;
    let req = warden_core::workspace::FinalizeRequest {
        commit: args.commit,
        push: args.push,
        pr: args.pr,
        cleanup: args.cleanup,
    };
    let report = w.finalize_workspace(&id, req).await.map_err(WireError::from)?;
    let failed = crate::protocol::error::failed_step(&report);
    let result = to_value(&FinalizeWorkspaceResult {
        node: ctx.subjects.node().to_string(),
        workspace: args.workspace,
        report,
    })?;
    match failed {
        None => Ok(result),
        Some(error) => Err(Failure { error, partial: Some(result) }),
    }
}

/// Runs one request (every verb but `finalize_workspace`, its references
/// resolved) against the `Warden` handle.
async fn run_verb(ctx: &CommandCtx, request: Request) -> Result<Value, WireError> {
    let node = ctx.subjects.node().to_string();
    let w = &ctx.warden;
    match request {
        Request::CreateTask(args) => to_value(&crate::tasks::create(w, &ctx.policy, node, args).await?),
        // A record's environment values (API keys …) are never shown to callers.
        Request::TaskStatus(args) => to_value(&TaskResult { node, task: w.task(args.task.task()?)?.redacted() }),
        Request::ListTasks(args) => to_value(&ListTasksResult {
            node,
            tasks: w.list_tasks(&args.filter()).into_iter().map(TaskRecord::redacted).collect(),
        }),
        Request::PauseTask(args) => {
            to_value(&TaskResult { node, task: w.pause_task(args.task.task()?).await?.redacted() })
        }
        Request::ResumeTask(args) => {
            to_value(&TaskResult { node, task: w.resume_task(args.task.task()?).await?.redacted() })
        }
        Request::CancelTask(args) => {
            to_value(&TaskResult { node, task: w.cancel_task(args.task.task()?).await?.redacted() })
        }
        Request::Resolve(args) => to_value(&crate::resolve::run(w, node, &args).await?),
        Request::SpawnAgent(args) => {
            let req = agent_request(ctx, args)?;
            let launched = w.spawn_agent(req).await.map_err(launch_error)?;
            to_value(&SpawnResult { node, session: launched.session })
        }
        Request::SendToAgent(args) => {
            let session = args.session.session()?;
            let delivery = match args.input()? {
                SendInput::Text(t) => Some(w.send(session, &t).await?),
                SendInput::Keys(k) => {
                    w.send_keys(session, &k).await?;
                    None
                }
                SendInput::Paste { text, bracketed } => {
                    w.paste(session, &text, bracketed).await?;
                    None
                }
            };
            to_value(&SendResult { node, session, delivery })
        }
        Request::ListAgents(args) => {
            let agents = crate::tasks::agent_entries(w, w.list(args.filter()).await?).await;
            to_value(&ListResult { node, agents })
        }
        Request::StopAgent(args) => {
            if args.all {
                let stopped = w.stop_all().await;
                return to_value(&StopResult { node, session: None, exit: None, stopped: Some(stopped) });
            }
            let id = args
                .session
                .ok_or_else(|| WireError::bad_request("give either `session` or `\"all\": true`"))?
                .session()?;
            let exit = match args.grace_ms {
                Some(ms) => w.stop_with_grace(id, Duration::from_millis(ms.min(600_000))).await?,
                None => w.stop(id).await?,
            };
            to_value(&StopResult { node, session: Some(id), exit: Some(exit), stopped: None })
        }
        Request::ProvisionWorkspace(args) => {
            use warden_core::workspace::{CloneSpec, ProvisionSpec, WorktreeSpec};
            let spec = match (args.repo, args.parent) {
                (Some(repo), None) => ProvisionSpec::Clone(CloneSpec {
                    id: args.id,
                    source: ctx.policy.check_repo_source(&repo)?,
                    branch: args.branch,
                    base: args.base,
                    depth: args.depth,
                }),
                (None, Some(parent)) => {
                    ProvisionSpec::Worktree(WorktreeSpec { parent, id: args.id, branch: args.branch, base: args.base })
                }
                _ => return Err(WireError::bad_request("give exactly one of `repo` (clone) and `parent` (worktree)")),
            };
            let workspace = w.provision_workspace(spec).await?;
            to_value(&ProvisionWorkspaceResult { node, workspace })
        }
        Request::FinalizeWorkspace(_) => Err(WireError::internal("finalize_workspace is served by `execute`")),
        Request::Resize(args) => {
            let session = args.session.session()?;
            w.resize(session, args.rows, args.cols).await?;
            let size = warden_core::TermSize { rows: args.rows, cols: args.cols };
            to_value(&ResizeResult { node, session, size })
        }
        Request::Snapshot(args) => {
            let session = args.session.session()?;
            // The end first: a session that had ended by then shows its final
            // screen below, and one that ends meanwhile is not said to have.
            let exit = w.get(session).await.ok().filter(|i| i.state.is_terminal()).map(|i| i.exit_or_state());
            let seq = w.bus().next_seq().checked_sub(1);
            let screen = w.snapshot(session).await?;
            to_value(&SnapshotResult { node, session, screen, seq, exit })
        }
        Request::Classify(args) => {
            let session = args.session.session()?;
            let verdict = w.classify(session).await?.into();
            to_value(&ClassifyResult { node, session, verdict })
        }
        Request::PendingConfirmations(args) => {
            let session = args.session.session()?;
            let pending = w.pending_confirmations(session).await?;
            to_value(&PendingConfirmationsResult { node, session, pending })
        }
        Request::Confirm(args) => {
            let session = args.session.session()?;
            let pending = w.pending_confirmations(session).await?;
            let id = crate::resolve::confirmation(session, args.id.as_deref(), &pending)?;
            w.confirm(session, &id, args.reply).await?;
            to_value(&ConfirmResult { node, session, id, outcome: warden_core::ConfirmationOutcome::Answered })
        }
        Request::Decline(args) => {
            let session = args.session.session()?;
            let pending = w.pending_confirmations(session).await?;
            let id = crate::resolve::confirmation(session, args.id.as_deref(), &pending)?;
            w.decline(session, &id).await?;
            to_value(&ConfirmResult { node, session, id, outcome: warden_core::ConfirmationOutcome::Declined })
        }
        Request::AddRules(args) => {
            let session = args.session.session()?;
            let ids = w.add_rules(session, args.rules).await?;
            to_value(&AddRulesResult { node, session, ids })
        }
        Request::ClearRules(args) => {
            let session = args.session.session()?;
            let removed = w.clear_rules(session).await?;
            to_value(&ClearRulesResult { node, session, removed })
        }
        Request::Attach(args) => {
            let session = args.session.session()?;
            w.get(session).await?; // an unknown session is `not_found`
            // Ended sessions have no terminal to answer for.
            let terminal = w.attach_terminal(session).await.ok();
            let (writer, holder) = ctx.keyboards.attach(session, &args.client, args.take, terminal);
            if writer {
                debug!(session = %session, client = %args.client, take = args.take, "keyboard taken");
            }
            to_value(&AttachResult { node, session, writer, holder })
        }
        Request::Detach(args) => {
            let session = args.session.session()?;
            let released = ctx.keyboards.detach(session, &args.client);
            if !released {
                // A keyboard held for a session is released whatever became of the
                // session; with nothing held, an id the node never knew is
                // `unknown_session`, as for `attach`.
                w.get(session).await?;
            }
            to_value(&DetachResult { node, session, released })
        }
    }
}

/// The launch request of a remote spawn, after every policy check: the
/// agent type (resolved to its canonical name through the node's adapters),
/// the environment and the working directory. The launch itself is
/// [`Warden::spawn_agent`], the path `warden run` takes too.
fn agent_request(ctx: &CommandCtx, args: SpawnArgs) -> Result<AgentRequest, WireError> {
    let adapter = launch::adapter_named(&ctx.warden.config().adapters, &args.agent).map_err(launch_error)?;
    ctx.policy.check_agent(&adapter.name)?;
    ctx.policy.check_env(&args.env)?;
    let workdir = ctx.policy.resolve_workdir(args.workdir.as_deref())?;
    let mut req = AgentRequest::named(adapter.name.clone());
    req.task = args.task;
    req.preset = args.preset;
    req.memory = args.memory;
    req.env = args.env;
    req.workdir = Some(workdir);
    req.size = args.size.unwrap_or_default();
    req.label = args.label;
    req.supervision = args.supervision.unwrap_or_default();
    req.rules = args.rules;
    req.loading = args.loading;
    req.stall = args.stall.unwrap_or_default();
    req.restart = args.restart.unwrap_or_default();
    req.restart_limits = args.restart_limits.map(|l| l.limits());
    Ok(req)
}

/// The wire error of a launch that failed.
fn launch_error(e: LaunchError) -> WireError {
    match e {
        LaunchError::Session(e) => WireError::from(e),
        LaunchError::UnknownAgent { .. }
        | LaunchError::NoFallback
        | LaunchError::Select(_)
        | LaunchError::NoMemoryFile { .. }
        | LaunchError::Preset(_) => WireError::bad_request(e.to_string()),
        LaunchError::FileOutside { .. } => WireError::forbidden(e.to_string()),
        // The file goes into the caller's working directory: what stands in its way
        // there (a directory of that name, no permission) is the caller's to fix.
        LaunchError::WriteFile { .. } => WireError::bad_request(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BridgeConfig;

    /// A launch file the caller's working directory will not take is the caller's
    /// error, not warden's.
    #[test]
    fn a_launch_file_that_cannot_be_written_is_bad_request() {
        let e = LaunchError::WriteFile {
            action: "write",
            path: "/w/CLAUDE.md".into(),
            source: std::io::Error::from(std::io::ErrorKind::IsADirectory),
        };
        let wire = launch_error(e);
        assert_eq!(wire.code, ErrorCode::BadRequest);
        assert!(wire.message.contains("/w/CLAUDE.md"), "{}", wire.message);
    }
    use crate::subjects::DEFAULT_PREFIX;

    /// A caller that never takes its reply holds the node's room for commands
    /// only while its command runs: it used to hold it until the reply was
    /// taken, so a few such callers refused every other one for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_nobody_takes_does_not_hold_the_nodes_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let warden = Warden::start(warden_actors::WardenConfig::new(dir.path())).await.expect("warden");
        let ctx = Arc::new(CommandCtx {
            subjects: Subjects::new(DEFAULT_PREFIX, warden.node()).expect("subjects"),
            warden: warden.clone(),
            client: None,
            policy: Policy::new(&BridgeConfig::default(), &[dir.path().to_path_buf()]).expect("policy"),
            max_request_bytes: 1 << 20,
            keyboards: Default::default(),
            in_flight: CommandCtx::in_flight_room(),
        });
        let (answered_tx, answered) = tokio::sync::oneshot::channel();
        let stuck: Respond = Some(Box::new(move |_reply: Reply| {
            async move {
                let _ = answered_tx.send(());
                // A peer that never reads: the reply never leaves.
                std::future::pending::<()>().await;
            }
            .boxed()
        }));
        let mut lanes = SessionLanes::default();
        run_command(&ctx, &mut lanes, "list_agents", b"{}", stuck, None).await;
        tokio::time::timeout(Duration::from_secs(30), answered).await.expect("the command ran").expect("answered");
        assert_eq!(ctx.in_flight.available_permits(), MAX_IN_FLIGHT, "the room is free while the reply waits");
        warden.shutdown().await;
    }
}
