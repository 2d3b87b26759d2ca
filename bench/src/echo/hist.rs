//! A log-bucketed latency histogram in the manner of HdrHistogram: every
//! power of two is split into [`SUB`] equal buckets, so a recorded value is
//! known to within 1/[`SUB`] (under 0.8 %) of itself, from nanoseconds to
//! hours, in a fixed 58 KiB array. Recording is an index computation and an
//! increment; histograms of several client threads merge by addition.
//!
//! ```text
//!   value v (ns)          bucket index
//!   0 .. 2*SUB            v                       (exact)
//!   [2^e, 2^(e+1))        (e-SUB_BITS)*SUB + (v >> (e-SUB_BITS))
//!                         = SUB consecutive buckets per power of two
//! ```

/// Bits of sub-bucket resolution per power of two. With 5 (3 %), two
/// servers' p99 in a target round often fell in the same bucket, and the
/// ratio of two p99s moved in steps of 1.6–3 % at 8–16 ms.
pub const SUB_BITS: u32 = 7;
/// Buckets per power of two (128: relative error at most 1/128).
pub const SUB: u64 = 1 << SUB_BITS;
/// Buckets needed to cover every `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) * SUB as usize) + SUB as usize;

/// Counts of recorded values (nanoseconds) by log bucket.
#[derive(Clone)]
pub struct Histogram {
    /// `counts[index(v)]` counts the recorded values that map to that bucket.
    counts: Box<[u64]>,
    /// Number of recorded values (the sum of `counts`).
    total: u64,
    /// Largest recorded value, exact (0 when empty).
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest recorded value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The histogram as text, for another process to rebuild with
    /// [`Histogram::from_sparse`]: the maximum, `;`, then the non-empty
    /// buckets as `index:count` joined by commas (`0;` when empty).
    pub fn to_sparse(&self) -> String {
        let buckets: Vec<String> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| format!("{i}:{c}"))
            .collect();
        format!("{};{}", self.max, buckets.join(","))
    }

    /// Rebuilds a histogram from [`Histogram::to_sparse`]'s text; `None` if
    /// the text is not of that form: buckets that do not exist, are not in
    /// increasing order or count nothing, counts that overflow, or a maximum
    /// outside the highest bucket.
    pub fn from_sparse(text: &str) -> Option<Histogram> {
        let (max, buckets) = text.split_once(';')?;
        let mut h = Histogram::new();
        h.max = max.parse().ok()?;
        let mut last = None;
        if !buckets.is_empty() {
            for pair in buckets.split(',') {
                let (i, c) = pair.split_once(':')?;
                let (i, c): (usize, u64) = (i.parse().ok()?, c.parse().ok()?);
                if c == 0 || last.is_some_and(|l| i <= l) {
                    return None;
                }
                *h.counts.get_mut(i)? = c;
                h.total = h.total.checked_add(c)?;
                last = Some(i);
            }
        }
        match last {
            None if h.max != 0 => None,
            Some(l) if index(h.max) != l => None,
            _ => Some(h),
        }
    }

    /// The value below or at which `q` (0..=1) of the values lie: the
    /// highest value of the bucket that holds that rank, capped at the
    /// maximum (as HdrHistogram reports). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }
}

/// The bucket of value `v`.
#[inline]
fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = e - SUB_BITS;
    // v >> shift lies in [SUB, 2*SUB).
    (shift as u64 * SUB + (v >> shift)) as usize
}

/// The highest value that maps to bucket `i`.
fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let m = i % SUB + SUB;
    ((m + 1) << shift).wrapping_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        let mut prev = 0;
        for v in (0..1_000_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i == prev || i == prev + 1 || v > 1_000_000, "v={v}");
            assert!(bucket_high(i) >= v);
            // Relative error of reporting the bucket's top.
            assert!((bucket_high(i) - v) as f64 <= v as f64 / SUB as f64 + 1.0);
            prev = i;
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        // The bucket's top, at most 1/SUB above the exact quantile.
        let tight = 1.0 / SUB as f64 + 1e-3;
        assert!((p50 / 500_000.0 - 1.0).abs() < tight, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < tight, "{p99}");
        assert_eq!(h.quantile(1.0), 1_000_000);
        let mut other = Histogram::new();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!((h.len(), h.max()), (1001, 5_000_000));
    }

    #[test]
    fn sparse_text_rebuilds_the_same_histogram() {
        let mut h = Histogram::new();
        for v in [3u64, 3, 900, 12_345, 12_346, 7_000_000_000] {
            h.record(v);
        }
        let text = h.to_sparse();
        let back = Histogram::from_sparse(&text).unwrap();
        assert_eq!((back.len(), back.max()), (h.len(), h.max()));
        for q in [0.0, 0.3, 0.5, 0.9, 1.0] {
            assert_eq!(back.quantile(q), h.quantile(q), "q={q}");
        }
        assert_eq!(back.to_sparse(), text);
        let empty = Histogram::from_sparse(&Histogram::new().to_sparse()).unwrap();
        assert!(empty.is_empty());
        let top = format!("{};3:1,{}:2", u64::MAX, BUCKETS - 1);
        assert_eq!(Histogram::from_sparse(&top).unwrap().len(), 3);
        let huge = format!("{};1:{},{}:1", u64::MAX, u64::MAX, BUCKETS - 1);
        for bad in [
            "",
            "5",
            "x;",
            "5;1",
            "5;1:x",
            &format!("5;{BUCKETS}:1"),
            "5;",
            "0;40:3",
            "3;3:1,3:1",
            "4;4:1,3:1",
            "3;2:0,3:1",
            "3;,3:1",
            &huge,
        ] {
            assert!(Histogram::from_sparse(bad).is_none(), "{bad:?}");
        }
    }
}
