//! `--native-prof`: samples the native side of the process (the loop, HTTP parsing, TLS,
//! compression, the Rust functions Lua calls) with the `pprof` crate, and writes
//! `NATIVE.*.pb.gz` (pprof protobuf) and an `.svg` flamegraph.
//!
//! The crate's SIGPROF handler unwinds with framehop, which reads `.eh_frame` itself and
//! validates every stack read, so a walk that runs into LuaJIT's machine code ends instead of
//! aborting (libgcc's unwinder aborted there: a trace has no unwind tables, and the VM's own
//! table is wrong when a trace calls into it). The walk past that point is not trusted: each
//! stack is cut at its first frame in LuaJIT's VM (`[Lua interpreter]`) or in code no loaded
//! object knows (`[JIT code]`, compiled traces), so what sits above Lua is exact and the Lua
//! side is left to `--cpu-prof`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pprof::protos::{Function, Label, Line, Location, Message, Profile, Sample, ValueType};

use super::pprof_out::Strings;

/// 100 samples a second: the rate Go's and pprof's tools default to; a native stack walk
/// costs far more than LuaJIT's Lua-only one.
pub const DEFAULT_INTERVAL_US: u64 = 10_000;

/// Where and how `--native-prof` samples.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeOptions {
    pub dir: PathBuf,
    /// The base name (an extension is replaced); node-style `NATIVE.<date>...` when `None`.
    pub name: Option<String>,
    pub interval_us: u64,
}

/// A running native profiler. Only one can run in a process (it owns SIGPROF).
pub struct NativeProfiler {
    guard: pprof::ProfilerGuard<'static>,
    pub options: NativeOptions,
}

/// One frame of a native stack, as the files show it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NativeFrame {
    pub name: String,
    pub file: String,
    pub line: u32,
}

/// Aggregated native stacks: (thread, frames root first) → samples.
pub type NativeStacks = HashMap<(String, Vec<NativeFrame>), u64>;

impl NativeProfiler {
    /// Starts sampling every thread's CPU time at `options.interval_us`.
    pub fn start(options: NativeOptions) -> Result<NativeProfiler, String> {
        let hz = (1_000_000 / options.interval_us.max(1)).clamp(1, 10_000) as i32;
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(hz)
            .build()
            .map_err(|e| format!("the native profiler cannot start: {e}"))?;
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        super::native_gate::install()?;
        // The unwinder reads the loaded objects the first time a sample is taken: take that
        // first sample here, on this thread, where allocating is safe (in a signal that
        // interrupted malloc it would not be).
        // SAFETY: raising a signal whose handler the profiler just installed.
        unsafe { libc::raise(libc::SIGPROF) };
        Ok(NativeProfiler { guard, options })
    }

    /// Stops sampling; the stacks, cut where Lua begins and symbolized.
    pub fn stop(self) -> Result<(NativeStacks, Duration), String> {
        let report = self
            .guard
            .report()
            .build_unresolved()
            .map_err(|e| format!("the native profile cannot be read: {e}"))?;
        drop(self.guard);
        let vm = LuaVm::find();
        let mut symbols = Symbolizer::default();
        let mut stacks = NativeStacks::new();
        for (frames, count) in &report.data {
            let thread = String::from_utf8_lossy(&frames.thread_name[..frames.thread_name_length])
                .into_owned();
            let thread = if thread.is_empty() {
                format!("thread {}", frames.thread_id)
            } else {
                thread
            };
            let ips: Vec<usize> = frames.frames.iter().map(|f| f.ip).collect();
            let stack = symbols.stack(&ips, &vm);
            // the sample `start` took to warm the unwinder up is not the program's
            if stack.iter().any(|f| f.file.ends_with("profile/native.rs")) {
                continue;
            }
            *stacks.entry((thread, stack)).or_default() += (*count).max(0) as u64;
        }
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let skipped = super::native_gate::skipped();
            if skipped > 0 {
                let frame = synthetic("(in the C unwinder: stack not walked)");
                *stacks
                    .entry(("(unwinding)".to_string(), vec![frame]))
                    .or_default() += skipped;
            }
        }
        Ok((stacks, report.timing.duration))
    }
}

/// The address range of LuaJIT's VM (`lj_vm.o`: the interpreter, fast functions and the
/// helpers traces call), known by the symbols that begin and end it.
struct LuaVm {
    range: std::ops::Range<usize>,
}

extern "C" {
    static lj_vm_asm_begin: u8;
}

