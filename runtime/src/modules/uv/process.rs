//! `uv.spawn` and `uv_process_t`: child processes with stdio wired to pipes, fds or nothing;
//! `on_exit(code, signal)` arrives through the loop.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;

use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::errors::{ret, UvError};
use super::handle::{create, Data, Handle, Kind, Reg, H};
use super::signal::signum;
use super::stream::{conn_from_fd, Conn, Io};
use crate::r#loop::{Callback, EventLoop, Slot};

/// A spawned child: its pid (0 once it has exited).
pub struct ProcessData {
    pub pid: std::cell::Cell<u32>,
}

/// What one stdio slot of the child gets.
enum StdioSpec {
    Null,
    Inherit(i32),
    Pipe(AnyUserData),
}

fn stdio_spec(v: Value, slot: i32) -> mlua::Result<StdioSpec> {
    Ok(match v {
        Value::Nil | Value::Boolean(false) => StdioSpec::Null,
        Value::Integer(fd) => StdioSpec::Inherit(fd as i32),
        Value::Number(fd) => StdioSpec::Inherit(fd as i32),
        Value::UserData(ud) => {
            let kind = ud.borrow::<Handle>()?.kind;
            if !kind.is_stream() {
                return Err(mlua::Error::runtime(format!(
                    "bad stdio[{}] for spawn ({} is not a stream)",
                    slot + 1,
                    kind.c_name()
                )));
            }
            StdioSpec::Pipe(ud)
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad stdio[{}] for spawn (got {})",
                slot + 1,
                other.type_name()
            )))
        }
    })
}

