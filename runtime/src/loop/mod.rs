//! The event loop: libuv's run phases (timers, idle, prepare, poll, check, close) driven by a
//! tokio current-thread runtime.
//!
//! Nothing here runs Lua except through [`dispatch`]. I/O is done by tokio tasks on a `LocalSet`
//! (or on tokio's blocking pool); when one completes it sends an [`Event`] to the loop's inbox,
//! and the poll phase hands each event to the dispatch point. Like libuv, the loop only runs while
//! [`EventLoop::run`] is on the stack: the runtime runs the main chunk first and then calls `run`,
//! and a script may call `uv.run()` itself.

pub mod dispatch;
mod door;
mod handles;
mod ticks;
mod timers;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use luvit_devtools::{LoopObserver, Origin};
use mlua::{AnyUserData, Function, Lua, MultiValue};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

pub use dispatch::Callback;
use timers::TimerHeap;

pub type HandleId = u64;
pub type ReqId = u64;

/// Builds a callback's arguments on the main thread from a result computed anywhere.
pub type ArgsFn = Box<dyn FnOnce(&Lua) -> mlua::Result<MultiValue> + Send>;

/// Which callback of a handle an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// timer, check, idle, prepare, signal, connection (listen), recv (udp), exit (process).
    Main = 0,
    /// stream reads.
    Read = 1,
}

/// Loop-thread work posted from another thread.
pub type InternalFn = Box<dyn FnOnce(&Lua, &EventLoop) + Send>;

/// Whom a completed operation calls back.
pub enum Target {
    /// A one-shot request (fs call, write, connect ...); its callback is removed when it runs.
    Req(ReqId),
    /// A handle's standing callback; dropped silently if the handle closed meanwhile.
    Handle(HandleId, Slot),
    /// Work on the loop thread that finds its own callback (stdin reader threads and the like).
    Internal(InternalFn),
}

/// A completion from the loop thread itself; it runs in the poll phase.
pub type LocalEvent = Box<dyn FnOnce(&Lua, &EventLoop)>;

/// Work its owner posts to the loop thread again and again (a stream's read delivery):
/// posting it clones an `Rc`, where a boxed closure costs an allocation each time.
pub trait LocalTask {
    fn run_task(self: Rc<Self>, lua: &Lua, el: &EventLoop);
}

/// What waits in the local queue.
enum Posted {
    Once(LocalEvent),
    Task(Rc<dyn LocalTask>),
}

/// A completion waiting in the loop's inbox.
pub struct Event {
    pub target: Target,
    pub args: ArgsFn,
    /// When it completed (nanoseconds on devtools' clock), kept only while a profiler
    /// measures the loop's lag.
    pub at: Option<u64>,
}

/// Whether completions are time-stamped (an observer is attached). Global because completions
/// are made on any thread; one event loop runs per process.
static STAMP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Now, when completions are being time-stamped.
pub fn stamp() -> Option<u64> {
    STAMP
        .load(std::sync::atomic::Ordering::Relaxed)
        .then(luvit_devtools::clock::now_ns)
}

impl Event {
    /// A completion for `target`, built on any thread.
    pub fn new(target: Target, args: ArgsFn) -> Event {
        Event {
            target,
            args,
            at: stamp(),
        }
    }
}

/// `uv.run` modes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunMode {
    Default,
    Once,
    NoWait,
}

/// Phase handles: run once per loop iteration while active.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Idle,
    Prepare,
    Check,
}

struct HandleEntry {
    ud: dispatch::Held<AnyUserData>,
    active: bool,
    refd: bool,
    closing: bool,
    callbacks: [Option<Callback>; 2],
    close_cb: Option<Callback>,
    /// Timer bookkeeping: the heap entry that is current, and the repeat interval.
    timer_seq: u64,
    timer_due: u64,
    timer_repeat: u64,
    phase: Option<Phase>,
}

/// Maps keyed by the loop's own ids: sequence numbers, not input from anyone, so they need no
/// DoS-resistant hash (SipHash cost ~150 instructions a lookup, three lookups a request).
pub(crate) type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a u64 id: spreads sequential ids over all the hash's bits.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
struct LoopState {
    handles: IdMap<HandleEntry>,
    /// Pending one-shot requests; their count keeps the loop alive.
    reqs: IdMap<Option<Callback>>,
    timers: TimerHeap,
    phase_handles: Vec<(Phase, HandleId)>,
    closing: Vec<HandleId>,
    active_refd: usize,
    next_id: u64,
}

