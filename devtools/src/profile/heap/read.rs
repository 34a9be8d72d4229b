//! Reads a `.heapsnapshot` back (ours or V8's) for `heapdiff`, checking it against its own
//! `meta` so a truncated or corrupt file is an error, never a panic: field counts divide the
//! arrays, edge counts add up, every `to_node` points at a node and every name at a string.
//! [`parse`] takes bytes, so a fuzzer can call it directly.

use serde::Deserialize;

#[derive(Deserialize)]
struct Raw {
    snapshot: RawHead,
    nodes: Vec<u64>,
    edges: Vec<u64>,
    strings: Vec<String>,
}

#[derive(Deserialize)]
struct RawHead {
    meta: RawMeta,
    node_count: Option<u64>,
    edge_count: Option<u64>,
}

#[derive(Deserialize)]
struct RawMeta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
}

/// One object.
#[derive(Clone, Debug)]
pub struct Node {
    pub ty: u32,
    pub name: u32,
    pub id: u64,
    pub size: u64,
    pub first_edge: u32,
    pub edge_count: u32,
}

/// One reference, from the node whose edge range holds it.
#[derive(Clone, Debug)]
pub struct Edge {
    pub ty: u32,
    /// A string index, or the element's index for element (and hidden) edges.
    pub name_or_index: u64,
    /// The target's position in [`Snapshot::nodes`].
    pub to: u32,
}

/// A snapshot, checked.
#[derive(Debug)]
pub struct Snapshot {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub strings: Vec<String>,
    pub node_types: Vec<String>,
    pub edge_types: Vec<String>,
}

impl Snapshot {
    pub fn node_type(&self, n: &Node) -> &str {
        self.node_types.get(n.ty as usize).map_or("?", |s| s)
    }

    pub fn edge_type(&self, e: &Edge) -> &str {
        self.edge_types.get(e.ty as usize).map_or("?", |s| s)
    }

    pub fn name(&self, n: &Node) -> &str {
        self.strings.get(n.name as usize).map_or("?", |s| s)
    }

    /// The edges of node `i`.
    pub fn edges_of(&self, i: usize) -> &[Edge] {
        let n = &self.nodes[i];
        let start = n.first_edge as usize;
        &self.edges[start..start + n.edge_count as usize]
    }
}

fn position(fields: &[String], name: &str, what: &str) -> Result<usize, String> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| format!("{what} has no '{name}'"))
}

fn type_names(types: &[serde_json::Value], what: &str) -> Result<Vec<String>, String> {
    match types.first().and_then(|t| t.as_array()) {
        Some(list) => Ok(list
            .iter()
            .map(|v| v.as_str().unwrap_or("?").to_string())
            .collect()),
        None => Err(format!("{what}[0] is not the list of type names")),
    }
}

