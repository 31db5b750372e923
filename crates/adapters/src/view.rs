//! What detectors look at: a terminal screen and the regions of it that rules name.
//!
//! A [`ScreenView`] is what the session's screen model (a VT parser such as `vt100`)
//! knows at one moment: the visible rows as text, the last few KB of scrollback, the
//! terminal title set by OSC 0/2 and the cursor. A [`Region`] names a part of it;
//! [`Prepared`] finds the line structure once per screen so that every rule can take its
//! region by slicing, without copying.

use std::fmt;

/// One look at a terminal: the input of every detector. Cheap to build (borrows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScreenView<'a> {
    /// The visible screen, one line per row, joined with `\n` (trailing blanks allowed).
    pub text: &'a str,
    /// The last few KB of scrollback above the visible screen (may be empty).
    pub scrollback: &'a str,
    /// The terminal title (OSC 0/2), empty when none was set.
    pub title: &'a str,
    /// Cursor position as (row, column), zero-based.
    pub cursor: (u16, u16),
    /// Screen width in columns; 0 when unknown (then the widest line is used).
    pub cols: u16,
}

impl<'a> ScreenView<'a> {
    /// A view of `text` only: no scrollback, no title, cursor at the origin.
    pub fn text(text: &'a str) -> Self {
        ScreenView { text, ..Default::default() }
    }

    /// The same view with the screen width set.
    pub fn with_cols(mut self, cols: u16) -> Self {
        self.cols = cols;
        self
    }
}

/// A part of the screen a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// The whole visible screen (`screen`).
    Screen,
    /// The first N lines (`top:N`).
    Top(usize),
    /// From the N-th last non-blank line to the end (`bottom:N`).
    Bottom(usize),
    /// The lines after the last horizontal rule (`after_last_rule`).
    AfterLastRule,
    /// The N non-blank lines just above the last horizontal rule (`above_last_rule:N`).
    AboveLastRule(usize),
    /// The lines between the last two horizontal rules: the input box of Claude Code or
    /// pi (`prompt_box`). Empty when the screen has fewer than two rules.
    PromptBox,
    /// The N non-blank lines just above the prompt box's upper rule (`above_prompt_box:N`).
    AbovePromptBox(usize),
    /// The terminal title (`title`).
    Title,
    /// The scrollback tail and the screen (`scrollback`): a rule matches if either does.
    Scrollback,
}

impl Region {
    /// Parses the manifest form (`screen`, `bottom:12`, `prompt_box`, …).
    pub fn parse(s: &str) -> Result<Region, String> {
        let s = s.trim();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s, None),
        };
        let num = |what: &str| -> Result<usize, String> {
            let a = arg.ok_or_else(|| format!("region `{what}` needs a line count, e.g. `{what}:5`"))?;
            match a.parse::<usize>() {
                Ok(n) if n > 0 && n <= 1000 => Ok(n),
                _ => Err(format!("region `{s}`: the line count must be a number from 1 to 1000")),
            }
        };
        let no_arg =
            |r: Region| if arg.is_some() { Err(format!("region `{name}` takes no line count")) } else { Ok(r) };
        match name {
            "screen" => no_arg(Region::Screen),
            "top" => Ok(Region::Top(num("top")?)),
            "bottom" => Ok(Region::Bottom(num("bottom")?)),
            "after_last_rule" => no_arg(Region::AfterLastRule),
            "above_last_rule" => Ok(Region::AboveLastRule(num("above_last_rule")?)),
            "prompt_box" => no_arg(Region::PromptBox),
            "above_prompt_box" => Ok(Region::AbovePromptBox(num("above_prompt_box")?)),
            "title" => no_arg(Region::Title),
            "scrollback" => no_arg(Region::Scrollback),
            _ => Err(format!(
                "unknown region `{s}`; regions: screen, top:N, bottom:N, after_last_rule, above_last_rule:N, \
                 prompt_box, above_prompt_box:N, title, scrollback"
            )),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Screen => f.write_str("screen"),
            Region::Top(n) => write!(f, "top:{n}"),
            Region::Bottom(n) => write!(f, "bottom:{n}"),
            Region::AfterLastRule => f.write_str("after_last_rule"),
            Region::AboveLastRule(n) => write!(f, "above_last_rule:{n}"),
            Region::PromptBox => f.write_str("prompt_box"),
            Region::AbovePromptBox(n) => write!(f, "above_prompt_box:{n}"),
            Region::Title => f.write_str("title"),
            Region::Scrollback => f.write_str("scrollback"),
        }
    }
}

