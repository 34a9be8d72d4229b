//! The CPU profile's files, side by side with one base name: `.cpuprofile` (Chrome DevTools'
//! format: VS Code, Chrome and speedscope open it), `.folded` (one stack a line, root first,
//! `;`-separated, then its weight in microseconds of Lua-thread CPU) and `.svg` (a flamegraph
//! drawn by inferno from the folded lines).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::cpu::{CpuFormat, Frame, Samples};

/// A frame as the files show it: `name file:line`.
fn label(f: &Frame) -> String {
    let file = f.chunk.strip_prefix('@').unwrap_or(&f.chunk);
    if file.is_empty() {
        f.name.clone()
    } else {
        format!("{} {}:{}", f.name, file, f.line)
    }
}

/// The stacks with `(idle)` added for the wall time the Lua thread did not use.
fn with_idle(s: &Samples) -> (Vec<Vec<Frame>>, Vec<(u32, u64)>) {
    let mut stacks = s.stacks.clone();
    let mut seq = s.seq.clone();
    let busy: u64 = seq.iter().map(|(_, w)| *w).sum();
    let idle = s.wall_us.saturating_sub(busy);
    if idle > 0 {
        stacks.push(vec![Frame {
            name: "(idle)".into(),
            chunk: String::new(),
            line: 0,
        }]);
        seq.push(((stacks.len() - 1) as u32, idle));
    }
    (stacks, seq)
}

/// Folded stacks: `a;b;c <weight>` lines, heaviest first.
pub fn folded(s: &Samples) -> String {
    let (stacks, seq) = with_idle(s);
    let mut totals: HashMap<u32, u64> = HashMap::new();
    for (id, w) in seq {
        *totals.entry(id).or_default() += w;
    }
    let mut lines: Vec<(String, u64)> = totals
        .into_iter()
        .map(|(id, w)| {
            let names: Vec<String> = stacks[id as usize]
                .iter()
                .map(|f| label(f).replace(';', ":"))
                .collect();
            (names.join(";"), w)
        })
        .collect();
    lines.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    lines
        .into_iter()
        .map(|(stack, w)| format!("{stack} {w}\n"))
        .collect()
}

/// The Chrome `.cpuprofile`: a call tree of nodes, the sample sequence and time deltas.
pub fn cpuprofile(s: &Samples) -> Value {
    let (stacks, seq) = with_idle(s);
    struct Node {
        frame: Frame,
        children: Vec<usize>,
        hits: u64,
    }
    let root = Frame {
        name: "(root)".into(),
        chunk: String::new(),
        line: 0,
    };
    let mut nodes = vec![Node {
        frame: root,
        children: vec![],
        hits: 0,
    }];
    let mut edges: HashMap<(usize, Frame), usize> = HashMap::new();
    let mut leaf_of: Vec<usize> = Vec::with_capacity(stacks.len());
    for stack in &stacks {
        let mut at = 0;
        for f in stack {
            let key = (at, f.clone());
            at = match edges.get(&key) {
                Some(&n) => n,
                None => {
                    nodes.push(Node {
                        frame: f.clone(),
                        children: vec![],
                        hits: 0,
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
    let mut samples = Vec::with_capacity(seq.len());
    let mut deltas = Vec::with_capacity(seq.len());
    for (id, w) in &seq {
        let leaf = leaf_of[*id as usize];
        nodes[leaf].hits += 1;
        samples.push(leaf + 1);
        deltas.push(*w);
    }
    let total: u64 = deltas.iter().sum();
    let json_nodes: Vec<Value> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let file = n.frame.chunk.strip_prefix('@').unwrap_or(&n.frame.chunk);
            let url = if file.starts_with('/') {
                format!("file://{file}")
            } else {
                file.to_string()
            };
            json!({
                "id": i + 1,
                "callFrame": {
                    "functionName": n.frame.name,
                    "scriptId": "0",
                    "url": url,
                    "lineNumber": (n.frame.line - 1).max(-1),
                    "columnNumber": -1,
                },
                "hitCount": n.hits,
                "children": n.children.iter().map(|c| c + 1).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "nodes": json_nodes,
        "startTime": 0,
        "endTime": total,
        "samples": samples,
        "timeDeltas": deltas,
    })
}

/// Writes `<dir>/<name>.cpuprofile`, `.folded` and `.svg`; returns their paths.
pub fn write_all(s: &Samples, dir: &Path, name: &str) -> std::io::Result<Vec<PathBuf>> {
    write_as(s, CpuFormat::CpuProfile, 1000, dir, name)
}

/// Writes the profile in `format` (`.cpuprofile`, or pprof's `.pb.gz`), then `.folded` and
/// `.svg`, in `dir`; returns their paths.
pub fn write_as(
    s: &Samples,
    format: CpuFormat,
    interval_us: u64,
    dir: &Path,
    name: &str,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let base = dir.join(name);
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
    let profile_path = match format {
        CpuFormat::CpuProfile => {
            let p = with("cpuprofile");
            std::fs::write(&p, cpuprofile(s).to_string())?;
            p
        }
        CpuFormat::Pprof => super::pprof_out::write(s, interval_us, dir, name)?,
    };
    let folded_text = folded(s);
    let folded_path = with("folded");
    std::fs::write(&folded_path, &folded_text)?;
    let svg_path = with("svg");
    let svg = flamegraph_svg(&folded_text, &format!("luvit CPU profile: {name}"), "µs")?;
    std::fs::write(&svg_path, svg)?;
    Ok(vec![profile_path, folded_path, svg_path])
}

/// An SVG flamegraph (inferno) of folded stacks, one per line.
pub fn flamegraph_svg(folded: &str, title: &str, count_name: &str) -> std::io::Result<Vec<u8>> {
    let mut svg = Vec::new();
    if folded.trim().is_empty() {
        // inferno refuses an empty profile; say so in the picture instead
        writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">no samples</text></svg>"#
        )?;
        return Ok(svg);
    }
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_string();
    opts.count_name = count_name.into();
    inferno::flamegraph::from_lines(&mut opts, folded.lines(), &mut svg)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, line: i32) -> Frame {
        Frame {
            name: name.into(),
            chunk: "@/app.lua".into(),
            line,
        }
    }

    #[test]
    fn files_agree_on_the_samples() {
        let mut s = Samples::default();
        s.stacks = vec![
            vec![frame("main", 1), frame("hot", 5)],
            vec![frame("main", 1), frame("cold", 9)],
        ];
        s.seq = vec![(0, 300), (1, 100), (0, 300)];
        s.wall_us = 1000;
        let f = folded(&s);
        assert_eq!(
            f,
            "main /app.lua:1;hot /app.lua:5 600\n(idle) 300\nmain /app.lua:1;cold /app.lua:9 100\n"
        );
        let p = cpuprofile(&s);
        assert_eq!(p["endTime"], 1000);
        let nodes = p["nodes"].as_array().unwrap();
        let hot = nodes
            .iter()
            .find(|n| n["callFrame"]["functionName"] == "hot")
            .unwrap();
        assert_eq!(hot["hitCount"], 2);
        assert_eq!(hot["callFrame"]["lineNumber"], 4);
        assert_eq!(hot["callFrame"]["url"], "file:///app.lua");
        assert_eq!(p["samples"].as_array().unwrap().len(), 4);
    }
}