/// Whether arming `seq` of timer `id` is its current one (the heap deletes lazily: an arming
/// replaced, stopped or closed stays there, stale, until popped or compacted away).
fn timer_armed(handles: &IdMap<HandleEntry>, id: HandleId, seq: u64) -> bool {
    handles
        .get(&id)
        .is_some_and(|e| e.timer_seq == seq && e.active && !e.closing)
}

/// How long the poll phase may wait.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Wait {
    /// Not at all (something is due or pending).
    Now,
    /// Until a time on the loop's millisecond clock (the next timer).
    Until(u64),
    /// Until I/O.
    Forever,
}

/// The loop. One per Lua state, stored in the state's app data as `Rc<EventLoop>`.
pub struct EventLoop {
    rt: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
    tx: UnboundedSender<Event>,
    rx: RefCell<UnboundedReceiver<Event>>,
    state: RefCell<LoopState>,
    start: Instant,
    /// `start` on devtools' clock (a timer's due time as the observers see it).
    start_ns: u64,
    now_ms: Cell<u64>,
    /// `now_ms` as a double, read in place by compiled Lua through ffi (`uv._now_cell`): a
    /// call of `uv.now()` ends a trace; a load from this cell does not.
    now_f64: Cell<f64>,
    stop: Cell<bool>,
    running: Cell<bool>,
    /// Set by `process.exit`/a fatal error inside a nested run: unwinds every run level.
    exiting: Cell<bool>,
    next_ticks: RefCell<ticks::TickQueue>,
    /// Completions from tasks on the loop thread (not `Send`: they may hold handle state).
    local_q: RefCell<VecDeque<(Option<u64>, Posted)>>,
    local_notify: tokio::sync::Notify,
    /// The timer the poll phase waits on, kept across iterations with its deadline: a loop
    /// whose next timer stays the same (a server's periodic sweep) re-arms nothing, where a
    /// new `sleep` each iteration cost a timer-wheel insert and removal per request.
    wake_timer: RefCell<Option<(Instant, std::pin::Pin<Box<tokio::time::Sleep>>)>>,
    observers: RefCell<Rc<[Rc<dyn LoopObserver>]>>,
    /// When the callback about to be dispatched became ready (for the observers' lag figure).
    ready_at: Cell<Option<u64>>,
    /// The loop is inside poll's await: tokio runs the I/O tasks now.
    awaiting: Cell<bool>,
    /// When `run` was first entered, and the time parked waiting for I/O since (node's
    /// `eventLoopUtilization` figures; kept always, two clock reads per park).
    loop_started: Cell<Option<Instant>>,
    idle_total: Cell<Duration>,
    /// setImmediate callbacks are queued: keep the loop alive and the poll from blocking.
    immediates_pending: Cell<bool>,
    /// The check handle that runs setImmediate's queue (timer.lua's): `uv.walk` does not list
    /// it; should a program reach it anyway and close it, closing drops the pending mark, or
    /// the loop would stay alive, never blocking, with no one left to run the queue.
    immediates_handle: Cell<Option<HandleId>>,
    /// Zero-timeout polls since tokio last ran its I/O driver.
    polls_since_yield: Cell<u32>,
    /// How callbacks are called (`door.rs`).
    pub(crate) door: RefCell<Option<Rc<door::Door>>>,
    /// The main Lua thread, on which every callback runs.
    pub(crate) main_state: dispatch::MainState,
    /// The current run was entered from the main thread (callbacks need no thread switch).
    run_from_main: Cell<bool>,
    current_origin: RefCell<Option<Rc<Origin>>>,
    /// When the last callback ended, while observers time callbacks and nothing has awaited
    /// since (0: no such time): the next callback starts then. See `callback_start_ns`.
    chain_ns: Cell<u64>,
}

