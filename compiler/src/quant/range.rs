//! Choosing each activation's quantization range from its calibration
//! [`Stats`]: min-max, percentile, entropy (KL divergence, TensorRT style)
//! and MSE-optimal search. All are deterministic functions of the stats.

use std::fmt;
use std::str::FromStr;

use super::calibrate::{Stats, BINS};

/// A range selection method (`--calib-method`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The observed `[min, max]`.
    MinMax,
    /// The `(100-p)`-th and `p`-th percentiles (two-sided).
    Percentile(f64),
    /// The clipping threshold minimizing KL(P || Q) between the observed
    /// distribution and its 8-bit quantization (TensorRT's calibrator, on
    /// magnitudes).
    Entropy,
    /// The range minimizing the expected squared error (clipping plus
    /// rounding noise) over the histogram.
    Mse,
}

impl Method {
    /// Whether the method needs the second (histogram) pass.
    pub fn needs_histogram(self) -> bool {
        self != Method::MinMax
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::MinMax => f.write_str("minmax"),
            Method::Percentile(p) => write!(f, "percentile:{p}"),
            Method::Entropy => f.write_str("entropy"),
            Method::Mse => f.write_str("mse"),
        }
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "percentile" => Ok(Method::Percentile(99.99)),
            "entropy" | "kl" => Ok(Method::Entropy),
            "mse" => Ok(Method::Mse),
            _ => {
                if let Some(p) = s.strip_prefix("percentile:") {
                    let v: f64 = p
                        .parse()
                        .map_err(|_| format!("'{p}' is not a number (percentile:99.9)"))?;
                    if !(50.0..=100.0).contains(&v) {
                        return Err(format!("percentile {v} must be within [50, 100]"));
                    }
                    return Ok(Method::Percentile(v));
                }
                Err(format!(
                    "unknown calibration method '{s}' (minmax, percentile, percentile:P, entropy, mse)"
                ))
            }
        }
    }
}

/// The real range `[lo, hi]` to quantize a tensor with (before widening
/// to include 0).
pub fn choose(st: &Stats, method: Method) -> (f32, f32) {
    if st.count == 0 || st.max <= st.min || st.hist.is_empty() {
        return (st.min, st.max);
    }
    let (lo, hi) = match method {
        Method::MinMax => (st.min as f64, st.max as f64),
        Method::Percentile(p) => percentile(st, p),
        Method::Entropy => entropy(st),
        Method::Mse => mse(st),
    };
    (lo as f32, hi as f32)
}

fn percentile(st: &Stats, p: f64) -> (f64, f64) {
    let total = st.count as f64;
    let quantile = |q: f64| -> f64 {
        // Upper edge of the first bin whose cumulative count reaches q.
        let target = q * total;
        let mut acc = 0.0;
        for (i, &c) in st.hist.iter().enumerate() {
            acc += c as f64;
            if acc >= target {
                return st.min as f64 + (i + 1) as f64 * st.bin_width();
            }
        }
        st.max as f64
    };
    let lo_q = (100.0 - p) / 100.0;
    let lo = if lo_q <= 0.0 {
        st.min as f64
    } else {
        // Lower edge of the bin holding the lower quantile.
        quantile(lo_q) - st.bin_width()
    };
    let hi = if p >= 100.0 {
        st.max as f64
    } else {
        quantile(p / 100.0)
    };
    (lo.max(st.min as f64), hi.min(st.max as f64).max(lo))
}

/// Histogram of |x| with `BINS` bins over `[0, amax]`, from the signed one.
fn magnitudes(st: &Stats) -> (Vec<f64>, f64) {
    let amax = (st.min.abs().max(st.max.abs())) as f64;
    let mut h = vec![0.0; BINS];
    if amax <= 0.0 {
        return (h, amax);
    }
    for (i, &c) in st.hist.iter().enumerate() {
        let b = ((st.center(i).abs() / amax) * BINS as f64) as usize;
        h[b.min(BINS - 1)] += c as f64;
    }
    (h, amax)
}

fn entropy(st: &Stats) -> (f64, f64) {
    // One-sided data (e.g. after ReLU) has all 256 levels on one side.
    let one_sided = st.min >= 0.0 || st.max <= 0.0;
    let levels = if one_sided { 255 } else { 127 };
    let (h, amax) = magnitudes(st);
    let width = amax / BINS as f64;
    let mut best = (f64::INFINITY, BINS);
    for i in (levels + 1..=BINS).step_by(8).chain([BINS]) {
        // P: the first i bins, outliers folded into the last one.
        let mut p: Vec<f64> = h[..i].to_vec();
        p[i - 1] += h[i..].iter().sum::<f64>();
        // Q: the first i bins merged into `levels` groups, each group's mass
        // spread evenly over its non-empty bins.
        let mut q = vec![0.0; i];
        for g in 0..levels {
            let (a, b) = (
                g * i / levels,
                ((g + 1) * i / levels).max(g * i / levels + 1),
            );
            let b = b.min(i);
            let mass: f64 = h[a..b].iter().sum();
            let nonzero = h[a..b].iter().filter(|&&c| c > 0.0).count();
            if nonzero > 0 {
                for k in a..b {
                    if h[k] > 0.0 {
                        q[k] = mass / nonzero as f64;
                    }
                }
            }
        }
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        if sp <= 0.0 || sq <= 0.0 {
            continue;
        }
        let mut kl = 0.0;
        for k in 0..i {
            if p[k] > 0.0 {
                let pk = p[k] / sp;
                // Smoothing: a bin Q left empty costs as if it held a tiny mass.
                let qk = (q[k] / sq).max(1e-12);
                kl += pk * (pk / qk).ln();
            }
        }
        if kl < best.0 {
            best = (kl, i);
        }
    }
    let t = best.1 as f64 * width;
    ((st.min as f64).max(-t), (st.max as f64).min(t))
}

