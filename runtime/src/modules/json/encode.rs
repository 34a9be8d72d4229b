//! `json.stringify`'s writer: the JSON text of Lua values, and the walk over them through
//! the C API (values on the Lua stack). `walk.rs` holds the faster walk that reads tables in
//! place, used when `layout.rs`'s self-check passes; both write the very same text.
//!
//! dkjson's rules: a table is an array when its `__jsontype` says so, or when every key is a
//! positive integer and it is not mostly holes; strings are bytes (invalid UTF-8 passes
//! through); numbers are written shortest-round-trip (integers as integers), ±inf and nan as
//! `null`. The per-value cost is C API calls, so the walk makes as few as it can: the type of
//! a value is read once, tables are told apart by address (json.null and the two metatables
//! `json.parse` uses), arrays are read by index, and object keys seen before are copied from
//! a small cache of their written form instead of being escaped again.

use std::ffi::{c_int, c_void};

use mlua::ffi;

use super::layout::Layout;
use super::order::Order;

/// Tables nested deeper than this are refused.
pub const MAX_DEPTH: usize = 1000;
/// Cache slots for written object keys (a power of two).
const KEY_SLOTS: usize = 256;
/// Keys whose written form is longer than this are written each time.
const KEY_WRITTEN: usize = 32;
/// Stack slots reserved at once, every `STACK_EVERY` levels (a level holds at most two while
/// the levels below it are written, and needs four more at most for a moment).
const STACK_RESERVE: c_int = 64;
const STACK_EVERY: usize = 16;

/// What the writer needs from the stack and the caller.
pub struct Setup {
    /// Absolute stack indices of the strings "__jsontype" and "__tojson".
    pub k_jsontype: c_int,
    pub k_tojson: c_int,
    /// Addresses of json.null and of the metatables json.parse puts on what it makes.
    pub null: *const c_void,
    pub object_mt: *const c_void,
    pub array_mt: *const c_void,
    pub indent: Option<Vec<u8>>,
    /// Set with `state.keyorder` (`order.rs`).
    pub order: Option<Order>,
}

pub struct Enc {
    pub(super) l: *mut ffi::lua_State,
    pub(super) s: Setup,
    pub out: Vec<u8>,
    /// Tables being written (a table met again inside itself is a cycle).
    pub(super) seen: Vec<*const c_void>,
    /// Recently written object keys, by the address of their bytes.
    key_cache: Vec<KeySlot>,
    /// Why the walk stopped.
    err: Option<String>,
    /// Counts the `__tojson` calls: Lua ran, so tables may have changed since.
    pub(super) epoch: u64,
    /// Set when tables are read in place (`walk.rs`).
    raw: Option<Layout>,
}

/// A refusal on its way out; the message is in `Enc::err`.
pub(super) struct Stop;

pub(super) type Step = Result<(), Stop>;

/// A written key (`"key":`), at most `KEY_WRITTEN` bytes.
#[derive(Clone, Copy)]
struct KeySlot {
    /// The Lua string's bytes (null: empty slot).
    ptr: *const u8,
    len: usize,
    bytes: [u8; KEY_WRITTEN],
}

const EMPTY_KEY: KeySlot = KeySlot {
    ptr: std::ptr::null(),
    len: 0,
    bytes: [0; KEY_WRITTEN],
};

/// For each byte: 0 when it is copied as is, else the letter of its short escape (`u` for
/// `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x7f] = b'u';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

/// One bit set in each byte of `x` that needs escaping (`"`, `\`, below 0x20, 0x7f). Bits
/// above the lowest may be false alarms; the lowest is exact.
fn to_escape(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let quote = zero(x ^ (ONES * b'"' as u64));
    let bslash = zero(x ^ (ONES * b'\\' as u64));
    let del = zero(x ^ (ONES * 0x7f));
    let ctrl = x.wrapping_sub(ONES * 0x20) & !x;
    (quote | bslash | del | ctrl) & HIGH
}

