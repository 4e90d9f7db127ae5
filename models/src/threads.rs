//! Where a forward pass runs: on rayon's pool, not on the thread that asks for it.
//!
//! Why: every kernel splits its work with rayon (`par_iter`). Called from a thread outside the
//! pool (the server's engine threads, a bench's main thread), each of those calls hands its
//! job to the pool and puts the caller to sleep until the job is done, then wakes it: two
//! cross-thread wake-ups per layer, and a forward pass has 50 (EfficientNet-Lite0) to several
//! hundred (one SmolLM2 token) of them. Run on a pool thread instead, a layer's work is split
//! in place: the caller keeps working on its share while the other threads steal theirs, and
//! nothing sleeps between layers. EfficientNet-Lite0 on a 2-core AVX2 EPYC, the two ways
//! alternating in one process: min 7.4 vs 8.0 ms, p50 10.8 vs 11.2 ms. (EfficientNet-Lite's
//! forward has since moved to `team`, whose helpers spin between loops; every other model's
//! kernels still split with rayon, through the same `team::for_each`.)

/// How the threads that compute (rayon's pool; the server's decode/encode jobs) are
/// scheduled against the ones that answer requests (the async runtime), on Linux.
///
/// Why: on a busy server the compute threads keep every core busy, and a request that is
/// refused at once (429) still waits for a core to be answered. The seed route at 64 clients
/// on the 2-core AVX2 EPYC (10 s each, 4 runs, load generator on the same cores), refusal p99
/// and answered req/s: `Normal` 10.3-12.1 ms, 82-97 req/s; `Low` 7.3-9.5 ms, 69-82 req/s;
/// `Idle` 5.1-9.5 ms, 85-90 req/s. `Idle` (SCHED_IDLE) runs compute only on cores that nothing
/// else of ours wants: in a container the scheduler still shares the cores between cgroups by
/// their weights, so only programs in the server's own cgroup come first; on a machine shared
/// with other busy programs outside any such split, `Normal` keeps the models their share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// As any thread.
    Normal,
    /// nice 10: request handling first when the cores are contended, compute still gets its
    /// share against other programs.
    Low,
    /// SCHED_IDLE: compute only on otherwise idle cores.
    #[default]
    Idle,
}

static COMPUTE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

thread_local! {
    /// The priority this thread was given, so repeated calls cost no system call.
    static APPLIED: std::cell::Cell<Option<Priority>> = const { std::cell::Cell::new(None) };
}

/// Builds rayon's global pool with its threads at `p` and remembers `p` for
/// [`lower_this_thread`]. Call once, before anything runs on the pool; later calls (and a
/// pool already built) keep the first setting.
pub fn configure_pool(p: Priority) -> Result<(), String> {
    COMPUTE.store(p as u8, std::sync::atomic::Ordering::Relaxed);
    rayon::ThreadPoolBuilder::new()
        .start_handler(move |_| set_this_thread(p))
        .build_global()
        .map_err(|e| e.to_string())
}

/// Gives the calling thread the compute priority set by [`configure_pool`] (for compute that
/// runs outside the pool: the server's decode and encode jobs).
pub fn lower_this_thread() {
    let p = match COMPUTE.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Priority::Low,
        2 => Priority::Idle,
        _ => Priority::Normal,
    };
    set_this_thread(p);
}

fn set_this_thread(p: Priority) {
    if APPLIED.get() == Some(p) {
        return;
    }
    APPLIED.set(Some(p));
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread (`0`: this thread on Linux), with a
    // valid `sched_param`; failures (e.g. not permitted) leave the thread as it was.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        match p {
            Priority::Normal => {
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
                libc::setpriority(libc::PRIO_PROCESS, 0, 0);
            }
            Priority::Low => {
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
                libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            }
            Priority::Idle => {
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
            }
        }
    }
}

/// Runs `f` on rayon's global pool and returns its result: at once when already on a pool
/// thread, else by handing it over and waiting once.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_thread_and_returns_the_result() {
        assert_eq!(rayon::current_thread_index(), None);
        let (inside, value) = on_pool(|| (rayon::current_thread_index(), 41 + 1));
        assert!(inside.is_some(), "ran on a pool thread");
        assert_eq!(value, 42);
        // Nested: runs in place.
        let nested = on_pool(|| on_pool(rayon::current_thread_index));
        assert!(nested.is_some());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lowers_a_thread_to_the_configured_priority() {
        // On a thread of its own: the test harness's threads are shared.
        std::thread::spawn(|| {
            // SAFETY: plain queries of the calling thread's scheduling.
            let policy = || unsafe {
                *libc::__errno_location() = 0;
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            set_this_thread(Priority::Low);
            assert_eq!(policy(), (libc::SCHED_OTHER, 10));
            set_this_thread(Priority::Idle);
            assert_eq!(policy().0, libc::SCHED_IDLE);
        })
        .join()
        .unwrap();
    }
}
