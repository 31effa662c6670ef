#!/usr/bin/env python3
"""Write the real-model test inputs for Ferrite into $FERRITE_CACHE/inputs/.

Run by scripts/fetch-models with the cache venv's python (numpy + pillow); needs the photos
that fetch-models extracts into $FERRITE_CACHE/photos/ and the DejaVu Sans font from Debian's
fonts-dejavu-core. Every output is float32, little-endian, C-order `.npy` (NumPy format 1.0),
deterministic for a given Pillow/FreeType and font version.

    cls_text.npy          [1,3,48,192]  text line for the PP-OCR 0/180 classifier (upright)
    cls_text_rot.npy      [1,3,48,192]  the same crop rotated 180 degrees
    rec_text.npy          [1,3,48,320]  text line for the PP-OCRv4 recognizer
    rec_text.txt                        the string rendered in rec_text.npy (UTF-8, no newline)
    det_page_640.npy      [1,3,640,640] skimage page.png for the PP-OCRv4 detector
    det_text_320x480.npy  [1,3,320,480] (H=320, W=480) crop of page.png for the detector
    face_astronaut.npy    [1,3,128,128] face crop of skimage astronaut.png for BlazeFace
    preview/*.png                       what each tensor looks like (for people, not tests)

Conventions (as PaddleOCR's own inference code does it):
  * OCR tensors are CHW in BGR channel order (PaddleOCR reads images with OpenCV). The text
    crops are black on white, so the order only matters for the detector's per-channel
    mean/std, which are applied in the listed order to channels 0, 1, 2 (PaddleOCR applies
    them to its BGR image the same way).
  * cls/rec: x/255, then (x - 0.5)/0.5 -> [-1, 1]; the crop is resized to height 48 keeping
    its aspect (squeezed if wider than the target), and the right side is padded with 0 *after*
    normalization (PaddleOCR's resize_norm_img), i.e. mid-grey, not white.
  * det: (x/255 - mean)/std with mean=[0.485,0.456,0.406], std=[0.229,0.224,0.225].
  * BlazeFace: RGB, NCHW (the tflite2onnx-converted model takes NCHW [1,3,128,128]),
    x/127.5 - 1 -> [-1, 1].
Resizing uses Pillow's bilinear filter (OpenCV's INTER_LINEAR differs slightly).

With --check (needs onnxruntime in the venv: FERRITE_WITH_ORT=1 scripts/fetch-models) it also
runs the cached models on the inputs with onnxruntime and prints what they see.
"""

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CACHE = Path(os.environ.get("FERRITE_CACHE", Path.home() / ".cache" / "ferrite"))
PHOTOS = CACHE / "photos"
MODELS = CACHE / "models"
OUT = CACHE / "inputs"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

