//! Binds a compiled model to the camera pipeline: where the frame goes
//! (input geometry, dtype, normalization) and how the outputs are read
//! (BlazeFace detection or classification). Every mismatch between the
//! model and the task is reported here, before the first frame.

use anyhow::{anyhow, bail, Result};
use ferrite::vision::{
    decode_ssd, softmax_in_place, top_k, Candidates, Channels, Detection, Frame, Layout, Nms,
    Preprocess, Rect, BLAZEFACE_CODING, BLAZEFACE_SHORT_RANGE,
};
use ferrite::{DType, Interpreter, Model, TensorInfo};
use ferrite_compiler::quant::dataset;

/// Faces kept after non-maximum suppression.
pub const MAX_FACES: usize = 16;
/// Anchors above the threshold kept before suppression.
const MAX_CANDIDATES: usize = 128;
/// Classes printed per frame.
pub const TOP_K: usize = 5;

/// What the model is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// BlazeFace short range: faces with 6 keypoints.
    Detect,
    /// One score per class.
    Classify,
}

/// How the frame is fitted to the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fit {
    /// The largest centred crop with the input's aspect ratio.
    Crop,
    /// The whole frame, stretched.
    Stretch,
}

/// What a frame produced (one per frame, on the stack: no allocation).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Results {
    /// Faces, best first, in model-input coordinates (0..=1).
    Faces(heapless::Vec<Detection, MAX_FACES>),
    /// `(class, probability)`, best first.
    Classes(heapless::Vec<(usize, f32), TOP_K>),
}

/// Detection thresholds.
#[derive(Clone, Copy, Debug)]
pub struct DetectOptions {
    /// Minimum face score.
    pub score: f32,
    /// Faces overlapping more than this are merged.
    pub iou: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        // MediaPipe's face_detection_short_range settings.
        DetectOptions {
            score: 0.5,
            iou: 0.3,
        }
    }
}

/// A model bound to a task.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Frame -> input, crop left open (set per frame by [`Binding::fit`]).
    pub pre: Preprocess,
    fit: Fit,
    input: usize,
    dtype: DType,
    scale: f32,
    zero_point: i32,
    task: Task,
    detect: DetectOptions,
    /// BlazeFace: output indices of the regressors and the scores.
    outputs: (usize, usize),
    /// Classify: number of classes.
    pub classes: usize,
}

fn describe(t: &TensorInfo<'_>) -> String {
    format!("'{}' {:?} {:?}", t.name(), t.dtype, t.shape())
}

