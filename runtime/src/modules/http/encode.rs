//! Writing HTTP/1.1 heads, with no Lua in sight: header-name and value rules, and the server
//! response writer (`Response`) that both doors into it share — `encodeResponse` on the Lua
//! C API (`raw.rs`) and the FFI calls compiled Lua makes (`ffi_calls.rs`).
//!
//! A response is written in three steps: `begin` (the status line), `header` for each of the
//! user's headers (refusing a name that is not a token, turning control bytes in a value into
//! a space), and `finish`, which adds what the framing needs (Date, Content-Length or
//! chunked, Connection) and the body.

use super::reason_for;

/// encodeResponse's flags.
pub const F_HTTP10: i64 = 1;
pub const F_KEEP_ALIVE: i64 = 2;
pub const F_SEND_DATE: i64 = 4;
pub const F_HEAD: i64 = 8;

pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TOKEN[b as usize])
}

/// RFC 9110's tchar: the bytes a header name may hold.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Whether a header value byte goes out as is (not a control byte but tab, not DEL).
fn plain_value_byte(b: u8) -> bool {
    (b >= 0x20 && b != 0x7f) || b == b'\t'
}

/// Appends `value` with every run of control bytes (CR, LF, NUL, any other below 0x20 but
/// tab, and DEL) turned into one space: no header splitting, and nothing a strict parser
/// (ours included) refuses as an invalid header value.
pub fn push_value(out: &mut Vec<u8>, value: &[u8]) {
    if value.iter().all(|&b| plain_value_byte(b)) {
        out.extend_from_slice(value);
        return;
    }
    let mut in_break = false;
    for &b in value {
        if !plain_value_byte(b) {
            if !in_break {
                out.push(b' ');
            }
            in_break = true;
        } else {
            out.push(b);
            in_break = false;
        }
    }
}

/// What the header list said about framing.
#[derive(Default, Clone, Copy)]
pub struct Seen {
    pub length: bool,
    pub encoding: bool,
    pub chunked: bool,
    pub connection: bool,
    pub close: bool,
    pub date: bool,
}

