//! The session's screen: the parsed terminal and the output bytes waiting to
//! be parsed into it.
//!
//! The screen lives in the session core, not in an actor, so that a
//! `StallDetector` or `AutoResponder` that fails and is restarted (or
//! hibernates and wakes) finds it intact. The PTY actor only appends output
//! bytes to a pending buffer (a copy, under a short lock); whoever reads the
//! screen next parses what is pending. That keeps parsing off the output
//! path: a session printing at full speed is parsed on the observers' tasks,
//! in parallel, and only when someone looks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use warden_core::term::Screen;
use warden_core::{MainScreen, ScreenSnapshot, TermSize};

use crate::decide::view::View;
use crate::sync::lock;

/// Pending bytes beyond which the PTY actor parses them itself: back-pressure
/// on a producer that outruns the observers, and the bound of what a screen
/// nobody watches holds unparsed. Parsing this much at once skips most of a
/// plain flood (`Screen::process_flood`: ~6× faster than parsing it all at
/// 4 MiB, ~1.2× at 256 KiB), so the output path pays little for it.
const PENDING_MAX: usize = 4 << 20;

/// Pending bytes of a screen nobody watches beyond which what a plain flood
/// scrolled out of sight is dropped unparsed (`Screen::skip_prefix`: exact,
/// the scroll count included). When nothing can be dropped (escape
/// sequences, too few lines), the next try waits for twice as much, up to
/// [`PENDING_MAX`], where everything is parsed.
const UNWATCHED_TRIM: usize = 1 << 20;

/// How long a screen must be idle before it is compacted.
pub(crate) const COMPACT_AFTER: Duration = Duration::from_secs(2);

/// The screen and what is waiting to be parsed into it.
pub(crate) struct ScreenCell {
    inner: Mutex<ScreenInner>,
    /// Bumped for every output chunk (and resize); waiters (acknowledged
    /// sends) watch it.
    changed: watch::Sender<u64>,
    /// The observer actors told of every change, straight from the output
    /// path: a cast, no task in between (see [`ScreenCell::forward_changes`]).
    listeners: Mutex<Listeners>,
}

/// Observers told of screen changes.
#[derive(Default)]
struct Listeners {
    next_id: u64,
    list: Vec<(ListenerId, Box<dyn Fn() -> bool + Send>)>,
}

/// Names an observer registered with [`ScreenCell::forward_changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenerId(u64);

struct ScreenInner {
    /// Created by the first byte or the first look (a silent session has none).
    screen: Option<Box<Screen>>,
    size: TermSize,
    pending: Vec<u8>,
    bytes: u64,
    last_output: Instant,
    /// When an unwatched screen's pending bytes are next trimmed.
    trim_at: usize,
}

impl ScreenInner {
    fn screen(&mut self) -> &mut Screen {
        let size = self.size;
        self.screen.get_or_insert_with(|| Box::new(Screen::new(size.rows, size.cols)))
    }
}

impl ScreenCell {
    pub(crate) fn new(size: TermSize) -> Self {
        ScreenCell {
            inner: Mutex::new(ScreenInner {
                screen: None,
                size,
                pending: Vec::new(),
                bytes: 0,
                last_output: Instant::now(),
                trim_at: UNWATCHED_TRIM,
            }),
            changed: watch::Sender::new(0),
            listeners: Mutex::new(Listeners::default()),
        }
    }

