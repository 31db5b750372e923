//! What the policies read: one parsed screen ([`View`]) and the adapter's
//! reading of it ([`Look`]).

use warden_adapters::{ScreenView, Verdict};

/// A parsed screen at one moment, as detectors read it.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub text: String,
    pub scrollback: String,
    pub title: String,
    pub cursor: (u16, u16),
    pub cols: u16,
    /// Lines scrolled off the top so far (absolute line = scrolled + row).
    pub scrolled: u64,
    /// The last command status a shell reported on this screen.
    pub command: Option<warden_core::term::CommandStatus>,
}

impl View {
    pub(crate) fn screen_view(&self) -> ScreenView<'_> {
        ScreenView {
            text: &self.text,
            scrollback: &self.scrollback,
            title: &self.title,
            cursor: self.cursor,
            cols: self.cols,
        }
    }

    /// The cursor's row.
    pub(crate) fn cursor_line(&self) -> &str {
        self.text.split('\n').nth(usize::from(self.cursor.0)).unwrap_or("")
    }

    /// The last `n` non-empty lines, for event excerpts (at most 400 chars).
    pub(crate) fn excerpt(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        truncate_chars(&tail, 400)
    }
}

/// One look at the screen: what it shows and what the adapter (with the
/// session's own loading patterns) reads on it.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    pub view: View,
    pub verdict: Verdict,
}

/// `s` cut to `max` characters, with `…` when it was cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The last `n` lines of `text` (a suffix slice).
pub(crate) fn bottom_lines(text: &str, n: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    let mut start = trimmed.len();
    for _ in 0..n {
        match trimmed[..start].rfind('\n') {
            Some(i) => start = i,
            None => return trimmed,
        }
    }
    &trimmed[start + 1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_lines_are_suffixes() {
        assert_eq!(bottom_lines("a\nb\nc\n\n", 2), "b\nc");
        assert_eq!(bottom_lines("a", 3), "a");
        assert_eq!(bottom_lines("", 1), "");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hé", 2), "hé");
    }
}
