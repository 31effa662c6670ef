//! `ferrite compile --quantize int8`: the user-facing flow on the committed
//! PP-OCR classifier, and every calibration-data error (one line naming the
//! file, exit 2, no output file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferrite_compiler::npy;

fn ferrite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(args)
        .output()
        .expect("run ferrite")
}

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn model() -> String {
    assets()
        .join("ch_ppocr_mobile_v2.0_cls_infer.onnx")
        .display()
        .to_string()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-qcli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn assert_fails(o: &Output, needle: &str, out: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains(needle),
        "stderr should mention '{needle}': {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "a failed compile left {}", out.display());
}

/// Calibration samples derived from the committed classifier sample: the
/// crop itself, mirrored, rotated 180 degrees and dimmed.
fn write_npy_samples(dir: &Path) -> npy::Array {
    let s = npy::read(&assets().join("cls_sample.npy")).unwrap();
    let (h, w) = (s.shape[2], s.shape[3]);
    let at = |c: usize, y: usize, x: usize| s.data[(c * h + y) * w + x];
    let map = |f: &dyn Fn(usize, usize, usize) -> f32| npy::Array {
        shape: s.shape.clone(),
        data: (0..3 * h * w)
            .map(|i| f(i / (h * w), i / w % h, i % w))
            .collect(),
    };
    let variants = [
        s.clone(),
        map(&|c, y, x| at(c, y, w - 1 - x)),
        map(&|c, y, x| at(c, h - 1 - y, w - 1 - x)),
        map(&|c, y, x| 0.6 * at(c, y, x)),
    ];
    for (i, v) in variants.iter().enumerate() {
        npy::write(&dir.join(format!("{i:03}.npy")), &v.shape, &v.data).unwrap();
    }
    s
}

#[test]
fn quantize_inspect_and_run() {
    let d = tmp("flow");
    let calib = d.join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    let sample = write_npy_samples(&calib);
    let (fer, fer32, report) = (d.join("m8.fer"), d.join("m.fer"), d.join("r.json"));
    let qdq = d.join("m8_qdq.onnx");
    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "-o",
        fer32.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "--quantize",
        "int8",
        "--calib",
        calib.to_str().unwrap(),
        "--calib-method",
        "mse",
        "--keep-float",
        "MatMul@0",
        "-o",
        fer.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--bias-correct",
        "--emit-onnx-qdq",
        qdq.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("quantized with mse on 4 samples"),
        "{}",
        stdout(&o)
    );
    // int8 weights: well under half the f32 image.
    let (n8, n32) = (
        std::fs::metadata(&fer).unwrap().len(),
        std::fs::metadata(&fer32).unwrap().len(),
    );
    assert!(n8 * 2 < n32, "int8 {n8} bytes vs f32 {n32}");

    // The report: every node, int8 ones with SQNR and parameters, the kept one with its reason.
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let q = &r["quantization"];
    assert_eq!(q["method"], "mse");
    let layers = q["layers"].as_array().unwrap();
    assert!(layers.len() > 50);
    let conv = layers
        .iter()
        .find(|l| l["op"] == "Conv" && l["precision"] == "int8")
        .unwrap();
    for key in [
        "sqnr_db",
        "scale",
        "zero_point",
        "range",
        "clip_fraction",
        "bias_headroom_bits",
    ] {
        assert!(!conv[key].is_null(), "{key} missing in {conv}");
    }
    assert!(q["bias_corrected_layers"].as_u64().is_some(), "{q}");
    let kept = layers.iter().find(|l| l["node"] == "MatMul@0").unwrap();
    assert_eq!(kept["precision"], "f32");
    assert_eq!(kept["reason"], "kept in f32 (--keep-float)");

    // inspect names the precision of every op and why the kept one is f32.
    let o = ferrite(&["inspect", fer.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("quantized:") && text.contains("method=mse"),
        "{text}"
    );
    assert!(text.contains("(f32: kept in f32 (--keep-float))"), "{text}");
    assert!(text.contains("Conv2d           int8"), "{text}");

    // run: f32 output (dequantized), same decision as the f32 model.
    let x = d.join("x.npy");
    npy::write(&x, &sample.shape, &sample.data).unwrap();
    let mut probs = Vec::new();
    for (m, out) in [(&fer, d.join("o8")), (&fer32, d.join("o32"))] {
        let o = ferrite(&[
            "run",
            m.to_str().unwrap(),
            "--input",
            x.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let file = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        probs.push(npy::read(&file).unwrap());
    }
    assert_eq!(probs[0].shape, vec![1, 2]);
    let decision = |p: &npy::Array| p.data[0] >= p.data[1];
    assert_eq!(decision(&probs[0]), decision(&probs[1]));
    // The QDQ ONNX export of the int8 model runs in tract to the same
    // probabilities (one step of the int8 logits at most apart).
    let tract =
        ferrite_compiler::reference::TractModel::load(&qdq, std::slice::from_ref(&sample.shape))
            .unwrap()
            .run(&[&sample])
            .unwrap();
    assert_eq!(tract[0].shape, vec![1, 2]);
    assert!(
        (tract[0].data[0] - probs[0].data[0]).abs() < 0.02,
        "{tract:?} {probs:?}"
    );
    assert!(
        (probs[0].data[0] - probs[1].data[0]).abs() < 0.1,
        "{probs:?}"
    );
}

#[test]
fn quantize_from_images() {
    let d = tmp("images");
    let calib = d.join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    // Dark strokes on light paper, at three positions.
    for k in 0..3u32 {
        let img = image::RgbImage::from_fn(200, 50, |x, y| {
            let ink = (x / 7 + k) % 3 == 0 && (10..40).contains(&y);
            if ink {
                image::Rgb([20, 20, 30])
            } else {
                image::Rgb([235, 235, 230])
            }
        });
        img.save(calib.join(format!("{k}.png"))).unwrap();
    }
    let fer = d.join("m8.fer");
    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "--quantize",
        "int8",
        "--calib",
        calib.to_str().unwrap(),
        "--preprocess",
        "size=192x48,mean=127.5,std=127.5,layout=nchw,channels=bgr",
        "--calib-limit",
        "2",
        "--int8-input",
        "-o",
        fer.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("on 2 samples"), "{}", stdout(&o));
    // --int8-input: the input is int8 under its own name; the image
    // preprocessing is recorded for camera tools.
    let bytes = std::fs::read(&fer).unwrap();
    let aligned = ferrite_compiler::compile::AlignedBytes::from_slice(&bytes).unwrap();
    let m = ferrite::Model::load(aligned.as_slice()).unwrap();
    let input = m.input(0).unwrap();
    assert_eq!((input.name(), input.dtype), ("x", ferrite::DType::I8));
    assert!(input.scale > 0.0);
    assert!(
        m.notes()
            .contains("preprocess\tsize=192x48,mean=127.5,std=127.5,layout=nchw,channels=bgr\n"),
        "{}",
        m.notes()
    );
    // run quantizes the f32 .npy into the int8 input.
    let x = d.join("x.npy");
    npy::write(&x, &[1, 3, 48, 192], &vec![0.25; 3 * 48 * 192]).unwrap();
    let out = d.join("out");
    let o = ferrite(&[
        "run",
        fer.to_str().unwrap(),
        "--input",
        &format!("x={}", x.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ferrite(&["inspect", fer.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("input  x [1,3,48,192] i8"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_calibration_data_names_the_problem() {
    let d = tmp("bad");
    let out = d.join("never.fer");
    let o_str = out.to_str().unwrap().to_string();
    let base = |calib: &Path| -> Vec<String> {
        [
            "compile",
            &model(),
            "--input-shape",
            "x=1,3,48,192",
            "--quantize",
            "int8",
            "--calib",
            calib.to_str().unwrap(),
            "-o",
            &o_str,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: &[String]| ferrite(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_fails(&run(&base(&empty)), "holds no samples", &out);
    assert_fails(&run(&base(&d.join("missing"))), "does not exist", &out);

    let wrong = d.join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    npy::write(
        &wrong.join("a.npy"),
        &[1, 3, 32, 32],
        &vec![0.0; 3 * 32 * 32],
    )
    .unwrap();
    assert_fails(
        &run(&base(&wrong)),
        "a.npy: calibration sample has shape [1, 3, 32, 32]",
        &out,
    );

    let broken = d.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("photo.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let mut args = base(&broken);
    args.extend(["--preprocess".into(), "size=192x48".into()]);
    assert_fails(&run(&args), "photo.png: cannot decode image", &out);
    assert_fails(&run(&base(&broken)), "photo.png is an image: say how", &out);

    let mut args = base(&wrong);
    args.extend(["--calib-method".into(), "magic".into()]);
    assert_fails(&run(&args), "unknown calibration method 'magic'", &out);
    let mut args = base(&wrong);
    args.extend(["--preprocess".into(), "size=12".into()]);
    assert_fails(&run(&args), "size '12' is not WxH", &out);

    let good = d.join("good");
    std::fs::create_dir_all(&good).unwrap();
    write_npy_samples(&good);
    let mut args = base(&good);
    args.extend(["--keep-float".into(), "NoSuchNode".into()]);
    assert_fails(
        &run(&args),
        "--keep-float names unknown node(s): NoSuchNode",
        &out,
    );

    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "--calib",
        good.to_str().unwrap(),
        "-o",
        &o_str,
    ]);
    assert_fails(&o, "calibration options need --quantize int8", &out);
    let qdq = d.join("never.onnx");
    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "--emit-onnx-qdq",
        qdq.to_str().unwrap(),
        "-o",
        &o_str,
    ]);
    assert_fails(&o, "calibration options need --quantize int8", &out);
    assert!(!qdq.exists());
    let o = ferrite(&[
        "compile",
        &model(),
        "--input-shape",
        "x=1,3,48,192",
        "--quantize",
        "int8",
        "-o",
        &o_str,
    ]);
    assert_fails(&o, "needs calibration data: --calib DIR", &out);
}
