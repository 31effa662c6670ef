//! Recurrent layers: ONNX `LSTM`, `GRU` and `RNN` (layout 0), f32.
//!
//! Each direction runs over the sequence one step at a time. A step computes
//! the gate pre-activations of the whole batch with two matrix products, by
//! the kernel table's f32 GEMM (`G` gates of `H` units each):
//!
//! ```text
//! gx = x_t · W + Wb          gh = h_{t-1} · R + Rb          ([batch, G·H] each)
//! ```
//!
//! then the cell, per batch row and hidden unit `j` (`σ` the logistic
//! function, `clip` the optional `[-clip, clip]` bound on every activation's
//! input; gate order as in ONNX):
//!
//! ```text
//! LSTM (i o f c): i = σ(clip(gx_i + gh_i + p_i·c))      f = σ(clip(gx_f + gh_f + p_f·c))
//!                 g = tanh(clip(gx_c + gh_c))          c' = f·c + i·g
//!                 o = σ(clip(gx_o + gh_o + p_o·c'))     h' = o·tanh(c')
//! GRU  (z r h):   z = σ(clip(gx_z + gh_z))             r = σ(clip(gx_r + gh_r))
//!                 linear_before_reset: n = tanh(clip(gx_h + r·gh_h))
//!                 otherwise:           n = tanh(clip(gx_h + (Rb_h + (r⊙h) · R_h)))
//!                 h' = (1 − z)·n + z·h
//! RNN:            h' = act(clip(gx + gh))               (act: tanh, relu or σ)
//! ```
//!
//! Peephole terms (`p`, LSTM only) are absent, not zero, without peepholes.
//! The GRU's `(r⊙h) · R_h` (without `linear_before_reset`) is a separate
//! product: for each `j`, `Rb_h[j]` plus the products accumulated over
//! `k = 0, 1, …, H−1` in order.
//!
//! Layout (all row-major): `x [seq, batch, I]`; `w [dirs, I, G·H]` and
//! `r [dirs, H, G·H]` (ONNX `W` and `R` per direction, transposed);
//! `b [dirs, 2·G·H]` (ONNX `B`: `Wb` then `Rb`); `h0`, `c0 [dirs, batch, H]`;
//! `p [dirs, 3·H]` (ONNX `P`: i, o, f). The output holds, in order:
//! `y [seq, dirs, batch, H]` (ONNX `Y`), `y_h [dirs, batch, H]`,
//! `y_c [dirs, batch, H]` (the LSTM's final cell; zero for GRU and RNN),
//! and [`Cell::scratch_rows`] rows of `[dirs, batch, H]` of working memory
//! whose contents afterwards are unspecified. The second direction of a
//! bidirectional layer runs in reverse; with `seq = 0`, `y_h = h0` and
//! `y_c = c0`.

use super::select::F32GemmFn;
use super::Act;
use crate::math;

/// The activation of a simple `RNN` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RnnAct {
    /// `tanh(x)` (ONNX's default).
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
}

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Long short-term memory (gates i, o, f, c).
    Lstm,
    /// Gated recurrent unit (gates z, r, h).
    Gru {
        /// ONNX `linear_before_reset`: the reset gate scales `h·R_h + Rb_h`.
        linear_before_reset: bool,
    },
    /// Simple recurrent layer.
    Rnn(RnnAct),
}

impl Cell {
    /// Gates per hidden unit (`G`).
    pub const fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
            Cell::Rnn(_) => 1,
        }
    }

    /// Rows of `[dirs, batch, H]` of working memory after `y`, `y_h` and
    /// `y_c` in the output: `gx`, `gh` (`G` rows each), the previous state
    /// and the GRU's `r⊙h` (one row each), enough for one direction at a time.
    pub const fn scratch_rows(self) -> usize {
        2 * self.gates() + 2
    }
}

/// Sizes of one recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Time steps.
    pub seq: usize,
    /// Sequences run together.
    pub batch: usize,
    /// Input features (`I`).
    pub input: usize,
    /// Hidden units (`H`).
    pub hidden: usize,
    /// 1, or 2 for a bidirectional layer.
    pub dirs: usize,
    /// A one-direction layer that runs from the last step to the first.
    pub reverse: bool,
}

