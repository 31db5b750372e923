//! What a chunk of the person's input means: keystrokes for the session, the detach
//! key, or a yes/no answer to the question on the status line.
//!
//! A terminal in its legacy mode sends ctrl+] as the byte 0x1d and `y` as `y`. One the
//! agent asked for a keyboard protocol (the console mirrors the agent's modes into the
//! person's terminal at attach) sends them as escape sequences: kitty's keyboard
//! protocol `CSI 93 ; 5 u` (with its optional fields: alternate key codes
//! `93:…`, the event type `5:1`, the text `;…`; `CSI 121 u` for `y` once every key is
//! reported as an escape code), xterm's modifyOtherKeys 2 `CSI 27 ; 5 ; 93 ~`. Both are
//! recognised. A read that ends inside the start of such a sequence is held back until
//! the next read says what it is, or until [`HOLD_FOR`] passed (then it goes to the
//! session as it was).

use std::time::Duration;

/// The default detach key of a console that can leave a session running.
pub const DEFAULT_DETACH_KEY: &str = "ctrl+]";

/// How long the start of an escape sequence that may be one of the console's keys, at
/// the end of a read, waits for the rest (a terminal writes a key's sequence at once;
/// a link in between may cut it).
pub(crate) const HOLD_FOR: Duration = Duration::from_millis(20);

/// The longest parameter string of a key's escape sequence that is read as one (a
/// longer one is not the console's).
const MAX_PARAMS: usize = 32;

const ESC: u8 = 0x1b;

/// The byte a one-byte key name sends (`ctrl+]` → 0x1d), for a detach key; `None`
/// for names warden does not know or keys that send more than one byte.
pub fn detach_key_byte(name: &str) -> Option<u8> {
    match warden_core::keys::keys_bytes(&[name]).ok()?.as_slice() {
        [b] => Some(*b),
        _ => None,
    }
}

/// One meaning of a chunk of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Keys(Vec<u8>),
    Detach,
    Answer(bool),
}

/// Splits what is read from the terminal into [`Piece`]s, chunk after chunk: the
/// detach key (`detach`, a control byte, or its escape sequences) and, while a question
/// is asked, `y` or `n` alone.
#[derive(Debug, Default)]
pub(crate) struct KeySplitter {
    detach: Option<u8>,
    /// The end of the last chunk: the start of an escape sequence that may be one of
    /// the console's keys.
    held: Vec<u8>,
}

impl KeySplitter {
    pub(crate) fn new(detach: Option<u8>) -> KeySplitter {
        KeySplitter { detach, held: Vec::new() }
    }

    /// The pieces of the next chunk. While `asking`, a chunk that is just `y` or `n`
    /// (either case; a key press, with its release if it came along) answers the
    /// question; anything else goes to the session. The detach key ends the chunk:
    /// what came before it still goes to the session, what came after is dropped. An
    /// escape sequence cut at the chunk's end that may be one of these keys is held
    /// back ([`KeySplitter::holding`]) and read with the next chunk; if it is not
    /// completed into one, it goes to the session on its own, as it came.
    pub(crate) fn split(&mut self, chunk: &[u8], asking: bool) -> Vec<Piece> {
        let mut out = Vec::new();
        let joined;
        let data = if self.held.is_empty() {
            chunk
        } else {
            let held = std::mem::take(&mut self.held);
            joined = [&held[..], chunk].concat();
            match self.lead(&joined, asking) {
                Lead::Key(..) | Lead::Cut => &joined[..],
                Lead::Other => {
                    out.push(Piece::Keys(held));
                    chunk
                }
            }
        };
        if asking && let Some(yes) = self.answer(data) {
            out.push(Piece::Answer(yes));
            return out;
        }
        if let Some(at) = self.find_detach(data) {
            if at > 0 {
                out.push(Piece::Keys(data[..at].to_vec()));
            }
            out.push(Piece::Detach);
            return out;
        }
        let keep = match data.iter().rposition(|b| *b == ESC) {
            Some(at) if matches!(self.lead(&data[at..], asking), Lead::Cut) => at,
            _ => data.len(),
        };
        if keep > 0 {
            out.push(Piece::Keys(data[..keep].to_vec()));
        }
        self.held = data[keep..].to_vec();
        out
    }

