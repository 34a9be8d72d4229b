//! The dispatch point: the one door from the event loop into Lua.
//!
//! Every callback the loop runs (timer, I/O completion, check/idle, close, next tick) goes through
//! [`call`]. It runs the callback under a Lua message handler, so an error is seen where it was
//! raised with the stack intact; reports an uncaught error like node ('uncaughtException'
//! listeners on `process`, else the message and traceback on stderr and exit code 1); drains the
//! next-tick queue; and, only when devtools are attached, tells the [`LoopObserver`] which
//! callback ran, what scheduled it and for how long. With no observer the extra cost is a branch.
//!
//! [`LoopObserver`]: luvit_devtools::LoopObserver

use std::io::Write;
use std::rc::Rc;

use luvit_devtools::{CallbackFunction, CallbackRun, Origin, Site};
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::door::{Door, Raised};
use super::EventLoop;

/// A Lua function the loop will call later, with where it came from when devtools are on.
///
/// The function is kept in Lua's registry, not as an mlua reference: mlua holds those on an
/// auxiliary Lua thread whose stack LuaJIT caps at 8,000 slots (`LUAI_MAXCSTACK`), which
/// capped a server at about 4,000 open connections.
#[derive(Clone)]
pub struct Callback {
    f: Rc<Held<Function>>,
    pub origin: Option<Rc<Origin>>,
}

/// A Lua value held for the loop: in the registry, or (if that allocation failed) as a reference.
pub enum Held<T> {
    Key(mlua::RegistryKey),
    Ref(T),
}

impl<T: mlua::IntoLua + mlua::FromLua + Clone> Held<T> {
    pub fn new(lua: &Lua, v: T) -> Held<T> {
        match lua.create_registry_value(v.clone()) {
            Ok(k) => Held::Key(k),
            Err(_) => Held::Ref(v),
        }
    }

    pub fn get(&self, lua: &Lua) -> mlua::Result<T> {
        match self {
            Held::Key(k) => lua.registry_value(k),
            Held::Ref(v) => Ok(v.clone()),
        }
    }
}

impl Callback {
    /// Wraps `f`, recording its origin (`kind`, the scheduling Lua site, the current async
    /// origin) only when an observer is attached.
    pub fn new(lua: &Lua, el: &EventLoop, f: Function, kind: &'static str) -> Callback {
        Callback {
            f: Rc::new(Held::new(lua, f)),
            origin: origin_here(lua, el, kind),
        }
    }
}

/// The origin of a callback scheduled now, when observers want origins.
pub fn origin_here(lua: &Lua, el: &EventLoop, kind: &'static str) -> Option<Rc<Origin>> {
    el.observed().then(|| origin_now(lua, el, kind))
}

/// The origin of a callback scheduled now, observed or not (for the few places that keep one
/// for a long time: an HTTP server's requests).
pub fn origin_now(lua: &Lua, el: &EventLoop, kind: &'static str) -> Rc<Origin> {
    let (site, api) = scheduling_site(lua);
    Rc::new(Origin {
        kind,
        api,
        site,
        parent: el.current_origin(),
        function: None,
        memo: Default::default(),
    })
}

/// The innermost Lua frame that is the user's (not a built-in module), and the name of the
/// built-in function it called (the API that scheduled the callback: `setTimeout`, `listen`).
fn scheduling_site(lua: &Lua) -> (Option<Site>, Option<String>) {
    let mut api = None;
    for level in 1..32 {
        let Some((source, line, what, name)) = lua.inspect_stack(level, |d| {
            let src = d.source();
            let source = src.source.as_deref().unwrap_or("").to_string();
            let line = d.current_line().unwrap_or(0);
            let name = d.names().name.map(|n| n.to_string());
            (source, line, src.what, name)
        }) else {
            break;
        };
        if what != "C" && source.starts_with('@') && !source.starts_with("@builtin:") {
            let site = Site {
                source,
                line: line as u32,
            };
            return (Some(site), api);
        }
        if what != "C" {
            api = name;
        }
    }
    (None, None)
}

/// Builds the door once per state (see `door.rs`).
pub fn make_door(lua: &Lua) -> mlua::Result<Rc<Door>> {
    let door = Door::new(lua)?;
    lua.set_app_data(ErrorHookSetter(door.set_error_hook.clone()));
    Ok(Rc::new(door))
}

/// The invoker's setter for a function called with every uncaught error at its raise site.
struct ErrorHookSetter(Function);

/// Makes `hook(err)` run at the raise site of every error a callback does not catch (the
/// debugger stops there, frames intact).
pub fn set_error_hook(lua: &Lua, hook: Function) -> mlua::Result<()> {
    let setter = lua.app_data_ref::<ErrorHookSetter>().map(|s| s.0.clone());
    match setter {
        Some(s) => s.call(hook),
        None => Err(mlua::Error::runtime(
            "the dispatch invoker is not installed",
        )),
    }
}

