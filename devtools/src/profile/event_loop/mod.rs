//! The loop profiler (`--loop-prof`): a [`LoopObserver`] on the dispatch point, with no
//! sampling. It measures the loop lag (a timer's due time or an I/O completion, to its
//! callback's start), the loop's utilization (node's `eventLoopUtilization`: time not parked
//! waiting), and per callback site (kind + the site that scheduled it + the function's
//! definition) count, total, p99 and max; it logs every callback that runs past the threshold
//! with the stacks the [`watchdog`] sampled while it ran, keeps the last callbacks for a
//! Chrome trace, and samples the Lua heap size. [`report`] turns all that into the files.

pub mod report;
pub mod watchdog;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mlua::ffi::lua_State;

use crate::observer::{CallbackRun, LoopObserver};
use crate::profile::cpu::Frame;
use crate::profile::histogram::Histogram;
use watchdog::Watchdog;

/// `--loop-prof-dir`, `--loop-prof-threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopOptions {
    pub dir: PathBuf,
    pub threshold: Duration,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            dir: PathBuf::from("."),
            threshold: Duration::from_millis(50),
        }
    }
}

/// Figures for one callback site.
pub struct SiteStats {
    /// The API that scheduled it (`setTimeout`), else the kind of callback (`tcp read`).
    pub kind: String,
    /// The Lua line that scheduled it (the nearest one in its origin chain), `path:line`.
    pub site: String,
    /// Where the callback function is defined, `path:line`.
    pub function: String,
    pub count: u64,
    pub total: Duration,
    pub durations: Histogram,
}

/// A callback that ran past the threshold.
pub struct Slow {
    pub site: usize,
    /// Since the profiler started.
    pub at: Duration,
    pub duration: Duration,
    /// Stacks sampled while it ran late, top first.
    pub samples: Vec<Vec<Frame>>,
}

/// One callback in the trace ring.
#[derive(Clone, Copy)]
pub struct TraceEvent {
    pub start_us: u64,
    pub dur_us: u64,
    pub site: u32,
}

/// The trace keeps the most recent callbacks, like a flight recorder (bounded memory on a
/// server that runs for days; the slow ones are in the report in any case).
const TRACE_CAPACITY: usize = 1 << 18;
/// Slow callbacks kept with their stacks (the longest); the rest are only counted.
const SLOW_KEPT: usize = 50;
/// Tags for `Origin::memo`, one per profiler started (0 is never used).
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The profiler's state; attach with `EventLoop::attach_observer`.
pub struct LoopProfiler {
    pub options: LoopOptions,
    main: *mut lua_State,
    started: Instant,
    /// Wall time spent parked waiting for I/O or timers.
    idle: Cell<Duration>,
    depth: Cell<u32>,
    /// The longest callback past the threshold nested in the running one (an HTTP request
    /// inside a socket read): (site, started, duration). The slow entry names it, the more
    /// precise of the two.
    slow_inner: Cell<Option<(usize, Duration, Duration)>>,
    pub(crate) sites: RefCell<Vec<SiteStats>>,
    by_key: RefCell<HashMap<String, usize>>,
    /// This profiler's tag in `Origin::memo` (origins remember their site for one profiler).
    generation: u64,
    pub(crate) lag: RefCell<Histogram>,
    pub(crate) slow: RefCell<Vec<Slow>>,
    pub(crate) slow_count: Cell<u64>,
    pub(crate) trace: RefCell<Vec<TraceEvent>>,
    trace_next: Cell<usize>,
    /// (ms since start, Lua heap in KB), one sample per 100 ms of callbacks at most.
    pub(crate) heap: RefCell<Vec<(u64, u64)>>,
    /// When the next heap sample is due, on [`crate::clock`].
    next_heap_sample: Cell<u64>,
    /// `started` on [`crate::clock`].
    started_ns: u64,
    watchdog: Watchdog,
}

