//! The detector's and the responder's policies on the captured screens of
//! every adapter, step by step, with an injected clock: no PTY, no actor, no
//! real time.
//!
//! A table is one session. Each row is `MS STEP | EFFECTS`:
//!
//! - `MS`: the time of the step, in milliseconds since the session started.
//! - `STEP`:
//!   - `NAME`: the screen changes to fixture `NAME` (a capture from
//!     `crates/adapters/tests/screens/<adapter>/NAME.esc.txt`, else `NAME.txt`,
//!     parsed by `warden_core::term::Screen` at 120×40; or a screen the
//!     table defines inline). The detector and the responder look at it.
//!   - `tick`: the clock only (the detector's timer; the responder looks if
//!     it asked to be woken by then).
//!   - `type TEXT`: warden types `TEXT` (a task or a `send`).
//!   - `classified ANSWER`: the classifier answers about the last stall.
//!   - `restart`: a new process of the session starts (new pid, same screen).
//! - `EFFECTS`: what the step must produce, in order (nothing when empty):
//!   `state:S` a move of the session to `S` (moves the state machine drops
//!   are not listed), `blocking_prompt:KIND`, `login_required:KIND`,
//!   `task_complete`, `stalled`, `classified:ANSWER:SOURCE`,
//!   `escalated:INDEX`, `auto_responded:RULE`, `pending:ID:KIND`,
//!   `resolved:ID:OUTCOME`, `typed:REPLY` (what warden types: `keys:enter`,
//!   `y`), `ask_classifier`, `restart_agent`, `fail`.
//!
//! A failing table prints the whole table as it ran, ready to paste.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use warden_adapters::{Adapter, ApprovalPreset, InputStyle, Registry};
use warden_core::stall::{Classification, StallConfig};
use warden_core::term::Screen;
use warden_core::{EventKind, LoopGuard, PendingConfirmation, Reply, ResponseRule, SessionState, SupervisionLevel};

use super::detect::{self, DetectConfig, DetectorMemory, Moment};
use super::respond::{self, Answer, CompiledRule, Input, RespondConfig};
use super::view::{Look, View};

const ROWS: u16 = 40;
const COLS: u16 = 120;

/// How a table's session is set up.
struct Setup {
    adapter: &'static str,
    supervision: SupervisionLevel,
    preset: ApprovalPreset,
    stall: StallConfig,
    /// Caller rules (`REGEX=REPLY`).
    rules: Vec<&'static str>,
    /// The task typed once the agent is first ready.
    task_on_ready: Option<&'static str>,
    /// Screens defined by the table (name, text).
    screens: Vec<(&'static str, &'static str)>,
}

impl Setup {
    fn new(adapter: &'static str) -> Self {
        Setup {
            adapter,
            supervision: SupervisionLevel::Autonomous,
            preset: ApprovalPreset::Standard,
            stall: StallConfig::default(),
            rules: Vec::new(),
            task_on_ready: None,
            screens: Vec::new(),
        }
    }

    fn preset(mut self, preset: ApprovalPreset) -> Self {
        self.preset = preset;
        self
    }

    fn supervision(mut self, level: SupervisionLevel) -> Self {
        self.supervision = level;
        self
    }

    fn rule(mut self, rule: &'static str) -> Self {
        self.rules.push(rule);
        self
    }

    fn task_on_ready(mut self, task: &'static str) -> Self {
        self.task_on_ready = Some(task);
        self
    }

    fn screen(mut self, name: &'static str, text: &'static str) -> Self {
        self.screens.push((name, text));
        self
    }

    fn stall_window(mut self, window: Duration, loading_window: Duration) -> Self {
        self.stall.window = window;
        self.stall.loading_window = loading_window;
        self
    }
}

/// One session driven by a table: the two policies, and what their actors
/// would do with the effects (the session's state machine, the pending
/// confirmations, the task waiting for the first ready prompt).
struct Session {
    setup: Setup,
    adapter: &'static Adapter,
    rules: Vec<CompiledRule>,
    origin: Instant,
    state: SessionState,
    pid: u32,
    detector: DetectorMemory,
    responder: respond::Memory,
    pending: Vec<PendingConfirmation>,
    responder_wake: Option<Instant>,
    stall_no: u64,
    task: Option<String>,
    look: Option<Look>,
}

