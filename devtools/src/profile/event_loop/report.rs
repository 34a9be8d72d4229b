//! The loop profiler's outputs: the `LOOP.*.json` report (the shape tools, the VS Code extension
//! and our tests read), the `LOOP.*.trace.json` Chrome trace (one `X` event per callback; opens
//! in Perfetto and speedscope) and the short summary printed to stderr at exit.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{display_path, LoopProfiler, Slow};
use crate::profile::cpu::Frame;

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

fn frame_json(f: &Frame) -> Value {
    json!({ "name": f.name, "source": display_path(&f.chunk), "line": f.line })
}

fn is_user(f: &Frame) -> bool {
    f.chunk.starts_with('@') && !f.chunk.starts_with("@builtin:")
}

/// Where the time of a slow callback went, from its samples.
struct Analysis {
    /// The most frequent whole stack, top first.
    stack: Vec<Frame>,
    /// (function name, source, share of samples) for the most frequent top frames.
    hot: Vec<(String, String, f64)>,
    /// "90% of the samples in json.stringify called from server.lua:17".
    sentence: Option<String>,
}

fn analyse(samples: &[Vec<Frame>]) -> Analysis {
    let n = samples.len().max(1) as f64;
    let mut stacks: HashMap<&[Frame], usize> = HashMap::new();
    let mut tops: HashMap<(&str, &str), usize> = HashMap::new();
    for s in samples {
        *stacks.entry(s.as_slice()).or_default() += 1;
        if let Some(top) = s.first() {
            *tops
                .entry((top.name.as_str(), top.chunk.as_str()))
                .or_default() += 1;
        }
    }
    let stack = stacks
        .iter()
        .max_by_key(|(s, c)| (**c, std::cmp::Reverse(s.len())))
        .map(|(s, _)| s.to_vec())
        .unwrap_or_default();
    let mut hot: Vec<_> = tops.into_iter().collect();
    hot.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let hot: Vec<(String, String, f64)> = hot
        .into_iter()
        .take(5)
        .map(|((name, chunk), c)| (name.to_string(), chunk.to_string(), c as f64 / n))
        .collect();
    // The user's line that led to the hottest function: the most common first user frame
    // below it (the function itself when it is the user's own).
    let sentence = hot.first().map(|(name, chunk, share)| {
        let mut callers: HashMap<String, usize> = HashMap::new();
        for s in samples {
            let Some(top) = s.first() else { continue };
            if top.name != *name || top.chunk != *chunk {
                continue;
            }
            if let Some(f) = s.iter().skip(1).find(|f| is_user(f)) {
                let at = format!("{}:{}", display_path(&f.chunk), f.line);
                *callers.entry(at).or_default() += 1;
            }
        }
        let from = callers
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(at, _)| format!(" called from {at}"))
            .unwrap_or_default();
        format!("{:.0}% of the samples in {name}{from}", share * 100.0)
    });
    Analysis {
        stack,
        hot,
        sentence,
    }
}

fn slow_json(p: &LoopProfiler, s: &Slow) -> Value {
    let sites = p.sites.borrow();
    let site = &sites[s.site];
    let a = analyse(&s.samples);
    json!({
        "kind": site.kind,
        "site": site.site,
        "function": site.function,
        "duration_ms": ms(s.duration.as_nanos() as u64),
        "at_ms": ms(s.at.as_nanos() as u64),
        "samples": s.samples.len(),
        "stack": a.stack.iter().map(frame_json).collect::<Vec<_>>(),
        "hot": a.hot.iter().map(|(name, chunk, share)| json!({
            "name": name, "source": display_path(chunk), "share": (share * 1000.0).round() / 1000.0
        })).collect::<Vec<_>>(),
        "summary": a.sentence,
    })
}

/// The report, as JSON (the same figures `require('profiler').loop()` returns).
pub fn report(p: &LoopProfiler) -> Value {
    let lag = p.lag.borrow();
    let mut callbacks: Vec<_> = p
        .sites
        .borrow()
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.total))
        .collect();
    callbacks.sort_by_key(|c| std::cmp::Reverse(c.1));
    let sites = p.sites.borrow();
    let callbacks: Vec<Value> = callbacks
        .iter()
        .map(|&(i, _)| {
            let s = &sites[i];
            json!({
                "kind": s.kind,
                "site": s.site,
                "function": s.function,
                "count": s.count,
                "total_ms": ms(s.total.as_nanos() as u64),
                "p99_ms": ms(s.durations.percentile(99.0)),
                "max_ms": ms(s.durations.max()),
            })
        })
        .collect();
    drop(sites);
    let mut slow: Vec<&Slow> = Vec::new();
    let slow_all = p.slow.borrow();
    slow.extend(slow_all.iter());
    slow.sort_by_key(|s| std::cmp::Reverse(s.duration));
    let heap = p.heap.borrow();
    json!({
        "duration_ms": ms(p.elapsed().as_nanos() as u64),
        "utilization": (p.utilization() * 10_000.0).round() / 10_000.0,
        "threshold_ms": ms(p.options.threshold.as_nanos() as u64),
        "lag": {
            "count": lag.count(),
            "p50_ms": ms(lag.percentile(50.0)),
            "p99_ms": ms(lag.percentile(99.0)),
            "max_ms": ms(lag.max()),
            "mean_ms": ms(lag.mean() as u64),
        },
        "callbacks": callbacks,
        "slow_count": p.slow_count.get(),
        "slow": slow.iter().map(|s| slow_json(p, s)).collect::<Vec<_>>(),
        "heap": {
            "max_kb": heap.iter().map(|h| h.1).max().unwrap_or(0),
            "samples": heap.iter().map(|&(t, kb)| json!([t, kb])).collect::<Vec<_>>(),
        },
    })
}