/// Appends `s`: short slices (most strings and numbers here) with a few overlapping word
/// copies instead of a call to memcpy.
#[inline(always)]
fn put(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 16 {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(16);
    let len = out.len();
    let dst = out.spare_capacity_mut().as_mut_ptr() as *mut u8;
    // SAFETY: `dst` has room for 16 bytes (reserved above) and every write below stays
    // within the first `n <= 16` of them; the reads are of `s`, bounds-checked.
    unsafe {
        if n >= 8 {
            let a = u64::from_le_bytes(s[..8].try_into().unwrap_or_default());
            let b = u64::from_le_bytes(s[n - 8..].try_into().unwrap_or_default());
            std::ptr::write_unaligned(dst as *mut u64, a);
            std::ptr::write_unaligned(dst.add(n - 8) as *mut u64, b);
        } else if n >= 4 {
            let a = u32::from_le_bytes(s[..4].try_into().unwrap_or_default());
            let b = u32::from_le_bytes(s[n - 4..].try_into().unwrap_or_default());
            std::ptr::write_unaligned(dst as *mut u32, a);
            std::ptr::write_unaligned(dst.add(n - 4) as *mut u32, b);
        } else if n > 0 {
            *dst = s[0];
            *dst.add(n / 2) = s[n / 2];
            *dst.add(n - 1) = s[n - 1];
        }
        out.set_len(len + n);
    }
}

/// Writes `s` as a JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    loop {
        // skip plain bytes, 8 at a time
        while i + 8 <= s.len() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[i..i + 8]);
            let m = to_escape(u64::from_le_bytes(w));
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&b) = s.get(i) else { break };
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            i += 1;
            continue;
        }
        put(out, &s[run..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        i += 1;
        run = i;
    }
    put(out, &s[run..]);
    out.push(b'"');
}

/// "00" to "99", two bytes each.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends the decimal digits of `v`, written where they go, last pair first: formatting
/// into a buffer and copying it in words read bytes just stored one by one, and that load
/// waits for the stores to drain (store forwarding fails) — 20% of `write_num`'s time.
pub(super) fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let n = v.checked_ilog10().unwrap_or(0) as usize + 1;
    out.reserve(n);
    let len = out.len();
    let dst = &mut out.spare_capacity_mut()[..n];
    let mut i = n;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        dst[i].write(PAIRS[r]);
        dst[i + 1].write(PAIRS[r + 1]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        dst[0].write(PAIRS[r]);
        dst[1].write(PAIRS[r + 1]);
    } else {
        dst[0].write(b'0' + v as u8);
    }
    // SAFETY: the loop and the branch above wrote all `n` bytes (the count of digits of `v`).
    unsafe { out.set_len(len + n) };
}

pub(super) fn write_num(out: &mut Vec<u8>, n: f64) {
    if !n.is_finite() {
        out.extend_from_slice(b"null");
    } else if n.abs() < 1e15 && (n as i64) as f64 == n {
        // (an integer test without `fract`, which is a call to libm's `trunc` on x86-64's
        // baseline: 2% of a stringify)
        let i = n as i64;
        if i < 0 {
            out.push(b'-');
        }
        write_u64(out, i.unsigned_abs());
    } else if !short_decimal(out, n) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(n).as_bytes());
    }
}

/// Writes `n` as ryu would, when it has at most 4 decimals and is between 0.001 and 1e9 (not
/// an integer): then the fewest decimals that read back as `n` are ryu's shortest form, and
/// there is only one such number of that length (the spacing of 4-decimal numbers is far
/// wider than a double's there, so `n * 10^k` lands within a thousandth of that integer,
/// never on another). Returns false, writing nothing, otherwise.
fn short_decimal(out: &mut Vec<u8>, n: f64) -> bool {
    const POW10: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];
    let a = n.abs();
    if !(1e-3..1e9).contains(&a) {
        return false;
    }
    for &scale in &POW10[1..] {
        let m = a * scale;
        // `m` is an integer that reads back (as m / 10^k, correctly rounded) as `a`
        // (`m` < 1e13: the cast is exact for an integer, and is the integer test)
        if (m as u64) as f64 == m && m / scale == a {
            let m = m as u64;
            let mut p = scale as u64;
            let mut frac = m % p;
            // `a * scale` may round to an integer only past the fewest decimals (2347.24 * 100
            // does not, * 1000 does): drop the trailing zeros
            while frac != 0 && frac.is_multiple_of(10) {
                frac /= 10;
                p /= 10;
            }
            if n < 0.0 {
                out.push(b'-');
            }
            write_u64(out, m / scale as u64);
            out.push(b'.');
            // leading zeros of the fraction
            let mut d = p / 10;
            while d > 1 && frac < d {
                out.push(b'0');
                d /= 10;
            }
            write_u64(out, frac);
            return true;
        }
    }
    false
}

