//! The HTTP response path's write: `uv._stream_id(handle)` once per connection, then
//! `uv._try_write(id, string)` per response, a plain Lua C function. `uv.try_write` is an
//! mlua function: unwrapping its handle userdata and turning its arguments into values cost
//! ~1,300 instructions a call, 4% of a keep-alive request. By id, the stream is one map
//! lookup away. Same results as `uv.try_write`: bytes written, or `nil, message, name`.
//! Private to the runtime's own Lua (lib/http.lua); the luv API is unchanged.

use std::cell::RefCell;
use std::ffi::c_int;
use std::rc::{Rc, Weak};

use mlua::ffi::{self, lua_State};
use mlua::Lua;

use super::errors::UvError;
use super::handle::{Reg, H};
use super::stream::Stream;
use crate::r#loop::{EventLoop, HandleId, IdMap};

thread_local! {
    /// The loop thread's streams by handle id (ids are never reused).
    static BY_ID: RefCell<IdMap<Weak<Stream>>> = RefCell::new(IdMap::default());
}

/// Makes `stream` writable by id.
pub fn remember(stream: &Rc<Stream>) {
    BY_ID.with(|m| m.borrow_mut().insert(stream.id, Rc::downgrade(stream)));
}

/// The stream `id` is closed or dropped.
pub fn forget(id: HandleId) {
    let _ = BY_ID.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.remove(&id);
        }
    });
}

fn by_id(id: HandleId) -> Option<Rc<Stream>> {
    BY_ID.with(|m| m.borrow().get(&id).and_then(Weak::upgrade))
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "_stream_id", None, |_, h: H| {
        Ok(h.stream("_stream_id")?.id)
    })?;
    r.add_raw(lua, "_try_write", raw_try_write)
}

/// Writes what the socket of stream `id` takes now, like `uv.try_write` (EAGAIN while writes
/// are queued); EBADF once the handle is closing or gone.
pub fn write_now(el: Option<&EventLoop>, id: HandleId, data: &[u8]) -> Result<usize, UvError> {
    let closing = el.is_none_or(|el| el.is_closing(id));
    match by_id(id) {
        Some(s) if !closing => s.try_write(data),
        _ => Err(UvError::new("EBADF", Some("handle is closed"))),
    }
}

/// `uv._try_write(id, string)`.
unsafe extern "C-unwind" fn raw_try_write(l: *mut lua_State) -> c_int {
    if ffi::lua_type(l, 2) != ffi::LUA_TSTRING {
        // nothing of ours is on the Rust stack yet: the error may unwind through this frame
        return ffi::luaL_error(
            l,
            c"bad argument #2 to '_try_write' (string expected)".as_ptr(),
        );
    }
    let id = ffi::lua_tointeger(l, 1) as HandleId;
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 2, &mut len);
    // SAFETY: Lua keeps the string (argument 2) alive and unmoved during this call.
    let data = std::slice::from_raw_parts(p.cast::<u8>(), len);
    match write_now(super::misc::loop_of(l), id, data) {
        Ok(n) => {
            ffi::lua_pushinteger(l, n as ffi::lua_Integer);
            1
        }
        Err(e) => {
            ffi::lua_pushnil(l);
            ffi::lua_pushlstring(l, e.message.as_ptr().cast(), e.message.len());
            ffi::lua_pushlstring(l, e.name.as_ptr().cast(), e.name.len());
            3
        }
    }
}
