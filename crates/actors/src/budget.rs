//! Budgets of what callers can make a node hold: compiled rule memory (per
//! rule, per session, per node), rules, loading patterns, pending
//! confirmations and screen size. A request over a budget is refused with
//! [`BudgetError`], which names the budget; what a session was charged is
//! given back when the session ends (its [`Charge`]s are dropped).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The budgets of a node. Every field is a limit a caller's request cannot
/// exceed; defaults in [`Budgets::default`], documented in `docs/OPERATIONS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Heap of one compiled rule or loading pattern (its automata), in bytes.
    pub rule_compiled_bytes: usize,
    /// Lazy-DFA cache of one rule, per search direction, in bytes (the
    /// regex engine falls back to slower automata rather than grow it).
    pub rule_dfa_cache_bytes: usize,
    /// Sum of what a session's rules and loading patterns are charged.
    pub session_rule_bytes: usize,
    /// Sum of what every session of the node is charged for rules.
    pub node_rule_bytes: usize,
    /// Rules one session holds (given at spawn and added since).
    pub rules_per_session: usize,
    /// Loading patterns of one session.
    pub loading_patterns: usize,
    /// Pending confirmations one session keeps (further prompts are not kept).
    pub pending_confirmations: usize,
    /// Cells (rows × columns) of one session's screen.
    pub screen_cells: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            rule_compiled_bytes: 256 * 1024,
            rule_dfa_cache_bytes: 16 * 1024,
            session_rule_bytes: 32 * 1024 * 1024,
            node_rule_bytes: 256 * 1024 * 1024,
            rules_per_session: 1024,
            loading_patterns: 64,
            pending_confirmations: 64,
            screen_cells: 1 << 20,
        }
    }
}

/// Which budget a request is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// [`Budgets::rule_compiled_bytes`].
    RuleCompiledBytes,
    /// [`Budgets::session_rule_bytes`].
    SessionRuleBytes,
    /// [`Budgets::node_rule_bytes`].
    NodeRuleBytes,
    /// [`Budgets::rules_per_session`].
    RulesPerSession,
    /// [`Budgets::loading_patterns`].
    LoadingPatterns,
    /// [`Budgets::screen_cells`].
    ScreenCells,
}

impl Budget {
    /// The budget's name, as errors and the documentation say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::RuleCompiledBytes => "rule_compiled_bytes",
            Budget::SessionRuleBytes => "session_rule_bytes",
            Budget::NodeRuleBytes => "node_rule_bytes",
            Budget::RulesPerSession => "rules_per_session",
            Budget::LoadingPatterns => "loading_patterns",
            Budget::ScreenCells => "screen_cells",
        }
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request over a budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("over the budget {budget} (limit {limit}){}; {hint}", what.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
pub struct BudgetError {
    /// The budget.
    pub budget: Budget,
    /// Its limit.
    pub limit: usize,
    /// What was over it (a rule, a pattern), when one thing was.
    pub what: Option<String>,
    /// What to do.
    pub hint: &'static str,
}

impl BudgetError {
    pub(crate) fn new(budget: Budget, limit: usize) -> Self {
        let hint = match budget {
            Budget::RuleCompiledBytes => "simplify the pattern (bounded repetitions of Unicode classes are large)",
            Budget::SessionRuleBytes | Budget::RulesPerSession => "use fewer or simpler rules, or clear some first",
            Budget::NodeRuleBytes => "the node holds too many rules now; retry later or on another node",
            Budget::LoadingPatterns => "use fewer loading patterns",
            Budget::ScreenCells => "ask for a smaller terminal",
        };
        BudgetError { budget, limit, what: None, hint }
    }

    pub(crate) fn about(mut self, what: String) -> Self {
        self.what = Some(what);
        self
    }
}

/// The node's account of compiled rule memory: what every live charge holds.
#[derive(Debug, Clone)]
pub(crate) struct RuleMemory {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl RuleMemory {
    pub(crate) fn new(limit: usize) -> Self {
        RuleMemory { used: Arc::new(AtomicUsize::new(0)), limit }
    }

    /// Bytes charged now, node-wide.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Charges `bytes`, or refuses when the node's budget would be exceeded.
    pub(crate) fn charge(&self, bytes: usize) -> Result<Charge, BudgetError> {
        let mut now = self.used.load(Ordering::Relaxed);
        loop {
            let next = now.saturating_add(bytes);
            if next > self.limit {
                return Err(BudgetError::new(Budget::NodeRuleBytes, self.limit));
            }
            match self.used.compare_exchange_weak(now, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Ok(Charge { used: self.used.clone(), bytes }),
                Err(seen) => now = seen,
            }
        }
    }
}

/// Bytes charged to the node's [`RuleMemory`], given back on drop.
#[derive(Debug)]
pub(crate) struct Charge {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

#[cfg(test)]
impl Charge {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_refused_past_the_limit_and_given_back_on_drop() {
        let m = RuleMemory::new(100);
        let a = m.charge(60).expect("fits");
        let e = m.charge(50).expect_err("over");
        assert_eq!(e.budget, Budget::NodeRuleBytes);
        assert!(e.to_string().contains("node_rule_bytes"), "{e}");
        drop(a);
        assert_eq!(m.used(), 0);
        let b = m.charge(100).expect("fits again");
        assert_eq!(b.bytes(), 100);
    }
}
