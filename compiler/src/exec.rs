//! Host execution of a `.fer` image with `.npy`-style arrays (what
//! `ferrite run` does), through the runtime's public API.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::compile::AlignedBytes;
use crate::npy::Array;
use ferrite::{Interpreter, Model};

/// Outputs of one run with timings.
pub struct RunResult {
    /// `(name, array)` per graph output, in model order.
    pub outputs: Vec<(String, Array)>,
    /// Wall time of each `invoke()`.
    pub latencies: Vec<Duration>,
}

/// Loads `image`, binds `inputs` by name (a single unnamed input binds to the
/// only model input), invokes `repeat` times and returns the outputs.
pub fn run(
    image: &[u8],
    origin: &str,
    inputs: &[(Option<String>, Array)],
    repeat: usize,
) -> Result<RunResult> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{origin}: {e}"))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size())?;
    let mut interp =
        Interpreter::new(&model, arena.as_mut_slice()).map_err(|e| anyhow!("{origin}: {e}"))?;
    let names: Vec<String> = (0..model.num_inputs())
        .filter_map(|i| model.input(i).map(|t| t.name().to_string()))
        .collect();
    let mut bound = vec![false; names.len()];
    for (name, arr) in inputs {
        let idx = match name {
            Some(n) => model.input_index(n).ok_or_else(|| {
                anyhow!(
                    "{origin} has no input '{n}'; its inputs are: {}",
                    names.join(", ")
                )
            })?,
            None if names.len() == 1 => 0,
            None => bail!(
                "{origin} has {} inputs; name each one: --input NAME=FILE.npy ({})",
                names.len(),
                names.join(", ")
            ),
        };
        let mut t = interp
            .input_mut(idx)
            .map_err(|e| anyhow!("{origin}: {e}"))?;
        if t.info.shape() != arr.shape.as_slice() {
            bail!(
                "input '{}' must have shape {:?}, the file has {:?}",
                names[idx],
                t.info.shape(),
                arr.shape
            );
        }
        set_input(&mut t, &arr.data)?;
        bound[idx] = true;
    }
    if let Some(i) = bound.iter().position(|b| !b) {
        bail!(
            "input '{}' was not given (--input {}=FILE.npy)",
            names[i],
            names[i]
        );
    }
    let mut latencies = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let t0 = Instant::now();
        interp.invoke();
        latencies.push(t0.elapsed());
    }
    let mut outputs = Vec::new();
    for i in 0..model.num_outputs() {
        let t = interp.output(i).map_err(|e| anyhow!("{origin}: {e}"))?;
        let data = t
            .as_f32()
            .ok_or_else(|| anyhow!("output '{}' is not f32", t.info.name()))?
            .to_vec();
        outputs.push((
            t.info.name().to_string(),
            Array {
                shape: t.info.shape().to_vec(),
                data,
            },
        ));
    }
    Ok(RunResult { outputs, latencies })
}

/// Median of durations.
pub fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

/// A file name for an output tensor: path separators and odd characters become `_`.
pub fn file_name_for(tensor: &str) -> String {
    let s: String = tensor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Writes `data` (one value per element) into an input: `f32` as is, int8
/// (`--int8-input` models) quantized with the input's scale and zero point
/// by the runtime's `Quantize` rounding.
pub fn set_input(t: &mut ferrite::TensorMut<'_>, data: &[f32]) -> Result<()> {
    let (name, scale, zp) = (t.info.name(), t.info.scale, t.info.zero_point);
    if t.info.len() != data.len() {
        bail!(
            "input '{name}' holds {} values, got {}",
            t.info.len(),
            data.len()
        );
    }
    if let Some(d) = t.as_f32_mut() {
        d.copy_from_slice(data);
    } else if let Some(q) = t.as_i8_mut() {
        for (q, &v) in q.iter_mut().zip(data) {
            *q = ferrite::quant::quantize(v, scale, zp);
        }
    } else {
        bail!("input '{name}' is neither f32 nor int8");
    }
    Ok(())
}
