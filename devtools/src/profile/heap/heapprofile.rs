//! The sampling heap profile's files: `.heapprofile` (Chrome's sampling heap profile: a
//! `head` call tree whose nodes carry the bytes sampled there as `selfSize`, and the `samples`
//! with `size`, `nodeId` and `ordinal`; Chrome DevTools' Memory panel and VS Code open it) and
//! beside it a memory flamegraph `.svg` drawn by inferno (bytes allocated per stack).

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::sampler::HeapProfile;
use crate::profile::cpu::Frame;

fn url(chunk: &str) -> String {
    let file = chunk.strip_prefix('@').unwrap_or(chunk);
    if file.starts_with('/') {
        format!("file://{file}")
    } else {
        file.to_string()
    }
}

/// The Chrome `.heapprofile` document.
pub fn heapprofile(p: &HeapProfile) -> Value {
    struct Node {
        frame: Frame,
        children: Vec<usize>,
        bytes: f64,
    }
    let mut nodes = vec![Node {
        frame: Frame {
            name: "(root)".into(),
            chunk: String::new(),
            line: 0,
        },
        children: vec![],
        bytes: 0.0,
    }];
    let mut edges: HashMap<(usize, Frame), usize> = HashMap::new();
    let mut leaf_of = Vec::with_capacity(p.stacks.len());
    for stack in &p.stacks {
        let mut at = 0;
        for f in stack {
            let key = (at, f.clone());
            at = match edges.get(&key) {
                Some(&n) => n,
                None => {
                    nodes.push(Node {
                        frame: f.clone(),
                        children: vec![],
                        bytes: 0.0,
                    });
                    let n = nodes.len() - 1;
                    nodes[at].children.push(n);
                    edges.insert(key, n);
                    n
                }
            };
        }
        leaf_of.push(at);
    }
    let mut samples = Vec::with_capacity(p.samples.len());
    for (i, s) in p.samples.iter().enumerate() {
        let leaf = leaf_of.get(s.stack as usize).copied().unwrap_or(0);
        nodes[leaf].bytes += s.weight;
        samples.push(json!({"size": s.size, "nodeId": leaf + 1, "ordinal": i + 1}));
    }
    fn build(nodes: &[Node], i: usize) -> Value {
        let n = &nodes[i];
        json!({
            "callFrame": {
                "functionName": n.frame.name,
                "scriptId": "0",
                "url": url(&n.frame.chunk),
                "lineNumber": (n.frame.line - 1).max(-1),
                "columnNumber": -1,
            },
            "selfSize": n.bytes.round() as u64,
            "id": i + 1,
            "children": n.children.iter().map(|&c| build(nodes, c)).collect::<Vec<_>>(),
        })
    }
    json!({ "head": build(&nodes, 0), "samples": samples })
}

/// Folded stacks weighted by the bytes they stand for, heaviest first.
pub fn folded(p: &HeapProfile) -> String {
    let mut totals: HashMap<u32, f64> = HashMap::new();
    for s in &p.samples {
        *totals.entry(s.stack).or_default() += s.weight;
    }
    let mut lines: Vec<(String, u64)> = totals
        .into_iter()
        .filter_map(|(id, w)| {
            let stack = p.stacks.get(id as usize)?;
            let names: Vec<String> = stack
                .iter()
                .map(|f| {
                    let file = f.chunk.strip_prefix('@').unwrap_or(&f.chunk);
                    let l = if file.is_empty() || file == "[C]" {
                        f.name.clone()
                    } else {
                        format!("{} {}:{}", f.name, file, f.line)
                    };
                    l.replace(';', ":")
                })
                .collect();
            let names = if names.is_empty() {
                "(no Lua stack)".to_string()
            } else {
                names.join(";")
            };
            Some((names, w.round() as u64))
        })
        .collect();
    lines.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    lines
        .into_iter()
        .map(|(s, w)| format!("{s} {w}\n"))
        .collect()
}

/// Writes `path` (`.heapprofile` added when it has another extension) and the `.svg` beside
/// it; returns the profile's path.
pub fn write_files(p: &HeapProfile, path: &Path) -> io::Result<PathBuf> {
    let path = if path.extension().is_some_and(|e| e == "heapprofile") {
        path.to_path_buf()
    } else {
        PathBuf::from(format!("{}.heapprofile", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, heapprofile(p).to_string())?;
    let mut svg = Vec::new();
    let folded_text = folded(p);
    if folded_text.is_empty() {
        writeln!(
            svg,
            r#"<?xml version="1.0" standalone="no"?><svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no samples</text></svg>"#
        )?;
    } else {
        let mut opts = inferno::flamegraph::Options::default();
        opts.title = "luvit heap profile (bytes allocated)".into();
        opts.count_name = "bytes".into();
        opts.colors = inferno::flamegraph::color::Palette::Basic(
            inferno::flamegraph::color::BasicPalette::Mem,
        );
        inferno::flamegraph::from_lines(&mut opts, folded_text.lines(), &mut svg)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    std::fs::write(path.with_extension("svg"), svg)?;
    Ok(path)
}
