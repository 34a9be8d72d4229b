//! `zlib-native`: the byte work behind `runtime/lib/zlib.lua` (which owns the public API).
//!
//! flate2 (miniz_oxide backend) does raw DEFLATE; the zlib (RFC 1950) and gzip (RFC 1952)
//! framing is ours, so we can report zlib's own messages ("incorrect header check"), count
//! bytes exactly, stop at the end of a stream and, for node's gunzip, go on to the next member.
//!
//! `deflater(wrap, level)` and `inflater(wrap, multi)` make codec objects whose
//! `write(data [, flush])` returns `output, ended, total_in, total_out`, or `nil, message, code`
//! when the input is corrupt (node's code names: `Z_DATA_ERROR`, `Z_NEED_DICT`...). `wrap` is
//! `'zlib'`, `'gzip'`, `'raw'` or (inflate only) `'auto'`. Also `crc32(data, init)`,
//! `adler32(data, init)` and their `*_combine(a, b, len_b)`.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use mlua::{Lua, LuaString, MultiValue, Table, UserData, Value};

/// The zlib release whose formats and messages we follow (reported by `zlib.version()`).
pub const ZLIB_VERSION: &str = "1.3.1";

const ADLER_MOD: u32 = 65521;
/// Bytes that can be summed before s2 could overflow 32 bits (zlib's NMAX).
const ADLER_RUN: usize = 5552;
/// Header bytes looked at per step (gzip's optional fields can be long).
const HEADER_STEP: usize = 4096;
const OUT_STEP: usize = 32 * 1024;

pub fn adler32(init: u32, data: &[u8]) -> u32 {
    let (mut s1, mut s2) = (init & 0xffff, init >> 16);
    for run in data.chunks(ADLER_RUN) {
        for &b in run {
            s1 += u32::from(b);
            s2 += s1;
        }
        s1 %= ADLER_MOD;
        s2 %= ADLER_MOD;
    }
    (s2 << 16) | s1
}

/// The Adler-32 of A followed by B from those of A and B and B's length: appending B adds
/// `s1_b - 1` to s1 and `s2_b + len_b * (s1_a - 1)` to s2.
pub fn adler32_combine(a: u32, b: u32, len_b: u64) -> u32 {
    let m = u64::from(ADLER_MOD);
    let (s1a, s2a) = (u64::from(a & 0xffff), u64::from(a >> 16));
    let (s1b, s2b) = (u64::from(b & 0xffff), u64::from(b >> 16));
    let s1 = (s1a + s1b + m - 1) % m;
    let s2 = (s2a + s2b + (len_b % m) * ((s1a + m - 1) % m)) % m;
    ((s2 << 16) | s1) as u32
}

pub fn crc32(init: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(init);
    h.update(data);
    h.finalize()
}

pub fn crc32_combine(a: u32, b: u32, len_b: u64) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(a);
    h.combine(&crc32fast::Hasher::new_with_initial_len(b, len_b));
    h.finalize()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wrap {
    Zlib,
    Gzip,
    Raw,
    Auto,
}

fn parse_wrap(s: &str, inflate: bool) -> mlua::Result<Wrap> {
    Ok(match s {
        "zlib" => Wrap::Zlib,
        "gzip" => Wrap::Gzip,
        "raw" => Wrap::Raw,
        "auto" if inflate => Wrap::Auto,
        other => {
            return Err(mlua::Error::runtime(format!(
                "zlib-native: unknown format '{other}'"
            )))
        }
    })
}

/// A failure reported to Lua as `nil, message, code`.
#[derive(Clone, Debug)]
struct ZErr {
    code: &'static str,
    msg: String,
}

fn data_err(msg: &str) -> ZErr {
    ZErr {
        code: "Z_DATA_ERROR",
        msg: msg.to_string(),
    }
}

fn stream_err(msg: &str) -> ZErr {
    ZErr {
        code: "Z_STREAM_ERROR",
        msg: msg.to_string(),
    }
}