    /// Bumps the version and tells the observers.
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
        lock(&self.listeners).list.retain(|(_, wake)| wake());
    }

    /// Queues output bytes for the screen; parses them at once when more
    /// than [`PENDING_MAX`] bytes wait. For a screen nobody `watched`, drops
    /// what a plain flood scrolled away once [`UNWATCHED_TRIM`] bytes wait, so
    /// an idle session does not keep megabytes nobody will read.
    pub(crate) fn push(&self, data: &[u8], watched: bool) {
        {
            let mut g = lock(&self.inner);
            g.pending.extend_from_slice(data);
            g.bytes += data.len() as u64;
            g.last_output = Instant::now();
            if g.pending.len() > PENDING_MAX {
                let pending = std::mem::take(&mut g.pending);
                g.screen().process_flood(&pending);
                g.trim_at = UNWATCHED_TRIM;
            } else if !watched && g.pending.len() > g.trim_at {
                let inner = &mut *g;
                let size = inner.size;
                let screen = inner.screen.get_or_insert_with(|| Box::new(Screen::new(size.rows, size.cols)));
                let dropped = screen.skip_prefix(&inner.pending);
                inner.pending.drain(..dropped);
                inner.trim_at = if dropped > 0 { UNWATCHED_TRIM } else { inner.pending.len().saturating_mul(2) };
            }
        }
        self.bump();
    }

    pub(crate) fn resize(&self, size: TermSize) {
        {
            let mut g = lock(&self.inner);
            let pending = std::mem::take(&mut g.pending);
            g.size = size;
            let screen = g.screen();
            screen.process_flood(&pending);
            screen.resize(size.rows, size.cols);
        }
        self.bump();
    }

    /// The number of changes so far (output chunks, resizes, pokes).
    pub(crate) fn version(&self) -> u64 {
        *self.changed.borrow()
    }

    /// A receiver that sees every later change.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Casts `msg()` to `actor` after every change of the screen, with at
    /// most one such message queued at a time (`queued` is set while one is;
    /// the actor clears it when it wants the next one). The cast happens on
    /// the thread that changed the screen, so a chunk of output wakes the
    /// observer directly, not a forwarding task first. Ends with
    /// [`ScreenCell::stop_forwarding`], or when the actor is gone.
    pub(crate) fn forward_changes<M: ractor::Message>(
        &self,
        actor: ractor::ActorRef<M>,
        queued: Arc<AtomicBool>,
        msg: fn() -> M,
    ) -> ListenerId {
        let wake = move || queued.swap(true, Ordering::AcqRel) || actor.cast(msg()).is_ok();
        let mut listeners = lock(&self.listeners);
        listeners.next_id += 1;
        let id = ListenerId(listeners.next_id);
        listeners.list.push((id, Box::new(wake)));
        id
    }

    /// Stops telling an observer of changes.
    pub(crate) fn stop_forwarding(&self, id: ListenerId) {
        lock(&self.listeners).list.retain(|(l, _)| *l != id);
    }

    /// Wakes the observers without output (e.g. the process exited).
    pub(crate) fn poke(&self) {
        self.bump();
    }

    fn parsed(&self) -> MutexGuard<'_, ScreenInner> {
        let mut g = lock(&self.inner);
        g.screen();
        if !g.pending.is_empty() {
            let pending = std::mem::take(&mut g.pending);
            g.screen().process_flood(&pending);
            // Keep the allocation for the next burst, unless it grew large.
            if pending.capacity() <= 64 * 1024 {
                let mut pending = pending;
                pending.clear();
                g.pending = pending;
            }
        }
        g
    }

    /// Parses what is pending and returns the screen as detectors read it.
    pub(crate) fn view(&self) -> View {
        let mut g = self.parsed();
        let (_, cols) = g.screen().size();
        View {
            text: g.screen().text(),
            scrollback: g.screen().scrollback(),
            title: g.screen().title().to_string(),
            cursor: g.screen().cursor(),
            cols,
            scrolled: g.screen().scrolled(),
            command: g.screen().command_status(),
        }
    }

    /// What a terminal's reply to a query is made from: the size and the cursor after
    /// everything pushed so far (parses what is pending).
    pub(crate) fn reply_context(&self) -> warden_core::term::ReplyContext {
        let mut g = self.parsed();
        let screen = g.screen();
        warden_core::term::ReplyContext { size: screen.size(), cursor: screen.cursor() }
    }

    /// The snapshot callers get.
    pub(crate) fn snapshot(&self) -> ScreenSnapshot {
        let mut g = self.parsed();
        let bytes = g.bytes;
        let screen = g.screen();
        let (rows, cols) = screen.size();
        let (cursor_row, cursor_col) = screen.cursor();
        let main_screen = screen
            .main_text()
            .zip(screen.main_cursor())
            .map(|(text, (cursor_row, cursor_col))| MainScreen { text, cursor_row, cursor_col });
        ScreenSnapshot {
            rows,
            cols,
            text: screen.text(),
            cursor_row,
            cursor_col,
            cursor_visible: screen.cursor_visible(),
            title: screen.title().to_string(),
            alternate_screen: screen.alternate_screen(),
            bytes,
            input_modes: screen.modes().input(),
            main_screen,
            output_modes: screen.output_modes(),
        }
    }

    /// Compacts the screen now (the session ended).
    pub(crate) fn compact_now(&self) {
        let mut g = self.parsed();
        g.screen().compact();
        g.pending = Vec::new();
    }

    /// Compacts the screen when no output came for [`COMPACT_AFTER`]
    /// (an idle session then holds a few hundred bytes of screen).
    pub(crate) fn compact_if_idle(&self) -> bool {
        let mut g = self.parsed();
        if g.last_output.elapsed() >= COMPACT_AFTER && !g.screen().is_compact() {
            g.screen().compact();
            g.pending = Vec::new();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the messages it gets.
    struct Counter;

    impl ractor::Actor for Counter {
        type Msg = ();
        type State = Arc<AtomicUsize>;
        type Arguments = Arc<AtomicUsize>;

        async fn pre_start(
            &self,
            _: ractor::ActorRef<()>,
            count: Arc<AtomicUsize>,
        ) -> Result<Arc<AtomicUsize>, ractor::ActorProcessingErr> {
            Ok(count)
        }

        async fn handle(
            &self,
            _: ractor::ActorRef<()>,
            _: (),
            count: &mut Arc<AtomicUsize>,
        ) -> Result<(), ractor::ActorProcessingErr> {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    async fn settle(count: &AtomicUsize, want: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while count.load(Ordering::SeqCst) < want && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn changes_cast_once_while_a_wake_is_queued_and_stop_with_the_listener() {
        let cell = ScreenCell::new(TermSize::new(24, 80).expect("valid size"));
        let count = Arc::new(AtomicUsize::new(0));
        let (actor, handle) = ractor::Actor::spawn(None, Counter, count.clone()).await.expect("actor");
        let queued = Arc::new(AtomicBool::new(false));
        let id = cell.forward_changes(actor.clone(), queued.clone(), || ());
        // A burst of output while the observer has not taken its wake: one message.
        for _ in 0..100 {
            cell.push(b"line\r\n", true);
        }
        settle(&count, 1).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(queued.load(Ordering::SeqCst));
        // The observer took it: the next change wakes it again.
        queued.store(false, Ordering::SeqCst);
        cell.poke();
        settle(&count, 2).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // Unregistered: changes reach nobody.
        cell.stop_forwarding(id);
        queued.store(false, Ordering::SeqCst);
        cell.push(b"more\r\n", true);
        assert!(!queued.load(Ordering::SeqCst), "a change still reached the removed listener");
        // A listener whose actor is gone is dropped at the next change.
        cell.forward_changes(actor.clone(), Arc::new(AtomicBool::new(false)), || ());
        actor.stop(None);
        handle.await.expect("stopped");
        cell.poke();
        assert!(lock(&cell.listeners).list.is_empty(), "the dead actor's listener stayed");
    }

    fn log(from: usize, lines: usize) -> Vec<u8> {
        (from..from + lines)
            .flat_map(|i| format!("build step {i:06} compiling crate number {i}\r\n").into_bytes())
            .collect()
    }

    #[test]
    fn an_unwatched_flood_is_trimmed_unparsed_and_reads_the_same() {
        let size = TermSize::new(24, 80).expect("valid size");
        let cell = ScreenCell::new(size);
        let mut reference = Screen::new(24, 80);
        let mut peak = 0;
        // 64 KiB chunks, as the reactor hands them over.
        for chunk in (0..60).map(|c| log(c * 1200, 1200)) {
            reference.process(&chunk);
            cell.push(&chunk, false);
            peak = peak.max(lock(&cell.inner).pending.len());
        }
        assert!(peak <= UNWATCHED_TRIM + 128 * 1024, "pending grew to {peak} bytes");
        assert!(lock(&cell.inner).bytes > 3 << 20, "the flood was more than the bound");
        let view = cell.view();
        assert_eq!(view.text, reference.text());
        assert_eq!(view.scrollback, reference.scrollback());
        assert_eq!(view.scrolled, reference.scrolled());
        assert_eq!(view.cursor, reference.cursor());
    }

    #[test]
    fn a_watched_screen_keeps_its_output_for_the_observers() {
        let cell = ScreenCell::new(TermSize::new(24, 80).expect("valid size"));
        for chunk in (0..20).map(|c| log(c * 1200, 1200)) {
            cell.push(&chunk, true);
        }
        assert!(lock(&cell.inner).pending.len() > UNWATCHED_TRIM, "the observers parse it, not the output path");
        assert!(cell.view().text.contains("023999"));
    }

    #[test]
    fn a_snapshot_has_the_main_screen_under_the_alternate_one_and_where_output_lands() {
        let cell = ScreenCell::new(TermSize::new(24, 80).expect("valid size"));
        cell.push(b"$ top\r\n\x1b[?1049h\x1b[3;20r\x1b[?6h\x1b[2;5H", true);
        let snap = cell.snapshot();
        assert!(snap.alternate_screen);
        assert_eq!(snap.main_screen, Some(MainScreen { text: "$ top".into(), cursor_row: 1, cursor_col: 0 }));
        assert_eq!(
            snap.output_modes,
            warden_core::term::OutputModes {
                scroll_region: Some(warden_core::term::ScrollRegion { top: 2, bottom: 19 }),
                origin: true,
                ..Default::default()
            }
        );
        assert_eq!((snap.cursor_row, snap.cursor_col), (3, 4), "counted from the screen's top");
        // Back on the main screen: no main screen besides the shown one, and its modes.
        cell.push(b"\x1b[?1049l", true);
        let snap = cell.snapshot();
        assert_eq!((snap.main_screen, snap.text.as_str()), (None, "$ top"));
        assert!(snap.output_modes.is_default());
    }
}
