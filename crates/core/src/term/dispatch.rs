//! Escape sequences: the [`vte::Perform`] implementation of the terminal state.
//!
//! The sequences and their parameter defaults follow vt100 0.18, so that the screen text
//! agrees with it. A few xterm sequences vt100 lacks are handled too: IND (`ESC D`), NEL
//! (`ESC E`), SCOSC/SCORC (`CSI s`, `CSI u` without parameters), DECAWM (mode 7) and
//! mode 1047.
//! Mouse, focus, bracketed-paste and keyboard-protocol modes, whether SGR attributes are
//! in effect and the G0 character set are recorded (`modes.rs`) but change no text, as
//! are colours set with OSC 4, 10, 11 and 12 (and reset with OSC 104, 110–112); a
//! shell's `OSC 133 ; D ; status` is recorded as its last command status.
//! Everything else (DCS, APC, other OSC) is ignored.

use vte::Params;

use super::state::{TITLE_CAP, Term};

impl vte::Perform for Term {
    fn print(&mut self, c: char) {
        self.print_char(c);
    }

    fn execute(&mut self, byte: u8) {
        self.execute_c0(byte);
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], _ignore: bool, action: char) {
        // The parser is in its ground state after every CSI.
        self.stop = true;
        let n = first(params, 1);
        let grid = &mut self.grid;
        // Like vt100, only the first intermediate (or private marker) counts.
        match (intermediates.first(), action) {
            (None, '@') => grid.insert_cells(n),
            (None, 'A') => grid.row_dec_clamp(n),
            (None, 'B') => grid.row_inc_clamp(n),
            (None, 'C') => grid.col_inc_clamp(n),
            (None, 'D') => grid.col_dec(n),
            (None, 'E') => {
                grid.col_set(0);
                grid.row_inc_clamp(n);
            }
            (None, 'F') => {
                grid.col_set(0);
                grid.row_dec_clamp(n);
            }
            (None, 'G' | '`') => grid.col_set(n - 1),
            (None, 'H' | 'f') => {
                let (row, col) = two(params, 1, 1);
                grid.set_pos(row - 1, col - 1);
            }
            (None | Some(b'?'), 'J') => match first(params, 0) {
                0 => grid.erase_all_forward(),
                1 => grid.erase_all_backward(),
                2 => grid.erase_all(),
                3 => self.erase_scrollback(),
                _ => return,
            },
            (None | Some(b'?'), 'K') => match first(params, 0) {
                0 => grid.erase_row_forward(),
                1 => grid.erase_row_backward(),
                2 => grid.erase_row(),
                _ => return,
            },
            (None, 'L') => grid.insert_lines(n),
            (None, 'M') => grid.delete_lines(n),
            (None, 'P') => grid.delete_cells(n),
            (None, 'S') => self.scroll_up(n),
            (None, 'T') => grid.scroll_down(n),
            (None, 'X') => grid.erase_cells(n),
            (None, 'b') => self.repeat(n),
            (None, 'd') => grid.row_set(n - 1),
            (None, 'r') => {
                let (top, bottom) = two(params, 1, self.rows);
                grid.set_scroll_region(top - 1, bottom - 1);
                self.modes.scroll_region = top > 1 || bottom < self.rows;
            }
            (None, 'm') => {
                // Only a plain reset (`CSI m`, `CSI 0 m`) surely leaves no attribute on;
                // one parameter looked at, not all: SGR is the commonest sequence.
                self.modes.sgr(params.is_empty() || (params.len() == 1 && first(params, 0) == 0));
                return;
            }
            (None, 's') if no_params(params) => self.save_cursor(),
            (None, 'u') if no_params(params) => self.restore_cursor(),
            (Some(&marker @ (b'>' | b'<' | b'=')), 'u') => {
                let values: Vec<u16> = params.iter().map(|p| p.first().copied().unwrap_or(0)).take(4).collect();
                self.modes.kitty(marker, &values);
                return;
            }
            // IRM: recorded for the restore, text as vt100 (which ignores it).
            (None, 'h' | 'l') => {
                if params.iter().any(|p| p == [4]) {
                    self.modes.insert = action == 'h';
                }
                return;
            }
            // XTWINOPS: only the title stack (22 push, 23 pop) is recorded.
            (None, 't') => {
                let (op, which) = two_raw(params);
                self.modes.title_stack(op, which);
                return;
            }
            (Some(b' '), 'q') => {
                self.modes.cursor_shape = first(params, 0) != 0;
                return;
            }
            (Some(b'>'), 'm') => {
                let (resource, value) = two_raw(params);
                if resource == 4 {
                    self.modes.modify_other_keys = value > 0;
                    self.modes.other_keys_level = value;
                }
                return;
            }
            (Some(b'?'), 'h' | 'l') => {
                let mut moved = false;
                for param in params {
                    moved |= self.set_mode(param, action == 'h');
                }
                if !moved {
                    return;
                }
            }
            _ => return,
        }
        self.bump();
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        // The parser is in its ground state after every escape sequence.
        self.stop = true;
        if !intermediates.is_empty() {
            // Designating G0 (`ESC ( 0`: line drawing, `ESC ( B`: ASCII) changes no text.
            if intermediates == b"(" {
                self.modes.charset_g0 = super::modes::Charset::designated(byte);
            }
            return;
        }
        match byte {
            b'7' => self.save_cursor(),
            b'8' => self.restore_cursor(),
            b'D' => self.line_feed(),
            b'E' => {
                self.grid.col_set(0);
                self.line_feed();
            }
            b'M' => self.grid.row_dec_scroll(1),
            b'c' => self.reset(),
            b'=' => {
                self.modes.app_keypad = true;
                return;
            }
            b'>' => {
                self.modes.app_keypad = false;
                return;
            }
            _ => return,
        }
        self.bump();
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], bell_terminated: bool) {
        // After BEL the parser is in its ground state; after ESC it is not (ST follows).
        if bell_terminated {
            self.stop = true;
        }
        if let [b"133", b"D", rest @ ..] = params {
            let code = rest.first().and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.trim().parse().ok());
            let count = self.command.map_or(1, |c| c.count.wrapping_add(1));
            self.command = Some(super::CommandStatus { count, code });
            return;
        }
        if let [b"4" | b"10" | b"11" | b"12" | b"104" | b"110" | b"111" | b"112", ..] = params {
            self.modes.colours.osc(params);
            return;
        }
        if let [b"0" | b"2", rest @ ..] = params {
            if rest.is_empty() {
                return;
            }
            let mut title = String::from_utf8_lossy(&rest.join(&b';')).into_owned();
            if title.len() > TITLE_CAP {
                let mut cut = TITLE_CAP;
                while !title.is_char_boundary(cut) {
                    cut -= 1;
                }
                title.truncate(cut);
            }
            if title != self.title {
                self.title = title;
                self.bump();
            }
        }
    }

    fn terminated(&self) -> bool {
        self.stop
    }
}