// ---- deflate --------------------------------------------------------------------------------

pub struct Deflater {
    wrap: Wrap,
    level: u32,
    raw: Compress,
    started: bool,
    finished: bool,
    crc: crc32fast::Hasher,
    adler: u32,
    total_in: u64,
    total_out: u64,
}

impl Deflater {
    fn new(wrap: Wrap, level: u32) -> Deflater {
        Deflater {
            wrap,
            level,
            raw: Compress::new(Compression::new(level), false),
            started: false,
            finished: false,
            crc: crc32fast::Hasher::new(),
            adler: 1,
            total_in: 0,
            total_out: 0,
        }
    }

    fn header(&self, out: &mut Vec<u8>) {
        match self.wrap {
            Wrap::Zlib => {
                // CMF: deflate with a 32K window; FLG: the level class, then the check bits.
                let class: u16 = match self.level {
                    0 | 1 => 0,
                    2..=5 => 1,
                    6 => 2,
                    _ => 3,
                };
                let mut h: u16 = (0x78 << 8) | (class << 6);
                h += 31 - h % 31;
                out.extend_from_slice(&h.to_be_bytes());
            }
            Wrap::Gzip => {
                let xfl = match self.level {
                    9 => 2,
                    0 | 1 => 4,
                    _ => 0,
                };
                // Magic, deflate, no flags, no mtime, extra flags, OS = Unix.
                out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
            }
            Wrap::Raw | Wrap::Auto => {}
        }
    }

    fn trailer(&self, out: &mut Vec<u8>) {
        match self.wrap {
            Wrap::Zlib => out.extend_from_slice(&self.adler.to_be_bytes()),
            Wrap::Gzip => {
                out.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
                out.extend_from_slice(&(self.total_in as u32).to_le_bytes());
            }
            Wrap::Raw | Wrap::Auto => {}
        }
    }

    /// Compresses all of `input`, then flushes as asked; appends to `out`.
    fn write(&mut self, input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) -> Result<(), ZErr> {
        if self.finished {
            return if input.is_empty() {
                Ok(())
            } else {
                Err(stream_err("write after the stream was finished"))
            };
        }
        if input.is_empty() && flush == FlushCompress::None {
            return Ok(());
        }
        let start = out.len();
        if !self.started {
            self.header(out);
            self.started = true;
        }
        match self.wrap {
            Wrap::Zlib => self.adler = adler32(self.adler, input),
            Wrap::Gzip => self.crc.update(input),
            Wrap::Raw | Wrap::Auto => {}
        }
        self.total_in += input.len() as u64;
        let mut pos = 0;
        loop {
            out.reserve(OUT_STEP.max((input.len() - pos) / 2));
            let (tin, tout) = (self.raw.total_in(), self.raw.total_out());
            let status = self
                .raw
                .compress_vec(&input[pos..], out, flush)
                .map_err(|_| stream_err("deflate failed"))?;
            let used = (self.raw.total_in() - tin) as usize;
            let produced = self.raw.total_out() - tout;
            pos += used;
            let full = out.len() == out.capacity();
            if status == Status::StreamEnd {
                self.trailer(out);
                self.finished = true;
                break;
            }
            if pos == input.len() && !full && flush != FlushCompress::Finish {
                break;
            }
            if used == 0 && produced == 0 && !full {
                return Err(stream_err("deflate made no progress"));
            }
        }
        self.total_out += (out.len() - start) as u64;
        Ok(())
    }
}

// ---- inflate --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Header,
    Body,
    Trailer,
    /// Between gzip members (node's gunzip reads on while more members follow).
    Member,
    Done,
}

pub struct Inflater {
    wrap: Wrap,
    multi: bool,
    stage: Stage,
    raw: Decompress,
    /// Header or trailer bytes gathered so far.
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    adler: u32,
    member_out: u64,
    total_in: u64,
    total_out: u64,
    broken: Option<ZErr>,
    /// The most one call may inflate ([`MAX_OUT`]; smaller in tests).
    max_out: usize,
}

