//! A person's terminal: terminal queries answered by warden for detached sessions
//! (and not while a terminal is attached), and `warden run` in a real terminal (tmux):
//! keystrokes, ctrl+c, resizes, and the terminal left as it was.

use crate::common::*;
use warden::SessionSpec;

/// The fake agent asks for the cursor position after printing `abc` and prints what came back.
fn cpr_agent() -> SessionSpec {
    SessionSpec::new("fake", fake_agent()).args([
        "--persona",
        "shell",
        "--script-inline",
        r"raw abc\e[6n; expect-reply 1500; print reply={input}; raw \e]11\;?\e\\ ; expect-reply 1500; print colour={input}; exit 0",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_session_gets_its_terminal_queries_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let s = w.spawn(cpr_agent()).await.expect("spawns");
    let (bytes, exit) = wait_exit(&mut sub, s.id).await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(exit.code, Some(0), "{text}");
    // Row 1, column 4: just after `abc`, where the cursor was when it asked.
    assert!(text.contains("reply=^[[1;4R"), "{text:?}");
    assert!(text.contains("colour=^[]11;rgb:0000/0000/0000"), "{text:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_terminal_answers_instead_of_warden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = start_warden(&dir).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = SessionSpec::new("fake", fake_agent()).args([
        "--persona",
        "shell",
        "--script-inline",
        r"print started; expect-line; raw \e[6n; expect-reply 3000; print reply={input}; exit 0",
    ]);
    let s = w.spawn(spec).await.expect("spawns");
    wait_output(&mut sub, s.id, "started").await;
    let attachment = w.attach_terminal(s.id).await.expect("attaches");
    w.write(s.id, &b"go\r"[..]).await.expect("typed");
    // Warden stays silent; the "terminal" (this test) answers, once.
    wait_output(&mut sub, s.id, "\x1b[6n").await;
    w.write(s.id, &b"\x1b[7;7R"[..]).await.expect("the terminal's reply");
    let (bytes, _) = wait_exit(&mut sub, s.id).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("reply=^[[7;7R"), "only the attached terminal's reply: {text:?}");
    drop(attachment);
    w.shutdown().await;
}

/// A tmux server of its own (its own socket) with one pane running a plain bash.
struct Tmux {
    socket: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// A `cols` × `rows` pane with a bash prompt `shell$ `.
    fn start(cols: u16, rows: u16) -> Tmux {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("tmux.sock").to_string_lossy().into_owned();
        let path = std::env::var("PATH").unwrap_or_default();
        let shell = format!(
            "env -i PATH={path} HOME={} TERM=xterm-256color PS1='shell$ ' bash --norc --noprofile",
            dir.path().display()
        );
        let t = Tmux { socket, _dir: dir };
        t.run(&["new-session", "-d", "-s", "t", "-x", &cols.to_string(), "-y", &rows.to_string(), &shell]);
        t.wait_for("the shell's prompt", |screen| screen.contains("shell$"));
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux; scripts/test installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally, then Enter.
    fn line(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
        self.run(&["send-keys", "-t", "t", "Enter"]);
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "t", keys]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-t", "t", "-p"])
    }

    fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-t", "t", "-p", format]).trim().to_string()
    }

    /// Looks at the pane until `done` holds, or fails after [`TIMEOUT`].
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}; the pane:\n{screen}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}

/// `warden --state-dir <state>` as a shell command line for the pane.
fn warden_line(state: &std::path::Path) -> String {
    format!("{} --state-dir {}", binary::WARDEN, state.display())
}

/// Runs the fake agent with `script` under `warden run` in `t`'s shell and
/// returns the screen once the run has ended with status 0.
fn run_fake_script(t: &Tmux, state: &std::path::Path, script: &str) -> String {
    t.line(&format!("{} run --program {} -- --script-inline '{script}'; echo rc=$?", warden_line(state), fake_agent()));
    t.wait_for("the run's end", |s| s.contains("rc=0"))
}

/// Nothing of a terminal's replies (`ESC [ 1 ; 1 R`, `ESC [ ? 1 ; 2 c`, `rgb:…`) reached
/// the shell at the prompt after the run: read below the run's `rc=0` line only, as the
/// lines above show the command, whose paths are random (`/tmp/tmp.ux1Rfo8Doe`).
fn assert_no_replies_after_the_run(screen: &str) {
    let after: Vec<&str> = screen.lines().skip_while(|l| !l.contains("rc=0")).skip(1).collect();
    assert!(!after.is_empty(), "the run's end is on the screen:\n{screen}");
    let after = after.join("\n");
    for garbage in ["1R", "[?1;2c", "rgb:", "^["] {
        assert!(!after.contains(garbage), "{garbage:?} reached the shell:\n{screen}");
    }
}

#[test]
fn after_a_tui_agent_exits_the_terminal_is_as_it_was() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // Alternate screen, hidden cursor, mouse, paste, focus and keyboard modes; then
    // the queries whose replies used to end up at the shell prompt; then it exits.
    let script = r"raw \e[?1049h\e[?25l\e[?1000h\e[?1006h\e[?2004h\e[?1004h\e[>1u; print in-the-alternate-screen; raw \e[6n\e[c\e]11\;?\e\\ ; exit 0";
    let screen = run_fake_script(&t, state.path(), script);
    assert_eq!(t.display("#{alternate_on}"), "0", "out of the alternate screen:\n{screen}");
    assert_eq!(t.display("#{cursor_flag}"), "1", "the cursor is visible");
    assert_eq!(t.display("#{mouse_any_flag}#{mouse_button_flag}#{mouse_sgr_flag}"), "000", "mouse off");
    // Nothing was typed into the shell: the prompt after the run is empty, and a
    // command typed now runs as typed.
    let after: Vec<&str> = screen.lines().skip_while(|l| !l.contains("rc=0")).skip(1).collect();
    assert_eq!(after.first().map(|l| l.trim_end()), Some("shell$"), "{screen}");
    t.line("echo clean-$((1+1))");
    let screen = t.wait_for("the next command", |s| s.contains("clean-2"));
    assert_no_replies_after_the_run(&screen);
}

#[test]
fn a_run_nobody_types_into_leaves_no_replies_at_the_shell_prompt() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // stdout is the pane, stdin is not: no console, and warden answers the
    // agent's queries itself. The pane must not answer them too: its replies
    // would wait in its input for the shell.
    // The agent reads warden's three replies (its terminal echoes nothing then).
    let script =
        r"raw \e[6n\e[c\e]11\;?\e\\ ; expect-reply 5000; expect-reply 5000; expect-reply 5000; print ok\tgo; exit 0";
    t.line(&format!(
        "{} run --program {} -- --script-inline '{script}' < /dev/null; echo rc=$?",
        warden_line(state.path()),
        fake_agent()
    ));
    let screen = t.wait_for("the run's end", |s| s.contains("rc=0"));
    // The tab is printed as the pane's tab stop, not as the typed `\t`.
    assert!(screen.lines().any(|l| l.starts_with("ok      go")), "the agent's output is printed:\n{screen}");
    t.line("echo clean-$((1+1))");
    let screen = t.wait_for("the next command", |s| s.contains("clean-2"));
    assert_no_replies_after_the_run(&screen);
}