/// The bytes of the string at `idx`.
///
/// # Safety
/// `idx` holds a string (not a number: `lua_tolstring` would convert it in place), and the
/// slice is used only while that slot keeps the string.
unsafe fn str_at<'a>(l: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(p as *const u8, len)
}

impl Enc {
    /// A writer on `l`, a live state that holds the setup's slots while the writer is used;
    /// `raw` makes it read tables in place.
    pub fn new(l: *mut ffi::lua_State, s: Setup, raw: Option<Layout>) -> Enc {
        Enc {
            l,
            s,
            out: Vec::with_capacity(4096),
            seen: Vec::new(),
            key_cache: vec![EMPTY_KEY; KEY_SLOTS],
            err: None,
            epoch: 0,
            raw,
        }
    }

    pub(super) fn fail(&mut self, msg: impl Into<String>) -> Step {
        self.err = Some(msg.into());
        Err(Stop)
    }

    #[inline(always)]
    pub(super) fn newline(&mut self, level: usize) {
        if let Some(ind) = &self.s.indent {
            self.out.push(b'\n');
            for _ in 0..level {
                self.out.extend_from_slice(ind);
            }
        }
    }

    /// Encodes the value at absolute stack index `idx`.
    ///
    /// # Safety
    /// `idx` is a valid slot of the live state, with `STACK_RESERVE` free slots above the top.
    pub unsafe fn value(&mut self, idx: c_int) -> Result<(), String> {
        let r = match self.raw {
            Some(lay) => self.raw_value(lay, lay.at(self.l, idx), 0),
            None => self.typed(idx, ffi::lua_type(self.l, idx), 0),
        };
        match r {
            Ok(()) => Ok(()),
            Err(Stop) => Err(self.err.take().unwrap_or_default()),
        }
    }