/// Writes one header line, after checking its name; notes what it says about framing.
pub fn write_header(
    out: &mut Vec<u8>,
    seen: &mut Seen,
    name: &[u8],
    value: &[u8],
) -> Result<(), String> {
    if !is_token(name) {
        let shown = String::from_utf8_lossy(name).into_owned();
        return Err(format!("invalid header name {shown:?}"));
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        seen.length = true;
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        seen.encoding = true;
        seen.chunked = value.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
    } else if name.eq_ignore_ascii_case(b"connection") {
        seen.connection = true;
        seen.close |= value.trim_ascii().eq_ignore_ascii_case(b"close");
    } else if name.eq_ignore_ascii_case(b"date") {
        seen.date = true;
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    push_value(out, value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Room to write an integer's decimal digits.
#[derive(Default)]
pub struct Digits {
    buf: [u8; 24],
}

impl Digits {
    /// `v`'s digits as Lua's `tostring` shows it, when `v` is an integer below 2^53 in
    /// magnitude (`%.14g` shows those up to 14 digits exactly; longer ones are left to Lua).
    pub fn of(&mut self, v: f64) -> Option<&[u8]> {
        if v.fract() != 0.0 || v.abs() >= 1e14 || (v == 0.0 && v.is_sign_negative()) {
            return None;
        }
        let mut n = v.abs() as u64;
        let mut i = self.buf.len();
        loop {
            i -= 1;
            self.buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0.0 {
            i -= 1;
            self.buf[i] = b'-';
        }
        Some(&self.buf[i..])
    }
}

/// What `finish` decided: the framing the rest of the response must follow.
#[derive(Clone, Copy)]
pub struct Framing {
    pub chunked: bool,
    pub keep_alive: bool,
    pub no_body: bool,
}

impl Framing {
    /// As bits: 1 chunked, 2 keep-alive, 4 no body.
    pub fn bits(self) -> u32 {
        self.chunked as u32 | (self.keep_alive as u32) << 1 | (self.no_body as u32) << 2
    }
}

/// A server response being written into `out`.
pub struct Response {
    code: u16,
    flags: i64,
    seen: Seen,
}

/// Checks a status code given as a Lua number.
pub fn status_code(code: f64) -> Result<u16, String> {
    if !(100.0..1000.0).contains(&code) || code.fract() != 0.0 {
        return Err("status code must be a number from 100 to 999".into());
    }
    Ok(code as u16)
}

impl Response {
    /// Writes the status line (`reason` None: the code's usual phrase).
    pub fn begin(out: &mut Vec<u8>, code: u16, reason: Option<&[u8]>, flags: i64) -> Response {
        out.reserve(192);
        out.extend_from_slice(if flags & F_HTTP10 != 0 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
        out.push(b' ');
        match reason {
            Some(r) => push_value(out, r),
            None => out.extend_from_slice(reason_for(code).as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
        Response {
            code,
            flags,
            seen: Seen::default(),
        }
    }

    /// Where the user's headers' framing facts go (for a writer that reads them itself).
    pub fn seen_mut(&mut self) -> &mut Seen {
        &mut self.seen
    }

    /// One of the user's headers.
    pub fn header(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), String> {
        write_header(out, &mut self.seen, name, value)
    }

    /// One of the user's headers, with a number value (see `Digits::of`): false when the
    /// number is not one that writes as an integer (the caller gives Lua's text for it).
    pub fn header_number(
        &mut self,
        out: &mut Vec<u8>,
        name: &[u8],
        value: f64,
    ) -> Result<bool, String> {
        let mut digits = Digits::default();
        match digits.of(value) {
            Some(d) => write_header(out, &mut self.seen, name, d).map(|()| true),
            None => Ok(false),
        }
    }

    /// The headers the framing needs, the blank line, and `body` framed to match. `length`
    /// is the whole body's size when it is known (None: it streams).
    pub fn finish(self, out: &mut Vec<u8>, length: Option<u64>, body: &[u8]) -> Framing {
        let (code, flags, seen) = (self.code, self.flags, self.seen);
        let http10 = flags & F_HTTP10 != 0;
        let mut keep_alive = flags & F_KEEP_ALIVE != 0 && !seen.close;
        if flags & F_SEND_DATE != 0 && !seen.date {
            out.extend_from_slice(b"Date: ");
            super::date::append_now(out);
            out.extend_from_slice(b"\r\n");
        }
        let body_allowed = !(code < 200 || code == 204 || code == 304);
        let mut chunked = seen.chunked;
        if body_allowed && !seen.length && !seen.encoding {
            if let Some(n) = length {
                out.extend_from_slice(b"Content-Length: ");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.extend_from_slice(b"\r\n");
            } else if http10 {
                keep_alive = false;
            } else {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                chunked = true;
            }
        }
        if !seen.connection {
            out.extend_from_slice(if keep_alive {
                b"Connection: keep-alive\r\n".as_slice()
            } else {
                b"Connection: close\r\n".as_slice()
            });
        }
        out.extend_from_slice(b"\r\n");
        let no_body = flags & F_HEAD != 0 || !body_allowed;
        if !no_body && !body.is_empty() {
            if chunked {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            } else {
                out.reserve(body.len());
                out.extend_from_slice(body);
            }
        }
        Framing {
            chunked,
            keep_alive,
            no_body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_gets_the_framing_it_needs() {
        let mut out = Vec::new();
        let mut r = Response::begin(&mut out, 200, None, F_KEEP_ALIVE);
        r.header(&mut out, b"Content-Type", b"text/plain\r\nX: y")
            .unwrap();
        assert!(r.header_number(&mut out, b"X-N", 12.0).unwrap());
        assert!(!r.header_number(&mut out, b"X-F", 1.5).unwrap());
        let f = r.finish(&mut out, Some(5), b"hello");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain X: y\r\nX-N: 12\r\n\
             Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
        );
        assert_eq!(f.bits(), 2);
    }

    #[test]
    fn a_bad_name_is_refused_and_a_close_header_ends_keep_alive() {
        let mut out = Vec::new();
        let mut r = Response::begin(&mut out, 204, Some(b"Nothing"), F_KEEP_ALIVE | F_HEAD);
        assert_eq!(
            r.header(&mut out, b"Bad Name", b"x").unwrap_err(),
            "invalid header name \"Bad Name\""
        );
        r.header(&mut out, b"Connection", b" close ").unwrap();
        let f = r.finish(&mut out, Some(3), b"abc");
        assert!(!f.keep_alive && f.no_body && !f.chunked);
        assert!(out.ends_with(b"Connection:  close \r\n\r\n"));
    }

    #[test]
    fn status_codes_outside_100_to_999_are_refused() {
        assert!(status_code(99.0).is_err());
        assert!(status_code(200.5).is_err());
        assert_eq!(status_code(404.0), Ok(404));
    }
}
