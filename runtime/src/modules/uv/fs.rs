//! `uv.fs_*`: file system calls, synchronous without a callback and on tokio's blocking pool
//! with one (the callback gets `err, result` through the dispatch point), like luv.

use std::ffi::CString;

use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, Table, UserData, Value};

use super::errors::{ret, UvError};
use super::handle::Reg;
use crate::r#loop::{Callback, Event, EventLoop, Target};

/// A result of a file system call, converted to Lua on the loop thread.
pub enum Out {
    True,
    Bool(bool),
    Int(i64),
    Bytes(Vec<u8>),
    Stat(Box<libc::stat>),
    Scan(Vec<(Vec<u8>, &'static str)>),
}

type FsResult = Result<Out, UvError>;

/// The entries of `fs_scandir`, consumed by `fs_scandir_next`.
pub struct ScanDir {
    entries: std::cell::RefCell<std::collections::VecDeque<(Vec<u8>, &'static str)>>,
}

impl UserData for ScanDir {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(mlua::MetaMethod::ToString, |_, _, ()| Ok("uv_fs_t"));
    }
}

fn type_name(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "link",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        _ => "unknown",
    }
}

fn ts(lua: &Lua, sec: i64, nsec: i64) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("sec", sec)?;
    t.set("nsec", nsec)?;
    Ok(t)
}

pub fn stat_table(lua: &Lua, st: &libc::stat) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("dev", st.st_dev)?;
    t.set("mode", st.st_mode)?;
    t.set("nlink", st.st_nlink)?;
    t.set("uid", st.st_uid)?;
    t.set("gid", st.st_gid)?;
    t.set("rdev", st.st_rdev)?;
    t.set("ino", st.st_ino)?;
    t.set("size", st.st_size)?;
    t.set("blksize", st.st_blksize)?;
    t.set("blocks", st.st_blocks)?;
    t.set("flags", 0)?;
    t.set("gen", 0)?;
    t.set("atime", ts(lua, st.st_atime, st.st_atime_nsec)?)?;
    t.set("mtime", ts(lua, st.st_mtime, st.st_mtime_nsec)?)?;
    t.set("ctime", ts(lua, st.st_ctime, st.st_ctime_nsec)?)?;
    t.set("birthtime", ts(lua, st.st_ctime, st.st_ctime_nsec)?)?;
    t.set("type", type_name(st.st_mode))?;
    Ok(t)
}

fn out_to_lua(lua: &Lua, out: Out) -> mlua::Result<Value> {
    Ok(match out {
        Out::True => Value::Boolean(true),
        Out::Bool(b) => Value::Boolean(b),
        Out::Int(i) => Value::Integer(i),
        Out::Bytes(b) => Value::String(lua.create_string(&b)?),
        Out::Stat(st) => Value::Table(stat_table(lua, &st)?),
        Out::Scan(entries) => Value::UserData(lua.create_userdata(ScanDir {
            entries: std::cell::RefCell::new(entries.into()),
        })?),
    })
}

/// Runs `op` now (no callback: luv's synchronous form) or on the blocking pool, delivering
/// `err, result` to `cb` through the dispatch point.
fn call(
    lua: &Lua,
    cb: Option<Function>,
    op: impl FnOnce() -> FsResult + Send + 'static,
) -> mlua::Result<MultiValue> {
    match cb {
        None => match op() {
            Ok(out) => out_to_lua(lua, out)?.into_lua_multi(lua),
            Err(e) => e.into_triple(lua),
        },
        Some(f) => {
            let el = EventLoop::of(lua);
            let req = el.new_req(Some(Callback::new(lua, &el, f, "fs")));
            let tx = el.sender();
            tokio::task::spawn_blocking(move || {
                let r = op();
                let _ = tx.send(Event {
                    at: crate::r#loop::stamp(),
                    target: Target::Req(req),
                    args: Box::new(move |lua| match r {
                        Ok(out) => (Value::Nil, out_to_lua(lua, out)?).into_lua_multi(lua),
                        Err(e) => e.message.into_lua_multi(lua),
                    }),
                });
            });
            true.into_lua_multi(lua)
        }
    }
}

