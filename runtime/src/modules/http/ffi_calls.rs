//! The HTTP server's per-request calls as plain C functions that lib/http.lua calls through
//! LuaJIT's FFI: parsing a bodyless request head into a struct, and writing a response in
//! steps (status line, each header, the end and the write).
//!
//! Why not the Lua C API (`raw.rs`) here: a call from compiled Lua into a C function of the
//! C API ends the trace (LuaJIT stitches a new one after it, through the interpreter), and
//! every value crossing costs a C API call (`lua_rawgeti`, `lua_type`, `lua_tolstring`, each
//! resolving a stack index). An FFI call compiles into the trace as a direct call, and Lua
//! reads the head from a struct and hands strings over as pointers. This is what OpenResty's
//! lua-resty-core does for nginx's API, for the same reason.
//!
//! The rules: these functions never call into Lua, never unwind (a panic is caught and
//! becomes a refusal), and trust only what they check. They are reachable only as addresses
//! lib/http.lua keeps to itself (user code has `ffi` anyway, so they grant nothing new).
//! Everything not on the common path (a chunked or long body, an upgrade, a parse error, an
//! observed loop, a partial write) goes back to the C API functions, which stay the whole
//! implementation.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::ffi;

use super::encode::{status_code, Response};
use super::parse::Event;
use super::raw::Parsing;
use crate::r#loop::{EventLoop, HandleId};

/// The most headers a head read through the struct may have (more go the C API way).
pub const MAX_HEADERS: usize = 32;

/// A bodyless request head as offsets into the parser's buffer (valid until its next push).
/// lib/http.lua declares the same layout.
#[repr(C)]
pub struct HeadOut {
    base: *const u8,
    /// keep-alive 1, expect-continue 4, no body 8, complete 16 (as nextMessage's flags).
    flags: i32,
    minor: i32,
    method: [i32; 2],
    path: [i32; 2],
    /// offset and length of each name, then of its value
    headers: [i32; 4 * MAX_HEADERS],
}

/// `next_head` found nothing for the struct and took nothing: call nextMessage(chunk).
const UNTOUCHED: c_int = -1;
/// `next_head` pushed the chunk and left an event: call nextMessage() with no chunk.
const PENDING: c_int = -2;

/// Pushes the read chunk lent now (`uv::chunk_token`: lib/http.lua calls this from the read
/// callback the chunk is lent to) into the parser whose userdata payload is `ud` and takes
/// the next event. A complete bodyless request head with nothing after it goes into
/// `out` and its header count is returned; anything else comes back as `UNTOUCHED` or
/// `PENDING` for the C API to hand on.
///
/// # Safety
/// `ud` must be a parser userdata's payload (lib/http.lua passes its own parsers only) and
/// `out` must point to a `HeadOut`.
pub unsafe extern "C" fn next_head(ud: *mut *mut Parsing, out: *mut HeadOut) -> c_int {
    if ud.is_null() || out.is_null() {
        return UNTOUCHED;
    }
    let Some(parsing) = (*ud).as_mut() else {
        return UNTOUCHED;
    };
    // An observed loop relabels the callback as the head is parsed: the C API's way.
    if parsing.pending.is_some() || parsing.origin.as_ref().is_some_and(|o| o.observed()) {
        return UNTOUCHED;
    }
    let Some(chunk) = crate::modules::uv::chunk_token::lent_now() else {
        return UNTOUCHED;
    };
    let out = &mut *out;
    catch_unwind(AssertUnwindSafe(|| {
        let p = &mut parsing.parser;
        p.push(chunk);
        let ev = p.next_event();
        let fits = matches!(ev, Ok(Event::Head)) && p.is_bodyless() && p.buffered() == 0 && {
            let h = p.head();
            !h.upgrade
                && !h.method.is_empty()
                && h.headers.len() <= MAX_HEADERS
                && p.buf().len() <= i32::MAX as usize
        };
        if !fits {
            parsing.pending = Some(ev);
            return PENDING;
        }
        p.end_if_bodyless();
        let h = p.head();
        let at = |r: &std::ops::Range<usize>| [r.start as i32, r.len() as i32];
        out.base = p.buf().as_ptr();
        out.flags = h.keep_alive as i32 | (h.expect_continue as i32) << 2 | 8 | 16;
        out.minor = h.minor as i32;
        out.method = at(&h.method);
        out.path = at(&h.path);
        for (i, (name, value)) in h.headers.iter().enumerate() {
            let [a, b] = at(name);
            let [c, d] = at(value);
            out.headers[4 * i..4 * i + 4].copy_from_slice(&[a, b, c, d]);
        }
        h.headers.len() as c_int
    }))
    .unwrap_or(UNTOUCHED)
}

/// The response being written by the FFI calls (one at a time: Lua makes the calls of one
/// response in a row, with nothing in between that could start another).
struct Writing {
    out: Vec<u8>,
    response: Option<Response>,
    /// How much of `out` left in the write (the rest is for `encodedRest`).
    sent: usize,
    /// Why the last call refused (for `encodeError`).
    error: String,
}

thread_local! {
    static WRITING: RefCell<Writing> = const {
        RefCell::new(Writing { out: Vec::new(), response: None, sent: 0, error: String::new() })
    };
}

/// A buffer above this size is freed after use rather than kept.
const KEEP: usize = 64 * 1024;

