//! Tables a person reads at a glance: `warden ctl list_agents` and
//! `warden task list` without `--json`.

use std::fmt::Write;

use warden_bridge::protocol::{ListResult, ListTasksResult, Reply};

use super::print::clean;

/// Column text cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    let text = clean(text);
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Rows as aligned columns, the header first.
pub(super) fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// The errors of replies that are not `ok`, one line each.
fn errors(replies: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for raw in replies {
        match serde_json::from_slice::<Reply>(raw) {
            Ok(Reply { ok: false, error: Some(e), .. }) => {
                let _ = writeln!(out, "error: {e}");
            }
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(out, "error: a reply that does not parse: {e}");
            }
        }
    }
    out
}

fn results<T: serde::de::DeserializeOwned>(replies: &[Vec<u8>]) -> Vec<T> {
    replies
        .iter()
        .filter_map(|raw| serde_json::from_slice::<Reply>(raw).ok())
        .filter_map(|r| r.result)
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// `list_agents` replies as one table: node, short id, label, agent, state
/// (with the pending count), task (status and text), workspace and branch,
/// the question waiting for an answer, or how it ended.
pub fn agents_table(replies: &[Vec<u8>]) -> String {
    let lists: Vec<ListResult> = results(replies);
    let mut rows = Vec::new();
    for list in &lists {
        for a in &list.agents {
            let state = if a.pending > 0 {
                format!("{} ({} pending)", a.state.as_str(), a.pending)
            } else {
                a.state.as_str().to_string()
            };
            let task = match (&a.task_status, &a.task_text) {
                (Some(s), Some(t)) => format!("{s}: {}", cut(t, 40)),
                (None, Some(t)) => cut(t, 40),
                (Some(s), None) => s.to_string(),
                (None, None) => "-".into(),
            };
            let place = match (&a.workspace, &a.branch) {
                (Some(w), Some(b)) => format!("{} {b}", warden_core::idref::short(w)),
                (None, Some(b)) => b.clone(),
                (Some(w), None) => warden_core::idref::short(w),
                (None, None) => "-".into(),
            };
            let note = match (a.pending_confirmations.first(), &a.exit) {
                (Some(p), _) => format!("{}: {}", p.id, cut(&p.prompt, 50)),
                (None, Some(exit)) => {
                    let how = match (exit.code, exit.signal) {
                        (Some(c), _) => format!("code {c}"),
                        (None, Some(s)) => format!("signal {s}"),
                        (None, None) => "no status".into(),
                    };
                    format!("{} ({how})", exit.reason)
                }
                (None, None) => "-".into(),
            };
            rows.push(vec![
                list.node.clone(),
                if a.short.is_empty() { warden_core::idref::short(&a.id.to_string()) } else { a.short.clone() },
                a.label.as_deref().map(|l| cut(l, 24)).unwrap_or_else(|| "-".into()),
                a.agent.clone(),
                state,
                task,
                place,
                note,
            ]);
        }
    }
    let mut out = errors(replies);
    if rows.is_empty() && lists.is_empty() {
        return out;
    }
    if rows.is_empty() {
        out.push_str("no sessions\n");
        return out;
    }
    out.push_str(&columns(
        &["NODE", "ID", "LABEL", "AGENT", "STATE", "TASK", "WORKSPACE/BRANCH", "WAITING ON / EXIT"],
        &rows,
    ));
    out
}

/// `list_tasks` replies as one table: node, short id, label, status,
/// agents, what was asked, the pull request or branch.
pub fn tasks_table(replies: &[Vec<u8>]) -> String {
    let lists: Vec<ListTasksResult> = results(replies);
    let mut rows = Vec::new();
    for list in &lists {
        let live: Vec<String> =
            list.tasks.iter().filter(|t| !t.status.is_terminal()).map(|t| t.id.to_string()).collect();
        let shorts = warden_core::idref::Shorts::new(live.iter().map(String::as_str));
        for t in &list.tasks {
            let agents: Vec<&str> = t.agents.iter().map(|a| a.agent.as_str()).collect();
            let result = t
                .agents
                .iter()
                .find_map(|a| a.pr_url.clone().or_else(|| a.branch.clone()))
                .unwrap_or_else(|| "-".into());
            rows.push(vec![
                list.node.clone(),
                shorts.of(&t.id.to_string()),
                t.spec.label.as_deref().map(|l| cut(l, 24)).unwrap_or_else(|| "-".into()),
                t.status.to_string(),
                agents.join(","),
                cut(&t.spec.description, 40),
                result,
            ]);
        }
    }
    let mut out = errors(replies);
    if lists.is_empty() {
        return out;
    }
    if rows.is_empty() {
        out.push_str("no tasks\n");
        return out;
    }
    out.push_str(&columns(&["NODE", "ID", "LABEL", "STATUS", "AGENTS", "TASK", "PR/BRANCH"], &rows));
    out
}

/// One line for a person about a reply that names a session or a task
/// (`spawn_agent`, `create_task`, the task verbs): its short id, label,
/// state and node — what the next command can name it by. `None` for
/// other replies.
pub fn summary(raw: &[u8]) -> Option<String> {
    let reply: Reply = serde_json::from_slice(raw).ok()?;
    let result = reply.result.filter(|_| reply.ok)?;
    let node = result.get("node")?.as_str()?;
    if let Some(task) = result.get("task").filter(|t| t.is_object()) {
        let id = task.get("id")?.as_str()?;
        let label = task.pointer("/spec/label").and_then(|l| l.as_str()).map(|l| format!(" ({})", clean(l)));
        let status = task.get("status")?.as_str()?;
        return Some(format!("task {}{} {status} on {node}", warden_core::idref::short(id), label.unwrap_or_default()));
    }
    let session = result.get("session").filter(|s| s.is_object())?;
    let id = session.get("id")?.as_str()?;
    let label = session.get("label").and_then(|l| l.as_str()).map(|l| format!(" ({})", clean(l)));
    let state = session.get("state")?.as_str()?;
    Some(format!("session {}{} {state} on {node}", warden_core::idref::short(id), label.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_summed_up_with_short_ids() {
        let spawn = br#"{"v":1,"ok":true,"result":{"node":"n1","session":{"id":"0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f","agent":"shell","program":"bash","args":[],"workdir":"/w","pid":1,"state":"starting","size":{"rows":40,"cols":120},"label":"fix-auth","created_at":"x"}}}"#;
        assert_eq!(summary(spawn).as_deref(), Some("session 3c4d5e6f (fix-auth) starting on n1"));
        let err = br#"{"v":1,"ok":false,"error":{"code":"internal","message":"x"}}"#;
        assert_eq!(summary(err), None);
    }
}
