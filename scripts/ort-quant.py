#!/usr/bin/env python3
"""ONNX Runtime's static int8 quantizer on Ferrite's four real models: the baseline that
Ferrite's own post-training quantization is compared with.

    $CACHE/venv/bin/python scripts/ort-quant.py [--force] [--models cls,rec,det,face]
        [--methods MinMax,Entropy,Percentile] [--percentile 99.999] [--timeout 300]
        [--max-rss-gb 16]

Needs onnxruntime in the cache venv (FERRITE_WITH_ORT=1 scripts/fetch-models) and the
calib/ and eval/ sets that scripts/make-inputs.py writes into $CACHE/inputs.

For each model and calibration method it writes $CACHE/ort-qdq/<model>_<method>.onnx with
onnxruntime.quantization.quantize_static: QuantFormat.QDQ, per_channel=True, activations and
weights QInt8, everything else at ORT's defaults (asymmetric activations, symmetric weights,
all op types ORT can quantize; Entropy: 128 bins; Percentile: 2048 bins, 99.999th percentile,
symmetric range, which is ORT's default for that method). The calibration data reader feeds
calib/<model>/*.npy in name order. The float model is first run through ORT's
quant_pre_process (constant folding, Conv+BatchNormalization fusion, ONNX shape inference;
skip_symbolic_shape=True, since the venv has no sympy) into $CACHE/ort-qdq/pre/<model>.onnx.

Each quantization runs in a child process with a wall-clock limit (--timeout) and a resident
memory limit (--max-rss-gb); one that goes over is recorded as "skipped: too slow" / "failed:
..." instead of hanging. An existing model (or recorded failure) is reused unless --force.
Its log is $CACHE/ort-qdq/<model>_<method>.log.

Then each QDQ model is compared with the float model in onnxruntime (CPU, one thread) on the
eval set:
  cls   fraction of the 240 rows where the 0/180 decision (argmax) equals the float one
  rec   number of the 60 lines whose greedy CTC decode equals the float model's decode
  det   SQNR (dB) of the probability map over all 8 images
  face  SQNR (dB) of `classificators` (raw score logits) and of `regressors`, over all 60 rows
with SQNR = 10*log10(sum f^2 / sum (f - q)^2) over all elements. It prints a markdown table and
writes everything (with extra detail: accuracy against the labels, quantization time, peak
memory) to $CACHE/ort-qdq/results.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# One thread everywhere (numpy's BLAS too); must be set before numpy is imported.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

CACHE = Path(os.environ.get("FERRITE_CACHE", Path.home() / ".cache" / "ferrite"))
MODELS = CACHE / "models"
INPUTS = CACHE / "inputs"
OUT = CACHE / "ort-qdq"

MODEL_FILES = {
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "face": "face_detection_short_range.onnx",
}
METHODS = ("MinMax", "Entropy", "Percentile")
# Not run by default: Entropy with a 2048-bin histogram (see the docstring).
EXTRA_METHODS = ("Entropy2048",)


def session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- quantization (child process)
def force_one_thread():
    """Make every InferenceSession the quantizer creates (calibration runs) single-threaded."""
    import onnxruntime as ort
    from onnxruntime.quantization import calibrate, quant_utils

    base = ort.InferenceSession

    class OneThread(base):
        def __init__(self, path_or_bytes, sess_options=None, *args, **kwargs):
            if sess_options is None:
                sess_options = ort.SessionOptions()
            sess_options.intra_op_num_threads = 1
            sess_options.inter_op_num_threads = 1
            super().__init__(path_or_bytes, sess_options, *args, **kwargs)

    ort.InferenceSession = OneThread
    calibrate.onnxruntime.InferenceSession = OneThread
    quant_utils.InferenceSession = OneThread


def preprocessed(model):
    """The float model at opset 13 (onnx.version_converter: the models are opset 11/12, and
    ORT 1.32's QDQ quantizer writes per-channel DequantizeLinear (`axis`, opset 13) without
    upgrading them, which ORT then refuses to load), then ORT's recommended pre-processing;
    cached in OUT/pre/."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    dst = OUT / "pre" / f"{model}.onnx"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        m = onnx.load(MODELS / MODEL_FILES[model])
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        if opset < 13:
            m = version_converter.convert_version(m, 13)
        up = dst.with_name(f"{model}.{os.getpid()}.opset13.tmp.onnx")
        tmp = dst.with_name(f"{model}.{os.getpid()}.tmp.onnx")
        onnx.save(m, up)
        quant_pre_process(str(up), str(tmp), skip_symbolic_shape=True)
        up.unlink()
        # the pre-processed model must still compute the same function
        x = np.load(INPUTS / "eval" / f"{model}.npy")[:2 if model != "face" else 1]
        a, b = session(MODELS / MODEL_FILES[model]), session(tmp)
        fa = a.run(None, {a.get_inputs()[0].name: x})
        fb = b.run(None, {b.get_inputs()[0].name: x})
        diff = max(float(np.abs(u - v).max() / (np.abs(u).max() + 1e-30)) for u, v in zip(fa, fb))
        print(f"pre-processed {model} (opset {opset} -> 13): max relative difference {diff:.2e}", flush=True)
        assert diff < 1e-4, f"pre-processed {model} differs from the float model ({diff})"
        tmp.replace(dst)
    return dst


