//! The heap snapshot's walker: every object reachable from the globals, the registry and the
//! running thread, through the Lua C API, with the garbage collector stopped (after a full
//! collection, so garbage does not show). Nodes are tables, closures, coroutines, userdata,
//! cdata and strings; edges are table entries (element edges for integer keys, property edges
//! otherwise, an internal `(key)` edge to a key that is an object, weak edges in weak tables),
//! metatables, upvalues (context edges), environments, and for coroutines the named locals of
//! each frame (context edges) or, when no frame is live, the values on their stack.
//!
//! Depth first, one node at a time: a node's edges are handed to the [`Sink`] first (so they
//! stay together, as Chrome's format wants), then its children not walked yet are entered; past
//! a depth limit they wait in a table kept on the walker's own stack (out of the graph's reach).
//! Sizes are estimates from the public API: a table is its header plus 8 bytes an array slot
//! and 24 a hash node (rounded up to a power of two), a string its header plus its bytes.
//!
//! Tables and userdata are labelled with their class (`labels.rs`).
//!
//! Node ids are derived from the object's address and type (the collector does not move
//! objects), so they are stable across snapshots of one process: `heapdiff` matches by id.

use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::io;

use mlua::ffi::{self, lua_State};

use super::addrset::AddrSet;
use super::labels::{Labels, CLASS_BASE};
use super::stream::*;

/// Pushes one of the roots.
type PushRoot = fn(*mut lua_State);

/// Deeper than this, children wait in the deferred table instead of recursing.
const MAX_DEPTH: u32 = 200;

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Edges,
    Descend,
}

fn is_gc(t: c_int) -> bool {
    matches!(
        t,
        ffi::LUA_TSTRING
            | ffi::LUA_TTABLE
            | ffi::LUA_TFUNCTION
            | ffi::LUA_TUSERDATA
            | ffi::LUA_TTHREAD
            | ffi::LUA_TCDATA
    )
}

/// A node's id (32 bits, as Chrome reads ids into 32-bit arrays): the address in 8-byte
/// granules (unique within a 2 GiB span), and in the top 4 bits a tag from the type and `kind`
/// (the metatable of a table, the length of a string...), so an object allocated where a
/// different one was freed between two snapshots most likely gets another id.
pub fn node_id(addr: u64, lua_type: c_int, kind: u64) -> u32 {
    let tag = (kind.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as u32 ^ lua_type as u32;
    ((addr >> 3) as u32 & 0x0fff_ffff) | ((tag & 0xf) << 28)
}

struct Names {
    metatable: u32,
    key: u32,
    env: u32,
    stack: u32,
    upvalue: u32,
    table: u32,
    userdata: u32,
    cdata: u32,
    c_function: u32,
}

pub struct Walker<'s> {
    pub(super) l: *mut lua_State,
    pub(super) sink: &'s mut Sink,
    pub seen: AddrSet,
    pub labels: Labels,
    pub(super) class_of: HashMap<u64, u32>,
    /// metatables of luvit's module records (their instances hold `path` and `exports`)
    pub(super) module_meta: HashMap<u64, bool>,
    names: Names,
    /// stack slots: the deferred table, then the interned keys we look up
    pub(super) deferred: c_int,
    pub(super) deferred_n: i64,
    pub(super) k_exports: c_int,
    pub(super) k_path: c_int,
    pub(super) k_name: c_int,
    pub(super) k_index: c_int,
    pub(super) k_mode: c_int,
    pub(super) k_require: c_int,
    pub(super) depth: u32,
    pub(super) pending: bool,
    pub(super) globals: u64,
    /// the current node's id tag (see [`node_id`])
    pub(super) kind: u64,
}

unsafe fn push_key(l: *mut lua_State, s: &CStr) -> c_int {
    ffi::lua_pushstring(l, s.as_ptr());
    ffi::lua_gettop(l)
}

pub(super) unsafe fn text(l: *mut lua_State, idx: c_int) -> &'static [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        return &[];
    }
    // SAFETY: the string lives while the collector is stopped and the value is reachable.
    std::slice::from_raw_parts(p as *const u8, len)
}