/// Runs `f` on the response being written; a refusal's message is kept for `encodeError`
/// and the call returns 1 (2 and up are `f`'s own answers, 0 is success).
fn with_writing(f: impl FnOnce(&mut Writing) -> Result<c_int, String>) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        WRITING.with(|w| {
            let Ok(mut w) = w.try_borrow_mut() else {
                return 1;
            };
            match f(&mut w) {
                Ok(n) => n,
                Err(msg) => {
                    w.response = None;
                    w.error = format!("encodeResponse: {msg}");
                    1
                }
            }
        })
    }))
    .unwrap_or(1)
}

/// # Safety
/// `p` must point to `len` readable bytes, or be null.
unsafe fn bytes<'a>(p: *const c_char, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

/// Starts a response: its status line (`reason` null: the code's usual phrase).
///
/// # Safety
/// `reason` must point to `reason_len` readable bytes, or be null.
pub unsafe extern "C" fn begin(
    code: f64,
    reason: *const c_char,
    reason_len: usize,
    flags: c_int,
) -> c_int {
    with_writing(|w| {
        let code = status_code(code)?;
        w.out.clear();
        w.sent = 0;
        w.response = Some(Response::begin(
            &mut w.out,
            code,
            bytes(reason, reason_len),
            flags as i64,
        ));
        Ok(0)
    })
}

/// One of the user's headers, its value a string.
///
/// # Safety
/// `name` and `value` must point to that many readable bytes.
pub unsafe extern "C" fn header(
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> c_int {
    with_writing(|w| {
        let (Some(name), Some(value)) = (bytes(name, name_len), bytes(value, value_len)) else {
            return Err("a header needs a name and a value".into());
        };
        let Some(r) = w.response.as_mut() else {
            return Err("no response begun".into());
        };
        r.header(&mut w.out, name, value).map(|()| 0)
    })
}

/// One of the user's headers, its value a number: 2 when it is not an integer that writes
/// as one (Lua then gives its text to `header`).
///
/// # Safety
/// `name` must point to `name_len` readable bytes.
pub unsafe extern "C" fn header_number(name: *const c_char, name_len: usize, value: f64) -> c_int {
    with_writing(|w| {
        let Some(name) = bytes(name, name_len) else {
            return Err("a header needs a name".into());
        };
        let Some(r) = w.response.as_mut() else {
            return Err("no response begun".into());
        };
        r.header_number(&mut w.out, name, value)
            .map(|done| if done { 0 } else { 2 })
    })
}

/// Ends the response (framing headers, the body; `length` -1: the body streams) and writes
/// it to stream `write_id` as far as the socket takes it (none when `write_id` or `el` is missing: negative, null). Returns
/// the framing bits (1 chunked, 2 keep-alive, 4 no body) plus 8 times the bytes not written,
/// which `encodedRest` gives; -1 when nothing was begun.
///
/// # Safety
/// `body` must point to `body_len` readable bytes, or be null; `el`, when not null, must be
/// the state's event loop.
pub unsafe extern "C" fn finish(
    length: f64,
    body: *const c_char,
    body_len: usize,
    write_id: f64,
    el: *const EventLoop,
) -> f64 {
    let mut result = -1.0;
    with_writing(|w| {
        let Some(r) = w.response.take() else {
            return Err("no response begun".into());
        };
        // (as the C API's `lua_tonumber(..) as u64`: a negative or NaN length is 0)
        let length = (length != -1.0).then_some(length as u64);
        let framing = r.finish(&mut w.out, length, bytes(body, body_len).unwrap_or(b""));
        let mut sent = 0;
        if write_id >= 0.0 && !el.is_null() {
            sent =
                crate::modules::uv::fast_write::write_now(Some(&*el), write_id as HandleId, &w.out)
                    .unwrap_or(0);
        }
        w.sent = sent;
        if sent == w.out.len() && w.out.capacity() > KEEP {
            w.out = Vec::new();
        }
        result = framing.bits() as f64 + 8.0 * (w.out.len() - sent) as f64;
        Ok(0)
    });
    result
}

/// `encodedRest()`: what the last `finish` did not write, as a string (then forgotten).
pub unsafe extern "C-unwind" fn encoded_rest(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checkstack(l, 2, std::ptr::null());
    let rest = WRITING.with(|w| {
        let Ok(mut w) = w.try_borrow_mut() else {
            return Vec::new();
        };
        let sent = w.sent.min(w.out.len());
        let rest = w.out[sent..].to_vec();
        w.out.clear();
        w.sent = 0;
        if w.out.capacity() > KEEP {
            w.out = Vec::new();
        }
        rest
    });
    ffi::lua_pushlstring(l, rest.as_ptr().cast::<c_char>(), rest.len());
    1
}

/// `encodeError()`: why the last refused call refused.
pub unsafe extern "C-unwind" fn encode_error(l: *mut ffi::lua_State) -> c_int {
    ffi::luaL_checkstack(l, 2, std::ptr::null());
    let msg = WRITING.with(|w| w.try_borrow().map(|w| w.error.clone()).unwrap_or_default());
    ffi::lua_pushlstring(l, msg.as_ptr().cast::<c_char>(), msg.len());
    1
}

/// The addresses lib/http.lua casts to function pointers.
pub fn addresses() -> [(&'static std::ffi::CStr, *mut c_void); 5] {
    [
        (c"nextHead", next_head as *mut c_void),
        (c"begin", begin as *mut c_void),
        (c"header", header as *mut c_void),
        (c"headerNumber", header_number as *mut c_void),
        (c"finish", finish as *mut c_void),
    ]
}