impl LuaVm {
    fn find() -> LuaVm {
        // SAFETY: only the address of the VM's first label is taken.
        let begin = std::ptr::addr_of!(lj_vm_asm_begin) as usize;
        // The VM is one object; its symbols all start with these prefixes, so its end is
        // where a symbol without them begins. 1 MB bounds the search (the VM is ~20 KB).
        // (the label itself has no size: at it, a lookup may still name the code before)
        let mut end = begin;
        let mut probe = begin + 1;
        while probe < begin + (1 << 20) {
            let mut next = None;
            backtrace::resolve(probe as *mut libc::c_void, |s| {
                if next.is_none() {
                    next = Some((
                        s.name().map(|n| vm_symbol(&n.to_string())).unwrap_or(false),
                        s.addr().map(|a| a as usize),
                    ));
                }
            });
            match next {
                Some((true, _)) => {
                    end = probe;
                    probe += 64;
                }
                _ => break,
            }
        }
        LuaVm {
            range: begin..end + 64,
        }
    }

    fn contains(&self, ip: usize) -> bool {
        self.range.contains(&ip)
    }
}

/// Whether a symbol belongs to LuaJIT's VM object (its labels' prefixes).
fn vm_symbol(name: &str) -> bool {
    [
        "lj_vm_",
        "lj_BC_",
        "lj_ff_",
        "lj_fff_",
        "lj_vmeta_",
        "lj_cont_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Resolves addresses to frames, remembering each.
#[derive(Default)]
struct Symbolizer {
    cache: HashMap<usize, Vec<NativeFrame>>,
}

impl Symbolizer {
    /// The stack of `ips` (leaf first, as sampled), root first, cut where Lua begins.
    fn stack(&mut self, ips: &[usize], vm: &LuaVm) -> Vec<NativeFrame> {
        let mut leaf_first = Vec::new();
        for (i, &ip) in ips.iter().enumerate() {
            // a caller's address is a return address: the call is the byte before it
            let at = if i == 0 { ip } else { ip.saturating_sub(1) };
            if vm.contains(at) {
                leaf_first.push(synthetic("[Lua interpreter]"));
                break;
            }
            let frames = self.resolve(at);
            if frames.is_empty() {
                leaf_first.push(synthetic("[JIT code]"));
                break;
            }
            if frames.iter().any(|f| vm_symbol(&f.name)) {
                leaf_first.push(synthetic("[Lua interpreter]"));
                break;
            }
            // the handler's own frames, were the walk to start inside it
            if frames
                .iter()
                .any(|f| f.name.contains("perf_signal_handler"))
            {
                leaf_first.clear();
                continue;
            }
            leaf_first.extend(frames);
        }
        leaf_first.reverse();
        leaf_first
    }

    /// The frames at `ip`, innermost inlined function first; empty when nothing knows it.
    fn resolve(&mut self, ip: usize) -> Vec<NativeFrame> {
        self.cache
            .entry(ip)
            .or_insert_with(|| {
                let mut out = Vec::new();
                backtrace::resolve(ip as *mut libc::c_void, |s| {
                    if let Some(name) = s.name() {
                        out.push(NativeFrame {
                            name: format!("{name:#}"),
                            file: s
                                .filename()
                                .map(|f| f.display().to_string())
                                .unwrap_or_default(),
                            line: s.lineno().unwrap_or(0),
                        });
                    }
                });
                out
            })
            .clone()
    }
}

fn synthetic(name: &str) -> NativeFrame {
    NativeFrame {
        name: name.to_string(),
        file: String::new(),
        line: 0,
    }
}

/// The stacks as folded lines (`thread;root;...;leaf count`), heaviest first. A frame is
/// its function and its file's name (the debug info of a release build has short names:
/// `value (stringify.rs)` tells two `value`s apart).
pub fn folded(stacks: &NativeStacks) -> String {
    let mut merged: HashMap<String, u64> = HashMap::new();
    for ((thread, frames), n) in stacks {
        let mut line = clean(thread);
        for f in frames {
            line.push(';');
            line.push_str(&clean(&f.name));
            if let Some(file) = Path::new(&f.file).file_name() {
                line.push_str(&format!(" ({})", clean(&file.to_string_lossy())));
            }
        }
        *merged.entry(line).or_default() += n;
    }
    let mut lines: Vec<(String, u64)> = merged.into_iter().collect();
    lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    for (line, n) in lines {
        out.push_str(&format!("{line} {n}\n"));
    }
    out
}

/// A frame name fit for a folded line: no `;` (the separator) nor line breaks.
fn clean(s: &str) -> String {
    s.replace(';', ":").replace(['\n', '\r'], " ")
}

/// The stacks as a pprof profile: samples and CPU nanoseconds per stack, a `thread` label,
/// one location per (function, file, line).
pub fn profile(stacks: &NativeStacks, interval_us: u64, duration: Duration) -> Profile {
    let mut strings = Strings::new();
    let sample_type = vec![
        ValueType {
            ty: strings.id("samples"),
            unit: strings.id("count"),
        },
        ValueType {
            ty: strings.id("cpu"),
            unit: strings.id("nanoseconds"),
        },
    ];
    let thread_key = strings.id("thread");
    let mut functions: Vec<Function> = Vec::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut location_of: HashMap<&NativeFrame, u64> = HashMap::new();
    let mut samples = Vec::new();
    let period = interval_us as i64 * 1000;
    for ((thread, frames), n) in stacks {
        let mut ids = Vec::with_capacity(frames.len());
        for f in frames.iter().rev() {
            let id = *location_of.entry(f).or_insert_with(|| {
                let id = functions.len() as u64 + 1;
                functions.push(Function {
                    id,
                    name: strings.id(&f.name),
                    system_name: strings.id(&f.name),
                    filename: strings.id(&f.file),
                    ..Function::default()
                });
                locations.push(Location {
                    id,
                    line: vec![Line {
                        function_id: id,
                        line: f.line as i64,
                    }],
                    ..Location::default()
                });
                id
            });
            ids.push(id);
        }
        samples.push(Sample {
            location_id: ids,
            value: vec![*n as i64, *n as i64 * period],
            label: vec![Label {
                key: thread_key,
                str: strings.id(thread),
                ..Label::default()
            }],
        });
    }
    let cpu_t = sample_type[1].ty;
    let nanos = strings.id("nanoseconds");
    Profile {
        sample_type,
        sample: samples,
        location: locations,
        function: functions,
        duration_nanos: duration.as_nanos() as i64,
        period_type: Some(ValueType {
            ty: cpu_t,
            unit: nanos,
        }),
        period,
        default_sample_type: cpu_t,
        string_table: strings.table,
        ..Profile::default()
    }
}

/// Writes `<dir>/<name>.pb.gz` and `<dir>/<name>.svg`; their paths.
pub fn write_files(
    stacks: &NativeStacks,
    interval_us: u64,
    duration: Duration,
    dir: &Path,
    name: &str,
) -> std::io::Result<Vec<PathBuf>> {
    let pb = dir.join(format!("{name}.pb.gz"));
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&pb)?, flate2::Compression::default());
    gz.write_all(&profile(stacks, interval_us, duration).encode_to_vec())?;
    gz.finish()?.flush()?;
    let svg = dir.join(format!("{name}.svg"));
    let drawn = super::write::flamegraph_svg(&folded(stacks), "luvit native CPU", "samples")?;
    std::fs::write(&svg, drawn)?;
    Ok(vec![pb, svg])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str) -> NativeFrame {
        synthetic(name)
    }

    #[test]
    fn folded_frames_name_their_file_and_lines_that_meet_merge() {
        let at = |name: &str, file: &str, line| NativeFrame {
            name: name.into(),
            file: file.into(),
            line,
        };
        let mut s = NativeStacks::new();
        s.insert(
            ("t".into(), vec![at("value", "/src/json/stringify.rs", 3)]),
            2,
        );
        s.insert(
            ("t".into(), vec![at("value", "/src/json/stringify.rs", 9)]),
            1,
        );
        assert_eq!(folded(&s), "t;value (stringify.rs) 3\n");
    }

    #[test]
    fn folded_lines_start_at_the_thread_and_escape_separators() {
        let mut s = NativeStacks::new();
        s.insert(
            (
                "luvit".into(),
                vec![frame("main"), frame("a;b"), frame("leaf")],
            ),
            3,
        );
        s.insert(("worker".into(), vec![frame("run")]), 1);
        assert_eq!(folded(&s), "luvit;main;a:b;leaf 3\nworker;run 1\n");
    }

    #[test]
    fn the_profile_has_leaf_first_locations_and_a_thread_label() {
        let mut s = NativeStacks::new();
        s.insert(("luvit".into(), vec![frame("main"), frame("parse")]), 5);
        let p = profile(&s, 10_000, Duration::from_secs(1));
        let back = Profile::decode(p.encode_to_vec().as_slice()).expect("decodes");
        let sample = &back.sample[0];
        assert_eq!(sample.value, vec![5, 50_000_000]);
        let leaf = &back.location[(sample.location_id[0] - 1) as usize];
        let f = &back.function[(leaf.line[0].function_id - 1) as usize];
        assert_eq!(back.string_table[f.name as usize], "parse");
        assert_eq!(back.string_table[sample.label[0].str as usize], "luvit");
    }

    #[test]
    fn the_vm_range_holds_the_interpreter() {
        let vm = LuaVm::find();
        assert!(vm.range.len() > 1000, "{:?}", vm.range);
        // SAFETY: the address of a VM label.
        let begin = std::ptr::addr_of!(lj_vm_asm_begin) as usize;
        assert!(vm.contains(begin + 100));
        assert!(!vm.contains(vm_symbol as *const () as usize));
    }
}
