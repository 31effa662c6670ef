//! The camera pipeline without a camera: `ferrite::vision` frame conversion
//! against a straightforward f64 reference on real photos in every pixel
//! format, and `examples/camera`'s sources, model binding and decoders on
//! real models (BlazeFace must find the astronaut's face; the PP-OCR
//! classifier must tell upright text from upside-down text).

#[cfg(target_os = "linux")]
#[allow(dead_code)]
#[path = "../examples/camera/device.rs"]
mod device;
#[allow(dead_code)]
#[path = "../examples/camera/source.rs"]
mod source;
#[allow(dead_code)]
#[path = "../examples/camera/task.rs"]
mod task;

use std::path::{Path, PathBuf};

use ferrite::vision::{Channels, Frame, Layout, PixelFormat, Preprocess, Rect, Resize, YuvRange};
use ferrite::{Interpreter, Model};
use ferrite_compiler::compile::{build, optimized_graph};
use ferrite_compiler::import::ImportOptions;
use ferrite_compiler::quant::{self, dataset, QuantOptions};
use ferrite_suite::quant_eval::{case, quantize};
use ferrite_suite::{compile, fetched};
use source::Source;
use task::{Binding, DetectOptions, Fit, Results, Task};

// ------------------------------------------------------------ photos and encoders

/// An RGB photo: width, height, `R G B` bytes.
fn photo(name: &str) -> (usize, usize, Vec<u8>) {
    let img = image::open(fetched(&format!("photos/{name}")))
        .unwrap()
        .into_rgb8();
    (img.width() as usize, img.height() as usize, img.into_raw())
}

/// BT.601 limited-range encoding of one RGB pixel (the studio-swing
/// definition: Y in 16..=235, Cb/Cr in 16..=240), unrounded.
fn ycbcr(p: &[u8]) -> [f64; 3] {
    let [r, g, b] = [p[0], p[1], p[2]].map(|v| v as f64 / 255.0);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    [
        16.0 + 219.0 * y,
        128.0 + 224.0 * (b - y) / 1.772,
        128.0 + 224.0 * (r - y) / 1.402,
    ]
}

