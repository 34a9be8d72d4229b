//! The debugger core: breakpoints, stepping, stops, and the door the transports knock on.
//!
//! One [`Debugger`] per Lua state lives on the Lua thread. Transports (the websocket front door
//! in `server.rs`) run on threads of their own and hand it messages through a queue, waking the
//! Lua thread two ways at once: an event in the runtime's loop inbox (the loop is idle) and a
//! signal that arms a count hook (Lua is busy). While the program is stopped the Lua thread
//! sits in [`Debugger::stop`] answering requests, so no timer fires and no request is served.
//!
//! Module map: `hook.rs` (the raw LuaJIT hook, signal, masks), `breakpoints.rs`, `session.rs`
//! (DAP requests), `inspect.rs` + `inspect.lua` (frames, variables, evaluate), `server.rs`
//! (HTTP discovery + websocket), `protocol.rs` (message shapes).

pub mod adapter;
mod breakpoints;
pub mod framing;
mod hook;
mod inspect;
pub mod mdline;
mod mobdebug;
pub mod outbox;
pub mod protocol;
pub mod server;
mod session;
mod tcp;
mod to_editor;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use mlua::ffi::{self, lua_Debug, lua_State};
use mlua::{Lua, Thread, Value};
use serde_json::{json, Value as Json};

use crate::observer::{CallbackRun, LoopObserver, Origin};
use breakpoints::Breakpoints;
use inspect::{Helper, Target};
use protocol::Sequencer;
use server::{Incoming, Link};

pub use inspect::MD_SOURCE as INSPECT_MD_LUA;
pub use inspect::SOURCE as INSPECT_LUA;
pub use server::host_allowed;
pub use session::normalize_path;

/// What a client hears about the program output it missed.
fn dropped_notice(bytes: u64, who: &str) -> String {
    format!("[luvit: {bytes} bytes of program output dropped: the {who} was not reading]\n")
}

/// How the program was started under the debugger.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// `--inspect-wait`: run only once a client has attached and configured.
    pub wait: bool,
    /// `--inspect-brk`: stop on the script's first line.
    pub brk: bool,
    /// `--inspect-dap-tcp`: DAP with Content-Length framing over TCP instead of websocket.
    pub tcp: bool,
}

/// Text of sources that have no file (the runtime's built-in modules), by chunk name.
pub type SourceText = Box<dyn Fn(&str) -> Option<String>>;

/// A coroutine (by its raw state) and how deep its stack was, for stepping.
struct StepFrom {
    /// Held so the coroutine (and so its raw state's address) lives while stepping.
    #[allow(dead_code)]
    thread: Thread,
    state: usize,
    depth: i32,
}

enum Step {
    None,
    Over(StepFrom),
    In,
    Out(StepFrom),
}

/// What we know while the program is stopped; dropped when it resumes.
struct Paused {
    thread: Thread,
    level: i32,
    reason: &'static str,
    /// The error, when stopped on one.
    error: Option<String>,
    frames: Option<Vec<session::FrameRec>>,
    refs: Vec<Target>,
    /// The async origin chain current when the program stopped.
    origin: Option<Rc<Origin>>,
    /// The client that was sent the `stopped` event, so a configurationDone from it does not
    /// announce the same stop twice (a stale second event made it think a later stop came).
    announced_to: Option<u64>,
}

struct Client {
    id: u64,
    out: outbox::Outbox,
    /// Bytes of program output dropped (the client was not reading) and not yet reported.
    dropped: u64,
    /// The client speaks MobDebug, not DAP.
    mobdebug: bool,
}

struct State {
    client: Option<Client>,
    seq: Sequencer,
    bps: Breakpoints,
    step: Step,
    /// Stop at the next line of the program's own code, with this reason.
    pause: Option<&'static str>,
    configured: bool,
    /// Line events are wanted for the function now running (it has breakpoints, or we cannot
    /// tell yet: a coroutine switch, a return into C).
    line_on: bool,
    /// Return events are wanted: a function that spans a breakpoint may be below on the stack
    /// (we must see control come back to it). Off, the hook costs one call event per call.
    ret_watch: bool,
    /// The last line seen in each watched function (by coroutine and first line): LuaJIT
    /// reports a line again when a call made on it returns, which is not a new execution of
    /// that line (a breakpoint would hit once per call on it, a step would stop in place).
    last_line: HashMap<(usize, i32), i32>,
    paused: Option<Paused>,
    break_uncaught: bool,
    /// Errors caught by pcall stop too.
    break_all: bool,
    /// Function breakpoints: (id, the function's name as called: `run` for `M.run`).
    fn_bps: Vec<(i64, String)>,
    /// The function breakpoint that set `pause`, for the stopped event.
    fn_hit: Option<i64>,
    /// sourceReference - 1 -> chunk name, for sources with no file.
    source_refs: Vec<String>,
    /// Chunks `require` has loaded, in order (for loadedSources).
    loaded: Vec<String>,
    /// The MobDebug session's state (when the client speaks MobDebug).
    md: mobdebug::MobState,
    /// Which coroutine resumed which (raw states), told by the coroutine wrappers.
    resumers: HashMap<usize, usize>,
}

/// How many queued client messages one service call answers before the loop runs again.
const DRAIN_BATCH: usize = 64;