impl<'s> Walker<'s> {
    /// Prepares a walk on `l` (needs about 10 free stack slots, which it pushes and leaves).
    ///
    /// # Safety
    /// `l` is a live state of the Lua thread, the collector is stopped for the walker's life.
    pub unsafe fn new(l: *mut lua_State, sink: &'s mut Sink) -> io::Result<Walker<'s>> {
        let names = Names {
            metatable: sink.string("(metatable)")?,
            key: sink.string("(key)")?,
            env: sink.string("(environment)")?,
            stack: sink.string("(stack)")?,
            upvalue: sink.string("(upvalue)")?,
            table: sink.string("table")?,
            userdata: sink.string("userdata")?,
            cdata: sink.string("cdata")?,
            c_function: sink.string("[C]")?,
        };
        ffi::lua_checkstack(l, 40);
        ffi::lua_createtable(l, 0, 0);
        let deferred = ffi::lua_gettop(l);
        Ok(Walker {
            l,
            sink,
            seen: AddrSet::default(),
            labels: Labels::default(),
            class_of: HashMap::new(),
            module_meta: HashMap::new(),
            names,
            deferred,
            deferred_n: 0,
            k_exports: push_key(l, c"exports"),
            k_path: push_key(l, c"path"),
            k_name: push_key(l, c"__name"),
            k_index: push_key(l, c"__index"),
            k_mode: push_key(l, c"__mode"),
            k_require: push_key(l, c"require"),
            depth: 0,
            pending: false,
            globals: {
                ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
                let g = ffi::lua_topointer(l, -1) as u64;
                ffi::lua_settop(l, -2);
                g
            },
            kind: 0,
        })
    }

    /// rawget(t, key-slot) pushed; returns its type.
    pub(super) unsafe fn rawget(&self, t: c_int, key: c_int) -> c_int {
        ffi::lua_pushvalue(self.l, key);
        ffi::lua_rawget(self.l, t);
        ffi::lua_type(self.l, -1)
    }

    /// Walks everything: the root's edges, then each root.
    ///
    /// # Safety
    /// As for [`Walker::new`].
    pub unsafe fn run(&mut self) -> io::Result<()> {
        let l = self.l;
        self.learn_roots();
        let roots: [(&str, PushRoot); 3] = [
            ("_G", |l| ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX)),
            ("registry", |l| {
                ffi::lua_pushvalue(l, ffi::LUA_REGISTRYINDEX)
            }),
            ("(current thread)", |l| {
                ffi::lua_pushthread(l);
            }),
        ];
        for (name, push) in roots {
            let n = self.sink.string(name)?;
            push(l);
            let addr = ffi::lua_topointer(l, -1) as u64;
            self.sink.edge(E_PROPERTY, n, addr)?;
            ffi::lua_settop(l, -2);
        }
        let root = self.sink.string("(root)")?;
        self.sink
            .node(N_SYNTHETIC, root, 1, 0, roots.len() as u32, 0)?;
        for (_, push) in roots {
            push(l);
            if self.seen.insert(ffi::lua_topointer(l, -1) as u64) {
                self.enter()?;
            }
            ffi::lua_settop(l, -2);
        }
        while self.deferred_n > 0 {
            ffi::lua_rawgeti(l, self.deferred, self.deferred_n);
            ffi::lua_pushnil(l);
            ffi::lua_rawseti(l, self.deferred, self.deferred_n);
            self.deferred_n -= 1;
            self.visit()?;
            ffi::lua_settop(l, -2);
        }
        Ok(())
    }

    /// The object on top was just added to `seen`: visit it now or defer it.
    unsafe fn enter(&mut self) -> io::Result<()> {
        if self.depth >= MAX_DEPTH || ffi::lua_checkstack(self.l, 24) == 0 {
            self.deferred_n += 1;
            ffi::lua_pushvalue(self.l, -1);
            ffi::lua_rawseti(self.l, self.deferred, self.deferred_n);
            return Ok(());
        }
        self.depth += 1;
        let r = self.visit();
        self.depth -= 1;
        r
    }

    /// Writes the node on top of the stack (its edges, then itself), then enters its children
    /// not walked yet. Leaves the stack as it found it.
    unsafe fn visit(&mut self) -> io::Result<()> {
        let l = self.l;
        let t = ffi::lua_type(l, -1);
        let addr = ffi::lua_topointer(l, -1) as u64;
        let before = self.sink.edge_count;
        self.pending = false;
        self.kind = 0;
        let (ty, name, size) = self.children(t, Pass::Edges)?;
        let pending = std::mem::take(&mut self.pending);
        let edges = (self.sink.edge_count - before) as u32;
        let id = node_id(addr, t, self.kind);
        self.sink.node(ty, name, id, size, edges, addr)?;
        if pending {
            self.children(t, Pass::Descend)?;
        }
        Ok(())
    }

