//! `dns-native`: one DNS question asked of a list of servers, for `lib/dns.lua`.
//!
//! hickory-proto does the wire format only (building the query, parsing the answer); the
//! exchange is ours: UDP on the loop's thread with a timeout per server, the same server again
//! over TCP when the answer comes back truncated, then the next server. hickory-resolver was
//! not used: it keeps its own server ordering, caching and background tasks, where luvit's API
//! wants servers tried in the given order and each answer tagged with the server that gave it.
//! The result reaches Lua as a request completion, so the callback runs through the dispatch
//! point like every other one. Nothing a server sends can panic: a bad answer is an error.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use crate::r#loop::{Callback, EventLoop};

/// One server to ask, as the Lua side lists it.
struct Server {
    host: String,
    port: u16,
    tcp: bool,
}

/// Why one server gave no usable answer (or the answer that ends the query with an error).
#[derive(Debug)]
struct Failure {
    /// A numeric DNS response code, or a system-style name (`ETIMEDOUT`, `ECONNREFUSED` ...).
    code: FailCode,
    message: String,
}

#[derive(Debug)]
enum FailCode {
    Rcode(u16),
    Name(String),
}

fn fail(name: &str, message: String) -> Failure {
    Failure {
        code: FailCode::Name(name.to_string()),
        message,
    }
}

fn io_fail(e: &std::io::Error, what: &str) -> Failure {
    let name = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "ECONNREFUSED",
        std::io::ErrorKind::ConnectionReset => "ECONNRESET",
        std::io::ErrorKind::TimedOut => "ETIMEDOUT",
        std::io::ErrorKind::UnexpectedEof => "EOF",
        std::io::ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
        std::io::ErrorKind::PermissionDenied => "EACCES",
        _ => "EIO",
    };
    fail(name, format!("{name}: {what}: {e}"))
}

/// The question, as asked and as the answer must repeat it.
struct Question {
    name: Name,
    /// Lower-case, without the trailing dot, for comparing with the answer's question.
    key: String,
    qtype: RecordType,
    qclass: DNSClass,
}

fn name_key(n: &Name) -> String {
    let s = n.to_ascii().to_ascii_lowercase();
    s.strip_suffix('.').map(str::to_string).unwrap_or(s)
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // getrandom failing leaves a fixed id; the answer's question is still checked.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

fn build_query(q: &Question, id: u16) -> Result<Vec<u8>, Failure> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut query = Query::query(q.name.clone(), q.qtype);
    query.set_query_class(q.qclass);
    m.add_query(query);
    m.to_vec().map_err(|e| {
        fail(
            "EFORMERR",
            format!("EFORMERR: cannot encode the query: {e}"),
        )
    })
}

/// What a well-formed answer from one server says.
enum Reply {
    Answer(Message),
    Truncated,
}

/// Checks a datagram (or TCP message) against the question. `Ok(None)` means it is not the
/// answer to this query (wrong id, not a response, other question): keep waiting.
fn check_reply(buf: &[u8], id: u16, q: &Question) -> Result<Option<Reply>, Failure> {
    if buf.len() < 12 {
        return Ok(None);
    }
    if u16::from_be_bytes([buf[0], buf[1]]) != id || buf[2] & 0x80 == 0 {
        return Ok(None);
    }
    if buf[2] & 0x02 != 0 {
        return Ok(Some(Reply::Truncated));
    }
    let m = Message::from_vec(buf)
        .map_err(|e| fail("EBADRESP", format!("EBADRESP: malformed DNS answer: {e}")))?;
    if m.queries.len() != 1 {
        return Err(fail(
            "EBADRESP",
            format!(
                "EBADRESP: bad number of questions in DNS response: {}",
                m.queries.len()
            ),
        ));
    }
    let aq = &m.queries[0];
    if name_key(aq.name()) != q.key || aq.query_type() != q.qtype || aq.query_class() != q.qclass {
        return Ok(None);
    }
    Ok(Some(Reply::Answer(m)))
}

async fn server_addr(s: &Server) -> Result<SocketAddr, Failure> {
    if let Ok(ip) = s.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, s.port));
    }
    let mut it = tokio::net::lookup_host((s.host.as_str(), s.port))
        .await
        .map_err(|e| io_fail(&e, &format!("resolving DNS server {}", s.host)))?;
    it.next().ok_or_else(|| {
        fail(
            "ENOTFOUND",
            format!("ENOTFOUND: DNS server {} has no address", s.host),
        )
    })
}

fn timed_out(s: &Server, ms: u64) -> Failure {
    fail(
        "ETIMEDOUT",
        format!(
            "ETIMEDOUT: no answer from DNS server {}:{} within {ms} ms",
            s.host, s.port
        ),
    )
}

