//! Data movement, generic over the element type (`T: Copy`, so f32 and the
//! 8-bit types share them): ONNX `Transpose`, `Slice`, `Pad`, `Concat`.
//!
//! Shapes have `MAX_RANK` dims (lower ranks padded with leading 1s, and
//! permutations / starts / steps extended with the identity); all tensors
//! are row-major.
//!
//! ```text
//! transpose: out_shape[d] = in_shape[perm[d]];  out[idx] = in[j] with j[perm[d]] = idx[d]
//! slice:     out[idx] = in[start[d] + idx[d] * step[d]]   (step may be negative)
//! pad:       out[idx] = in[idx[d] - before[d]] inside the input, else by mode:
//!            Constant: value; Edge: the nearest input element;
//!            Reflect: mirrored about the edge without repeating it
//!            (i -> -i before the start, i -> 2(len-1) - i after the end,
//!            repeatedly for pads wider than the input, as numpy `reflect`)
//! concat:    each input copied into its slot along the axis
//! ```
//!
//! Parameter ranges (validated by the op layer): every slice index lies in
//! the input; for Edge and Reflect the input is non-empty along padded dims
//! (a length-1 dim reflects to its single element).

use super::{contiguous_strides, next_index, MAX_RANK};

/// `out = input` transposed by `perm` (`out_shape[d] = in_shape[perm[d]]`).
pub fn transpose<T: Copy>(
    input: &[T],
    in_shape: [usize; MAX_RANK],
    perm: [usize; MAX_RANK],
    out: &mut [T],
) {
    let in_strides = contiguous_strides(in_shape);
    let mut out_shape = [0; MAX_RANK];
    // Input stride to follow when moving along each output dim.
    let mut src = [0isize; MAX_RANK];
    for d in 0..MAX_RANK {
        debug_assert!(perm[d] < MAX_RANK, "bad perm");
        out_shape[d] = in_shape[perm[d]];
        src[d] = in_strides[perm[d]] as isize;
    }
    let total: usize = in_shape.iter().product();
    debug_assert!(
        input.len() >= total && out.len() >= total,
        "buffer too short"
    );
    if total == 0 {
        return;
    }
    // Bare metal keeps only the generic walk below: the column path took
    // 1 KB more flash in BlazeFace's firmware, over the 20 KB budget of
    // `scripts/board-test`.
    #[cfg(not(target_os = "none"))]
    if columns(input, out_shape, src, &mut out[..total]) {
        return;
    }
    walk(&mut out[..total], out_shape, 0, src, |o| input[o as usize]);
}

/// [`transpose`] of an output that, its dims merged, interleaves at most
/// 4 columns of at least 16 values each read contiguously (NCHW -> NHWC of
/// an image): per block of `mid × inner` outputs, each column copied from
/// its input run rather than `inner` strided reads per output row. False
/// (nothing written) for other shapes.
#[cfg(not(target_os = "none"))]
fn columns<T: Copy>(
    input: &[T],
    out_shape: [usize; MAX_RANK],
    src: [isize; MAX_RANK],
    out: &mut [T],
) -> bool {
    let (shape, src) = merge_dims(out_shape, src);
    let (inner, step) = (shape[MAX_RANK - 1], src[MAX_RANK - 1]);
    let mid = shape[MAX_RANK - 2];
    if inner <= 4 && src[MAX_RANK - 2] == 1 && mid >= 16 {
        let mut idx = [0usize; MAX_RANK - 2];
        for blk in out.chunks_exact_mut(mid * inner) {
            let off: isize = (0..MAX_RANK - 2).map(|d| idx[d] as isize * src[d]).sum();
            let col = |c: usize| {
                let start = (off + c as isize * step) as usize;
                &input[start..start + mid]
            };
            match inner {
                2 => interleave(blk, [col(0), col(1)]),
                3 => interleave(blk, [col(0), col(1), col(2)]),
                4 => interleave(blk, [col(0), col(1), col(2), col(3)]),
                _ => blk.copy_from_slice(col(0)),
            }
            next_index(&mut idx, &shape[..MAX_RANK - 2]);
        }
        return true;
    }
    false
}

