//! How a session is supervised: approval presets, supervision levels,
//! auto-response rules, stall settings, and the provenance of every decision.
//!
//! Pure data shared by the adapters (which produce verdicts), the actors (which
//! act on them) and the wire (where callers set them).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::UnknownKey;
use crate::prompt::{ConfirmationKind, PromptMatch};
use crate::stall::{EscalationStep, StallConfig};
use crate::wire::wire_enum;

/// How much an agent may do without asking. Ordered: `readonly < standard < permissive
/// < autonomous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalPreset {
    /// Read and plan only.
    Readonly,
    /// Read freely; ask before writing or running commands.
    #[default]
    Standard,
    /// Read and write freely; ask before running commands.
    Permissive,
    /// Everything without asking (for sandboxes).
    Autonomous,
}

impl ApprovalPreset {
    /// Every preset, least to most permissive.
    pub const ALL: [ApprovalPreset; 4] =
        [ApprovalPreset::Readonly, ApprovalPreset::Standard, ApprovalPreset::Permissive, ApprovalPreset::Autonomous];

    /// The name (`readonly`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPreset::Readonly => "readonly",
            ApprovalPreset::Standard => "standard",
            ApprovalPreset::Permissive => "permissive",
            ApprovalPreset::Autonomous => "autonomous",
        }
    }

    /// Parses a name (case-insensitive; `read-only`, `yolo` accepted).
    pub fn parse(s: &str) -> Option<ApprovalPreset> {
        match s.trim().to_ascii_lowercase().as_str() {
            "readonly" | "read-only" | "read_only" => Some(ApprovalPreset::Readonly),
            "standard" | "default" => Some(ApprovalPreset::Standard),
            "permissive" => Some(ApprovalPreset::Permissive),
            "autonomous" | "yolo" => Some(ApprovalPreset::Autonomous),
            _ => None,
        }
    }
}

impl fmt::Display for ApprovalPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a detector said what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Adapter name.
    pub adapter: String,
    /// Rule id.
    pub rule: String,
    /// The region the rule looked at (`bottom:3`).
    pub region: String,
    /// The matched text: the line the match starts on, trimmed, at most 200 characters.
    pub evidence: String,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} in {}: {:?}", self.adapter, self.rule, self.region, self.evidence)
    }
}

/// What warden may do on its own when the screen asks something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisionLevel {
    /// Safe rules and classifier suggestions are applied; other prompts become
    /// pending confirmations.
    #[default]
    Autonomous,
    /// Every suggested answer becomes a pending confirmation for a caller.
    Confirm,
    /// Nothing is typed; events only.
    Notify,
}

impl SupervisionLevel {
    /// The name (`autonomous`).
    pub fn as_str(self) -> &'static str {
        match self {
            SupervisionLevel::Autonomous => "autonomous",
            SupervisionLevel::Confirm => "confirm",
            SupervisionLevel::Notify => "notify",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Option<SupervisionLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "autonomous" | "auto" => Some(SupervisionLevel::Autonomous),
            "confirm" => Some(SupervisionLevel::Confirm),
            "notify" | "observe" => Some(SupervisionLevel::Notify),
            _ => None,
        }
    }
}

impl fmt::Display for SupervisionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule sends when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Text, typed and submitted the adapter's way (Enter included).
    Text(String),
    /// Named keys (`enter`, `down`, `ctrl-c`, …), sent as they are.
    Keys(Vec<String>),
}

impl Reply {
    /// Parses the command-line form: `keys:down,enter` sends keys, anything else is text.
    /// Key names are not checked here (sending them is).
    pub fn parse(s: &str) -> Reply {
        match s.strip_prefix("keys:") {
            Some(keys) => {
                Reply::Keys(keys.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect())
            }
            None => Reply::Text(s.to_string()),
        }
    }

    /// Parses the manifest form: `keys:down,enter` (prefix in any case, names checked
    /// against the key table and made canonical) sends keys, anything else is text.
    pub fn parse_checked(s: &str) -> Result<Reply, UnknownKey> {
        let t = s.trim_start();
        match t.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("keys:") => crate::keys::parse_key_list(t).map(Reply::Keys),
            _ => Ok(Reply::Text(s.to_string())),
        }
    }

    /// A short description for events: the text, or `keys:a,b` (the [`fmt::Display`] form).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