pub struct Debugger {
    lua: Lua,
    rx: Receiver<Incoming>,
    st: RefCell<State>,
    helper: Helper,
    sources: SourceText,
    origins: RefCell<Vec<Rc<Origin>>>,
    /// Inside `stop` (the program is stopped): requests are answered there.
    stopped: Cell<bool>,
    /// `terminate`/`disconnect{terminateDebuggee}`: end the process once the reply is out.
    terminate_after_reply: Cell<bool>,
    /// Turns the pcall/xpcall wrappers' "break on caught errors" on and off.
    break_all_switch: RefCell<Option<mlua::Function>>,
    /// The exception stopped at was caught (by pcall), for exceptionInfo's breakMode.
    caught: Cell<bool>,
    /// Started for MobDebug: the link a new IDE connection feeds (see `redial_mobdebug`).
    mobdebug_link: RefCell<Option<Arc<Link>>>,
    /// The transports' way in: told as each message is taken (their backpressure).
    link: Arc<Link>,
    /// Asks the loop to call `service` again (an inbox event, no signal).
    requeue: Arc<dyn Fn() + Send + Sync>,
    /// After a full batch, the program gets as long as the batch took before the next one.
    cooldown_until: Cell<Option<std::time::Instant>>,
    /// Told when a client comes (true) and goes (false): the runtime observes the loop for
    /// the debugger only while one is attached (see `on_client`).
    client_watch: RefCell<Option<ClientWatch>>,
}

/// See `Debugger::on_client`.
pub type ClientWatch = Rc<dyn Fn(bool)>;

/// What `start` tells the runtime.
pub struct Started {
    pub debugger: Rc<Debugger>,
    /// `ws://HOST:PORT/UUID`
    pub url: String,
}

thread_local! {
    static ACTIVE: RefCell<Option<Rc<Debugger>>> = const { RefCell::new(None) };
}

/// The debugger the hook calls, without a thread-local lookup per event: set once by
/// [`start`] from a reference that is never released (the debugger lives as long as the
/// process), and read on the Lua thread only.
static HOOK_TARGET: std::sync::atomic::AtomicPtr<Debugger> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// The debugger of this (Lua) thread, if one was started.
pub fn active() -> Option<Rc<Debugger>> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// Opens the inspector port and readies the debugger. `wake` must make the runtime's loop call
/// [`service`] soon on the Lua thread (the loop may be idle). Prints nothing: the runtime
/// prints `Debugger listening on <url>`.
pub fn start(
    lua: &Lua,
    main: *mut lua_State,
    opts: &Options,
    title: String,
    wake: Box<dyn Fn() + Send + Sync>,
    sources: SourceText,
) -> Result<Started, String> {
    let door = server::bind(&opts.host, opts.port, title).map_err(|e| {
        format!(
            "luvit: cannot open the inspector on {}:{}: {e}",
            opts.host, opts.port
        )
    })?;
    let url = if opts.tcp {
        format!("tcp://{}", door.addr)
    } else {
        door.ws_url()
    };
    let (d, link) = init(lua, main, wake, sources)?;
    if opts.tcp {
        tcp::spawn(door.listener, link)
    } else {
        server::spawn(door, link)
    }
    .map_err(|e| format!("luvit: inspector thread: {e}"))?;
    Ok(Started { debugger: d, url })
}

/// `--mobdebug`: dials the IDE at `host:port`. `Ok(None)` when no IDE answers (the caller
/// says so in one line and runs the program undebugged). `script` is the main chunk's name,
/// for LOAD's `201 Started`.
pub fn start_mobdebug(
    lua: &Lua,
    main: *mut lua_State,
    host: &str,
    port: u16,
    script: Option<String>,
    wake: Box<dyn Fn() + Send + Sync>,
    sources: SourceText,
) -> Result<Option<Rc<Debugger>>, String> {
    let stream = match mobdebug::dial(host, port) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let (d, link) = init(lua, main, wake, sources)?;
    // Until the IDE says BASEDIR, files are named relative to the working directory, as a
    // program run with `lua file.lua` names them for MobDebug.
    if let Ok(cwd) = std::env::current_dir() {
        d.st.borrow_mut().md.basedir = format!("{}/", cwd.to_string_lossy().trim_end_matches('/'));
    }
    if let Some(chunk) = script {
        let text = std::fs::read_to_string(chunk.trim_start_matches('@')).unwrap_or_default();
        let first: i32 = d
            .helper
            .call(lua, "firstline", (text, chunk.as_str()))
            .unwrap_or(1);
        d.st.borrow_mut().md.script = Some((chunk, first));
    }
    *d.mobdebug_link.borrow_mut() = Some(link.clone());
    mobdebug::spawn(stream, link).map_err(|e| format!("luvit: mobdebug thread: {e}"))?;
    Ok(Some(d))
}

/// A debugger with no transport of its own: the caller plays one, sending
/// [`Incoming`](server::Incoming) messages through the returned link and calling [`service`]
/// (the fuzz targets in tests/fuzz drive the real session code this way).
pub fn start_local(
    lua: &Lua,
    main: *mut lua_State,
    sources: SourceText,
) -> Result<(Rc<Debugger>, Arc<Link>), String> {
    init(lua, main, Box::new(|| {}), sources)
}