    /// Encodes the value at `idx`, of Lua type `t`; tables out of line.
    #[inline(always)]
    pub(super) unsafe fn typed(&mut self, idx: c_int, t: c_int, level: usize) -> Step {
        let l = self.l;
        match t {
            ffi::LUA_TSTRING => write_str(&mut self.out, str_at(l, idx)),
            ffi::LUA_TNUMBER => write_num(&mut self.out, ffi::lua_tonumber(l, idx)),
            ffi::LUA_TTABLE => return self.table(idx, level),
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(l, idx) != 0;
                self.out
                    .extend_from_slice(if b { b"true" } else { b"false" });
            }
            ffi::LUA_TNIL => self.out.extend_from_slice(b"null"),
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, idx).is_null() => {
                self.out.extend_from_slice(b"null")
            }
            t => {
                let name = std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                return self.fail(format!(
                    "json.stringify: cannot encode a value of type {name}"
                ));
            }
        }
        Ok(())
    }

    /// The `__jsontype` of a table's metatable, and whether it has `__tojson`.
    pub(super) unsafe fn meta(&mut self, idx: c_int) -> (Option<u8>, bool) {
        let l = self.l;
        if ffi::lua_getmetatable(l, idx) == 0 {
            return (None, false);
        }
        // The metatables json.parse puts on what it makes: no need to look inside.
        let mt = ffi::lua_topointer(l, -1);
        if mt == self.s.object_mt {
            ffi::lua_settop(l, -2);
            return (Some(b'o'), false);
        }
        if mt == self.s.array_mt {
            ffi::lua_settop(l, -2);
            return (Some(b'a'), false);
        }
        ffi::lua_pushvalue(l, self.s.k_jsontype);
        ffi::lua_rawget(l, -2);
        // a string only: lua_tolstring would turn a number into one, allocating (and the
        // walk relies on the collector not running; see `tojson`)
        let kind = match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => str_at(l, -1).first().copied(),
            _ => None,
        };
        ffi::lua_settop(l, -2);
        ffi::lua_pushvalue(l, self.s.k_tojson);
        ffi::lua_rawget(l, -2);
        let tojson = ffi::lua_type(l, -1) == ffi::LUA_TFUNCTION;
        ffi::lua_settop(l, -3);
        (kind, tojson)
    }

    /// The length of a table marked as an array: its largest positive integer key, so nulls
    /// parsed into holes (`[1,null,3]`) are written back (the border `#t` may stop at a hole).
    /// `None` when that would write more than 2^24 entries, most of them null.
    unsafe fn max_index(&mut self, idx: c_int) -> Option<usize> {
        let l = self.l;
        let (mut max, mut n) = (0usize, 0usize);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            ffi::lua_settop(l, -2);
            if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                let k = ffi::lua_tonumber(l, -1);
                if k >= 1.0 && k.fract() == 0.0 {
                    max = max.max(k.min(usize::MAX as f64) as usize);
                    n += 1;
                }
            }
        }
        not_too_sparse(max, n)
    }

    /// dkjson's rule: an array when every key is a positive integer and it is not mostly
    /// holes. Every key is looked at: `#t` and what follows it in `next`'s order are not
    /// enough (a key 0, or a string key before the border's slot, would be missed).
    unsafe fn array_len(&mut self, idx: c_int) -> Option<usize> {
        let l = self.l;
        let (mut max, mut n) = (0usize, 0usize);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            ffi::lua_settop(l, -2);
            let k = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                ffi::lua_tonumber(l, -1)
            } else {
                0.0
            };
            if k >= 1.0 && k.fract() == 0.0 {
                max = max.max(k.min(usize::MAX as f64) as usize);
                n += 1;
            } else {
                ffi::lua_settop(l, -2);
                return None;
            }
        }
        mostly_filled(max, n)
    }

    #[inline(never)]
    unsafe fn table(&mut self, idx: c_int, level: usize) -> Step {
        let l = self.l;
        let ptr = ffi::lua_topointer(l, idx);
        if ptr == self.s.null {
            self.out.extend_from_slice(b"null");
            return Ok(());
        }
        if level > MAX_DEPTH
            || (level.is_multiple_of(STACK_EVERY) && ffi::lua_checkstack(l, STACK_RESERVE) == 0)
        {
            return self.fail("json.stringify: nesting too deep");
        }
        let (kind, tojson) = self.meta(idx);
        if tojson {
            return self.tojson(idx);
        }
        if self.seen.contains(&ptr) {
            return self.fail("json.stringify: reference cycle");
        }
        let as_array = match kind {
            Some(b'o') => None,
            Some(b'a') => match self.max_index(idx) {
                Some(n) if n <= c_int::MAX as usize => Some(n),
                _ => return self.fail("json.stringify: array too sparse to write"),
            },
            _ => self.array_len(idx).filter(|&n| n <= c_int::MAX as usize),
        };
        self.seen.push(ptr);
        let r = match (as_array, self.s.order) {
            (Some(len), _) => self.array(idx, len, level),
            (None, None) => self.object(idx, level),
            (None, Some(order)) => self.ordered_object(idx, order, level),
        };
        self.seen.pop();
        r
    }

    /// A table whose metatable has `__tojson`: its result (JSON text: a string, or a
    /// number) is written as is. As in dkjson, `nil, msg` (or false) refuses the value with
    /// `msg`; anything else is refused too (writing nothing there would be invalid JSON).
    pub(super) unsafe fn tojson(&mut self, idx: c_int) -> Step {
        let l = self.l;
        ffi::lua_getmetatable(l, idx);
        ffi::lua_pushvalue(l, self.s.k_tojson);
        ffi::lua_rawget(l, -2);
        ffi::lua_pushvalue(l, idx);
        ffi::lua_createtable(l, 0, 0);
        if let Some(order) = self.s.order {
            // as dkjson's state: a `__tojson` that encodes its own parts keeps the order
            ffi::lua_pushstring(l, c"keyorder".as_ptr());
            ffi::lua_pushvalue(l, order.given);
            ffi::lua_rawset(l, -3);
        }
        ffi::lua_call(l, 2, 2);
        let mut refused = None;
        match ffi::lua_type(l, -2) {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -2, &mut len);
                if !p.is_null() {
                    self.out
                        .extend_from_slice(std::slice::from_raw_parts(p as *const u8, len));
                }
            }
            ffi::LUA_TNIL | ffi::LUA_TBOOLEAN if ffi::lua_toboolean(l, -2) == 0 => {
                refused = Some(if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                    String::from_utf8_lossy(str_at(l, -1)).into_owned()
                } else {
                    "json.stringify: custom encoder (__tojson) failed".to_string()
                });
            }
            t => {
                let name = std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                refused = Some(format!(
                    "json.stringify: __tojson returned a {name}, not JSON text"
                ));
            }
        }
        ffi::lua_settop(l, -4);
        if let Some(msg) = refused {
            return self.fail(msg);
        }
        // The call may have changed tables and let the collector free key strings (their
        // addresses may now be other strings'), or shrink the stack below what was reserved:
        // this is the one place the walk runs Lua code or allocates.
        self.key_cache.fill(EMPTY_KEY);
        self.epoch += 1;
        if ffi::lua_checkstack(l, STACK_RESERVE) == 0 {
            return self.fail("json.stringify: nesting too deep");
        }
        Ok(())
    }

    /// Entries 1..=len (`len` fits a c_int) of the table at `idx`.
    unsafe fn array(&mut self, idx: c_int, len: usize, level: usize) -> Step {
        let l = self.l;
        self.out.push(b'[');
        let top = ffi::lua_gettop(l) + 1;
        for i in 1..=len as c_int {
            if i > 1 {
                self.out.push(b',');
            }
            self.newline(level + 1);
            ffi::lua_rawgeti_(l, idx, i);
            let t = ffi::lua_type(l, top);
            let r = self.typed(top, t, level + 1);
            ffi::lua_settop(l, top - 1);
            r?;
        }
        if len > 0 {
            self.newline(level);
        }
        self.out.push(b']');
        Ok(())
    }

    unsafe fn object(&mut self, idx: c_int, level: usize) -> Step {
        let l = self.l;
        self.out.push(b'{');
        let mut first = true;
        ffi::lua_pushnil(l);
        let (key, val) = (ffi::lua_gettop(l), ffi::lua_gettop(l) + 1);
        while ffi::lua_next(l, idx) != 0 {
            let vt = ffi::lua_type(l, val);
            if skipped(vt) {
                ffi::lua_settop(l, key);
                continue;
            }
            self.entry(key, val, vt, level, &mut first)?;
            ffi::lua_settop(l, key);
        }
        self.close_object(level, first);
        Ok(())
    }

    /// One `key: value` of an object at `level` (the key and value at stack slots `key` and
    /// `val`), after a comma unless it is the `first`. On a refusal the stack is left as it
    /// was below `key`.
    pub(super) unsafe fn entry(
        &mut self,
        key: c_int,
        val: c_int,
        vt: c_int,
        level: usize,
        first: &mut bool,
    ) -> Step {
        self.open_entry(level, first);
        let r = self
            .api_key(key)
            .and_then(|()| self.typed(val, vt, level + 1));
        if r.is_err() {
            ffi::lua_settop(self.l, key - 1);
        }
        r
    }

    /// Starts an object's next entry at `level`: a comma unless it is the `first`, then the
    /// line break when indenting.
    #[inline(always)]
    pub(super) fn open_entry(&mut self, level: usize, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        self.newline(level + 1);
    }

    /// Ends an object at `level` (`empty`: nothing was written in it).
    pub(super) fn close_object(&mut self, level: usize, empty: bool) {
        if !empty {
            self.newline(level);
        }
        self.out.push(b'}');
    }

    /// Writes the key at stack slot `key` (a string or a number) and the separator after it.
    #[inline(always)]
    pub(super) unsafe fn api_key(&mut self, key: c_int) -> Step {
        let l = self.l;
        match ffi::lua_type(l, key) {
            ffi::LUA_TSTRING => self.key(str_at(l, key)),
            ffi::LUA_TNUMBER => {
                self.out.push(b'"');
                write_num(&mut self.out, ffi::lua_tonumber(l, key));
                self.out.push(b'"');
                self.sep();
            }
            t => {
                let name = std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                return self.fail(format!(
                    "json.stringify: cannot use a {name} as an object key"
                ));
            }
        }
        Ok(())
    }

    #[inline(always)]
    pub(super) fn sep(&mut self) {
        let sep: &[u8] = if self.s.indent.is_some() { b": " } else { b":" };
        self.out.extend_from_slice(sep);
    }

    /// Writes a string key and the separator after it. `k` is a Lua string's bytes: its
    /// address identifies it (strings are interned and do not move while the table holds
    /// them; see `tojson` for when that may stop), so a key met before is copied from the
    /// cache.
    #[inline(always)]
    pub(super) fn key(&mut self, k: &[u8]) {
        let p = k.as_ptr();
        let slot = ((p as usize >> 4).wrapping_mul(0x9E37_79B9) >> 7) % KEY_SLOTS;
        let cached = &self.key_cache[slot];
        if cached.ptr == p {
            let n = cached.len;
            // one fixed-size copy (cheaper than a call to memcpy), then the length
            self.out.reserve(KEY_WRITTEN);
            let spare = self.out.spare_capacity_mut();
            for (d, s) in spare[..KEY_WRITTEN].iter_mut().zip(cached.bytes) {
                d.write(s);
            }
            let len = self.out.len();
            // SAFETY: KEY_WRITTEN >= n bytes past `len` were just written, within capacity.
            unsafe { self.out.set_len(len + n) };
            return;
        }
        let start = self.out.len();
        write_str(&mut self.out, k);
        self.sep();
        let written = &self.out[start..];
        if written.len() <= KEY_WRITTEN {
            let mut bytes = [0u8; KEY_WRITTEN];
            bytes[..written.len()].copy_from_slice(written);
            self.key_cache[slot] = KeySlot {
                ptr: p,
                len: written.len(),
                bytes,
            };
        }
    }
}