impl Session {
    fn new(setup: Setup) -> Self {
        let adapter = Registry::builtin().get(setup.adapter).unwrap_or_else(|| panic!("adapter {}", setup.adapter));
        let specs: Vec<ResponseRule> = setup
            .rules
            .iter()
            .map(|r| ResponseRule::parse_cli(r).unwrap_or_else(|e| panic!("rule {r}: {e}")))
            .collect();
        let rules = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| CompiledRule {
                id: format!("rule-{}", i + 1),
                source: warden_core::RuleSource::Session,
                regex: respond::Pattern::builder()
                    .syntax(regex_automata::util::syntax::Config::new().multi_line(true))
                    .build(&spec.pattern)
                    .expect("rule compiles"),
                spec,
            })
            .collect();
        let state = SessionState::Starting;
        let detector = DetectorMemory::new(&detect_config(&setup.stall, adapter), Some(1), state, Duration::ZERO);
        Session {
            task: setup.task_on_ready.map(str::to_string),
            setup,
            adapter,
            rules,
            origin: Instant::now(),
            state,
            pid: 1,
            detector,
            responder: respond::Memory::default(),
            pending: Vec::new(),
            responder_wake: None,
            stall_no: 0,
            look: None,
        }
    }

    fn moment(&self, now: Duration) -> Moment {
        Moment { now, state: self.state, running: true }
    }

    fn look(&self) -> Look {
        self.look.clone().expect("a screen before the first tick")
    }

    /// Runs one step; returns what it produced.
    fn step(&mut self, now: Duration, step: &str) -> Vec<String> {
        let mut out = Vec::new();
        let stall = self.setup.stall.clone();
        let cfg = detect_config(&stall, self.adapter);
        match step.split_once(' ').unwrap_or((step, "")) {
            ("tick", _) => {
                let look = self.look();
                let effects = self.detector.tick(self.moment(now), &cfg, || look.clone());
                self.detect_effects(now, effects, &mut out);
                if self.responder_wake.is_some_and(|at| at <= self.origin + now) {
                    self.responder_wake = None;
                    self.respond(now, &mut out);
                }
            }
            ("type", text) => {
                self.responder.note_typed(text);
                out.push(format!("typed:{text}"));
                let effects = self.detector.input_sent(self.moment(now));
                self.detect_effects(now, effects, &mut out);
            }
            ("classified", answer) => {
                let answer: Classification =
                    serde_json::from_value(serde_json::Value::String(answer.into())).expect("a classification");
                let effects = self.detector.classified(self.moment(now), self.stall_no, answer, "test".into());
                self.detect_effects(now, effects, &mut out);
            }
            ("restart", _) => {
                self.pid += 1;
                self.detector.process(&cfg, Some(self.pid), now);
                self.respond(now, &mut out);
            }
            (name, _) => {
                let look = self.read(name);
                self.look = Some(look.clone());
                let effects = self.detector.observe(self.moment(now), &cfg, || look);
                self.detect_effects(now, effects, &mut out);
                self.respond(now, &mut out);
            }
        }
        out
    }

    /// The screen `name` as warden's terminal shows it, and the adapter's verdict.
    fn read(&self, name: &str) -> Look {
        let bytes = match self.setup.screens.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => text.as_bytes().to_vec(),
            None => fixture(self.setup.adapter, name),
        };
        look_at(self.adapter, &bytes)
    }

    fn respond(&mut self, now: Duration, out: &mut Vec<String>) {
        if !self.state.is_live() {
            return;
        }
        let look = self.look();
        let cfg = RespondConfig {
            supervision: self.setup.supervision,
            preset: self.setup.preset,
            loop_guard: LoopGuard::default(),
            tui: matches!(self.adapter.input, InputStyle::Paste { .. }),
        };
        let input = Input {
            now: self.origin + now,
            pid: Some(self.pid),
            look: &look,
            rules: &self.rules,
            pending: &self.pending,
        };
        for effect in self.responder.look(&input, &cfg) {
            match effect {
                respond::Effect::Send(answer) => out.push(format!("typed:{}", answer.describe())),
                respond::Effect::Forget { id } => {
                    if let Some(at) = self.pending.iter().position(|p| p.id == id) {
                        self.pending.remove(at);
                        out.push(format!("resolved:{id}:gone"));
                    }
                }
                respond::Effect::Ask(p) => self.pending.push(p),
                respond::Effect::Publish(event) => out.push(describe(&event)),
                respond::Effect::WakeAt(at) => self.responder_wake = Some(at),
            }
        }
    }

    fn detect_effects(&mut self, now: Duration, effects: Vec<detect::Effect>, out: &mut Vec<String>) {
        for effect in effects {
            match effect {
                detect::Effect::Transition(t) => {
                    if self.state != t.to && warden_core::check_transition(self.state, t.to).is_ok() {
                        self.state = t.to;
                        out.push(format!("state:{}", t.to));
                    }
                }
                detect::Effect::Publish(event) => {
                    if let EventKind::Stalled { .. } = event {
                        self.stall_no += 1;
                    }
                    out.push(describe(&event));
                }
                detect::Effect::Type(reply) => out.push(format!("typed:{}", reply.describe())),
                detect::Effect::TypeWaitingTask => {
                    if let Some(task) = self.task.take() {
                        self.responder.note_typed(&task);
                        out.push(format!("typed:{task}"));
                        let effects = self.detector.input_sent(self.moment(now));
                        self.detect_effects(now, effects, out);
                    }
                }
                detect::Effect::ClassifyStall { stall_no, .. } => {
                    assert_eq!(stall_no, self.stall_no);
                    out.push("ask_classifier".into());
                }
                detect::Effect::RestartAgent { .. } => out.push("restart_agent".into()),
                detect::Effect::Fail { .. } => out.push("fail".into()),
            }
        }
    }
}

