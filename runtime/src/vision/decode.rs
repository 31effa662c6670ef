//! Box decoders: SSD-style anchors (BlazeFace and other MediaPipe / TF
//! object-detection heads) and YOLO-style heads.

use super::boxes::{BBox, Candidates, Detection, MAX_KEYPOINTS};
use super::scores::sigmoid;
use super::VisionError;
use crate::math;

/// One anchor: centre and size in normalized input coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    /// Centre x.
    pub cx: f32,
    /// Centre y.
    pub cy: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

/// The anchor grid of an SSD head, with the options of MediaPipe's
/// `SsdAnchorsCalculator`. Consecutive layers with the same stride share
/// one feature map, whose cells hold the anchors of all of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SsdAnchors<'a> {
    /// Model input width in pixels.
    pub input_w: usize,
    /// Model input height in pixels.
    pub input_h: usize,
    /// Smallest anchor scale (first layer).
    pub min_scale: f32,
    /// Largest anchor scale (last layer).
    pub max_scale: f32,
    /// Per layer, the feature map's stride in input pixels.
    pub strides: &'a [u32],
    /// Aspect ratios of each layer's anchors.
    pub aspect_ratios: &'a [f32],
    /// With a value > 0, each layer gets one more anchor of this aspect
    /// ratio at the geometric mean of its scale and the next layer's.
    pub interpolated_scale_aspect_ratio: f32,
    /// Cell offset of the anchor centres (0.5: cell centres).
    pub anchor_offset: f32,
    /// Every anchor has width and height 1 (BlazeFace).
    pub fixed_anchor_size: bool,
    /// Layer 0 gets the three anchors (0.1, 1:1), (s, 2:1), (s, 1:2) instead.
    pub reduce_boxes_in_lowest_layer: bool,
}

/// BlazeFace short range (`face_detection_short_range`, 128x128 input,
/// 896 anchors).
pub const BLAZEFACE_SHORT_RANGE: SsdAnchors<'static> = SsdAnchors {
    input_w: 128,
    input_h: 128,
    min_scale: 0.148_437_5,
    max_scale: 0.75,
    strides: &[8, 16, 16, 16],
    aspect_ratios: &[1.0],
    interpolated_scale_aspect_ratio: 1.0,
    anchor_offset: 0.5,
    fixed_anchor_size: true,
    reduce_boxes_in_lowest_layer: false,
};

impl<'a> SsdAnchors<'a> {
    fn scale(&self, layer: usize) -> f32 {
        let n = self.strides.len();
        if n == 1 {
            (self.min_scale + self.max_scale) / 2.0
        } else {
            self.min_scale + (self.max_scale - self.min_scale) * layer as f32 / (n - 1) as f32
        }
    }

    /// Anchors per cell that layer `l` contributes.
    fn per_layer(&self, l: usize) -> usize {
        if l == 0 && self.reduce_boxes_in_lowest_layer {
            3
        } else {
            self.aspect_ratios.len() + usize::from(self.interpolated_scale_aspect_ratio > 0.0)
        }
    }

    /// Size `(w, h)` of anchor `id` of the cells of the layer group starting
    /// at layer `l0`.
    fn shape(&self, l0: usize, mut id: usize) -> (f32, f32) {
        let mut l = l0;
        loop {
            let n = self.per_layer(l);
            if id < n || l + 1 >= self.strides.len() {
                break;
            }
            id -= n;
            l += 1;
        }
        let s = self.scale(l);
        let (scale, ratio) = if l == 0 && self.reduce_boxes_in_lowest_layer {
            [(0.1, 1.0), (s, 2.0), (s, 0.5)][id.min(2)]
        } else if id < self.aspect_ratios.len() {
            (s, self.aspect_ratios[id])
        } else {
            let next = if l + 1 == self.strides.len() {
                1.0
            } else {
                self.scale(l + 1)
            };
            (math::sqrt(s * next), self.interpolated_scale_aspect_ratio)
        };
        let r = math::sqrt(ratio);
        (scale * r, scale / r)
    }

