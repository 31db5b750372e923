//! The terminal modes a program turned on that a person's terminal must have turned off
//! again when the program is gone: the alternate screen, a hidden cursor, mouse
//! reporting, bracketed paste, focus reporting, application cursor keys and keypad, the
//! keyboard protocols (kitty's `CSI > flags u` stack, xterm's modifyOtherKeys), and the
//! colours set with OSC ([`Colours`]).
//!
//! [`Screen`](super::Screen) records them as it parses ([`Screen::modes`](super::Screen::modes));
//! [`TermModes::restore`] is what to write to the terminal to undo them, and
//! [`InputModes`] (in a session's snapshot) what a terminal that starts showing the
//! program must turn on.

use serde::{Deserialize, Serialize};

/// A DEC private mode (`CSI ? n h` / `CSI ? n l`) warden tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 1: DECCKM, application cursor keys.
    AppCursor,
    /// 9: X10 mouse reporting.
    MouseX10,
    /// 1000: mouse button reporting.
    MouseButtons,
    /// 1001: highlight mouse tracking.
    MouseHighlight,
    /// 1002: mouse motion while a button is held.
    MouseDrag,
    /// 1003: all mouse motion.
    MouseMotion,
    /// 1004: focus in/out reporting.
    Focus,
    /// 1005: UTF-8 mouse coordinates.
    MouseUtf8,
    /// 1006: SGR mouse coordinates.
    MouseSgr,
    /// 1007: alternate scroll (wheel as arrow keys).
    AlternateScroll,
    /// 1015: urxvt mouse coordinates.
    MouseUrxvt,
    /// 1016: SGR mouse coordinates in pixels.
    MouseSgrPixels,
    /// 2004: bracketed paste.
    BracketedPaste,
}

impl Mode {
    /// Every tracked mode, in the order they are turned off.
    pub const ALL: [Mode; 13] = [
        Mode::MouseX10,
        Mode::MouseButtons,
        Mode::MouseHighlight,
        Mode::MouseDrag,
        Mode::MouseMotion,
        Mode::MouseUtf8,
        Mode::MouseSgr,
        Mode::MouseUrxvt,
        Mode::MouseSgrPixels,
        Mode::AlternateScroll,
        Mode::Focus,
        Mode::BracketedPaste,
        Mode::AppCursor,
    ];

    /// The mode of a DEC private mode number, if it is tracked.
    pub fn from_number(n: u16) -> Option<Mode> {
        Some(match n {
            1 => Mode::AppCursor,
            9 => Mode::MouseX10,
            1000 => Mode::MouseButtons,
            1001 => Mode::MouseHighlight,
            1002 => Mode::MouseDrag,
            1003 => Mode::MouseMotion,
            1004 => Mode::Focus,
            1005 => Mode::MouseUtf8,
            1006 => Mode::MouseSgr,
            1007 => Mode::AlternateScroll,
            1015 => Mode::MouseUrxvt,
            1016 => Mode::MouseSgrPixels,
            2004 => Mode::BracketedPaste,
            _ => return None,
        })
    }