def calibration_reader(name, files):
    """An onnxruntime CalibrationDataReader feeding the .npy `files`, in order, as input `name`."""
    import onnxruntime.quantization as q

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.rewind()

        def get_next(self):
            f = next(self.it, None)
            return None if f is None else {name: np.load(f)}

        def rewind(self):
            self.it = iter(files)

    return Reader()


def quantize_one(model, method, percentile):
    import onnxruntime.quantization as q

    force_one_thread()
    src = preprocessed(model)
    files = sorted((INPUTS / "calib" / model).glob("*.npy"))
    if not files:
        sys.exit(f"no calibration data in {INPUTS / 'calib' / model} (run scripts/make-inputs.py)")
    name = session(src).get_inputs()[0].name

    dst = OUT / f"{model}_{method}.onnx"
    tmp = OUT / f"{model}_{method}.{os.getpid()}.tmp.onnx"
    extra = {"CalibPercentile": percentile} if method == "Percentile" else {}
    if method == "Entropy2048":
        # quantize_static passes no histogram size to the calibrator; give it 2048 bins.
        qmod = sys.modules["onnxruntime.quantization.quantize"]

        create = qmod.create_calibrator

        def create_2048(*a, **kw):
            kw["extra_options"] = dict(kw.get("extra_options") or {}, num_bins=2048)
            return create(*a, **kw)

        qmod.create_calibrator = create_2048
    print(f"quantize_static {src} ({len(files)} calibration samples) -> {dst}, {method} {extra}", flush=True)
    q.quantize_static(
        str(src), str(tmp), calibration_reader(name, files),
        quant_format=q.QuantFormat.QDQ, per_channel=True,
        activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
        calibrate_method=getattr(q.CalibrationMethod, method.removesuffix("2048")), extra_options=extra)
    tmp.replace(dst)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_quantize(model, method, args):
    """Quantize in a child process under the time/memory limits. Returns a status dict."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{model}_{method}.log"
    (OUT / f"{model}_{method}.onnx").unlink(missing_ok=True)  # no stale model after a failure
    cmd = [sys.executable, __file__, "--one", model, method, "--percentile", str(args.percentile)]
    t0, peak, why = time.monotonic(), 0, None
    with open(log, "w") as logf:
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        while p.poll() is None:
            peak = max(peak, rss_kb(p.pid))
            if time.monotonic() - t0 > args.timeout:
                why = f"skipped: too slow (> {args.timeout:g} s)"
            elif peak > args.max_rss_gb * 2**20:
                why = f"failed: out of memory (> {args.max_rss_gb:g} GB resident)"
            if why:
                p.kill()
                p.wait()
                break
            time.sleep(0.25)
    secs = time.monotonic() - t0
    for tmp in OUT.glob(f"{model}_{method}.*.tmp.onnx"):
        tmp.unlink()
    if why is None and p.returncode != 0:
        lines = [l.strip() for l in log.read_text(errors="replace").splitlines() if l.strip()]
        why = f"failed: {lines[-1][:200] if lines else f'exit status {p.returncode}'}"
    if why:
        (OUT / f"{model}_{method}.onnx").unlink(missing_ok=True)  # killed just after writing it
    st = {"status": why or "ok", "quantize_s": round(secs, 1), "peak_rss_mb": round(peak / 1024)}
    if method == "Percentile":
        st["percentile"] = args.percentile
    (OUT / f"{model}_{method}.json").write_text(json.dumps(st) + "\n")
    return st


# ---------------------------------------------------------------- evaluation
def sqnr(f, q):
    f, q = np.asarray(f, np.float64), np.asarray(q, np.float64)
    noise = ((f - q) ** 2).sum()
    return float("inf") if noise == 0 else float(10 * np.log10((f ** 2).sum() / noise))


def rec_chars():
    import onnx

    m = onnx.load(MODELS / MODEL_FILES["rec"], load_external_data=False)
    chars = dict((p.key, p.value) for p in m.metadata_props)["character"].splitlines()
    return [""] + chars + [" "]  # CTC blank first; PaddleOCR appends the space


def ctc_greedy(probs, chars):
    idx = probs.argmax(-1)
    keep = (idx != 0) & np.concatenate([[True], idx[1:] != idx[:-1]])
    return "".join(chars[i] for i in idx[keep])


def outputs(path, model):
    """All outputs of the model at `path` on eval/<model>.npy (face: one row at a time)."""
    s = session(path)
    name = s.get_inputs()[0].name
    x = np.load(INPUTS / "eval" / f"{model}.npy")
    if model == "face":
        rows = [s.run(None, {name: x[i:i + 1]}) for i in range(len(x))]
        return [np.concatenate(o) for o in zip(*rows)]
    return s.run(None, {name: x})


def evaluate(model, ref, got, ctx):
    """Metrics of the QDQ outputs `got` against the float outputs `ref`."""
    if model == "cls":
        fd, qd, labels = ref[0].argmax(1), got[0].argmax(1), ctx["labels"]
        agree = int((fd == qd).sum())
        return {"agree": agree, "rows": len(fd), "agree_frac": agree / len(fd),
                "accuracy": float((qd == labels).mean()), "f32_accuracy": float((fd == labels).mean()),
                "cell": f"{agree}/{len(fd)} ({100 * agree / len(fd):.1f}%)"}
    if model == "rec":
        fd = [ctc_greedy(r, ctx["chars"]) for r in ref[0]]
        qd = [ctc_greedy(r, ctx["chars"]) for r in got[0]]
        same = sum(a == b for a, b in zip(fd, qd))
        truth = sum(a == b for a, b in zip(ctx["strings"], qd))
        return {"same_as_f32": same, "lines": len(fd), "exact_vs_truth": truth,
                "f32_exact_vs_truth": sum(a == b for a, b in zip(ctx["strings"], fd)),
                "differences": [[a, b] for a, b in zip(fd, qd) if a != b],
                "cell": f"{same}/{len(fd)}"}
    if model == "det":
        f, q = ref[0], got[0]
        fb, qb = f > 0.3, q > 0.3
        return {"sqnr_db": sqnr(f, q), "max_abs_diff": float(np.abs(f - q).max()),
                "mean_prob": float(q.mean()), "f32_mean_prob": float(f.mean()),
                "iou_gt_0.3": float((fb & qb).sum() / max(1, (fb | qb).sum())),
                "cell": f"{sqnr(f, q):.1f} dB"}
    if model == "face":
        (freg, fcls), (qreg, qcls) = ref, got
        sig = lambda v: 1 / (1 + np.exp(-np.clip(v, -80, 80)))
        c, r = sqnr(fcls, qcls), sqnr(freg, qreg)
        det = sig(fcls[:, :, 0]) > 0.5  # anchors the float model reports as faces
        return {"sqnr_classificators_db": c, "sqnr_regressors_db": r,
                "sqnr_scores_sigmoid_db": sqnr(sig(fcls), sig(qcls)),
                "detected_anchors": int(det.sum()),
                "sqnr_regressors_detected_db": sqnr(freg[det], qreg[det]),
                "max_best_score_abs_diff": float(np.abs(sig(fcls.max(1)) - sig(qcls.max(1))).max()),
                "best_anchor_same": int((fcls[:, :, 0].argmax(1) == qcls[:, :, 0].argmax(1)).sum()),
                "rows": len(fcls), "cell": f"scores {c:.1f} dB, regressors {r:.1f} dB"}
    raise ValueError(model)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="quantize again even if the QDQ model (or a failure) is recorded")
    ap.add_argument("--retry-failed", action="store_true", help="quantize again where a failure or time-out is recorded")
    ap.add_argument("--models", default="cls,rec,det,face")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--timeout", type=float, default=300, help="seconds per quantization (default 300)")
    ap.add_argument("--max-rss-gb", type=float, default=16, help="resident memory limit per quantization")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        quantize_one(*args.one, args.percentile)
        return
    models = args.models.split(",")
    methods = args.methods.split(",")
    for m in models:
        assert m in MODEL_FILES, f"unknown model {m} (one of {', '.join(MODEL_FILES)})"
    for m in methods:
        assert m in METHODS + EXTRA_METHODS, f"unknown method {m} (one of {', '.join(METHODS + EXTRA_METHODS)})"

    import onnxruntime as ort

    t_start = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    ctx = {"labels": np.load(INPUTS / "eval" / "cls_labels.npy"), "chars": rec_chars(),
           "strings": (INPUTS / "eval" / "rec_strings.txt").read_text(encoding="utf-8").splitlines()}
    results = {}
    for model in models:
        t = time.monotonic()
        ref = outputs(MODELS / MODEL_FILES[model], model)
        print(f"{model}: float model on eval/{model}.npy in {time.monotonic() - t:.1f} s", flush=True)
        results[model] = {}
        for method in methods:
            qpath = OUT / f"{model}_{method}.onnx"
            side = OUT / f"{model}_{method}.json"
            old = json.loads(side.read_text()) if side.exists() else None
            if not args.force and qpath.exists():
                st = old if old and old.get("status") == "ok" else {"status": "ok"}
                st = dict(st, reused=True)
            elif not (args.force or args.retry_failed) and old and old.get("status") != "ok":
                st = dict(old, reused=True)
            else:
                print(f"{model} {method}: quantizing ...", flush=True)
                st = run_quantize(model, method, args)
            r = dict(st)
            if st["status"] == "ok":
                t = time.monotonic()
                got = outputs(qpath, model)
                # ONNX Runtime's own outputs of the QDQ model on the eval set, for
                # Ferrite's QDQ-import test (tests/quant.rs): <model>_<method>.eval_out.npy
                np.save(qpath.with_suffix(".eval_out.npy"), np.ascontiguousarray(got[0], "<f4"))
                r.update(evaluate(model, ref, got, ctx))
                r["eval_s"] = round(time.monotonic() - t, 1)
            else:
                r["cell"] = st["status"] + (" (earlier run; --retry-failed)" if st.get("reused") else "")
            results[model][method] = r
            note = "" if st.get("reused") else f"  [quantized in {st['quantize_s']} s, peak {st['peak_rss_mb']} MB]"
            print(f"{model} {method}: {r['cell']}{note}", flush=True)

    metric = {"cls": "0/180 decision = f32 (240 rows)", "rec": "decode = f32 decode (60 lines)",
              "det": "prob map SQNR", "face": "SQNR (classificators, regressors)"}
    print(f"\nONNX Runtime {ort.__version__} static quantization, QDQ, per-channel, int8 activations and weights\n")
    print("| model | metric | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for model in models:
        print(f"| {model} | {metric[model]} | " + " | ".join(results[model][m]["cell"] for m in methods) + " |")
    print("\nquantization time (s) / peak RSS (MB) of the quantizer process (\"reused\": from an earlier run)\n")
    print("| model | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for model in models:
        cells = []
        for m in methods:
            r = results[model][m]
            c = f"{r.get('quantize_s', '?')} s / {r.get('peak_rss_mb', '?')} MB"
            cells.append(c + (" (reused)" if r.get("reused") else ""))
        print(f"| {model} | " + " | ".join(cells) + " |")

    # results.json accumulates: entries of models / methods not run this time are kept.
    try:
        merged = json.loads((OUT / "results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        merged = {}
    for model, per in results.items():
        merged.setdefault(model, {}).update(per)
    doc = {"onnxruntime": ort.__version__,
           "settings": {"quant_format": "QDQ", "per_channel": True, "activation_type": "QInt8",
                        "weight_type": "QInt8", "calibration": "calib/<model>/*.npy",
                        "preprocess": "opset 13, quant_pre_process(skip_symbolic_shape=True)",
                        "threads": 1, "Entropy2048": "Entropy with num_bins=2048"},
           "metrics": metric, "results": merged}
    tmp = OUT / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(OUT / "results.json")
    print(f"\nwrote {OUT / 'results.json'} ({time.monotonic() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
