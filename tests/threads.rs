//! Convolutions split over a [`ThreadPool`] give the same bits as on one
//! thread: the four real models, f32 and int8, with 2 and 3 threads (an
//! uneven split), on every kernel table this CPU runs for the two small
//! models and on the best table for the two large ones.

use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrite::kernels::Kernels;
use ferrite::{Interpreter, Model, Parallel, ThreadPool};
use ferrite_compiler::compile::AlignedBytes;
use ferrite_compiler::npy;
use ferrite_compiler::quant::Method;
use ferrite_suite::quant_eval::{self, case};
use ferrite_suite::{fetched, Array};

/// A pool that counts the ops it splits.
struct Counted {
    pool: ThreadPool,
    splits: AtomicUsize,
}

impl Parallel for Counted {
    fn threads(&self) -> usize {
        self.pool.threads()
    }
    fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync)) {
        self.splits.fetch_add(1, Ordering::Relaxed);
        self.pool.run(parts, job);
    }
}

/// Every output's bytes after one invoke of `image` on `input`.
fn outputs(
    image: &[u8],
    input: &Array,
    table: &'static Kernels,
    pool: Option<&Counted>,
) -> Result<Vec<Vec<u8>>> {
    let aligned = AlignedBytes::from_slice(image)?;
    let model = Model::load(aligned.as_slice()).map_err(|e| anyhow!("{e}"))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size())?;
    let mut it = Interpreter::with_kernels(&model, arena.as_mut_slice(), table)
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(pool) = pool {
        it.set_parallel(pool);
    }
    it.input_mut(0)
        .map_err(|e| anyhow!("{e}"))?
        .as_f32_mut()
        .ok_or_else(|| anyhow!("input is not f32"))?
        .copy_from_slice(&input.data);
    it.invoke();
    (0..model.num_outputs())
        .map(|i| {
            it.output(i)
                .map(|o| o.bytes().to_vec())
                .map_err(|e| anyhow!("{e}"))
        })
        .collect()
}

#[test]
fn threads_give_the_same_bits() {
    let pools = [2, 3].map(|n| Counted {
        pool: ThreadPool::new(n),
        splits: AtomicUsize::new(0),
    });
    for name in ["face", "cls", "rec", "det"] {
        let c = case(name);
        let pair = quant_eval::quantize_with(c, Method::Percentile(99.99), Some(4)).unwrap();
        let eval = npy::read(&fetched(&format!("inputs/eval/{name}.npy"))).unwrap();
        let row: usize = c.shape.iter().product();
        let input = Array {
            shape: c.shape.to_vec(),
            data: eval.data[..row].to_vec(),
        };
        let tables: Vec<_> = if matches!(name, "face" | "cls") {
            Kernels::available().collect()
        } else {
            vec![Kernels::best()]
        };
        for (kind, image) in [("f32", &pair.f32_image), ("int8", &pair.int8_image)] {
            for &t in &tables {
                let one = outputs(image, &input, t, None).unwrap();
                for pool in &pools {
                    let before = pool.splits.load(Ordering::Relaxed);
                    let many = outputs(image, &input, t, Some(pool)).unwrap();
                    let split = pool.splits.load(Ordering::Relaxed) - before;
                    assert!(split > 3, "{name} {kind}: only {split} ops were split");
                    assert!(
                        one == many,
                        "{name} {kind} on {}: {} threads change the outputs",
                        t.name(),
                        pool.threads()
                    );
                }
            }
        }
    }
}
