//! `.npy` input and output for the CLI, tests and examples.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

/// An f32 array read from `.npy`.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major elements.
    pub data: Vec<f32>,
}

/// Reads a `.npy` file as f32. `<f4` is taken as is; `<f8`, `<i8`, `<i4`, `|u1`
/// are converted (integers exactly; f64 by rounding to nearest f32).
pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_bytes(&bytes).with_context(|| format!("{} is not a usable .npy file", path.display()))
}

/// Reads `.npy` bytes as f32.
pub fn read_bytes(bytes: &[u8]) -> Result<Array> {
    // npyz can panic on absurd headers (e.g. a shape whose product overflows);
    // a malformed file must be an error, never a crash.
    std::panic::catch_unwind(|| parse(bytes))
        .unwrap_or_else(|_| Err(anyhow!("malformed .npy header")))
}

fn parse(bytes: &[u8]) -> Result<Array> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| anyhow!("{e}"))?;
    if npy.order() != npyz::Order::C {
        bail!("Fortran-order arrays are not supported; save with C order");
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => bail!("unsupported dtype {}", other.descr()),
    };
    let data: Vec<f32> = match descr.as_str() {
        "<f4" => npy.into_vec::<f32>()?,
        "<f8" => npy
            .into_vec::<f64>()?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<i8" => npy
            .into_vec::<i64>()?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "<i4" => npy
            .into_vec::<i32>()?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        "|u1" => npy.into_vec::<u8>()?.into_iter().map(f32::from).collect(),
        d => bail!("unsupported dtype {d} (use float32)"),
    };
    if Some(data.len()) != shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        bail!("data length {} does not match shape {shape:?}", data.len());
    }
    Ok(Array { shape, data })
}

/// Encodes an f32 array as `.npy` (format version 1.0).
pub fn to_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims = match shape.len() {
        0 => String::new(),
        1 => format!("{},", shape[0]),
        _ => shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes an f32 array as `.npy`, atomically (temporary file + rename).
pub fn write(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    crate::fsutil::write_atomic(path, &to_bytes(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for shape in [vec![], vec![3], vec![2, 3], vec![1, 2, 1, 2]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let a = read_bytes(&to_bytes(&shape, &data)).unwrap();
            assert_eq!(a, Array { shape, data });
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(read_bytes(b"not an npy file").is_err());
        assert!(read_bytes(b"").is_err());
    }
}
