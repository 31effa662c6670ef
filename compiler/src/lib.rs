//! Ferrite compiler: ONNX (through tract) to `.fer`.
//!
//! Stages: [`import`] (tract load and typing, lowering to [`ir`]),
//! [`passes`] (folding, fusion, layout, dead-node removal), [`plan`]
//! (arena offsets), [`writer`] (the `.fer` image), [`report`] (inspect);
//! [`quant`] (int8), [`export`] (the compiled graph as QDQ ONNX).

pub mod bench;
pub mod board;
pub mod compile;
pub mod exec;
pub mod export;
pub mod fsutil;
pub mod import;
pub mod ir;
pub mod lower;
pub mod memory;
pub mod npy;
pub mod onnx_check;
pub mod passes;
pub mod plan;
pub mod quant;
pub mod reference;
pub mod report;
pub mod util;
pub mod writer;
