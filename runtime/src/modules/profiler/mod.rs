//! `require('profiler')`: the profilers driven from Lua. `start(which, options)` and
//! `stop(which)` (which: `'cpu'`, `'loop'`, `'heap'`, `'native'`; options as the command-line flags:
//! `dir`, `interval`, `name`, `threshold`) go through the same control as the REPL's `.prof`
//! and the DAP requests; one file per profiler adds its own functions to the table.

pub mod event_loop;
pub mod heap;

use luvit_devtools::profile::control::{self, Profiler};
use mlua::{Lua, Table, Value};
use serde_json::Value as Json;

/// Builds the `profiler` module's table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    heap::register(lua, &t)?;
    t.set(
        "start",
        lua.create_function(|lua, (which, opts): (String, Option<Table>)| {
            let which = Profiler::parse(&which).map_err(mlua::Error::runtime)?;
            let options = match opts {
                Some(t) => options_json(&t)?,
                None => Json::Null,
            };
            Ok(match control::of(lua) {
                None => (
                    false,
                    Some("the profilers are not available here".to_string()),
                ),
                Some(c) => match c.start(lua, which, &options) {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e)),
                },
            })
        })?,
    )?;
    t.set(
        "stop",
        lua.create_function(|lua, which: String| {
            let which = Profiler::parse(&which).map_err(mlua::Error::runtime)?;
            let Some(c) = control::of(lua) else {
                return Ok((
                    Value::Nil,
                    Some("the profilers are not available here".into()),
                ));
            };
            match c.stop(lua, which) {
                Ok(paths) => {
                    let list = lua.create_table()?;
                    for p in paths {
                        list.raw_push(p.to_string_lossy().into_owned())?;
                    }
                    Ok((Value::Table(list), None))
                }
                Err(e) => Ok((Value::Nil, Some(e))),
            }
        })?,
    )?;
    event_loop::register(lua, &t)?;
    Ok(t)
}

/// The options a profiler takes, from a Lua table (strings and numbers only).
fn options_json(t: &Table) -> mlua::Result<Json> {
    let mut o = serde_json::Map::new();
    for key in ["dir", "name", "interval", "threshold"] {
        match t.get::<Value>(key)? {
            Value::Nil => {}
            Value::String(s) => {
                o.insert(key.into(), Json::String(s.to_string_lossy()));
            }
            Value::Integer(n) => {
                o.insert(key.into(), Json::from(n));
            }
            Value::Number(n) => {
                o.insert(key.into(), Json::from(n));
            }
            other => {
                return Err(mlua::Error::runtime(format!(
                    "profiler option '{key}' must be a string or a number, got {}",
                    other.type_name()
                )))
            }
        }
    }
    Ok(Json::Object(o))
}
