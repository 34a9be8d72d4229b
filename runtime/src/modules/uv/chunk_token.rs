//! A read chunk lent to the runtime's own Lua as a token, not a string: the HTTP server's
//! read callback hands each chunk straight to its parser, so the bytes never become a Lua
//! string (an allocation, a hash and a collection per request). The token is a light
//! userdata holding the bytes' address; it stands for the bytes only while the callback it
//! was lent to runs (`lend`), and `bytes_of` checks that, so a token kept or forged from Lua
//! reads nothing.

use std::cell::Cell;
use std::ffi::c_void;

thread_local! {
    /// The chunk on loan now: its address and length (0: none).
    static LENT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Runs `f` with `bytes` lent under the token `f` is given.
pub fn lend<R>(bytes: &[u8], f: impl FnOnce(*mut c_void) -> R) -> R {
    struct Return(usize, usize);
    impl Drop for Return {
        fn drop(&mut self) {
            LENT.set((self.0, self.1));
        }
    }
    let (p, n) = LENT.get();
    let _back = Return(p, n);
    LENT.set((bytes.as_ptr() as usize, bytes.len()));
    f(bytes.as_ptr() as *mut c_void)
}

/// The bytes `token` stands for, while they are lent.
pub fn bytes_of<'a>(token: *const c_void) -> Option<&'a [u8]> {
    let (p, n) = LENT.get();
    if p == 0 || p != token as usize {
        return None;
    }
    // SAFETY: the lender's slice is alive until `lend` returns, and every use of the result
    // (the parser copying it) is over before the Lua call it was lent to returns.
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, n) })
}

/// The bytes lent now, if any (for a caller that is inside the read callback they were lent
/// to, and so needs no token to name them).
pub fn lent_now<'a>() -> Option<&'a [u8]> {
    let (p, n) = LENT.get();
    if p == 0 {
        return None;
    }
    // SAFETY: as in `bytes_of`.
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, n) })
}
