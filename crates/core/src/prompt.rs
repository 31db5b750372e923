//! What a screen asks, as types: the kind of a blocking prompt, the kind of a
//! login, and a pending confirmation's kind, identity and outcome.
//!
//! The adapters produce prompt and login kinds, the actors put them in events,
//! the bridge sends them: each is one enum here, serialised to the strings
//! docs/PROTOCOL.md documents.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire::wire_enum;

wire_enum! {
    /// The type of a blocking prompt (`kind` of a manifest's blocking rule,
    /// `prompt_kind` in events).
    pub enum PromptKind {
        /// May the agent run a command / edit a file?
        Permission = "permission",
        /// Do you trust this folder?
        Trust = "trust",
        /// An update is available.
        Update = "update",
        /// Terms, risk acceptance, notices to acknowledge.
        Tos = "tos",
        /// Choose a model.
        ModelSelect = "model_select",
        /// Choose a project/directory.
        ProjectSelect = "project_select",
        /// A setup question (theme, analytics, .gitignore, API key use).
        Config = "config",
        /// A login step (choose a method, paste a key).
        Login = "login",
        /// The account is out of quota or rate-limited.
        UsageLimit = "usage_limit",
        /// The provider cannot be reached (DNS, connection refused, offline).
        ProviderUnreachable = "provider_unreachable",
        /// The provider answered with an error (overloaded, 5xx, stream stalled).
        ProviderError = "provider_error",
        /// A prompt of no known type.
        Unknown = "unknown",
    }
}

wire_enum! {
    /// The kind of a login the agent asks for (`kind` of a manifest's login
    /// rule, `login_kind` in events).
    pub enum LoginKind {
        /// A browser sign-in: open a URL (and maybe paste a code back).
        Oauth = "oauth",
        /// An API key is missing or invalid.
        ApiKey = "api_key",
        /// The CLI's own login command is needed (`/login`, `codex login`).
        CliAuth = "cli_auth",
        /// A menu of sign-in methods.
        Choices = "choices",
        /// A device code to enter on another device.
        DeviceCode = "device_code",
        /// The device-code flow failed.
        DeviceCodeFailed = "device_code_failed",
        /// A login step shown as a blocking prompt (`blocking:login`).
        Login = "login",
        /// A login rule that names no kind.
        Unknown = "unknown",
    }
}

wire_enum! {
    /// How a pending confirmation ended (`outcome` of `confirmation_resolved`
    /// and of the `confirm` / `decline` replies).
    pub enum ConfirmationOutcome {
        /// A caller answered it; the answer was typed.
        Answered = "answered",
        /// A caller declined it; nothing was typed.
        Declined = "declined",
        /// The prompt left the screen before anyone answered.
        Gone = "gone",
        /// A person answered it on the agent's screen: raw input with an Enter
        /// (an attached terminal, `warden run`) reached the agent while it was
        /// pending. Nothing of warden's was typed.
        OnScreen = "on_screen",
    }
}

/// What a pending confirmation is about (`prompt_kind` of
/// `confirmation_pending` and of `pending_confirmations`): an adapter's prompt
/// of some kind, or a match of a caller's rule (`rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfirmationKind {
    /// An adapter's built-in prompt.
    Prompt(PromptKind),
    /// A caller's rule matched.
    Rule,
}

impl ConfirmationKind {
    /// The name on the wire: the prompt kind, or `rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationKind::Prompt(k) => k.as_str(),
            ConfirmationKind::Rule => "rule",
        }
    }

    /// Parses the name on the wire.
    pub fn parse(s: &str) -> Option<ConfirmationKind> {
        match s {
            "rule" => Some(ConfirmationKind::Rule),
            other => PromptKind::parse(other).map(ConfirmationKind::Prompt),
        }
    }
}

impl From<PromptKind> for ConfirmationKind {
    fn from(k: PromptKind) -> Self {
        ConfirmationKind::Prompt(k)
    }
}

impl fmt::Display for ConfirmationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ConfirmationKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ConfirmationKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ConfirmationKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConfirmationKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ConfirmationKind::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown prompt kind `{s}`; expected `rule` or a prompt kind"))
        })
    }
}

/// The identity of one prompt on screen: the rule that recognised it, the
/// absolute line it is on (it follows the content as the screen scrolls) and
/// the matched text. A prompt is answered (or asked about) once per identity;
/// the same identity on a later look is the same prompt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptMatch {
    /// The rule: a caller's rule id, or `adapter/rule` for an adapter's.
    pub rule: String,
    /// The absolute line the match is on.
    pub line: u64,
    /// The matched text (at most 200 characters).
    pub matched: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::round_trips;

    #[test]
    fn prompt_kinds_travel_as_documented() {
        round_trips(
            PromptKind::ALL,
            |k| k.as_str(),
            &[
                "permission",
                "trust",
                "update",
                "tos",
                "model_select",
                "project_select",
                "config",
                "login",
                "usage_limit",
                "provider_unreachable",
                "provider_error",
                "unknown",
            ],
        );
    }

    #[test]
    fn login_kinds_travel_as_documented() {
        round_trips(
            LoginKind::ALL,
            |k| k.as_str(),
            &["oauth", "api_key", "cli_auth", "choices", "device_code", "device_code_failed", "login", "unknown"],
        );
    }

    #[test]
    fn outcomes_travel_as_documented() {
        round_trips(ConfirmationOutcome::ALL, |o| o.as_str(), &["answered", "declined", "gone", "on_screen"]);
        assert!(ConfirmationOutcome::Answered == "answered");
    }

    #[test]
    fn confirmation_kinds_are_rule_or_a_prompt_kind() {
        let all: Vec<ConfirmationKind> =
            std::iter::once(ConfirmationKind::Rule).chain(PromptKind::ALL.iter().map(|k| (*k).into())).collect();
        for k in &all {
            let json = serde_json::to_string(k).expect("serialises");
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<ConfirmationKind>(&json).expect("parses"), *k);
        }
        assert_eq!(serde_json::to_string(&ConfirmationKind::Rule).expect("json"), r#""rule""#);
        assert_eq!(ConfirmationKind::from(PromptKind::Trust), "trust");
        assert!(serde_json::from_str::<ConfirmationKind>(r#""nope""#).is_err());
    }
}
