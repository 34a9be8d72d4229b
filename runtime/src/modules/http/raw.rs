//! The HTTP hot path as plain Lua C functions: the parser userdata and its methods,
//! `encodeHead` and `encodeResponse`.
//!
//! Why not mlua's safe API here: every table field or string it creates is a protected call
//! of its own, which made one parsed head cost ~3 µs and one encoded response ~4 µs; on the raw
//! stack both are a few hundred ns. The rules that keep this sound: arguments are checked
//! before use; anything that can raise a Lua error (only allocation, or a deliberate
//! `lua_error`) happens with no Rust value that needs dropping still alive, except where a
//! raise can only be an out-of-memory error (LuaJIT unwinds those through our frames, which
//! runs the destructors).

use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use mlua::ffi;

use std::rc::Rc;

use super::encode::{
    is_token, push_value, status_code, write_header, Digits, Framing, Response, Seen,
};
use super::parse::{Event, Kind, ParseError, Parser};
use super::reason_for;
use crate::modules::uv::origin::{kept_at, KeptOrigin};

const PARSER_META: &CStr = c"luvit.http.parser";

type L = *mut ffi::lua_State;

unsafe fn push_bytes(l: L, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
}

/// A chunk for the parser: a string, or a read chunk lent as a token (`uv::chunk_token`).
/// `Err` for a token that is not lent now (kept past its read callback, or made up).
unsafe fn chunk_at<'a>(l: L, idx: c_int) -> Result<Option<&'a [u8]>, ()> {
    if ffi::lua_type(l, idx) == ffi::LUA_TLIGHTUSERDATA {
        return crate::modules::uv::chunk_token::bytes_of(ffi::lua_touserdata(l, idx))
            .map(Some)
            .ok_or(());
    }
    Ok(bytes_at(l, idx))
}

const STALE_TOKEN: &str = "http parser: a read chunk token used after its read callback returned";

unsafe fn set_str(l: L, bytes: &[u8], key: &CStr) {
    push_bytes(l, bytes);
    ffi::lua_setfield(l, -2, key.as_ptr());
}

unsafe fn set_bool(l: L, value: bool, key: &CStr) {
    ffi::lua_pushboolean(l, value as c_int);
    ffi::lua_setfield(l, -2, key.as_ptr());
}

