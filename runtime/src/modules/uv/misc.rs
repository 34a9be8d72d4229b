//! The loop itself (`run`, `stop`, `walk`, `now` ...) and system information (`cwd`, `os_uname`,
//! `hrtime`, `getrusage`, `guess_handle` ...).

use std::ffi::CStr;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::errors::{ret, UvError};
use super::handle::Reg;
use crate::r#loop::{EventLoop, RunMode};

fn run(lua: &Lua, mode: Option<String>) -> mlua::Result<bool> {
    let mode = match mode.as_deref() {
        None | Some("default") => RunMode::Default,
        Some("once") => RunMode::Once,
        Some("nowait") => RunMode::NoWait,
        Some(other) => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'run' (invalid option '{other}': expected 'default', 'once' or 'nowait')"
            )))
        }
    };
    EventLoop::of(lua).run(lua, mode)
}

/// libuv's `uv_guess_handle`.
pub fn guess_handle(fd: i32) -> &'static str {
    // SAFETY: fstat only writes into the zeroed struct we pass.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return "unknown";
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFCHR => {
            if unsafe { libc::isatty(fd) } == 1 {
                "tty"
            } else {
                "file"
            }
        }
        libc::S_IFIFO => "pipe",
        libc::S_IFSOCK => {
            let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let r = unsafe {
                libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len)
            };
            if r != 0 {
                return "unknown";
            }
            match addr.ss_family as i32 {
                libc::AF_UNIX => "pipe",
                libc::AF_INET | libc::AF_INET6 => {
                    let mut ty: libc::c_int = 0;
                    let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                    unsafe {
                        libc::getsockopt(
                            fd,
                            libc::SOL_SOCKET,
                            libc::SO_TYPE,
                            &mut ty as *mut _ as *mut _,
                            &mut l,
                        )
                    };
                    if ty == libc::SOCK_DGRAM {
                        "udp"
                    } else {
                        "tcp"
                    }
                }
                _ => "unknown",
            }
        }
        _ => "unknown",
    }
}