fn detect_config<'a>(stall: &'a StallConfig, adapter: &Adapter) -> DetectConfig<'a> {
    DetectConfig { stall, stall_enabled: true, settle: Duration::from_millis(adapter.ready_settle_ms) }
}

/// The bytes of a captured screen (the coloured capture when there is one).
fn fixture(adapter: &str, name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/tests/screens").join(adapter);
    let esc = dir.join(format!("{name}.esc.txt"));
    let path = if esc.exists() { esc } else { dir.join(format!("{name}.txt")) };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Draws a captured screen on a fresh terminal and reads it as the actors do.
fn look_at(adapter: &Adapter, bytes: &[u8]) -> Look {
    let mut screen = Screen::new(ROWS, COLS);
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    screen.process(lines.join("\r\n").as_bytes());
    let view = view_of(&mut screen);
    let verdict = adapter.classify(&view.screen_view());
    Look { view, verdict }
}

fn view_of(screen: &mut Screen) -> View {
    View {
        text: screen.text(),
        scrollback: screen.scrollback(),
        title: screen.title().to_string(),
        cursor: screen.cursor(),
        cols: screen.size().1,
        scrolled: screen.scrolled(),
        command: screen.command_status(),
    }
}

fn describe(event: &EventKind) -> String {
    match event {
        EventKind::BlockingPrompt { prompt_kind, .. } => format!("blocking_prompt:{prompt_kind}"),
        EventKind::LoginRequired { login_kind, .. } => format!("login_required:{login_kind}"),
        EventKind::TaskComplete { .. } => "task_complete".into(),
        EventKind::Stalled { .. } => "stalled".into(),
        EventKind::StallClassified { answer, source, .. } => {
            let answer = serde_json::to_value(answer).expect("serialises");
            format!("classified:{}:{source}", answer.as_str().unwrap_or_default())
        }
        EventKind::Escalated { index, .. } => format!("escalated:{index}"),
        EventKind::AutoResponded { rule, .. } => format!("auto_responded:{rule}"),
        EventKind::ConfirmationPending { id, prompt_kind, .. } => format!("pending:{id}:{prompt_kind}"),
        EventKind::ConfirmationResolved { id, outcome, .. } => format!("resolved:{id}:{outcome}"),
        EventKind::Error { .. } => "error".into(),
        other => format!("{other:?}"),
    }
}

/// Runs a table against a session set up by `setup`; on a mismatch, panics
/// with the table as it ran.
fn check(setup: Setup, table: &str) {
    let mut session = Session::new(setup);
    let mut want = Vec::new();
    let mut got = Vec::new();
    for row in table.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (step, effects) = row.split_once('|').unwrap_or((row, ""));
        let (ms, step) = step.trim().split_once(char::is_whitespace).unwrap_or_else(|| panic!("row {row:?}"));
        let at: u64 = ms.parse().unwrap_or_else(|_| panic!("row {row:?}: time"));
        let step = step.trim();
        let effects: Vec<&str> = effects.split_whitespace().collect();
        want.push(format!("{at:>6} {step:<32} | {}", effects.join(" ")));
        let out = session.step(Duration::from_millis(at), step);
        got.push(format!("{at:>6} {step:<32} | {}", out.join(" ")));
    }
    let (want, got) = (want.join("\n"), got.join("\n"));
    assert!(want == got, "\n--- want\n{want}\n--- got\n{got}\n");
}