/// A screen with its line structure found once: line offsets, blank lines, horizontal
/// rules. Regions are byte ranges of the screen text.
#[derive(Debug)]
pub struct Prepared<'a> {
    /// The view this was made from.
    pub view: ScreenView<'a>,
    /// (start, end) byte offsets of each line of `view.text`, without the `\n`.
    lines: Vec<(usize, usize)>,
    /// Whether each line is blank.
    blank: Vec<bool>,
    /// Indices of horizontal-rule lines, in order.
    rules: Vec<usize>,
    /// Screen width used to recognise wrapped lines.
    width: usize,
}

/// Whether a line is a horizontal rule: at least 10 `─`/`━`/`═` and nothing else but blanks.
fn is_rule(line: &str) -> bool {
    let mut n = 0;
    for c in line.chars() {
        match c {
            '─' | '━' | '═' => n += 1,
            c if c.is_whitespace() => {}
            _ => return false,
        }
    }
    n >= 10
}

impl<'a> Prepared<'a> {
    /// Finds the line structure of `view`.
    pub fn new(view: ScreenView<'a>) -> Self {
        let text = view.text;
        let mut lines = Vec::with_capacity(48);
        let mut blank = Vec::with_capacity(48);
        let mut rules = Vec::new();
        let mut widest = 0;
        let mut start = 0;
        for line in text.split('\n') {
            let end = start + line.len();
            // ASCII blanks first: screens are mostly padding.
            let trimmed = line.trim_ascii();
            let trimmed = if trimmed.is_empty() { trimmed } else { trimmed.trim() };
            blank.push(trimmed.is_empty());
            if trimmed.starts_with(['─', '━', '═']) && is_rule(trimmed) {
                rules.push(lines.len());
            }
            if view.cols == 0 {
                widest = widest.max(line.trim_end().chars().count());
            }
            lines.push((start, end));
            start = end + 1;
        }
        if text.ends_with('\n') {
            // No line after the final line break.
            lines.pop();
            blank.pop();
        }
        let width = if view.cols > 0 { usize::from(view.cols) } else { widest };
        Prepared { view, lines, blank, rules, width }
    }

