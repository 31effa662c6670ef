#!/usr/bin/env python3
"""OpenBLAS's single-thread sgemm on the shapes of `peak_ratio`, for comparison with
Ferrite's packed f32 GEMM on the same host in the same minutes.

    $CACHE/venv/bin/python benches/openblas_gemm.py [--rounds 40]

numpy's `matmul` on f32 runs the sgemm of the OpenBLAS it is built with (the cache venv's
numpy wheel bundles one with run-time kernel selection; the build line is printed), here on
one thread. The shapes take turns round by round, so host drift shares out over all of them;
each round times `peak_ratio`'s number of calls (2·10^8 MACs' worth, at least one) and each
figure is the median over rounds, in GMAC/s (m·k·n per second). Run `cargo bench --bench peak_ratio -- f32` just before or after: it prints the FMA
peak of the same minutes, which turns these into percentages of the peak.
"""

import argparse
import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import ctypes  # noqa: E402
import glob  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# The shapes `benches/peak_ratio.rs` measures (m, k, n).
SHAPES = [(256, 256, 256), (196, 1152, 128), (256, 1024, 1024), (1024, 1024, 1024)]


def corename():
    """The kernel family OpenBLAS picked for this CPU (e.g. SkylakeX), where the library says."""
    root = os.path.dirname(np.__file__)
    for lib in glob.glob(os.path.join(root, "..", "numpy.libs", "*openblas*")):
        try:
            so = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                     "openblas_get_corename"):
            if hasattr(so, name):
                f = getattr(so, name)
                f.restype = ctypes.c_char_p
                return f().decode()
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    blas = getattr(np.__config__, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {})
    print(f"numpy {np.__version__}: {blas.get('openblas configuration', blas.get('name', '?'))}, "
          f"kernels {corename()}")
    rng = np.random.default_rng(7)
    ops = []
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=c)
        calls = max(1, int(2e8 / (m * k * n)))
        ops.append(((m, k, n), a, b, c, calls))
    rates = {shape: [] for shape, *_ in ops}
    for _ in range(args.rounds):
        for shape, a, b, c, calls in ops:
            t = time.perf_counter()
            for _ in range(calls):
                np.matmul(a, b, out=c)
            elapsed = time.perf_counter() - t
            m, k, n = shape
            rates[shape].append(m * k * n * calls / elapsed / 1e9)
    for (m, k, n), r in rates.items():
        r.sort()
        q = len(r)
        print(f"openblas/sgemm/{m}x{k}x{n}: {r[q // 2]:.1f} GMAC/s "
              f"(quartiles {r[q // 4]:.1f}–{r[3 * q // 4]:.1f})")


if __name__ == "__main__":
    main()
