//! A fixed pool of worker threads that implements [`Parallel`] (feature
//! `threads`, which needs `std`).
//!
//! The workers are spawned once, by [`ThreadPool::new`], and wait on a
//! condition variable; [`Parallel::run`] hands them the parts of one op and
//! runs part 0 on the calling thread. Locking a `std` mutex and waiting on a
//! condition variable allocate nothing, so an invoke on a pool allocates
//! nothing either (`tests/alloc.rs`).

use std::boxed::Box;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::parallel::{Parallel, MAX_PARTS};

/// Worker threads for [`Interpreter::set_parallel`](crate::Interpreter::set_parallel).
///
/// ```
/// # use ferrite::{Interpreter, Model, ThreadPool};
/// # fn demo(model: &Model<'_>, arena: &mut [u8]) -> Result<(), ferrite::Error> {
/// let pool = ThreadPool::new(4); // the caller and three workers
/// let mut interp = Interpreter::new(model, arena)?;
/// interp.set_parallel(&pool);
/// interp.invoke();
/// # Ok(())
/// # }
/// ```
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serializes `run` calls from different threads on one pool.
    entry: Mutex<()>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a new batch is posted or the pool shuts down.
    work: Condvar,
    /// Signalled when the last part of a batch finishes.
    done: Condvar,
}

struct State {
    /// The posted batch's job (`None` between batches).
    job: Option<JobRef>,
    parts: usize,
    /// The next part a worker takes.
    next: usize,
    /// Parts taken by workers and not yet finished.
    running: usize,
    /// The first panic of a part in this batch.
    panic: Option<Box<dyn std::any::Any + Send>>,
    shutdown: bool,
}

/// The batch's job with its lifetime erased.
#[derive(Clone, Copy)]
struct JobRef(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync` (callable from any thread through a shared
// reference); `run` keeps it alive until every part that dereferences it has
// finished (see `run`).
unsafe impl Send for JobRef {}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Parts run outside the lock and their panics are caught, so a poisoned
    // lock only means a panic in this file's own bookkeeping; the state is
    // still consistent between statements.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ThreadPool {
    /// A pool that runs `threads` parts at once: the calling thread and
    /// `threads - 1` workers (`threads` is clamped to `1..=MAX_PARTS`).
    pub fn new(threads: usize) -> ThreadPool {
        let threads = threads.clamp(1, MAX_PARTS);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                job: None,
                parts: 0,
                next: 0,
                running: 0,
                panic: None,
                shutdown: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (1..threads)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(std::format!("ferrite-{i}"))
                    .spawn(move || worker(&shared))
                    .expect("cannot spawn a ferrite worker thread")
            })
            .collect();
        ThreadPool {
            shared,
            workers,
            entry: Mutex::new(()),
        }
    }
}

fn worker(shared: &Shared) {
    let mut st = lock(&shared.state);
    loop {
        if st.shutdown {
            return;
        }
        match st.job {
            Some(job) if st.next < st.parts => {
                let i = st.next;
                st.next += 1;
                st.running += 1;
                drop(st);
                // SAFETY: the job stays alive while `running > 0` (`run`
                // waits for it), and this part was counted in `running`
                // before the lock was released.
                let r = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)(i) }));
                st = lock(&shared.state);
                if let Err(p) = r {
                    st.panic.get_or_insert(p);
                }
                st.running -= 1;
                if st.running == 0 && st.next >= st.parts {
                    shared.done.notify_all();
                }
            }
            _ => st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl Parallel for ThreadPool {
    fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    fn run(&self, parts: usize, job: &(dyn Fn(usize) + Sync)) {
        if parts <= 1 || self.workers.is_empty() {
            for i in 0..parts {
                job(i);
            }
            return;
        }
        let _entry = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = &*self.shared;
        // SAFETY (lifetime erasure): the pointer is cleared below before
        // this function returns, and only parts counted in `running` (or
        // taken by this thread) dereference it; the wait below ends only when
        // every part is taken and `running == 0`.
        let erased: *const (dyn Fn(usize) + Sync + 'static) =
            unsafe { core::mem::transmute(job as *const (dyn Fn(usize) + Sync)) };
        {
            let mut st = lock(&shared.state);
            st.job = Some(JobRef(erased));
            st.parts = parts;
            st.next = 0;
            st.running = 0;
            st.panic = None;
        }
        shared.work.notify_all();
        // The calling thread takes parts too, until none is left.
        let mut mine = None;
        loop {
            let i = {
                let mut st = lock(&shared.state);
                if st.next >= st.parts {
                    break;
                }
                st.next += 1;
                st.next - 1
            };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| job(i))) {
                mine.get_or_insert(p);
            }
        }
        let mut st = lock(&shared.state);
        while st.running > 0 {
            st = shared.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.job = None;
        let panic = mine.or(st.panic.take());
        drop(st);
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.work.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl core::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_per_batch() {
        let rounds = if cfg!(miri) { 3 } else { 50 };
        for threads in [1, 2, 3, 8] {
            let pool = ThreadPool::new(threads);
            assert_eq!(pool.threads(), threads);
            for parts in [0, 1, 2, 5, 16] {
                let hits: [AtomicUsize; 16] = core::array::from_fn(|_| AtomicUsize::new(0));
                for _ in 0..rounds {
                    pool.run(parts, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                for (i, h) in hits.iter().enumerate() {
                    let want = if i < parts { rounds } else { 0 };
                    assert_eq!(
                        h.load(Ordering::Relaxed),
                        want,
                        "{threads} threads, part {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_panicking_part_is_propagated_and_the_pool_survives() {
        let pool = ThreadPool::new(3);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(6, &|i| assert!(i != 4, "part four fails"));
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        pool.run(6, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 6);
    }
}
