//! HTTP/1.1 message framing over `httparse`: a push parser that turns bytes from a socket into
//! heads, body chunks and message ends, for requests (server side) and responses (client side).
//!
//! httparse reads the start line and headers; this file decides what follows them (RFC 9112 §6):
//! chunked, Content-Length, read-until-close, no body, or an upgraded connection whose bytes
//! belong to the user. It knows nothing of Lua; `http/mod.rs` turns its events into Lua values.

use std::collections::VecDeque;
use std::ops::Range;

/// Which side of the conversation the bytes come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Request,
    Response,
}

/// What `Parser::next` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete head; read it with `Parser::head`.
    Head,
    /// Body bytes (a range into `Parser::buf`).
    Body(Range<usize>),
    /// The current message ended.
    End,
    /// Nothing complete is buffered.
    NeedMore,
}

/// A message the peer must not be served from: the status to answer with and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub status: u16,
    pub message: String,
}

fn bad(message: impl Into<String>) -> ParseError {
    ParseError {
        status: 400,
        message: message.into(),
    }
}

/// The last head parsed, as ranges into the parser's buffer (valid until the next `push`).
#[derive(Default, Debug)]
pub struct Head {
    pub method: Range<usize>,
    pub path: Range<usize>,
    pub code: u16,
    pub reason: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    pub keep_alive: bool,
    /// The connection leaves HTTP after this head (Upgrade, CONNECT, 101).
    pub upgrade: bool,
    /// The message has no body at all (the next event is `End`).
    pub bodyless: bool,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Upgraded,
}

/// Headers beyond this count are refused like an oversized head (431).
const MAX_HEADERS: usize = 128;
/// A chunk-size line longer than this is refused.
const MAX_CHUNK_LINE: usize = 1024;

pub struct Parser {
    kind: Kind,
    buf: Vec<u8>,
    pos: usize,
    state: State,
    head: Head,
    max_head: usize,
    trailer_bytes: usize,
    /// Client side: the methods of requests sent and not yet answered (HEAD and CONNECT change
    /// how the response is framed).
    methods: VecDeque<Vec<u8>>,
    /// luvit's codec framing (see `set_luvit_codec`).
    luvit_codec: bool,
}

