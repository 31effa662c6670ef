//! Turning raw model outputs into scores: logistic, softmax, top-k.

use crate::math;

/// The logistic function, with the argument clipped to ±`clip` first
/// (MediaPipe clips BlazeFace's logits to ±100).
#[inline]
pub fn sigmoid(x: f32, clip: f32) -> f32 {
    1.0 / (1.0 + math::exp(-x.clamp(-clip, clip)))
}

/// [`sigmoid`] (unclipped) of every value, in place.
pub fn sigmoid_in_place(v: &mut [f32]) {
    for x in v {
        *x = sigmoid(*x, f32::MAX);
    }
}

/// Softmax of `v`, in place, shifted by the maximum (no overflow). NaN in,
/// NaN out; an empty slice is left alone.
pub fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = math::exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    for x in v.iter_mut() {
        *x *= inv;
    }
}

/// The `K` largest scores as `(index, score)`, best first; equal scores
/// keep the lower index first, NaN scores are never picked.
pub fn top_k<const K: usize>(scores: &[f32]) -> heapless::Vec<(usize, f32), K> {
    let mut best: heapless::Vec<(usize, f32), K> = heapless::Vec::new();
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        // Position among the kept ones: after every score >= s.
        let at = best.iter().position(|&(_, b)| s > b).unwrap_or(best.len());
        if at == K {
            continue;
        }
        if best.is_full() {
            best.pop();
        }
        // Cannot fail: there is room and `at <= len`.
        let _ = best.insert(at, (i, s));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let s = [0.1, 0.7, f32::NAN, 0.7, 0.9, -1.0];
        let t = top_k::<3>(&s);
        assert_eq!(t.as_slice(), &[(4, 0.9), (1, 0.7), (3, 0.7)]);
        assert_eq!(top_k::<8>(&s).len(), 5);
        assert!(top_k::<0>(&s).is_empty());
        assert!(top_k::<2>(&[]).is_empty());
    }

    #[test]
    fn softmax_and_sigmoid() {
        let mut v = [1000.0, 1000.0, f32::NEG_INFINITY];
        softmax_in_place(&mut v);
        assert_eq!(v, [0.5, 0.5, 0.0]);
        let mut v = [0.0, 2.0];
        softmax_in_place(&mut v);
        assert!((v[1] - 0.880_797).abs() < 1e-6);
        let mut w = [0.0, -1000.0, 1000.0];
        sigmoid_in_place(&mut w);
        assert_eq!(w, [0.5, 0.0, 1.0]);
        assert!((sigmoid(1e9, 100.0) - 1.0).abs() < 1e-6);
    }
}
