//! cgroup v2 containment: one cgroup per started agent process, under a
//! subtree warden owns (`<warden's own cgroup>/warden-<instance>`).
//!
//! A process cannot leave its cgroup by `setsid`, by clearing its
//! environment or by losing its parent: only a write to another cgroup's
//! `cgroup.procs` moves it, and that takes write access to the cgroup tree.
//! So the cgroup finds everything an agent started, and `cgroup.kill` ends
//! it in one write. Where no cgroup v2 tree is mounted or warden may not
//! create cgroups in its own, [`Containment::Procs`] is in force: the `/proc`
//! scan of `sys::procs` (see `docs/OPERATIONS.md` for what that misses).
//!
//! Plain file operations; no `unsafe` here. The child is born in its cgroup
//! (`clone3` with `CLONE_INTO_CGROUP` on the directory's descriptor), or,
//! where that is not available, joins it by writing `0` to the
//! `cgroup.procs` descriptor handed to the spawn, before it execs
//! (`sys::spawn`).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

/// Which mechanism finds a session's processes on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// Each agent process in its own cgroup v2 under this directory; stop
    /// writes `cgroup.kill`.
    Cgroup(PathBuf),
    /// No writable cgroup v2: the `/proc` scan (session, process tree,
    /// markers, the terminal) only; the reason says why.
    Procs(String),
}

impl Containment {
    /// One line for `warden adapters`/`warden doctor` and the start log.
    pub fn describe(&self) -> String {
        match self {
            Containment::Cgroup(dir) => format!("cgroup v2 ({})", dir.display()),
            Containment::Procs(why) => format!("/proc scan fallback ({why})"),
        }
    }
}

/// The cgroup v2 mount point (from `/proc/self/mountinfo`), if any.
fn cgroup2_mount() -> Option<PathBuf> {
    parse_cgroup2_mount(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
}

/// The mount point of the first `cgroup2` file system in a mountinfo text.
fn parse_cgroup2_mount(info: &str) -> Option<PathBuf> {
    info.lines().find_map(|line| {
        // `id parent maj:min root mount-point options... - fstype source super`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// This process's cgroup v2 path (the `0::<path>` line of `/proc/self/cgroup`).
fn own_cgroup_path() -> Option<String> {
    parse_own_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?)
}

/// The cgroup v2 path of process `pid` (a zombie keeps the cgroup it died
/// in until it is reaped).
pub(crate) fn path_of(pid: i32) -> Option<String> {
    parse_own_cgroup(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)
}

/// The `0::<path>` entry of a `/proc/<pid>/cgroup` text.
fn parse_own_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("0::")).map(|p| p.trim().to_string())
}

/// The directory of this process's own cgroup v2, if one is mounted.
pub(crate) fn own_cgroup_dir() -> Result<PathBuf, String> {
    let mount = cgroup2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
    let own = own_cgroup_path().ok_or("this process is in no cgroup v2")?;
    let dir = mount.join(own.trim_start_matches('/'));
    if !dir.join("cgroup.procs").exists() {
        return Err(format!("{} is not a cgroup v2 directory", dir.display()));
    }
    Ok(dir)
}

/// Decides the containment of an instance: creates
/// `<own cgroup>/warden-<instance>` and checks that a process can be placed
/// in a cgroup below it (`cgroup.kill` must exist: Linux 5.14 or later).
pub(crate) fn setup(instance: &str) -> Containment {
    let base = match own_cgroup_dir() {
        Ok(dir) => dir,
        Err(why) => return Containment::Procs(why),
    };
    remove_dead_instances(&base);
    let dir = base.join(format!("warden-{instance}"));
    if let Err(e) = std::fs::create_dir(&dir) {
        return Containment::Procs(format!("cannot create a cgroup in {}: {e}", base.display()));
    }
    if !dir.join("cgroup.kill").exists() {
        let _ = std::fs::remove_dir(&dir);
        return Containment::Procs("the kernel has no cgroup.kill (Linux 5.14 or later needed)".into());
    }
    // Placing a process needs write access to the common ancestor's
    // cgroup.procs as well; try with a cgroup of our own, empty.
    let probe = dir.join("probe");
    let placed = std::fs::create_dir(&probe)
        .and_then(|_| std::fs::OpenOptions::new().write(true).open(probe.join("cgroup.procs")).map(drop));
    let _ = std::fs::remove_dir(&probe);
    if let Err(e) = placed {
        let _ = std::fs::remove_dir(&dir);
        return Containment::Procs(format!("cannot use cgroups under {}: {e}", base.display()));
    }
    debug!(cgroup = %dir.display(), "containment: cgroup v2");
    Containment::Cgroup(dir)
}

/// How old an empty instance cgroup must be before another instance removes
/// it: a starting instance's is empty until its keeper has moved in.
const DEAD_INSTANCE_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the `warden-*` cgroups under `base` that nothing populates any
/// more: a live instance's always holds its keeper, so an empty one (and
/// old enough not to be starting) belongs to an instance that died where no
/// warden starts on its state directory again (a temporary one, say).
fn remove_dead_instances(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("warden-") || !dir.is_dir() {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > DEAD_INSTANCE_AGE);
        let empty = std::fs::read_to_string(dir.join("cgroup.events"))
            .is_ok_and(|ev| ev.lines().any(|l| l.trim() == "populated 0"));
        if old && empty {
            debug!(cgroup = %dir.display(), "removing the empty cgroup of a dead instance");
            kill_tree(&dir, std::time::Duration::ZERO);
        }
    }
}

