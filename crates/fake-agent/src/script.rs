//! The scenario language of the fake agent: one step per line (or per `;` in an
//! inline script), parsed into [`Step`]s before anything is drawn.

use std::fmt;

use warden_core::keys::{canonical_key_name, key_bytes};

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Draw the persona's canned screen of that name.
    Screen(String),
    /// Print a line of text (escapes already decoded; `{input}` expands at run time).
    Print(String),
    /// Wait this many milliseconds.
    Sleep(u64),
    /// Animate the spinner line for this many milliseconds.
    Spinner(u64),
    /// Read one line of input and store it as `{input}`.
    ExpectLine,
    /// Read keys until this one (a canonical key name, or one character) arrives.
    ExpectKey(String),
    /// Echo typed input at the cursor from now on (`on`, the default) or not (`off`).
    EchoInput(bool),
    /// Set the terminal title (OSC 0).
    Title(String),
    /// Exit with this status.
    Exit(i32),
    /// Stop forever, optionally with the spinner still turning.
    Freeze {
        /// Whether the spinner keeps animating.
        spinner: bool,
    },
    /// Read and discard all input, forever or for this many milliseconds.
    IgnoreInput(Option<u64>),
    /// Write bytes as they are (escapes decoded), without a line break: terminal modes
    /// and queries.
    Raw(String),
    /// Wait up to this many milliseconds for a terminal reply (an escape sequence on
    /// stdin); `{input}` becomes it with ESC shown as `^[`, or `none`.
    ExpectReply(u64),
    /// On the first run in this directory (the file does not exist): create the
    /// file and play the next N steps; on later runs skip them. Lets one script
    /// act differently when an agent is started again (a resume).
    FirstRun {
        /// The marker file (relative to the working directory).
        file: String,
        /// How many of the following steps belong to the first run.
        steps: usize,
    },
}

/// A step that could not be parsed, with its 1-based position in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Which step (line of a file, or `;`-separated item of an inline script).
    pub step: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a script file: one step per line, blank lines and `#` comments skipped.
pub fn parse_lines(text: &str) -> Result<Vec<Step>, ParseError> {
    parse_items(text.lines().map(str::to_owned))
}

/// Parses an inline script: steps separated by `;` (write `\;` for a literal one).
pub fn parse_inline(text: &str) -> Result<Vec<Step>, ParseError> {
    parse_items(split_inline(text).into_iter())
}

fn split_inline(text: &str) -> Vec<String> {
    let mut items = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let cur = items.last_mut().expect("items starts non-empty and only grows");
        match c {
            '\\' if chars.peek() == Some(&';') => {
                // Kept escaped: `decode_escapes` turns it into `;` for print/title.
                cur.push_str("\\;");
                chars.next();
            }
            ';' => items.push(String::new()),
            _ => cur.push(c),
        }
    }
    items
}

fn parse_items(items: impl Iterator<Item = String>) -> Result<Vec<Step>, ParseError> {
    let mut steps = Vec::new();
    for (i, item) in items.enumerate() {
        let line = item.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let step = parse_step(line).map_err(|message| ParseError { step: i + 1, message })?;
        steps.push(step);
    }
    if steps.is_empty() {
        return Err(ParseError { step: 0, message: "the script has no steps".into() });
    }
    Ok(steps)
}

fn parse_step(line: &str) -> Result<Step, String> {
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let no_arg = |step: Step| {
        if rest.is_empty() { Ok(step) } else { Err(format!("`{word}` takes no argument, got `{rest}`")) }
    };
    match word {
        "screen" => {
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err("`screen` needs one screen name, e.g. `screen ready`".into());
            }
            Ok(Step::Screen(rest.to_owned()))
        }
        "print" => Ok(Step::Print(decode_escapes(rest)?)),
        "title" => Ok(Step::Title(decode_escapes(rest)?)),
        "raw" => Ok(Step::Raw(decode_escapes(rest)?)),
        "expect-reply" => Ok(Step::ExpectReply(millis(word, rest)?)),
        "sleep" => Ok(Step::Sleep(millis(word, rest)?)),
        "spinner" => Ok(Step::Spinner(millis(word, rest)?)),
        "expect-line" => no_arg(Step::ExpectLine),
        "expect-key" => Ok(Step::ExpectKey(key_name(rest)?)),
        "echo-input" => match rest {
            "" | "on" => Ok(Step::EchoInput(true)),
            "off" => Ok(Step::EchoInput(false)),
            _ => Err(format!("`echo-input` takes `on` or `off`, got `{rest}`")),
        },
        "exit" => rest
            .parse::<i32>()
            .ok()
            .filter(|c| (0..=255).contains(c))
            .map(Step::Exit)
            .ok_or_else(|| format!("`exit` needs a status from 0 to 255, got `{rest}`")),
        "freeze" => match rest {
            "" => Ok(Step::Freeze { spinner: false }),
            "spinner" => Ok(Step::Freeze { spinner: true }),
            _ => Err(format!("`freeze` takes nothing or `spinner`, got `{rest}`")),
        },
        "ignore-input" => {
            if rest.is_empty() {
                Ok(Step::IgnoreInput(None))
            } else {
                Ok(Step::IgnoreInput(Some(millis(word, rest)?)))
            }
        }
        "first-run" => {
            let (file, n) = rest.rsplit_once(' ').ok_or_else(|| format!("`first-run` needs FILE N, got `{rest}`"))?;
            let steps = n.trim().parse().map_err(|_| format!("`first-run` needs a step count, got `{n}`"))?;
            Ok(Step::FirstRun { file: file.trim().to_owned(), steps })
        }
        _ => Err(format!(
            "unknown step `{word}`; steps: screen, print, sleep, spinner, expect-line, expect-key, \
             echo-input, title, raw, expect-reply, exit, freeze, ignore-input, first-run"
        )),
    }
}

