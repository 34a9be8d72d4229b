//! `json.parse`'s reader: a hand-written scanner that builds Lua values directly on the stack.
//!
//! No intermediate tree and no intermediate `String`: a string without escapes is pushed
//! straight from the input bytes, short strings (object keys above all) come from a small
//! cache of stack slots instead of being hashed and interned again, tables are made at the
//! size the last table at the same depth had, and objects that repeat their keys are built by
//! a compiled constructor (`../shape.rs`). The grammar is strict JSON (RFC 8259) for one
//! value; what follows the value is left to the caller, as dkjson leaves it. Numbers past a
//! double's range read as ±inf, as dkjson's `tonumber` reads them. Here: values, arrays and
//! the reader's state; `object.rs`, `string.rs`, `number.rs` read those.

use std::borrow::Cow;
use std::ffi::c_int;

use mlua::ffi;

use super::shape::{Key, Level, MAX_SHAPES};

mod number;
mod object;
mod string;

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

    /// A table one level deeper: the depth limit, and the level's record made.
    fn enter(&mut self, depth: usize) -> Step {
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
        Ok(())
    }

    /// The size to make the next table at `depth` (an array when `array`): the size of the
    /// last one there, at most 64 (small tables are where growing costs most, and a huge one
    /// must not make every later one at its depth huge). One field read: reading the two
    /// together (one 8-byte load of the two 4-byte fields just stored) stalled on store
    /// forwarding.
    fn hint(&self, depth: usize, array: bool) -> c_int {
        let lv = &self.levels[depth];
        if array {
            lv.arr.min(64)
        } else {
            lv.rec.min(64)
        }
    }

    unsafe fn array(&mut self, depth: usize) -> Step {
        self.enter(depth)?;
        let hint = self.hint(depth, true);
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
}
