//! Target `http`: HTTP/1.1 bytes through the `http-parser` module exactly as `lib/http.lua`
//! drives it — the server's `Connection:process` loop (`nextMessage` until it needs more; a
//! bodyless head ends its message; an Upgrade hands the rest over), the client's `ClientRequest:_onData`/`_onEnd` (`next`, then
//! `finish` at close), and luvit's codec framing (`newParser(kind, true)`).
//!
//! Oracle: the same bytes pushed whole and pushed in pieces (cut where the input says) give the
//! same messages, bodies, refusals and upgrade bytes; and a response the server encodes with
//! `encodeResponse` parses back with exactly the headers it was given.

use mlua::{Function, Lua, Table, Value};

use crate::Input;

/// The Lua side: one run of a parser over `pieces`, as a trace of what the caller saw.
const DRIVER: &str = r#"
local native, mode, codec, pieces, methods = ...
local parser = native.newParser(mode, codec)
if mode == 'response' then for _, m in ipairs(methods) do parser:expect(m) end end
local trace, body = {}, {}
local function flush()
  if #body > 0 then trace[#trace + 1] = 'B' .. table.concat(body); body = {} end
end
local function head(headers, a, b, minor, flags)
  flush()
  local parts = { 'H', tostring(a), tostring(b), tostring(minor), tostring(flags) }
  for _, h in ipairs(headers) do parts[#parts + 1] = h[1] .. ':' .. h[2] end
  trace[#trace + 1] = table.concat(parts, '|')
end
local function tablehead(ev)
  local flags = (ev.keepAlive and 1 or 0) + (ev.upgrade and 2 or 0)
    + (ev.expectContinue and 4 or 0) + (ev.bodyless and 8 or 0)
  head(ev, ev.method or ev.code, ev.path or ev.reason, ev.version == 1 and 0 or 1, flags)
  return ev.upgrade
end
for i, piece in ipairs(pieces) do
  if mode == 'request' and not codec then
    -- lib/http.lua Connection:read + process
    parser:push(piece)
    while true do
      local ev, a, b, minor, flags = parser:nextMessage()
      if ev == nil then break end
      if ev == false then flush(); trace[#trace + 1] = 'X' .. tostring(b); return trace end
      if type(ev) == 'table' then
        -- 32 (more bytes buffered) depends on where the input was cut: checked, not traced
        if (bit.band(flags, 32) ~= 0) ~= (parser:buffered() > 0) then
          error('nextMessage says more is buffered: ' .. tostring(bit.band(flags, 32) ~= 0)
            .. ', buffered() ' .. parser:buffered())
        end
        head(ev, a, b, minor, bit.band(flags, 31))
        -- 16: a bodyless message ends with its head (no '' event follows)
        if bit.band(flags, 16) ~= 0 then flush(); trace[#trace + 1] = 'E' end
        if bit.band(flags, 2) ~= 0 then
          local rest = { parser:rest() }
          for j = i + 1, #pieces do rest[#rest + 1] = pieces[j] end
          trace[#trace + 1] = 'U' .. table.concat(rest)
          return trace
        end
      elseif ev == '' then flush(); trace[#trace + 1] = 'E'
      else body[#body + 1] = ev end
    end
  else
    -- lib/http.lua ClientRequest:_onData (and http-codec's decoder: next() per event)
    parser:push(piece)
    while true do
      local ev, msg, status = parser:next()
      if ev == nil then break end
      if ev == false then flush(); trace[#trace + 1] = 'X' .. tostring(status); return trace end
      if type(ev) == 'table' then
        if tablehead(ev) then
          local rest = { parser:rest() }
          for j = i + 1, #pieces do rest[#rest + 1] = pieces[j] end
          trace[#trace + 1] = 'U' .. table.concat(rest)
          return trace
        end
      elseif ev == '' then flush(); trace[#trace + 1] = 'E'
      else body[#body + 1] = ev end
    end
  end
end
flush()
trace[#trace + 1] = 'P' .. parser:buffered()
-- the peer closes: ClientRequest:_onEnd
local ev, msg, status = parser:finish()
if ev == false then trace[#trace + 1] = 'F' .. tostring(status)
elseif ev == '' then trace[#trace + 1] = 'FE' end
return trace
"#;

/// Encodes a response from generated parts, parses it back, returns a description of any
/// difference (nil when it round-trips or the encoder refused the parts with an error).
const ENCODE: &str = r#"
local native, code, reason, headers, flags, body = ...
local ok, bytes, chunked, keep, noBody = pcall(native.encodeResponse, code, reason, headers,
  flags, #body, body)
-- the FFI calls the server makes (native.fast) answer exactly as the C function does
local fok, fbytes, fchunked, fkeep, fnoBody = pcall(native.fast.encodeResponse, code, reason,
  headers, flags, #body, body)
local function undated(s)
  return type(s) == 'string' and (s:gsub('\r\nDate: [^\r]*', '')) or s
end
if ok ~= fok or undated(bytes) ~= undated(fbytes) or chunked ~= fchunked or keep ~= fkeep
  or noBody ~= fnoBody then
  return 'FFI encodeResponse differs: ' .. string.format('%q', tostring(bytes)) .. ' vs '
    .. string.format('%q', tostring(fbytes))
end
if not ok then
  if type(bytes) ~= 'string' or not bytes:find('encodeResponse: ', 1, true) then
    return 'encoder raised a non-message: ' .. tostring(bytes)
  end
  return nil
end
local p = native.newParser('response')
p:expect('GET')
local ev, msg, status = p:next(bytes)
if type(ev) ~= 'table' then
  return 'encoded response does not parse: ' .. tostring(msg) .. ' ' .. string.format('%q', bytes)
end
-- every header the user gave comes back once, in order, first in the list
for i, h in ipairs(headers) do
  local got = ev[i]
  local want = tostring(h[2]):gsub('[%z\1-\8\10-\31\127]+', ' '):gsub('^[ \t]+', ''):gsub('[ \t]+$', '')
  if not got or got[1] ~= h[1] or got[2] ~= want then
    return 'header ' .. i .. ' came back as ' .. string.format('%q', got and (got[1] .. ': ' .. got[2]) or 'nothing')
      .. ' from ' .. string.format('%q', bytes)
  end
end
return nil
"#;

pub struct Target {
    lua: Lua,
    native: Table,
    driver: Function,
    encode: Function,
}

impl Target {
    pub fn new() -> Target {
        // SAFETY: the state runs only our own scripts; it needs LuaJIT's ffi for the FFI calls
        // the server makes (`native.fast`), which the encoder check compares with the C API's.
        let lua = unsafe { Lua::unsafe_new() };
        let native = luvit::modules::http::register(&lua).expect("http-parser module");
        assert!(
            native.contains_key("fast").unwrap_or(false),
            "http-parser without its FFI calls"
        );
        let driver = lua
            .load(DRIVER)
            .set_name("=fuzz-http")
            .into_function()
            .expect("driver");
        let encode = lua
            .load(ENCODE)
            .set_name("=fuzz-http-encode")
            .into_function()
            .expect("encoder check");
        Target {
            lua,
            native,
            driver,
            encode,
        }
    }

    fn trace(&self, mode: &str, codec: bool, pieces: &[&[u8]], methods: &[&str]) -> Vec<String> {
        let lua = &self.lua;
        // Built one string at a time: mlua holds each live Lua value in a slot of LuaJIT's C
        // stack, which takes 8,000 (an 84 kB input cut in 10,000 pieces, all held at once in
        // a Vec, failed with StackError before the parser saw a byte).
        let list = lua.create_table().expect("table");
        for (i, p) in pieces.iter().enumerate() {
            let s = lua.create_string(p).expect("string");
            list.raw_set(i + 1, s).expect("piece");
        }
        let r: mlua::Result<Table> =
            self.driver
                .call((self.native.clone(), mode, codec, list, methods.to_vec()));
        match r {
            Ok(t) => t
                .sequence_values::<mlua::LuaString>()
                .map(|s| s.map(|s| s.to_string_lossy()).unwrap_or_default())
                .collect(),
            // A Lua error from the parser's methods on well-typed calls is a bug.
            Err(e) => panic!("http-parser raised an error: {e}"),
        }
    }

    /// One fuzz input: a mode byte, a cut-seed byte, then the bytes a peer sends.
    pub fn run(&self, data: &[u8]) {
        let mut input = Input::new(data);
        let mode = input.byte();
        if mode & 0x80 != 0 {
            return self.encode_round_trip(&mut input);
        }
        let response = mode & 1 != 0;
        let codec = mode & 2 != 0;
        let methods: Vec<&str> = (0..(mode >> 2) & 3)
            .map(|i| ["GET", "HEAD", "CONNECT", "POST"][((mode >> (4 + i)) & 3) as usize])
            .collect();
        let seed = input.byte();
        let payload = input.rest();
        let kind = if response { "response" } else { "request" };
        let whole = self.trace(kind, codec, &[payload], &methods);
        let pieces = cut(payload, seed);
        let split = self.trace(kind, codec, &pieces, &methods);
        assert_eq!(
            whole,
            split,
            "{kind} parsed whole and in {} pieces differ",
            pieces.len()
        );
    }

    fn encode_round_trip(&self, input: &mut Input) {
        const NAMES: &[&str] = &[
            "X-A",
            "Content-Type",
            "Set-Cookie",
            "Connection",
            "Date",
            "X-Long-Name-With-Dashes",
        ];
        let lua = &self.lua;
        let code = 100 + (input.byte() as i64 % 2 * 256 + input.byte() as i64) % 500;
        let reason = lua.create_string(input.bytes(8)).expect("string");
        let flags = (input.byte() & 15) as i64;
        let headers = lua.create_table().expect("table");
        // (more than 8 headers takes the FFI encoder's loop)
        for i in 0..(input.byte() % 11) {
            let pair = lua.create_table().expect("table");
            let b = input.byte();
            let name: Value = if b & 0x80 != 0 {
                Value::String(lua.create_string(input.bytes(6)).expect("string"))
            } else {
                Value::String(
                    lua.create_string(NAMES[b as usize % NAMES.len()])
                        .expect("string"),
                )
            };
            pair.raw_set(1, name).expect("set");
            let value = match b & 0x60 {
                // a number (a Content-Length, or one Lua writes with a fraction)
                0x40 => {
                    let n = input.byte() as f64 * 256.0 + input.byte() as f64;
                    Value::Number(if b & 1 != 0 { n / 4.0 - 100.0 } else { n })
                }
                // not a header value: refused, with the same message by both encoders
                0x20 if b & 3 == 3 => Value::Boolean(true),
                _ => Value::String(lua.create_string(input.bytes(12)).expect("string")),
            };
            pair.raw_set(2, value).expect("set");
            headers.raw_set(i as i64 + 1, pair).expect("set");
        }
        let body = lua.create_string(input.rest()).expect("string");
        let r: mlua::Result<Option<mlua::LuaString>> =
            self.encode
                .call((self.native.clone(), code, reason, headers, flags, body));
        match r {
            Ok(None) => {}
            Ok(Some(why)) => panic!("encodeResponse round trip: {}", why.to_string_lossy()),
            Err(e) => panic!("encodeResponse check failed: {e}"),
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::new()
    }
}

/// Cuts `data` into pieces of 1..=16 bytes, sizes drawn from `seed`.
fn cut(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut state = seed as u32 | 0x100;
    let mut at = 0;
    while at < data.len() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = 1 + ((state >> 16) as usize % 16);
        let end = (at + n).min(data.len());
        out.push(&data[at..end]);
        at = end;
    }
    out
}