fn millis(word: &str, rest: &str) -> Result<u64, String> {
    rest.parse::<u64>()
        .ok()
        .filter(|ms| *ms <= 24 * 3600 * 1000)
        .ok_or_else(|| format!("`{word}` needs a duration in milliseconds (at most a day), got `{rest}`"))
}

/// A key name warden knows (`enter`, `down`, `escape`, `ctrl+c`, …) or one character.
fn key_name(rest: &str) -> Result<String, String> {
    if rest.chars().count() == 1 {
        return Ok(rest.to_owned());
    }
    let name = canonical_key_name(rest).ok_or_else(|| {
        format!("`expect-key` needs a key name (enter, down, escape, ctrl+c, …) or one character, got `{rest}`")
    })?;
    key_bytes(&name).map_err(|e| format!("`expect-key {rest}`: {e}"))?;
    Ok(name)
}

/// Decodes `\n`, `\r`, `\t`, `\e` (escape), `\\` and `\;`.
fn decode_escapes(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('e') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some(';') => out.push(';'),
            Some(other) => return Err(format!("unknown escape `\\{other}`; escapes: \\n \\r \\t \\e \\\\ \\;")),
            None => return Err("a lone `\\` ends the text".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_script_parses_every_step() {
        let steps = parse_inline(
            "screen ready; expect-line; echo-input off; print got {input}\\; ok\\n; sleep 10; spinner 200; \
             expect-key esc; expect-key y; title ◇  Ready; ignore-input 50; freeze spinner; exit 3",
        )
        .expect("parses");
        assert_eq!(
            steps,
            vec![
                Step::Screen("ready".into()),
                Step::ExpectLine,
                Step::EchoInput(false),
                Step::Print("got {input}; ok\n".into()),
                Step::Sleep(10),
                Step::Spinner(200),
                Step::ExpectKey("escape".into()),
                Step::ExpectKey("y".into()),
                Step::Title("◇  Ready".into()),
                Step::IgnoreInput(Some(50)),
                Step::Freeze { spinner: true },
                Step::Exit(3),
            ]
        );
    }

    #[test]
    fn file_script_skips_comments_and_blanks() {
        let steps = parse_lines("# a scenario\n\nscreen busy\n  exit 0  \n").expect("parses");
        assert_eq!(steps, vec![Step::Screen("busy".into()), Step::Exit(0)]);
    }

    #[test]
    fn semicolons_are_plain_text_in_files() {
        let steps = parse_lines("print a; b").expect("parses");
        assert_eq!(steps, vec![Step::Print("a; b".into())]);
    }

    #[test]
    fn bad_steps_say_where_and_what() {
        let cases = [
            ("screen ready; dance", 2, "unknown step `dance`"),
            ("sleep soon", 1, "milliseconds"),
            ("exit 300", 1, "0 to 255"),
            ("exit", 1, "0 to 255"),
            ("expect-key hyperspace", 1, "key name"),
            ("screen", 1, "screen name"),
            ("expect-line now", 1, "no argument"),
            ("print a\\q", 1, "unknown escape"),
            ("freeze hard", 1, "`spinner`"),
            ("echo-input maybe", 1, "`on` or `off`"),
        ];
        for (script, step, needle) in cases {
            let err = parse_inline(script).expect_err(script);
            assert_eq!(err.step, step, "{script}: {err}");
            assert!(err.message.contains(needle), "{script}: {err}");
        }
    }

    #[test]
    fn empty_scripts_are_refused() {
        assert!(parse_inline(" ; ;").is_err());
        assert!(parse_lines("# nothing\n").is_err());
    }

    #[test]
    fn key_aliases_are_canonical() {
        assert_eq!(parse_inline("expect-key return").ok(), Some(vec![Step::ExpectKey("enter".into())]));
        assert_eq!(parse_inline("expect-key ctrl+c").ok(), Some(vec![Step::ExpectKey("ctrl+c".into())]));
    }
}
