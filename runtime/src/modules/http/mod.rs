//! `http-parser`: the native half of `http-codec` and `http` (internal; not a luvit module).
//!
//! `newParser('request'|'response')` makes a push parser (`parse.rs`): `push(chunk)`, then
//! `next()` until nil; each call gives a head table (luvit's shape: `method`, `path` or `code`,
//! `reason`; `version`, `keepAlive`, `{name, value}` pairs), a body string, `""` for the end of a
//! message, or `false, message, status` for a message that must be refused (400 or 431).
//! `encodeHead(head)` writes a start line and headers, refusing names and targets that would
//! split the message; `statusCodes` maps codes to reason phrases.

mod parse;

use std::ffi::{c_char, c_int, CStr};

use mlua::ffi;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataMethods, Value};

pub use parse::{Event, Kind, Parser};

struct LuaParser(Parser);

/// Pushes `bytes` as a Lua string.
///
/// SAFETY (for every `raw_*` helper here): `l` is the state mlua passes to `exec_raw`, which
/// runs the closure in protected mode (a memory error raised by the C API is caught there), and
/// the caller has checked the stack space it uses.
unsafe fn raw_str(l: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
}

unsafe fn raw_field(l: *mut ffi::lua_State, bytes: &[u8], key: &CStr) {
    raw_str(l, bytes);
    ffi::lua_setfield(l, -2, key.as_ptr());
}

/// Pushes the last head as luvit's head table.
unsafe fn raw_head(l: *mut ffi::lua_State, p: &Parser) {
    let h = p.head();
    let buf = p.buf();
    ffi::lua_createtable(l, h.headers.len() as c_int, 6);
    if h.method.is_empty() {
        ffi::lua_pushinteger(l, h.code as ffi::lua_Integer);
        ffi::lua_setfield(l, -2, c"code".as_ptr());
        raw_field(l, &buf[h.reason.clone()], c"reason");
    } else {
        raw_field(l, &buf[h.method.clone()], c"method");
        raw_field(l, &buf[h.path.clone()], c"path");
    }
    ffi::lua_pushnumber(l, if h.minor == 0 { 1.0 } else { 1.1 });
    ffi::lua_setfield(l, -2, c"version".as_ptr());
    ffi::lua_pushboolean(l, h.keep_alive as c_int);
    ffi::lua_setfield(l, -2, c"keepAlive".as_ptr());
    for (flag, key) in [
        (h.upgrade, c"upgrade"),
        (h.expect_continue, c"expectContinue"),
        (h.bodyless, c"bodyless"),
    ] {
        if flag {
            ffi::lua_pushboolean(l, 1);
            ffi::lua_setfield(l, -2, key.as_ptr());
        }
    }
    for (i, (name, value)) in h.headers.iter().enumerate() {
        ffi::lua_createtable(l, 2, 0);
        raw_str(l, &buf[name.clone()]);
        ffi::lua_rawseti(l, -2, 1);
        raw_str(l, &buf[value.clone()]);
        ffi::lua_rawseti(l, -2, 2);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
}

/// Turns a parser event into its Lua values (nothing for "need more").
fn event_values(
    lua: &Lua,
    p: &Parser,
    ev: Result<Event, parse::ParseError>,
) -> mlua::Result<MultiValue> {
    match ev {
        Ok(Event::NeedMore) => Ok(MultiValue::new()),
        Err(e) => (false, e.message, e.status).into_lua_multi(lua),
        Ok(ev) => unsafe {
            lua.exec_raw::<MultiValue>((), |l| {
                if ffi::lua_checkstack(l, 8) == 0 {
                    return;
                }
                match ev {
                    Event::End => raw_str(l, b""),
                    Event::Body(r) => raw_str(l, &p.buf()[r]),
                    Event::Head => raw_head(l, p),
                    Event::NeedMore => {}
                }
            })
        },
    }
}

impl UserData for LuaParser {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("push", |_, this, chunk: mlua::LuaString| {
            this.0.push(&chunk.as_bytes());
            Ok(())
        });
        // next([chunk]): pushes chunk first when given (one call per socket read).
        m.add_method_mut("next", |lua, this, chunk: Option<mlua::LuaString>| {
            if let Some(c) = chunk {
                this.0.push(&c.as_bytes());
            }
            let ev = this.0.next_event();
            event_values(lua, &this.0, ev)
        });
        m.add_method_mut("finish", |lua, this, ()| {
            let ev = this.0.finish();
            event_values(lua, &this.0, ev)
        });
        m.add_method_mut("rest", |lua, this, ()| {
            lua.create_string(this.0.take_rest())
        });
        m.add_method_mut("expect", |_, this, method: mlua::LuaString| {
            this.0.expect_response_to(&method.as_bytes());
            Ok(())
        });
        m.add_method_mut("setMaxHeaderSize", |_, this, n: usize| {
            this.0.set_max_head(n);
            Ok(())
        });
        m.add_method("idle", |_, this, ()| Ok(this.0.is_idle()));
        m.add_method("upgraded", |_, this, ()| Ok(this.0.is_upgraded()));
        m.add_method("buffered", |_, this, ()| Ok(this.0.buffered()));
    }
}

