//! Starting a task's agent again in the same workspace (`resume_task`, a
//! usage-limit reset, a restart of the node with `resume_on_restart`).
//!
//! THE single place where an adapter's own resume option is applied. Issue 13
//! adds `resume_args` to the adapter manifests (`claude --continue`, `codex
//! resume --last`, …); once it lands, [`resume_request`] adds them to the
//! request's arguments and drops the task (the CLI continues its own
//! conversation). Until then the agent starts afresh in the same workspace,
//! which still holds its changes, and is given its task again.

use crate::launch::AgentRequest;

/// The request that starts an agent again, from the request of its first start.
pub(crate) fn resume_request(mut first: AgentRequest) -> AgentRequest {
    // The memory file was written by the first start; appending again would repeat it.
    first.memory = None;
    // RESUME ARGS (issue 13): when the adapter's manifest has `resume_args`,
    // `first.args.extend(resume_args)` and `first.task = None` go here.
    first
}
