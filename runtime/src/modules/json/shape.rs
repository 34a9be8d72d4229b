//! Object shapes for `json.parse`: documents repeat their objects' key lists, and a Lua table
//! constructor builds such an object far faster than key-by-key `rawset` through the C API.
//!
//! Per nesting depth the reader remembers the key list of the last object it read there. When
//! two objects in a row at one depth have the same keys (same order, no duplicates), it
//! compiles a small Lua function for that list,
//! `function(a1, a2, ...) return setmetatable({["k1"] = a1, ["k2"] = a2, ...}, object_mt) end`,
//! whose constructor LuaJIT makes by copying a template table that already holds the keys.
//! The next object at that depth is read speculatively: the function is pushed first, then
//! only the values; if the keys turn out the same it is called, else what was read is turned
//! into a table by hand ([`Level::demote`]'s caller) and reading goes on key by key.

use std::ffi::c_int;

use mlua::ffi;

extern "C" {
    /// LuaJIT's public C API (luajit.h), linked with the vendored LuaJIT.
    fn luaJIT_setmode(
        l: *mut ffi::lua_State,
        idx: std::ffi::c_int,
        mode: std::ffi::c_int,
    ) -> std::ffi::c_int;
}
/// `LUAJIT_MODE_FUNC | LUAJIT_MODE_OFF`: never compile this function.
const JIT_OFF_FOR_FUNC: c_int = 2;

/// At most this many shape functions are compiled per parse (each costs a `load`).
pub const MAX_SHAPES: c_int = 64;
/// Objects with more keys than this are always built key by key.
const MAX_KEYS: usize = 40;
/// Nor are objects with a key longer than this.
const MAX_KEY_LEN: usize = 128;

/// A short string, whole: its length and its bytes packed in two words (see [`Key::of`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    len: usize,
    a: u64,
    b: u64,
}

impl Key {
    pub const EMPTY: Key = Key {
        len: usize::MAX,
        a: 0,
        b: 0,
    };

    /// For at most 16 bytes: equal keys are equal strings (the words cover every byte: the
    /// first and last 8, or 4, or bytes 0, n/2 and n-1).
    pub fn of(s: &[u8]) -> Key {
        let n = s.len();
        let (a, b) = if n >= 8 {
            (read_u64(s, 0), read_u64(s, n - 8))
        } else if n >= 4 {
            let lo = u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64;
            let hi = u32::from_le_bytes([s[n - 4], s[n - 3], s[n - 2], s[n - 1]]) as u64;
            (lo | hi << 32, 0)
        } else if n > 0 {
            (
                s[0] as u64 | (s[n / 2] as u64) << 8 | (s[n - 1] as u64) << 16,
                0,
            )
        } else {
            (0, 0)
        };
        Key { len: n, a, b }
    }

    /// A slot among `slots` (a power of two) for this key.
    pub fn slot(&self, slots: usize) -> usize {
        let h =
            (self.a ^ self.b.rotate_left(29) ^ self.len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> (64 - slots.trailing_zeros())) as usize
    }
}

pub fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// What the reader remembers about one nesting depth.
#[derive(Default)]
pub struct Level {
    /// The length of the last array and the key count of the last object read here: the
    /// next table here is made that size (growing a table 1, 2, 4, 8 rehashes it each time).
    pub arr: c_int,
    pub rec: c_int,
    /// The key list of the last object read here: the keys' bytes one after the other, and
    /// where each ends.
    keys: Vec<u8>,
    ends: Vec<u32>,
    /// The keys of the object being read here, key by key.
    cur: Vec<u8>,
    cur_ends: Vec<u32>,
    /// How many objects in a row had `keys`.
    repeats: u32,
    /// The index (in the parse's table of shape functions) of the function for `keys`, or 0.
    pub func: c_int,
    /// `keys` as [`Key`]s, while there is a function (`Key::EMPTY` for a key longer than
    /// 16 bytes or one JSON must escape: those are compared once decoded).
    packed: Vec<Key>,
}

impl Level {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The `k`th key of `keys`.
    pub fn key(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.keys[start..self.ends[k] as usize]
    }

    /// Whether `key` is the `k`th key of `keys` (`k < len`; only while there is a function).
    pub fn is_key(&self, k: usize, key: &[u8]) -> bool {
        if self.packed[k].len <= 16 {
            self.packed[k] == Key::of(key)
        } else {
            self.key(k) == key
        }
    }

