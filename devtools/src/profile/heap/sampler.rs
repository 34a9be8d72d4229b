//! The sampling heap profiler (`--heap-prof`, `profiler.heapProfileStart`): wraps the Lua
//! state's allocator (`lua_getallocf`/`lua_setallocf`) and samples the bytes it hands out,
//! Poisson style: a countdown drawn from an exponential distribution of mean `interval` bytes,
//! so each allocation is sampled with probability `1 - exp(-size/interval)` and a sample stands
//! for `size / that` bytes (V8's estimate). The figures are bytes *allocated* while profiling
//! (allocation pressure, garbage included), not what is still live.
//!
//! **Attribution rule.** Reading the Lua stack inside the allocator is not safe (the VM is in
//! the middle of an operation, and in a compiled trace the frames are stale), so the allocator
//! only counts: when a sample is due it records the size and asks for a safe point
//! ([`safepoint::request`]). At the next VM instruction, in the interpreter or at the trace
//! exit the hook forces in compiled code, the action reads the running coroutine's stack and
//! the pending bytes are attributed to it. So an allocation belongs to the Lua function that
//! runs the next instruction after it: the allocating function itself for allocations made by
//! Lua code (a trace is exited at the hook, so its allocations land on the function the trace
//! belongs to), the Lua caller for allocations made by C functions, and the first instruction of
//! a callback for the values the runtime allocates to call it. Samples still pending when the
//! profile stops are shown under `(no Lua code ran since)`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use mlua::ffi::{self, lua_State};

use crate::profile::cpu::Frame;
use crate::profile::safepoint::{self, Slot};

/// `--heap-prof-interval`'s default, node's: 512 KiB.
pub const DEFAULT_INTERVAL: u64 = 512 * 1024;

/// `--heap-prof-dir` and `--heap-prof-interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct HeapProfOptions {
    pub dir: std::path::PathBuf,
    pub interval: u64,
}

static RUNNING: AtomicBool = AtomicBool::new(false);
static PREV_F: AtomicUsize = AtomicUsize::new(0);
static PREV_UD: AtomicUsize = AtomicUsize::new(0);
static INTERVAL: AtomicU64 = AtomicU64::new(DEFAULT_INTERVAL);
static COUNTDOWN: AtomicI64 = AtomicI64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static RNG: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
/// Sizes of samples waiting for their safe point.
const MAX_PENDING: usize = 64;
static PENDING: [AtomicU64; MAX_PENDING] = [const { AtomicU64::new(0) }; MAX_PENDING];
static PENDING_N: AtomicUsize = AtomicUsize::new(0);
/// The safe point slot, registered on the first start.
static SLOT: OnceLock<Slot> = OnceLock::new();

/// One sampled allocation: its stack, its size, the bytes it stands for.
#[derive(Clone, Debug)]
pub struct Sample {
    pub stack: u32,
    pub size: u64,
    pub weight: f64,
}

/// What a profile collected.
#[derive(Default, Debug)]
pub struct HeapProfile {
    /// Distinct stacks, root first.
    pub stacks: Vec<Vec<Frame>>,
    index: HashMap<Vec<Frame>, u32>,
    pub samples: Vec<Sample>,
    pub interval: u64,
    pub allocated: u64,
    pub duration_us: u64,
}

impl HeapProfile {
    fn add(&mut self, stack: Vec<Frame>, size: u64) {
        let id = match self.index.get(&stack) {
            Some(&id) => id,
            None => {
                self.stacks.push(stack.clone());
                let id = (self.stacks.len() - 1) as u32;
                self.index.insert(stack, id);
                id
            }
        };
        let rate = self.interval.max(1) as f64;
        let p = 1.0 - (-(size as f64) / rate).exp();
        let weight = if p > 0.0 { size as f64 / p } else { rate };
        self.samples.push(Sample {
            stack: id,
            size,
            weight,
        });
    }
}

struct State {
    profile: HeapProfile,
    started: Instant,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Whether a profile is running.
pub fn running() -> bool {
    RUNNING.load(Ordering::SeqCst)
}

/// Bytes the Lua allocator handed out while the profiler ran (0 when it never ran).
pub fn allocated() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}

/// The next countdown: exponential with mean `INTERVAL` (xorshift for the uniform draw).
fn next_countdown() -> i64 {
    let mut x = RNG.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.store(x, Ordering::Relaxed);
    let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mean = INTERVAL.load(Ordering::Relaxed) as f64;
    (-u.ln() * mean).max(1.0) as i64
}

