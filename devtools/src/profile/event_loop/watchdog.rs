//! The slow-callback watchdog: a thread that notices a loop callback running past the threshold
//! and, while it still runs, asks the Lua thread for its stack every millisecond through a safe
//! point (so the report says where inside the callback the time went, compiled code included).
//!
//! The loop thread pays two relaxed atomic stores per callback and reads no clock for it: it
//! numbers its callbacks, and the watchdog, waking every quarter of the threshold (at most
//! every 10 ms), times a number it keeps seeing on its own clock. So it starts sampling when a
//! callback has run at least the threshold less one wake interval, and at most the threshold
//! plus one; the loop thread decides what was slow from its own exact durations.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mlua::ffi::lua_State;

use crate::profile::cpu::Frame;
use crate::profile::safepoint::{self, Slot};
use crate::profile::stack;

/// Stacks deeper than this are cut (the top frames are the ones that matter).
const MAX_FRAMES: usize = 48;
/// Samples kept per slow callback (one a millisecond: 10 s of it).
const MAX_SAMPLES: usize = 10_000;

/// The number of the outermost callback running now; 0 when none runs.
static RUNNING: AtomicU64 = AtomicU64::new(0);
static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
static SLOT: OnceLock<Option<Slot>> = OnceLock::new();

thread_local! {
    /// Stacks sampled during the callback running now (on the Lua thread only).
    static SAMPLES: RefCell<Vec<Vec<Frame>>> = const { RefCell::new(Vec::new()) };
    /// The number of the last callback begun on this thread.
    static NUMBER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

struct Shared {
    stop: AtomicBool,
    threshold_us: u64,
}

/// A running watchdog; stops its thread when dropped.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching callbacks of the Lua state `main` for runs past `threshold`.
    ///
    /// # Safety
    /// Call on the Lua thread; `main` is its live main state, living until the process exits.
    pub unsafe fn start(main: *mut lua_State, threshold: Duration) -> Watchdog {
        MAIN.store(main, Ordering::SeqCst);
        let slot = *SLOT.get_or_init(|| safepoint::register(main, sample));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            threshold_us: threshold.as_micros().max(1) as u64,
        });
        let s = shared.clone();
        let thread = slot.and_then(|slot| {
            std::thread::Builder::new()
                .name("luvit-loop-watchdog".into())
                .spawn(move || watch(&s, slot))
                .ok()
        });
        Watchdog { shared, thread }
    }

    /// The loop thread entered a callback (the outermost one).
    pub fn begin(&self) {
        let n = NUMBER.with(|n| {
            n.set(n.get().wrapping_add(1).max(1));
            n.get()
        });
        RUNNING.store(n, Ordering::Relaxed);
    }

    /// The callback returned: the stacks sampled while it ran past the threshold.
    pub fn end(&self) -> Vec<Vec<Frame>> {
        RUNNING.store(0, Ordering::Relaxed);
        SAMPLES.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut *s)
            }
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        RUNNING.store(0, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(shared: &Shared, slot: Slot) {
    let calm = Duration::from_micros((shared.threshold_us / 4).clamp(1000, 10_000));
    let threshold = Duration::from_micros(shared.threshold_us);
    // the callback last seen running, and when it was first seen
    let mut seen: Option<(u64, Instant)> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        let running = RUNNING.load(Ordering::Relaxed);
        let now = Instant::now();
        let since = match seen {
            Some((n, t)) if n == running => t,
            _ => {
                seen = (running != 0).then_some((running, now));
                now
            }
        };
        // it began up to one wake interval before it was first seen
        if running != 0 && now.saturating_duration_since(since) + calm >= threshold {
            safepoint::poke(slot);
            std::thread::sleep(Duration::from_millis(1));
        } else {
            std::thread::sleep(calm);
        }
    }
}

/// The safe-point action: one stack sample of the callback that is running late.
unsafe fn sample(l: *mut lua_State) {
    if RUNNING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let frames = stack::capture(l, MAIN.load(Ordering::SeqCst), MAX_FRAMES);
    SAMPLES.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_SAMPLES {
            s.push(frames);
        }
    });
}