    /// Whether the text at `at` is the `k`th key written plainly (`k < len`), then its closing
    /// quote: the key's length if so.
    pub fn is_written_at(&self, k: usize, text: &[u8], at: usize) -> Option<usize> {
        let want = self.packed[k];
        let n = want.len;
        if n > 16 || text.get(at + n) != Some(&b'"') {
            return None;
        }
        (Key::of(&text[at..at + n]) == want).then_some(n)
    }

    /// A new object starts here (read key by key).
    pub fn begin(&mut self) {
        self.cur.clear();
        self.cur_ends.clear();
    }

    pub fn record(&mut self, key: &[u8]) {
        self.cur.extend_from_slice(key);
        self.cur_ends.push(self.cur.len() as u32);
    }

    /// A speculative read stopped after `k` keys that matched `keys`: those are the object's
    /// keys so far.
    pub fn keep_first(&mut self, k: usize) {
        self.begin();
        let end = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        self.cur.extend_from_slice(&self.keys[..end]);
        self.cur_ends.extend_from_slice(&self.ends[..k]);
    }

    /// The object read key by key is complete; whether its key list now deserves a function.
    pub fn finish(&mut self) -> bool {
        if self.cur_ends == self.ends && self.cur == self.keys {
            self.repeats = self.repeats.saturating_add(1);
        } else {
            std::mem::swap(&mut self.keys, &mut self.cur);
            std::mem::swap(&mut self.ends, &mut self.cur_ends);
            self.repeats = 1;
            self.func = 0;
        }
        // asked once per run of equal key lists (the caller may be out of shapes then)
        self.func == 0 && self.repeats == 2 && self.worth_a_shape()
    }

    /// A speculative read matched every key.
    pub fn matched(&mut self) {
        self.repeats = self.repeats.saturating_add(1);
    }

    fn worth_a_shape(&self) -> bool {
        let n = self.len();
        if n == 0 || n > MAX_KEYS || (0..n).any(|k| self.key(k).len() > MAX_KEY_LEN) {
            return false;
        }
        // duplicate keys: a constructor's result would depend on its order of stores
        !(0..n).any(|a| (a + 1..n).any(|b| self.key(a) == self.key(b)))
    }

    /// The Lua source of the shape function for `keys`.
    fn source(&self) -> Vec<u8> {
        let n = self.len();
        let mut src = b"local s, m = ...\nreturn function(".to_vec();
        for k in 0..n {
            if k > 0 {
                src.push(b',');
            }
            src.extend_from_slice(format!("a{k}").as_bytes());
        }
        src.extend_from_slice(b") return s({");
        for k in 0..n {
            src.extend_from_slice(b"[\"");
            for &c in self.key(k) {
                // every byte as a decimal escape: any key is a valid literal
                src.extend_from_slice(format!("\\{c:03}").as_bytes());
            }
            src.extend_from_slice(format!("\"]=a{k},").as_bytes());
        }
        src.extend_from_slice(b"}, m) end\n");
        src
    }

    /// Compiles the shape function for `keys` and stores it at `id` in the table at `shapes`;
    /// `setmt` and `object_mt` are the stack slots of `setmetatable` and the object metatable.
    /// Returns whether it worked (a load that fails leaves the level as it was).
    ///
    /// # Safety
    /// `l` is a live state and the three indices are absolute slots of it.
    pub unsafe fn compile(
        &mut self,
        l: *mut ffi::lua_State,
        shapes: c_int,
        setmt: c_int,
        object_mt: c_int,
        id: c_int,
    ) -> bool {
        if ffi::lua_checkstack(l, 4) == 0 {
            return false;
        }
        let src = self.source();
        if ffi::luaL_loadbuffer(l, src.as_ptr() as *const _, src.len(), c"=json".as_ptr()) != 0 {
            ffi::lua_settop(l, -2);
            return false;
        }
        ffi::lua_pushvalue(l, setmt);
        ffi::lua_pushvalue(l, object_mt);
        ffi::lua_call(l, 2, 1);
        // Called from C, the function can never become a trace (LuaJIT does not record a
        // return to a C frame): without this, each one gets hot, is recorded, and aborts
        // (the abort unwinds with the system unwinder, which the native profiler's signal
        // handler may be inside of) a dozen times before LuaJIT blacklists it.
        luaJIT_setmode(l, -1, JIT_OFF_FOR_FUNC);
        ffi::lua_rawseti_(l, shapes, id);
        self.func = id;
        self.packed = (0..self.len())
            .map(|k| {
                let key = self.key(k);
                let plain = key.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\');
                if key.len() <= 16 && plain {
                    Key::of(key)
                } else {
                    Key::EMPTY
                }
            })
            .collect();
        true
    }
}
