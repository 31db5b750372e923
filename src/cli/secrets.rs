//! The secrets this `warden` process knows (NATS token, password and nkey
//! seed, git and GitHub tokens), and the log writer that hides them, in
//! every encoding the redactor knows, from whatever a log line quotes.

use std::io::Write;
use std::sync::{OnceLock, RwLock};

use warden_core::workspace::redact::{Redactor, Secret};

/// Environment variables that hold secrets the command line may use.
const SECRET_ENV: &[&str] =
    &["WARDEN_NATS_TOKEN", "WARDEN_NATS_PASSWORD", "WARDEN_NATS_NKEY", "WARDEN_GIT_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"];

fn known() -> &'static RwLock<Redactor> {
    static KNOWN: OnceLock<RwLock<Redactor>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(Redactor::new()))
}

/// Remembers a secret (one read from a file, say) so logs never show it.
pub fn remember(secret: &str) {
    let mut r = known().write().unwrap_or_else(|e| e.into_inner());
    r.add(&Secret::new(secret.trim()));
}

/// Remembers the secrets of the environment variables warden reads.
pub fn remember_env() {
    for name in SECRET_ENV {
        if let Ok(v) = std::env::var(name)
            && !v.trim().is_empty()
        {
            remember(&v);
        }
    }
}

/// `text` without any known secret.
pub fn redact(text: &str) -> String {
    known().read().unwrap_or_else(|e| e.into_inner()).redact(text)
}

/// A `tracing` writer to stderr that redacts each log line: the formatter
/// writes one event into it, and it is written out, redacted, when dropped.
#[derive(Default)]
pub struct RedactingStderr {
    line: Vec<u8>,
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = redact(&String::from_utf8_lossy(&self.line));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Makes a [`RedactingStderr`] per log event.
pub fn stderr() -> RedactingStderr {
    RedactingStderr::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_redacted_in_every_encoding() {
        remember("cli-secret-0123456789");
        let b64 = "Y2xpLXNlY3JldC0wMTIzNDU2Nzg5"; // base64 of the secret
        let out = redact(&format!("token cli-secret-0123456789 or {b64} here"));
        assert!(!out.contains("0123456789") && !out.contains("NTY3ODk"), "{out}");
        assert!(out.starts_with("token ***") && out.ends_with(" here"), "{out}");
    }
}
