//! Lua on other threads, like luv: `new_thread`/`thread_join` and `new_work`/`queue_work`.
//! The function crosses as bytecode (`string.dump`) into a fresh Lua state; arguments and
//! results cross as plain values (nil, booleans, numbers, strings).

use std::rc::Rc;
use std::sync::{Arc, Mutex};

use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, UserData, Value};

use super::errors::{ret, UvError};
use super::handle::Reg;
use crate::r#loop::dispatch::Held;
use crate::r#loop::{Callback, Event, EventLoop, Target};

/// A value that can cross threads.
#[derive(Clone, Debug)]
enum Plain {
    Nil,
    Bool(bool),
    Num(f64),
    Str(Vec<u8>),
}

fn to_plain(v: &Value, what: &str) -> mlua::Result<Plain> {
    Ok(match v {
        Value::Nil => Plain::Nil,
        Value::Boolean(b) => Plain::Bool(*b),
        Value::Integer(i) => Plain::Num(*i as f64),
        Value::Number(n) => Plain::Num(*n),
        Value::String(s) => Plain::Str(s.as_bytes().to_vec()),
        other => {
            return Err(mlua::Error::runtime(format!(
            "{what}: cannot pass a {} to another thread (only nil, booleans, numbers and strings)",
            other.type_name()
        )))
        }
    })
}

fn from_plain(lua: &Lua, values: Vec<Plain>) -> mlua::Result<MultiValue> {
    let mut out = MultiValue::new();
    for v in values {
        out.push_back(match v {
            Plain::Nil => Value::Nil,
            Plain::Bool(b) => Value::Boolean(b),
            Plain::Num(n) => Value::Number(n),
            Plain::Str(s) => Value::String(lua.create_string(&s)?),
        });
    }
    Ok(out)
}

fn plains(args: &MultiValue, what: &str) -> mlua::Result<Vec<Plain>> {
    args.iter().map(|v| to_plain(v, what)).collect()
}

fn dump(lua: &Lua, f: &Value) -> mlua::Result<Vec<u8>> {
    match f {
        Value::Function(f) => {
            let dump: Function = lua.globals().get::<mlua::Table>("string")?.get("dump")?;
            let s: mlua::LuaString = dump.call(f.clone())?;
            Ok(s.as_bytes().to_vec())
        }
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(mlua::Error::runtime(format!(
            "expected a function or its dumped code, got {}",
            other.type_name()
        ))),
    }
}

thread_local! {
    /// The id of the thread this runtime runs on (0: the main thread).
    static CURRENT_THREAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

static NEXT_THREAD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Runs dumped code with `args` in a fresh runtime on this thread (luvit's modules and its own
/// event loop, like a luv thread), returning its results as plain values.
fn run_isolated(code: &[u8], args: Vec<Plain>) -> Result<Vec<Plain>, String> {
    let rt = crate::runtime::Runtime::new()?;
    let args = from_plain(&rt.lua, args).map_err(|e| e.to_string())?;
    let results = rt.run_thread(code, args).map_err(|e| e.to_string())?;
    let n: usize = results.get("n").unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        let v: Value = results.get(i).unwrap_or(Value::Nil);
        out.push(to_plain(&v, "thread result").unwrap_or(Plain::Nil));
    }
    Ok(out)
}

thread_local! {
    /// Each pool thread keeps one runtime for the work items it runs (as luv keeps one Lua
    /// state per pool thread): booting a runtime per item cost about 1.5 ms.
    static WORKER: std::cell::RefCell<Option<crate::runtime::Runtime>> = const { std::cell::RefCell::new(None) };
}

/// Runs a work item in this pool thread's runtime (made on first use).
fn run_work(code: &[u8], args: Vec<Plain>) -> Result<Vec<Plain>, String> {
    WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(crate::runtime::Runtime::new()?);
        }
        let Some(rt) = slot.as_ref() else {
            return Err("no worker runtime".to_string());
        };
        let args = from_plain(&rt.lua, args).map_err(|e| e.to_string())?;
        let results = rt.run_thread(code, args).map_err(|e| e.to_string())?;
        let n: usize = results.get("n").unwrap_or(0);
        Ok((1..=n)
            .map(|i| {
                let v: Value = results.get(i).unwrap_or(Value::Nil);
                to_plain(&v, "work result").unwrap_or(Plain::Nil)
            })
            .collect())
    })
}

/// A thread started by `new_thread`.
pub struct LuaThread {
    id: u64,
    handle: Mutex<Option<ThreadHandle>>,
}

type ThreadHandle = std::thread::JoinHandle<Result<Vec<Plain>, String>>;

