//! Removing secrets from text before it reaches an error, event or log.
//!
//! Pure: no IO.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE as B64_URL};

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

/// Replaces registered secrets, in every encoding they travel in, and the
/// credentials of any URL ([`strip_url_credentials`]: userinfo, and query
/// parameters named like a credential).
///
/// The encodings of each secret: itself; percent-encoded (upper- and
/// lower-case hex); base64, standard and URL-safe, padded or not, at any of
/// the three byte alignments it can have inside a longer encoded text (so
/// `x-access-token:<token>` in a Basic header, or a JSON body that carries
/// the token, is caught too). Only the characters that depend on the secret
/// alone are matched, so the needle is found whatever surrounds it.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

/// Shortest encoded needle kept: shorter ones would mask ordinary text.
const MIN_ENCODED_NEEDLE: usize = 8;

impl Redactor {
    /// A redactor that knows no secrets (it still strips URL credentials).
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
        // The whole Basic-auth forms first (longest: fully hidden), then
        // the secret and its encodings wherever they sit.
        let mut forms =
            vec![base64(format!("x-access-token:{s}").as_bytes()), base64(format!(":{s}").as_bytes()), s.to_owned()];
        let encoded = percent_encode(s, false);
        if encoded != s {
            forms.push(percent_encode(s, true));
            forms.push(encoded);
        }
        for engine in [&B64, &B64_URL] {
            for align in 0..3 {
                if let Some(core) = base64_core(engine, s.as_bytes(), align) {
                    forms.push(core);
                }
            }
        }
        for needle in forms {
            if !needle.is_empty() && !self.needles.contains(&needle) {
                self.needles.push(needle);
            }
        }
        // Longest first so a secret that contains another is fully hidden.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// Whether no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret and URL credential replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.replace_needles(strip_url_credentials(text))
    }

    /// `text` with every secret (in every encoding registered) replaced by `***`.
    fn replace_needles(&self, mut text: String) -> String {
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }

    /// Bytes at the end of `text` that could be the start of a secret
    /// (a proper prefix of a needle): a stream holds them back until the
    /// next chunk shows whether the secret follows.
    fn partial_tail(&self, text: &str) -> usize {
        let mut longest = 0;
        for needle in &self.needles {
            let most = needle.len().saturating_sub(1).min(text.len());
            for len in (longest + 1..=most).rev() {
                let start = text.len() - len;
                if text.is_char_boundary(start) && needle.as_bytes().starts_with(&text.as_bytes()[start..]) {
                    longest = len;
                    break;
                }
            }
        }
        longest
    }
}

/// Redacts text that arrives in chunks (a process's output, a body read in
/// parts): a secret split across two chunks is still hidden. The end of a
/// chunk that could begin a secret is held back until the next chunk (or
/// [`StreamRedactor::finish`]); anything else passes at once.
#[derive(Debug, Clone)]
pub struct StreamRedactor {
    redactor: Redactor,
    held: String,
}

impl StreamRedactor {
    /// A stream redactor for the secrets of `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        StreamRedactor { redactor, held: String::new() }
    }

    /// The next chunk; returns what may be shown now.
    pub fn push(&mut self, chunk: &str) -> String {
        if self.redactor.is_empty() {
            return chunk.to_owned();
        }
        let mut text = std::mem::take(&mut self.held);
        text.push_str(chunk);
        let clean = self.redactor.replace_needles(text);
        let keep = self.redactor.partial_tail(&clean);
        let (now, later) = clean.split_at(clean.len() - keep);
        self.held = later.to_owned();
        now.to_owned()
    }

    /// The end of the stream: whatever was held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// The base64 characters of `secret` (with `align` bytes before it in the
/// encoded text) that depend on the secret's bytes alone; `None` when too
/// short to be a safe needle.
fn base64_core(engine: &base64::engine::GeneralPurpose, secret: &[u8], align: usize) -> Option<String> {
    let mut input = vec![0u8; align];
    input.extend_from_slice(secret);
    let encoded = engine.encode(&input);
    let from = (8 * align).div_ceil(6);
    let to = (8 * (align + secret.len())) / 6;
    let core = encoded.get(from..to)?;
    (core.len() >= MIN_ENCODED_NEEDLE).then(|| core.to_owned())
}

