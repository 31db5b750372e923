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
    format!("\x1b7\x1b[{rows};1H\x1b[2K\x1b[7m{fitted}\x1b[0m\x1b8").into_bytes()
}

/// The bytes that take the status line away: the bottom row drawn again with
/// `row_text`, what the program had there (text only; its colours are lost until it
/// draws the row again).
pub fn clear_status(rows: u16, row_text: &str) -> Vec<u8> {
    let text: String = row_text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("\x1b7\x1b[{rows};1H\x1b[2K{text}\x1b8").into_bytes()
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
}
