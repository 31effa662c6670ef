#!/usr/bin/env python3
"""Runs an ONNX model in ONNX Runtime (CPU, one thread) on .npy inputs and writes its
outputs, for tests that cross-check Ferrite against ONNX Runtime:

    $CACHE/venv/bin/python scripts/ort-run.py MODEL.onnx OUT_DIR NAME=FILE.npy...

Writes OUT_DIR/0.npy, OUT_DIR/1.npy, ... in the model's output order (float32)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    model, out = sys.argv[1], Path(sys.argv[2])
    feeds = {}
    for arg in sys.argv[3:]:
        name, _, path = arg.partition("=")
        feeds[name] = np.load(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    out.mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(s.run(None, feeds)):
        np.save(out / f"{i}.npy", np.asarray(v, dtype="<f4"), allow_pickle=False)


if __name__ == "__main__":
    main()
