//! Plays a parsed scenario on the terminal.

use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use warden_core::keys::key_bytes;

use super::screens::{Persona, Screen, styled};
use super::script::Step;
use super::term::{self, Keys, Read};

/// Time between two spinner frames.
const FRAME: Duration = Duration::from_millis(80);

/// How a scenario ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// An `exit` step, or the end of the script (status 0).
    Exit(i32),
    /// Stdin closed while the scenario was waiting for input.
    InputClosed,
}

/// The player: persona, current screen, spinner position, last line read.
pub struct Player {
    persona: &'static Persona,
    cols: usize,
    screen: Option<&'static Screen>,
    /// Whether the spinner line was drawn outside any screen (on the cursor's line).
    loose_spinner: bool,
    frame: usize,
    input: String,
    echo: bool,
    keys: Keys,
}

impl Player {
    /// A player for `persona` on a terminal `cols` wide.
    pub fn new(persona: &'static Persona, cols: usize) -> Player {
        Player {
            persona,
            cols,
            screen: None,
            loose_spinner: false,
            frame: 0,
            input: String::new(),
            echo: false,
            keys: Keys::default(),
        }
    }

    /// Plays `steps` to the end.
    pub fn play(&mut self, steps: &[Step]) -> io::Result<End> {
        let mut skip = 0;
        for step in steps {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            match step {
                Step::FirstRun { file, steps } => {
                    if std::path::Path::new(file).exists() {
                        skip = *steps;
                    } else {
                        std::fs::write(file, b"")?;
                    }
                }
                Step::Screen(name) => {
                    let screen = self.persona.screen(name).map_err(io::Error::other)?;
                    self.screen = Some(screen);
                    self.loose_spinner = false;
                    let glyph = self.glyph();
                    term::out(&screen.render(self.persona, self.cols, glyph, &self.input))?;
                }
                Step::Print(text) => {
                    let text = text.replace("{input}", &self.input).replace('\n', "\r\n");
                    term::out(format!("\r\n{text}").as_bytes())?;
                    self.after_text();
                }
                Step::Raw(bytes) => term::out(bytes.as_bytes())?,
                Step::ExpectReply(ms) => {
                    let until = Instant::now() + Duration::from_millis(*ms);
                    self.input = loop {
                        match self.keys.next(Some(until)) {
                            Read::Key(mut k) if k.first() == Some(&0x1b) => {
                                // An OSC reply comes as `ESC ]` and then its body, up to BEL or ST.
                                if k == b"\x1b]" {
                                    while !(k.ends_with(b"\x07") || k.ends_with(b"\x1b\\")) {
                                        match self.keys.next(Some(until)) {
                                            Read::Key(more) => k.extend_from_slice(&more),
                                            Read::Timeout | Read::Eof => break,
                                        }
                                    }
                                }
                                break String::from_utf8_lossy(&k).replace('\x1b', "^[");
                            }
                            Read::Key(_) => {}
                            Read::Timeout | Read::Eof => break "none".to_string(),
                        }
                    };
                }
                Step::Title(title) => term::out(format!("\x1b]0;{title}\x07").as_bytes())?,
                Step::Sleep(ms) => sleep(Duration::from_millis(*ms)),
                Step::Spinner(ms) => self.spin(Some(Instant::now() + Duration::from_millis(*ms)))?,
                Step::ExpectLine => {
                    if !self.read_line()? {
                        return Ok(End::InputClosed);
                    }
                }
                Step::ExpectKey(name) => {
                    if !self.read_key(name)? {
                        return Ok(End::InputClosed);
                    }
                }
                Step::EchoInput(on) => self.echo = *on,
                Step::Exit(code) => return Ok(End::Exit(*code)),
                Step::Freeze { spinner: true } => self.spin(None)?,
                Step::Freeze { spinner: false } => loop {
                    sleep(Duration::from_secs(3600));
                },
                Step::IgnoreInput(ms) => {
                    let until = ms.map(|ms| Instant::now() + Duration::from_millis(ms));
                    loop {
                        match self.keys.next(until) {
                            Read::Key(_) => {}
                            Read::Timeout => break,
                            // Nothing more can arrive: keep ignoring by sleeping out the time.
                            Read::Eof => match until {
                                Some(t) => {
                                    sleep(t.saturating_duration_since(Instant::now()));
                                    break;
                                }
                                None => return Ok(End::InputClosed),
                            },
                        }
                    }
                }
            }
        }
        Ok(End::Exit(0))
    }