CLS_TEXT = "Ferrite 2026 edge"
REC_TEXT = "Ferrite runs 42 ops"

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def save(name, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    assert np.isfinite(arr).all()
    tmp = OUT / (name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
    tmp.replace(OUT / name)
    print(f"  {name:22s} {list(arr.shape)} min {arr.min():.3f} max {arr.max():.3f}")


def preview(name, img):
    (OUT / "preview").mkdir(exist_ok=True)
    img.save(OUT / "preview" / name, optimize=False)


def render_text(text, size=40, margin=6):
    """Black text on white: the ink's width and the font's full line height (ascent +
    descent), plus `margin` pixels all round, like a detector's text-line box. RGB image."""
    font = ImageFont.truetype(FONT, size, layout_engine=ImageFont.Layout.BASIC)
    ascent, descent = font.getmetrics()
    left, _, right, _ = font.getbbox(text)
    w, h = right - left + 2 * margin, ascent + descent + 2 * margin
    img = Image.new("L", (w, h), 255)
    ImageDraw.Draw(img).text((margin - left, margin), text, font=font, fill=0)
    return img.convert("RGB")


def ocr_line_tensor(img, height, width):
    """PaddleOCR cls/rec preprocessing: resize to `height` keeping aspect (max `width`),
    normalize to [-1,1], BGR CHW, pad right with 0. Returns (tensor [1,3,H,W], preview image)."""
    w = min(width, int(np.ceil(height * img.width / img.height)))
    img = img.resize((w, height), Image.BILINEAR)
    rgb = np.asarray(img, np.float32)
    x = (rgb[:, :, ::-1] / 255.0 - 0.5) / 0.5  # BGR
    t = np.zeros((3, height, width), np.float32)
    t[:, :, :w] = x.transpose(2, 0, 1)
    prev = Image.new("RGB", (width, height), (128, 128, 128))
    prev.paste(img, (0, 0))
    return t[None], prev


def det_tensor(img):
    """PP-OCR det normalization of an RGB PIL image -> [1,3,H,W] BGR."""
    rgb = np.asarray(img.convert("RGB"), np.float32)
    bgr = rgb[:, :, ::-1] / 255.0
    x = (bgr - IMAGENET_MEAN) / IMAGENET_STD
    return x.transpose(2, 0, 1)[None]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"make-inputs: writing {OUT}")

    # --- PP-OCR classifier: one text line, upright and rotated 180 degrees.
    line = render_text(CLS_TEXT)
    t, prev = ocr_line_tensor(line, 48, 192)
    save("cls_text.npy", t)
    preview("cls_text.png", prev)
    t, prev = ocr_line_tensor(line.rotate(180), 48, 192)
    save("cls_text_rot.npy", t)
    preview("cls_text_rot.png", prev)

    # --- PP-OCRv4 recognizer.
    t, prev = ocr_line_tensor(render_text(REC_TEXT), 48, 320)
    save("rec_text.npy", t)
    preview("rec_text.png", prev)
    (OUT / "rec_text.txt").write_text(REC_TEXT, encoding="utf-8")
    print(f"  {'rec_text.txt':22s} {REC_TEXT!r}")

    # --- PP-OCRv4 detector: page.png (384x191 grey). 640x640: scaled to width 640 keeping
    # aspect (640x318), padded below with white.
    page = Image.open(PHOTOS / "page.png").convert("RGB")
    h = round(page.height * 640 / page.width)
    canvas = Image.new("RGB", (640, 640), (255, 255, 255))
    canvas.paste(page.resize((640, h), Image.BILINEAR), (0, 0))
    save("det_page_640.npy", det_tensor(canvas))
    preview("det_page_640.png", canvas)
    # 320x480 (HxW): the left 287x191 of the page (3:2, the title and five text lines), scaled up.
    crop = page.crop((0, 0, 287, 191)).resize((480, 320), Image.BILINEAR)
    save("det_text_320x480.npy", det_tensor(crop))
    preview("det_text_320x480.png", crop)

    # --- BlazeFace short range: 200x200 square around the astronaut's face (face ~ x 175..275,
    # y 40..165 in the 512x512 photo), scaled to 128x128, RGB in [-1,1], NCHW.
    astro = Image.open(PHOTOS / "astronaut.png").convert("RGB")
    face = astro.crop((125, 10, 325, 210)).resize((128, 128), Image.BILINEAR)
    x = np.asarray(face, np.float32) / 127.5 - 1.0
    save("face_astronaut.npy", x.transpose(2, 0, 1)[None])
    preview("face_astronaut.png", face)


def check():
    """Run the real models on the inputs with onnxruntime and print the results."""
    import onnx
    import onnxruntime as ort

    def run(model, x):
        s = ort.InferenceSession(str(MODELS / model), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x})

    ld = lambda n: np.load(OUT / n)
    for n in ("cls_text.npy", "cls_text_rot.npy"):
        (p,) = run("ch_ppocr_mobile_v2.0_cls_infer.onnx", ld(n))
        print(f"cls {n}: p(0deg)={p[0, 0]:.4f} p(180deg)={p[0, 1]:.4f}")

    m = onnx.load(MODELS / "ch_PP-OCRv4_rec_infer.onnx", load_external_data=False)
    chars = dict((p.key, p.value) for p in m.metadata_props)["character"].splitlines()
    chars = [""] + chars + [" "]  # CTC blank first; PaddleOCR appends the space character
    (p,) = run("ch_PP-OCRv4_rec_infer.onnx", ld("rec_text.npy"))
    idx, prob = p[0].argmax(-1), p[0].max(-1)
    text, prev = [], 0
    for i, q in zip(idx, prob):
        if i != 0 and i != prev:
            text.append(chars[i])
        prev = i
    print(f"rec: {p.shape} -> {''.join(text)!r} (expected {REC_TEXT!r})")

    for n in ("det_page_640.npy", "det_text_320x480.npy"):
        (p,) = run("ch_PP-OCRv4_det_infer.onnx", ld(n))
        print(f"det {n}: {p.shape} mean {p.mean():.4f} frac>0.3 {(p > 0.3).mean():.4f}")
        Image.fromarray((p[0, 0] * 255).astype(np.uint8)).save(OUT / "preview" / n.replace(".npy", "_prob.png"))

    reg, cls = run("face_detection_short_range.onnx", ld("face_astronaut.npy"))
    best = int(cls[0, :, 0].argmax())
    score = 1 / (1 + np.exp(-cls[0, best, 0]))
    print(f"face: best anchor {best} score {score:.4f} box(dx,dy,w,h in px of 128) {reg[0, best, :4]}")


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        check()
    else:
        main()
