//! Numbers for the reader: JSON's grammar, exact doubles the fast way when the digits and
//! the power of ten are exact, the standard library's correctly rounded reader otherwise.

use super::{Reader, Stop};

/// Powers of ten a double holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Reader<'_> {
    /// Reads a number at `i`: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
    pub(super) fn number(&mut self) -> Result<f64, Stop> {
        let start = self.i;
        let mut j = start;
        let neg = self.at(j) == b'-';
        if neg {
            j += 1;
        }
        // The significand's digits as an integer: exact while there are at most 19 of them.
        let mut m: u64 = 0;
        let mut digits = 0u32;
        let mut frac_digits = 0i32;
        match self.at(j) {
            b'0' => {
                j += 1;
                if self.at(j).is_ascii_digit() {
                    self.fail(j, "leading zero in a number")?;
                }
            }
            b'1'..=b'9' => {
                while let c @ b'0'..=b'9' = self.at(j) {
                    m = m.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                    digits += 1;
                    j += 1;
                }
            }
            _ => {
                self.unexpected(
                    j,
                    "expected a digit in a number",
                    "end of text inside a number",
                )?;
            }
        }
        if self.at(j) == b'.' {
            j += 1;
            if !self.at(j).is_ascii_digit() {
                self.unexpected(
                    j,
                    "expected a digit after '.' in a number",
                    "end of text inside a number",
                )?;
            }
            let from = j;
            while let c @ b'0'..=b'9' = self.at(j) {
                m = m.wrapping_mul(10).wrapping_add((c - b'0') as u64);
                j += 1;
            }
            frac_digits = (j - from).min(1 << 20) as i32;
            digits = digits.saturating_add(frac_digits as u32);
        }
        let exact = digits <= 19;
        let mut exp: i32 = 0;
        if matches!(self.at(j), b'e' | b'E') {
            j += 1;
            let eneg = self.at(j) == b'-';
            if matches!(self.at(j), b'-' | b'+') {
                j += 1;
            }
            if !self.at(j).is_ascii_digit() {
                self.unexpected(
                    j,
                    "expected a digit in a number's exponent",
                    "end of text inside a number",
                )?;
            }
            while let c @ b'0'..=b'9' = self.at(j) {
                exp = (exp * 10 + (c - b'0') as i32).min(100_000);
                j += 1;
            }
            if eneg {
                exp = -exp;
            }
        }
        self.i = j;
        // Exact when the significand and the power of ten are both exact doubles: one
        // correctly rounded operation (Clinger's fast path).
        let e10 = exp - frac_digits;
        if exact && m <= 1 << 53 && (-22..=22).contains(&e10) {
            let f = m as f64;
            let f = if e10 < 0 {
                f / POW10[(-e10) as usize]
            } else {
                f * POW10[e10 as usize]
            };
            return Ok(if neg { -f } else { f });
        }
        // The general case: the standard library's correctly rounded reader (past a double's
        // range it gives ±inf, as dkjson's tonumber does).
        let text = std::str::from_utf8(&self.b[start..j]).unwrap_or("0");
        Ok(text.parse::<f64>().unwrap_or(0.0))
    }
}