async fn ask_udp(
    addr: SocketAddr,
    q: &Question,
    deadline: Instant,
) -> Result<Option<Reply>, Failure> {
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
            .parse()
            .map_err(|_| fail("EINVAL", "EINVAL".into()))?
    } else {
        "[::]:0"
            .parse()
            .map_err(|_| fail("EINVAL", "EINVAL".into()))?
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(|e| io_fail(&e, "udp bind"))?;
    sock.connect(addr)
        .await
        .map_err(|e| io_fail(&e, "udp connect"))?;
    let id = random_id();
    let req = build_query(q, id)?;
    sock.send(&req).await.map_err(|e| io_fail(&e, "udp send"))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = match timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Ok(None),
            Ok(Err(e)) => return Err(io_fail(&e, "udp receive")),
            Ok(Ok(n)) => n,
        };
        if let Some(r) = check_reply(&buf[..n], id, q)? {
            return Ok(Some(r));
        }
    }
}

async fn write_all(s: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        s.writable().await?;
        match s.try_write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_exact(s: &TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        s.readable().await?;
        match s.try_read(&mut buf[got..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn tcp_exchange(addr: SocketAddr, q: &Question) -> Result<Message, Failure> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| io_fail(&e, "tcp connect"))?;
    let id = random_id();
    let req = build_query(q, id)?;
    let len = u16::try_from(req.len())
        .map_err(|_| fail("EFORMERR", "EFORMERR: query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&req);
    write_all(&s, &framed)
        .await
        .map_err(|e| io_fail(&e, "tcp write"))?;
    // A server may answer with messages that are not ours first; read until ours comes.
    loop {
        let mut lb = [0u8; 2];
        read_exact(&s, &mut lb)
            .await
            .map_err(|e| io_fail(&e, "tcp read"))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(lb))];
        read_exact(&s, &mut body)
            .await
            .map_err(|e| io_fail(&e, "tcp read"))?;
        match check_reply(&body, id, q)? {
            Some(Reply::Answer(m)) => return Ok(m),
            Some(Reply::Truncated) => {
                return Err(fail(
                    "EBADRESP",
                    "EBADRESP: truncated DNS answer over TCP".into(),
                ))
            }
            None => continue,
        }
    }
}

async fn ask_tcp(addr: SocketAddr, q: &Question, deadline: Instant) -> Result<Message, Failure> {
    match timeout_at(deadline, tcp_exchange(addr, q)).await {
        Ok(r) => r,
        Err(_) => Err(fail("ETIMEDOUT", String::new())),
    }
}

/// Asks one server: UDP (then TCP if truncated), or TCP only when the server says so.
async fn ask(s: &Server, q: &Question, ms: u64) -> Result<Message, Failure> {
    let addr = server_addr(s).await?;
    let fix_timeout = |f: Failure| match &f.code {
        FailCode::Name(n) if n == "ETIMEDOUT" => timed_out(s, ms),
        _ => f,
    };
    if s.tcp {
        let deadline = Instant::now() + Duration::from_millis(ms);
        return ask_tcp(addr, q, deadline).await.map_err(fix_timeout);
    }
    let deadline = Instant::now() + Duration::from_millis(ms);
    match ask_udp(addr, q, deadline).await? {
        None => Err(timed_out(s, ms)),
        Some(Reply::Answer(m)) => Ok(m),
        Some(Reply::Truncated) => {
            let deadline = Instant::now() + Duration::from_millis(ms);
            ask_tcp(addr, q, deadline).await.map_err(fix_timeout)
        }
    }
}

fn rcode_text(code: u16) -> &'static str {
    match code {
        1 => "format error",
        2 => "server failure",
        3 => "name error",
        4 => "not implemented",
        5 => "refused",
        _ => "unknown",
    }
}

/// Asks the servers in order; returns the answer records and the 1-based index of the server
/// that gave them, or the failure that ends the query.
async fn resolve(
    servers: Vec<Server>,
    q: Question,
    ms: u64,
) -> Result<(Vec<Record>, usize), Failure> {
    let mut last = fail("ENOSERVERS", "ENOSERVERS: no DNS servers to ask".into());
    for (i, s) in servers.iter().enumerate() {
        match ask(s, &q, ms).await {
            Ok(m) => {
                let rc = u16::from(m.metadata.response_code);
                if rc == 0 {
                    return Ok((m.answers, i + 1));
                }
                let f = Failure {
                    code: FailCode::Rcode(rc),
                    message: format!("{rc}: {} ({})", rcode_text(rc), q.key),
                };
                // A server in trouble (or refusing us) does not speak for the others.
                if m.metadata.response_code == ResponseCode::ServFail
                    || m.metadata.response_code == ResponseCode::Refused
                {
                    last = f;
                    continue;
                }
                return Err(f);
            }
            Err(f) => last = f,
        }
    }
    Err(last)
}

fn name_str(n: &Name) -> String {
    let s = n.to_ascii();
    s.strip_suffix('.').map(str::to_string).unwrap_or(s)
}

fn record_to_lua(lua: &Lua, r: &Record) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("name", name_str(&r.name))?;
    t.set("type", u16::from(r.record_type()))?;
    t.set("class", u16::from(r.dns_class))?;
    t.set("ttl", r.ttl)?;
    match &r.data {
        RData::A(a) => t.set("address", a.0.to_string())?,
        RData::AAAA(a) => {
            // luvit writes every group, uncompressed.
            let groups: Vec<String> = a.0.segments().iter().map(|g| format!("{g:x}")).collect();
            t.set("address", groups.join(":"))?
        }
        RData::CNAME(c) => t.set("cname", name_str(&c.0))?,
        RData::NS(n) => t.set("nsdname", name_str(&n.0))?,
        RData::PTR(p) => t.set("ptrdname", name_str(&p.0))?,
        RData::MX(mx) => {
            t.set("preference", mx.preference)?;
            t.set("priority", mx.preference)?;
            t.set("exchange", name_str(&mx.exchange))?;
        }
        RData::SRV(srv) => {
            t.set("priority", srv.priority)?;
            t.set("weight", srv.weight)?;
            t.set("port", srv.port)?;
            t.set("target", name_str(&srv.target))?;
        }
        RData::TXT(txt) => {
            // luvit: one string as is, several as a list.
            if txt.txt_data.len() == 1 {
                t.set("txt", lua.create_string(&txt.txt_data[0])?)?;
            } else {
                let l = lua.create_table()?;
                for (i, s) in txt.txt_data.iter().enumerate() {
                    l.set(i + 1, lua.create_string(s)?)?;
                }
                t.set("txt", l)?;
            }
        }
        other => {
            if let Ok(bytes) = other.to_bytes() {
                t.set("rdata", lua.create_string(&bytes)?)?;
            }
        }
    }
    Ok(t)
}

