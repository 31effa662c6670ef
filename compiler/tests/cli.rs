//! The `ferrite` command line: the user-facing flows and their errors.
//! Every failure must be one clear line on stderr and exit code 2, with no
//! partial output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferrite::{Interpreter, Model};
use ferrite_compiler::compile::AlignedBytes;
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

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_fails(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2, got {:?}; stderr: {err}",
        o.status.code()
    );
    assert!(
        err.contains(needle),
        "stderr should mention '{needle}': {err}"
    );
    assert!(!err.contains("panicked"), "a panic reached the user: {err}");
}

/// Compiles the committed PP-OCR classifier for input `shape` into `fer`.
fn compile_cls(fer: &Path, shape: &str) {
    let model = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let o = ferrite(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        fer.to_str().unwrap(),
        "--input-shape",
        &format!("x={shape}"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn compile_inspect_run_and_library_api_agree() {
    let dir = tmp("flow");
    let model = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let fer = dir.join("cls.fer");
    let rep = dir.join("plan.json");
    let o = ferrite(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        fer.to_str().unwrap(),
        "--input-shape",
        "x=1,3,48,192",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let mem = &plan["memory"];
    let arena = mem["arena_bytes"].as_u64().unwrap();
    let lower = mem["lower_bound_bytes"].as_u64().unwrap();
    let base = mem["greedy_baseline_bytes"].as_u64().unwrap();
    assert!(lower <= arena && arena <= base, "{mem}");
    let svg = std::fs::read_to_string(dir.join("plan.svg")).unwrap();
    let bars = mem["timeline"].as_array().unwrap().len();
    assert!(svg.starts_with("<svg") && svg.matches("<rect").count() > bars);
    let tl = ferrite(&["inspect", fer.to_str().unwrap(), "--timeline"]);
    let tl = String::from_utf8_lossy(&tl.stdout);
    assert!(
        tl.contains("x lower bound") && tl.contains("offset"),
        "{tl}"
    );

    let o = ferrite(&["inspect", fer.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let image = std::fs::read(&fer).unwrap();
    let aligned = AlignedBytes::from_slice(&image).unwrap();
    let m = Model::load(aligned.as_slice()).unwrap();
    assert_eq!(j["arena_bytes"], m.arena_size());
    assert_eq!(j["memory"]["arena_bytes"], arena);
    assert_eq!(j["file_bytes"], image.len());
    // tests/models.rs checks these MACs against an independent count on tract's graph.
    let r = ferrite_compiler::report::report(&m);
    assert_eq!(j["macs"], r.macs);
    assert_eq!(j["ops"].as_array().unwrap().len(), m.num_ops());
    // Weights: the constant section holds each constant tensor once, 16-byte aligned.
    let (mut unique, mut count) = (0u64, 0u64);
    for t in (0..m.num_tensors()).filter_map(|t| m.tensor(t)) {
        if t.storage == ferrite::format::Storage::Const {
            unique += t.byte_len as u64;
            count += 1;
        }
    }
    let consts = j["weight_bytes"].as_u64().unwrap();
    assert!(
        unique <= consts && consts < unique + 16 * count,
        "{unique} vs {consts}"
    );
    // The original model holds 0.56 MB of f32 weights; folding BN must not grow them.
    assert!(
        (400_000..560_000).contains(&consts),
        "weight bytes {consts}"
    );
    let text = ferrite(&["inspect", fer.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("arena {} bytes", m.arena_size())),
        "{text}"
    );
    assert!(text.contains("Conv2d"));

    let out = dir.join("out");
    let input = assets().join("cls_sample.npy");
    let o = ferrite(&[
        "run",
        fer.to_str().unwrap(),
        "--input",
        &format!("x={}", input.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cli = npy::read(&out.join("save_infer_model_scale_0.tmp_1.npy")).unwrap();

    // The same through the runtime's API, as examples/compile_and_run.rs does it.
    let x = npy::read(&input).unwrap();
    let mut arena = AlignedBytes::zeroed(m.arena_size()).unwrap();
    let mut interp = Interpreter::new(&m, arena.as_mut_slice()).unwrap();
    interp
        .input_mut_by_name("x")
        .unwrap()
        .as_f32_mut()
        .unwrap()
        .copy_from_slice(&x.data);
    interp.invoke();
    let api = interp.output(0).unwrap().as_f32().unwrap().to_vec();
    assert_eq!(cli.data, api, "CLI and library API outputs differ");
    assert!(
        api[0] > 0.99,
        "upright text should be classified 0°: {api:?}"
    );
}

#[test]
fn demo_runs_the_embedded_model() {
    let o = ferrite(&["demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("orientation: 0°"), "{s}");
    assert!(s.contains("latency"), "{s}");
}

#[test]
fn bad_inputs_give_one_line_and_exit_2() {
    let dir = tmp("bad");
    let out = dir.join("x.fer");
    let o_s = out.to_str().unwrap();
    // Missing file.
    assert_fails(
        &ferrite(&["compile", "/nonexistent/model.onnx", "-o", o_s]),
        "cannot read /nonexistent/model.onnx",
    );
    // Not an ONNX file.
    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, b"this is not a protobuf \xff\xfe").unwrap();
    assert_fails(
        &ferrite(&["compile", junk.to_str().unwrap(), "-o", o_s]),
        "not a valid ONNX model",
    );
    // Dynamic dims without --input-shape: names the input and the fix.
    let cls = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    assert_fails(
        &ferrite(&["compile", cls.to_str().unwrap(), "-o", o_s]),
        "--input-shape x=",
    );
    // Unknown input name in --input-shape.
    assert_fails(
        &ferrite(&[
            "compile",
            cls.to_str().unwrap(),
            "-o",
            o_s,
            "--input-shape",
            "y=1,2",
        ]),
        "inputs are: x",
    );
    assert!(!out.exists(), "a failed compile left {}", out.display());
    // A .fer that is not one, and a wrong input shape.
    assert_fails(&ferrite(&["inspect", junk.to_str().unwrap()]), "junk.onnx");
    let fer = dir.join("cls.fer");
    compile_cls(&fer, "1,3,48,96");
    let input = assets().join("cls_sample.npy");
    let res = dir.join("res");
    let o = ferrite(&[
        "run",
        fer.to_str().unwrap(),
        "--input",
        &format!("x={}", input.display()),
        "--out",
        res.to_str().unwrap(),
    ]);
    assert_fails(&o, "must have shape [1, 3, 48, 96]");
    let o = ferrite(&[
        "run",
        fer.to_str().unwrap(),
        "--input",
        &format!("nope={}", input.display()),
        "--out",
        res.to_str().unwrap(),
    ]);
    assert_fails(&o, "has no input 'nope'");
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // `ferrite inspect model.fer | head -1`: the reader goes away early.
    let dir = tmp("pipe");
    let fer = dir.join("cls.fer");
    compile_cls(&fer, "1,3,48,192");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .args(["inspect", fer.to_str().unwrap(), "--timeline"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

/// `--board`: a model that fits is compiled and its footprint printed;
/// `--emit-rust` writes the image and the Rust constants firmware includes;
/// a board whose budget the model exceeds is refused with every size named
/// and nothing written; `inspect --board` prints the same footprint.
#[test]
fn board_budgets_and_emit_rust() {
    let d = tmp("board");
    let model = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let (fer, rs_dir) = (d.join("cls.fer"), d.join("fw"));
    let compile = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "compile",
            model.to_str().unwrap(),
            "--input-shape",
            "x=1,3,48,192",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        ferrite(&args)
    };
    let o = compile(
        &fer,
        &[
            "--board",
            "mps2-an386",
            "--emit-rust",
            rs_dir.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("board mps2-an386"), "{out}");
    let rs = std::fs::read_to_string(rs_dir.join("model.rs")).unwrap();
    let image = std::fs::read(rs_dir.join("model.fer")).unwrap();
    assert_eq!(image, std::fs::read(&fer).unwrap());
    let aligned = AlignedBytes::from_slice(&image).unwrap();
    let m = Model::load(aligned.as_slice()).unwrap();
    assert!(rs.contains(&format!("pub const MODEL_LEN: usize = {};", image.len())));
    assert!(rs.contains(&format!(
        "pub const ARENA_SIZE: usize = {};",
        m.arena_size()
    )));
    assert!(
        rs.contains("\"Conv2d\"") && rs.contains("\"op-conv\"") && rs.contains("\"f32\""),
        "{rs}"
    );
    assert!(
        rs.contains("pub const BOARD: &str = \"mps2-an386\";"),
        "{rs}"
    );
    // The board's memory map for cortex-m-rt.
    let x = std::fs::read_to_string(rs_dir.join("memory.x")).unwrap();
    assert!(
        x.contains("FLASH : ORIGIN = 0x00000000, LENGTH = 4194304")
            && x.contains("RAM   : ORIGIN = 0x20000000, LENGTH = 4194304"),
        "{x}"
    );

    // A board with 64 KiB of RAM: refused, sizes named, no output.
    let small = d.join("small.toml");
    std::fs::write(
        &small,
        "name = \"tiny\"\ndescription = \"64 KiB part\"\nkind = \"mcu\"\n\
         target = \"thumbv7em-none-eabihf\"\ncpu = \"cortex-m4\"\n\
         ram_bytes = 65536\nflash_bytes = 1048576\nstack_bytes = 4096\n",
    )
    .unwrap();
    let never = d.join("never.fer");
    let o = compile(&never, &["--board", small.to_str().unwrap()]);
    assert_fails(
        &o,
        &format!(
            "does not fit board tiny: RAM: arena {} + stack 4096",
            m.arena_size()
        ),
    );
    assert!(!never.exists());
    let o = compile(&never, &["--board", "no-such-board"]);
    assert_fails(&o, "unknown board 'no-such-board'; boards: rpi4, rpi5");
    assert!(!never.exists());

    let o = ferrite(&["inspect", fer.to_str().unwrap(), "--board", "rpi4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("board rpi4") && out.contains("runtime features: f32, op-binary, op-conv"),
        "{out}"
    );
}

/// `compile --check`: a supported model says so and exits 0; a model with
/// unsupported ops lists every one (node, op) in one go and exits 2;
/// nothing is written either way.
#[test]
fn check_lists_every_unsupported_node() {
    let d = tmp("check");
    let model = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let o = ferrite(&[
        "compile",
        "--check",
        model.to_str().unwrap(),
        "--input-shape",
        "x=1,3,48,192",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("every node is supported"), "{out}");

    let bad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/malformed/unsupported_ops.onnx");
    let o = ferrite(&["compile", "--check", bad.to_str().unwrap()]);
    assert_fails(&o, "2 node(s) cannot be compiled");
    let err = stderr(&o);
    assert!(
        err.contains("node 'first_cos' (op Cos)") && err.contains("node 'last_sin' (op Sin)"),
        "{err}"
    );
    // -o is needed without --check, and --check writes nothing.
    let o = ferrite(&["compile", model.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
}

#[test]
fn pack_lays_out_f32_conv_weights_for_one_table() {
    let dir = tmp("pack_f32");
    let (plain, packed) = (dir.join("cls.fer"), dir.join("cls-vnni.fer"));
    compile_cls(&plain, "1,3,48,192");
    let model = assets().join("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let o = ferrite(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        packed.to_str().unwrap(),
        "--input-shape",
        "x=1,3,48,192",
        "--pack",
        "avx512vnni",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = ferrite(&["inspect", packed.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("packed for the `avx512vnni` kernels"),
        "{text}"
    );
    let input = assets().join("cls_sample.npy");
    let run = |fer: &Path, out: &str| {
        ferrite(&[
            "run",
            fer.to_str().unwrap(),
            "--input",
            &format!("x={}", input.display()),
            "--out",
            dir.join(out).to_str().unwrap(),
        ])
    };
    let o = run(&packed, "packed");
    let vnni = ferrite::packing::ISA_AVX512VNNI;
    if ferrite::kernels::Kernels::best_for(vnni).is_none() {
        assert_fails(&o, "packed for the `avx512vnni` kernels");
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    // On this CPU the unpacked model runs on the same table: same bits.
    let o = run(&plain, "plain");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = "save_infer_model_scale_0.tmp_1.npy";
    let a = npy::read(&dir.join("packed").join(out)).unwrap();
    let b = npy::read(&dir.join("plain").join(out)).unwrap();
    assert_eq!(a.data, b.data);
}

/// `bench` times the model and its load, in text and in JSON.
#[test]
fn bench_reports_latency_and_load() {
    let dir = tmp("bench");
    let fer = dir.join("cls.fer");
    compile_cls(&fer, "1,3,48,192");
    let o = ferrite(&["bench", fer.to_str().unwrap(), "--iters", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["iters"], 3);
    let (min, median, p90) = (
        j["min_ms"].as_f64().unwrap(),
        j["median_ms"].as_f64().unwrap(),
        j["p90_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= p90, "{j}");
    assert!(j["load_ms"].as_f64().unwrap() > 0.0, "{j}");
    let o = ferrite(&["bench", fer.to_str().unwrap(), "--iters", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("median") && text.contains("load "), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