fn mse(st: &Stats) -> (f64, f64) {
    let (min, max) = (st.min as f64, st.max as f64);
    // Expected squared error of quantizing the histogram with [lo, hi]:
    // clipping error outside, rounding noise step^2/12 inside.
    let cost = |lo: f64, hi: f64| -> f64 {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let step = (hi - lo) / 255.0;
        if step <= 0.0 {
            return f64::INFINITY;
        }
        let noise = step * step / 12.0;
        let mut err = 0.0;
        for (i, &c) in st.hist.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let x = st.center(i);
            let e = if x > hi {
                (x - hi).powi(2)
            } else if x < lo {
                (lo - x).powi(2)
            } else {
                noise
            };
            err += c as f64 * e;
        }
        err
    };
    // Coordinate descent over the two ends, each shrunk by a factor in
    // [0.01, 1] of its observed value: the ends of an asymmetric
    // distribution want different clipping.
    let factors: Vec<f64> = (1..=100).map(|k| k as f64 / 100.0).collect();
    let (mut lo, mut hi) = (min, max);
    for _ in 0..2 {
        hi = factors
            .iter()
            .map(|a| a * max)
            .min_by(|a, b| cost(lo, *a).total_cmp(&cost(lo, *b)))
            .unwrap_or(max);
        lo = factors
            .iter()
            .map(|a| a * min)
            .min_by(|a, b| cost(*a, hi).total_cmp(&cost(*b, hi)))
            .unwrap_or(min);
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f32]) -> Stats {
        let (min, max) = values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let mut st = Stats {
            min,
            max,
            hist: vec![0; BINS],
            count: values.len() as u64,
        };
        for &v in values {
            let b = (((v - min) as f64 / st.bin_width()) as usize).min(BINS - 1);
            st.hist[b] += 1;
        }
        st
    }

    /// A bell-shaped sample plus one far outlier.
    fn with_outlier() -> Vec<f32> {
        let mut v: Vec<f32> = (0..20000)
            .map(|i| {
                let u = (i as f32 + 0.5) / 20000.0;
                // Inverse of a logistic CDF: heavy-ish tails, deterministic.
                (u / (1.0 - u)).ln()
            })
            .collect();
        v.push(200.0);
        v
    }

    #[test]
    fn minmax_is_the_observed_range() {
        let st = stats(&with_outlier());
        let (lo, hi) = choose(&st, Method::MinMax);
        assert_eq!((lo, hi), (st.min, st.max));
    }

    #[test]
    fn clipping_methods_ignore_a_single_outlier() {
        let st = stats(&with_outlier());
        for m in [Method::Percentile(99.99), Method::Entropy] {
            let (lo, hi) = choose(&st, m);
            assert!(hi < 100.0 && hi > 3.0, "{m}: hi = {hi}");
            assert!(lo < -3.0 && lo >= st.min, "{m}: lo = {lo}");
        }
    }

    /// MSE keeps a far outlier (clipping it costs more than the coarser
    /// step does) but trims heavy tails, each end on its own.
    #[test]
    fn mse_trims_tails_not_outliers() {
        let st = stats(&with_outlier());
        assert!(choose(&st, Method::Mse).1 > 150.0);
        let mut tails = with_outlier();
        tails.pop();
        let st = stats(&tails);
        let (lo, hi) = choose(&st, Method::Mse);
        assert!(hi < st.max && hi > 3.0, "hi = {hi} of {}", st.max);
        assert!(lo > st.min && lo < -3.0, "lo = {lo} of {}", st.min);
    }

    #[test]
    fn parses_methods() {
        assert_eq!("minmax".parse::<Method>(), Ok(Method::MinMax));
        assert_eq!(
            "percentile".parse::<Method>(),
            Ok(Method::Percentile(99.99))
        );
        assert_eq!(
            "percentile:99.9".parse::<Method>(),
            Ok(Method::Percentile(99.9))
        );
        assert!("percentile:3".parse::<Method>().is_err());
        assert!("nope".parse::<Method>().unwrap_err().contains("unknown"));
    }
}