/// The one rendering of a reply as text: the text itself, or `keys:a,b`
/// (the form [`Reply::parse`] reads back).
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Text(t) => f.write_str(t),
            Reply::Keys(k) => write!(f, "keys:{}", k.join(",")),
        }
    }
}

wire_enum! {
    /// Where a rule comes from (`source` of `auto_responded`).
    pub enum RuleSource {
        /// The session's spec (given at spawn).
        Session = "session",
        /// Added at run time (`add_rules`).
        Runtime = "runtime",
        /// The adapter's built-in rules.
        Adapter = "adapter",
    }
}

/// An auto-response rule given by a caller (the adapters' built-in rules have
/// the same meaning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    /// Rule id, unique within the session (generated when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Regular expression matched against the screen text (multi-line mode).
    pub pattern: String,
    /// What to send.
    pub reply: Reply,
    /// Fire at most once per session.
    #[serde(default)]
    pub once: bool,
    /// Safe to answer without asking (a caller's own rules are, unless they say not).
    #[serde(default = "yes")]
    pub safe: bool,
    /// What the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

/// Errors in a caller's rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleSpecError {
    /// `REGEX=RESPONSE` without `=`.
    #[error("rule `{0}` has no `=`; write it as REGEX=RESPONSE (e.g. 'Proceed\\? \\[y/N\\]=y' or '=keys:down,enter')")]
    MissingEquals(String),
    /// The pattern is empty.
    #[error("rule `{0}` has an empty pattern")]
    EmptyPattern(String),
}

impl ResponseRule {
    /// A safe, repeatable rule.
    pub fn new(pattern: impl Into<String>, reply: Reply) -> Self {
        ResponseRule { id: None, pattern: pattern.into(), reply, once: false, safe: true, description: None }
    }

    /// Parses the command-line form `REGEX=RESPONSE`, split at the last `=`
    /// (a response written `keys:down,enter` sends keys).
    pub fn parse_cli(s: &str) -> Result<ResponseRule, RuleSpecError> {
        let shown: String = s.chars().take(80).collect();
        let Some((pattern, reply)) = s.rsplit_once('=') else {
            return Err(RuleSpecError::MissingEquals(shown));
        };
        if pattern.is_empty() {
            return Err(RuleSpecError::EmptyPattern(shown));
        }
        Ok(ResponseRule::new(pattern, Reply::parse(reply)))
    }
}

/// The auto-responder's loop guard: a rule that answered `max_answers` times
/// within `window_ms` asks a caller (a pending confirmation) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopGuard {
    /// Answers allowed within the window (default 3).
    pub max_answers: u32,
    /// The window (default 30000).
    pub window_ms: u64,
}

impl Default for LoopGuard {
    fn default() -> Self {
        LoopGuard { max_answers: 3, window_ms: 30_000 }
    }
}

/// Stall detection settings of one session; absent fields take the defaults
/// of [`StallConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallSpec {
    /// Turn stall detection off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Quiet time before a busy agent is stalled (default 8000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// Cap of the window after `still_working` answers (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_window_ms: Option<u64>,
    /// Quiet time while only a spinner moves (default 60000, and never below `window_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loading_window_ms: Option<u64>,
    /// The escalation ladder (default notify, escape, nudge, restart, fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Vec<EscalationStep>>,
}

impl StallSpec {
    /// The tracker configuration these settings give.
    pub fn config(&self) -> StallConfig {
        let d = StallConfig::default();
        let window = self.window_ms.map(Duration::from_millis).unwrap_or(d.window).max(Duration::from_millis(10));
        let max_window = self.max_window_ms.map(Duration::from_millis).unwrap_or(d.max_window.max(window)).max(window);
        let loading_window = self
            .loading_window_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| if self.window_ms.is_some() { window * 8 } else { d.loading_window })
            .max(window);
        StallConfig { window, max_window, loading_window, ladder: self.ladder.clone().unwrap_or(d.ladder) }
    }
}