impl LoopProfiler {
    /// Starts profiling the loop of the Lua state `main`.
    ///
    /// # Safety
    /// Call on the Lua thread; `main` is its live main state, living until the process exits.
    pub unsafe fn start(main: *mut lua_State, options: LoopOptions) -> LoopProfiler {
        let watchdog = Watchdog::start(main, options.threshold);
        let started = Instant::now();
        LoopProfiler {
            options,
            main,
            started,
            idle: Cell::new(Duration::ZERO),
            depth: Cell::new(0),
            slow_inner: Cell::new(None),
            sites: RefCell::new(Vec::new()),
            by_key: RefCell::new(HashMap::new()),
            generation: NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            lag: RefCell::new(Histogram::new()),
            slow: RefCell::new(Vec::new()),
            slow_count: Cell::new(0),
            trace: RefCell::new(Vec::new()),
            trace_next: Cell::new(0),
            heap: RefCell::new(Vec::new()),
            next_heap_sample: Cell::new(0),
            started_ns: crate::clock::now_ns(),
            watchdog,
        }
    }

    /// Time since the profiler started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fraction of the time not parked waiting (node's event loop utilization).
    pub fn utilization(&self) -> f64 {
        let total = self.elapsed().as_secs_f64();
        let idle = self.idle.get();
        if total <= 0.0 {
            0.0
        } else {
            (1.0 - idle.as_secs_f64() / total).clamp(0.0, 1.0)
        }
    }

    fn site_of(&self, run: &CallbackRun) -> usize {
        let memo = run.origin.memo.get();
        if memo >> 32 == self.generation {
            return (memo & 0xffff_ffff) as usize;
        }
        let kind = run.origin.label().to_string();
        let site = run
            .origin
            .chain()
            .find_map(|o| o.site.as_ref())
            .map(|s| format!("{}:{}", display_path(&s.source), s.line))
            .unwrap_or_default();
        let function = match &run.origin.function {
            Some(f) => f.clone(),
            None => run
                .function
                .get()
                .map_or_else(String::new, |f| definition(&f)),
        };
        let full = format!("{kind}\u{0}{site}\u{0}{function}");
        let existing = self.by_key.borrow().get(&full).copied();
        let i = match existing {
            Some(i) => i,
            None => {
                let mut sites = self.sites.borrow_mut();
                sites.push(SiteStats {
                    kind,
                    site,
                    function,
                    count: 0,
                    total: Duration::ZERO,
                    durations: Histogram::new(),
                });
                self.by_key.borrow_mut().insert(full, sites.len() - 1);
                sites.len() - 1
            }
        };
        run.origin.memo.set(self.generation << 32 | i as u64);
        i
    }

    /// One heap sample when the last is 100 ms old (checked against the callback's start: no
    /// clock read or duration math on the common path).
    fn sample_heap(&self, run: &CallbackRun, now: Duration) {
        if run.started < self.next_heap_sample.get() {
            return;
        }
        self.next_heap_sample.set(run.started + 100_000_000);
        // SAFETY: the main state of this thread (start's promise); LUA_GCCOUNT only reads.
        let kb = unsafe { mlua::ffi::lua_gc(self.main, mlua::ffi::LUA_GCCOUNT, 0) };
        self.heap
            .borrow_mut()
            .push((now.as_millis() as u64, kb.max(0) as u64));
    }
}

/// Where a callback is defined, `path:line`. A built-in module's wrapper (setTimeout's, a
/// stream's read callback) names the user's function it closes over instead, when it holds one.
pub fn definition(f: &mlua::Function) -> String {
    let show = |i: &mlua::function::FunctionInfo| match i.what {
        "C" => "[C]".to_string(),
        _ => format!(
            "{}:{}",
            display_path(i.source.as_deref().unwrap_or("?")),
            i.line_defined.unwrap_or(0)
        ),
    };
    let info = f.info();
    let builtin = |i: &mlua::function::FunctionInfo| {
        i.what == "C"
            || i.source
                .as_deref()
                .is_some_and(|s| s.starts_with("@builtin:"))
    };
    if builtin(&info) {
        if let Some(inner) = user_upvalue(f) {
            let i = inner.info();
            if !builtin(&i) {
                return show(&i);
            }
        }
    }
    show(&info)
}

