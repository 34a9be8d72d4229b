//! Target `heapsnapshot`: the `.heapsnapshot` reader behind `luvit heapdiff`
//! (`heapdiff::parse` in devtools/src/profile/heap/read.rs) and the diff it feeds.
//!
//! The first byte picks a mode; any other first byte (a real snapshot starts with `{`) feeds
//! the whole input as a file:
//! - raw: the bytes as they are (truncated, corrupt, any JSON);
//! - `\x01` generated: a snapshot built from the input, consistent or broken in one way the
//!   input picks (truncated, a required field missing from the field lists, a count that lies,
//!   a huge edge count, an edge pointing past the nodes or between two of them, an unknown type,
//!   a name past the strings), with chains up to 1,200 nodes deep and huge sizes and ids;
//! - `\x02` written: a Lua heap built from the input's first 1 kB (nested, shared and cyclic
//!   tables, long chains, closures, strings), written by our own writer (`write_snapshot`), read
//!   back.
//!
//! Oracle: `parse` returns `Ok` or an `Err` with a message, never panics; a consistent
//! generated snapshot parses with its node and edge counts, a broken one is an `Err`; a
//! snapshot our writer wrote parses with the node, edge and byte counts the writer reported.
//! Whatever parses is diffed against itself (nothing new) and against a fixed snapshot both
//! ways, and the reports (text and JSON) stay within a bound linear in the input's size.

use std::path::PathBuf;

use luvit_devtools::profile::heap::{self, diff, read::Snapshot};
use mlua::{Function, Lua};
use serde_json::{json, Value};

use crate::Input;

const NODE_TYPES: &[&str] = &[
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
];
const EDGE_TYPES: &[&str] = &[
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];
const NODE_FIELDS: &[&str] = &["type", "name", "id", "self_size", "edge_count"];
const EDGE_FIELDS: &[&str] = &["type", "name_or_index", "to_node"];

/// A small consistent snapshot every parsed one is also diffed against.
const BASE: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],
 "node_types":[["synthetic","object","string"]],"edge_fields":["type","name_or_index","to_node"],
 "edge_types":[["element","property","weak"]]},"node_count":3,"edge_count":2},
 "nodes":[0,0,1,0,1, 1,1,3,64,1, 2,3,5,24,0],"edges":[1,2,5, 1,1,10],"strings":["","table","_G","x"]}"#;

/// How much of a `\x02` input builds the Lua heap. The heap, so the snapshot and every step
/// after it, grows with the input: a 33 kB input took 80 ms an execution under afl (14 ms and
/// more for one queue entry in ten), where one under 1 kB takes 1-2 ms; past a few hundred
/// values a bigger heap only repeats the shapes a smaller one has.
const WRITTEN_MAX: usize = 1024;

/// Builds a Lua heap from the input bytes under the global `fuzz_heap`.
const BUILD: &str = r#"
local input = ...
local pos = 0
local function byte()
  pos = pos + 1
  return input:byte(pos) or 0
