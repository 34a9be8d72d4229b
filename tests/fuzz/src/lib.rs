//! luvit-rs's fuzz targets, one module each, as plain functions over bytes: `src/main.rs` runs
//! them under afl-fuzz (`--features afl`) or replays files; `tests/smoke.rs` replays the
//! committed corpora and a bounded random run in `cargo test`. See README.md.

pub mod debugger;
pub mod door;
pub mod dump;
pub mod heapsnapshot;
pub mod http;
pub mod json;
pub mod lua_api;
pub mod serializer;

/// The targets by name, for the binary and the smoke test.
pub const TARGETS: &[&str] = &[
    "http",
    "door",
    "dap",
    "mobdebug",
    "serializer",
    "json",
    "lua_api",
    "heapsnapshot",
];

/// A target's per-input function.
pub type RunOne = Box<dyn FnMut(&[u8])>;

/// Builds the named target once (Lua states and all) and returns its per-input function.
pub fn target(name: &str) -> Option<RunOne> {
    Some(match name {
        "http" => {
            let t = http::Target::new();
            Box::new(move |d| t.run(d))
        }
        "door" => {
            let t = door::Target::new();
            Box::new(move |d| t.run(d))
        }
        "dap" => Box::new(|d| debugger::run(d, false)),
        "mobdebug" => Box::new(|d| debugger::run(d, true)),
        "serializer" => {
            let t = serializer::Target::new();
            Box::new(move |d| t.run(d))
        }
        "lua_api" => {
            let t = lua_api::Target::new();
            Box::new(move |d| t.run(d))
        }
        "json" => {
            let t = json::Target::new();
            Box::new(move |d| t.run(d))
        }
        "heapsnapshot" => {
            let t = heapsnapshot::Target::new();
            Box::new(move |d| t.run(d))
        }
        _ => return None,
    })
}

/// Reads a fuzz input front to back; past the end everything is zero or empty.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Up to `max` bytes, the count taken from the input.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (self.byte() as usize % (max + 1)).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    pub fn i64(&mut self) -> i64 {
        self.u64() as i64
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