impl Dims {
    /// Output elements: `y`, `y_h`, `y_c` and the working memory of `cell`.
    pub fn out_len(&self, cell: Cell) -> usize {
        (self.seq + 2 + cell.scratch_rows()) * self.dirs * self.batch * self.hidden
    }
}

/// Constant operands and initial state of a layer (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    /// `W` transposed, `[dirs, I, G·H]`.
    pub w: &'a [f32],
    /// `R` transposed, `[dirs, H, G·H]`.
    pub r: &'a [f32],
    /// `[dirs, 2·G·H]`.
    pub b: &'a [f32],
    /// `[dirs, batch, H]`.
    pub h0: &'a [f32],
    /// `[dirs, batch, H]` (LSTM; empty otherwise).
    pub c0: &'a [f32],
    /// `[dirs, 3·H]` (LSTM with peepholes).
    pub p: Option<&'a [f32]>,
    /// Bound on every activation's input (`+inf`: none).
    pub clip: f32,
}

/// Runs the layer over the whole sequence; see the module docs. `gemm` is
/// the kernel table's f32 matrix product.
pub fn run(d: &Dims, cell: Cell, p: &Params<'_>, x: &[f32], gemm: F32GemmFn, out: &mut [f32]) {
    let (g, h) = (cell.gates(), d.hidden);
    let (bh, gh_len) = (d.batch * h, d.batch * g * h);
    let gw = g * h;
    debug_assert!(x.len() >= d.seq * d.batch * d.input, "x too short");
    debug_assert!(out.len() >= d.out_len(cell), "output too short");
    debug_assert!(p.w.len() >= d.dirs * d.input * gw && p.r.len() >= d.dirs * h * gw);
    debug_assert!(p.b.len() >= d.dirs * 2 * gw && p.h0.len() >= d.dirs * bh);
    let (y, rest) = out.split_at_mut(d.seq * d.dirs * bh);
    let (yh, rest) = rest.split_at_mut(d.dirs * bh);
    let (yc, scratch) = rest.split_at_mut(d.dirs * bh);
    let (gx, scratch) = scratch.split_at_mut(gh_len);
    let (gh, scratch) = scratch.split_at_mut(gh_len);
    let (hp, tmp) = scratch.split_at_mut(bh);
    for dir in 0..d.dirs {
        let reverse = dir == 1 || d.reverse;
        let w = &p.w[dir * d.input * gw..][..d.input * gw];
        let r = &p.r[dir * h * gw..][..h * gw];
        let (wb, rb) = p.b[dir * 2 * gw..][..2 * gw].split_at(gw);
        let c = &mut yc[dir * bh..][..bh];
        match cell {
            Cell::Lstm => c.copy_from_slice(&p.c0[dir * bh..][..bh]),
            _ => c.fill(0.0),
        }
        let peep = p.p.map(|pp| &pp[dir * 3 * h..][..3 * h]);
        hp.copy_from_slice(&p.h0[dir * bh..][..bh]);
        for s in 0..d.seq {
            let t = if reverse { d.seq - 1 - s } else { s };
            let xt = &x[t * d.batch * d.input..][..d.batch * d.input];
            gemm(d.batch, d.input, gw, xt, w, Some(wb), Act::None, gx);
            gemm(d.batch, h, gw, hp, r, Some(rb), Act::None, gh);
            let yt = &mut y[(t * d.dirs + dir) * bh..][..bh];
            for bi in 0..d.batch {
                let row = bi * gw..(bi + 1) * gw;
                let (gxr, ghr) = (&gx[row.clone()], &mut gh[row]);
                let (hpr, yr) = (&hp[bi * h..][..h], &mut yt[bi * h..][..h]);
                match cell {
                    Cell::Lstm => lstm_cell(gxr, ghr, peep, p.clip, &mut c[bi * h..][..h], yr),
                    Cell::Gru {
                        linear_before_reset,
                    } => {
                        if !linear_before_reset {
                            reset_product(gxr, ghr, hpr, r, &rb[2 * h..], p.clip, &mut tmp[..h]);
                        }
                        gru_cell(gxr, ghr, hpr, linear_before_reset, p.clip, yr);
                    }
                    Cell::Rnn(act) => rnn_cell(gxr, ghr, act, p.clip, yr),
                }
            }
            hp.copy_from_slice(yt);
        }
        yh[dir * bh..][..bh].copy_from_slice(hp);
    }
}