// ---- claude ---------------------------------------------------------------------------

/// The first run of Claude Code with an API key: each onboarding dialog is
/// answered once, 400 ms after it is drawn (Ink drops keys sent while a dialog
/// mounts); the ready prompt makes the session ready after the settle time,
/// and the task waiting for it is typed then.
#[test]
fn claude_onboarding_is_answered_once_per_dialog_then_the_task_is_typed() {
    check(
        Setup::new("claude").task_on_ready("fix the bug"),
        "
        0     onboarding-theme           | state:blocked blocking_prompt:config
        100   onboarding-theme           |
        399   tick                       |
        400   tick                       | auto_responded:claude/onboarding-theme typed:keys:enter
        500   onboarding-security-notes  | blocking_prompt:tos
        900   tick                       | auto_responded:claude/security-notes typed:keys:enter
        1000  trust-folder               | blocking_prompt:trust
        1400  tick                       | auto_responded:claude/trust-folder typed:keys:down,enter
        1500  ready-fake-key             |
        4499  tick                       |
        4500  tick                       | state:ready typed:fix the bug state:busy
        ",
    );
}

/// A dialog still up, unchanged, 1.5 s after its answer is answered again;
/// a redraw of the same dialog before then is not.
#[test]
fn claude_dialog_that_stays_is_answered_again_after_a_while() {
    check(
        Setup::new("claude"),
        "
        0     trust-folder     | state:blocked blocking_prompt:trust
        400   tick             | auto_responded:claude/trust-folder typed:keys:down,enter
        700   trust-folder     |
        1899  tick             |
        1900  tick             | auto_responded:claude/trust-folder typed:keys:down,enter
        ",
    );
}

/// Login screens: one `login_required` per login (the same rule and URL is
/// the same login, whatever the screen around it), none answered; the OAuth
/// URL is a new login.
#[test]
fn claude_login_is_reported_once_per_login_screen() {
    check(
        Setup::new("claude"),
        "
        0     ready-not-logged-in   | state:authenticating login_required:cli_auth
        100   ready-not-logged-in   |
        200   prompt-not-logged-in  |
        300   login-method          |
        400   login-method          |
        800   tick                  |
        900   login-oauth-url       | login_required:oauth
        1000  login-oauth-url       |
        ",
    );
}

/// A busy turn that ends at the ready prompt completes after the settle
/// time; a redraw of the busy screen in between cancels the settle.
#[test]
fn claude_turn_completes_after_the_settle_time() {
    check(
        Setup::new("claude"),
        "
        0     ready-fake-key                 |
        3000  tick                           | state:ready
        3100  type hi                        | typed:hi state:busy
        3200  provider-unreachable-retrying  | state:blocked blocking_prompt:provider_unreachable
        3300  ready-fake-key                 |
        4000  provider-unreachable-retrying  | blocking_prompt:provider_unreachable
        4100  ready-fake-key                 |
        7099  tick                           |
        7100  tick                           | state:ready task_complete
        ",
    );
}