/// The debugger and the link its transports use.
fn init(
    lua: &Lua,
    main: *mut lua_State,
    wake: Box<dyn Fn() + Send + Sync>,
    sources: SourceText,
) -> Result<(Rc<Debugger>, Arc<Link>), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let wake: Arc<dyn Fn() + Send + Sync> = Arc::from(wake);
    let requeue = wake.clone();
    let link = Arc::new(Link::new(
        tx,
        Box::new(move || {
            hook::interrupt();
            wake();
        }),
    ));
    let helper = Helper::new(lua).map_err(|e| format!("luvit: debugger: {e}"))?;
    let d = Rc::new(Debugger {
        lua: lua.clone(),
        rx,
        st: RefCell::new(State {
            client: None,
            seq: Sequencer::default(),
            bps: Breakpoints::default(),
            step: Step::None,
            pause: None,
            configured: false,
            line_on: false,
            ret_watch: false,
            last_line: HashMap::new(),
            paused: None,
            break_uncaught: true,
            break_all: false,
            fn_bps: Vec::new(),
            fn_hit: None,
            source_refs: Vec::new(),
            resumers: HashMap::new(),
            loaded: Vec::new(),
            md: mobdebug::MobState::default(),
        }),
        helper,
        sources,
        origins: RefCell::new(Vec::new()),
        stopped: Cell::new(false),
        terminate_after_reply: Cell::new(false),
        break_all_switch: RefCell::new(None),
        caught: Cell::new(false),
        mobdebug_link: RefCell::new(None),
        link: link.clone(),
        requeue,
        cooldown_until: Cell::new(None),
        client_watch: RefCell::new(None),
    });
    hook::install(main, hook_entry);
    ACTIVE.with(|a| *a.borrow_mut() = Some(d.clone()));
    HOOK_TARGET.store(Rc::into_raw(d.clone()) as *mut Debugger, Ordering::SeqCst);
    let switch = install_coroutine_wrappers(lua).map_err(|e| format!("luvit: debugger: {e}"))?;
    *d.break_all_switch.borrow_mut() = Some(switch);
    Ok((d, link))
}

/// `coroutine.resume` and `coroutine.wrap` tell the debugger which coroutine is about to run
/// and who resumes it. LuaJIT fires no hook for its built-in resume, and a coroutine that
/// continues after a yield starts with no call event: without this, a breakpoint in a
/// coroutine that was suspended when it was set would not be seen.
const COROUTINE_WRAPPERS: &str = r#"
local onResume = ...
local co = coroutine
local resume, create, running, type, error = co.resume, co.create, co.running, type, error
co.resume = function(c, ...)
  onResume(c, (running()))
  return resume(c, ...)
end
local function rethrow(ok, ...)
  if ok then return ... end
  local err = ...
  if type(err) == 'string' then error(err, 3) end
  error(err, 0)
end
co.wrap = function(f)
  local c = create(f)
  return function(...)
    onResume(c, (running()))
    return rethrow(resume(c, ...))
  end
end

-- "All errors": errors caught by pcall/xpcall stop at their raise site too. The wrappers cost
-- one call while that filter is off.
local onCaught = select(2, ...)
local pcall0, xpcall0 = pcall, xpcall
local breakAll = false
local function caught(e) onCaught(e) return e end
_G.pcall = function(f, ...)
  if not breakAll then return pcall0(f, ...) end
  return xpcall0(f, caught, ...)
end
_G.xpcall = function(f, msgh, ...)
  if not breakAll then return xpcall0(f, msgh, ...) end
  return xpcall0(f, function(e) onCaught(e) return msgh(e) end, ...)
end
return function(on) breakAll = on end
"#;

/// Installs the wrappers; returns the switch for breaking on caught errors.
fn install_coroutine_wrappers(lua: &Lua) -> mlua::Result<mlua::Function> {
    let on_resume = lua.create_function(|_, (co, by): (Thread, Option<Thread>)| {
        if let Some(d) = active() {
            d.resuming(&co, by.as_ref());
        }
        Ok(())
    })?;
    let on_caught = lua.create_function(|lua, err: Value| {
        if let Some(d) = active() {
            let msg = match &err {
                Value::String(s) => s.to_string_lossy(),
                other => other
                    .to_string()
                    .unwrap_or_else(|_| "(error object)".into()),
            };
            d.error_raised(lua, None, &msg, true);
        }
        Ok(())
    })?;
    lua.load(COROUTINE_WRAPPERS)
        .set_name("=luvit-debugger")
        .call::<mlua::Function>((on_resume, on_caught))
}

/// Called by the runtime's loop (woken by a transport): answers what is waiting.
pub fn service(_lua: &Lua) {
    if let Some(d) = active() {
        if hook::BUSY.swap(true, Ordering::SeqCst) {
            return;
        }
        hook::PENDING.store(false, Ordering::SeqCst);
        d.drain();
        d.apply_mask();
        hook::BUSY.store(false, Ordering::SeqCst);
        d.rearm();
    }
}

unsafe extern "C-unwind" fn hook_entry(l: *mut lua_State, ar: *mut lua_Debug) {
    if hook::BUSY.load(Ordering::Relaxed) {
        return;
    }
    let d = HOOK_TARGET.load(Ordering::Relaxed);
    if d.is_null() {
        return;
    }
    // SAFETY: set once from a leaked Rc; the hook runs on the Lua thread that owns it.
    let d = &*d;
    if (*ar).event == ffi::LUA_HOOKCALL
        && !hook::PENDING.load(Ordering::Relaxed)
        && d.call_changes_nothing(l, ar)
    {
        return;
    }
    hook::BUSY.store(true, Ordering::SeqCst);
    // A panic must not unwind into LuaJIT's frames.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.on_hook(l, ar)));
    d.apply_mask();
    hook::BUSY.store(false, Ordering::SeqCst);
    d.rearm();
}

