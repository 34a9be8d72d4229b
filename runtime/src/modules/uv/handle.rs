//! uv handles as Lua userdata: one `Handle` type for every kind, the methods every handle has
//! (close, ref, unref, is_active ...), and the helpers other kinds build on.
//!
//! All handle methods live in one table (`uv`'s functions under their method names); the kind
//! is checked when a method runs, so calling `tcp:start()` on a timer is a clear error.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataRef};

use super::errors::{ret, UvError};
use crate::r#loop::{Callback, EventLoop, HandleId};

pub const METHODS_KEY: &str = "luvit.uv.handle_methods";
const KIND_OF_KEY: &str = "luvit.uv.handle_kinds";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Timer,
    Prepare,
    Check,
    Idle,
    Signal,
    Tcp,
    Pipe,
    Tty,
    Udp,
    Process,
}

impl Kind {
    /// luv's `get_type()` name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Timer => "timer",
            Kind::Prepare => "prepare",
            Kind::Check => "check",
            Kind::Idle => "idle",
            Kind::Signal => "signal",
            Kind::Tcp => "tcp",
            Kind::Pipe => "pipe",
            Kind::Tty => "tty",
            Kind::Udp => "udp",
            Kind::Process => "process",
        }
    }

    /// The C type name luv prints (`uv_timer_t`).
    pub fn c_name(self) -> &'static str {
        match self {
            Kind::Timer => "uv_timer_t",
            Kind::Prepare => "uv_prepare_t",
            Kind::Check => "uv_check_t",
            Kind::Idle => "uv_idle_t",
            Kind::Signal => "uv_signal_t",
            Kind::Tcp => "uv_tcp_t",
            Kind::Pipe => "uv_pipe_t",
            Kind::Tty => "uv_tty_t",
            Kind::Udp => "uv_udp_t",
            Kind::Process => "uv_process_t",
        }
    }

    pub fn is_stream(self) -> bool {
        matches!(self, Kind::Tcp | Kind::Pipe | Kind::Tty)
    }
}

/// Kind-specific resources of a handle, dropped when it closes.
pub enum Data {
    None,
    Stream(Rc<super::stream::Stream>),
    Signal(super::signal::SignalData),
    Process(super::process::ProcessData),
    Udp(Rc<super::udp::UdpData>),
}

/// A uv handle as Lua sees it.
pub struct Handle {
    pub id: HandleId,
    pub kind: Kind,
    pub data: RefCell<Data>,
}

impl UserData for Handle {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with(MetaMethod::Index, |lua| {
            lua.named_registry_value::<Function>(METHODS_KEY)
        });
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, h, ()| {
            Ok(format!("{}: 0x{:08x}", h.kind.c_name(), h.id))
        });
    }
}

impl Handle {
    /// Fails with `EBADF` once the handle is closing or closed.
    pub fn live(&self, el: &EventLoop) -> Result<(), UvError> {
        if el.is_closing(self.id) {
            Err(UvError::new("EBADF", Some("handle is closed")))
        } else {
            Ok(())
        }
    }

    pub fn expect_kind(&self, kind: Kind, fname: &str) -> mlua::Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(mlua::Error::runtime(format!(
                "bad argument #1 to '{fname}' ({} expected, got {})",
                kind.c_name(),
                self.kind.c_name()
            )))
        }
    }

    pub fn stream(&self, fname: &str) -> mlua::Result<Rc<super::stream::Stream>> {
        match &*self.data.borrow() {
            Data::Stream(s) => Ok(s.clone()),
            _ => Err(mlua::Error::runtime(format!(
                "bad argument #1 to '{fname}' (uv_stream_t expected, got {})",
                self.kind.c_name()
            ))),
        }
    }
}

/// Creates a handle of `kind` and registers it with the loop.
pub fn create(lua: &Lua, kind: Kind, data: Data) -> mlua::Result<AnyUserData> {
    let el = EventLoop::of(lua);
    let id = el.new_handle_id();
    let ud = lua.create_userdata(Handle {
        id,
        kind,
        data: RefCell::new(data),
    })?;
    el.register_handle(lua, id, ud.clone());
    lua.named_registry_value::<Table>(KIND_OF_KEY)?
        .raw_set(ud.clone(), kind.name())?;
    Ok(ud)
}

pub type H = UserDataRef<Handle>;

/// Collects `uv` functions and the handle methods they double as, per handle kind.
pub struct Reg {
    pub uv: Table,
    methods: Vec<(&'static [Kind], String, Function)>,
}

pub const ALL: &[Kind] = &[
    Kind::Timer,
    Kind::Prepare,
    Kind::Check,
    Kind::Idle,
    Kind::Signal,
    Kind::Tcp,
    Kind::Pipe,
    Kind::Tty,
    Kind::Udp,
    Kind::Process,
];
pub const STREAMS: &[Kind] = &[Kind::Tcp, Kind::Pipe, Kind::Tty];

impl Reg {
    pub fn new(uv: Table) -> Reg {
        Reg {
            uv,
            methods: Vec::new(),
        }
    }

