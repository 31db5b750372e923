//! Ids people can type: the short form of an id, and finding the one id a
//! person meant among the ids a node holds.
//!
//! Session and task ids are UUID v7: their head is a timestamp, so ids made
//! in the same minute share their first nine digits. The short form is
//! therefore the *tail*: the last [`SHORT_LEN`] characters of the id without
//! dashes (for a UUID v7, random bits), made longer when another id in the
//! same set ends the same way.
//!
//! A reference a person types names an id when it is, case-insensitively and
//! with or without dashes:
//! - the whole id;
//! - a prefix of it (`0193c2b6…`);
//! - a suffix of at least [`MIN_SUFFIX`] characters (the short form);
//! - or, for sessions and tasks, their label (exact, case-insensitive).
//!
//! Live items are searched first, then retained ended ones; more than one
//! match is ambiguous, and the caller lists the candidates' short forms.
//!
//! A request every node receives (on `any`) names an id by its end only
//! ([`find_by_tail`]): the whole id or a suffix of at least [`SHORT_LEN`]
//! hexadecimal digits. A prefix or a label may name ids on several nodes.

/// Characters of the short form (at least).
pub const SHORT_LEN: usize = 8;

/// Fewest characters a reference needs to match the end of an id.
pub const MIN_SUFFIX: usize = 4;

/// Longest reference taken (a longer one names nothing).
pub const MAX_REFERENCE: usize = 160;

/// An id without dashes, lowercase.
pub fn normalize(id: &str) -> String {
    id.chars().filter(|c| *c != '-').flat_map(char::to_lowercase).collect()
}

/// The short form of `id`: its last [`SHORT_LEN`] characters without dashes
/// (the whole id when it is that short).
pub fn short(id: &str) -> String {
    let n = normalize(id);
    let from = n.char_indices().rev().nth(SHORT_LEN - 1).map(|(i, _)| i).unwrap_or(0);
    n[from..].to_string()
}

/// The short form of `id` that no other id of `all` ends with: at least
/// [`SHORT_LEN`] characters, more when two ids share their tail.
pub fn short_among<'a>(id: &str, all: impl IntoIterator<Item = &'a str>) -> String {
    Shorts::new(all).of(id)
}

/// [`short_among`] for many ids of one set: the set is normalized once,
/// not once per id (a listing of a thousand sessions asks a thousand times).
pub struct Shorts {
    all: Vec<String>,
}

impl Shorts {
    /// The set the short forms must tell apart.
    pub fn new<'a>(all: impl IntoIterator<Item = &'a str>) -> Shorts {
        Shorts { all: all.into_iter().map(normalize).collect() }
    }

    /// The short form of `id` that no other id of the set ends with.
    pub fn of(&self, id: &str) -> String {
        let n = normalize(id);
        let chars: Vec<char> = n.chars().collect();
        let mut len = SHORT_LEN.min(chars.len());
        loop {
            let tail: String = chars[chars.len() - len..].iter().collect();
            if len >= chars.len() || !self.all.iter().any(|o| *o != n && o.ends_with(&tail)) {
                return tail;
            }
            len += 1;
        }
    }
}

/// Whether `reference` (as a person typed it) names `id` by the id itself,
/// a prefix or a suffix.
pub fn names_id(reference: &str, id: &str) -> bool {
    let r = normalize(reference);
    if r.is_empty() {
        return false;
    }
    let n = normalize(id);
    n.starts_with(&r) || (r.chars().count() >= MIN_SUFFIX && n.ends_with(&r))
}

/// Whether `reference` can name an id by its tail alone: at least
/// [`SHORT_LEN`] hexadecimal digits, dashes aside (a short id, or a whole
/// session or task id).
pub fn is_tail(reference: &str) -> bool {
    let r = normalize(reference.trim());
    r.chars().count() >= SHORT_LEN && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// One item a reference may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<T> {
    /// The full id, as text.
    pub id: String,
    /// Its label, for items that have one.
    pub label: Option<String>,
    /// Whether it is live (searched first).
    pub live: bool,
    /// What the caller gets back.
    pub value: T,
}

/// What a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    /// Exactly one item.
    One(T),
    /// Nothing.
    None,
    /// Several items: their short forms (unique among the candidates), in
    /// the candidates' order.
    Ambiguous(Vec<String>),
}

/// Finds the one item `reference` names: the whole id first, then a label
/// among the live items, then a prefix or suffix among the live items, then
/// the same among every item.
pub fn find<T: Clone>(reference: &str, candidates: &[Candidate<T>]) -> Found<T> {
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > MAX_REFERENCE {
        return Found::None;
    }
    let r = normalize(reference);
    if let Some(c) = candidates.iter().find(|c| normalize(&c.id) == r) {
        return Found::One(c.value.clone());
    }
    let label = |c: &Candidate<T>| c.label.as_deref().is_some_and(|l| l.trim().eq_ignore_ascii_case(reference));
    let by_id = |c: &Candidate<T>| names_id(reference, &c.id);
    // (live only, by label): live labels, live ids, every id, every label.
    for (live_only, by_label) in [(true, true), (true, false), (false, false), (false, true)] {
        let hits: Vec<&Candidate<T>> = candidates
            .iter()
            .filter(|c| (c.live || !live_only) && if by_label { label(c) } else { by_id(c) })
            .collect();
        match hits.as_slice() {
            [] => continue,
            [one] => return Found::One(one.value.clone()),
            many => {
                let all = Shorts::new(candidates.iter().map(|c| c.id.as_str()));
                let shorts = many.iter().map(|c| all.of(&c.id)).collect();
                return Found::Ambiguous(shorts);
            }
        }
    }
    Found::None
}

