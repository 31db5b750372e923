//! The caller's auto-response rules and loading patterns of one session:
//! compiled at spawn within the session's and the node's budgets, added and
//! cleared at run time, read by the auto-responder and the classifier, and
//! given back when the session ends.
//!
//! Every pattern is compiled with a bound on its automata
//! ([`Budgets::rule_compiled_bytes`]) and on its lazy-DFA cache
//! ([`Budgets::rule_dfa_cache_bytes`]); it is charged twice its measured heap
//! (the automata and the search caches that scale with them) plus both
//! directions of its DFA cache, to the session and to the node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use regex_automata::meta;
use regex_automata::util::syntax;
use warden_core::{Reply, ResponseRule, RuleSource};

use crate::budget::{Budget, BudgetError, Budgets, Charge, RuleMemory};
pub(crate) use crate::decide::respond::{CompiledRule, Pattern};
use crate::decide::view::truncate_chars;
use crate::error::SessionError;
use crate::sync::lock;

/// Most rules one call may give.
pub(crate) const MAX_RULES_PER_CALL: usize = 256;
/// Longest rule pattern, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 4096;

/// What the session's rules and patterns are charged, and the charges
/// themselves (dropping them gives the bytes back to the node).
#[derive(Default)]
struct Account {
    rule_bytes: usize,
    rule_charges: Vec<Charge>,
    loading_bytes: usize,
    loading_charge: Option<Charge>,
}

/// The session's caller rules, loading patterns, and the counter that names
/// rules without an id. Lock order: `rules → account`; `loading` is a leaf.
pub(crate) struct RuleBook {
    rules: Mutex<Vec<CompiledRule>>,
    loading: Mutex<Vec<Pattern>>,
    account: Mutex<Account>,
    seq: AtomicU64,
    budgets: Budgets,
    node: RuleMemory,
}

impl RuleBook {
    /// Compiles the spawn-time rules and loading patterns.
    pub(crate) fn compile(
        rules: &[ResponseRule],
        loading: &[String],
        budgets: Budgets,
        node: RuleMemory,
    ) -> Result<RuleBook, SessionError> {
        if loading.len() > budgets.loading_patterns {
            return Err(BudgetError::new(Budget::LoadingPatterns, budgets.loading_patterns)
                .about(format!("{} loading patterns", loading.len()))
                .into());
        }
        let mut spent = 0;
        let mut patterns = Vec::with_capacity(loading.len());
        for p in loading {
            let (re, cost) = compile_pattern(p, &budgets, budgets.session_rule_bytes.saturating_sub(spent))
                .map_err(|e| e.into_session("loading pattern"))?;
            spent += cost;
            patterns.push(re);
        }
        let loading_charge = if spent > 0 { Some(node.charge(spent)?) } else { None };
        let book = RuleBook {
            rules: Mutex::new(Vec::new()),
            loading: Mutex::new(patterns),
            account: Mutex::new(Account { loading_bytes: spent, loading_charge, ..Account::default() }),
            seq: AtomicU64::new(0),
            budgets,
            node,
        };
        if !rules.is_empty() {
            book.insert(rules, RuleSource::Session)?;
        }
        Ok(book)
    }