/// The first upvalue of `f` that is a Lua function (through `debug.getupvalue`).
fn user_upvalue(f: &mlua::Function) -> Option<mlua::Function> {
    let lua = f.weak_lua().try_upgrade()?;
    let debug: mlua::Table = lua.globals().get("debug").ok()?;
    let getupvalue: mlua::Function = debug.get("getupvalue").ok()?;
    for i in 1..=64 {
        let (name, value): (Option<String>, mlua::Value) = getupvalue.call((f, i)).ok()?;
        name.as_ref()?;
        if let mlua::Value::Function(g) = value {
            return Some(g);
        }
    }
    None
}

/// A chunk name as a path to show: `@/a/b.lua` is `/a/b.lua`, `@builtin:x` is `builtin:x`.
pub fn display_path(source: &str) -> &str {
    source.strip_prefix('@').unwrap_or(source)
}

impl LoopObserver for LoopProfiler {
    fn callback_started(&self, run: &CallbackRun) {
        let d = self.depth.get();
        self.depth.set(d + 1);
        if d == 0 {
            self.watchdog.begin();
            if let Some(ready) = run.ready {
                self.lag
                    .borrow_mut()
                    .record(run.started.saturating_sub(ready));
            }
        }
    }

    fn callback_finished(&self, run: &CallbackRun, elapsed: Duration) {
        let d = self.depth.get().saturating_sub(1);
        self.depth.set(d);
        let site = self.site_of(run);
        {
            let mut sites = self.sites.borrow_mut();
            let s = &mut sites[site];
            s.count += 1;
            s.total += elapsed;
            s.durations.record(elapsed.as_nanos() as u64);
        }
        let start = Duration::from_nanos(run.started.saturating_sub(self.started_ns));
        let now = start + elapsed;
        let ev = TraceEvent {
            start_us: start.as_micros() as u64,
            dur_us: elapsed.as_micros() as u64,
            site: site as u32,
        };
        {
            let mut trace = self.trace.borrow_mut();
            if trace.len() < TRACE_CAPACITY {
                trace.push(ev);
            } else {
                let i = self.trace_next.get();
                trace[i] = ev;
                self.trace_next.set((i + 1) % TRACE_CAPACITY);
            }
        }
        if d > 0 && elapsed >= self.options.threshold {
            let longest = self.slow_inner.get().is_none_or(|(_, _, t)| elapsed > t);
            if longest {
                self.slow_inner.set(Some((site, start, elapsed)));
            }
        }
        if d == 0 {
            let samples = self.watchdog.end();
            let inner = self.slow_inner.take();
            if elapsed >= self.options.threshold {
                self.slow_count.set(self.slow_count.get() + 1);
                let (site, at, duration) = inner.unwrap_or((site, start, elapsed));
                let mut slow = self.slow.borrow_mut();
                slow.push(Slow {
                    site,
                    at,
                    duration,
                    samples,
                });
                if slow.len() > SLOW_KEPT {
                    slow.sort_by_key(|s| std::cmp::Reverse(s.duration));
                    slow.truncate(SLOW_KEPT);
                }
            }
            self.sample_heap(run, now);
        }
    }

    fn loop_parked(&self, parked: Duration) {
        self.idle.set(self.idle.get() + parked);
    }
}

impl LoopProfiler {
    /// The trace ring in time order.
    pub(crate) fn trace_in_order(&self) -> Vec<TraceEvent> {
        let trace = self.trace.borrow();
        let i = self.trace_next.get();
        let mut out = Vec::with_capacity(trace.len());
        out.extend_from_slice(&trace[i..]);
        out.extend_from_slice(&trace[..i]);
        out
    }
}
