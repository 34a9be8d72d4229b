//! Class labels for the snapshot's tables and userdata: the metatable's `__name`, else the path
//! by which the metatable (or its `__index`, luvit's `Object:extend()` classes) is reachable: a
//! member of a module (`http.ServerResponse`, from `package.loaded` or luvit's module records
//! met during the walk: tables with a string `path` and a table `exports` whose class has
//! `require`), else a global or a name in a module's environment (`Session`). Paths are learned
//! during the walk, so nodes get a placeholder index ([`CLASS_BASE`] + i) that the sink turns
//! into the resolved name at the end.

use std::collections::HashMap;
use std::ffi::c_int;

use mlua::ffi;

use super::walk::{text, Walker};

/// A metatable met during the walk, named at the end.
pub struct Class {
    pub name: Option<String>,
    pub mt: u64,
    pub index: Option<u64>,
    /// `__index` is the globals: the tables are module environments, whose tables get
    /// paths like globals' (a luvit script's `Session = ...` lands there).
    pub env: bool,
    /// The metatable has `__mode`.
    pub weak: bool,
}

/// What the walk learned that the sink resolves at the end.
#[derive(Default)]
pub struct Labels {
    /// table address -> (priority, path): module members 2, globals 1.
    pub paths: HashMap<u64, (u8, String)>,
    pub classes: Vec<Class>,
}

impl Labels {
    fn learn(&mut self, addr: u64, prio: u8, path: String) {
        match self.paths.get(&addr) {
            Some((p, _)) if *p >= prio => {}
            _ => {
                self.paths.insert(addr, (prio, path));
            }
        }
    }

    /// The class names, in the order of [`Labels::classes`].
    pub fn resolve(&self) -> Vec<String> {
        let path = |a: &u64| self.paths.get(a).map(|(_, p)| p.clone());
        self.classes
            .iter()
            .map(|c| {
                c.name
                    .clone()
                    .or_else(|| path(&c.mt))
                    .or_else(|| c.index.as_ref().and_then(path))
                    .unwrap_or_else(|| {
                        if c.env {
                            "(module environment)".into()
                        } else if c.weak {
                            "(weak table)".into()
                        } else {
                            "(anonymous class)".into()
                        }
                    })
            })
            .collect()
    }
}

/// The name index a class gets before it is resolved: `CLASS_BASE + position`.
pub const CLASS_BASE: u32 = 1 << 31;

/// `builtin:http` -> `http`, `/srv/app.lua` -> `app`, `/srv/lib/init.lua` -> `lib`.
pub fn module_name(path: &str) -> String {
    if let Some(b) = path.strip_prefix("builtin:") {
        return b.to_string();
    }
    let p = std::path::Path::new(path);
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
    match stem.as_deref() {
        Some("init") => p
            .parent()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Some(s) => s.to_string(),
        None => String::new(),
    }
}

impl Walker<'_> {
    /// Module members (`package.loaded`) and globals, for class names.
    pub(super) unsafe fn learn_roots(&mut self) {
        let l = self.l;
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"_LOADED".as_ptr());
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            let loaded = ffi::lua_gettop(l);
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, loaded) != 0 {
                if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                    let name = String::from_utf8_lossy(text(l, -2)).into_owned();
                    if name != "_G" && ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                        self.learn_members(ffi::lua_gettop(l), &name, 2);
                    }
                }
                ffi::lua_settop(l, -2);
            }
        }
        ffi::lua_settop(l, -2);
        ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
        let g = ffi::lua_gettop(l);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, g) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TSTRING && ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                let name = String::from_utf8_lossy(text(l, -2)).into_owned();
                if name != "_G" {
                    self.labels.learn(ffi::lua_topointer(l, -1) as u64, 1, name);
                }
            }
            ffi::lua_settop(l, -2);
        }
        ffi::lua_settop(l, -2);
    }

    /// The table at `t` is module `name`: it and its table members get paths.
    unsafe fn learn_members(&mut self, t: c_int, name: &str, prio: u8) {
        let l = self.l;
        self.labels
            .learn(ffi::lua_topointer(l, t) as u64, prio, name.to_string());
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, t) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TSTRING && ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                let key = String::from_utf8_lossy(text(l, -2));
                self.labels.learn(
                    ffi::lua_topointer(l, -1) as u64,
                    prio,
                    format!("{name}.{key}"),
                );
            }
            ffi::lua_settop(l, -2);
        }
    }

    /// The table at `t` is a module's environment: its tables are named like globals.
    pub(super) unsafe fn learn_env(&mut self, t: c_int) {
        let l = self.l;
        let top = ffi::lua_gettop(l);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, t) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TSTRING && ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                let name = String::from_utf8_lossy(text(l, -2)).into_owned();
                self.labels.learn(ffi::lua_topointer(l, -1) as u64, 1, name);
            }
            ffi::lua_settop(l, -2);
        }
        ffi::lua_settop(l, top);
    }

    /// The class name index of the metatable on top of the stack.
    pub(super) unsafe fn class(&mut self) -> u32 {
        let l = self.l;
        let mt_addr = ffi::lua_topointer(l, -1) as u64;
        if let Some(&i) = self.class_of.get(&mt_addr) {
            return i;
        }
        let mt = ffi::lua_gettop(l);
        let name = match self.rawget(mt, self.k_name) {
            ffi::LUA_TSTRING => Some(String::from_utf8_lossy(text(l, -1)).into_owned()),
            _ => None,
        };
        ffi::lua_settop(l, mt);
        let index = match self.rawget(mt, self.k_index) {
            ffi::LUA_TTABLE => Some(ffi::lua_topointer(l, -1) as u64),
            _ => None,
        };
        ffi::lua_settop(l, mt);
        let weak = self.rawget(mt, self.k_mode) == ffi::LUA_TSTRING;
        ffi::lua_settop(l, mt);
        self.labels.classes.push(Class {
            name,
            mt: mt_addr,
            index,
            env: index == Some(self.globals),
            weak,
        });
        let i = CLASS_BASE + (self.labels.classes.len() - 1) as u32;
        self.class_of.insert(mt_addr, i);
        i
    }

    /// Whether instances of the metatable on top are luvit module records (its class has
    /// `require`).
    pub(super) unsafe fn is_module_meta(&mut self) -> bool {
        let l = self.l;
        let mt_addr = ffi::lua_topointer(l, -1) as u64;
        if let Some(&m) = self.module_meta.get(&mt_addr) {
            return m;
        }
        let mt = ffi::lua_gettop(l);
        let m = self.rawget(mt, self.k_index) == ffi::LUA_TTABLE
            && self.rawget(mt + 1, self.k_require) == ffi::LUA_TFUNCTION;
        ffi::lua_settop(l, mt);
        self.module_meta.insert(mt_addr, m);
        m
    }

    /// A luvit module record at `t`: its exports and their members get paths.
    pub(super) unsafe fn learn_module(&mut self, t: c_int) {
        let l = self.l;
        let top = ffi::lua_gettop(l);
        if self.rawget(t, self.k_path) == ffi::LUA_TSTRING {
            let path = String::from_utf8_lossy(text(l, -1)).into_owned();
            let name = module_name(&path);
            if self.rawget(t, self.k_exports) == ffi::LUA_TTABLE && !name.is_empty() {
                self.learn_members(ffi::lua_gettop(l), &name, 2);
            }
        }
        ffi::lua_settop(l, top);
    }
}
