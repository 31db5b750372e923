//! The caller's auto-response rules of one session: compiled at spawn, added
//! and cleared at run time, read by the auto-responder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use regex::Regex;
use warden_core::{Reply, ResponseRule, RuleSource};

pub(crate) use crate::decide::respond::CompiledRule;
use crate::decide::view::truncate_chars;
use crate::error::SessionError;
use crate::sync::lock;

/// Most rules one call may give.
pub(crate) const MAX_RULES_PER_CALL: usize = 256;
/// Most rules a session holds.
pub(crate) const MAX_RULES_PER_SESSION: usize = 1024;
/// Longest rule pattern, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 4096;

/// The session's caller rules and the counter that names rules without an id.
pub(crate) struct RuleBook {
    rules: Mutex<Vec<CompiledRule>>,
    seq: AtomicU64,
}

impl RuleBook {
    /// Compiles the spawn-time rules.
    pub(crate) fn compile(rules: &[ResponseRule]) -> Result<RuleBook, String> {
        let seq = AtomicU64::new(0);
        let compiled = compile_rules(rules, RuleSource::Session, &seq)?;
        Ok(RuleBook { rules: Mutex::new(compiled), seq })
    }

    /// The rules, locked (held briefly, never across an await).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<CompiledRule>> {
        lock(&self.rules)
    }

    /// Whether there is no caller rule.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Adds rules at run time; returns their ids.
    pub(crate) fn add(&self, rules: &[ResponseRule]) -> Result<Vec<String>, SessionError> {
        let compiled = compile_rules(rules, RuleSource::Runtime, &self.seq).map_err(SessionError::BadRule)?;
        let ids = compiled.iter().map(|r| r.id.clone()).collect();
        let mut all = self.lock();
        if all.len() + compiled.len() > MAX_RULES_PER_SESSION {
            return Err(SessionError::BadRule(format!("a session holds at most {MAX_RULES_PER_SESSION} rules")));
        }
        all.extend(compiled);
        Ok(ids)
    }

    /// Removes every caller rule; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let mut all = self.lock();
        let n = all.len();
        all.clear();
        n
    }
}

/// Compiles a caller's rules, giving ids to those without.
pub(crate) fn compile_rules(
    rules: &[ResponseRule],
    source: RuleSource,
    seq: &AtomicU64,
) -> Result<Vec<CompiledRule>, String> {
    if rules.len() > MAX_RULES_PER_CALL {
        return Err(format!("{} rules; at most {MAX_RULES_PER_CALL} per call", rules.len()));
    }
    rules
        .iter()
        .map(|r| {
            if r.pattern.len() > MAX_PATTERN_BYTES {
                return Err(format!("a rule pattern is longer than {MAX_PATTERN_BYTES} bytes"));
            }
            let regex = regex::RegexBuilder::new(&r.pattern)
                .multi_line(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("pattern `{}`: {e}", truncate_chars(&r.pattern, 80)))?;
            if let Reply::Keys(keys) = &r.reply {
                warden_core::keys::keys_bytes(keys).map_err(|e| e.to_string())?;
            }
            let id = match &r.id {
                Some(id) if !id.trim().is_empty() => truncate_chars(id.trim(), 64),
                _ => format!("rule-{}", seq.fetch_add(1, Ordering::Relaxed) + 1),
            };
            Ok(CompiledRule { id, source, regex, spec: r.clone() })
        })
        .collect()
}

/// Compiles the session's own loading patterns (they suppress stalls).
pub(crate) fn compile_loading(patterns: &[String]) -> Result<Vec<Regex>, String> {
    patterns
        .iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .multi_line(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("loading pattern: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile_with_ids_and_typed_errors() {
        let seq = AtomicU64::new(0);
        let rules = vec![ResponseRule::new("y/N", Reply::Text("y".into()))];
        let c = compile_rules(&rules, RuleSource::Session, &seq).expect("compiles");
        assert_eq!(c[0].id, "rule-1");
        let bad = vec![ResponseRule::new("(", Reply::Text("y".into()))];
        assert!(compile_rules(&bad, RuleSource::Session, &seq).is_err());
        let keys = vec![ResponseRule::new("x", Reply::Keys(vec!["nokey".into()]))];
        assert!(compile_rules(&keys, RuleSource::Session, &seq).is_err());
    }

    #[test]
    fn the_book_numbers_runtime_rules_after_spawn_rules_and_is_bounded() {
        let book = RuleBook::compile(&[ResponseRule::new("a", Reply::Text("y".into()))]).expect("compiles");
        let ids = book.add(&[ResponseRule::new("b", Reply::Text("y".into()))]).expect("adds");
        assert_eq!(ids, vec!["rule-2".to_string()]);
        let many: Vec<ResponseRule> =
            (0..MAX_RULES_PER_CALL).map(|i| ResponseRule::new(format!("p{i}"), Reply::Text("y".into()))).collect();
        for _ in 0..(MAX_RULES_PER_SESSION / MAX_RULES_PER_CALL - 1) {
            book.add(&many).expect("within the budget");
        }
        assert!(matches!(book.add(&many), Err(SessionError::BadRule(_))));
        assert_eq!(book.clear(), MAX_RULES_PER_SESSION - MAX_RULES_PER_CALL + 2);
        assert!(book.is_empty());
    }
}
