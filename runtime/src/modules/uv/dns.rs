//! `uv.getaddrinfo` and `uv.getnameinfo`: the system resolver on tokio's blocking pool.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::errors::UvError;
use super::handle::Reg;
use crate::r#loop::{Callback, Event, EventLoop, Target};

struct AddrInfo {
    addr: SocketAddr,
    socktype: i32,
    protocol: i32,
    canonname: Option<String>,
}

fn gai_error(code: i32) -> UvError {
    let name = match code {
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_SERVICE => "EAI_SERVICE",
        libc::EAI_MEMORY => "ENOMEM",
        _ => "EAI_FAIL",
    };
    let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .into_owned();
    UvError {
        name,
        message: format!("{name}: {msg}"),
    }
}

fn resolve(
    host: Option<String>,
    service: Option<String>,
    family: i32,
    socktype: i32,
    protocol: i32,
    flags: i32,
) -> Result<Vec<AddrInfo>, UvError> {
    let chost = host
        .map(CString::new)
        .transpose()
        .map_err(|_| UvError::new("EINVAL", None))?;
    let cserv = service
        .map(CString::new)
        .transpose()
        .map_err(|_| UvError::new("EINVAL", None))?;
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_protocol = protocol;
    hints.ai_flags = flags;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    let rc = unsafe {
        libc::getaddrinfo(
            chost.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            cserv.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            &hints,
            &mut res,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        let ai = unsafe { &*p };
        let addr = unsafe {
            match ai.ai_family {
                libc::AF_INET => {
                    let sa = &*(ai.ai_addr as *const libc::sockaddr_in);
                    Some(SocketAddr::new(
                        IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes()),
                        u16::from_be(sa.sin_port),
                    ))
                }
                libc::AF_INET6 => {
                    let sa = &*(ai.ai_addr as *const libc::sockaddr_in6);
                    Some(SocketAddr::new(
                        IpAddr::from(sa.sin6_addr.s6_addr),
                        u16::from_be(sa.sin6_port),
                    ))
                }
                _ => None,
            }
        };
        if let Some(addr) = addr {
            let canonname = if ai.ai_canonname.is_null() {
                None
            } else {
                Some(
                    unsafe { CStr::from_ptr(ai.ai_canonname) }
                        .to_string_lossy()
                        .into_owned(),
                )
            };
            out.push(AddrInfo {
                addr,
                socktype: ai.ai_socktype,
                protocol: ai.ai_protocol,
                canonname,
            });
        }
        p = ai.ai_next;
    }
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

fn to_lua(lua: &Lua, list: Vec<AddrInfo>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (i, a) in list.into_iter().enumerate() {
        let e = lua.create_table()?;
        e.set("addr", a.addr.ip().to_string())?;
        e.set("family", if a.addr.is_ipv4() { "inet" } else { "inet6" })?;
        if a.addr.port() != 0 {
            e.set("port", a.addr.port())?;
        }
        e.set(
            "socktype",
            match a.socktype {
                libc::SOCK_STREAM => "stream",
                libc::SOCK_DGRAM => "dgram",
                _ => "raw",
            },
        )?;
        e.set(
            "protocol",
            match a.protocol {
                libc::IPPROTO_TCP => "tcp",
                libc::IPPROTO_UDP => "udp",
                _ => "",
            },
        )?;
        if let Some(c) = a.canonname {
            e.set("canonname", c)?;
        }
        t.set(i + 1, e)?;
    }
    Ok(t)
}

fn hint_family(v: Value) -> i32 {
    match v {
        Value::String(s) => match s
            .to_str()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .as_str()
        {
            "inet" => libc::AF_INET,
            "inet6" => libc::AF_INET6,
            "unix" => libc::AF_UNIX,
            _ => libc::AF_UNSPEC,
        },
        Value::Integer(i) => i as i32,
        _ => libc::AF_UNSPEC,
    }
}

fn hint_socktype(v: Value) -> i32 {
    match v {
        Value::String(s) => match s
            .to_str()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .as_str()
        {
            "stream" => libc::SOCK_STREAM,
            "dgram" => libc::SOCK_DGRAM,
            "raw" => libc::SOCK_RAW,
            _ => 0,
        },
        Value::Integer(i) => i as i32,
        _ => 0,
    }
}

fn getaddrinfo(
    lua: &Lua,
    (host, service, hints, cb): (Option<String>, Value, Option<Table>, Option<Function>),
) -> mlua::Result<MultiValue> {
    let service = match service {
        Value::String(s) => Some(s.to_str()?.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some((n as i64).to_string()),
        _ => None,
    };
    let (mut family, mut socktype, mut protocol, mut flags) = (libc::AF_UNSPEC, 0, 0, 0);
    if let Some(h) = hints {
        family = hint_family(h.get("family")?);
        socktype = hint_socktype(h.get("socktype")?);
        protocol = match h.get::<Value>("protocol")? {
            Value::String(s) if &*s.to_str()? == "tcp" => libc::IPPROTO_TCP,
            Value::String(s) if &*s.to_str()? == "udp" => libc::IPPROTO_UDP,
            Value::Integer(i) => i as i32,
            _ => 0,
        };
        for (name, bit) in [
            ("addrconfig", libc::AI_ADDRCONFIG),
            ("v4mapped", libc::AI_V4MAPPED),
            ("all", libc::AI_ALL),
            ("numerichost", libc::AI_NUMERICHOST),
            ("passive", libc::AI_PASSIVE),
            ("numericserv", libc::AI_NUMERICSERV),
            ("canonname", libc::AI_CANONNAME),
        ] {
            if h.get::<Option<bool>>(name)?.unwrap_or(false) {
                flags |= bit;
            }
        }
    }
    match cb {
        None => match resolve(host, service, family, socktype, protocol, flags) {
            Ok(list) => to_lua(lua, list)?.into_lua_multi(lua),
            Err(e) => e.into_triple(lua),
        },
        Some(f) => {
            let el = EventLoop::of(lua);
            let req = el.new_req(Some(Callback::new(lua, &el, f, "getaddrinfo")));
            let tx = el.sender();
            tokio::task::spawn_blocking(move || {
                let r = resolve(host, service, family, socktype, protocol, flags);
                let _ = tx.send(Event {
                    at: crate::r#loop::stamp(),
                    target: Target::Req(req),
                    args: Box::new(move |lua| match r {
                        Ok(list) => (Value::Nil, to_lua(lua, list)?).into_lua_multi(lua),
                        Err(e) => e.name.into_lua_multi(lua),
                    }),
                });
            });
            true.into_lua_multi(lua)
        }
    }
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "getaddrinfo", None, getaddrinfo)?;
    Ok(())
}