/// Runs `cb` with `args` through the door, then the next ticks it queued.
pub fn call(lua: &Lua, el: &EventLoop, cb: &Callback, args: MultiValue) {
    let f = match cb.f.get(lua) {
        Ok(f) => f,
        Err(e) => return report_error(lua, el, e),
    };
    let ready = el.take_ready();
    run(lua, el, &f, cb.origin.as_ref(), ready, args);
    run_next_ticks(lua, el);
}

/// Runs a stream's read callback with `(nil, bytes)`, then the next ticks it queued. Where
/// nothing observes the loop and no allocation can fail, the callback and its chunk go on
/// the stack straight from the registry and the bytes (`Door::call_chunk`); else as `call`.
///
/// With `token` the chunk is lent as a token (`chunk_token.rs`), not made a string.
pub fn call_read(lua: &Lua, el: &EventLoop, cb: &Callback, bytes: &[u8], token: bool) {
    let door = el.door.borrow().clone();
    let fast = match (&*cb.f, door) {
        (Held::Key(k), Some(door)) if !luvit_devtools::oom::allocations_may_fail() => {
            Some((k.id(), door))
        }
        _ => None,
    };
    let Some((key, door)) = fast else {
        if token {
            return crate::modules::uv::chunk_token::lend(bytes, |t| {
                let mut args = args_with_room(2);
                args.push_back(Value::Nil);
                args.push_back(Value::LightUserData(mlua::LightUserData(t)));
                call(lua, el, cb, args)
            });
        }
        let args = string_arg(lua, bytes).map(|s| {
            let mut args = args_with_room(2);
            args.push_back(Value::Nil);
            args.push_back(s);
            args
        });
        return match args {
            Ok(args) => call(lua, el, cb, args),
            Err(e) => report_error(lua, el, e),
        };
    };
    let ready = el.take_ready();
    let body = || {
        through_door(lua, el, |main| {
            door.call_chunk(lua, main, key, bytes, token)
        })
    };
    let observers = el.observers();
    if observers.is_empty() {
        body();
    } else {
        let function = || cb.f.get(lua).ok();
        let function = CallbackFunction(&function);
        run_observed(el, &observers, function, cb.origin.as_ref(), ready, body);
    }
    run_next_ticks(lua, el);
}

/// One callback, told to the observers (when there are any) with its origin and duration.
fn run(
    lua: &Lua,
    el: &EventLoop,
    f: &Function,
    origin: Option<&Rc<Origin>>,
    ready: Option<u64>,
    args: MultiValue,
) {
    let observers = el.observers();
    if observers.is_empty() {
        return invoke(lua, el, f, args);
    }
    let function = || Some(f.clone());
    run_observed(
        el,
        &observers,
        CallbackFunction(&function),
        origin,
        ready,
        || invoke(lua, el, f, args),
    );
}

/// `body`, a callback's run, told to `observers` with its origin and duration.
fn run_observed(
    el: &EventLoop,
    observers: &[Rc<dyn luvit_devtools::LoopObserver>],
    function: CallbackFunction,
    origin: Option<&Rc<Origin>>,
    ready: Option<u64>,
    body: impl FnOnce(),
) {
    // A callback scheduled before the first observer was attached has no recorded origin.
    let origin = origin.cloned().unwrap_or_else(|| {
        Rc::new(Origin {
            kind: "callback",
            api: None,
            site: None,
            parent: None,
            function: None,
            memo: Default::default(),
        })
    });
    let prev = el.current_origin.replace(Some(origin.clone()));
    let run = CallbackRun {
        origin: &origin,
        function,
        ready,
        started: el.callback_start_ns(),
    };
    for o in observers.iter() {
        o.callback_started(&run);
    }
    body();
    let ended = luvit_devtools::clock::now_ns();
    let elapsed = std::time::Duration::from_nanos(ended.saturating_sub(run.started));
    // what the callback turned out to be (see `relabel`), moved out: `prev` goes back below
    let now = el.current_origin.borrow_mut().take();
    let finished = match now {
        Some(o) if !Rc::ptr_eq(&o, &origin) => o,
        _ => origin.clone(),
    };
    let run = CallbackRun {
        origin: &finished,
        ..run
    };
    for o in observers.iter().rev() {
        o.callback_finished(&run, elapsed);
    }
    *el.current_origin.borrow_mut() = prev;
    el.callback_ended_at(ended);
}

