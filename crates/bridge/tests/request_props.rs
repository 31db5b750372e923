//! Property target over the request decoder and every verb's arguments
//! (issue 14): requests shaped like real ones — the fields of every verb,
//! with hostile values (control characters, NULs, huge numbers, wrong types,
//! nesting) — never panic the decoder and never answer `internal`; every
//! refusal names what was wrong within the message bound. 12,000 cases here
//! (with the decoder's own 4,000 on raw bytes and free JSON).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use warden_bridge::protocol::{ErrorCode, Request, VERBS, decode_request};

const SID: &str = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f";

/// Strings a hostile caller would send.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("shell".to_string()),
        Just("main".to_string()),
        Just(SID.to_string()),
        Just("ma\u{0}in".to_string()),
        Just("a~1".to_string()),
        Just("../../etc".to_string()),
        Just("\u{3}".to_string()),
        Just("echo \u{1b}[2J".to_string()),
        Just("x".repeat(5000)),
        Just("(".to_string()),
        Just(r"\w{20}q1".to_string()),
        Just("y/N".to_string()),
        Just("enter".to_string()),
        Just("ctrl+c, down".to_string()),
        Just("feat/x".to_string()),
        Just("https://u:p@h/r.git".to_string()),
        "[\\x00-\\x1f a-z/~^:.@{}\\[\\]*?\\\\-]{0,24}",
        ".{0,40}",
    ]
}

/// Any JSON leaf, leaning on hostile values.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => nasty_string().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => prop_oneof![Just(0i64), Just(-1), Just(1), Just(4096), Just(4097), Just(i64::MIN), Just(i64::MAX)]
            .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or_default()),
    ]
}