fn is_internal(source: &[u8]) -> bool {
    source.starts_with(b"@builtin:") || source == b"=dispatch" || source == b"=luvit-debugger"
}

impl Debugger {
    /// Messages arrived while the signal was held off: arm the count hook now.
    fn rearm(&self) {
        if hook::PENDING.load(Ordering::SeqCst) {
            hook::set_mask(hook::current_mask() | ffi::LUA_MASKCOUNT);
        }
    }

    /// The hook events the current state needs.
    fn apply_mask(&self) {
        let st = self.st.borrow();
        let stepping = !matches!(st.step, Step::None);
        let mut mask = 0;
        if !st.bps.is_empty() || !st.fn_bps.is_empty() || stepping {
            mask |= ffi::LUA_MASKCALL;
        }
        if (st.ret_watch && !st.bps.is_empty()) || stepping {
            mask |= ffi::LUA_MASKRET;
        }
        if stepping || st.pause.is_some() || (st.line_on && !st.bps.is_empty()) || st.md.watching()
        {
            mask |= ffi::LUA_MASKLINE;
        }
        if hook::PENDING.load(Ordering::SeqCst) {
            mask |= ffi::LUA_MASKCOUNT;
        }
        if mask != hook::current_mask() {
            hook::set_mask(mask);
        }
    }

    unsafe fn on_hook(&self, l: *mut lua_State, ar: *mut lua_Debug) {
        if hook::PENDING.swap(false, Ordering::SeqCst) {
            self.drain();
        }
        match (*ar).event {
            ffi::LUA_HOOKCALL => self.on_call(l, ar),
            ffi::LUA_HOOKRET | ffi::LUA_HOOKTAILCALL => self.on_return(l),
            ffi::LUA_HOOKLINE => self.on_line(l, ar),
            _ => self.on_count(l, ar),
        }
    }

    /// `co` is about to be resumed by `by` (None: the main thread): remember who resumed it, and
    /// watch its lines if a function on its stack has breakpoints.
    fn resuming(&self, co: &Thread, by: Option<&Thread>) {
        let state = co.to_pointer() as usize;
        let parent = match by {
            Some(t) => t.to_pointer() as usize,
            None => hook::main_state() as usize,
        };
        let mut st = self.st.borrow_mut();
        if st.resumers.len() > 10_000 {
            st.resumers.clear();
        }
        st.resumers.insert(state, parent);
        if st.bps.is_empty() || st.line_on {
            return;
        }
        let l = state as *mut lua_State;
        // SAFETY: `co` is alive (we hold it) and suspended: its frames are readable.
        let watch = unsafe {
            let mut ar: lua_Debug = std::mem::zeroed();
            let mut level = 0;
            let mut found = false;
            while let Some(fi) = hook::level_info(l, level, &mut ar) {
                if st.bps.in_function(fi.source, fi.first, fi.last) {
                    found = true;
                    break;
                }
                level += 1;
            }
            found
        };
        if watch {
            st.line_on = true;
            st.ret_watch = true;
            drop(st);
            if !hook::BUSY.load(Ordering::SeqCst) {
                self.apply_mask();
            }
        }
    }

    /// The call hook's fast path: true when `on_call` would change nothing (no function
    /// breakpoints, no step, the callee holds no breakpoint and lines are not watched now),
    /// so the event needs no state borrow, no mask update and no hold-off of the interrupt
    /// signal. Most calls of a program with breakpoints elsewhere end here: the slow path
    /// cost ~320 instructions a call, a keep-alive request making ~60 calls.
    unsafe fn call_changes_nothing(&self, l: *mut lua_State, ar: *mut lua_Debug) -> bool {
        let Ok(st) = self.st.try_borrow() else {
            return false;
        };
        if !st.fn_bps.is_empty() || !matches!(st.step, Step::None) {
            return false;
        }
        let Some(fi) = hook::function_info(l, ar) else {
            return false;
        };
        if fi.what == b"C" || fi.source == b"=luvit-debugger" {
            return true;
        }
        !st.line_on && !st.bps.in_function(fi.source, fi.first, fi.last)
    }

    unsafe fn on_call(&self, l: *mut lua_State, ar: *mut lua_Debug) {
        if !self.st.borrow().fn_bps.is_empty() {
            self.check_function_breakpoint(l, ar);
        }
        let Some(fi) = hook::function_info(l, ar) else {
            return;
        };
        if fi.what == b"C" || fi.source == b"=luvit-debugger" {
            // A C function runs no lines; whatever it calls gets its own call event. The
            // coroutine wrappers decide for the coroutine they resume.
            return;
        }
        let mut st = self.st.borrow_mut();
        let inside = st.bps.in_function(fi.source, fi.first, fi.last);
        st.line_on = inside;
        st.ret_watch |= inside;
        if inside || !matches!(st.step, Step::None) {
            // A fresh call: its first line is new even if the last call ended on it.
            st.last_line.remove(&(l as usize, fi.first));
        }
    }