/// The containment a warden started now would have (it creates and removes
/// a probe cgroup): for `warden adapters`, which prints it.
pub fn probe() -> Containment {
    let probe = format!("probe-{}", std::process::id());
    let c = setup(&probe);
    if let Containment::Cgroup(dir) = &c {
        let _ = std::fs::remove_dir(dir);
        if let Some(parent) = dir.parent() {
            return Containment::Cgroup(parent.join("warden-<instance>"));
        }
    }
    c
}

/// A cgroup made for one process (and everything it starts).
pub(crate) struct ProcessCgroup {
    pub dir: PathBuf,
    /// The directory, open: the child is born in it (`CLONE_INTO_CGROUP`).
    pub dir_fd: File,
    /// Open for writing; where the child cannot be born in the cgroup, it
    /// writes `0` to it to join.
    pub procs: File,
}

/// Creates the cgroup `<root>/<name>`.
pub(crate) fn create(root: &Path, name: &str) -> io::Result<ProcessCgroup> {
    let dir = root.join(name);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let dir_fd = File::open(&dir)?;
    let procs = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
    Ok(ProcessCgroup { dir, dir_fd, procs })
}

/// The processes in a cgroup (zombies are not listed).
pub(crate) fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Kills every process of a cgroup and its descendants (`cgroup.kill`).
pub(crate) fn kill(dir: &Path) {
    let r = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.kill")).and_then(|mut f| f.write_all(b"1"));
    if let Err(e) = r
        && e.kind() != io::ErrorKind::NotFound
    {
        warn!(cgroup = %dir.display(), error = %e, "cgroup.kill failed; killing its processes one by one");
        for pid in pids(dir) {
            super::signal_pid(pid, libc::SIGKILL);
        }
    }
}

/// Removes an empty cgroup; false while it still has processes.
pub(crate) fn remove(dir: &Path) -> bool {
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => {
            debug!(cgroup = %dir.display(), error = %e, "cgroup not removed yet");
            false
        }
    }
}

/// Kills everything in the subtree `dir` (an instance's cgroup) and removes
/// it, waiting up to `wait` for the processes to go. Returns how many
/// processes were in it.
pub(crate) fn kill_tree(dir: &Path, wait: std::time::Duration) -> usize {
    let mut found = pids(dir).len();
    let children: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    for child in &children {
        found += pids(child).len();
    }
    kill(dir);
    let deadline = std::time::Instant::now() + wait;
    for child in children.iter().map(PathBuf::as_path).chain(std::iter::once(dir)) {
        while !remove(child) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_tree_on_unified_and_hybrid_hosts() {
        let hybrid = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids";
        assert_eq!(parse_cgroup2_mount(hybrid), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw";
        assert_eq!(parse_cgroup2_mount(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        let v1_only = "37 35 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids";
        assert_eq!(parse_cgroup2_mount(v1_only), None);
    }

    #[test]
    fn reads_the_v2_line_of_proc_cgroup() {
        let text = "9:name=systemd:/\n4:memory:/x/y\n0::/system.slice/warden.service\n";
        assert_eq!(parse_own_cgroup(text).as_deref(), Some("/system.slice/warden.service"));
        assert_eq!(parse_own_cgroup("4:memory:/x\n"), None);
    }

    #[test]
    fn describes_each_mode_in_one_line() {
        assert_eq!(Containment::Cgroup("/c/warden-1".into()).describe(), "cgroup v2 (/c/warden-1)");
        assert_eq!(Containment::Procs("no v2".into()).describe(), "/proc scan fallback (no v2)");
    }
}
