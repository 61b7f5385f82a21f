//! Wall-clock measurement: warm-up, batch calibration, interleaved rounds, percentiles.
//!
//! An operation is a closure that runs its work `n` times (the loop lives inside the closure,
//! so the work is monomorphized and the call through `dyn` is paid once per batch). The
//! operations of one case are measured in interleaved rounds — reference, then each operation,
//! then the next round — so that a change of clock speed or a noisy neighbour hits all of them
//! alike and their ratio stays meaningful.

use std::time::{Duration, Instant};

/// How long and how often to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// Rounds per operation; each round gives one ns/op sample.
    pub rounds: usize,
    /// Target duration of one batch (one round of one operation).
    pub batch: Duration,
    /// Time spent running each operation before calibration.
    pub warmup: Duration,
}

/// The figures of one operation.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Median ns per operation over the rounds.
    pub median_ns: f64,
    /// 10th percentile (nearest rank).
    pub p10_ns: f64,
    /// 90th percentile (nearest rank).
    pub p90_ns: f64,
    /// Operations per batch.
    pub batch: u64,
    /// Samples taken.
    pub rounds: usize,
}

/// An operation to measure: runs its work `n` times.
pub type Op<'a> = Box<dyn FnMut(u64) + 'a>;

fn time(op: &mut Op<'_>, n: u64) -> Duration {
    let t = Instant::now();
    op(n);
    t.elapsed()
}

/// Operations per batch so that one batch takes about `cfg.batch`.
fn calibrate(op: &mut Op<'_>, cfg: &Config) -> u64 {
    let probe = cfg.batch / 8;
    let mut n: u64 = 1;
    loop {
        let t = time(op, n);
        if t >= probe || n >= 1 << 40 {
            let per_op = t.as_secs_f64() / n as f64;
            let want = cfg.batch.as_secs_f64() / per_op.max(1e-12);
            return (want as u64).max(1);
        }
        n = n.saturating_mul(2);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted
        .get(i.min(sorted.len() - 1))
        .copied()
        .unwrap_or(f64::NAN)
}

/// Measure `ops` in interleaved rounds; the result is in the order of `ops`.
pub fn measure(ops: &mut [Op<'_>], cfg: &Config) -> Vec<Stats> {
    for op in ops.iter_mut() {
        let until = Instant::now() + cfg.warmup;
        while Instant::now() < until {
            op(1);
        }
    }
    let batches: Vec<u64> = ops.iter_mut().map(|op| calibrate(op, cfg)).collect();
    let mut samples = vec![Vec::with_capacity(cfg.rounds); ops.len()];
    for _ in 0..cfg.rounds {
        for ((op, &n), s) in ops.iter_mut().zip(&batches).zip(&mut samples) {
            let t = time(op, n);
            s.push(t.as_nanos() as f64 / n as f64);
        }
    }
    samples
        .into_iter()
        .zip(batches)
        .map(|(mut s, batch)| {
            s.sort_by(f64::total_cmp);
            Stats {
                median_ns: percentile(&s, 0.5),
                p10_ns: percentile(&s, 0.1),
                p90_ns: percentile(&s, 0.9),
                batch,
                rounds: s.len(),
            }
        })
        .collect()
}

/// A figure for the JSON reports: three decimals, or `null` when it is not finite.
pub fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

/// MB/s (10^6 octets per second) for `bytes` handled in `ns`.
pub fn mb_per_s(bytes: usize, ns: f64) -> f64 {
    bytes as f64 * 1e3 / ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let s: Vec<f64> = (1..=30).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 16.0);
        assert_eq!(percentile(&s, 0.1), 4.0);
        assert_eq!(percentile(&s, 0.9), 27.0);
        assert_eq!(percentile(&[5.0], 0.9), 5.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn measure_counts_operations() {
        let mut calls = 0u64;
        {
            let mut ops: Vec<Op<'_>> = vec![Box::new(|n| calls += n)];
            let cfg = Config {
                rounds: 3,
                batch: Duration::from_micros(200),
                warmup: Duration::ZERO,
            };
            let stats = measure(&mut ops, &cfg);
            assert_eq!(stats.len(), 1);
            assert_eq!(stats[0].rounds, 3);
            assert!(stats[0].batch >= 1);
        }
        assert!(calls >= 3);
    }
}