    /// A function breakpoint names the called function: stop at its first line (the pause
    /// path: the next line of the program's code).
    unsafe fn check_function_breakpoint(&self, l: *mut lua_State, ar: *mut lua_Debug) {
        if ffi::lua_getinfo(l, c"n".as_ptr(), ar) == 0 || (*ar).name.is_null() {
            return;
        }
        let name = std::ffi::CStr::from_ptr((*ar).name).to_bytes();
        let mut st = self.st.borrow_mut();
        let hit = st.fn_bps.iter().find_map(|(id, want)| {
            let last = want.rsplit(['.', ':']).next().unwrap_or(want);
            (last.as_bytes() == name).then_some(*id)
        });
        if let Some(id) = hit {
            st.pause = Some("function breakpoint");
            st.fn_hit = Some(id);
        }
    }

    unsafe fn on_return(&self, l: *mut lua_State) {
        let mut ar: lua_Debug = std::mem::zeroed();
        let mut st = self.st.borrow_mut();
        // Returning into a C function (pcall ...) or out of a coroutine: we cannot tell where
        // control lands; the next line event decides.
        let on = match hook::level_info(l, 1, &mut ar) {
            None => true,
            Some(fi) => fi.what == b"C" || st.bps.in_function(fi.source, fi.first, fi.last),
        };
        st.line_on = on;
        if !on {
            // Still watching returns only if a breakpointed function is further down.
            let mut level = 2;
            let mut below = false;
            while let Some(fi) = hook::level_info(l, level, &mut ar) {
                if fi.what != b"C" && st.bps.in_function(fi.source, fi.first, fi.last) {
                    below = true;
                    break;
                }
                level += 1;
            }
            st.ret_watch = below;
        }
    }

    unsafe fn on_count(&self, l: *mut lua_State, ar: *mut lua_Debug) {
        let pause = self.st.borrow().pause;
        if let Some(reason) = pause {
            if let Some(fi) = hook::frame_info(l, ar) {
                if !is_internal(fi.source) && fi.line > 0 {
                    self.st.borrow_mut().pause = None;
                    self.stop(l, 0, reason, None, vec![]);
                }
            }
        }
    }

    unsafe fn on_line(&self, l: *mut lua_State, ar: *mut lua_Debug) {
        let Some(fi) = hook::frame_info(l, ar) else {
            return;
        };
        let (line, first, last) = (fi.line, fi.first, fi.last);
        if fi.source == b"=luvit-debugger" {
            return;
        }
        let internal = is_internal(fi.source);
        let source = fi.source.to_vec();
        let again = {
            let mut st = self.st.borrow_mut();
            if st.last_line.len() > 100_000 {
                st.last_line.clear();
            }
            st.last_line.insert((l as usize, first), line) == Some(line)
        };
        if again {
            // The same line, reported again after a call on it returned.
            return;
        }
        let pause = self.st.borrow().pause;
        if let Some(reason) = pause {
            if !internal {
                let hit = {
                    let mut st = self.st.borrow_mut();
                    st.pause = None;
                    st.fn_hit.take()
                };
                self.stop(l, 0, reason, None, hit.into_iter().collect());
                return;
            }
        }
        let step_stop = {
            let st = self.st.borrow();
            match &st.step {
                Step::None => false,
                Step::In => !internal,
                Step::Over(from) => from.state == l as usize && hook::depth(l) <= from.depth,
                Step::Out(from) => {
                    if from.state == l as usize {
                        hook::depth(l) < from.depth
                    } else {
                        // Out of a coroutine's body: the next line that is not in it.
                        from.depth <= 1 && !internal
                    }
                }
            }
        };
        if step_stop {
            self.stop(l, 0, "step", None, vec![]);
            return;
        }
        if !internal && self.st.borrow().md.watching() && self.md_check_watches(l) {
            return;
        }
        let bp = self.st.borrow_mut().bps.at(&source, line).map(|bp| {
            bp.hits += 1;
            bp.clone()
        });
        match bp {
            Some(bp) => self.breakpoint_hit(l, bp, &source),
            None => {
                let mut st = self.st.borrow_mut();
                if matches!(st.step, Step::None) && !st.bps.in_function(&source, first, last) {
                    st.line_on = false;
                }
            }
        }
    }

    unsafe fn breakpoint_hit(&self, l: *mut lua_State, bp: breakpoints::Breakpoint, source: &[u8]) {
        let thread = match inspect::thread_of(&self.lua, l) {
            Ok(t) => t,
            Err(_) => return,
        };
        if let Some(cond) = &bp.condition {
            let r: mlua::Result<(bool, Value)> =
                self.helper
                    .call(&self.lua, "condition", (thread.clone(), 0, cond.as_str()));
            match r {
                Ok((false, _)) => return,
                Ok((true, Value::String(err))) => {
                    let msg = format!(
                        "breakpoint condition '{cond}' failed: {}\n",
                        err.to_string_lossy()
                    );
                    self.output("stderr", &msg, None);
                }
                _ => {}
            }
        }
        if let Some(hc) = bp.hit_condition {
            if !hc.matches(bp.hits) {
                return;
            }
        }
        if let Some(msg) = &bp.log_message {
            let text: String = self
                .helper
                .call(&self.lua, "interpolate", (thread, 0, msg.as_str()))
                .unwrap_or_else(|e| format!("logpoint: {e}"));
            let src = String::from_utf8_lossy(source).into_owned();
            self.output("console", &format!("{text}\n"), Some((src, bp.line)));
            return;
        }
        self.stop(l, 0, "breakpoint", None, vec![bp.id]);
    }