    /// The DEC private mode number.
    pub fn number(self) -> u16 {
        match self {
            Mode::AppCursor => 1,
            Mode::MouseX10 => 9,
            Mode::MouseButtons => 1000,
            Mode::MouseHighlight => 1001,
            Mode::MouseDrag => 1002,
            Mode::MouseMotion => 1003,
            Mode::Focus => 1004,
            Mode::MouseUtf8 => 1005,
            Mode::MouseSgr => 1006,
            Mode::AlternateScroll => 1007,
            Mode::MouseUrxvt => 1015,
            Mode::MouseSgrPixels => 1016,
            Mode::BracketedPaste => 2004,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// How many entries on the title stack are counted (xterm keeps only the newest few).
const TITLE_DEPTH_CAP: u16 = 256;

/// How deep kitty's keyboard-mode stack may be counted (kitty keeps at most 256 entries
/// per screen; a pop of more than are pushed empties it).
const KITTY_DEPTH_CAP: u16 = 256;

/// What a program turned on, as far as a terminal must undo it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TermModes {
    bits: u16,
    /// The alternate screen is shown.
    pub alternate_screen: bool,
    /// The cursor is hidden (DECTCEM off).
    pub cursor_hidden: bool,
    /// Application keypad (`ESC =`).
    pub app_keypad: bool,
    /// Entries pushed on kitty's keyboard-mode stack (`CSI > flags u`) and not popped.
    pub kitty_pushed: u16,
    /// Kitty keyboard flags set in place (`CSI = flags ; mode u`) to something other than 0.
    pub kitty_set: bool,
    /// xterm's modifyOtherKeys (`CSI > 4 ; n m`, n > 0).
    pub modify_other_keys: bool,
    /// Its level (the `n` of the last `CSI > 4 ; n m`).
    pub other_keys_level: u16,
    /// The kitty keyboard flags in effect: those of the last push or set (0 once
    /// everything is popped).
    pub kitty_flags: u16,
    /// A scroll region (DECSTBM, `CSI top ; bottom r`) other than the whole screen was set.
    pub scroll_region: bool,
    /// Line wrap at the right margin is off (DECAWM, `CSI ? 7 l`).
    pub autowrap_off: bool,
    /// Character attributes (SGR, `CSI … m`) other than a plain reset are in effect:
    /// colours, bold, reverse video … While the alternate screen is shown, also when
    /// leaving it brings them back (they were in effect on entering it with mode 1049).
    /// DECSC saves this and the next two with the cursor, DECRC puts them back.
    pub attributes: bool,
    /// The character set in G0 (`ESC ( 0`: DEC line drawing, …); one other than ASCII is
    /// on. While the alternate screen is shown, also what leaving it brings back.
    pub charset_g0: Charset,
    /// Shifted out (SO): G1 is in use until SI (or leaving the alternate screen brings
    /// the shift back).
    pub shifted_out: bool,
    /// Insert mode (IRM, `CSI 4 h`): typed text pushes the rest of the row right.
    pub insert: bool,
    /// A cursor shape other than the terminal's default (DECSCUSR, `CSI n SP q`, n > 0).
    pub cursor_shape: bool,
    /// Origin mode (DECOM, `CSI ? 6 h`) is on once the alternate screen is left, with the
    /// cursor at this `(row, col)` (0-based, from the screen's top left): turning the mode
    /// off moves the cursor home, so the restore moves it back.
    pub origin: Option<(u16, u16)>,
    /// Synchronized output (`CSI ? 2026 h`): a terminal that implements it shows nothing
    /// new until it is turned off.
    pub synchronized_output: bool,
    /// Reverse video for the whole screen (DECSCNM, `CSI ? 5 h`).
    pub reverse_video: bool,
    /// Entries pushed on the terminal's title stack with the window title
    /// (`CSI 22 ; 0 t`, `CSI 22 ; 2 t`) and not popped.
    pub titles_pushed: u16,
    /// Entries pushed with the icon title only (`CSI 22 ; 1 t`; tmux ignores them).
    pub icon_titles_pushed: u16,
    /// Colours set with OSC (default foreground and background, cursor colour,
    /// palette entries). Kept over RIS, which does not reset them in tmux.
    pub colours: Colours,
    /// The kitty keyboard state of the screen not shown: kitty keeps one stack for the
    /// main screen and one for the alternate screen, and a switch swaps which one the
    /// `kitty_*` fields above describe.
    kitty_hidden: KittyState,
}

/// The colours a program set with an operating system command, which the terminal keeps
/// until they are reset: `OSC 10`, `OSC 11`, `OSC 12` (the default foreground and
/// background, the cursor colour; one OSC 10 may set the next ones too: `OSC 10 ; fg ;
/// bg`) and `OSC 4 ; n ; spec` (palette entries). A `?` in place of a colour asks for it
/// and sets nothing; `OSC 110`, `OSC 111`, `OSC 112` and `OSC 104` (every entry) reset
/// them. Each is undone with its reset, which brings back the terminal's configured
/// colour (not one set with OSC before the program ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Colours {
    /// The default foreground (`OSC 10`).
    pub foreground: bool,
    /// The default background (`OSC 11`).
    pub background: bool,
    /// The cursor's colour (`OSC 12`).
    pub cursor: bool,
    /// At least one palette entry (`OSC 4`) not reset since.
    pub palette: bool,
}

impl Colours {
    /// An OSC whose first parameter is 4, 10, 11, 12, 104, 110, 111 or 112 (others are
    /// ignored).
    pub fn osc(&mut self, params: &[&[u8]]) {
        let Some((command, rest)) = params.split_first() else { return };
        let sets = |spec: &&[u8]| !spec.is_empty() && *spec != b"?";
        match *command {
            // Index and colour pairs.
            b"4" => self.palette |= rest.iter().skip(1).step_by(2).any(sets),
            // Each colour sets the next dynamic colour: 10, 11, 12 (13 and on untracked).
            b"10" | b"11" | b"12" => {
                let first = usize::from(command[1] - b'0');
                for (slot, spec) in (first..).zip(rest) {
                    if sets(spec) {
                        match slot {
                            0 => self.foreground = true,
                            1 => self.background = true,
                            2 => self.cursor = true,
                            _ => {}
                        }
                    }
                }
            }
            // Without an index every entry; with indices only those (others may be left).
            b"104" if rest.iter().all(|p| p.is_empty()) => self.palette = false,
            b"110" => self.foreground = false,
            b"111" => self.background = false,
            b"112" => self.cursor = false,
            _ => {}
        }
    }