    /// The child on top: an edge to it (first pass) or a visit (second pass).
    unsafe fn child(&mut self, pass: Pass, kind: u8, name: u32) -> io::Result<()> {
        let t = ffi::lua_type(self.l, -1);
        if !is_gc(t) {
            return Ok(());
        }
        let addr = ffi::lua_topointer(self.l, -1) as u64;
        match pass {
            Pass::Edges => {
                self.sink.edge(kind, name, addr)?;
                if !self.seen.contains(addr) {
                    self.pending = true;
                }
                Ok(())
            }
            Pass::Descend => {
                if self.seen.insert(addr) {
                    self.enter()?;
                }
                Ok(())
            }
        }
    }

    unsafe fn children(&mut self, t: c_int, pass: Pass) -> io::Result<(u8, u32, u64)> {
        match t {
            ffi::LUA_TTABLE => self.table(pass),
            ffi::LUA_TFUNCTION => self.function(pass),
            ffi::LUA_TTHREAD => self.thread(pass),
            ffi::LUA_TUSERDATA => self.userdata(pass),
            ffi::LUA_TSTRING => {
                if pass == Pass::Descend {
                    return Ok((0, 0, 0));
                }
                let bytes = text(self.l, -1);
                let shown = &bytes[..bytes.len().min(200)];
                let mut s = String::from_utf8_lossy(shown).into_owned();
                if shown.len() < bytes.len() {
                    s.push('…');
                }
                let name = self.sink.unique_string(&s)?;
                self.kind = bytes.len() as u64 ^ bytes.first().copied().unwrap_or(0) as u64;
                Ok((N_STRING, name, 24 + bytes.len() as u64 + 1))
            }
            _ => Ok((N_NATIVE, self.names.cdata, 16)),
        }
    }

