#!/usr/bin/env python3
"""Whole-model latency, side by side on one core: Ferrite f32 and int8 (best kernel table),
tract f32 (through `ferrite bench --vs`, same process as Ferrite) and ONNX Runtime f32 and
int8 (one intra-op thread; int8 = ORT's own quantize_static QDQ model, per-channel, MinMax, on
the same calibration data, written by scripts/ort-quant.py).

    $CACHE/venv/bin/python benches/vs_ort.py [--models cls,rec,det,face] [--iters 20] [--pack TABLE]

Needs the release `ferrite` binary (cargo build --release -p ferrite-compiler), onnxruntime
in the cache venv (FERRITE_WITH_ORT=1 scripts/fetch-models) and the inputs of
scripts/make-inputs.py. `--pack TABLE` compiles the int8 models with their conv weights
packed for that kernel table (`ferrite compile --pack`). Prints a markdown table of medians (ms) and the ratios the SIMD
issue sets targets for; `--json FILE` also writes the numbers.

Each engine is warmed up; Ferrite and tract take turns inside `ferrite bench`, ORT's two
sessions take turns in this process, and the whole table comes from one run.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FERRITE_CACHE", Path.home() / ".cache" / "ferrite"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
FERRITE = TARGET / "release" / "ferrite"

MODELS = {
    # name: (onnx file, input name, input .npy, calibration dir)
    "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "x", "cls_text.npy", "cls"),
    "rec": ("ch_PP-OCRv4_rec_infer.onnx", "x", "rec_text.npy", "rec"),
    "det": ("ch_PP-OCRv4_det_infer.onnx", "x", "det_text_320x480.npy", "det"),
    "face": ("face_detection_short_range.onnx", "input", "face_astronaut.npy", "face"),
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
    return r.stdout


def ort_time(sessions, feeds, iters):
    """Median ms of each session, the sessions taking turns."""
    for s, f in zip(sessions, feeds):
        s.run(None, f)
        s.run(None, f)
    lat = [[] for _ in sessions]
    for _ in range(iters):
        for i, (s, f) in enumerate(zip(sessions, feeds)):
            t0 = time.perf_counter()
            s.run(None, f)
            lat[i].append((time.perf_counter() - t0) * 1e3)
    return [float(np.median(v)) for v in lat]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="cls,rec,det,face")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--pack", help="kernel table to pack the weights (f32 and int8) for")
    args = ap.parse_args()
    pack = ["--pack", args.pack] if args.pack else []
    out = CACHE / "bench"
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in args.models.split(","):
        onnx_file, inp, npy, calib = MODELS[name]
        onnx = CACHE / "models" / onnx_file
        x = np.load(CACHE / "inputs" / npy)
        if x.ndim == 4 and x.shape[0] != 1:
            x = x[:1]
        np.save(out / f"{name}_x.npy", x.astype(np.float32))
        shape = ",".join(map(str, x.shape))
        f32 = out / f"{name}.fer"
        i8 = out / f"{name}_int8.fer"
        run([FERRITE, "compile", onnx, "-o", f32, "--input-shape", f"{inp}={shape}", *pack])
        run([FERRITE, "compile", onnx, "-o", i8, "--input-shape", f"{inp}={shape}",
             "--quantize", "int8", "--calib", CACHE / "inputs" / "calib" / calib, *pack])
        feed = f"{inp}={out / f'{name}_x.npy'}"
        b32 = json.loads(run([FERRITE, "bench", f32, "--vs", onnx, "--input", feed,
                              "--iters", str(args.iters), "--json"]))
        b8 = json.loads(run([FERRITE, "bench", i8, "--vs", onnx, "--input", feed,
                             "--iters", str(args.iters), "--json"]))
        qdq = CACHE / "ort-qdq" / f"{name}_MinMax.onnx"
        if not qdq.exists():
            run([sys.executable, ROOT / "scripts" / "ort-quant.py", "--models", name,
                 "--methods", "MinMax"])
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        s32 = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
        s8 = ort.InferenceSession(str(qdq), so, providers=["CPUExecutionProvider"])
        feeds = [{s32.get_inputs()[0].name: x.astype(np.float32)},
                 {s8.get_inputs()[0].name: x.astype(np.float32)}]
        o32, o8 = ort_time([s32, s8], feeds, args.iters)
        t = b32["tract_median_ms"]
        rows[name] = {
            "ferrite_f32_ms": b32["median_ms"],
            "ferrite_int8_ms": b8["median_ms"],
            "kernels": b32["kernels"],
            "tract_f32_ms": t,
            "ort_f32_ms": o32,
            "ort_int8_ms": o8,
            "f32_vs_tract": b32["median_ms"] / t,
            "int8_vs_tract_f32": b8["median_ms"] / b8["tract_median_ms"],
            "f32_vs_ort_f32": b32["median_ms"] / o32,
            "int8_vs_ort_int8": b8["median_ms"] / o8,
        }
        print(f"{name}: done", file=sys.stderr)
    print(f"| model ({args.iters} iters, medians) | Ferrite f32 | Ferrite int8 | tract f32 | "
          "ORT f32 | ORT int8 | f32/tract (≤1.0) | int8/tract f32 (≤0.35) | "
          "f32/ORT f32 (≤1.0) | int8/ORT int8 (≤0.6) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['ferrite_f32_ms']:.2f} ms | {r['ferrite_int8_ms']:.2f} ms | "
              f"{r['tract_f32_ms']:.2f} ms | {r['ort_f32_ms']:.2f} ms | {r['ort_int8_ms']:.2f} ms | "
              f"{r['f32_vs_tract']:.2f} | {r['int8_vs_tract_f32']:.2f} | "
              f"{r['f32_vs_ort_f32']:.2f} | {r['int8_vs_ort_int8']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
