//! The supervision flags of `warden run`, parsed from their text into typed values.
//!
//! clap hands these flags over as strings so that a bad value is reported the way
//! every other `warden run` error is: one line, `warden: …`, exit status 125
//! (clap's own errors span several lines and exit with 2).

use std::time::Duration;

use warden_core::{ApprovalPreset, ResponseRule, RestartPolicy, StallSpec, SupervisionLevel};

/// The longest `--timeout` accepted (a year), so the deadline never overflows.
const MAX_TIMEOUT_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// The supervision settings of one run, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Supervision {
    /// `--rule` (in order).
    pub rules: Vec<ResponseRule>,
    /// `--loading` patterns.
    pub loading: Vec<String>,
    /// `--stall-ms` (0 turns stall detection off).
    pub stall: StallSpec,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--supervision`.
    pub level: SupervisionLevel,
    /// `--preset`, or the default `standard`.
    pub preset: ApprovalPreset,
    /// Whether `--preset` was given (only then are the preset's config files written).
    pub preset_explicit: bool,
    /// `--timeout`.
    pub timeout: Option<Duration>,
}

/// The raw flag values, as clap received them.
#[derive(Debug, Clone, Default)]
pub struct RawSupervision<'a> {
    /// `--rule`.
    pub rules: &'a [String],
    /// `--loading`.
    pub loading: &'a [String],
    /// `--stall-ms`.
    pub stall_ms: Option<&'a str>,
    /// `--restart`.
    pub restart: Option<&'a str>,
    /// `--supervision`.
    pub supervision: Option<&'a str>,
    /// `--preset`.
    pub preset: Option<&'a str>,
    /// `--timeout`.
    pub timeout: Option<&'a str>,
}

/// Parses the flags; the error is one line without the `warden: ` prefix.
pub fn parse(raw: &RawSupervision<'_>) -> Result<Supervision, String> {
    let mut rules = Vec::with_capacity(raw.rules.len());
    for text in raw.rules {
        let rule = ResponseRule::parse_cli(text).map_err(|e| format!("--rule: {e}"))?;
        if let warden_core::Reply::Keys(keys) = &rule.reply {
            if keys.is_empty() {
                return Err(format!("--rule `{}`: `keys:` names no key", shown(text)));
            }
            warden_core::keys::keys_bytes(keys).map_err(|e| format!("--rule `{}`: {e}", shown(text)))?;
        }
        rules.push(rule);
    }
    if let Some(p) = raw.loading.iter().find(|p| p.is_empty()) {
        return Err(format!("--loading `{p}`: the pattern is empty"));
    }
    let mut stall = StallSpec::default();
    if let Some(text) = raw.stall_ms {
        match text.trim().parse::<u64>() {
            Ok(0) => stall.disabled = true,
            Ok(ms) => stall.window_ms = Some(ms),
            Err(_) => {
                return Err(format!(
                    "--stall-ms expects a whole number of milliseconds (0 turns stall detection off), got `{}`",
                    shown(text)
                ));
            }
        }
    }
    let restart = match raw.restart.map(|s| s.trim().to_ascii_lowercase()) {
        None => RestartPolicy::Never,
        Some(s) => match s.as_str() {
            "never" | "no" => RestartPolicy::Never,
            "on-failure" | "on_failure" => RestartPolicy::OnFailure,
            "always" => RestartPolicy::Always,
            _ => {
                return Err(format!(
                    "--restart expects never, on-failure or always, got `{}`",
                    shown(raw.restart.unwrap_or_default())
                ));
            }
        },
    };
    let level = match raw.supervision {
        None => SupervisionLevel::Autonomous,
        Some(s) => SupervisionLevel::parse(s)
            .ok_or_else(|| format!("--supervision expects autonomous, confirm or notify, got `{}`", shown(s)))?,
    };
    let preset = match raw.preset {
        None => ApprovalPreset::Standard,
        Some(s) => ApprovalPreset::parse(s).ok_or_else(|| {
            format!("--preset expects readonly, standard, permissive or autonomous, got `{}`", shown(s))
        })?,
    };
    let timeout = match raw.timeout {
        None => None,
        Some(text) => Some(parse_seconds(text)?),
    };
    Ok(Supervision {
        rules,
        loading: raw.loading.to_vec(),
        stall,
        restart,
        level,
        preset,
        preset_explicit: raw.preset.is_some(),
        timeout,
    })
}

/// Seconds as a positive finite number, optionally with an `s` suffix.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let t = t.strip_suffix('s').unwrap_or(t);
    let secs: f64 = t.parse().unwrap_or(f64::NAN);
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!(
            "--timeout expects a number of seconds greater than 0 (e.g. 30 or 2.5), got `{}`",
            shown(text)
        ));
    }
    if secs > MAX_TIMEOUT_SECS {
        return Err(format!(
            "--timeout `{}` is too long: at most {MAX_TIMEOUT_SECS:.0} seconds (a year); omit it to wait without a limit",
            shown(text)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// At most 80 characters of a user's value, for an error message.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        s.push('…');
    }
    s
}

/// A multi-line error message (regex and TOML errors draw the offending text with a
/// caret under it) as one line: the snippet and caret lines are dropped, the rest
/// joined.
pub fn one_line(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let snippet = line.starts_with('|')
            || line.chars().all(|c| matches!(c, '^' | '~' | ' ' | '-'))
            || line.split_once(" |").is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
        if snippet {
            continue;
        }
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { ": " });
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSupervision<'static> {
        RawSupervision::default()
    }

    #[test]
    fn defaults() {
        let s = parse(&raw()).expect("defaults parse");
        assert_eq!(s.level, SupervisionLevel::Autonomous);
        assert_eq!(s.preset, ApprovalPreset::Standard);
        assert!(!s.preset_explicit);
        assert_eq!(s.restart, RestartPolicy::Never);
        assert_eq!(s.stall, StallSpec::default());
        assert_eq!(s.timeout, None);
    }

    #[test]
    fn values_parse() {
        let rules = vec![r"Proceed\? \[y/N\]=y".to_string(), "Pick=keys:down,enter".to_string()];
        let s = parse(&RawSupervision {
            rules: &rules,
            stall_ms: Some("500"),
            restart: Some("on-failure"),
            supervision: Some("confirm"),
            preset: Some("permissive"),
            timeout: Some("2.5"),
            ..raw()
        })
        .expect("parses");
        assert_eq!(s.rules.len(), 2);
        assert_eq!(s.rules[1].reply, warden_core::Reply::Keys(vec!["down".into(), "enter".into()]));
        assert_eq!(s.stall.window_ms, Some(500));
        assert_eq!(s.restart, RestartPolicy::OnFailure);
        assert_eq!(s.level, SupervisionLevel::Confirm);
        assert_eq!((s.preset, s.preset_explicit), (ApprovalPreset::Permissive, true));
        assert_eq!(s.timeout, Some(Duration::from_millis(2500)));
        assert!(parse(&RawSupervision { stall_ms: Some("0"), ..raw() }).expect("off").stall.disabled);
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        let bad_rule = vec!["no equals sign".to_string()];
        let bad_keys = vec!["x=keys:nosuchkey".to_string()];
        let cases = [
            RawSupervision { rules: &bad_rule, ..raw() },
            RawSupervision { rules: &bad_keys, ..raw() },
            RawSupervision { stall_ms: Some("-1"), ..raw() },
            RawSupervision { restart: Some("sometimes"), ..raw() },
            RawSupervision { supervision: Some("loose"), ..raw() },
            RawSupervision { preset: Some("yes"), ..raw() },
            RawSupervision { timeout: Some("0"), ..raw() },
            RawSupervision { timeout: Some("NaN"), ..raw() },
            RawSupervision { timeout: Some("1e300"), ..raw() },
            RawSupervision { timeout: Some("1000000000"), ..raw() },
        ];
        for c in cases {
            let e = parse(&c).expect_err("refused");
            assert_eq!(e.lines().count(), 1, "{e}");
            assert!(e.starts_with("--"), "{e}");
        }
    }

    #[test]
    fn a_timeout_too_long_says_so() {
        let e = parse(&RawSupervision { timeout: Some("1000000000"), ..raw() }).expect_err("too long");
        assert!(e.contains("too long") && e.contains("31536000"), "{e}");
        assert!(!e.contains("greater than 0"), "{e}");
    }

    #[test]
    fn multi_line_errors_become_one_line() {
        let regex = "invalid rule: pattern `a[`: regex parse error:\n    a[\n     ^\nerror: unclosed character class";
        assert_eq!(
            one_line(regex),
            "invalid rule: pattern `a[`: regex parse error: a[: error: unclosed character class"
        );
        let toml = "x.toml: TOML parse error at line 2, column 8\n  |\n2 | name = \n  |        ^\nstring values must be quoted";
        assert_eq!(one_line(toml), "x.toml: TOML parse error at line 2, column 8: string values must be quoted");
    }
}