    /// The rules, locked (held briefly, never across an await).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<CompiledRule>> {
        lock(&self.rules)
    }

    /// The loading patterns, locked (a leaf lock, held briefly).
    pub(crate) fn loading(&self) -> MutexGuard<'_, Vec<Pattern>> {
        lock(&self.loading)
    }

    /// Whether there is no caller rule.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Adds rules at run time; returns their ids.
    pub(crate) fn add(&self, rules: &[ResponseRule]) -> Result<Vec<String>, SessionError> {
        self.insert(rules, RuleSource::Runtime)
    }

    fn insert(&self, rules: &[ResponseRule], source: RuleSource) -> Result<Vec<String>, SessionError> {
        if rules.len() > MAX_RULES_PER_CALL {
            return Err(SessionError::BadRule(format!("{} rules; at most {MAX_RULES_PER_CALL} per call", rules.len())));
        }
        let held = self.lock().len();
        let cap = self.budgets.rules_per_session;
        if held + rules.len() > cap {
            return Err(BudgetError::new(Budget::RulesPerSession, cap)
                .about(format!("{held} held and {} more", rules.len()))
                .into());
        }
        let spent = {
            let a = lock(&self.account);
            a.rule_bytes + a.loading_bytes
        };
        let (compiled, cost) = compile_rules(rules, source, &self.seq, &self.budgets, spent)?;
        let charge = self.node.charge(cost)?;
        let ids = compiled.iter().map(|r| r.id.clone()).collect();
        let mut all = self.lock();
        let mut account = lock(&self.account);
        // Checked again under the locks: another call may have added meanwhile.
        if all.len() + compiled.len() > cap {
            return Err(BudgetError::new(Budget::RulesPerSession, cap).into());
        }
        if account.rule_bytes + account.loading_bytes + cost > self.budgets.session_rule_bytes {
            return Err(BudgetError::new(Budget::SessionRuleBytes, self.budgets.session_rule_bytes).into());
        }
        account.rule_bytes += cost;
        account.rule_charges.push(charge);
        all.extend(compiled);
        Ok(ids)
    }

    /// Removes every caller rule; returns how many there were. Their
    /// memory is given back to the session's and the node's budgets.
    pub(crate) fn clear(&self) -> usize {
        let mut all = self.lock();
        let n = all.len();
        *all = Vec::new();
        let mut account = lock(&self.account);
        account.rule_bytes = 0;
        account.rule_charges.clear();
        n
    }

    /// Drops everything the book holds (the session ended): rules, loading
    /// patterns and their charges.
    pub(crate) fn release(&self) {
        self.clear();
        *self.loading() = Vec::new();
        let mut account = lock(&self.account);
        account.loading_bytes = 0;
        account.loading_charge = None;
    }

    /// The node's budgets this book was made with.
    pub(crate) fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// What the session is charged now, in bytes.
    #[cfg(test)]
    pub(crate) fn charged(&self) -> usize {
        let a = lock(&self.account);
        a.rule_bytes + a.loading_bytes
    }
}

/// Why one pattern cannot be used.
enum PatternError {
    Budget(BudgetError),
    Syntax(String),
}

impl PatternError {
    fn into_session(self, what: &str) -> SessionError {
        match self {
            PatternError::Budget(b) => SessionError::OverBudget(b),
            PatternError::Syntax(e) => SessionError::BadRule(format!("{what}: {e}")),
        }
    }
}

/// Compiles one pattern within the per-rule budgets and the `room` left in
/// the session's; returns it with what it is charged.
fn compile_pattern(pattern: &str, budgets: &Budgets, room: usize) -> Result<(Pattern, usize), PatternError> {
    let shown = || format!("pattern `{}`", truncate_chars(pattern, 80));
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(PatternError::Syntax(format!("a pattern is longer than {MAX_PATTERN_BYTES} bytes")));
    }
    let limit = budgets.rule_compiled_bytes;
    let over_rule = || PatternError::Budget(BudgetError::new(Budget::RuleCompiledBytes, limit).about(shown()));
    let config = meta::Config::new()
        .nfa_size_limit(Some(limit))
        .onepass_size_limit(Some(limit))
        .dfa_size_limit(Some(limit))
        .hybrid_cache_capacity(budgets.rule_dfa_cache_bytes);
    let re = meta::Regex::builder()
        .syntax(syntax::Config::new().multi_line(true))
        .configure(config)
        .build(pattern)
        .map_err(|e| {
            if e.size_limit().is_some() {
                return over_rule();
            }
            // The parser's own message (as the `regex` crate shows it), else the builder's.
            let why = e.syntax_error().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            PatternError::Syntax(format!("{}: {why}", shown()))
        })?;
    let heap = re.memory_usage();
    if heap > limit {
        return Err(over_rule());
    }
    let cost = heap
        .saturating_mul(2)
        .saturating_add(budgets.rule_dfa_cache_bytes.saturating_mul(2))
        .saturating_add(pattern.len());
    if cost > room {
        return Err(PatternError::Budget(
            BudgetError::new(Budget::SessionRuleBytes, budgets.session_rule_bytes).about(shown()),
        ));
    }
    Ok((re, cost))
}

