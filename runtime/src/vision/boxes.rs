//! Boxes, detections and non-maximum suppression with fixed capacities.

/// An axis-aligned box in normalized input coordinates (0..=1 of the model's
/// input width and height; decoders may return values slightly outside).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct BBox {
    /// Left edge.
    pub xmin: f32,
    /// Top edge.
    pub ymin: f32,
    /// Right edge.
    pub xmax: f32,
    /// Bottom edge.
    pub ymax: f32,
}

impl BBox {
    /// From a centre and a size.
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
        BBox {
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            xmax: cx + w / 2.0,
            ymax: cy + h / 2.0,
        }
    }

    /// Area; 0 for an empty or inverted box.
    pub fn area(&self) -> f32 {
        (self.xmax - self.xmin).max(0.0) * (self.ymax - self.ymin).max(0.0)
    }

    /// Intersection over union; 0 when the union is empty.
    pub fn iou(&self, o: &BBox) -> f32 {
        let inter = BBox {
            xmin: self.xmin.max(o.xmin),
            ymin: self.ymin.max(o.ymin),
            xmax: self.xmax.min(o.xmax),
            ymax: self.ymax.min(o.ymax),
        }
        .area();
        let union = self.area() + o.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Keypoints a detection can carry (BlazeFace has 6).
pub const MAX_KEYPOINTS: usize = 8;

/// One detected object.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Detection {
    /// Where it is.
    pub bbox: BBox,
    /// Confidence in 0..=1.
    pub score: f32,
    /// Class index.
    pub class: u16,
    /// `(x, y)` keypoints in normalized input coordinates; the first
    /// `num_keypoints` are set.
    pub keypoints: [[f32; 2]; MAX_KEYPOINTS],
    /// How many keypoints are set.
    pub num_keypoints: u8,
}

/// Detections above the score threshold, at most `N`: once full, a better
/// detection replaces the worst one kept, so the `N` best always survive.
#[derive(Clone, Debug, Default)]
pub struct Candidates<const N: usize> {
    kept: heapless::Vec<Detection, N>,
    /// Detections offered in all, kept or not.
    pub offered: usize,
}

impl<const N: usize> Candidates<N> {
    /// No candidates.
    pub fn new() -> Self {
        Candidates {
            kept: heapless::Vec::new(),
            offered: 0,
        }
    }

    /// Offers `d`.
    pub fn push(&mut self, d: Detection) {
        self.offered += 1;
        if let Err(d) = self.kept.push(d) {
            // Full (N > 0 here: an empty Vec of capacity 0 is also full).
            let worst = (0..self.kept.len())
                .min_by(|&a, &b| self.kept[a].score.total_cmp(&self.kept[b].score));
            if let Some(w) = worst {
                if d.score > self.kept[w].score {
                    self.kept[w] = d;
                }
            }
        }
    }

    /// The kept detections, in no particular order.
    pub fn as_slice(&self) -> &[Detection] {
        &self.kept
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.kept.clear();
        self.offered = 0;
    }

    /// Non-maximum suppression of the kept candidates (which it reorders
    /// and consumes); see [`nms`].
    pub fn nms<const M: usize>(&mut self, iou: f32, mode: Nms) -> heapless::Vec<Detection, M> {
        let out = nms(&mut self.kept, iou, mode);
        self.clear();
        out
    }
}

/// How overlapping detections are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nms {
    /// Keep the best-scoring box of each overlapping group (per class).
    Hard,
    /// Replace the best box of each overlapping group by the score-weighted
    /// mean of the group's boxes and keypoints, with the best score
    /// (MediaPipe's "weighted" suppression, steadier on video).
    Weighted,
}