    /// Layer groups: `(first layer, end layer, feature map w, h, anchors per cell)`.
    fn groups(&self) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> + '_ {
        let mut l = 0;
        core::iter::from_fn(move || {
            if l >= self.strides.len() {
                return None;
            }
            let l0 = l;
            let mut per_cell = 0;
            while l < self.strides.len() && self.strides[l] == self.strides[l0] {
                per_cell += self.per_layer(l);
                l += 1;
            }
            let s = self.strides[l0].max(1) as usize;
            Some((
                l0,
                l,
                self.input_w.div_ceil(s),
                self.input_h.div_ceil(s),
                per_cell,
            ))
        })
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.groups().map(|(_, _, w, h, k)| w * h * k).sum()
    }

    /// True when the grid has no anchor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every anchor in the order of the model's outputs: layer group, then
    /// row, column, anchor of the cell.
    pub fn iter(&self) -> impl Iterator<Item = Anchor> + '_ {
        self.groups().flat_map(move |(l0, _, fw, fh, k)| {
            (0..fh * fw * k).map(move |i| {
                let (cell, id) = (i / k, i % k);
                let (x, y) = (cell % fw, cell / fw);
                let (w, h) = if self.fixed_anchor_size {
                    (1.0, 1.0)
                } else {
                    self.shape(l0, id)
                };
                Anchor {
                    cx: (x as f32 + self.anchor_offset) / fw as f32,
                    cy: (y as f32 + self.anchor_offset) / fh as f32,
                    w,
                    h,
                }
            })
        })
    }
}

/// How an SSD head encodes boxes relative to anchors (MediaPipe's
/// `TensorsToDetectionsCalculator` options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxCoding {
    /// Divisors of the raw `x`, `y`, `w`, `h` (BlazeFace: the input size 128;
    /// TF object detection: 10, 10, 5, 5).
    pub scale: [f32; 4],
    /// Sizes are `exp(raw / scale)` times the anchor's (TF object detection).
    pub exp_size: bool,
    /// Raw order is `y, x, h, w` (TF) rather than `x, y, w, h` (BlazeFace).
    pub yx_order: bool,
    /// `(x, y)` keypoints after the box (BlazeFace: 6).
    pub num_keypoints: usize,
    /// Scores are logits: the score is their sigmoid, clipped to ±this.
    pub sigmoid_clip: Option<f32>,
}

/// BlazeFace's box coding (128-pixel offsets, 6 keypoints, clipped sigmoid).
pub const BLAZEFACE_CODING: BoxCoding = BoxCoding {
    scale: [128.0; 4],
    exp_size: false,
    yx_order: false,
    num_keypoints: 6,
    sigmoid_clip: Some(100.0),
};

/// Decodes an SSD head: `raw_boxes` holds `4 + 2 * num_keypoints` values per
/// anchor, `raw_scores` `num_classes` per anchor. Every anchor whose best
/// class scores at least `threshold` is offered to `out`. Returns the
/// number of anchors.
pub fn decode_ssd<const N: usize>(
    raw_boxes: &[f32],
    raw_scores: &[f32],
    num_classes: usize,
    anchors: &SsdAnchors<'_>,
    coding: &BoxCoding,
    threshold: f32,
    out: &mut Candidates<N>,
) -> Result<usize, VisionError> {
    let n = anchors.len();
    let per_box = 4 + 2 * coding.num_keypoints;
    if coding.num_keypoints > MAX_KEYPOINTS || num_classes == 0 || num_classes > u16::MAX as usize {
        return Err(VisionError::DecoderConfig);
    }
    if raw_boxes.len() != n * per_box || raw_scores.len() != n * num_classes {
        return Err(VisionError::OutputShape {
            anchors: n,
            boxes: raw_boxes.len(),
            scores: raw_scores.len(),
        });
    }
    let [sx, sy, sw, sh] = coding.scale;
    for ((a, rb), rs) in anchors
        .iter()
        .zip(raw_boxes.chunks_exact(per_box))
        .zip(raw_scores.chunks_exact(num_classes))
    {
        let (class, raw) = best_class(rs);
        let score = match coding.sigmoid_clip {
            Some(clip) => sigmoid(raw, clip),
            None => raw,
        };
        if score.is_nan() || score < threshold {
            continue;
        }
        let (x, y, w, h) = if coding.yx_order {
            (rb[1], rb[0], rb[3], rb[2])
        } else {
            (rb[0], rb[1], rb[2], rb[3])
        };
        let cx = x / sx * a.w + a.cx;
        let cy = y / sy * a.h + a.cy;
        let (w, h) = if coding.exp_size {
            (math::exp(w / sw) * a.w, math::exp(h / sh) * a.h)
        } else {
            (w / sw * a.w, h / sh * a.h)
        };
        let mut d = Detection {
            bbox: BBox::from_center(cx, cy, w, h),
            score,
            class: class as u16,
            num_keypoints: coding.num_keypoints as u8,
            ..Default::default()
        };
        for (k, kp) in rb[4..].chunks_exact(2).zip(d.keypoints.iter_mut()) {
            let (kx, ky) = if coding.yx_order {
                (k[1], k[0])
            } else {
                (k[0], k[1])
            };
            *kp = [kx / sx * a.w + a.cx, ky / sy * a.h + a.cy];
        }
        out.push(d);
    }
    Ok(n)
}