/// Compiles a caller's rules, giving ids to those without, within the
/// session's budget of which `spent` is used; returns them with their cost.
/// Compiling stops at the first rule over a budget.
pub(crate) fn compile_rules(
    rules: &[ResponseRule],
    source: RuleSource,
    seq: &AtomicU64,
    budgets: &Budgets,
    spent: usize,
) -> Result<(Vec<CompiledRule>, usize), SessionError> {
    let mut cost = 0;
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        // What the rule keeps besides its automata: its reply, description and id.
        let text = text_bytes(r);
        let room = budgets.session_rule_bytes.saturating_sub(spent + cost).saturating_sub(text);
        let (regex, c) = compile_pattern(&r.pattern, budgets, room).map_err(|e| e.into_session("rule"))?;
        cost += c + text;
        if let Reply::Keys(keys) = &r.reply {
            warden_core::keys::keys_bytes(keys).map_err(|e| SessionError::BadRule(e.to_string()))?;
        }
        let id = match &r.id {
            Some(id) if !id.trim().is_empty() => truncate_chars(id.trim(), 64),
            _ => format!("rule-{}", seq.fetch_add(1, Ordering::Relaxed) + 1),
        };
        out.push(CompiledRule { id, source, regex, spec: r.clone() });
    }
    Ok((out, cost))
}

