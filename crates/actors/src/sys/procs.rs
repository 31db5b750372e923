//! Finding every process a session started, through `/proc`.
//!
//! A session's processes are found three ways, to a fixed point:
//! 1. members of the agent's own session (`sid` = the agent's pid), which
//!    covers job-control groups such as `cmd &` in an interactive shell;
//! 2. descendants (by `ppid`) of anything found, which covers children that
//!    called `setsid` themselves while their parent lives;
//! 3. orphans re-parented to warden (it is their subreaper) whose environment
//!    carries the session's marker (`WARDEN_SESSION_ID=<id>`), which covers
//!    daemons that double-forked out of the session.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

/// One line of `/proc/<pid>/stat`, the fields warden needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub sid: i32,
    /// The state letter (`R`, `S`, `Z`, …).
    pub state: u8,
    /// Start time in clock ticks after boot: with the pid, it names one
    /// process for its whole life (a pid alone may be reused).
    pub start: u64,
}

/// Parses the part of `/proc/<pid>/stat` after the command name, which may
/// itself contain spaces and parentheses.
pub(crate) fn parse_stat(pid: i32, stat: &str) -> Option<ProcInfo> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let sid = fields.next()?.parse().ok()?;
    // Field 22 of stat is the start time; `fields` stands at field 7.
    let start = fields.nth(15)?.parse().ok()?;
    Some(ProcInfo { pid, ppid, pgrp, sid, state, start })
}

/// Every process visible in `/proc`.
pub(crate) fn scan() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::with_capacity(256);
    let mut buf = [0u8; STAT_MAX];
    let mut path = String::with_capacity(32);
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        path.clear();
        let _ = write!(path, "/proc/{pid}/stat");
        // Gone meanwhile, or unreadable: skipped.
        if let Some(stat) = read_stat(&path, &mut buf)
            && let Some(info) = parse_stat(pid, &String::from_utf8_lossy(stat))
        {
            out.push(info);
        }
    }
    out
}

/// Room for one `/proc/<pid>/stat` (about 300 bytes: the name is at most
/// 64, every other field a number).
const STAT_MAX: usize = 1024;

/// Reads `/proc/<pid>/stat` with one `read` (the kernel hands the whole
/// line at once): three system calls where `read_to_string` makes six (it
/// also asks the size and the position, and reads again for the end). A
/// scan reads every process's, on the reactor thread, so with thousands of
/// processes on the host this is most of a sweep. The bytes, not a `str`:
/// a process's name may be any bytes, and one that is not UTF-8 must not
/// hide it from the scan.
fn read_stat<'a>(path: &str, buf: &'a mut [u8; STAT_MAX]) -> Option<&'a [u8]> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if buf[n - 1] == b'\n' {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(&buf[..n])
}

/// The `/proc/<pid>/stat` of one process.
pub(crate) fn stat_of(pid: i32) -> Option<ProcInfo> {
    let mut buf = [0u8; STAT_MAX];
    let stat = read_stat(&format!("/proc/{pid}/stat"), &mut buf)?;
    parse_stat(pid, &String::from_utf8_lossy(stat))
}

/// True when `/proc/<pid>/environ` contains the exact entry `marker`
/// (`NAME=value`).
pub(crate) fn environ_has(pid: i32, marker: &[u8]) -> bool {
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => env.split(|b| *b == 0).any(|entry| entry == marker),
        Err(_) => false,
    }
}

/// Ends every process started at or after `since` (clock ticks after boot)
/// whose environment carries `marker`: SIGKILL, then reaps those that were
/// re-parented to this process (it is their subreaper), waiting at most
/// `reap_for`. Returns how many were killed. Used for what a `git` run leaves
/// behind (detached helpers, daemons).
pub(crate) fn end_marked(marker: &[u8], since: u64, reap_for: std::time::Duration) -> usize {
    let me = super::my_pid();
    let mut killed = Vec::new();
    for p in scan() {
        if p.pid == me || p.pid <= 1 || p.start < since || p.state == b'Z' {
            continue;
        }
        if environ_has(p.pid, marker) {
            super::signal_pid(p.pid, libc::SIGKILL);
            killed.push(p.pid);
        }
    }
    if !killed.is_empty() {
        super::reap_until(&killed, std::time::Instant::now() + reap_for);
    }
    killed.len()
}

