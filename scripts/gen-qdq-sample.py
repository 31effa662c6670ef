#!/usr/bin/env python3
"""Write tests/data/qdq/: a small model quantized by ONNX Runtime's own quantizer in QDQ
format with *uint8* activations (the u8 flavour Ferrite converts to s8 exactly), plus
ONNX Runtime's outputs of it on fixed inputs. Run with the cache venv after
`FERRITE_WITH_ORT=1 scripts/fetch-models`:

    ~/.cache/ferrite/venv/bin/python scripts/gen-qdq-sample.py

Source model: tests/data/ops/mini_resnet.onnx (scripts/gen-op-models.py). Calibration: 16
inputs from numpy default_rng(7), uniform [-1, 1]. Evaluation: 8 inputs from
default_rng(8). quantize_static: QuantFormat.QDQ, per_channel=True,
activation_type=QUInt8, weight_type=QInt8, MinMax.

Outputs: mini_resnet_qdq_u8.onnx, inputs.npy [8,1,3,16,16], ort_outputs.npy [8,1,5].
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "tests/data/ops/mini_resnet.onnx"
OUT = REPO / "tests/data/qdq"


class Reader(CalibrationDataReader):
    def __init__(self, xs):
        self.it = iter([{"x": x} for x in xs])

    def get_next(self):
        return next(self.it, None)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    calib = np.random.default_rng(7).uniform(-1, 1, (16, 1, 3, 16, 16)).astype(np.float32)
    evals = np.random.default_rng(8).uniform(-1, 1, (8, 1, 3, 16, 16)).astype(np.float32)
    target = OUT / "mini_resnet_qdq_u8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_model = Path(tmp) / "q.onnx"
        quantize_static(str(SRC), str(tmp_model), Reader(calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        m = onnx.load(str(tmp_model))
        m.doc_string = "ONNX Runtime %s quantize_static (QDQ, u8 activations) of mini_resnet; " \
                       "scripts/gen-qdq-sample.py" % ort.__version__
        onnx.save(m, str(target))
    s = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    outs = np.stack([s.run(None, {"x": x})[0] for x in evals]).astype("<f4")
    np.save(OUT / "inputs.npy", evals, allow_pickle=False)
    np.save(OUT / "ort_outputs.npy", outs, allow_pickle=False)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"gen-qdq-sample: {target.name} ({target.stat().st_size} bytes, ops {ops}); outputs {outs.shape}")


if __name__ == "__main__":
    sys.exit(main())