    /// Text printed below a screen moves the cursor: the screen's spinner row is lost.
    fn after_text(&mut self) {
        self.screen = None;
        self.loose_spinner = false;
    }

    fn glyph(&self) -> &'static str {
        let frames = self.persona.frames;
        frames.get(self.frame % frames.len().max(1)).copied().unwrap_or("*")
    }

    /// Animates the spinner until `until` (forever when `None`); nothing else changes.
    fn spin(&mut self, until: Option<Instant>) -> io::Result<()> {
        loop {
            self.frame = self.frame.wrapping_add(1);
            term::out(&self.spinner_frame())?;
            let next = Instant::now() + FRAME;
            match until {
                Some(t) if t <= next => {
                    sleep(t.saturating_duration_since(Instant::now()));
                    return Ok(());
                }
                _ => sleep(FRAME),
            }
        }
    }

    /// The bytes that redraw the spinner line in place.
    fn spinner_frame(&mut self) -> Vec<u8> {
        let glyph = self.glyph();
        let accent = self.persona.accent;
        if let Some(screen) = self.screen
            && let Some(row) = screen.spinner_row()
        {
            let (look, _) = screen.lines[row];
            let text = &screen.texts(self.cols, glyph, &self.input)[row];
            let line = styled(look, accent, text);
            return if screen.clear {
                // Save the cursor, redraw the row, come back: the input box keeps the cursor.
                format!("\x1b7\x1b[{};1H\x1b[2K{line}\x1b8", row + 1).into_bytes()
            } else {
                let up = screen.lines.len() - 1 - row;
                let up = if up > 0 { format!("\x1b[{up}A") } else { String::new() };
                format!("\x1b7{up}\r\x1b[2K{line}\x1b8").into_bytes()
            };
        }
        let line = styled(super::screens::Look::Accent, accent, &self.persona.spinner_line.replace("{}", glyph));
        let start = if self.loose_spinner { "\r\x1b[2K" } else { "\r\n" };
        self.loose_spinner = true;
        format!("{start}{line}").into_bytes()
    }

    /// Reads a line (bracketed-paste markers dropped, backspace honoured) into `{input}`.
    fn read_line(&mut self) -> io::Result<bool> {
        let mut line = String::new();
        loop {
            let key = match self.keys.next(None) {
                Read::Key(k) => k,
                Read::Timeout => continue,
                Read::Eof => return Ok(false),
            };
            match key.as_slice() {
                b"\r" | b"\n" => break,
                b"\x7f" | b"\x08" => {
                    if line.pop().is_some() && self.echo {
                        term::out(b"\x08 \x08")?;
                    }
                }
                k if k.first() == Some(&0x1b) || k.first().is_some_and(|b| *b < 0x20 && *b != b'\t') => {}
                k => {
                    let text = String::from_utf8_lossy(k);
                    line.push_str(&text);
                    if self.echo {
                        term::out(text.as_bytes())?;
                    }
                }
            }
        }
        self.input = line;
        Ok(true)
    }

    /// Reads keys until `name` arrives (other keys are dropped, or echoed when echo is on).
    fn read_key(&mut self, name: &str) -> io::Result<bool> {
        let want: &[u8] = if name.chars().count() == 1 {
            name.as_bytes()
        } else {
            key_bytes(name).map_err(|e| io::Error::other(e.to_string()))?
        };
        loop {
            let key = match self.keys.next(None) {
                Read::Key(k) => k,
                Read::Timeout => continue,
                Read::Eof => return Ok(false),
            };
            // Terminals send Enter as CR; a line-mode sender may use LF.
            if key == want || (want == b"\r" && key == b"\n") {
                return Ok(true);
            }
            if self.echo && key.first().is_some_and(|b| *b >= 0x20) {
                term::out(&key)?;
            }
        }
    }
}