/// Greedy non-maximum suppression: best score first, a detection overlaps
/// a kept one when they are of the same class and their IoU is above
/// `iou`. Returns at most `M` detections, best first. `dets` is used as
/// scratch: sorted by score, and its scores overwritten.
pub fn nms<const M: usize>(
    dets: &mut [Detection],
    iou: f32,
    mode: Nms,
) -> heapless::Vec<Detection, M> {
    let mut out = heapless::Vec::new();
    dets.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    // A NaN score sorts first or last depending on its sign: drop them all.
    for d in dets.iter_mut() {
        if d.score.is_nan() {
            d.score = f32::NEG_INFINITY;
        }
    }
    for i in 0..dets.len() {
        if out.is_full() {
            break;
        }
        let lead = dets[i];
        if lead.score == f32::NEG_INFINITY {
            continue;
        }
        let mut sum_w = 0.0f32;
        let mut acc = [0.0f32; 4];
        let mut kp = [[0.0f32; 2]; MAX_KEYPOINTS];
        for (j, d) in dets.iter_mut().enumerate().skip(i) {
            let member = j == i
                || (d.score != f32::NEG_INFINITY
                    && d.class == lead.class
                    && d.bbox.iou(&lead.bbox) > iou);
            if !member {
                continue;
            }
            let w = d.score;
            sum_w += w;
            acc[0] += w * d.bbox.xmin;
            acc[1] += w * d.bbox.ymin;
            acc[2] += w * d.bbox.xmax;
            acc[3] += w * d.bbox.ymax;
            for (a, p) in kp.iter_mut().zip(&d.keypoints) {
                a[0] += w * p[0];
                a[1] += w * p[1];
            }
            d.score = f32::NEG_INFINITY;
        }
        let mut keep = lead;
        if mode == Nms::Weighted && sum_w > 0.0 {
            let inv = 1.0 / sum_w;
            keep.bbox = BBox {
                xmin: acc[0] * inv,
                ymin: acc[1] * inv,
                xmax: acc[2] * inv,
                ymax: acc[3] * inv,
            };
            for (k, a) in keep
                .keypoints
                .iter_mut()
                .zip(&kp)
                .take(lead.num_keypoints as usize)
            {
                *k = [a[0] * inv, a[1] * inv];
            }
        }
        // Cannot fail: checked `is_full` above.
        let _ = out.push(keep);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32, class: u16) -> Detection {
        Detection {
            bbox: BBox {
                xmin: x,
                ymin: 0.0,
                xmax: x + 1.0,
                ymax: 1.0,
            },
            score,
            class,
            ..Default::default()
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = BBox {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 2.0,
            ymax: 2.0,
        };
        let b = BBox {
            xmin: 1.0,
            ymin: 1.0,
            xmax: 3.0,
            ymax: 3.0,
        };
        assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-7);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(
            a.iou(&BBox {
                xmin: 5.0,
                ymin: 5.0,
                xmax: 6.0,
                ymax: 6.0
            }),
            0.0
        );
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
        assert_eq!(
            BBox::from_center(1.0, 1.0, 2.0, 4.0),
            BBox {
                xmin: 0.0,
                ymin: -1.0,
                xmax: 2.0,
                ymax: 3.0
            }
        );
    }

    #[test]
    fn hard_nms_keeps_the_best_of_each_group_and_class() {
        let mut d = [
            det(0.0, 0.6, 0),
            det(0.1, 0.9, 0), // overlaps the first: wins
            det(0.1, 0.8, 1), // other class: kept
            det(5.0, 0.7, 0),
            det(5.05, f32::NAN, 0),
        ];
        let out = nms::<8>(&mut d, 0.5, Nms::Hard);
        let got: heapless::Vec<(f32, f32, u16), 8> = out
            .iter()
            .map(|d| (d.bbox.xmin, d.score, d.class))
            .collect();
        assert_eq!(
            got.as_slice(),
            &[(0.1, 0.9, 0), (0.1, 0.8, 1), (5.0, 0.7, 0)]
        );
        // Capacity bounds the output, best first.
        let mut d = [det(0.0, 0.1, 0), det(3.0, 0.3, 0), det(6.0, 0.2, 0)];
        let out = nms::<2>(&mut d, 0.5, Nms::Hard);
        assert_eq!(
            out.iter()
                .map(|d| d.score)
                .collect::<heapless::Vec<f32, 2>>()
                .as_slice(),
            &[0.3, 0.2]
        );
    }

    #[test]
    fn weighted_nms_blends_the_group() {
        let mut a = det(0.0, 0.75, 0);
        a.num_keypoints = 1;
        a.keypoints[0] = [0.0, 1.0];
        let mut b = det(0.2, 0.25, 0);
        b.num_keypoints = 1;
        b.keypoints[0] = [1.0, 1.0];
        let out = nms::<4>(&mut [a, b], 0.3, Nms::Weighted);
        assert_eq!(out.len(), 1);
        assert!((out[0].bbox.xmin - 0.05).abs() < 1e-6);
        assert!((out[0].keypoints[0][0] - 0.25).abs() < 1e-6);
        assert_eq!(out[0].score, 0.75);
    }

    #[test]
    fn candidates_keep_the_best_n() {
        let mut c = Candidates::<2>::new();
        for (i, s) in [0.5, 0.1, 0.9, 0.3, 0.7].into_iter().enumerate() {
            c.push(det(i as f32 * 3.0, s, 0));
        }
        assert_eq!(c.offered, 5);
        let mut s: heapless::Vec<f32, 2> = c.as_slice().iter().map(|d| d.score).collect();
        s.sort_unstable_by(|a, b| b.total_cmp(a));
        assert_eq!(s.as_slice(), &[0.9, 0.7]);
        let out = c.nms::<4>(0.5, Nms::Hard);
        assert_eq!(out.len(), 2);
        assert!(c.as_slice().is_empty());
        let mut z = Candidates::<0>::new();
        z.push(det(0.0, 1.0, 0));
        assert!(z.as_slice().is_empty());
    }
}
