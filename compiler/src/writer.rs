//! Serializes a planned graph into a `.fer` image (layout: `doc/format.md`,
//! implemented once in `ferrite::format`).

use anyhow::{anyhow, bail, Result};

use crate::ir::{Graph, Op};
use crate::plan::Plan;
use ferrite::format::{self, header, OpRecord, TensorRecord};
use ferrite::kernels::elementwise::{BinaryKind, CmpKind, UnaryKind};
use ferrite::kernels::layout::PadMode;
use ferrite::kernels::recurrent::{Cell, RnnAct};
use ferrite::kernels::reduce::ReduceKind;
use ferrite::kernels::resize::{CoordTransform, NearestMode, ResizeExtra, ResizeMode};
use ferrite::ops::{encode_act, encode_qact};
use ferrite::OpCode;

fn f(v: f32) -> u32 {
    v.to_bits()
}

/// Opcode and parameter words of one op.
pub fn encode_op(op: &Op) -> Result<(OpCode, Vec<u32>)> {
    let u = |v: usize| -> Result<u32> {
        u32::try_from(v).map_err(|_| anyhow!("parameter {v} does not fit in 32 bits"))
    };
    Ok(match op {
        Op::Conv {
            window: w,
            groups,
            act,
        }
        | Op::ConvTranspose {
            window: w,
            groups,
            act,
            ..
        } => {
            let adj = if let Op::ConvTranspose { adj, .. } = op {
                *adj
            } else {
                [0, 0]
            };
            let mut p = vec![
                u(w.kernel[0])?,
                u(w.kernel[1])?,
                u(w.stride[0])?,
                u(w.stride[1])?,
                u(w.dilation[0])?,
                u(w.dilation[1])?,
                u(w.pads[0])?,
                u(w.pads[1])?,
                u(w.pads[2])?,
                u(w.pads[3])?,
                u(*groups)?,
            ];
            p.extend(encode_act(*act));
            p.extend([u(adj[0])?, u(adj[1])?]);
            let code = if matches!(op, Op::Conv { .. }) {
                OpCode::Conv2d
            } else {
                OpCode::ConvTranspose2d
            };
            (code, p)
        }
        Op::MatMul { act } => (OpCode::MatMul, encode_act(*act).to_vec()),
        Op::Binary { kind, act } => {
            let code = match kind {
                BinaryKind::Add => OpCode::Add,
                BinaryKind::Sub => OpCode::Sub,
                BinaryKind::Mul => OpCode::Mul,
                BinaryKind::Div => OpCode::Div,
                BinaryKind::Max => OpCode::Max,
                BinaryKind::Min => OpCode::Min,
                BinaryKind::Pow => OpCode::Pow,
                BinaryKind::PRelu => OpCode::PRelu,
            };
            (code, encode_act(*act).to_vec())
        }
        Op::Unary(k) => match *k {
            UnaryKind::Relu => (OpCode::Relu, vec![]),
            UnaryKind::Clamp(a, b) => (OpCode::Clip, vec![f(a), f(b)]),
            UnaryKind::LeakyRelu(a) => (OpCode::LeakyRelu, vec![f(a)]),
            UnaryKind::Sigmoid => (OpCode::Sigmoid, vec![]),
            UnaryKind::HardSigmoid(a, b) => (OpCode::HardSigmoid, vec![f(a), f(b)]),
            UnaryKind::HardSwish => (OpCode::HardSwish, vec![]),
            UnaryKind::Tanh => (OpCode::Tanh, vec![]),
            UnaryKind::Sqrt => (OpCode::Sqrt, vec![]),
            UnaryKind::Exp => (OpCode::Exp, vec![]),
            UnaryKind::Log => (OpCode::Log, vec![]),
            UnaryKind::Abs => (OpCode::Abs, vec![]),
            UnaryKind::Neg => (OpCode::Neg, vec![]),
            UnaryKind::Reciprocal => (OpCode::Reciprocal, vec![]),
            UnaryKind::Erf => (OpCode::Erf, vec![]),
            UnaryKind::Gelu => (OpCode::Gelu, vec![]),
            UnaryKind::GeluTanh => (OpCode::GeluTanh, vec![]),
            UnaryKind::Floor => (OpCode::Floor, vec![]),
            UnaryKind::Ceil => (OpCode::Ceil, vec![]),
            UnaryKind::Round => (OpCode::Round, vec![]),
        },
        Op::MaxPool { window: w, ceil }
        | Op::AvgPool {
            window: w, ceil, ..
        } => {
            let include = matches!(
                op,
                Op::AvgPool {
                    count_include_pad: true,
                    ..
                }
            );
            let mut p = vec![];
            for v in [
                w.kernel[0],
                w.kernel[1],
                w.stride[0],
                w.stride[1],
                w.dilation[0],
                w.dilation[1],
            ] {
                p.push(u(v)?);
            }
            for v in w.pads {
                p.push(u(v)?);
            }
            p.extend([include as u32, *ceil as u32]);
            (
                if matches!(op, Op::MaxPool { .. }) {
                    OpCode::MaxPool2d
                } else {
                    OpCode::AvgPool2d
                },
                p,
            )
        }
        Op::Reduce { kind, axes } => {
            let code = match kind {
                ReduceKind::Sum => OpCode::ReduceSum,
                ReduceKind::Mean => OpCode::ReduceMean,
                ReduceKind::Max => OpCode::ReduceMax,
                ReduceKind::Min => OpCode::ReduceMin,
                ReduceKind::Prod => OpCode::ReduceProd,
                k => bail!("reduction {k:?} has no runtime op"),
            };
            (code, vec![axes.iter().fold(0u32, |m, &a| m | (1 << a))])
        }
        Op::Softmax { axis, log } => (
            if *log {
                OpCode::LogSoftmax
            } else {
                OpCode::Softmax
            },
            vec![u(*axis)?],
        ),
        Op::Transpose(perm) => (
            OpCode::Transpose,
            perm.iter().map(|&p| u(p)).collect::<Result<_>>()?,
        ),
        Op::Reshape => (OpCode::Reshape, vec![]),
        Op::Concat(axis) => (OpCode::Concat, vec![u(*axis)?]),
        Op::Slice { starts, steps } => {
            let mut p: Vec<u32> = starts.iter().map(|&s| u(s)).collect::<Result<_>>()?;
            for &s in steps {
                p.push(
                    i32::try_from(s).map_err(|_| anyhow!("slice step {s} out of range"))? as u32,
                );
            }
            (OpCode::Slice, p)
        }
        Op::Pad { mode, before, .. } | Op::QPad { mode, before, .. } => {
            let m = match mode {
                PadMode::Constant => 0,
                PadMode::Reflect => 1,
                PadMode::Edge => 2,
            };
            let value = match op {
                Op::Pad { value, .. } => f(*value),
                Op::QPad { code, .. } => *code as u32,
                _ => 0,
            };
            let mut p = vec![m, value];
            for &b in before {
                p.push(u(b)?);
            }
            (OpCode::Pad, p)
        }
        Op::Resize {
            mode,
            coord,
            scales,
            extra,
        } => {
            let (m, nm) = match mode {
                ResizeMode::Nearest(n) => (
                    0,
                    match n {
                        NearestMode::RoundPreferFloor => 0,
                        NearestMode::RoundPreferCeil => 1,
                        NearestMode::Floor => 2,
                        NearestMode::Ceil => 3,
                    },
                ),
                ResizeMode::Bilinear => (1, 0),
                ResizeMode::Cubic => (2, 0),
            };
            let c = match coord {
                CoordTransform::HalfPixel => 0,
                CoordTransform::PytorchHalfPixel => 1,
                CoordTransform::AlignCorners => 2,
                CoordTransform::Asymmetric => 3,
                CoordTransform::TfHalfPixelForNearest => 4,
                CoordTransform::HalfPixelSymmetric => 5,
                CoordTransform::TfCropAndResize => 6,
            };
            let mut p = vec![m, nm, c, f(scales[0]), f(scales[1])];
            // The 12-word form only when it says more than the classic one.
            if *mode == ResizeMode::Cubic || c >= 5 || *extra != ResizeExtra::default() {
                let flags = u32::from(extra.antialias) | u32::from(extra.exclude_outside) << 1;
                p.extend([f(extra.cubic_a), flags, f(extra.extrapolation)]);
                p.extend(extra.roi.map(f));
            }
            (OpCode::Resize, p)
        }
        Op::FakeQuant(_) => bail!("internal error: FakeQuant reached the writer"),
        Op::Quantize => (OpCode::Quantize, vec![]),
        Op::Dequantize => (OpCode::Dequantize, vec![]),
        Op::Lut => (OpCode::Lut, vec![]),
        Op::QConv {
            window: w,
            groups,
            act_min,
            act_max,
        } => {
            let mut p = vec![];
            for v in [
                w.kernel[0],
                w.kernel[1],
                w.stride[0],
                w.stride[1],
                w.dilation[0],
                w.dilation[1],
                w.pads[0],
                w.pads[1],
                w.pads[2],
                w.pads[3],
                *groups,
            ] {
                p.push(u(v)?);
            }
            p.extend(encode_qact(*act_min, *act_max));
            p.extend([0, 0]);
            (OpCode::Conv2d, p)
        }
        Op::QMatMul { act_min, act_max } => {
            (OpCode::MatMul, encode_qact(*act_min, *act_max).to_vec())
        }
        Op::QAdd(q) => {
            let mut p = encode_qact(q.act_min, q.act_max).to_vec();
            p.extend(
                [
                    q.left_shift,
                    q.a_mult,
                    q.a_shift,
                    q.b_mult,
                    q.b_shift,
                    q.out_mult,
                    q.out_shift,
                ]
                .map(|v| v as u32),
            );
            (if q.sub { OpCode::Sub } else { OpCode::Add }, p)
        }
        Op::QMul(q) => {
            let mut p = encode_qact(q.act_min, q.act_max).to_vec();
            p.extend([q.mult as u32, q.shift as u32]);
            (OpCode::Mul, p)
        }
        Op::QMean { axes, mult, shift } => (
            OpCode::ReduceMean,
            vec![
                axes.iter().fold(0u32, |m, &a| m | (1 << a)),
                *mult as u32,
                *shift as u32,
            ],
        ),
        Op::QSoftmax { axis } => (OpCode::Softmax, vec![u(*axis)?]),
        Op::QConcat { axis, requant } => {
            let mut p = vec![u(*axis)?];
            for r in requant {
                match r {
                    Some((m, s)) => p.extend([1, *m as u32, *s as u32]),
                    None => p.extend([0, 0, 0]),
                }
            }
            (OpCode::Concat, p)
        }
        Op::Select(cmp) => {
            let code = CmpKind::ALL
                .iter()
                .position(|c| c == cmp)
                .ok_or_else(|| anyhow!("comparison {cmp:?} has no encoding"))?;
            (OpCode::Select, vec![code as u32])
        }
        Op::Recurrent {
            cell,
            direction,
            clip,
        } => {
            let (code, variant) = match cell {
                Cell::Lstm => (OpCode::Lstm, 0),
                Cell::Gru {
                    linear_before_reset,
                } => (OpCode::Gru, *linear_before_reset as u32),
                Cell::Rnn(RnnAct::Tanh) => (OpCode::Rnn, 0),
                Cell::Rnn(RnnAct::Relu) => (OpCode::Rnn, 1),
                Cell::Rnn(RnnAct::Sigmoid) => (OpCode::Rnn, 2),
            };
            (code, vec![*direction, clip.to_bits(), variant])
        }
    })
}

