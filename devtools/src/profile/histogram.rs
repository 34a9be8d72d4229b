//! A log-linear histogram of durations in nanoseconds (the shape of HdrHistogram with 16
//! sub-buckets per power of two: any percentile within 1/16 of the true value, in a fixed 8 KB),
//! plus exact count, min, max, sum and sum of squares. The loop profiler keeps one for the lag
//! and one per callback site; `require('profiler').createHistogram` hands them to Lua.

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    count: u64,
    min: u64,
    max: u64,
    sum: f64,
    sum_sq: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Vec::new(),
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0.0,
            sum_sq: 0.0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let p = 63 - v.leading_zeros(); // p >= SUB_BITS
    let sub = (v >> (p - SUB_BITS)) & (SUB - 1);
    ((p - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i);
    }
    let p = i / SUB + SUB_BITS as u64 - 1;
    let sub = i % SUB;
    let shift = p - SUB_BITS as u64;
    let lo = (SUB + sub) << shift;
    (lo, lo + (1 << shift) - 1)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let i = index(v);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let f = v as f64;
        self.sum += f;
        self.sum_sq += f * f;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// 0 when empty (node's histograms answer the same).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    pub fn stddev(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let m = self.mean();
        (self.sum_sq / self.count as f64 - m * m).max(0.0).sqrt()
    }

    /// The value at percentile `p` (0..=100): the upper end of the bucket holding it, capped
    /// by the exact extremes.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                return bounds(i).1.clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn reset(&mut self) {
        *self = Histogram::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for v in [0u64, 1, 15, 16, 17, 31, 32, 1000, 123_456_789, u64::MAX / 3] {
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} not in {lo}..={hi}");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_are_within_a_sixteenth() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.max(), 10_000_000);
        for (p, want) in [
            (50.0, 5_000_000f64),
            (99.0, 9_900_000.0),
            (100.0, 10_000_000.0),
        ] {
            let got = h.percentile(p) as f64;
            assert!(
                (got - want).abs() / want <= 1.0 / 16.0,
                "p{p}: {got} vs {want}"
            );
        }
        assert!((h.mean() - 5_000_500.0).abs() < 1.0);
        assert!(h.stddev() > 2_800_000.0 && h.stddev() < 2_900_000.0);
        h.reset();
        assert_eq!(
            (h.count(), h.min(), h.max(), h.percentile(99.0)),
            (0, 0, 0, 0)
        );
    }
}