/// Says what the running callback really is: a built-in that runs a user's function inside
/// its own callback (an HTTP server runs the request handler inside the socket's read) names
/// it by `origin`, so the profilers and async stacks show an `http request` made where the
/// server was created rather than a read. The callback's measurements stay one record (a
/// relabel costs the request path next to nothing; a nested record of its own cost it 6% of
/// its instructions under the loop profiler). False when nothing observes the loop.
pub fn relabel(el: &EventLoop, origin: Rc<Origin>) -> bool {
    let observers = el.observers();
    if observers.is_empty() {
        return false;
    }
    if el
        .current_origin
        .borrow()
        .as_ref()
        .is_some_and(|o| Rc::ptr_eq(o, &origin))
    {
        return true;
    }
    *el.current_origin.borrow_mut() = Some(origin.clone());
    for o in observers.iter() {
        o.callback_relabeled(&origin);
    }
    true
}

/// How many callbacks are running (nested through next ticks and `uv.run`): the REPL's Ctrl-C
/// reads it from a signal handler to know whether the loop is busy in Lua.
static IN_CALLBACK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Whether a loop callback is running now (async-signal-safe: one atomic load).
pub fn in_callback() -> bool {
    IN_CALLBACK.load(std::sync::atomic::Ordering::Relaxed) > 0
}

fn invoke(lua: &Lua, el: &EventLoop, f: &Function, args: MultiValue) {
    let door = match el.door.borrow().as_ref() {
        Some(d) => d.clone(),
        None => unreachable!("the runtime installs the door before any Lua runs"),
    };
    through_door(lua, el, |main| door.call(lua, main, f, args));
}

