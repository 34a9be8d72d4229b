//! Origins for work that a built-in runs inside another callback: `uv._origin(kind, handler)`
//! keeps where it is called from (an HTTP server's creation) and the handler it will run, as a
//! userdata; a Rust module holding it (the HTTP parser, given it by `parser:setOrigin`) calls
//! [`KeptOrigin::enter`] when that work starts (a request head parsed inside a socket's read),
//! which relabels the running callback (see `dispatch::relabel`). Not part of luv's API.
//!
//! Why the parser enters and Lua does not: a call from Lua into a C function stops LuaJIT's
//! trace around it (trace stitching); the request path already makes one such call, to parse
//! the head, so the relabel rides on it and costs the request path no extra Lua-to-C call.

use std::cell::RefCell;
use std::ffi::{c_int, CStr};
use std::rc::{Rc, Weak};

use luvit_devtools::Origin;
use mlua::{ffi, Function, Lua};

use super::handle::Reg;
use crate::r#loop::{dispatch, EventLoop};

const ORIGIN_META: &CStr = c"luvit.origin";

type L = *mut ffi::lua_State;

/// An origin kept by Lua code: where (a server was created) and what it runs, and the last
/// origin made from it for a run inside a given callback (one per connection, not one per
/// request: the profiler remembers its site on an origin).
pub(crate) struct KeptOrigin {
    el: Weak<EventLoop>,
    template: Origin,
    last: RefCell<Option<Rc<Origin>>>,
}

impl KeptOrigin {
    /// Whether something observes the loop now (then `enter` has work to do).
    pub(crate) fn observed(&self) -> bool {
        self.el.upgrade().is_some_and(|el| el.observed())
    }

    /// Says the running callback is this origin's work from now on (a no-op when nothing
    /// observes the loop). True when it was relabeled.
    pub(crate) fn enter(&self) -> bool {
        let Some(el) = self.el.upgrade() else {
            return false;
        };
        if !el.observed() {
            return false;
        }
        // a second request in the same read is relabeled already: `under` gives the same
        // origin back and `relabel` sees it running
        dispatch::relabel(&el, self.under(el.current_origin()))
    }

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

/// The origin kept by the `uv._origin` userdata at `idx`, if it is one.
///
/// # Safety
/// `l` is a live Lua state and `idx` a valid stack index.
pub(crate) unsafe fn kept_at(l: L, idx: c_int) -> Option<Rc<KeptOrigin>> {
    let p = ffi::lua_touserdata(l, idx) as *const Rc<KeptOrigin>;
    if p.is_null() || ffi::lua_getmetatable(l, idx) == 0 {
        return None;
    }
    ffi::luaL_getmetatable(l, ORIGIN_META.as_ptr());
    let ours = ffi::lua_rawequal(l, -1, -2) != 0;
    ffi::lua_settop(l, -3);
    // SAFETY: its metatable says the userdata is one of ours, written by `register`'s
    // `_origin`, and alive (it is on the stack).
    ours.then(|| (*p).clone())
}

/// The kinds a built-in may name (an origin's kind is a static string).
fn kind(name: &str) -> Option<&'static str> {
    match name {
        "http request" => Some("http request"),
        _ => None,
    }
}

unsafe extern "C-unwind" fn origin_gc(l: L) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut Rc<KeptOrigin>;
    if !p.is_null() {
        // SAFETY: written by `_origin`, dropped once (the GC calls __gc once).
        std::ptr::drop_in_place(p);
    }
    0
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
            let kept = Rc::new(KeptOrigin {
                el: Rc::downgrade(&el),
                template,
                last: RefCell::new(None),
            });
            // SAFETY: C API calls on mlua's state inside its protected exec_raw; the userdata
            // is sized and aligned for an Rc (LuaJIT aligns userdata to 8 bytes) and gets the
            // metatable whose __gc drops it.
            unsafe {
                lua.exec_raw::<mlua::AnyUserData>((), |l| {
                    let p = ffi::lua_newuserdata(l, std::mem::size_of::<Rc<KeptOrigin>>())
                        as *mut Rc<KeptOrigin>;
                    std::ptr::write(p, kept);
                    ffi::luaL_getmetatable(l, ORIGIN_META.as_ptr());
                    ffi::lua_setmetatable(l, -2);
                })
            }
        },
    )?;
    // SAFETY: C API calls on mlua's state inside its protected exec_raw.
    unsafe {
        lua.exec_raw::<()>((), |l| {
            ffi::luaL_newmetatable(l, ORIGIN_META.as_ptr());
            ffi::lua_pushcfunction(l, origin_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_settop(l, -2);
        })?
    };
    Ok(())
}
