//! `uv_udp_t`: datagram sockets with bind, send, receive, broadcast and multicast membership.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::errors::{ret, UvError};
use super::handle::{create, Data, Kind, Reg, H};
use super::net::{addr_table, data_arg};
use crate::r#loop::{Callback, EventLoop, Slot};

/// A UDP socket; it exists once bound (explicitly, or on first send like libuv).
#[derive(Default)]
pub struct UdpData {
    sock: RefCell<Option<Rc<UdpSocket>>>,
    recv_task: RefCell<Option<JoinHandle<()>>>,
    /// Bumped by every recv_start/recv_stop: a datagram read under an older generation is
    /// dropped, so nothing reaches the callback after recv_stop.
    recv_gen: Cell<u64>,
    /// Sends started and not yet completed (udp_get_send_queue_count).
    sending: Cell<usize>,
    sending_bytes: Cell<usize>,
}

impl UdpData {
    pub fn fileno(&self) -> Option<i32> {
        self.sock.borrow().as_ref().map(|s| s.as_raw_fd())
    }

    pub fn close(&self) {
        if let Some(t) = self.recv_task.borrow_mut().take() {
            t.abort();
        }
        *self.sock.borrow_mut() = None;
    }

    fn bind(&self, addr: SocketAddr, reuse: bool, v6only: bool) -> Result<Rc<UdpSocket>, UvError> {
        if self.sock.borrow().is_some() {
            // libuv refuses a second bind (the first, explicit or implicit, stays).
            return Err(UvError::new("EINVAL", Some("socket is already bound")));
        }
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM.cloexec(),
            None,
        )
        .map_err(|e| UvError::from_io(&e, None))?;
        if reuse {
            let _ = s.set_reuse_address(true);
            let _ = s.set_reuse_port(true);
        }
        if addr.is_ipv6() {
            let _ = s.set_only_v6(v6only);
        }
        s.bind(&addr.into())
            .map_err(|e| UvError::from_io(&e, None))?;
        s.set_nonblocking(true)
            .map_err(|e| UvError::from_io(&e, None))?;
        let sock = Rc::new(UdpSocket::from_std(s.into()).map_err(|e| UvError::from_io(&e, None))?);
        *self.sock.borrow_mut() = Some(sock.clone());
        Ok(sock)
    }

    fn socket(&self, for_addr: Option<SocketAddr>) -> Result<Rc<UdpSocket>, UvError> {
        if let Some(s) = self.sock.borrow().as_ref() {
            return Ok(s.clone());
        }
        let any = match for_addr {
            Some(a) if a.is_ipv6() => SocketAddr::new(IpAddr::from([0u16; 8]), 0),
            _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        self.bind(any, false, false)
    }

    /// The socket if bound; EBADF otherwise (libuv's answer for options on an unbound handle).
    fn bound(&self) -> Result<Rc<UdpSocket>, UvError> {
        self.sock
            .borrow()
            .clone()
            .ok_or_else(|| UvError::new("EBADF", Some("socket is not bound")))
    }
}

fn udp(h: &H) -> mlua::Result<Rc<UdpData>> {
    match &*h.data.borrow() {
        Data::Udp(u) => Ok(u.clone()),
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #1 (uv_udp_t expected, got {})",
            h.kind.c_name()
        ))),
    }
}

fn ip(host: &str, port: u16) -> Result<SocketAddr, UvError> {
    host.parse::<IpAddr>()
        .map(|i| SocketAddr::new(i, port))
        .map_err(|_| UvError::new("EINVAL", Some(&format!("invalid IP address: {host}"))))
}

const UDP: &[Kind] = &[Kind::Udp];

fn is_v6(s: &UdpSocket) -> bool {
    s.local_addr().map(|a| a.is_ipv6()).unwrap_or(false)
}

