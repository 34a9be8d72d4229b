//! `luvit heapdiff A B [--json]`: what grew between two snapshots of one process. Objects are
//! matched by node id (ours are stable: address and type); the objects only in B are counted
//! and summed by type and class, largest first, each group with the path from a root to one of
//! its objects (the nearest to a root), e.g. `_G.cache[12034]` or
//! `registry._LOADED.app.(upvalue sessions)[7]`. Objects found in both whose size grew (a
//! cache table filling up) are listed too.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde_json::{json, Value};

use super::read::{self, Snapshot};

/// The snapshot reader, here too for fuzzers: bytes in, a checked snapshot or a message out.
pub use super::read::parse;

/// New objects of one type and class.
#[derive(Clone, Debug)]
pub struct Group {
    pub ty: String,
    pub class: String,
    pub count: u64,
    pub bytes: u64,
    /// From a root to the group's object nearest to one (`None`: unreachable).
    pub path: Option<String>,
}

/// An object in both snapshots that got bigger.
#[derive(Clone, Debug)]
pub struct Grown {
    pub ty: String,
    pub class: String,
    pub before: u64,
    pub after: u64,
    pub path: Option<String>,
}

/// The difference B - A.
#[derive(Clone, Debug, Default)]
pub struct Diff {
    pub a_nodes: u64,
    pub a_bytes: u64,
    pub b_nodes: u64,
    pub b_bytes: u64,
    pub new_count: u64,
    pub new_bytes: u64,
    pub gone_count: u64,
    pub gone_bytes: u64,
    pub groups: Vec<Group>,
    pub grown: Vec<Grown>,
}