/// The most bytes one inflate call gives back: the longest Lua string (LuaJIT's
/// `LJ_MAX_STR`). Past it a compression bomb is an error, where it would grow one buffer
/// until an allocation failed and the process aborted (node stops at its largest Buffer).
const MAX_OUT: usize = 0x7fff_ff00;

/// The length of the complete header at the start of `b`, `None` while more bytes are needed.
fn header_len(wrap: Wrap, b: &[u8]) -> Result<Option<usize>, ZErr> {
    match wrap {
        Wrap::Zlib => {
            if b.len() < 2 {
                return Ok(None);
            }
            let (cmf, flg) = (b[0], b[1]);
            if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err(data_err("incorrect header check"));
            }
            if cmf & 0x0f != 8 {
                return Err(data_err("unknown compression method"));
            }
            if (cmf >> 4) > 7 {
                return Err(data_err("invalid window size"));
            }
            if flg & 0x20 != 0 {
                return Err(ZErr {
                    code: "Z_NEED_DICT",
                    msg: "Missing dictionary".into(),
                });
            }
            Ok(Some(2))
        }
        Wrap::Gzip => {
            if (!b.is_empty() && b[0] != 0x1f) || (b.len() > 1 && b[1] != 0x8b) {
                return Err(data_err("incorrect header check"));
            }
            if b.len() > 2 && b[2] != 8 {
                return Err(data_err("unknown compression method"));
            }
            if b.len() > 3 && b[3] & 0xe0 != 0 {
                return Err(data_err("unknown header flags set"));
            }
            if b.len() < 10 {
                return Ok(None);
            }
            let flags = b[3];
            let mut i = 10;
            if flags & 0x04 != 0 {
                if b.len() < i + 2 {
                    return Ok(None);
                }
                i += 2 + usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
            }
            for field in [0x08, 0x10] {
                if flags & field != 0 {
                    if b.len() <= i {
                        return Ok(None);
                    }
                    match b[i..].iter().position(|&c| c == 0) {
                        Some(z) => i += z + 1,
                        None => return Ok(None),
                    }
                }
            }
            if flags & 0x02 != 0 {
                i += 2;
            }
            Ok((b.len() >= i).then_some(i))
        }
        Wrap::Raw | Wrap::Auto => Ok(Some(0)),
    }
}

impl Inflater {
    fn new(wrap: Wrap, multi: bool) -> Inflater {
        Inflater {
            wrap,
            multi,
            stage: if wrap == Wrap::Raw {
                Stage::Body
            } else {
                Stage::Header
            },
            raw: Decompress::new(false),
            buf: Vec::new(),
            crc: crc32fast::Hasher::new(),
            adler: 1,
            member_out: 0,
            total_in: 0,
            total_out: 0,
            broken: None,
            max_out: MAX_OUT,
        }
    }

    fn ended(&self) -> bool {
        matches!(self.stage, Stage::Done | Stage::Member)
    }