#[test]
fn a_scroll_region_no_wrap_colours_and_line_drawing_left_on_are_undone() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // What a program killed mid-frame leaves: rows 5 to 10 as the scroll region (set
    // between DECSC and DECRC, so the cursor stays), no line wrap, bold red, and the
    // DEC line-drawing set in G0; insert mode and a bar cursor.
    let script = r"raw \e7\e[5\;10r\e8\e[?7l\e[1\;31m\e(0lqqk\r\n\e[4h\e[5 q; exit 0";
    let screen = run_fake_script(&t, state.path(), script);
    assert_eq!(
        t.display("#{scroll_region_upper}-#{scroll_region_lower}"),
        "0-29",
        "the whole screen scrolls:\n{screen}"
    );
    assert_eq!(t.display("#{wrap_flag}"), "1", "lines wrap again");
    assert_eq!(t.display("#{insert_flag}"), "0", "typing overwrites again");
    // The shell's output and prompt come in the terminal's plain attributes and ASCII.
    // (Each row alone: `-e` shows a row's attributes from the terminal's defaults.)
    let row = screen.lines().position(|l| l.starts_with("rc=0")).expect("rc=0 on a row of its own");
    for row in [row, row + 1] {
        let row = row.to_string();
        let styled = t.run(&["capture-pane", "-t", "t", "-p", "-e", "-S", &row, "-E", &row]);
        assert!(!styled.contains(['\x1b', '\x0e']), "plain again: {styled:?}\n{screen}");
    }
}

#[test]
fn origin_mode_left_on_is_undone_and_the_cursor_stays_where_the_agent_left_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // Rows 5 to 10 as the scroll region, origin mode on (rows count from row 5), the
    // text written on the region's second row (the screen's sixth), and the agent gone.
    let script = r"raw \e7\e[5\;10r\e8\e[?6h\e[2\;3Horigin-text; exit 0";
    let screen = run_fake_script(&t, state.path(), script);
    assert_eq!(t.display("#{origin_flag}"), "0", "origin mode off:\n{screen}");
    assert_eq!(
        t.display("#{scroll_region_upper}-#{scroll_region_lower}"),
        "0-29",
        "the whole screen scrolls:\n{screen}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let text = lines.iter().position(|l| l.starts_with("  origin-text")).expect("the agent's text");
    assert_eq!(text, 5, "drawn where the agent put it:\n{screen}");
    // The shell went on from the agent's cursor, not from the top of the screen.
    let rc = lines.iter().position(|l| l.contains("rc=0")).expect("rc=0");
    assert!((text..=text + 1).contains(&rc), "rc=0 on row {rc}, after the agent's text:\n{screen}");
}

#[test]
fn an_interactive_shell_gets_keys_ctrl_c_and_resizes_and_the_terminal_is_cooked_after() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    t.line(&format!("{} run --agent shell --env 'PS1=inner$ '; echo rc=$?", warden_line(state.path())));
    t.wait_for("the agent's prompt", |s| s.lines().any(|l| l.starts_with("inner$")));
    t.line("echo typed-$((6*7))");
    t.wait_for("the command's output", |s| s.contains("typed-42"));
    // ctrl+c reaches the agent's foreground job, not warden.
    t.line("sleep 100");
    t.wait_for("the sleep", |s| s.lines().any(|l| l.trim_end() == "inner$ sleep 100"));
    t.keys("C-c");
    t.line("echo status=$?");
    let screen = t.wait_for("the interrupted sleep's status", |s| s.contains("status=130"));
    assert!(!screen.lines().any(|l| l.starts_with("rc=")), "warden still runs:\n{screen}");
    // A resize of the pane reaches the agent's terminal.
    t.run(&["resize-window", "-t", "t", "-x", "90", "-y", "20"]);
    t.wait_for("the smaller pane", |_| t.display("#{pane_width}x#{pane_height}") == "90x20");
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        t.line("echo size=$(stty size | tr ' ' x)");
        let seen = t.wait_for("stty's answer", |s| s.matches("size=").count() >= 2 || s.contains("size=20x90"));
        if seen.contains("size=20x90") {
            break;
        }
        // SIGWINCH is asynchronous: ask again until the new size arrived.
        assert!(std::time::Instant::now() < deadline, "the agent never saw 20x90:\n{seen}");
        t.line("clear");
        t.wait_for("a cleared pane", |s| !s.contains("size="));
    }
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc=0"));
    t.line("stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e echo -e -icanon -e -echo | sort | tr '\\n' ,; echo");
    let screen = t.wait_for("stty's modes", |s| s.contains("echo,") || s.contains("-echo,"));
    assert!(screen.contains("echo,icanon,"), "cooked mode again:\n{screen}");
}

#[test]
fn a_pending_confirmation_is_answered_on_the_status_line() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // Once `go` exists, the agent writes over the bottom row (where the question is).
    let go = state.path().join("go");
    let task = format!(
        r#"(while [ ! -e {} ]; do sleep 0.05; done; printf "\x1b7\x1b[30;1Hover-the-status\x1b8"; echo; echo came-$((6*7))) & read -p "Proceed? [y/N] " a; echo got-$a"#,
        go.display()
    );
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --supervision confirm --rule 'Proceed\\? \\[y/N\\]=y' --task '{task}'; echo rc=$?",
        warden_line(state.path())
    ));
    let last_line = |screen: &str| screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    let screen = t.wait_for("the question on the status line", |s| s.contains("waits for you"));
    assert!(last_line(&screen).contains("waits for you: y sends the suggestion"), "on the bottom line:\n{screen}");
    // Output that writes over the status line: the question is drawn again after it.
    std::fs::write(&go, "").expect("go");
    // (The output and the status line reach the terminal in two writes: wait for both.)
    t.wait_for("the output, then the question drawn again on the bottom line", |s| {
        s.contains("came-42") && last_line(s).contains("waits for you: y sends the suggestion")
    });
    t.keys("y");
    let screen = t.wait_for("the answer", |s| s.contains("got-y"));
    assert!(!screen.lines().any(|l| l.starts_with("rc=")), "the session stays (interactive default):\n{screen}");
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc=0"));
}

