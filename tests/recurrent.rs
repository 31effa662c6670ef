//! Recurrent layers on a real model: Silero VAD v6 (conv front end + one
//! LSTM(128), MIT, fetched by `scripts/fetch-models`) streams 16 kHz audio
//! frame by frame with its state as a model input and output, on speech
//! spoken by espeak-ng between stretches of near-silence
//! (`scripts/make-inputs.py`). Ferrite and tract each carry their own state;
//! every frame's probability and state agree within 1e-4, and the
//! probability is high on speech and low in silence.

use ferrite::{Interpreter, Model};
use ferrite_compiler::compile::AlignedBytes;
use ferrite_compiler::npy::{self, Array};
use ferrite_compiler::reference::TractModel;
use ferrite_suite::{compile, fetched};

const RATE: usize = 16_000;
/// New samples per frame, and the previous frame's tail the model sees first.
const HOP: usize = 512;
const CONTEXT: usize = 64;

/// Per-frame speech probabilities of both runs, and the largest difference
/// of probability and state over the stream.
struct Stream {
    ours: Vec<f32>,
    tract: Vec<f32>,
    max_diff: f32,
}

fn stream(audio: &[f32]) -> Stream {
    let path = fetched("models/silero_vad_openvino_16k.onnx");
    let image = compile(&path, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    let image = AlignedBytes::from_slice(&image).unwrap();
    let model = Model::load(image.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
    let mut interp = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    let tract = TractModel::load(&path, &[vec![1, CONTEXT + HOP], vec![2, 1, 128]]).unwrap();

    let mut x = vec![0f32; CONTEXT + HOP];
    let mut state_ours = vec![0f32; 256];
    let mut state_tract = Array {
        shape: vec![2, 1, 128],
        data: vec![0.0; 256],
    };
    let mut s = Stream {
        ours: Vec::new(),
        tract: Vec::new(),
        max_diff: 0.0,
    };
    for chunk in audio.chunks_exact(HOP) {
        x.copy_within(HOP.., 0);
        x[CONTEXT..].copy_from_slice(chunk);
        let mut input = |name: &str, v: &[f32]| {
            let mut t = interp.input_mut_by_name(name).unwrap();
            t.as_f32_mut().unwrap().copy_from_slice(v);
        };
        input("input", &x);
        input("state", &state_ours);
        interp.invoke();
        let output = |name: &str| interp.output_by_name(name).unwrap().as_f32().unwrap();
        let p = output("output")[0];
        state_ours.copy_from_slice(output("stateN"));

        let xa = Array {
            shape: vec![1, CONTEXT + HOP],
            data: x.clone(),
        };
        let outs = tract.run(&[&xa, &state_tract]).unwrap();
        let pt = outs[0].data[0];
        state_tract = outs[1].clone();

        let ds = state_ours
            .iter()
            .zip(&state_tract.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        s.max_diff = s.max_diff.max((p - pt).abs()).max(ds);
        s.ours.push(p);
        s.tract.push(pt);
    }
    s
}

#[test]
fn silero_vad_streams_like_tract_and_hears_speech() {
    let audio = npy::read(&fetched("inputs/vad/audio.npy")).unwrap().data;
    let segments: Vec<(usize, usize)> = std::fs::read_to_string(fetched("inputs/vad/segments.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<usize> = l
                .split_whitespace()
                .skip(1)
                .map(|n| n.parse().unwrap())
                .collect();
            (v[0], v[1])
        })
        .collect();
    let s = stream(&audio);
    let frames = s.ours.len();
    assert!(frames >= 200, "{frames} frames");
    assert!(
        s.max_diff <= 1e-4,
        "max |Δ| vs tract {:e} over {frames} frames",
        s.max_diff
    );

    // Speech: frames inside a spoken clip, from 0.25 s after its start (the
    // LSTM needs a few frames to rise). Silence: frames starting at least
    // 0.5 s after the previous clip ends (its hangover) and ending before the
    // next one starts.
    let frame = |i: usize| (i * HOP, (i + 1) * HOP);
    let in_speech = |i: usize| {
        let (a, b) = frame(i);
        segments.iter().any(|&(s, e)| a >= s + RATE / 4 && b <= e)
    };
    let in_silence = |i: usize| {
        let (a, b) = frame(i);
        segments.iter().all(|&(s, e)| b <= s || a >= e + RATE / 2)
    };
    let speech: Vec<f32> = (0..frames)
        .filter(|&i| in_speech(i))
        .map(|i| s.ours[i])
        .collect();
    let silence: Vec<f32> = (0..frames)
        .filter(|&i| in_silence(i))
        .map(|i| s.ours[i])
        .collect();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let above = speech.iter().filter(|&&p| p > 0.5).count();
    println!(
        "silero: {frames} frames, max |Δ| vs tract {:.1e}; speech {} frames mean p {:.3}, {} above 0.5; \
         silence {} frames mean p {:.3}, max {:.3}",
        s.max_diff,
        speech.len(),
        mean(&speech),
        above,
        silence.len(),
        mean(&silence),
        silence.iter().fold(0f32, |a, &b| a.max(b)),
    );
    assert!(speech.len() >= 100 && silence.len() >= 100);
    // Pauses between words are part of a clip, so a few speech frames may dip.
    assert!(
        above * 10 >= speech.len() * 9,
        "{above} of {} speech frames above 0.5",
        speech.len()
    );
    assert!(
        silence.iter().all(|&p| p < 0.2),
        "a silent frame scored >= 0.2"
    );
}