/// Index and value of the largest entry (the first of equals; NaN never wins
/// over a number).
fn best_class(s: &[f32]) -> (usize, f32) {
    let mut best = (0, s[0]);
    for (i, &v) in s.iter().enumerate().skip(1) {
        if v > best.1 || best.1.is_nan() {
            best = (i, v);
        }
    }
    best
}

/// The layout of a YOLO-style head: per box `cx, cy, w, h` in input
/// pixels, an optional objectness, then one score per class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YoloFormat {
    /// Number of classes.
    pub num_classes: usize,
    /// An objectness value follows the box (YOLOv5/v7); the score is
    /// objectness times the class score. Without (YOLOv8+): the class score.
    pub objectness: bool,
    /// The output is `[values, boxes]` (YOLOv8's `[1, 84, 8400]`) rather
    /// than `[boxes, values]` (YOLOv5's `[1, 25200, 85]`).
    pub channels_first: bool,
    /// Scores are logits (the sigmoid is not in the graph).
    pub logits: bool,
    /// Model input width in pixels (boxes are divided by it).
    pub input_w: f32,
    /// Model input height in pixels.
    pub input_h: f32,
}

/// Decodes a YOLO-style head; every box scoring at least `threshold` is
/// offered to `out`. Returns the number of boxes.
pub fn decode_yolo<const N: usize>(
    raw: &[f32],
    f: &YoloFormat,
    threshold: f32,
    out: &mut Candidates<N>,
) -> Result<usize, VisionError> {
    let per = 4 + usize::from(f.objectness) + f.num_classes;
    if f.num_classes == 0
        || f.num_classes > u16::MAX as usize
        || !(f.input_w > 0.0 && f.input_h > 0.0)
    {
        return Err(VisionError::DecoderConfig);
    }
    if raw.is_empty() || !raw.len().is_multiple_of(per) {
        return Err(VisionError::OutputShape {
            anchors: 0,
            boxes: raw.len(),
            scores: 0,
        });
    }
    let n = raw.len() / per;
    let at = |b: usize, v: usize| {
        if f.channels_first {
            raw[v * n + b]
        } else {
            raw[b * per + v]
        }
    };
    let act = |v: f32| if f.logits { sigmoid(v, 100.0) } else { v };
    for b in 0..n {
        let first = 4 + usize::from(f.objectness);
        let mut best = (0usize, f32::NEG_INFINITY);
        for c in 0..f.num_classes {
            let v = at(b, first + c);
            if v > best.1 {
                best = (c, v);
            }
        }
        let mut score = act(best.1);
        if f.objectness {
            score *= act(at(b, 4));
        }
        if score.is_nan() || score < threshold {
            continue;
        }
        out.push(Detection {
            bbox: BBox::from_center(
                at(b, 0) / f.input_w,
                at(b, 1) / f.input_h,
                at(b, 2) / f.input_w,
                at(b, 3) / f.input_h,
            ),
            score,
            class: best.0 as u16,
            ..Default::default()
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blazeface_grid() {
        let a = BLAZEFACE_SHORT_RANGE;
        assert_eq!(a.len(), 16 * 16 * 2 + 8 * 8 * 6);
        let v: heapless::Vec<Anchor, 896> = a.iter().collect();
        assert_eq!(v.len(), 896);
        assert_eq!(
            v[0],
            Anchor {
                cx: 0.5 / 16.0,
                cy: 0.5 / 16.0,
                w: 1.0,
                h: 1.0
            }
        );
        assert_eq!(v[1], v[0]);
        // Anchor 141: cell 70 of the 16x16 map = row 4, column 6.
        assert_eq!((v[141].cx, v[141].cy), (6.5 / 16.0, 4.5 / 16.0));
        // The first of the 8x8 map, then its last.
        assert_eq!((v[512].cx, v[512].cy), (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!((v[895].cx, v[895].cy), (7.5 / 8.0, 7.5 / 8.0));
    }

    #[test]
    fn anchor_sizes_follow_the_scales() {
        // Two layers of different strides, ratios 1 and 2, interpolated 1.
        let a = SsdAnchors {
            input_w: 32,
            input_h: 16,
            min_scale: 0.2,
            max_scale: 0.8,
            strides: &[16, 32],
            aspect_ratios: &[1.0, 2.0],
            interpolated_scale_aspect_ratio: 1.0,
            anchor_offset: 0.5,
            fixed_anchor_size: false,
            reduce_boxes_in_lowest_layer: false,
        };
        // 2x1 cells * 3 + 1x1 * 3.
        assert_eq!(a.len(), 9);
        let v: heapless::Vec<Anchor, 9> = a.iter().collect();
        let close = |x: f32, y: f32| (x - y).abs() < 1e-6;
        assert!(close(v[0].w, 0.2) && close(v[0].h, 0.2));
        assert!(close(v[1].w, 0.2 * 2f32.sqrt()) && close(v[1].h, 0.2 / 2f32.sqrt()));
        assert!(close(v[2].w, (0.2f32 * 0.8).sqrt()));
        assert!(close(v[3].cx, 0.75));
        // Last layer: interpolates towards 1.0.
        assert!(close(v[8].w, 0.8f32.sqrt()));
        assert!(close(v[6].cx, 0.5) && close(v[6].cy, 0.5));
    }

    #[test]
    fn ssd_decode_offsets_anchors() {
        let a = SsdAnchors {
            input_w: 16,
            input_h: 16,
            strides: &[16],
            ..BLAZEFACE_SHORT_RANGE
        };
        // One cell, two anchors (ratio 1 + interpolated), both at (0.5, 0.5).
        assert_eq!(a.len(), 2);
        let mut raw = [0f32; 32];
        raw[..6].copy_from_slice(&[12.8, -12.8, 64.0, 32.0, 0.0, 12.8]);
        let scores = [2.0, -2.0];
        let mut c = Candidates::<4>::new();
        assert_eq!(
            decode_ssd(&raw, &scores, 1, &a, &BLAZEFACE_CODING, 0.5, &mut c),
            Ok(2)
        );
        assert_eq!(c.as_slice().len(), 1);
        let d = c.as_slice()[0];
        assert!((d.bbox.xmin - 0.35).abs() < 1e-6 && (d.bbox.ymax - 0.525).abs() < 1e-6);
        assert_eq!(d.keypoints[0], [0.5, 0.6]);
        assert!((d.score - sigmoid(2.0, 100.0)).abs() < 1e-7);
        assert_eq!(
            decode_ssd(&raw[..31], &scores, 1, &a, &BLAZEFACE_CODING, 0.5, &mut c),
            Err(VisionError::OutputShape {
                anchors: 2,
                boxes: 31,
                scores: 2
            })
        );
        // TF order and exponential sizes.
        let tf = BoxCoding {
            scale: [10.0, 10.0, 5.0, 5.0],
            exp_size: true,
            yx_order: true,
            num_keypoints: 0,
            sigmoid_clip: None,
        };
        let a = SsdAnchors {
            fixed_anchor_size: false,
            ..a
        };
        let raw = [1.0, 0.0, 0.0, 5.0 * 2f32.ln(), 0.0, 0.0, 0.0, 0.0];
        let mut c = Candidates::<4>::new();
        decode_ssd(&raw, &[0.9, 0.1], 1, &a, &tf, 0.5, &mut c).unwrap();
        let d = c.as_slice()[0];
        let w0 = a.iter().next().unwrap().w;
        assert!((d.bbox.xmax - d.bbox.xmin - 2.0 * w0).abs() < 1e-5);
        assert!(((d.bbox.ymin + d.bbox.ymax) / 2.0 - (0.5 + 0.1 * w0)).abs() < 1e-6);
    }

    #[test]
    fn yolo_layouts_agree() {
        // Two boxes, 2 classes, YOLOv5 rows with objectness.
        let rows = [
            32.0, 32.0, 16.0, 16.0, 0.9, 0.2, 0.8, //
            10.0, 10.0, 4.0, 4.0, 0.1, 0.9, 0.1,
        ];
        let f = YoloFormat {
            num_classes: 2,
            objectness: true,
            channels_first: false,
            logits: false,
            input_w: 64.0,
            input_h: 64.0,
        };
        let mut c = Candidates::<4>::new();
        assert_eq!(decode_yolo(&rows, &f, 0.5, &mut c), Ok(2));
        assert_eq!(c.as_slice().len(), 1);
        let d = c.as_slice()[0];
        assert_eq!(
            (d.class, d.bbox),
            (
                1,
                BBox {
                    xmin: 0.375,
                    ymin: 0.375,
                    xmax: 0.625,
                    ymax: 0.625
                }
            )
        );
        assert!((d.score - 0.72).abs() < 1e-6);
        // The same values channels-first.
        let mut cols = [0f32; 14];
        for b in 0..2 {
            for v in 0..7 {
                cols[v * 2 + b] = rows[b * 7 + v];
            }
        }
        let mut c2 = Candidates::<4>::new();
        decode_yolo(
            &cols,
            &YoloFormat {
                channels_first: true,
                ..f
            },
            0.5,
            &mut c2,
        )
        .unwrap();
        assert_eq!(c2.as_slice(), c.as_slice());
        assert!(decode_yolo(&rows[..13], &f, 0.5, &mut c2).is_err());
        assert_eq!(
            decode_yolo(
                &rows,
                &YoloFormat {
                    num_classes: 0,
                    ..f
                },
                0.5,
                &mut c2
            ),
            Err(VisionError::DecoderConfig)
        );
    }
}
