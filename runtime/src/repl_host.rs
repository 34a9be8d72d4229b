//! The runtime's side of the REPL (`luvit` on a terminal, `luvit -i`): the internal
//! `repl-host` module the bootstrap's stdin branch calls, and the [`Host`] it hands to
//! `luvit_devtools::repl`: lines delivered through the loop's inbox (next ticks drained after
//! each), luvit's pretty printer, a timer that holds the loop open while the REPL is, and
//! `process.exit`. Uncaught errors in callbacks are printed and the session goes on (node's
//! REPL does the same).

use std::sync::Arc;

use luvit_devtools::repl::{self, Host, Post};
use mlua::{Function, Lua, MultiValue, Table};

use crate::builtins;
use crate::cli::{Command, Options};
use crate::r#loop::{dispatch, Event, Target};
use crate::runtime::{versions, Runtime};

/// `luvit -i app.lua`: the program runs as stdin mode's REPL with the script (and its
/// arguments) in `args`, the script first. `None`: run the command as parsed.
pub fn command(opts: &Options) -> Option<Command> {
    match (&opts.command, opts.interactive) {
        (Command::Script { path, args }, true) => Some(Command::Stdin {
            args: std::iter::once(path.clone())
                .chain(args.iter().cloned())
                .collect(),
        }),
        _ => None,
    }
}

/// Makes `require('repl-host')` available to the bootstrap: `{ interactive, script,
/// start(scope) }`, where `scope` is the environment of the `-i` script (nil: `_G`).
pub fn install(rt: &Runtime, opts: &Options) -> mlua::Result<()> {
    let lua = &rt.lua;
    let t = lua.create_table()?;
    t.set("interactive", opts.interactive)?;
    if let (Command::Script { path, .. }, true) = (&opts.command, opts.interactive) {
        t.set("script", path.as_str())?;
    }
    let el = rt.el.clone();
    let main_state = el.main_state.0 as usize;
    t.set(
        "start",
        lua.create_function(move |lua, scope: Option<Table>| start(lua, &el, main_state, scope))?,
    )?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set(
        "repl-host",
        lua.create_function(move |_, ()| Ok(t.clone()))?,
    )?;
    Ok(())
}

/// The Lua half: keep-alive timer, error printing, what `exit` calls.
const GLUE: &str = r#"
local uv, process, builtinNames = ...
local requireLib = package.loaded['require']
local timer
process:on('uncaughtException', function(err)
  local ok, text = pcall(tostring, err)
  io.stderr:write('Uncaught exception: ', ok and text or '(error object is not a string)', '\n')
end)
local function keepAlive(on)
  if on and not timer then
    timer = uv.new_timer()
    uv.timer_start(timer, 1e9, 1e9, function() end)
  elseif not on and timer then
    uv.close(timer)
    timer = nil
  end
end
local function exit(code) process.exit(code) end
-- For completion: a loaded module, or a built-in one (loading those runs only our code).
local builtin = {}
for _, name in ipairs(builtinNames) do builtin[name] = true end
local function module(name)
  local v = rawget(package.loaded, name)
  if v ~= nil then return v end
  if builtin[name] and requireLib then
    local ok, exports = pcall(requireLib.builtin, name)
    if ok then return exports end
  end
end
return keepAlive, exit, module
"#;

fn start(
    lua: &Lua,
    el: &std::rc::Rc<crate::r#loop::EventLoop>,
    main_state: usize,
    scope: Option<Table>,
) -> mlua::Result<()> {
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    let uv: Table = loaded.get("uv")?;
    let process: Table = lua.globals().get("process")?;
    let modules: Vec<String> = builtins::names()
        .map(|n| n.to_string())
        .filter(|n| n != "init" && n != "require")
        .collect();
    let (keep_alive, exit, module): (Function, Function, Function) = lua
        .load(GLUE)
        .set_name("=repl-host")
        .call((uv, process, modules.clone()))?;
    let require: Function = lua.globals().get("require")?;
    let pp: Table = require.call("pretty-print")?;
    let dump: Function = pp.get("dump")?;
    let tx = el.sender();
    let post: Post = Arc::new(move |f: Box<dyn FnOnce(&Lua) + Send>| {
        let _ = tx.send(Event {
            at: crate::r#loop::stamp(),
            target: Target::Internal(Box::new(move |lua, el| {
                f(lua);
                dispatch::run_next_ticks(lua, el);
            })),
            args: Box::new(|_| Ok(MultiValue::new())),
        });
    });
    let v = versions(lua);
    let get = |name: &str| {
        v.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let greeting = format!(
        "Welcome to luvit-rs {} ({}). Type .help for help.",
        get("luvit"),
        get("luajit")
    );
    let host = Host {
        post,
        main_state: main_state as *mut mlua::ffi::lua_State,
        dump,
        module,
        scope,
        keep_alive,
        exit,
        greeting,
        modules,
        // Under --inspect the debugger owns LuaJIT's hook.
        interrupt_hook: lua.app_data_ref::<crate::inspector::Attached>().is_none(),
        in_callback: crate::r#loop::dispatch::in_callback,
        history: repl::default_history(),
    };
    repl::start(lua, host)
}
