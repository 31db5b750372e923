//! Canned screens per persona, compact copies of the captures in
//! `crates/adapters/tests/screens/<agent>/`, and how to draw them.

use super::personas::PERSONAS;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Default colours.
    Plain,
    /// Grey.
    Dim,
    /// Bold.
    Bold,
    /// The persona's accent colour.
    Accent,
    /// Yellow.
    Warn,
    /// Red.
    Error,
    /// A full-width horizontal rule of `─` (the text is ignored).
    Rule,
    /// Top of a rounded box `╭──╮`, one column in from each side.
    BoxTop,
    /// A row of that box `│ text │`.
    BoxRow,
    /// Bottom of that box `╰──╯`.
    BoxBottom,
    /// Dim text flush to the right edge.
    Right,
}

/// One line of a canned screen.
pub type Line = (Look, &'static str);

/// A canned screen.
#[derive(Debug)]
pub struct Screen {
    /// What scripts call it (`ready`, `busy`, `trust`, …).
    pub name: &'static str,
    /// Whether it clears and redraws the whole screen (TUIs) or prints below (line-based CLIs).
    pub clear: bool,
    /// The terminal title it sets, if any.
    pub title: Option<&'static str>,
    /// Its lines; `{}` marks the spinner glyph, `{input}` the last line read.
    pub lines: &'static [Line],
    /// Where the cursor rests: (line index, column); the end of the last line when `None`.
    pub cursor: Option<(usize, usize)>,
}

/// An agent CLI the fake agent imitates.
#[derive(Debug)]
pub struct Persona {
    /// Its name (`--persona NAME`), the adapter it imitates.
    pub name: &'static str,
    /// SGR parameters of its accent colour.
    pub accent: &'static str,
    /// Spinner frames, in order.
    pub frames: &'static [&'static str],
    /// The spinner line drawn when the current screen has none (`{}` is the glyph).
    pub spinner_line: &'static str,
    /// Its screens.
    pub screens: &'static [Screen],
}

impl Persona {
    /// The persona called `name`.
    pub fn named(name: &str) -> Result<&'static Persona, String> {
        PERSONAS.iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<&str> = PERSONAS.iter().map(|p| p.name).collect();
            format!("unknown persona `{name}`; personas: {}", names.join(", "))
        })
    }

    /// Its screen called `name`.
    pub fn screen(&self, name: &str) -> Result<&'static Screen, String> {
        self.screens.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.screens.iter().map(|s| s.name).collect();
            format!("persona `{}` has no screen `{name}`; its screens: {}", self.name, names.join(", "))
        })
    }
}

impl Screen {
    /// Index of the line holding the spinner glyph, if any.
    pub fn spinner_row(&self) -> Option<usize> {
        self.lines.iter().position(|(_, t)| t.contains("{}"))
    }

    /// The text of each line at width `cols`, spinner at `glyph`, `{input}` expanded.
    pub fn texts(&self, cols: usize, glyph: &str, input: &str) -> Vec<String> {
        self.lines.iter().map(|line| line_text(*line, cols, glyph, input)).collect()
    }

    /// The screen as plain text (what a terminal would show), for tests.
    #[cfg(test)]
    pub fn plain(&self, cols: usize, glyph: &str) -> String {
        self.texts(cols, glyph, "hi").join("\n")
    }

    /// The bytes that draw this screen: title, clear, each line styled and positioned, cursor.
    pub fn render(&self, persona: &Persona, cols: usize, glyph: &str, input: &str) -> Vec<u8> {
        let mut s = String::new();
        if let Some(title) = self.title {
            s.push_str(&format!("\x1b]0;{title}\x07"));
        }
        if self.clear {
            s.push_str("\x1b[?25l\x1b[H\x1b[2J");
        } else {
            s.push_str("\r\n");
        }
        let texts = self.texts(cols, glyph, input);
        for (i, ((look, _), text)) in self.lines.iter().zip(&texts).enumerate() {
            if self.clear {
                s.push_str(&format!("\x1b[{};1H", i + 1));
            } else if i > 0 {
                s.push_str("\r\n");
            }
            s.push_str(&styled(*look, persona.accent, text));
        }
        if self.clear {
            let (row, col) = self.cursor.unwrap_or_else(|| {
                let last = texts.len().saturating_sub(1);
                (last, texts.get(last).map_or(0, |t| t.chars().count()))
            });
            s.push_str(&format!("\x1b[{};{}H\x1b[?25h", row + 1, col + 1));
        }
        s.into_bytes()
    }
}

/// Wraps `text` in the escape sequences of `look`.
pub fn styled(look: Look, accent: &str, text: &str) -> String {
    let sgr = match look {
        Look::Plain => return text.to_owned(),
        Look::Dim | Look::Right | Look::Rule => "38;5;246",
        Look::Bold => "1",
        Look::Accent | Look::BoxTop | Look::BoxRow | Look::BoxBottom => accent,
        Look::Warn => "38;5;220",
        Look::Error => "38;5;203",
    };
    format!("\x1b[{sgr}m{text}\x1b[0m")
}

fn line_text((look, text): Line, cols: usize, glyph: &str, input: &str) -> String {
    let text = text.replace("{input}", input).replace("{}", glyph);
    let inner = cols.saturating_sub(4);
    match look {
        Look::Rule => "─".repeat(cols),
        Look::BoxTop => format!(" ╭{}╮", "─".repeat(inner)),
        Look::BoxBottom => format!(" ╰{}╯", "─".repeat(inner)),
        Look::BoxRow => {
            let body: String = text.chars().take(inner.saturating_sub(2)).collect();
            let pad = inner.saturating_sub(2 + body.chars().count());
            format!(" │ {body}{} │", " ".repeat(pad))
        }
        Look::Right => format!("{}{text}", " ".repeat(cols.saturating_sub(text.chars().count() + 1))),
        _ => text,
    }
}