unsafe extern "C" fn alloc(
    _ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    let f = PREV_F.load(Ordering::Relaxed);
    // SAFETY: stored from lua_getallocf before ours was installed; never 0 while installed.
    let prev = std::mem::transmute::<usize, ffi::lua_Alloc>(f);
    let r = prev(
        PREV_UD.load(Ordering::Relaxed) as *mut c_void,
        ptr,
        osize,
        nsize,
    );
    let grown = if ptr.is_null() {
        nsize
    } else {
        nsize.saturating_sub(osize)
    };
    if grown == 0 || r.is_null() || !RUNNING.load(Ordering::Relaxed) {
        return r;
    }
    // Only the Lua thread allocates from this state: plain loads and stores (no locked
    // read-modify-write on every allocation).
    ALLOCATED.store(
        ALLOCATED.load(Ordering::Relaxed) + grown as u64,
        Ordering::Relaxed,
    );
    let left = COUNTDOWN.load(Ordering::Relaxed) - grown as i64;
    COUNTDOWN.store(left, Ordering::Relaxed);
    if left <= 0 {
        COUNTDOWN.store(next_countdown(), Ordering::Relaxed);
        let n = PENDING_N.load(Ordering::Relaxed);
        if n < MAX_PENDING {
            PENDING[n].store(grown as u64, Ordering::Relaxed);
            PENDING_N.store(n + 1, Ordering::Relaxed);
        } else {
            PENDING[MAX_PENDING - 1].fetch_add(grown as u64, Ordering::Relaxed);
        }
        if let Some(slot) = slot() {
            safepoint::request(slot);
        }
    }
    r
}

fn slot() -> Option<Slot> {
    SLOT.get().copied()
}

fn take_pending() -> Vec<u64> {
    let n = PENDING_N.swap(0, Ordering::Relaxed);
    (0..n).map(|i| PENDING[i].load(Ordering::Relaxed)).collect()
}

/// The running coroutine's stack, root first.
unsafe fn stack_of(l: *mut lua_State) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut level = 0;
    while level < 200 && ffi::lua_getstack(l, level, &mut ar) != 0 {
        level += 1;
        if ffi::lua_getinfo(l, c"Sn".as_ptr(), &mut ar) == 0 {
            continue;
        }
        let c = !ar.what.is_null() && CStr::from_ptr(ar.what).to_bytes() == b"C";
        let name = if ar.name.is_null() {
            if c { "[C]" } else { "(anonymous)" }.to_string()
        } else {
            CStr::from_ptr(ar.name).to_string_lossy().into_owned()
        };
        let chunk = if c || ar.source.is_null() {
            "[C]".to_string()
        } else {
            CStr::from_ptr(ar.source).to_string_lossy().into_owned()
        };
        frames.push(Frame {
            name,
            chunk,
            line: if c { 0 } else { ar.linedefined },
        });
    }
    frames.reverse();
    frames
}

/// The safe point's action: the pending samples belong to this stack.
unsafe fn on_safepoint(l: *mut lua_State) {
    let sizes = take_pending();
    if sizes.is_empty() {
        return;
    }
    let stack = stack_of(l);
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut() {
            for size in sizes {
                st.profile.add(stack.clone(), size);
            }
        }
    });
}

/// Starts sampling every `interval` bytes (on average); false when already running.
///
/// # Safety
/// `main` is the main state of the Lua thread calling this, alive until the process exits.
pub unsafe fn start(main: *mut lua_State, interval: u64) -> bool {
    if RUNNING.load(Ordering::SeqCst) {
        return false;
    }
    if SLOT.get().is_none() {
        match safepoint::register(main, on_safepoint) {
            Some(s) => {
                let _ = SLOT.set(s);
            }
            None => return false,
        }
    }
    INTERVAL.store(interval.max(1), Ordering::SeqCst);
    ALLOCATED.store(0, Ordering::SeqCst);
    take_pending();
    COUNTDOWN.store(next_countdown(), Ordering::SeqCst);
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            profile: HeapProfile {
                interval,
                ..Default::default()
            },
            started: Instant::now(),
        })
    });
    let mut ud = std::ptr::null_mut();
    let current = ffi::lua_getallocf(main, &mut ud);
    if current as usize != alloc as *const () as usize {
        PREV_F.store(current as usize, Ordering::SeqCst);
        PREV_UD.store(ud as usize, Ordering::SeqCst);
        ffi::lua_setallocf(main, alloc, ud);
    }
    RUNNING.store(true, Ordering::SeqCst);
    true
}

/// Stops sampling and hands over the profile (`None` when none runs). The allocator wrapper
/// stays installed, forwarding only, if something wrapped it in turn.
///
/// # Safety
/// As for [`start`].
pub unsafe fn stop(main: *mut lua_State) -> Option<HeapProfile> {
    if !RUNNING.swap(false, Ordering::SeqCst) {
        return None;
    }
    let mut ud = std::ptr::null_mut();
    if ffi::lua_getallocf(main, &mut ud) as usize == alloc as *const () as usize {
        let f = PREV_F.load(Ordering::SeqCst);
        let prev = std::mem::transmute::<usize, ffi::lua_Alloc>(f);
        ffi::lua_setallocf(main, prev, PREV_UD.load(Ordering::SeqCst) as *mut c_void);
    }
    let st = STATE.with(|s| s.borrow_mut().take())?;
    let mut profile = st.profile;
    for size in take_pending() {
        profile.add(
            vec![Frame {
                name: "(no Lua code ran since)".into(),
                chunk: String::new(),
                line: 0,
            }],
            size,
        );
    }
    profile.allocated = ALLOCATED.load(Ordering::SeqCst);
    profile.duration_us = st.started.elapsed().as_micros() as u64;
    Some(profile)
}
