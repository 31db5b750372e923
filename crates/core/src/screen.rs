//! Screen normalisation: turning terminal screen text into a stable form for hashing.
//!
//! Stall detection asks "has the screen changed?" A TUI that is stuck still repaints: its
//! spinner turns, its elapsed-time counter ticks, its status verb changes ("Cogitating…" →
//! "Vibing…"), its token counter climbs. [`normalize`] removes exactly those moving parts,
//! so that two screens that differ only by them normalise to the same text and the same
//! [`screen_hash`]. It is pure, never panics and is idempotent
//! (`normalize(&normalize(s)) == normalize(s)`).
//!
//! What it does, line by line:
//!
//! - removes escape sequences (CSI, OSC, DCS/SOS/PM/APC, two-byte ESC sequences), C1 and
//!   C0 control characters (a tab becomes a space, a lone CR a line break), in case raw
//!   text is given rather than the text of a parsed screen;
//! - removes braille glyphs (U+2800–U+28FF, the spinners of Gemini CLI, pi and others)
//!   wherever they are;
//! - removes spinner glyphs at the start of a line (after indentation): `| / - \ *`,
//!   `· ✢ ✳ ✶ ✻ ✽` (Claude Code), `• ◦` (Codex), `● ○ ◐ ◓ ◑ ◒ ⏺` and the like, when
//!   followed by a blank; shade blocks `░ ▒ ▓ █` (Aider's bouncing bar) even when not;
//! - after such a glyph, a first word ending in an ellipsis (`Thinking...`,
//!   `Cogitating…`) becomes `…`, because some CLIs rotate that verb while they work;
//! - collapses runs of blanks to one space and trims both ends of the line;
//! - replaces elapsed-time counters (`8m 17s`, `(2.4s)`, `14s`, `850ms`, `1h2m`) with `0s`;
//! - replaces token counts (`1.2k tokens`, `↓ 340`) with `N`;
//! - drops blank lines at the end.
//!
//! ```
//! use warden_core::screen::{normalize, screen_hash};
//!
//! let a = "❯ hi\n✻ Cogitating… (12s · ↓ 1.2k tokens · esc to interrupt)\n\n";
//! let b = "❯ hi\n✽ Vibing… (13s · ↓ 1.3k tokens · esc to interrupt)";
//! assert_eq!(normalize(a), "❯ hi\n… (0s · ↓ N tokens · esc to interrupt)");
//! assert_eq!(screen_hash(a), screen_hash(b));
//! ```

/// Removes terminal escape sequences and control characters from `input`.
///
/// CSI (`ESC [` … final byte), OSC (`ESC ]` … BEL or ST), DCS/SOS/PM/APC (`ESC P|X|^|_` …
/// ST), ESC + intermediates + final, and the 8-bit C1 forms are dropped entirely. A tab
/// becomes a space, CR LF and a lone CR become LF, other C0/C1 controls and DEL are
/// dropped. Unterminated sequences at the end are dropped.
pub fn strip_escapes(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string(&mut chars),
                Some(c) if ('\x20'..='\x2f').contains(&c) => {
                    // ESC intermediates… final (e.g. `ESC ( B`).
                    for c in chars.by_ref() {
                        if !('\x20'..='\x2f').contains(&c) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => out.push(' '),
            '\n' => out.push('\n'),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if (c as u32) < 0x20 || c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c) => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\x40'..='\x7e').contains(&c) {
            break;
        }
    }
}

/// Skips an OSC/DCS-style string up to BEL, ESC `\` or the C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => break,
            '\x1b' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

fn needs_strip(s: &str) -> bool {
    s.chars().any(|c| (c < ' ' && c != '\n') || c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c))
}

/// Glyphs removed at the start of a line when a blank (or the end of the line) follows.
fn is_spinner_glyph(c: char) -> bool {
    matches!(
        c,
        '|' | '/'
            | '-'
            | '\\'
            | '*'
            | '+'
            | '·'
            | '✢'
            | '✳'
            | '✶'
            | '✻'
            | '✽'
            | '✺'
            | '✹'
            | '✸'
            | '✷'
            | '✦'
            | '✧'
            | '•'
            | '◦'
            | '●'
            | '○'
            | '◉'
            | '◎'
            | '◐'
            | '◓'
            | '◑'
            | '◒'
            | '◴'
            | '◵'
            | '◶'
            | '◷'
            | '⏺'
            | '∙'
            | '⋅'
    )
}

/// Shade and block glyphs removed at the start of a line even when text follows at once.
fn is_block_glyph(c: char) -> bool {
    matches!(c, '░' | '▒' | '▓' | '█' | '▁' | '▂' | '▃' | '▄' | '▅' | '▆' | '▇')
}

fn is_braille(c: char) -> bool {
    ('\u{2800}'..='\u{28ff}').contains(&c)
}

