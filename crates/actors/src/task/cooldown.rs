//! Agents cooling down after a usage limit: the selection strategy passes
//! them over until their reset. Bounded by the number of adapters (names come
//! from the registry, not from callers).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::lock;

/// How long an agent cools down when its usage limit gave no reset time.
pub(crate) const DEFAULT_COOLDOWN_MS: u64 = 60 * 60 * 1000;

/// Adapter name → cooling down until (Unix ms). One lock, held for map
/// operations only.
#[derive(Debug, Default)]
pub(crate) struct Cooldowns {
    until: Mutex<HashMap<String, u64>>,
}

impl Cooldowns {
    /// `agent` cools down until `until_ms` (a later time wins).
    pub(crate) fn cool(&self, agent: &str, until_ms: u64) {
        let mut g = lock(&self.until);
        let entry = g.entry(agent.to_owned()).or_insert(until_ms);
        *entry = (*entry).max(until_ms);
    }

    /// The agents cooling down at `now_ms`, with their reset time; expired
    /// entries are forgotten.
    pub(crate) fn cooling(&self, now_ms: u64) -> Vec<(String, u64)> {
        let mut g = lock(&self.until);
        g.retain(|_, until| *until > now_ms);
        let mut out: Vec<(String, u64)> = g.iter().map(|(a, u)| (a.clone(), *u)).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_cool_down_until_their_reset() {
        let c = Cooldowns::default();
        c.cool("claude", 100);
        c.cool("claude", 50);
        c.cool("codex", 10);
        assert_eq!(c.cooling(20), vec![("claude".to_string(), 100)]);
        assert!(c.cooling(100).is_empty());
    }
}