fn byte(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// The photo as a frame of `format` (chroma averaged over each 2x1 / 2x2
/// block); the width (and for NV12 the height) must be even.
fn encode(w: usize, h: usize, rgb: &[u8], format: PixelFormat) -> Vec<u8> {
    let px = |x: usize, y: usize| &rgb[3 * (y * w + x)..3 * (y * w + x) + 3];
    let mut out = Vec::new();
    match format {
        PixelFormat::Rgb888 => out.extend_from_slice(rgb),
        PixelFormat::Bgr888 => rgb.chunks(3).for_each(|p| out.extend([p[2], p[1], p[0]])),
        PixelFormat::Gray8 => rgb.chunks(3).for_each(|p| {
            out.push(byte(
                0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64,
            ))
        }),
        PixelFormat::Rgb565 => rgb.chunks(3).for_each(|p| {
            let v = ((p[0] as u16 >> 3) << 11) | ((p[1] as u16 >> 2) << 5) | (p[2] as u16 >> 3);
            out.extend(v.to_le_bytes());
        }),
        PixelFormat::Yuyv => {
            for y in 0..h {
                for x in (0..w).step_by(2) {
                    let (a, b) = (ycbcr(px(x, y)), ycbcr(px(x + 1, y)));
                    out.extend([
                        byte(a[0]),
                        byte((a[1] + b[1]) / 2.0),
                        byte(b[0]),
                        byte((a[2] + b[2]) / 2.0),
                    ]);
                }
            }
        }
        PixelFormat::Nv12 => {
            for y in 0..h {
                for x in 0..w {
                    out.push(byte(ycbcr(px(x, y))[0]));
                }
            }
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let q =
                        [(0, 0), (1, 0), (0, 1), (1, 1)].map(|(dx, dy)| ycbcr(px(x + dx, y + dy)));
                    let mean = |k: usize| q.iter().map(|c| c[k]).sum::<f64>() / 4.0;
                    out.extend([byte(mean(1)), byte(mean(2))]);
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------ the f64 reference

/// Pixel `(x, y)` of a `format` frame as RGB in 0..=255, decoded straight
/// from the standard's inverse matrix (limited range).
fn ref_rgb(d: &[u8], w: usize, h: usize, format: PixelFormat, x: usize, y: usize) -> [f64; 3] {
    let yuv = |yy: u8, cb: u8, cr: u8| {
        let l = (yy as f64 - 16.0) / 219.0;
        let (pb, pr) = ((cb as f64 - 128.0) / 224.0, (cr as f64 - 128.0) / 224.0);
        // Inverse of y = 0.299 r + 0.587 g + 0.114 b, pb = (b - y) / 1.772, pr = (r - y) / 1.402.
        let r = l + 1.402 * pr;
        let b = l + 1.772 * pb;
        let g = (l - 0.299 * r - 0.114 * b) / 0.587;
        [r, g, b].map(|v| (v * 255.0).clamp(0.0, 255.0))
    };
    match format {
        PixelFormat::Rgb888 => [0, 1, 2].map(|c| d[3 * (y * w + x) + c] as f64),
        PixelFormat::Bgr888 => [2, 1, 0].map(|c| d[3 * (y * w + x) + c] as f64),
        PixelFormat::Gray8 => [d[y * w + x] as f64; 3],
        PixelFormat::Rgb565 => {
            let v = u16::from_le_bytes([d[2 * (y * w + x)], d[2 * (y * w + x) + 1]]) as u32;
            let (r, g, b) = (v >> 11, (v >> 5) & 63, v & 31);
            [
                r as f64 * 255.0 / 31.0,
                g as f64 * 255.0 / 63.0,
                b as f64 * 255.0 / 31.0,
            ]
            .map(f64::round)
        }
        PixelFormat::Yuyv => {
            let pair = 2 * (y * w + x - x % 2);
            yuv(d[2 * (y * w + x)], d[pair + 1], d[pair + 3])
        }
        PixelFormat::Nv12 => {
            let c = w * h + (y / 2) * w + x - x % 2;
            yuv(d[y * w + x], d[c], d[c + 1])
        }
    }
}

/// Crop, resize, channel order, normalize and lay out, one output value at
/// a time in f64.
fn reference(d: &[u8], w: usize, h: usize, f: PixelFormat, p: &Preprocess) -> Vec<f64> {
    let c = p.crop.unwrap_or(Rect { x: 0, y: 0, w, h });
    let n = p.channels.count();
    let mut out = vec![0.0; p.width * p.height * n];
    let src = |x: usize, y: usize| ref_rgb(d, w, h, f, c.x + x, c.y + y);
    for oy in 0..p.height {
        for ox in 0..p.width {
            let (fx, fy) = (c.w as f64 / p.width as f64, c.h as f64 / p.height as f64);
            let rgb = match p.resize {
                Resize::Nearest => {
                    let sx = (((ox as f64 + 0.5) * fx) as usize).min(c.w - 1);
                    let sy = (((oy as f64 + 0.5) * fy) as usize).min(c.h - 1);
                    src(sx, sy)
                }
                Resize::Bilinear => {
                    let sx = ((ox as f64 + 0.5) * fx - 0.5).max(0.0);
                    let sy = ((oy as f64 + 0.5) * fy - 0.5).max(0.0);
                    let (x0, y0) = ((sx as usize).min(c.w - 1), (sy as usize).min(c.h - 1));
                    let (x1, y1) = ((x0 + 1).min(c.w - 1), (y0 + 1).min(c.h - 1));
                    let (ax, ay) = (sx - x0 as f64, sy - y0 as f64);
                    let [p00, p10, p01, p11] = [src(x0, y0), src(x1, y0), src(x0, y1), src(x1, y1)];
                    [0, 1, 2].map(|k| {
                        (1.0 - ay) * ((1.0 - ax) * p00[k] + ax * p10[k])
                            + ay * ((1.0 - ax) * p01[k] + ax * p11[k])
                    })
                }
            };
            let vals = match p.channels {
                Channels::Rgb => rgb,
                Channels::Bgr => [rgb[2], rgb[1], rgb[0]],
                Channels::Gray => [0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], 0.0, 0.0],
            };
            for (k, val) in vals.iter().enumerate().take(n) {
                let v = (val - p.mean[k] as f64) / p.std[k] as f64;
                let at = match p.layout {
                    Layout::Nchw => (k * p.height + oy) * p.width + ox,
                    Layout::Nhwc => (oy * p.width + ox) * n + k,
                };
                out[at] = v;
            }
        }
    }
    out
}

const FORMATS: [PixelFormat; 6] = [
    PixelFormat::Rgb888,
    PixelFormat::Bgr888,
    PixelFormat::Rgb565,
    PixelFormat::Gray8,
    PixelFormat::Yuyv,
    PixelFormat::Nv12,
];

#[test]
fn every_pixel_format_matches_the_f64_reference_on_photos() {
    let mut checked = 0;
    for name in ["astronaut.png", "chelsea.png", "coffee.png"] {
        let (w0, h0, rgb0) = photo(name);
        let (w, h) = (w0 & !1, h0 & !1);
        let rgb: Vec<u8> = (0..h)
            .flat_map(|y| rgb0[3 * y * w0..][..3 * w].iter().copied())
            .collect();
        for format in FORMATS {
            let data = encode(w, h, &rgb, format);
            let frame = Frame::new(&data, w, h, format).unwrap();
            let setups = [
                // Whole frame, bilinear down to a square, NCHW RGB in -1..=1.
                Preprocess::new(128, 128),
                // An off-centre crop, nearest, upscaled, NHWC BGR, per-channel ImageNet stats.
                Preprocess {
                    crop: Some(Rect {
                        x: 37,
                        y: 21,
                        w: 101,
                        h: 77,
                    }),
                    width: 160,
                    height: 96,
                    resize: Resize::Nearest,
                    channels: Channels::Bgr,
                    layout: Layout::Nhwc,
                    mean: [123.675, 116.28, 103.53],
                    std: [58.395, 57.12, 57.375],
                },
                // The centred 4:1 strip in gray, bilinear, odd output size.
                Preprocess {
                    crop: Some(Rect::centered(w, h, 4, 1)),
                    width: 63,
                    height: 17,
                    channels: Channels::Gray,
                    mean: [0.0; 3],
                    std: [255.0; 3],
                    ..Preprocess::new(0, 0)
                },
            ];
            for p in setups {
                let want = reference(&data, w, h, format, &p);
                let mut got = vec![0f32; p.len()];
                p.to_f32(&frame, &mut got).unwrap();
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(&g, &r)| (g as f64 - r).abs())
                    .fold(0.0, f64::max);
                // 255 levels span 2.0 in -1..=1: 1e-3 is an eighth of a level.
                assert!(worst < 1e-3, "{name} {format:?} {p:?}: max |diff| {worst}");
                // int8: exactly the f32 values through the runtime's
                // Quantize rounding (what the model's own Quantize op gives).
                // Against f64 at most one step apart, where f32 and f64 land
                // on opposite sides of a rounding tie. (The scale is not
                // 2/255: with it every pixel value is an exact tie.)
                let (scale, zp) = (0.0079, 3);
                let mut q = vec![0i8; p.len()];
                p.to_i8(&frame, &mut q, scale, zp).unwrap();
                assert!(
                    q.iter()
                        .zip(&got)
                        .all(|(&q, &v)| q == ferrite::quant::quantize(v, scale, zp)),
                    "{name} {format:?}: int8 is not the f32 path quantized"
                );
                let steps: Vec<i32> = q
                    .iter()
                    .zip(&want)
                    .map(|(&q, &r)| {
                        (q as i32 - ((r / scale as f64).round() as i32 + zp).clamp(-128, 127)).abs()
                    })
                    .collect();
                let off = steps.iter().filter(|&&s| s != 0).count();
                assert!(
                    steps.iter().all(|&s| s <= 1),
                    "{name} {format:?}: int8 more than one step off"
                );
                assert!(
                    off * 1000 <= steps.len(),
                    "{name} {format:?}: {off} of {} int8 values off",
                    steps.len()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * FORMATS.len() * 3);
}

#[test]
fn yuv_frames_decode_close_to_the_photo() {
    // Encoding with the standard and decoding with the runtime gives the
    // photo back up to rounding and chroma subsampling.
    let (w, h, rgb) = photo("astronaut.png");
    for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Rgb565] {
        let data = encode(w, h, &rgb, format);
        let frame = Frame::new(&data, w, h, format).unwrap();
        let mut sum = 0.0;
        for y in 0..h {
            for x in 0..w {
                let p = frame.rgb(x, y);
                for k in 0..3 {
                    sum += (p[k] as f64 - rgb[3 * (y * w + x) + k] as f64).abs();
                }
            }
        }
        let mean = sum / (3 * w * h) as f64;
        assert!(mean < 3.0, "{format:?}: mean |error| {mean:.2} levels");
    }
    // Full-range (JPEG) codes decode with the full-range matrix.
    let grey = [200u8, 128, 200, 128];
    let f = Frame::new(&grey, 2, 1, PixelFormat::Yuyv)
        .unwrap()
        .with_yuv_range(YuvRange::Full);
    assert_eq!(f.rgb(0, 0), [200.0; 3]);
}

// ------------------------------------------------------------ models through the example's code

/// `bytes` at a 16-byte aligned start, as `Model::load` needs.
fn aligned(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut v = vec![0u8; bytes.len() + 16];
    let at = v.as_ptr().align_offset(16);
    v[at..at + bytes.len()].copy_from_slice(bytes);
    (v, at)
}

/// Runs `image` on every frame of `src`.
fn run_source(
    image: &[u8],
    b: &Binding,
    src: &mut Source,
) -> Vec<(String, Results, (usize, usize))> {
    let (buf, at) = aligned(image);
    let model = Model::load(&buf[at..at + image.len()]).unwrap();
    let mut arena = vec![0u8; model.arena_size() + 16];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    let mut out = Vec::new();
    while let Some(cap) = src.next_frame().unwrap() {
        b.load(&mut interp, &cap.frame).unwrap();
        interp.invoke();
        let r = b.results(&interp).unwrap();
        out.push((cap.name.clone(), r, (cap.frame.width(), cap.frame.height())));
    }
    out
}

fn bind(image: &[u8], task: Task, labels: Option<usize>) -> anyhow::Result<Binding> {
    let (buf, at) = aligned(image);
    let model = Model::load(&buf[at..at + image.len()]).unwrap();
    Binding::new(
        &model,
        task,
        None,
        Fit::Crop,
        DetectOptions::default(),
        labels,
    )
}

/// The astronaut's face in `astronaut.png` (512x512), read off the photo:
/// cheek to cheek, hairline to chin, as `[x0, y0, x1, y1]`.
const FACE: [f32; 4] = [178.0, 78.0, 270.0, 178.0];

/// The one face of `r`, in frame pixels: each edge within 10% of the
/// expected box's size of `FACE` shifted by `dx`.
fn assert_face(what: &str, b: &Binding, r: &Results, frame_wh: (usize, usize), dx: f32) {
    let Results::Faces(faces) = r else {
        panic!("{what}: not a detection")
    };
    assert_eq!(faces.len(), 1, "{what}: {faces:?}");
    let d = faces[0];
    let crop = b.crop_for(frame_wh.0, frame_wh.1);
    let map = |x: f32, y: f32| {
        (
            crop.x as f32 + x * crop.w as f32,
            crop.y as f32 + y * crop.h as f32,
        )
    };
    let (x0, y0) = map(d.bbox.xmin, d.bbox.ymin);
    let (x1, y1) = map(d.bbox.xmax, d.bbox.ymax);
    let want = [FACE[0] + dx, FACE[1], FACE[2] + dx, FACE[3]];
    let tol = 0.1 * (FACE[2] - FACE[0]).max(FACE[3] - FACE[1]);
    for (got, want) in [x0, y0, x1, y1].iter().zip(want) {
        assert!(
            (got - want).abs() <= tol,
            "{what}: box [{x0:.0},{y0:.0} {x1:.0},{y1:.0}] vs {want:?} (tolerance {tol})"
        );
    }
    assert!(d.score > 0.75, "{what}: score {}", d.score);
    // The eyes (keypoints 0 and 1) lie in the box's upper half.
    for k in &d.keypoints[..2] {
        let (kx, ky) = map(k[0], k[1]);
        assert!(
            kx > x0 && kx < x1 && ky > y0 && ky < (y0 + y1) / 2.0,
            "{what}: eye at {kx:.0},{ky:.0}"
        );
    }
    println!(
        "{what}: face [{x0:.0},{y0:.0} {x1:.0},{y1:.0}] score {:.3}",
        d.score
    );
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-camera-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// BlazeFace in f32, int8, and int8 with an int8 input (`--int8-input`).
fn face_models() -> Vec<(&'static str, Vec<u8>)> {
    let f32_image = compile(&fetched("models/face_detection_short_range.onnx"), &[]).unwrap();
    let pair = quantize(case("face"), &QuantOptions::default(), Some(16)).unwrap();
    let opts = QuantOptions {
        quantize_inputs: true,
        ..QuantOptions::default()
    };
    let c = case("face");
    let bytes = std::fs::read(fetched(c.model)).unwrap();
    let shapes = vec![(c.input.to_string(), c.shape.to_vec())];
    let g = optimized_graph(
        &bytes,
        c.name,
        &ImportOptions {
            input_shapes: shapes.clone(),
        },
    )
    .unwrap();
    let samples =
        dataset::load_dir(&fetched("inputs/calib/face"), &shapes, None, Some(16)).unwrap();
    let mut q = quant::quantize(&g, &samples, &opts, &mut |_, _, _| {})
        .unwrap()
        .graph;
    quant::io::int8_inputs(&mut q).unwrap();
    let int8_input = build(q, "face").unwrap().image;
    vec![
        ("f32", f32_image),
        ("int8", pair.int8_image),
        ("int8-input", int8_input),
    ]
}

#[test]
fn an_int8_input_takes_the_frame_without_f32_and_changes_no_bit() {
    let models = face_models();
    let (buf, at) = aligned(&models[2].1);
    let model = Model::load(&buf[at..at + models[2].1.len()]).unwrap();
    let input = model.input(0).unwrap();
    assert_eq!(
        (input.dtype, input.name(), input.shape()),
        (ferrite::DType::I8, "input", &[1, 3, 128, 128][..])
    );
    // The same frame through the int8 model with an f32 input (its Quantize
    // op) and through the int8 input (Preprocess::to_i8): identical outputs.
    let dir = tempdir("int8in");
    std::fs::copy(fetched("photos/astronaut.png"), dir.join("astronaut.png")).unwrap();
    let mut outs = Vec::new();
    for (_, image) in &models[1..] {
        let b = bind(image, Task::Detect, None).unwrap();
        let (buf, at) = aligned(image);
        let model = Model::load(&buf[at..at + image.len()]).unwrap();
        let mut arena = vec![0u8; model.arena_size() + 16];
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        let mut src = Source::open_path(&dir, None, 1).unwrap();
        let cap = src.next_frame().unwrap().unwrap();
        b.load(&mut interp, &cap.frame).unwrap();
        interp.invoke();
        let bytes: Vec<Vec<u8>> = (0..2)
            .map(|i| interp.output(i).unwrap().bytes().to_vec())
            .collect();
        outs.push((bytes, model.arena_size()));
    }
    assert!(
        outs[0].0 == outs[1].0,
        "int8 input and f32 input + Quantize disagree"
    );
    assert!(
        outs[1].1 < outs[0].1,
        "arena {} (int8 input) vs {} (f32 input)",
        outs[1].1,
        outs[0].1
    );
    println!(
        "arena: f32 input {} bytes, int8 input {} bytes",
        outs[0].1, outs[1].1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blazeface_finds_the_astronaut_from_images_and_raw_yuyv() {
    let dir = tempdir("faces");
    std::fs::copy(fetched("photos/astronaut.png"), dir.join("astronaut.png")).unwrap();
    // A 640x512 YUYV clip of two frames: the photo centred on a grey
    // canvas (the centre crop must find it), then mirrored.
    let (w, h, rgb) = photo("astronaut.png");
    let (cw, off) = (640, 64);
    let mut clip = Vec::new();
    for mirror in [false, true] {
        let mut canvas = vec![128u8; cw * h * 3];
        for y in 0..h {
            for x in 0..w {
                let sx = if mirror { w - 1 - x } else { x };
                let (s, t) = (3 * (y * w + sx), 3 * (y * cw + off + x));
                canvas[t..t + 3].copy_from_slice(&rgb[s..s + 3]);
            }
        }
        clip.extend(encode(cw, h, &canvas, PixelFormat::Yuyv));
    }
    let raw = dir.join("clip.yuyv");
    std::fs::write(&raw, &clip).unwrap();

    for (kind, image) in face_models() {
        let b = bind(&image, Task::Detect, None).unwrap();
        let mut src = Source::open_path(&dir, None, 1).unwrap();
        let r = run_source(&image, &b, &mut src);
        assert_eq!(r.len(), 1, "{kind}: one image in the directory");
        assert_face(&format!("{kind} png"), &b, &r[0].1, r[0].2, 0.0);

        let mut src = Source::open_path(&raw, Some((cw, h)), 1).unwrap();
        let r = run_source(&image, &b, &mut src);
        assert_eq!(r.len(), 2);
        assert_face(&format!("{kind} yuyv"), &b, &r[0].1, r[0].2, off as f32);
        // Mirrored: the face box mirrors about the photo's centre.
        let Results::Faces(f) = &r[1].1 else { panic!() };
        assert_eq!(f.len(), 1, "{kind} mirrored: {f:?}");
        let crop = b.crop_for(cw, h);
        let x0 = crop.x as f32 + f[0].bbox.xmin * crop.w as f32;
        let want = off as f32 + w as f32 - FACE[2];
        assert!(
            (x0 - want).abs() <= 10.0,
            "{kind} mirrored: left edge {x0} vs {want}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_classifier_reads_text_orientation_from_a_directory() {
    let image = compile(
        &fetched("models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
        &[("x", &[1, 3, 48, 192])],
    )
    .unwrap();
    let dir = tempdir("cls");
    let upright = image::open(fetched("inputs/preview/cls_text.png")).unwrap();
    upright.save(dir.join("a_upright.png")).unwrap();
    upright.rotate180().save(dir.join("b_rotated.png")).unwrap();
    let b = bind(&image, Task::Classify, Some(2)).unwrap();
    assert_eq!(b.classes, 2);
    let mut src = Source::open_path(&dir, None, 1).unwrap();
    let r = run_source(&image, &b, &mut src);
    let top: Vec<(String, usize, f32)> = r
        .iter()
        .map(|(n, r, _)| match r {
            Results::Classes(c) => (n.clone(), c[0].0, c[0].1),
            _ => panic!("not classes"),
        })
        .collect();
    // Class 0 is "0 degrees", class 1 "180 degrees".
    assert_eq!(
        top.iter().map(|t| t.1).collect::<Vec<_>>(),
        [0, 1],
        "{top:?}"
    );
    assert!(top.iter().all(|t| t.2 > 0.9), "{top:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mismatches_and_bad_sources_are_named() {
    let cls = compile(
        &fetched("models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
        &[("x", &[1, 3, 48, 192])],
    )
    .unwrap();
    let e = format!("{:#}", bind(&cls, Task::Detect, None).unwrap_err());
    assert!(
        e.contains("BlazeFace") && e.contains("[1, 3, 48, 192]") && e.contains("[1, 2]"),
        "{e}"
    );
    let e = format!("{:#}", bind(&cls, Task::Classify, Some(3)).unwrap_err());
    assert!(e.contains("3 labels") && e.contains("2 scores"), "{e}");
    let (buf, at) = aligned(&cls);
    let model = Model::load(&buf[at..at + cls.len()]).unwrap();
    let e = Binding::new(
        &model,
        Task::Classify,
        Some("size=224x224"),
        Fit::Crop,
        DetectOptions::default(),
        None,
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("224x224") && format!("{e:#}").contains("192x48"),
        "{e:#}"
    );
    let e = Binding::new(
        &model,
        Task::Classify,
        Some("channels=gray"),
        Fit::Crop,
        DetectOptions::default(),
        None,
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("3 channel"), "{e:#}");

    let dir = tempdir("bad");
    let e = Source::open_path(&dir, None, 1).err().unwrap();
    assert!(format!("{e:#}").contains("no .png"), "{e:#}");
    let raw = dir.join("short.yuyv");
    std::fs::write(&raw, vec![0u8; 1000]).unwrap();
    let e = format!(
        "{:#}",
        Source::open_path(&raw, Some((32, 8)), 1).err().unwrap()
    );
    assert!(
        e.contains("short.yuyv") && e.contains("1000 bytes") && e.contains("512 bytes"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        Source::open_path(&raw, Some((31, 8)), 1).err().unwrap()
    );
    assert!(e.contains("even width"), "{e}");
    let e = format!(
        "{:#}",
        Source::open_path(Path::new("/nonexistent/x.png"), None, 1)
            .err()
            .unwrap()
    );
    assert!(e.contains("/nonexistent/x.png"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn v4l2_format_choice_and_a_missing_device_are_named() {
    // Format negotiation: raw formats first, MJPEG as the fallback, and a
    // device with none of them gets the list of what it offers.
    let fcc = |s: &[u8; 4], d: &str| (v4l::FourCC::new(s), d.to_string());
    let webcam = [fcc(b"MJPG", "Motion-JPEG"), fcc(b"YUYV", "YUYV 4:2:2")];
    let pick = device::pick_format("/dev/video0", &webcam, None).unwrap();
    assert_eq!(pick, (b"YUYV", Some(PixelFormat::Yuyv)));
    assert_eq!(
        device::pick_format("/dev/video0", &webcam, Some("mjpg")).unwrap(),
        (b"MJPG", None)
    );
    let e = format!(
        "{:#}",
        device::pick_format("/dev/video0", &webcam, Some("NV12")).unwrap_err()
    );
    assert!(
        e.contains("NV12") && e.contains("MJPG (Motion-JPEG), YUYV (YUYV 4:2:2)"),
        "{e}"
    );
    let h264 = [fcc(b"H264", "H.264"), fcc(b"HEVC", "HEVC")];
    let e = format!(
        "{:#}",
        device::pick_format("/dev/video2", &h264, None).unwrap_err()
    );
    assert!(
        e.contains("/dev/video2 offers no supported pixel format")
            && e.contains("H264 (H.264), HEVC (HEVC)")
            && e.contains("YUYV, NV12, RGB3, BGR3, RGBP, GREY, MJPG"),
        "{e}"
    );

    let missing = device::Camera::open("/dev/ferrite-no-such-camera", 640, 480, None)
        .err()
        .unwrap();
    let e = format!("{missing:#}");
    assert!(
        e.contains("/dev/ferrite-no-such-camera") && e.contains("v4l2-ctl"),
        "{e}"
    );
}