/// Values an object leaves out (dkjson skips them; elsewhere they are refused).
#[inline(always)]
pub(super) fn skipped(t: c_int) -> bool {
    t == ffi::LUA_TFUNCTION || t == ffi::LUA_TTHREAD || t == ffi::LUA_TUSERDATA
}

/// dkjson's rule for a table without a `__jsontype`: its positive integer keys (`n` of them,
/// the largest `max`) make an array unless it would be mostly holes.
pub(super) fn mostly_filled(max: usize, n: usize) -> Option<usize> {
    if max > 10 && max > n * 2 {
        None
    } else {
        Some(max)
    }
}

/// A table marked as an array is written up to its largest key, unless that writes more than
/// 2^24 entries, most of them null.
pub(super) fn not_too_sparse(max: usize, n: usize) -> Option<usize> {
    (max <= 1 << 24 || max / 2 <= n).then_some(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_std_formats_them() {
        let mut values = vec![0, 1, 9, 10, 99, 100, 101, 999, 1000, 12345, u64::MAX];
        let mut p = 1u64;
        while let Some(q) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1, q - 1]);
            p = q;
        }
        for v in values {
            let mut out = b"x".to_vec();
            write_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
    }

    #[test]
    fn numbers_are_written_in_their_shortest_form() {
        for (n, want) in [
            (0.0, "0"),
            (-0.0, "0"),
            (-7.0, "-7"),
            (1.25, "1.25"),
            (-40000.5, "-40000.5"),
            (2347.24, "2347.24"),
            (0.001, "0.001"),
            (1e15, "1000000000000000.0"),
            (1e300, "1e300"),
            (-999999999999999.0, "-999999999999999"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "null"),
        ] {
            let mut out = Vec::new();
            write_num(&mut out, n);
            assert_eq!(String::from_utf8_lossy(&out), want, "{n}");
        }
    }
}