fn cpath(p: &[u8]) -> Result<CString, UvError> {
    CString::new(p.to_vec()).map_err(|_| UvError::new("EINVAL", Some("path contains a NUL byte")))
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn check(r: libc::c_int, detail: Option<&str>) -> Result<libc::c_int, UvError> {
    if r < 0 {
        Err(UvError::last_os(detail))
    } else {
        Ok(r)
    }
}

fn path_op(p: Vec<u8>, f: impl FnOnce(&CString) -> libc::c_int) -> FsResult {
    let c = cpath(&p)?;
    check(f(&c), Some(&show(&p))).map(|_| Out::True)
}

fn two_path_op(
    a: Vec<u8>,
    b: Vec<u8>,
    f: impl FnOnce(&CString, &CString) -> libc::c_int,
) -> FsResult {
    let (ca, cb) = (cpath(&a)?, cpath(&b)?);
    check(f(&ca, &cb), Some(&format!("{} -> {}", show(&a), show(&b)))).map(|_| Out::True)
}

fn fd_op(fd: i32, f: impl FnOnce() -> libc::c_int) -> FsResult {
    check(f(), None).map(|_| Out::True).map_err(|e| {
        if fd < 0 {
            UvError::new("EBADF", None)
        } else {
            e
        }
    })
}

/// Parses luv's open flags: a string like `"w+"` or a number.
pub fn open_flags(v: &Value) -> mlua::Result<i32> {
    let s = match v {
        Value::Integer(i) => return Ok(*i as i32),
        Value::Number(n) => return Ok(*n as i32),
        Value::String(s) => s.to_str()?.to_string(),
        Value::Nil => "r".to_string(),
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #2 to 'fs_open' (string or number expected, got {})",
                other.type_name()
            )))
        }
    };
    use libc::*;
    let f = match s.as_str() {
        "r" => O_RDONLY,
        "rs" | "sr" => O_RDONLY | O_SYNC,
        "r+" => O_RDWR,
        "rs+" | "sr+" => O_RDWR | O_SYNC,
        "w" => O_TRUNC | O_CREAT | O_WRONLY,
        "wx" | "xw" => O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
        "w+" => O_TRUNC | O_CREAT | O_RDWR,
        "wx+" | "xw+" => O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
        "a" => O_APPEND | O_CREAT | O_WRONLY,
        "ax" | "xa" => O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
        "as" | "sa" => O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
        "a+" => O_APPEND | O_CREAT | O_RDWR,
        "ax+" | "xa+" => O_APPEND | O_CREAT | O_RDWR | O_EXCL,
        "as+" | "sa+" => O_APPEND | O_CREAT | O_RDWR | O_SYNC,
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #2 to 'fs_open' (unknown file open flag '{other}')"
            )))
        }
    };
    Ok(f)
}

fn access_mode(v: &Value) -> mlua::Result<i32> {
    match v {
        Value::Integer(i) => Ok(*i as i32),
        Value::Number(n) => Ok(*n as i32),
        Value::Nil => Ok(libc::F_OK),
        Value::String(s) => {
            let mut m = 0;
            for c in s.to_str()?.chars() {
                m |= match c.to_ascii_lowercase() {
                    'r' => libc::R_OK,
                    'w' => libc::W_OK,
                    'x' => libc::X_OK,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "bad argument #2 to 'fs_access' (unknown access mode '{other}')"
                        )))
                    }
                };
            }
            Ok(m)
        }
        other => Err(mlua::Error::runtime(format!(
            "bad argument #2 to 'fs_access' (string or number expected, got {})",
            other.type_name()
        ))),
    }
}

fn data_bytes(v: &Value, fname: &str) -> mlua::Result<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Table(t) => {
            let mut out = Vec::new();
            for part in t.sequence_values::<mlua::LuaString>() {
                out.extend_from_slice(&part?.as_bytes());
            }
            Ok(out)
        }
        other => Err(mlua::Error::runtime(format!(
            "bad argument #2 to '{fname}' (string or table of strings expected, got {})",
            other.type_name()
        ))),
    }
}

fn do_stat(p: Vec<u8>, follow: bool) -> FsResult {
    let c = cpath(&p)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        if follow {
            libc::stat(c.as_ptr(), &mut st)
        } else {
            libc::lstat(c.as_ptr(), &mut st)
        }
    };
    check(r, Some(&show(&p)))?;
    Ok(Out::Stat(Box::new(st)))
}