/// Permission prompts (drawn from Claude Code's strings): at the standard
/// preset a command is not answered but becomes a pending confirmation, and
/// the confirmation is gone when the prompt leaves the screen; an edit is
/// answered at the permissive preset only.
#[test]
fn claude_unsafe_prompt_becomes_a_pending_confirmation() {
    const PROCEED: &str =
        "● Bash(rm -rf build)\n\n Bash command\n   rm -rf build\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n";
    const EDIT: &str = " Edit file\n src/main.rs\n Do you want to make this edit to main.rs?\n ❯ 1. Yes\n   2. No\n";
    check(
        Setup::new("claude").screen("proceed", PROCEED).screen("edit", EDIT),
        "
        0     proceed          | state:blocked blocking_prompt:permission pending:c1:permission
        400   tick             |
        500   proceed          |
        600   ready-fake-key   | resolved:c1:gone
        700   edit             | blocking_prompt:permission pending:c2:permission
        ",
    );
    check(
        Setup::new("claude").preset(ApprovalPreset::Permissive).screen("edit", EDIT),
        "
        0     edit    | state:blocked blocking_prompt:permission
        400   tick    | auto_responded:claude/permission-edit typed:keys:enter
        ",
    );
}

// ---- codex ----------------------------------------------------------------------------

/// codex's first run: the sign-in choices and the browser URL are two logins;
/// the trust dialog is answered; ready after 2 s; a working turn completes.
#[test]
fn codex_login_trust_ready_and_a_turn() {
    check(
        Setup::new("codex"),
        "
        0     login-signin-choices  | state:authenticating login_required:choices
        500   login-signin-choices  |
        1000  login-browser-url     | login_required:oauth
        2000  trust-folder          | state:blocked blocking_prompt:trust
        2399  tick                  |
        2400  tick                  | auto_responded:codex/trust-folder typed:keys:enter
        2500  ready                 |
        4500  tick                  | state:ready
        4600  type hi               | typed:hi state:busy
        4700  busy-working          |
        5700  busy-working          |
        6000  interrupted-after-ctrl-c |
        8000  tick                  | state:ready task_complete
        ",
    );
}

/// At the `confirm` level the trust dialog is a pending confirmation with
/// its suggested answer; at `notify` nothing is typed or asked.
#[test]
fn codex_supervision_levels() {
    check(
        Setup::new("codex").supervision(SupervisionLevel::Confirm),
        "
        0     trust-folder  | state:blocked blocking_prompt:trust pending:c1:trust
        500   trust-folder  |
        600   ready         | resolved:c1:gone
        ",
    );
    check(
        Setup::new("codex").supervision(SupervisionLevel::Notify),
        "
        0     trust-folder  | state:blocked blocking_prompt:trust
        500   trust-folder  |
        ",
    );
}

// ---- gemini ---------------------------------------------------------------------------

/// gemini with a key: the trust dialog is answered; the key dialogs are
/// logins (reported, each a new one, never answered by warden); then ready.
/// A thinking turn whose screen stops changing is stalled after the loading
/// window (its spinner is up), and a `still_working` answer makes it busy.
#[test]
fn gemini_first_run_then_a_stall() {
    check(
        Setup::new("gemini").stall_window(Duration::from_secs(8), Duration::from_secs(20)),
        "
        0      trust-folder                | state:blocked blocking_prompt:trust
        400    tick                        | auto_responded:gemini/trust-folder typed:keys:enter
        500    auth-choice-key-detected    | state:authenticating login_required:choices
        1000   api-key-entry-prefilled     | login_required:api_key
        1500   ready                       |
        3000   tick                        | state:ready
        3100   type hi                     | typed:hi state:busy
        3200   busy-thinking               |
        23199  tick                        |
        23200  tick                        | state:stalled stalled ask_classifier
        23300  busy-thinking               |
        24000  classified still_working    | classified:still_working:test state:busy
        ",
    );
}

/// Google sign-in: the auth choice without a key and the URL are two logins,
/// reported once each; none is answered.
#[test]
fn gemini_google_login() {
    check(
        Setup::new("gemini"),
        "
        0     auth-choice       | state:authenticating login_required:choices
        100   auth-choice       |
        600   tick              |
        700   login-google-url  | login_required:oauth
        800   login-google-url  |
        ",
    );
}