end
local made = {}
local budget = 1000 -- chain links per input, so a snapshot stays small and quick
local function value(depth)
  local b = byte()
  local k = b % 9
  if k == 0 then return b
  elseif k == 1 then return input:sub(pos + 1, pos + b % 40)
  elseif k == 2 and #made > 0 then return made[b % #made + 1]
  elseif k == 3 then
    local up = value(depth + 1)
    return function() return up end
  elseif k == 4 then
    -- a chain, deeper than the walker recurses
    local head = {}
    local t = head
    local n = math.min((b + byte() * 256) % 1000, budget)
    budget = budget - n
    for i = 1, n do
      t.next = { i }
      t = t.next
    end
    made[#made + 1] = head
    return head
  elseif k == 5 then
    local t = setmetatable({}, { __mode = (b % 2 == 0) and 'k' or 'v', __name = 'Weak' })
    t[value(depth + 1) or 1] = value(depth + 1)
    return t
  elseif k == 6 then
    return coroutine.create(function(a) local x = a; coroutine.yield(x) end)
  elseif depth < 10 then
    local t = {}
    made[#made + 1] = t
    for i = 1, byte() % 8 do
      local key = byte() % 3 == 0 and i or ('k' .. byte())
      t[key] = value(depth + 1)
    end
    if b >= 200 then t.self = t end
    return t
  end
  return nil
end
local root = {}
while pos < #input do root[#root + 1] = value(0) end
fuzz_heap = root
"#;

pub struct Target {
    base: Snapshot,
    lua: Lua,
    build: Function,
    file: PathBuf,
}

impl Default for Target {
    fn default() -> Self {
        Self::new()
    }
}

impl Target {
    pub fn new() -> Target {
        let base = heap::read::parse(BASE.as_bytes()).expect("the base snapshot parses");
        let lua = Lua::new();
        let build = lua
            .load(BUILD)
            .set_name("=fuzz-heapsnapshot")
            .into_function()
            .expect("builder");
        let file = std::env::temp_dir().join(format!(
            "luvit-fuzz-heapsnapshot-{}.heapsnapshot",
            std::process::id()
        ));
        Target {
            base,
            lua,
            build,
            file,
        }
    }

    pub fn run(&self, data: &[u8]) {
        match data.first() {
            Some(1) => self.generated(&mut Input::new(&data[1..])),
            Some(2) => self.written(&data[1..]),
            _ => {
                if let Ok(s) = heap::read::parse(data) {
                    self.check_parsed(&s, data.len());
                }
            }
        }
    }

    /// Diffs a parsed snapshot with itself and the base; the reports stay bounded.
    fn check_parsed(&self, s: &Snapshot, input_len: usize) {
        let bound = 64 * input_len + 64 * 1024;
        for (a, b) in [(&self.base, s), (s, &self.base), (s, s)] {
            let d = diff::diff(a, b);
            if std::ptr::eq(a, b) {
                assert_eq!(
                    d.new_count, 0,
                    "a snapshot diffed with itself has new objects"
                );
                assert!(d.groups.is_empty());
            }
            assert!(d.groups.iter().map(|g| g.count).sum::<u64>() == d.new_count);
            let text = diff::render_text(&d, "a", "b");
            let json = diff::to_json(&d).to_string();
            assert!(
                text.len() <= bound && json.len() <= bound,
                "the report of a {input_len}-byte snapshot is {} bytes (text) / {} (json)",
                text.len(),
                json.len()
            );
        }
    }

    fn generated(&self, inp: &mut Input) {
        let g = generate(inp);
        let text = g.json.to_string();
        let bytes = match g.cut {
            Some(c) => &text.as_bytes()[..c % text.len()],
            None => text.as_bytes(),
        };
        match heap::read::parse(bytes) {
            Ok(s) => {
                assert!(
                    g.broken.is_none() && g.cut.is_none(),
                    "a broken snapshot ({:?}, cut {:?}) parsed: {text}",
                    g.broken,
                    g.cut
                );
                assert_eq!(s.nodes.len(), g.nodes, "node count of {text}");
                assert_eq!(s.edges.len(), g.edges, "edge count of {text}");
                self.check_parsed(&s, bytes.len());
            }
            Err(e) => {
                assert!(!e.is_empty());
                assert!(
                    g.broken.is_some() || g.cut.is_some(),
                    "a consistent snapshot was refused ({e}): {text}"
                );
            }
        }
    }

    fn written(&self, data: &[u8]) {
        let data = &data[..data.len().min(WRITTEN_MAX)];
        let built = self
            .lua
            .create_string(data)
            .and_then(|s| self.build.call::<()>(s));
        if let Err(e) = built {
            // the builder only runs out of memory or stack on a hostile input
            let m = e.to_string();
            assert!(m.contains("memory") || m.contains("stack"), "builder: {m}");
        }
        let written = heap::write_snapshot(&self.lua, &self.file).expect("write_snapshot");
        let _ = self.lua.globals().raw_set("fuzz_heap", mlua::Value::Nil);
        let bytes = std::fs::read(&self.file).expect("read back the snapshot");
        let _ = std::fs::remove_file(&self.file);
        // `LUVIT_FUZZ_KEEP_SNAPSHOT=PATH`: keep it (how corpus/heapsnapshot/written-*.heapsnapshot
        // were made)
        if let Some(keep) = std::env::var_os("LUVIT_FUZZ_KEEP_SNAPSHOT") {
            let _ = std::fs::write(keep, &bytes);
        }
        let s = heap::read::parse(&bytes)
            .unwrap_or_else(|e| panic!("our own snapshot does not parse: {e}"));
        assert_eq!(s.nodes.len() as u64, written.nodes, "node count");
        assert_eq!(s.edges.len() as u64, written.edges, "edge count");
        assert_eq!(
            s.nodes.iter().map(|n| n.size).sum::<u64>(),
            written.bytes,
            "byte count"
        );
        self.check_parsed(&s, bytes.len());
    }
}

/// How a generated snapshot is broken (none: consistent).
#[derive(Debug, Clone, Copy)]
enum Broken {
    MissingNodeField,
    MissingEdgeField,
    NodeCountLies,
    EdgeCountLies,
    HugeEdgeCount,
    EdgeSumShort,
    EdgePastNodes,
    EdgeBetweenNodes,
    UnknownNodeType,
    UnknownEdgeType,
    NameOutOfRange,
    RaggedNodes,
    NoNodes,
}

const BROKEN: &[Broken] = &[
    Broken::MissingNodeField,
    Broken::MissingEdgeField,
    Broken::NodeCountLies,
    Broken::EdgeCountLies,
    Broken::HugeEdgeCount,
    Broken::EdgeSumShort,
    Broken::EdgePastNodes,
    Broken::EdgeBetweenNodes,
    Broken::UnknownNodeType,
    Broken::UnknownEdgeType,
    Broken::NameOutOfRange,
    Broken::RaggedNodes,
    Broken::NoNodes,
];

struct Generated {
    json: Value,
    nodes: usize,
    edges: usize,
    broken: Option<Broken>,
    cut: Option<usize>,
}

/// A field list: the required names in an order the input picks, maybe with extras.
fn fields(inp: &mut Input, required: &[&str], extras: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = required.iter().map(|s| s.to_string()).collect();
    for e in extras {
        if inp.byte().is_multiple_of(2) {
            out.push(e.to_string());
        }
    }
    for i in (1..out.len()).rev() {
        let j = inp.byte() as usize % (i + 1);
        out.swap(i, j);
    }
    out
}

fn generate(inp: &mut Input) -> Generated {
    let b = inp.byte();
    let broken = if b < 128 {
        None
    } else {
        Some(BROKEN[b as usize % BROKEN.len()])
    };
    let cut = (inp.byte() == 0xff).then(|| inp.u64() as usize);
    let mut node_fields = fields(inp, NODE_FIELDS, &["trace_node_id", "detachedness"]);
    let mut edge_fields = fields(inp, EDGE_FIELDS, &[]);
    let nf = node_fields.len();
    let ef = edge_fields.len();
    let pos = |list: &[String], name: &str| list.iter().position(|f| f == name).unwrap_or(0);
    let (n_type, n_name, n_id, n_size, n_edges) = (
        pos(&node_fields, "type"),
        pos(&node_fields, "name"),
        pos(&node_fields, "id"),
        pos(&node_fields, "self_size"),
        pos(&node_fields, "edge_count"),
    );
    let (e_type, e_name, e_to) = (
        pos(&edge_fields, "type"),
        pos(&edge_fields, "name_or_index"),
        pos(&edge_fields, "to_node"),
    );
    // shape: 0 random edges, 1 a chain (deep), 2 a star, 3 a chain of distinct classes
    let shape = inp.byte() % 4;
    let count = match shape {
        1 | 3 => 1 + (inp.byte() as usize | (inp.byte() as usize) << 8) % 1200,
        _ => 1 + inp.byte() as usize % 64,
    };
    let mut strings: Vec<String> = (0..1 + inp.byte() as usize % 40)
        .map(|i| match inp.byte() % 4 {
            0 => format!("k{i}"),
            1 => String::from_utf8_lossy(inp.bytes(12)).into_owned(),
            2 => format!("({i})"),
            _ => format!("[{i}]"),
        })
        .collect();
    if shape == 3 {
        // every link of the chain its own class: as many groups as nodes, each deep
        strings.extend((strings.len()..count).map(|i| format!("Class{i}")));
    }
    let ns = strings.len() as u64;
    // harmless variations: type lists longer than used, a string no one names
    let mut strings_json = strings.clone();
    let mut node_types: Vec<&str> = NODE_TYPES.to_vec();
    let mut edge_types: Vec<&str> = EDGE_TYPES.to_vec();
    if inp.byte().is_multiple_of(2) {
        node_types.push("object shape");
        edge_types.push("extra");
        strings_json.push("unused".into());
    }
    let mut nodes: Vec<u64> = Vec::with_capacity(count * nf);
    let mut edges: Vec<u64> = Vec::new();
    let mut node_names = Vec::with_capacity(count);
    for i in 0..count {
        let mut targets: Vec<(u64, u64, u64)> = Vec::new(); // (type, name, to)
        let random_edges = |inp: &mut Input, targets: &mut Vec<(u64, u64, u64)>| {
            for _ in 0..inp.byte() % 4 {
                let ty = inp.byte() as u64 % EDGE_TYPES.len() as u64;
                let to = inp.byte() as u64 % count as u64;
                targets.push((ty, inp.byte() as u64 % ns, to));
            }
        };
        match shape {
            1 | 3 if i + 1 < count => targets.push((2, i as u64 % ns, i as u64 + 1)),
            2 if i == 0 => {
                for t in 1..count as u64 {
                    targets.push((1, t, t));
                }
            }
            0 => random_edges(inp, &mut targets),
            _ => {}
        }
        let name = if shape == 3 {
            i as u64 % ns
        } else {
            inp.byte() as u64 % ns
        };
        node_names.push(name);
        let size = match inp.byte() % 4 {
            0 => u64::MAX - inp.byte() as u64,
            1 => inp.u64() >> (inp.byte() % 64),
            _ => inp.byte() as u64 * 8,
        };
        let id = if inp.byte().is_multiple_of(8) {
            inp.u64()
        } else {
            i as u64 * 2 + 1
        };
        let mut f = vec![0u64; nf];
        f[n_type] = inp.byte() as u64 % NODE_TYPES.len() as u64;
        f[n_name] = name;
        f[n_id] = id;
        f[n_size] = size;
        f[n_edges] = targets.len() as u64;
        nodes.extend(f);
        for (ty, name_or_index, to) in targets {
            let mut f = vec![0u64; ef];
            f[e_type] = ty;
            f[e_name] = name_or_index;
            f[e_to] = to * nf as u64;
            edges.extend(f);
        }
    }
    let node_count = nodes.len() / nf;
    let edge_count = edges.len() / ef;
    let mut head_node_count = json!(node_count);
    let mut head_edge_count = json!(edge_count);
    if inp.byte().is_multiple_of(4) {
        head_node_count = Value::Null;
        head_edge_count = Value::Null;
    }
    // the breakage, where the generated snapshot has what it needs for it
    let which = inp.byte() as usize;
    let at = |n: usize, k: usize| k % n.max(1);
    let broken = match broken {
        Some(Broken::MissingNodeField) => {
            let i = at(5, which);
            node_fields.retain(|f| f != NODE_FIELDS[i]);
            // the arrays keep their width: drop the column's name only (a wrong field list)
            node_fields.push("renamed".into());
            broken
        }
        Some(Broken::MissingEdgeField) => {
            let i = at(3, which);
            edge_fields.retain(|f| f != EDGE_FIELDS[i]);
            edge_fields.push("renamed".into());
            broken
        }
        Some(Broken::NodeCountLies) => {
            head_node_count =
                json!(node_count as u64 + 1 + inp.u64() % (u64::MAX - 1 - node_count as u64));
            broken
        }
        Some(Broken::EdgeCountLies) => {
            head_edge_count = json!(edge_count as u64 + 1 + inp.u64() % 1_000_000);
            broken
        }
        Some(Broken::HugeEdgeCount) => {
            let i = at(node_count, which);
            nodes[i * nf + n_edges] = u64::MAX - inp.byte() as u64;
            broken
        }
        Some(Broken::EdgeSumShort) if edge_count > 0 => {
            edges.truncate((edge_count - 1) * ef);
            head_edge_count = json!(edge_count - 1);
            broken
        }
        Some(Broken::EdgePastNodes) if edge_count > 0 => {
            let i = at(edge_count, which);
            edges[i * ef + e_to] = (node_count + inp.byte() as usize) as u64 * nf as u64
                + if inp.byte().is_multiple_of(2) {
                    0
                } else {
                    u64::MAX / 2
                };
            broken
        }
        Some(Broken::EdgeBetweenNodes) if edge_count > 0 => {
            let i = at(edge_count, which);
            edges[i * ef + e_to] += 1 + inp.byte() as u64 % (nf as u64 - 1);
            broken
        }
        Some(Broken::UnknownNodeType) => {
            let i = at(node_count, which);
            nodes[i * nf + n_type] = node_types.len() as u64 + inp.byte() as u64;
            broken
        }
        Some(Broken::UnknownEdgeType) if edge_count > 0 => {
            let i = at(edge_count, which);
            edges[i * ef + e_type] = edge_types.len() as u64 + inp.u64() % (u64::MAX / 2);
            broken
        }
        Some(Broken::NameOutOfRange) => {
            let i = at(node_count, which);
            nodes[i * nf + n_name] = strings_json.len() as u64 + inp.u64() % (u64::MAX / 2);
            broken
        }
        Some(Broken::RaggedNodes) => {
            nodes.push(inp.byte() as u64);
            broken
        }
        Some(Broken::NoNodes) => {
            nodes.clear();
            edges.clear();
            head_node_count = json!(0);
            head_edge_count = json!(0);
            broken
        }
        _ => None,
    };
    let mut head = json!({
        "meta": {
            "node_fields": node_fields,
            "node_types": [node_types, "string", "number"],
            "edge_fields": edge_fields,
            "edge_types": [edge_types, "string_or_number", "node"],
        },
    });
    if !head_node_count.is_null() {
        head["node_count"] = head_node_count;
    }
    if !head_edge_count.is_null() {
        head["edge_count"] = head_edge_count;
    }
    let json = json!({
        "snapshot": head,
        "nodes": nodes,
        "edges": edges,
        "strings": strings_json,
        "locations": [],
    });
    Generated {
        json,
        nodes: node_count,
        edges: edge_count,
        broken,
        cut,
    }
}
