//! libuv-style errors: `ENOENT` names, libuv's messages, and luv's `nil, "ENOENT: msg: path", "ENOENT"`.

use mlua::{IntoLuaMulti, Lua, MultiValue, Value};

/// An error as luv reports it: the errno name and the full message.
#[derive(Debug, Clone)]
pub struct UvError {
    pub name: &'static str,
    pub message: String,
}

impl UvError {
    pub fn new(name: &'static str, detail: Option<&str>) -> UvError {
        let base = format!("{name}: {}", strerror(name));
        let message = match detail {
            Some(d) => format!("{base}: {d}"),
            None => base,
        };
        UvError { name, message }
    }

    pub fn from_io(e: &std::io::Error, detail: Option<&str>) -> UvError {
        let name = match e.raw_os_error() {
            Some(code) => errno_name(code),
            None => match e.kind() {
                std::io::ErrorKind::NotFound => "ENOENT",
                std::io::ErrorKind::PermissionDenied => "EACCES",
                std::io::ErrorKind::AlreadyExists => "EEXIST",
                std::io::ErrorKind::InvalidInput => "EINVAL",
                std::io::ErrorKind::TimedOut => "ETIMEDOUT",
                std::io::ErrorKind::UnexpectedEof => "EOF",
                std::io::ErrorKind::BrokenPipe => "EPIPE",
                std::io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
                std::io::ErrorKind::ConnectionReset => "ECONNRESET",
                std::io::ErrorKind::AddrInUse => "EADDRINUSE",
                _ => "EIO",
            },
        };
        UvError::new(name, detail)
    }

    pub fn errno(code: i32, detail: Option<&str>) -> UvError {
        UvError::new(errno_name(code), detail)
    }

    pub fn last_os(detail: Option<&str>) -> UvError {
        UvError::from_io(&std::io::Error::last_os_error(), detail)
    }

    /// luv's failure triple: `nil, message, name`.
    pub fn into_triple(self, lua: &Lua) -> mlua::Result<MultiValue> {
        (Value::Nil, self.message, self.name).into_lua_multi(lua)
    }
}

impl std::fmt::Display for UvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Returns luv's results: the values on success, `nil, msg, name` on failure.
pub fn ret<T: IntoLuaMulti>(lua: &Lua, r: Result<T, UvError>) -> mlua::Result<MultiValue> {
    match r {
        Ok(v) => v.into_lua_multi(lua),
        Err(e) => e.into_triple(lua),
    }
}

macro_rules! errnos {
    ($($name:ident => $msg:expr),* $(,)?) => {
        /// The symbolic name of an errno value (`ENOENT`), or `EIO` for ones we do not know.
        pub fn errno_name(code: i32) -> &'static str {
            $(if code == libc::$name { return stringify!($name); })*
            "EIO"
        }
        /// libuv's message for an error name.
        pub fn strerror(name: &str) -> &'static str {
            match name {
                $(stringify!($name) => $msg,)*
                "EOF" => "end of file",
                "ECANCELED" => "operation canceled",
                "EAI_NONAME" => "unknown node or service",
                "EAI_AGAIN" => "temporary failure",
                "EAI_FAIL" => "permanent failure",
                _ => "unknown error",
            }
        }
    };
}

errnos! {
    E2BIG => "argument list too long",
    EACCES => "permission denied",
    EADDRINUSE => "address already in use",
    EADDRNOTAVAIL => "address not available",
    EAFNOSUPPORT => "address family not supported",
    EAGAIN => "resource temporarily unavailable",
    EALREADY => "connection already in progress",
    EBADF => "bad file descriptor",
    EBUSY => "resource busy or locked",
    ECHILD => "no child processes",
    ECONNABORTED => "software caused connection abort",
    ECONNREFUSED => "connection refused",
    ECONNRESET => "connection reset by peer",
    EDESTADDRREQ => "destination address required",
    EEXIST => "file already exists",
    EFAULT => "bad address in system call argument",
    EFBIG => "file too large",
    EHOSTUNREACH => "host is unreachable",
    EINTR => "interrupted system call",
    EINVAL => "invalid argument",
    EIO => "i/o error",
    EISCONN => "socket is already connected",
    EISDIR => "illegal operation on a directory",
    ELOOP => "too many symbolic links encountered",
    EMFILE => "too many open files",
    EMSGSIZE => "message too long",
    ENAMETOOLONG => "name too long",
    ENETDOWN => "network is down",
    ENETUNREACH => "network is unreachable",
    ENFILE => "file table overflow",
    ENOBUFS => "no buffer space available",
    ENODEV => "no such device",
    ENOENT => "no such file or directory",
    ENOMEM => "not enough memory",
    ENOSPC => "no space left on device",
    ENOSYS => "function not implemented",
    ENOTCONN => "socket is not connected",
    ENOTDIR => "not a directory",
    ENOTEMPTY => "directory not empty",
    ENOTSOCK => "socket operation on non-socket",
    ENOTSUP => "operation not supported on socket",
    EPERM => "operation not permitted",
    EPIPE => "broken pipe",
    EPROTO => "protocol error",
    ERANGE => "result too large",
    EROFS => "read-only file system",
    ESPIPE => "invalid seek",
    ESRCH => "no such process",
    ETIMEDOUT => "connection timed out",
    ETXTBSY => "text file is busy",
    EXDEV => "cross-device link not permitted",
}