    /// The resets of what was set: `OSC 110`, `OSC 111`, `OSC 112`, `OSC 104`.
    fn restore(&self, out: &mut Vec<u8>) {
        for (set, reset) in [
            (self.foreground, &b"\x1b]110\x1b\\"[..]),
            (self.background, b"\x1b]111\x1b\\"),
            (self.cursor, b"\x1b]112\x1b\\"),
            (self.palette, b"\x1b]104\x1b\\"),
        ] {
            if set {
                out.extend_from_slice(reset);
            }
        }
    }
}

/// A character set designated into G0 (`ESC ( c`), as far as warden tells them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Charset {
    /// ASCII (`ESC ( B`), what a terminal starts with.
    #[default]
    Ascii,
    /// DEC special graphics (`ESC ( 0`): the line-drawing set.
    DecLineDrawing,
    /// Any other set (`ESC ( A`, British, …): undone by the restore, not replayed.
    Other,
}

impl Charset {
    /// The set a designation's final byte names.
    pub fn designated(byte: u8) -> Charset {
        match byte {
            b'B' => Charset::Ascii,
            b'0' => Charset::DecLineDrawing,
            _ => Charset::Other,
        }
    }

    /// This set, or `other` when this one is ASCII.
    fn or(self, other: Charset) -> Charset {
        if self == Charset::Ascii { other } else { self }
    }
}

/// One screen's kitty keyboard state: entries pushed and not popped, whether flags were
/// set in place, the flags in effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KittyState {
    pushed: u16,
    set: bool,
    flags: u16,
}

/// What a terminal saves with the cursor (DECSC, `ESC 7`; entering the alternate screen
/// with mode 1049) besides its position and origin mode, and puts back with it (DECRC,
/// `ESC 8`; leaving with 1049), as far as the restore goes: whether attributes are on,
/// G0's character set and the shift state (real terminals save all of SGR, the G0–G3
/// designations and GL with the cursor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Rendition {
    attributes: bool,
    charset_g0: Charset,
    shifted_out: bool,
}

impl Rendition {
    /// On in either.
    pub(super) fn union(self, other: Rendition) -> Rendition {
        Rendition {
            attributes: self.attributes || other.attributes,
            charset_g0: self.charset_g0.or(other.charset_g0),
            shifted_out: self.shifted_out || other.shifted_out,
        }
    }
}

impl TermModes {
    /// The attributes and character set in effect, as DECSC saves them.
    pub(super) fn rendition(&self) -> Rendition {
        Rendition { attributes: self.attributes, charset_g0: self.charset_g0, shifted_out: self.shifted_out }
    }

    /// Puts back attributes and character set (DECRC).
    pub(super) fn set_rendition(&mut self, r: Rendition) {
        self.attributes = r.attributes;
        self.charset_g0 = r.charset_g0;
        self.shifted_out = r.shifted_out;
    }

    /// Whether `mode` is on.
    pub fn is_on(&self, mode: Mode) -> bool {
        self.bits & mode.bit() != 0
    }

    /// Turns `mode` on or off.
    pub fn set(&mut self, mode: Mode, on: bool) {
        if on {
            self.bits |= mode.bit();
        } else {
            self.bits &= !mode.bit();
        }
    }

    /// Whether anything is on that [`restore`](TermModes::restore) would undo.
    pub fn any(&self) -> bool {
        // The alternate screen's kitty stack, once that screen is left, is not (while it
        // is shown, `alternate_screen` is on anyway).
        TermModes { kitty_hidden: KittyState::default(), ..*self } != TermModes::default()
    }

