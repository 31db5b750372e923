//! Starting a task's agent again in the same workspace (`resume_task`, a
//! usage-limit reset, a restart of the node with `resume_on_restart`).
//!
//! THE single place where an adapter's own resume option is applied: when the
//! agent's manifest has `resume_args` (`claude --continue`, `codex resume
//! --last`, `gemini --resume latest`, …; docs/ADAPTERS.md), they are added to
//! the request's arguments and the task is not given again (the CLI
//! continues its own conversation). An agent without them starts afresh in
//! the same workspace, which still holds its changes, and is given its task
//! again. An agent chosen by the node (`auto`) starts afresh too: which CLI
//! it will be is known only at launch.

use warden_adapters::Registry;

use crate::launch::{AgentChoice, AgentRequest};

/// The request that starts an agent again, from the request of its first start.
pub(crate) fn resume_request(mut first: AgentRequest, adapters: &Registry) -> AgentRequest {
    // The memory file was written by the first start; appending again would repeat it.
    first.memory = None;
    let resume_args = match &first.agent {
        AgentChoice::Named(name) => adapters.get(name).map(|a| a.resume_args.clone()).unwrap_or_default(),
        _ => Vec::new(),
    };
    if !resume_args.is_empty() {
        first.args.extend(resume_args);
        first.task = None;
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cli_with_resume_args_continues_and_one_without_is_given_its_task_again() {
        let registry = Registry::builtin();
        let mut claude = AgentRequest::named("claude");
        claude.task = Some("fix it".into());
        claude.memory = Some("notes".into());
        let again = resume_request(claude, registry);
        assert_eq!(again.args, vec!["--continue".to_string()]);
        assert_eq!((again.task, again.memory), (None, None));

        let mut shell = AgentRequest::named("shell");
        shell.task = Some("make".into());
        let again = resume_request(shell, registry);
        assert!(again.args.is_empty());
        assert_eq!(again.task.as_deref(), Some("make"));
    }
}