// ---- aider ----------------------------------------------------------------------------

/// aider's first-run questions are answered at once (a line-mode CLI, no TUI
/// delay), each once; ready after 200 ms; the provider error screen blocks.
#[test]
fn aider_questions_are_answered_at_once() {
    check(
        Setup::new("aider"),
        "
        0     analytics-prompt        | state:blocked blocking_prompt:config auto_responded:aider/analytics typed:n
        50    analytics-prompt        |
        100   gitignore-prompt        | blocking_prompt:config auto_responded:aider/gitignore typed:y
        200   release-notes-prompt    | blocking_prompt:config auto_responded:aider/release-notes typed:n
        300   ready                   |
        500   tick                    | state:ready
        600   type hi                 | typed:hi state:busy
        700   provider-unreachable-retrying | state:blocked blocking_prompt:provider_unreachable
        800   provider-unreachable    | blocking_prompt:provider_unreachable
        ",
    );
}

/// The no-key OpenRouter question is a login (reported, never answered).
#[test]
fn aider_openrouter_login() {
    check(
        Setup::new("aider"),
        "
        0     no-api-key-openrouter-login  | state:authenticating login_required:api_key
        100   no-api-key-openrouter-login  |
        200   login-openrouter-url         | login_required:oauth
        ",
    );
}

// ---- pi -------------------------------------------------------------------------------

/// pi never asks for approval: ready after 500 ms, a turn that ends at the
/// prompt completes; a turn that stops moving climbs the escalation ladder.
#[test]
fn pi_turns_and_the_escalation_ladder() {
    check(
        Setup::new("pi").stall_window(Duration::from_secs(8), Duration::from_secs(8)),
        "
        0      ready          |
        500    tick           | state:ready
        600    type hi        | typed:hi state:busy
        700    busy-working   |
        1000   ready          |
        1499   tick           |
        1500   tick           | state:ready task_complete
        1600   type again     | typed:again state:busy
        1700   busy-working   |
        9700   tick           | state:stalled stalled ask_classifier
        17700  tick           | escalated:0
        25700  tick           | escalated:1 typed:keys:escape
        33700  tick           | escalated:2 typed:Please continue.
        41700  tick           | escalated:3 restart_agent
        49700  tick           |
        ",
    );
}

/// pi without models: the login is reported once, and again only when it
/// changes (the error after a message, the OAuth URL); the login menus are
/// the same login.
#[test]
fn pi_login() {
    check(
        Setup::new("pi"),
        "
        0     ready-no-models   | state:authenticating login_required:cli_auth
        100   ready-no-models   |
        200   no-api-key-error  | login_required:cli_auth
        300   login-method      |
        400   login-oauth-url   | login_required:oauth
        ",
    );
}

// ---- shell ----------------------------------------------------------------------------

/// A shell: ready at its prompt after 100 ms; a command's turn completes at
/// the next prompt; a caller's rule answers a question once, and not the
/// echo of the command that asks it.
#[test]
fn shell_prompt_turns_and_a_callers_rule() {
    check(
        Setup::new("shell")
            .rule(r"Proceed\? \[y/N\]\s*$=y")
            .screen("prompt", "user@host:~/repo$ ")
            .screen("echo", "user@host:~/repo$ read -p \"Proceed? [y/N] \" a")
            .screen("asks", "user@host:~/repo$ read -p \"Proceed? [y/N] \" a\nProceed? [y/N] ")
            .screen(
                "answered",
                "user@host:~/repo$ read -p \"Proceed? [y/N] \" a\nProceed? [y/N] y\nuser@host:~/repo$ ",
            ),
        "
        0     prompt                              |
        100   tick                                | state:ready
        200   type read -p \"Proceed? [y/N] \" a  | typed:read -p \"Proceed? [y/N] \" a state:busy
        300   echo                                |
        400   asks                                | auto_responded:rule-1 typed:y
        500   asks                                |
        600   answered                            |
        700   tick                                | state:ready task_complete
        ",
    );
}

