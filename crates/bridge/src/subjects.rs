//! Subject names: one place that builds and parses every subject the bridge
//! uses, so the layout in `docs/PROTOCOL.md` is written down once in code.
//!
//! ```text
//! <prefix>.<node>.cmd.<verb>            request/reply, one node
//! <prefix>.any.cmd.<verb>               request/reply, any node (queue group or scatter-gather)
//! <prefix>.<node>.evt.<session>.<kind>  every event (`_node` for node-level events)
//! <prefix>.<node>.out.<session>         raw terminal output bytes
//! <prefix>.<node>.in.<session>          raw terminal input bytes
//! <prefix>.<node>.heartbeat             liveness and load
//! ```

use warden_core::SessionId;

/// The subject token that addresses whichever node takes the work.
pub const ANY_NODE: &str = "any";
/// The session token of node-level events (events without a session).
pub const NODE_SESSION_TOKEN: &str = "_node";
/// The default subject prefix.
pub const DEFAULT_PREFIX: &str = "warden";

/// Why a name cannot be a subject token or prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` cannot be used as a NATS {what}: {why}")]
pub struct BadToken {
    /// The name, shortened.
    pub name: String,
    /// `node name` or `subject prefix`.
    pub what: &'static str,
    /// What is wrong.
    pub why: &'static str,
}

fn token_problem(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        return Some("it is empty");
    }
    if token.len() > 128 {
        return Some("it is longer than 128 bytes");
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>')) {
        return Some("it may not contain `.`, `*`, `>`, spaces or control characters");
    }
    None
}

/// Checks a node name: one subject token, and not the reserved `any`.
pub fn check_node_name(node: &str) -> Result<(), BadToken> {
    let bad = |why| BadToken { name: node.chars().take(64).collect(), what: "node name", why };
    if let Some(why) = token_problem(node) {
        return Err(bad(why));
    }
    if node == ANY_NODE {
        return Err(bad("`any` is reserved for requests any node may answer"));
    }
    Ok(())
}

/// Turns a host name into a usable node name (`build-1.example.org` →
/// `build-1_example_org`).
pub fn sanitize_node_name(name: &str) -> String {
    let s: String = name
        .chars()
        .take(128)
        .map(|c| if c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>') { '_' } else { c })
        .collect();
    if s.is_empty() || s == ANY_NODE { format!("node-{s}") } else { s }
}

/// Checks a prefix: one or more dot-separated tokens.
pub fn check_prefix(prefix: &str) -> Result<(), BadToken> {
    for token in prefix.split('.') {
        if let Some(why) = token_problem(token) {
            return Err(BadToken { name: prefix.chars().take(64).collect(), what: "subject prefix", why });
        }
    }
    Ok(())
}

/// Subjects of one node under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
    node: String,
}

/// What an incoming message on a node's subscriptions is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A command; `any` when it came on the `any` subject.
    Command {
        /// The verb token as sent.
        verb: &'a str,
        /// Whether it came on `<prefix>.any.cmd.<verb>`.
        any: bool,
    },
    /// Raw input for a session (the token, not yet parsed).
    Input {
        /// The session token as sent.
        session: &'a str,
    },
}

