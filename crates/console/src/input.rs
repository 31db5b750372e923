//! What a chunk of the person's input means: keystrokes for the session, the detach
//! key, or a yes/no answer to the question on the status line.

/// The default detach key of a console that can leave a session running.
pub const DEFAULT_DETACH_KEY: &str = "ctrl+]";

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

/// Splits a chunk read from the terminal. While `asking`, a chunk that is just `y` or
/// `n` (either case) answers the question; anything else goes to the session. The
/// detach key ends the chunk: what came before it still goes to the session, what
/// came after is dropped.
pub(crate) fn split(chunk: &[u8], detach: Option<u8>, asking: bool) -> Vec<Piece> {
    if asking {
        match chunk {
            b"y" | b"Y" => return vec![Piece::Answer(true)],
            b"n" | b"N" => return vec![Piece::Answer(false)],
            _ => {}
        }
    }
    let mut out = Vec::new();
    match detach.and_then(|d| chunk.iter().position(|b| *b == d)) {
        Some(at) => {
            if at > 0 {
                out.push(Piece::Keys(chunk[..at].to_vec()));
            }
            out.push(Piece::Detach);
        }
        None if !chunk.is_empty() => out.push(Piece::Keys(chunk.to_vec())),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks() {
        let d = detach_key_byte(DEFAULT_DETACH_KEY);
        assert_eq!(d, Some(0x1d));
        assert_eq!(detach_key_byte("up"), None, "more than one byte");
        assert_eq!(detach_key_byte("no-such-key"), None);
        assert_eq!(split(b"ls\r", d, false), vec![Piece::Keys(b"ls\r".to_vec())]);
        assert_eq!(split(b"\x03", d, false), vec![Piece::Keys(b"\x03".to_vec())], "ctrl+c is the agent's");
        assert_eq!(split(b"ab\x1dcd", d, false), vec![Piece::Keys(b"ab".to_vec()), Piece::Detach]);
        assert_eq!(split(b"\x1d", None, false), vec![Piece::Keys(b"\x1d".to_vec())], "no detach key");
        assert_eq!(split(b"y", d, true), vec![Piece::Answer(true)]);
        assert_eq!(split(b"N", d, true), vec![Piece::Answer(false)]);
        assert_eq!(split(b"y", d, false), vec![Piece::Keys(b"y".to_vec())], "only while asking");
        assert_eq!(split(b"yes", d, true), vec![Piece::Keys(b"yes".to_vec())]);
        assert_eq!(split(b"", d, false), vec![]);
    }
}
