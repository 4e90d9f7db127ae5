//! A fork-join team for the vision kernels' parallel loops: the calling thread and
//! `size() - 1` helper threads that spin for a while between loops instead of sleeping.
//!
//! Why not rayon's `par_iter` (which the kernels used): a forward pass is ~50 parallel loops
//! back to back, some only tens of microseconds long. Rayon's idle workers go to sleep after a
//! few dozen yields, so between loops the other core's worker was often asleep and had to be
//! woken (a futex wake, and on a VM a halted vCPU brought back: 20-40 us each, `perf sched
//! timehist`, ~4 times a forward), and each loop's range was split by work stealing. Here a
//! loop's tasks are dealt out as contiguous ranges, one per thread (neighbouring rows share
//! input rows in cache), a thread that finishes its range takes tasks from the end of
//! another's, and helpers spin on the next loop for [`SPIN`] before they park. ONNX Runtime's
//! and llama.cpp's pools spin the same way.
//!
//! Only loops inside a [`scope`] use the team (EfficientNet-Lite's forward); elsewhere
//! [`for_each`] is rayon's `par_iter`, as before. One loop runs on the team at a time: a loop
//! started while another runs (a second model's engine), or from inside a task, runs on its
//! caller alone.

use std::cell::{Cell, UnsafeCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper keeps spinning for the next loop before it parks: longer than the gaps
/// between one forward pass's loops (mostly < 50 us, a few up to 200 us), short enough that
/// an idle server's helpers are asleep almost at once. Helpers run at the compute priority
/// (`threads`), so their spinning never delays request handling.
const SPIN: Duration = Duration::from_micros(300);

/// Threads that run a loop: the caller and the helpers (rayon's pool size, so
/// `RAYON_NUM_THREADS` and the server's settings size both).
pub fn size() -> usize {
    team().ranges.len()
}

/// Runs `f` with the calling thread's loops ([`for_each`], [`for_each_chunk_mut`]) on the team;
/// outside it they run on rayon's pool.
///
/// Why opt in: a network whose loops come back to back (EfficientNet-Lite: nothing but our
/// kernels) gains from helpers that spin between them; the TF.js graphs, with candle ops run
/// serially between their kernels' loops, fell into a slow mode more often on the team
/// (NanoDet's minimum >= 40 ms in 3 of 6 runs against 0 of 6 on rayon, 2-core AVX2 EPYC),
/// and SmolLM2 generated more slowly (137-153 against 154-163 tokens/s).
pub fn scope<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ON_TEAM.set(self.0);
        }
    }
    let _restore = Restore(ON_TEAM.replace(true));
    f()
}

/// Runs `f(0)` .. `f(n - 1)` on the team (in a [`scope`]; else on rayon's pool) and returns
/// when all have run. Each index runs once, in no particular order, on any of the team's
/// threads; a panic in one is re-raised here once every task has finished.
pub fn for_each(n: usize, f: impl Fn(usize) + Sync) {
    if n == 0 {
        return;
    }
    if IN_TASK.get() {
        return (0..n).for_each(f);
    }
    if !ON_TEAM.get() {
        use rayon::prelude::*;
        return (0..n).into_par_iter().for_each(&f);
    }
    let team = team();
    if n == 1 || team.ranges.len() == 1 {
        return (0..n).for_each(f);
    }
    // A panic re-raised by `run` poisons the lock; the team is still sound.
    let _one_loop = match team.running.try_lock() {
        Ok(held) => held,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return (0..n).for_each(f),
    };
    team.run(n, &f);
}

/// `f(i, chunk)` for each `chunk`-long piece of `data` (the last may be shorter), on the team:
/// rayon's `par_chunks_mut(chunk).enumerate().for_each(..)`.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    assert!(chunk > 0, "chunks of nothing");
    let len = data.len();
    let base = SharedMut(data.as_mut_ptr());
    for_each(len.div_ceil(chunk), |i| {
        let start = i * chunk;
        // SAFETY: each index runs once and the chunks are disjoint parts of `data`, which is
        // borrowed mutably for the whole loop.
        let part =
            unsafe { std::slice::from_raw_parts_mut(base.at(start), chunk.min(len - start)) };
        f(i, part)
    });
}

/// A slice's base pointer that the tasks of one loop share, each reaching only its own part.
struct SharedMut<T>(*mut T);

