//! `--inspect`: starts the devtools debugger on this runtime's Lua state and wires it to the
//! loop (wake-ups through the inbox, callback origins through the observer), the dispatch
//! point's error handler (uncaught errors stop the program where they were raised) and the
//! exit path (the client hears `exited`).

use std::rc::Rc;

use luvit_devtools::debug::{self, Debugger, Options};
use mlua::{Lua, MultiValue, Thread, Value};

use crate::builtins;
use crate::r#loop::{Event, Target};
use crate::runtime::Runtime;

/// The debugger, kept in the Lua state's app data.
pub struct Attached(pub Rc<Debugger>);

/// Makes the loop call the debugger soon (a transport got a message).
fn waker(rt: &Runtime) -> Box<dyn Fn() + Send + Sync> {
    let tx = rt.el.sender();
    Box::new(move || {
        let _ = tx.send(Event {
            at: crate::r#loop::stamp(),
            target: Target::Internal(Box::new(|lua: &Lua, _| debug::service(lua))),
            args: Box::new(|_| Ok(MultiValue::new())),
        });
    })
}

/// The text of the built-in modules, by chunk name.
fn sources() -> debug::SourceText {
    Box::new(|chunk: &str| {
        let name = chunk.strip_prefix("@builtin:")?.strip_suffix(".lua")?;
        builtins::source(name).map(|s| s.to_string())
    })
}

/// `--mobdebug`: dials the IDE; the program then waits, stopped before its first line, for
/// the IDE's RUN or STEP. With no IDE listening, one line on stderr and the program runs.
pub fn start_mobdebug(
    rt: &Runtime,
    host: &str,
    port: u16,
    script: Option<String>,
) -> Result<(), String> {
    let d = debug::start_mobdebug(
        &rt.lua,
        rt.el.main_state.0,
        host,
        port,
        script,
        waker(rt),
        sources(),
    )?;
    let Some(d) = d else {
        eprintln!("luvit: no MobDebug IDE at {host}:{port}; running without the debugger");
        return Ok(());
    };
    wire(rt, &d)?;
    d.wait_for_client(false);
    Ok(())
}

/// `require('mobdebug').start(host, port)` from a program: dial the IDE now (again, if the
/// one it had went away) and wait for its RUN or STEP. Returns whether an IDE answered.
pub fn mobdebug_start_from_lua(lua: &Lua, host: &str, port: u16) -> mlua::Result<bool> {
    if let Some(d) = lua.app_data_ref::<Attached>().map(|a| a.0.clone()) {
        return Ok(d.redial_mobdebug(host, port));
    }
    let el = crate::r#loop::EventLoop::of(lua);
    let tx = el.sender();
    let wake: Box<dyn Fn() + Send + Sync> = Box::new(move || {
        let _ = tx.send(Event {
            at: crate::r#loop::stamp(),
            target: Target::Internal(Box::new(|lua: &Lua, _| debug::service(lua))),
            args: Box::new(|_| Ok(MultiValue::new())),
        });
    });
    let d = debug::start_mobdebug(lua, el.main_state.0, host, port, None, wake, sources())
        .map_err(mlua::Error::runtime)?;
    let Some(d) = d else {
        eprintln!("luvit: no MobDebug IDE at {host}:{port}; running without the debugger");
        return Ok(false);
    };
    wire_parts(lua, &el, &d).map_err(mlua::Error::runtime)?;
    d.wait_for_client(false);
    Ok(true)
}

/// `require('mobdebug').done()`: the IDE lets go, the program runs on.
pub fn mobdebug_done(lua: &Lua) {
    if let Some(d) = lua.app_data_ref::<Attached>().map(|a| a.0.clone()) {
        d.let_go();
    }
}

/// `require('mobdebug').pause()`: stop at the next line.
pub fn mobdebug_pause(lua: &Lua) {
    if let Some(d) = lua.app_data_ref::<Attached>().map(|a| a.0.clone()) {
        d.pause_soon();
    }
}

/// Opens the inspector port and prints where it listens; with `wait`, blocks until a client
/// has attached and configured.
pub fn start(rt: &Runtime, opts: &Options, title: &str) -> Result<(), String> {
    let started = debug::start(
        &rt.lua,
        rt.el.main_state.0,
        opts,
        title.to_string(),
        waker(rt),
        sources(),
    )?;
    if !is_loopback(&opts.host) {
        eprintln!(
            "Warning: the debugger listens on {}, which other machines can reach: anyone who \
             connects can run code in this program.",
            opts.host
        );
    }
    eprintln!("Debugger listening on {}", started.url);
    let d = started.debugger;
    wire(rt, &d)?;
    if opts.wait {
        d.wait_for_client(opts.brk);
    }
    Ok(())
}

/// Connects a started debugger to the loop, stdio, the error handler and `require`.
fn wire(rt: &Runtime, d: &Rc<Debugger>) -> Result<(), String> {
    wire_parts(&rt.lua, &rt.el, d)
}

fn wire_parts(
    lua: &Lua,
    el: &Rc<crate::r#loop::EventLoop>,
    d: &Rc<Debugger>,
) -> Result<(), String> {
    // the debugger observes the loop (for async stacks) while a client is attached
    let observer: std::rc::Weak<Debugger> = Rc::downgrade(d);
    let loop_ = Rc::downgrade(el);
    let observing = std::cell::Cell::new(false);
    d.on_client(Rc::new(move |attached| {
        let (Some(d), Some(el)) = (observer.upgrade(), loop_.upgrade()) else {
            return;
        };
        let d: Rc<dyn luvit_devtools::LoopObserver> = d;
        if attached && !observing.replace(true) {
            el.attach_observer(d);
        } else if !attached && observing.replace(false) {
            el.detach_observer(&d);
        }
    }));
    lua.set_app_data(Attached(d.clone()));
    // `luvit dap` relays its program's stdout and stderr pipes itself.
    if std::env::var_os("LUVIT_DAP_ADAPTER").is_none() {
        let d = d.clone();
        crate::modules::uv::stream::set_stdio_tap(Some(Box::new(move |fd, bytes| {
            d.program_output(if fd == 2 { "stderr" } else { "stdout" }, bytes)
        })));
    }
    let hook = {
        let d = d.clone();
        lua.create_function(move |lua, msg: Value| {
            d.uncaught_error(lua, None, &describe(&msg));
            Ok(())
        })
        .map_err(|e| e.to_string())?
    };
    crate::r#loop::dispatch::set_error_hook(lua, hook).map_err(|e| e.to_string())
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string_lossy(),
        other => other
            .to_string()
            .unwrap_or_else(|_| "(error object is not a string)".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The main chunk raised: its coroutine is dead but its frames are still there to show.
pub fn main_chunk_error(lua: &Lua, co: &Thread, err: &Value) {
    let d = lua.app_data_ref::<Attached>().map(|a| a.0.clone());
    if let Some(d) = d {
        d.uncaught_error(lua, Some(co.clone()), &describe(err));
    }
}

/// `require` loaded a chunk (the debugger lists it in loadedSources).
pub fn chunk_loaded(lua: &Lua, chunk: &str) {
    let d = lua.app_data_ref::<Attached>().map(|a| a.0.clone());
    if let Some(d) = d {
        d.chunk_loaded(chunk);
    }
}

/// The program is ending with `code`.
pub fn exiting(lua: &Lua, code: i32) {
    let d = lua.app_data_ref::<Attached>().map(|a| a.0.clone());
    if let Some(d) = d {
        d.exited(code);
    }
}
