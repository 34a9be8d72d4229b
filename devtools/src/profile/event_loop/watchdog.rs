//! The slow-callback watchdog: a thread that notices a loop callback running past the threshold
//! and, while it still runs, asks the Lua thread for its stack every millisecond through a safe
//! point (so the report says where inside the callback the time went, compiled code included).
//!
//! The loop thread pays two atomic stores per callback; the thread wakes every quarter of the
//! threshold (at most every 10 ms) to look.

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

/// Microseconds since `BASE` when the outermost running callback started; 0 when none runs.
static RUNNING_SINCE: AtomicU64 = AtomicU64::new(0);
static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
static SLOT: OnceLock<Option<Slot>> = OnceLock::new();
static BASE: OnceLock<Instant> = OnceLock::new();

thread_local! {
    /// Stacks sampled during the callback running now (on the Lua thread only).
    static SAMPLES: RefCell<Vec<Vec<Frame>>> = const { RefCell::new(Vec::new()) };
}

fn now_us() -> u64 {
    us_at(Instant::now())
}

/// An instant as microseconds since `BASE` (never 0, which means "none").
fn us_at(t: Instant) -> u64 {
    t.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_micros() as u64
        + 1
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
        BASE.get_or_init(Instant::now);
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

    /// The loop thread entered a callback (the outermost one) at `started`.
    pub fn begin(&self, started: Instant) {
        SAMPLES.with(|s| {
            let mut s = s.borrow_mut();
            if !s.is_empty() {
                s.clear();
            }
        });
        RUNNING_SINCE.store(us_at(started), Ordering::Relaxed);
    }

    /// The callback returned: the stacks sampled while it ran past the threshold.
    pub fn end(&self) -> Vec<Vec<Frame>> {
        RUNNING_SINCE.store(0, Ordering::Relaxed);
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
        RUNNING_SINCE.store(0, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(shared: &Shared, slot: Slot) {
    let calm = Duration::from_micros((shared.threshold_us / 4).clamp(1000, 10_000));
    while !shared.stop.load(Ordering::SeqCst) {
        let since = RUNNING_SINCE.load(Ordering::SeqCst);
        if since != 0 && now_us().saturating_sub(since) >= shared.threshold_us {
            safepoint::poke(slot);
            std::thread::sleep(Duration::from_millis(1));
        } else {
            std::thread::sleep(calm);
        }
    }
}

/// The safe-point action: one stack sample of the callback that is running late.
unsafe fn sample(l: *mut lua_State) {
    if RUNNING_SINCE.load(Ordering::SeqCst) == 0 {
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
