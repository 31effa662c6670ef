//! Offset assignment: buffers whose lifetimes overlap get disjoint bytes.

use super::buffers::Buffers;

fn overlaps(a: &super::buffers::Buf, b: &super::buffers::Buf) -> bool {
    a.first <= b.last && b.first <= a.last
}

/// Places buffers in `order` at the lowest offset clear of already placed,
/// lifetime-overlapping buffers.
fn place_in(bufs: &Buffers, order: &[usize]) -> Vec<usize> {
    let mut offsets = vec![0usize; bufs.bufs.len()];
    let mut placed: Vec<usize> = Vec::new();
    for &b in order {
        let me = &bufs.bufs[b];
        let mut clashes: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| overlaps(&bufs.bufs[p], me))
            .map(|&p| (offsets[p], offsets[p] + bufs.bufs[p].size))
            .collect();
        clashes.sort_unstable();
        let mut off = 0;
        for (s, e) in clashes {
            if off + me.size <= s {
                break;
            }
            off = off.max(e);
        }
        offsets[b] = off;
        placed.push(b);
    }
    offsets
}

/// TFLM's greedy by size: largest first, ties by first use.
pub fn greedy_by_size(bufs: &Buffers) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bufs.bufs.len()).collect();
    order.sort_by_key(|&b| (std::cmp::Reverse(bufs.bufs[b].size), bufs.bufs[b].first, b));
    place_in(bufs, &order)
}

/// First fit in order of first use (ties: longest lifetime first).
pub fn first_fit(bufs: &Buffers) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bufs.bufs.len()).collect();
    order.sort_by_key(|&b| (bufs.bufs[b].first, std::cmp::Reverse(bufs.bufs[b].last), b));
    place_in(bufs, &order)
}

/// Arena bytes of a placement.
pub fn arena_size(bufs: &Buffers, offsets: &[usize]) -> usize {
    bufs.bufs
        .iter()
        .zip(offsets)
        .map(|(b, &o)| o + b.size)
        .max()
        .unwrap_or(0)
}
