//! Streams: `uv_tcp_t`, `uv_pipe_t` and `uv_tty_t`, their reads, queued writes, shutdown,
//! listen and accept, over tokio sockets (and blocking writes for the process's own stdio,
//! which node and libuv also write synchronously). Like luv, callbacks get the bare error
//! name (`"ECONNREFUSED"`); synchronous failures return `nil, "NAME: message", "NAME"`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use mlua::{IntoLuaMulti, Lua, MultiValue};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use super::errors::UvError;
use super::handle::Kind;
use crate::r#loop::{EventLoop, HandleId, LocalTask, ReqId, Slot};

/// A connected byte stream.
pub enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
    /// A non-blocking descriptor we own (child process pipes, `pipe_open` on other fds).
    Fd(AsyncFd<OwnedFd>),
    /// The process's stdio: written synchronously, read by a helper thread.
    Stdio(RawFd),
}

impl Conn {
    pub fn raw_fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::Fd(f) => f.get_ref().as_raw_fd(),
            Conn::Stdio(fd) => *fd,
        }
    }

    /// Waits until the stream is readable and reads one chunk (empty at end of stream). The
    /// bytes land in one buffer shared by every stream of the thread and are copied out at
    /// their size: an idle connection holds no read buffer (100 connections each keeping a
    /// 64 KiB buffer cost 6 MB of RSS).
    async fn read_chunk(&self) -> std::io::Result<Vec<u8>> {
        loop {
            let r = match self {
                Conn::Tcp(s) => {
                    s.readable().await?;
                    with_read_buf(|buf| {
                        read_drained(s.as_raw_fd(), buf, |f| {
                            s.try_io(tokio::io::Interest::READABLE, f)
                        })
                    })
                }
                Conn::Unix(s) => {
                    s.readable().await?;
                    with_read_buf(|buf| {
                        read_drained(s.as_raw_fd(), buf, |f| {
                            s.try_io(tokio::io::Interest::READABLE, f)
                        })
                    })
                }
                Conn::Fd(f) => {
                    let mut guard = f.readable().await?;
                    let r = with_read_buf(|buf| {
                        match guard.try_io(|inner| fd_read(inner.get_ref().as_raw_fd(), buf)) {
                            Ok(r) => r,
                            Err(_would_block) => Err(std::io::ErrorKind::WouldBlock.into()),
                        }
                    });
                    r
                }
                Conn::Stdio(_) => return Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
            };
            match r {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.try_write(buf),
            Conn::Unix(s) => s.try_write(buf),
            Conn::Fd(f) => fd_write(f.get_ref().as_raw_fd(), buf),
            Conn::Stdio(fd) => {
                if tap_stdio(*fd, buf) {
                    // redirected (MobDebug's `OUTPUT stdout r`): the IDE has it
                    return Ok(buf.len());
                }
                write_all_blocking(*fd, buf).map(|_| buf.len())
            }
        }
    }

    async fn writable(&self) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.writable().await,
            Conn::Unix(s) => s.writable().await,
            Conn::Fd(f) => f.writable().await.map(|mut g| g.clear_ready()),
            Conn::Stdio(_) => Ok(()),
        }
    }

    fn shutdown_write(&self) -> std::io::Result<()> {
        let fd = self.raw_fd();
        match self {
            // Child process stdio are socketpairs: half-close them like sockets.
            Conn::Tcp(_) | Conn::Unix(_) | Conn::Fd(_) => {
                if unsafe { libc::shutdown(fd, libc::SHUT_WR) } < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::ENOTSOCK) {
                        return Ok(());
                    }
                    return Err(e);
                }
                Ok(())
            }
            Conn::Stdio(_) => Ok(()),
        }
    }
}

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
}

/// Something that sees what the program writes to its own stdout and stderr (the debugger
/// sends it to its client as `output` events); `true` means it took the bytes and they are
/// not to be written.
pub type StdioTap = Box<dyn Fn(RawFd, &[u8]) -> bool>;