/// The screen of a session at one moment (`Warden::snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenSnapshot {
    /// Rows of the terminal.
    pub rows: u16,
    /// Columns of the terminal.
    pub cols: u16,
    /// The visible rows as text, trailing blanks trimmed, joined with `\n`.
    pub text: String,
    /// Cursor row (0-based).
    pub cursor_row: u16,
    /// Cursor column (0-based).
    pub cursor_col: u16,
    /// Whether the program shows its cursor.
    pub cursor_visible: bool,
    /// The terminal title the program set (OSC 0/2), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Whether the alternate screen (full-screen TUI mode) is active.
    pub alternate_screen: bool,
    /// Output bytes the screen has consumed so far.
    pub bytes: u64,
    /// The input modes the program turned on (mouse, bracketed paste, focus,
    /// keyboard protocols): a terminal that starts showing it (`warden
    /// attach`) turns them on too. Absent when none is on.
    #[serde(default, skip_serializing_if = "crate::term::InputModes::is_empty")]
    pub input_modes: crate::term::InputModes,
    /// While the alternate screen is shown, the main screen under it: a terminal that
    /// starts showing the session draws it before entering the alternate screen, so
    /// that the program's leaving that screen shows it again. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_screen: Option<MainScreen>,
    /// The shown screen's scroll region, origin, insert and wrap modes and character
    /// set: a terminal that starts showing the session sets them after the text, so
    /// that later output lands where it lands on the session's screen. Absent when all
    /// are as a terminal starts.
    #[serde(default, skip_serializing_if = "crate::term::OutputModes::is_default")]
    pub output_modes: crate::term::OutputModes,
}

/// The main screen of a session while the alternate screen is shown over it
/// ([`ScreenSnapshot::main_screen`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MainScreen {
    /// Its rows as text, as [`ScreenSnapshot::text`].
    pub text: String,
    /// Its cursor row (0-based): where leaving the alternate screen puts the cursor.
    pub cursor_row: u16,
    /// Its cursor column (0-based).
    pub cursor_col: u16,
}

/// Whether input reached the agent (`Warden::send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Number of the input within the session.
    pub input: u64,
    /// True when the screen showed the input taken.
    pub delivered: bool,
    /// What showed it, or why it counts as undelivered.
    pub detail: String,
}