/// One scan of `/proc`, indexed for finding the processes of many sessions
/// (a reactor iteration may need dozens: every stop, exit and kill since the
/// last scan shares one snapshot).
pub(crate) struct Snapshot {
    procs: Vec<ProcInfo>,
    by_pid: HashMap<i32, usize>,
    by_sid: HashMap<i32, Vec<usize>>,
    by_pgrp: HashMap<i32, Vec<usize>>,
    children: HashMap<i32, Vec<usize>>,
    /// Processes re-parented to `me`, other than known session leaders.
    orphans: Vec<usize>,
    /// The `WARDEN_SESSION_ID=…` entry of each orphan, read at most once.
    markers: HashMap<i32, Option<Vec<u8>>>,
    me: i32,
}

impl Snapshot {
    /// Scans `/proc`. `leaders` are the agents warden started itself: they
    /// are found through their session id, so their environment is never read.
    pub(crate) fn take(me: i32, leaders: &HashSet<i32>) -> Snapshot {
        Snapshot::from_procs(scan(), me, leaders)
    }

    /// Processes seen.
    pub(crate) fn len(&self) -> usize {
        self.procs.len()
    }

    /// The zombies whose parent is this process.
    pub(crate) fn zombie_children(&self) -> impl Iterator<Item = &ProcInfo> {
        self.procs.iter().filter(|p| p.ppid == self.me && p.state == b'Z')
    }

    pub(crate) fn from_procs(procs: Vec<ProcInfo>, me: i32, leaders: &HashSet<i32>) -> Snapshot {
        let by_pid: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
        let mut by_sid: HashMap<i32, Vec<usize>> = HashMap::new();
        let mut by_pgrp: HashMap<i32, Vec<usize>> = HashMap::new();
        let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
        let mut orphans = Vec::new();
        for (i, p) in procs.iter().enumerate() {
            if p.pid == me || p.pid <= 1 {
                continue;
            }
            by_sid.entry(p.sid).or_default().push(i);
            by_pgrp.entry(p.pgrp).or_default().push(i);
            children.entry(p.ppid).or_default().push(i);
            if p.ppid == me && !leaders.contains(&p.pid) {
                orphans.push(i);
            }
        }
        Snapshot { procs, by_pid, by_sid, by_pgrp, children, orphans, markers: HashMap::new(), me }
    }

    fn marker_of(&mut self, pid: i32) -> Option<&[u8]> {
        self.markers.entry(pid).or_insert_with(|| session_marker(pid)).as_deref()
    }

    /// One process of the snapshot.
    pub(crate) fn get(&self, pid: i32) -> Option<ProcInfo> {
        self.by_pid.get(&pid).map(|&i| self.procs[i])
    }

    /// The processes belonging to the session led by `leader` whose marker
    /// entry is `marker` (`WARDEN_SESSION_ID=<id>`) and whose terminal is
    /// `tty`: orphans re-parented to warden count when their environment has
    /// the marker or they hold the terminal open (`env -i` clears the one,
    /// not the other).
    pub(crate) fn session_members(&mut self, leader: i32, marker: &[u8], tty: Option<&Path>) -> Vec<ProcInfo> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut queue: Vec<usize> = Vec::new();
        for list in [self.by_sid.get(&leader), self.by_pgrp.get(&leader)].into_iter().flatten() {
            queue.extend(list.iter().copied());
        }
        if !marker.is_empty() {
            let orphans = self.orphans.clone();
            for i in orphans {
                let pid = self.procs[i].pid;
                if self.marker_of(pid) == Some(marker) || tty.is_some_and(|t| holds_open(pid, t)) {
                    queue.push(i);
                }
            }
        }
        let mut members = Vec::new();
        while let Some(i) = queue.pop() {
            if !seen.insert(i) {
                continue;
            }
            let p = self.procs[i];
            if p.pid == self.me {
                continue;
            }
            members.push(p);
            if let Some(kids) = self.children.get(&p.pid) {
                queue.extend(kids.iter().copied());
            }
        }
        members
    }
}

