//! Objects for the reader: key by key through the C API, or by a shape function when the
//! keys are the ones the last object at that depth had (see `../shape.rs`).

use std::ffi::c_int;

use mlua::ffi;

use super::{Loc, Reader, Step, Stop};

impl Reader<'_> {
    pub(super) unsafe fn object(&mut self, depth: usize) -> Step {
        self.enter(depth)?;
        let hint = self.hint(depth, false);
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
}
