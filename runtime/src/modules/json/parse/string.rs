//! Strings for the reader: plain runs found 8 bytes at a time and pushed straight from the
//! text, escapes decoded into a scratch buffer, short strings pushed from a cache of stack
//! slots (a cached string is pushed with `lua_pushvalue`, no hashing or interning).

use std::ffi::c_int;

use mlua::ffi;

use super::super::shape::{read_u64, Key};
use super::{Loc, Reader, Step, Stop, CACHE_MAX_LEN, CACHE_SLOTS};

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

impl Reader<'_> {
    /// Reads the string at `i` (its opening quote) and pushes it.
    pub(super) unsafe fn string(&mut self) -> Step {
        let loc = self.scan_str()?;
        self.push_loc(loc);
        Ok(())
    }

    /// Pushes a string read by `scan_str`.
    pub(super) unsafe fn push_loc(&mut self, loc: Loc) {
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
    ///
    /// Inlined for its common case, a plain ASCII string ending within the text's last whole
    /// word: called out of line, its 24-byte result went back through memory, and reading it
    /// stalled on the stores that wrote it (store forwarding) for every string.
    #[inline(always)]
    pub(super) fn scan_str(&mut self) -> Result<Loc, Stop> {
        let start = self.i + 1;
        let j = skip_plain(self.b, start);
        if self.at(j) == b'"' {
            self.i = j + 1;
            return Ok(Loc::Text(start, j));
        }
        self.scan_str_rest(start, j)
    }

    /// The rest of `scan_str`, from `j` (in the string that starts at `start`): escapes,
    /// bytes past ASCII, the text's last bytes, errors.
    #[inline(never)]
    fn scan_str_rest(&mut self, start: usize, mut j: usize) -> Result<Loc, Stop> {
        let b = self.b;
        let mut ascii = true;
        // The plain run: 8 bytes at a time, then byte by byte up to the first special.
        loop {
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
            j = skip_plain(b, j);
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
            j = skip_plain(b, j);
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
    pub(super) unsafe fn push_str(&mut self, s: &[u8]) {
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
}

/// Skips plain bytes 8 at a time from `j`: the index of the first special byte in the last
/// whole 8-byte word scanned, or where fewer than 8 bytes remain (the caller goes on byte by
/// byte from there).
fn skip_plain(b: &[u8], mut j: usize) -> usize {
    while j + 8 <= b.len() {
        let m = specials(read_u64(b, j));
        if m != 0 {
            return j + (m.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    j
}
