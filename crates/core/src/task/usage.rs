//! Reading when a usage limit resets from the agent's words.

use std::time::Duration;

/// How long until the limit shown in `text` resets, when the text says:
/// `resets in 3s`, `try again in 5 minutes`, `retry after 2h`, `resets in
/// 1h 30m`, or an RFC 3339 time (`resets at 2026-12-06T10:00:00Z`, read
/// against `now_ms`). `None` when no reset time is given (clock times
/// without a date or zone, such as Claude's `resets 3pm`, are not guessed).
/// At most [`MAX_RESET`]: the screen is the agent's to draw, and a time past
/// that is not one any account waits for.
pub fn parse_reset(text: &str, now_ms: u64) -> Option<Duration> {
    read_reset(text, now_ms).map(|d| d.min(MAX_RESET))
}

/// The longest wait for a usage limit's reset taken from a screen: 31 days
/// (weekly limits are the longest the agent CLIs show).
pub const MAX_RESET: Duration = Duration::from_secs(31 * 86_400);

fn read_reset(text: &str, now_ms: u64) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    for word in lower.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '·' || c == ',') {
        let word = word.trim_end_matches('.');
        if word.len() >= 20
            && word.as_bytes().get(4) == Some(&b'-')
            && let Ok(at) = humantime::parse_rfc3339_weak(&word.to_ascii_uppercase().replace('T', " ").replace('Z', ""))
            && let Ok(at) = at.duration_since(std::time::UNIX_EPOCH)
        {
            let at = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
            return Some(Duration::from_millis(at.saturating_sub(now_ms)));
        }
    }
    for marker in ["resets in ", "reset in ", "try again in ", "retry in ", "retry after ", "available in "] {
        if let Some(at) = lower.find(marker) {
            return durations(&lower[at + marker.len()..]);
        }
    }
    None
}

/// `1h 30m`, `3s`, `5 minutes`, `90 seconds and 2 hours` … up to the first word
/// that is neither a number nor a unit.
fn durations(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut found = false;
    let mut rest = text.trim_start();
    loop {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            break;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => break,
        };
        total = total.saturating_add(Duration::from_secs(n.saturating_mul(secs)));
        found = true;
        rest = rest[unit_len..].trim_start_matches([' ', ',']).trim_start_matches("and ").trim_start();
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_reset_times_are_capped() {
        let absurd = "You've hit your limit · resets in 10000000000000000000h 1s";
        assert_eq!(parse_reset(absurd, 0), Some(MAX_RESET));
        assert_eq!(parse_reset("resets at 9999-12-31T00:00:00Z", 0), Some(MAX_RESET));
        assert_eq!(parse_reset("resets in 2 days", 0), Some(Duration::from_secs(2 * 86_400)));
    }

    #[test]
    fn reset_times_are_read_when_given() {
        let cases: &[(&str, Option<u64>)] = &[
            ("You've hit your limit · resets in 3s", Some(3)),
            ("Usage limit reached. Try again in 5 minutes.", Some(300)),
            ("rate limited; retry after 1h 30m", Some(5400)),
            ("resets in 2 hours and 10 minutes", Some(7800)),
            ("You've hit your limit · resets 3pm (Europe/Berlin)", None),
            ("Quota exceeded", None),
            ("resets in soon", None),
        ];
        for (text, secs) in cases {
            assert_eq!(parse_reset(text, 0), secs.map(Duration::from_secs), "{text}");
        }
        let at = parse_reset("limit reached, resets at 1970-01-01T00:00:10Z", 4_000);
        assert_eq!(at, Some(Duration::from_secs(6)));
        assert_eq!(parse_reset("resets at 1970-01-01T00:00:10Z", 20_000), Some(Duration::ZERO));
    }
}