/// Output that never settles on a prompt: the stall window passes, the
/// classifier is asked, and every rung of the ladder is taken up to `fail`.
#[test]
fn shell_stall_climbs_the_ladder_to_fail() {
    let mut setup = Setup::new("shell")
        .screen("sleeping", "user@host:~$ sleep 1000\n")
        .stall_window(Duration::from_secs(1), Duration::from_secs(1));
    setup.stall.ladder = vec![warden_core::stall::EscalationStep::Notify, warden_core::stall::EscalationStep::Fail];
    check(
        setup,
        "
        0     type sleep 1000  | typed:sleep 1000 state:busy
        10    sleeping         |
        999   tick             |
        1000  tick             | state:stalled stalled ask_classifier
        2000  tick             | escalated:0
        3000  tick             | escalated:1 error state:failed fail
        ",
    );
}

/// A restarted process has answered nothing: the same question on the new
/// process's screen is answered again, except by a `once` rule (once per
/// session).
#[test]
fn a_new_process_answers_its_own_prompts() {
    check(
        Setup::new("shell").rule(r"Proceed\? \[y/N\]\s*$=y").screen("asks", "$ ./deploy\nProceed? [y/N] "),
        "
        0     asks     | auto_responded:rule-1 typed:y
        100   asks     |
        200   restart  | auto_responded:rule-1 typed:y
        ",
    );
    check(
        Setup::new("aider"),
        "
        0     analytics-prompt  | state:blocked blocking_prompt:config auto_responded:aider/analytics typed:n
        100   analytics-prompt  |
        200   restart           |
        ",
    );
}

/// A caller's rule that answers the line the adapter reads as its prompt
/// wins: one answer per prompt.
#[test]
fn a_callers_rule_takes_precedence_over_the_builtin_answer() {
    check(
        Setup::new("aider").rule(r"Allow collection of anonymous analytics=y"),
        "
        0     analytics-prompt  | state:blocked blocking_prompt:config auto_responded:rule-1 typed:y
        ",
    );
}

#[test]
fn every_reply_is_described_as_events_show_it() {
    assert_eq!(Answer::Reply(Reply::Keys(vec!["down".into(), "enter".into()])).describe(), "keys:down,enter");
    assert_eq!(Answer::Builtin(Reply::Text("y".into())).reply(), Reply::Text("y".into()));
}

/// Every captured screen, of every adapter, goes through both policies
/// without a panic, and the verdict the detector acts on is the one the
/// adapters' own fixture table expects (the screen parsed by warden's
/// terminal reads as the plain capture does).
#[test]
fn every_capture_reads_through_the_terminal_as_captured() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/tests/screens");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for adapter in ["claude", "codex", "gemini", "aider", "pi"] {
        let a = Registry::builtin().get(adapter).expect("adapter");
        for entry in std::fs::read_dir(dir.join(adapter)).expect("screens") {
            let name = entry.expect("entry").file_name().into_string().expect("utf-8");
            let Some(stem) = name.strip_suffix(".txt").filter(|s| !s.ends_with(".esc") && *s != "help") else {
                continue;
            };
            let plain = std::fs::read_to_string(dir.join(adapter).join(&name)).expect("read");
            let want = a.classify(&warden_adapters::ScreenView::text(&plain).with_cols(COLS));
            let got = look_at(a, &fixture(adapter, stem));
            assert_eq!(got.verdict.state, want.state, "{adapter}/{stem}");
            let mut session = Session::new(Setup::new(adapter));
            session.step(Duration::ZERO, stem);
            session.step(Duration::from_secs(10), "tick");
            *seen.entry(adapter).or_default() += 1;
        }
    }
    assert!(seen.values().all(|n| *n >= 10), "{seen:?}");
}

/// The policies stay pure: no module of `decide` names an actor, a lock or
/// anything else of the crate outside `decide`.
#[test]
fn the_policies_import_no_actor() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/decide");
    for name in ["mod.rs", "view.rs", "detect.rs", "respond.rs"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let outside = code.match_indices("crate::").any(|(at, _)| !code[at..].starts_with("crate::decide"));
            let forbidden = ["ractor", "SessionShared", "Mutex", "tokio"].iter().any(|w| code.contains(w));
            assert!(!outside && !forbidden, "decide/{name}:{}: {line}", n + 1);
        }
    }
}