    unsafe fn table(&mut self, pass: Pass) -> io::Result<(u8, u32, u64)> {
        let l = self.l;
        let t = ffi::lua_gettop(l);
        let edges = pass == Pass::Edges;
        let (mut weak_k, mut weak_v) = (false, false);
        let mut name = self.names.table;
        if ffi::lua_getmetatable(l, t) != 0 {
            if edges {
                name = self.class();
                self.kind = ffi::lua_topointer(l, -1) as u64;
                if self.labels.classes[(name - CLASS_BASE) as usize].env {
                    self.learn_env(t);
                }
                if self.rawget(t + 1, self.k_mode) == ffi::LUA_TSTRING {
                    let mode = text(l, -1);
                    weak_k = mode.contains(&b'k');
                    weak_v = mode.contains(&b'v');
                }
                ffi::lua_settop(l, t + 1);
                if self.is_module_meta() {
                    self.learn_module(t);
                }
            }
            self.child(pass, E_INTERNAL, self.names.metatable)?;
            ffi::lua_settop(l, t);
        }
        let (mut entries, alen) = (0u64, ffi::lua_objlen(l, t) as u64);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, t) != 0 {
            entries += 1;
            let kt = ffi::lua_type(l, -2);
            if is_gc(ffi::lua_type(l, -1)) {
                let (kind, n) = if edges { self.key_name(kt)? } else { (0, 0) };
                self.child(pass, if weak_v { E_WEAK } else { kind }, n)?;
            }
            if is_gc(kt) {
                ffi::lua_pushvalue(l, -2);
                let kind = if weak_k { E_WEAK } else { E_INTERNAL };
                self.child(pass, kind, self.names.key)?;
                ffi::lua_settop(l, -2);
            }
            ffi::lua_settop(l, -2);
        }
        let hash = entries.saturating_sub(alen);
        let size = 64
            + if alen > 0 { 8 * (alen + 1) } else { 0 }
            + if hash > 0 {
                24 * hash.next_power_of_two()
            } else {
                0
            };
        Ok((N_OBJECT, name, size))
    }

    /// The edge for the value under the key at -2 (a property name or an element index).
    unsafe fn key_name(&mut self, kt: c_int) -> io::Result<(u8, u32)> {
        let l = self.l;
        Ok(match kt {
            ffi::LUA_TNUMBER => {
                let v = ffi::lua_tonumber(l, -2);
                if v.fract() == 0.0 && (0.0..4294967295.0).contains(&v) {
                    (E_ELEMENT, v as u32)
                } else {
                    (E_PROPERTY, self.sink.string(&format!("[{v}]"))?)
                }
            }
            ffi::LUA_TSTRING => {
                let bytes = text(l, -2);
                (
                    E_PROPERTY,
                    self.sink.lua_string(bytes.as_ptr() as u64, bytes)?,
                )
            }
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(l, -2) != 0;
                (
                    E_PROPERTY,
                    self.sink.string(if b { "[true]" } else { "[false]" })?,
                )
            }
            t => {
                let tn = CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                (E_PROPERTY, self.sink.string(&format!("[{tn}]"))?)
            }
        })
    }

    unsafe fn function(&mut self, pass: Pass) -> io::Result<(u8, u32, u64)> {
        let l = self.l;
        let f = ffi::lua_gettop(l);
        let edges = pass == Pass::Edges;
        let mut name = 0;
        let mut c = false;
        if edges {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            ffi::lua_pushvalue(l, f);
            ffi::lua_getinfo(l, c">S".as_ptr(), &mut ar);
            c = !ar.what.is_null() && CStr::from_ptr(ar.what).to_bytes() == b"C";
            name = if c {
                self.names.c_function
            } else {
                let src = if ar.source.is_null() {
                    "?".into()
                } else {
                    CStr::from_ptr(ar.source).to_string_lossy()
                };
                let src = src.strip_prefix('@').unwrap_or(&src);
                let src: String = src.chars().take(200).collect();
                let label = format!("{src}:{}", ar.linedefined);
                self.kind = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
                });
                self.sink.string(&label)?
            };
        }
        let mut ups = 0u64;
        loop {
            let up = ffi::lua_getupvalue(l, f, ups as c_int + 1);
            if up.is_null() {
                break;
            }
            ups += 1;
            let n = if !edges {
                0
            } else {
                match CStr::from_ptr(up).to_str() {
                    Ok(s) if !s.is_empty() => self.sink.string(s)?,
                    _ => self.names.upvalue,
                }
            };
            self.child(pass, E_CONTEXT, n)?;
            ffi::lua_settop(l, f);
        }
        ffi::lua_getfenv(l, f);
        self.child(pass, E_INTERNAL, self.names.env)?;
        ffi::lua_settop(l, f);
        let size = if c { 40 + 16 * ups } else { 40 + 8 * ups };
        Ok((N_CLOSURE, name, size))
    }

    unsafe fn thread(&mut self, pass: Pass) -> io::Result<(u8, u32, u64)> {
        let l = self.l;
        let ti = ffi::lua_gettop(l);
        let co = ffi::lua_tothread(l, ti);
        let edges = pass == Pass::Edges;
        let mut level = 0;
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        while !co.is_null() && ffi::lua_getstack(co, level, &mut ar) != 0 {
            let mut n = 1;
            loop {
                if co != l && ffi::lua_checkstack(co, 1) == 0 {
                    break;
                }
                let local = ffi::lua_getlocal(co, &ar, n);
                if local.is_null() {
                    break;
                }
                n += 1;
                if co != l {
                    ffi::lua_xmove(co, l, 1);
                }
                let local = CStr::from_ptr(local).to_string_lossy();
                if !local.starts_with('(') {
                    let name = if edges { self.sink.string(&local)? } else { 0 };
                    self.child(pass, E_CONTEXT, name)?;
                }
                ffi::lua_settop(l, ti);
            }
            level += 1;
        }
        let slots = if co.is_null() || co == l {
            0
        } else {
            ffi::lua_gettop(co)
        };
        if level == 0 && ffi::lua_checkstack(co, 1) != 0 {
            // not started (its function and arguments) or finished (its results)
            for i in 1..=slots {
                ffi::lua_pushvalue(co, i);
                ffi::lua_xmove(co, l, 1);
                self.child(pass, E_INTERNAL, self.names.stack)?;
                ffi::lua_settop(l, ti);
            }
        }
        ffi::lua_getfenv(l, ti);
        self.child(pass, E_INTERNAL, self.names.env)?;
        ffi::lua_settop(l, ti);
        let name = if edges {
            self.sink.string("coroutine")?
        } else {
            0
        };
        Ok((
            N_OBJECT,
            name,
            104 + 8 * slots.max(0) as u64 + 40 * level as u64,
        ))
    }

    unsafe fn userdata(&mut self, pass: Pass) -> io::Result<(u8, u32, u64)> {
        let l = self.l;
        let u = ffi::lua_gettop(l);
        let mut name = self.names.userdata;
        if ffi::lua_getmetatable(l, u) != 0 {
            if pass == Pass::Edges {
                name = self.class();
                self.kind = ffi::lua_topointer(l, -1) as u64;
            }
            self.child(pass, E_INTERNAL, self.names.metatable)?;
            ffi::lua_settop(l, u);
        }
        ffi::lua_getfenv(l, u);
        self.child(pass, E_INTERNAL, self.names.env)?;
        ffi::lua_settop(l, u);
        Ok((N_NATIVE, name, 40 + ffi::lua_objlen(l, u) as u64))
    }
}