/// The human summary for stderr: utilization, lag, the top 10 sites, the slow callbacks.
pub fn summary(p: &LoopProfiler, files: &[PathBuf]) -> String {
    let r = report(p);
    let mut out = String::new();
    let lag = &r["lag"];
    let _ = writeln!(
        out,
        "luvit loop profile: {:.1} s, utilization {:.1}%, lag p50 {} ms p99 {} ms max {} ms ({} callbacks delayed)",
        r["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        r["utilization"].as_f64().unwrap_or(0.0) * 100.0,
        lag["p50_ms"],
        lag["p99_ms"],
        lag["max_ms"],
        lag["count"],
    );
    let _ = writeln!(
        out,
        "  {:>10} {:>8} {:>9} {:>9}  site",
        "total ms", "count", "p99 ms", "max ms"
    );
    for c in r["callbacks"].as_array().into_iter().flatten().take(10) {
        let site = c["site"].as_str().unwrap_or("");
        let f = |k: &str| c[k].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "  {:>10.2} {:>8} {:>9.2} {:>9.2}  {} {} (function {})",
            f("total_ms"),
            c["count"].as_u64().unwrap_or(0),
            f("p99_ms"),
            f("max_ms"),
            c["kind"].as_str().unwrap_or(""),
            if site.is_empty() { "?" } else { site },
            c["function"].as_str().unwrap_or(""),
        );
    }
    let slow = r["slow"].as_array().cloned().unwrap_or_default();
    if !slow.is_empty() {
        let _ = writeln!(
            out,
            "  {} callbacks ran past {} ms; the longest:",
            r["slow_count"], r["threshold_ms"]
        );
        for s in slow.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>8.1} ms  {} registered at {}{}",
                s["duration_ms"].as_f64().unwrap_or(0.0),
                s["kind"].as_str().unwrap_or(""),
                s["site"].as_str().filter(|x| !x.is_empty()).unwrap_or("?"),
                s["summary"]
                    .as_str()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default(),
            );
        }
    }
    for f in files {
        let _ = writeln!(out, "  wrote {}", f.display());
    }
    out
}

/// Writes `<dir>/<name>.json` and `<dir>/<name>.trace.json`; returns their paths.
pub fn write_files(p: &LoopProfiler, dir: &Path, name: &str) -> std::io::Result<Vec<PathBuf>> {
    let json_path = dir.join(format!("{name}.json"));
    let text = serde_json::to_vec_pretty(&report(p)).map_err(std::io::Error::other)?;
    std::fs::write(&json_path, text)?;
    let trace_path = dir.join(format!("{name}.trace.json"));
    write_trace(p, &trace_path)?;
    Ok(vec![json_path, trace_path])
}

/// Chrome trace events, streamed (the ring can hold a quarter million callbacks).
fn write_trace(p: &LoopProfiler, path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    let pid = std::process::id();
    write!(w, "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
    let meta = json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 1,
        "args": {"name": "luvit event loop"}});
    serde_json::to_writer(&mut w, &meta)?;
    let sites = p.sites.borrow();
    for ev in p.trace_in_order() {
        let s = &sites[ev.site as usize];
        let e = json!({
            "name": s.kind, "cat": "callback", "ph": "X", "pid": pid, "tid": 1,
            "ts": ev.start_us, "dur": ev.dur_us,
            "args": {"site": s.site, "function": s.function},
        });
        w.write_all(b",\n")?;
        serde_json::to_writer(&mut w, &e)?;
    }
    write!(w, "]}}")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, chunk: &str, line: i32) -> Frame {
        Frame {
            name: name.into(),
            chunk: chunk.into(),
            line,
        }
    }

    #[test]
    fn the_hottest_function_is_named_with_the_users_line_that_called_it() {
        let hot = vec![
            f("stringify", "@builtin:json.lua", 40),
            f("handler", "@/srv/server.lua", 17),
            f("(anonymous)", "@builtin:http.lua", 9),
        ];
        let other = vec![f("handler", "@/srv/server.lua", 20)];
        let mut samples = vec![hot.clone(); 9];
        samples.push(other);
        let a = analyse(&samples);
        assert_eq!(a.stack, hot);
        assert_eq!(a.hot[0].0, "stringify");
        assert!((a.hot[0].2 - 0.9).abs() < 1e-9);
        assert_eq!(
            a.sentence.as_deref(),
            Some("90% of the samples in stringify called from /srv/server.lua:17")
        );
    }
}