impl EventLoop {
    pub fn new(main_state: dispatch::MainState) -> std::io::Result<Rc<EventLoop>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(64)
            .thread_name("luvit-pool")
            .build()?;
        let (tx, rx) = unbounded_channel();
        Ok(Rc::new(EventLoop {
            rt,
            local: tokio::task::LocalSet::new(),
            tx,
            rx: RefCell::new(rx),
            state: RefCell::new(LoopState::default()),
            start: Instant::now(),
            start_ns: luvit_devtools::clock::now_ns(),
            now_ms: Cell::new(0),
            now_f64: Cell::new(0.0),
            stop: Cell::new(false),
            running: Cell::new(false),
            exiting: Cell::new(false),
            next_ticks: RefCell::new(ticks::TickQueue::default()),
            local_q: RefCell::new(VecDeque::new()),
            local_notify: tokio::sync::Notify::new(),
            wake_timer: RefCell::new(None),
            observers: RefCell::new(Rc::from(Vec::new())),
            ready_at: Cell::new(None),
            awaiting: Cell::new(false),
            loop_started: Cell::new(None),
            idle_total: Cell::new(Duration::ZERO),
            immediates_pending: Cell::new(false),
            immediates_handle: Cell::new(None),
            polls_since_yield: Cell::new(0),
            door: RefCell::new(None),
            main_state,
            run_from_main: Cell::new(true),
            current_origin: RefCell::new(None),
            chain_ns: Cell::new(0),
        }))
    }

    /// The loop of a Lua state.
    pub fn of(lua: &Lua) -> Rc<EventLoop> {
        match lua.app_data_ref::<Rc<EventLoop>>() {
            Some(l) => l.clone(),
            None => unreachable!("the runtime installs the event loop before any Lua runs"),
        }
    }

    /// Enters the tokio context so sockets can be registered outside `run` (held for the
    /// lifetime of the runtime).
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt.enter()
    }

    /// Drops every Lua value the loop holds (before the Lua state is closed).
    pub fn clear_lua_refs(&self) {
        let mut st = self.state.borrow_mut();
        st.handles.clear();
        st.reqs.clear();
        st.closing.clear();
        st.phase_handles.clear();
        st.active_refd = 0;
        drop(st);
        self.next_ticks.borrow_mut().clear();
        self.local_q.borrow_mut().clear();
        self.door.borrow_mut().take();
    }

    /// Adds an observer of every callback (they are told in the order attached).
    pub fn attach_observer(&self, observer: Rc<dyn LoopObserver>) {
        let mut all: Vec<_> = self.observers.borrow().iter().cloned().collect();
        all.push(observer);
        *self.observers.borrow_mut() = Rc::from(all);
        self.chain_ns.set(0);
        STAMP.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Removes an observer attached before (the same `Rc`).
    pub fn detach_observer(&self, observer: &Rc<dyn LoopObserver>) {
        let all: Vec<_> = self
            .observers
            .borrow()
            .iter()
            .filter(|o| !std::ptr::addr_eq(Rc::as_ptr(o), Rc::as_ptr(observer)))
            .cloned()
            .collect();
        STAMP.store(!all.is_empty(), std::sync::atomic::Ordering::Relaxed);
        *self.observers.borrow_mut() = Rc::from(all);
        self.chain_ns.set(0);
    }

    pub fn observed(&self) -> bool {
        !self.observers.borrow().is_empty()
    }

    /// The observers now (cheap to clone: a shared slice).
    pub(crate) fn observers(&self) -> Rc<[Rc<dyn LoopObserver>]> {
        self.observers.borrow().clone()
    }

    /// Takes when the callback being dispatched became ready (set by the loop just before).
    pub(crate) fn take_ready(&self) -> Option<u64> {
        self.ready_at.take()
    }

    /// node's `eventLoopUtilization()` inputs: time parked waiting, and time since the loop
    /// first ran (both zero before it ran).
    pub fn utilization_times(&self) -> (Duration, Duration) {
        match self.loop_started.get() {
            Some(t0) => (self.idle_total.get(), t0.elapsed()),
            None => (Duration::ZERO, Duration::ZERO),
        }
    }

    pub fn current_origin(&self) -> Option<Rc<Origin>> {
        self.current_origin.borrow().clone()
    }

    /// A sender for completions (cloneable, usable from any thread).
    pub fn sender(&self) -> UnboundedSender<Event> {
        self.tx.clone()
    }

    pub fn post(&self, target: Target, args: ArgsFn) {
        // The receiver lives as long as the loop itself, so this cannot fail while we run.
        let _ = self.tx.send(Event::new(target, args));
    }

    /// Queues work for the next poll phase, from the loop thread.
    pub fn post_local(&self, ev: LocalEvent) {
        self.queue_local(Posted::Once(ev));
    }

    /// Queues `task` to run in the poll phase, like `post_local`.
    pub fn post_local_task(&self, task: Rc<dyn LocalTask>) {
        self.queue_local(Posted::Task(task));
    }

    fn queue_local(&self, ev: Posted) {
        // Completions made while the loop awaits I/O take the wake-up time (one clock read a
        // batch); one posted from a callback is stamped now.
        let at = if self.awaiting.get() { None } else { stamp() };
        self.local_q.borrow_mut().push_back((at, ev));
        self.local_notify.notify_one();
    }

    /// Completes a request now-ish: its callback runs in the next poll phase with `args`.
    pub fn complete_req(
        &self,
        req: ReqId,
        args: impl FnOnce(&Lua) -> mlua::Result<MultiValue> + 'static,
    ) {
        self.post_local(Box::new(move |lua, el| {
            let cb = el.state.borrow_mut().reqs.remove(&req).flatten();
            if let Some(cb) = cb {
                match args(lua) {
                    Ok(a) => dispatch::call(lua, el, &cb, a),
                    Err(e) => dispatch::report_error(lua, el, e),
                }
            }
        }));
    }

    /// Runs a handle's standing callback (if the handle is still open) with `args`.
    pub fn call_handle(&self, lua: &Lua, id: HandleId, slot: Slot, args: MultiValue) -> bool {
        let cb = self.handle_callback(id, slot);
        match cb {
            Some(cb) => {
                dispatch::call(lua, self, &cb, args);
                true
            }
            None => false,
        }
    }

    /// `call_handle` for a stream's read: `(nil, bytes)` (see `dispatch::call_read`).
    pub fn call_handle_read(&self, lua: &Lua, id: HandleId, bytes: &[u8], token: bool) -> bool {
        match self.handle_callback(id, Slot::Read) {
            Some(cb) => {
                dispatch::call_read(lua, self, &cb, bytes, token);
                true
            }
            None => false,
        }
    }

    pub fn handle_callback(&self, id: HandleId, slot: Slot) -> Option<Callback> {
        self.state
            .borrow()
            .handles
            .get(&id)
            .filter(|e| !e.closing)
            .and_then(|e| e.callbacks[slot as usize].clone())
    }

    /// The Lua object of a live handle.
    pub fn handle_ud(&self, lua: &Lua, id: HandleId) -> Option<AnyUserData> {
        let st = self.state.borrow();
        st.handles.get(&id).and_then(|e| e.ud.get(lua).ok())
    }

    /// Spawns I/O work on the loop's thread; it runs while the loop runs.
    pub fn spawn_local<F: std::future::Future<Output = ()> + 'static>(
        &self,
        fut: F,
    ) -> tokio::task::JoinHandle<()> {
        self.local.spawn_local(fut)
    }

    /// Milliseconds since the loop started, as of the last update (libuv's `uv_now`).
    pub fn now(&self) -> u64 {
        self.now_ms.get()
    }

    /// The instant of a time on the loop's millisecond clock.
    fn instant_of(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    pub fn update_time(&self) {
        self.set_now(self.start.elapsed().as_millis() as u64);
    }

    /// `update_time` from a clock read already made (devtools' clock: `start`'s clock).
    fn update_time_at(&self, now_ns: u64) {
        self.set_now(now_ns.saturating_sub(self.start_ns) / 1_000_000);
    }

    fn set_now(&self, ms: u64) {
        self.now_ms.set(ms);
        self.now_f64.set(ms as f64);
    }

    /// Where `now()` is kept as a double, for Lua to read through ffi. Valid while the loop
    /// lives, which is past the Lua state's close (`Runtime` drops the state first).
    pub fn now_cell(&self) -> *const f64 {
        self.now_f64.as_ptr()
    }

    /// When an observed callback starts: where the previous one ended, or when the loop woke,
    /// if the loop has not awaited since; else now. So a batch of N callbacks costs N + 1
    /// clock reads, not 2N + 2 (two reads a callback cost a keep-alive server 1.7% of its
    /// requests/s under `--loop-prof`, though only ~60 instructions); the price is that the
    /// loop's delivery work before a callback (taking the completion, building its arguments,
    /// the observers' bookkeeping of the previous one: well under a microsecond) is charged
    /// to it.
    pub(crate) fn callback_start_ns(&self) -> u64 {
        match self.chain_ns.replace(0) {
            0 => luvit_devtools::clock::now_ns(),
            t => t,
        }
    }

    /// An observed callback ended at `ns` (read by the dispatch point).
    pub(crate) fn callback_ended_at(&self, ns: u64) {
        if self.running.get() {
            self.chain_ns.set(ns);
        }
    }

    pub fn hrtime(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1_000_000_000
    }

    pub(super) fn next_id(&self) -> u64 {
        let mut st = self.state.borrow_mut();
        st.next_id += 1;
        st.next_id
    }

    // ---- next ticks ----------------------------------------------------------------------

    pub fn next_tick(&self, lua: &Lua, f: Function, args: MultiValue) -> mlua::Result<()> {
        let origin = dispatch::origin_here(lua, self, "nextTick");
        if !self.next_ticks.borrow().has_table() {
            let t = lua.create_table()?;
            self.next_ticks.borrow_mut().set_table(t);
        }
        self.next_ticks.borrow_mut().push(f, args, origin)
    }

    // ---- running -------------------------------------------------------------------------

    /// Marks that setImmediate callbacks wait (the check phase will run them), on `handle`
    /// when given (closing it clears the mark; `uv.walk` does not list it).
    pub fn set_immediates_pending(&self, pending: bool, handle: Option<HandleId>) {
        if handle.is_some() {
            self.immediates_handle.set(handle);
        }
        let running = self
            .immediates_handle
            .get()
            .is_none_or(|h| !self.is_closing(h));
        self.immediates_pending.set(pending && running);
    }

    pub fn alive_pub(&self) -> bool {
        self.alive()
    }

    fn alive(&self) -> bool {
        let st = self.state.borrow();
        st.active_refd > 0
            || !st.reqs.is_empty()
            || !st.closing.is_empty()
            || self.immediates_pending.get()
            || !self.local_q.borrow().is_empty()
    }

    /// The main Lua state (what the debugger hooks; tests/fuzz starts one on it).
    pub fn main_state(&self) -> *mut mlua::ffi::lua_State {
        self.main_state.0
    }

    /// Whether Lua code is running on the main thread right now (not inside a coroutine).
    pub fn on_main_thread(&self, lua: &Lua) -> bool {
        self.main_state.0.is_null()
            || lua.current_thread().to_pointer() == self.main_state.0 as *const _
    }

    /// Whether callbacks can be called directly (the loop was entered from the main thread).
    pub(crate) fn callbacks_on_main(&self, lua: &Lua) -> bool {
        if self.running.get() {
            self.run_from_main.get()
        } else {
            self.on_main_thread(lua)
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.get()
    }

    pub fn stop(&self) {
        self.stop.set(true);
    }

    pub fn exiting(&self) -> bool {
        self.exiting.get()
    }

    pub fn set_exiting(&self) {
        self.exiting.set(true);
        self.stop.set(true);
    }

    /// Runs the loop (libuv's `uv_run`). Returns whether handles or requests remain.
    pub fn run(self: &Rc<Self>, lua: &Lua, mode: RunMode) -> mlua::Result<bool> {
        if self.running.get() {
            return Err(mlua::Error::runtime(
                "uv.run: the loop is already running (called from inside a callback)",
            ));
        }
        self.running.set(true);
        self.chain_ns.set(0);
        if self.loop_started.get().is_none() {
            self.loop_started.set(Some(Instant::now()));
        }
        self.run_from_main.set(self.on_main_thread(lua));
        let this = self.clone();
        let lua2 = lua.clone();
        // The phases run as a task of the LocalSet, beside the I/O tasks (a stream's reads)
        // rather than as the future the LocalSet runs until: a read that wakes the phases is
        // then handled in the same tick, where waking the outer future cost tokio an extra
        // zero-timeout epoll_wait per request.
        let phases = self
            .local
            .spawn_local(async move { this.run_phases(&lua2, mode).await });
        let result = match self.rt.block_on(self.local.run_until(phases)) {
            Ok(r) => r,
            // a panic inside the phases goes on as it would have without the task
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(mlua::Error::runtime(format!("the event loop stopped: {e}"))),
        };
        self.running.set(false);
        self.chain_ns.set(0);
        self.stop.set(false);
        result
    }

    async fn run_phases(&self, lua: &Lua, mode: RunMode) -> mlua::Result<bool> {
        // Ticks queued by the code that called run go first, as after node's main module.
        dispatch::run_next_ticks(lua, self);
        let mut alive = self.alive();
        if !alive {
            self.update_time();
        }
        while alive && !self.stop.get() {
            self.update_time();
            self.run_timers(lua)?;
            self.run_phase(lua, Phase::Idle)?;
            self.run_phase(lua, Phase::Prepare)?;
            let timeout = self.poll_timeout(mode);
            self.poll(lua, timeout).await?;
            self.run_phase(lua, Phase::Check)?;
            self.run_closing(lua)?;
            if mode == RunMode::Once {
                self.update_time();
                self.run_timers(lua)?;
            }
            alive = self.alive();
            if mode != RunMode::Default {
                break;
            }
        }
        Ok(alive)
    }

    fn poll_timeout(&self, mode: RunMode) -> Wait {
        let mut st = self.state.borrow_mut();
        let idle = st.phase_handles.iter().any(|(p, _)| *p == Phase::Idle);
        if mode == RunMode::NoWait
            || self.stop.get()
            || idle
            || self.immediates_pending.get()
            || !st.closing.is_empty()
        {
            return Wait::Now;
        }
        let now = self.now();
        let LoopState {
            timers, handles, ..
        } = &mut *st;
        let due = timers.next_due(|id, seq| timer_armed(handles, id, seq));
        match due {
            Some(due) if due <= now => Wait::Now,
            Some(due) => Wait::Until(due),
            None => Wait::Forever,
        }
    }

    /// Waits for I/O completions (up to `timeout`; `None` waits for the next one) and delivers
    /// every completion that is ready.
    #[allow(
        clippy::await_holding_refcell_ref,
        reason = "only poll borrows the inbox, and the loop refuses to run nested"
    )]
    async fn poll(&self, lua: &Lua, timeout: Wait) -> mlua::Result<()> {
        let mut first = None;
        let mut woke = None;
        let ready = !self.local_q.borrow().is_empty();
        if !ready {
            first = self.rx.borrow_mut().try_recv().ok();
        }
        if !ready && first.is_none() {
            if timeout == Wait::Now {
                // Let tokio run I/O tasks once without blocking. While the loop spins on
                // immediates or idle handles, do it every 32nd iteration: the completions
                // already queued are still delivered every time.
                let n = self.polls_since_yield.get() + 1;
                if n >= 32 {
                    self.polls_since_yield.set(0);
                    self.awaiting.set(true);
                    self.chain_ns.set(0);
                    tokio::task::yield_now().await;
                    self.awaiting.set(false);
                } else {
                    self.polls_since_yield.set(n);
                }
            } else {
                // parked when the last callback ended, when callbacks were timed (the few
                // steps since are the loop's own, idle or not); else now
                let parked = self.callback_start_ns();
                self.awaiting.set(true);
                let mut rx = self.rx.borrow_mut();
                let mut wake = self.wake_timer.borrow_mut();
                let timer = match timeout {
                    Wait::Until(due) => {
                        let at = self.instant_of(due);
                        match &mut *wake {
                            Some((armed, t)) => {
                                if *armed != at {
                                    t.as_mut().reset(at.into());
                                    *armed = at;
                                }
                            }
                            None => {
                                *wake = Some((at, Box::pin(tokio::time::sleep_until(at.into()))))
                            }
                        }
                        wake.as_mut().map(|(_, t)| t.as_mut())
                    }
                    _ => None,
                };
                let sleep = async {
                    match timer {
                        Some(t) => t.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ev = rx.recv() => first = ev,
                    _ = self.local_notify.notified() => {}
                    _ = sleep => {}
                }
                drop(wake);
                drop(rx);
                self.awaiting.set(false);
                // one clock read for the idle time, the loop's time and the batch's stamp
                let now = luvit_devtools::clock::now_ns();
                let idle = Duration::from_nanos(now.saturating_sub(parked));
                self.idle_total.set(self.idle_total.get() + idle);
                for o in self.observers().iter() {
                    o.loop_parked(idle);
                }
                self.update_time_at(now);
                woke = Some(now);
                if !self.observers.borrow().is_empty() {
                    // the first callback of the batch starts now
                    self.chain_ns.set(now);
                }
            }
        }
        if let Some(ev) = first {
            self.deliver(lua, ev)?;
        }
        // Deliver what is ready now, bounded so a callback that keeps posting cannot starve
        // timers and the other phases.
        let n = self.local_q.borrow().len();
        let batch = if n > 0 {
            // the wake-up time when the loop just woke: the batch became ready then or before
            match woke {
                Some(t) if STAMP.load(std::sync::atomic::Ordering::Relaxed) => Some(t),
                _ => stamp(),
            }
        } else {
            None
        };
        for _ in 0..n {
            let ev = self.local_q.borrow_mut().pop_front();
            match ev {
                Some((at, ev)) => {
                    self.ready_at.set(at.or(batch));
                    match ev {
                        Posted::Once(f) => f(lua, self),
                        Posted::Task(t) => t.run_task(lua, self),
                    }
                    self.ready_at.set(None);
                }
                None => break,
            }
        }
        for _ in 0..1024 {
            let next = self.rx.borrow_mut().try_recv().ok();
            match next {
                Some(ev) => self.deliver(lua, ev)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Hands one completion to its callback through the dispatch point.
    fn deliver(&self, lua: &Lua, ev: Event) -> mlua::Result<()> {
        let cb = match ev.target {
            Target::Req(id) => self.state.borrow_mut().reqs.remove(&id).flatten(),
            Target::Handle(id, slot) => self.handle_callback(id, slot),
            Target::Internal(f) => {
                f(lua, self);
                None
            }
        };
        if let Some(cb) = cb {
            match (ev.args)(lua) {
                Ok(args) => {
                    self.ready_at.set(ev.at);
                    dispatch::call(lua, self, &cb, args)
                }
                Err(e) => dispatch::report_error(lua, self, e),
            }
        }
        Ok(())
    }

    fn run_timers(&self, lua: &Lua) -> mlua::Result<()> {
        let now = self.now();
        // Collect first: a timer started by a callback runs in the next iteration (libuv >= 1.45).
        let mut due = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            let LoopState {
                timers, handles, ..
            } = &mut *st;
            while let Some((id, seq)) = timers.pop_due(now) {
                if handles
                    .get(&id)
                    .is_some_and(|e| e.timer_seq == seq && e.active)
                {
                    due.push((id, seq));
                }
            }
        }
        for (id, seq) in due {
            let (repeat, cb, due_at) = match self.state.borrow().handles.get(&id) {
                Some(e) if e.timer_seq == seq && e.active && !e.closing => (
                    e.timer_repeat,
                    e.callbacks[Slot::Main as usize].clone(),
                    e.timer_due,
                ),
                _ => continue,
            };
            if repeat > 0 {
                let due = now.saturating_add(repeat);
                let seq = self.push_timer(id, due);
                self.update_entry(id, |e| {
                    e.timer_seq = seq;
                    e.timer_due = due;
                });
            } else {
                self.timer_stop(id);
            }
            if let Some(cb) = cb {
                if self.observed() {
                    self.ready_at.set(Some(self.start_ns + due_at * 1_000_000));
                }
                dispatch::call(lua, self, &cb, MultiValue::new());
            }
            if self.stop.get() {
                break;
            }
        }
        Ok(())
    }

    fn run_phase(&self, lua: &Lua, phase: Phase) -> mlua::Result<()> {
        // Walk by index: callbacks may start or stop phase handles while we iterate.
        let mut i = 0;
        loop {
            let cb = {
                let st = self.state.borrow();
                let Some(&(p, id)) = st.phase_handles.get(i) else {
                    break;
                };
                i += 1;
                if p != phase {
                    continue;
                }
                st.handles
                    .get(&id)
                    .filter(|e| e.active && !e.closing && e.phase == Some(phase))
                    .and_then(|e| e.callbacks[Slot::Main as usize].clone())
            };
            if let Some(cb) = cb {
                dispatch::call(lua, self, &cb, MultiValue::new());
            }
        }
        Ok(())
    }

    fn run_closing(&self, lua: &Lua) -> mlua::Result<()> {
        let closing = std::mem::take(&mut self.state.borrow_mut().closing);
        for id in closing {
            let entry = self.state.borrow_mut().handles.remove(&id);
            if let Some(cb) = entry.and_then(|e| e.close_cb) {
                dispatch::call(lua, self, &cb, MultiValue::new());
            }
        }
        // Registry slots of dropped handles and callbacks let go of their values now.
        lua.expire_registry_values();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
