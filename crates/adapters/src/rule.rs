//! Compiled rules: a manifest rule with its regexes built once, and its evaluation on a
//! prepared screen.

use regex::{Regex, RegexBuilder};

use crate::ManifestError;
use crate::manifest::RuleSpec;
use crate::preset::ApprovalPreset;
use warden_core::{LoginKind, PromptKind, Reply};

use crate::verdict::{Detection, Provenance};
use crate::view::{Prepared, Region};

/// Largest compiled size of one user regex (bytes); guards against patterns that would
/// make detection slow.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One rule, ready to run.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id within the adapter.
    pub id: String,
    /// What a match means.
    pub state: Detection,
    /// Prompt type (blocking rules).
    pub prompt_kind: Option<PromptKind>,
    /// Login type (login rules).
    pub login_kind: Option<LoginKind>,
    /// Sub-kind as written.
    pub kind: String,
    pattern: Regex,
    also: Vec<Regex>,
    unless: Vec<Regex>,
    /// Where it looks.
    pub region: Region,
    /// Higher wins.
    pub priority: i32,
    /// Extract a URL.
    pub url: bool,
    code: Option<Regex>,
    /// Automatic answer.
    pub response: Option<Reply>,
    /// Answer once per session.
    pub once: bool,
    /// Safe to answer automatically.
    pub safe: bool,
    /// Lowest preset that answers automatically.
    pub min_preset: ApprovalPreset,
    /// What it recognises.
    pub description: String,
    /// `seen: <fixture>` or `read: <source>`.
    pub source: String,
    /// The overlay file the rule came from; `None` for the manifest's own rules.
    pub overlay: Option<String>,
}

/// A rule's match on one screen.
#[derive(Debug, Clone)]
pub struct Hit<'r> {
    /// The rule.
    pub rule: &'r Rule,
    /// Provenance (adapter, rule, region, evidence).
    pub provenance: Provenance,
    /// Byte offset of the match in the screen text (when the region is on screen).
    pub at: Option<usize>,
    /// The region's text from the start of the matched line on (menus are read from it).
    pub region_text: String,
    /// Extracted code.
    pub code: Option<String>,
}

fn build(pattern: &str, adapter: &str, rule: &str) -> Result<Regex, ManifestError> {
    RegexBuilder::new(pattern).multi_line(true).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| ManifestError::Rule {
        adapter: adapter.to_string(),
        rule: rule.to_string(),
        message: format!("bad pattern {pattern:?}: {e}"),
    })
}

impl Rule {
    /// Compiles a manifest rule of adapter `adapter`.
    pub fn compile(spec: &RuleSpec, adapter: &str) -> Result<Rule, ManifestError> {
        let err =
            |message: String| ManifestError::Rule { adapter: adapter.to_string(), rule: spec.id.clone(), message };
        if spec.id.trim().is_empty() {
            return Err(ManifestError::Invalid {
                adapter: adapter.to_string(),
                message: "a rule has an empty `id`".into(),
            });
        }
        let state = Detection::parse(&spec.state).ok_or_else(|| {
            err(format!("unknown state `{}`; states: ready, busy, login, blocking, task_complete, exit", spec.state))
        })?;
        let prompt_kind = match state {
            Detection::Blocking => {
                let k = if spec.kind.is_empty() { "unknown" } else { spec.kind.as_str() };
                Some(PromptKind::parse(k).ok_or_else(|| {
                    let all: Vec<_> = PromptKind::ALL.iter().map(|k| k.as_str()).collect();
                    err(format!("unknown prompt kind `{k}`; kinds: {}", all.join(", ")))
                })?)
            }
            _ => None,
        };
        let login_kind = match state {
            Detection::Login => {
                let k = if spec.kind.is_empty() { "unknown" } else { spec.kind.as_str() };
                Some(LoginKind::parse(k).ok_or_else(|| {
                    let all: Vec<_> = LoginKind::ALL.iter().map(|k| k.as_str()).collect();
                    err(format!("unknown login kind `{k}`; kinds: {}", all.join(", ")))
                })?)
            }
            _ => None,
        };
        let region = match &spec.region {
            Some(r) => Region::parse(r).map_err(err)?,
            None => Region::Screen,
        };
        let response = match &spec.response {
            Some(r) => Some(Reply::parse_checked(r).map_err(|e| err(format!("bad response {r:?}: {e}")))?),
            None => None,
        };
        let min_preset = match &spec.min_preset {
            Some(p) => ApprovalPreset::parse(p).ok_or_else(|| {
                err(format!("unknown min_preset `{p}`; presets: readonly, standard, permissive, autonomous"))
            })?,
            None => ApprovalPreset::Readonly,
        };
        let code = match &spec.code {
            Some(c) => {
                let re = build(c, adapter, &spec.id)?;
                if re.captures_len() < 2 {
                    return Err(err(format!("`code` pattern {c:?} needs one capture group")));
                }
                Some(re)
            }
            None => None,
        };
        Ok(Rule {
            id: spec.id.clone(),
            state,
            prompt_kind,
            login_kind,
            kind: spec.kind.clone(),
            pattern: build(&spec.pattern, adapter, &spec.id)?,
            also: spec.also.iter().map(|p| build(p, adapter, &spec.id)).collect::<Result<_, _>>()?,
            unless: spec.unless.iter().map(|p| build(p, adapter, &spec.id)).collect::<Result<_, _>>()?,
            region,
            priority: spec.priority.unwrap_or_else(|| state.default_priority()),
            url: spec.url,
            code,
            response,
            once: spec.once,
            safe: spec.safe.unwrap_or(true),
            min_preset,
            description: spec.description.clone(),
            source: spec.source.clone(),
            overlay: spec.overlay.clone(),
        })
    }

    fn matches_in<'t>(&self, text: &'t str) -> Option<regex::Match<'t>> {
        if text.is_empty() {
            return None;
        }
        let m = self.pattern.find(text)?;
        if !self.also.iter().all(|r| r.is_match(text)) || self.unless.iter().any(|r| r.is_match(text)) {
            return None;
        }
        Some(m)
    }

    /// Evaluates the rule on a prepared screen.
    pub fn eval<'r>(&'r self, screen: &Prepared<'_>, adapter: &str) -> Option<Hit<'r>> {
        let region_text = screen.region(self.region);
        let (m, text) = match self.matches_in(region_text) {
            Some(m) => (m, region_text),
            None if self.region == Region::Scrollback => {
                let sb = screen.view.scrollback;
                (self.matches_in(sb)?, sb)
            }
            None => return None,
        };
        // A match may start with blanks and line breaks (`^\s*…`): its evidence is the line
        // where its text starts.
        let trimmed = m.as_str().trim_start();
        let start = if trimmed.is_empty() { m.start() } else { m.end() - trimmed.len() };
        let at = if self.region == Region::Title { None } else { screen.offset_of(text).map(|o| o + start) };
        let evidence = match at {
            Some(a) => screen.line_at(a).to_string(),
            None => {
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                text[line_start..end].trim().to_string()
            }
        };
        let evidence: String = evidence.chars().take(200).collect();
        let code = self
            .code
            .as_ref()
            .and_then(|re| re.captures(screen.view.text))
            .and_then(|c| c.get(1))
            .map(|g| g.as_str().to_string());
        Some(Hit {
            rule: self,
            provenance: Provenance {
                adapter: adapter.to_string(),
                rule: self.id.clone(),
                region: self.region.to_string(),
                evidence,
            },
            at,
            region_text: text[text[..start].rfind('\n').map_or(0, |i| i + 1)..].to_string(),
            code,
        })
    }
}