/// `out[i·C + c] = cols[c][i]`: `C` columns (of equal length) interleaved
/// in one pass, which LLVM vectorizes with shuffles (NCHW -> NHWC of a
/// 320×480 RGB image: 0.21 -> 0.13 ms, against one strided pass per
/// column).
#[cfg(not(target_os = "none"))]
#[inline(always)]
fn interleave<T: Copy, const C: usize>(out: &mut [T], cols: [&[T]; C]) {
    let n = cols[0].len();
    for (i, o) in out.chunks_exact_mut(C).take(n).enumerate() {
        for c in 0..C {
            o[c] = cols[c][i];
        }
    }
}

/// `shape` and `src` (an input stride per output dim) with adjacent output
/// dims that read the input contiguously (`src[d] == src[d + 1] ·
/// shape[d + 1]`) merged into one, right-aligned and padded with 1s: the
/// same offsets in the same order.
#[cfg(not(target_os = "none"))]
fn merge_dims(
    shape: [usize; MAX_RANK],
    src: [isize; MAX_RANK],
) -> ([usize; MAX_RANK], [isize; MAX_RANK]) {
    let (mut m_shape, mut m_src) = ([1usize; MAX_RANK], [0isize; MAX_RANK]);
    let mut k = MAX_RANK;
    for d in (0..MAX_RANK).rev() {
        if shape[d] == 1 {
            continue;
        }
        if k < MAX_RANK && m_src[k] * m_shape[k] as isize == src[d] {
            m_shape[k] *= shape[d];
        } else {
            k -= 1;
            m_shape[k] = shape[d];
            m_src[k] = src[d];
        }
    }
    (m_shape, m_src)
}

/// `out[idx] = input[start[d] + idx[d]*step[d]]` over `out_shape`; a
/// negative step counts down from `start`.
pub fn slice<T: Copy>(
    input: &[T],
    in_shape: [usize; MAX_RANK],
    start: [usize; MAX_RANK],
    step: [isize; MAX_RANK],
    out: &mut [T],
    out_shape: [usize; MAX_RANK],
) {
    let in_strides = contiguous_strides(in_shape);
    let total: usize = out_shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    if total == 0 {
        return;
    }
    let mut base = 0isize;
    let mut src = [0isize; MAX_RANK];
    for d in 0..MAX_RANK {
        debug_assert!(start[d] < in_shape[d], "slice start out of range");
        debug_assert!({
            let last = start[d] as isize + (out_shape[d] as isize - 1) * step[d];
            last >= 0 && (last as usize) < in_shape[d]
        });
        base += (start[d] * in_strides[d]) as isize;
        src[d] = step[d] * in_strides[d] as isize;
    }
    walk(&mut out[..total], out_shape, base, src, |o| {
        input[o as usize]
    });
}

/// Fills `out` (row-major over `shape`, non-empty) with `get(offset)`,
/// where `offset = base + sum_d idx[d] * src[d]`.
#[inline(always)]
fn walk<T: Copy>(
    out: &mut [T],
    shape: [usize; MAX_RANK],
    base: isize,
    src: [isize; MAX_RANK],
    get: impl Fn(isize) -> T,
) {
    let inner = shape[MAX_RANK - 1];
    let step = src[MAX_RANK - 1];
    let mut idx = [0usize; MAX_RANK - 1];
    for row in out.chunks_exact_mut(inner) {
        let mut off = base;
        for d in 0..MAX_RANK - 1 {
            off += idx[d] as isize * src[d];
        }
        for (j, o) in row.iter_mut().enumerate() {
            *o = get(off + j as isize * step);
        }
        next_index(&mut idx, &shape[..MAX_RANK - 1]);
    }
}

/// How [`pad`] fills positions outside the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant,
    /// Mirror about the edge element, which is not repeated
    /// (`[1, 2, 3]` padded by 2 before: `[3, 2, 1, 2, 3]`; wider pads keep
    /// mirroring: `[1, 2]` padded by 3 before: `[2, 1, 2, 1, 2]`).
    Reflect,
    /// Repeat the edge element (`[1, 2, 3]` -> `[1, 1, 1, 2, 3]`).
    Edge,
}

