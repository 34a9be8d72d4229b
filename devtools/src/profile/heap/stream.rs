//! The `.heapsnapshot` file, streamed: the walker hands nodes and edges over one at a time and
//! they go to unlinked temporary files next to the output (fixed-size binary records), strings
//! likewise. Chrome's format puts the node and edge counts first and wants each edge's target as
//! an index into the node array, both known only once the walk is over; so [`Sink::finish`]
//! ranks the walked addresses, maps rank to node index in a `u32` array, and copies the records
//! into the JSON file with the targets resolved. What stays in memory is the address set (about
//! 1/64 of the heap), that array (4 bytes a node) and a fixed-size cache of names.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::addrset::AddrSet;
use super::labels::CLASS_BASE;

/// Chrome's node types, in its order.
pub const NODE_TYPES: [&str; 15] = [
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
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
pub const N_STRING: u8 = 2;
pub const N_OBJECT: u8 = 3;
pub const N_CLOSURE: u8 = 5;
pub const N_NATIVE: u8 = 8;
pub const N_SYNTHETIC: u8 = 9;

/// Chrome's edge types, in its order.
pub const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];
pub const E_CONTEXT: u8 = 0;
pub const E_ELEMENT: u8 = 1;
pub const E_PROPERTY: u8 = 2;
pub const E_INTERNAL: u8 = 3;
pub const E_WEAK: u8 = 6;

/// Fields of a node in the `nodes` array (V8's current list).
pub const NODE_FIELDS: usize = 7;
const NODE_REC: usize = 1 + 4 + 4 + 8 + 4 + 8;
const EDGE_REC: usize = 1 + 4 + 8;

/// What a finished snapshot holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    pub nodes: u64,
    pub edges: u64,
    /// The sum of the nodes' self sizes.
    pub bytes: u64,
}

/// Receives the walk and writes the file.
pub struct Sink {
    out: PathBuf,
    nodes: BufWriter<File>,
    edges: BufWriter<File>,
    strings: BufWriter<File>,
    pub node_count: u64,
    pub edge_count: u64,
    bytes: u64,
    string_count: u32,
    names: NameCache,
}

/// Names already written, in a fixed-size direct-mapped cache: a million distinct keys (a
/// cache table keyed by session id) must not grow a map as big as a fifth of the heap, and a
/// key pushed out only costs a repeated string in the file.
struct NameCache {
    slots: Vec<(u64, u32)>,
}

const NAME_SLOTS_LOG2: u32 = 15;

impl NameCache {
    fn new() -> NameCache {
        NameCache {
            slots: vec![(0, 0); 1 << NAME_SLOTS_LOG2],
        }
    }

    fn slot(&mut self, key: u64) -> &mut (u64, u32) {
        let i = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - NAME_SLOTS_LOG2);
        &mut self.slots[i as usize]
    }
}

/// The cache key of a text: its FNV-1a hash, top bit set (pointers never have it).
fn text_key(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1 << 63
}

/// A scratch file beside `out`, already unlinked: it vanishes with its handle.
fn scratch(out: &Path, tag: &str) -> io::Result<File> {
    let name = format!(
        "{}.{tag}.{}.tmp",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "heapsnapshot".into()),
        std::process::id()
    );
    let path = out.with_file_name(name);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

const BUF: usize = 1 << 17;

impl Sink {
    /// Opens the scratch files beside `out` (which is written only by [`Sink::finish`]).
    pub fn create(out: &Path) -> io::Result<Sink> {
        let mut s = Sink {
            out: out.to_path_buf(),
            nodes: BufWriter::with_capacity(BUF, scratch(out, "nodes")?),
            edges: BufWriter::with_capacity(BUF, scratch(out, "edges")?),
            strings: BufWriter::with_capacity(BUF, scratch(out, "strings")?),
            node_count: 0,
            edge_count: 0,
            bytes: 0,
            string_count: 0,
            names: NameCache::new(),
        };
        s.string("")?;
        Ok(s)
    }

    fn push_string(&mut self, text: &str) -> io::Result<u32> {
        if self.string_count > 0 {
            self.strings.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut self.strings, text)?;
        self.string_count += 1;
        Ok(self.string_count - 1)
    }

    /// A name given as text (stored once while it stays in the cache).
    pub fn string(&mut self, text: &str) -> io::Result<u32> {
        let key = text_key(text);
        let slot = *self.names.slot(key);
        if slot.0 == key {
            return Ok(slot.1);
        }
        let i = self.push_string(text)?;
        *self.names.slot(key) = (key, i);
        Ok(i)
    }

    /// A name taken from an interned Lua string at `ptr` (cached by address).
    pub fn lua_string(&mut self, ptr: u64, bytes: &[u8]) -> io::Result<u32> {
        let key = ptr & !(1 << 63);
        let slot = *self.names.slot(key);
        if slot.0 == key && key != 0 {
            return Ok(slot.1);
        }
        let i = self.push_string(&String::from_utf8_lossy(bytes))?;
        *self.names.slot(key) = (key, i);
        Ok(i)
    }

    /// A string stored without looking for an equal one (a string node's content: Lua interns
    /// strings, so each is written once anyway).
    pub fn unique_string(&mut self, text: &str) -> io::Result<u32> {
        self.push_string(text)
    }