    /// Inflates what it can of `input` into `out`; stops at the end of the stream (the rest
    /// of `input` is left unconsumed, see `total_in`).
    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ZErr> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let start = out.len();
        let mut pos = 0;
        let result = self.run(input, &mut pos, out);
        self.total_in += pos as u64;
        self.total_out += (out.len() - start) as u64;
        if let Err(e) = &result {
            self.broken = Some(e.clone());
        }
        result
    }

    fn run(&mut self, input: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), ZErr> {
        loop {
            match self.stage {
                Stage::Done => return Ok(()),
                Stage::Member => {
                    // Trailing zero bytes are padding; anything else must be another member.
                    match input.get(*pos) {
                        None => return Ok(()),
                        Some(0) => {
                            self.stage = Stage::Done;
                            return Ok(());
                        }
                        Some(_) => {
                            self.raw.reset(false);
                            self.crc = crc32fast::Hasher::new();
                            self.member_out = 0;
                            self.stage = Stage::Header;
                        }
                    }
                }
                Stage::Header => {
                    if *pos == input.len() {
                        return Ok(());
                    }
                    let old = self.buf.len();
                    let take = (input.len() - *pos).min(HEADER_STEP);
                    self.buf.extend_from_slice(&input[*pos..*pos + take]);
                    if self.wrap == Wrap::Auto {
                        if self.buf.len() < 2 {
                            *pos += take;
                            continue;
                        }
                        self.wrap = if self.buf[0] == 0x1f && self.buf[1] == 0x8b {
                            Wrap::Gzip
                        } else {
                            Wrap::Zlib
                        };
                    }
                    match header_len(self.wrap, &self.buf)? {
                        Some(h) => {
                            *pos += h - old;
                            self.buf.clear();
                            self.stage = Stage::Body;
                        }
                        None => *pos += take,
                    }
                }
                Stage::Body => {
                    let from = out.len();
                    let ended = self.body(input, pos, out);
                    let produced = &out[from..];
                    self.member_out += produced.len() as u64;
                    match self.wrap {
                        Wrap::Zlib => self.adler = adler32(self.adler, produced),
                        Wrap::Gzip => self.crc.update(produced),
                        Wrap::Raw | Wrap::Auto => {}
                    }
                    if !ended? {
                        return Ok(());
                    }
                    self.stage = Stage::Trailer;
                }
                Stage::Trailer => {
                    let size = match self.wrap {
                        Wrap::Zlib => 4,
                        Wrap::Gzip => 8,
                        Wrap::Raw | Wrap::Auto => 0,
                    };
                    let take = (size - self.buf.len()).min(input.len() - *pos);
                    self.buf.extend_from_slice(&input[*pos..*pos + take]);
                    *pos += take;
                    if self.buf.len() < size {
                        return Ok(());
                    }
                    self.check_trailer()?;
                    self.buf.clear();
                    self.stage = if self.wrap == Wrap::Gzip && self.multi {
                        Stage::Member
                    } else {
                        Stage::Done
                    };
                }
            }
        }
    }

    /// Raw inflate until the input runs out (false) or the deflate stream ends (true).
    fn body(&mut self, input: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<bool, ZErr> {
        loop {
            if out.len() > self.max_out {
                return Err(ZErr {
                    code: "Z_BUF_ERROR",
                    msg: format!(
                        "inflated output past {} bytes (the largest Lua string)",
                        self.max_out
                    ),
                });
            }
            let want = OUT_STEP.max((input.len() - *pos).saturating_mul(2).min(1 << 24));
            out.try_reserve(want).map_err(|_| ZErr {
                code: "Z_MEM_ERROR",
                msg: "out of memory".into(),
            })?;
            let (tin, tout) = (self.raw.total_in(), self.raw.total_out());
            let status = match self
                .raw
                .decompress_vec(&input[*pos..], out, FlushDecompress::None)
            {
                Ok(s) => s,
                Err(e) if e.needs_dictionary().is_some() => {
                    return Err(ZErr {
                        code: "Z_NEED_DICT",
                        msg: "Missing dictionary".into(),
                    })
                }
                Err(_) => return Err(data_err("invalid compressed data")),
            };
            let used = (self.raw.total_in() - tin) as usize;
            let produced = self.raw.total_out() - tout;
            *pos += used;
            if status == Status::StreamEnd {
                return Ok(true);
            }
            let full = out.len() == out.capacity();
            if !full && (*pos == input.len() || (used == 0 && produced == 0)) {
                return Ok(false);
            }
        }
    }

    fn check_trailer(&self) -> Result<(), ZErr> {
        let b = &self.buf;
        match self.wrap {
            Wrap::Zlib => {
                if u32::from_be_bytes([b[0], b[1], b[2], b[3]]) != self.adler {
                    return Err(data_err("incorrect data check"));
                }
            }
            Wrap::Gzip => {
                if u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != self.crc.clone().finalize() {
                    return Err(data_err("incorrect data check"));
                }
                if u32::from_le_bytes([b[4], b[5], b[6], b[7]]) != self.member_out as u32 {
                    return Err(data_err("incorrect length check"));
                }
            }
            Wrap::Raw | Wrap::Auto => {}
        }
        Ok(())
    }
}

