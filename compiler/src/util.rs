//! Small array helpers shared by lowering and passes.

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

/// Transposes row-major `data` of `shape`: `out.shape[d] = shape[perm[d]]`.
pub fn transpose<T: Copy + Default>(data: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let st = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let n: usize = out_shape.iter().product();
    let mut out = vec![T::default(); n];
    let mut idx = vec![0usize; out_shape.len()];
    for o in out.iter_mut() {
        let src: usize = idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum();
        *o = data[src];
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Inverse of a permutation.
pub fn invert(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_2x3() {
        let d = [1, 2, 3, 4, 5, 6];
        assert_eq!(transpose(&d, &[2, 3], &[1, 0]), vec![1, 4, 2, 5, 3, 6]);
        assert_eq!(invert(&[0, 2, 3, 1]), vec![0, 3, 1, 2]);
    }
}