    /// Whether the end of the last chunk is held back for the next.
    pub(crate) fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// What is held back, for the session: no more came in time ([`HOLD_FOR`]).
    pub(crate) fn release(&mut self) -> Option<Piece> {
        self.holding().then(|| Piece::Keys(std::mem::take(&mut self.held)))
    }

    /// Where the detach key is in `data`, first.
    fn find_detach(&self, data: &[u8]) -> Option<usize> {
        let d = self.detach?;
        (0..data.len()).find(|&at| {
            data[at] == d
                || (data[at] == ESC && matches!(self.lead(&data[at..], false), Lead::Key(ConsoleKey::Detach, _)))
        })
    }

    /// The answer `data` is, if it is one and nothing else: `y`/`n` typed alone, or
    /// the escape sequence of its press (followed by that of its release, or not).
    fn answer(&self, data: &[u8]) -> Option<bool> {
        match data {
            b"y" | b"Y" => return Some(true),
            b"n" | b"N" => return Some(false),
            _ => {}
        }
        let Lead::Key(ConsoleKey::Answer(yes), len) = self.lead(data, true) else { return None };
        let rest = &data[len..];
        if rest.is_empty() {
            return Some(yes);
        }
        let pressed = key_event(data)?;
        match csi(rest) {
            Csi::Done { len, .. } if len == rest.len() => {
                let released = key_event(rest)?;
                (released.event == Event::Release && released.code == pressed.code).then_some(yes)
            }
            _ => None,
        }
    }

    /// What the bytes at the start of `bytes` are to the console.
    fn lead(&self, bytes: &[u8], asking: bool) -> Lead {
        match csi(bytes) {
            Csi::Not => Lead::Other,
            Csi::Cut => {
                // The first parameter (the key code, or modifyOtherKeys' 27) as far as it came.
                let params = bytes.get(2..).unwrap_or_default();
                let first = params.iter().take_while(|b| b.is_ascii_digit()).count();
                let whole = first < params.len();
                let may_be = |code: u32| {
                    let code = code.to_string();
                    if whole {
                        code.as_bytes() == &params[..first]
                    } else {
                        code.as_bytes().starts_with(&params[..first])
                    }
                };
                let detach = self
                    .detach
                    .is_some_and(|d| may_be(ctrl_key_code(d)) || ctrl_key_base(d).is_some_and(may_be) || may_be(27));
                let answer = asking && ANSWER_CODES.iter().any(|&c| may_be(c));
                if detach || answer { Lead::Cut } else { Lead::Other }
            }
            Csi::Done { len, .. } => {
                let Some(key) = key_event(bytes) else { return Lead::Other };
                if self.detach.is_some_and(|d| key.is_ctrl_key(d)) {
                    return Lead::Key(ConsoleKey::Detach, len);
                }
                match key.answer() {
                    Some(yes) if asking => Lead::Key(ConsoleKey::Answer(yes), len),
                    _ => Lead::Other,
                }
            }
        }
    }
}

/// A key the console acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConsoleKey {
    Detach,
    Answer(bool),
}

/// What the bytes at the start of a chunk are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// One of the console's keys, this long.
    Key(ConsoleKey, usize),
    /// The start of an escape sequence cut short that may be one.
    Cut,
    /// Something else.
    Other,
}

/// The key codes of `y`, `n`, `Y`, `N`.
const ANSWER_CODES: [u32; 4] = [b'y' as u32, b'n' as u32, b'Y' as u32, b'N' as u32];