// ---- Lua side -------------------------------------------------------------------------------

fn results(
    lua: &Lua,
    r: Result<(), ZErr>,
    out: &[u8],
    ended: bool,
    tin: u64,
    tout: u64,
) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => Ok(MultiValue::from_iter([
            Value::String(lua.create_string(out)?),
            Value::Boolean(ended),
            Value::Number(tin as f64),
            Value::Number(tout as f64),
        ])),
        Err(e) => Ok(MultiValue::from_iter([
            Value::Nil,
            Value::String(lua.create_string(&e.msg)?),
            Value::String(lua.create_string(e.code)?),
        ])),
    }
}

fn flush_mode(s: Option<&str>) -> mlua::Result<FlushCompress> {
    Ok(match s.unwrap_or("none") {
        "none" => FlushCompress::None,
        "sync" => FlushCompress::Sync,
        "full" => FlushCompress::Full,
        "finish" => FlushCompress::Finish,
        other => {
            return Err(mlua::Error::runtime(format!(
                "zlib-native: unknown flush mode '{other}'"
            )))
        }
    })
}

impl UserData for Deflater {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut(
            "write",
            |lua, d, (data, flush): (Option<LuaString>, Option<String>)| {
                let flush = flush_mode(flush.as_deref())?;
                let mut out = Vec::new();
                let r = match &data {
                    Some(s) => d.write(&s.as_bytes(), flush, &mut out),
                    None => d.write(&[], flush, &mut out),
                };
                results(lua, r, &out, d.finished, d.total_in, d.total_out)
            },
        );
        m.add_meta_method(mlua::MetaMethod::ToString, |_, d, ()| {
            Ok(format!("zlib deflater ({:?})", d.wrap))
        });
    }
}

impl UserData for Inflater {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("write", |lua, i, data: Option<LuaString>| {
            let mut out = Vec::new();
            let r = match &data {
                Some(s) => i.write(&s.as_bytes(), &mut out),
                None => i.write(&[], &mut out),
            };
            results(lua, r, &out, i.ended(), i.total_in, i.total_out)
        });
        m.add_meta_method(mlua::MetaMethod::ToString, |_, i, ()| {
            Ok(format!("zlib inflater ({:?})", i.wrap))
        });
    }
}

/// A checksum seed from Lua: a whole number that fits 32 bits.
fn seed(v: Option<f64>, what: &str) -> mlua::Result<u32> {
    match v {
        None => Ok(0),
        Some(n) if n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0 => Ok(n as u32),
        Some(n) => Err(mlua::Error::runtime(format!(
            "{what}: {n} is not a 32-bit checksum"
        ))),
    }
}

