//! Hooks for the built-in Lua modules to show the loop's observers (profilers, debugger) a
//! callback that runs inside another: `uv._origin(kind, handler)` keeps where it is called
//! from (an HTTP server's creation) and the handler it will run; `uv._enter(origin)` says the
//! running callback is that origin's (a request handler run inside a socket's read: see
//! `dispatch::relabel`); `uv._nested.on` says whether anything observes the loop, so the
//! request path makes no call at all when nothing does. Not part of luv's API.
//!
//! `_enter` is on the request path of every server under a profiler, so it is a plain Lua C
//! function (as the HTTP parser's methods are): mlua's argument conversion cost more than the
//! profiler's own bookkeeping.

use std::cell::RefCell;
use std::ffi::{c_int, CStr};
use std::rc::Rc;

use luvit_devtools::Origin;
use mlua::{ffi, Function, Lua};

use super::handle::Reg;
use crate::r#loop::{dispatch, EventLoop};

const ORIGIN_META: &CStr = c"luvit.origin";

/// An origin kept by Lua code: where (a server was created) and what it runs, and the last
/// origin made from it for a run inside a given callback (one per connection, not one per
/// request: the profiler remembers its site on an origin).
struct KeptOrigin {
    template: Origin,
    last: RefCell<Option<Rc<Origin>>>,
}

impl KeptOrigin {
    /// The origin of a run starting now: the kept site, under the callback running now (a
    /// request's async chain goes on to the read and the `listen` that accepted it).
    fn under(&self, current: Option<Rc<Origin>>) -> Rc<Origin> {
        let mut last = self.last.borrow_mut();
        if let Some(o) = last.as_ref() {
            // the callback was relabeled already (a second pipelined request in one read)
            if current.as_ref().is_some_and(|c| Rc::ptr_eq(c, o)) {
                return o.clone();
            }
            // the same parent, or one like it (a socket that stopped and started reading
            // again has a new read origin for the same site)
            let same = match (&o.parent, &current) {
                (Some(a), Some(b)) => {
                    Rc::ptr_eq(a, b)
                        || (std::ptr::eq(a.kind, b.kind) && a.site == b.site && a.api == b.api)
                }
                (None, None) => true,
                _ => false,
            };
            if same {
                return o.clone();
            }
        }
        let o = Rc::new(Origin {
            kind: self.template.kind,
            api: None,
            site: self.template.site.clone(),
            parent: current,
            function: self.template.function.clone(),
            memo: Default::default(),
        });
        *last = Some(o.clone());
        o
    }
}

/// The kinds a built-in may name (an origin's kind is a static string).
fn kind(name: &str) -> Option<&'static str> {
    match name {
        "http request" => Some("http request"),
        _ => None,
    }
}

type L = *mut ffi::lua_State;

unsafe extern "C-unwind" fn origin_gc(l: L) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut KeptOrigin;
    if !p.is_null() {
        // SAFETY: written by `new_origin`, dropped once (the GC calls __gc once).
        std::ptr::drop_in_place(p);
    }
    0
}

/// `uv._enter(origin)`: upvalue 1 is the event loop, upvalue 2 the origins' metatable.
unsafe extern "C-unwind" fn enter(l: L) -> c_int {
    let el = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const EventLoop;
    let kept = ffi::lua_touserdata(l, 1) as *const KeptOrigin;
    if el.is_null() || kept.is_null() || ffi::lua_getmetatable(l, 1) == 0 {
        return 0;
    }
    let ours = ffi::lua_rawequal(l, -1, ffi::lua_upvalueindex(2)) != 0;
    ffi::lua_settop(l, 0);
    if !ours {
        return 0;
    }
    // SAFETY: the loop lives as long as the Lua state (it is in its app data); the userdata
    // is one of ours (its metatable says so) and alive (it is our argument).
    let (el, kept) = (&*el, &*kept);
    // No Rust panic may cross the C frames around us.
    let entered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch::relabel(el, kept.under(el.current_origin()))
    }))
    .unwrap_or(false);
    ffi::lua_pushboolean(l, entered as c_int);
    1
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(
        lua,
        "_origin",
        None,
        |lua, (name, handler): (String, Option<Function>)| {
            let Some(kind) = kind(&name) else {
                return Err(mlua::Error::runtime(format!(
                    "uv._origin: unknown kind '{name}'"
                )));
            };
            let el = EventLoop::of(lua);
            let here = dispatch::origin_now(lua, &el, kind);
            // shown by its kind (`[http request] app.lua:3`), not by the API that created it
            let template = Origin {
                kind,
                api: None,
                site: here.site.clone(),
                parent: None,
                function: handler
                    .as_ref()
                    .map(luvit_devtools::profile::event_loop::definition),
                memo: Default::default(),
            };
            let kept = KeptOrigin {
                template,
                last: RefCell::new(None),
            };
            // SAFETY: C API calls on mlua's state inside its protected exec_raw; the userdata
            // is sized and aligned for a KeptOrigin (LuaJIT aligns userdata to 8 bytes, as
            // much as any field here needs) and gets the metatable whose __gc drops it.
            unsafe {
                lua.exec_raw::<mlua::AnyUserData>((), |l| {
                    let p = ffi::lua_newuserdata(l, std::mem::size_of::<KeptOrigin>())
                        as *mut KeptOrigin;
                    std::ptr::write(p, kept);
                    ffi::luaL_getmetatable(l, ORIGIN_META.as_ptr());
                    ffi::lua_setmetatable(l, -2);
                })
            }
        },
    )?;
    let el = EventLoop::of(lua);
    // SAFETY: as above; the closure's upvalues are the loop (a pointer that stays valid while
    // the state lives) and the origins' metatable, made here once.
    let enter_fn = unsafe {
        lua.exec_raw::<Function>((), |l| {
            ffi::luaL_newmetatable(l, ORIGIN_META.as_ptr());
            ffi::lua_pushcfunction(l, origin_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_pushlightuserdata(l, Rc::as_ptr(&el) as *mut std::ffi::c_void);
            ffi::lua_insert(l, -2);
            ffi::lua_pushcclosure(l, enter, 2);
        })?
    };
    r.uv.set("_enter", enter_fn)?;
    let flag = lua.create_table()?;
    r.uv.set("_nested", flag.clone())?;
    el.set_nested_flag(flag);
    Ok(())
}