/// `text` percent-encoded (everything but RFC 3986's unreserved
/// characters), with lower- or upper-case hex digits.
fn percent_encode(text: &str, lower: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` with the credentials of every `scheme://…` URL in it replaced by
/// `***`: the userinfo (`scheme://***@host`) and the value of every query
/// parameter named like a credential (`?access_token=***`, by the words of
/// its name, as [`url_credential`](super::url_credential) judges them).
/// Every `://` is looked at, so a URL glued to another or inside another's
/// path or query is redacted too.
pub fn strip_url_credentials(text: &str) -> String {
    redact_query_credentials(&strip_url_userinfo(text))
}

/// Replaces the userinfo of every `scheme://userinfo@host` in `text`. The
/// authority runs to the first `/`, whitespace, quote or `>`: a password
/// with a raw `?` or `#` in it is still userinfo.
fn strip_url_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
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

/// Replaces the value of every query parameter named like a credential, in
/// every URL of `text` (a URL in free text ends at whitespace, a quote, `<`,
/// `>` or `\`, so the escaped quote ending a URL inside a JSON string stays).
/// Parameters are separated by `&` or `;`, as [`url_credential`](super::url_credential)
/// reads them.
fn redact_query_credentials(text: &str) -> String {
    let url_end = |c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '\\');
    // Byte ranges of values to hide; those of a URL inside another's query may
    // lie inside the outer ones.
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("://") {
        let start = from + pos + 3;
        from = start;
        let url = &text[start..];
        let url = &url[..url.find(url_end).unwrap_or(url.len())];
        let Some(q) = url.find('?') else { continue };
        let query_end = url[q..].find('#').map_or(url.len(), |h| q + h);
        let mut at = start + q + 1;
        for pair in url[q + 1..query_end].split(['&', ';']) {
            if let Some((name, value)) = pair.split_once('=')
                && !value.is_empty()
                && super::repo_url::credential_name(&crate::text::percent_decode(name))
            {
                hide.push((at + name.len() + 1, at + pair.len()));
            }
            at += pair.len() + 1;
        }
    }
    if hide.is_empty() {
        return text.to_owned();
    }
    hide.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (a, b) in hide {
        if a < pos {
            // Inside (or overlapping) a value already hidden.
            pos = pos.max(b);
            continue;
        }
        out.push_str(&text[pos..a]);
        out.push_str(REDACTED);
        pos = b;
    }
    out.push_str(&text[pos..]);
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
            strip_url_credentials("fatal: https://u:tok@github.com/o/r.git failed; see http://h/x"),
            "fatal: https://***@github.com/o/r.git failed; see http://h/x"
        );
        assert_eq!(strip_url_credentials("ssh://git@h:22/r"), "ssh://***@h:22/r");
        assert_eq!(strip_url_credentials("https://tok@h?x=1"), "https://***@h?x=1");
        assert_eq!(strip_url_credentials("no url here"), "no url here");
    }

    #[test]
    fn strips_credential_query_values() {
        let table = [
            (
                "fatal: unable to access 'http://h:9/r.git?private_token=tok_A1/': refused",
                "fatal: unable to access 'http://h:9/r.git?private_token=***': refused",
            ),
            ("https://h/r?ref=main&access%5Ftoken=t&x=1#frag", "https://h/r?ref=main&access%5Ftoken=***&x=1#frag"),
            (
                "see <https://h/r?apiKey=k> and https://h/r?author=me",
                "see <https://h/r?apiKey=***> and https://h/r?author=me",
            ),
            (
                "https://h/r?X-Amz-Signature=s \"https://h/?token\"",
                "https://h/r?X-Amz-Signature=*** \"https://h/?token\"",
            ),
            ("https://h/r#token=t", "https://h/r#token=t"),
            ("https://h/r?", "https://h/r?"),
        ];
        for (text, want) in table {
            assert_eq!(strip_url_credentials(text), want, "{text}");
        }
        let r = Redactor::new();
        assert!(!r.redact("'https://h/r.git?password=hunter2'").contains("hunter2"));
    }

    /// What a first version let through or broke: `;` between parameters, a URL glued
    /// to another or inside another's path or query, a password with a raw `?` or `#`,
    /// and a URL in a JSON string (its escaped quote must stay, the text stays JSON).
    #[test]
    fn credentials_in_odd_places_are_redacted_and_json_stays_json() {
        for text in [
            "fatal: unable to access 'https://h/r.git?ref=main;private_token=SEKRET/': 403",
            "mirrors: https://a/r.git,https://u:SEKRET@h/r.git",
            "https://proxy/fetch?url=https://u:SEKRET@h/r.git",
            "https://proxy/fetch?url=https://h/r.git?token=SEKRET&x=1",
            "https://proxy/https://u:SEKRET@h/r.git",
            "https://user:pa?SEKRET@host/r",
            "https://user:pa#SEKRET@host/r",
        ] {
            let out = strip_url_credentials(text);
            assert!(!out.contains("SEKRET"), "leaked: {text} -> {out}");
        }
        let body = r#"{"message":"cannot fetch \"https://h/r?token=abc&ref=x\" now"}"#;
        let out = strip_url_credentials(body);
        assert_eq!(out, r#"{"message":"cannot fetch \"https://h/r?token=***&ref=x\" now"}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok(), "not JSON any more: {out}");
    }

    /// No input panics: slices are cut at ASCII delimiters only.
    #[test]
    fn no_text_makes_the_url_redaction_panic() {
        let alphabet =
            ["://", "?", "&", ";", "=", "#", "@", "/", "'", "\"", " ", ">", "\\", "é", "€", "𝄞", "token", "a", "%"];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let text: String =
                (0..x % 24).map(|i| alphabet[((x >> (i % 32)) as usize + i as usize) % alphabet.len()]).collect();
            let _ = strip_url_credentials(&text);
        }
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

    /// Every encoding of a secret warden knows, in a corpus of the texts it
    /// could be embedded in.
    #[test]
    fn a_corpus_of_encoded_secrets_is_redacted() {
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        for secret in ["ghp_abcdef123456XYZ", "p@ss w/rd+?=&%:ü~", "nats-token-0123456789", "A~/~?>>~"] {
            let mut r = Redactor::new();
            r.add(&Secret::new(secret));
            let b = secret.as_bytes();
            // (an encoded text, the characters of it that only the secret determines)
            let mut forms: Vec<(String, String)> = [percent_encode(secret, false), percent_encode(secret, true)]
                .into_iter()
                .chain([secret.to_owned()])
                .map(|f| (f.clone(), f))
                .collect();
            for prefix in ["", ":", "x:", "x-access-token:", "user:", "{\"token\":\""] {
                let align = prefix.len() % 3;
                for tail in [&b"\"}"[..], b""] {
                    let mut data = prefix.as_bytes().to_vec();
                    data.extend_from_slice(b);
                    data.extend_from_slice(tail);
                    for (engine, alphabet) in
                        [(&B64, &B64), (&B64_URL, &B64_URL), (&STANDARD_NO_PAD, &B64), (&URL_SAFE_NO_PAD, &B64_URL)]
                    {
                        let core = base64_core(alphabet, b, align).expect("long enough");
                        forms.push((engine.encode(&data), core));
                    }
                }
            }
            for (form, core) in forms {
                let text = format!("error body: {{\"message\":\"bad credentials {form}\"}} end");
                let out = r.redact(&text);
                assert!(out.contains(REDACTED), "{secret:?}: {form} not redacted: {out}");
                assert!(!out.contains(&core), "{secret:?}: {core} of {form} left: {out}");
                assert!(out.starts_with("error body:") && out.ends_with("end"), "{out}");
            }
        }
    }

    #[test]
    fn a_secret_split_across_chunks_is_redacted_and_plain_text_is_not_held() {
        let mut r = Redactor::new();
        r.add(&Secret::new("ghp_abcdef123456"));
        let b64 = B64.encode(b"ghp_abcdef123456");
        for whole in ["token=ghp_abcdef123456 done\n".to_string(), format!("auth {b64} done\n")] {
            for cut in 1..whole.len() {
                let mut s = StreamRedactor::new(r.clone());
                let mut out = s.push(&whole[..cut]);
                out.push_str(&s.push(&whole[cut..]));
                out.push_str(&s.finish());
                assert!(out.contains(REDACTED) && !out.contains("abcdef"), "cut {cut}: {out}");
                assert!(out.ends_with(" done\n"), "cut {cut}: {out}");
            }
        }
        let mut s = StreamRedactor::new(r);
        assert_eq!(s.push("hello $ "), "hello $ ", "nothing that could start a secret is held");
        assert_eq!(s.push("gh"), "", "the start of a secret is held");
        assert_eq!(s.push("ost\n"), "ghost\n");
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