    /// A node; its `edges` edges were handed over just before it, since the last node.
    pub fn node(
        &mut self,
        ty: u8,
        name: u32,
        id: u32,
        size: u64,
        edges: u32,
        addr: u64,
    ) -> io::Result<()> {
        let mut rec = [0u8; NODE_REC];
        rec[0] = ty;
        rec[1..5].copy_from_slice(&name.to_le_bytes());
        rec[5..9].copy_from_slice(&id.to_le_bytes());
        rec[9..17].copy_from_slice(&size.to_le_bytes());
        rec[17..21].copy_from_slice(&edges.to_le_bytes());
        rec[21..29].copy_from_slice(&addr.to_le_bytes());
        self.node_count += 1;
        self.bytes += size;
        self.nodes.write_all(&rec)
    }

    /// An edge of the node handed over next, to the object at `target`.
    pub fn edge(&mut self, ty: u8, name_or_index: u32, target: u64) -> io::Result<()> {
        let mut rec = [0u8; EDGE_REC];
        rec[0] = ty;
        rec[1..5].copy_from_slice(&name_or_index.to_le_bytes());
        rec[5..13].copy_from_slice(&target.to_le_bytes());
        self.edge_count += 1;
        self.edges.write_all(&rec)
    }

    /// Writes the JSON file: `seen` holds the address of every node but the first (the root);
    /// `classes` are the names of the class indices ([`CLASS_BASE`] + i) given to nodes.
    pub fn finish(mut self, seen: AddrSet, classes: &[String]) -> io::Result<Written> {
        let class_at = self.string_count;
        for c in classes {
            self.push_string(c)?;
        }
        let rank = seen.ranked();
        let mut nodes = rewind(self.nodes)?;
        let mut index = vec![u32::MAX; rank.len()];
        let mut rec = [0u8; NODE_REC];
        for i in 0..self.node_count {
            nodes.read_exact(&mut rec)?;
            let addr = u64::from_le_bytes(rec[21..29].try_into().unwrap_or_default());
            if i > 0 {
                if let Some(r) = rank.rank(addr) {
                    index[r as usize] = i as u32;
                }
            }
        }
        nodes.seek(SeekFrom::Start(0))?;
        let partial = self.out.with_file_name(format!(
            "{}.partial",
            self.out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let mut out = BufWriter::with_capacity(BUF, File::create(&partial)?);
        let written = (|| -> io::Result<()> {
            write_header(&mut out, self.node_count, self.edge_count)?;
            let mut num = itoa::Buffer::new();
            out.write_all(b"\"nodes\":[")?;
            for i in 0..self.node_count {
                nodes.read_exact(&mut rec)?;
                let field = |a: usize, b: usize| -> u64 {
                    let mut v = [0u8; 8];
                    v[..b - a].copy_from_slice(&rec[a..b]);
                    u64::from_le_bytes(v)
                };
                let mut name = field(1, 5);
                if name >= CLASS_BASE as u64 {
                    name = name - CLASS_BASE as u64 + class_at as u64;
                }
                let values = [
                    rec[0] as u64,
                    name,
                    field(5, 9),
                    field(9, 17),
                    field(17, 21),
                    0,
                    0,
                ];
                if i > 0 {
                    out.write_all(b",\n")?;
                }
                for (k, v) in values.iter().enumerate() {
                    if k > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(num.format(*v).as_bytes())?;
                }
            }
            out.write_all(b"],\n\"edges\":[")?;
            let mut edges = rewind(self.edges)?;
            let mut e = [0u8; EDGE_REC];
            for i in 0..self.edge_count {
                edges.read_exact(&mut e)?;
                let name = u32::from_le_bytes(e[1..5].try_into().unwrap_or_default());
                let target = u64::from_le_bytes(e[5..13].try_into().unwrap_or_default());
                // every target was walked; were one missing, the root stands in
                let to = rank
                    .rank(target)
                    .map(|r| index[r as usize])
                    .filter(|&n| n != u32::MAX)
                    .unwrap_or(0) as u64;
                if i > 0 {
                    out.write_all(b",\n")?;
                }
                out.write_all(num.format(e[0]).as_bytes())?;
                out.write_all(b",")?;
                out.write_all(num.format(name).as_bytes())?;
                out.write_all(b",")?;
                out.write_all(num.format(to * NODE_FIELDS as u64).as_bytes())?;
            }
            out.write_all(
                b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[",
            )?;
            let mut strings = rewind(self.strings)?;
            io::copy(&mut strings, &mut out)?;
            out.write_all(b"]}\n")?;
            out.flush()
        })();
        if let Err(e) = written.and_then(|_| std::fs::rename(&partial, &self.out)) {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        Ok(Written {
            nodes: self.node_count,
            edges: self.edge_count,
            bytes: self.bytes,
        })
    }
}

fn rewind(w: BufWriter<File>) -> io::Result<BufReader<File>> {
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(0))?;
    Ok(BufReader::with_capacity(BUF, f))
}

fn write_header(out: &mut impl Write, nodes: u64, edges: u64) -> io::Result<()> {
    let meta = serde_json::json!({
        "node_fields": ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"],
        "node_types": [NODE_TYPES, "string", "number", "number", "number", "number", "number"],
        "edge_fields": ["type", "name_or_index", "to_node"],
        "edge_types": [EDGE_TYPES, "string_or_number", "node"],
        "trace_function_info_fields": ["function_id", "name", "script_name", "script_id", "line", "column"],
        "trace_node_fields": ["id", "function_info_index", "count", "size", "children"],
        "sample_fields": ["timestamp_us", "last_assigned_id"],
        "location_fields": ["object_index", "script_id", "line", "column"],
    });
    let head = serde_json::json!({
        "meta": meta,
        "node_count": nodes,
        "edge_count": edges,
        "trace_function_count": 0,
    });
    writeln!(out, "{{\"snapshot\":{head},")
}
