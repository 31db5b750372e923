//! Named keys: the bytes an xterm sends when a key is pressed, looked up by name.
//!
//! Callers (the auto-responder, `send keys:…` requests, the `warden keys` listing) name keys
//! as `[modifier+]…key`, and this table turns a name into the bytes to write to the PTY. The
//! bytes are those of xterm in its default mode: normal (not application) cursor keys, Alt
//! sending ESC before the key, and xterm's modifier parameter
//! (`m = 1 + shift(1) + alt(2) + ctrl(4)`) on the modified cursor, editing and function keys.
//!
//! Names are normalised before lookup:
//!
//! - case is ignored and surrounding whitespace is trimmed;
//! - `+` and `-` both separate modifiers from the key (`ctrl-c` is `ctrl+c`);
//! - modifiers may come in any order and are written canonically as `ctrl`, `shift`, `alt`
//!   (`alt+shift+up` is `shift+alt+up`);
//! - aliases: `control` → `ctrl`; `option`, `opt` and `meta` → `alt` (macOS's Option key and
//!   the Emacs Meta key both mean the key that sends ESC first); `return` → `enter`;
//!   `esc` → `escape`; `del` → `delete`; `ins` → `insert`; `pgup`, `page_up` → `pageup`;
//!   `pgdn`, `page_down` → `pagedown`; `arrowup`, `arrowdown`, `arrowleft`, `arrowright` →
//!   `up`, `down`, `left`, `right`.
//!
//! Single printable characters (`a`, `y`, `1`, `/`) are not keys of the table: they are text,
//! and callers send them as text. `space` is the one exception.
//!
//! ```
//! use warden_core::keys::{bracketed_paste, key_bytes, keys_bytes, parse_key_list};
//!
//! assert_eq!(key_bytes("ctrl+c")?, b"\x03");
//! assert_eq!(key_bytes("Shift+Up")?, b"\x1b[1;2A");
//! assert!(key_bytes("a").is_err());
//!
//! let keys = parse_key_list("down, Return")?;
//! assert_eq!(keys, ["down", "enter"]);
//! assert_eq!(keys_bytes(&keys)?, b"\x1b[B\r");
//!
//! assert_eq!(bracketed_paste("hi"), b"\x1b[200~hi\x1b[201~");
//! # Ok::<(), warden_core::keys::UnknownKey>(())
//! ```

/// Error for an unknown key name; carries the name as the caller wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key name `{0}`; see `warden keys` for the list")]
pub struct UnknownKey(pub String);

/// Defines the table once, as the ordered [`KEYS`] slice (for listings) and as the `match`
/// in [`lookup`] (for cheap lookups). A name listed twice is an unreachable pattern, which
/// the lints reject.
macro_rules! key_table {
    ($($name:literal => $bytes:literal,)*) => {
        /// Every key: canonical name and the bytes xterm sends, in listing order.
        static KEYS: &[(&str, &[u8])] = &[$(($name, $bytes)),*];

        /// The bytes for a canonical name, or `None`.
        fn lookup(canonical: &str) -> Option<&'static [u8]> {
            match canonical {
                $($name => Some($bytes.as_slice()),)*
                _ => None,
            }
        }
    };
}