impl Subjects {
    /// Subjects for `node` under `prefix`; both are checked.
    pub fn new(prefix: &str, node: &str) -> Result<Self, BadToken> {
        check_prefix(prefix)?;
        check_node_name(node)?;
        Ok(Subjects { prefix: prefix.to_string(), node: node.to_string() })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `<prefix>.<node>.cmd.<verb>`.
    pub fn command(&self, verb: &str) -> String {
        command_subject(&self.prefix, &self.node, verb)
    }

    /// `<prefix>.<node>.cmd.>`: every command to this node.
    pub fn commands_wildcard(&self) -> String {
        format!("{}.{}.cmd.>", self.prefix, self.node)
    }

    /// `<prefix>.any.cmd.<verb>`.
    pub fn any_command(&self, verb: &str) -> String {
        command_subject(&self.prefix, ANY_NODE, verb)
    }

    /// The queue group of `any` commands.
    pub fn any_queue_group(&self) -> String {
        format!("{}.any", self.prefix)
    }

    /// `<prefix>.<node>.evt.<session|_node>.<kind>`.
    pub fn event(&self, session: Option<SessionId>, kind: &str) -> String {
        match session {
            Some(id) => format!("{}.{}.evt.{}.{}", self.prefix, self.node, id, kind),
            None => format!("{}.{}.evt.{}.{}", self.prefix, self.node, NODE_SESSION_TOKEN, kind),
        }
    }

    /// `<prefix>.<node>.out.<session>`.
    pub fn output(&self, session: SessionId) -> String {
        format!("{}.{}.out.{}", self.prefix, self.node, session)
    }

    /// `<prefix>.<node>.in.*`: raw input to any session of this node.
    pub fn input_wildcard(&self) -> String {
        format!("{}.{}.in.*", self.prefix, self.node)
    }

    /// `<prefix>.<node>.in.<session>`.
    pub fn input(&self, session: SessionId) -> String {
        format!("{}.{}.in.{}", self.prefix, self.node, session)
    }

    /// `<prefix>.<node>.claim`: who serves this node name (see `claim`).
    pub fn claim(&self) -> String {
        format!("{}.{}.claim", self.prefix, self.node)
    }

    /// `<prefix>.<node>.heartbeat`.
    pub fn heartbeat(&self) -> String {
        heartbeat_subject(&self.prefix, Some(&self.node))
    }

    /// Classifies a subject this node subscribed to; `None` for anything else.
    pub fn parse_incoming<'a>(&self, subject: &'a str) -> Option<Incoming<'a>> {
        let rest = subject.strip_prefix(self.prefix.as_str())?.strip_prefix('.')?;
        let (node, rest) = rest.split_once('.')?;
        let any = node == ANY_NODE;
        if !any && node != self.node {
            return None;
        }
        let (kind, tail) = rest.split_once('.')?;
        match kind {
            "cmd" if !tail.is_empty() => Some(Incoming::Command { verb: tail, any }),
            "in" if !any && !tail.is_empty() => Some(Incoming::Input { session: tail }),
            _ => None,
        }
    }
}

/// `<prefix>.<node>.cmd.<verb>` for a node name or `any`.
pub fn command_subject(prefix: &str, node: &str, verb: &str) -> String {
    format!("{prefix}.{node}.cmd.{verb}")
}

/// The subject filter for events of one node (or all: `None`) and one
/// session (or all).
pub fn events_filter(prefix: &str, node: Option<&str>, session: Option<SessionId>) -> String {
    let node = node.unwrap_or("*");
    match session {
        Some(id) => format!("{prefix}.{node}.evt.{id}.*"),
        None => format!("{prefix}.{node}.evt.>"),
    }
}

/// The heartbeat subject of one node, or of all (`None`).
pub fn heartbeat_subject(prefix: &str, node: Option<&str>) -> String {
    format!("{prefix}.{}.heartbeat", node.unwrap_or("*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_layout() {
        let s = Subjects::new("warden", "n1").expect("valid");
        let id: SessionId = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f".parse().expect("uuid");
        assert_eq!(s.command("spawn_agent"), "warden.n1.cmd.spawn_agent");
        assert_eq!(s.any_command("spawn_agent"), "warden.any.cmd.spawn_agent");
        assert_eq!(s.event(Some(id), "output"), format!("warden.n1.evt.{id}.output"));
        assert_eq!(s.event(None, "lagged"), "warden.n1.evt._node.lagged");
        assert_eq!(s.output(id), format!("warden.n1.out.{id}"));
        assert_eq!(s.heartbeat(), "warden.n1.heartbeat");
        assert_eq!(events_filter("warden", None, None), "warden.*.evt.>");
    }

    #[test]
    fn incoming_subjects_parse() {
        let s = Subjects::new("a.b", "n1").expect("valid");
        assert_eq!(
            s.parse_incoming("a.b.n1.cmd.list_agents"),
            Some(Incoming::Command { verb: "list_agents", any: false })
        );
        assert_eq!(
            s.parse_incoming("a.b.any.cmd.spawn_agent"),
            Some(Incoming::Command { verb: "spawn_agent", any: true })
        );
        assert_eq!(s.parse_incoming("a.b.n1.in.xyz"), Some(Incoming::Input { session: "xyz" }));
        assert_eq!(s.parse_incoming("a.b.n2.cmd.list_agents"), None);
        assert_eq!(s.parse_incoming("a.b.any.in.xyz"), None);
        assert_eq!(s.parse_incoming("other.n1.cmd.x"), None);
        assert_eq!(s.parse_incoming("a.b.n1.cmd."), None);
    }

    #[test]
    fn bad_names_are_refused_and_host_names_sanitised() {
        assert!(check_node_name("any").is_err());
        assert!(check_node_name("a.b").is_err());
        assert!(check_node_name("").is_err());
        assert!(check_prefix("warden..x").is_err());
        assert!(check_prefix("acme.warden").is_ok());
        assert_eq!(sanitize_node_name("build-1.example.org"), "build-1_example_org");
        assert!(check_node_name(&sanitize_node_name("any")).is_ok());
    }
}