/// Makes one call through the door (`call` gets the thread callbacks run on) and settles its
/// outcome: an error the callback raised is uncaught, one raised preparing it is reported.
fn through_door(
    lua: &Lua,
    el: &EventLoop,
    call: impl FnOnce(MainState) -> mlua::Result<Option<Raised>>,
) {
    let main = if el.callbacks_on_main(lua) {
        MainState(std::ptr::null_mut())
    } else {
        el.main_state
    };
    // (the 'uncaughtException' listeners run inside the count too)
    IN_CALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match call(main) {
        Ok(None) => {}
        Ok(Some((err, trace))) => uncaught(lua, el, err, trace),
        Err(e) => report_error(lua, el, e),
    }
    IN_CALLBACK.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// Calls `values[0](values[1..])` on the main Lua thread, like luv: when the loop runs inside
/// `uv.run()` called from a coroutine (the main chunk's, a test harness's), a callback must not
/// find itself inside that coroutine (`coroutine.running()`, yields across the C boundary).
pub(super) fn call_on_main(
    lua: &Lua,
    main: MainState,
    values: MultiValue,
) -> mlua::Result<(bool, Value, Option<String>)> {
    // SAFETY: `main` is the state the runtime created; pushing onto it and calling with
    // lua_pcall while a coroutine it resumed is suspended in Rust is what luv does with libuv.
    // Everything pushed is popped before returning, so the coroutine resumes on an intact stack.
    unsafe {
        lua.exec_raw::<(bool, Value, Option<String>)>(values, |cur| {
            use mlua::ffi;
            let n = ffi::lua_gettop(cur);
            let l = if main.0.is_null() { cur } else { main.0 };
            if l != cur {
                if ffi::lua_checkstack(l, n + 4) == 0 {
                    ffi::lua_settop(cur, 0);
                    ffi::lua_pushboolean(cur, 0);
                    ffi::lua_pushstring(cur, c"stack overflow in the main Lua thread".as_ptr());
                    ffi::lua_pushnil(cur);
                    return;
                }
                ffi::lua_xmove(cur, l, n);
            }
            let base = ffi::lua_gettop(l) - n;
            if ffi::lua_pcall(l, n - 1, 3, 0) != 0 {
                // Only memory errors get here: the invoker catches the callback's own errors.
                ffi::lua_pushboolean(l, 0);
                ffi::lua_insert(l, -2);
                ffi::lua_pushnil(l);
            }
            if l != cur {
                ffi::lua_xmove(l, cur, 3);
            }
            debug_assert_eq!(ffi::lua_gettop(l), if l != cur { base } else { base + 3 });
        })
    }
}

/// An empty argument list with room for `n` arguments and what the door puts in front of
/// them (the callee and the invoker), so a callback's call allocates once.
pub fn args_with_room(n: usize) -> MultiValue {
    MultiValue::with_capacity(n + 2)
}

/// `bytes` as a Lua string, pushed directly where no allocation can fail (see
/// `Door::call_chunk`), else through mlua's protected path so a failure is a Lua error.
fn string_arg(lua: &Lua, bytes: &[u8]) -> mlua::Result<Value> {
    if luvit_devtools::oom::allocations_may_fail() {
        return lua.create_string(bytes).map(Value::String);
    }
    lua.exec_raw_lua(|raw| {
        let state = raw.state();
        // SAFETY: pushes one string on the current state (room checked first) and pops it
        // into a reference at once; neither can raise where allocations cannot fail.
        unsafe {
            if mlua::ffi::lua_checkstack(state, 2) == 0 {
                return Err(mlua::Error::StackError);
            }
            mlua::ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            Ok(raw.pop_value())
        }
    })
}

/// The main Lua thread's raw state (null: call on whatever thread is current).
#[derive(Clone, Copy)]
pub struct MainState(pub *mut mlua::ffi::lua_State);

/// The invoker function, kept in the state's app data.
pub struct Invoker(pub Function);

/// Runs every queued `process.nextTick` callback (and the ones they queue).
pub fn run_next_ticks(lua: &Lua, el: &EventLoop) {
    loop {
        let next = el.next_ticks.borrow_mut().pop();
        match next {
            None => break,
            Some(Ok((f, args, origin))) => run(lua, el, &f, origin.as_ref(), None, args),
            Some(Err(e)) => report_error(lua, el, e),
        }
    }
}

/// An error raised by Rust while preparing a callback (converting its arguments).
pub fn report_error(lua: &Lua, el: &EventLoop, e: mlua::Error) {
    let msg = lua
        .create_string(e.to_string())
        .map(Value::String)
        .unwrap_or(Value::Nil);
    uncaught(lua, el, msg, None)
}

/// The runtime's own Lua to run when a callback raised, before the error is reported
/// (`runtime.onCallbackError`): lib/http.lua sends a response its handler finished before
/// raising (see its `readFast`).
struct CallbackErrorHook(Function);

pub fn set_callback_error_hook(lua: &Lua, f: Function) {
    lua.set_app_data(CallbackErrorHook(f));
}

/// An error no one caught: 'uncaughtException' listeners get it, else report and exit 1.
pub fn uncaught(lua: &Lua, el: &EventLoop, err: Value, trace: Option<String>) {
    let hook = lua.app_data_ref::<CallbackErrorHook>().map(|h| h.0.clone());
    if let Some(hook) = hook {
        if let Err(e) = hook.call::<()>(()) {
            eprintln!("luvit: the runtime's cleanup after a callback error failed: {e}");
        }
    }
    if let Ok(process) = lua.globals().get::<Table>("process") {
        let count = process
            .get::<Function>("listenerCount")
            .and_then(|f| f.call::<usize>((process.clone(), "uncaughtException")))
            .unwrap_or(0);
        if count > 0 {
            if let Ok(emit) = process.get::<Function>("emit") {
                let mut args = MultiValue::new();
                args.push_back(Value::Table(process.clone()));
                args.push_back(Value::String(
                    lua.create_string("uncaughtException")
                        .unwrap_or_else(|_| unreachable!()),
                ));
                args.push_back(err.clone());
                // A throwing listener is fatal, as in node.
                let invoker = lua.app_data_ref::<Invoker>().map(|i| i.0.clone());
                if let Some(invoker) = invoker {
                    let mut all = MultiValue::new();
                    all.push_back(Value::Function(emit));
                    all.extend(args);
                    match invoker.call::<(bool, Value, Option<String>)>(all) {
                        Ok((true, _, _)) => return,
                        Ok((false, e2, t2)) => fatal(lua, el, &e2, t2),
                        Err(e) => {
                            eprintln!("{e}");
                            exit_process(lua, 1)
                        }
                    }
                }
            }
        }
    }
    fatal(lua, el, &err, trace)
}

fn fatal(lua: &Lua, _el: &EventLoop, err: &Value, trace: Option<String>) -> ! {
    let text = match trace {
        Some(t) => t,
        None => describe(lua, err),
    };
    let _ = std::io::stdout().flush();
    eprintln!("Uncaught exception:\n{text}");
    exit_process(lua, 1)
}

/// `tostring` of an error value, through its `__tostring` if it has one.
pub fn describe(lua: &Lua, err: &Value) -> String {
    if let Value::String(s) = err {
        return s.to_string_lossy();
    }
    lua.globals()
        .get::<Function>("tostring")
        .and_then(|f| f.call::<String>(err.clone()))
        .unwrap_or_else(|_| "(error object is not a string)".to_string())
}

/// Ends the process like node: `process` emits 'exit', stdout is flushed, the code returned.
pub fn exit_process(lua: &Lua, code: i32) -> ! {
    static EXITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // process.exit() from an 'exit' listener ends the process without emitting again.
    let first = !EXITING.swap(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(process) = lua.globals().get::<Table>("process").ok().filter(|_| first) {
        let _ = process.set("exitCode", code);
        if let Ok(emit) = process.get::<Function>("emit") {
            if let Err(e) = emit.call::<()>((process, "exit", code)) {
                eprintln!("error in process 'exit' listener: {e}");
            }
        }
    }
    crate::inspector::exiting(lua, code);
    crate::profiling::finish();
    crate::modules::uv::net::tty_reset_mode();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}
