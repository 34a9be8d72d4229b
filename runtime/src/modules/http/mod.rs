//! `http-parser`: the native half of `http-codec` and `http` (internal; not a luvit module).
//!
//! `newParser('request'|'response')` makes a push parser (`parse.rs`): `push(chunk)`, then
//! `next()` until nil; each call gives a head table (luvit's shape: `method`, `path` or `code`,
//! `reason`; `version`, `keepAlive`, `{name, value}` pairs), a body string, `""` for the end of a
//! message, or `false, message, status` for a message that must be refused (400 or 431).
//! `encodeHead(head)` writes a start line and headers, refusing names and targets that would
//! split the message; `encodeResponse(...)` writes a server response's head with the framing
//! headers it needs, and its body, in one string; `statusCodes` maps codes to reason phrases.
//! The Lua-facing functions are raw C functions (`raw.rs`), and for the server's common request
//! FFI calls (`ffi_calls.rs` and its Lua half `ffi_calls.lua`, as `fast`): the per-request
//! hot path. `encode.rs` writes responses for both.

mod date;
mod encode;
mod ffi_calls;
mod parse;
mod raw;

use mlua::{Lua, Table};

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

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let m = lua.create_table()?;
    raw::install(lua, &m)?;
    let codes = lua.create_table_with_capacity(0, STATUS_CODES.len())?;
    for &(c, r) in STATUS_CODES {
        codes.raw_set(c, r)?;
    }
    m.set("statusCodes", codes)?;
    // the Lua half of the FFI calls (nil in a state without ffi)
    let fast: Option<Table> = lua
        .load(include_str!("ffi_calls.lua"))
        .set_name("@builtin:http-ffi.lua")
        .call(m.clone())?;
    if let Some(fast) = fast {
        m.set("fast", fast)?;
    }
    Ok(m)
}