/// The key code (kitty's, modifyOtherKeys') of the character a ctrl key is pressed
/// with to send control byte `byte`: ctrl+] → `]`, ctrl+a (0x01) → `a`.
fn ctrl_key_code(byte: u8) -> u32 {
    let c = (byte & 0x1f) | 0x40;
    u32::from(c.to_ascii_lowercase())
}

/// The key that, on a US layout, types with shift the character of a ctrl key that
/// needs it (`^` is shift+6, `_` shift+-, `@` shift+2): kitty's protocol without its
/// alternate-keys flag reports that key, and a legacy terminal sends the control byte
/// for ctrl+6 with or without shift.
fn ctrl_key_base(byte: u8) -> Option<u32> {
    match char::from_u32(ctrl_key_code(byte))? {
        '^' => Some(u32::from(b'6')),
        '_' => Some(u32::from(b'-')),
        '@' => Some(u32::from(b'2')),
        _ => None,
    }
}

/// A control sequence at the start of some bytes, with parameters as keys have them.
enum Csi<'a> {
    Done {
        params: &'a [u8],
        last: u8,
        len: usize,
    },
    /// Cut short: more may come.
    Cut,
    Not,
}

fn csi(bytes: &[u8]) -> Csi<'_> {
    let Some(rest) = bytes.strip_prefix(&[ESC]) else { return Csi::Not };
    let Some(rest) = rest.strip_prefix(b"[") else {
        return if rest.is_empty() { Csi::Cut } else { Csi::Not };
    };
    let n = rest.iter().take_while(|b| b.is_ascii_digit() || matches!(b, b';' | b':')).count();
    if n > MAX_PARAMS {
        return Csi::Not;
    }
    match rest.get(n) {
        None => Csi::Cut,
        Some(&last) => Csi::Done { params: &rest[..n], last, len: 2 + n + 1 },
    }
}

/// A key event's kind (kitty's event types; modifyOtherKeys reports presses only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Press,
    Repeat,
    Release,
}

/// The modifier bits of kitty's and xterm's encodings (the parameter less one).
const SHIFT: u32 = 1;
const CTRL: u32 = 4;
/// Caps lock and num lock: reported by kitty with some flags, never part of a key.
const LOCKS: u32 = 64 | 128;

/// A key as a keyboard protocol reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyEvent {
    code: u32,
    /// kitty's shifted key (with its "report alternate keys" flag).
    shifted: Option<u32>,
    /// The modifier bits, locks left out.
    mods: u32,
    event: Event,
}

impl KeyEvent {
    /// Whether this is the press (or its repeat) of the ctrl key that sends `byte`:
    /// ctrl alone; shift too for keys typed with it (ctrl+^, ctrl+_, ctrl+@).
    fn is_ctrl_key(&self, byte: u8) -> bool {
        let code = ctrl_key_code(byte);
        let base = ctrl_key_base(byte);
        let allowed = if base.is_some() { CTRL | SHIFT } else { CTRL };
        (self.code == code || self.shifted == Some(code) || base == Some(self.code))
            && self.mods & CTRL != 0
            && self.mods & !allowed == 0
            && self.event != Event::Release
    }

    /// `y` (true) or `n` (false) pressed, shifted or not, without other modifiers.
    fn answer(&self) -> Option<bool> {
        if self.mods & !SHIFT != 0 || self.event != Event::Press {
            return None;
        }
        let is = |c: u8| {
            let c = u32::from(c);
            self.code == c || self.code == c - 32 || self.shifted == Some(c - 32)
        };
        if is(b'y') {
            Some(true)
        } else if is(b'n') {
            Some(false)
        } else {
            None
        }
    }
}