#[rustfmt::skip]
key_table! {
    // Editing keys.
    "enter" => b"\r", "tab" => b"\t", "shift+tab" => b"\x1b[Z", "backspace" => b"\x7f",
    "escape" => b"\x1b", "space" => b" ", "insert" => b"\x1b[2~", "delete" => b"\x1b[3~",
    "shift+delete" => b"\x1b[3;2~", "ctrl+delete" => b"\x1b[3;5~",
    // Cursor and navigation keys, normal (not application) cursor mode.
    "up" => b"\x1b[A", "down" => b"\x1b[B", "right" => b"\x1b[C", "left" => b"\x1b[D",
    "home" => b"\x1b[H", "end" => b"\x1b[F",
    "pageup" => b"\x1b[5~", "pagedown" => b"\x1b[6~",
    // Modified navigation keys: CSI 1 ; m X and CSI n ; m ~, m = 1 + shift(1) + alt(2) + ctrl(4).
    "shift+up" => b"\x1b[1;2A", "alt+up" => b"\x1b[1;3A", "shift+alt+up" => b"\x1b[1;4A",
    "ctrl+up" => b"\x1b[1;5A", "ctrl+shift+up" => b"\x1b[1;6A", "ctrl+alt+up" => b"\x1b[1;7A",
    "ctrl+shift+alt+up" => b"\x1b[1;8A",
    "shift+down" => b"\x1b[1;2B", "alt+down" => b"\x1b[1;3B", "shift+alt+down" => b"\x1b[1;4B",
    "ctrl+down" => b"\x1b[1;5B", "ctrl+shift+down" => b"\x1b[1;6B", "ctrl+alt+down" => b"\x1b[1;7B",
    "ctrl+shift+alt+down" => b"\x1b[1;8B",
    "shift+right" => b"\x1b[1;2C", "alt+right" => b"\x1b[1;3C", "shift+alt+right" => b"\x1b[1;4C",
    "ctrl+right" => b"\x1b[1;5C", "ctrl+shift+right" => b"\x1b[1;6C", "ctrl+alt+right" => b"\x1b[1;7C",
    "ctrl+shift+alt+right" => b"\x1b[1;8C",
    "shift+left" => b"\x1b[1;2D", "alt+left" => b"\x1b[1;3D", "shift+alt+left" => b"\x1b[1;4D",
    "ctrl+left" => b"\x1b[1;5D", "ctrl+shift+left" => b"\x1b[1;6D", "ctrl+alt+left" => b"\x1b[1;7D",
    "ctrl+shift+alt+left" => b"\x1b[1;8D",
    "shift+home" => b"\x1b[1;2H", "alt+home" => b"\x1b[1;3H", "shift+alt+home" => b"\x1b[1;4H",
    "ctrl+home" => b"\x1b[1;5H", "ctrl+shift+home" => b"\x1b[1;6H", "ctrl+alt+home" => b"\x1b[1;7H",
    "ctrl+shift+alt+home" => b"\x1b[1;8H",
    "shift+end" => b"\x1b[1;2F", "alt+end" => b"\x1b[1;3F", "shift+alt+end" => b"\x1b[1;4F",
    "ctrl+end" => b"\x1b[1;5F", "ctrl+shift+end" => b"\x1b[1;6F", "ctrl+alt+end" => b"\x1b[1;7F",
    "ctrl+shift+alt+end" => b"\x1b[1;8F",
    "shift+pageup" => b"\x1b[5;2~", "alt+pageup" => b"\x1b[5;3~", "shift+alt+pageup" => b"\x1b[5;4~",
    "ctrl+pageup" => b"\x1b[5;5~", "ctrl+shift+pageup" => b"\x1b[5;6~", "ctrl+alt+pageup" => b"\x1b[5;7~",
    "ctrl+shift+alt+pageup" => b"\x1b[5;8~",
    "shift+pagedown" => b"\x1b[6;2~", "alt+pagedown" => b"\x1b[6;3~", "shift+alt+pagedown" => b"\x1b[6;4~",
    "ctrl+pagedown" => b"\x1b[6;5~", "ctrl+shift+pagedown" => b"\x1b[6;6~", "ctrl+alt+pagedown" => b"\x1b[6;7~",
    "ctrl+shift+alt+pagedown" => b"\x1b[6;8~",
    // Function keys: SS3 P..S for F1-F4, CSI n ~ for F5-F12.
    "f1" => b"\x1bOP", "f2" => b"\x1bOQ", "f3" => b"\x1bOR", "f4" => b"\x1bOS",
    "f5" => b"\x1b[15~", "f6" => b"\x1b[17~", "f7" => b"\x1b[18~", "f8" => b"\x1b[19~",
    "f9" => b"\x1b[20~", "f10" => b"\x1b[21~", "f11" => b"\x1b[23~", "f12" => b"\x1b[24~",
    "shift+f1" => b"\x1b[1;2P", "shift+f2" => b"\x1b[1;2Q", "shift+f3" => b"\x1b[1;2R", "shift+f4" => b"\x1b[1;2S",
    "shift+f5" => b"\x1b[15;2~", "shift+f6" => b"\x1b[17;2~", "shift+f7" => b"\x1b[18;2~", "shift+f8" => b"\x1b[19;2~",
    "shift+f9" => b"\x1b[20;2~", "shift+f10" => b"\x1b[21;2~", "shift+f11" => b"\x1b[23;2~", "shift+f12" => b"\x1b[24;2~",
    "ctrl+f1" => b"\x1b[1;5P", "ctrl+f2" => b"\x1b[1;5Q", "ctrl+f3" => b"\x1b[1;5R", "ctrl+f4" => b"\x1b[1;5S",
    "ctrl+f5" => b"\x1b[15;5~", "ctrl+f6" => b"\x1b[17;5~", "ctrl+f7" => b"\x1b[18;5~", "ctrl+f8" => b"\x1b[19;5~",
    "ctrl+f9" => b"\x1b[20;5~", "ctrl+f10" => b"\x1b[21;5~", "ctrl+f11" => b"\x1b[23;5~", "ctrl+f12" => b"\x1b[24;5~",
    // Control characters: Ctrl with a letter or one of @ [ \ ] ^ _ sends C0 codes 0x00-0x1f.
    "ctrl+a" => b"\x01", "ctrl+b" => b"\x02", "ctrl+c" => b"\x03", "ctrl+d" => b"\x04",
    "ctrl+e" => b"\x05", "ctrl+f" => b"\x06", "ctrl+g" => b"\x07", "ctrl+h" => b"\x08",
    "ctrl+i" => b"\x09", "ctrl+j" => b"\x0a", "ctrl+k" => b"\x0b", "ctrl+l" => b"\x0c",
    "ctrl+m" => b"\x0d", "ctrl+n" => b"\x0e", "ctrl+o" => b"\x0f", "ctrl+p" => b"\x10",
    "ctrl+q" => b"\x11", "ctrl+r" => b"\x12", "ctrl+s" => b"\x13", "ctrl+t" => b"\x14",
    "ctrl+u" => b"\x15", "ctrl+v" => b"\x16", "ctrl+w" => b"\x17", "ctrl+x" => b"\x18",
    "ctrl+y" => b"\x19", "ctrl+z" => b"\x1a",
    "ctrl+@" => b"\x00", "ctrl+space" => b"\x00", "ctrl+[" => b"\x1b", "ctrl+\\" => b"\x1c",
    "ctrl+]" => b"\x1d", "ctrl+^" => b"\x1e", "ctrl+_" => b"\x1f",
    // Alt sends ESC before the key (xterm with `metaSendsEscape`, the usual terminal default).
    "alt+a" => b"\x1ba", "alt+b" => b"\x1bb", "alt+c" => b"\x1bc", "alt+d" => b"\x1bd",
    "alt+e" => b"\x1be", "alt+f" => b"\x1bf", "alt+g" => b"\x1bg", "alt+h" => b"\x1bh",
    "alt+i" => b"\x1bi", "alt+j" => b"\x1bj", "alt+k" => b"\x1bk", "alt+l" => b"\x1bl",
    "alt+m" => b"\x1bm", "alt+n" => b"\x1bn", "alt+o" => b"\x1bo", "alt+p" => b"\x1bp",
    "alt+q" => b"\x1bq", "alt+r" => b"\x1br", "alt+s" => b"\x1bs", "alt+t" => b"\x1bt",
    "alt+u" => b"\x1bu", "alt+v" => b"\x1bv", "alt+w" => b"\x1bw", "alt+x" => b"\x1bx",
    "alt+y" => b"\x1by", "alt+z" => b"\x1bz",
    "alt+backspace" => b"\x1b\x7f",
}