    /// The screen shown switched between main and alternate: the other kitty keyboard
    /// stack is now the one in effect.
    pub(super) fn switch_kitty_stack(&mut self) {
        let shown = self.kitty_state();
        let hidden = std::mem::replace(&mut self.kitty_hidden, shown);
        (self.kitty_pushed, self.kitty_set, self.kitty_flags) = (hidden.pushed, hidden.set, hidden.flags);
    }

    /// A kitty keyboard sequence: `CSI > flags u` pushes, `CSI < n u` pops `n` (default 1),
    /// `CSI = flags ; mode u` sets the current entry.
    pub fn kitty(&mut self, marker: u8, params: &[u16]) {
        match marker {
            b'>' => {
                self.kitty_pushed = (self.kitty_pushed + 1).min(KITTY_DEPTH_CAP);
                self.kitty_flags = params.first().copied().unwrap_or(0);
            }
            b'<' => {
                let n = params.first().copied().filter(|&n| n > 0).unwrap_or(1);
                self.kitty_pushed = self.kitty_pushed.saturating_sub(n);
                if self.kitty_pushed == 0 && !self.kitty_set {
                    self.kitty_flags = 0;
                }
            }
            b'=' => {
                let flags = params.first().copied().unwrap_or(0);
                let mode = params.get(1).copied().unwrap_or(1);
                // Mode 1 replaces the flags, 2 sets bits, 3 clears bits.
                match mode {
                    1 => {
                        self.kitty_set = flags != 0;
                        self.kitty_flags = flags;
                    }
                    2 if flags != 0 => {
                        self.kitty_set = true;
                        self.kitty_flags |= flags;
                    }
                    3 => self.kitty_flags &= !flags,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// XTWINOPS 22 (push) or 23 (pop) with `which` (0: window and icon title, 1: icon
    /// title, 2: window title) on the terminal's title stack; other operations are
    /// ignored. Each pop takes one entry, the newest.
    pub fn title_stack(&mut self, op: u16, which: u16) {
        let count = match which {
            0 | 2 => &mut self.titles_pushed,
            1 => &mut self.icon_titles_pushed,
            _ => return,
        };
        match op {
            22 => *count = (*count + 1).min(TITLE_DEPTH_CAP),
            23 => *count = count.saturating_sub(1),
            _ => {}
        }
    }

    /// The input modes that are on, as a terminal showing the program must have them
    /// too (it reads the keys and mouse the way they make it send them).
    pub fn input(&self) -> InputModes {
        InputModes {
            private: Mode::ALL.iter().filter(|m| self.is_on(**m)).map(|m| m.number()).collect(),
            app_keypad: self.app_keypad,
            kitty_flags: if self.kitty_pushed > 0 || self.kitty_set { self.kitty_flags } else { 0 },
            other_keys: if self.modify_other_keys { self.other_keys_level } else { 0 },
        }
    }

    /// An SGR sequence: `reset` when it was a plain reset (`CSI m`, `CSI 0 m`); any
    /// other may leave attributes on (a later reset in the same sequence, `CSI 1;0 m`,
    /// only makes the restore send one reset too many).
    pub fn sgr(&mut self, reset: bool) {
        self.attributes = !reset;
    }

    fn kitty_state(&self) -> KittyState {
        KittyState { pushed: self.kitty_pushed, set: self.kitty_set, flags: self.kitty_flags }
    }

    /// The bytes that turn off everything that is on, in an order that works from any
    /// state: leave the alternate screen first (its cursor is the saved one), reset the
    /// scroll region between DECSC and DECRC (DECSTBM moves the cursor home), turn origin
    /// mode off and put the cursor back where it was (DECOM moves it home), then the
    /// input modes, wrap, attributes and character set (after DECRC, which restores the
    /// last two), then show the cursor. Empty when nothing is on.
    pub fn restore(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.synchronized_output {
            out.extend_from_slice(b"\x1b[?2026l");
        }
        if self.alternate_screen {
            // The alternate screen's kitty stack first, while it is the one in effect.
            kitty_restore(&mut out, self.kitty_pushed, self.kitty_set);
            out.extend_from_slice(b"\x1b[?1049l");
        }
        if self.scroll_region {
            out.extend_from_slice(b"\x1b7\x1b[r\x1b8");
        }
        if let Some((row, col)) = self.origin {
            // After the line above the region is the whole screen, so the terminal's
            // relative and absolute positions agree; DECRC would bring the mode back.
            let (row, col) = (u32::from(row) + 1, u32::from(col) + 1);
            out.extend_from_slice(format!("\x1b[?6l\x1b[{row};{col}H").as_bytes());
        }
        for mode in Mode::ALL {
            if self.is_on(mode) {
                out.extend_from_slice(format!("\x1b[?{}l", mode.number()).as_bytes());
            }
        }
        // The main screen's (the hidden one while the alternate screen is shown).
        let main = if self.alternate_screen { self.kitty_hidden } else { self.kitty_state() };
        kitty_restore(&mut out, main.pushed, main.set);
        if self.modify_other_keys {
            out.extend_from_slice(b"\x1b[>4m");
        }
        if self.app_keypad {
            out.extend_from_slice(b"\x1b>");
        }
        if self.autowrap_off {
            out.extend_from_slice(b"\x1b[?7h");
        }
        // Leaving the alternate screen restores what the terminal saved on entering it (as
        // DECRC): attributes and, in xterm, the character set. The screen knows what the
        // program saved, not what a terminal that entered some other way (mode 47) had
        // saved before, so after it both are reset whatever the screen says.
        if self.attributes || self.alternate_screen {
            out.extend_from_slice(b"\x1b[0m");
        }
        if self.charset_g0 != Charset::Ascii || self.shifted_out || self.alternate_screen {
            out.extend_from_slice(b"\x0f\x1b(B");
        }
        if self.insert {
            out.extend_from_slice(b"\x1b[4l");
        }
        if self.cursor_shape {
            out.extend_from_slice(b"\x1b[0 q");
        }
        if self.reverse_video {
            out.extend_from_slice(b"\x1b[?5l");
        }
        self.colours.restore(&mut out);
        for _ in 0..self.icon_titles_pushed {
            out.extend_from_slice(b"\x1b[23;1t");
        }
        for _ in 0..self.titles_pushed {
            out.extend_from_slice(b"\x1b[23;0t");
        }
        if self.cursor_hidden {
            out.extend_from_slice(b"\x1b[?25h");
        }
        out
    }
}

/// The input modes a program has on: how a terminal showing it must send
/// keys, pastes and the mouse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputModes {
    /// DEC private modes on (`CSI ? n h`): 1 application cursor keys, 9 and
    /// 1000–1003 mouse reporting, 1004 focus, 1005/1006/1015/1016 mouse
    /// coordinates, 1007 alternate scroll, 2004 bracketed paste.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private: Vec<u16>,
    /// Application keypad (`ESC =`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub app_keypad: bool,
    /// Kitty keyboard protocol flags in effect (0: off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kitty_flags: u16,
    /// xterm's modifyOtherKeys level (0: off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_keys: u16,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

impl InputModes {
    /// Whether no input mode is on.
    pub fn is_empty(&self) -> bool {
        *self == InputModes::default()
    }

    /// The bytes that turn these modes on in a terminal (the private modes
    /// only as far as they are ones warden tracks).
    pub fn replay(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for n in self.private.iter().filter(|n| Mode::from_number(**n).is_some()) {
            out.extend_from_slice(format!("\x1b[?{n}h").as_bytes());
        }
        if self.app_keypad {
            out.extend_from_slice(b"\x1b=");
        }
        if self.kitty_flags != 0 {
            out.extend_from_slice(format!("\x1b[>{}u", self.kitty_flags).as_bytes());
        }
        if self.other_keys != 0 {
            out.extend_from_slice(format!("\x1b[>4;{}m", self.other_keys).as_bytes());
        }
        out
    }
}

/// Pops `pushed` entries of the kitty keyboard stack in effect and clears flags set in place.
fn kitty_restore(out: &mut Vec<u8>, pushed: u16, set: bool) {
    if pushed > 0 {
        out.extend_from_slice(format!("\x1b[<{pushed}u").as_bytes());
    }
    if set {
        out.extend_from_slice(b"\x1b[=0;1u");
    }
}

#[cfg(test)]
mod tests {
    use super::super::Screen;
    use super::*;

    fn modes_after(bytes: &[u8]) -> TermModes {
        let mut s = Screen::new(10, 40);
        s.process(bytes);
        s.modes()
    }

    #[test]
    fn what_is_turned_on_is_turned_off() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain", b""),
            // Leaving the alternate screen is followed by a reset of attributes and
            // character set, which it may bring back.
            (b"\x1b[?1049h", b"\x1b[?1049l\x1b[0m\x0f\x1b(B"),
            (b"\x1b[?47h", b"\x1b[?1049l\x1b[0m\x0f\x1b(B"),
            (b"\x1b[?1049h\x1b[?1049l", b""),
            (b"\x1b[?25l", b"\x1b[?25h"),
            (b"\x1b[?25l\x1b[?25h", b""),
            (b"\x1b[?1000;1006h", b"\x1b[?1000l\x1b[?1006l"),
            (b"\x1b[?1003h\x1b[?1004h\x1b[?2004h", b"\x1b[?1003l\x1b[?1004l\x1b[?2004l"),
            (b"\x1b[?1h\x1b=", b"\x1b[?1l\x1b>"),
            (b"\x1b[>1u\x1b[>3u", b"\x1b[<2u"),
            (b"\x1b[>1u\x1b[<u", b""),
            (b"\x1b[>1u\x1b[<5u", b""),
            (b"\x1b[=5;1u", b"\x1b[=0;1u"),
            (b"\x1b[>4;2m", b"\x1b[>4m"),
            (b"\x1b[>4;0m", b""),
            // RIS resets every mode.
            (b"\x1b[?1049h\x1b[?1000h\x1b[?25l\x1bc", b""),
            // Kitty keeps one keyboard stack per screen: a push on the alternate screen
            // is popped there, before leaving it (after it would pop the main screen's).
            (b"\x1b[?1049h\x1b[?25l\x1b[?1000h\x1b[>1u", b"\x1b[<1u\x1b[?1049l\x1b[?1000l\x1b[0m\x0f\x1b(B\x1b[?25h"),
            (b"\x1b[>1u\x1b[?1049h", b"\x1b[?1049l\x1b[<1u\x1b[0m\x0f\x1b(B"),
            (b"\x1b[>1u\x1b[?1049h\x1b[>3u\x1b[=1;2u", b"\x1b[<1u\x1b[=0;1u\x1b[?1049l\x1b[<1u\x1b[0m\x0f\x1b(B"),
            (b"\x1b[?1049h\x1b[>1u\x1b[?1049l", b""),
            (b"\x1b[>1u\x1b[?1049h\x1b[<u\x1b[?1049l", b"\x1b[<1u"),
            (b"\x1b[?47h\x1b[>1u\x1b[?47l\x1b[>2u", b"\x1b[<1u"),
            // What the screen's state keeps: scroll region, wrap, attributes, character set.
            (b"\x1b[5;10r", b"\x1b7\x1b[r\x1b8"),
            (b"\x1b[5;10r\x1b[r", b""),
            (b"\x1b[1;10r", b""),
            (b"\x1b[?7l", b"\x1b[?7h"),
            (b"\x1b[?7l\x1b[?7h", b""),
            (b"\x1b[1;31mred", b"\x1b[0m"),
            (b"\x1b[31mred\x1b[m", b""),
            (b"\x1b[31mred\x1b[0;1m", b"\x1b[0m"),
            (b"\x1b(0lqk", b"\x0f\x1b(B"),
            (b"\x1b(0lqk\x1b(B", b""),
            (b"\x1b[4h", b"\x1b[4l"),
            (b"\x1b[4h\x1b[4l", b""),
            (b"\x1b[5 q", b"\x1b[0 q"),
            (b"\x1b[5 q\x1b[0 q", b""),
            (b"\x1b)0\x0elqk", b"\x0f\x1b(B"),
            (b"\x1b)0\x0elqk\x0f", b""),
            (b"\x1b[?1049h\x1b[5;10r\x1b[?7l\x1b[7m\x1b(0", b"\x1b[?1049l\x1b7\x1b[r\x1b8\x1b[?7h\x1b[0m\x0f\x1b(B"),
            (b"\x1b[5;10r\x1b[?7l\x1b[7m\x1b(0\x1bc", b""),
            // Origin mode: off, and the cursor put back where the agent left it.
            (b"\x1b[3;8r\x1b[?6h\x1b[2;5H", b"\x1b7\x1b[r\x1b8\x1b[?6l\x1b[4;5H"),
            (b"\x1b[?6h\x1b[3;4H", b"\x1b[?6l\x1b[3;4H"),
            (b"\x1b[?6h\x1b[?6l", b""),
            (b"\x1b[3;8r\x1b[?6h\x1bc", b""),
            // Leaving the alternate screen puts back the main screen's cursor.
            (b"\x1b[?6h\x1b[3;4H\x1b[?1049h\x1b[?6l\x1b[9;9H", b"\x1b[?1049l\x1b[?6l\x1b[3;4H\x1b[0m\x0f\x1b(B"),
            (b"\x1b[2;4H\x1b[?1049h\x1b[?6h", b"\x1b[?1049l\x1b[?6l\x1b[2;4H\x1b[0m\x0f\x1b(B"),
            // DECSC saves attributes and character set with the cursor, DECRC brings them
            // back (`CSI s` and `CSI u` too); entering the alternate screen with 1049
            // saves them, leaving it brings them back.
            (b"\x1b[31m\x1b7\x1b[0m\x1b[1;1Hstatus\x1b8", b"\x1b[0m"),
            (b"\x1b[31m\x1b[s\x1b[0m\x1b[u", b"\x1b[0m"),
            (b"\x1b(0\x1b7\x1b(B\x1b8", b"\x0f\x1b(B"),
            (b"\x1b)0\x0e\x1b7\x0f\x1b8", b"\x0f\x1b(B"),
            (b"\x1b7\x1b[31m\x1b(0\x1b8", b""),
            (b"\x1b[1;31m\x1b[?1049h\x1b[0mframe\x1b[?1049l", b"\x1b[0m"),
            (b"\x1b(0\x1b[?1049h\x1b(B\x1b[?1049l", b"\x0f\x1b(B"),
            (b"\x1b[1;31m\x1b[?1049h\x1b[0m\x1b[?1049l\x1b[0m", b""),
            // Synchronized output first (a terminal would show nothing until it is off),
            // reverse video, and the entries pushed on the title stack.
            (b"\x1b[?2026h\x1b[?1000h", b"\x1b[?2026l\x1b[?1000l"),
            (b"\x1b[?2026h\x1b[?2026l", b""),
            (b"\x1b[?5h", b"\x1b[?5l"),
            (b"\x1b[?5h\x1b[?5l", b""),
            (b"\x1b[22;0t\x1b[22;2t\x1b[22t", b"\x1b[23;0t\x1b[23;0t\x1b[23;0t"),
            (b"\x1b[22;2t\x1b[22;1t", b"\x1b[23;1t\x1b[23;0t"),
            (b"\x1b[22;0t\x1b[23;0t\x1b[23;0t", b""),
            (b"\x1b[22;0t\x1b[18t\x1b[8;24;80t", b"\x1b[23;0t"),
            // Colours set with OSC (BEL or ST ends it), reset with theirs; queries set
            // nothing; RIS does not reset them (tmux keeps them).
            (b"\x1b]11;#400000\x07\x1b]10;#00ff00\x1b\\", b"\x1b]110\x1b\\\x1b]111\x1b\\"),
            (b"\x1b]12;red\x07\x1b]4;1;#123456\x07", b"\x1b]112\x1b\\\x1b]104\x1b\\"),
            (b"\x1b]10;?\x07\x1b]11;?\x1b\\\x1b]12;?\x07\x1b]4;1;?\x07", b""),
            (b"\x1b]10;?;#000000\x07", b"\x1b]111\x1b\\"),
            (b"\x1b]4;1;?;2;blue\x07", b"\x1b]104\x1b\\"),
            (b"\x1b]11;#400000\x07\x1b]111\x07\x1b]12;red\x07\x1b]112\x07", b""),
            (b"\x1b]4;1;red\x07\x1b]104;1\x07", b"\x1b]104\x1b\\"),
            (b"\x1b]4;1;red\x07\x1b]104\x07", b""),
            (b"\x1b]11;#400000\x07\x1bc", b"\x1b]111\x1b\\"),
        ];
        for (input, want) in cases {
            let got = modes_after(input).restore();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "after {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn restoring_leaves_nothing_on() {
        let on = modes_after(b"\x1b[?1049h\x1b[?25l\x1b[?1002;1006;1004;2004;1h\x1b=\x1b[>1u\x1b[>4;1m\x1b[=3u");
        assert!(on.any());
        let mut s = Screen::new(10, 40);
        s.process(b"\x1b[?1049h\x1b[?25l\x1b[?1002;1006;1004;2004;1h\x1b=\x1b[>1u\x1b[>4;1m\x1b[=3u");
        s.process(&on.restore());
        assert!(!s.modes().any(), "{:?}", s.modes());
    }

    #[test]
    fn colours_set_with_osc_are_recorded_and_their_resets_leave_nothing_set() {
        let mut s = Screen::new(10, 40);
        s.process(b"\x1b]10;#00ff00;#400000;#ff0000\x07\x1b]4;1;#123456\x1b\\text");
        let on = s.modes();
        assert_eq!(on.colours, Colours { foreground: true, background: true, cursor: true, palette: true });
        assert_eq!(s.text(), "text", "they print nothing");
        s.process(&on.restore());
        assert!(!s.modes().any(), "{:?}", s.modes());
        // An OSC cut in two reads is recorded once it ends.
        let mut s = Screen::new(10, 40);
        s.process(b"\x1b]11;#40");
        assert!(!s.modes().colours.background);
        s.process(b"0000\x07");
        assert!(s.modes().colours.background);
    }

    #[test]
    fn what_the_restore_brings_back_it_turns_off_again() {
        // The restore's own `CSI ? 1049 l` and DECSC/DECRC pair bring back what the
        // program saved: attributes, character set, shift.
        let agents: [&[u8]; 6] = [
            b"\x1b[1;31m\x1b[?1049h\x1b[0mtui-frame",
            // One kitty keyboard stack per screen, each emptied on its own screen.
            b"\x1b[>1u\x1b[>1u\x1b[?1049h\x1b[>3u\x1b[=5;1u",
            b"\x1b(0\x1b)0\x0e\x1b[?1049h\x0f\x1b(B",
            b"\x1b[7m\x1b[?1049h\x1b[m\x1b[5;10r",
            b"\x1b[31m\x1b7\x1b[0m\x1b8\x1b[3;9r\x1b[?1049h",
            b"\x1b[?2026h\x1b[?5h\x1b[22;0t\x1b[22;1t\x1b[?1049h\x1b7\x1b[4m\x1b8",
        ];
        for agent in agents {
            let mut s = Screen::new(10, 40);
            s.process(agent);
            let on = s.modes();
            assert!(on.any());
            s.process(&on.restore());
            assert!(!s.modes().any(), "after {:?}: {:?}", String::from_utf8_lossy(agent), s.modes());
        }
    }

    #[test]
    fn restoring_origin_mode_keeps_the_cursor_where_it_was() {
        // Row 4 of a region from row 3 is the screen's row 6; then the main screen's
        // cursor, saved on entering the alternate one.
        let cases =
            [(&b"\x1b[3;8r\x1b[?6h\x1b[4;7Hx"[..], (5, 7)), (b"\x1b[?6h\x1b[5;2H\x1b[?1049h\x1b[2;9r\x1b[?6h", (4, 1))];
        for (agent, cursor) in cases {
            let mut s = Screen::new(10, 40);
            s.process(agent);
            let on = s.modes();
            s.process(&on.restore());
            assert!(!s.modes().any(), "{:?}", s.modes());
            assert!(!s.origin_mode());
            assert_eq!(s.cursor(), cursor, "after {:?}", String::from_utf8_lossy(agent));
        }
    }

    #[test]
    fn a_shell_reports_its_command_status() {
        let mut s = Screen::new(10, 40);
        assert_eq!(s.command_status(), None);
        s.process(b"\x1b]133;D;0\x07$ false\r\n\x1b]133;D;1\x1b\\$ ");
        assert_eq!(s.command_status(), Some(super::super::CommandStatus { count: 2, code: Some(1) }));
        s.process(b"\x1b]133;D\x07\x1bc");
        assert_eq!(s.command_status(), Some(super::super::CommandStatus { count: 3, code: None }), "kept by RIS");
        assert_eq!(s.text(), "", "the marks print nothing");
    }

    #[test]
    fn kitty_depth_is_bounded() {
        let mut m = TermModes::default();
        for _ in 0..1000 {
            m.kitty(b'>', &[1]);
        }
        assert_eq!(m.kitty_pushed, KITTY_DEPTH_CAP);
    }
}