/// Where `part` (a slice httparse returned) lies in `base`. httparse hands back a static `""`
/// for a reason phrase that is not UTF-8: that (anything outside `base`) is an empty range.
fn offset(base: &[u8], part: &[u8]) -> Range<usize> {
    let (b, p) = (base.as_ptr() as usize, part.as_ptr() as usize);
    if p < b || p + part.len() > b + base.len() {
        return 0..0;
    }
    let start = p - b;
    start..start + part.len()
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

impl Parser {
    pub fn new(kind: Kind) -> Parser {
        Parser {
            kind,
            buf: Vec::new(),
            pos: 0,
            state: State::Head,
            head: Head::default(),
            max_head: 16 * 1024,
            trailer_bytes: 0,
            methods: VecDeque::new(),
            luvit_codec: false,
        }
    }

    /// Frames messages as luvit's `http-codec` decoder does: a request with neither
    /// Content-Length nor chunked encoding that closes the connection (and is not a GET or
    /// HEAD) has a body read until close (RFC 9112 says it has none), and chunked bodies come
    /// one whole chunk per event.
    pub fn set_luvit_codec(&mut self, on: bool) {
        self.luvit_codec = on;
    }

    /// The largest head accepted (node's default, 16 KiB, unless changed).
    pub fn set_max_head(&mut self, n: usize) {
        self.max_head = n.max(64);
    }

    /// Client side: a request with this method was sent; its response is parsed accordingly.
    pub fn expect_response_to(&mut self, method: &[u8]) {
        self.methods.push_back(method.to_ascii_uppercase());
    }

    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_upgraded(&self) -> bool {
        self.state == State::Upgraded
    }

    /// Ends a message whose head said it has no body (the server takes its end with its
    /// head: one call less per request); false when the message has a body or an upgrade.
    /// Whether the head just parsed has no body (`end_if_bodyless` would end it).
    pub fn is_bodyless(&self) -> bool {
        self.state == State::Length(0)
    }

    pub fn end_if_bodyless(&mut self) -> bool {
        if self.state == State::Length(0) {
            self.state = State::Head;
            return true;
        }
        false
    }

    /// Between messages: nothing of a message has been parsed yet.
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buffered() == 0
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Takes every unconsumed byte (an upgraded connection's first bytes).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.pos..].to_vec();
        self.buf.clear();
        self.pos = 0;
        rest
    }

    /// The peer closed its side: ends a read-until-close body; an unfinished message is an error.
    pub fn finish(&mut self) -> Result<Event, ParseError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Head;
                Ok(Event::End)
            }
            State::Head if self.buffered() == 0 => Ok(Event::NeedMore),
            State::Upgraded => Ok(Event::NeedMore),
            _ => Err(bad("connection closed before the message was complete")),
        }
    }

    pub fn next_event(&mut self) -> Result<Event, ParseError> {
        loop {
            let avail = self.buf.len() - self.pos;
            match self.state {
                State::Head => return self.parse_head(),
                State::Length(0) => {
                    self.state = State::Head;
                    return Ok(Event::End);
                }
                State::Length(n) => {
                    if avail == 0 {
                        return Ok(Event::NeedMore);
                    }
                    let take = (avail as u64).min(n) as usize;
                    self.state = State::Length(n - take as u64);
                    let r = self.pos..self.pos + take;
                    self.pos += take;
                    return Ok(Event::Body(r));
                }
                State::UntilClose => {
                    if avail == 0 {
                        return Ok(Event::NeedMore);
                    }
                    let r = self.pos..self.buf.len();
                    self.pos = self.buf.len();
                    return Ok(Event::Body(r));
                }
                State::Upgraded => return Ok(Event::NeedMore),
                State::Chunked(c) => match self.chunked(c, avail)? {
                    Some(ev) => return Ok(ev),
                    None => continue,
                },
            }
        }
    }

    /// One step of chunked decoding; `None` means the state moved and decoding goes on.
    fn chunked(&mut self, c: Chunk, avail: usize) -> Result<Option<Event>, ParseError> {
        let rest = &self.buf[self.pos..];
        match c {
            Chunk::Size => {
                let Some(nl) = rest.iter().take(MAX_CHUNK_LINE).position(|&b| b == b'\n') else {
                    if avail >= MAX_CHUNK_LINE {
                        return Err(bad("chunk size line too long"));
                    }
                    return Ok(Some(Event::NeedMore));
                };
                let line = &rest[..nl];
                let line = line
                    .strip_suffix(b"\r")
                    .ok_or_else(|| bad("bad chunk size line"))?;
                let digits_end = line
                    .iter()
                    .position(|b| !b.is_ascii_hexdigit())
                    .unwrap_or(line.len());
                let (digits, ext) = line.split_at(digits_end);
                if digits.is_empty() || digits.len() > 15 {
                    return Err(bad("bad chunk size"));
                }
                if !(ext.is_empty() || ext[0] == b';' || ext[0] == b' ' || ext[0] == b'\t') {
                    return Err(bad("bad chunk size"));
                }
                let mut size: u64 = 0;
                for &d in digits {
                    size = size * 16 + (d as char).to_digit(16).unwrap_or(0) as u64;
                }
                self.pos += nl + 1;
                self.state = State::Chunked(if size == 0 {
                    self.trailer_bytes = 0;
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                Ok(None)
            }
            Chunk::Data(n) => {
                if avail == 0 || (self.luvit_codec && (avail as u64) < n) {
                    return Ok(Some(Event::NeedMore));
                }
                let take = (avail as u64).min(n) as usize;
                let left = n - take as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                let r = self.pos..self.pos + take;
                self.pos += take;
                Ok(Some(Event::Body(r)))
            }
            Chunk::DataEnd => {
                if avail < 2 {
                    return Ok(Some(Event::NeedMore));
                }
                if &rest[..2] != b"\r\n" {
                    return Err(bad("chunk data not followed by CRLF"));
                }
                self.pos += 2;
                self.state = State::Chunked(Chunk::Size);
                Ok(None)
            }
            Chunk::Trailers => {
                let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                    if self.trailer_bytes + avail > self.max_head {
                        return Err(ParseError {
                            status: 431,
                            message: "trailers too large".into(),
                        });
                    }
                    return Ok(Some(Event::NeedMore));
                };
                self.trailer_bytes += nl + 1;
                if self.trailer_bytes > self.max_head {
                    return Err(ParseError {
                        status: 431,
                        message: "trailers too large".into(),
                    });
                }
                let empty = nl == 0 || (nl == 1 && rest[0] == b'\r');
                self.pos += nl + 1;
                if empty {
                    self.state = State::Head;
                    return Ok(Some(Event::End));
                }
                Ok(None)
            }
        }
    }

    fn parse_head(&mut self) -> Result<Event, ParseError> {
        // Empty lines before a request line are allowed (RFC 9112 §2.2).
        while self.pos < self.buf.len() && matches!(self.buf[self.pos], b'\r' | b'\n') {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            return Ok(Event::NeedMore);
        }
        let base = &self.buf[..];
        // Only the first max_head bytes are read: a head not complete within them is 431
        // however the bytes arrived (whole, a bad byte past the limit would read as a 400).
        let all = &self.buf[self.pos..];
        let input = &all[..all.len().min(self.max_head)];
        // left uninitialized: httparse writes what it parses (initializing 128 headers cost
        // more than parsing a small request's two)
        let mut headers =
            [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let config = httparse::ParserConfig::default();
        let too_large = || ParseError {
            status: 431,
            message: format!(
                "request header fields too large (limit {} bytes)",
                self.max_head
            ),
        };
        let mut head = std::mem::take(&mut self.head);
        head.headers.clear();
        let parsed = match self.kind {
            Kind::Request => {
                let mut req = httparse::Request::new(&mut []);
                let status =
                    config.parse_request_with_uninit_headers(&mut req, input, &mut headers);
                match status {
                    Ok(httparse::Status::Complete(n)) => {
                        head.method = offset(base, req.method.unwrap_or("").as_bytes());
                        head.path = offset(base, req.path.unwrap_or("").as_bytes());
                        head.minor = req.version.unwrap_or(1);
                        head.code = 0;
                        head.reason = 0..0;
                        for h in req.headers.iter() {
                            head.headers
                                .push((offset(base, h.name.as_bytes()), offset(base, h.value)));
                        }
                        Ok(Some(n))
                    }
                    Ok(httparse::Status::Partial) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Kind::Response => {
                let mut res = httparse::Response::new(&mut []);
                match config.parse_response_with_uninit_headers(&mut res, input, &mut headers) {
                    Ok(httparse::Status::Complete(n)) => {
                        head.method = 0..0;
                        head.path = 0..0;
                        head.code = res.code.unwrap_or(0);
                        head.reason = offset(base, res.reason.unwrap_or("").as_bytes());
                        head.minor = res.version.unwrap_or(1);
                        for h in res.headers.iter() {
                            head.headers
                                .push((offset(base, h.name.as_bytes()), offset(base, h.value)));
                        }
                        Ok(Some(n))
                    }
                    Ok(httparse::Status::Partial) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        };
        let n = match parsed {
            Ok(Some(n)) if n > self.max_head => {
                self.head = head;
                return Err(too_large());
            }
            Ok(Some(n)) => n,
            Ok(None) => {
                self.head = head;
                if all.len() > self.max_head {
                    return Err(too_large());
                }
                return Ok(Event::NeedMore);
            }
            Err(httparse::Error::TooManyHeaders) => {
                self.head = head;
                return Err(too_large());
            }
            Err(e) => {
                self.head = head;
                let what = match self.kind {
                    Kind::Request => "request",
                    Kind::Response => "response",
                };
                return Err(bad(format!("expected HTTP data (invalid {what}: {e})")));
            }
        };
        let framed = self.frame(&mut head);
        self.head = head;
        framed?;
        self.pos += n;
        Ok(Event::Head)
    }

    /// Reads the headers that decide keep-alive and body framing, and sets the next state.
    fn frame(&mut self, head: &mut Head) -> Result<(), ParseError> {
        let buf = &self.buf;
        let mut conn_close = false;
        let mut conn_keep = false;
        let mut conn_upgrade = false;
        let mut has_upgrade = false;
        let mut length: Option<u64> = None;
        let mut te: Option<&[u8]> = None;
        head.expect_continue = false;
        for (name, value) in &head.headers {
            let name = &buf[name.clone()];
            let value = &buf[value.clone()];
            if name.eq_ignore_ascii_case(b"content-length") {
                let text = value.trim_ascii();
                if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
                    return Err(bad("invalid Content-Length"));
                }
                let n: u64 = std::str::from_utf8(text)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("invalid Content-Length"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(bad("conflicting Content-Length headers"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                te = Some(value);
            } else if name.eq_ignore_ascii_case(b"connection") {
                conn_close |= has_token(value, "close");
                conn_keep |= has_token(value, "keep-alive");
                conn_upgrade |= has_token(value, "upgrade");
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                has_upgrade = true;
            } else if name.eq_ignore_ascii_case(b"expect") {
                head.expect_continue = has_token(value, "100-continue");
            }
        }
        head.keep_alive = if head.minor >= 1 {
            !conn_close
        } else {
            conn_keep && !conn_close
        };
        let chunked = match te {
            None => false,
            Some(v) => {
                let last = v.rsplit(|&b| b == b',').next().unwrap_or(b"").trim_ascii();
                last.eq_ignore_ascii_case(b"chunked")
            }
        };
        head.chunked = chunked;
        head.content_length = length;
        head.upgrade = false;
        head.bodyless = false;
        match self.kind {
            Kind::Request => {
                if te.is_some() && length.is_some() {
                    return Err(bad("both Transfer-Encoding and Content-Length"));
                }
                if te.is_some() && !chunked {
                    return Err(bad("unsupported Transfer-Encoding"));
                }
                let method = &buf[head.method.clone()];
                if method == b"CONNECT" || (has_upgrade && conn_upgrade) {
                    head.upgrade = true;
                }
                self.state = if chunked {
                    State::Chunked(Chunk::Size)
                } else {
                    State::Length(length.unwrap_or(0))
                };
                head.bodyless = !chunked && length.unwrap_or(0) == 0;
                if self.luvit_codec
                    && !head.upgrade
                    && !head.keep_alive
                    && !chunked
                    && length.is_none()
                    && method != b"GET"
                    && method != b"HEAD"
                {
                    head.bodyless = false;
                    self.state = State::UntilClose;
                }
                if head.upgrade && head.bodyless {
                    // The bytes after the head belong to the new protocol.
                    self.state = State::Upgraded;
                }
            }
            Kind::Response => {
                let code = head.code;
                let informational = (100..200).contains(&code) && code != 101;
                let method = if informational {
                    None
                } else {
                    self.methods.pop_front()
                };
                let is = |m: &[u8]| method.as_deref() == Some(m);
                if code == 101 || (is(b"CONNECT") && (200..300).contains(&code)) {
                    head.upgrade = true;
                    head.bodyless = true;
                    self.state = State::Upgraded;
                } else if informational || code == 204 || code == 304 || is(b"HEAD") {
                    head.bodyless = true;
                    self.state = State::Length(0);
                } else if chunked {
                    self.state = State::Chunked(Chunk::Size);
                } else if let Some(n) = length {
                    head.bodyless = n == 0;
                    self.state = State::Length(n);
                } else {
                    head.keep_alive = false;
                    self.state = State::UntilClose;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(p: &mut Parser) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match p.next_event() {
                Ok(Event::NeedMore) => return out,
                Ok(Event::Head) => out.push("head".to_string()),
                Ok(Event::Body(r)) => {
                    out.push(format!("body:{}", String::from_utf8_lossy(&p.buf()[r])))
                }
                Ok(Event::End) => out.push("end".to_string()),
                Err(e) => {
                    out.push(format!("error:{}", e.status));
                    return out;
                }
            }
        }
    }

    #[test]
    fn luvit_codec_framing() {
        let mut p = Parser::new(Kind::Request);
        p.set_luvit_codec(true);
        p.push(b"POST / HTTP/1.0\r\nUser-Agent: t\r\n\r\nabc");
        assert_eq!(events(&mut p), ["head", "body:abc"]);
        assert_eq!(p.finish(), Ok(Event::End));
        // GET, keep-alive and framed requests are unchanged.
        let mut p = Parser::new(Kind::Request);
        p.set_luvit_codec(true);
        p.push(b"GET / HTTP/1.0\r\n\r\nDELETE / HTTP/1.1\r\n\r\n");
        assert_eq!(events(&mut p), ["head", "end", "head", "end"]);
        // Chunks come whole.
        let mut p = Parser::new(Kind::Request);
        p.set_luvit_codec(true);
        p.push(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
        assert_eq!(events(&mut p), ["head"]);
        p.push(b"cde\r\n0\r\n\r\n");
        assert_eq!(events(&mut p), ["body:abcde", "end"]);
    }

    #[test]
    fn pipelined_requests_with_bodies() {
        let mut p = Parser::new(Kind::Request);
        p.push(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert_eq!(events(&mut p), ["head", "end", "head", "body:abc", "end"]);
        assert!(p.head().keep_alive);
    }

    #[test]
    fn chunked_bytes_one_at_a_time() {
        let msg = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let mut p = Parser::new(Kind::Request);
        let mut all = Vec::new();
        for b in msg.iter() {
            p.push(&[*b]);
            all.extend(events(&mut p));
        }
        let body: String = all.iter().filter_map(|e| e.strip_prefix("body:")).collect();
        assert_eq!(body, "abcde");
        assert_eq!(all.first().map(String::as_str), Some("head"));
        assert_eq!(all.last().map(String::as_str), Some("end"));
    }

    #[test]
    fn refuses_smuggling_and_oversized_heads() {
        let mut p = Parser::new(Kind::Request);
        p.push(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(events(&mut p), ["error:400"]);
        let mut p = Parser::new(Kind::Request);
        p.push(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(events(&mut p), ["error:400"]);
        let mut p = Parser::new(Kind::Request);
        p.push(b"GET / HTTP/1.1\r\nX: ");
        p.push(&vec![b'a'; 20_000]);
        assert_eq!(events(&mut p), ["error:431"]);
        let mut p = Parser::new(Kind::Request);
        p.push(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
        assert_eq!(events(&mut p), ["error:400"]);
    }

    #[test]
    fn responses_follow_the_request_method() {
        let mut p = Parser::new(Kind::Response);
        p.expect_response_to(b"HEAD");
        p.expect_response_to(b"GET");
        p.push(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(
            events(&mut p),
            ["head", "end", "head", "end", "head", "body:hi", "end"]
        );
        let mut p = Parser::new(Kind::Response);
        p.push(b"HTTP/1.0 200 OK\r\n\r\nall of it");
        assert_eq!(events(&mut p), ["head", "body:all of it"]);
        assert_eq!(p.finish(), Ok(Event::End));
    }

    /// Fuzz crash http_response_non_utf8_reason (tests/fuzz/regressions/http/): httparse's
    /// static "" for a non-UTF-8 reason made `offset` underflow (a panic through Lua's frames,
    /// so an abort: any server could kill a luvit client with one status line).
    #[test]
    fn http_response_non_utf8_reason() {
        let mut p = Parser::new(Kind::Response);
        p.push(b"HTTP/1.1 200 \xcb\xc7OK\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(events(&mut p), ["head", "body:hi", "end"]);
        assert_eq!(p.head().code, 200);
        assert!(p.head().reason.is_empty());
    }

    /// Fuzz finding http_oversized_head_is_431_however_it_arrives
    /// (tests/fuzz/regressions/http/): a head over the limit with a bad byte past it got 400
    /// when it arrived whole and 431 when it came in pieces.
    #[test]
    fn http_oversized_head_is_431_however_it_arrives() {
        let mut msg = b"GET / HTTP/1.1\r\nX: ".to_vec();
        msg.extend(std::iter::repeat_n(b'C', 20_000));
        msg.extend_from_slice(b"\x01\r\n\r\n");
        let mut whole = Parser::new(Kind::Request);
        whole.push(&msg);
        assert_eq!(events(&mut whole), ["error:431"]);
        let mut pieces = Parser::new(Kind::Request);
        let mut got = Vec::new();
        for c in msg.chunks(1000) {
            pieces.push(c);
            got.extend(events(&mut pieces));
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(got, ["error:431"]);
    }

    #[test]
    fn upgrade_leaves_the_rest_to_the_user() {
        let mut p = Parser::new(Kind::Request);
        p.push(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00");
        assert_eq!(events(&mut p), ["head"]);
        assert!(p.head().upgrade);
        assert_eq!(p.take_rest(), b"\x81\x00");
    }

    #[test]
    fn http10_closes_unless_asked() {
        let mut p = Parser::new(Kind::Request);
        p.push(b"GET / HTTP/1.0\r\n\r\n");
        events(&mut p);
        assert!(!p.head().keep_alive);
        p.push(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        events(&mut p);
        assert!(p.head().keep_alive);
    }

    /// The events of `input` pushed in pieces of `cut` bytes, bodies joined.
    fn events_in_pieces(input: &[u8], cut: usize) -> Vec<String> {
        let mut p = Parser::new(Kind::Request);
        let mut out: Vec<String> = Vec::new();
        for piece in input.chunks(cut.max(1)) {
            p.push(piece);
            loop {
                let e = match p.next_event() {
                    Ok(Event::NeedMore) => break,
                    Ok(Event::Head) => "head".to_string(),
                    Ok(Event::End) => "end".to_string(),
                    Ok(Event::Body(r)) => {
                        // hex, so a UTF-8 sequence cut between pieces compares equal
                        let hex: String = p.buf()[r].iter().map(|b| format!("{b:02x}")).collect();
                        format!("body:{hex}")
                    }
                    Err(e) => {
                        out.push(format!("error:{}", e.status));
                        return out;
                    }
                };
                match (e.strip_prefix("body:"), out.last_mut()) {
                    (Some(b), Some(last)) if last.starts_with("body:") => last.push_str(b),
                    _ => out.push(e),
                }
            }
        }
        out
    }

    proptest::proptest! {
        /// Pipelined requests (Content-Length, chunked, bodyless, junk) parse the same pushed
        /// whole or in pieces of any size.
        #[test]
        fn requests_parse_the_same_whole_or_in_pieces(
            msgs in proptest::collection::vec(
                (0usize..4, "[a-z/]{1,8}", "[ -~]{0,20}", proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
                1..4,
            ),
            cut in 1usize..20,
        ) {
            let mut input = Vec::new();
            for (kind, path, value, body) in &msgs {
                let head = format!("POST /{path} HTTP/1.1\r\nX-V: {value}\r\n");
                input.extend_from_slice(head.as_bytes());
                match kind {
                    0 => input.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()),
                    1 => {
                        input.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                        for c in body.chunks(7) {
                            input.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                            input.extend_from_slice(c);
                            input.extend_from_slice(b"\r\n");
                        }
                        input.extend_from_slice(b"0\r\n\r\n");
                        continue;
                    }
                    2 => input.extend_from_slice(b"\r\n"),
                    _ => {}
                }
                input.extend_from_slice(body);
            }
            let whole = events_in_pieces(&input, input.len());
            proptest::prop_assert_eq!(&whole, &events_in_pieces(&input, cut));
        }
    }
}