/// Resident set size in bytes, from /proc.
pub fn resident_set_memory() -> u64 {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

fn cstr(buf: &[libc::c_char]) -> String {
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn timeval(lua: &Lua, tv: libc::timeval) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("sec", tv.tv_sec)?;
    t.set("usec", tv.tv_usec)?;
    Ok(t)
}

fn meminfo(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "run", None, run)?;
    r.add(lua, "stop", None, |lua, ()| {
        EventLoop::of(lua).stop();
        Ok(())
    })?;
    r.add(lua, "loop_alive", None, |lua, ()| {
        Ok(EventLoop::of(lua).alive_pub())
    })?;
    r.add(lua, "walk", None, |lua, f: Function| {
        let el = EventLoop::of(lua);
        for id in el.handle_ids() {
            if let Some(h) = el.handle_object(lua, id) {
                f.call::<()>(h)?;
            }
        }
        Ok(())
    })?;
    r.add_raw(lua, "now", raw_now)?;
    r.add(lua, "update_time", None, |lua, ()| {
        EventLoop::of(lua).update_time();
        Ok(())
    })?;
    r.add_raw(lua, "hrtime", raw_hrtime)?;
    r.add_raw(lua, "_now_cell", raw_now_cell)?;
    r.add(lua, "cwd", None, |lua, ()| {
        ret(
            lua,
            std::env::current_dir()
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| UvError::from_io(&e, None)),
        )
    })?;
    r.add(lua, "chdir", None, |lua, dir: String| {
        ret(
            lua,
            std::env::set_current_dir(&dir)
                .map(|_| 0)
                .map_err(|e| UvError::from_io(&e, Some(&dir))),
        )
    })?;
    r.add(lua, "os_getpid", None, |_, ()| Ok(std::process::id()))?;
    r.add(lua, "getpid", None, |_, ()| Ok(std::process::id()))?;
    r.add(lua, "os_getppid", None, |_, ()| {
        Ok(unsafe { libc::getppid() })
    })?;
    r.add(lua, "os_homedir", None, |lua, ()| {
        ret(
            lua,
            std::env::var("HOME").map_err(|_| UvError::new("ENOENT", Some("HOME"))),
        )
    })?;
    r.add(lua, "os_tmpdir", None, |_, ()| {
        let t = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
        Ok(if t.len() > 1 {
            t.trim_end_matches('/').to_string()
        } else {
            t
        })
    })?;
    r.add(lua, "os_gethostname", None, |_, ()| {
        let mut buf = [0 as libc::c_char; 256];
        unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) };
        Ok(cstr(&buf))
    })?;
    r.add(lua, "os_getenv", None, |_, name: String| {
        Ok(std::env::var(name).ok())
    })?;
    r.add(
        lua,
        "os_setenv",
        None,
        |_, (name, value): (String, String)| {
            // SAFETY: the loop thread is the only one touching the environment from Lua.
            unsafe { std::env::set_var(name, value) };
            Ok(true)
        },
    )?;
    r.add(lua, "os_unsetenv", None, |_, name: String| {
        unsafe { std::env::remove_var(name) };
        Ok(true)
    })?;
    r.add(lua, "os_environ", None, |lua, ()| {
        let t = lua.create_table()?;
        for (k, v) in std::env::vars_os() {
            t.set(k.to_string_lossy().as_ref(), v.to_string_lossy().as_ref())?;
        }
        Ok(t)
    })?;
    r.add(lua, "os_uname", None, |lua, ()| {
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        unsafe { libc::uname(&mut u) };
        let t = lua.create_table()?;
        t.set("sysname", cstr(&u.sysname))?;
        t.set("release", cstr(&u.release))?;
        t.set("version", cstr(&u.version))?;
        t.set("machine", cstr(&u.machine))?;
        Ok(t)
    })?;
    r.add(lua, "getrusage", None, |lua, ()| {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let t = lua.create_table()?;
        t.set("utime", timeval(lua, ru.ru_utime)?)?;
        t.set("stime", timeval(lua, ru.ru_stime)?)?;
        t.set("maxrss", ru.ru_maxrss)?;
        t.set("ixrss", ru.ru_ixrss)?;
        t.set("idrss", ru.ru_idrss)?;
        t.set("isrss", ru.ru_isrss)?;
        t.set("minflt", ru.ru_minflt)?;
        t.set("majflt", ru.ru_majflt)?;
        t.set("nswap", ru.ru_nswap)?;
        t.set("inblock", ru.ru_inblock)?;
        t.set("oublock", ru.ru_oublock)?;
        t.set("msgsnd", ru.ru_msgsnd)?;
        t.set("msgrcv", ru.ru_msgrcv)?;
        t.set("nsignals", ru.ru_nsignals)?;
        t.set("nvcsw", ru.ru_nvcsw)?;
        t.set("nivcsw", ru.ru_nivcsw)?;
        Ok(t)
    })?;
    r.add(lua, "resident_set_memory", None, |_, ()| {
        Ok(resident_set_memory())
    })?;
    r.add(lua, "get_total_memory", None, |_, ()| {
        Ok(meminfo("MemTotal:"))
    })?;
    r.add(lua, "get_free_memory", None, |_, ()| {
        Ok(meminfo("MemAvailable:"))
    })?;
    r.add(lua, "uptime", None, |_, ()| {
        Ok(std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0))
    })?;
    r.add(lua, "loadavg", None, |_, ()| {
        let mut l = [0f64; 3];
        unsafe { libc::getloadavg(l.as_mut_ptr(), 3) };
        Ok((l[0], l[1], l[2]))
    })?;
    r.add(lua, "exepath", None, |lua, ()| {
        ret(
            lua,
            std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| UvError::from_io(&e, None)),
        )
    })?;
    r.add(lua, "cpu_info", None, |lua, ()| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let t = lua.create_table()?;
        for i in 1..=n {
            let c = lua.create_table()?;
            c.set("model", "cpu")?;
            c.set("speed", 0)?;
            t.set(i, c)?;
        }
        Ok(t)
    })?;
    r.add(lua, "available_parallelism", None, |_, ()| {
        Ok(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })?;
    r.add(lua, "guess_handle", None, |_, fd: i32| Ok(guess_handle(fd)))?;
    r.add(lua, "sleep", None, |_, ms: u64| {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(())
    })?;
    r.add(lua, "version", None, |_, ()| Ok(0x01_30_00))?;
    r.add(lua, "version_string", None, |_, ()| Ok("1.48.0"))?;
    r.add(
        lua,
        "random",
        None,
        |lua, (len, _flags, cb): (usize, Value, Option<Function>)| {
            // libuv's limit: more is E2BIG (a length of 1e15 must not be allocated)
            if len > 65536 {
                return ret::<()>(lua, Err(UvError::new("E2BIG", None)));
            }
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                let n = unsafe {
                    libc::getrandom(buf[filled..].as_mut_ptr() as *mut _, len - filled, 0)
                };
                if n <= 0 {
                    return ret::<()>(lua, Err(UvError::last_os(None)));
                }
                filled += n as usize;
            }
            let s = lua.create_string(&buf)?;
            match cb {
                Some(cb) => {
                    cb.call::<()>((Value::Nil, s))?;
                    Ok(MultiValue::new())
                }
                None => ret(lua, Ok::<_, UvError>(s)),
            }
        },
    )?;
    Ok(())
}

/// The loop in upvalue 1 of a function registered with `Reg::add_raw`.
///
/// # Safety
/// Only inside such a function, while its state lives.
pub(super) unsafe fn loop_of<'a>(l: *mut mlua::ffi::lua_State) -> Option<&'a EventLoop> {
    let p = mlua::ffi::lua_touserdata(l, mlua::ffi::lua_upvalueindex(1)) as *const EventLoop;
    // SAFETY: set by add_raw from the state's own loop, which outlives every call into Lua.
    p.as_ref()
}

/// `uv.now()`: the loop's cached millisecond clock.
unsafe extern "C-unwind" fn raw_now(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    let ms = loop_of(l).map_or(0, |el| el.now());
    mlua::ffi::lua_pushnumber(l, ms as f64);
    1
}

/// `uv._now_cell()`: a light userdata pointing at `uv.now()` as a double, for built-in Lua to
/// read with ffi (`ffi.cast('const double*', cell)[0]`) without a call (lib/http.lua's clock).
unsafe extern "C-unwind" fn raw_now_cell(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    match loop_of(l) {
        Some(el) => mlua::ffi::lua_pushlightuserdata(l, el.now_cell() as *mut std::ffi::c_void),
        None => mlua::ffi::lua_pushnil(l),
    }
    1
}

/// `uv.hrtime()`: nanoseconds on a monotonic clock.
unsafe extern "C-unwind" fn raw_hrtime(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    let ns = loop_of(l).map_or(0, |el| el.hrtime());
    mlua::ffi::lua_pushnumber(l, ns as f64);
    1
}