    fn span(&self, from: usize, to: usize) -> &'a str {
        // Lines from index `from` (inclusive) to `to` (exclusive).
        if from >= to || from >= self.lines.len() {
            return "";
        }
        let start = self.lines[from].0;
        let end = self.lines[to.min(self.lines.len()) - 1].1;
        &self.view.text[start..end]
    }

    /// Index of the line N non-blank lines up from `before` (exclusive), or 0.
    fn up_non_blank(&self, before: usize, n: usize) -> usize {
        let mut seen = 0;
        let mut i = before;
        while i > 0 {
            i -= 1;
            if !self.blank[i] {
                seen += 1;
                if seen == n {
                    return i;
                }
            }
        }
        0
    }

    /// The text of `region`. For [`Region::Scrollback`] this is the screen; the caller
    /// also tries [`ScreenView::scrollback`].
    pub fn region(&self, region: Region) -> &'a str {
        let n = self.lines.len();
        match region {
            Region::Screen | Region::Scrollback => self.view.text,
            Region::Title => self.view.title,
            Region::Top(k) => self.span(0, k.min(n)),
            Region::Bottom(k) => {
                let last = (0..n).rev().find(|&i| !self.blank[i]);
                match last {
                    Some(last) => self.span(self.up_non_blank(last + 1, k), last + 1),
                    None => "",
                }
            }
            Region::AfterLastRule => match self.rules.last() {
                Some(&r) => self.span(r + 1, n),
                None => "",
            },
            Region::AboveLastRule(k) => match self.rules.last() {
                Some(&r) => self.span(self.up_non_blank(r, k), r),
                None => "",
            },
            Region::PromptBox => match self.rules.len() {
                0 | 1 => "",
                len => self.span(self.rules[len - 2] + 1, self.rules[len - 1]),
            },
            Region::AbovePromptBox(k) => match self.rules.len() {
                0 | 1 => "",
                len => {
                    let upper = self.rules[len - 2];
                    self.span(self.up_non_blank(upper, k), upper)
                }
            },
        }
    }

    /// The first URL at or after byte `from` of the screen text (else the first on
    /// screen), with lines that were wrapped at the screen width joined again.
    pub fn url_after(&self, from: usize) -> Option<String> {
        let text = self.view.text;
        let at = text.get(from..).and_then(|t| find_url(t).map(|i| i + from)).or_else(|| find_url(text))?;
        let line_idx = self.lines.iter().position(|&(s, e)| at >= s && at <= e)?;
        let (line_start, line_end) = self.lines[line_idx];
        let mut piece: &str = text[at..line_end].split(char::is_whitespace).next().unwrap_or_default();
        let mut url = piece.to_string();
        let mut line = &text[line_start..line_end];
        let mut next = line_idx + 1;
        // Joined while the URL runs to the end of a full-width line and the next line is one word.
        while self.width > 0
            && line.trim_end().ends_with(piece)
            && line.trim_end().chars().count() + 2 >= self.width
            && next < self.lines.len()
        {
            let (s, e) = self.lines[next];
            let cont = text[s..e].trim();
            if cont.is_empty() || cont.contains(char::is_whitespace) {
                break;
            }
            url.push_str(cont);
            piece = cont;
            line = &text[s..e];
            next += 1;
        }
        Some(url)
    }

    /// The line (trimmed) containing byte `at` of the screen text.
    pub fn line_at(&self, at: usize) -> &'a str {
        let text = self.view.text;
        match self.lines.iter().find(|&&(s, e)| at >= s && at <= e) {
            Some(&(s, e)) => text[s..e].trim(),
            None => "",
        }
    }

    /// Byte offset of `sub` (a slice of the screen text) within it, if it is one.
    pub fn offset_of(&self, sub: &str) -> Option<usize> {
        let base = self.view.text.as_ptr() as usize;
        let p = sub.as_ptr() as usize;
        (p >= base && p + sub.len() <= base + self.view.text.len()).then(|| p - base)
    }
}