/// Pads `input` into `out`; `after[d] = out_shape[d] - in_shape[d] -
/// before[d]` is implied. See [`PadMode`] and the module docs.
pub fn pad<T: Copy>(
    mode: PadMode,
    value: T,
    input: &[T],
    in_shape: [usize; MAX_RANK],
    before: [usize; MAX_RANK],
    out: &mut [T],
    out_shape: [usize; MAX_RANK],
) {
    let in_strides = contiguous_strides(in_shape);
    let total: usize = out_shape.iter().product();
    debug_assert!(out.len() >= total, "out too short");
    debug_assert!(input.len() >= in_shape.iter().product(), "input too short");
    for d in 0..MAX_RANK {
        debug_assert!(out_shape[d] >= in_shape[d] + before[d], "negative pad");
    }
    if total == 0 {
        return;
    }
    let inner = out_shape[MAX_RANK - 1];
    let (len, pre) = (in_shape[MAX_RANK - 1], before[MAX_RANK - 1]);
    // Off on bare metal, where the flash it takes matters more.
    #[cfg(not(target_os = "none"))]
    if mode == PadMode::Constant
        && len > 0
        && (0..MAX_RANK - 1).all(|d| before[d] == 0 && in_shape[d] == out_shape[d])
    {
        // Only the last dim padded (a channel pad): output row `r` is
        // input row `r` between two constant runs.
        for (row, src) in out[..total]
            .chunks_exact_mut(inner)
            .zip(input[..total / inner * len].chunks_exact(len))
        {
            if (16..=128).contains(&inner) && len >= 16 {
                // The whole row filled, then the middle copied over it, both
                // in fixed-size blocks (short `fill`s are `memset` calls).
                fill_short(row, value);
                copy_short(&mut row[pre..pre + len], src);
                continue;
            }
            let (left, rest) = row.split_at_mut(pre);
            let (mid, right) = rest.split_at_mut(len);
            left.fill(value);
            copy_short(mid, src);
            right.fill(value);
        }
        return;
    }
    let mut idx = [0usize; MAX_RANK - 1];
    for row in out[..total].chunks_exact_mut(inner) {
        // Source offset of the row, or None if it lies in constant padding.
        let mut base = Some(0usize);
        for d in 0..MAX_RANK - 1 {
            base = base.and_then(|b| {
                Some(b + source(mode, idx[d], before[d], in_shape[d])? * in_strides[d])
            });
        }
        match base {
            None => row.fill(value),
            Some(b) => {
                // Left padding, the copied middle, right padding.
                let (left, rest) = row.split_at_mut(pre);
                let (mid, right) = rest.split_at_mut(len);
                mid.copy_from_slice(&input[b..b + len]);
                for (j, o) in left.iter_mut().enumerate() {
                    *o = source(mode, j, pre, len).map_or(value, |s| input[b + s]);
                }
                for (j, o) in right.iter_mut().enumerate() {
                    *o = source(mode, pre + len + j, pre, len).map_or(value, |s| input[b + s]);
                }
            }
        }
        next_index(&mut idx, &out_shape[..MAX_RANK - 1]);
    }
}

/// `dst.copy_from_slice(src)` for the short rows of a channel pad or
/// concat: in blocks of 16 elements, the last ending at the last element
/// (a library `memcpy` call costs more than the copy at these lengths).
#[cfg(not(target_os = "none"))]
#[inline(always)]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    const B: usize = 16;
    let n = dst.len().min(src.len());
    if !(B..=8 * B).contains(&n) {
        dst[..n].copy_from_slice(&src[..n]);
        return;
    }
    let mut i = 0;
    while i < n {
        let at = i.min(n - B);
        // Both sides are `B` long: a fixed-size copy, inlined.
        dst[at..at + B].copy_from_slice(&src[at..at + B]);
        i += B;
    }
}

/// `dst.fill(value)` for `16 <= dst.len() <= 128`, in blocks of 16, the
/// last ending at the last element.
#[cfg(not(target_os = "none"))]
#[inline(always)]
fn fill_short<T: Copy>(dst: &mut [T], value: T) {
    const B: usize = 16;
    let n = dst.len();
    let block = [value; B];
    let mut i = 0;
    while i < n {
        let at = i.min(n - B);
        dst[at..at + B].copy_from_slice(&block);
        i += B;
    }
}