impl<T> SharedMut<T> {
    /// # Safety
    /// `i` is within the slice the pointer came from.
    unsafe fn at(&self, i: usize) -> *mut T {
        unsafe { self.0.add(i) }
    }
}

// SAFETY: tasks use the pointer only for disjoint parts of a `&mut [T]` of `Send` values.
unsafe impl<T: Send> Sync for SharedMut<T> {}

thread_local! {
    /// Set on a thread while it runs a team task: a loop inside one runs in place.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// Set inside a [`scope`].
    static ON_TEAM: Cell<bool> = const { Cell::new(false) };
}

type Task<'a> = &'a (dyn Fn(usize) + Sync);

struct Team {
    /// Held by the one caller whose loop the team runs.
    running: Mutex<()>,
    /// Bumped to start a loop; helpers watch it.
    epoch: AtomicU64,
    /// The last epoch whose loop is over: a helper that arrives later must not touch it.
    closed: AtomicU64,
    /// Helpers inside the current loop (the caller waits for none before returning).
    busy: AtomicUsize,
    /// Helpers parked (so a new loop must unpark them).
    parked: AtomicUsize,
    /// The loop: written by the caller before it bumps `epoch`, read by helpers after.
    task: UnsafeCell<Option<Task<'static>>>,
    /// Tasks finished in this loop.
    done: AtomicUsize,
    panicked: AtomicBool,
    /// Thread `t`'s share of the loop's indices, `lo | hi << 32`: it takes from `lo`, others
    /// take from `hi` once theirs is empty.
    ranges: Vec<AtomicU64>,
    helpers: OnceLock<Vec<std::thread::Thread>>,
}

// SAFETY: `task` is written only by the thread holding `running`, before the `epoch` bump
// (SeqCst) that helpers read before they read it, and never while a helper is inside a loop
// (`busy`); see `run`.
unsafe impl Sync for Team {}

fn team() -> &'static Team {
    static TEAM: OnceLock<Team> = OnceLock::new();
    let team = TEAM.get_or_init(|| Team {
        running: Mutex::new(()),
        epoch: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        parked: AtomicUsize::new(0),
        task: UnsafeCell::new(None),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        ranges: (0..rayon::current_num_threads().max(1))
            .map(|_| AtomicU64::new(0))
            .collect(),
        helpers: OnceLock::new(),
    });
    team.helpers.get_or_init(|| {
        (1..team.ranges.len())
            .map(|t| {
                std::thread::Builder::new()
                    .name(format!("team-{t}"))
                    .spawn(move || helper(team, t))
                    .expect("spawning a team thread")
                    .thread()
                    .clone()
            })
            .collect()
    });
    team
}

fn pack(lo: usize, hi: usize) -> u64 {
    lo as u64 | (hi as u64) << 32
}

fn unpack(r: u64) -> (usize, usize) {
    ((r & 0xffff_ffff) as usize, (r >> 32) as usize)
}

impl Team {
    fn run(&self, n: usize, f: Task<'_>) {
        assert!(n < 1 << 32, "a loop of {n} tasks");
        let threads = self.ranges.len();
        for (t, r) in self.ranges.iter().enumerate() {
            r.store(pack(t * n / threads, (t + 1) * n / threads), SeqCst);
        }
        self.done.store(0, SeqCst);
        self.panicked.store(false, SeqCst);
        // SAFETY: only this thread (holding `running`) writes `task`, and no helper is inside
        // a loop now (`busy` was 0 when the last one closed). The lifetime is erased: `f`
        // outlives every use, since this function returns only after the loop is closed and
        // no helper is inside it.
        unsafe {
            *self.task.get() = Some(std::mem::transmute::<Task<'_>, Task<'static>>(f));
        }
        let epoch = self.epoch.fetch_add(1, SeqCst) + 1;
        if self.parked.load(SeqCst) > 0 {
            for h in self.helpers.get().into_iter().flatten() {
                h.unpark();
            }
        }
        self.work(0, f);
        while self.done.load(SeqCst) < n {
            std::hint::spin_loop();
        }
        self.closed.store(epoch, SeqCst);
        while self.busy.load(SeqCst) > 0 {
            std::hint::spin_loop();
        }
        // SAFETY: as above; the loop is over, so nobody reads it.
        unsafe { *self.task.get() = None };
        if self.panicked.load(SeqCst) {
            resume_unwind(Box::new("a team task panicked"));
        }
    }