/// Finds the one item `reference` names by the end of its id only: the
/// whole id, or a suffix of it that [`is_tail`] (its random tail) — never a
/// prefix or a label, which may name items elsewhere too (ids made in the
/// same minute share their head). What a node serves on `any`. Live items
/// are searched first, then every item.
pub fn find_by_tail<T: Clone>(reference: &str, candidates: &[Candidate<T>]) -> Found<T> {
    if !is_tail(reference) {
        return Found::None;
    }
    let r = normalize(reference.trim());
    for live_only in [true, false] {
        let hits: Vec<&Candidate<T>> =
            candidates.iter().filter(|c| (c.live || !live_only) && normalize(&c.id).ends_with(&r)).collect();
        match hits.as_slice() {
            [] => continue,
            [one] => return Found::One(one.value.clone()),
            many => {
                let all = Shorts::new(candidates.iter().map(|c| c.id.as_str()));
                return Found::Ambiguous(many.iter().map(|c| all.of(&c.id)).collect());
            }
        }
    }
    Found::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, label: Option<&str>, live: bool) -> Candidate<String> {
        Candidate { id: id.into(), label: label.map(str::to_string), live, value: id.into() }
    }

    const A: &str = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f";
    const B: &str = "0193c2b6-7d3b-7000-8000-00000000beef";
    const C: &str = "0193c2b6-7d3c-7000-8000-00010000beef";

    #[test]
    fn the_short_form_is_the_random_tail_made_unique() {
        assert_eq!(short(A), "3c4d5e6f");
        assert_eq!(short("w1"), "w1");
        assert_eq!(short_among(A, [A, B]), "3c4d5e6f");
        // B and C share their last 8 characters: one more tells them apart.
        assert_eq!(short_among(B, [A, B, C]), "00000beef");
        assert_eq!(short_among(C, [B, C]), "10000beef");
        assert_eq!(short_among("abc", ["abc", "xabc"]), "abc");
        // One set, normalized once, gives each id the same short form.
        let set = Shorts::new([A, B, C]);
        assert_eq!([set.of(A), set.of(B), set.of(C)], ["3c4d5e6f", "00000beef", "10000beef"]);
        assert_eq!(set.of(&B.to_uppercase()), "00000beef", "case and dashes do not matter");
    }

    #[test]
    fn references_name_ids_by_prefix_suffix_or_label() {
        let all = [cand(A, Some("fix-auth"), true), cand(B, None, true), cand(C, Some("old"), false)];
        let one = |r: &str| find(r, &all);
        assert_eq!(one(A), Found::One(A.to_string()));
        assert_eq!(one(&A.to_uppercase().replace('-', "")), Found::One(A.to_string()));
        assert_eq!(one("3c4d5e6f"), Found::One(A.to_string()));
        assert_eq!(one("3C4D-5E6F"), Found::One(A.to_string()));
        assert_eq!(one("0193c2b6-7d3a"), Found::One(A.to_string()));
        assert_eq!(one("FIX-AUTH"), Found::One(A.to_string()));
        assert_eq!(one("old"), Found::One(C.to_string()), "an ended item by its label");
        // The live one wins a suffix both share.
        assert_eq!(one("beef"), Found::One(B.to_string()));
        let Found::Ambiguous(shorts) = one("0193c2b6") else { panic!("ambiguous") };
        assert_eq!(shorts, [short_among(A, [A, B, C]), short_among(B, [A, B, C])]);
        assert_eq!(shorts[0], "3c4d5e6f");
        assert_eq!(one("nope"), Found::None);
        assert_eq!(one(""), Found::None);
        assert_eq!(one(&"a".repeat(500)), Found::None);
        assert_eq!(one("e6f"), Found::None, "a suffix needs four characters");
    }

    /// On `any` only the whole id or its tail names an item: a prefix (the
    /// timestamp head, shared by ids made in the same minute on every node)
    /// or a label names nothing there, even when it is hexadecimal.
    #[test]
    fn by_tail_only_whole_ids_and_tails_name_items() {
        let all = [cand(A, Some("deadbeef"), true), cand(B, None, true), cand(C, Some("old"), false)];
        let one = |r: &str| find_by_tail(r, &all);
        assert_eq!(one(A), Found::One(A.to_string()));
        assert_eq!(one(&A.to_uppercase().replace('-', "")), Found::One(A.to_string()));
        assert_eq!(one("3c4d5e6f"), Found::One(A.to_string()));
        assert_eq!(one("3C4D-5E6F"), Found::One(A.to_string()));
        assert_eq!(one("9f001a2b3c4d5e6f"), Found::One(A.to_string()), "a longer tail");
        assert_eq!(one("0193c2b6"), Found::None, "a prefix of every id is no tail");
        assert_eq!(one("0193c2b6-7d3a"), Found::None, "nor is a unique prefix");
        assert_eq!(one("deadbeef"), Found::None, "a label, even a hexadecimal one");
        assert_eq!(one("old"), Found::None);
        assert_eq!(one("5e6f"), Found::None, "a tail has at least eight digits");
        assert_eq!(one("0000beef"), Found::One(B.to_string()), "the live one first");
        assert_eq!(one("10000beef"), Found::One(C.to_string()), "then ended ones");
        let both = [cand(B, None, true), cand(C, None, true)];
        assert_eq!(find_by_tail("0000beef", &both), Found::Ambiguous(vec!["00000beef".into(), "10000beef".into()]));
        assert!(is_tail(A) && is_tail(" 3c4d-5e6f ") && !is_tail("3c4d5e6") && !is_tail("3c4d5e6g"));
    }

    #[test]
    fn labels_shared_by_live_items_are_ambiguous() {
        let all = [cand(A, Some("x"), true), cand(B, Some("x"), true)];
        assert!(matches!(find("x", &all), Found::Ambiguous(v) if v.len() == 2));
    }
}
