//! Removing secrets from text before it reaches an error, event or log.
//!
//! Pure: no IO.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Placeholder written where a secret was.
pub const REDACTED: &str = "***";

/// A secret string (a token). `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is handed to its consumer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Replaces registered secrets (and their Basic-auth base64 forms) and any
/// URL userinfo (`scheme://user:pass@host` → `scheme://***@host`).
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor that knows no secrets (it still strips URL userinfo).
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a secret. Secrets shorter than 4 bytes are ignored (they
    /// would mask ordinary text).
    pub fn add(&mut self, secret: &Secret) {
        let s = secret.expose();
        if s.len() < 4 {
            return;
        }
        for needle in
            [s.to_owned(), base64(format!("x-access-token:{s}").as_bytes()), base64(format!(":{s}").as_bytes())]
        {
            if !self.needles.contains(&needle) {
                self.needles.push(needle);
            }
        }
        // Longest first so a secret that contains another is fully hidden.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// `text` with every secret and URL userinfo replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = strip_url_userinfo(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Replace the userinfo of every `scheme://userinfo@host` in `text`.
pub fn strip_url_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace, quote or end.
        let auth_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"' || c == '>')
            .unwrap_or(tail.len());
        let authority = &tail[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[auth_end..];
    }
    out.push_str(rest);
    out
}

fn base64(input: &[u8]) -> String {
    B64.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_userinfo() {
        assert_eq!(
            strip_url_userinfo("fatal: https://u:tok@github.com/o/r.git failed; see http://h/x"),
            "fatal: https://***@github.com/o/r.git failed; see http://h/x"
        );
        assert_eq!(strip_url_userinfo("ssh://git@h:22/r"), "ssh://***@h:22/r");
        assert_eq!(strip_url_userinfo("no url here"), "no url here");
    }

    #[test]
    fn redacts_secret_and_basic_form() {
        let mut r = Redactor::new();
        r.add(&Secret::new("ghp_abcdef123456"));
        let basic = base64(b"x-access-token:ghp_abcdef123456");
        let out = r.redact(&format!("token ghp_abcdef123456 and Basic {basic}"));
        assert_eq!(out, "token *** and Basic ***");
        assert_eq!(format!("{:?}", Secret::new("x")), "Secret(***)");
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
