//! How the dispatch point calls a callback: the Lua side of the door (its message handler and
//! the `=dispatch` frame the callback runs on) and the raw protected call into it.
//!
//! A callback with up to four arguments is called as `callN(f, a, b, ...)`, a plain Lua
//! function of that arity, by `lua_pcall` from Rust with the message handler. Not through
//! `xpcall` from a Lua function: LuaJIT cannot compile a trace that returns into a `pcall`
//! frame, and a trace that starts after a call into C inside a callback (every request of an
//! HTTP server) runs on until it returns out of the callback; below an `xpcall` it aborted and
//! the end of every request ran interpreted. Below `callN` it ends cleanly at the C frame of
//! `lua_pcall`. `callN` keeps a `=dispatch` frame under the callback (the debugger's stack
//! and tracebacks stop there) and calls `f` with exactly its arguments. More arguments go
//! through the vararg `invoke`, which uses `xpcall` as before.

use mlua::{ffi, Function, Lua, MultiValue, Value};

use super::dispatch::MainState;

/// The Lua side. `handler` keeps the raised value and a traceback taken at the raise site,
/// without the frames of the door and the loop below the callback.
const DOOR: &str = r#"
local xpcall, traceback, tostring, type = xpcall, debug.traceback, tostring, type
local trace, onError
local function handler(err)
  if onError then onError(err) end
  local msg = err
  if type(err) ~= 'string' then
    local ok, s = pcall(tostring, err)
    msg = ok and s or '(error object is not a string)'
    -- errors raised by the runtime's Rust functions print as "runtime error: ..."
    msg = msg:gsub('^runtime error: ', '')
  end
  -- Cut the frames below the callback (this door and the loop) from the traceback.
  local t = traceback(msg, 2)
  local cut = t:find('\n%s*%[C%]: in function \'xpcall\'') or t:find('\n%s*dispatch:%d+:')
  trace = cut and t:sub(1, cut - 1) or t
  return err
end
local function invoke(f, ...)
  local ok, err = xpcall(f, handler, ...)
  if ok then return true end
  local t = trace
  trace = nil
  return false, err, t
end
local function takeTrace()
  local t = trace
  trace = nil
  return t
end
-- (a traceback names the function these call 'callback')
local calls = {
  function(callback) callback() end,
  function(callback, a) callback(a) end,
  function(callback, a, b) callback(a, b) end,
  function(callback, a, b, c) callback(a, b, c) end,
  function(callback, a, b, c, d) callback(a, b, c, d) end,
}
return invoke, function(h) onError = h end, handler, takeTrace, calls
"#;

/// The door's Lua functions, made once per state.
pub struct Door {
    /// `invoke(f, ...)`: `xpcall` with the handler; gives `true` or `false, err, trace`.
    pub invoke: Function,
    /// Sets the function called with every uncaught error at its raise site.
    pub set_error_hook: Function,
    handler: Function,
    take_trace: Function,
    /// `calls[n]` calls a callback of `n` arguments.
    calls: Vec<Function>,
}

/// A callback's error: the raised value and the traceback taken where it was raised.
pub type Raised = (Value, Option<String>);

impl Door {
    pub fn new(lua: &Lua) -> mlua::Result<Door> {
        let (invoke, set_error_hook, handler, take_trace, calls): (
            Function,
            Function,
            Function,
            Function,
            Vec<Function>,
        ) = lua.load(DOOR).set_name("=dispatch").call(())?;
        Ok(Door {
            invoke,
            set_error_hook,
            handler,
            take_trace,
            calls,
        })
    }

    /// Calls `f(args)` on `main` (or the current thread when null); `Ok(None)` when it
    /// returned, `Ok(Some(raised))` when it raised.
    pub fn call(
        &self,
        lua: &Lua,
        main: MainState,
        f: &Function,
        args: MultiValue,
    ) -> mlua::Result<Option<Raised>> {
        let Some(call) = self.calls.get(args.len()) else {
            let mut all = args;
            all.push_front(Value::Function(f.clone()));
            all.push_front(Value::Function(self.invoke.clone()));
            return match super::dispatch::call_on_main(lua, main, all)? {
                (true, _, _) => Ok(None),
                (false, err, trace) => Ok(Some((err, trace))),
            };
        };
        let n = args.len() as i32;
        let raised = lua.exec_raw_lua(|raw| -> mlua::Result<Option<Value>> {
            // SAFETY: what is pushed here is popped by `pcall_pushed` (or here on failure).
            unsafe {
                let cur = raw.state();
                let top = ffi::lua_gettop(cur);
                if ffi::lua_checkstack(cur, n + 4) == 0 {
                    return Err(mlua::Error::StackError);
                }
                let pushed = (|| {
                    raw.push(&self.handler)?;
                    raw.push(call)?;
                    raw.push(f)?;
                    for v in args {
                        raw.push_value(&v)?;
                    }
                    Ok(())
                })();
                if let Err(e) = pushed {
                    ffi::lua_settop(cur, top);
                    return Err(e);
                }
                let raised = pcall_pushed(cur, main, n)?;
                Ok(raised.then(|| raw.pop_value()))
            }
        })?;
        self.raised(raised)
    }