/// Modifier bits, and their names in canonical order.
const CTRL: u8 = 1;
const SHIFT: u8 = 2;
const ALT: u8 = 4;
const MODIFIERS: [(u8, &str); 3] = [(CTRL, "ctrl"), (SHIFT, "shift"), (ALT, "alt")];

/// The bit of a lowercased modifier word, aliases included.
fn modifier(word: &str) -> Option<u8> {
    match word {
        "ctrl" | "control" => Some(CTRL),
        "shift" => Some(SHIFT),
        "alt" | "option" | "opt" | "meta" => Some(ALT),
        _ => None,
    }
}

/// The table's name for a lowercased key word (the part after the modifiers).
fn key_alias(word: &str) -> &str {
    match word {
        "return" => "enter",
        "esc" => "escape",
        "del" => "delete",
        "ins" => "insert",
        "pgup" | "page_up" => "pageup",
        "pgdn" | "page_down" => "pagedown",
        "arrowup" => "up",
        "arrowdown" => "down",
        "arrowleft" => "left",
        "arrowright" => "right",
        other => other,
    }
}

/// Bytes an xterm sends for one named key, e.g. `"ctrl+c"` → `b"\x03"`,
/// `"shift+up"` → `b"\x1b[1;2A"`.
///
/// The name is normalised as described in the [module docs](self); a canonical name is
/// looked up without allocating.
pub fn key_bytes(name: &str) -> Result<&'static [u8], UnknownKey> {
    if let Some(bytes) = lookup(name) {
        return Ok(bytes);
    }
    canonical_key_name(name).and_then(|canonical| lookup(&canonical)).ok_or_else(|| UnknownKey(name.to_owned()))
}

