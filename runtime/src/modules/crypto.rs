//! `crypto-native`: hashing, HMAC, random bytes and constant-time comparison on RustCrypto
//! crates and getrandom (no OpenSSL), behind `runtime/lib/crypto.lua` (the node-like API).
//!
//! `hash(alg)` and `hmac(alg, key)` return a context (or nil for an unknown algorithm) with
//! `update(data)`, `digest()` (raw bytes; a context digests once) and `copy()`.
//! `random(n)` returns n random bytes or `nil, message`; `equal(a, b)` compares in constant
//! time; `encode(bytes, 'hex'|'base64'|'base64url')` encodes digests.

use hmac::digest::{FixedOutput, KeyInit, Update};
use mlua::{Lua, LuaString, MultiValue, Table, UserData, Value};

/// The supported algorithms, as `getHashes()` lists them.
pub const ALGORITHMS: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// A running digest of either kind, boxed so one userdata type serves all algorithms.
trait Digester {
    fn feed(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> Vec<u8>;
    fn duplicate(&self) -> Box<dyn Digester>;
}

impl<T: Update + FixedOutput + Clone + 'static> Digester for T {
    fn feed(&mut self, data: &[u8]) {
        Update::update(self, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.finalize_fixed().to_vec()
    }
    fn duplicate(&self) -> Box<dyn Digester> {
        Box::new(self.clone())
    }
}

fn new_hash(alg: &str) -> Option<Box<dyn Digester>> {
    Some(match alg {
        "md5" => Box::new(md5::Md5::default()),
        "sha1" => Box::new(sha1::Sha1::default()),
        "sha224" => Box::new(sha2::Sha224::default()),
        "sha256" => Box::new(sha2::Sha256::default()),
        "sha384" => Box::new(sha2::Sha384::default()),
        "sha512" => Box::new(sha2::Sha512::default()),
        _ => return None,
    })
}

fn new_hmac(alg: &str, key: &[u8]) -> Option<Box<dyn Digester>> {
    // HMAC takes keys of any length (long ones are hashed first), so `new_from_slice` cannot
    // fail; `.ok()?` keeps even that impossible case a clean `nil` rather than a panic.
    macro_rules! keyed {
        ($d:ty) => {
            Box::new(<hmac::Hmac<$d> as KeyInit>::new_from_slice(key).ok()?)
        };
    }
    Some(match alg {
        "md5" => keyed!(md5::Md5),
        "sha1" => keyed!(sha1::Sha1),
        "sha224" => keyed!(sha2::Sha224),
        "sha256" => keyed!(sha2::Sha256),
        "sha384" => keyed!(sha2::Sha384),
        "sha512" => keyed!(sha2::Sha512),
        _ => return None,
    })
}

/// A hash or HMAC context; `None` once digested.
struct Context(Option<Box<dyn Digester>>);

impl UserData for Context {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        // Both return false once the context has been digested; the Lua side reports that.
        m.add_method_mut("update", |_, c, data: LuaString| match &mut c.0 {
            Some(d) => {
                d.feed(&data.as_bytes());
                Ok(true)
            }
            None => Ok(false),
        });
        m.add_method_mut("digest", |lua, c, ()| match c.0.take() {
            Some(d) => Ok(Value::String(lua.create_string(d.finish())?)),
            None => Ok(Value::Nil),
        });
        m.add_method("copy", |_, c, ()| {
            Ok(c.0.as_ref().map(|d| Context(Some(d.duplicate()))))
        });
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 of `data`; the URL alphabet has no padding (as node's 'base64url').
pub fn base64(data: &[u8], url: bool) -> String {
    let table = if url { BASE64URL } else { BASE64 };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        let chars = group.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(table[(n >> (18 - 6 * i) & 63) as usize]));
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "hash",
        lua.create_function(|_, alg: String| Ok(new_hash(&alg).map(|d| Context(Some(d)))))?,
    )?;
    t.set(
        "hmac",
        lua.create_function(|_, (alg, key): (String, LuaString)| {
            Ok(new_hmac(&alg, &key.as_bytes()).map(|d| Context(Some(d))))
        })?,
    )?;
    t.set(
        "random",
        lua.create_function(|lua, n: usize| {
            let Some(mut buf) = super::try_zeroed(n) else {
                return Ok(MultiValue::from_iter([
                    Value::Nil,
                    Value::String(lua.create_string(format!("cannot allocate {n} bytes"))?),
                ]));
            };
            match getrandom::fill(&mut buf) {
                Ok(()) => Ok(MultiValue::from_iter([Value::String(
                    lua.create_string(&buf)?,
                )])),
                Err(e) => Ok(MultiValue::from_iter([
                    Value::Nil,
                    Value::String(lua.create_string(e.to_string())?),
                ])),
            }
        })?,
    )?;
    t.set(
        "equal",
        lua.create_function(|_, (a, b): (LuaString, LuaString)| {
            use subtle::ConstantTimeEq;
            let (a, b) = (a.as_bytes(), b.as_bytes());
            Ok(a.len() == b.len() && bool::from(a[..].ct_eq(&b[..])))
        })?,
    )?;
    t.set(
        "encode",
        lua.create_function(|_, (data, enc): (LuaString, String)| {
            let data = data.as_bytes();
            Ok(match enc.as_str() {
                "hex" => Some(hex(&data)),
                "base64" => Some(base64(&data, false)),
                "base64url" => Some(base64(&data, true)),
                _ => None,
            })
        })?,
    )?;
    t.set(
        "algorithms",
        lua.create_sequence_from(ALGORITHMS.iter().copied())?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(base64(b"", false), "");
        assert_eq!(base64(b"f", false), "Zg==");
        assert_eq!(base64(b"fo", false), "Zm8=");
        assert_eq!(base64(b"foo", false), "Zm9v");
        assert_eq!(base64(b"foob", false), "Zm9vYg==");
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8");
    }

    #[test]
    fn sha256_of_abc() {
        let mut d = new_hash("sha256").unwrap();
        d.feed(b"abc");
        assert_eq!(
            hex(&d.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
