//! Running work on the EAL's worker lcores (`rte_eal_remote_launch`), each pinned to its core.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;
use std::time::Duration;

use crate::eal::Eal;
use crate::error::{Error, Result};

/// The lcore the calling thread runs on (`rte_lcore_id`); `u32::MAX` on a non-EAL thread.
pub fn current_lcore() -> u32 {
    // SAFETY: reads the calling thread's per-lcore variable.
    unsafe { dpdk_sys::shim_rte_lcore_id() }
}

/// One launched job: the shared function, the item it consumes, the place its outcome goes, and
/// how it tells the waiting main lcore that it finished (so the main lcore sleeps instead of
/// spinning in `rte_eal_wait_lcore` and stealing a core from the workers).
struct Job<'a, T, R, F> {
    f: &'a F,
    item: Option<T>,
    outcome: Option<std::thread::Result<R>>,
    done: &'a AtomicBool,
    waiter: Thread,
}

extern "C" fn run_job<T, R, F: Fn(T) -> R>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Job` that `run_on_workers` keeps alive, unmoved and untouched until
    // `rte_eal_wait_lcore` has returned for this lcore.
    let job = unsafe { &mut *(arg as *mut Job<'_, T, R, F>) };
    let f = job.f;
    if let Some(item) = job.item.take() {
        job.outcome = Some(catch_unwind(AssertUnwindSafe(|| f(item))));
    }
    job.done.store(true, Ordering::Release);
    job.waiter.unpark();
    0
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

impl Eal {
    /// Runs `f(item)` for each item on its own worker lcore (item `i` on the `i`-th worker) and
    /// waits for all of them; results come back in item order. Call it from the main lcore.
    /// A panicking worker becomes [`Error::WorkerPanicked`] after every worker has finished.
    pub fn run_on_workers<T, R, F>(&self, items: Vec<T>, f: F) -> Result<Vec<R>>
    where
        T: Send,
        R: Send,
        F: Fn(T) -> R + Sync,
    {
        let workers = self.worker_lcores();
        if items.len() > workers.len() {
            return Err(Error::NotEnoughLcores { requested: items.len(), available: workers.len() });
        }
        let waiter = std::thread::current();
        // Kept outside the jobs, so the main lcore reads them while workers own their job.
        let done: Vec<AtomicBool> = items.iter().map(|_| AtomicBool::new(false)).collect();
        let mut jobs: Vec<Job<'_, T, R, F>> = items
            .into_iter()
            .zip(&done)
            .map(|(item, done)| Job { f: &f, item: Some(item), outcome: None, done, waiter: waiter.clone() })
            .collect();

        let mut launched = Vec::new();
        let mut launch_error = None;
        for (job, &lcore) in jobs.iter_mut().zip(&workers) {
            let arg = job as *mut Job<'_, T, R, F> as *mut c_void;
            // SAFETY: `arg` stays valid until we wait for this lcore below, on every path.
            let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(run_job::<T, R, F>), arg, lcore) };
            if rc != 0 {
                launch_error = Some(Error::dpdk("rte_eal_remote_launch", rc));
                break;
            }
            launched.push(lcore);
        }
        while !done[..launched.len()].iter().all(|d| d.load(Ordering::Acquire)) {
            std::thread::park_timeout(Duration::from_millis(50));
        }
        for &lcore in &launched {
            // SAFETY: waits (briefly: its job said it is done) for a job we launched to return;
            // afterwards its `Job` is no longer accessed by it.
            unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) };
        }
        if let Some(e) = launch_error {
            return Err(e);
        }

        let mut results = Vec::with_capacity(jobs.len());
        let mut first_panic = None;
        for (job, &lcore) in jobs.into_iter().zip(&workers) {
            match job.outcome {
                Some(Ok(r)) => results.push(r),
                Some(Err(payload)) => {
                    first_panic.get_or_insert(Error::WorkerPanicked { lcore, message: panic_text(&*payload) });
                }
                None => unreachable!("every launched job was waited for and ran"),
            }
        }
        match first_panic {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }
}