impl Term {
    /// One DECSET (`on`) or DECRST parameter; returns whether the text or the cursor
    /// position may have changed.
    fn set_mode(&mut self, param: &[u16], on: bool) -> bool {
        if let [n] = param
            && let Some(mode) = super::modes::Mode::from_number(*n)
        {
            self.modes.set(mode, on);
        }
        match param {
            [5] => self.modes.reverse_video = on,
            [6] => self.grid.set_origin(on),
            // DECAWM; vt100 ignores it and always wraps.
            [7] => self.autowrap = on,
            [25] => self.hide_cursor = !on,
            [47] => {
                if on {
                    self.enter_alt();
                } else {
                    self.exit_alt();
                }
            }
            // xterm: 1047 like 47, but leaving clears the alternate screen (vt100 ignores it).
            [1047] => {
                if on {
                    self.enter_alt();
                } else {
                    if self.alt_active {
                        self.grid.erase_all();
                    }
                    self.exit_alt();
                }
            }
            [1049] => self.alt_1049(on),
            [2004] => self.bracketed_paste = on,
            [2026] => self.modes.synchronized_output = on,
            _ => return false,
        }
        matches!(param, [6 | 47 | 1047 | 1049])
    }
}

/// The first parameter, `default` when absent or 0 (vt100's `canonicalize_params_1`).
fn first(params: &Params, default: u16) -> u16 {
    match params.iter().next().and_then(|p| p.first()) {
        Some(&v) if v != 0 => v,
        _ => default,
    }
}

/// The first two parameters with their defaults.
fn two(params: &Params, default1: u16, default2: u16) -> (u16, u16) {
    let mut iter = params.iter();
    let mut next = |default: u16| match iter.next().and_then(|p| p.first()) {
        Some(&v) if v != 0 => v,
        _ => default,
    };
    let a = next(default1);
    (a, next(default2))
}

/// The first two parameters as given (0 when absent).
fn two_raw(params: &Params) -> (u16, u16) {
    let mut iter = params.iter().map(|p| p.first().copied().unwrap_or(0));
    (iter.next().unwrap_or(0), iter.next().unwrap_or(0))
}

fn no_params(params: &Params) -> bool {
    params.iter().all(|p| p.iter().all(|&v| v == 0))
}