/// Parses and checks a snapshot.
pub fn parse(bytes: &[u8]) -> Result<Snapshot, String> {
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            format!("truncated: {e}")
        } else {
            format!("not a heap snapshot: {e}")
        }
    })?;
    let meta = &raw.snapshot.meta;
    let nf = meta.node_fields.len();
    let ef = meta.edge_fields.len();
    let (n_type, n_name, n_id, n_size, n_edges) = (
        position(&meta.node_fields, "type", "node_fields")?,
        position(&meta.node_fields, "name", "node_fields")?,
        position(&meta.node_fields, "id", "node_fields")?,
        position(&meta.node_fields, "self_size", "node_fields")?,
        position(&meta.node_fields, "edge_count", "node_fields")?,
    );
    let (e_type, e_name, e_to) = (
        position(&meta.edge_fields, "type", "edge_fields")?,
        position(&meta.edge_fields, "name_or_index", "edge_fields")?,
        position(&meta.edge_fields, "to_node", "edge_fields")?,
    );
    let node_types = type_names(&meta.node_types, "node_types")?;
    let edge_types = type_names(&meta.edge_types, "edge_types")?;
    if !raw.nodes.len().is_multiple_of(nf) {
        return Err(format!(
            "the nodes array ({} numbers) is not a multiple of {nf} fields",
            raw.nodes.len()
        ));
    }
    if !raw.edges.len().is_multiple_of(ef) {
        return Err(format!(
            "the edges array ({} numbers) is not a multiple of {ef} fields",
            raw.edges.len()
        ));
    }
    let count = raw.nodes.len() / nf;
    if raw.snapshot.node_count.is_some_and(|c| c != count as u64) {
        return Err(format!(
            "node_count says {:?} but the file has {count} nodes",
            raw.snapshot.node_count
        ));
    }
    let edge_total = raw.edges.len() / ef;
    if raw
        .snapshot
        .edge_count
        .is_some_and(|c| c != edge_total as u64)
    {
        return Err(format!(
            "edge_count says {:?} but the file has {edge_total} edges",
            raw.snapshot.edge_count
        ));
    }
    if count > u32::MAX as usize || edge_total > u32::MAX as usize {
        return Err(format!(
            "{count} nodes and {edge_total} edges: too many to read"
        ));
    }
    if count == 0 {
        return Err("no nodes (not even the root)".into());
    }
    let strings = raw.strings.len() as u64;
    let mut nodes = Vec::with_capacity(count);
    let mut first = 0u64;
    for (i, f) in raw.nodes.chunks_exact(nf).enumerate() {
        if f[n_type] >= node_types.len() as u64 {
            return Err(format!("node {i} has an unknown type {}", f[n_type]));
        }
        if f[n_name] >= strings {
            return Err(format!("node {i} names string {} of {strings}", f[n_name]));
        }
        let ec = f[n_edges];
        if ec > edge_total as u64 - first {
            return Err(format!(
                "node {i}'s edges run past the edges array ({edge_total} edges)"
            ));
        }
        nodes.push(Node {
            ty: f[n_type] as u32,
            name: f[n_name] as u32,
            id: f[n_id],
            size: f[n_size],
            first_edge: first as u32,
            edge_count: ec as u32,
        });
        first += ec;
    }
    if first != edge_total as u64 {
        return Err(format!(
            "the nodes' edge counts add up to {first}, the edges array has {edge_total}"
        ));
    }
    let element = edge_types.iter().position(|t| t == "element");
    let hidden = edge_types.iter().position(|t| t == "hidden");
    let mut edges = Vec::with_capacity(edge_total);
    for (i, f) in raw.edges.chunks_exact(ef).enumerate() {
        let ty = f[e_type];
        if ty >= edge_types.len() as u64 {
            return Err(format!("edge {i} has an unknown type {ty}"));
        }
        let to = f[e_to];
        if to % nf as u64 != 0 || to / nf as u64 >= count as u64 {
            return Err(format!("edge {i} points at {to}, not at a node"));
        }
        let by_index = Some(ty as usize) == element || Some(ty as usize) == hidden;
        if !by_index && f[e_name] >= strings {
            return Err(format!("edge {i} names string {} of {strings}", f[e_name]));
        }
        edges.push(Edge {
            ty: ty as u32,
            name_or_index: f[e_name],
            to: (to / nf as u64) as u32,
        });
    }
    Ok(Snapshot {
        nodes,
        edges,
        strings: raw.strings,
        node_types,
        edge_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],
        "node_types":[["synthetic","object"]],"edge_fields":["type","name_or_index","to_node"],
        "edge_types":[["element","property"]]},"node_count":2,"edge_count":1},
        "nodes":[0,0,1,0,1, 1,1,3,64,0],"edges":[1,2,5],"strings":["","table","_G"]}"#;

    #[test]
    fn a_consistent_snapshot_reads() {
        let s = parse(SMALL.as_bytes()).unwrap();
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.edges_of(0)[0].to, 1);
        assert_eq!(s.name(&s.nodes[1]), "table");
    }

    #[test]
    fn broken_snapshots_are_errors_not_panics() {
        for cut in [10, SMALL.len() / 2, SMALL.len() - 3] {
            let e = parse(&SMALL.as_bytes()[..cut]).unwrap_err();
            assert!(e.contains("truncated"), "{cut}: {e}");
        }
        let bad_target = SMALL.replace("[1,2,5]", "[1,2,7]");
        assert!(parse(bad_target.as_bytes())
            .unwrap_err()
            .contains("not at a node"));
        let bad_count = SMALL.replace("1,1,3,64,0]", "1,1,3,64,5]");
        assert!(parse(bad_count.as_bytes()).is_err());
        let bad_name = SMALL.replace("[1,2,5]", "[1,9,5]");
        assert!(parse(bad_name.as_bytes()).unwrap_err().contains("string"));
        assert!(parse(b"\xff\x00garbage").is_err());
        assert!(parse(b"{}").is_err());
    }

    /// Fuzz (tests/fuzz/regressions/heapsnapshot/): an edge count near 2^64 overflowed the
    /// running sum of edge counts (a panic in debug builds).
    #[test]
    fn heapsnapshot_huge_edge_count_is_an_error() {
        let huge = SMALL.replace("[0,0,1,0,1,", "[0,0,1,0,18446744073709551615,");
        let e = parse(huge.as_bytes()).unwrap_err();
        assert!(e.contains("run past the edges"), "{e}");
    }

    #[test]
    fn no_mutation_of_a_snapshot_panics_the_reader() {
        let good = SMALL.as_bytes();
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err());
        }
        // every byte replaced by a few others (digits change numbers, brackets the shape)
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for i in 0..good.len() {
            for b in [b'0', b'7', b'9', b']', b'[', b',', b'"', b'-', 0xff] {
                let mut m = good.to_vec();
                m[i] = b;
                let _ = parse(&m);
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut m = good.to_vec();
            m.insert(i, b"0123456789[]{},-\"e."[(seed % 19) as usize]);
            let _ = parse(&m);
        }
    }
}