/// `x` bounded to `[-clip, clip]` (NaN stays NaN).
#[inline(always)]
fn bound(x: f32, clip: f32) -> f32 {
    if x < -clip {
        -clip
    } else if x > clip {
        clip
    } else {
        x
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    Act::Sigmoid.apply(x)
}

/// One LSTM step of one batch row: updates `c` in place, writes `h`.
fn lstm_cell(
    gx: &[f32],
    gh: &[f32],
    peep: Option<&[f32]>,
    clip: f32,
    c: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    for j in 0..n {
        let pre = |gate: usize| gx[gate * n + j] + gh[gate * n + j];
        let (mut pi, mut pf) = (pre(0), pre(2));
        if let Some(pp) = peep {
            pi += pp[j] * c[j];
            pf += pp[2 * n + j] * c[j];
        }
        let i = sigmoid(bound(pi, clip));
        let f = sigmoid(bound(pf, clip));
        let g = math::tanh(bound(pre(3), clip));
        let cn = f * c[j] + i * g;
        let mut po = pre(1);
        if let Some(pp) = peep {
            po += pp[n + j] * cn;
        }
        let o = sigmoid(bound(po, clip));
        c[j] = cn;
        h[j] = o * math::tanh(cn);
    }
}

/// The GRU's candidate product without `linear_before_reset`: overwrites the
/// `h` gate of `gh` with `rb_h + (r⊙h_prev) · R_h`, using `tmp` for `r⊙h_prev`.
fn reset_product(
    gx: &[f32],
    gh: &mut [f32],
    hp: &[f32],
    r: &[f32],
    rb_h: &[f32],
    clip: f32,
    tmp: &mut [f32],
) {
    let n = hp.len();
    for j in 0..n {
        let rg = sigmoid(bound(gx[n + j] + gh[n + j], clip));
        tmp[j] = rg * hp[j];
    }
    let acc = &mut gh[2 * n..3 * n];
    acc.copy_from_slice(&rb_h[..n]);
    for (k, &a) in tmp.iter().enumerate() {
        let row = &r[k * 3 * n + 2 * n..][..n];
        for (s, &w) in acc.iter_mut().zip(row) {
            *s += a * w;
        }
    }
}

/// One GRU step of one batch row, writing `h`.
fn gru_cell(
    gx: &[f32],
    gh: &[f32],
    hp: &[f32],
    linear_before_reset: bool,
    clip: f32,
    h: &mut [f32],
) {
    let n = h.len();
    for j in 0..n {
        let z = sigmoid(bound(gx[j] + gh[j], clip));
        let cand = if linear_before_reset {
            let r = sigmoid(bound(gx[n + j] + gh[n + j], clip));
            gx[2 * n + j] + r * gh[2 * n + j]
        } else {
            gx[2 * n + j] + gh[2 * n + j]
        };
        let c = math::tanh(bound(cand, clip));
        h[j] = (1.0 - z) * c + z * hp[j];
    }
}

/// One simple-RNN step of one batch row, writing `h`.
fn rnn_cell(gx: &[f32], gh: &[f32], act: RnnAct, clip: f32, h: &mut [f32]) {
    for (j, hj) in h.iter_mut().enumerate() {
        let x = bound(gx[j] + gh[j], clip);
        *hj = match act {
            RnnAct::Tanh => math::tanh(x),
            RnnAct::Relu => x.max(0.0),
            RnnAct::Sigmoid => sigmoid(x),
        };
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::f32_gemm;
    use std::vec;
    use std::vec::Vec;

    /// A straightforward f64 LSTM / GRU / RNN over ONNX-layout weights
    /// (`W [dirs, G·H, I]`, `R [dirs, G·H, H]`), one output row per step.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        d: &Dims,
        cell: Cell,
        x: &[f32],
        w: &[f32],
        r: &[f32],
        b: &[f32],
        h0: &[f32],
        c0: &[f32],
        peep: Option<&[f32]>,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (g, h, ni) = (cell.gates(), d.hidden, d.input);
        let gw = g * h;
        let bh = d.batch * h;
        let mut y = vec![0.0; d.seq * d.dirs * bh];
        let mut yh = vec![0.0; d.dirs * bh];
        let mut yc = vec![0.0; d.dirs * bh];
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        for dir in 0..d.dirs {
            let reverse = dir == 1 || d.reverse;
            for bi in 0..d.batch {
                let mut hs: Vec<f64> = (0..h).map(|j| h0[dir * bh + bi * h + j] as f64).collect();
                let mut cs: Vec<f64> = if cell == Cell::Lstm {
                    (0..h).map(|j| c0[dir * bh + bi * h + j] as f64).collect()
                } else {
                    vec![0.0; h]
                };
                for s in 0..d.seq {
                    let t = if reverse { d.seq - 1 - s } else { s };
                    let xv = |k: usize| x[(t * d.batch + bi) * ni + k] as f64;
                    let wx = |row: usize| -> f64 {
                        let wb = b[dir * 2 * gw + row] as f64;
                        wb + (0..ni)
                            .map(|k| w[(dir * gw + row) * ni + k] as f64 * xv(k))
                            .sum::<f64>()
                    };
                    let rh = |row: usize, hv: &[f64]| -> f64 {
                        let rb = b[dir * 2 * gw + gw + row] as f64;
                        rb + (0..h)
                            .map(|k| r[(dir * gw + row) * h + k] as f64 * hv[k])
                            .sum::<f64>()
                    };
                    let mut hn = vec![0.0; h];
                    for j in 0..h {
                        match cell {
                            Cell::Lstm => {
                                let pp = |gi: usize, cv: f64| {
                                    peep.map_or(0.0, |p| p[dir * 3 * h + gi * h + j] as f64 * cv)
                                };
                                let i = sig(wx(j) + rh(j, &hs) + pp(0, cs[j]));
                                let f = sig(wx(2 * h + j) + rh(2 * h + j, &hs) + pp(2, cs[j]));
                                let gg = (wx(3 * h + j) + rh(3 * h + j, &hs)).tanh();
                                let cn = f * cs[j] + i * gg;
                                let o = sig(wx(h + j) + rh(h + j, &hs) + pp(1, cn));
                                cs[j] = cn;
                                hn[j] = o * cn.tanh();
                            }
                            Cell::Gru {
                                linear_before_reset,
                            } => {
                                let z = sig(wx(j) + rh(j, &hs));
                                let rg = |jj: usize| sig(wx(h + jj) + rh(h + jj, &hs));
                                let n = if linear_before_reset {
                                    (wx(2 * h + j) + rg(j) * rh(2 * h + j, &hs)).tanh()
                                } else {
                                    let rhv: Vec<f64> = (0..h).map(|k| rg(k) * hs[k]).collect();
                                    (wx(2 * h + j) + rh(2 * h + j, &rhv)).tanh()
                                };
                                hn[j] = (1.0 - z) * n + z * hs[j];
                            }
                            Cell::Rnn(act) => {
                                let v = wx(j) + rh(j, &hs);
                                hn[j] = match act {
                                    RnnAct::Tanh => v.tanh(),
                                    RnnAct::Relu => v.max(0.0),
                                    RnnAct::Sigmoid => sig(v),
                                };
                            }
                        }
                    }
                    hs = hn;
                    for j in 0..h {
                        y[((t * d.dirs + dir) * d.batch + bi) * h + j] = hs[j];
                    }
                }
                for j in 0..h {
                    yh[dir * bh + bi * h + j] = hs[j];
                    yc[dir * bh + bi * h + j] = cs[j];
                }
            }
        }
        (y, yh, yc)
    }

    /// `[dirs, rows, cols]` → `[dirs, cols, rows]`.
    fn transpose(v: &[f32], dirs: usize, rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; v.len()];
        for d in 0..dirs {
            for i in 0..rows {
                for j in 0..cols {
                    t[(d * cols + j) * rows + i] = v[(d * rows + i) * cols + j];
                }
            }
        }
        t
    }

    fn check(cell: Cell, d: Dims, peephole: bool, seed: u64) {
        let mut rng = crate::kernels::test_util::Rng::new(seed);
        let (g, h, bh) = (cell.gates(), d.hidden, d.batch * d.hidden);
        let mut v = |n: usize, s: f32| (0..n).map(|_| rng.f32() * s).collect::<Vec<_>>();
        let x = v(d.seq * d.batch * d.input, 2.0);
        let w = v(d.dirs * g * h * d.input, 0.5);
        let r = v(d.dirs * g * h * h, 0.5);
        let b = v(d.dirs * 2 * g * h, 0.5);
        let h0 = v(d.dirs * bh, 1.0);
        let c0 = v(d.dirs * bh, 1.0);
        let peep = v(d.dirs * 3 * h, 0.5);
        let peep = (peephole && cell == Cell::Lstm).then_some(&peep[..]);
        let (wt, rt) = (
            transpose(&w, d.dirs, g * h, d.input),
            transpose(&r, d.dirs, g * h, h),
        );
        let c0 = if cell == Cell::Lstm { &c0[..] } else { &[][..] };
        let p = Params {
            w: &wt,
            r: &rt,
            b: &b,
            h0: &h0,
            c0,
            p: peep,
            clip: f32::INFINITY,
        };
        let guard = 12345.0;
        let mut out = vec![guard; d.out_len(cell) + 7];
        run(
            &d,
            cell,
            &p,
            &x,
            f32_gemm::reference,
            &mut out[..d.out_len(cell)],
        );
        assert!(
            out[d.out_len(cell)..].iter().all(|&v| v == guard),
            "wrote past the output"
        );
        let (y, yh, yc) = naive(&d, cell, &x, &w, &r, &b, &h0, c0, peep);
        let n = y.len();
        let got = |i: usize| out[i] as f64;
        for (i, &e) in y.iter().chain(&yh).chain(&yc).enumerate() {
            assert!(
                (got(i) - e).abs() <= 1e-5,
                "{cell:?} {d:?}: element {i} of {}: {} vs {e}",
                n,
                got(i)
            );
        }
    }

    fn dims(
        seq: usize,
        batch: usize,
        input: usize,
        hidden: usize,
        dirs: usize,
        reverse: bool,
    ) -> Dims {
        Dims {
            seq,
            batch,
            input,
            hidden,
            dirs,
            reverse,
        }
    }

    #[test]
    fn cells_match_a_naive_f64_recurrence() {
        let cells = [
            Cell::Lstm,
            Cell::Gru {
                linear_before_reset: false,
            },
            Cell::Gru {
                linear_before_reset: true,
            },
            Cell::Rnn(RnnAct::Tanh),
            Cell::Rnn(RnnAct::Relu),
            Cell::Rnn(RnnAct::Sigmoid),
        ];
        for (i, &cell) in cells.iter().enumerate() {
            let s = i as u64 * 10;
            check(cell, dims(5, 2, 3, 4, 1, false), false, s + 1);
            check(cell, dims(4, 1, 7, 5, 1, true), false, s + 2);
            check(cell, dims(3, 3, 2, 6, 2, false), true, s + 3);
            check(cell, dims(0, 2, 3, 4, 2, false), false, s + 4);
            check(cell, dims(1, 1, 1, 1, 1, false), true, s + 5);
        }
    }

    #[test]
    fn clip_bounds_every_activation_input() {
        // A huge input saturates each gate at the clip bound instead.
        let d = dims(1, 1, 1, 1, 1, false);
        let p = Params {
            w: &[100.0; 4],
            r: &[0.0; 4],
            b: &[0.0; 8],
            h0: &[0.0],
            c0: &[0.0],
            p: None,
            clip: 0.5,
        };
        let mut out = vec![0.0; d.out_len(Cell::Lstm)];
        run(&d, Cell::Lstm, &p, &[1.0], f32_gemm::reference, &mut out);
        let s = 1.0 / (1.0 + (-0.5f64).exp());
        let c = s * 0.5f64.tanh();
        let expect = s * c.tanh();
        assert!(
            (out[0] as f64 - expect).abs() < 1e-6,
            "{} vs {expect}",
            out[0]
        );
        assert!((out[2] as f64 - c).abs() < 1e-6, "cell {} vs {c}", out[2]);
    }
}