/// Normalises screen text for hashing; see the [module docs](self) for what is removed.
pub fn normalize(screen: &str) -> String {
    let stripped;
    let text = if needs_strip(screen) {
        stripped = strip_escapes(screen);
        stripped.as_str()
    } else {
        screen
    };
    let mut out = String::with_capacity(text.len());
    let mut keep = 0; // length of `out` up to the end of the last non-blank line
    let mut line_buf = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        normalize_line(line, &mut line_buf);
        out.push_str(&line_buf);
        if !line_buf.is_empty() {
            keep = out.len();
        }
    }
    out.truncate(keep);
    out
}

/// Normalises one line (without its line break) into `out` (cleared first).
fn normalize_line(line: &str, out: &mut String) {
    out.clear();
    // 1. Leading blanks and spinner glyphs.
    let mut rest = line;
    let mut had_spinner = false;
    loop {
        let mut it = rest.chars();
        let Some(c) = it.next() else { break };
        if c.is_whitespace() {
            rest = it.as_str();
            continue;
        }
        if is_braille(c) || is_block_glyph(c) {
            had_spinner = true;
            rest = it.as_str();
            continue;
        }
        if is_spinner_glyph(c) {
            match it.clone().next() {
                None => {
                    rest = it.as_str();
                    had_spinner = true;
                    continue;
                }
                Some(n) if n.is_whitespace() || is_braille(n) => {
                    rest = it.as_str();
                    had_spinner = true;
                    continue;
                }
                _ => {}
            }
        }
        break;
    }
    // 2. A rotating status verb right after a spinner.
    if had_spinner {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..word_end];
        let starts_upper = word.chars().next().is_some_and(char::is_uppercase);
        let stem = word.strip_suffix('…').or_else(|| word.strip_suffix("..."));
        if starts_upper && stem.is_some_and(|s| s.chars().all(char::is_alphabetic)) {
            out.push('…');
            rest = &rest[word_end..];
        }
    }
    // 3. Collapse blanks (braille counts as blank), trim the end.
    let mut pending_space = !out.is_empty();
    for c in rest.chars() {
        if c.is_whitespace() || is_braille(c) {
            pending_space = true;
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    // 4. Counters.
    if out.bytes().any(|b| b.is_ascii_digit()) {
        let replaced = replace_counters(out);
        *out = replaced;
    }
}

/// Replaces durations with `0s` and token counts with `N`.
fn replace_counters(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let prev_ok = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.' || chars[i - 1] == '_');
        if prev_ok && chars[i].is_ascii_digit() {
            if let Some(end) = duration_end(&chars, i) {
                out.push_str("0s");
                i = end;
                continue;
            }
            if let Some(end) = token_count_end(&chars, i) {
                out.push('N');
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Number at `start`: digits with optional `.`/`,` groups. Returns the end index.
fn number_end(chars: &[char], start: usize) -> usize {
    let mut j = start;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    while j + 1 < chars.len() && (chars[j] == '.' || chars[j] == ',') && chars[j + 1].is_ascii_digit() {
        j += 1;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
    }
    j
}

/// `(\d+(\.\d+)?(ms|h|m|s))+` not followed by an alphanumeric character.
fn duration_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    let mut any = false;
    loop {
        if j >= chars.len() || !chars[j].is_ascii_digit() {
            break;
        }
        let mut k = j;
        while k < chars.len() && chars[k].is_ascii_digit() {
            k += 1;
        }
        if k + 1 < chars.len() && chars[k] == '.' && chars[k + 1].is_ascii_digit() {
            k += 1;
            while k < chars.len() && chars[k].is_ascii_digit() {
                k += 1;
            }
        }
        let unit = match (chars.get(k), chars.get(k + 1)) {
            (Some('m'), Some('s')) => 2,
            (Some('h' | 'm' | 's'), _) => 1,
            _ => 0,
        };
        if unit == 0 {
            break;
        }
        j = k + unit;
        any = true;
    }
    let followed_ok = chars.get(j).is_none_or(|c| !(c.is_alphanumeric() || *c == '_'));
    (any && followed_ok).then_some(j)
}

/// A number (optionally `k`/`K`/`M` suffixed) that is a token count: followed by
/// ` tokens`/`tokens`, or preceded by an `↑`/`↓` arrow.
fn token_count_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = number_end(chars, start);
    if matches!(chars.get(j), Some('k' | 'K' | 'M')) {
        j += 1;
    }
    if chars.get(j).is_some_and(|c| c.is_alphanumeric() && !is_tokens_at(chars, j)) {
        return None;
    }
    let after = if chars.get(j) == Some(&' ') { j + 1 } else { j };
    let arrow_before = {
        let mut p = start;
        while p > 0 && chars[p - 1] == ' ' {
            p -= 1;
        }
        p > 0 && matches!(chars[p - 1], '↑' | '↓')
    };
    (is_tokens_at(chars, after) || arrow_before).then_some(j)
}

fn is_tokens_at(chars: &[char], at: usize) -> bool {
    let word = ['t', 'o', 'k', 'e', 'n'];
    chars.len() >= at + word.len()
        && chars[at..at + word.len()].iter().zip(word).all(|(a, b)| a.eq_ignore_ascii_case(&b))
}

/// 64-bit FNV-1a of `bytes`: deterministic across runs, platforms and releases.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a 64 of the [normalised](normalize) screen text.
pub fn screen_hash(screen: &str) -> u64 {
    fnv1a64(normalize(screen).as_bytes())
}

/// The last `n` lines of `text` (all of it when it has fewer).
pub fn tail_lines(text: &str, n: usize) -> &str {
    if n == 0 {
        return &text[text.len()..];
    }
    let trimmed = text.trim_end_matches('\n');
    let mut seen = 0;
    for (i, b) in trimmed.bytes().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return &trimmed[i + 1..];
            }
        }
    }
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_escape_sequences() {
        let raw =
            "\x1b[1;32mgreen\x1b[0m \x1b]0;title\x07x\x1b]8;;https://a\x1b\\link\x1b]8;;\x1b\\ \x1b(Bok\r\n\tz\x01";
        assert_eq!(strip_escapes(raw), "green xlink ok\n z");
        assert_eq!(strip_escapes("a\rb"), "a\nb");
        assert_eq!(strip_escapes("unterminated \x1b]0;tit"), "unterminated ");
    }

    #[test]
    fn spinners_counters_and_verbs_are_removed() {
        assert_eq!(
            normalize(" ⠴ Thinking... (esc to cancel, 1s)   ? for shortcuts"),
            "… (esc to cancel, 0s) ? for shortcuts"
        );
        assert_eq!(normalize("• Working (6s • esc to interrupt)"), "Working (0s • esc to interrupt)");
        assert_eq!(normalize("◦ Working (17s • esc to interrupt)"), "Working (0s • esc to interrupt)");
        assert_eq!(normalize(" ⠸ Working..."), "…");
        assert_eq!(normalize("      ░█   Waiting for gpt-4o"), "Waiting for gpt-4o");
        assert_eq!(normalize(" █░        Waiting for gpt-4o"), "Waiting for gpt-4o");
        assert_eq!(normalize("✻ Worked for 8m 17s"), "Worked for 0s 0s");
        assert_eq!(normalize("done (2.4s) 850ms 1h2m"), "done (0s) 0s 0s");
        assert_eq!(normalize("| building"), "building");
        assert_eq!(normalize("/ building"), "building");
        assert_eq!(normalize("(12s · ↑ 2.3k tokens)"), "(0s · ↑ N tokens)");
        assert_eq!(normalize("used 12,345 tokens"), "used N tokens");
    }

    #[test]
    fn ordinary_text_is_kept() {
        assert_eq!(normalize("gpt-4o v0.61.0 /model 3/10"), "gpt-4o v0.61.0 /model 3/10");
        assert_eq!(normalize("-rw-r--r-- file"), "-rw-r--r-- file");
        assert_eq!(normalize("Waiting up to 5 minutes"), "Waiting up to 5 minutes");
        assert_eq!(normalize("a\n\n  \n"), "a");
        assert_eq!(normalize("\n\nb  \n"), "\n\nb");
    }

    #[test]
    fn hash_is_fnv1a() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(screen_hash("x  \n\n"), screen_hash("x"));
    }

    #[test]
    fn tail_lines_counts_from_the_end() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("a\nb", 0), "");
    }

    const SPINNERS: &[&str] =
        &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "|", "/", "-", "\\", "✻", "✽", "✢", "·", "*", "•", "◦"];

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in "\\PC*|[\\x00-\\x7f]*|[ ⠴·✻•◦░█0-9smh.…a-zA-Z\\x1b\\[\\]\\n\\r]*") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            let _ = screen_hash(&s);
            let _ = tail_lines(&s, 3);
        }

        #[test]
        fn spinner_frames_and_counters_do_not_change_the_hash(
            a in 0..SPINNERS.len(), b in 0..SPINNERS.len(),
            s1 in 0u32..10_000, s2 in 0u32..10_000, m in 0u32..90,
            k1 in 0u32..999, k2 in 0u32..999,
            text in "[a-z][a-z ]{0,30}",
        ) {
            let x = format!("{} Working on {text} ({m}m {s1}s · ↓ {k1}.{k2}k tokens)\n", SPINNERS[a]);
            let y = format!("{} Working on {text} ({}m {s2}s · ↓ {k2}k tokens)  \n\n", SPINNERS[b], m + 1);
            prop_assert_eq!(screen_hash(&x), screen_hash(&y));
        }

        #[test]
        fn different_text_changes_the_hash(a in "[a-z]{1,20}", b in "[a-z]{1,20}") {
            prop_assume!(a != b);
            prop_assert_ne!(screen_hash(&format!("> {a}")), screen_hash(&format!("> {b}")));
        }
    }
}
