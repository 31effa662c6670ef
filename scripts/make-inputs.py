#!/usr/bin/env python3
"""Write the real-model test inputs for Ferrite into $FERRITE_CACHE/inputs/.

Run by scripts/fetch-models with the cache venv's python (numpy + pillow); needs the photos
that fetch-models extracts into $FERRITE_CACHE/photos/ and the DejaVu Sans font from Debian's
fonts-dejavu-core. Every tensor is float32 (the cls labels int64), little-endian, C-order `.npy`
(NumPy format 1.0), written atomically, deterministic for a given Pillow/FreeType, font and NumPy
version.

    cls_text.npy          [1,3,48,192]  text line for the PP-OCR 0/180 classifier (upright)
    cls_text_rot.npy      [1,3,48,192]  the same crop rotated 180 degrees
    rec_text.npy          [1,3,48,320]  text line for the PP-OCRv4 recognizer
    rec_text.txt                        the string rendered in rec_text.npy (UTF-8, no newline)
    det_page_640.npy      [1,3,640,640] skimage page.png for the PP-OCRv4 detector
    det_text_320x480.npy  [1,3,320,480] (H=320, W=480) crop of page.png for the detector
    face_astronaut.npy    [1,3,128,128] face crop of skimage astronaut.png for BlazeFace
    preview/*.png                       what each tensor looks like (for people, not tests)

Calibration / evaluation sets for int8 post-training quantization (same preprocessing as the
single inputs of the same model; fixed seeds, so deterministic too; calib and eval share no
string or crop):

    calib/cls/NNN.npy      32 x [1,3,48,192]   text lines, odd NNN rotated 180 degrees
    eval/cls.npy           [240,3,48,192]      120 lines, rows 2i upright, 2i+1 rotated 180
    eval/cls_labels.npy    [240] int64         0 = upright, 1 = rotated
    eval/cls_strings.txt   240 lines           the string of each row
    calib/rec/NNN.npy      32 x [1,3,48,320]   text lines of 8..22 ASCII characters
    eval/rec.npy           [60,3,48,320]       + eval/rec_strings.txt (the label of each row)
    calib/det/NNN.npy      8 x [1,3,320,480]   page.png / text.png crops, the page scaled down,
    eval/det.npy           [8,3,320,480]         rendered pages (+ {calib,eval}/det_sources.txt)
    calib/face/NNN.npy     32 x [1,3,128,128]  astronaut face squares (jittered) and random
    eval/face.npy          [60,3,128,128]        squares of the other photos, some mirrored
                                               (+ {calib,eval}/face_sources.txt)
    calib/face_png/NNN.png 16 x 128x128 RGB    calib/face/000..015 as images

Audio for the Silero voice-activity detector (needs espeak-ng):

    vad/audio.npy          [N] float32         16 kHz mono: two English sentences spoken by
                                               espeak-ng between stretches of near-silence
                                               (seeded noise at about -60 dBFS)
    vad/segments.txt       one line per clip   "speech FIRST END": the sample range of each
                                               spoken clip (trimmed to its first and last
                                               sample above 1% of full scale)

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
runs the cached models on the inputs with onnxruntime and prints what they see, and on the eval
sets: cls accuracy against the labels, rec exact decodes, det mean probability, BlazeFace
best-anchor scores of face / non-face crops.
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


def render_text(text, size=40, margin=6, font=FONT, ink=0, paper=255):
    """Text (grey level `ink`) on `paper`: the ink's width and the font's full line height
    (ascent + descent), plus `margin` pixels all round, like a detector's text-line box.
    RGB image. The defaults are black DejaVu Sans on white."""
    font = ImageFont.truetype(font, size, layout_engine=ImageFont.Layout.BASIC)
    ascent, descent = font.getmetrics()
    left, _, right, _ = font.getbbox(text)
    w, h = right - left + 2 * margin, ascent + descent + 2 * margin
    img = Image.new("L", (w, h), paper)
    ImageDraw.Draw(img).text((margin - left, margin), text, font=font, fill=ink)
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

    # --- calibration and evaluation sets (calib/, eval/)
    sets()


# ---------------------------------------------------------------- calibration / evaluation sets
# Real data for int8 post-training quantization: calib/ feeds a calibrator, eval/ measures
# accuracy. Every random choice comes from np.random.default_rng(<fixed seed>); calib and eval
# use different seeds, and no OCR string appears in both.

FONT_DIR = Path(FONT).parent
SET_FONTS = [str(FONT_DIR / f) for f in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf")
             if (FONT_DIR / f).is_file()]

WORDS = """
the of and to in is for on with as by at from or an be this that are was it not but all can
data model edge chip board power input output layer tensor kernel graph node buffer memory
cache clock timer sensor camera image photo text page line word letter number value signal
audio video frame pixel color light dark north south east west left right upper lower small
large quick brown fox jumps over lazy dog river stone bridge garden window door table chair
paper green blue red orange yellow purple silver golden water fire earth wind cloud rain snow
summer winter spring autumn morning evening night today monday friday march april june july
october market street station airport hotel office school library museum coffee bread apple
lemon sugar salt pepper cheese butter honey ticket price total order invoice receipt account
open close start stop reset pause play record save load print scan send read write build test
check ready error warning status update version system device driver module packet network
""".split()
PUNCT_END = ".,:;!?"


def make_string(rng, lo, hi, taken):
    """A deterministic pseudo-sentence of lo..hi characters: English words, sometimes a number
    (digits, maybe with . : % $ # or -), sometimes trailing punctuation or parentheses.
    Not in `taken` (which it extends)."""
    while True:
        n = int(rng.integers(1, 5))
        words = [str(w) for w in rng.choice(WORDS, n)]
        style = rng.random()
        if style < 0.45:
            words[0] = words[0].capitalize()
        elif style < 0.55:
            words = [w.upper() for w in words]
        elif style < 0.65:
            words = [w.capitalize() for w in words]
        r = rng.random()
        if r < 0.45:
            k = int(rng.integers(0, 8))
            num = [str(int(rng.integers(0, 10000))), f"{rng.integers(0, 100)}.{rng.integers(0, 100):02d}",
                   f"{rng.integers(1, 13)}:{rng.integers(0, 60):02d}", f"{rng.integers(1, 100)}%",
                   f"${rng.integers(1, 500)}.{rng.integers(0, 100):02d}", f"#{rng.integers(1, 1000)}",
                   f"{rng.integers(100, 1000)}-{rng.integers(1000, 10000)}", str(2000 + int(rng.integers(0, 40)))][k]
            words.insert(int(rng.integers(0, len(words) + 1)), num)
        elif r < 0.55 and len(words) > 1:
            words[-1] = f"({words[-1]})"
        elif r < 0.62 and len(words) > 1:
            i = int(rng.integers(0, len(words) - 1))
            words[i:i + 2] = [words[i] + "-" + words[i + 1]]
        s = " ".join(words)
        if rng.random() < 0.4 and s[-1].isalnum():
            s += PUNCT_END[int(rng.integers(0, len(PUNCT_END)))]
        if lo <= len(s) <= hi and s not in taken:
            taken.add(s)
            return s


def random_line(rng, text, margin_div=5):
    """Render `text` with a random font, size, margin (2 .. 2 + size/margin_div px) and
    ink/paper grey levels."""
    size = int(rng.integers(20, 45))
    return render_text(text, size=size, margin=int(rng.integers(2, 3 + size // margin_div)),
                       font=SET_FONTS[int(rng.integers(0, len(SET_FONTS)))],
                       ink=int(rng.integers(0, 70)), paper=int(rng.integers(200, 256)))


def write_file(rel, write):
    """Atomically write OUT/rel with write(file object)."""
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    tmp.replace(path)


def save_array(rel, arr, dtype="<f4"):
    arr = np.ascontiguousarray(arr, dtype=dtype)
    assert np.isfinite(arr).all()
    write_file(rel, lambda f: np.save(f, arr, allow_pickle=False))
    return arr


def save_lines(rel, lines):
    write_file(rel, lambda f: f.write("".join(l + "\n" for l in lines).encode("utf-8")))


def save_calib(name, tensors, ext=".npy"):
    """calib/<name>/000.npy ... (each [1,...]); stale files of the same kind are removed."""
    d = OUT / "calib" / name
    keep = set()
    for i, t in enumerate(tensors):
        rel = f"calib/{name}/{i:03d}{ext}"
        keep.add(Path(rel).name)
        if ext == ".npy":
            save_array(rel, t)
        else:
            write_file(rel, lambda f, t=t: t.save(f, format="PNG", optimize=False))
    for p in d.glob("*" + ext):
        if p.name not in keep:
            p.unlink()


def summary(name, arr, extra=""):
    print(f"  {name:22s} {list(arr.shape)} min {arr.min():.3f} max {arr.max():.3f}{extra}")


def sheet(name, imgs, cols, cell=None):
    """Preview: the images in a grid (each resized to `cell` (w, h) if given)."""
    if cell:
        imgs = [im.resize(cell, Image.BILINEAR) for im in imgs]
    w, h = imgs[0].size
    rows = (len(imgs) + cols - 1) // cols
    out = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for i, im in enumerate(imgs):
        out.paste(im.convert("RGB"), ((i % cols) * w, (i // cols) * h))
    preview(name, out)


def ocr_sets():
    taken = {CLS_TEXT, REC_TEXT}
    # cls calib: 32 lines, even indices upright, odd rotated 180.
    rng = np.random.default_rng(1001)
    ts, prevs = [], []
    for i in range(32):
        line = random_line(rng, make_string(rng, 4, 24, taken))
        t, prev = ocr_line_tensor(line.rotate(180) if i % 2 else line, 48, 192)
        ts.append(t)
        prevs.append(prev)
    save_calib("cls", ts)
    summary("calib/cls/*.npy", np.concatenate(ts), " (32 files, odd = rotated)")
    sheet("calib_cls.png", prevs[:16], 2)

    # cls eval: 120 strings, rows 2i upright (label 0), 2i+1 rotated 180 (label 1).
    rng = np.random.default_rng(2001)
    ts, prevs, strings = [], [], []
    for _ in range(120):
        s = make_string(rng, 4, 24, taken)
        line = random_line(rng, s)
        for rot in (0, 1):
            t, prev = ocr_line_tensor(line.rotate(180) if rot else line, 48, 192)
            ts.append(t)
            prevs.append(prev)
            strings.append(s)
    x = save_array("eval/cls.npy", np.concatenate(ts))
    save_array("eval/cls_labels.npy", np.arange(240) % 2, dtype="<i8")
    save_lines("eval/cls_strings.txt", strings)
    summary("eval/cls.npy", x, " + cls_labels.npy [240] int64, cls_strings.txt")
    sheet("eval_cls.png", prevs[:16], 2)

    # rec: 8..22 characters, rendered so that at height 48 the line is at most 336 px wide
    # (squeezed by at most 5% into 320). Tighter margins than cls: with a wide left margin the
    # recognizer tends to emit a leading space.
    def rec_lines(rng, n):
        out = []
        while len(out) < n:
            s = make_string(rng, 8, 22, taken)
            line = random_line(rng, s, margin_div=10)
            if np.ceil(48 * line.width / line.height) <= 336:
                out.append((s, line))
            else:
                taken.discard(s)
        return out

    rng = np.random.default_rng(1002)
    ts, prevs = zip(*(ocr_line_tensor(line, 48, 320) for _, line in rec_lines(rng, 32)))
    save_calib("rec", ts)
    summary("calib/rec/*.npy", np.concatenate(ts), " (32 files)")
    sheet("calib_rec.png", prevs[:12], 1)

    rng = np.random.default_rng(2002)
    lines = rec_lines(rng, 60)
    ts, prevs = zip(*(ocr_line_tensor(line, 48, 320) for _, line in lines))
    x = save_array("eval/rec.npy", np.concatenate(ts))
    save_lines("eval/rec_strings.txt", [s for s, _ in lines])
    summary("eval/rec.npy", x, " + rec_strings.txt")
    sheet("eval_rec.png", prevs[:12], 1)


def det_image(rng, kind):
    """One 480x320 (WxH) RGB detector input of the given kind and a description of it."""
    W, H = 480, 320
    if kind in ("page", "text"):
        src = Image.open(PHOTOS / f"{kind}.png").convert("RGB")
        hi = min(src.height, src.width * 2 // 3)
        h = int(rng.integers(90, hi + 1))
        w = h * 3 // 2
        x0, y0 = int(rng.integers(0, src.width - w + 1)), int(rng.integers(0, src.height - h + 1))
        return src.crop((x0, y0, x0 + w, y0 + h)).resize((W, H), Image.BILINEAR), \
            f"{kind}.png crop x {x0}..{x0 + w} y {y0}..{y0 + h}"
    paper = int(rng.integers(215, 256))
    canvas = Image.new("RGB", (W, H), (paper,) * 3)
    if kind == "page_small":
        # the whole page, scaled down, at a random place on paper
        src = Image.open(PHOTOS / "page.png").convert("RGB")
        w = int(rng.integers(220, 421))
        h = round(src.height * w / src.width)
        x0, y0 = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        canvas.paste(src.resize((w, h), Image.BILINEAR), (x0, y0))
        return canvas, f"page.png scaled to {w}x{h} at ({x0},{y0}) on grey {paper}"
    # rendered multi-line text
    draw = ImageDraw.Draw(canvas)
    taken = set()
    y, n = int(rng.integers(6, 40)), 0
    while True:
        size = int(rng.integers(14, 35))
        font = ImageFont.truetype(SET_FONTS[int(rng.integers(0, len(SET_FONTS)))], size,
                                  layout_engine=ImageFont.Layout.BASIC)
        asc, desc = font.getmetrics()
        if y + asc + desc > H - 4:
            break
        x = int(rng.integers(6, 80))
        s = make_string(rng, 6, 40, taken)
        while draw.textlength(s, font=font) > W - x - 4 and " " in s:
            s = s.rsplit(" ", 1)[0]
        if draw.textlength(s, font=font) <= W - x - 4:
            draw.text((x, y), s, font=font, fill=(int(rng.integers(0, 90)),) * 3)
            n += 1
        y += asc + desc + int(rng.integers(2, 2 + size))
    return canvas, f"rendered, {n} lines on grey {paper}"


def det_sets():
    kinds = ["page", "page", "page_small", "text", "text", "render", "render", "render"]
    for seed, where in ((1003, "calib"), (2003, "eval")):
        rng = np.random.default_rng(seed)
        imgs, descs = zip(*(det_image(rng, k) for k in kinds))
        ts = [det_tensor(im) for im in imgs]
        if where == "calib":
            save_calib("det", ts)
            save_lines("calib/det_sources.txt", descs)
            summary("calib/det/*.npy", np.concatenate(ts), " (8 files) + det_sources.txt")
        else:
            x = save_array("eval/det.npy", np.concatenate(ts))
            save_lines("eval/det_sources.txt", descs)
            summary("eval/det.npy", x, " + det_sources.txt")
        sheet(f"{where}_det.png", imgs, 4, (240, 160))


FACE_PHOTOS = ["chelsea.png", "coffee.png", "camera.png", "rocket.jpg", "page.png", "text.png"]


def face_crops(rng, n_face, n_other):
    """n_face jittered squares around the astronaut's face plus n_other random squares of the
    other photos (shuffled), as 128x128 RGB images with descriptions. A description starts with
    its kind: "face" (astronaut), "person" (camera.png: the cameraman, whose face is small) or
    "none" (no face)."""
    photos = {p: Image.open(PHOTOS / p).convert("RGB") for p in ["astronaut.png"] + FACE_PHOTOS}
    out = []
    for i in range(n_face + n_other):
        if i < n_face:
            name = "astronaut.png"
            src = photos[name]
            side = int(rng.integers(150, 301))
            cx = 225 + rng.uniform(-0.15, 0.15) * side
            cy = 102 + rng.uniform(-0.15, 0.15) * side
            x0 = int(np.clip(round(cx - side / 2), 0, src.width - side))
            y0 = int(np.clip(round(cy - side / 2), 0, src.height - side))
            kind = "face"
        else:
            name = FACE_PHOTOS[int(rng.integers(0, len(FACE_PHOTOS)))]
            src = photos[name]
            m = min(src.size)
            side = int(rng.integers(int(0.3 * m), m + 1))
            x0 = int(rng.integers(0, src.width - side + 1))
            y0 = int(rng.integers(0, src.height - side + 1))
            kind = "person" if name == "camera.png" else "none"  # camera.png: the cameraman
        flip = bool(rng.random() < 0.5)
        img = src.crop((x0, y0, x0 + side, y0 + side)).resize((128, 128), Image.BILINEAR)
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append((img, f"{kind} {name} x {x0}..{x0 + side} y {y0}..{y0 + side}{' flipped' if flip else ''}"))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def face_tensor(img):
    x = np.asarray(img, np.float32) / 127.5 - 1.0
    return x.transpose(2, 0, 1)[None]


def face_sets():
    crops = face_crops(np.random.default_rng(1004), 12, 20)
    save_calib("face", [face_tensor(im) for im, _ in crops])
    save_lines("calib/face_sources.txt", [d for _, d in crops])
    save_calib("face_png", [im for im, _ in crops[:16]], ext=".png")
    summary("calib/face/*.npy", np.concatenate([face_tensor(im) for im, _ in crops]),
            " (32 files, 12 face) + face_sources.txt; calib/face_png/000..015.png")
    sheet("calib_face.png", [im for im, _ in crops], 8, (64, 64))

    crops = face_crops(np.random.default_rng(2004), 24, 36)
    x = save_array("eval/face.npy", np.concatenate([face_tensor(im) for im, _ in crops]))
    save_lines("eval/face_sources.txt", [d for _, d in crops])
    summary("eval/face.npy", x, " (24 face) + face_sources.txt")
    sheet("eval_face.png", [im for im, _ in crops], 10, (64, 64))


def sets():
    ocr_sets()
    det_sets()
    face_sets()
    vad_sets()


VAD_RATE = 16000
VAD_SENTENCES = [
    "Ferrite runs neural networks on small devices, from flash, without a heap.",
    "The voice activity detector should hear every word of this sentence.",
]


def speak(text):
    """text spoken by espeak-ng, as float32 at VAD_RATE, trimmed to the voiced part."""
    import subprocess
    import tempfile
    import wave

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), text], check=True)
        with wave.open(str(wav)) as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    # Linear resampling to 16 kHz (espeak-ng speaks at 22.05 kHz; little energy above 8 kHz).
    t = np.arange(round(len(x) * VAD_RATE / rate)) * (rate / VAD_RATE)
    y = np.interp(t, np.arange(len(x)), x)
    loud = np.nonzero(np.abs(y) > 0.01)[0]
    return y[loud[0]:loud[-1] + 1]


def vad_sets():
    rng = np.random.default_rng(1600)
    gaps = [2.0, 1.0, 2.5]  # seconds of near-silence before, between and after the sentences
    parts, segments, at = [], [], 0
    for i, gap in enumerate(gaps):
        n = int(gap * VAD_RATE)
        parts.append(np.zeros(n))
        at += n
        if i < len(VAD_SENTENCES):
            clip = speak(VAD_SENTENCES[i])
            parts.append(clip)
            segments.append(f"speech {at} {at + len(clip)}")
            at += len(clip)
    audio = np.concatenate(parts) + rng.normal(0, 1e-3, at)
    save_array("vad/audio.npy", audio)
    save_lines("vad/segments.txt", segments)
    summary("vad/audio.npy", audio.astype(np.float32), f" ({at / VAD_RATE:.1f} s; {'; '.join(segments)})")


def check():
    """Run the real models on the inputs with onnxruntime and print the results."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sessions = {}

    def run(model, x):
        if model not in sessions:
            sessions[model] = ort.InferenceSession(str(MODELS / model), so, providers=["CPUExecutionProvider"])
        s = sessions[model]
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

    if (OUT / "eval").is_dir():
        check_sets(run, chars)


def check_sets(run, chars):
    """Sanity checks of the calib/eval sets with the f32 models (onnxruntime)."""
    ld = lambda n: np.load(OUT / n)
    # cls: accuracy against the labels (one batch).
    (p,) = run("ch_ppocr_mobile_v2.0_cls_infer.onnx", ld("eval/cls.npy"))
    labels = ld("eval/cls_labels.npy")
    ok = p.argmax(1) == labels
    print(f"eval cls: accuracy {ok.mean():.4f} ({ok.sum()}/{len(ok)}; upright {ok[labels == 0].sum()}/"
          f"{(labels == 0).sum()}, rotated {ok[labels == 1].sum()}/{(labels == 1).sum()}); "
          f"mean p(label) {p[np.arange(len(labels)), labels].mean():.4f}")
    cls_strings = (OUT / "eval" / "cls_strings.txt").read_text(encoding="utf-8").splitlines()
    for i in np.flatnonzero(~ok):
        print(f"    row {i} ({'rotated' if labels[i] else 'upright'}) {cls_strings[i]!r}: p(180deg)={p[i, 1]:.4f}")
    (p,) = run("ch_ppocr_mobile_v2.0_cls_infer.onnx", np.concatenate(
        [np.load(f) for f in sorted((OUT / "calib" / "cls").glob("*.npy"))]))
    ok = p.argmax(1) == np.arange(len(p)) % 2
    print(f"calib cls: accuracy {ok.mean():.4f} ({ok.sum()}/{len(ok)})")

    # rec: exact greedy CTC decodes.
    strings = (OUT / "eval" / "rec_strings.txt").read_text(encoding="utf-8").splitlines()
    dictionary = set(chars)
    assert all(c in dictionary for s in strings for c in s), "rec string outside the dictionary"
    (p,) = run("ch_PP-OCRv4_rec_infer.onnx", ld("eval/rec.npy"))
    got = [ctc_greedy(row, chars) for row in p]
    bad = [(w, g) for w, g in zip(strings, got) if w != g]
    print(f"eval rec: {len(strings) - len(bad)}/{len(strings)} decode exactly")
    for w, g in bad:
        print(f"    want {w!r} got {g!r}")

    # det: mean probability per image.
    (p,) = run("ch_PP-OCRv4_det_infer.onnx", ld("eval/det.npy"))
    print(f"eval det: {p.shape} mean prob {p.mean():.4f} (per image "
          f"{' '.join(f'{v:.3f}' for v in p.mean(axis=(1, 2, 3)))}), frac>0.3 {(p > 0.3).mean():.4f}")

    # face: best-anchor score of each row, face crops vs the others.
    x = ld("eval/face.npy")
    kinds = np.array([l.split()[0] for l in (OUT / "eval" / "face_sources.txt").read_text().splitlines()])
    best = np.array([run("face_detection_short_range.onnx", x[i:i + 1])[1][0, :, 0].max()
                     for i in range(len(x))])
    score = 1 / (1 + np.exp(-np.clip(best, -80, 80)))
    print(f"eval face: best-anchor score (sigmoid) of {len(x)} rows:")
    for k, what in (("face", "astronaut face crops"), ("person", "camera.png crops (cameraman)"),
                    ("none", "crops without faces")):
        v = score[kinds == k]
        print(f"    {len(v):2d} {what:30s} min {v.min():.4f} median {np.median(v):.4f} max {v.max():.4f}"
              f" (>0.5: {(v > 0.5).sum()})")


def ctc_greedy(probs, chars):
    """PaddleOCR's greedy CTC decode of one [T, C] row (blank = 0, repeats merged)."""
    idx = probs.argmax(-1)
    keep = (idx != 0) & np.concatenate([[True], idx[1:] != idx[:-1]])
    return "".join(chars[i] for i in idx[keep])


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        check()
    else:
        main()