fn find_url(text: &str) -> Option<usize> {
    let a = text.find("https://");
    let b = text.find("http://");
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Numbered or marked menu items visible in a piece of screen text.
///
/// An item is a line starting with a selection marker (`❯ › > ● →`) or a number (`2.`).
/// When the selected item is numbered, the other numbered lines are its siblings;
/// otherwise lines whose text starts in the same column as the selected item's are.
pub fn choices_in(text: &str) -> Vec<Choice> {
    fn strip_box(line: &str) -> &str {
        line.trim_start_matches(|c: char| c == '│' || c == '┃' || c.is_whitespace())
    }
    fn split_marker(s: &str) -> (bool, &str) {
        let mut it = s.chars();
        match it.next() {
            Some('❯' | '›' | '>' | '●' | '→' | '▸' | '▶') => (true, it.as_str().trim_start()),
            _ => (false, s),
        }
    }
    fn numbered(s: &str) -> Option<&str> {
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 2 {
            return None;
        }
        s[digits..].strip_prefix(". ").map(str::trim)
    }
    fn clean(s: &str) -> String {
        s.trim_end_matches(|c: char| c == '│' || c == '┃' || c.is_whitespace()).trim_start_matches("✔ ").to_string()
    }
    let lines: Vec<&str> = text.lines().collect();
    // Column where an item's text starts, after box borders and marker.
    let col = |line: &str| -> usize {
        let body = strip_box(line);
        let (_, rest) = split_marker(body);
        line.chars().count() - rest.chars().count()
    };
    let Some(sel) = lines.iter().position(|l| {
        let (m, rest) = split_marker(strip_box(l));
        m && !rest.is_empty()
    }) else {
        // No marker: plain numbered lists only.
        return lines
            .iter()
            .filter_map(|l| numbered(strip_box(l)).map(|t| Choice { label: clean(t), selected: false }))
            .collect();
    };
    let (_, sel_rest) = split_marker(strip_box(lines[sel]));
    let sel_numbered = numbered(sel_rest).is_some();
    let sel_col = col(lines[sel]);
    let is_sibling = |l: &str| -> bool {
        let (m, rest) = split_marker(strip_box(l));
        if rest.is_empty() || m {
            return false;
        }
        if sel_numbered { numbered(rest).is_some() } else { col(l) == sel_col }
    };
    let mut out = Vec::new();
    // Up.
    let mut i = sel;
    let mut above = Vec::new();
    while i > 0 {
        i -= 1;
        let l = lines[i];
        if strip_box(l).is_empty() {
            break;
        }
        if is_sibling(l) {
            above.push(l);
        } else if col(l) <= sel_col && !sel_numbered {
            break;
        }
    }
    for l in above.into_iter().rev() {
        let (_, rest) = split_marker(strip_box(l));
        out.push(Choice { label: clean(numbered(rest).unwrap_or(rest)), selected: false });
    }
    out.push(Choice { label: clean(numbered(sel_rest).unwrap_or(sel_rest)), selected: true });
    for &l in &lines[sel + 1..] {
        let body = strip_box(l);
        if body.is_empty() {
            if sel_numbered {
                continue;
            }
            break;
        }
        if is_sibling(l) {
            let (_, rest) = split_marker(body);
            out.push(Choice { label: clean(numbered(rest).unwrap_or(rest)), selected: false });
        } else if col(l) < sel_col || (sel_numbered && col(l) == sel_col) {
            break;
        }
    }
    out
}

/// One item of a menu shown on screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Choice {
    /// The item's text, without marker and number.
    pub label: String,
    /// Whether the item is the selected one.
    pub selected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: &str =
        "header\n\nbody 1\nbody 2\n──────────────────\n❯ typed\n──────────────────\n  footer ? for shortcuts\n";

    #[test]
    fn regions_slice_the_screen() {
        let p = Prepared::new(ScreenView::text(SCREEN));
        assert_eq!(p.region(Region::Top(1)), "header");
        assert_eq!(p.region(Region::Bottom(1)), "  footer ? for shortcuts");
        assert_eq!(p.region(Region::PromptBox), "❯ typed");
        assert_eq!(p.region(Region::AbovePromptBox(2)), "body 1\nbody 2");
        assert_eq!(p.region(Region::AfterLastRule), "  footer ? for shortcuts");
        assert_eq!(p.region(Region::AboveLastRule(1)), "❯ typed");
        let empty = Prepared::new(ScreenView::text(""));
        assert_eq!(empty.region(Region::Bottom(3)), "");
        assert_eq!(empty.region(Region::PromptBox), "");
    }

    #[test]
    fn regions_parse_and_print() {
        for s in [
            "screen",
            "top:3",
            "bottom:12",
            "after_last_rule",
            "above_last_rule:2",
            "prompt_box",
            "above_prompt_box:4",
            "title",
            "scrollback",
        ] {
            assert_eq!(Region::parse(s).expect("valid").to_string(), s);
        }
        assert!(Region::parse("bottom").expect_err("needs n").contains("bottom:5"));
        assert!(Region::parse("bottom:0").is_err());
        assert!(Region::parse("middle").expect_err("unknown").contains("regions:"));
        assert!(Region::parse("screen:3").is_err());
    }

    #[test]
    fn wrapped_urls_are_joined() {
        let text = "see:\nhttps://example.com/aaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\ncc\n\nnext";
        let p = Prepared::new(ScreenView::text(text).with_cols(30));
        assert_eq!(p.url_after(0).as_deref(), Some("https://example.com/aaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbcc"));
        let short = Prepared::new(ScreenView::text("go https://a.b/c now\nnext").with_cols(80));
        assert_eq!(short.url_after(0).as_deref(), Some("https://a.b/c"));
    }

    #[test]
    fn menus_are_read() {
        let c = choices_in(" ❯ No, exit\n   Yes, I trust this folder\n\n Enter to confirm");
        assert_eq!(
            c.iter().map(|c| (c.label.as_str(), c.selected)).collect::<Vec<_>>(),
            [("No, exit", true), ("Yes, I trust this folder", false)]
        );
        let c = choices_in(
            "> 1. Sign in with ChatGPT\n     Usage included\n  2. Sign in with Device Code\n  3. Other\n  Press enter to continue",
        );
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].label, "Sign in with Device Code");
        let c = choices_in(
            "│   ● 1. Trust folder (repo)   │\n│     2. Trust parent folder   │\n│     3. Don't trust           │",
        );
        assert_eq!(
            c.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
            ["Trust folder (repo)", "Trust parent folder", "Don't trust"]
        );
    }
}
