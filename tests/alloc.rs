//! `invoke()` allocates nothing (checked with a counting global allocator in
//! a std build), and a million invokes of a small model give identical outputs.
//!
//! The count is per thread: the test harness runs the other test (which
//! allocates while it sets up) on a second thread at the same time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ferrite::{Interpreter, Model};
use ferrite_compiler::compile::AlignedBytes;
use ferrite_suite::repo_root;

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no slot left; its frees and
    // allocations are not the ones under test.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn load(name: &str) -> AlignedBytes {
    AlignedBytes::from_slice(&std::fs::read(repo_root().join("tests/data").join(name)).unwrap())
        .unwrap()
}

#[test]
fn invoke_allocates_nothing() {
    for sample in ["sample_v1.fer", "sample_v1_inplace.fer"] {
        let image = load(sample);
        let model = Model::load(image.as_slice()).unwrap();
        let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
        let mut interp = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
        interp
            .input_mut(0)
            .unwrap()
            .as_f32_mut()
            .unwrap()
            .fill(0.25);
        let before = allocations();
        for _ in 0..10 {
            interp.invoke();
        }
        let after = allocations();
        assert_eq!(after - before, 0, "{sample}: invoke() allocated");
    }
}

#[test]
fn a_million_invokes_are_identical() {
    let image = load("sample_v1_inplace.fer");
    let model = Model::load(image.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
    let mut interp = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    let input: Vec<f32> = (0..120).map(|i| (i as f32 - 60.0) * 0.05).collect();
    interp
        .input_mut(0)
        .unwrap()
        .as_f32_mut()
        .unwrap()
        .copy_from_slice(&input);
    interp.invoke();
    let first: Vec<u32> = interp
        .output(0)
        .unwrap()
        .as_f32()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    for i in 0..1_000_000 {
        interp.invoke();
        let out = interp.output(0).unwrap().as_f32().unwrap();
        assert!(
            out.iter().zip(&first).all(|(a, b)| a.to_bits() == *b),
            "invoke {i} differs"
        );
    }
}