fn pad_to_align(v: &mut Vec<u8>) {
    pad_to(v, format::ALIGN);
}

fn pad_to(v: &mut Vec<u8>, align: usize) {
    while !v.len().is_multiple_of(align) {
        v.push(0);
    }
}

/// Alignment the writer gives the `CONSTS` section and every constant of
/// at least this many bytes (the format asks for 16): a cache line, so
/// that the kernels' 64-byte weight loads never straddle two lines when
/// the image itself lies on a 64-byte boundary (an mmap, `ferrite::Aligned`).
const CONST_ALIGN: usize = 64;

/// Builds the `.fer` image of a planned graph.
pub fn write(g: &Graph, plan: &Plan) -> Result<Vec<u8>> {
    let u = |v: usize, what: &str| -> Result<u32> {
        u32::try_from(v).map_err(|_| anyhow!("{what} ({v}) exceeds the format's 32-bit limit"))
    };
    let mut tensors = Vec::new();
    let mut consts: Vec<u8> = Vec::new();
    let mut names: Vec<u8> = Vec::new();
    for (i, t) in g.tensors.iter().enumerate() {
        if t.shape.len() > format::MAX_RANK {
            bail!(
                "tensor '{}' has rank {} (at most {})",
                t.name,
                t.shape.len(),
                format::MAX_RANK
            );
        }
        let mut shape = [0u32; format::MAX_RANK];
        for (d, &s) in t.shape.iter().enumerate() {
            shape[d] = u(s, &format!("dimension of '{}'", t.name))?;
        }
        let byte_len = u(t.byte_len(), &format!("size of '{}'", t.name))?;
        let (storage, offset) = if let Some(d) = &t.data {
            let bytes = t.byte_len();
            pad_to(
                &mut consts,
                if bytes >= CONST_ALIGN {
                    CONST_ALIGN
                } else {
                    format::ALIGN
                },
            );
            let off = consts.len();
            consts.extend_from_slice(&d.to_le_bytes());
            (format::Storage::Const, off)
        } else {
            let off =
                plan.offsets[i].ok_or_else(|| anyhow!("tensor '{}' was not planned", t.name))?;
            (format::Storage::Arena, off)
        };
        let rec = TensorRecord {
            dtype: t.dtype as u8,
            rank: t.shape.len() as u8,
            storage: storage as u8,
            offset: u(offset, "constant data")?,
            byte_len,
            name_offset: u(names.len(), "names")?,
            name_len: u(t.name.len(), "name")?,
            scale: t.quant.map_or(0.0, |q| q.scale),
            zero_point: t.quant.map_or(0, |q| q.zero_point),
            shape,
        };
        names.extend_from_slice(t.name.as_bytes());
        tensors.extend_from_slice(&rec.encode());
    }
    let mut ops = Vec::new();
    let mut io: Vec<u32> = Vec::new();
    let mut params: Vec<u32> = Vec::new();
    for &ni in &plan.order {
        let n = &g.nodes[ni];
        let (code, p) = encode_op(&n.op).map_err(|e| anyhow!("node '{}': {e}", n.name))?;
        if n.inputs.len() > u8::MAX as usize {
            bail!(
                "node '{}' has {} inputs (at most 255)",
                n.name,
                n.inputs.len()
            );
        }
        let rec = OpRecord {
            opcode: code as u16,
            n_inputs: n.inputs.len() as u8,
            n_outputs: 1,
            io_start: u(io.len(), "op io")?,
            params_start: u(params.len(), "params")?,
            params_len: u(p.len(), "params")?,
        };
        for &i in &n.inputs {
            io.push(u(i, "tensor id")?);
        }
        io.push(u(n.output, "tensor id")?);
        params.extend(p);
        ops.extend_from_slice(&rec.encode());
    }
    let mut graph_io = vec![u(g.inputs.len(), "inputs")?, u(g.outputs.len(), "outputs")?];
    for &t in g.inputs.iter().chain(&g.outputs) {
        graph_io.push(u(t, "tensor id")?);
    }
    let words = |v: &[u32]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let mut notes = String::new();
    for (k, v) in &g.notes {
        // One line per note: keys and values never contain tabs or newlines.
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        notes.push_str(&format!("{}\t{}\n", clean(k), clean(v)));
    }
    let sections: [Vec<u8>; format::SECTION_COUNT] = [
        tensors,
        ops,
        words(&io),
        words(&params),
        consts,
        names,
        words(&graph_io),
        notes.into_bytes(),
    ];
    let mut img = vec![0u8; format::PAYLOAD_START];
    let mut table = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        pad_to(
            &mut img,
            if i == format::section::CONSTS {
                CONST_ALIGN
            } else {
                format::ALIGN
            },
        );
        table.push((img.len(), s.len()));
        img.extend_from_slice(s);
        debug_assert_eq!(i, table.len() - 1);
    }
    pad_to_align(&mut img);
    img[header::MAGIC..header::MAGIC + 4].copy_from_slice(&format::MAGIC);
    img[header::VERSION..header::VERSION + 2].copy_from_slice(&format::VERSION.to_le_bytes());
    format::wr_u32(&mut img, header::ISA, g.packing);
    format::wr_u32(
        &mut img,
        header::ROUNDING,
        ferrite::quant::Rounding::Double as u32,
    );
    format::wr_u32(
        &mut img,
        header::ARENA_SIZE,
        u(plan.arena_size, "arena size")?,
    );
    let len = u(img.len(), "model size")?;
    format::wr_u32(&mut img, header::FILE_LEN, len);
    format::wr_u32(
        &mut img,
        header::SECTION_COUNT,
        format::SECTION_COUNT as u32,
    );
    format::wr_u32(
        &mut img,
        header::TENSOR_COUNT,
        u(g.tensors.len(), "tensors")?,
    );
    format::wr_u32(&mut img, header::OP_COUNT, u(plan.order.len(), "ops")?);
    for (i, (off, l)) in table.iter().enumerate() {
        format::wr_u32(
            &mut img,
            header::SECTION_TABLE + 8 * i,
            u(*off, "section offset")?,
        );
        format::wr_u32(
            &mut img,
            header::SECTION_TABLE + 8 * i + 4,
            u(*l, "section length")?,
        );
    }
    let crc = format::image_crc(&img);
    format::wr_u32(&mut img, header::CRC, crc);
    Ok(img)
}