/// A question the person answered on the agent's screen (a line prompt, whose text
/// stays there) leaves the status line, and a later `y` is a key for the agent again,
/// not the suggestion sent to whatever reads next.
#[test]
fn a_question_answered_on_the_agents_screen_no_longer_takes_y() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    let task = r#"read -p "Proceed? [y/N] " a; echo got-$a"#;
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --supervision confirm --rule 'Proceed\\? \\[y/N\\]=y' --task '{task}'; echo rc=$?",
        warden_line(state.path())
    ));
    t.wait_for("the question on the status line", |s| s.contains("waits for you"));
    // One read, as a person types it: an uppercase Y alone would be an answer on the status line.
    t.run(&["send-keys", "-t", "t", "-l", "Y\r"]);
    t.wait_for("the answer typed on the agent's screen, and the question gone", |s| {
        s.contains("got-Y") && !s.contains("waits for you")
    });
    t.run(&["send-keys", "-t", "t", "-l", "echo "]);
    t.wait_for("the typed command", |s| s.lines().any(|l| l.trim_end() == "inner$ echo"));
    t.keys("y");
    t.line("es-a-key");
    let screen = t.wait_for("the command's output", |s| s.lines().any(|l| l == "yes-a-key" || l == "y"));
    assert!(screen.lines().any(|l| l == "yes-a-key"), "the y went to the agent as a key:\n{screen}");
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc=0"));
}

/// Output that scrolls while the status line shows does not carry copies of it up the
/// screen or into the scrollback: the status line is taken off before the output and
/// drawn again after it, and the rows the agent printed are whole.
#[test]
fn output_that_scrolls_under_the_status_line_leaves_no_copies_of_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    let go = state.path().join("go");
    let task = format!(
        r#"i=1; while [ $i -le 24 ]; do echo pre-$i; i=$((i+1)); done; (while [ ! -e {} ]; do sleep 0.05; done; i=1; while [ $i -le 10 ]; do echo row-$i; i=$((i+1)); sleep 0.01; done; echo scrolled-$((6*7))) & read -p "Proceed? [y/N] " a; echo got-$a"#,
        go.display()
    );
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --supervision confirm --rule 'Proceed\\? \\[y/N\\]=y' --task '{task}'; echo rc=$?",
        warden_line(state.path())
    ));
    let last_line = |screen: &str| screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    t.wait_for("the question on the status line", |s| last_line(s).contains("waits for you"));
    std::fs::write(&go, "").expect("go");
    t.wait_for("the output, then the question on the bottom line", |s| {
        s.contains("scrolled-42") && last_line(s).contains("waits for you")
    });
    let all = t.run(&["capture-pane", "-t", "t", "-p", "-S", "-"]);
    assert_eq!(all.matches("waits for you").count(), 1, "one status line, screen and scrollback:\n{all}");
    // The rows it scrolled past the status line, and those it pushed up, are whole (the
    // prompt stays on the screen, so the question stays pending).
    for row in (1..=24).map(|i| format!("pre-{i}")).chain((1..=10).map(|i| format!("row-{i}"))) {
        assert!(
            all.lines().any(|l| l.trim_end() == row || l.trim_end() == format!("Proceed? [y/N] {row}")),
            "{row} whole:\n{all}"
        );
    }
    t.keys("y");
    t.wait_for("the answer", |s| s.contains("got-y"));
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc="));
}

#[test]
fn the_status_line_never_lands_inside_the_agents_escape_sequence() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // Once the question is on the status line, the agent's colour sequence reaches warden
    // in two pieces: `half ESC [ 3` once `go1` exists, then `1m RED` once `go2` does.
    // (The words are printed in parts, so that the command line shows none of them.)
    let (go1, go2) = (state.path().join("go1"), state.path().join("go2"));
    let task = format!(
        r#"(while [ ! -e {} ]; do sleep 0.05; done; printf "\nha%s\x1b[3" lf; while [ ! -e {} ]; do sleep 0.05; done; printf "1m%s\x1b[0m-af%s\n" RED ter) & read -p "Proceed? [y/N] " a"#,
        go1.display(),
        go2.display()
    );
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --supervision confirm --rule 'Proceed\\? \\[y/N\\]=y' --task '{task}'; echo rc=$?",
        warden_line(state.path())
    ));
    let last_line = |screen: &str| screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    t.wait_for("the question on the status line", |s| last_line(s).contains("waits for you"));
    std::fs::write(&go1, "").expect("go1");
    t.wait_for("the first piece", |s| s.contains("half"));
    std::fs::write(&go2, "").expect("go2");
    let screen = t.wait_for("the second piece, and the question on the bottom line", |s| {
        s.contains("-after") && last_line(s).contains("waits for you")
    });
    assert!(!screen.contains("1mRED"), "the sequence was cut by the status line:\n{screen}");
    let row = screen.lines().position(|l| l.contains("-after")).expect("a row").to_string();
    let styled = t.run(&["capture-pane", "-t", "t", "-p", "-e", "-S", &row, "-E", &row]);
    assert!(styled.contains("\x1b[31mRED"), "RED in red: {styled:?}");
    t.keys("y");
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc="));
}

#[test]
fn a_status_line_from_before_a_resize_is_not_left_behind() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 20);
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --supervision confirm --rule 'Proceed\\? \\[y/N\\]=y' --task 'read -p \"Proceed? [y/N] \" a'; echo rc=$?",
        warden_line(state.path())
    ));
    t.wait_for("the question on the bottom line", |s| s.lines().nth(19).is_some_and(|l| l.contains("waits for you")));
    t.run(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    let screen = t.wait_for("the question on the new bottom line", |s| {
        s.lines().nth(29).is_some_and(|l| l.contains("waits for you"))
    });
    assert_eq!(screen.matches("waits for you").count(), 1, "one status line:\n{screen}");
    t.keys("y");
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc="));
}

#[test]
fn when_a_note_goes_the_bottom_row_shows_what_the_agent_drew_there() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(80, 15);
    // A terminal that scrolled already: warden starts on its bottom row.
    t.line("seq 1 30");
    t.wait_for("a full pane", |s| s.contains("30\n"));
    t.line(&format!(
        "{} run --agent shell --env 'PS1=inner$ ' --task 'echo hi'; echo rc=$?",
        warden_line(state.path())
    ));
    let last_line = |screen: &str| screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    t.wait_for("the note over the agent's prompt", |s| last_line(s).contains("task complete"));
    // The note goes after a few seconds; the row under it comes back.
    let screen = t.wait_for("the note's end", |s| !s.contains("task complete"));
    assert_eq!(last_line(&screen).trim_end(), "inner$", "the agent's prompt is back:\n{screen}");
    t.line("exit");
    t.wait_for("the run's end", |s| s.contains("rc=0"));
}