fn socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn spawn(
    lua: &Lua,
    (file, opts, on_exit): (String, Option<Table>, Option<Function>),
) -> mlua::Result<MultiValue> {
    let opts = match opts {
        Some(t) => t,
        None => lua.create_table()?,
    };
    let mut cmd = tokio::process::Command::new(&file);
    if let Some(args) = opts.get::<Option<Table>>("args")? {
        for a in args.sequence_values::<mlua::LuaString>() {
            cmd.arg(std::ffi::OsStr::new(&*a?.to_str()?));
        }
    }
    if let Some(env) = opts.get::<Option<Table>>("env")? {
        cmd.env_clear();
        for pair in env.pairs::<Value, mlua::LuaString>() {
            let (k, v) = pair?;
            let v = v.to_str()?.to_string();
            match k {
                Value::Integer(_) => {
                    if let Some((name, val)) = v.split_once('=') {
                        cmd.env(name, val);
                    }
                }
                Value::String(name) => {
                    cmd.env(&*name.to_str()?, v);
                }
                _ => {}
            }
        }
    }
    if let Some(cwd) = opts.get::<Option<String>>("cwd")? {
        cmd.current_dir(cwd);
    }
    if let Some(uid) = opts.get::<Option<u32>>("uid")? {
        cmd.uid(uid);
    }
    if let Some(gid) = opts.get::<Option<u32>>("gid")? {
        cmd.gid(gid);
    }
    if opts.get::<Option<bool>>("detached")?.unwrap_or(false) {
        cmd.process_group(0);
    }
    let stdio: Option<Table> = opts.get("stdio")?;
    let mut parent_ends: Vec<(AnyUserData, OwnedFd)> = Vec::new();
    for slot in 0..3 {
        let spec = match &stdio {
            Some(t) => stdio_spec(t.get(slot + 1)?, slot)?,
            None => StdioSpec::Null,
        };
        let child_side: std::process::Stdio = match spec {
            StdioSpec::Null => std::process::Stdio::null(),
            StdioSpec::Inherit(fd) => {
                let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
                if dup < 0 {
                    return ret::<()>(lua, Err(UvError::last_os(None)));
                }
                unsafe { OwnedFd::from_raw_fd(dup) }.into()
            }
            StdioSpec::Pipe(ud) => match socketpair() {
                Ok((ours, theirs)) => {
                    parent_ends.push((ud, ours));
                    theirs.into()
                }
                Err(e) => return ret::<()>(lua, Err(UvError::from_io(&e, None))),
            },
        };
        match slot {
            0 => cmd.stdin(child_side),
            1 => cmd.stdout(child_side),
            _ => cmd.stderr(child_side),
        };
    }
    cmd.kill_on_drop(false);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ret::<()>(lua, Err(UvError::from_io(&e, Some(&file)))),
    };
    drop(cmd);
    for (ud, fd) in parent_ends {
        let stream = {
            let h = ud.borrow::<Handle>()?;
            let d = h.data.borrow();
            match &*d {
                Data::Stream(s) => Some(s.clone()),
                _ => None,
            }
        };
        if let Some(s) = stream {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
            match conn_from_fd(raw) {
                Ok(c) => *s.io.borrow_mut() = Io::Connected(Rc::new(c)),
                Err(e) => {
                    // SAFETY: conn_from_fd leaves a refused descriptor open; ours to close
                    drop(unsafe { OwnedFd::from_raw_fd(raw) });
                    return ret::<()>(lua, Err(UvError::from_io(&e, None)));
                }
            }
        }
    }
    let pid = child.id().unwrap_or(0);
    let ud = create(
        lua,
        Kind::Process,
        Data::Process(ProcessData {
            pid: std::cell::Cell::new(pid),
        }),
    )?;
    let el = EventLoop::of(lua);
    let id = ud.borrow::<Handle>()?.id;
    if let Some(f) = on_exit {
        el.set_callback(
            id,
            Slot::Main,
            Some(Callback::new(lua, &el, f, "process exit")),
        );
    }
    el.set_active(id, true);
    let el2 = el.clone();
    el.spawn_local(async move {
        let status = child.wait().await;
        el2.post_local(Box::new(move |lua, el| {
            el.set_active(id, false);
            if let Some(ud) = el.handle_ud(lua, id) {
                if let Ok(h) = ud.borrow::<Handle>() {
                    if let Data::Process(p) = &*h.data.borrow() {
                        p.pid.set(0);
                    }
                }
            }
            let (code, sig) = match status {
                Ok(s) => (s.code().unwrap_or(0) as i64, s.signal().unwrap_or(0) as i64),
                Err(_) => (-1, 0),
            };
            if let Ok(args) = (code, sig).into_lua_multi(lua) {
                el.call_handle(lua, id, Slot::Main, args);
            }
        }));
    });
    let _ = Conn::Stdio;
    (ud, pid).into_lua_multi(lua)
}

fn kill(pid: i32, sig: i32) -> Result<i32, UvError> {
    if unsafe { libc::kill(pid, sig) } < 0 {
        Err(UvError::last_os(None))
    } else {
        Ok(0)
    }
}

const PROC: &[Kind] = &[Kind::Process];

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "spawn", None, spawn)?;
    r.add(
        lua,
        "process_kill",
        Some((PROC, "kill")),
        |lua, (h, sig): (H, Value)| {
            h.expect_kind(Kind::Process, "process_kill")?;
            let sig = signum(&sig)?;
            let pid = match &*h.data.borrow() {
                Data::Process(p) => p.pid.get(),
                _ => 0,
            };
            if pid == 0 {
                return ret::<()>(lua, Err(UvError::new("ESRCH", None)));
            }
            ret(lua, kill(pid as i32, sig))
        },
    )?;
    r.add(
        lua,
        "process_get_pid",
        Some((PROC, "get_pid")),
        |_, h: H| {
            Ok(match &*h.data.borrow() {
                Data::Process(p) => p.pid.get(),
                _ => 0,
            })
        },
    )?;
    r.add(lua, "kill", None, |lua, (pid, sig): (i32, Value)| {
        let sig = signum(&sig)?;
        ret(lua, kill(pid, sig))
    })?;
    Ok(())
}