fn outputs_of(model: &Model<'_>) -> String {
    (0..model.num_outputs())
        .filter_map(|i| model.output(i))
        .map(|t| describe(&t))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Binding {
    /// Checks that `model` fits `task` and works out its preprocessing:
    /// `spec` (the `--preprocess` syntax of `ferrite compile`) or, without
    /// one, the model's own (`ferrite compile --preprocess` records it),
    /// else RGB in -1..=1. `labels` is the number of labels given.
    pub fn new(
        model: &Model<'_>,
        task: Task,
        spec: Option<&str>,
        fit: Fit,
        detect: DetectOptions,
        labels: Option<usize>,
    ) -> Result<Binding> {
        if model.num_inputs() != 1 {
            bail!(
                "the model has {} inputs; the camera feeds exactly one image input",
                model.num_inputs()
            );
        }
        let info = model
            .input(0)
            .ok_or_else(|| anyhow!("model input 0 is missing"))?;
        let (layout, c, h, w) = match *info.shape() {
            [1, c @ (1 | 3), h, w] if c == 3 || (w != 1 && w != 3) => (Layout::Nchw, c, h, w),
            [1, h, w, c @ (1 | 3)] => (Layout::Nhwc, c, h, w),
            _ => bail!(
                "model input {} is not an image: expected [1, C, H, W] or [1, H, W, C] with C = 1 or 3",
                describe(&info)
            ),
        };
        if !matches!(info.dtype, DType::F32 | DType::I8) {
            bail!("model input {} is neither f32 nor int8", describe(&info));
        }
        let recorded = model
            .notes()
            .lines()
            .find_map(|l| l.strip_prefix("preprocess\t"))
            .map(str::to_owned);
        let spec = spec.map(str::to_owned).or(recorded);
        let mut pre = Preprocess::new(w, h);
        pre.layout = layout;
        if let Some(spec) = &spec {
            let p: dataset::Preprocess = spec.parse()?;
            if let Some((sw, sh)) = p.size {
                if (sw as usize, sh as usize) != (w, h) {
                    bail!(
                        "--preprocess size {sw}x{sh} does not match model input {} ({w}x{h})",
                        describe(&info)
                    );
                }
            }
            pre.mean = p.mean;
            pre.std = p.std;
            pre.channels = p.channels;
        } else if c == 1 {
            pre.channels = Channels::Gray;
        }
        if pre.channels.count() != c {
            bail!(
                "model input {} has {c} channel(s), the preprocessing gives {:?} ({})",
                describe(&info),
                pre.channels,
                pre.channels.count()
            );
        }
        let mut b = Binding {
            pre,
            fit,
            input: 0,
            dtype: info.dtype,
            scale: info.scale,
            zero_point: info.zero_point,
            task,
            detect,
            outputs: (0, 0),
            classes: 0,
        };
        match task {
            Task::Detect => {
                let anchors = BLAZEFACE_SHORT_RANGE.len();
                let find = |per: usize| {
                    (0..model.num_outputs()).find(|&i| {
                        model.output(i).is_some_and(|t| {
                            t.dtype == DType::F32
                                && t.len() == anchors * per
                                && t.shape().last() == Some(&per)
                        })
                    })
                };
                let expected = (BLAZEFACE_SHORT_RANGE.input_w, BLAZEFACE_SHORT_RANGE.input_h);
                match (find(16), find(1)) {
                    (Some(r), Some(s)) if (w, h) == expected => b.outputs = (r, s),
                    _ => bail!(
                        "--task detect decodes BlazeFace short range (input 128x128, f32 outputs \
                         [1, {anchors}, 16] and [1, {anchors}, 1]); the model has input {} and outputs {}",
                        describe(&info),
                        outputs_of(model)
                    ),
                }
            }
            Task::Classify => {
                let out = model
                    .output(0)
                    .ok_or_else(|| anyhow!("the model has no output"))?;
                if model.num_outputs() != 1 || out.dtype != DType::F32 || out.is_empty() {
                    bail!(
                        "--task classify reads one f32 output of class scores; the model has {}",
                        outputs_of(model)
                    );
                }
                b.classes = out.len();
                if let Some(n) = labels {
                    if n != b.classes {
                        bail!(
                            "the labels file has {n} labels, output {} has {} scores",
                            describe(&out),
                            b.classes
                        );
                    }
                }
            }
        }
        Ok(b)
    }

    /// The crop [`Binding::fit`] gives a `width x height` frame.
    pub fn crop_for(&self, width: usize, height: usize) -> Rect {
        match self.fit {
            Fit::Crop => Rect::centered(width, height, self.pre.width, self.pre.height),
            Fit::Stretch => Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
        }
    }

    /// The preprocessing of `frame`, with its crop.
    pub fn fit(&self, frame: &Frame<'_>) -> Preprocess {
        let mut p = self.pre;
        p.crop = Some(self.crop_for(frame.width(), frame.height()));
        p
    }

    /// Writes `frame` into the model input (int8 inputs directly in int8).
    pub fn load(&self, interp: &mut Interpreter<'_, '_>, frame: &Frame<'_>) -> Result<()> {
        let p = self.fit(frame);
        let mut t = interp.input_mut(self.input)?;
        match self.dtype {
            DType::I8 => {
                let q = t.as_i8_mut().ok_or_else(|| anyhow!("input is not int8"))?;
                p.to_i8(frame, q, self.scale, self.zero_point)?
            }
            _ => {
                let x = t.as_f32_mut().ok_or_else(|| anyhow!("input is not f32"))?;
                p.to_f32(frame, x)?
            }
        }
        Ok(())
    }

    /// Reads the results of the last `invoke`.
    pub fn results(&self, interp: &Interpreter<'_, '_>) -> Result<Results> {
        let f32_out = |i: usize| -> Result<&[f32]> {
            interp
                .output(i)?
                .as_f32()
                .ok_or_else(|| anyhow!("output {i} is not f32"))
        };
        match self.task {
            Task::Detect => {
                let (boxes, scores) = (f32_out(self.outputs.0)?, f32_out(self.outputs.1)?);
                let mut c = Candidates::<MAX_CANDIDATES>::new();
                decode_ssd(
                    boxes,
                    scores,
                    1,
                    &BLAZEFACE_SHORT_RANGE,
                    &BLAZEFACE_CODING,
                    self.detect.score,
                    &mut c,
                )?;
                Ok(Results::Faces(c.nms(self.detect.iou, Nms::Weighted)))
            }
            Task::Classify => {
                let mut p = f32_out(0)?.to_vec();
                // Raw logits unless they already form a distribution.
                let sum: f32 = p.iter().sum();
                if p.iter().any(|v| !(0.0..=1.0).contains(v)) || (sum - 1.0).abs() > 1e-3 {
                    softmax_in_place(&mut p);
                }
                Ok(Results::Classes(top_k::<TOP_K>(&p)))
            }
        }
    }
}