impl UserData for LuaThread {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method("join", |lua, t, ()| join(lua, t));
        m.add_method("equal", |_, t, other: AnyUserData| {
            Ok(other.borrow::<LuaThread>().is_ok_and(|o| o.id == t.id))
        });
        m.add_meta_method(mlua::MetaMethod::ToString, |_, t, ()| {
            Ok(format!("uv_thread_t: 0x{:08x}", t.id))
        });
        m.add_meta_method(mlua::MetaMethod::Eq, |_, t, other: AnyUserData| {
            Ok(other.borrow::<LuaThread>().is_ok_and(|o| o.id == t.id))
        });
    }
}

fn join(lua: &Lua, t: &LuaThread) -> mlua::Result<MultiValue> {
    let h = t
        .handle
        .lock()
        .map_err(|_| mlua::Error::runtime("thread state poisoned"))?
        .take();
    match h {
        Some(h) => match h.join() {
            Ok(Ok(vals)) => {
                let mut out = from_plain(lua, vals)?;
                out.push_front(Value::Boolean(true));
                Ok(out)
            }
            Ok(Err(e)) => (false, e).into_lua_multi(lua),
            Err(_) => (false, "thread panicked").into_lua_multi(lua),
        },
        None => (false, "thread already joined").into_lua_multi(lua),
    }
}

/// A work context from `new_work`: code to run on the pool and a callback for its results.
pub struct Work {
    code: Arc<Vec<u8>>,
    /// In the registry: a program may keep any number of work contexts, and a function held
    /// as an mlua value takes one of LuaJIT's 8,000 C-stack slots (9,000 contexts failed).
    after: Option<Rc<Held<Function>>>,
}

impl UserData for Work {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_function("queue", |lua, args: MultiValue| queue_work(lua, args));
        m.add_meta_method(mlua::MetaMethod::ToString, |_, _, ()| Ok("luv_work_ctx_t"));
    }
}

fn queue_work(lua: &Lua, mut args: MultiValue) -> mlua::Result<MultiValue> {
    let ud: AnyUserData = match args.pop_front() {
        Some(Value::UserData(u)) => u,
        _ => {
            return Err(mlua::Error::runtime(
                "bad argument #1 to 'queue_work' (luv_work_ctx_t expected)",
            ))
        }
    };
    let (code, after) = {
        let w = ud.borrow::<Work>()?;
        (w.code.clone(), w.after.clone())
    };
    let after = after.map(|h| h.get(lua)).transpose()?;
    let values = plains(&args, "queue_work")?;
    let el = EventLoop::of(lua);
    let req = el.new_req(after.map(|f| Callback::new(lua, &el, f, "work")));
    let tx = el.sender();
    tokio::task::spawn_blocking(move || {
        let r = run_work(&code, values);
        let _ = tx.send(Event {
            at: crate::r#loop::stamp(),
            target: Target::Req(req),
            args: Box::new(move |lua| match r {
                Ok(vals) => from_plain(lua, vals),
                Err(e) => Err(mlua::Error::runtime(format!("error in work callback: {e}"))),
            }),
        });
    });
    ret(lua, Ok::<_, UvError>(true))
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "new_thread", None, |lua, mut args: MultiValue| {
        // new_thread([options,] fn, ...)
        if matches!(args.front(), Some(Value::Table(_))) {
            args.pop_front();
        }
        let f = args.pop_front().unwrap_or(Value::Nil);
        let code = dump(lua, &f)?;
        let values = plains(&args, "new_thread")?;
        let id = NEXT_THREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let handle = std::thread::Builder::new()
            .name("luvit-thread".into())
            .spawn(move || {
                CURRENT_THREAD.with(|c| c.set(id));
                run_isolated(&code, values)
            })
            .map_err(|e| mlua::Error::runtime(format!("new_thread: {e}")))?;
        lua.create_userdata(LuaThread {
            id,
            handle: Mutex::new(Some(handle)),
        })
    })?;
    r.add(lua, "thread_join", None, |lua, t: AnyUserData| {
        let t = t.borrow::<LuaThread>()?;
        join(lua, &t)
    })?;
    r.add(lua, "thread_self", None, |lua, ()| {
        lua.create_userdata(LuaThread {
            id: CURRENT_THREAD.with(|c| c.get()),
            handle: Mutex::new(None),
        })
    })?;
    r.add(
        lua,
        "thread_equal",
        None,
        |_, (a, b): (AnyUserData, AnyUserData)| {
            Ok(a.borrow::<LuaThread>()?.id == b.borrow::<LuaThread>()?.id)
        },
    )?;
    r.add(
        lua,
        "new_work",
        None,
        |lua, (f, after): (Value, Option<Function>)| {
            let code = dump(lua, &f)?;
            lua.create_userdata(Work {
                code: Arc::new(code),
                after: after.map(|f| Rc::new(Held::new(lua, f))),
            })
        },
    )?;
    r.add(lua, "queue_work", None, queue_work)?;
    Ok(())
}
