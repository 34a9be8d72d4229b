//! `json.parse`'s reader: a hand-written scanner that builds Lua values directly on the stack.
//!
//! No intermediate tree and no intermediate `String`: a string without escapes is pushed
//! straight from the input bytes, short strings (object keys above all) come from a small
//! cache of stack slots instead of being hashed and interned again, and tables are made at the
//! size the last table at the same depth had. The grammar is strict JSON (RFC 8259) for one
//! value; what follows the value is left to the caller, as dkjson leaves it. Numbers past a
//! double's range read as ±inf, as dkjson's `tonumber` reads them.

use std::borrow::Cow;
use std::ffi::c_int;

use mlua::ffi;

use super::shape::{read_u64, Key, Level, MAX_SHAPES};

/// Tables nested deeper than this are refused (the reader recurses once per level).
pub const MAX_DEPTH: usize = 1000;
/// Cache slots for short strings (a power of two).
const CACHE_SLOTS: usize = 64;
/// Strings up to this many bytes go through the cache: a cache entry holds them whole.
const CACHE_MAX_LEN: usize = 16;
/// Stack slots the reader needs besides the values it builds: the cache.
pub const CACHE_STACK: c_int = CACHE_SLOTS as c_int;

/// Why the text was refused: the byte offset (0-based, into the whole string) and a message.
pub struct Fail {
    pub at: usize,
    pub msg: Cow<'static, str>,
}

/// Where a string's bytes are once read: a range of the text (it had no escapes), or the
/// scratch buffer (decoded).
#[derive(Clone, Copy)]
enum Loc {
    Text(usize, usize),
    Scratch,
}

/// A refusal on its way out; the reason is in `Reader::failure`.
struct Stop;

type Step = Result<(), Stop>;

/// Where the reader finds what it pushes: absolute stack indices.
pub struct Slots {
    /// The value JSON `null` becomes (nil unless the caller gave one).
    pub null: c_int,
    pub array_mt: c_int,
    pub object_mt: c_int,
    /// The first of `CACHE_SLOTS` slots for cached strings (nil when empty).
    pub cache: c_int,
    /// `setmetatable` (no shapes unless it is a function), and a table for the shape
    /// functions (see shape.rs).
    pub setmt: c_int,
    pub shapes: c_int,
}

pub struct Reader<'a> {
    l: *mut ffi::lua_State,
    /// The text. The byte after its end is readable and NUL (see [`Reader::new`]): scanning
    /// loops stop on it without a bounds check of their own.
    b: &'a [u8],
    i: usize,
    slots: Slots,
    /// Per depth: table sizes and object shapes seen there.
    levels: Vec<Level>,
    /// Shape functions compiled so far, and how many may be.
    shapes: c_int,
    max_shapes: c_int,
    /// Decoded bytes of a string with escapes.
    scratch: Vec<u8>,
    /// What each cache slot's string is.
    cache: [Key; CACHE_SLOTS],
    failure: Option<Fail>,
}

/// JSON's whitespace.
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// Powers of ten a double holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// One bit set in each byte of `x` that is `"`, `\`, a control character or not ASCII (the
/// bytes that end a plain run in a string). Bits above the lowest may be false alarms; the
/// lowest is exact.
fn specials(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = x ^ (ONES * b'"' as u64);
    let bslash = x ^ (ONES * b'\\' as u64);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    // bytes below 0x20; bytes >= 0x80 are caught by `x` itself
    let ctrl = x.wrapping_sub(ONES * 0x20) & !x;
    (zero(quote) | zero(bslash) | ctrl | x) & HIGH
}

