//! Breakpoints by source: where they are, their conditions and hit counts.
//!
//! Sources are keyed by Lua chunk name (`@/abs/path.lua`, `@builtin:fs.lua`), the string the
//! hook reads from a frame, so the hot check is one hash lookup on bytes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: the hook hashes a chunk name on every call event; SipHash's flood resistance buys
/// nothing for keys the user chose, and costs several times more on short strings.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone)]
pub struct Breakpoint {
    pub id: i64,
    pub line: i32,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
    pub log_message: Option<String>,
    pub hits: u64,
}

/// `hitCondition`: `N` or `== N` (the Nth hit), `>= N`, `> N`, `< N`, `<= N`, `% N` (every Nth).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HitCondition {
    Eq(u64),
    Ge(u64),
    Gt(u64),
    Lt(u64),
    Le(u64),
    Every(u64),
}

impl HitCondition {
    pub fn parse(s: &str) -> Result<HitCondition, String> {
        let s = s.trim();
        let (op, rest) = ["==", ">=", "<=", ">", "<", "%", "="]
            .iter()
            .find_map(|op| s.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("==", s));
        let n: u64 = rest
            .trim()
            .parse()
            .map_err(|_| format!("hit condition '{s}': expected a count such as 5, >= 5 or % 5"))?;
        Ok(match op {
            "==" | "=" => HitCondition::Eq(n),
            ">=" => HitCondition::Ge(n),
            ">" => HitCondition::Gt(n),
            "<" => HitCondition::Lt(n),
            "<=" => HitCondition::Le(n),
            _ if n == 0 => return Err("hit condition '% 0': the period must be at least 1".into()),
            _ => HitCondition::Every(n),
        })
    }

    pub fn matches(self, hits: u64) -> bool {
        match self {
            HitCondition::Eq(n) => hits == n,
            HitCondition::Ge(n) => hits >= n,
            HitCondition::Gt(n) => hits > n,
            HitCondition::Lt(n) => hits < n,
            HitCondition::Le(n) => hits <= n,
            HitCondition::Every(n) => hits.is_multiple_of(n),
        }
    }
}

#[derive(Default)]
pub struct Breakpoints {
    by_source: HashMap<Vec<u8>, BTreeMap<i32, Breakpoint>, BuildHasherDefault<Fnv>>,
    next_id: i64,
}

impl Breakpoints {
    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    /// Whether a function spanning lines `first..=last` of `chunk` holds a breakpoint: only
    /// such functions pay for line events.
    pub fn in_function(&self, chunk: &[u8], first: i32, last: i32) -> bool {
        // the call hook asks this for every Lua call: a chunk whose name is as long as none
        // with breakpoints is answered without hashing the name (a handful of sources)
        if !self.by_source.keys().any(|k| k.len() == chunk.len()) {
            return false;
        }
        self.by_source
            .get(chunk)
            .is_some_and(|m| m.range(first..=last.max(first)).next().is_some())
    }

    pub fn at(&mut self, chunk: &[u8], line: i32) -> Option<&mut Breakpoint> {
        self.by_source.get_mut(chunk)?.get_mut(&line)
    }

    pub fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Replaces a source's breakpoints (DAP's setBreakpoints sends the whole list).
    pub fn set(&mut self, chunk: Vec<u8>, list: Vec<Breakpoint>) {
        if list.is_empty() {
            self.by_source.remove(&chunk);
        } else {
            self.by_source
                .insert(chunk, list.into_iter().map(|b| (b.line, b)).collect());
        }
    }

    /// Adds one plain breakpoint (MobDebug's SETB).
    pub fn add(&mut self, chunk: Vec<u8>, id: i64, line: i32) {
        self.by_source.entry(chunk).or_default().insert(
            line,
            Breakpoint {
                id,
                line,
                condition: None,
                hit_condition: None,
                log_message: None,
                hits: 0,
            },
        );
    }

    /// Removes one breakpoint (MobDebug's DELB).
    pub fn remove(&mut self, chunk: &[u8], line: i32) {
        if let Some(m) = self.by_source.get_mut(chunk) {
            m.remove(&line);
            if m.is_empty() {
                self.by_source.remove(chunk);
            }
        }
    }

    pub fn clear(&mut self) {
        self.by_source.clear();
    }
}

/// The line a breakpoint asked for at `line` lands on: the first line at or after it that has
/// code (lines sorted), or `None` past the last one.
pub fn resolve_line(code_lines: &[i32], line: i32) -> Option<i32> {
    let i = code_lines.partition_point(|&l| l < line);
    code_lines.get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_conditions_parse_and_count() {
        assert_eq!(HitCondition::parse("3"), Ok(HitCondition::Eq(3)));
        assert_eq!(HitCondition::parse(">= 2"), Ok(HitCondition::Ge(2)));
        assert_eq!(HitCondition::parse("%2"), Ok(HitCondition::Every(2)));
        assert!(HitCondition::parse("% 0").is_err());
        assert!(HitCondition::parse("lots").is_err());
        let every2: Vec<bool> = (1..=4).map(|h| HitCondition::Every(2).matches(h)).collect();
        assert_eq!(every2, [false, true, false, true]);
        assert!(HitCondition::Gt(2).matches(3) && !HitCondition::Gt(2).matches(2));
    }

    #[test]
    fn only_functions_that_span_a_breakpoint_watch_lines() {
        let mut b = Breakpoints::default();
        let bp = |line| Breakpoint {
            id: line as i64,
            line,
            condition: None,
            hit_condition: None,
            log_message: None,
            hits: 0,
        };
        b.set(b"@a.lua".to_vec(), vec![bp(10)]);
        assert!(b.in_function(b"@a.lua", 0, i32::MAX));
        assert!(b.in_function(b"@a.lua", 8, 12));
        assert!(!b.in_function(b"@a.lua", 11, 20));
        assert!(!b.in_function(b"@b.lua", 0, i32::MAX));
    }

    #[test]
    fn lines_without_code_move_to_the_next_line_with_code() {
        let code = [1, 3, 4, 8];
        assert_eq!(resolve_line(&code, 2), Some(3));
        assert_eq!(resolve_line(&code, 4), Some(4));
        assert_eq!(resolve_line(&code, 5), Some(8));
        assert_eq!(resolve_line(&code, 9), None);
    }
}
