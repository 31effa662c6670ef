#!/usr/bin/env python3
"""ONNX Runtime's static quantizer with 16-bit activations (and optionally weights) on
PP-OCRv4 det and BlazeFace: how much of the int8 accuracy gap 16 bits close
(doc/quantization.md, "Where this falls short").

    $CACHE/venv/bin/python scripts/ort-quant-16bit.py [--models det,face]

Uses the same pre-processed models, calibration and evaluation sets and metrics as
scripts/ort-quant.py (run that first): quantize_static, QuantFormat.QDQ, per_channel=True,
MinMax, on the first 8 (det) / 16 (face) calibration samples, for activation/weight types
QInt16/QInt8 and QInt16/QInt16. Also prints, for BlazeFace, the range of each output over the
calibration samples and over the evaluation set. Models go to $CACHE/ort-qdq/16bit/."""

import argparse
import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("ort_quant", HERE / "ort-quant.py")
oq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oq)

CALIB = {"det": 8, "face": 16}
TYPES = (("QInt16", "QInt8"), ("QInt16", "QInt16"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="det,face")
    args = ap.parse_args()
    import onnxruntime.quantization as q

    oq.force_one_thread()
    out = oq.OUT / "16bit"
    out.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        src = oq.preprocessed(model)
        files = sorted((oq.INPUTS / "calib" / model).glob("*.npy"))[: CALIB[model]]
        name = oq.session(src).get_inputs()[0].name
        ref = oq.outputs(oq.MODELS / oq.MODEL_FILES[model], model)
        for act, wt in TYPES:
            dst = out / f"{model}_{act}_{wt}.onnx"
            q.quantize_static(str(src), str(dst), oq.calibration_reader(name, files), quant_format=q.QuantFormat.QDQ,
                              per_channel=True, activation_type=getattr(q.QuantType, act),
                              weight_type=getattr(q.QuantType, wt),
                              calibrate_method=q.CalibrationMethod.MinMax)
            got = oq.outputs(dst, model)
            sq = " / ".join(f"{oq.sqnr(a, b):.1f} dB" for a, b in zip(ref, got))
            print(f"{model}: activations {act}, weights {wt}, {len(files)} calibration samples: SQNR {sq}")
        if model == "face":
            s = oq.session(oq.MODELS / oq.MODEL_FILES[model])
            cal = [s.run(None, {s.get_inputs()[0].name: np.load(f)}) for f in files]
            for k, o in enumerate(s.get_outputs()):
                c = np.concatenate([x[k] for x in cal])
                print(f"face {o.name}: calibration range [{c.min():.1f}, {c.max():.1f}], "
                      f"evaluation range [{ref[k].min():.1f}, {ref[k].max():.1f}]")


if __name__ == "__main__":
    main()