    /// Thread `t`'s part of the current loop: its own range from the front, then others' from
    /// the back, until no task is left to take.
    fn work(&self, t: usize, f: Task<'_>) {
        IN_TASK.set(true);
        while let Some(i) = self.take(t) {
            if catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, SeqCst);
            }
            self.done.fetch_add(1, SeqCst);
        }
        IN_TASK.set(false);
    }

    fn take(&self, t: usize) -> Option<usize> {
        let own = &self.ranges[t];
        let taken = own.fetch_update(SeqCst, SeqCst, |r| {
            let (lo, hi) = unpack(r);
            (lo < hi).then(|| pack(lo + 1, hi))
        });
        if let Ok(r) = taken {
            return Some(unpack(r).0);
        }
        let threads = self.ranges.len();
        (1..threads).find_map(|d| {
            self.ranges[(t + d) % threads]
                .fetch_update(SeqCst, SeqCst, |r| {
                    let (lo, hi) = unpack(r);
                    (lo < hi).then(|| pack(lo, hi - 1))
                })
                .ok()
                .map(|r| unpack(r).1 - 1)
        })
    }
}

fn helper(team: &'static Team, t: usize) {
    crate::threads::lower_this_thread();
    let mut seen = 0;
    loop {
        let epoch = wait_for_loop(team, seen);
        seen = epoch;
        team.busy.fetch_add(1, SeqCst);
        // Arrived after the loop was over (and maybe after the next began: its tasks are
        // taken at the next look): hands off.
        if team.closed.load(SeqCst) < epoch && team.epoch.load(SeqCst) == epoch {
            // SAFETY: the loop is open and this helper is counted in `busy`, so its caller
            // is still inside `run` and `task` is this loop's.
            if let Some(f) = unsafe { *team.task.get() } {
                team.work(t, f);
            }
        }
        team.busy.fetch_sub(1, SeqCst);
    }
}

/// Spins, then parks, until a loop after `seen` starts; returns its epoch.
fn wait_for_loop(team: &Team, seen: u64) -> u64 {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        let epoch = team.epoch.load(SeqCst);
        if epoch != seen {
            return epoch;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) || started.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        team.parked.fetch_add(1, SeqCst);
        // The caller bumps `epoch` then reads `parked`; this counts itself then reads
        // `epoch` (both SeqCst): one of the two sees the other, so no start is missed.
        while team.epoch.load(SeqCst) == seen {
            std::thread::park();
        }
        team.parked.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_index_runs_once() {
        // On the team, and outside a scope on rayon's pool.
        for on_team in [true, false] {
            for n in [0, 1, 2, 3, 7, 64, 1000] {
                let seen: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                let run = || {
                    for_each(n, |i| {
                        seen[i].fetch_add(1, SeqCst);
                    })
                };
                if on_team {
                    scope(run)
                } else {
                    run()
                }
                assert!(seen.iter().all(|s| s.load(SeqCst) == 1), "n = {n}");
            }
        }
    }

    #[test]
    fn loops_back_to_back_and_after_the_helpers_parked() {
        let total = AtomicUsize::new(0);
        scope(|| {
            for round in 0..2000 {
                if round % 500 == 0 {
                    std::thread::sleep(SPIN * 3); // helpers park
                }
                for_each(5, |i| {
                    total.fetch_add(i + 1, SeqCst);
                });
            }
        });
        assert_eq!(total.load(SeqCst), 2000 * 15);
    }

    #[test]
    fn loops_from_several_threads_and_from_inside_a_task_all_run() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    scope(|| {
                        for _ in 0..200 {
                            for_each(4, |_| {
                                for_each(3, |_| {
                                    total.fetch_add(1, SeqCst);
                                });
                            });
                        }
                    })
                });
            }
        });
        assert_eq!(total.load(SeqCst), 4 * 200 * 4 * 3);
    }

    #[test]
    fn a_panicking_task_is_raised_after_the_others_finish() {
        let ran = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            scope(|| {
                for_each(16, |i| {
                    ran.fetch_add(1, SeqCst);
                    assert_ne!(i, 5, "task five fails");
                })
            })
        }));
        assert!(result.is_err());
        assert_eq!(ran.load(SeqCst), 16, "the rest still ran");
        // The team still works.
        let after = AtomicUsize::new(0);
        scope(|| {
            for_each(8, |_| {
                after.fetch_add(1, SeqCst);
            })
        });
        assert_eq!(after.load(SeqCst), 8);
    }
}