    /// The runtime loaded a module's chunk: remember it, and tell a configured client.
    pub fn chunk_loaded(&self, chunk: &str) {
        let tell = {
            let mut st = self.st.borrow_mut();
            if st.loaded.iter().any(|c| c == chunk) {
                return;
            }
            st.loaded.push(chunk.to_string());
            st.client.is_some() && st.configured
        };
        if tell {
            if let Some(src) = self.source_json(chunk) {
                self.event("loadedSource", json!({ "reason": "new", "source": src }));
            }
        }
    }

    /// What the program wrote to its stdout or stderr, for the client's debug console.
    /// Returns true when the client took the bytes instead of the terminal (MobDebug's
    /// `OUTPUT stdout r`).
    pub fn program_output(&self, category: &str, bytes: &[u8]) -> bool {
        if self.is_mobdebug() {
            return category == "stdout" && self.md_output(bytes);
        }
        if self.has_client() && self.st.try_borrow_mut().is_ok() {
            self.output(category, &String::from_utf8_lossy(bytes), None);
        }
        false
    }

    /// Sends an output event (the debug console), unless the client's queue is over its
    /// budget (it does not read): then the bytes are dropped and counted, and the client hears
    /// how many with the next message that reaches it. The program never waits for a client.
    fn output(&self, category: &str, text: &str, at: Option<(String, i32)>) {
        if !self.output_fits(text.len()) {
            return;
        }
        let mut body = json!({ "category": category, "output": text });
        if let Some((src, line)) = at {
            if let Some(s) = self.source_json(&src) {
                body["source"] = s;
                body["line"] = json!(line);
            }
        }
        self.event("output", body);
    }

    /// Whether `len` more bytes of output fit the client's queue ([`outbox::OUTPUT_BUDGET`]);
    /// if not, they are counted as dropped. True with no client.
    fn output_fits(&self, len: usize) -> bool {
        let mut st = self.st.borrow_mut();
        match st.client.as_mut() {
            Some(c) if c.out.queued().saturating_add(len) > outbox::OUTPUT_BUDGET => {
                c.dropped = c.dropped.saturating_add(len as u64);
                false
            }
            _ => true,
        }
    }

    /// The bytes of output dropped since the client last heard of it (now reported).
    fn take_dropped(&self) -> u64 {
        let mut st = self.st.borrow_mut();
        st.client
            .as_mut()
            .map_or(0, |c| std::mem::take(&mut c.dropped))
    }

    /// Sends a DAP message (nothing for a MobDebug client: it speaks its own replies); the
    /// output dropped meanwhile, if any, is reported first.
    fn send(&self, msg: Json) {
        if !self.has_client() || self.is_mobdebug() {
            return;
        }
        let dropped = self.take_dropped();
        let mut st = self.st.borrow_mut();
        let notice = (dropped > 0).then(|| {
            st.seq.event(
                "output",
                json!({ "category": "console", "output": dropped_notice(dropped, "debugger client") }),
            )
        });
        if let Some(c) = st.client.as_ref() {
            if let Some(n) = notice {
                let _ = c.out.send(n.to_string());
            }
            let _ = c.out.send(msg.to_string());
        }
    }

    fn event(&self, name: &str, body: Json) {
        let msg = self.st.borrow_mut().seq.event(name, body);
        self.send(msg);
    }

    fn has_client(&self) -> bool {
        self.st.borrow().client.is_some()
    }

    fn is_mobdebug(&self) -> bool {
        self.st.borrow().client.as_ref().is_some_and(|c| c.mobdebug)
    }