/// Reason phrases (RFC 9110 and the common extensions).
pub const STATUS_CODES: &[(u16, &str)] = &[
    (100, "Continue"),
    (101, "Switching Protocols"),
    (102, "Processing"),
    (103, "Early Hints"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Payload Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (418, "I'm a Teapot"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
    (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"),
    (508, "Loop Detected"),
    (509, "Bandwidth Limit Exceeded"),
    (510, "Not Extended"),
    (511, "Network Authentication Required"),
];

pub fn reason_for(code: u16) -> &'static str {
    STATUS_CODES
        .binary_search_by_key(&code, |&(c, _)| c)
        .map(|i| STATUS_CODES[i].1)
        .unwrap_or("Unknown")
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Appends `value` with every run of CR, LF or NUL turned into one space (no header splitting).
fn push_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut in_break = false;
    for &b in value {
        if matches!(b, b'\r' | b'\n' | 0) {
            if !in_break {
                out.push(b' ');
            }
            in_break = true;
        } else {
            out.push(b);
            in_break = false;
        }
    }
}

fn version_text(v: &Value) -> mlua::Result<&'static str> {
    match v {
        Value::Nil => Ok("1.1"),
        Value::Number(n) if *n == 1.0 => Ok("1.0"),
        Value::Integer(1) => Ok("1.0"),
        Value::Number(n) if (*n - 1.1).abs() < 1e-9 => Ok("1.1"),
        Value::String(s) if s.as_bytes().as_ref() == b"1.0" => Ok("1.0"),
        Value::String(s) if s.as_bytes().as_ref() == b"1.1" => Ok("1.1"),
        other => Err(mlua::Error::runtime(format!(
            "encodeHead: unsupported HTTP version {other:?}"
        ))),
    }
}

fn text_of(lua: &Lua, v: Value, what: &str) -> mlua::Result<mlua::LuaString> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(_) | Value::Integer(_) | Value::Boolean(_) => lua
            .coerce_string(v.clone())?
            .ok_or_else(|| mlua::Error::runtime(format!("encodeHead: {what} must be a string"))),
        other => Err(mlua::Error::runtime(format!(
            "encodeHead: {what} must be a string, got {}",
            other.type_name()
        ))),
    }
}

/// Writes the head of `t` (request or response) into `out`.
pub fn encode_head_into(lua: &Lua, t: &Table, out: &mut Vec<u8>) -> mlua::Result<()> {
    let version = version_text(&t.raw_get::<Value>("version")?)?;
    match t.raw_get::<Value>("method")? {
        Value::Nil => {
            let code: u16 = match t.raw_get::<Value>("code")? {
                Value::Integer(c) if (100..1000).contains(&c) => c as u16,
                Value::Number(c) if (100.0..1000.0).contains(&c) && c.fract() == 0.0 => c as u16,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "encodeHead: a response needs a status code 100-999, got {other:?}"
                    )))
                }
            };
            out.extend_from_slice(b"HTTP/");
            out.extend_from_slice(version.as_bytes());
            out.push(b' ');
            out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
            out.push(b' ');
            match t.raw_get::<Option<mlua::LuaString>>("reason")? {
                Some(r) => push_value(out, &r.as_bytes()),
                None => out.extend_from_slice(reason_for(code).as_bytes()),
            }
        }
        method => {
            let method = text_of(lua, method, "method")?;
            let path = text_of(lua, t.raw_get("path")?, "path")?;
            let (m, p) = (method.as_bytes(), path.as_bytes());
            if !is_token(&m) {
                return Err(mlua::Error::runtime("encodeHead: invalid method"));
            }
            if p.is_empty() || p.iter().any(|&b| b <= b' ' || b == 0x7f) {
                return Err(mlua::Error::runtime(
                    "encodeHead: the path must be non-empty with no spaces or control characters",
                ));
            }
            out.extend_from_slice(&m);
            out.push(b' ');
            out.extend_from_slice(&p);
            out.extend_from_slice(b" HTTP/");
            out.extend_from_slice(version.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    for pair in t.clone().sequence_values::<Table>() {
        let pair = pair
            .map_err(|_| mlua::Error::runtime("encodeHead: headers must be {name, value} pairs"))?;
        let name = text_of(lua, pair.raw_get(1)?, "a header name")?;
        let value = text_of(lua, pair.raw_get(2)?, "a header value")?;
        let name = name.as_bytes();
        if !is_token(&name) {
            return Err(mlua::Error::runtime(format!(
                "encodeHead: invalid header name {:?}",
                String::from_utf8_lossy(&name)
            )));
        }
        out.extend_from_slice(&name);
        out.extend_from_slice(b": ");
        push_value(out, &value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let m = lua.create_table()?;
    m.set(
        "newParser",
        lua.create_function(|_, kind: Option<String>| {
            let kind = match kind.as_deref() {
                None | Some("request") => Kind::Request,
                Some("response") => Kind::Response,
                Some(other) => {
                    return Err(mlua::Error::runtime(format!(
                        "newParser: kind must be 'request' or 'response', got '{other}'"
                    )))
                }
            };
            Ok(LuaParser(Parser::new(kind)))
        })?,
    )?;
    m.set(
        "encodeHead",
        lua.create_function(|lua, t: Table| {
            let mut out = Vec::with_capacity(256);
            encode_head_into(lua, &t, &mut out)?;
            lua.create_string(out)
        })?,
    )?;
    let codes = lua.create_table_with_capacity(0, STATUS_CODES.len())?;
    for &(c, r) in STATUS_CODES {
        codes.raw_set(c, r)?;
    }
    m.set("statusCodes", codes)?;
    Ok(m)
}