    /// Registers `f` as `uv.<luv_name>` and, for handles of `kinds`, as the method `<method>`.
    pub fn add<A, R, F>(
        &mut self,
        lua: &Lua,
        luv_name: &str,
        method: Option<(&'static [Kind], &str)>,
        f: F,
    ) -> mlua::Result<()>
    where
        A: mlua::FromLuaMulti,
        R: mlua::IntoLuaMulti,
        F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
    {
        // Convert the arguments here rather than in mlua's wrapper so a bad one is reported
        // with the function's name: "bad argument #2 to 'timer_start' (...)".
        let name = luv_name.to_string();
        let func = lua.create_function(move |lua, args: mlua::MultiValue| {
            let args = A::from_lua_args(args, 1, Some(&name), lua)?;
            f(lua, args)
        })?;
        self.uv.set(luv_name, func.clone())?;
        if let Some((kinds, m)) = method {
            self.methods.push((kinds, m.to_string(), func));
        }
        Ok(())
    }

    /// Registers a plain Lua C function as `uv.<luv_name>`, its upvalue 1 the loop (a light
    /// userdata: the loop lives in the state's app data as long as the state). For the few
    /// functions hot enough that mlua's argument handling (a deque of arguments, a loop
    /// lookup by type) costs more than what they do: `uv.now` is called twice a request.
    pub fn add_raw(
        &mut self,
        lua: &Lua,
        luv_name: &str,
        f: mlua::ffi::lua_CFunction,
    ) -> mlua::Result<()> {
        let el = EventLoop::of(lua);
        // SAFETY: C API calls on mlua's state inside its protected exec_raw.
        let func = unsafe {
            lua.exec_raw::<Function>((), |l| {
                mlua::ffi::lua_pushlightuserdata(l, Rc::as_ptr(&el) as *mut std::ffi::c_void);
                mlua::ffi::lua_pushcclosure(l, f, 1);
            })?
        };
        self.uv.set(luv_name, func)
    }

    /// Builds the one method table all handles share. A name used by several kinds with
    /// different functions (`start` on timers and signals) becomes a small router by kind.
    pub fn finish(self, lua: &Lua) -> mlua::Result<()> {
        let by_kind = lua.create_table()?;
        for (kinds, name, f) in &self.methods {
            for k in kinds.iter() {
                let t: Table = match by_kind.get::<Option<Table>>(k.name())? {
                    Some(t) => t,
                    None => {
                        let t = lua.create_table()?;
                        by_kind.set(k.name(), t.clone())?;
                        t
                    }
                };
                t.set(name.as_str(), f.clone())?;
            }
        }
        // Each kind sees only its own methods (`pipe.set_mode` is nil, as in luv): the
        // metatable's __index looks the kind up in a weak table filled by `create`.
        let kind_of = lua.create_table()?;
        let weak = lua.create_table()?;
        weak.set("__mode", "k")?;
        kind_of.set_metatable(Some(weak))?;
        let build: Function = lua
            .load(
                r#"
local byKind, kindOf = ...
return function(h, key)
  local methods = byKind[kindOf[h]]
  if methods then return methods[key] end
end
"#,
            )
            .set_name("=uv.methods")
            .into_function()?;
        let index: Function = build.call((by_kind, kind_of.clone()))?;
        lua.set_named_registry_value(KIND_OF_KEY, kind_of)?;
        lua.set_named_registry_value(METHODS_KEY, index)
    }
}

pub fn close(lua: &Lua, (h, cb): (H, Option<Function>)) -> mlua::Result<MultiValue> {
    let el = EventLoop::of(lua);
    if el.is_closing(h.id) {
        return Err(mlua::Error::runtime(format!(
            "{}: handle is already closing",
            h.kind.c_name()
        )));
    }
    // Dropping the resources closes sockets, stops reads and signal watchers.
    let data = std::mem::replace(&mut *h.data.borrow_mut(), Data::None);
    if let Data::Stream(s) = &data {
        s.close();
    }
    if let Data::Udp(u) = &data {
        u.close();
    }
    drop(data);
    let cb = cb.map(|f| Callback::new(lua, &el, f, "close"));
    el.close_handle(h.id, cb);
    ret(lua, Ok::<_, UvError>(()))
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "close", Some((ALL, "close")), close)?;
    r.add(lua, "is_active", Some((ALL, "is_active")), |lua, h: H| {
        Ok(EventLoop::of(lua).is_active(h.id))
    })?;
    r.add(lua, "is_closing", Some((ALL, "is_closing")), |lua, h: H| {
        Ok(EventLoop::of(lua).is_closing(h.id))
    })?;
    r.add(lua, "ref", Some((ALL, "ref")), |lua, h: H| {
        EventLoop::of(lua).set_ref(h.id, true);
        Ok(())
    })?;
    r.add(lua, "unref", Some((ALL, "unref")), |lua, h: H| {
        EventLoop::of(lua).set_ref(h.id, false);
        Ok(())
    })?;
    r.add(lua, "has_ref", Some((ALL, "has_ref")), |lua, h: H| {
        Ok(EventLoop::of(lua).has_ref(h.id))
    })?;
    r.add(
        lua,
        "handle_get_type",
        Some((ALL, "get_type")),
        |_, h: H| Ok((h.kind.name(), h.kind as i32)),
    )?;
    r.add(lua, "fileno", Some((ALL, "fileno")), |lua, h: H| {
        let fd = match &*h.data.borrow() {
            Data::Stream(s) => s.fileno(),
            Data::Udp(u) => u.fileno(),
            _ => None,
        };
        ret(lua, fd.ok_or_else(|| UvError::new("EINVAL", None)))
    })?;
    Ok(())
}