/// An IPv6 interface given as an index ("2"), a scoped address ("fe80::1%2") or a name ("lo").
fn v6_interface(text: &str) -> u32 {
    let scope = text.rsplit_once('%').map(|(_, s)| s).unwrap_or(text);
    if let Ok(n) = scope.parse::<u32>() {
        return n;
    }
    match std::ffi::CString::new(scope) {
        // SAFETY: if_nametoindex reads a NUL-terminated string and returns 0 if unknown.
        Ok(name) => unsafe { libc::if_nametoindex(name.as_ptr()) },
        Err(_) => 0,
    }
}

fn sockopt<T>(
    lua: &Lua,
    h: &H,
    f: impl FnOnce(&UdpSocket) -> std::io::Result<T>,
) -> mlua::Result<MultiValue> {
    let u = udp(h)?;
    let r = u
        .bound()
        .and_then(|s| f(&s).map(|_| 0).map_err(|e| UvError::from_io(&e, None)));
    ret(lua, r)
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "new_udp", None, |lua, _flags: Value| {
        create(lua, Kind::Udp, Data::Udp(Rc::new(UdpData::default())))
    })?;
    r.add(
        lua,
        "udp_bind",
        Some((UDP, "bind")),
        |lua, (h, host, port, flags): (H, String, u16, Option<Table>)| {
            let u = udp(&h)?;
            let reuse = flags
                .as_ref()
                .and_then(|f| f.get::<bool>("reuseaddr").ok())
                .unwrap_or(false);
            let v6only = flags
                .as_ref()
                .and_then(|f| f.get::<bool>("ipv6only").ok())
                .unwrap_or(false);
            ret(
                lua,
                ip(&host, port)
                    .and_then(|a| u.bind(a, reuse, v6only))
                    .map(|_| 0),
            )
        },
    )?;
    r.add(
        lua,
        "udp_send",
        Some((UDP, "send")),
        |lua, (h, data, host, port, cb): (H, Value, String, u16, Option<Function>)| {
            let u = udp(&h)?;
            let data = data_arg(&data, "udp_send")?;
            let addr = match ip(&host, port) {
                Ok(a) => a,
                Err(e) => return ret::<()>(lua, Err(e)),
            };
            let sock = match u.socket(Some(addr)) {
                Ok(s) => s,
                Err(e) => return ret::<()>(lua, Err(e)),
            };
            let el = EventLoop::of(lua);
            let req = el.new_req(cb.map(|f| Callback::new(lua, &el, f, "udp send")));
            let el2 = el.clone();
            let len = data.len();
            u.sending.set(u.sending.get() + 1);
            u.sending_bytes.set(u.sending_bytes.get() + len);
            el.spawn_local(async move {
                let sent = sock.send_to(&data, addr).await;
                u.sending.set(u.sending.get().saturating_sub(1));
                u.sending_bytes
                    .set(u.sending_bytes.get().saturating_sub(len));
                match sent {
                    Ok(_) => el2.complete_req(req, |_| Ok(MultiValue::new())),
                    Err(e) => {
                        let err = UvError::from_io(&e, None);
                        el2.complete_req(req, move |lua| err.name.into_lua_multi(lua))
                    }
                }
            });
            ret(lua, Ok::<_, UvError>(0))
        },
    )?;
    r.add(
        lua,
        "udp_try_send",
        Some((UDP, "try_send")),
        |lua, (h, data, host, port): (H, Value, String, u16)| {
            let u = udp(&h)?;
            let data = data_arg(&data, "udp_try_send")?;
            let r = ip(&host, port).and_then(|a| {
                u.socket(Some(a)).and_then(|s| {
                    s.try_send_to(&data, a)
                        .map_err(|e| UvError::from_io(&e, None))
                })
            });
            ret(lua, r)
        },
    )?;
    r.add(
        lua,
        "udp_recv_start",
        Some((UDP, "recv_start")),
        |lua, (h, cb): (H, Function)| {
            let u = udp(&h)?;
            let sock = match u.socket(None) {
                Ok(s) => s,
                Err(e) => return ret::<()>(lua, Err(e)),
            };
            let el = EventLoop::of(lua);
            el.set_callback(
                h.id,
                Slot::Main,
                Some(Callback::new(lua, &el, cb, "udp recv")),
            );
            el.set_active(h.id, true);
            let id = h.id;
            let el2 = el.clone();
            let gen = u.recv_gen.get() + 1;
            u.recv_gen.set(gen);
            let u2 = u.clone();
            let task = el.spawn_local(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    match sock.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let data = buf[..n].to_vec();
                            let u3 = u2.clone();
                            el2.post_local(Box::new(move |lua, el| {
                                if u3.recv_gen.get() != gen {
                                    return;
                                }
                                let args = (|| {
                                    let flags = lua.create_table()?;
                                    (
                                        Value::Nil,
                                        lua.create_string(&data)?,
                                        addr_table(lua, from)?,
                                        flags,
                                    )
                                        .into_lua_multi(lua)
                                })();
                                if let Ok(args) = args {
                                    el.call_handle(lua, id, Slot::Main, args);
                                }
                            }));
                        }
                        Err(e) => {
                            let err = UvError::from_io(&e, None);
                            el2.post_local(Box::new(move |lua, el| {
                                if let Ok(args) = err.name.into_lua_multi(lua) {
                                    el.call_handle(lua, id, Slot::Main, args);
                                }
                            }));
                        }
                    }
                }
            });
            if let Some(old) = u.recv_task.borrow_mut().replace(task) {
                old.abort();
            }
            ret(lua, Ok::<_, UvError>(0))
        },
    )?;
    r.add(
        lua,
        "udp_recv_stop",
        Some((UDP, "recv_stop")),
        |lua, h: H| {
            let u = udp(&h)?;
            if let Some(t) = u.recv_task.borrow_mut().take() {
                t.abort();
            }
            u.recv_gen.set(u.recv_gen.get() + 1);
            EventLoop::of(lua).set_active(h.id, false);
            ret(lua, Ok::<_, UvError>(0))
        },
    )?;
    r.add(
        lua,
        "udp_getsockname",
        Some((UDP, "getsockname")),
        |lua, h: H| {
            let u = udp(&h)?;
            let r = u
                .bound()
                .and_then(|s| s.local_addr().map_err(|e| UvError::from_io(&e, None)));
            match r {
                Ok(a) => addr_table(lua, a)?.into_lua_multi(lua),
                Err(e) => e.into_triple(lua),
            }
        },
    )?;
    r.add(
        lua,
        "udp_set_broadcast",
        Some((UDP, "set_broadcast")),
        |lua, (h, on): (H, bool)| sockopt(lua, &h, |s| s.set_broadcast(on)),
    )?;
    r.add(
        lua,
        "udp_set_ttl",
        Some((UDP, "set_ttl")),
        |lua, (h, ttl): (H, u32)| sockopt(lua, &h, |s| s.set_ttl(ttl)),
    )?;
    r.add(
        lua,
        "udp_set_multicast_ttl",
        Some((UDP, "set_multicast_ttl")),
        |lua, (h, ttl): (H, u32)| {
            sockopt(lua, &h, |s| {
                if is_v6(s) {
                    socket2::SockRef::from(s).set_multicast_hops_v6(ttl)
                } else {
                    s.set_multicast_ttl_v4(ttl)
                }
            })
        },
    )?;
    r.add(
        lua,
        "udp_set_multicast_loop",
        Some((UDP, "set_multicast_loop")),
        |lua, (h, on): (H, bool)| {
            sockopt(lua, &h, |s| {
                if is_v6(s) {
                    s.set_multicast_loop_v6(on)
                } else {
                    s.set_multicast_loop_v4(on)
                }
            })
        },
    )?;
    r.add(
        lua,
        "udp_set_membership",
        Some((UDP, "set_membership")),
        |lua, (h, group, iface, op): (H, String, Option<String>, String)| {
            let u = udp(&h)?;
            let group: IpAddr = match group.parse() {
                Ok(g) => g,
                Err(_) => {
                    return ret::<()>(
                        lua,
                        Err(UvError::new("EINVAL", Some("invalid multicast address"))),
                    )
                }
            };
            let r = u.socket(None).and_then(|s| {
                let res = match group {
                    IpAddr::V4(g) => {
                        let i: Ipv4Addr = iface
                            .as_deref()
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(Ipv4Addr::UNSPECIFIED);
                        if op == "join" {
                            s.join_multicast_v4(g, i)
                        } else {
                            s.leave_multicast_v4(g, i)
                        }
                    }
                    IpAddr::V6(g) => {
                        let index = iface.as_deref().map(v6_interface).unwrap_or(0);
                        if op == "join" {
                            s.join_multicast_v6(&g, index)
                        } else {
                            s.leave_multicast_v6(&g, index)
                        }
                    }
                };
                res.map(|_| 0).map_err(|e| UvError::from_io(&e, None))
            });
            ret(lua, r)
        },
    )?;
    r.add(
        lua,
        "udp_set_multicast_interface",
        Some((UDP, "set_multicast_interface")),
        |lua, (h, iface): (H, Option<String>)| {
            let u = udp(&h)?;
            let r = u.bound().and_then(|s| {
                let sock = socket2::SockRef::from(&*s);
                let res = if is_v6(&s) {
                    sock.set_multicast_if_v6(iface.as_deref().map(v6_interface).unwrap_or(0))
                } else {
                    match iface.as_deref().unwrap_or("0.0.0.0").parse::<Ipv4Addr>() {
                        Ok(a) => sock.set_multicast_if_v4(&a),
                        Err(_) => {
                            return Err(UvError::new("EINVAL", Some("invalid interface address")))
                        }
                    }
                };
                res.map(|_| 0).map_err(|e| UvError::from_io(&e, None))
            });
            ret(lua, r)
        },
    )?;
    r.add(
        lua,
        "udp_connect",
        Some((UDP, "connect")),
        |lua, (h, host, port): (H, Option<String>, Option<u16>)| {
            let u = udp(&h)?;
            let r = match host {
                // connect(nil) dissolves the association, as in libuv.
                None => u.bound().map(|s| {
                    // SAFETY: try_init hands us zeroed storage to fill; we set only the
                    // family (AF_UNSPEC) and the length of a plain sockaddr.
                    let unspec = unsafe {
                        socket2::SockAddr::try_init(|storage, len| {
                            (*storage).ss_family = libc::AF_UNSPEC as libc::sa_family_t;
                            *len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
                            Ok(())
                        })
                    };
                    if let Ok(((), unspec)) = unspec {
                        let _ = socket2::SockRef::from(&*s).connect(&unspec);
                    }
                    0
                }),
                Some(host) => ip(&host, port.unwrap_or(0)).and_then(|a| {
                    u.socket(Some(a)).and_then(|s| {
                        socket2::SockRef::from(&*s)
                            .connect(&a.into())
                            .map(|_| 0)
                            .map_err(|e| UvError::from_io(&e, None))
                    })
                }),
            };
            ret(lua, r)
        },
    )?;
    r.add(
        lua,
        "udp_getpeername",
        Some((UDP, "getpeername")),
        |lua, h: H| {
            let u = udp(&h)?;
            let r = u
                .bound()
                .and_then(|s| s.peer_addr().map_err(|e| UvError::from_io(&e, None)));
            match r {
                Ok(a) => addr_table(lua, a)?.into_lua_multi(lua),
                Err(e) => e.into_triple(lua),
            }
        },
    )?;
    r.add(
        lua,
        "udp_get_send_queue_size",
        Some((UDP, "get_send_queue_size")),
        |_, h: H| Ok(udp(&h)?.sending_bytes.get()),
    )?;
    r.add(
        lua,
        "udp_get_send_queue_count",
        Some((UDP, "get_send_queue_count")),
        |_, h: H| Ok(udp(&h)?.sending.get()),
    )?;
    Ok(())
}
