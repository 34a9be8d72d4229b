//! Builds a Lua state with the event loop, the native modules and the built-in Lua modules, then
//! runs the main program (script, `-e` code or stdin) and the loop, like luvit's `main.lua`.

use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::builtins;
use crate::cli::Command;
use crate::modules;
use crate::r#loop::dispatch::{self, Invoker, MainState};
use crate::r#loop::EventLoop;

/// Versions shown by `luvit -v` and `process.versions`.
pub fn versions(lua: &Lua) -> Vec<(&'static str, String)> {
    // Read off the `jit` table: no chunk to compile, and no Lua error raised and caught on
    // the way (`Chunk::eval` first tries `return <code>`, a syntax error here; unwinding it
    // kept 400 KB of unwind tables and libgcc resident in every idle process).
    let jit = lua
        .globals()
        .get::<Table>("jit")
        .and_then(|t| t.get::<String>("version"))
        .unwrap_or_else(|_| "unknown".into());
    vec![
        ("luvit", env!("CARGO_PKG_VERSION").to_string()),
        ("luajit", jit),
        ("tokio", "1".to_string()),
        ("mlua", "0.12".to_string()),
        ("devtools", luvit_devtools::version().to_string()),
    ]
}

/// A LuaJIT state on mimalloc (`lua_alloc.rs` says why), with the full standard library
/// (luvit programs expect `ffi`, `jit` and `debug`).
///
/// mlua's own constructor routes every Lua allocation through Rust's global allocator and its
/// accounting, slower for Lua's many small objects (json.parse of 6 MB: 57 ms against LuaJIT's
/// allocator's 45 ms), so the state is made here and handed to mlua. mlua does not close a
/// state it did not make: the process exit does.
fn new_state() -> Result<(Lua, MainState), String> {
    // SAFETY: a fresh state; mlua takes it over before anything else touches it.
    unsafe {
        let state = crate::lua_alloc::new_state();
        if state.is_null() {
            return Err("luvit: cannot create the Lua state (out of memory)".into());
        }
        mlua::ffi::luaL_openlibs(state);
        Ok((Lua::get_or_init_from_ptr(state).clone(), MainState(state)))
    }
}

/// A Lua state wired to an event loop.
pub struct Runtime {
    pub lua: Lua,
    pub el: Rc<EventLoop>,
}

impl Runtime {
    pub fn new() -> Result<Runtime, String> {
        // Like luvit, Lua code gets the full standard library (ffi, debug, jit): nothing the
        // Rust side relies on can be broken from Lua except through ffi, the user's choice.
        let (lua, main) = new_state()?;
        let el =
            EventLoop::new(main).map_err(|e| format!("luvit: cannot start the event loop: {e}"))?;
        lua.set_app_data(el.clone());
        let door = dispatch::make_door(&lua).map_err(|e| e.to_string())?;
        lua.set_app_data(Invoker(door.invoke.clone()));
        *el.door.borrow_mut() = Some(door);
        modules::install(&lua).map_err(|e| e.to_string())?;
        install_runtime_module(&lua).map_err(|e| e.to_string())?;
        Ok(Runtime { lua, el })
    }

    /// Runs the program and the loop to completion; returns the exit code.
    pub fn run_main(&self, exe: &str, command: &Command) -> i32 {
        let (mode, target, args) = match command {
            Command::Script { path, args } => ("script", path.as_bytes(), args.clone()),
            Command::Eval { code, args } => ("eval", code.as_bytes(), args.clone()),
            Command::Stdin { args } => ("stdin", &b""[..], args.clone()),
            Command::Version | Command::Help => return 0,
        };
        let r = (|| -> mlua::Result<i32> {
            // Into the list one at a time: mlua holds each Lua value Rust keeps in one of
            // LuaJIT's 8,000 C-stack slots (10,000 arguments once failed to start).
            let list = self.lua.create_table_with_capacity(args.len(), 0)?;
            for (i, a) in args.iter().enumerate() {
                list.raw_set(i + 1, self.lua.create_string(a)?)?;
            }
            self.boot(mode, target, exe, list, args.len())
        })();
        match r {
            Ok(code) => code,
            Err(e) => {
                eprintln!("luvit: {e}");
                1
            }
        }
    }

    /// Runs `code` (a dumped function) with `args` in this runtime as a thread body: luvit's
    /// globals and modules are there, its loop runs to completion; returns the results.
    pub fn run_thread(&self, code: &[u8], args: MultiValue) -> mlua::Result<Table> {
        let exe = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = args.len();
        let list = self.lua.create_sequence_from(args)?;
        self.boot("thread", code, &exe, list, n)
    }

