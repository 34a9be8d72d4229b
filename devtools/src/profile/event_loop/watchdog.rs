//! The slow-callback watchdog: notices a loop callback running past the threshold and, while it
//! still runs, asks the Lua thread for its stack every millisecond through a safe point (so the
//! report says where inside the callback the time went, compiled code included).
//!
//! No thread: a POSIX timer on the loop thread's own CPU-time clock signals that thread every
//! quarter of the threshold (at most 10 ms) of CPU it uses, and every millisecond once a
//! callback is late. A second thread made the whole process pay glibc's multi-threaded paths
//! (about 2% of a keep-alive server's requests/s, measured with an idle thread preloaded); a
//! CPU-time timer also never wakes an idle loop, and a callback that is not on the CPU has no
//! Lua stack to sample anyway (a safe point runs at its next Lua instruction).
//!
//! The loop thread pays two relaxed atomic stores per callback and reads no clock for it: it
//! numbers its callbacks, and the signal handler times a number it keeps seeing on the
//! monotonic clock. So sampling starts when a callback has run at least the threshold less one
//! interval; the loop thread decides what was slow from its own exact durations.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use mlua::ffi::lua_State;

use crate::profile::cpu::Frame;
use crate::profile::safepoint::{self, Slot};
use crate::profile::stack;

/// Stacks deeper than this are cut (the top frames are the ones that matter).
const MAX_FRAMES: usize = 48;
/// Samples kept per slow callback (one a millisecond: 10 s of it).
const MAX_SAMPLES: usize = 10_000;
/// The sampling interval once a callback is late.
const LATE_NS: u64 = 1_000_000;

/// The number of the outermost callback running now; 0 when none runs.
static RUNNING: AtomicU64 = AtomicU64::new(0);
static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
static SLOT: OnceLock<Option<Slot>> = OnceLock::new();
/// The signal handler's state (it runs on the loop thread only): the armed timer, the
/// threshold and quiet interval in ns, the callback it last saw and when, and whether it
/// samples at the late rate now.
static TIMER: AtomicUsize = AtomicUsize::new(0);
/// Whether `TIMER` holds a live timer (its id may be 0).
static HAVE_TIMER: AtomicBool = AtomicBool::new(false);
static THRESHOLD_NS: AtomicU64 = AtomicU64::new(0);
static CALM_NS: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);
static SEEN_AT: AtomicU64 = AtomicU64::new(0);
static LATE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Stacks sampled during the callback running now (on the Lua thread only).
    static SAMPLES: RefCell<Vec<Vec<Frame>>> = const { RefCell::new(Vec::new()) };
    /// The number of the last callback begun on this thread.
    static NUMBER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The timer's signal: a real-time one (the safe points use SIGRTMIN+3).
fn signal_number() -> libc::c_int {
    libc::SIGRTMIN() + 4
}

/// A running watchdog; deletes its timer when dropped.
pub struct Watchdog {
    armed: bool,
}

impl Watchdog {
    /// Starts watching callbacks of the Lua state `main` for runs past `threshold`. Without a
    /// timer (none could be made) callbacks are still measured, only not sampled.
    ///
    /// # Safety
    /// Call on the Lua thread; `main` is its live main state, living until the process exits.
    pub unsafe fn start(main: *mut lua_State, threshold: Duration) -> Watchdog {
        MAIN.store(main, Ordering::SeqCst);
        if SLOT
            .get_or_init(|| safepoint::register(main, sample))
            .is_none()
        {
            return Watchdog { armed: false };
        }
        let threshold_ns = (threshold.as_nanos() as u64).max(1);
        let calm_ns = (threshold_ns / 4).clamp(1_000_000, 10_000_000);
        THRESHOLD_NS.store(threshold_ns, Ordering::SeqCst);
        CALM_NS.store(calm_ns, Ordering::SeqCst);
        SEEN.store(0, Ordering::SeqCst);
        LATE.store(false, Ordering::SeqCst);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_tick as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signal_number(), &sa, std::ptr::null_mut()) != 0 {
            return Watchdog { armed: false };
        }
        let mut ev: libc::sigevent = std::mem::zeroed();
        ev.sigev_notify = libc::SIGEV_THREAD_ID;
        ev.sigev_signo = signal_number();
        ev.sigev_notify_thread_id = libc::gettid();
        let mut timer: libc::timer_t = std::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_THREAD_CPUTIME_ID, &mut ev, &mut timer) != 0 {
            return Watchdog { armed: false };
        }
        TIMER.store(timer as usize, Ordering::SeqCst);
        HAVE_TIMER.store(true, Ordering::SeqCst);
        set_interval(calm_ns);
        Watchdog { armed: true }
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
        RUNNING.store(0, Ordering::SeqCst);
        if self.armed && HAVE_TIMER.swap(false, Ordering::SeqCst) {
            let t = TIMER.load(Ordering::SeqCst);
            // SAFETY: made by timer_create in `start`, deleted once (HAVE_TIMER swapped above).
            unsafe { libc::timer_delete(t as libc::timer_t) };
        }
    }
}

/// Re-arms the timer to fire every `ns` of the thread's CPU time. Async-signal-safe.
fn set_interval(ns: u64) {
    if !HAVE_TIMER.load(Ordering::SeqCst) {
        return;
    }
    let t = TIMER.load(Ordering::SeqCst);
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts,
        it_value: ts,
    };
    // SAFETY: a live timer of ours; timer_settime is async-signal-safe.
    unsafe { libc::timer_settime(t as libc::timer_t, 0, &spec, std::ptr::null_mut()) };
}

/// The timer's signal, on the loop thread: is the callback it saw last time still running,
/// and for how long? Past the threshold (less one interval, as it began up to one interval
/// before it was first seen), a stack sample at the next Lua instruction, every millisecond.
extern "C" fn on_tick(_sig: libc::c_int) {
    let errno = std::io::Error::last_os_error().raw_os_error();
    let running = RUNNING.load(Ordering::Relaxed);
    let now = crate::clock::now_ns();
    let seen = SEEN.load(Ordering::Relaxed);
    let since = if running != 0 && running == seen {
        SEEN_AT.load(Ordering::Relaxed)
    } else {
        SEEN.store(running, Ordering::Relaxed);
        SEEN_AT.store(now, Ordering::Relaxed);
        now
    };
    let calm = CALM_NS.load(Ordering::Relaxed);
    let late =
        running != 0 && now.saturating_sub(since) + calm >= THRESHOLD_NS.load(Ordering::Relaxed);
    if late {
        if let Some(Some(slot)) = SLOT.get() {
            safepoint::request(*slot);
        }
    }
    if late != LATE.swap(late, Ordering::Relaxed) {
        set_interval(if late { LATE_NS } else { calm });
    }
    // a handler must not change errno under the code it interrupted
    if let Some(e) = errno {
        // SAFETY: errno is this thread's; writing it back is what the interrupted code saw.
        unsafe { *libc::__errno_location() = e };
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
