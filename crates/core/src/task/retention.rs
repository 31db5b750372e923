//! Which finished worktrees the retention policy removes: a pure decision
//! over their end times and sizes (the IO is `warden_actors`' task host).

/// How many finished worktrees (of tasks that have ended: completed, failed,
/// cancelled) a node keeps, how many bytes they may hold and how old they may
/// get. Worktrees of live tasks are never counted nor removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorktreeRetention {
    /// Most finished worktrees kept.
    pub max_count: usize,
    /// Most bytes the finished worktrees may hold together.
    pub max_bytes: u64,
    /// Oldest finished worktree kept (since its task ended), milliseconds.
    pub max_age_ms: u64,
}

impl Default for WorktreeRetention {
    fn default() -> Self {
        WorktreeRetention { max_count: 32, max_bytes: 4 << 30, max_age_ms: 14 * 24 * 3600 * 1000 }
    }
}

/// One finished worktree as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedWorktree {
    /// When its task ended (or, without a task record, its last change), Unix ms.
    pub ended_at: u64,
    /// Bytes of its directory.
    pub bytes: u64,
}

/// The indexes (into `finished`) of the worktrees to remove, oldest first:
/// every one older than `max_age_ms`, then the oldest until at most
/// `max_count` remain and they hold at most `max_bytes`.
pub fn worktrees_to_remove(finished: &[FinishedWorktree], policy: &WorktreeRetention, now_ms: u64) -> Vec<usize> {
    let ended: Vec<(u64, u64)> = finished.iter().map(|f| (f.ended_at, f.bytes)).collect();
    crate::retention::oldest_beyond(&ended, policy.max_count, policy.max_bytes, policy.max_age_ms, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_until_count_bytes_and_age_hold() {
        let f = |ended_at, bytes| FinishedWorktree { ended_at, bytes };
        let policy = WorktreeRetention { max_count: 2, max_bytes: 100, max_age_ms: 1000 };
        // (worktrees, now, expected removals)
        let cases: &[(&[FinishedWorktree], u64, &[usize])] = &[
            (&[], 0, &[]),
            (&[f(10, 1), f(20, 1)], 30, &[]),
            (&[f(30, 1), f(10, 1), f(20, 1)], 40, &[1]),
            (&[f(10, 60), f(20, 60)], 30, &[0]),
            (&[f(10, 1), f(2000, 1)], 2005, &[0]),
            (&[f(10, 500)], 20, &[0]),
            (&[f(5, 1), f(6, 1), f(7, 1), f(8, 1)], 10, &[0, 1]),
        ];
        for (finished, now, expected) in cases {
            assert_eq!(worktrees_to_remove(finished, &policy, *now), *expected, "{finished:?} at {now}");
        }
    }
}
