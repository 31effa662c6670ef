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

Also the operator form (QuantFormat.QOperator: QLinearConv, QLinearMatMul): a small net
built here (Conv 3x3 -> Relu -> Conv 1x1 stride 2 -> Reshape -> MatMul, weights from
default_rng(11)) quantized with the same calibration and per_channel=True, op_types_to_quantize
Conv, MatMul, Relu, once with u8 and once with s8 activations: qlinear_u8.onnx,
qlinear_s8.onnx, and ONNX Runtime's outputs on inputs.npy: qlinear_{u8,s8}_ort_outputs.npy
[8,1,10].
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper
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


def qlinear_net():
    """Conv 3x3 (8) -> Relu -> Conv 1x1 stride 2 (12) -> Reshape [1, 768] -> MatMul (10)."""
    rng = np.random.default_rng(11)
    consts = {
        "w1": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
        "b1": rng.normal(0, 0.1, 8).astype(np.float32),
        "w2": rng.normal(0, 0.2, (12, 8, 1, 1)).astype(np.float32),
        "b2": rng.normal(0, 0.1, 12).astype(np.float32),
        "w3": rng.normal(0, 0.05, (12 * 8 * 8, 10)).astype(np.float32),
        "shape": np.array([1, -1], np.int64),
    }
    nodes = [
        oh.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        oh.make_node("Relu", ["c1"], ["r1"]),
        oh.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2]),
        oh.make_node("Reshape", ["c2", "shape"], ["f"]),
        oh.make_node("MatMul", ["f", "w3"], ["y"]),
    ]
    graph = oh.make_graph(
        nodes, "qlinear_net",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)])
    m.ir_version = 8
    return m


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

    for tag, act in (("u8", QuantType.QUInt8), ("s8", QuantType.QInt8)):
        target = OUT / f"qlinear_{tag}.onnx"
        with tempfile.TemporaryDirectory() as tmp:
            src, tmp_model = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
            onnx.save(qlinear_net(), str(src))
            quantize_static(str(src), str(tmp_model), Reader(calib),
                            quant_format=QuantFormat.QOperator, per_channel=True,
                            activation_type=act, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["Conv", "MatMul", "Relu"])
            m = onnx.load(str(tmp_model))
            m.doc_string = "ONNX Runtime %s quantize_static (QOperator, %s activations); " \
                           "scripts/gen-qdq-sample.py" % (ort.__version__, tag)
            onnx.save(m, str(target))
        s = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        outs = np.stack([s.run(None, {"x": x})[0] for x in evals]).astype("<f4")
        np.save(OUT / f"qlinear_{tag}_ort_outputs.npy", outs, allow_pickle=False)
        ops = [n.op_type for n in m.graph.node]
        print(f"gen-qdq-sample: {target.name} ({target.stat().st_size} bytes, ops {ops}); outputs {outs.shape}")


if __name__ == "__main__":
    sys.exit(main())