/// The key event a complete control sequence at the start of `bytes` reports:
/// kitty's `CSI code[:shifted[:base]] [; mods[:event] [; text]] u` or xterm's
/// modifyOtherKeys `CSI 27 ; mods ; code ~`.
fn key_event(bytes: &[u8]) -> Option<KeyEvent> {
    let Csi::Done { params, last, .. } = csi(bytes) else { return None };
    let number = |field: &[u8]| -> Option<u32> { std::str::from_utf8(field).ok()?.parse().ok() };
    // A modifiers field: `mods[:event]`, empty for none.
    let modifiers = |field: Option<&[u8]>| -> Option<(u32, Event)> {
        let mut parts = field.unwrap_or_default().split(|b| *b == b':');
        let mods = match parts.next().unwrap_or_default() {
            b"" => 1,
            m => number(m)?,
        };
        let event = match parts.next() {
            None | Some(b"" | b"1") => Event::Press,
            Some(b"2") => Event::Repeat,
            Some(b"3") => Event::Release,
            Some(_) => return None,
        };
        Some((mods.checked_sub(1)? & !LOCKS, event))
    };
    let fields: Vec<&[u8]> = params.split(|b| *b == b';').collect();
    match last {
        b'u' if fields.len() <= 3 => {
            let mut key = fields[0].split(|b| *b == b':');
            let code = number(key.next()?)?;
            let shifted = key.next().and_then(number);
            let (mods, event) = modifiers(fields.get(1).copied())?;
            Some(KeyEvent { code, shifted, mods, event })
        }
        b'~' if fields.len() == 3 && fields[0] == b"27" => {
            let (mods, event) = modifiers(Some(fields[1]))?;
            (event == Event::Press).then_some(())?;
            Some(KeyEvent { code: number(fields[2])?, shifted: None, mods, event })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Option<u8> = Some(0x1d);

    /// The pieces of `chunks`, read one after the other by one splitter (`asking`
    /// throughout) until the detach key (where the console stops reading), with what is
    /// held at the end released.
    fn pieces(detach: Option<u8>, asking: bool, chunks: &[&[u8]]) -> Vec<Piece> {
        let mut keys = KeySplitter::new(detach);
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(keys.split(chunk, asking));
            if out.last() == Some(&Piece::Detach) {
                return out;
            }
        }
        out.extend(keys.release());
        out
    }

    fn keys(bytes: &[u8]) -> Piece {
        Piece::Keys(bytes.to_vec())
    }

    #[test]
    fn chunks() {
        let d = detach_key_byte(DEFAULT_DETACH_KEY);
        assert_eq!(d, Some(0x1d));
        assert_eq!(detach_key_byte("up"), None, "more than one byte");
        assert_eq!(detach_key_byte("no-such-key"), None);
        let split = |chunk: &[u8], detach, asking| pieces(detach, asking, &[chunk]);
        assert_eq!(split(b"ls\r", d, false), vec![keys(b"ls\r")]);
        assert_eq!(split(b"\x03", d, false), vec![keys(b"\x03")], "ctrl+c is the agent's");
        assert_eq!(split(b"ab\x1dcd", d, false), vec![keys(b"ab"), Piece::Detach]);
        assert_eq!(split(b"\x1d", None, false), vec![keys(b"\x1d")], "no detach key");
        assert_eq!(split(b"y", d, true), vec![Piece::Answer(true)]);
        assert_eq!(split(b"N", d, true), vec![Piece::Answer(false)]);
        assert_eq!(split(b"y", d, false), vec![keys(b"y")], "only while asking");
        assert_eq!(split(b"yes", d, true), vec![keys(b"yes")]);
        assert_eq!(split(b"", d, false), vec![]);
    }

    #[test]
    fn the_detach_key_in_every_keyboard_protocol_detaches() {
        let forms: [&[u8]; 10] = [
            b"\x1d",
            b"\x1b[93;5u",     // kitty (disambiguate), xterm formatOtherKeys 1
            b"\x1b[93;5:1u",   // kitty with event types: the press
            b"\x1b[93;5:2u",   // … held down
            b"\x1b[93:125;5u", // kitty with alternate keys (the shifted key)
            b"\x1b[93::93;5u", // … the base layout's key, no shifted one
            b"\x1b[93;69u",    // caps lock on
            b"\x1b[93;133:1u", // num lock on, event type
            b"\x1b[93;5;29u",  // kitty with the text field
            b"\x1b[27;5;93~",  // xterm modifyOtherKeys 2
        ];
        for form in forms {
            let what = String::from_utf8_lossy(form);
            assert_eq!(pieces(D, false, &[form]), vec![Piece::Detach], "{what:?}");
            assert_eq!(pieces(D, true, &[form]), vec![Piece::Detach], "{what:?} while asking");
            let typed = [b"ls\x1b[A", form, b"rest"].concat();
            assert_eq!(pieces(D, false, &[&typed]), vec![keys(b"ls\x1b[A"), Piece::Detach], "{what:?}");
        }
        // Other detach keys: their letter's code.
        assert_eq!(pieces(Some(0x01), false, &[b"\x1b[97;5u"]), vec![Piece::Detach], "ctrl+a");
        assert_eq!(pieces(Some(0x01), false, &[b"\x1b[27;5;97~"]), vec![Piece::Detach]);
        assert_eq!(pieces(Some(0x1f), false, &[b"\x1b[95;6u"]), vec![Piece::Detach], "ctrl+_ is ctrl+shift+-");
        // kitty without its alternate-keys flag names the key pressed, not the character
        // shift makes of it: ctrl+^ is ctrl+shift+6 on a US layout, as a legacy
        // terminal's 0x1e is ctrl+6 or ctrl+shift+6.
        for (byte, form) in [
            (0x1e, &b"\x1b[54;6u"[..]),
            (0x1e, b"\x1b[54;5u"),
            (0x1e, b"\x1b[54;6:1u"),
            (0x1f, b"\x1b[45;6u"),
            (0x00, b"\x1b[50;6u"),
        ] {
            let what = String::from_utf8_lossy(form);
            assert_eq!(pieces(Some(byte), false, &[form]), vec![Piece::Detach], "{byte:#x} {what:?}");
        }
    }

    #[test]
    fn other_keys_that_look_alike_go_to_the_session() {
        let others: [&[u8]; 13] = [
            b"\x1b[93;5:3u",   // the release
            b"\x1b[93u",       // ] alone
            b"\x1b[93;7u",     // ctrl+alt+]
            b"\x1b[93;6u",     // ctrl+shift+]
            b"\x1b[94;5u",     // ctrl+^
            b"\x1b[27;3;93~",  // alt+] in modifyOtherKeys
            b"\x1b[27;5;94~",  //
            b"\x1b[28;5;93~",  // not modifyOtherKeys
            b"\x1b[93;5;1;1u", // too many fields
            b"\x1b[54;5u",     // ctrl+6: ctrl+^ is not the detach key here
            b"\x1b[93;0u",     // no such modifiers
            b"\x1b[5;93R",     // a cursor report
            b"\x1b[?93;5u",    // a private sequence
        ];
        for other in others {
            assert_eq!(pieces(D, true, &[other]), vec![keys(other)], "{:?}", String::from_utf8_lossy(other));
        }
        assert_eq!(pieces(None, false, &[b"\x1b[93;5u"]), vec![keys(b"\x1b[93;5u")], "no detach key");
    }

    #[test]
    fn a_detach_key_cut_between_reads_detaches() {
        let whole: &[u8] = b"\x1b[93;5:1u";
        for at in 1..whole.len() {
            let (a, b) = whole.split_at(at);
            let got = pieces(D, false, &[b"ab", a, b, b"after"]);
            assert_eq!(got, vec![keys(b"ab"), Piece::Detach], "cut after {at}");
            let first = [b"ab", a].concat();
            assert_eq!(pieces(D, false, &[&first, b]), vec![keys(b"ab"), Piece::Detach], "cut after {at}");
        }
        let mok: &[u8] = b"\x1b[27;5;93~";
        for at in 1..mok.len() {
            let (a, b) = mok.split_at(at);
            assert_eq!(pieces(D, false, &[a, b]), vec![Piece::Detach], "cut after {at}");
        }
        // In three pieces.
        assert_eq!(pieces(D, false, &[b"\x1b", b"[93", b";5u"]), vec![Piece::Detach]);
        assert_eq!(pieces(Some(0x1e), false, &[b"\x1b[5", b"4;6u"]), vec![Piece::Detach], "ctrl+^ as ctrl+shift+6");
    }

    #[test]
    fn a_held_start_that_is_not_the_detach_key_goes_to_the_session_as_it_came() {
        let mut k = KeySplitter::new(D);
        // Escape alone is held (it may begin the detach key) …
        assert_eq!(k.split(b"x\x1b", false), vec![keys(b"x")]);
        assert!(k.holding());
        // … and goes on its own, before what followed it, when that is something else.
        assert_eq!(k.split(b"j", false), vec![keys(b"\x1b"), keys(b"j")]);
        assert!(!k.holding());
        // Or when nothing came in time.
        assert_eq!(k.split(b"\x1b[9", false), vec![]);
        assert_eq!(k.release(), Some(keys(b"\x1b[9")));
        assert_eq!(k.release(), None);
        // A sequence that cannot be the detach key is not held.
        assert_eq!(k.split(b"\x1b[1;5", false), vec![keys(b"\x1b[1;5")]);
        assert_eq!(k.split(b"\x1b[?", false), vec![keys(b"\x1b[?")]);
        assert_eq!(k.split(b"\x1b[931", false), vec![keys(b"\x1b[931")]);
        assert!(!k.holding());
        // Arrow up cut after its start: both halves go, in order.
        assert_eq!(pieces(D, false, &[b"\x1b[", b"A"]), vec![keys(b"\x1b["), keys(b"A")]);
        // Nothing is held where there is no key to look for.
        let mut none = KeySplitter::new(None);
        assert_eq!(none.split(b"\x1b", false), vec![keys(b"\x1b")]);
        assert!(!none.holding());
    }

    #[test]
    fn answers_in_every_keyboard_protocol() {
        let yes: [&[u8]; 6] = [
            b"\x1b[121u",              // kitty, every key as an escape code
            b"\x1b[121;1:1u",          // … with event types
            b"\x1b[121;2u",            // Y
            b"\x1b[121:89;2u",         // Y with alternate keys
            b"\x1b[121;65u",           // caps lock on
            b"\x1b[121u\x1b[121;1:3u", // the press and its release in one read
        ];
        for form in yes {
            let what = String::from_utf8_lossy(form);
            assert_eq!(pieces(D, true, &[form]), vec![Piece::Answer(true)], "{what:?}");
            assert_eq!(pieces(D, false, &[form]), vec![keys(form)], "{what:?}: only while asking");
        }
        assert_eq!(pieces(D, true, &[b"\x1b[110u"]), vec![Piece::Answer(false)]);
        assert_eq!(pieces(None, true, &[b"\x1b[110;1:1u"]), vec![Piece::Answer(false)], "without a detach key");
        for not in [&b"\x1b[121;5u"[..], b"\x1b[121;1:3u", b"\x1b[121u\x1b[110;1:3u", b"\x1b[121ux", b"x\x1b[121u"] {
            assert_eq!(pieces(D, true, &[not]), vec![keys(not)], "{:?}", String::from_utf8_lossy(not));
        }
        // Cut between reads.
        assert_eq!(pieces(D, true, &[b"\x1b[12", b"1u"]), vec![Piece::Answer(true)]);
        assert_eq!(pieces(None, true, &[b"\x1b", b"[110u"]), vec![Piece::Answer(false)]);
    }
}
