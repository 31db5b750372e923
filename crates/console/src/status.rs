//! The status line: one line warden draws over the bottom row of the terminal while it
//! has something to say (a pending confirmation, a short note), and takes away again.
//!
//! It is drawn between DECSC and DECRC (`ESC 7` … `ESC 8`), which save and restore the
//! cursor and its attributes, so the program's next output continues where it was.
//! While it is shown it is drawn again after every output (the program may have
//! written over it or scrolled it away).

use unicode_width::UnicodeWidthChar;

/// The bytes that draw `text` (in reverse video, cut to fit, control characters
/// replaced) on the bottom row of a `rows` × `cols` terminal.
pub fn draw_status(rows: u16, cols: u16, text: &str) -> Vec<u8> {
    let mut fitted = String::new();
    let mut width = 0usize;
    // One column is left free: writing the last column can wrap on some terminals.
    let room = usize::from(cols.saturating_sub(1)).max(1);
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let w = c.width().unwrap_or(0);
        if width + w > room {
            break;
        }
        width += w;
        fitted.push(c);
    }
    // In ASCII whatever character set the program has on (`ESC ( 0` would draw the
    // text as line-drawing glyphs); DECRC puts the program's back.
    format!("\x1b7\x0f\x1b(B\x1b[{rows};1H\x1b[2K\x1b[7m{fitted}\x1b[0m\x1b8").into_bytes()
}

/// The bytes that take the status line away: the bottom row drawn again with
/// `row_text`, what the program had there (text only; its colours are lost until it
/// draws the row again).
pub fn clear_status(rows: u16, row_text: &str) -> Vec<u8> {
    let text: String = row_text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("\x1b7\x1b[{rows};1H\x1b[2K{text}\x1b8").into_bytes()
}

/// `bytes` of [`draw_status`] or [`clear_status`] made to reach the bottom row while the
/// program has origin mode on (`CSI ? 6 h`: rows count from its scroll region's top and
/// the cursor cannot leave the region): the mode goes off after DECSC and on again before
/// DECRC, which puts the cursor back (and the mode too, where the terminal saved it).
pub fn past_origin_mode(bytes: &[u8]) -> Vec<u8> {
    let inner = bytes.strip_prefix(b"\x1b7").and_then(|b| b.strip_suffix(b"\x1b8")).unwrap_or(bytes);
    [&b"\x1b7\x1b[?6l"[..], inner, b"\x1b[?6h\x1b8"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::term::Screen;

    #[test]
    fn drawn_on_the_bottom_row_and_the_cursor_stays() {
        let mut s = Screen::new(5, 20);
        s.process(b"$ ls\r\nfile\r\n$ ");
        let before = s.cursor();
        s.process(&draw_status(5, 20, "c1 pending\x1b[2J: allow? y/n, and a long tail that is cut"));
        assert_eq!(s.cursor(), before);
        assert_eq!(s.row_text(4), "c1 pending [2J: all");
        assert_eq!(s.row_text(0), "$ ls", "nothing else moved");
        s.process(&clear_status(5, ""));
        assert_eq!(s.row_text(4), "");
        assert_eq!(s.cursor(), before);
    }

    /// The reported defect: with the program's line drawing (`ESC ( 0`) or shift-out
    /// on, the status line's text was drawn as line-drawing glyphs.
    #[test]
    fn its_text_is_ascii_whatever_set_the_program_has_on() {
        let bytes = draw_status(5, 20, "watching only");
        let text = bytes.iter().position(|&b| b == b'w').expect("the text");
        let before = &bytes[..text];
        assert!(before.windows(4).any(|w| w == b"\x0f\x1b(B"), "SI and G0 = ASCII before the text: {before:?}");
        assert!(bytes.starts_with(b"\x1b7") && bytes.ends_with(b"\x1b8"), "and the program's set back after");
        let mut s = Screen::new(5, 20);
        s.process(b"\x1b(0\x0e");
        s.process(&bytes);
        let modes = s.output_modes();
        assert!(modes.line_drawing && modes.shifted_out, "DECRC gives the program its set back: {modes:?}");
    }

    #[test]
    fn under_origin_mode_it_is_still_drawn_on_the_bottom_row() {
        let mut s = Screen::new(6, 20);
        // A program scrolling rows 2–4 only, addressing them from the region's top.
        s.process(b"\x1b[2;4r\x1b[?6h\x1b[2;3Hin");
        let before = s.cursor();
        let mut plain = Screen::new(6, 20);
        plain.process(b"\x1b[2;4r\x1b[?6h\x1b[2;3Hin");
        plain.process(&draw_status(6, 20, "status"));
        assert_eq!(plain.row_text(3), "status", "without: clamped into the region");
        s.process(&past_origin_mode(&draw_status(6, 20, "status")));
        assert_eq!(s.row_text(5), "status");
        assert_eq!(s.row_text(2), "  in", "nothing else moved");
        assert_eq!(s.cursor(), before);
        assert!(s.origin_mode(), "the program's mode is on again");
        s.process(&past_origin_mode(&clear_status(6, "")));
        assert_eq!(s.row_text(5), "");
        assert_eq!(s.cursor(), before);
        assert!(s.origin_mode());
    }
}
