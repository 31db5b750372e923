//! Retention policies: which ended things (sessions' directories, tasks'
//! worktrees) a node removes, a pure decision over their end times and sizes.
//! The IO is `warden_actors`'.

/// The indexes (into `ended`, pairs of end time in Unix ms and bytes) of what
/// to remove, oldest first: everything older than `max_age_ms`, then the
/// oldest until at most `max_count` remain and they hold at most `max_bytes`.
pub fn oldest_beyond(
    ended: &[(u64, u64)],
    max_count: usize,
    max_bytes: u64,
    max_age_ms: u64,
    now_ms: u64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ended.len()).collect();
    order.sort_by_key(|&i| (ended[i].0, i));
    let mut count = ended.len();
    let mut bytes: u64 = ended.iter().map(|e| e.1).fold(0, u64::saturating_add);
    let mut out = Vec::new();
    for i in order {
        let (ended_at, size) = ended[i];
        let too_old = now_ms.saturating_sub(ended_at) > max_age_ms;
        if !too_old && count <= max_count && bytes <= max_bytes {
            continue;
        }
        out.push(i);
        count -= 1;
        bytes = bytes.saturating_sub(size);
    }
    out
}

/// How many ended sessions' directories (`<state_dir>/sessions/<id>`: the
/// transcript and `session.json`) a node keeps, how many bytes they may hold
/// together and how old they may get. Directories of sessions that have not
/// ended — also those of another warden on the same state directory — are
/// never counted nor removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRetention {
    /// Most ended sessions' directories kept.
    pub max_count: usize,
    /// Most bytes they may hold together.
    pub max_bytes: u64,
    /// Oldest kept (since the session ended), milliseconds.
    pub max_age_ms: u64,
}

impl Default for SessionRetention {
    fn default() -> Self {
        SessionRetention { max_count: 2048, max_bytes: 16 << 30, max_age_ms: 30 * 24 * 3600 * 1000 }
    }
}

impl SessionRetention {
    /// The indexes (into `ended`: end time in Unix ms, bytes) to remove, oldest first.
    pub fn to_remove(&self, ended: &[(u64, u64)], now_ms: u64) -> Vec<usize> {
        oldest_beyond(ended, self.max_count, self.max_bytes, self.max_age_ms, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ended things (end time, bytes), now, the indexes expected to go.
    type Case<'a> = (&'a [(u64, u64)], u64, &'a [usize]);

    #[test]
    fn the_oldest_go_until_count_bytes_and_age_hold() {
        let policy = SessionRetention { max_count: 2, max_bytes: 100, max_age_ms: 1000 };
        // (ended, now, expected removals)
        let cases: &[Case<'_>] = &[
            (&[], 0, &[]),
            (&[(10, 1), (20, 1)], 30, &[]),
            (&[(30, 1), (10, 1), (20, 1)], 40, &[1]),
            (&[(10, 60), (20, 60)], 30, &[0]),
            (&[(10, 1), (2000, 1)], 2005, &[0]),
            (&[(10, 500)], 20, &[0]),
            (&[(5, 1), (6, 1), (7, 1), (8, 1)], 10, &[0, 1]),
            (&[(u64::MAX, 1)], 0, &[]),
        ];
        for (ended, now, expected) in cases {
            assert_eq!(policy.to_remove(ended, *now), *expected, "{ended:?} at {now}");
        }
    }
}