/// True when `pid`'s cgroup v2 path has a component `name` (a zombie keeps
/// the cgroup it died in until it is reaped).
pub(crate) fn in_cgroup_named(pid: i32, name: &str) -> bool {
    super::cgroup::path_of(pid).is_some_and(|path| path.split('/').any(|c| c == name))
}

/// True when one of `pid`'s standard streams (fd 0, 1 or 2) is `path`: a
/// process started on a session's terminal keeps it there even after it left
/// the session and cleared its environment. A descriptor above 2 does not
/// count: a program that forked in another thread just as a PTY was being
/// opened (before its descriptors were made close-on-exec) may hold one by
/// accident, and must not be taken for the session's (that killed a test's
/// own `git push` and a neighbouring session's agent).
pub(crate) fn holds_open(pid: i32, path: &Path) -> bool {
    (0..=2).any(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|target| target == path))
}

/// The `WARDEN_SESSION_ID=…` entry of a process's environment, if any.
fn session_marker(pid: i32) -> Option<Vec<u8>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{}=", crate::env::SESSION_ENV);
    env.split(|b| *b == 0).find(|e| e.starts_with(prefix.as_bytes())).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let s = "1234 (a (weird) name) S 1 1234 1234 34816 1234 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 4096 100";
        assert_eq!(
            parse_stat(1234, s),
            Some(ProcInfo { pid: 1234, ppid: 1, pgrp: 1234, sid: 1234, state: b'S', start: 98765 })
        );
        assert_eq!(parse_stat(1, "garbage"), None);
    }

    #[test]
    fn membership_follows_session_group_and_descendants() {
        let me = 10;
        let procs = [
            ProcInfo { pid: 100, ppid: me, pgrp: 100, sid: 100, state: b'S', start: 0 }, // leader
            ProcInfo { pid: 101, ppid: 100, pgrp: 101, sid: 100, state: b'S', start: 0 }, // job in own group
            ProcInfo { pid: 102, ppid: 101, pgrp: 102, sid: 102, state: b'S', start: 0 }, // setsid child of a member
            ProcInfo { pid: 103, ppid: 102, pgrp: 102, sid: 102, state: b'S', start: 0 }, // its child
            ProcInfo { pid: 200, ppid: 1, pgrp: 200, sid: 200, state: b'S', start: 0 },  // unrelated
            ProcInfo { pid: me, ppid: 1, pgrp: me, sid: me, state: b'S', start: 0 },
        ];
        let mut snap = Snapshot::from_procs(procs.to_vec(), me, &HashSet::from([100]));
        let mut pids: Vec<i32> =
            snap.session_members(100, b"WARDEN_SESSION_ID=x", None).iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, vec![100, 101, 102, 103]);
    }

    #[test]
    fn scan_sees_this_process() {
        let me = std::process::id() as i32;
        assert!(scan().iter().any(|p| p.pid == me));
    }

    /// A process's name is whatever bytes it chose (its program's file
    /// name, `prctl(PR_SET_NAME)`): one that is not UTF-8 made its `stat`
    /// unreadable as a `String`, so the scan skipped it, and without cgroups
    /// a stop did not end it.
    #[test]
    fn scan_sees_a_process_whose_name_is_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join(std::ffi::OsStr::from_bytes(b"agent-\xff\xfe"));
        std::os::unix::fs::symlink("/bin/sleep", &link).expect("symlink");
        let mut child = std::process::Command::new(&link).arg("30").spawn().expect("spawn");
        let pid = child.id() as i32;
        // Its name is the link's once it has exec'd.
        let named = (0..500).any(|_| {
            let comm = std::fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.starts_with(b"agent-\xff") || {
                std::thread::sleep(std::time::Duration::from_millis(10));
                false
            }
        });
        let seen = scan().iter().any(|p| p.pid == pid);
        let one = stat_of(pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(named, "the child never took the non-UTF-8 name");
        assert!(seen, "the scan skipped a process named with bytes that are not UTF-8");
        assert_eq!(one.map(|p| p.pid), Some(pid));
    }
}