    /// Calls the function in the registry at `key` with `(nil, bytes)`, a stream read's
    /// arguments, pushed straight on the stack as luv pushes its chunks: no Lua references
    /// made and dropped for the callback and its chunk (mlua makes every string inside a
    /// protected call, ~1,500 instructions of a keep-alive request's read). Only where no
    /// allocation can fail (no address-space or data limit, no strict overcommit: Linux
    /// grants it, and a process out of memory meets the OOM killer): there pushing the chunk
    /// cannot raise. Elsewhere `dispatch::call_read` takes mlua's protected path.
    pub fn call_chunk(
        &self,
        lua: &Lua,
        main: MainState,
        key: std::ffi::c_int,
        bytes: &[u8],
        token: bool,
    ) -> mlua::Result<Option<Raised>> {
        if token {
            return crate::modules::uv::chunk_token::lend(bytes, |t| {
                // SAFETY: room for it was checked by `call_chunk_with`
                self.call_chunk_with(lua, main, key, |l| unsafe {
                    ffi::lua_pushlightuserdata(l, t)
                })
            });
        }
        // SAFETY: room was checked by `call_chunk_with`; where this path runs, no allocation
        // can fail, so the push cannot raise
        self.call_chunk_with(lua, main, key, |l| unsafe {
            ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
        })
    }

    /// `call_chunk` with the chunk argument pushed by `push` (which must not raise).
    fn call_chunk_with(
        &self,
        lua: &Lua,
        main: MainState,
        key: std::ffi::c_int,
        push: impl FnOnce(*mut ffi::lua_State),
    ) -> mlua::Result<Option<Raised>> {
        let raised = lua.exec_raw_lua(|raw| -> mlua::Result<Option<Value>> {
            // SAFETY: what is pushed here is popped by `pcall_pushed` (or here on failure);
            // no push below can raise where allocations cannot fail.
            unsafe {
                let cur = raw.state();
                let top = ffi::lua_gettop(cur);
                if ffi::lua_checkstack(cur, 6) == 0 {
                    return Err(mlua::Error::StackError);
                }
                let pushed = raw
                    .push(&self.handler)
                    .and_then(|()| raw.push(&self.calls[2]));
                if let Err(e) = pushed {
                    ffi::lua_settop(cur, top);
                    return Err(e);
                }
                ffi::lua_rawgeti(cur, ffi::LUA_REGISTRYINDEX, key as ffi::lua_Integer);
                ffi::lua_pushnil(cur);
                push(cur);
                let raised = pcall_pushed(cur, main, 2)?;
                Ok(raised.then(|| raw.pop_value()))
            }
        })?;
        self.raised(raised)
    }

    fn raised(&self, raised: Option<Value>) -> mlua::Result<Option<Raised>> {
        let Some(err) = raised else { return Ok(None) };
        let trace = self.take_trace.call::<Option<String>>(())?;
        Ok(Some((err, trace)))
    }
}

/// Calls what `cur` has on top, `handler, callN, f` and `n` arguments, under the handler,
/// on `main` (or `cur` when null), and pops all of it. Returns whether the call raised; then
/// the raised value is left on top of `cur`.
///
/// # Safety
/// Those `n + 3` values must be on top of `cur`.
unsafe fn pcall_pushed(cur: *mut ffi::lua_State, main: MainState, n: i32) -> mlua::Result<bool> {
    let l = if main.0.is_null() { cur } else { main.0 };
    if l != cur {
        // a callback runs on the main thread, as luv's do (see `call_on_main`)
        if ffi::lua_checkstack(l, n + 4) == 0 {
            ffi::lua_pop(cur, n + 3);
            return Err(mlua::Error::StackError);
        }
        ffi::lua_xmove(cur, l, n + 3);
    }
    let handler_at = ffi::lua_gettop(l) - (n + 2);
    let status = ffi::lua_pcall(l, n + 1, 0, handler_at);
    if status == ffi::LUA_OK {
        ffi::lua_settop(l, handler_at - 1);
        return Ok(false);
    }
    // the handler's result (or a memory error's message) on top; the handler below it goes
    ffi::lua_remove(l, handler_at);
    if l != cur {
        ffi::lua_xmove(l, cur, 1);
    }
    Ok(true)
}
