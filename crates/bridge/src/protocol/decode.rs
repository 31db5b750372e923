//! From a verb token and payload bytes to a checked [`Request`]. Never
//! panics; bounds what it reads; names what was wrong.

use super::PROTOCOL_VERSION;
use super::attach::{AttachArgs, DetachArgs};
use super::error::{ErrorCode, WireError};
use super::idref::IdRef;
use super::request::{
    FinalizeWorkspaceArgs, ListArgs, ProvisionWorkspaceArgs, ResizeArgs, SendArgs, SpawnArgs, StopArgs,
};
use super::resolve::ResolveArgs;
use super::supervision::{AddRulesArgs, ConfirmArgs, DeclineArgs, SessionArgs};
use super::task::{CreateTaskArgs, ListTasksArgs, TaskArgs};
use super::verbs::{PLANNED_VERBS, Verb, VerbEntry, lookup_verb};

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `create_task`.
    CreateTask(CreateTaskArgs),
    /// `task_status`.
    TaskStatus(TaskArgs),
    /// `list_tasks`.
    ListTasks(ListTasksArgs),
    /// `pause_task`.
    PauseTask(TaskArgs),
    /// `resume_task`.
    ResumeTask(TaskArgs),
    /// `cancel_task`.
    CancelTask(TaskArgs),
    /// `spawn_agent`.
    SpawnAgent(SpawnArgs),
    /// `send_to_agent`.
    SendToAgent(SendArgs),
    /// `list_agents`.
    ListAgents(ListArgs),
    /// `stop_agent`.
    StopAgent(StopArgs),
    /// `resize`.
    Resize(ResizeArgs),
    /// `provision_workspace`.
    ProvisionWorkspace(ProvisionWorkspaceArgs),
    /// `finalize_workspace`.
    FinalizeWorkspace(FinalizeWorkspaceArgs),
    /// `snapshot`.
    Snapshot(SessionArgs),
    /// `classify`.
    Classify(SessionArgs),
    /// `pending_confirmations`.
    PendingConfirmations(SessionArgs),
    /// `confirm`.
    Confirm(ConfirmArgs),
    /// `decline`.
    Decline(DeclineArgs),
    /// `add_rules`.
    AddRules(AddRulesArgs),
    /// `clear_rules`.
    ClearRules(SessionArgs),
    /// `attach`.
    Attach(AttachArgs),
    /// `detach`.
    Detach(DetachArgs),
    /// `resolve`.
    Resolve(ResolveArgs),
}

impl Request {
    fn common(&self) -> (Option<u32>, Option<&String>) {
        match self {
            Request::CreateTask(a) => (a.v, a.request_id.as_ref()),
            Request::TaskStatus(a) | Request::PauseTask(a) | Request::ResumeTask(a) | Request::CancelTask(a) => {
                (a.v, a.request_id.as_ref())
            }
            Request::ListTasks(a) => (a.v, a.request_id.as_ref()),
            Request::SpawnAgent(a) => (a.v, a.request_id.as_ref()),
            Request::SendToAgent(a) => (a.v, a.request_id.as_ref()),
            Request::ListAgents(a) => (a.v, a.request_id.as_ref()),
            Request::StopAgent(a) => (a.v, a.request_id.as_ref()),
            Request::Resize(a) => (a.v, a.request_id.as_ref()),
            Request::ProvisionWorkspace(a) => (a.v, a.request_id.as_ref()),
            Request::FinalizeWorkspace(a) => (a.v, a.request_id.as_ref()),
            Request::Snapshot(a) | Request::Classify(a) | Request::PendingConfirmations(a) | Request::ClearRules(a) => {
                (a.v, a.request_id.as_ref())
            }
            Request::Confirm(a) => (a.v, a.request_id.as_ref()),
            Request::Decline(a) => (a.v, a.request_id.as_ref()),
            Request::AddRules(a) => (a.v, a.request_id.as_ref()),
            Request::Attach(a) => (a.v, a.request_id.as_ref()),
            Request::Detach(a) => (a.v, a.request_id.as_ref()),
            Request::Resolve(a) => (a.v, a.request_id.as_ref()),
        }
    }