fn do_read(fd: i32, size: usize, offset: i64) -> FsResult {
    let mut buf = crate::modules::try_zeroed(size).ok_or_else(|| UvError::new("ENOMEM", None))?;
    let n = unsafe {
        if offset >= 0 {
            libc::pread(fd, buf.as_mut_ptr() as *mut _, size, offset)
        } else {
            libc::read(fd, buf.as_mut_ptr() as *mut _, size)
        }
    };
    if n < 0 {
        return Err(UvError::last_os(None));
    }
    buf.truncate(n as usize);
    Ok(Out::Bytes(buf))
}

fn do_write(fd: i32, data: Vec<u8>, offset: i64) -> FsResult {
    let n = unsafe {
        if offset >= 0 {
            libc::pwrite(fd, data.as_ptr() as *const _, data.len(), offset)
        } else {
            libc::write(fd, data.as_ptr() as *const _, data.len())
        }
    };
    if n < 0 {
        return Err(UvError::last_os(None));
    }
    Ok(Out::Int(n as i64))
}

fn do_scandir(p: Vec<u8>) -> FsResult {
    let rd = std::fs::read_dir(std::ffi::OsStr::from_encoded_bytes_checked(&p))
        .map_err(|e| UvError::from_io(&e, Some(&show(&p))))?;
    let mut v = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| UvError::from_io(&e, Some(&show(&p))))?;
        let ty = match entry.file_type() {
            Ok(t) if t.is_symlink() => "link",
            Ok(t) if t.is_dir() => "directory",
            Ok(t) if t.is_file() => "file",
            Ok(t) => {
                use std::os::unix::fs::FileTypeExt;
                if t.is_fifo() {
                    "fifo"
                } else if t.is_socket() {
                    "socket"
                } else if t.is_char_device() {
                    "char"
                } else if t.is_block_device() {
                    "block"
                } else {
                    "unknown"
                }
            }
            Err(_) => "unknown",
        };
        v.push((entry.file_name().into_encoded_bytes(), ty));
    }
    v.sort();
    Ok(Out::Scan(v))
}

trait OsStrExt2 {
    fn from_encoded_bytes_checked(b: &[u8]) -> &std::ffi::OsStr;
}
impl OsStrExt2 for std::ffi::OsStr {
    fn from_encoded_bytes_checked(b: &[u8]) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}

fn do_mkdtemp(tpl: Vec<u8>) -> FsResult {
    let mut t = tpl.clone();
    if !t.ends_with(b"XXXXXX") {
        t.extend_from_slice(b"XXXXXX");
    }
    let c = cpath(&t)?;
    let raw = c.into_raw();
    let r = unsafe { libc::mkdtemp(raw) };
    let c = unsafe { CString::from_raw(raw) };
    if r.is_null() {
        return Err(UvError::last_os(Some(&show(&tpl))));
    }
    Ok(Out::Bytes(c.into_bytes()))
}

fn do_readlink(p: Vec<u8>) -> FsResult {
    std::fs::read_link(std::ffi::OsStr::from_encoded_bytes_checked(&p))
        .map(|t| Out::Bytes(t.into_os_string().into_encoded_bytes()))
        .map_err(|e| UvError::from_io(&e, Some(&show(&p))))
}

fn do_realpath(p: Vec<u8>) -> FsResult {
    std::fs::canonicalize(std::ffi::OsStr::from_encoded_bytes_checked(&p))
        .map(|t| Out::Bytes(t.into_os_string().into_encoded_bytes()))
        .map_err(|e| UvError::from_io(&e, Some(&show(&p))))
}

fn timespec(t: f64) -> libc::timespec {
    libc::timespec {
        tv_sec: t.floor() as i64,
        tv_nsec: ((t - t.floor()) * 1e9) as i64,
    }
}

fn do_sendfile(out_fd: i32, in_fd: i32, offset: i64, len: usize) -> FsResult {
    let mut off = offset as libc::off_t;
    let n = unsafe { libc::sendfile(out_fd, in_fd, &mut off, len) };
    if n < 0 {
        return Err(UvError::last_os(None));
    }
    Ok(Out::Int(n as i64))
}