/// Values that fit a field's shape (objects for the nested fields), or not.
fn value_for(field: &'static str) -> BoxedStrategy<Value> {
    let rule = (nasty_string(), prop_oneof![Just("text"), Just("keys"), Just("nudge")], leaf(), any::<bool>())
        .prop_map(|(pattern, kind, value, once)| json!({"pattern": pattern, "reply": {"type": kind, "value": value}, "once": once}));
    let shaped: BoxedStrategy<Value> = match field {
        "size" => (leaf(), leaf()).prop_map(|(r, c)| json!({"rows": r, "cols": c})).boxed(),
        "env" => proptest::collection::btree_map(nasty_string(), leaf(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        "rules" => proptest::collection::vec(rule, 0..4).prop_map(Value::from).boxed(),
        "loading" => proptest::collection::vec(nasty_string().prop_map(Value::from), 0..3).prop_map(Value::from).boxed(),
        "stall" => (leaf(), leaf(), any::<bool>())
            .prop_map(|(w, l, d)| json!({"window_ms": w, "loading_window_ms": l, "disabled": d, "ladder": [{"step": "notify"}]}))
            .boxed(),
        "restart_limits" => (leaf(), leaf()).prop_map(|(m, w)| json!({"max_restarts": m, "window_ms": w})).boxed(),
        "branch" => prop_oneof![
            nasty_string().prop_map(|n| json!({"from": "named", "name": n})),
            (nasty_string(), nasty_string(), nasty_string())
                .prop_map(|(t, r, s)| json!({"from": "task", "task_id": t, "role": r, "summary": s})),
        ]
        .boxed(),
        "commit" => (nasty_string(), any::<bool>()).prop_map(|(m, a)| json!({"message": m, "all": a})).boxed(),
        "push" => (any::<bool>(), nasty_string()).prop_map(|(f, r)| json!({"force": f, "remote": r})).boxed(),
        "pr" => (nasty_string(), nasty_string(), any::<bool>())
            .prop_map(|(t, b, d)| json!({"title": t, "base": b, "draft": d}))
            .boxed(),
        "reply" => (prop_oneof![Just("text"), Just("keys"), Just("bogus")], leaf())
            .prop_map(|(k, v)| json!({"type": k, "value": v}))
            .boxed(),
        "keys" => prop_oneof![
            nasty_string().prop_map(Value::from),
            proptest::collection::vec(nasty_string().prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
        .boxed(),
        "session" | "sessionId" => prop_oneof![3 => Just(Value::from(SID)), 1 => leaf()].boxed(),
        "v" => prop_oneof![3 => Just(Value::from(1)), 1 => leaf()].boxed(),
        _ => leaf().boxed(),
    };
    prop_oneof![4 => shaped, 1 => leaf()].boxed()
}

/// Every field name any verb takes (and one no verb takes).
const FIELDS: &[&str] = &[
    "v",
    "request_id",
    "agent",
    "agentType",
    "task",
    "workdir",
    "env",
    "size",
    "label",
    "supervision",
    "preset",
    "memory",
    "rules",
    "loading",
    "stall",
    "restart",
    "restart_limits",
    "session",
    "sessionId",
    "text",
    "input",
    "keys",
    "paste",
    "bracketed",
    "all",
    "grace_ms",
    "rows",
    "cols",
    "repo",
    "parent",
    "id",
    "branch",
    "base",
    "depth",
    "workspace",
    "commit",
    "push",
    "pr",
    "cleanup",
    "reply",
    "reason",
    "state",
    "client",
    "take",
    "bogus",
];

/// A request object: a handful of fields with values shaped for them.
fn request_object() -> impl Strategy<Value = Value> {
    proptest::collection::vec(proptest::sample::select(FIELDS), 0..7).prop_flat_map(|fields| {
        let values: Vec<BoxedStrategy<Value>> = fields.iter().map(|f| value_for(f)).collect();
        values.prop_map(move |vals| {
            let mut m = Map::new();
            for (f, v) in fields.iter().zip(vals) {
                m.insert((*f).to_string(), v);
            }
            Value::Object(m)
        })
    })
}

fn check(verb: &str, payload: &[u8]) -> Result<(), TestCaseError> {
    match decode_request(verb, payload, 1 << 16) {
        Ok((_, request)) => {
            // What the decoder let through is typed: a spawn's task and a
            // send's text are strings, every session id parsed.
            if let Request::SendToAgent(a) = &request {
                prop_assert!(a.input().is_ok());
            }
        }
        Err(e) => {
            prop_assert_ne!(e.code, ErrorCode::Internal, "{} {}: {}", verb, String::from_utf8_lossy(payload), e);
            prop_assert!(e.message.chars().count() <= 400);
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn every_verb_with_hostile_arguments_decodes_or_is_refused_precisely(
        verb_i in 0usize..VERBS.len() + 1,
        body in request_object(),
    ) {
        let verb = VERBS.get(verb_i).map(|e| e.name).unwrap_or("frobnicate");
        check(verb, body.to_string().as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The same requests cut short or with a byte flipped: never a panic,
    /// never `internal`.
    #[test]
    fn damaged_requests_are_refused_precisely(
        verb_i in 0usize..VERBS.len(),
        body in request_object(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let verb = VERBS[verb_i].name;
        let mut bytes = body.to_string().into_bytes();
        let at = flip.index(bytes.len());
        bytes[at] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        check(verb, &bytes)?;
    }
}

/// Control characters in a task, label or working directory are refused by
/// the decoder itself, before anything runs (issue 14, finding 7).
#[test]
fn control_characters_in_spawn_fields_are_bad_requests_at_the_edge() {
    for verb in ["spawn_agent", "create_task"] {
        for (field, value) in
            [("task", "\u{3}"), ("task", "echo \u{1b}[2J"), ("task", "a\rb"), ("label", "a\nb"), ("workdir", "a\u{0}b")]
        {
            let mut body = json!({"agent": "shell", "task": "echo ok"});
            body[field] = Value::from(value);
            let e = decode_request(verb, body.to_string().as_bytes(), 1 << 16).expect_err("refused");
            assert_eq!(e.code, ErrorCode::BadRequest, "{verb} {field} {value:?}: {e}");
            assert!(e.message.contains("control character"), "{e}");
        }
        let ok = json!({"agent": "shell", "task": "echo a\tb\nexit 0"});
        decode_request(verb, ok.to_string().as_bytes(), 1 << 16).expect("newlines and tabs are text");
    }
}