/// A prompt waiting for a caller's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirmation {
    /// Id to answer with.
    pub id: String,
    /// The prompt kind (`permission`, `trust`, …, or `rule` for a caller's rule).
    pub prompt_kind: ConfirmationKind,
    /// The prompt's text.
    pub prompt: String,
    /// The choices on screen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The suggested answer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested: Option<Reply>,
    /// Why it was not answered automatically.
    pub reason: String,
    /// The rule that recognised it (as in `confirmation_pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Which prompt on screen it is, for the node that holds it (not sent: a
    /// received confirmation has none).
    #[serde(skip)]
    pub on_screen: Option<PromptMatch>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_rules_split_at_the_last_equals() {
        let r = ResponseRule::parse_cli(r"Proceed\? \[y/N\]=y").expect("rule");
        assert_eq!(r.pattern, r"Proceed\? \[y/N\]");
        assert_eq!(r.reply, Reply::Text("y".into()));
        assert!(r.safe && !r.once);
        let r = ResponseRule::parse_cli("a=b=keys:down, enter").expect("rule");
        assert_eq!(r.pattern, "a=b");
        assert_eq!(r.reply, Reply::Keys(vec!["down".into(), "enter".into()]));
        assert!(matches!(ResponseRule::parse_cli("no equals"), Err(RuleSpecError::MissingEquals(_))));
        assert!(matches!(ResponseRule::parse_cli("=y"), Err(RuleSpecError::EmptyPattern(_))));
    }

    #[test]
    fn replies_render_keys_in_one_form() {
        assert_eq!(Reply::Keys(vec!["down".into(), "enter".into()]).to_string(), "keys:down,enter");
        assert_eq!(Reply::Text("y".into()).to_string(), "y");
        assert_eq!(Reply::parse(&Reply::Keys(vec!["down".into()]).to_string()), Reply::Keys(vec!["down".into()]));
        assert_eq!(Reply::parse_checked(" KEYS: Down, enter"), Ok(Reply::Keys(vec!["down".into(), "enter".into()])));
        assert_eq!(Reply::parse_checked("y"), Ok(Reply::Text("y".into())));
        assert!(Reply::parse_checked("keys:down,jump").is_err());
    }

    #[test]
    fn rule_sources_travel_as_documented() {
        crate::wire::tests::round_trips(RuleSource::ALL, |s| s.as_str(), &["session", "runtime", "adapter"]);
    }

    #[test]
    fn pending_confirmations_keep_their_identity_to_themselves() {
        let p = PendingConfirmation {
            id: "c1".into(),
            prompt_kind: ConfirmationKind::Rule,
            prompt: "Proceed? [y/N]".into(),
            choices: Vec::new(),
            suggested: Some(Reply::Text("y".into())),
            reason: "supervision level is confirm".into(),
            rule: Some("proceed".into()),
            on_screen: Some(PromptMatch { rule: "proceed".into(), line: 4, matched: "Proceed? [y/N]".into() }),
        };
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(
            json,
            r#"{"id":"c1","prompt_kind":"rule","prompt":"Proceed? [y/N]","suggested":{"type":"text","value":"y"},"reason":"supervision level is confirm","rule":"proceed"}"#
        );
        let back: PendingConfirmation = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, PendingConfirmation { on_screen: None, ..p });
    }

    #[test]
    fn a_snapshot_from_a_node_before_the_main_screen_and_output_modes_parses() {
        let old = r#"{"rows":24,"cols":80,"text":"$","cursor_row":0,"cursor_col":1,"cursor_visible":true,"alternate_screen":true,"bytes":9}"#;
        let snap: ScreenSnapshot = serde_json::from_str(old).expect("parses");
        assert_eq!((&snap.main_screen, snap.output_modes), (&None, crate::term::OutputModes::default()));
        // And a snapshot with them off writes neither.
        let again = serde_json::to_string(&snap).expect("json");
        assert_eq!(again, old);
    }

    #[test]
    fn a_snapshot_over_the_alternate_screen_carries_the_main_screen() {
        let snap = ScreenSnapshot {
            rows: 24,
            cols: 80,
            text: "tui".into(),
            cursor_row: 0,
            cursor_col: 3,
            cursor_visible: true,
            title: String::new(),
            alternate_screen: true,
            bytes: 20,
            input_modes: Default::default(),
            main_screen: Some(MainScreen { text: "$ vi".into(), cursor_row: 0, cursor_col: 4 }),
            output_modes: crate::term::OutputModes { insert: true, ..Default::default() },
        };
        let json = serde_json::to_string(&snap).expect("json");
        assert!(
            json.ends_with(
                r#""main_screen":{"text":"$ vi","cursor_row":0,"cursor_col":4},"output_modes":{"insert":true}}"#
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ScreenSnapshot>(&json).expect("parses"), snap);
    }

    #[test]
    fn stall_spec_defaults_and_overrides() {
        let c = StallSpec::default().config();
        assert_eq!(c, StallConfig::default());
        let c = StallSpec { window_ms: Some(500), ..Default::default() }.config();
        assert_eq!(c.window, Duration::from_millis(500));
        assert_eq!(c.loading_window, Duration::from_secs(4));
        assert!(c.max_window >= c.window);
    }

    #[test]
    fn levels_parse_and_print() {
        for l in [SupervisionLevel::Autonomous, SupervisionLevel::Confirm, SupervisionLevel::Notify] {
            assert_eq!(SupervisionLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(SupervisionLevel::parse("x"), None);
        let json = serde_json::to_string(&ResponseRule::new("x", Reply::Keys(vec!["enter".into()]))).expect("json");
        assert_eq!(json, r#"{"pattern":"x","reply":{"type":"keys","value":["enter"]},"once":false,"safe":true}"#);
    }
}