    /// Calls the bootstrap `lib/init.lua` with its `boot` table (see the top of that file).
    fn boot<R: mlua::FromLuaMulti>(
        &self,
        mode: &str,
        target: &[u8],
        exe: &str,
        args: Table,
        nargs: usize,
    ) -> mlua::Result<R> {
        let _guard = self.el.enter();
        let boot = self.lua.create_table()?;
        boot.set("mode", mode)?;
        boot.set("target", self.lua.create_string(target)?)?;
        boot.set("exe", exe)?;
        boot.set("nargs", nargs)?;
        boot.set("args", args)?;
        let init =
            builtins::source("init").ok_or_else(|| mlua::Error::runtime("init.lua missing"))?;
        let f = self
            .lua
            .load(init.as_ref())
            .set_name(builtins::chunk_name("init"))
            .into_function()?;
        f.call::<R>(boot)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Lua values held by the loop and the app data must go before the state closes.
        self.el.clear_lua_refs();
        self.lua.remove_app_data::<Invoker>();
        self.lua.remove_app_data::<Rc<EventLoop>>();
    }
}

/// `require('runtime')`: the runtime's own hooks for the built-in Lua modules (not luvit API).
fn install_runtime_module(lua: &Lua) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "builtin",
        lua.create_function(|lua, name: String| match builtins::source(&name) {
            Some(src) => Ok((
                Value::String(lua.create_string(src.as_bytes())?),
                Value::String(lua.create_string(builtins::chunk_name(&name))?),
            )),
            None => Ok((Value::Nil, Value::Nil)),
        })?,
    )?;
    t.set(
        "builtins",
        lua.create_function(|lua, ()| {
            let list = lua.create_table()?;
            for (i, name) in builtins::names().enumerate() {
                list.set(i + 1, name)?;
            }
            Ok(list)
        })?,
    )?;
    t.set(
        "nextTick",
        lua.create_function(|lua, (f, args): (Function, MultiValue)| {
            EventLoop::of(lua).next_tick(lua, f, args)
        })?,
    )?;
    t.set(
        "setImmediatesPending",
        lua.create_function(
            |lua, (pending, handle): (bool, Option<crate::modules::uv::handle::H>)| {
                EventLoop::of(lua).set_immediates_pending(pending, handle.map(|h| h.id));
                Ok(())
            },
        )?,
    )?;
    t.set(
        "runTicks",
        lua.create_function(|lua, ()| {
            dispatch::run_next_ticks(lua, &EventLoop::of(lua));
            Ok(())
        })?,
    )?;
    t.set(
        "uncaught",
        lua.create_function(|lua, (err, trace): (Value, Option<String>)| {
            dispatch::uncaught(lua, &EventLoop::of(lua), err, trace);
            Ok(())
        })?,
    )?;
    t.set(
        "mobdebugStart",
        lua.create_function(|lua, (host, port): (String, u16)| {
            crate::inspector::mobdebug_start_from_lua(lua, &host, port)
        })?,
    )?;
    t.set(
        "mobdebugDone",
        lua.create_function(|lua, ()| {
            crate::inspector::mobdebug_done(lua);
            Ok(())
        })?,
    )?;
    t.set(
        "mobdebugPause",
        lua.create_function(|lua, ()| {
            crate::inspector::mobdebug_pause(lua);
            Ok(())
        })?,
    )?;
    t.set(
        "chunkLoaded",
        lua.create_function(|lua, chunk: String| {
            crate::inspector::chunk_loaded(lua, &chunk);
            Ok(())
        })?,
    )?;
    t.set(
        "mainError",
        lua.create_function(|lua, (co, err): (mlua::Thread, Value)| {
            crate::inspector::main_chunk_error(lua, &co, &err);
            Ok(())
        })?,
    )?;
    t.set(
        "onCallbackError",
        lua.create_function(|lua, f: Function| {
            dispatch::set_callback_error_hook(lua, f);
            Ok(())
        })?,
    )?;
    t.set(
        "exit",
        lua.create_function(|lua, code: Option<i32>| -> mlua::Result<()> {
            dispatch::exit_process(lua, code.unwrap_or(0))
        })?,
    )?;
    let versions_t = lua.create_table()?;
    for (k, v) in versions(lua) {
        versions_t.set(k, v)?;
    }
    t.set("versions", versions_t)?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set("runtime", lua.create_function(move |_, ()| Ok(t.clone()))?)?;
    Ok(())
}