    /// Stops the program: answers requests until the client resumes it or goes away.
    ///
    /// # Safety
    /// `l` is a live state and `level` one of its frames.
    unsafe fn stop(
        &self,
        l: *mut lua_State,
        level: i32,
        reason: &'static str,
        error: Option<String>,
        hit: Vec<i64>,
    ) {
        if !self.has_client() || self.stopped.get() {
            return;
        }
        let Ok(thread) = inspect::thread_of(&self.lua, l) else {
            return;
        };
        let origin = self.origins.borrow().last().cloned();
        {
            let mut st = self.st.borrow_mut();
            st.step = Step::None;
            st.pause = None;
            st.paused = Some(Paused {
                thread,
                level,
                reason,
                error: error.clone(),
                frames: None,
                refs: Vec::new(),
                origin,
                announced_to: None,
            });
        }
        self.stopped.set(true);
        let mut flow = session::Flow::Stay;
        if self.is_mobdebug() {
            let mut ar: lua_Debug = std::mem::zeroed();
            let at = if ffi::lua_getstack(l, level, &mut ar) != 0 {
                hook::frame_info(l, &mut ar)
                    .map(|fi| (String::from_utf8_lossy(fi.source).into_owned(), fi.line))
            } else {
                None
            };
            let (chunk, line) = at.unwrap_or_default();
            flow = self.md_paused(&chunk, line);
        }
        let mut body = json!({
            "reason": reason, "threadId": 1, "allThreadsStopped": true,
        });
        if let Some(e) = &error {
            body["text"] = json!(e);
            body["description"] = json!("Paused on exception");
        }
        if !hit.is_empty() {
            body["hitBreakpointIds"] = json!(hit);
        }
        if !self.is_mobdebug() {
            self.event("stopped", body);
            let mut st = self.st.borrow_mut();
            let client = st.client.as_ref().map(|c| c.id);
            if let Some(p) = st.paused.as_mut() {
                p.announced_to = client;
            }
        }
        while flow == session::Flow::Stay {
            let msg = match self.rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            };
            flow = self.take(msg);
            crate::oom::discard_pending();
        }
        self.stopped.set(false);
        let mut st = self.st.borrow_mut();
        st.paused = None;
        st.line_on = true;
        drop(st);
        if self.has_client() && !self.is_mobdebug() {
            self.event(
                "continued",
                json!({ "threadId": 1, "allThreadsContinued": true }),
            );
        }
    }

    /// Answers every message waiting (the program is running).
    /// Answers what is waiting, a batch at a time: a client flooding requests must not hold the
    /// program's loop (each message left has its own wake-up still queued in the loop).
    /// A flooding client gets at most half of the loop's time: after a full batch, later calls
    /// wait out a cooldown as long as the batch took (and ask to be called again after it).
    fn drain(&self) {
        let start = std::time::Instant::now();
        if self.cooldown_until.get().is_some_and(|t| start < t) {
            (self.requeue)();
            return;
        }
        let mut n = 0;
        while n < DRAIN_BATCH {
            let Ok(m) = self.rx.try_recv() else { break };
            let _ = self.take(m);
            crate::oom::discard_pending();
            n += 1;
        }
        if n == DRAIN_BATCH {
            let now = std::time::Instant::now();
            self.cooldown_until.set(Some(now + (now - start)));
        }
    }

    /// Handles one message from a transport.
    fn take(&self, msg: Incoming) -> session::Flow {
        match msg {
            Incoming::Connected { id, out, mobdebug } => {
                // A new client takes over; the old one's socket closes.
                let mut st = self.st.borrow_mut();
                st.client = Some(Client {
                    id,
                    out,
                    mobdebug,
                    dropped: 0,
                });
                st.seq = Sequencer::default();
                st.configured = false;
                st.md.pending_load = false;
                st.md.at = None;
                drop(st);
                self.tell_client_watch(true);
                session::Flow::Stay
            }
            Incoming::Disconnected { id } => {
                let current = self.st.borrow().client.as_ref().is_some_and(|c| c.id == id);
                if current {
                    self.detach();
                    session::Flow::Resume
                } else {
                    session::Flow::Stay
                }
            }
            Incoming::Message { id, text } => {
                self.link.consumed();
                let current = self.st.borrow().client.as_ref().is_some_and(|c| c.id == id);
                if !current {
                    return session::Flow::Stay;
                }
                if self.is_mobdebug() {
                    return self.mobdebug_command(&text);
                }
                self.request(&text)
            }
        }
    }

    /// The client went away: the program runs on as if never debugged.
    fn detach(&self) {
        let mut st = self.st.borrow_mut();
        st.client = None;
        // MobDebug's watches and pending replies belong to that client (a later one must not
        // inherit watches that stop it, nor the program evaluate them on every line meanwhile).
        st.md.watches.clear();
        st.md.fired = None;
        st.md.deferred = None;
        st.md.pending_run = false;
        st.md.pending_load = false;
        st.md.at = None;
        st.bps.clear();
        st.fn_bps.clear();
        st.step = Step::None;
        st.pause = None;
        st.configured = false;
        st.line_on = false;
        st.ret_watch = false;
        // Exception filters are the client's too: the next one starts from the defaults, as a
        // fresh debugger does (a DAP client that sends no setExceptionBreakpoints, or MobDebug,
        // must not stop at every caught error; fuzz finding dap_a_stop_heard_after_goodbye).
        let was_all = std::mem::replace(&mut st.break_all, false);
        st.break_uncaught = true;
        drop(st);
        if was_all {
            let switch = self.break_all_switch.borrow().clone();
            if let Some(f) = switch {
                let _ = f.call::<()>(false);
            }
        }
        self.tell_client_watch(false);
    }

    /// Calls `f(true)` when a client attaches and `f(false)` when it goes. The runtime
    /// attaches the debugger as a loop observer only meanwhile, as node's inspector collects
    /// async stacks only while a debugger is enabled: with no client, `--inspect` costs the
    /// program's callbacks nothing.
    pub fn on_client(&self, f: ClientWatch) {
        *self.client_watch.borrow_mut() = Some(f);
    }

    fn tell_client_watch(&self, attached: bool) {
        let f = self.client_watch.borrow().clone();
        if let Some(f) = f {
            f(attached);
        }
    }

    /// `mobdebug.start()` when the debugger already runs: nothing while a client is attached
    /// (or for a DAP debugger); after the IDE went away (killed, closed), dial it again and
    /// serve the new connection as the first. Returns whether an IDE is attached.
    pub fn redial_mobdebug(&self, host: &str, port: u16) -> bool {
        let link = self.mobdebug_link.borrow().clone();
        let Some(link) = link.filter(|_| !self.has_client()) else {
            return true;
        };
        let Ok(stream) = mobdebug::dial(host, port) else {
            return false;
        };
        if mobdebug::spawn(stream, link).is_err() {
            return false;
        }
        self.wait_for_client(false);
        self.has_client()
    }

    /// The program lets the client go (MobDebug's `done()`): it runs on undebugged.
    pub fn let_go(&self) {
        self.detach();
        self.apply_mask();
    }

    /// Stop at the next line of the program's own code (MobDebug's `pause()`).
    pub fn pause_soon(&self) {
        if self.has_client() {
            self.st.borrow_mut().pause = Some("pause");
            self.apply_mask();
        }
    }

    /// `--inspect-wait`/`--inspect-brk`: blocks until a client has attached and sent
    /// configurationDone; with `brk`, the program then stops on its first line.
    pub fn wait_for_client(&self, brk: bool) {
        hook::BUSY.store(true, Ordering::SeqCst);
        // A MobDebug IDE is dialed, not waited for: if it goes away (killed, closed) before its
        // RUN or STEP, no other will come and the program runs on.
        let dialed = self.mobdebug_link.borrow().is_some();
        while !self.st.borrow().configured {
            match self.rx.recv() {
                Ok(m) => {
                    let gone = matches!(m, Incoming::Disconnected { .. });
                    let _ = self.take(m);
                    if dialed && gone && !self.has_client() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        hook::PENDING.store(false, Ordering::SeqCst);
        if brk && self.has_client() {
            self.st.borrow_mut().pause = Some("entry");
        }
        self.apply_mask();
        hook::BUSY.store(false, Ordering::SeqCst);
        self.rearm();
    }

    /// The program is exiting with `code`: tell the client, give the transport a moment.
    pub fn exited(&self, code: i32) {
        if !self.has_client() {
            return;
        }
        if self.is_mobdebug() {
            // MobDebug's controller learns of the end when the socket closes.
            self.st.borrow_mut().client = None;
            std::thread::sleep(Duration::from_millis(20));
            return;
        }
        self.event("exited", json!({ "exitCode": code }));
        self.event("terminated", Json::Null);
        self.st.borrow_mut().client = None;
        // The transport thread writes asynchronously; the process is about to end.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// An error no one caught, seen where it was raised (the runtime's message handler, or
    /// the main chunk's dead coroutine, `thread`): stop with reason exception while its frames
    /// are still there.
    pub fn uncaught_error(&self, lua: &Lua, thread: Option<Thread>, message: &str) {
        self.error_raised(lua, thread, message, false)
    }

    /// An error was raised (`caught`: inside pcall/xpcall): stop if the client asked to.
    pub fn error_raised(&self, lua: &Lua, thread: Option<Thread>, message: &str, caught: bool) {
        let wanted = {
            let st = self.st.borrow();
            if caught {
                st.break_all
            } else {
                st.break_uncaught || st.break_all
            }
        };
        if !self.has_client() || !wanted || self.stopped.get() {
            return;
        }
        if hook::BUSY.swap(true, Ordering::SeqCst) {
            return;
        }
        let l = match &thread {
            Some(t) => t.to_pointer() as usize,
            // SAFETY: reads the current state's address.
            None => unsafe {
                lua.exec_raw::<usize>((), |cur| {
                    ffi::lua_pushinteger(cur, cur as usize as ffi::lua_Integer);
                })
                .unwrap_or(0)
            },
        };
        let l = l as *mut lua_State;
        if !l.is_null() {
            // SAFETY: `l` is the raising state (or the dead main coroutine), alive here.
            unsafe {
                let mut level = 0;
                let mut ar: lua_Debug = std::mem::zeroed();
                while let Some(fi) = hook::level_info(l, level, &mut ar) {
                    if fi.what != b"C"
                        && fi.source != b"=dispatch"
                        && fi.source != b"=luvit-debugger"
                    {
                        break;
                    }
                    level += 1;
                }
                hook::set_mask(0);
                self.caught.set(caught);
                self.stop(l, level, "exception", Some(message.to_string()), vec![]);
            }
        }
        self.apply_mask();
        hook::BUSY.store(false, Ordering::SeqCst);
        self.rearm();
    }

    /// A DAP `source` object for a chunk name: a path for files, a reference for the rest.
    fn source_json(&self, chunk: &str) -> Option<Json> {
        if let Some(path) = chunk.strip_prefix('@') {
            if let Some(name) = path.strip_prefix("builtin:") {
                let mut st = self.st.borrow_mut();
                let idx = match st.source_refs.iter().position(|c| c == chunk) {
                    Some(i) => i,
                    None => {
                        st.source_refs.push(chunk.to_string());
                        st.source_refs.len() - 1
                    }
                };
                return Some(json!({
                    "name": name, "sourceReference": idx + 1,
                    "presentationHint": "deemphasize", "origin": "built-in module",
                }));
            }
            let name = path.rsplit('/').next().unwrap_or(path);
            return Some(json!({ "name": name, "path": path }));
        }
        None
    }
}

impl LoopObserver for Debugger {
    fn callback_started(&self, run: &CallbackRun) {
        self.origins.borrow_mut().push(run.origin.clone());
    }
    fn callback_finished(&self, _run: &CallbackRun, _elapsed: Duration) {
        self.origins.borrow_mut().pop();
    }
    fn callback_relabeled(&self, origin: &Rc<Origin>) {
        if let Some(top) = self.origins.borrow_mut().last_mut() {
            *top = origin.clone();
        }
    }
}