/// Shortest paths from the root (node 0) by strong edges, then for what only weak edges hold,
/// through them: each node's parent edge and node, its depth, and its ancestor at depth
/// [`PATH_HEAD`] (so a deep path is cut in constant time).
struct Paths {
    parent: Vec<u32>,
    from: Vec<u32>,
    depth: Vec<u32>,
    anchor: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// A path deeper than `PATH_HEAD + PATH_TAIL` steps shows its first `PATH_HEAD` steps (from
/// the root) and its last `PATH_TAIL` (to the object), with the count of those left out.
const PATH_HEAD: usize = 16;
const PATH_TAIL: usize = 8;

/// A name longer than this is cut in a path step (a snapshot's strings can be any length).
const STEP_NAME_MAX: usize = 64;

fn paths(s: &Snapshot) -> Paths {
    let n = s.nodes.len();
    let mut parent = vec![NONE; n];
    let mut from = vec![NONE; n];
    let mut depth = vec![NONE; n];
    let weak = s.edge_types.iter().position(|t| t == "weak");
    let mut queue = VecDeque::from([0usize]);
    let mut reached = Vec::new();
    // breadth-first order: a node comes after its parent
    let mut order = vec![0usize];
    depth[0] = 0;
    // strong edges first; then what only weak references hold, through them
    for allow_weak in [false, true] {
        if allow_weak {
            queue.extend(reached.iter().copied());
        }
        while let Some(i) = queue.pop_front() {
            if !allow_weak {
                reached.push(i);
            }
            let first = s.nodes[i].first_edge;
            for (k, e) in s.edges_of(i).iter().enumerate() {
                let to = e.to as usize;
                if depth[to] != NONE || (!allow_weak && Some(e.ty as usize) == weak) {
                    continue;
                }
                depth[to] = depth[i] + 1;
                parent[to] = first + k as u32;
                from[to] = i as u32;
                queue.push_back(to);
                order.push(to);
            }
        }
    }
    let mut anchor = vec![NONE; n];
    for i in order {
        anchor[i] = if depth[i] as usize <= PATH_HEAD {
            i as u32
        } else {
            anchor[from[i] as usize]
        };
    }
    Paths {
        parent,
        from,
        depth,
        anchor,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// One step of a path, as Lua would write it where it can.
fn step(s: &Snapshot, from: usize, e: &read::Edge) -> String {
    let name = || {
        let full = s
            .strings
            .get(e.name_or_index as usize)
            .map_or("", |n| n.as_str());
        match full.char_indices().nth(STEP_NAME_MAX) {
            Some((cut, _)) => format!("{}...", &full[..cut]),
            None => full.to_string(),
        }
    };
    match s.edge_type(e) {
        "element" | "hidden" => format!("[{}]", e.name_or_index),
        _ if from == 0 => name(),
        "property" => {
            let n = name();
            if is_identifier(&n) {
                format!(".{n}")
            } else if n.starts_with('[') {
                n
            } else {
                format!("[{}]", serde_json::Value::String(n))
            }
        }
        "context" if s.node_type(&s.nodes[from]) == "closure" => format!(".(upvalue {})", name()),
        "context" => format!(".(local {})", name()),
        "weak" => format!(".(weak {})", name()),
        _ => {
            let n = name();
            if n.starts_with('(') {
                format!(".{n}")
            } else {
                format!(".({n})")
            }
        }
    }
}

/// The steps from `node` up `count` parents, nearest the root first.
fn steps_up(s: &Snapshot, p: &Paths, mut node: usize, count: usize) -> Vec<String> {
    let mut steps = Vec::with_capacity(count);
    while node != 0 && steps.len() < count {
        let from = p.from[node] as usize;
        steps.push(step(s, from, &s.edges[p.parent[node] as usize]));
        node = from;
    }
    steps.reverse();
    steps
}

/// The path from the root to `node` as Lua would write it (`None`: unreachable), cut in the
/// middle when deeper than `PATH_HEAD + PATH_TAIL` steps.
fn path_to(s: &Snapshot, p: &Paths, node: usize) -> Option<String> {
    if node != 0 && p.parent[node] == NONE {
        return None;
    }
    let depth = p.depth[node] as usize;
    if depth <= PATH_HEAD + PATH_TAIL {
        return Some(steps_up(s, p, node, depth).concat());
    }
    let head = steps_up(s, p, p.anchor[node] as usize, PATH_HEAD);
    let tail = steps_up(s, p, node, PATH_TAIL);
    let skipped = depth - PATH_HEAD - PATH_TAIL;
    Some(format!(
        "{}.(... {skipped} steps){}",
        head.concat(),
        tail.concat()
    ))
}

/// The class a node is counted under: its name, but strings all count as `(string)`.
fn class_of(s: &Snapshot, n: &read::Node) -> String {
    match s.node_type(n) {
        "string" | "concatenated string" | "sliced string" => "(string)".into(),
        _ => s.name(n).to_string(),
    }
}

/// The sum of the nodes' sizes (saturating: a file can say any size).
fn total(s: &Snapshot) -> u64 {
    s.nodes.iter().fold(0u64, |t, n| t.saturating_add(n.size))
}

/// Compares two snapshots of one process.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Diff {
    let before: HashMap<u64, u64> = a.nodes.iter().map(|n| (n.id, n.size)).collect();
    let p = paths(b);
    let mut d = Diff {
        a_nodes: a.nodes.len() as u64,
        a_bytes: total(a),
        b_nodes: b.nodes.len() as u64,
        b_bytes: total(b),
        ..Default::default()
    };
    // (type, class) -> (count, bytes, nearest node)
    let mut groups: HashMap<(String, String), (u64, u64, usize)> = HashMap::new();
    let mut grown = Vec::new();
    let mut kept = 0u64;
    let mut kept_bytes = 0u64;
    for (i, n) in b.nodes.iter().enumerate().skip(1) {
        match before.get(&n.id) {
            Some(&old) => {
                kept += 1;
                kept_bytes = kept_bytes.saturating_add(old);
                if n.size > old {
                    grown.push((n.size - old, i, old));
                }
            }
            None => {
                d.new_count += 1;
                d.new_bytes = d.new_bytes.saturating_add(n.size);
                let key = (b.node_type(n).to_string(), class_of(b, n));
                let g = groups.entry(key).or_insert((0, 0, i));
                g.0 += 1;
                g.1 = g.1.saturating_add(n.size);
                if p.depth[i] < p.depth[g.2] {
                    g.2 = i;
                }
            }
        }
    }
    d.gone_count = d.a_nodes.saturating_sub(1).saturating_sub(kept);
    d.gone_bytes = d.a_bytes.saturating_sub(kept_bytes);
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|((ty, class), (count, bytes, sample))| Group {
            ty,
            class,
            count,
            bytes,
            path: path_to(b, &p, sample),
        })
        .collect();
    groups.sort_by(|x, y| {
        (y.bytes, y.count, &x.ty, &x.class).cmp(&(x.bytes, x.count, &y.ty, &y.class))
    });
    d.groups = groups;
    grown.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    d.grown = grown
        .into_iter()
        .take(20)
        .map(|(_, i, old)| {
            let n = &b.nodes[i];
            Grown {
                ty: b.node_type(n).to_string(),
                class: class_of(b, n),
                before: old,
                after: n.size,
                path: path_to(b, &p, i),
            }
        })
        .collect();
    d
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1048576.0 {
        format!("{:.1} MB", b / 1048576.0)
    } else if b >= 1024.0 {
        format!("{:.1} kB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// The report for a terminal: totals, then the top groups and the grown objects.
pub fn render_text(d: &Diff, a: &str, b: &str) -> String {
    let mut out = format!(
        "heapdiff {a} ({} objects, {}) -> {b} ({} objects, {})\n\
         new: {} objects, {}; gone: {} objects, {}\n\n",
        d.a_nodes,
        human(d.a_bytes),
        d.b_nodes,
        human(d.b_bytes),
        d.new_count,
        human(d.new_bytes),
        d.gone_count,
        human(d.gone_bytes),
    );
    if d.groups.is_empty() {
        out.push_str("no new objects\n");
    } else {
        out.push_str(&format!(
            "{:>9} {:>12}  {:<8} {:<32} path to one of them\n",
            "count", "bytes", "type", "class"
        ));
        for g in d.groups.iter().take(30) {
            out.push_str(&format!(
                "{:>9} {:>12}  {:<8} {:<32} {}\n",
                format!("+{}", g.count),
                format!("+{}", g.bytes),
                g.ty,
                g.class,
                g.path.as_deref().unwrap_or("(unreachable)")
            ));
        }
        if d.groups.len() > 30 {
            out.push_str(&format!(
                "... {} more groups (--json lists all)\n",
                d.groups.len() - 30
            ));
        }
    }
    if !d.grown.is_empty() {
        out.push_str("\ngrown objects (in both snapshots):\n");
        for g in d.grown.iter().take(10) {
            out.push_str(&format!(
                "{:>12}  {:<8} {:<32} {}\n",
                format!("+{}", g.after - g.before),
                g.ty,
                g.class,
                g.path.as_deref().unwrap_or("(unreachable)")
            ));
        }
    }
    out
}

/// The report as JSON (what tools and tests read).
pub fn to_json(d: &Diff) -> Value {
    json!({
        "a": {"objects": d.a_nodes, "bytes": d.a_bytes},
        "b": {"objects": d.b_nodes, "bytes": d.b_bytes},
        "new": {"objects": d.new_count, "bytes": d.new_bytes},
        "gone": {"objects": d.gone_count, "bytes": d.gone_bytes},
        "groups": d.groups.iter().map(|g| json!({
            "type": g.ty, "class": g.class, "count": g.count, "bytes": g.bytes, "path": g.path,
        })).collect::<Vec<_>>(),
        "grown": d.grown.iter().map(|g| json!({
            "type": g.ty, "class": g.class, "before": g.before, "after": g.after, "path": g.path,
        })).collect::<Vec<_>>(),
    })
}

const USAGE: &str = "usage: luvit heapdiff A.heapsnapshot B.heapsnapshot [--json]";

fn load(path: &str) -> Result<Snapshot, String> {
    let bytes = std::fs::read(Path::new(path))
        .map_err(|e| format!("luvit heapdiff: cannot read {path}: {e}"))?;
    read::parse(&bytes).map_err(|e| format!("luvit heapdiff: {path}: {e}"))
}

/// The `luvit heapdiff` command (arguments after `heapdiff`); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let json_out = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().filter(|a| *a != "--json").collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    if files.len() != 2 || files.iter().any(|f| f.starts_with("--")) {
        eprintln!("{USAGE}");
        return 2;
    }
    let (a, b) = match (load(files[0]), load(files[1])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let d = diff(&a, &b);
    if json_out {
        println!("{}", to_json(&d));
    } else {
        print!("{}", render_text(&d, files[0], files[1]));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// root -_G-> globals -cache-> list -[1]-> item, -[2]-> item; `new` adds ids 6 and 7.
    fn snapshot(items: &[(u64, u64)]) -> Snapshot {
        let mut nodes = vec![
            9,
            0,
            1,
            0,
            1,
            3,
            1,
            2,
            64,
            1,
            3,
            2,
            3,
            64,
            items.len() as u64,
        ];
        let mut edges = vec![2, 3, 5, 2, 4, 10];
        for (i, (id, size)) in items.iter().enumerate() {
            nodes.extend([3, 5, *id, *size, 0]);
            edges.extend([1, i as u64 + 1, 15 + 5 * i as u64]);
        }
        let text = serde_json::json!({
            "snapshot": {"meta": {
                "node_fields": ["type", "name", "id", "self_size", "edge_count"],
                "node_types": [["hidden", "array", "string", "object", "code", "closure", "regexp",
                    "number", "native", "synthetic"]],
                "edge_fields": ["type", "name_or_index", "to_node"],
                "edge_types": [["context", "element", "property", "internal", "hidden", "shortcut",
                    "weak"]]}},
            "nodes": nodes, "edges": edges,
            "strings": ["(root)", "table", "(anonymous class)", "_G", "cache", "Session"],
        });
        read::parse(text.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn new_objects_group_by_class_with_a_lua_path_from_the_root() {
        let a = snapshot(&[(4, 40)]);
        let b = snapshot(&[(4, 40), (6, 48), (7, 48)]);
        let d = diff(&a, &b);
        assert_eq!((d.new_count, d.new_bytes, d.gone_count), (2, 96, 0));
        assert_eq!(d.groups.len(), 1);
        let g = &d.groups[0];
        assert_eq!(
            (g.ty.as_str(), g.class.as_str(), g.count),
            ("object", "Session", 2)
        );
        assert_eq!(g.path.as_deref(), Some("_G.cache[2]"));
        let text = render_text(&d, "a", "b");
        assert!(
            text.contains("Session") && text.contains("_G.cache[2]"),
            "{text}"
        );
        assert_eq!(to_json(&d)["groups"][0]["count"], 2);
        assert!(render_text(&diff(&b, &b), "b", "b").contains("no new objects"));
    }

    /// Fuzz (tests/fuzz/regressions/heapsnapshot/): sizes near 2^64 overflowed the sums (a
    /// panic in debug builds, wrong totals in release); they saturate.
    #[test]
    fn heapdiff_huge_sizes_saturate() {
        let a = snapshot(&[(4, u64::MAX)]);
        let b = snapshot(&[(4, u64::MAX), (6, u64::MAX), (7, u64::MAX - 1)]);
        let d = diff(&a, &b);
        assert_eq!(
            (d.a_bytes, d.b_bytes, d.new_bytes),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        assert_eq!(d.groups[0].bytes, u64::MAX);
        assert!(render_text(&d, "a", "b").contains("+2"));
    }

    /// root -> 1 -> 2 -> ... -> n-1, each link its own class.
    fn chain(n: u64) -> Snapshot {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut strings = vec!["(root)".to_string(), "next".to_string()];
        for i in 0..n {
            strings.push(format!("Link{i}"));
            nodes.extend([3, i + 2, i * 2 + 1, 40, u64::from(i + 1 < n)]);
            if i + 1 < n {
                edges.extend([2, 1, (i + 1) * 5]);
            }
        }
        let text = serde_json::json!({
            "snapshot": {"meta": {
                "node_fields": ["type", "name", "id", "self_size", "edge_count"],
                "node_types": [["hidden", "array", "string", "object"]],
                "edge_fields": ["type", "name_or_index", "to_node"],
                "edge_types": [["context", "element", "property", "internal"]]}},
            "nodes": nodes, "edges": edges, "strings": strings,
        });
        read::parse(text.to_string().as_bytes()).unwrap()
    }

    /// Fuzz (tests/fuzz/regressions/heapsnapshot/): a chain of 3,000 objects of distinct
    /// classes made every group's path thousands of steps long (a 145 kB snapshot gave a 30 MB
    /// report, quadratic in the depth). Deep paths show their ends and count the middle.
    #[test]
    fn heapdiff_deep_paths_stay_short() {
        let b = chain(5000);
        let d = diff(&chain(1), &b);
        assert_eq!(d.groups.len(), 4999);
        let json = to_json(&d).to_string();
        assert!(json.len() < 4 << 20, "{} bytes", json.len());
        let deepest = d.groups.iter().find(|g| g.class == "Link4999").unwrap();
        let path = deepest.path.as_deref().unwrap();
        let expected = format!(
            "{}.(... {} steps){}",
            "next".to_string() + &".next".repeat(PATH_HEAD - 1),
            4999 - PATH_HEAD - PATH_TAIL,
            ".next".repeat(PATH_TAIL)
        );
        assert_eq!(path, expected);
        let shallow = d.groups.iter().find(|g| g.class == "Link3").unwrap();
        assert_eq!(shallow.path.as_deref(), Some("next.next.next"));
    }

    #[test]
    fn long_names_are_cut_in_paths() {
        let mut s = chain(3);
        s.strings[1] = "k".repeat(1000);
        let p = paths(&s);
        let path = path_to(&s, &p, 2).unwrap();
        assert!(path.len() < 200 && path.contains("..."), "{path}");
    }

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert!(is_identifier("_G") && is_identifier("a1") && !is_identifier("1a"));
        assert!(!is_identifier("a-b") && !is_identifier(""));
    }
}