    /// The reference to a session, task or workspace the request names, with
    /// its field's name (`stop_agent` with `all`, and verbs that name none:
    /// `None`).
    pub fn reference(&self) -> Option<(&'static str, &IdRef)> {
        match self {
            Request::TaskStatus(a) | Request::PauseTask(a) | Request::ResumeTask(a) | Request::CancelTask(a) => {
                Some(("task", &a.task))
            }
            Request::SendToAgent(a) => Some(("session", &a.session)),
            Request::StopAgent(a) => a.session.as_ref().map(|s| ("session", s)),
            Request::Resize(a) => Some(("session", &a.session)),
            Request::Snapshot(a) | Request::Classify(a) | Request::PendingConfirmations(a) | Request::ClearRules(a) => {
                Some(("session", &a.session))
            }
            Request::Confirm(a) => Some(("session", &a.session)),
            Request::Decline(a) => Some(("session", &a.session)),
            Request::AddRules(a) => Some(("session", &a.session)),
            Request::Attach(a) => Some(("session", &a.session)),
            Request::Detach(a) => Some(("session", &a.session)),
            Request::Resolve(a) => Some(("id", &a.id)),
            Request::CreateTask(_)
            | Request::ListTasks(_)
            | Request::SpawnAgent(_)
            | Request::ListAgents(_)
            | Request::ProvisionWorkspace(_)
            | Request::FinalizeWorkspace(_) => None,
        }
    }

    /// [`Request::reference`], to replace it (by the whole id it names).
    pub fn reference_mut(&mut self) -> Option<(&'static str, &mut IdRef)> {
        match self {
            Request::TaskStatus(a) | Request::PauseTask(a) | Request::ResumeTask(a) | Request::CancelTask(a) => {
                Some(("task", &mut a.task))
            }
            Request::SendToAgent(a) => Some(("session", &mut a.session)),
            Request::StopAgent(a) => a.session.as_mut().map(|s| ("session", s)),
            Request::Resize(a) => Some(("session", &mut a.session)),
            Request::Snapshot(a) | Request::Classify(a) | Request::PendingConfirmations(a) | Request::ClearRules(a) => {
                Some(("session", &mut a.session))
            }
            Request::Confirm(a) => Some(("session", &mut a.session)),
            Request::Decline(a) => Some(("session", &mut a.session)),
            Request::AddRules(a) => Some(("session", &mut a.session)),
            Request::Attach(a) => Some(("session", &mut a.session)),
            Request::Detach(a) => Some(("session", &mut a.session)),
            Request::Resolve(a) => Some(("id", &mut a.id)),
            Request::CreateTask(_)
            | Request::ListTasks(_)
            | Request::SpawnAgent(_)
            | Request::ListAgents(_)
            | Request::ProvisionWorkspace(_)
            | Request::FinalizeWorkspace(_) => None,
        }
    }

    /// The caller's `request_id`.
    pub fn request_id(&self) -> Option<String> {
        self.common().1.cloned()
    }
}

/// Longest `request_id` accepted.
pub const MAX_REQUEST_ID: usize = 128;

