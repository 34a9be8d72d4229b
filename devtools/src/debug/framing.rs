//! DAP's base protocol for byte streams (stdio, TCP): `Content-Length: N\r\n\r\n` then N bytes
//! of JSON. Used by the `--inspect-dap-tcp` transport and the `luvit dap` adapter.

use std::io::{self, BufRead, Read, Write};

/// The largest message we accept (a peer announcing more is refused, not allocated for).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Reads one message; `Ok(None)` at a clean end of stream. A malformed header is an error
/// (the stream cannot be resynchronized after it).
pub fn read_message<R: BufRead>(r: &mut R) -> io::Result<Option<String>> {
    let mut length: Option<usize> = None;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = r.take(8192).read_line(&mut line)?;
        if n == 0 {
            if first {
                return Ok(None);
            }
            return Err(bad("the stream ended inside a message header"));
        }
        first = false;
        if !line.ends_with('\n') {
            return Err(bad("a header line is too long"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        // A header name is a token: no spaces. This also refuses an HTTP request line with a
        // colon in its path ("POST /a:b HTTP/1.1"), which a web page can make a browser send
        // to the port with a DAP message as the body (a cross-protocol attack).
        let Some((name, value)) = l
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && !n.contains(char::is_whitespace))
        else {
            return Err(bad(&format!("malformed header line '{l}'")));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let v: usize = value
                .trim()
                .parse()
                .map_err(|_| bad(&format!("bad Content-Length '{}'", value.trim())))?;
            if v > MAX_MESSAGE {
                return Err(bad(&format!("message of {v} bytes is over the limit")));
            }
            length = Some(v);
        }
    }
    let len = length.ok_or_else(|| bad("a message header without Content-Length"))?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    String::from_utf8(body)
        .map(Some)
        .map_err(|_| bad("a message that is not UTF-8"))
}

/// Writes one message with its header.
pub fn write_message<W: Write>(w: &mut W, text: &str) -> io::Result<()> {
    write_unflushed(w, text)?;
    w.flush()
}

/// [`write_message`] without the flush (a buffered writer with more to write).
pub fn write_unflushed<W: Write>(w: &mut W, text: &str) -> io::Result<()> {
    write!(w, "Content-Length: {}\r\n\r\n", text.len())?;
    w.write_all(text.as_bytes())
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bad_headers_are_errors() {
        let mut buf = Vec::new();
        write_message(&mut buf, "{\"a\":1}").unwrap();
        write_message(&mut buf, "{}").unwrap();
        let mut r = io::Cursor::new(buf);
        assert_eq!(read_message(&mut r).unwrap().as_deref(), Some("{\"a\":1}"));
        assert_eq!(read_message(&mut r).unwrap().as_deref(), Some("{}"));
        assert_eq!(read_message(&mut r).unwrap(), None);
        for bad in [
            "Content-Length: x\r\n\r\n",
            "nonsense\r\n\r\n",
            "POST /a:b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            ": 1\r\nContent-Length: 2\r\n\r\n{}",
            "\r\n",
            "Content-Length: 99999999999\r\n\r\n",
            "Content-Length: 5\r\n",
        ] {
            let mut r = io::Cursor::new(bad.as_bytes().to_vec());
            assert!(read_message(&mut r).is_err(), "{bad:?}");
        }
        // a short body is an error too
        let mut r = io::Cursor::new(b"Content-Length: 10\r\n\r\n{}".to_vec());
        assert!(read_message(&mut r).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_allocate_past_the_limit() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let pieces: [&[u8]; 8] = [
            b"Content-Length: ",
            b"\r\n",
            b"\r\n\r\n",
            b"99999999999999999999",
            b"12",
            b"{}",
            b"\xff\xfe",
            b":",
        ];
        for _ in 0..5000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.extend_from_slice(pieces[(seed % 8) as usize]);
            }
            let mut r = io::Cursor::new(input);
            // Ok(Some), Ok(None) or Err: any, as long as it returns
            while let Ok(Some(_)) = read_message(&mut r) {}
        }
    }

    proptest::proptest! {
        /// Any messages written back to back read back the same, whatever the reader's buffer
        /// size (a header or body split across reads).
        #[test]
        fn written_messages_read_back_equal(
            texts in proptest::collection::vec(".{0,300}", 0..8),
            cap in 1usize..64,
        ) {
            let mut buf = Vec::new();
            for t in &texts {
                write_message(&mut buf, t).unwrap();
            }
            let mut r = io::BufReader::with_capacity(cap, io::Cursor::new(buf));
            for t in &texts {
                let got = read_message(&mut r).unwrap();
                proptest::prop_assert_eq!(got.as_deref(), Some(t.as_str()));
            }
            proptest::prop_assert_eq!(read_message(&mut r).unwrap(), None);
        }

        /// Arbitrary bytes after a valid message: the message still reads, the rest returns.
        #[test]
        fn garbage_after_a_message_never_panics(
            text in ".{0,64}",
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let mut buf = Vec::new();
            write_message(&mut buf, &text).unwrap();
            buf.extend_from_slice(&tail);
            let mut r = io::Cursor::new(buf);
            proptest::prop_assert_eq!(read_message(&mut r).unwrap(), Some(text));
            while let Ok(Some(_)) = read_message(&mut r) {}
        }
    }
}