/// `warden run` with stdin from /dev/null (nobody at the terminal), to its end.
fn run_detached(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut child = binary::warden_cmd(state)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("warden starts");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while child.try_wait().expect("waits").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("warden did not end (it waited for ever): {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_shell_task_ends_the_run_with_the_commands_status() {
    let state = tempfile::tempdir().expect("tempdir");
    // The shell stays at its prompt after the command: the run used to wait for ever.
    let out = run_detached(state.path(), &["run", "--agent", "shell", "--task", "sh -c 'exit 3'"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("warden: task complete (status 3)"), "{err}");
    let out = run_detached(state.path(), &["run", "--agent", "shell", "--json", "--task", "true"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let done = stdout.lines().find(|l| l.contains(r#""kind":"task_complete""#)).expect("task_complete");
    assert!(done.contains(r#""status":0"#), "{done}");
    // `stay` keeps the session: here until --timeout stops it.
    let out = run_detached(
        state.path(),
        &["run", "--agent", "shell", "--on-complete", "stay", "--timeout", "1", "--task", "true"],
    );
    assert_eq!(out.status.code(), Some(124), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_detached(state.path(), &["run", "--agent", "shell", "--on-complete", "later", "--task", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--on-complete expects exit or stay"));
}

/// The pid a shell wrote to `file`, once it is there.
fn pid_in(t: &Tmux, file: &std::path::Path) -> String {
    t.wait_for("the pid file", |_| std::fs::read_to_string(file).is_ok_and(|p| p.ends_with('\n')));
    std::fs::read_to_string(file).expect("pid").trim().to_string()
}

/// The first child of process `pid`, once it has one.
fn child_of(pid: &str) -> String {
    let children = format!("/proc/{pid}/task/{pid}/children");
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let list = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(child) = list.split_whitespace().next() {
            return child.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "process {pid} has no child");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn kill(signal: &str, pid: &str) {
    let status = std::process::Command::new("kill").args([signal, pid]).status().expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn sigterm_to_warden_and_sigkill_of_the_agent_leave_the_terminal_as_it_was() {
    let state = tempfile::tempdir().expect("tempdir");
    let pids = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    let tui = r"raw \e[?1049h\e[?25l\e[?1000h; print frozen; freeze";
    let restored = |t: &Tmux, screen: &str| {
        assert_eq!(t.display("#{alternate_on}#{cursor_flag}#{mouse_any_flag}#{mouse_button_flag}"), "0100", "{screen}");
    };

    // warden itself is told to stop.
    let warden_pid = pids.path().join("warden.pid");
    t.line(&format!(
        "sh -c 'echo $$ > {}; exec {} run --program {} -- --script-inline \"{tui}\"'; echo rc=$?",
        warden_pid.display(),
        warden_line(state.path()),
        fake_agent()
    ));
    let pid = pid_in(&t, &warden_pid);
    t.wait_for("the agent's alternate screen", |s| s.contains("frozen") && t.display("#{alternate_on}") == "1");
    kill("-TERM", &pid);
    let screen = t.wait_for("warden's end", |s| s.lines().any(|l| l.starts_with("rc=")));
    restored(&t, &screen);

    // The agent is killed.
    t.line("clear");
    let agent_pid = pids.path().join("agent.pid");
    t.line(&format!(
        "{} run --program sh -- -c 'echo $$ > {}; exec {} --script-inline \"{tui}\"'; echo rc=$?",
        warden_line(state.path()),
        agent_pid.display(),
        fake_agent()
    ));
    let pid = pid_in(&t, &agent_pid);
    t.wait_for("the agent's alternate screen", |s| s.contains("frozen") && t.display("#{alternate_on}") == "1");
    kill("-KILL", &pid);
    let screen = t.wait_for("warden's end", |s| s.contains("rc=137"));
    restored(&t, &screen);
}

#[test]
fn a_task_runs_pending_confirmation_is_answered_on_the_status_line() {
    let state = tempfile::tempdir().expect("tempdir");
    let remote = crate::common::git::bare_remote(state.path());
    let t = Tmux::start(100, 30);
    let task = r#"read -p "Proceed? [y/N] " a; echo $a > a.txt; echo got-$a; exit 0"#;
    t.line(&format!(
        "GIT_CONFIG_NOSYSTEM=1 {} run --agent shell --repo {} --branch feat/asked --finalize push --supervision confirm --rule '^Proceed\\? \\[y/N\\]=y' --task '{task}'; echo rc=$?",
        warden_line(&state.path().join("state")),
        remote.display()
    ));
    let screen = t.wait_for("the question on the status line", |s| s.contains("waits for you"));
    let last = screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default();
    assert!(last.contains("waits for you: y sends the suggestion"), "on the bottom line:\n{screen}");
    t.keys("y");
    let screen = t.wait_for("the task's end", |s| s.lines().any(|l| l.starts_with("rc=")));
    assert!(screen.lines().any(|l| l == "rc=0") && screen.contains("branch feat/asked"), "{screen}");
    assert_eq!(crate::common::git::git(&remote, &["show", "feat/asked:a.txt"]), "y");
}

/// `warden ctl ARGS` of the node with state `state`: its `result`, the reply `ok`.
fn ctl_ok(state: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = binary::warden_cmd(state).arg("ctl").args(args).output().expect("ctl");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reply");
    assert_eq!(reply["ok"], true, "{reply}");
    reply["result"].clone()
}

/// A shell session labelled `label` on the node with state `state`: its id.
fn spawn_shell(state: &std::path::Path, label: &str) -> String {
    let spawned = ctl_ok(state, &["spawn_agent", "--agent", "shell", "--label", label]);
    spawned["session"]["id"].as_str().expect("id").to_string()
}

/// `warden attach` to an agent that turned the mouse on (and bash's bracketed
/// paste) turns them on in the terminal that starts showing it — clicks and
/// pastes reach the agent as it asked — and off again at the detach.
#[test]
fn attach_turns_the_agents_input_modes_on_and_the_detach_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let ctl = |args: &[&str]| ctl_ok(&state, args);
    let id = spawn_shell(&state, "modes");
    ctl(&["send_to_agent", "--session", &id, "--text", r"printf '\033[?1000h\033[?1006h'; echo mouse-$((2+2))"]);
    let snapshot = serde_json::json!({"session": id}).to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !ctl(&["raw", "snapshot", &snapshot])["screen"]["text"].as_str().is_some_and(|t| t.contains("mouse-4")) {
        assert!(std::time::Instant::now() < deadline, "the shell never turned the mouse on");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let modes = ctl(&["raw", "snapshot", &snapshot])["screen"]["input_modes"].clone();
    assert_eq!(modes["private"], serde_json::json!([1000, 1006, 2004]), "the snapshot says which: {modes}");

    let t = Tmux::start(100, 30);
    assert_eq!(t.display("#{mouse_standard_flag}#{mouse_sgr_flag}"), "00");
    t.line(&format!("{} attach {id}", warden_line(&state)));
    t.wait_for("the agent's screen", |s| s.contains("mouse-4"));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while t.display("#{mouse_standard_flag}#{mouse_sgr_flag}") != "11" {
        assert!(std::time::Instant::now() < deadline, "the mouse is not on in the attached terminal");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    t.keys("C-]");
    t.wait_for("the detach", |s| s.contains("keeps running"));
    assert_eq!(
        t.display("#{mouse_any_flag}#{mouse_standard_flag}#{mouse_sgr_flag}"),
        "000",
        "the detach turned it off"
    );
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// Waits until the pane's `format` (`tmux display -p`) reads `want`.
fn wait_display(t: &Tmux, what: &str, format: &str, want: &str) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let got = t.display(format);
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {format} is {got}:\n{}",
            t.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGTERM or SIGHUP (signals, not keys: the terminal is in raw mode) to
/// `warden attach` end it as a detach does: the modes the agent's screen turned
/// on in the terminal are turned off, the session keeps running, and the attach
/// exits with 128 + the signal's number. Before, the signal killed it with the
/// alternate screen, the mouse and the hidden cursor left on.
#[test]
fn a_signal_to_attach_leaves_the_terminal_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let pids = tempfile::tempdir().expect("tempdir");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let id = spawn_shell(&state, "signalled");
    let typed = r"printf '\033[?1049h\033[?1000h\033[?1006h\033[?25l'; echo tui-$((2+2))";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    let screen = wait_screen_text(&state, &id, "tui-4");
    assert_eq!(screen["alternate_screen"], true, "{screen}");

    let t = Tmux::start(100, 30);
    for (signal, rc) in [("-TERM", "rc=143"), ("-HUP", "rc=129")] {
        t.line("clear");
        let pid_file = pids.path().join(format!("attach{signal}.pid"));
        t.line(&format!(
            "sh -c 'echo $$ > {}; exec {} attach {id}'; echo rc=$?",
            pid_file.display(),
            warden_line(&state)
        ));
        let pid = pid_in(&t, &pid_file);
        t.wait_for("the agent's screen", |s| s.contains("tui-4"));
        wait_display(
            &t,
            "the agent's modes on",
            "#{alternate_on}#{mouse_any_flag}#{mouse_sgr_flag}#{cursor_flag}",
            "1110",
        );
        kill(signal, &pid);
        let screen = t.wait_for("the attach's end", |s| s.lines().any(|l| l.starts_with("rc=")));
        assert!(screen.lines().any(|l| l == rc), "{signal}: {screen}");
        assert_eq!(
            t.display("#{alternate_on}#{mouse_any_flag}#{mouse_sgr_flag}#{cursor_flag}"),
            "0001",
            "{signal}: the terminal is as it was:\n{screen}"
        );
        assert!(screen.contains("keeps running"), "{signal}: {screen}");
    }
    // The session was left running.
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", "echo still-$((3+3))"]);
    wait_screen_text(&state, &id, "still-6");
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// SIGTERM to `warden top` ends it as `q` does: the alternate screen is left and
/// the cursor shown again; it exits with 143. Before, the signal killed it with
/// both left as ratatui had set them.
#[test]
fn a_signal_to_top_leaves_the_terminal_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let pids = tempfile::tempdir().expect("tempdir");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let t = Tmux::start(100, 30);
    for (signal, rc) in [("-TERM", "rc=143"), ("-INT", "rc=130")] {
        t.line("clear");
        let pid_file = pids.path().join(format!("top{signal}.pid"));
        t.line(&format!("sh -c 'echo $$ > {}; exec {} top'; echo rc=$?", pid_file.display(), warden_line(&state)));
        let pid = pid_in(&t, &pid_file);
        t.wait_for("top's view", |s| s.contains("warden top"));
        wait_display(&t, "top's screen", "#{alternate_on}#{cursor_flag}", "10");
        kill(signal, &pid);
        let screen = t.wait_for("top's end", |s| s.lines().any(|l| l.starts_with("rc=")));
        assert!(screen.lines().any(|l| l == rc), "{signal}: {screen}");
        assert_eq!(t.display("#{alternate_on}#{cursor_flag}"), "01", "{signal}: the terminal is as it was:\n{screen}");
    }
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// Asks node `state` for session `id`'s screen until its text has `text`.
fn wait_screen_text(state: &std::path::Path, id: &str, text: &str) -> serde_json::Value {
    let snapshot = serde_json::json!({"session": id}).to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let screen = ctl_ok(state, &["raw", "snapshot", &snapshot])["screen"].clone();
        if screen["text"].as_str().is_some_and(|t| t.contains(text)) {
            return screen;
        }
        assert!(std::time::Instant::now() < deadline, "the session never showed {text:?}: {screen}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An agent that turned on kitty's keyboard protocol has it turned on in the
/// attached terminal too, which then sends ctrl+] as `CSI 93 ; 5 u`: that
/// detaches. Before, only the byte 0x1d did; the sequence went to the agent
/// and the person stayed attached.
#[test]
fn attach_to_an_agent_with_kittys_keyboard_protocol_detaches_on_its_ctrl_bracket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let id = spawn_shell(&state, "kitty");
    let typed = r"printf '\033[>1u'; echo kitty-$((2+2)); cat -v";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    let screen = wait_screen_text(&state, &id, "kitty-4");
    assert_eq!(screen["input_modes"]["kitty_flags"], 1, "the snapshot has it: {screen}");

    let t = Tmux::start(100, 30);
    t.line(&format!("{} attach {id}; echo rc=$?", warden_line(&state)));
    t.wait_for("the agent's screen", |s| s.contains("kitty-4"));
    // What a terminal with the flags on sends for ctrl+].
    t.run(&["send-keys", "-t", "t", "-l", "\x1b[93;5u"]);
    let screen = t.wait_for("the detach", |s| s.contains("rc=0"));
    assert!(screen.contains("keeps running"), "{screen}");
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// `warden attach` from a terminal smaller than the session draws the
/// session's screen at the terminal's size. Before, the screen was taken
/// before the resize and drawn at the session's old size: its long rows
/// wrapped onto the next, which the next row's text was written over
/// (`short04000…-END`), and its rows past the terminal's bottom were
/// written over its last row.
#[test]
fn attach_from_a_smaller_terminal_draws_the_screen_at_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let spawned =
        ctl_ok(&state, &["spawn_agent", "--agent", "shell", "--label", "wide", "--rows", "40", "--cols", "120"]);
    let id = spawned["session"]["id"].as_str().expect("id").to_string();
    // 108-column rows and short ones, one after the other, then a last line.
    let typed = r"clear; for i in $(seq -w 0 11); do printf 'lo%sng%s%0100d-END\n' '' $i 0; printf 'sh%sort%s\n' '' $i; done; echo done-$((2+2))";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    wait_screen_text(&state, &id, "done-4");

    let t = Tmux::start(80, 24);
    t.line(&format!("{} attach {id}", warden_line(&state)));
    let clean = |s: &str| {
        let shorts: Vec<&str> = s.lines().filter(|l| l.contains("short")).collect();
        s.contains("done-4")
            && shorts.len() >= 10
            && shorts.iter().all(|l| l.trim_end().len() == "short00".len())
            && !s.contains("-END")
    };
    let screen = t.wait_for("the session's screen drawn at 80x24, each short row on its own", clean);
    assert!(screen.lines().any(|l| l.starts_with("long11") && l.len() == 80), "long rows cut at 80:\n{screen}");
    t.keys("C-]");
    t.wait_for("the detach", |s| s.contains("keeps running"));
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// `warden attach` to an agent on the alternate screen draws the agent's main
/// screen under it, so that the agent's leaving the alternate screen shows its
/// main screen. Before, the snapshot had only the alternate screen: leaving it
/// showed what the terminal had before the attach (the person's shell and the
/// `warden attach` command line).
#[test]
fn leaving_the_alternate_screen_after_an_attach_shows_the_agents_main_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let spawned =
        ctl_ok(&state, &["spawn_agent", "--agent", "shell", "--label", "alternate", "--rows", "24", "--cols", "80"]);
    let id = spawned["session"]["id"].as_str().expect("id").to_string();
    let typed = r"clear; echo main-$((2+3)); printf '\033[?1049h'; echo alt-$((2+2))";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    let screen = wait_screen_text(&state, &id, "alt-4");
    assert_eq!(screen["alternate_screen"], true, "{screen}");
    assert!(screen["main_screen"]["text"].as_str().is_some_and(|t| t.contains("main-5")), "{screen}");

    let t = Tmux::start(80, 24);
    t.line(&format!("{} attach {id}", warden_line(&state)));
    t.wait_for("the agent's alternate screen", |s| s.contains("alt-4"));
    wait_display(&t, "the alternate screen", "#{alternate_on}", "1");
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", r"printf '\033[?1049l'; echo back-$((3+3))"]);
    let screen = t.wait_for("the agent's main screen", |s| s.contains("back-6"));
    assert_eq!(t.display("#{alternate_on}"), "0", "{screen}");
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    assert_eq!(lines.first(), Some(&"main-5"), "the agent's main screen:\n{screen}");
    assert_eq!(lines.get(1), Some(&"back-6"), "its output where its cursor was:\n{screen}");
    assert!(!screen.contains("attach"), "nothing of the terminal's screen before the attach:\n{screen}");
    t.keys("C-]");
    t.wait_for("the detach", |s| s.contains("keeps running"));
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// `warden attach` to an agent that set a scroll region sets it in the
/// terminal too: output the agent scrolls inside it leaves the rows below as
/// they were, and the detach gives the terminal its whole screen back. Before,
/// the attached terminal had no region and the output scrolled the whole
/// screen, the agent's footer with it.
#[test]
fn output_the_agent_scrolls_in_its_region_after_an_attach_stays_in_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    // The session as large as the pane: a resize would reset the region.
    let spawned =
        ctl_ok(&state, &["spawn_agent", "--agent", "shell", "--label", "region", "--rows", "24", "--cols", "80"]);
    let id = spawned["session"]["id"].as_str().expect("id").to_string();
    // A footer on rows 11 to 24, then rows 1 to 10 as the region (the cursor goes home).
    let typed = r"clear; for i in $(seq 11 24); do printf '\033[%d;1Hfooter-%d' $i $i; done; printf '\033[1;10r'; echo region-$((2+2))";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    let screen = wait_screen_text(&state, &id, "region-4");
    assert_eq!(screen["output_modes"]["scroll_region"], serde_json::json!({"top": 0, "bottom": 9}), "{screen}");

    let t = Tmux::start(80, 24);
    assert_eq!(t.display("#{pane_height}x#{pane_width}"), "24x80");
    t.line(&format!("{} attach {id}", warden_line(&state)));
    // The region is set in the same write as the text, before any later output.
    t.wait_for("the agent's screen", |s| s.contains("region-4") && s.contains("footer-24"));
    let typed = r"for i in $(seq 1 30); do echo line-$i; done; echo done-$((3+3))";
    ctl_ok(&state, &["send_to_agent", "--session", &id, "--text", typed]);
    let screen = t.wait_for("the agent's output", |s| s.contains("done-6"));
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let footer: Vec<String> = (11..=24).map(|i| format!("footer-{i}")).collect();
    let below: Vec<String> = lines.iter().skip(10).map(|l| l.to_string()).collect();
    assert_eq!(below, footer, "the rows below the region are as they were:\n{screen}");
    assert!(lines[..10].contains(&"line-30"), "the output scrolled in rows 1 to 10:\n{screen}");
    assert_eq!(t.display("#{scroll_region_upper}-#{scroll_region_lower}"), "0-9");
    t.keys("C-]");
    t.wait_for("the detach", |s| s.contains("keeps running"));
    assert_eq!(t.display("#{scroll_region_upper}-#{scroll_region_lower}"), "0-23", "the whole screen scrolls again");
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// `warden attach` to a session that has ended shows its last screen and
/// ends at once with its code. Before, it waited for an `exited` event that
/// had gone by and never came (the same when a NATS attach's connection was
/// away while the session ended: the snapshot it draws again now says so).
#[test]
fn attach_to_a_session_that_ended_shows_its_last_screen_and_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut node = binary::serve(&state, &["--allow-agent", "shell"]);
    let ctl = |args: &[&str]| ctl_ok(&state, args);
    let id = spawn_shell(&state, "ended");
    ctl(&["send_to_agent", "--session", &id, "--text", "echo last-words-$((6*7)); exit 3"]);
    let snapshot = serde_json::json!({"session": id}).to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while ctl(&["raw", "snapshot", &snapshot])["exit"].is_null() {
        assert!(std::time::Instant::now() < deadline, "the session never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(ctl(&["raw", "snapshot", &snapshot])["exit"]["code"], 3);

    let t = Tmux::start(100, 30);
    t.line(&format!("{} attach {id}; echo rc=$?", warden_line(&state)));
    let screen = t.wait_for("the attach's end", |s| s.contains("rc=3"));
    assert!(screen.contains("last-words-42"), "its last screen was shown: {screen}");
    assert!(screen.contains(&format!("session {id} ended with 3")), "{screen}");
    assert_eq!(node.terminate(TIMEOUT), Some(0));
}

/// The two rows from the one reading `rc=0` (the shell's output after the run, and its
/// next prompt), each with its attributes (`-e`; each row alone: `-e` shows a row's
/// attributes from the terminal's defaults).
fn styled_rows_after_rc(t: &Tmux, screen: &str) -> Vec<String> {
    let row = screen.lines().position(|l| l.starts_with("rc=0")).expect("rc=0 on a row of its own");
    [row, row + 1]
        .iter()
        .map(|r| {
            let r = r.to_string();
            t.run(&["capture-pane", "-t", "t", "-p", "-e", "-S", &r, "-E", &r])
        })
        .collect()
}

#[test]
fn the_agents_window_title_does_not_outlive_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    t.line(r"printf '\033]2;person-title\007'; echo titled");
    t.wait_for("the person's title", |s| s.contains("\ntitled"));
    assert_eq!(t.display("#{pane_title}"), "person-title");
    let screen = run_fake_script(&t, state.path(), r"raw \e]2\;agent-title\e\\ ; print named; exit 0");
    assert_eq!(t.display("#{pane_title}"), "person-title", "the agent's title stayed:\n{screen}");
}

/// Colours the agent set (OSC 10 foreground, 11 background, 12 cursor, 4 a
/// palette entry) are the terminal's defaults again after the run. Before, the
/// pane kept the agent's green on dark red.
#[test]
fn colours_the_agent_set_do_not_outlive_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    assert_eq!(t.display("#{pane_fg} #{pane_bg}"), "default default");
    let script =
        r"raw \e]11\;#400000\e\\\e]10\;#00ff00\e\\\e]12\;#ff0000\e\\\e]4\;1\;#123456\e\\ ; print coloured; exit 0";
    let screen = run_fake_script(&t, state.path(), script);
    assert!(screen.contains("coloured"), "{screen}");
    assert_eq!(t.display("#{pane_fg} #{pane_bg}"), "default default", "the agent's colours stayed:\n{screen}");
}

#[test]
fn attributes_saved_by_entering_the_alternate_screen_are_undone() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // Bold red, then the alternate screen (which saves them with the cursor), then a
    // reset: leaving the alternate screen brings bold red back.
    let screen = run_fake_script(&t, state.path(), r"raw \e[1\;31m\e[?1049h\e[0mtui-frame; exit 0");
    for row in styled_rows_after_rc(&t, &screen) {
        assert!(!row.contains('\x1b'), "plain again: {row:?}\n{screen}");
    }
}

#[test]
fn attributes_and_charset_brought_back_by_decrc_are_undone() {
    let mut left = Vec::new();
    // DECSC saves the attributes and the character set with the cursor; DECRC brings
    // them back after a reset.
    for script in [r"raw \e[31m\e7\e[0m\e[1\;1Hstatus\e8; exit 0", r"raw \e(0\e7\e(B\e8; exit 0"] {
        let state = tempfile::tempdir().expect("tempdir");
        let t = Tmux::start(100, 30);
        let screen = run_fake_script(&t, state.path(), script);
        for row in styled_rows_after_rc(&t, &screen) {
            if row.contains(['\x1b', '\x0e']) {
                left.push(format!("{script}: {row:?}"));
            }
        }
    }
    assert!(left.is_empty(), "not plain again:\n{}", left.join("\n"));
}

#[test]
fn an_agent_ending_inside_a_dcs_string_does_not_leave_the_terminal_swallowing_output() {
    let state = tempfile::tempdir().expect("tempdir");
    let t = Tmux::start(100, 30);
    // An XTGETTCAP query cut short (a sixel image cut by a kill does the same): only ST
    // ends a DCS string in tmux.
    run_fake_script(&t, state.path(), r"raw \eP+q544e; exit 0");
    t.line("echo next-$((20+22))");
    t.wait_for("the next command's output", |s| s.contains("next-42"));
}

/// Twice `bytes` of log lines with `middle` (printf's format) written between.
fn flood_around(bytes: usize, middle: &str) -> String {
    let half = format!("yes flood-line-of-text | head -c {bytes}");
    format!("{half}; printf '{middle}'; {half}")
}

/// How the attach in [`attach_through_a_lag`] reaches the node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The node's local socket.
    Socket,
    /// A NATS server that restarts during the flood, the node's events going
    /// to JetStream.
    Nats,
}

/// Runs a shell session of an in-process node, and `warden attach` to it in
/// tmux, `via` the socket (the node's bus keeping little: 1 MiB, the least it
/// takes) or NATS (the server goes away while the flood runs). The session
/// prints `READY`, runs `flood` (shell commands) once told to, and prints
/// `END-OF-FLOOD`: the attach process is stopped while the flood runs, so its
/// stream falls far behind, and continued once the node's screen shows the
/// end. Then `check` looks at the terminal, and the attach detaches.
async fn attach_through_a_lag(via: Via, flood: &str, check: impl FnOnce(&Tmux)) {
    use warden_bridge::local::{LocalServer, LocalSettings};
    use warden_bridge::{Bridge, BridgeConfig, BridgeSettings, NatsOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut config = warden::WardenConfig::new(state.clone());
    config.node = "lagging".into();
    if via == Via::Socket {
        config.bus.subscriber_capacity = 64;
        config.bus.replay_bytes = 1 << 20;
    }
    let w = warden::Warden::start(config).await.expect("starts");
    let (mut local, mut bridge, mut nats) = (None, None, None);
    let attach = match via {
        Via::Socket => {
            let settings = LocalSettings {
                socket: warden_bridge::local::default_socket_path(&state),
                config: BridgeConfig::default(),
                default_root: None,
            };
            local = Some(LocalServer::start(w.clone(), settings).await.expect("serves"));
            format!("{} attach", warden_line(&state))
        }
        Via::Nats => {
            let server = nats::NatsServer::start(&dir.path().join("nats"));
            let client = warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("connects");
            let settings = BridgeSettings { jetstream: true, ..BridgeSettings::default() };
            bridge = Some(Bridge::start(w.clone(), client, settings).await.expect("bridge starts"));
            let line = format!("{} attach --nats {} --node lagging", warden_line(&state), server.url());
            nats = Some(server);
            line
        }
    };
    let go = dir.path().join("go");
    let script = format!(
        "printf 'READY\\n'; while [ ! -e {} ]; do sleep 0.02; done; {flood}; printf '\\nEND-OF-FLOOD\\n'; read x",
        go.display()
    );
    let s = w.spawn(SessionSpec::new("shell", "bash").args(["-c", &script]).size(24, 80)).await.expect("spawns");

    let t = Tmux::start(80, 24);
    // Under a shell that does not watch it, so that nothing continues it
    // when it is stopped (tmux continues a pane's own process, an
    // interactive shell takes the terminal back from a stopped job).
    tokio::task::block_in_place(|| {
        t.line(&format!("bash -c '{attach} {}; exit'", s.id));
        t.wait_for("the agent's screen", |s| s.contains("READY"));
    });
    let pid = child_of(&child_of(&t.display("#{pane_pid}")));
    kill("-STOP", &pid);
    if let Some(server) = &mut nats {
        // The server goes away while the flood runs: what it would have sent
        // the attach meanwhile is lost.
        server.kill();
    }
    std::fs::write(&go, "").expect("go");
    let deadline = std::time::Instant::now() + TIMEOUT * 3;
    while !w.snapshot(s.id).await.expect("snapshot").text.contains("END-OF-FLOOD") {
        assert!(std::time::Instant::now() < deadline, "the flood never ended");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if let Some(server) = &mut nats {
        // The node is back and has sent what it held before the attach is:
        // that output is lost to the attach.
        restart_until_the_node_answers(server, "lagging").await;
    }
    kill("-CONT", &pid);
    tokio::task::block_in_place(|| {
        check(&t);
        t.keys("C-]");
    });
    let _ = w.stop(s.id).await;
    if let Some(server) = local {
        server.shutdown().await;
    }
    w.shutdown().await;
    if let Some(b) = bridge {
        b.shutdown(std::time::Duration::from_secs(5)).await;
    }
}

/// Restarts `server` and waits until node `node` answers on it again.
async fn restart_until_the_node_answers(server: &mut nats::NatsServer, node: &str) {
    server.restart();
    let client = warden_bridge::connect(&warden_bridge::NatsOptions::new(server.url())).await.expect("connects");
    let remote = warden_bridge::Remote::new(client, "warden", std::time::Duration::from_secs(1));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while remote.request_raw(node, "list_agents", b"{}".to_vec().into()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the node never came back to the server");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The flood of [`an_attach_that_falls_behind_a_flood_draws_the_screen_again`]:
/// a header drawn once, in the middle, above a scroll region.
fn flood_with_a_header(bytes: usize) -> String {
    format!("printf '\\033[2;24r\\033[24;1H'; {}", flood_around(bytes, "\\0337\\033[1;1HHEADER-X\\0338"))
}

/// The terminal shows the header the skipped output drew, and the flood's end.
fn the_header_is_drawn_again(t: &Tmux) {
    let screen = t.wait_for("the flood's end and its header", |s| {
        s.contains("END-OF-FLOOD") && s.lines().next().is_some_and(|l| l.starts_with("HEADER-X"))
    });
    assert!(!screen.contains("READY"), "the screen was drawn again: {screen}");
}

/// `warden attach` whose stream falls behind the session's output draws the
/// session's screen again when it is told it lagged. Before, it went on from
/// the oldest output still held, and what the skipped output drew (a header,
/// here) never reached the person's terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_that_falls_behind_a_flood_draws_the_screen_again() {
    let flood = flood_with_a_header(8_000_000);
    attach_through_a_lag(Via::Socket, &flood, the_header_is_drawn_again).await;
}

/// Over NATS, what the server would have sent while it was away (a restart
/// here; a reader it dropped for falling behind is the same) is lost, and
/// with JetStream on the node's own publisher did not say when it skipped
/// output either. Before, the attach went on from whatever came after. Now
/// it draws the screen again when its connection was made again, or when an
/// output's offset shows output missing before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_over_nats_that_missed_output_draws_the_screen_again() {
    let flood = flood_with_a_header(8_000_000);
    attach_through_a_lag(Via::Nats, &flood, the_header_is_drawn_again).await;
}

/// The output shown before the lag may stop inside a DCS string (a sixel
/// image, an XTGETTCAP query) whose end is in the skipped output; tmux ends a
/// DCS only at ST, so the redraw and all after it were swallowed. The console
/// ends the cut sequence first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redraw_after_a_lag_inside_a_dcs_string_reaches_the_screen() {
    let flood = "printf '\\033P+q'; yes 41 | tr -d '\\n' | head -c 16000000; printf '\\033\\\\'";
    attach_through_a_lag(Via::Socket, flood, |t| {
        t.wait_for("the screen drawn again after the lag", |s| s.contains("END-OF-FLOOD"));
    })
    .await;
}

/// A mode turned on before the lag and off in the skipped output (mouse
/// reporting here) stayed on in the person's terminal after the redraw, which
/// turned on only what the snapshot has on: clicks reached the agent as
/// escape sequences it had not asked for. The console turns off what it
/// showed turned on before drawing the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redraw_after_a_lag_turns_off_modes_the_skipped_output_turned_off() {
    let flood = format!("printf '\\033[?1000h'; {}", flood_around(8_000_000, "\\033[?1000l"));
    attach_through_a_lag(Via::Socket, &flood, |t| {
        t.wait_for("the screen drawn again", |s| s.contains("END-OF-FLOOD") && !s.contains("READY"));
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let mouse = t.display("#{mouse_any_flag}#{mouse_standard_flag}#{mouse_button_flag}");
            if mouse == "000" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "mouse reporting stayed on after the redraw: {mouse}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
    .await;
}

/// A NATS `warden attach` whose session ended and was let go while the
/// connection was away ends, saying so, when it comes back: the node no
/// longer knows the session. Before, it asked for the screen again every
/// 500 ms, for ever (and before that, it was never told at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_over_nats_whose_session_was_let_go_meanwhile_ends() {
    use warden_bridge::{Bridge, BridgeSettings, NatsOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let mut config = warden::WardenConfig::new(state.clone());
    config.node = "forgetful".into();
    config.retain_exited = 0;
    let w = warden::Warden::start(config).await.expect("starts");
    let mut server = nats::NatsServer::start(&dir.path().join("nats"));
    let client = warden_bridge::connect(&NatsOptions::new(server.url())).await.expect("connects");
    let bridge = Bridge::start(w.clone(), client, BridgeSettings::default()).await.expect("bridge starts");
    let script = "printf 'READY\\n'; read x";
    let s = w.spawn(SessionSpec::new("shell", "bash").args(["-c", script]).size(24, 80)).await.expect("spawns");

    let t = Tmux::start(80, 24);
    let attach = format!("{} attach --nats {} --node forgetful {}", warden_line(&state), server.url(), s.id);
    tokio::task::block_in_place(|| {
        t.line(&format!("bash -c '{attach}; echo attach-rc=$?; exit'"));
        t.wait_for("the agent's screen", |s| s.contains("READY"));
    });
    let pid = child_of(&child_of(&t.display("#{pane_pid}")));
    kill("-STOP", &pid);
    server.kill();
    w.write(s.id, &b"\n"[..]).await.expect("typed");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while w.get(s.id).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the session was never let go");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    restart_until_the_node_answers(&mut server, "forgetful").await;
    kill("-CONT", &pid);
    tokio::task::block_in_place(|| {
        let screen = t.wait_for("the attach's end", |s| s.contains("attach-rc="));
        assert!(screen.contains("unknown session"), "it says why: {screen}");
        assert!(!screen.contains("attach-rc=0"), "{screen}");
    });
    w.shutdown().await;
    bridge.shutdown(std::time::Duration::from_secs(5)).await;
}
