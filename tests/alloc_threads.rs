//! `invoke()` on a [`ThreadPool`] allocates nothing, on any thread: the pool
//! hands work to its workers through a mutex and condition variables only.
//!
//! The count is global (every thread's allocations), so this binary holds a
//! single test: nothing else runs while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrite::{Interpreter, Model, Parallel, ThreadPool};
use ferrite_compiler::compile::AlignedBytes;
use ferrite_suite::{compile, fetched};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the ops split, to show the pool is used.
struct Counted(ThreadPool, AtomicUsize);

impl Parallel for Counted {
    fn threads(&self) -> usize {
        self.0.threads()
    }
    fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync)) {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.run(parts, job);
    }
}

#[test]
fn threaded_invoke_allocates_nothing() {
    let image = compile(
        &fetched("models/face_detection_short_range.onnx"),
        &[("input", &[1, 3, 128, 128])],
    )
    .unwrap();
    let image = AlignedBytes::from_slice(&image).unwrap();
    let model = Model::load(image.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_size()).unwrap();
    let pool = Counted(ThreadPool::new(3), AtomicUsize::new(0));
    let mut interp = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    interp.set_parallel(&pool);
    interp
        .input_mut(0)
        .unwrap()
        .as_f32_mut()
        .unwrap()
        .fill(0.25);
    interp.invoke();
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..10 {
        interp.invoke();
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert!(pool.1.load(Ordering::Relaxed) > 10, "no op was split");
    assert_eq!(after - before, 0, "a threaded invoke() allocated");
}
