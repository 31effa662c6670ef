//! Splitting one op's output over several cores.
//!
//! The runtime itself has no threads: an [`Interpreter`](crate::Interpreter)
//! given a [`Parallel`] executor (feature `parallel`; the `threads` feature's
//! `ThreadPool` (`threads` feature), or the caller's own, e.g. an
//! RTOS's tasks) runs the ops that split cleanly in parts on it. A part
//! writes a disjoint range of the output and computes each value exactly as
//! a single call would, so outputs are the same bits for every number of
//! parts. The partition is static (equal ranges, fixed at the call) and
//! nothing is allocated.

use core::marker::PhantomData;

/// Most parts an op is split into.
pub const MAX_PARTS: usize = 16;

/// Runs the parts of one op concurrently.
///
/// # Contract
/// `run(n, job)` calls `job(i)` exactly once for every `i < n` and returns
/// after all calls have returned; calls may run in any order and on any
/// thread (the calling one included). A panic in a job is propagated by
/// `run` after the other parts have finished.
pub trait Parallel: Sync {
    /// How many parts it runs at once (at least 1); ops split into that many.
    fn threads(&self) -> usize;
    /// Calls `job(i)` for every `i < parts`; see the trait docs.
    fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync));
}

/// Runs `f(i, range_i, &mut out[range_i])` for every part `i`, concurrently on
/// `par`, where `range_i = bounds[i]..bounds[i + 1]`; `bounds` is
/// non-decreasing and its last entry is at most `out.len()` (checked).
pub fn for_each_part<T: Send, F>(par: &dyn Parallel, out: &mut [T], bounds: &[usize], f: F)
where
    F: Fn(usize, core::ops::Range<usize>, &mut [T]) + Sync,
{
    let parts = bounds.len().saturating_sub(1);
    assert!(
        bounds.windows(2).all(|w| w[0] <= w[1]) && bounds.last().is_none_or(|&e| e <= out.len()),
        "part bounds out of order or out of range"
    );
    let base = SharedMut {
        ptr: out.as_mut_ptr(),
        _out: PhantomData,
    };
    let job = |i: usize| {
        let (s, e) = (bounds[i], bounds[i + 1]);
        // SAFETY: `s <= e <= out.len()` (checked above), so the range lies
        // in `out`, which stays mutably borrowed until `run` returns; the
        // ranges of different parts are disjoint (non-decreasing bounds) and
        // `run` calls each part once, so no two live slices overlap.
        let chunk = unsafe { core::slice::from_raw_parts_mut(base.get().add(s), e - s) };
        f(i, s..e, chunk);
    };
    par.run(parts, &job);
}

/// The output's base pointer, shared by the parts (each derives its own,
/// disjoint slice from it).
struct SharedMut<'a, T> {
    ptr: *mut T,
    _out: PhantomData<&'a mut [T]>,
}

impl<T> SharedMut<'_, T> {
    fn get(&self) -> *mut T {
        self.ptr
    }
}

// SAFETY: the parts only write disjoint ranges through the pointer (see
// `for_each_part`), so sharing it is sharing `&mut [T]` split in pieces,
// which is sound for `T: Send`.
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}

/// Equal ranges of `0..n` for `parts` parts (the first `n % parts` one longer),
/// as `parts + 1` bounds in `buf`; returns the bounds used.
pub fn equal_bounds(n: usize, parts: usize, buf: &mut [usize; MAX_PARTS + 1]) -> &[usize] {
    let parts = parts.clamp(1, MAX_PARTS);
    for (i, b) in buf.iter_mut().take(parts + 1).enumerate() {
        *b = n * i / parts;
    }
    &buf[..parts + 1]
}

/// Least multiply-accumulates for an op to be split over threads (the
/// hand-off costs a few microseconds).
pub const SPLIT_MIN_MACS: usize = 1 << 18;

/// Where and how to split an op over `rows` output rows of `row_len`
/// elements each: the executor and the parts' bounds in output elements
/// (`buf`), or `None` when it runs whole: no executor or one thread, fewer
/// than [`SPLIT_MIN_MACS`] (`macs`), fewer rows than two parts, or row
/// bounds that `fits` refuses.
pub fn split_rows<'p, 'b>(
    par: Option<&'p dyn Parallel>,
    rows: usize,
    row_len: usize,
    macs: usize,
    buf: &'b mut [usize; MAX_PARTS + 1],
    fits: impl Fn(&[usize]) -> bool,
) -> Option<(&'p dyn Parallel, &'b [usize])> {
    if !cfg!(feature = "parallel") {
        return None; // the split code is left out of this build
    }
    let par = par?;
    let parts = par.threads().min(rows).min(MAX_PARTS);
    if parts < 2 || macs < SPLIT_MIN_MACS || !fits(equal_bounds(rows, parts, buf)) {
        return None;
    }
    for b in buf.iter_mut().take(parts + 1) {
        *b *= row_len;
    }
    Some((par, &buf[..parts + 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the parts one after the other, in reverse.
    struct Serial(usize);

    impl Parallel for Serial {
        fn threads(&self) -> usize {
            self.0
        }
        fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync)) {
            for i in (0..parts).rev() {
                job(i);
            }
        }
    }

    #[test]
    fn parts_cover_the_output_once() {
        let mut out = [0u32; 37];
        let mut buf = [0; MAX_PARTS + 1];
        for parts in 1..=MAX_PARTS {
            out.fill(0);
            let bounds = equal_bounds(out.len(), parts, &mut buf);
            assert_eq!((bounds[0], bounds[parts]), (0, 37));
            for_each_part(&Serial(parts), &mut out, bounds, |i, r, chunk| {
                assert_eq!(chunk.len(), r.len());
                for (v, k) in chunk.iter_mut().zip(r) {
                    *v += (k * 100 + i) as u32 + 1;
                }
            });
            for (k, &v) in out.iter().enumerate() {
                assert_eq!(v as usize / 100, k, "{parts} parts");
            }
        }
    }

    #[test]
    #[should_panic(expected = "part bounds")]
    fn bounds_past_the_output_are_refused() {
        let mut out = [0u8; 4];
        for_each_part(&Serial(2), &mut out, &[0, 2, 5], |_, _, _| {});
    }
}
