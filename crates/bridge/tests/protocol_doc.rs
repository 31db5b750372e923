//! Every JSON example in docs/PROTOCOL.md parses into the bridge's types.
//!
//! Examples are fenced blocks whose info string is `json <tag>`:
//! `request:<verb>`, `reply` (an error), `reply:<verb>`, `event`,
//! `heartbeat`, `config`, `frame` (a local socket frame header). Replies, events and heartbeats must also
//! re-serialise to the same JSON, so the examples show exactly what warden
//! sends.

use std::collections::BTreeSet;

use serde_json::Value;
use warden_bridge::BridgeConfig;
use warden_bridge::protocol::{
    AddRulesResult, AttachResult, ClassifyResult, ClearRulesResult, ConfirmResult, DetachResult, ErrorCode,
    FinalizeWorkspaceResult, Heartbeat, ListResult, ListTasksResult, PendingConfirmationsResult,
    ProvisionWorkspaceResult, Reply, ResizeResult, ResolveResult, SendResult, SnapshotResult, SpawnResult, StopResult,
    TaskResult, VERBS, Verb, decode_request, lookup_verb,
};
use warden_core::Event;

fn blocks(doc: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else { continue };
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("");
        let tag = words.next().unwrap_or("").to_string();
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if lang == "json" {
            out.push((tag, body, n + 1));
        }
    }
    out
}

/// The typed result, serialised again.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(result: &Value) -> Result<Value, serde_json::Error> {
    serde_json::from_value::<T>(result.clone()).and_then(serde_json::to_value)
}

fn same_json<T: serde::Serialize>(typed: &T, original: &Value, line: usize) {
    let again = serde_json::to_value(typed).expect("serialises");
    assert_eq!(&again, original, "line {line}: the example is not what warden would send");
}

#[test]
fn every_json_example_in_protocol_md_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROTOCOL.md");
    let mut requested = BTreeSet::new();
    let mut replied = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let all = blocks(&doc);
    assert!(all.len() > 20, "examples found: {}", all.len());
    for (tag, body, line) in all {
        let value: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("line {line}: not JSON: {e}"));
        let (kind, verb) = tag.split_once(':').map(|(k, v)| (k, Some(v))).unwrap_or((tag.as_str(), None));
        match (kind, verb) {
            ("request", Some(verb)) => {
                let (entry, _) = decode_request(verb, body.as_bytes(), 1 << 20)
                    .unwrap_or_else(|e| panic!("line {line}: request for {verb} does not decode: {e}"));
                requested.insert(entry.canonical());
            }
            ("reply", verb) => {
                let reply: Reply =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("line {line}: reply: {e}"));
                same_json(&reply, &value, line);
                assert_eq!(reply.v, 1, "line {line}");
                match verb {
                    None => {
                        assert!(!reply.ok && reply.result.is_none(), "line {line}: an error reply");
                        codes.insert(reply.error.expect("error").code.as_str());
                    }
                    Some(verb) => {
                        // A success, or a requested step that failed after
                        // others were done: the error and the partial result.
                        assert_eq!(reply.ok, reply.error.is_none(), "line {line}: `ok` and `error` agree");
                        if let Some(e) = &reply.error {
                            codes.insert(e.code.as_str());
                        }
                        let result = reply.result.expect("result");
                        let entry = lookup_verb(verb).unwrap_or_else(|| panic!("line {line}: unknown verb {verb}"));
                        let back = match entry.verb {
                            Verb::SpawnAgent => round_trip::<SpawnResult>(&result),
                            Verb::CreateTask
                            | Verb::TaskStatus
                            | Verb::PauseTask
                            | Verb::ResumeTask
                            | Verb::CancelTask => round_trip::<TaskResult>(&result),
                            Verb::ListTasks => round_trip::<ListTasksResult>(&result),
                            Verb::SendToAgent => round_trip::<SendResult>(&result),
                            Verb::ListAgents => round_trip::<ListResult>(&result),
                            Verb::StopAgent => round_trip::<StopResult>(&result),
                            Verb::Resize => round_trip::<ResizeResult>(&result),
                            Verb::ProvisionWorkspace => round_trip::<ProvisionWorkspaceResult>(&result),
                            Verb::FinalizeWorkspace => round_trip::<FinalizeWorkspaceResult>(&result),
                            Verb::Snapshot => round_trip::<SnapshotResult>(&result),
                            Verb::Classify => round_trip::<ClassifyResult>(&result),
                            Verb::PendingConfirmations => round_trip::<PendingConfirmationsResult>(&result),
                            Verb::Confirm | Verb::Decline => round_trip::<ConfirmResult>(&result),
                            Verb::AddRules => round_trip::<AddRulesResult>(&result),
                            Verb::ClearRules => round_trip::<ClearRulesResult>(&result),
                            Verb::Attach => round_trip::<AttachResult>(&result),
                            Verb::Detach => round_trip::<DetachResult>(&result),
                            Verb::Resolve => round_trip::<ResolveResult>(&result),
                        }
                        .unwrap_or_else(|e| panic!("line {line}: {verb} result: {e}"));
                        replied.insert(entry.canonical());
                        assert_eq!(back, result, "line {line}: result is not what warden would send");
                    }
                }
            }
            ("event", None) => {
                let event: Event =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("line {line}: event: {e}"));
                same_json(&event, &value, line);
                kinds.insert(event.kind_name());
            }
            ("heartbeat", None) => {
                let hb: Heartbeat =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("line {line}: heartbeat: {e}"));
                same_json(&hb, &value, line);
            }
            ("frame", None) => {
                let header: warden_bridge::local::frame::Header =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("line {line}: frame: {e}"));
                same_json(&header, &value, line);
            }
            ("claim", None) => {
                let claim: warden_bridge::claim::NodeClaim =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("line {line}: claim: {e}"));
                assert_eq!(serde_json::to_value(&claim).expect("json"), value, "line {line}");
                assert_eq!(claim.v, 1, "line {line}");
            }
            ("config", None) => {
                let config: BridgeConfig =
                    serde_json::from_value(value).unwrap_or_else(|e| panic!("line {line}: config: {e}"));
                config.validate().unwrap_or_else(|e| panic!("line {line}: config: {e}"));
            }
            _ => panic!("line {line}: JSON block without a known tag (`json {tag}`)"),
        }
    }
    for e in VERBS.iter().filter(|e| e.alias_of.is_none()) {
        assert!(requested.contains(e.name), "PROTOCOL.md has no request example for {}", e.name);
        assert!(replied.contains(e.name), "PROTOCOL.md has no reply example for {}", e.name);
    }
    for c in ErrorCode::ALL {
        assert!(codes.contains(c.as_str()), "PROTOCOL.md has no example of error code {}", c.as_str());
    }
    let main_kinds = [
        "session_started",
        "output",
        "input",
        "resized",
        "state_changed",
        "exited",
        "error",
        "lagged",
        "login_required",
        "blocking_prompt",
        "task_complete",
        "stalled",
        "stall_classified",
        "escalated",
        "auto_responded",
        "confirmation_pending",
        "confirmation_resolved",
        "input_delivered",
        "input_undelivered",
        "restarting",
        "actor_restarted",
        "task_created",
        "task_status",
        "task_finalized",
        "launch_rejected",
    ];
    for k in main_kinds {
        assert!(kinds.contains(k), "PROTOCOL.md has no example of event kind {k}");
    }
}