/// Concatenated bytes for a sequence of key names; fails on the first unknown name.
pub fn keys_bytes<S: AsRef<str>>(names: &[S]) -> Result<Vec<u8>, UnknownKey> {
    let mut bytes = Vec::with_capacity(names.len() * 4);
    for name in names {
        bytes.extend_from_slice(key_bytes(name.as_ref())?);
    }
    Ok(bytes)
}

/// Parses a `keys:down,enter` style list into canonical key names.
///
/// Names are separated by commas, whitespace around each name is ignored, and a leading
/// `keys:` prefix (any case) is accepted and dropped. An empty list, an empty item
/// (`down,,enter`) or an unknown name is an error naming the offending item.
pub fn parse_key_list(list: &str) -> Result<Vec<String>, UnknownKey> {
    let list = list.trim();
    let list = match list.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("keys:") => &list[5..],
        _ => list,
    };
    list.split(',')
        .map(|item| {
            let item = item.trim();
            canonical_key_name(item).ok_or_else(|| UnknownKey(item.to_owned()))
        })
        .collect()
}

/// Canonical form of a key name: lowercase, aliases resolved, modifiers in the order
/// `ctrl`, `shift`, `alt`, joined with `+`. `None` if the name is not in the table.
pub fn canonical_key_name(name: &str) -> Option<String> {
    let lowered = name.trim().to_ascii_lowercase();
    let mut words = lowered.split(['+', '-']).map(str::trim);
    let key = key_alias(words.next_back()?);
    let mut modifiers = 0;
    for word in words {
        let bit = modifier(word)?;
        if modifiers & bit != 0 {
            return None;
        }
        modifiers |= bit;
    }
    let mut canonical = String::with_capacity(lowered.len());
    for (bit, word) in MODIFIERS {
        if modifiers & bit != 0 {
            canonical.push_str(word);
            canonical.push('+');
        }
    }
    canonical.push_str(key);
    lookup(&canonical).map(|_| canonical)
}

