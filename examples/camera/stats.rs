//! Rolling latency statistics over the last frames: FPS and p50 / p90 of
//! each stage.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Frames the statistics cover.
const WINDOW: usize = 120;

/// Per-frame stage times.
#[derive(Clone, Copy, Debug, Default)]
pub struct Times {
    /// Waiting for / reading / decoding the frame.
    pub capture: Duration,
    /// Frame -> input tensor.
    pub preprocess: Duration,
    /// `invoke` and decoding the outputs.
    pub inference: Duration,
}

/// The last [`WINDOW`] frames.
#[derive(Default)]
pub struct Rolling {
    frames: VecDeque<(Instant, Times)>,
    /// Frames seen in all.
    pub count: usize,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

impl Rolling {
    /// Records a frame finished now.
    pub fn push(&mut self, t: Times) {
        if self.frames.len() == WINDOW {
            self.frames.pop_front();
        }
        self.frames.push_back((Instant::now(), t));
        self.count += 1;
    }

    /// Frames per second over the window (from the first frame's end to the
    /// last's, so a window of one frame has none).
    pub fn fps(&self) -> Option<f64> {
        let (first, last) = (self.frames.front()?.0, self.frames.back()?.0);
        let secs = last.duration_since(first).as_secs_f64();
        (self.frames.len() > 1 && secs > 0.0).then(|| (self.frames.len() - 1) as f64 / secs)
    }

    /// `(p50, p90)` in milliseconds of one stage.
    pub fn stage(&self, f: impl Fn(&Times) -> Duration) -> (f64, f64) {
        let mut v: Vec<f64> = self
            .frames
            .iter()
            .map(|(_, t)| f(t).as_secs_f64() * 1e3)
            .collect();
        if v.is_empty() {
            return (0.0, 0.0);
        }
        (percentile(&mut v, 0.5), percentile(&mut v, 0.9))
    }

    /// The status line.
    pub fn line(&self) -> String {
        let fmt = |(a, b): (f64, f64)| format!("p50 {a:.2} p90 {b:.2} ms");
        let fps = self
            .fps()
            .map_or_else(|| "-".to_owned(), |f| format!("{f:.1}"));
        format!(
            "[{} frames] fps {fps} | capture {} | preprocess {} | inference {} | total {}",
            self.count,
            fmt(self.stage(|t| t.capture)),
            fmt(self.stage(|t| t.preprocess)),
            fmt(self.stage(|t| t.inference)),
            fmt(self.stage(|t| t.capture + t.preprocess + t.inference)),
        )
    }
}
