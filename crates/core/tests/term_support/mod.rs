//! Shared helpers for the screen-model tests: a vt100 oracle and a scan for the xterm
//! sequences our model handles but vt100 0.18 does not.

#![allow(dead_code)]

use warden_core::term::Screen;

/// Longest title the model keeps (bytes).
pub const TITLE_CAP: usize = 1024;

/// vt100 callbacks that record the title the way our model does.
#[derive(Default)]
pub struct Oracle {
    pub title: String,
}

impl Oracle {
    fn set_title(&mut self, parts: &[&[u8]]) {
        let mut title = String::from_utf8_lossy(&parts.join(&b';')).into_owned();
        if title.len() > TITLE_CAP {
            let mut cut = TITLE_CAP;
            while !title.is_char_boundary(cut) {
                cut -= 1;
            }
            title.truncate(cut);
        }
        self.title = title;
    }
}

impl vt100::Callbacks for Oracle {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.set_title(&[title]);
    }

    // vt100 only reports `OSC 0;title` with exactly one `;`; our model keeps a title
    // containing `;` whole.
    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        if let [b"0" | b"2", rest @ ..] = params
            && rest.len() > 1
        {
            self.set_title(rest);
        }
    }
}

/// Feeds `bytes` to vt100 one byte at a time. vte 0.15 (vt100's parser) loses characters
/// when a call completes a UTF-8 sequence split by the previous call and its 4-byte
/// look-ahead also holds invalid UTF-8; byte by byte never triggers that, and is otherwise
/// the same as any chunking.
pub fn feed(theirs: &mut vt100::Parser<Oracle>, bytes: &[u8]) {
    for b in bytes {
        theirs.process(std::slice::from_ref(b));
    }
}

pub fn oracle(rows: u16, cols: u16, scrollback: usize) -> vt100::Parser<Oracle> {
    let rows = std::num::NonZeroU16::new(rows.max(1)).expect("rows >= 1");
    let cols = std::num::NonZeroU16::new(cols.max(1)).expect("cols >= 1");
    vt100::Parser::new_with_callbacks(rows, cols, scrollback, Oracle::default())
}

/// Asserts that our screen shows what vt100 shows.
pub fn assert_same(ours: &Screen, theirs: &vt100::Parser<Oracle>, context: &str) {
    let screen = theirs.screen();
    assert_eq!(ours.text(), screen.contents(), "text differs ({context})");
    assert_eq!(ours.cursor(), screen.cursor_position(), "cursor differs ({context})");
    assert_eq!(ours.alternate_screen(), screen.alternate_screen(), "alternate screen ({context})");
    assert_eq!(ours.cursor_visible(), !screen.hide_cursor(), "cursor visibility ({context})");
    assert_eq!(ours.bracketed_paste(), screen.bracketed_paste(), "bracketed paste ({context})");
    assert_eq!(ours.title(), theirs.callbacks().title, "title ({context})");
    let (rows, cols) = ours.size();
    for (r, row) in screen.rows(0, cols).enumerate() {
        let r = u16::try_from(r).expect("rows fit u16");
        assert!(r < rows);
        assert_eq!(ours.row_text(r), row, "row {r} differs ({context})");
    }
}

/// The scrollback text vt100 (with a large scrollback) holds, joined the way the model
/// joins it. Needs no resize in the input: vt100 pulls rows back from its scrollback when
/// the screen grows.
pub fn oracle_scrollback(theirs: &mut vt100::Parser<Oracle>) -> String {
    let screen = theirs.screen_mut();
    let len = screen.scrollback_len();
    let (_, cols) = screen.size();
    let mut text = String::new();
    let mut wrapping = false;
    for j in 0..len {
        screen.set_scrollback(len - j);
        let row = screen.rows(0, cols.get()).next().unwrap_or_default();
        let wrapped = screen.row_wrapped(0);
        if row.is_empty() && wrapping {
            text.push('\n');
        }
        text.push_str(&row);
        if !wrapped {
            text.push('\n');
        }
        wrapping = wrapped;
    }
    screen.set_scrollback(0);
    while text.ends_with('\n') {
        text.pop();
    }
    text
}

/// Whether `bytes` contain a sequence our model implements and vt100 0.18 ignores:
/// IND (`ESC D`), NEL (`ESC E`), `CSI s`/`CSI u` without parameters, DECSET/DECRST 7
/// (autowrap) or 1047 (alternate screen). Comparisons with vt100 skip such inputs.
pub fn uses_xterm_extensions(bytes: &[u8]) -> bool {
    struct Scan(bool);
    impl vte::Perform for Scan {
        fn esc_dispatch(&mut self, intermediates: &[u8], _: bool, byte: u8) {
            if intermediates.is_empty() && matches!(byte, b'D' | b'E') {
                self.0 = true;
            }
        }
        fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], _: bool, action: char) {
            match (intermediates.first(), action) {
                (None, 's' | 'u') if params.iter().all(|p| p.iter().all(|&v| v == 0)) => self.0 = true,
                (Some(b'?'), 'h' | 'l') if params.iter().any(|p| p == [7] || p == [1047]) => self.0 = true,
                _ => {}
            }
        }
    }
    let mut scan = Scan(false);
    vte::Parser::new().advance(&mut scan, bytes);
    scan.0
}