fn do_copyfile(a: Vec<u8>, b: Vec<u8>, flags: i32) -> FsResult {
    let (pa, pb) = (
        std::ffi::OsStr::from_encoded_bytes_checked(&a),
        std::ffi::OsStr::from_encoded_bytes_checked(&b),
    );
    // flags & 1 = COPYFILE_EXCL
    if flags & 1 != 0 && std::path::Path::new(pb).exists() {
        return Err(UvError::new(
            "EEXIST",
            Some(&format!("{} -> {}", show(&a), show(&b))),
        ));
    }
    std::fs::copy(pa, pb)
        .map(|_| Out::True)
        .map_err(|e| UvError::from_io(&e, Some(&format!("{} -> {}", show(&a), show(&b)))))
}

type S = mlua::LuaString;

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(
        lua,
        "fs_open",
        None,
        |lua, (p, flags, mode, cb): (S, Value, Option<i32>, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            let flags = open_flags(&flags)? | libc::O_CLOEXEC;
            let mode = mode.unwrap_or(0o666);
            call(lua, cb, move || {
                let c = cpath(&p)?;
                let fd = check(
                    unsafe { libc::open(c.as_ptr(), flags, mode as libc::c_uint) },
                    Some(&show(&p)),
                )?;
                Ok(Out::Int(fd as i64))
            })
        },
    )?;
    r.add(
        lua,
        "fs_close",
        None,
        |lua, (fd, cb): (i32, Option<Function>)| {
            call(lua, cb, move || fd_op(fd, || unsafe { libc::close(fd) }))
        },
    )?;
    r.add(
        lua,
        "fs_read",
        None,
        |lua, (fd, size, offset, cb): (i32, Option<i64>, Option<i64>, Option<Function>)| {
            let size = size.unwrap_or(4096).clamp(0, 1 << 30) as usize;
            call(lua, cb, move || do_read(fd, size, offset.unwrap_or(-1)))
        },
    )?;
    r.add(
        lua,
        "fs_write",
        None,
        |lua, (fd, data, offset, cb): (i32, Value, Option<i64>, Option<Function>)| {
            let data = data_bytes(&data, "fs_write")?;
            call(lua, cb, move || do_write(fd, data, offset.unwrap_or(-1)))
        },
    )?;
    r.add(
        lua,
        "fs_unlink",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::unlink(c.as_ptr()) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_mkdir",
        None,
        |lua, (p, mode, cb): (S, Option<u32>, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            let mode = mode.unwrap_or(0o777);
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::mkdir(c.as_ptr(), mode) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_mkdtemp",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_mkdtemp(p))
        },
    )?;
    r.add(
        lua,
        "fs_rmdir",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::rmdir(c.as_ptr()) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_scandir",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_scandir(p))
        },
    )?;
    r.add(lua, "fs_scandir_next", None, |lua, req: AnyUserData| {
        let sd = req.borrow::<ScanDir>()?;
        let next = sd.entries.borrow_mut().pop_front();
        match next {
            Some((name, ty)) => (lua.create_string(&name)?, ty).into_lua_multi(lua),
            None => Ok(MultiValue::new()),
        }
    })?;
    r.add(
        lua,
        "fs_stat",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_stat(p, true))
        },
    )?;
    r.add(
        lua,
        "fs_lstat",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_stat(p, false))
        },
    )?;
    r.add(
        lua,
        "fs_fstat",
        None,
        |lua, (fd, cb): (i32, Option<Function>)| {
            call(lua, cb, move || {
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                check(unsafe { libc::fstat(fd, &mut st) }, None)?;
                Ok(Out::Stat(Box::new(st)))
            })
        },
    )?;
    r.add(
        lua,
        "fs_rename",
        None,
        |lua, (a, b, cb): (S, S, Option<Function>)| {
            let (a, b) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
            call(lua, cb, move || {
                two_path_op(a, b, |x, y| unsafe { libc::rename(x.as_ptr(), y.as_ptr()) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_fsync",
        None,
        |lua, (fd, cb): (i32, Option<Function>)| {
            call(lua, cb, move || fd_op(fd, || unsafe { libc::fsync(fd) }))
        },
    )?;
    r.add(
        lua,
        "fs_fdatasync",
        None,
        |lua, (fd, cb): (i32, Option<Function>)| {
            call(lua, cb, move || {
                fd_op(fd, || unsafe { libc::fdatasync(fd) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_ftruncate",
        None,
        |lua, (fd, len, cb): (i32, Option<i64>, Option<Function>)| {
            let len = len.unwrap_or(0);
            call(lua, cb, move || {
                fd_op(fd, || unsafe { libc::ftruncate(fd, len) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_sendfile",
        None,
        |lua, (out_fd, in_fd, off, len, cb): (i32, i32, i64, usize, Option<Function>)| {
            call(lua, cb, move || do_sendfile(out_fd, in_fd, off, len))
        },
    )?;
    r.add(
        lua,
        "fs_access",
        None,
        |lua, (p, mode, cb): (S, Value, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            let mode = access_mode(&mode)?;
            call(lua, cb, move || {
                let c = cpath(&p)?;
                Ok(Out::Bool(unsafe { libc::access(c.as_ptr(), mode) } == 0))
            })
        },
    )?;
    r.add(
        lua,
        "fs_chmod",
        None,
        |lua, (p, mode, cb): (S, u32, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::chmod(c.as_ptr(), mode) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_fchmod",
        None,
        |lua, (fd, mode, cb): (i32, u32, Option<Function>)| {
            call(lua, cb, move || {
                fd_op(fd, || unsafe { libc::fchmod(fd, mode) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_utime",
        None,
        |lua, (p, at, mt, cb): (S, f64, f64, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                let times = [timespec(at), timespec(mt)];
                path_op(p, |c| unsafe {
                    libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0)
                })
            })
        },
    )?;
    r.add(
        lua,
        "fs_lutime",
        None,
        |lua, (p, at, mt, cb): (S, f64, f64, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                let times = [timespec(at), timespec(mt)];
                path_op(p, |c| unsafe {
                    libc::utimensat(
                        libc::AT_FDCWD,
                        c.as_ptr(),
                        times.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })
            })
        },
    )?;
    r.add(
        lua,
        "fs_futime",
        None,
        |lua, (fd, at, mt, cb): (i32, f64, f64, Option<Function>)| {
            call(lua, cb, move || {
                let times = [timespec(at), timespec(mt)];
                fd_op(fd, || unsafe { libc::futimens(fd, times.as_ptr()) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_link",
        None,
        |lua, (a, b, cb): (S, S, Option<Function>)| {
            let (a, b) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
            call(lua, cb, move || {
                two_path_op(a, b, |x, y| unsafe { libc::link(x.as_ptr(), y.as_ptr()) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_symlink",
        None,
        |lua, (a, b, flags, cb): (S, S, Value, Option<Function>)| {
            let (a, b) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
            let cb = cb.or(match flags {
                Value::Function(f) => Some(f),
                _ => None,
            });
            call(lua, cb, move || {
                two_path_op(a, b, |x, y| unsafe {
                    libc::symlink(x.as_ptr(), y.as_ptr())
                })
            })
        },
    )?;
    r.add(
        lua,
        "fs_readlink",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_readlink(p))
        },
    )?;
    r.add(
        lua,
        "fs_realpath",
        None,
        |lua, (p, cb): (S, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || do_realpath(p))
        },
    )?;
    r.add(
        lua,
        "fs_chown",
        None,
        |lua, (p, uid, gid, cb): (S, u32, u32, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::chown(c.as_ptr(), uid, gid) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_lchown",
        None,
        |lua, (p, uid, gid, cb): (S, u32, u32, Option<Function>)| {
            let p = p.as_bytes().to_vec();
            call(lua, cb, move || {
                path_op(p, |c| unsafe { libc::lchown(c.as_ptr(), uid, gid) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_fchown",
        None,
        |lua, (fd, uid, gid, cb): (i32, u32, u32, Option<Function>)| {
            call(lua, cb, move || {
                fd_op(fd, || unsafe { libc::fchown(fd, uid, gid) })
            })
        },
    )?;
    r.add(
        lua,
        "fs_copyfile",
        None,
        |lua, (a, b, flags, cb): (S, S, Value, Option<Function>)| {
            let (a, b) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
            let (flags, cb) = match flags {
                Value::Function(f) => (0, Some(f)),
                Value::Integer(i) => (i as i32, cb),
                Value::Table(t) => (
                    if t.get::<bool>("excl").unwrap_or(false) {
                        1
                    } else {
                        0
                    },
                    cb,
                ),
                _ => (0, cb),
            };
            call(lua, cb, move || do_copyfile(a, b, flags))
        },
    )?;
    let _ = ret::<()>;
    Ok(())
}