fn failure_to_lua(lua: &Lua, f: Failure) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    match f.code {
        FailCode::Rcode(c) => t.set("code", c)?,
        FailCode::Name(n) => t.set("code", n)?,
    }
    t.set("message", f.message)?;
    Ok(t)
}

fn read_servers(list: &Table) -> mlua::Result<Vec<Server>> {
    let mut out = Vec::new();
    for v in list.sequence_values::<Table>() {
        let s = v.map_err(|_| {
            mlua::Error::runtime("dns query: each server must be a table {host=, port=}")
        })?;
        let host: Option<String> = s.get("host")?;
        let host = host.ok_or_else(|| mlua::Error::runtime("dns query: server without a host"))?;
        let port: Option<i64> = s.get("port")?;
        let port = u16::try_from(port.unwrap_or(53))
            .map_err(|_| mlua::Error::runtime("dns query: server port out of range"))?;
        let tcp = matches!(s.get::<Value>("tcp")?, Value::Boolean(true));
        out.push(Server { host, port, tcp });
    }
    Ok(out)
}

/// `query(servers, name, class, type, timeout_ms, callback(err, answers, server_index))`.
fn query(
    lua: &Lua,
    (servers, name, qclass, qtype, ms, cb): (Table, String, u16, u16, u64, Function),
) -> mlua::Result<()> {
    let servers = read_servers(&servers)?;
    let el = EventLoop::of(lua);
    let req = el.new_req(Some(Callback::new(lua, &el, cb, "dns query")));
    let parsed = Name::from_ascii(&name);
    let el2 = el.clone();
    el.spawn_local(async move {
        let result = match parsed {
            Err(e) => Err(fail(
                "EBADNAME",
                format!("EBADNAME: bad name {name:?}: {e}"),
            )),
            Ok(n) => {
                let q = Question {
                    key: name_key(&n),
                    name: n,
                    qtype: RecordType::from(qtype),
                    qclass: DNSClass::from(qclass),
                };
                // At least 1 ms, at most a day: an Instant plus a huge Duration would overflow.
                resolve(servers, q, ms.clamp(1, 86_400_000)).await
            }
        };
        el2.complete_req(req, move |lua| -> mlua::Result<MultiValue> {
            match result {
                Ok((records, idx)) => {
                    let t = lua.create_table()?;
                    for (i, r) in records.iter().enumerate() {
                        t.set(i + 1, record_to_lua(lua, r)?)?;
                    }
                    (Value::Nil, t, idx).into_lua_multi(lua)
                }
                Err(f) => failure_to_lua(lua, f)?.into_lua_multi(lua),
            }
        });
    });
    Ok(())
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("query", lua.create_function(query)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Question {
        let name = Name::from_ascii("www.test").expect("a valid name");
        Question {
            key: name_key(&name),
            name,
            qtype: RecordType::A,
            qclass: DNSClass::IN,
        }
    }

    #[test]
    fn garbage_after_a_matching_header_is_an_error_or_ignored_never_a_panic() {
        let q = question();
        let good = {
            let mut m = Message::new(7, MessageType::Response, OpCode::Query);
            m.add_query(Query::query(q.name.clone(), RecordType::A));
            m.add_answer(Record::from_rdata(
                q.name.clone(),
                60,
                RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
            ));
            m.to_vec().expect("encodes")
        };
        assert!(matches!(
            check_reply(&good, 7, &q),
            Ok(Some(Reply::Answer(_)))
        ));
        assert!(matches!(check_reply(&good, 8, &q), Ok(None)));
        // Every prefix, and pseudo-random bytes after the header.
        for n in 0..good.len() {
            let _ = check_reply(&good[..n], 7, &q);
        }
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut buf = good[..12].to_vec();
            for _ in 0..(x % 200) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                buf.push((x >> 16) as u8);
            }
            let _ = check_reply(&buf, 7, &q);
        }
    }
}
