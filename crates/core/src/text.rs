//! Checks of text from outside that reaches a terminal, a file name, git or
//! a command line: names, refs, paths and tasks carry no NUL and no control
//! characters (a task may carry newlines and tabs; nothing else unprintable).

/// A control character where none is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} contains the control character U+{:04X}{}", *ch as u32, if *task { "; a task may carry newlines and tabs only (send keys with `keys`)" } else { "" })]
pub struct ControlChar {
    /// The field it was found in.
    pub field: &'static str,
    /// The character.
    pub ch: char,
    /// The field is a task (newlines and tabs are allowed there).
    pub task: bool,
}

/// Refuses any control character (C0, DEL, C1) in a name, ref or path.
pub fn check_name(field: &'static str, value: &str) -> Result<(), ControlChar> {
    match value.chars().find(|c| c.is_control()) {
        Some(ch) => Err(ControlChar { field, ch, task: false }),
        None => Ok(()),
    }
}

/// Refuses control characters other than newline and tab in a task (text
/// that warden types into an agent: a `\u{3}` would interrupt it, an escape
/// sequence would garble its screen).
pub fn check_task(field: &'static str, value: &str) -> Result<(), ControlChar> {
    match value.chars().find(|&c| c.is_control() && c != '\n' && c != '\t') {
        Some(ch) => Err(ControlChar { field, ch, task: true }),
        None => Ok(()),
    }
}

/// `text` with `%XX` escapes decoded (others kept as they are): the user part of a
/// URL, a query parameter's name.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_every_control_character_and_tasks_all_but_newline_and_tab() {
        for bad in ["a\0b", "a\u{1b}[2J", "\u{3}", "x\u{7f}", "x\u{85}", "a\nb", "a\tb", "a\rb"] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
        for ok in ["main", "feat/x", "dir with space/ü"] {
            assert!(check_name("name", ok).is_ok(), "{ok:?}");
        }
        for bad in ["a\0b", "echo \u{1b}[2J", "\u{3}", "x\u{7f}", "a\rb", "x\u{9b}31m"] {
            let e = check_task("task", bad).expect_err(bad);
            assert!(e.to_string().contains("newlines and tabs"), "{e}");
        }
        for ok in ["echo hi", "line one\nline two\twith a tab", "ünïcode ✓"] {
            assert!(check_task("task", ok).is_ok(), "{ok:?}");
        }
    }
}