/// Decodes the payload of a request on verb subject token `verb`.
///
/// Checks, in order: size (`too_large`), verb (`unknown_verb`), JSON shape
/// (`bad_request`), version and cross-field rules (`bad_request`). An empty
/// payload is `{}`.
pub fn decode_request(
    verb: &str,
    payload: &[u8],
    max_bytes: usize,
) -> Result<(&'static VerbEntry, Request), WireError> {
    if payload.len() > max_bytes {
        return Err(WireError::new(
            ErrorCode::TooLarge,
            format!("request is {} bytes; this node accepts at most {max_bytes}", payload.len()),
        ));
    }
    let Some(entry) = lookup_verb(verb) else {
        let shown: String = verb.chars().take(64).collect();
        let message = if PLANNED_VERBS.contains(&verb) {
            format!("verb `{shown}` is not available on this node yet")
        } else {
            format!("unknown verb `{shown}`")
        };
        return Err(WireError::new(ErrorCode::UnknownVerb, message));
    };
    let payload = if payload.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { payload };
    let json = |e: serde_json::Error| WireError::bad_request(format!("invalid `{}` request: {e}", entry.canonical()));
    let request = match entry.verb {
        Verb::CreateTask => Request::CreateTask(serde_json::from_slice(payload).map_err(json)?),
        Verb::TaskStatus => Request::TaskStatus(serde_json::from_slice(payload).map_err(json)?),
        Verb::ListTasks => Request::ListTasks(serde_json::from_slice(payload).map_err(json)?),
        Verb::PauseTask => Request::PauseTask(serde_json::from_slice(payload).map_err(json)?),
        Verb::ResumeTask => Request::ResumeTask(serde_json::from_slice(payload).map_err(json)?),
        Verb::CancelTask => Request::CancelTask(serde_json::from_slice(payload).map_err(json)?),
        Verb::SpawnAgent => Request::SpawnAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::SendToAgent => Request::SendToAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::ListAgents => Request::ListAgents(serde_json::from_slice(payload).map_err(json)?),
        Verb::StopAgent => Request::StopAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::Resize => Request::Resize(serde_json::from_slice(payload).map_err(json)?),
        Verb::ProvisionWorkspace => Request::ProvisionWorkspace(serde_json::from_slice(payload).map_err(json)?),
        Verb::FinalizeWorkspace => Request::FinalizeWorkspace(serde_json::from_slice(payload).map_err(json)?),
        Verb::Snapshot => Request::Snapshot(serde_json::from_slice(payload).map_err(json)?),
        Verb::Classify => Request::Classify(serde_json::from_slice(payload).map_err(json)?),
        Verb::PendingConfirmations => Request::PendingConfirmations(serde_json::from_slice(payload).map_err(json)?),
        Verb::Confirm => Request::Confirm(serde_json::from_slice(payload).map_err(json)?),
        Verb::Decline => Request::Decline(serde_json::from_slice(payload).map_err(json)?),
        Verb::AddRules => Request::AddRules(serde_json::from_slice(payload).map_err(json)?),
        Verb::ClearRules => Request::ClearRules(serde_json::from_slice(payload).map_err(json)?),
        Verb::Attach => {
            let a: AttachArgs = serde_json::from_slice(payload).map_err(json)?;
            super::attach::check_client_id(&a.client)?;
            Request::Attach(a)
        }
        Verb::Detach => {
            let a: DetachArgs = serde_json::from_slice(payload).map_err(json)?;
            super::attach::check_client_id(&a.client)?;
            Request::Detach(a)
        }
        Verb::Resolve => Request::Resolve(serde_json::from_slice(payload).map_err(json)?),
    };
    let (v, request_id) = request.common();
    if let Some(v) = v
        && v != PROTOCOL_VERSION
    {
        return Err(WireError::bad_request(format!("unsupported protocol version {v}; this node speaks 1")));
    }
    if request_id.is_some_and(|r| r.len() > MAX_REQUEST_ID) {
        return Err(WireError::bad_request(format!("`request_id` is longer than {MAX_REQUEST_ID} bytes")));
    }
    match &request {
        Request::CreateTask(a) => a.check()?,
        Request::SpawnAgent(a) => a.check()?,
        Request::SendToAgent(a) => {
            a.input()?;
        }
        Request::StopAgent(a) if a.session.is_some() == a.all => {
            return Err(WireError::bad_request("give either `session` or `\"all\": true`"));
        }
        Request::Confirm(a) => a.check()?,
        Request::Decline(a) => a.check()?,
        Request::AddRules(a) => a.check()?,
        _ => {}
    }
    if let Some((field, reference)) = request.reference() {
        reference.check(field)?;
    }
    Ok((entry, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::MAX_MESSAGE_CHARS;
    use crate::protocol::request::SendInput;
    use crate::protocol::verbs::VERBS;

    const SID: &str = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f";

    fn code(verb: &str, payload: &str) -> ErrorCode {
        decode_request(verb, payload.as_bytes(), 1 << 20).expect_err("fails").code
    }

    fn decodes(verb: &str, payload: &str) -> Request {
        decode_request(verb, payload.as_bytes(), 1 << 20).unwrap_or_else(|e| panic!("{verb} {payload}: {e}")).1
    }

    #[test]
    fn requests_decode_into_types() {
        let (e, r) = decode_request("spawn_coding_agent", br#"{"agentType":"shell","task":"ls"}"#, 1024).expect("ok");
        assert_eq!(e.canonical(), "spawn_agent");
        assert!(matches!(r, Request::SpawnAgent(SpawnArgs { ref agent, .. }) if agent == "shell"));
        let (_, r) = decode_request("list_agents", b"", 1024).expect("empty is {}");
        assert_eq!(r, Request::ListAgents(ListArgs::default()));
        let (_, r) =
            decode_request("send_to_agent", format!(r#"{{"session":"{SID}","keys":"down, enter"}}"#).as_bytes(), 1024)
                .expect("ok");
        let Request::SendToAgent(a) = r else { panic!("send") };
        assert_eq!(a.input(), Ok(SendInput::Keys(vec!["down".into(), "enter".into()])));
    }

    #[test]
    fn supervision_requests_decode_into_types() {
        let spawn = decodes(
            "spawn_agent",
            r#"{"agent":"shell","supervision":"confirm","preset":"permissive","restart":"on-failure",
                "rules":[{"pattern":"y/N","reply":{"type":"text","value":"y"},"once":true}],
                "loading":["Working"],"stall":{"window_ms":500,"ladder":[{"step":"notify"}]},
                "restart_limits":{"max_restarts":2}}"#,
        );
        let Request::SpawnAgent(a) = spawn else { panic!("spawn") };
        assert_eq!(a.supervision, Some(warden_core::SupervisionLevel::Confirm));
        assert_eq!(a.rules.len(), 1);
        assert!(a.rules[0].once && a.rules[0].safe);
        assert_eq!(a.restart_limits.expect("limits").limits().max_restarts, 2);
        for verb in ["snapshot", "classify", "pending_confirmations", "clear_rules"] {
            decodes(verb, &format!(r#"{{"session":"{SID}"}}"#));
        }
        let Request::Confirm(c) = decodes("confirm", &format!(r#"{{"session":"{SID}","id":"c1"}}"#)) else {
            panic!("confirm")
        };
        assert_eq!(c.reply, None);
        // Without an id: the session's only pending confirmation.
        let Request::Confirm(c) = decodes("confirm", &format!(r#"{{"session":"{SID}"}}"#)) else { panic!("confirm") };
        assert_eq!(c.id, None);
        decodes("confirm", &format!(r#"{{"session":"{SID}","id":"c1","reply":{{"type":"keys","value":["enter"]}}}}"#));
        decodes("decline", &format!(r#"{{"sessionId":"{SID}","id":"c1"}}"#));
        let Request::AddRules(r) = decodes(
            "add_rules",
            &format!(r#"{{"session":"{SID}","rules":[{{"pattern":"a","reply":{{"type":"text","value":"b"}}}}]}}"#),
        ) else {
            panic!("add_rules")
        };
        assert_eq!(r.rules[0].pattern, "a");
    }

    #[test]
    fn bad_requests_get_the_right_codes() {
        assert_eq!(code("spawn_agent", "{"), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"agent":5}"#), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"agent":"shell","bogus":1}"#), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"v":2,"agent":"shell"}"#), ErrorCode::BadRequest);
        assert_eq!(code("create_task", r#"{"agent":"shell"}"#), ErrorCode::BadRequest);
        assert_eq!(code("frobnicate", "{}"), ErrorCode::UnknownVerb);
        assert_eq!(code("snapshot", "{}"), ErrorCode::BadRequest);
        assert_eq!(code("stop_agent", "{}"), ErrorCode::BadRequest);
        assert_eq!(
            code("send_to_agent", &format!(r#"{{"session":"{SID}","text":"a","keys":["enter"]}}"#)),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("send_to_agent", &format!(r#"{{"session":"{SID}","text":"\u001b[201~"}}"#)),
            ErrorCode::BadRequest
        );
        // A reference that is not a whole id is resolved by the node (it may
        // be a prefix or a label); one that cannot be any is refused here.
        decodes("send_to_agent", r#"{"session":"nope","text":"a"}"#);
        assert_eq!(code("send_to_agent", r#"{"session":"no\u0007pe","text":"a"}"#), ErrorCode::BadRequest);
        assert_eq!(code("send_to_agent", r#"{"session":"","text":"a"}"#), ErrorCode::BadRequest);
        assert_eq!(code("task_status", r#"{"task":" "}"#), ErrorCode::BadRequest);
        let big = format!(r#"{{"agent":"{}"}}"#, "x".repeat(2000));
        assert_eq!(decode_request("spawn_agent", big.as_bytes(), 1024).expect_err("big").code, ErrorCode::TooLarge);
    }

    #[test]
    fn bad_supervision_requests_are_bad_requests() {
        let s = |extra: &str| format!(r#"{{"session":"{SID}"{extra}}}"#);
        let cases = [
            ("spawn_agent", r#"{"agent":"shell","supervision":"sometimes"}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","preset":"yolo!"}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","restart":"on_failure"}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","stall":{"window":5}}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","stall":{"window_ms":99999999999}}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","restart_limits":{"window":5}}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","rules":[{"pattern":"x"}]}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","rules":[{"pattern":"x","reply":"y"}]}"#.to_string()),
            ("spawn_agent", r#"{"agent":"shell","rules":[{"pattern":"","reply":{"type":"text","value":"y"}}]}"#.into()),
            ("spawn_agent", r#"{"agent":"shell","loading":[""]}"#.to_string()),
            ("confirm", s(r#","id":"""#)),
            ("confirm", s(r#","id":"c1","reply":{"type":"text","value":"\u0003"}}"#)),
            ("confirm", s(r#","id":"c1","reply":{"type":"keys","value":["nokey"]}}"#)),
            ("confirm", s(r#","id":"c1","decline":true"#)),
            ("decline", s(r#","id":"""#)),
            ("add_rules", s(r#","rules":[]"#)),
            ("add_rules", s("")),
            ("clear_rules", s(r#","all":true"#)),
        ];
        for (verb, payload) in cases {
            assert_eq!(code(verb, &payload), ErrorCode::BadRequest, "{verb} {payload}");
        }
        let rule = r#"{"pattern":"x","reply":{"type":"text","value":"y"}}"#;
        let many = format!(r#"{{"session":"{SID}","rules":[{}]}}"#, vec![rule; 257].join(","));
        let e = decode_request("add_rules", many.as_bytes(), 1 << 20).expect_err("too many");
        assert!(e.message.contains("at most 256"), "{e}");
        let long = format!(
            r#"{{"agent":"shell","rules":[{{"pattern":"{}","reply":{{"type":"text","value":"y"}}}}]}}"#,
            "a".repeat(4097)
        );
        let e = decode_request("spawn_agent", long.as_bytes(), 1 << 20).expect_err("too long");
        assert!(e.message.contains("4096"), "{e}");
    }

    #[test]
    fn unknown_fields_in_nested_objects_are_refused_by_name() {
        let ws = |extra: &str| format!(r#"{{"workspace":"w","commit":{{"message":"m"}}{extra}}}"#);
        let cases = [
            (
                "finalize_workspace",
                r#"{"workspace":"w","commit":{"message":"m","path":["only-this.txt"]}}"#.into(),
                "path",
            ),
            ("finalize_workspace", ws(r#","push":{"forse":true}"#), "forse"),
            ("finalize_workspace", ws(r#","pr":{"title":"t","lables":["bot"]}"#), "lables"),
            (
                "finalize_workspace",
                ws(r#","pr":{"title":"t","repo":{"host":"github.com","owner":"o","name":"r","nmae":"s"}}"#),
                "nmae",
            ),
            (
                "finalize_workspace",
                r#"{"workspace":"w","commit":{"message":"m","author":{"name":"a","email":"a@b","x":1}}}"#.into(),
                "x",
            ),
            ("provision_workspace", r#"{"repo":"/r","branch":{"from":"named","name":"x","nmae":"y"}}"#.into(), "nmae"),
            (
                "provision_workspace",
                r#"{"repo":"/r","branch":{"from":"task","task_id":"t","role":"r","summary":"s","rol":"q"}}"#.into(),
                "rol",
            ),
            ("spawn_agent", r#"{"agent":"shell","size":{"rows":40,"cols":120,"colz":300}}"#.into(), "colz"),
            ("create_task", r#"{"task":"t","size":{"rows":40,"cols":120,"colz":300}}"#.into(), "colz"),
            (
                "spawn_agent",
                r#"{"agent":"shell","stall":{"ladder":[{"step":"nudge","text":"go","txet":"x"}]}}"#.into(),
                "txet",
            ),
            ("spawn_agent", r#"{"agent":"shell","stall":{"ladder":[{"step":"notify","text":"x"}]}}"#.into(), "text"),
            ("spawn_agent", r#"{"agent":"shell","stall":{"ladder":[{"step":"fail","after":2}]}}"#.into(), "after"),
            (
                "spawn_agent",
                r#"{"agent":"shell","rules":[{"pattern":"x","reply":{"type":"text","value":"y","vaule":"n"}}]}"#.into(),
                "vaule",
            ),
            (
                "confirm",
                format!(r#"{{"session":"{SID}","reply":{{"type":"keys","value":["enter"],"vaule":"n"}}}}"#),
                "vaule",
            ),
        ];
        let mut accepted = Vec::new();
        for (verb, payload, field) in cases {
            match decode_request(verb, payload.as_bytes(), 1 << 20) {
                Ok(_) => accepted.push(format!("{verb} {payload}")),
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::BadRequest, "{verb} {payload}: {e}");
                    // serde names it `x` (structs, tagged enums) or "x"
                    // (the `type`/`value` pair of a reply).
                    let named = [format!("unknown field `{field}`"), format!(r#"string "{field}", expected"#)];
                    assert!(named.iter().any(|n| e.message.contains(n)), "{verb} {payload}: {e}");
                }
            }
        }
        assert!(accepted.is_empty(), "accepted with an unknown field: {accepted:#?}");
        // The documented forms still decode.
        decodes("provision_workspace", r#"{"repo":"/r","branch":{"from":"named","name":"x"}}"#);
        decodes(
            "provision_workspace",
            r#"{"repo":"/r","branch":{"from":"task","task_id":"t","role":"r","summary":"s"}}"#,
        );
        decodes(
            "spawn_agent",
            r#"{"agent":"shell","size":{"rows":40,"cols":120},"stall":{"ladder":[{"step":"notify"},
                {"step":"keys","keys":["escape"]},{"step":"nudge","text":"go"},{"step":"restart_resume"},{"step":"fail"}]},
                "rules":[{"pattern":"x","reply":{"type":"keys","value":["enter"]}}]}"#,
        );
        decodes(
            "finalize_workspace",
            r#"{"workspace":"w","commit":{"message":"m","paths":["a"],"author":{"name":"a","email":"a@b"}},
                "push":{"force":false},"pr":{"title":"t","body":"b","base":"main","draft":true,"labels":["x"],
                "repo":{"host":"github.com","owner":"o","name":"r"}},"cleanup":true}"#,
        );
    }

    #[test]
    fn every_code_has_its_wire_name() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn decoder_never_panics_on_bytes(verb_i in 0usize..24, bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let verb = VERBS.get(verb_i).map(|e| e.name).unwrap_or("nope");
            let _ = decode_request(verb, &bytes, 256);
        }

        #[test]
        fn decoder_never_panics_on_json(verb_i in 0usize..24, json in arb_json()) {
            let verb = VERBS.get(verb_i).map(|e| e.name).unwrap_or("frobnicate");
            let text = json.to_string();
            match decode_request(verb, text.as_bytes(), 1 << 20) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(e.message.chars().count() <= MAX_MESSAGE_CHARS),
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let keys = prop_oneof![
            Just("v".to_string()),
            Just("agent".to_string()),
            Just("task".to_string()),
            Just("session".to_string()),
            Just("text".to_string()),
            Just("keys".to_string()),
            Just("paste".to_string()),
            Just("all".to_string()),
            Just("rows".to_string()),
            Just("cols".to_string()),
            Just("size".to_string()),
            Just("env".to_string()),
            Just("workdir".to_string()),
            Just("id".to_string()),
            Just("reply".to_string()),
            Just("rules".to_string()),
            Just("pattern".to_string()),
            Just("type".to_string()),
            Just("value".to_string()),
            Just("stall".to_string()),
            Just("window_ms".to_string()),
            Just("ladder".to_string()),
            Just("step".to_string()),
            Just("restart_limits".to_string()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map(serde_json::Value::Number).unwrap_or_default()),
            ".{0,20}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from(SID)),
            Just(serde_json::Value::from("shell")),
            Just(serde_json::Value::from("text")),
            Just(serde_json::Value::from("keys")),
            Just(serde_json::Value::from("nudge")),
        ];
        leaf.prop_recursive(3, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(keys.clone(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