/// The bytes of the string (or number) at `idx`, if it is one.
unsafe fn bytes_at<'a>(l: L, idx: c_int) -> Option<&'a [u8]> {
    let t = ffi::lua_type(l, idx);
    if t != ffi::LUA_TSTRING && t != ffi::LUA_TNUMBER {
        return None;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// Raises `msg` as a Lua error. Nothing that needs dropping may be alive in the caller.
unsafe fn raise(l: L, msg: &str) -> c_int {
    push_bytes(l, msg.as_bytes());
    ffi::lua_error(l)
}

// ---- the parser userdata -------------------------------------------------------------------

/// A parser userdata's payload: the parser, and the origin of the work each head it parses
/// starts (a server's `http request`, set by `setOrigin`).
pub(super) struct Parsing {
    pub(super) parser: Parser,
    pub(super) origin: Option<Rc<KeptOrigin>>,
    /// An event taken by the FFI path (`ffi_calls::next_head`) that it left for
    /// `nextMessage` to hand on (anything but a plain bodyless request head).
    pub(super) pending: Option<Result<Event, ParseError>>,
}

const PENDING: &str = "http parser: an event is waiting for nextMessage() with no chunk";

/// The parser `self` of a method. Every method holds the parser metatable as its upvalue 1:
/// comparing it with argument 1's metatable is the check `luaL_checkudata` makes, without
/// interning the metatable's registry name (200 instructions a call, six calls a request).
unsafe fn parsing_at<'a>(l: L) -> &'a mut Parsing {
    let ud = ffi::lua_touserdata(l, 1) as *mut *mut Parsing;
    let ours = !ud.is_null() && ffi::lua_getmetatable(l, 1) != 0 && {
        let same = ffi::lua_rawequal(l, -1, ffi::lua_upvalueindex(1)) != 0;
        ffi::lua_pop(l, 1);
        same
    };
    if !ours {
        raise(
            l,
            "bad argument #1 (http parser expected): call it as parser:method()",
        );
    }
    if (*ud).is_null() {
        raise(l, "http parser used after it was freed");
    }
    &mut **ud
}

unsafe fn parser_at<'a>(l: L) -> &'a mut Parser {
    &mut parsing_at(l).parser
}

/// The parser, for a method that moves it on: refused while an event waits for nextMessage.
unsafe fn settled_parser_at<'a>(l: L) -> &'a mut Parser {
    let parsing = parsing_at(l);
    if parsing.pending.is_some() {
        raise(l, PENDING);
    }
    &mut parsing.parser
}

/// `newParser([kind[, luvitCodec]])`: kind 'request' (default) or 'response'; luvitCodec
/// frames messages as luvit's codec does (see `Parser::set_luvit_codec`).
unsafe extern "C-unwind" fn parser_new(l: L) -> c_int {
    let kind = match bytes_at(l, 1) {
        None if ffi::lua_isnoneornil(l, 1) != 0 => Kind::Request,
        Some(b"request") => Kind::Request,
        Some(b"response") => Kind::Response,
        _ => return raise(l, "newParser: kind must be 'request' or 'response'"),
    };
    let ud = ffi::lua_newuserdata(l, std::mem::size_of::<*mut Parsing>()) as *mut *mut Parsing;
    *ud = ptr::null_mut();
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PARSER_META.as_ptr());
    ffi::lua_setmetatable(l, -2);
    let mut parser = Parser::new(kind);
    parser.set_luvit_codec(ffi::lua_toboolean(l, 2) != 0);
    *ud = Box::into_raw(Box::new(Parsing {
        parser,
        origin: None,
        pending: None,
    }));
    1
}

unsafe extern "C-unwind" fn parser_gc(l: L) -> c_int {
    let ud = ffi::lua_touserdata(l, 1) as *mut *mut Parsing;
    if !ud.is_null() && !(*ud).is_null() {
        drop(Box::from_raw(*ud));
        *ud = ptr::null_mut();
    }
    0
}

/// Pushes luvit's head table for the parser's last head.
unsafe fn push_head(l: L, p: &Parser) {
    let h = p.head();
    let buf = p.buf();
    ffi::lua_createtable(l, h.headers.len() as c_int, 6);
    if h.method.is_empty() {
        ffi::lua_pushinteger(l, h.code as ffi::lua_Integer);
        ffi::lua_setfield(l, -2, c"code".as_ptr());
        set_str(l, &buf[h.reason.clone()], c"reason");
    } else {
        set_str(l, &buf[h.method.clone()], c"method");
        set_str(l, &buf[h.path.clone()], c"path");
    }
    ffi::lua_pushnumber(l, if h.minor == 0 { 1.0 } else { 1.1 });
    ffi::lua_setfield(l, -2, c"version".as_ptr());
    set_bool(l, h.keep_alive, c"keepAlive");
    if h.upgrade {
        set_bool(l, true, c"upgrade");
    }
    if h.expect_continue {
        set_bool(l, true, c"expectContinue");
    }
    if h.bodyless {
        set_bool(l, true, c"bodyless");
    }
    for (i, (name, value)) in h.headers.iter().enumerate() {
        ffi::lua_createtable(l, 2, 0);
        push_bytes(l, &buf[name.clone()]);
        ffi::lua_rawseti(l, -2, 1);
        push_bytes(l, &buf[value.clone()]);
        ffi::lua_rawseti(l, -2, 2);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
}

/// Pushes an event: a head table, a body string, "" (end), nothing (need more) or
/// `false, message, status`.
unsafe fn push_event(l: L, p: &Parser, ev: Result<Event, super::parse::ParseError>) -> c_int {
    ffi::luaL_checkstack(l, 8, ptr::null());
    match ev {
        Ok(Event::NeedMore) => 0,
        Ok(Event::End) => {
            push_bytes(l, b"");
            1
        }
        Ok(Event::Body(r)) => {
            push_bytes(l, &p.buf()[r]);
            1
        }
        Ok(Event::Head) => {
            push_head(l, p);
            1
        }
        Err(e) => {
            ffi::lua_pushboolean(l, 0);
            push_bytes(l, e.message.as_bytes());
            ffi::lua_pushinteger(l, e.status as ffi::lua_Integer);
            3
        }
    }
}

/// `parser:nextMessage([chunk])`: the server's reader. Like `next`, but a head comes as multiple
/// values with no head table: `headers, method|code, path|reason, minor, flags` (flags:
/// 1 keep-alive, 2 upgrade, 4 expect-continue, 8 no body, 16 complete: the message had no body
/// and its end is taken with the head (no '' event follows), 32 more: bytes are buffered past
/// the head). `headers` is the array of `{name, value}` pairs alone, ready to be a message's
/// header list. Needing more input gives `nil, buffered`. So a bodyless request costs the
/// server one call here, not four (every call from compiled Lua into C ends a trace).
unsafe extern "C-unwind" fn parser_next_message(l: L) -> c_int {
    let Parsing {
        parser: p,
        origin,
        pending,
    } = parsing_at(l);
    let ev = match pending.take() {
        Some(_) if ffi::lua_isnoneornil(l, 2) == 0 => return raise(l, PENDING),
        Some(ev) => ev,
        None => {
            match chunk_at(l, 2) {
                Ok(Some(chunk)) => p.push(chunk),
                Ok(None) => {}
                Err(()) => return raise(l, STALE_TOKEN),
            }
            p.next_event()
        }
    };
    if matches!(ev, Ok(Event::NeedMore)) {
        ffi::lua_pushnil(l);
        ffi::lua_pushinteger(l, p.buffered() as ffi::lua_Integer);
        return 2;
    }
    if !matches!(ev, Ok(Event::Head)) {
        return push_event(l, p, ev);
    }
    let complete = p.end_if_bodyless();
    if let Some(origin) = origin {
        // No Rust panic may cross the C frames around us.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| origin.enter()));
    }
    ffi::luaL_checkstack(l, 8, ptr::null());
    let h = p.head();
    let buf = p.buf();
    ffi::lua_createtable(l, h.headers.len() as c_int, 0);
    for (i, (name, value)) in h.headers.iter().enumerate() {
        ffi::lua_createtable(l, 2, 0);
        push_bytes(l, &buf[name.clone()]);
        ffi::lua_rawseti(l, -2, 1);
        push_bytes(l, &buf[value.clone()]);
        ffi::lua_rawseti(l, -2, 2);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
    if h.method.is_empty() {
        ffi::lua_pushinteger(l, h.code as ffi::lua_Integer);
        push_bytes(l, &buf[h.reason.clone()]);
    } else {
        push_bytes(l, &buf[h.method.clone()]);
        push_bytes(l, &buf[h.path.clone()]);
    }
    ffi::lua_pushinteger(l, h.minor as ffi::lua_Integer);
    let flags = h.keep_alive as i64
        | (h.upgrade as i64) << 1
        | (h.expect_continue as i64) << 2
        | (h.bodyless as i64) << 3
        | (complete as i64) << 4
        | ((p.buffered() > 0) as i64) << 5;
    ffi::lua_pushinteger(l, flags as ffi::lua_Integer);
    5
}

/// `parser:next([chunk])`: pushes `chunk` when given, then returns the next event.
unsafe extern "C-unwind" fn parser_next(l: L) -> c_int {
    let p = settled_parser_at(l);
    if let Some(chunk) = bytes_at(l, 2) {
        p.push(chunk);
    }
    let ev = p.next_event();
    push_event(l, p, ev)
}

unsafe extern "C-unwind" fn parser_push(l: L) -> c_int {
    let p = settled_parser_at(l);
    match chunk_at(l, 2) {
        Ok(Some(chunk)) => p.push(chunk),
        Ok(None) => return raise(l, "parser:push(chunk): chunk must be a string"),
        Err(()) => return raise(l, STALE_TOKEN),
    }
    0
}

unsafe extern "C-unwind" fn parser_finish(l: L) -> c_int {
    let p = settled_parser_at(l);
    let ev = p.finish();
    push_event(l, p, ev)
}

unsafe extern "C-unwind" fn parser_rest(l: L) -> c_int {
    let p = parser_at(l);
    let rest = p.take_rest();
    push_bytes(l, &rest);
    1
}

unsafe extern "C-unwind" fn parser_expect(l: L) -> c_int {
    let p = parser_at(l);
    match bytes_at(l, 2) {
        Some(m) => p.expect_response_to(m),
        None => return raise(l, "parser:expect(method): method must be a string"),
    }
    0
}

unsafe extern "C-unwind" fn parser_set_max(l: L) -> c_int {
    let p = parser_at(l);
    let n = ffi::lua_tonumber(l, 2);
    if n.is_nan() || n < 1.0 {
        return raise(l, "parser:setMaxHeaderSize(n): n must be a positive number");
    }
    p.set_max_head(n as usize);
    0
}

/// `parser:setOrigin(origin|nil)`: each head parsed from now on starts `origin`'s work (a
/// `uv._origin` value): the profilers and the debugger see the request, not the socket's read.
unsafe extern "C-unwind" fn parser_set_origin(l: L) -> c_int {
    let parsing = parsing_at(l);
    if ffi::lua_isnoneornil(l, 2) != 0 {
        parsing.origin = None;
        return 0;
    }
    match kept_at(l, 2) {
        Some(origin) => parsing.origin = Some(origin),
        None => {
            return raise(
                l,
                "parser:setOrigin(origin): origin must come from uv._origin",
            )
        }
    }
    0
}

unsafe extern "C-unwind" fn parser_buffered(l: L) -> c_int {
    let p = parser_at(l);
    ffi::lua_pushinteger(l, p.buffered() as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn parser_idle(l: L) -> c_int {
    let p = parser_at(l);
    ffi::lua_pushboolean(l, p.is_idle() as c_int);
    1
}

unsafe extern "C-unwind" fn parser_upgraded(l: L) -> c_int {
    let p = parser_at(l);
    ffi::lua_pushboolean(l, p.is_upgraded() as c_int);
    1
}

// ---- encoding ------------------------------------------------------------------------------

/// The version at `idx` ("1.0" or "1.1"; nil means 1.1).
unsafe fn version_at(l: L, idx: c_int) -> Result<&'static [u8], String> {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TNIL | ffi::LUA_TNONE => Ok(b"1.1"),
        ffi::LUA_TNUMBER => {
            let v = ffi::lua_tonumber(l, idx);
            if v == 1.0 {
                Ok(b"1.0")
            } else if (v - 1.1).abs() < 1e-9 {
                Ok(b"1.1")
            } else {
                Err(format!("unsupported HTTP version {v}"))
            }
        }
        _ => match bytes_at(l, idx) {
            Some(b"1.0") => Ok(b"1.0"),
            Some(b"1.1") => Ok(b"1.1"),
            _ => Err("unsupported HTTP version".into()),
        },
    }
}

/// Writes the `{name, value}` pairs of the table at `t` (absolute index) as header lines.
unsafe fn write_headers(l: L, t: c_int, out: &mut Vec<u8>, seen: &mut Seen) -> Result<(), String> {
    let mut i: ffi::lua_Integer = 1;
    loop {
        ffi::lua_rawgeti(l, t, i);
        match ffi::lua_type(l, -1) {
            ffi::LUA_TNIL => {
                ffi::lua_pop(l, 1);
                return Ok(());
            }
            ffi::LUA_TTABLE => {}
            _ => {
                ffi::lua_pop(l, 1);
                return Err("headers must be {name, value} pairs".into());
            }
        }
        ffi::lua_rawgeti(l, -1, 1);
        ffi::lua_rawgeti(l, -2, 2);
        // an integer value (a Content-Length) is written as Lua would show it, without
        // turning the table's number into an interned string first
        let mut digits = Digits::default();
        let number = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
            digits.of(ffi::lua_tonumber(l, -1))
        } else {
            None
        };
        let value = match number {
            Some(d) => Some(d),
            None => bytes_at(l, -1),
        };
        let (Some(name), Some(value)) = (bytes_at(l, -2), value) else {
            ffi::lua_pop(l, 3);
            return Err(format!(
                "header {i} needs a string name and a string or number value"
            ));
        };
        let written = write_header(out, seen, name, value);
        ffi::lua_pop(l, 3);
        written?;
        i += 1;
    }
}

unsafe fn field_at(l: L, t: c_int, key: &CStr) {
    ffi::lua_pushstring(l, key.as_ptr());
    ffi::lua_rawget(l, t);
}

/// `encodeHead(head)`: a request or response head (luvit's head table) as bytes.
unsafe fn encode_head(l: L) -> Result<Vec<u8>, String> {
    if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
        return Err("expected a head table".into());
    }
    ffi::luaL_checkstack(l, 8, ptr::null());
    let mut out = Vec::with_capacity(256);
    field_at(l, 1, c"version");
    let version = version_at(l, -1);
    ffi::lua_pop(l, 1);
    let version = version?;
    field_at(l, 1, c"method");
    if ffi::lua_isnil(l, -1) != 0 {
        ffi::lua_pop(l, 1);
        field_at(l, 1, c"code");
        let code = ffi::lua_tonumber(l, -1);
        ffi::lua_pop(l, 1);
        if !(100.0..1000.0).contains(&code) || code.fract() != 0.0 {
            return Err("a response head needs a status code from 100 to 999".into());
        }
        let code = code as u16;
        out.extend_from_slice(b"HTTP/");
        out.extend_from_slice(version);
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
        out.push(b' ');
        field_at(l, 1, c"reason");
        match bytes_at(l, -1) {
            Some(r) => push_value(&mut out, r),
            None => out.extend_from_slice(reason_for(code).as_bytes()),
        }
        ffi::lua_pop(l, 1);
    } else {
        field_at(l, 1, c"path");
        let (Some(method), Some(path)) = (bytes_at(l, -2), bytes_at(l, -1)) else {
            ffi::lua_pop(l, 2);
            return Err("a request head needs a string method and path".into());
        };
        if !is_token(method) {
            ffi::lua_pop(l, 2);
            return Err("invalid method".into());
        }
        if path.is_empty() || path.iter().any(|&b| b <= b' ' || b == 0x7f) {
            ffi::lua_pop(l, 2);
            return Err("expected non-empty path with no spaces or control characters".into());
        }
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        out.extend_from_slice(b" HTTP/");
        out.extend_from_slice(version);
        ffi::lua_pop(l, 2);
    }
    out.extend_from_slice(b"\r\n");
    write_headers(l, 1, &mut out, &mut Seen::default())?;
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

unsafe extern "C-unwind" fn encode_head_fn(l: L) -> c_int {
    match encode_head(l) {
        Ok(bytes) => {
            push_bytes(l, &bytes);
            1
        }
        Err(msg) => {
            let msg = format!("encodeHead: {msg}");
            push_bytes(l, msg.as_bytes());
            drop(msg);
            ffi::lua_error(l)
        }
    }
}

thread_local! {
    /// The buffer responses are encoded into, kept between calls (one malloc and free less
    /// per response); a big one is not kept.
    static ENCODED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A buffer above this size is freed after use rather than kept.
const KEEP_ENCODED: usize = 64 * 1024;

/// Encodes the whole response start (status line, the user's headers, then Date,
/// Content-Length or Transfer-Encoding and Connection as needed) and `body` framed to match
/// into `out`, from `encodeResponse`'s arguments.
unsafe fn encode_response(l: L, out: &mut Vec<u8>) -> Result<Framing, String> {
    ffi::luaL_checkstack(l, 8, ptr::null());
    let code = status_code(ffi::lua_tonumber(l, 1))?;
    if ffi::lua_type(l, 3) != ffi::LUA_TTABLE {
        return Err("headers must be a table".into());
    }
    let flags = ffi::lua_tointeger(l, 4) as i64;
    let length = if ffi::lua_isnoneornil(l, 5) != 0 {
        None
    } else {
        Some(ffi::lua_tonumber(l, 5) as u64)
    };
    let body = bytes_at(l, 6).unwrap_or(b"");
    // (a string only: checked first, as lua_tolstring would turn a number into one in place)
    let reason = if ffi::lua_type(l, 2) == ffi::LUA_TSTRING {
        bytes_at(l, 2)
    } else {
        None
    };
    let mut response = Response::begin(out, code, reason, flags);
    write_headers(l, 3, out, response.seen_mut())?;
    Ok(response.finish(out, length, body))
}

/// `encodeResponse(code, reason, headers, flags, length, body, [writeId])`: the response's
/// bytes, then `chunked, keepAlive, noBody`. With `writeId` (see `uv._stream_id`) the bytes
/// are written at once as far as the socket takes them, and what comes back is only the rest:
/// `''` when all of it left. The response then costs no Lua string and no second call into C
/// (a call from compiled Lua into C ends the trace). A write error leaves the bytes unsent:
/// the caller's own write meets it again and handles it.
unsafe extern "C-unwind" fn encode_response_fn(l: L) -> c_int {
    let mut out = ENCODED.take();
    out.clear();
    match encode_response(l, &mut out) {
        Ok(r) => {
            let mut sent = 0;
            if ffi::lua_type(l, 7) == ffi::LUA_TNUMBER {
                let id = ffi::lua_tointeger(l, 7) as crate::r#loop::HandleId;
                let el = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1))
                    as *const crate::r#loop::EventLoop;
                // SAFETY: set by `install` from the state's own loop, which outlives its calls.
                sent =
                    crate::modules::uv::fast_write::write_now(el.as_ref(), id, &out).unwrap_or(0);
            }
            push_bytes(l, &out[sent..]);
            if out.capacity() <= KEEP_ENCODED {
                ENCODED.set(out);
            }
            ffi::lua_pushboolean(l, r.chunked as c_int);
            ffi::lua_pushboolean(l, r.keep_alive as c_int);
            ffi::lua_pushboolean(l, r.no_body as c_int);
            4
        }
        Err(msg) => {
            ENCODED.set(out);
            let msg = format!("encodeResponse: {msg}");
            push_bytes(l, msg.as_bytes());
            drop(msg);
            ffi::lua_error(l)
        }
    }
}

/// Adds `newParser`, `encodeHead` and `encodeResponse` to `module` and makes the parser
/// metatable.
pub fn install(lua: &mlua::Lua, module: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: plain C API calls on mlua's state inside its protected exec_raw.
    unsafe {
        lua.exec_raw::<()>((), |l| {
            ffi::luaL_newmetatable(l, PARSER_META.as_ptr());
            ffi::lua_pushcfunction(l, parser_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_createtable(l, 0, 10);
            let methods: [(&CStr, ffi::lua_CFunction); 11] = [
                (c"next", parser_next),
                (c"nextMessage", parser_next_message),
                (c"push", parser_push),
                (c"finish", parser_finish),
                (c"rest", parser_rest),
                (c"expect", parser_expect),
                (c"setMaxHeaderSize", parser_set_max),
                (c"setOrigin", parser_set_origin),
                (c"buffered", parser_buffered),
                (c"idle", parser_idle),
                (c"upgraded", parser_upgraded),
            ];
            for (name, f) in methods {
                // upvalue 1: the metatable, for `parsing_at`'s check
                ffi::lua_pushvalue(l, -2);
                ffi::lua_pushcclosure(l, f, 1);
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
            ffi::lua_pop(l, 1);
        })?;
        // (a state without a loop, as the fuzz harness makes, gets a null: no writes)
        let el = lua
            .app_data_ref::<Rc<crate::r#loop::EventLoop>>()
            .map_or(ptr::null(), |el| Rc::as_ptr(&el));
        let encode_response = lua.exec_raw::<mlua::Function>((), |l| {
            // upvalue 1: the loop, for the write `encodeResponse` may do
            ffi::lua_pushlightuserdata(l, el as *mut std::ffi::c_void);
            ffi::lua_pushcclosure(l, encode_response_fn, 1);
        })?;
        let calls = lua.create_table()?;
        for (name, address) in super::ffi_calls::addresses() {
            calls.set(
                name.to_str().unwrap_or_default(),
                mlua::LightUserData(address),
            )?;
        }
        calls.set("loop", mlua::LightUserData(el as *mut std::ffi::c_void))?;
        calls.set("maxHeaders", super::ffi_calls::MAX_HEADERS)?;
        calls.set(
            "encodedRest",
            lua.create_c_function(super::ffi_calls::encoded_rest)?,
        )?;
        calls.set(
            "encodeError",
            lua.create_c_function(super::ffi_calls::encode_error)?,
        )?;
        module.set("ffi", calls)?;
        module.set("newParser", lua.create_c_function(parser_new)?)?;
        module.set("encodeHead", lua.create_c_function(encode_head_fn)?)?;
        module.set("encodeResponse", encode_response)?;
    }
    Ok(())
}
