//! Hooks for the built-in Lua modules to show the loop's observers (profilers, debugger) a
//! callback that runs inside another: `uv._origin(kind)` keeps where it is called from (an
//! HTTP server's creation), `uv._enter(origin, f)` and `uv._leave()` bracket the inner
//! callback (a request handler run inside a socket's read). Not part of luv's API.

use std::cell::RefCell;
use std::rc::Rc;

use luvit_devtools::Origin;
use mlua::{AnyUserData, Function, Lua, UserData};

use super::handle::Reg;
use crate::r#loop::{dispatch, EventLoop};

/// An origin kept by Lua code: where (a server was created), and the last origin made from
/// it for a run inside a given callback (one per connection, not one per request: the
/// profiler remembers its site on an origin).
struct KeptOrigin {
    template: Origin,
    last: RefCell<Option<Rc<Origin>>>,
}

impl UserData for KeptOrigin {}

impl KeptOrigin {
    /// The origin of a run starting now: the kept site, under the callback running now (a
    /// request's async chain goes on to the read and the `listen` that accepted it).
    fn under(&self, current: Option<Rc<Origin>>) -> Rc<Origin> {
        let mut last = self.last.borrow_mut();
        if let Some(o) = last.as_ref() {
            let same = match (&o.parent, &current) {
                (Some(a), Some(b)) => Rc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                return o.clone();
            }
        }
        let o = Rc::new(Origin {
            kind: self.template.kind,
            api: None,
            site: self.template.site.clone(),
            parent: current,
            memo: Default::default(),
        });
        *last = Some(o.clone());
        o
    }
}

/// The kinds a built-in may name (an origin's kind is a static string).
fn kind(name: &str) -> Option<&'static str> {
    match name {
        "http request" => Some("http request"),
        _ => None,
    }
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "_origin", None, |lua, name: String| {
        let Some(kind) = kind(&name) else {
            return Err(mlua::Error::runtime(format!(
                "uv._origin: unknown kind '{name}'"
            )));
        };
        let el = EventLoop::of(lua);
        let here = dispatch::origin_now(lua, &el, kind);
        // shown by its kind (`[http request] app.lua:3`), not by the API that created it
        let template = Origin {
            kind,
            api: None,
            site: here.site.clone(),
            parent: None,
            memo: Default::default(),
        };
        lua.create_userdata(KeptOrigin {
            template,
            last: RefCell::new(None),
        })
    })?;
    r.add(
        lua,
        "_enter",
        None,
        |lua, (origin, f): (AnyUserData, Function)| {
            let el = EventLoop::of(lua);
            if !el.observed() {
                return Ok(false);
            }
            let origin = origin.borrow::<KeptOrigin>()?.under(el.current_origin());
            Ok(dispatch::enter_nested(&el, origin, f))
        },
    )?;
    r.add(lua, "_leave", None, |lua, ()| {
        dispatch::leave_nested(&EventLoop::of(lua));
        Ok(())
    })?;
    Ok(())
}
