//! The Lua CPU profile in pprof's protobuf format (`--cpu-prof-format=pprof`), built with the
//! `pprof` crate's protobuf types: one location per (function, line), two sample values
//! (samples, and CPU microseconds: the weight the `.cpuprofile` uses too), gzip-compressed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use pprof::protos::{Function, Line, Location, Message, Profile, Sample, ValueType};

use super::cpu::{Frame, Samples};

/// Strings in the profile's table, each once (index 0 is "").
pub(super) struct Strings {
    pub(super) table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    pub(super) fn new() -> Strings {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }

    pub(super) fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.table.push(s.to_string());
        let i = (self.table.len() - 1) as i64;
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The profile of `samples`.
pub fn profile(samples: &Samples, interval_us: u64) -> Profile {
    let mut strings = Strings::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut function_ids: HashMap<(String, String), u64> = HashMap::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut location_ids: HashMap<Frame, u64> = HashMap::new();
    let mut location_of = |f: &Frame, strings: &mut Strings| -> u64 {
        if let Some(&id) = location_ids.get(f) {
            return id;
        }
        let file = f.chunk.strip_prefix('@').unwrap_or(&f.chunk).to_string();
        let key = (f.name.clone(), file.clone());
        let function_id = match function_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = functions.len() as u64 + 1;
                functions.push(Function {
                    id,
                    name: strings.id(&f.name),
                    system_name: strings.id(&f.name),
                    filename: strings.id(&file),
                    start_line: 0,
                });
                function_ids.insert(key, id);
                id
            }
        };
        let id = locations.len() as u64 + 1;
        locations.push(Location {
            id,
            line: vec![Line {
                function_id,
                line: f.line.max(0) as i64,
            }],
            ..Location::default()
        });
        location_ids.insert(f.clone(), id);
        id
    };
    // One sample per distinct stack, its counts summed.
    let mut totals: HashMap<u32, (i64, i64)> = HashMap::new();
    for &(stack, us) in &samples.seq {
        let t = totals.entry(stack).or_default();
        t.0 += 1;
        t.1 += us as i64;
    }
    let mut stacks: Vec<_> = totals.into_iter().collect();
    stacks.sort_by_key(|(id, _)| *id);
    let mut sample = Vec::with_capacity(stacks.len());
    for (id, (count, us)) in stacks {
        let frames = &samples.stacks[id as usize];
        // pprof lists a sample's locations leaf first
        let location_id = frames
            .iter()
            .rev()
            .map(|f| location_of(f, &mut strings))
            .collect();
        sample.push(Sample {
            location_id,
            value: vec![count, us * 1000],
            label: vec![],
        });
    }
    let samples_t = strings.id("samples");
    let count_t = strings.id("count");
    let cpu_t = strings.id("cpu");
    let ns_t = strings.id("nanoseconds");
    Profile {
        sample_type: vec![
            ValueType {
                ty: samples_t,
                unit: count_t,
            },
            ValueType {
                ty: cpu_t,
                unit: ns_t,
            },
        ],
        sample,
        location: locations,
        function: functions,
        duration_nanos: samples.wall_us as i64 * 1000,
        period_type: Some(ValueType {
            ty: cpu_t,
            unit: ns_t,
        }),
        period: interval_us as i64 * 1000,
        default_sample_type: cpu_t,
        string_table: strings.table,
        ..Profile::default()
    }
}

/// Writes `<dir>/<name>.pb.gz`; returns its path.
pub fn write(
    samples: &Samples,
    interval_us: u64,
    dir: &Path,
    name: &str,
) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{name}.pb.gz"));
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path)?,
        flate2::Compression::default(),
    );
    gz.write_all(&profile(samples, interval_us).encode_to_vec())?;
    gz.finish()?.flush()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_become_leaf_first_locations_with_their_weights() {
        let f = |name: &str, line| Frame {
            name: name.into(),
            chunk: "@/app.lua".into(),
            line,
        };
        let mut s = Samples::default();
        s.stacks = vec![vec![f("main", 1), f("hot", 7)], vec![f("main", 1)]];
        s.seq = vec![(0, 900), (0, 1100), (1, 50)];
        s.wall_us = 3000;
        let p = profile(&s, 1000);
        let bytes = p.encode_to_vec();
        let back = Profile::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back.sample.len(), 2);
        let hot = &back.sample[0];
        assert_eq!(hot.value, vec![2, 2_000_000]);
        let leaf = &back.location[(hot.location_id[0] - 1) as usize];
        let func = &back.function[(leaf.line[0].function_id - 1) as usize];
        assert_eq!(back.string_table[func.name as usize], "hot");
        assert_eq!(back.string_table[func.filename as usize], "/app.lua");
        assert_eq!(leaf.line[0].line, 7);
        assert_eq!(back.string_table[back.sample_type[1].ty as usize], "cpu");
    }
}