thread_local! {
    static STDIO_TAP: std::cell::RefCell<Option<StdioTap>> = const { std::cell::RefCell::new(None) };
}

/// Installs (or removes) the stdio tap of this (the Lua) thread.
pub fn set_stdio_tap(tap: Option<StdioTap>) {
    STDIO_TAP.with(|t| *t.borrow_mut() = tap);
}

fn tap_stdio(fd: RawFd, buf: &[u8]) -> bool {
    STDIO_TAP.with(|t| match t.try_borrow() {
        Ok(t) => t.as_ref().is_some_and(|f| f(fd, buf)),
        Err(_) => false,
    })
}

/// Runs one synchronous read into the thread's shared buffer; returns the bytes read.
fn with_read_buf(
    read: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
) -> std::io::Result<Vec<u8>> {
    READ_BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let n = read(&mut buf)?;
        Ok(buf[..n].to_vec())
    })
}

/// One read through tokio's `try_io`, on the socket's fd. A read that does not fill `buf`
/// means the socket is drained, so readiness is cleared too (as libuv and tokio's own
/// `poll_read` do): the next read waits for epoll instead of costing a syscall that answers
/// EAGAIN, which halved the reads per request of a keep-alive HTTP server.
fn read_drained(
    fd: RawFd,
    buf: &mut [u8],
    try_io: impl FnOnce(&mut dyn FnMut() -> std::io::Result<usize>) -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    let mut partial = None;
    let len = buf.len();
    let r = try_io(&mut || {
        let n = fd_read(fd, buf)?;
        if n > 0 && n < len {
            partial = Some(n);
            // Reported as WouldBlock so tokio clears the readiness; the count is kept above.
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (r, partial) {
        (_, Some(n)) => Ok(n),
        (r, None) => r,
    }
}

fn fd_read(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut _, buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn fd_write(fd: RawFd, buf: &[u8]) -> std::io::Result<usize> {
    let n = unsafe { libc::write(fd, buf.as_ptr() as *const _, buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes everything to a descriptor that may be non-blocking (waits with poll on EAGAIN).
pub fn write_all_blocking(fd: RawFd, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match fd_write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A listening socket's accepted connections, waiting for `accept`.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// What a stream handle holds right now.
pub enum Io {
    /// Created, not yet bound or connected.
    Fresh,
    /// A TCP socket bound to an address (before `listen` or `connect`).
    BoundTcp(socket2::Socket),
    /// A unix socket bound and listening at the OS level, not yet accepting.
    BoundUnix(std::os::unix::net::UnixListener),
    Listening(Rc<Listener>),
    Connected(Rc<Conn>),
    Closed,
}

struct WriteReq {
    data: Vec<u8>,
    offset: usize,
    req: Option<ReqId>,
}

/// One read result waiting to be delivered: data, EOF (`None`) or an error.
enum ReadItem {
    Data(Vec<u8>),
    Eof,
    Err(UvError),
}

/// The state of a stream handle.
pub struct Stream {
    pub id: HandleId,
    pub kind: Kind,
    pub io: RefCell<Io>,
    reading: Cell<bool>,
    /// Reads are lent to the callback as tokens (`uv._read_start_tokens`, the HTTP server's).
    tokens: Cell<bool>,
    read_task: RefCell<Option<JoinHandle<()>>>,
    /// Reads done but not yet delivered (kept across `read_stop`, so nothing is lost).
    pending: RefCell<VecDeque<ReadItem>>,
    pending_bytes: Cell<usize>,
    delivering: Cell<bool>,
    drained: tokio::sync::Notify,
    stdio_reader: Cell<bool>,
    writes: RefCell<VecDeque<WriteReq>>,
    write_bytes: Cell<usize>,
    writer_running: Cell<bool>,
    shutdown_req: Cell<Option<Option<ReqId>>>,
    accept_task: RefCell<Option<JoinHandle<()>>>,
    accepted: RefCell<VecDeque<Conn>>,
}

/// Reads pause while this many bytes wait undelivered.
const READ_HIGH_WATER: usize = 1 << 20;
const READ_CHUNK: usize = 64 * 1024;

impl Stream {
    pub fn new(id: HandleId, kind: Kind, io: Io) -> Stream {
        Stream {
            id,
            kind,
            io: RefCell::new(io),
            reading: Cell::new(false),
            tokens: Cell::new(false),
            read_task: RefCell::new(None),
            pending: RefCell::new(VecDeque::new()),
            pending_bytes: Cell::new(0),
            delivering: Cell::new(false),
            drained: tokio::sync::Notify::new(),
            stdio_reader: Cell::new(false),
            writes: RefCell::new(VecDeque::new()),
            write_bytes: Cell::new(0),
            writer_running: Cell::new(false),
            shutdown_req: Cell::new(None),
            accept_task: RefCell::new(None),
            accepted: RefCell::new(VecDeque::new()),
        }
    }

    pub fn fileno(&self) -> Option<i32> {
        match &*self.io.borrow() {
            Io::BoundTcp(s) => Some(s.as_raw_fd()),
            Io::BoundUnix(s) => Some(s.as_raw_fd()),
            Io::Listening(l) => Some(match &**l {
                Listener::Tcp(t) => t.as_raw_fd(),
                Listener::Unix(u) => u.as_raw_fd(),
            }),
            Io::Connected(c) => Some(c.raw_fd()),
            _ => None,
        }
    }

    pub fn conn(&self) -> Option<Rc<Conn>> {
        match &*self.io.borrow() {
            Io::Connected(c) => Some(c.clone()),
            _ => None,
        }
    }

    pub fn write_queue_size(&self) -> usize {
        self.write_bytes.get()
    }

    /// Stops all I/O and drops the socket (called by `close`).
    pub fn close(&self) {
        super::fast_write::forget(self.id);
        self.reading.set(false);
        if let Some(t) = self.read_task.borrow_mut().take() {
            t.abort();
        }
        if let Some(t) = self.accept_task.borrow_mut().take() {
            t.abort();
        }
        self.pending.borrow_mut().clear();
        self.writes.borrow_mut().clear();
        self.accepted.borrow_mut().clear();
        *self.io.borrow_mut() = Io::Closed;
    }

    // ---- reading -------------------------------------------------------------------------

    pub fn read_start(self: &Rc<Self>, el: &Rc<EventLoop>, tokens: bool) -> Result<(), UvError> {
        self.tokens.set(tokens);
        let conn = self.conn().ok_or_else(|| UvError::new("ENOTCONN", None))?;
        self.reading.set(true);
        el.set_active(self.id, true);
        if !self.pending.borrow().is_empty() {
            self.schedule_delivery(el);
        }
        if let Conn::Stdio(fd) = &*conn {
            if !self.stdio_reader.replace(true) {
                spawn_stdio_reader(el, self.id, *fd);
            }
            return Ok(());
        }
        if self.read_task.borrow().is_none() {
            let this = self.clone();
            let el2 = el.clone();
            let task = el.spawn_local(async move { this.read_loop(el2, conn).await });
            *self.read_task.borrow_mut() = Some(task);
        }
        Ok(())
    }

    pub fn read_stop(&self, el: &EventLoop) {
        self.reading.set(false);
        if let Some(t) = self.read_task.borrow_mut().take() {
            t.abort();
        }
        if self.accept_task.borrow().is_none() && self.writes.borrow().is_empty() {
            el.set_active(self.id, false);
        }
    }

    pub fn is_readable(&self) -> bool {
        matches!(&*self.io.borrow(), Io::Connected(_))
    }

    async fn read_loop(self: Rc<Self>, el: Rc<EventLoop>, conn: Rc<Conn>) {
        loop {
            while self.pending_bytes.get() >= READ_HIGH_WATER {
                self.drained.notified().await;
            }
            let item = match conn.read_chunk().await {
                Ok(d) if d.is_empty() => ReadItem::Eof,
                Ok(d) => ReadItem::Data(d),
                Err(e) => ReadItem::Err(UvError::from_io(&e, None)),
            };
            let last = !matches!(item, ReadItem::Data(_));
            self.push_read(&el, item);
            if last {
                *self.read_task.borrow_mut() = None;
                return;
            }
        }
    }

    fn push_read(self: &Rc<Self>, el: &EventLoop, item: ReadItem) {
        if let ReadItem::Data(d) = &item {
            self.pending_bytes.set(self.pending_bytes.get() + d.len());
        }
        self.pending.borrow_mut().push_back(item);
        self.schedule_delivery(el);
    }

    fn schedule_delivery(self: &Rc<Self>, el: &EventLoop) {
        if self.delivering.replace(true) {
            return;
        }
        el.post_local_task(self.clone());
    }

    /// Hands buffered reads to the read callback while the stream is reading.
    fn deliver_reads(self: &Rc<Self>, lua: &Lua, el: &EventLoop) {
        self.delivering.set(false);
        while self.reading.get() {
            let item = self.pending.borrow_mut().pop_front();
            let Some(item) = item else { break };
            let args = match item {
                ReadItem::Data(d) => {
                    self.pending_bytes.set(self.pending_bytes.get() - d.len());
                    el.call_handle_read(lua, self.id, &d, self.tokens.get());
                    continue;
                }
                ReadItem::Eof => Ok(MultiValue::new()),
                ReadItem::Err(e) => e.name.into_lua_multi(lua),
            };
            match args {
                Ok(args) => {
                    el.call_handle(lua, self.id, Slot::Read, args);
                }
                Err(e) => crate::r#loop::dispatch::report_error(lua, el, e),
            }
        }
        if self.pending_bytes.get() < READ_HIGH_WATER {
            self.drained.notify_one();
        }
    }

    // ---- writing -------------------------------------------------------------------------

    /// Queues `data`; the request completes once all of it is written.
    pub fn write(
        self: &Rc<Self>,
        el: &Rc<EventLoop>,
        data: Vec<u8>,
        req: Option<ReqId>,
    ) -> Result<(), UvError> {
        let conn = self
            .conn()
            .ok_or_else(|| UvError::new("EPIPE", Some("stream is not connected")))?;
        let mut offset = 0;
        if self.writes.borrow().is_empty() {
            // Fast path: write now, like libuv's uv_try_write before queueing.
            loop {
                if offset == data.len() {
                    break;
                }
                match conn.try_write(&data[offset..]) {
                    Ok(n) => offset += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let err = UvError::from_io(&e, None);
                        if let Some(req) = req {
                            el.complete_req(req, move |lua| err.name.into_lua_multi(lua));
                        }
                        return Ok(());
                    }
                }
            }
            if offset == data.len() {
                if let Some(req) = req {
                    el.complete_req(req, |_| Ok(MultiValue::new()));
                }
                return Ok(());
            }
        }
        self.write_bytes
            .set(self.write_bytes.get() + data.len() - offset);
        self.writes
            .borrow_mut()
            .push_back(WriteReq { data, offset, req });
        self.start_writer(el, conn);
        Ok(())
    }

    /// Writes what it can now, without queueing; returns the byte count (`uv_try_write`).
    pub fn try_write(&self, data: &[u8]) -> Result<usize, UvError> {
        if !self.writes.borrow().is_empty() {
            return Err(UvError::new("EAGAIN", None));
        }
        let conn = self.conn().ok_or_else(|| UvError::new("EPIPE", None))?;
        match conn.try_write(data) {
            Ok(n) => Ok(n),
            Err(e) => Err(UvError::from_io(&e, None)),
        }
    }

    fn start_writer(self: &Rc<Self>, el: &Rc<EventLoop>, conn: Rc<Conn>) {
        if self.writer_running.replace(true) {
            return;
        }
        el.set_active(self.id, true);
        let this = self.clone();
        let el2 = el.clone();
        el.spawn_local(async move {
            this.write_loop(&el2, conn).await;
            this.writer_running.set(false);
            if !this.reading.get() && this.accept_task.borrow().is_none() {
                el2.set_active(this.id, false);
            }
        });
    }

    async fn write_loop(self: &Rc<Self>, el: &Rc<EventLoop>, conn: Rc<Conn>) {
        loop {
            let front = {
                let w = self.writes.borrow();
                w.front().map(|w| (w.data.len(), w.offset))
            };
            let Some((len, off)) = front else { break };
            if off == len {
                let done = self.writes.borrow_mut().pop_front();
                if let Some(WriteReq { req: Some(req), .. }) = done {
                    el.complete_req(req, |_| Ok(MultiValue::new()));
                }
                continue;
            }
            if let Err(e) = conn.writable().await {
                self.fail_writes(el, UvError::from_io(&e, None));
                return;
            }
            let r = {
                let w = self.writes.borrow();
                match w.front() {
                    Some(w) => conn.try_write(&w.data[w.offset..]),
                    None => continue,
                }
            };
            match r {
                Ok(n) => {
                    if let Some(w) = self.writes.borrow_mut().front_mut() {
                        w.offset += n;
                    }
                    self.write_bytes
                        .set(self.write_bytes.get().saturating_sub(n));
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail_writes(el, UvError::from_io(&e, None));
                    return;
                }
            }
        }
        if let Some(req) = self.shutdown_req.take() {
            self.finish_shutdown(el, &conn, req);
        }
    }

    fn fail_writes(&self, el: &EventLoop, err: UvError) {
        let failed: Vec<_> = self.writes.borrow_mut().drain(..).collect();
        self.write_bytes.set(0);
        for w in failed {
            if let Some(req) = w.req {
                let msg = err.name;
                el.complete_req(req, move |lua| msg.into_lua_multi(lua));
            }
        }
        if let Some(Some(req)) = self.shutdown_req.take() {
            let msg = err.name;
            el.complete_req(req, move |lua| msg.into_lua_multi(lua));
        }
    }

    /// Half-closes the write side once queued writes are done.
    pub fn shutdown(
        self: &Rc<Self>,
        el: &Rc<EventLoop>,
        req: Option<ReqId>,
    ) -> Result<(), UvError> {
        let conn = self.conn().ok_or_else(|| UvError::new("ENOTCONN", None))?;
        if self.writer_running.get() {
            self.shutdown_req.set(Some(req));
        } else {
            self.finish_shutdown(el, &conn, req);
        }
        Ok(())
    }

    fn finish_shutdown(&self, el: &EventLoop, conn: &Conn, req: Option<ReqId>) {
        let r = conn.shutdown_write();
        if let Some(req) = req {
            el.complete_req(req, move |lua| match r {
                Ok(()) => Ok(MultiValue::new()),
                Err(e) => UvError::from_io(&e, None).name.into_lua_multi(lua),
            });
        }
    }

    // ---- listening -----------------------------------------------------------------------

    pub fn listen(self: &Rc<Self>, el: &Rc<EventLoop>, backlog: i32) -> Result<(), UvError> {
        let io = std::mem::replace(&mut *self.io.borrow_mut(), Io::Closed);
        let listener = match io {
            Io::BoundTcp(sock) => {
                if let Err(e) = sock.listen(backlog) {
                    *self.io.borrow_mut() = Io::BoundTcp(sock);
                    return Err(UvError::from_io(&e, None));
                }
                let std_l: std::net::TcpListener = sock.into();
                let l = std_l
                    .set_nonblocking(true)
                    .and_then(|_| tokio::net::TcpListener::from_std(std_l))
                    .map_err(|e| UvError::from_io(&e, None))?;
                Listener::Tcp(l)
            }
            Io::BoundUnix(std_l) => {
                let l = std_l
                    .set_nonblocking(true)
                    .and_then(|_| tokio::net::UnixListener::from_std(std_l))
                    .map_err(|e| UvError::from_io(&e, None))?;
                Listener::Unix(l)
            }
            Io::Listening(l) => {
                *self.io.borrow_mut() = Io::Listening(l);
                return Ok(());
            }
            other => {
                let fresh = matches!(other, Io::Fresh);
                *self.io.borrow_mut() = other;
                if fresh && self.kind == Kind::Tcp {
                    // libuv binds an unbound TCP socket to 0.0.0.0:0 on listen.
                    let sock = bind_tcp(
                        "0.0.0.0:0"
                            .parse()
                            .map_err(|_| UvError::new("EINVAL", None))?,
                        false,
                    )?;
                    *self.io.borrow_mut() = Io::BoundTcp(sock);
                    return self.listen(el, backlog);
                }
                return Err(UvError::new("EINVAL", Some("socket is not bound")));
            }
        };
        let listener = Rc::new(listener);
        *self.io.borrow_mut() = Io::Listening(listener.clone());
        el.set_active(self.id, true);
        let this = self.clone();
        let el2 = el.clone();
        let task = el.spawn_local(async move {
            loop {
                let r = match &*listener {
                    Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
                    Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
                };
                match r {
                    Ok(conn) => {
                        this.accepted.borrow_mut().push_back(conn);
                        let id = this.id;
                        el2.post_local(Box::new(move |lua, el| {
                            el.call_handle(lua, id, Slot::Main, MultiValue::new());
                        }));
                    }
                    Err(e) => {
                        // EMFILE and friends: report and keep accepting, as libuv does.
                        let err = UvError::from_io(&e, None);
                        let id = this.id;
                        el2.post_local(Box::new(move |lua, el| {
                            if let Ok(args) = err.name.into_lua_multi(lua) {
                                el.call_handle(lua, id, Slot::Main, args);
                            }
                        }));
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        });
        *self.accept_task.borrow_mut() = Some(task);
        Ok(())
    }

    pub fn accept_into(&self, client: &Stream) -> Result<(), UvError> {
        let conn = self
            .accepted
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| UvError::new("EAGAIN", None))?;
        *client.io.borrow_mut() = Io::Connected(Rc::new(conn));
        Ok(())
    }
}

/// A TCP socket bound to `addr` (SO_REUSEADDR like libuv; IPV6_V6ONLY on request).
pub fn bind_tcp(addr: std::net::SocketAddr, ipv6only: bool) -> Result<socket2::Socket, UvError> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(
        domain,
        socket2::Type::STREAM.cloexec(),
        Some(socket2::Protocol::TCP),
    )
    .map_err(|e| UvError::from_io(&e, None))?;
    let _ = sock.set_reuse_address(true);
    if addr.is_ipv6() {
        let _ = sock.set_only_v6(ipv6only);
    }
    sock.bind(&addr.into())
        .map_err(|e| UvError::from_io(&e, None))?;
    Ok(sock)
}

/// Reads the process's stdin (or another stdio fd) on a thread, posting chunks to the loop.
fn spawn_stdio_reader(el: &EventLoop, id: HandleId, fd: RawFd) {
    let tx = el.sender();
    let spawned = std::thread::Builder::new()
        .name("luvit-stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let item = match fd_read(fd, &mut buf) {
                    Ok(0) => ReadItem::Eof,
                    Ok(n) => ReadItem::Data(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let mut p = libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        unsafe { libc::poll(&mut p, 1, -1) };
                        continue;
                    }
                    Err(e) => ReadItem::Err(UvError::from_io(&e, None)),
                };
                let last = !matches!(item, ReadItem::Data(_));
                let sent = tx.send(crate::r#loop::Event {
                    at: crate::r#loop::stamp(),
                    target: crate::r#loop::Target::Internal(Box::new(move |lua, el| {
                        if let Some(s) = stream_of(lua, el, id) {
                            s.push_read(el, item);
                        }
                    })),
                    args: Box::new(|_| Ok(MultiValue::new())),
                });
                if last || sent.is_err() {
                    return;
                }
            }
        });
    drop(spawned);
}

/// The stream state of a live handle id.
pub fn stream_of(lua: &Lua, el: &EventLoop, id: HandleId) -> Option<Rc<Stream>> {
    let ud = el.handle_ud(lua, id)?;
    let h = ud.borrow::<super::handle::Handle>().ok()?;
    let d = h.data.borrow();
    match &*d {
        super::handle::Data::Stream(s) => Some(s.clone()),
        _ => None,
    }
}

/// EBADF unless `fd` is an open descriptor: one wrapped that is not (a program's wrong number)
/// would be closed again when its wrapper drops, and Rust's I/O safety check aborts the
/// process there (fuzz findings lua_api_tcp_open_of_a_closed_fd, lua_api_pipe_open_of_a_closed_fd).
fn check_open_fd(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: F_GETFD reads a descriptor's flags and touches no memory.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(())
}

/// Wraps a descriptor handed to a handle (`pipe:open`, a child's pipe) as a non-blocking async
/// stream. On failure the caller keeps `fd` as it was, open and with its flags, as libuv leaves
/// it: epoll refuses a regular file or a directory (EPERM) and a descriptor another handle
/// already watches (EEXIST); the wrapper used to close it on the way out.
pub fn conn_from_fd(fd: RawFd) -> std::io::Result<Conn> {
    check_open_fd(fd)?;
    if fd <= 2 {
        return Ok(Conn::Stdio(fd));
    }
    let flags = set_nonblocking(fd);
    // SAFETY: `fd` is open (checked above); on success the AsyncFd owns it, on failure it is
    // handed back unclosed below.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns `owned` for as long as it is registered.
    match unsafe { AsyncFd::register(owned) } {
        Ok(afd) => Ok(Conn::Fd(afd)),
        Err(refused) => {
            let (owned, e) = refused.into_parts();
            let _ = std::os::fd::IntoRawFd::into_raw_fd(owned); // the caller's again
            restore_flags(fd, flags);
            Err(e)
        }
    }
}

/// `tcp:open(fd)`: `fd` as a tokio TCP stream, or an error with `fd` left as it was (see
/// [`conn_from_fd`]). tokio's `TcpStream::from_std` closes the socket when the reactor refuses
/// it, so the bare descriptor is registered first (and deregistered at once) to ask.
pub fn tcp_from_fd(fd: RawFd) -> std::io::Result<tokio::net::TcpStream> {
    struct Bare(RawFd);
    impl AsRawFd for Bare {
        fn as_raw_fd(&self) -> RawFd {
            self.0
        }
    }
    check_open_fd(fd)?;
    let flags = set_nonblocking(fd);
    // SAFETY: `fd` stays open while the probe lives (dropped at the end of this statement).
    if let Err(refused) = unsafe { AsyncFd::register(Bare(fd)) } {
        restore_flags(fd, flags);
        return Err(refused.into_parts().1);
    }
    // SAFETY: `fd` is open, and the reactor takes it (asked just above, nothing ran between).
    let std_s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    tokio::net::TcpStream::from_std(std_s)
}

/// Sets O_NONBLOCK on an open descriptor; returns its flags before.
fn set_nonblocking(fd: RawFd) -> libc::c_int {
    // SAFETY: fcntl on an open descriptor touches no memory of ours.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags != -1 {
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    }
    flags
}

fn restore_flags(fd: RawFd, flags: libc::c_int) {
    if flags != -1 {
        // SAFETY: as in set_nonblocking.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        super::fast_write::forget(self.id);
    }
}

/// The read delivery a stream posts for each chunk it reads.
impl LocalTask for Stream {
    fn run_task(self: Rc<Self>, lua: &Lua, el: &EventLoop) {
        self.deliver_reads(lua, el);
    }
}