impl<'a> Reader<'a> {
    /// A reader of `b` from byte `start` (at most `b.len()`).
    ///
    /// # Safety
    /// `b` must be a Lua string's bytes (the C API guarantees a NUL after the last one) that
    /// stays alive and unmoved while the reader lives; `l` must be that live state, with the
    /// slots of `slots` in place and one free stack slot for the value.
    pub unsafe fn new(
        l: *mut ffi::lua_State,
        b: &'a [u8],
        start: usize,
        slots: Slots,
    ) -> Reader<'a> {
        let max_shapes = if ffi::lua_type(l, slots.setmt) == ffi::LUA_TFUNCTION {
            MAX_SHAPES
        } else {
            0
        };
        Reader {
            l,
            b,
            i: start.min(b.len()),
            slots,
            levels: Vec::new(),
            shapes: 0,
            max_shapes,
            scratch: Vec::new(),
            cache: [Key::EMPTY; CACHE_SLOTS],
            failure: None,
        }
    }

    /// Reads one value (after optional whitespace) and pushes it; returns the offset just past
    /// it. On failure the stack may hold partial values above where it started.
    pub fn read(&mut self) -> Result<usize, Fail> {
        self.skip_ws();
        // SAFETY: the state and its stack space are the constructor's contract.
        match unsafe { self.value(0) } {
            Ok(()) => Ok(self.i),
            Err(Stop) => Err(self.failure.take().unwrap_or(Fail {
                at: self.i,
                msg: Cow::Borrowed("invalid JSON"),
            })),
        }
    }

    /// Records why the text is refused.
    fn fail(&mut self, at: usize, msg: &'static str) -> Step {
        self.failure = Some(Fail {
            at,
            msg: Cow::Borrowed(msg),
        });
        Err(Stop)
    }

    /// The byte at `i`, for `i <= len`: NUL at the end.
    #[inline(always)]
    fn at(&self, i: usize) -> u8 {
        debug_assert!(i <= self.b.len());
        // SAFETY: callers keep `i <= len`, and the byte at `len` is the NUL after a Lua
        // string's last byte (the constructor's contract).
        unsafe { *self.b.as_ptr().add(i) }
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        // every whitespace byte is at most a space: one comparison for the usual no
        while self.at(self.i) <= b' ' && is_ws(self.at(self.i)) {
            self.i += 1;
        }
    }

    /// Fails with `msg`, or with `eof` when the reader is at the end of the text.
    fn unexpected(&mut self, at: usize, msg: &'static str, eof: &'static str) -> Step {
        if at >= self.b.len() {
            self.fail(self.b.len(), eof)
        } else {
            self.fail(at, msg)
        }
    }

    /// Pushes the value at `i` (whitespace already skipped). Needs one free stack slot.
    unsafe fn value(&mut self, depth: usize) -> Step {
        let l = self.l;
        match self.at(self.i) {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                let n = self.number()?;
                ffi::lua_pushnumber(l, n);
                Ok(())
            }
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b't' => {
                self.literal(b"true")?;
                ffi::lua_pushboolean(l, 1);
                Ok(())
            }
            b'f' => {
                self.literal(b"false")?;
                ffi::lua_pushboolean(l, 0);
                Ok(())
            }
            b'n' => {
                self.literal(b"null")?;
                ffi::lua_pushvalue(l, self.slots.null);
                Ok(())
            }
            _ => self.unexpected(
                self.i,
                "expected a JSON value",
                "end of text where a JSON value was expected",
            ),
        }
    }

    /// A value inside an array or object: strings and numbers here, the rest through `value`
    /// (one call less for the common values).
    #[inline(always)]
    unsafe fn member_value(&mut self, depth: usize) -> Step {
        match self.at(self.i) {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                let n = self.number()?;
                ffi::lua_pushnumber(self.l, n);
                Ok(())
            }
            _ => self.value(depth),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Step {
        let end = self.i + word.len();
        if self.b.get(self.i..end) == Some(word) {
            self.i = end;
            return Ok(());
        }
        // point at the first byte that differs
        let same = self.b[self.i..]
            .iter()
            .zip(word)
            .take_while(|(a, b)| a == b)
            .count();
        self.unexpected(
            self.i + same,
            "expected a JSON value",
            "end of text inside a JSON value",
        )
    }

    /// `n` more stack slots.
    unsafe fn room(&mut self, n: c_int) -> Step {
        if ffi::lua_checkstack(self.l, n) == 0 {
            return self.fail(self.i, "out of Lua stack space");
        }
        Ok(())
    }

    /// A table one level deeper: the depth limit; returns the size hint for the table.
    unsafe fn enter(&mut self, depth: usize) -> Result<(c_int, c_int), Stop> {
        if depth > MAX_DEPTH {
            self.failure = Some(Fail {
                at: self.i,
                msg: format!("JSON nesting deeper than {MAX_DEPTH} levels").into(),
            });
            return Err(Stop);
        }
        if self.levels.len() <= depth {
            self.levels.resize_with(depth + 1, Level::default);
        }
        // At most 64 each: small tables are where growing costs most, and a huge array must
        // not make every later one at its depth huge.
        let lv = &self.levels[depth];
        Ok((lv.arr.min(64), lv.rec.min(64)))
    }

    unsafe fn array(&mut self, depth: usize) -> Step {
        let (hint, _) = self.enter(depth)?;
        // the table and a value
        self.room(4)?;
        let l = self.l;
        self.i += 1;
        ffi::lua_createtable(l, hint, 0);
        self.skip_ws();
        let mut n: c_int = 0;
        if self.at(self.i) == b']' {
            self.i += 1;
        } else {
            loop {
                self.member_value(depth + 1)?;
                n = match n.checked_add(1) {
                    Some(n) => n,
                    None => return self.fail(self.i, "array too long"),
                };
                ffi::lua_rawseti_(l, -2, n);
                self.skip_ws();
                match self.at(self.i) {
                    b',' => {
                        self.i += 1;
                        self.skip_ws();
                    }
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => {
                        return self.unexpected(
                            self.i,
                            "expected ',' or ']' in an array",
                            "end of text inside an array",
                        )
                    }
                }
            }
        }
        self.levels[depth].arr = n;
        ffi::lua_pushvalue(l, self.slots.array_mt);
        ffi::lua_setmetatable(l, -2);
        Ok(())
    }

    unsafe fn object(&mut self, depth: usize) -> Step {
        let (_, hint) = self.enter(depth)?;
        // the table, a key and a value; or the shape function and its arguments
        let func = self.levels[depth].func;
        self.room(
            4 + if func != 0 {
                self.levels[depth].len() as c_int
            } else {
                0
            },
        )?;
        let l = self.l;
        self.i += 1;
        self.skip_ws();
        if func != 0 {
            return self.object_shaped(depth, func, hint);
        }
        ffi::lua_createtable(l, 0, hint);
        self.levels[depth].begin();
        if self.at(self.i) == b'}' {
            self.i += 1;
            return self.object_done(depth, 0);
        }
        self.object_members(depth, 0, None)
    }

    /// Reads an object's members key by key into the table on top of the stack, from a key
    /// (`pending` when it was read already) to the closing brace; `n` members came before.
    unsafe fn object_members(&mut self, depth: usize, mut n: c_int, pending: Option<Loc>) -> Step {
        let l = self.l;
        let mut pending = pending;
        loop {
            let loc = match pending.take() {
                Some(loc) => loc,
                None => {
                    if self.at(self.i) != b'"' {
                        return self.unexpected(
                            self.i,
                            "expected a string key in an object",
                            "end of text inside an object",
                        );
                    }
                    self.scan_str()?
                }
            };
            let b = self.b;
            let key = match loc {
                Loc::Text(start, end) => &b[start..end],
                Loc::Scratch => &self.scratch[..],
            };
            self.levels[depth].record(key);
            self.push_loc(loc);
            self.colon()?;
            self.member_value(depth + 1)?;
            ffi::lua_rawset(l, -3);
            n = n.saturating_add(1);
            if self.object_next()? {
                break;
            }
        }
        self.object_done(depth, n)
    }

    /// After a key: the colon and the whitespace around it.
    fn colon(&mut self) -> Step {
        self.skip_ws();
        if self.at(self.i) != b':' {
            return self.unexpected(
                self.i,
                "expected ':' after an object key",
                "end of text inside an object",
            );
        }
        self.i += 1;
        self.skip_ws();
        Ok(())
    }

    /// After a member: `,` (false: another member follows) or `}` (true: the object ends).
    fn object_next(&mut self) -> Result<bool, Stop> {
        self.skip_ws();
        match self.at(self.i) {
            b',' => {
                self.i += 1;
                self.skip_ws();
                Ok(false)
            }
            b'}' => {
                self.i += 1;
                Ok(true)
            }
            _ => {
                self.unexpected(
                    self.i,
                    "expected ',' or '}' in an object",
                    "end of text inside an object",
                )?;
                Ok(true)
            }
        }
    }

    /// The object read key by key (on top of the stack) is complete.
    unsafe fn object_done(&mut self, depth: usize, n: c_int) -> Step {
        let l = self.l;
        ffi::lua_pushvalue(l, self.slots.object_mt);
        ffi::lua_setmetatable(l, -2);
        let lv = &mut self.levels[depth];
        lv.rec = n;
        if lv.finish() && self.shapes < self.max_shapes {
            let s = &self.slots;
            if lv.compile(l, s.shapes, s.setmt, s.object_mt, self.shapes + 1) {
                self.shapes += 1;
            }
        }
        Ok(())
    }

    /// Reads an object expected to have the keys of the shape function `func`: pushes the
    /// function, then the values only, and calls it if the keys were those.
    unsafe fn object_shaped(&mut self, depth: usize, func: c_int, hint: c_int) -> Step {
        let l = self.l;
        let want = self.levels[depth].len();
        ffi::lua_rawgeti_(l, self.slots.shapes, func);
        let base = ffi::lua_gettop(l);
        let mut k = 0;
        if self.at(self.i) == b'}' {
            self.i += 1;
        } else {
            loop {
                if self.at(self.i) != b'"' {
                    return self.unexpected(
                        self.i,
                        "expected a string key in an object",
                        "end of text inside an object",
                    );
                }
                // the expected key, written plainly: no need to scan it
                if k < want {
                    if let Some(n) = self.levels[depth].is_written_at(k, self.b, self.i + 1) {
                        self.i += n + 2;
                        self.colon()?;
                        self.member_value(depth + 1)?;
                        k += 1;
                        if self.object_next()? {
                            break;
                        }
                        continue;
                    }
                }
                let loc = self.scan_str()?;
                let same = {
                    let b = self.b;
                    let key = match loc {
                        Loc::Text(start, end) => &b[start..end],
                        Loc::Scratch => &self.scratch[..],
                    };
                    k < want && self.levels[depth].is_key(k, key)
                };
                if !same {
                    self.demote(depth, base, k, hint);
                    return self.object_members(depth, k as c_int, Some(loc));
                }
                self.colon()?;
                self.member_value(depth + 1)?;
                k += 1;
                if self.object_next()? {
                    break;
                }
            }
        }
        if k == want {
            ffi::lua_call(l, want as c_int, 1);
            let lv = &mut self.levels[depth];
            lv.matched();
            lv.rec = k as c_int;
            return Ok(());
        }
        self.demote(depth, base, k, hint);
        self.object_done(depth, k as c_int)
    }

    /// A speculative read is off after `k` keys that matched: the shape function at `base`
    /// and the `k` values above it become a table (in the function's slot), to go on key by
    /// key.
    unsafe fn demote(&mut self, depth: usize, base: c_int, k: usize, hint: c_int) {
        let l = self.l;
        ffi::lua_createtable(l, 0, hint.max(k as c_int));
        let t = ffi::lua_gettop(l);
        let keys: Vec<Vec<u8>> = (0..k).map(|j| self.levels[depth].key(j).to_vec()).collect();
        for (j, key) in keys.iter().enumerate() {
            self.push_str(key);
            ffi::lua_pushvalue(l, base + 1 + j as c_int);
            ffi::lua_rawset(l, t);
        }
        ffi::lua_replace(l, base);
        ffi::lua_settop(l, base);
        self.levels[depth].keep_first(k);
    }

    /// Reads the string at `i` (its opening quote) and pushes it.
    unsafe fn string(&mut self) -> Step {
        let loc = self.scan_str()?;
        self.push_loc(loc);
        Ok(())
    }

    /// Pushes a string read by `scan_str`.
    unsafe fn push_loc(&mut self, loc: Loc) {
        match loc {
            Loc::Text(start, end) => {
                let b = self.b;
                self.push_str(&b[start..end]);
            }
            Loc::Scratch => {
                let scratch = std::mem::take(&mut self.scratch);
                self.push_str(&scratch);
                self.scratch = scratch;
            }
        }
    }

    /// Reads the string at `i` (its opening quote): where its bytes are.
    fn scan_str(&mut self) -> Result<Loc, Stop> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        let mut ascii = true;
        // The plain run: 8 bytes at a time, then byte by byte up to the first special.
        loop {
            while j + 8 <= b.len() {
                let m = specials(read_u64(b, j));
                if m != 0 {
                    j += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                j += 8;
            }
            match self.at(j) {
                b'"' => {
                    if !ascii {
                        self.check_utf8(start, j)?;
                    }
                    self.i = j + 1;
                    return Ok(Loc::Text(start, j));
                }
                b'\\' => break,
                c if c < 0x20 => {
                    self.unexpected(
                        j,
                        "control character inside a string",
                        "end of text inside a string",
                    )?;
                }
                c => {
                    ascii &= c < 0x80;
                    j += 1;
                }
            }
        }
        // Escapes: decode into the scratch buffer.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(&b[start..j]);
        let r = self.escaped(&mut scratch, start, j, ascii);
        self.scratch = scratch;
        r.map(|()| Loc::Scratch)
    }

    /// The rest of a string with escapes, from `j` (a backslash), into `out`.
    fn escaped(&mut self, out: &mut Vec<u8>, start: usize, mut j: usize, mut ascii: bool) -> Step {
        let b = self.b;
        loop {
            // copy the plain run up to the next special byte
            let run = j;
            while j + 8 <= b.len() {
                let m = specials(read_u64(b, j));
                if m != 0 {
                    j += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                j += 8;
            }
            out.extend_from_slice(&b[run..j]);
            match self.at(j) {
                b'"' => {
                    if !ascii {
                        self.check_utf8(start, j)?;
                    }
                    self.i = j + 1;
                    return Ok(());
                }
                b'\\' => {
                    let short = match self.at(j + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            j = self.unicode_escape(out, j)?;
                            continue;
                        }
                        _ => {
                            return self.unexpected(
                                j + 1,
                                "invalid escape in a string",
                                "end of text inside a string",
                            )
                        }
                    };
                    out.push(short);
                    j += 2;
                }
                c if c < 0x20 => {
                    return self.unexpected(
                        j,
                        "control character inside a string",
                        "end of text inside a string",
                    )
                }
                c => {
                    ascii &= c < 0x80;
                    out.push(c);
                    j += 1;
                }
            }
        }
    }

    /// Four hex digits at `at` (stops at the first byte that is not one, so never reads past
    /// the terminating NUL).
    fn hex4(&mut self, at: usize) -> Result<u32, Stop> {
        let mut v = 0u32;
        for k in 0..4 {
            match (self.at(at + k) as char).to_digit(16) {
                Some(d) => v = v * 16 + d,
                None => {
                    self.unexpected(
                        at + k,
                        "invalid hex digit in a \\u escape",
                        "end of text inside a \\u escape",
                    )?;
                }
            }
        }
        Ok(v)
    }

    /// A `\uXXXX` escape at `j` (a surrogate pair takes two) as UTF-8; returns the offset after.
    fn unicode_escape(&mut self, out: &mut Vec<u8>, j: usize) -> Result<usize, Stop> {
        let hi = self.hex4(j + 2)?;
        let (cp, end) = match hi {
            0xD800..=0xDBFF => {
                // `j + 6` is at most the end (four hex digits came before it)
                if self.at(j + 6) != b'\\' || self.at(j + 7) != b'u' {
                    self.fail(j + 6, "unpaired surrogate in a \\u escape")?;
                }
                let lo = self.hex4(j + 8)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    self.fail(j + 6, "unpaired surrogate in a \\u escape")?;
                }
                (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), j + 12)
            }
            0xDC00..=0xDFFF => {
                self.fail(j, "unpaired surrogate in a \\u escape")?;
                (0, j)
            }
            _ => (hi, j + 6),
        };
        // Every value left is a scalar value (surrogates were handled above).
        let c = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(end)
    }

    fn check_utf8(&mut self, start: usize, end: usize) -> Step {
        match std::str::from_utf8(&self.b[start..end]) {
            Ok(_) => Ok(()),
            Err(e) => self.fail(start + e.valid_up_to(), "invalid UTF-8 in a string"),
        }
    }

    /// Pushes a string, through the cache when it is short.
    unsafe fn push_str(&mut self, s: &[u8]) {
        let l = self.l;
        if s.len() > CACHE_MAX_LEN {
            ffi::lua_pushlstring(l, s.as_ptr() as *const _, s.len());
            return;
        }
        let key = Key::of(s);
        let k = key.slot(CACHE_SLOTS);
        let idx = self.slots.cache + k as c_int;
        if self.cache[k] == key {
            ffi::lua_pushvalue(l, idx);
            return;
        }
        ffi::lua_pushlstring(l, s.as_ptr() as *const _, s.len());
        ffi::lua_pushvalue(l, -1);
        ffi::lua_replace(l, idx);
        self.cache[k] = key;
    }

    /// Reads a number at `i`: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
    fn number(&mut self) -> Result<f64, Stop> {
        let start = self.i;
        let mut j = start;
        let neg = self.at(j) == b'-';
        if neg {
            j += 1;
        }
        // The significand's digits as an integer: exact while there are at most 19 of them.
        let mut m: u64 = 0;
        let mut digits = 0u32;
        let mut frac_digits = 0i32;
        match self.at(j) {
            b'0' => {
                j += 1;
                if self.at(j).is_ascii_digit() {
                    self.fail(j, "leading zero in a number")?;
                }
            }
            b'1'..=b'9' => {
                while let c @ b'0'..=b'9' = self.at(j) {
                    m = m.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                    digits += 1;
                    j += 1;
                }
            }
            _ => {
                self.unexpected(
                    j,
                    "expected a digit in a number",
                    "end of text inside a number",
                )?;
            }
        }
        if self.at(j) == b'.' {
            j += 1;
            if !self.at(j).is_ascii_digit() {
                self.unexpected(
                    j,
                    "expected a digit after '.' in a number",
                    "end of text inside a number",
                )?;
            }
            let from = j;
            while let c @ b'0'..=b'9' = self.at(j) {
                m = m.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                j += 1;
            }
            frac_digits = (j - from).min(1 << 20) as i32;
            digits = digits.saturating_add(frac_digits as u32);
        }
        let exact = digits <= 19;
        let mut exp: i32 = 0;
        if matches!(self.at(j), b'e' | b'E') {
            j += 1;
            let eneg = self.at(j) == b'-';
            if matches!(self.at(j), b'-' | b'+') {
                j += 1;
            }
            if !self.at(j).is_ascii_digit() {
                self.unexpected(
                    j,
                    "expected a digit in a number's exponent",
                    "end of text inside a number",
                )?;
            }
            while let c @ b'0'..=b'9' = self.at(j) {
                exp = (exp * 10 + (c - b'0') as i32).min(100_000);
                j += 1;
            }
            if eneg {
                exp = -exp;
            }
        }
        self.i = j;
        // Exact when the significand and the power of ten are both exact doubles: one
        // correctly rounded operation (Clinger's fast path).
        let e10 = exp - frac_digits;
        if exact && m <= 1 << 53 && (-22..=22).contains(&e10) {
            let f = m as f64;
            let f = if e10 < 0 {
                f / POW10[(-e10) as usize]
            } else {
                f * POW10[e10 as usize]
            };
            return Ok(if neg { -f } else { f });
        }
        // The general case: the standard library's correctly rounded reader (past a double's
        // range it gives ±inf, as dkjson's tonumber does).
        let text = std::str::from_utf8(&self.b[start..j]).unwrap_or("0");
        Ok(text.parse::<f64>().unwrap_or(0.0))
    }
}