/// Every canonical key name, in table order (editing keys, navigation, modified navigation,
/// function keys, control characters, Alt keys), for `warden keys` and the docs.
pub fn key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|&(name, _)| name)
}

/// Whether keystrokes a person typed hold an Enter (CR, or LF from a terminal that
/// sends it): what answers a line prompt on the agent's screen.
pub fn has_enter(keys: &[u8]) -> bool {
    keys.iter().any(|b| matches!(b, b'\r' | b'\n'))
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

/// Wraps text in bracketed-paste markers `ESC[200~` … `ESC[201~`.
///
/// Any `ESC[200~` or `ESC[201~` inside the text is removed first, including markers that
/// only appear once an inner one is removed (`ESC[20` `ESC[201~` `1~`), so a payload cannot
/// end the paste early and have the rest read as typed keys.
pub fn bracketed_paste(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + PASTE_START.len() + PASTE_END.len());
    out.extend_from_slice(PASTE_START);
    let body = out.len();
    for &byte in text.as_bytes() {
        out.push(byte);
        // Removing a marker as soon as its last byte arrives leaves a body that contains none:
        // removal only shortens the tail, so every surviving byte was checked in its context.
        if byte == b'~' {
            for marker in [PASTE_START, PASTE_END] {
                if out[body..].ends_with(marker) {
                    out.truncate(out.len() - marker.len());
                }
            }
        }
    }
    out.extend_from_slice(PASTE_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn bytes(name: &str) -> &'static [u8] {
        key_bytes(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sequences as documented in xterm's ctlseqs ("PC-Style Function Keys") and the
    /// C0 control codes.
    #[test]
    fn spot_checks_match_xterm_ctlseqs() {
        let cases: &[(&str, &[u8])] = &[
            ("ctrl+a", b"\x01"),
            ("ctrl+c", b"\x03"),
            ("ctrl+d", b"\x04"),
            ("ctrl+z", b"\x1a"),
            ("ctrl+[", b"\x1b"),
            ("ctrl+\\", b"\x1c"),
            ("ctrl+]", b"\x1d"),
            ("ctrl+^", b"\x1e"),
            ("ctrl+_", b"\x1f"),
            ("ctrl+@", b"\x00"),
            ("ctrl+space", b"\x00"),
            ("alt+b", b"\x1bb"),
            ("alt+f", b"\x1bf"),
            ("alt+backspace", b"\x1b\x7f"),
            ("up", b"\x1b[A"),
            ("down", b"\x1b[B"),
            ("right", b"\x1b[C"),
            ("left", b"\x1b[D"),
            ("home", b"\x1b[H"),
            ("end", b"\x1b[F"),
            ("pageup", b"\x1b[5~"),
            ("pagedown", b"\x1b[6~"),
            ("insert", b"\x1b[2~"),
            ("delete", b"\x1b[3~"),
            ("shift+up", b"\x1b[1;2A"),
            ("alt+left", b"\x1b[1;3D"),
            ("shift+alt+down", b"\x1b[1;4B"),
            ("ctrl+right", b"\x1b[1;5C"),
            ("ctrl+shift+left", b"\x1b[1;6D"),
            ("ctrl+alt+up", b"\x1b[1;7A"),
            ("ctrl+shift+alt+right", b"\x1b[1;8C"),
            ("shift+home", b"\x1b[1;2H"),
            ("ctrl+end", b"\x1b[1;5F"),
            ("shift+pageup", b"\x1b[5;2~"),
            ("ctrl+pagedown", b"\x1b[6;5~"),
            ("enter", b"\r"),
            ("tab", b"\t"),
            ("shift+tab", b"\x1b[Z"),
            ("backspace", b"\x7f"),
            ("escape", b"\x1b"),
            ("space", b" "),
            ("shift+delete", b"\x1b[3;2~"),
            ("ctrl+delete", b"\x1b[3;5~"),
            ("f1", b"\x1bOP"),
            ("f4", b"\x1bOS"),
            ("f5", b"\x1b[15~"),
            ("f6", b"\x1b[17~"),
            ("f10", b"\x1b[21~"),
            ("f11", b"\x1b[23~"),
            ("f12", b"\x1b[24~"),
            ("shift+f1", b"\x1b[1;2P"),
            ("ctrl+f3", b"\x1b[1;5R"),
            ("shift+f5", b"\x1b[15;2~"),
            ("ctrl+f12", b"\x1b[24;5~"),
        ];
        for &(name, expected) in cases {
            assert_eq!(bytes(name), expected, "{name}");
        }
    }

    /// Every modified navigation key follows xterm's `CSI 1 ; m X` / `CSI n ; m ~` rule.
    #[test]
    fn modified_navigation_follows_the_modifier_parameter() {
        let mods = [
            ("shift", 2),
            ("alt", 3),
            ("shift+alt", 4),
            ("ctrl", 5),
            ("ctrl+shift", 6),
            ("ctrl+alt", 7),
            ("ctrl+shift+alt", 8),
        ];
        let keys = [
            ("up", "1;", "A"),
            ("down", "1;", "B"),
            ("right", "1;", "C"),
            ("left", "1;", "D"),
            ("home", "1;", "H"),
            ("end", "1;", "F"),
            ("pageup", "5;", "~"),
            ("pagedown", "6;", "~"),
        ];
        for (key, prefix, last) in keys {
            for (modifier, m) in mods {
                let name = format!("{modifier}+{key}");
                let expected = format!("\x1b[{prefix}{m}{last}");
                assert_eq!(bytes(&name), expected.as_bytes(), "{name}");
            }
        }
        for (i, letter) in ('a'..='z').enumerate() {
            let code = u8::try_from(i + 1).expect("26 letters fit in a byte");
            assert_eq!(bytes(&format!("ctrl+{letter}")), [code], "ctrl+{letter}");
            let alt = format!("\x1b{letter}");
            assert_eq!(bytes(&format!("alt+{letter}")), alt.as_bytes(), "alt+{letter}");
        }
    }

    #[test]
    fn every_name_resolves_is_canonical_and_unique() {
        let names: Vec<&str> = key_names().collect();
        assert!(names.len() >= 130, "only {} keys", names.len());
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "duplicate key names");
        for &(name, expected) in KEYS {
            assert_eq!(canonical_key_name(name).as_deref(), Some(name));
            assert_eq!(bytes(name), expected, "{name}");
            assert!(!expected.is_empty(), "{name}");
        }
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        let cases = [
            ("control+c", "ctrl+c"),
            ("option+left", "alt+left"),
            ("opt+b", "alt+b"),
            ("meta+f", "alt+f"),
            ("meta+backspace", "alt+backspace"),
            ("return", "enter"),
            ("esc", "escape"),
            ("del", "delete"),
            ("shift+del", "shift+delete"),
            ("ins", "insert"),
            ("pgup", "pageup"),
            ("page_up", "pageup"),
            ("pgdn", "pagedown"),
            ("page_down", "pagedown"),
            ("control+pgdn", "ctrl+pagedown"),
            ("arrowup", "up"),
            ("arrowdown", "down"),
            ("arrowleft", "left"),
            ("ArrowRight", "right"),
            ("control+option+arrowup", "ctrl+alt+up"),
        ];
        for (alias, canonical) in cases {
            assert_eq!(canonical_key_name(alias).as_deref(), Some(canonical), "{alias}");
            assert_eq!(bytes(alias), bytes(canonical), "{alias}");
        }
    }

    #[test]
    fn modifier_order_does_not_matter() {
        let same = [
            ("shift+ctrl+up", "ctrl+shift+up"),
            ("alt+shift+up", "shift+alt+up"),
            ("alt+ctrl+left", "ctrl+alt+left"),
            ("alt+shift+ctrl+right", "ctrl+shift+alt+right"),
            ("shift+alt+ctrl+home", "ctrl+shift+alt+home"),
            ("alt+ctrl+shift+end", "ctrl+shift+alt+end"),
        ];
        for (written, canonical) in same {
            assert_eq!(canonical_key_name(written).as_deref(), Some(canonical));
            assert_eq!(bytes(written), bytes(canonical));
        }
    }

    #[test]
    fn dash_separator_case_and_whitespace_are_normalised() {
        assert_eq!(bytes("ctrl-c"), b"\x03");
        assert_eq!(canonical_key_name("Ctrl-Shift-Up").as_deref(), Some("ctrl+shift+up"));
        assert_eq!(canonical_key_name("shift-tab").as_deref(), Some("shift+tab"));
        assert_eq!(canonical_key_name("ctrl-_").as_deref(), Some("ctrl+_"));
        assert_eq!(canonical_key_name("  CTRL+C\t").as_deref(), Some("ctrl+c"));
        assert_eq!(canonical_key_name("ctrl + c").as_deref(), Some("ctrl+c"));
        assert_eq!(canonical_key_name("Enter").as_deref(), Some("enter"));
        assert_eq!(canonical_key_name("PageUp").as_deref(), Some("pageup"));
        assert_eq!(canonical_key_name("F5").as_deref(), Some("f5"));
        assert_eq!(bytes(" Space "), b" ");
    }

    #[test]
    fn unknown_names_are_errors() {
        for name in [
            "",
            " ",
            "ctrl+",
            "+c",
            "ctrl",
            "shift",
            "hyper+x",
            "super+a",
            "a",
            "y",
            "1",
            "/",
            "ctrl+ctrl+c",
            "ctrl+shift+ctrl+up",
            "f13",
            "shift+f13",
            "alt+f1",
            "shift+a",
            "ctrl+1",
            "ctrl++",
            "ctrl--",
            "enterr",
            "ctrl+c+",
            "up,down",
        ] {
            assert_eq!(canonical_key_name(name), None, "{name:?}");
            assert_eq!(key_bytes(name), Err(UnknownKey(name.to_owned())), "{name:?}");
        }
        let message = UnknownKey("hyper+x".into()).to_string();
        assert_eq!(message, "unknown key name `hyper+x`; see `warden keys` for the list");
    }

    #[test]
    fn keys_bytes_concatenates_and_names_the_unknown_key() {
        assert_eq!(keys_bytes(&["down", "down", "enter"]), Ok(b"\x1b[B\x1b[B\r".to_vec()));
        assert_eq!(keys_bytes(&[String::from("ctrl-c")]), Ok(b"\x03".to_vec()));
        assert_eq!(keys_bytes::<&str>(&[]), Ok(Vec::new()));
        assert_eq!(keys_bytes(&["up", "nope", "x"]), Err(UnknownKey("nope".into())));
    }

    #[test]
    fn parse_key_list_returns_canonical_names() {
        assert_eq!(parse_key_list("down, enter"), Ok(vec!["down".into(), "enter".into()]));
        assert_eq!(
            parse_key_list(" keys: Down ,RETURN,shift-ctrl-up "),
            Ok(vec!["down".into(), "enter".into(), "ctrl+shift+up".into()])
        );
        assert_eq!(parse_key_list("KEYS:esc"), Ok(vec!["escape".into()]));
        assert_eq!(parse_key_list("ctrl+c"), Ok(vec!["ctrl+c".into()]));
    }

    #[test]
    fn parse_key_list_rejects_empty_lists_and_unknown_items() {
        assert_eq!(parse_key_list(""), Err(UnknownKey(String::new())));
        assert_eq!(parse_key_list("   "), Err(UnknownKey(String::new())));
        assert_eq!(parse_key_list("keys:"), Err(UnknownKey(String::new())));
        assert_eq!(parse_key_list("down,,enter"), Err(UnknownKey(String::new())));
        assert_eq!(parse_key_list("down,enter,"), Err(UnknownKey(String::new())));
        assert_eq!(parse_key_list("down, y ,enter"), Err(UnknownKey("y".into())));
    }

    #[test]
    fn bracketed_paste_wraps_text() {
        assert_eq!(bracketed_paste(""), b"\x1b[200~\x1b[201~");
        assert_eq!(bracketed_paste("fix the bug\n"), b"\x1b[200~fix the bug\n\x1b[201~");
        assert_eq!(bracketed_paste("naïve ~ ✓"), "\x1b[200~naïve ~ ✓\x1b[201~".as_bytes());
        assert_eq!(bracketed_paste("\x1b[A~"), b"\x1b[200~\x1b[A~\x1b[201~");
    }

    #[test]
    fn bracketed_paste_strips_embedded_markers() {
        assert_eq!(bracketed_paste("a\x1b[201~rm -rf /\r"), b"\x1b[200~arm -rf /\r\x1b[201~");
        assert_eq!(bracketed_paste("\x1b[200~x\x1b[201~"), b"\x1b[200~x\x1b[201~");
        // Removing the inner marker must not assemble a new one from the pieces around it.
        assert_eq!(bracketed_paste("a\x1b[20\x1b[201~1~b"), b"\x1b[200~ab\x1b[201~");
        assert_eq!(bracketed_paste("\x1b[2\x1b[200~01~\x1b[201~"), b"\x1b[200~\x1b[201~");
    }

    /// A table name written differently: modifiers shuffled, random case, `+` or `-`,
    /// padded with whitespace. Yields (canonical name, variant).
    fn spelled_differently() -> impl Strategy<Value = (&'static str, String)> {
        (0..KEYS.len())
            .prop_flat_map(|i| {
                let name = KEYS[i].0;
                let mut words: Vec<&'static str> = name.split('+').collect();
                let key = words.pop().expect("split yields at least one word");
                (
                    Just(name),
                    Just(words).prop_shuffle(),
                    Just(key),
                    proptest::collection::vec(any::<bool>(), 32),
                    any::<bool>(),
                    "[ \t]{0,2}",
                )
            })
            .prop_map(|(name, mut words, key, upper, dash, pad)| {
                words.push(key);
                let joined = words.join(if dash { "-" } else { "+" });
                let cased: String = joined
                    .chars()
                    .zip(upper.iter().cycle())
                    .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                (name, format!("{pad}{cased}{pad}"))
            })
    }

    proptest! {
        #[test]
        fn canonical_key_name_never_panics_and_is_idempotent(s in any::<String>()) {
            if let Some(canonical) = canonical_key_name(&s) {
                prop_assert_eq!(canonical_key_name(&canonical), Some(canonical.clone()));
                prop_assert!(key_names().any(|n| n == canonical));
                prop_assert_eq!(key_bytes(&s), key_bytes(&canonical));
            } else {
                prop_assert!(key_bytes(&s).is_err());
            }
        }

        #[test]
        fn key_like_strings_never_panic(s in "[a-zA-Z+\\- _@^\\[\\]\\\\]{0,24}") {
            if let Some(canonical) = canonical_key_name(&s) {
                prop_assert_eq!(canonical_key_name(&canonical), Some(canonical));
            }
        }

        #[test]
        fn any_spelling_of_a_table_name_resolves((name, variant) in spelled_differently()) {
            prop_assert_eq!(canonical_key_name(&variant), Some(name.to_owned()));
            prop_assert_eq!(key_bytes(&variant), key_bytes(name));
        }

        #[test]
        fn bracketed_paste_body_never_contains_a_marker(s in "(a|~|\x1b|\\[|2|0|1){0,40}") {
            let out = bracketed_paste(&s);
            let body = &out[6..out.len() - 6];
            prop_assert!(!body.windows(6).any(|w| w == PASTE_START || w == PASTE_END));
        }
    }
}