/// Input coordinate of output coordinate `o` along one dim, or `None` for
/// a constant-padded position.
#[inline]
fn source(mode: PadMode, o: usize, before: usize, len: usize) -> Option<usize> {
    let c = o as isize - before as isize;
    let last = len as isize - 1;
    if (0..=last).contains(&c) {
        return Some(c as usize);
    }
    let s = match mode {
        PadMode::Constant => return None,
        PadMode::Edge => c.clamp(0, last.max(0)),
        PadMode::Reflect => {
            // Mirror about the edges, repeatedly (period 2*(len-1)).
            let period = 2 * last;
            if period <= 0 {
                0
            } else {
                let m = c.rem_euclid(period);
                if m <= last {
                    m
                } else {
                    period - m
                }
            }
        }
    };
    Some(s as usize)
}

/// Copies one input of a concatenation into its place: for each of the
/// `outer` rows, `input[row*in_inner..][..in_inner]` goes to
/// `out[row*out_inner + offset..][..in_inner]`. `in_inner` / `out_inner` are
/// the input's / output's axis length times the product of the dims after
/// the axis; `offset` is the sum of the earlier inputs' `in_inner`.
pub fn concat_part<T: Copy>(
    input: &[T],
    outer: usize,
    in_inner: usize,
    out_inner: usize,
    offset: usize,
    out: &mut [T],
) {
    debug_assert!(
        offset + in_inner <= out_inner,
        "part exceeds the output row"
    );
    debug_assert!(
        input.len() >= outer * in_inner && out.len() >= outer * out_inner,
        "buffer too short"
    );
    for row in 0..outer {
        let (dst, src) = (
            &mut out[row * out_inner + offset..][..in_inner],
            &input[row * in_inner..][..in_inner],
        );
        // Channel concats of NHWC tensors copy rows of tens of values.
        #[cfg(not(target_os = "none"))]
        copy_short(dst, src);
        #[cfg(target_os = "none")]
        dst.copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::test_util::{iters, Rng};
    use std::vec;
    use std::vec::Vec;

    fn unflatten(mut flat: usize, shape: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
        let mut idx = [0; MAX_RANK];
        for d in (0..MAX_RANK).rev() {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        idx
    }

    fn flatten(idx: &[usize; MAX_RANK], shape: &[usize; MAX_RANK]) -> usize {
        (0..MAX_RANK).fold(0, |acc, d| acc * shape[d] + idx[d])
    }

    fn random_shape(rng: &mut Rng, max: usize) -> [usize; MAX_RANK] {
        let rank = 1 + rng.below(MAX_RANK);
        let mut s = [1; MAX_RANK];
        for v in &mut s[MAX_RANK - rank..] {
            *v = 1 + rng.below(max);
        }
        s
    }

    #[test]
    fn transpose_random_perms() {
        let mut rng = Rng::new(51);
        // Images NCHW -> NHWC (a few interleaved columns: the column path),
        // then random shapes and permutations.
        let images = [
            [1, 1, 2, 3, 7, 9],
            [1, 1, 1, 4, 16, 16],
            [1, 1, 3, 1, 5, 4],
            [1, 1, 2, 2, 4, 5],
        ];
        for it in 0..iters(300) + images.len() {
            let (s, perm) = if let Some(&s) = images.get(it) {
                (s, [0, 1, 2, 4, 5, 3])
            } else {
                let mut perm = [0, 1, 2, 3, 4, 5];
                for i in (1..MAX_RANK).rev() {
                    perm.swap(i, rng.below(i + 1));
                }
                (random_shape(&mut rng, 5), perm)
            };
            let total: usize = s.iter().product();
            let x: Vec<u32> = (0..total as u32).collect();
            let mut out = vec![u32::MAX; total];
            transpose(&x, s, perm, &mut out);
            let os: [usize; MAX_RANK] = core::array::from_fn(|d| s[perm[d]]);
            for (flat, &v) in out.iter().enumerate() {
                let oi = unflatten(flat, &os);
                let mut ii = [0; MAX_RANK];
                for d in 0..MAX_RANK {
                    ii[perm[d]] = oi[d];
                }
                assert_eq!(v as usize, flatten(&ii, &s));
            }
        }
        // NHWC -> NCHW on bytes.
        let x: Vec<u8> = (0..12).collect(); // [1, 2, 2, 3]
        let mut out = [0u8; 12];
        transpose(&x, [1, 1, 1, 2, 2, 3], [0, 1, 2, 5, 3, 4], &mut out);
        assert_eq!(out, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    }

    #[test]
    fn slice_positive_and_negative_steps() {
        let mut rng = Rng::new(52);
        for _ in 0..iters(500) {
            let s = random_shape(&mut rng, 7);
            let mut start = [0; MAX_RANK];
            let mut step = [1isize; MAX_RANK];
            let mut os = [1; MAX_RANK];
            for d in 0..MAX_RANK {
                start[d] = rng.below(s[d]);
                let st = 1 + rng.below(3) as isize;
                step[d] = if rng.below(2) == 0 { st } else { -st };
                // Number of indices start + i*step inside [0, len).
                let room = if step[d] > 0 {
                    (s[d] - 1 - start[d]) / st as usize
                } else {
                    start[d] / st as usize
                };
                os[d] = rng.below(room + 1) + 1;
            }
            let total: usize = s.iter().product();
            let x: Vec<u32> = (0..total as u32).collect();
            let n: usize = os.iter().product();
            let mut out = vec![u32::MAX; n];
            slice(&x, s, start, step, &mut out, os);
            for (flat, &v) in out.iter().enumerate() {
                let oi = unflatten(flat, &os);
                let ii: [usize; MAX_RANK] = core::array::from_fn(|d| {
                    (start[d] as isize + oi[d] as isize * step[d]) as usize
                });
                assert_eq!(v as usize, flatten(&ii, &s));
            }
        }
        // Reverse a row: x[::-1].
        let mut out = [0.0f32; 4];
        slice(
            &[1.0, 2.0, 3.0, 4.0],
            [1, 1, 1, 1, 1, 4],
            [0, 0, 0, 0, 0, 3],
            [1, 1, 1, 1, 1, -1],
            &mut out,
            [1, 1, 1, 1, 1, 4],
        );
        assert_eq!(out, [4.0, 3.0, 2.0, 1.0]);
        // x[1, 3:0:-2] of a 2x5 tensor.
        let x: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let mut out2 = [0.0f32; 2];
        slice(
            &x,
            [1, 1, 1, 1, 2, 5],
            [0, 0, 0, 0, 1, 3],
            [1, 1, 1, 1, 1, -2],
            &mut out2,
            [1, 1, 1, 1, 1, 2],
        );
        assert_eq!(out2, [8.0, 6.0]);
    }

    /// Pads with an independent coordinate mapping per output element.
    fn naive_pad(
        mode: PadMode,
        value: i32,
        x: &[i32],
        s: [usize; MAX_RANK],
        before: [usize; MAX_RANK],
        os: [usize; MAX_RANK],
    ) -> Vec<i32> {
        let n: usize = os.iter().product();
        (0..n)
            .map(|flat| {
                let oi = unflatten(flat, &os);
                let mut ii = [0; MAX_RANK];
                for d in 0..MAX_RANK {
                    let mut c = oi[d] as i64 - before[d] as i64;
                    let len = s[d] as i64;
                    if c < 0 || c >= len {
                        match mode {
                            PadMode::Constant => return value,
                            PadMode::Edge => c = c.clamp(0, len - 1),
                            PadMode::Reflect if len == 1 => c = 0,
                            PadMode::Reflect => {
                                // Mirror until inside.
                                while c < 0 || c >= len {
                                    c = if c < 0 { -c } else { 2 * (len - 1) - c };
                                }
                            }
                        }
                    }
                    ii[d] = c as usize;
                }
                x[flatten(&ii, &s)]
            })
            .collect()
    }

    #[test]
    fn pad_all_modes_random() {
        let mut rng = Rng::new(53);
        for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Edge] {
            for _ in 0..iters(400) {
                let s = random_shape(&mut rng, 5);
                let mut before = [0; MAX_RANK];
                let mut os = s;
                for d in 0..MAX_RANK {
                    let lim = if mode == PadMode::Reflect {
                        2 * s[d] + 2
                    } else {
                        4
                    };
                    before[d] = rng.below(lim);
                    os[d] += before[d] + rng.below(lim);
                }
                if os.iter().product::<usize>() > 50_000 {
                    continue;
                }
                let total: usize = s.iter().product();
                let x: Vec<i32> = (0..total as i32).collect();
                let mut out = vec![i32::MIN; os.iter().product()];
                pad(mode, -7, &x, s, before, &mut out, os);
                assert_eq!(
                    out,
                    naive_pad(mode, -7, &x, s, before, os),
                    "{mode:?} {s:?} {before:?} {os:?}"
                );
            }
        }
        // Only the last dim padded (the row-for-row path), rows of every
        // length around the copy's block of 16, in every mode.
        for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Edge] {
            for len in [1, 2, 15, 16, 17, 31, 33, 128, 129, 200] {
                for (pre, post) in [(0, 4), (3, 0), (2, 5), (0, 0)] {
                    let s = [1, 1, 1, 3, 2, len];
                    let mut os = s;
                    os[MAX_RANK - 1] += pre + post;
                    let mut before = [0; MAX_RANK];
                    before[MAX_RANK - 1] = pre;
                    let x: Vec<i32> = (0..6 * len as i32).collect();
                    let mut out = vec![i32::MIN; os.iter().product()];
                    pad(mode, -7, &x, s, before, &mut out, os);
                    assert_eq!(
                        out,
                        naive_pad(mode, -7, &x, s, before, os),
                        "{mode:?} {s:?}"
                    );
                }
            }
        }
        // ONNX Pad reflect example: [[1.0, 1.2], [2.3, 3.4], [4.5, 5.7]],
        // pads [0, 2, 0, 0] (as wide as the input).
        let x = [1.0f32, 1.2, 2.3, 3.4, 4.5, 5.7];
        let mut out = [0.0f32; 12];
        pad(
            PadMode::Reflect,
            0.0,
            &x,
            [1, 1, 1, 1, 3, 2],
            [0, 0, 0, 0, 0, 2],
            &mut out,
            [1, 1, 1, 1, 3, 4],
        );
        assert_eq!(
            out,
            [1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7]
        );
        pad(
            PadMode::Edge,
            0.0,
            &x,
            [1, 1, 1, 1, 3, 2],
            [0, 0, 0, 0, 0, 2],
            &mut out,
            [1, 1, 1, 1, 3, 4],
        );
        assert_eq!(
            out,
            [1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7]
        );
        // Constant padding around an empty input.
        let mut out3 = [1.0f32; 3];
        pad(
            PadMode::Constant,
            9.0,
            &[],
            [1, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
            &mut out3,
            [1, 1, 1, 1, 1, 3],
        );
        assert_eq!(out3, [9.0; 3]);
    }

    #[test]
    fn concat_parts() {
        // Concatenate [2, 1, 3] and [2, 2, 3] along axis 1 -> [2, 3, 3].
        let a: Vec<u8> = (0..6).collect();
        let b: Vec<u8> = (100..112).collect();
        let mut out = [0u8; 18];
        concat_part(&a, 2, 3, 9, 0, &mut out);
        concat_part(&b, 2, 6, 9, 3, &mut out);
        assert_eq!(
            out,
            [0, 1, 2, 100, 101, 102, 103, 104, 105, 3, 4, 5, 106, 107, 108, 109, 110, 111]
        );
        // Empty part and empty outer are no-ops.
        concat_part::<u8>(&[], 2, 0, 9, 9, &mut out);
        concat_part::<u8>(&[], 0, 3, 9, 0, &mut []);
    }

    /// Rows shorter than, within and beyond the block copies' 16..=128,
    /// each part exactly in its slot of every row.
    #[test]
    fn concat_parts_of_every_row_length() {
        let lens = [1, 15, 16, 17, 24, 31, 33, 100, 128, 129, 300];
        let out_inner: usize = lens.iter().sum();
        let outer = 3;
        let mut out = vec![u32::MAX; outer * out_inner];
        let mut offset = 0;
        for (p, &len) in lens.iter().enumerate() {
            let part: Vec<u32> = (0..(outer * len) as u32)
                .map(|i| (p as u32) << 16 | i)
                .collect();
            concat_part(&part, outer, len, out_inner, offset, &mut out);
            offset += len;
        }
        for row in 0..outer {
            let mut at = row * out_inner;
            for (p, &len) in lens.iter().enumerate() {
                for i in 0..len {
                    let want = (p as u32) << 16 | (row * len + i) as u32;
                    assert_eq!(
                        out[at + i],
                        want,
                        "row {row} part {p} (len {len}) value {i}"
                    );
                }
                at += len;
            }
        }
    }
}