fn length(v: f64, what: &str) -> mlua::Result<u64> {
    if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 {
        Ok(v as u64)
    } else {
        Err(mlua::Error::runtime(format!("{what}: bad length {v}")))
    }
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "deflater",
        lua.create_function(|_, (wrap, level): (String, u32)| {
            if level > 9 {
                return Err(mlua::Error::runtime(format!(
                    "zlib-native: level {level} out of range"
                )));
            }
            Ok(Deflater::new(parse_wrap(&wrap, false)?, level))
        })?,
    )?;
    t.set(
        "inflater",
        lua.create_function(|_, (wrap, multi): (String, Option<bool>)| {
            Ok(Inflater::new(
                parse_wrap(&wrap, true)?,
                multi.unwrap_or(false),
            ))
        })?,
    )?;
    t.set(
        "crc32",
        lua.create_function(|_, (data, init): (LuaString, Option<f64>)| {
            Ok(f64::from(crc32(seed(init, "crc32")?, &data.as_bytes())))
        })?,
    )?;
    t.set(
        "adler32",
        lua.create_function(|_, (data, init): (LuaString, Option<f64>)| {
            let init = match init {
                None => 1,
                v => seed(v, "adler32")?,
            };
            Ok(f64::from(adler32(init, &data.as_bytes())))
        })?,
    )?;
    t.set(
        "crc32_combine",
        lua.create_function(|_, (a, b, len): (f64, f64, f64)| {
            let w = "crc32_combine";
            Ok(f64::from(crc32_combine(
                seed(Some(a), w)?,
                seed(Some(b), w)?,
                length(len, w)?,
            )))
        })?,
    )?;
    t.set(
        "adler32_combine",
        lua.create_function(|_, (a, b, len): (f64, f64, f64)| {
            let w = "adler32_combine";
            Ok(f64::from(adler32_combine(
                seed(Some(a), w)?,
                seed(Some(b), w)?,
                length(len, w)?,
            )))
        })?,
    )?;
    t.set("version", ZLIB_VERSION)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler_and_crc_match_known_values() {
        assert_eq!(adler32(1, b"Wikipedia"), 0x11E6_0398);
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
        let (a, b) = (b"hello ".as_slice(), b"world".as_slice());
        assert_eq!(
            adler32_combine(adler32(1, a), adler32(1, b), b.len() as u64),
            adler32(1, b"hello world")
        );
        assert_eq!(
            crc32_combine(crc32(0, a), crc32(0, b), b.len() as u64),
            crc32(0, b"hello world")
        );
    }

    #[test]
    fn a_bomb_past_the_output_cap_is_an_error_not_an_abort() {
        let mut d = Deflater::new(Wrap::Zlib, 9);
        let mut z = Vec::new();
        d.write(&vec![0u8; 8 << 20], FlushCompress::Finish, &mut z)
            .expect("deflate");
        let mut i = Inflater::new(Wrap::Zlib, false);
        i.max_out = 1 << 20;
        let mut out = Vec::new();
        let e = i.write(&z, &mut out).expect_err("an error past the cap");
        assert_eq!(e.code, "Z_BUF_ERROR", "{}", e.msg);
        assert!(out.len() < 3 << 20, "stopped near the cap: {}", out.len());
        // under the cap, the same stream inflates whole
        let mut i = Inflater::new(Wrap::Zlib, false);
        let mut out = Vec::new();
        i.write(&z, &mut out).expect("inflate");
        assert_eq!(out.len(), 8 << 20);
    }

    fn roundtrip(wrap: Wrap, data: &[u8]) {
        let mut d = Deflater::new(wrap, 6);
        let mut z = Vec::new();
        d.write(data, FlushCompress::Finish, &mut z).unwrap();
        assert!(d.finished);
        let mut i = Inflater::new(wrap, false);
        let mut out = Vec::new();
        // One byte at a time exercises every partial header and trailer path.
        for b in &z {
            i.write(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert!(i.ended());
        assert_eq!(out, data);
        assert_eq!(i.total_in, z.len() as u64);
    }

    #[test]
    fn round_trips_in_every_format() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for w in [Wrap::Zlib, Wrap::Gzip, Wrap::Raw] {
            roundtrip(w, &data);
            roundtrip(w, b"");
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let mut i = Inflater::new(Wrap::Zlib, false);
        let e = i.write(b"not zlib at all", &mut Vec::new()).unwrap_err();
        assert_eq!(e.msg, "incorrect header check");
        let mut i = Inflater::new(Wrap::Gzip, false);
        let e = i.write(&[0x1f, 0x8b, 9], &mut Vec::new()).unwrap_err();
        assert_eq!(e.msg, "unknown compression method");
    }
}