/// The bytes of a rule's text other than its pattern (which its compile cost counts).
fn text_bytes(r: &ResponseRule) -> usize {
    let reply = match &r.reply {
        Reply::Text(t) => t.len(),
        Reply::Keys(keys) => keys.iter().map(String::len).sum(),
    };
    reply + r.description.as_ref().map_or(0, String::len) + r.id.as_ref().map_or(0, String::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_reply_and_description_are_charged_to_the_session() {
        let seq = AtomicU64::new(0);
        let b = Budgets::default();
        let mut rule = ResponseRule::new("never-matches", Reply::Text("y".repeat(120 * 1024)));
        rule.description = Some("d".repeat(120 * 1024));
        let (_, small) = compile_rules(
            &[ResponseRule::new("never-matches", Reply::Text("y".into()))],
            RuleSource::Session,
            &seq,
            &b,
            0,
        )
        .expect("compiles");
        let (_, big) = compile_rules(std::slice::from_ref(&rule), RuleSource::Session, &seq, &b, 0).expect("compiles");
        assert_eq!(big - small, 240 * 1024 - 1);
        // A session cannot hold more rule text than its budget.
        let mut spent = 0;
        let mut held = 0;
        while let Ok((_, c)) = compile_rules(std::slice::from_ref(&rule), RuleSource::Session, &seq, &b, spent) {
            spent += c;
            held += 240 * 1024;
        }
        assert!(held <= b.session_rule_bytes, "{held} bytes of rule text held");
    }

    fn book(rules: &[ResponseRule]) -> RuleBook {
        RuleBook::compile(rules, &[], Budgets::default(), RuleMemory::new(Budgets::default().node_rule_bytes))
            .expect("compiles")
    }

    #[test]
    fn rules_compile_with_ids_and_typed_errors() {
        let seq = AtomicU64::new(0);
        let b = Budgets::default();
        let rules = vec![ResponseRule::new("y/N", Reply::Text("y".into()))];
        let (c, _) = compile_rules(&rules, RuleSource::Session, &seq, &b, 0).expect("compiles");
        assert_eq!(c[0].id, "rule-1");
        let bad = vec![ResponseRule::new("(", Reply::Text("y".into()))];
        assert!(matches!(compile_rules(&bad, RuleSource::Session, &seq, &b, 0), Err(SessionError::BadRule(_))));
        let keys = vec![ResponseRule::new("x", Reply::Keys(vec!["nokey".into()]))];
        assert!(compile_rules(&keys, RuleSource::Session, &seq, &b, 0).is_err());
    }

    #[test]
    fn the_book_numbers_runtime_rules_after_spawn_rules_and_is_bounded() {
        let book = book(&[ResponseRule::new("a", Reply::Text("y".into()))]);
        let ids = book.add(&[ResponseRule::new("b", Reply::Text("y".into()))]).expect("adds");
        assert_eq!(ids, vec!["rule-2".to_string()]);
        let many: Vec<ResponseRule> =
            (0..MAX_RULES_PER_CALL).map(|i| ResponseRule::new(format!("p{i}"), Reply::Text("y".into()))).collect();
        let cap = Budgets::default().rules_per_session;
        for _ in 0..(cap / MAX_RULES_PER_CALL - 1) {
            book.add(&many).expect("within the budget");
        }
        match book.add(&many) {
            Err(SessionError::OverBudget(e)) => assert_eq!(e.budget, Budget::RulesPerSession),
            other => panic!("expected the rules budget: {other:?}"),
        }
        assert_eq!(book.clear(), cap - MAX_RULES_PER_CALL + 2);
        assert!(book.is_empty());
        assert_eq!(book.charged(), 0);
    }

    #[test]
    fn a_large_rule_is_over_the_per_rule_budget_and_many_are_over_the_session_budget() {
        let b = Budgets::default();
        let node = RuleMemory::new(b.node_rule_bytes);
        let big = vec![ResponseRule::new(r"\w{20}q1", Reply::Text("y".into()))];
        match RuleBook::compile(&big, &[], b, node.clone()) {
            Err(SessionError::OverBudget(e)) => assert_eq!(e.budget, Budget::RuleCompiledBytes),
            other => panic!("expected the per-rule budget: {:?}", other.err()),
        }
        let many: Vec<ResponseRule> =
            (0..256).map(|i| ResponseRule::new(format!(r"\w{{4}}q{i}"), Reply::Text("y".into()))).collect();
        match RuleBook::compile(&many, &[], b, node.clone()) {
            Err(SessionError::OverBudget(e)) => assert_eq!(e.budget, Budget::SessionRuleBytes),
            other => panic!("expected the session budget: {:?}", other.err()),
        }
        assert_eq!(node.used(), 0, "nothing stays charged after a refusal");
    }

    #[test]
    fn the_node_budget_is_shared_and_given_back_when_a_session_ends() {
        let b = Budgets { node_rule_bytes: 3 * 1024 * 1024, ..Budgets::default() };
        let node = RuleMemory::new(b.node_rule_bytes);
        let rules: Vec<ResponseRule> =
            (0..60).map(|i| ResponseRule::new(format!("prompt {i}"), Reply::Text("y".into()))).collect();
        let first = RuleBook::compile(&rules, &["loading".into()], b, node.clone()).expect("fits");
        assert!(node.used() > 0 && node.used() == first.charged());
        match RuleBook::compile(&rules, &[], b, node.clone()) {
            Err(SessionError::OverBudget(e)) => assert_eq!(e.budget, Budget::NodeRuleBytes),
            other => panic!("expected the node budget: {:?}", other.err()),
        }
        first.release();
        assert_eq!(node.used(), 0);
        assert!(first.loading().is_empty() && first.is_empty());
        RuleBook::compile(&rules, &[], b, node.clone()).expect("fits once the first ended");
    }

    #[test]
    fn too_many_loading_patterns_are_over_their_budget() {
        let b = Budgets::default();
        let pats: Vec<String> = (0..=b.loading_patterns).map(|i| format!("l{i}")).collect();
        match RuleBook::compile(&[], &pats, b, RuleMemory::new(b.node_rule_bytes)) {
            Err(SessionError::OverBudget(e)) => assert_eq!(e.budget, Budget::LoadingPatterns),
            other => panic!("expected the loading budget: {:?}", other.err()),
        }
    }
}
