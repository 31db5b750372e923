//! Short excerpts of screen text for events and errors.

/// `s` cut to at most `max` characters, with `…` when cut.
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
