//! One executor per model: a bounded queue in front of a fixed set of worker threads (never the
//! async runtime), with dynamic batching. A request is refused at once when the queue is full
//! (429), dropped unrun when it waited past its deadline (504) or its client went away, and
//! requests that arrive together run as one batch of up to `max_batch`, waiting at most
//! `batch_wait` for company.
//!
//! (Over 500 lines with its tests: the code is the first 360 lines; the tests stay beside it.)

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::metrics::METRICS;

/// How one model is served. Every knob has a flag (`--workers`, `--queue`, `--max-batch`,
/// `--batch-wait-ms`) and a per-model override (`--model-opts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Worker threads running this model at once.
    pub workers: usize,
    /// Requests that may wait for a worker; one more is refused with 429.
    pub queue: usize,
    /// Most requests run as one batch (1 turns batching off).
    pub max_batch: usize,
    /// Longest a worker holding one request waits for more to fill the batch (only while
    /// other requests are admitted and on their way).
    pub batch_wait: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            queue: 16,
            max_batch: 1,
            batch_wait: Duration::ZERO,
        }
    }
}

/// What a worker runs: a batch of inputs to one answer per input, in order.
pub type BatchFn<I, O> = Arc<dyn Fn(Vec<I>) -> Vec<Result<O, ApiError>> + Send + Sync>;

struct Job<I, O> {
    input: I,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Result<O, ApiError>>,
}

struct Shared {
    model: String,
    /// Places taken in the queue (tickets held, or jobs sent) not yet taken by a worker.
    depth: AtomicUsize,
    /// Jobs taken by a worker and not yet answered.
    running: AtomicUsize,
    closing: AtomicBool,
}

/// The handle requests submit to; clones share the queue and workers.
pub struct Engine<I, O> {
    tx: SyncSender<Job<I, O>>,
    shared: Arc<Shared>,
    options: EngineOptions,
}

impl<I, O> Clone for Engine<I, O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            options: self.options,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Engine<I, O> {
    /// Starts `options.workers` threads that run `run` on batches taken from the queue.
    pub fn start(model: &str, options: EngineOptions, run: BatchFn<I, O>) -> Self {
        let options = EngineOptions {
            workers: options.workers.max(1),
            // Admission counts places against the queue, so it needs at least one.
            queue: options.queue.max(1),
            max_batch: options.max_batch.max(1),
            ..options
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job<I, O>>(options.queue);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            model: model.to_owned(),
            depth: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
        });
        for i in 0..options.workers {
            let (rx, shared, run) = (rx.clone(), shared.clone(), run.clone());
            std::thread::Builder::new()
                .name(format!("infer-{model}-{i}"))
                .spawn(move || worker(&rx, &shared, &run, options))
                .expect("spawning an inference thread");
        }
        Self {
            tx,
            shared,
            options,
        }
    }

    /// Takes a place in the queue before the request's own CPU work (decoding an upload), so a
    /// request that would be refused costs nothing: 429 at once when the queue is full, 503
    /// once the engine is closing. Dropping the ticket unused gives the place back.
    pub fn admit(&self) -> Result<Ticket<I, O>, ApiError> {
        self.admit_with(None)
    }

    /// [`admit`](Self::admit) into `held`, a place taken earlier with [`reserve`](Self::reserve)
    /// (before the upload was read): never refused then. A place held in another engine's
    /// queue (a form field named another model) is given back and a place taken here.
    pub fn admit_with(&self, held: Option<Place>) -> Result<Ticket<I, O>, ApiError> {
        let place = match held {
            Some(p) if Arc::ptr_eq(&p.shared, &self.shared) => p,
            _ => self.reserve()?,
        };
        Ok(Ticket {
            engine: self.clone(),
            place,
        })
    }

    /// A place in this queue for a request whose input does not exist yet (its upload is still
    /// arriving): refusals then happen before the body is read, never after. Counted in the
    /// queue depth like a ticket; dropping it gives it back.
    pub fn reserve(&self) -> Result<Place, ApiError> {
        if self.shared.closing.load(Ordering::SeqCst) {
            return Err(ApiError::Unavailable(format!(
                "model '{}' is shutting down",
                self.shared.model
            )));
        }
        let cap = self.options.queue;
        let taken = self
            .shared
            .depth
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                (d < cap).then_some(d + 1)
            });
        if taken.is_err() {
            METRICS.rejected(&self.shared.model, "queue_full");
            return Err(ApiError::Overloaded(format!(
                "model '{}' is busy: its queue of {} is full; retry shortly",
                self.shared.model, self.options.queue
            )));
        }
        Ok(Place {
            shared: self.shared.clone(),
            held: true,
        })
    }

    /// Queues `input` and waits for its answer: [`admit`](Self::admit) then
    /// [`Ticket::submit`].
    pub async fn submit(&self, input: I, deadline: Instant) -> Result<O, ApiError> {
        self.admit()?.submit(input, deadline).await
    }

    /// Like [`submit`](Self::submit), but `start_by` bounds only the wait in the queue: once
    /// the job runs (a token stream, say) its answer is awaited however long it takes.
    pub async fn submit_streaming(&self, input: I, start_by: Instant) -> Result<O, ApiError> {
        self.admit()?.submit_streaming(input, start_by).await
    }

    /// Refuse new work from now on (shutdown); queued and running jobs still finish.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
    }

    /// Requests admitted and not yet taken by a worker (being decoded, or queued).
    pub fn queue_depth(&self) -> usize {
        self.shared.depth.load(Ordering::SeqCst)
    }

    /// Whether [`admit`](Self::admit) would refuse now (queue full or closing): lets a route
    /// refuse before reading the upload. A hint only; `admit` still decides.
    pub fn is_full(&self) -> bool {
        self.shared.closing.load(Ordering::SeqCst) || self.queue_depth() >= self.options.queue
    }

    /// Requests queued or running: zero means the engine is idle.
    pub fn in_flight(&self) -> usize {
        self.queue_depth() + self.shared.running.load(Ordering::SeqCst)
    }

    pub fn options(&self) -> EngineOptions {
        self.options
    }
}

/// A place held in an engine's queue (see [`Engine::admit`]); it is counted in the queue depth
/// from the moment it is taken, so the bounded queue also bounds requests being decoded.
pub struct Ticket<I, O> {
    engine: Engine<I, O>,
    place: Place,
}

/// A place in one model's queue, not yet tied to an input type (see [`Engine::reserve`]).
pub struct Place {
    shared: Arc<Shared>,
    /// Still counted in `depth`: given back on drop unless a job was sent with it.
    held: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.held {
            self.shared.depth.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Ticket<I, O> {
    /// Sends `input` to the workers and waits for its answer; 504 when it is not there by
    /// `deadline` (the job is then dropped by the worker, not run). Dropping the returned
    /// future (a client that went away) also drops the job if it has not started.
    pub async fn submit(self, input: I, deadline: Instant) -> Result<O, ApiError> {
        self.enqueue(input, deadline, Some(deadline)).await
    }

    /// Like [`submit`](Self::submit), but `start_by` bounds only the wait in the queue.
    pub async fn submit_streaming(self, input: I, start_by: Instant) -> Result<O, ApiError> {
        self.enqueue(input, start_by, None).await
    }

    async fn enqueue(
        mut self,
        input: I,
        start_by: Instant,
        answer_by: Option<Instant>,
    ) -> Result<O, ApiError> {
        let shared = self.engine.shared.clone();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            input,
            enqueued: Instant::now(),
            deadline: start_by,
            reply,
        };
        // The place was counted at admission, so the channel (as large as the queue) has room:
        // it holds only admitted jobs, and this one is not in it yet.
        match self.engine.tx.try_send(job) {
            Ok(()) => self.place.held = false, // the worker that takes it gives the place back
            Err(TrySendError::Full(_)) => {
                METRICS.rejected(&shared.model, "queue_full");
                return Err(ApiError::Overloaded(format!(
                    "model '{}' is busy; retry shortly",
                    shared.model
                )));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::Unavailable(format!(
                    "model '{}' has no running workers",
                    shared.model
                )))
            }
        }
        let dropped =
            || ApiError::Internal(format!("model '{}': a worker dropped a job", shared.model));
        match answer_by {
            Some(by) => match tokio::time::timeout_at(by.into(), answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(dropped()),
                Err(_) => Err(deadline_error(&shared.model)),
            },
            None => answer.await.unwrap_or_else(|_| Err(dropped())),
        }
    }
}

fn deadline_error(model: &str) -> ApiError {
    METRICS.rejected(model, "deadline");
    ApiError::Timeout(format!(
        "model '{model}' did not answer within the request timeout (--request-timeout-ms)"
    ))
}

fn worker<I: Send, O: Send>(
    rx: &Mutex<Receiver<Job<I, O>>>,
    shared: &Shared,
    run: &BatchFn<I, O>,
    options: EngineOptions,
) {
    loop {
        let Some(batch) = next_batch(rx, &shared.depth, options) else {
            return; // every sender is gone: the engine was dropped
        };
        // `next_batch` took the batch out of `depth` before letting the receiver go.
        shared.running.fetch_add(batch.len(), Ordering::SeqCst);
        let taken = batch.len();
        let now = Instant::now();
        let mut inputs = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            if now >= job.deadline {
                // Counted once: by the waiting handler when it gave up at the deadline (its
                // reply is then closed), else here.
                if !job.reply.is_closed() {
                    let _ = job.reply.send(Err(deadline_error(&shared.model)));
                }
                continue;
            }
            if job.reply.is_closed() {
                // The client went away while it waited: nothing to run.
                METRICS.rejected(&shared.model, "cancelled");
                continue;
            }
            METRICS.observe_queue(&shared.model, now - job.enqueued);
            inputs.push(job.input);
            replies.push(job.reply);
        }
        if !inputs.is_empty() {
            METRICS.observe_batch(&shared.model, inputs.len());
            let n = inputs.len();
            // A panicking model must not take the worker (and the model) down with it. The
            // batch runs on rayon's pool, where its kernels split work without waking this
            // thread once per layer (`models::threads`).
            let outputs = std::panic::catch_unwind(AssertUnwindSafe(|| {
                models::threads::on_pool(|| run(inputs))
            }))
            .unwrap_or_else(|_| {
                (0..n)
                    .map(|_| {
                        Err(ApiError::Internal(format!(
                            "model '{}' panicked while running",
                            shared.model
                        )))
                    })
                    .collect()
            });
            let mut outputs = outputs.into_iter();
            for reply in replies {
                let out = outputs.next().unwrap_or_else(|| {
                    Err(ApiError::Internal(format!(
                        "model '{}' answered fewer results than inputs",
                        shared.model
                    )))
                });
                let _ = reply.send(out);
            }
        }
        shared.running.fetch_sub(taken, Ordering::SeqCst);
    }
}

/// Blocks for one job, then gathers more that are queued or arrive within `batch_wait`, up to
/// `max_batch`. It waits only for company that is on its way: requests admitted (`depth`
/// counts them while they decode) and not yet in the batch; when there are none it runs at
/// once, so batching costs a lone request nothing. The receiver stays locked meanwhile, so the
/// other workers wait their turn.
fn next_batch<I, O>(
    rx: &Mutex<Receiver<Job<I, O>>>,
    depth: &AtomicUsize,
    options: EngineOptions,
) -> Option<Vec<Job<I, O>>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    let until = Instant::now() + options.batch_wait;
    // `depth` still counts this batch's jobs: they are given back below, once it is formed.
    while batch.len() < options.max_batch && depth.load(Ordering::SeqCst) > batch.len() {
        let left = until.saturating_duration_since(Instant::now());
        let next = if left.is_zero() {
            rx.try_recv().map_err(|e| e == TryRecvError::Disconnected)
        } else {
            rx.recv_timeout(left)
                .map_err(|e| e == RecvTimeoutError::Disconnected)
        };
        match next {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    // Given back while the receiver is still locked: the next worker to take a job must not
    // count these as company on its way and wait for a batch that is not coming.
    depth.fetch_sub(batch.len(), Ordering::SeqCst);
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    /// Doubles each input and records the batch sizes it saw.
    fn doubler(seen: Arc<Mutex<Vec<usize>>>, pause: Duration) -> BatchFn<u32, u32> {
        Arc::new(move |xs: Vec<u32>| {
            seen.lock().unwrap().push(xs.len());
            std::thread::sleep(pause);
            xs.into_iter().map(|x| Ok(x * 2)).collect()
        })
    }

    #[tokio::test]
    async fn answers_each_input_in_order() {
        let seen = Arc::new(Mutex::new(vec![]));
        let e = Engine::start("m", EngineOptions::default(), doubler(seen, Duration::ZERO));
        for x in 0..5 {
            assert_eq!(e.submit(x, later(5000)).await.unwrap(), x * 2);
        }
    }

    #[tokio::test]
    async fn requests_that_arrive_together_share_a_batch() {
        let seen = Arc::new(Mutex::new(vec![]));
        let opts = EngineOptions {
            workers: 1,
            queue: 16,
            max_batch: 4,
            batch_wait: Duration::from_millis(200),
        };
        let e = Engine::start("m", opts, doubler(seen.clone(), Duration::ZERO));
        // All four admitted (decoding, say) before the first reaches the worker.
        let tickets: Vec<_> = (0..4).map(|_| e.admit().unwrap()).collect();
        let jobs: Vec<_> = tickets
            .into_iter()
            .zip(0..4)
            .map(|(t, x)| tokio::spawn(async move { t.submit(x, later(5000)).await }))
            .collect();
        for (x, j) in jobs.into_iter().enumerate() {
            assert_eq!(j.await.unwrap().unwrap(), x as u32 * 2);
        }
        assert_eq!(*seen.lock().unwrap(), vec![4], "one batch of four");
    }

    #[tokio::test]
    async fn a_lone_request_does_not_wait_for_company() {
        let seen = Arc::new(Mutex::new(vec![]));
        let opts = EngineOptions {
            workers: 1,
            queue: 16,
            max_batch: 4,
            batch_wait: Duration::from_secs(2),
        };
        let e = Engine::start("m", opts, doubler(seen.clone(), Duration::ZERO));
        let t0 = Instant::now();
        assert_eq!(e.submit(21, later(5000)).await.unwrap(), 42);
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "nobody else was admitted, so the worker did not wait {:?}",
            t0.elapsed()
        );
        assert_eq!(*seen.lock().unwrap(), vec![1]);
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_with_429() {
        let seen = Arc::new(Mutex::new(vec![]));
        let opts = EngineOptions {
            workers: 1,
            queue: 1,
            ..EngineOptions::default()
        };
        let e = Engine::start("m", opts, doubler(seen, Duration::from_millis(300)));
        let running = tokio::spawn({
            let e = e.clone();
            async move { e.submit(1, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await; // taken by the worker
        let queued = tokio::spawn({
            let e = e.clone();
            async move { e.submit(2, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await; // waiting in the queue
        let err = e.submit(3, later(5000)).await.unwrap_err();
        assert_eq!(err.status(), 429);
        assert_eq!(running.await.unwrap().unwrap(), 2);
        assert_eq!(queued.await.unwrap().unwrap(), 4);
        assert_eq!(
            e.submit(5, later(5000)).await.unwrap(),
            10,
            "capacity is back"
        );
    }

    #[tokio::test]
    async fn admission_holds_a_place_until_the_ticket_is_used_or_dropped() {
        let opts = EngineOptions {
            queue: 2,
            ..EngineOptions::default()
        };
        let e = Engine::start("m", opts, doubler(Arc::default(), Duration::ZERO));
        let a = e.admit().unwrap();
        let b = e.admit().unwrap();
        assert_eq!(e.queue_depth(), 2);
        assert_eq!(
            e.admit().err().unwrap().status(),
            429,
            "both places are held"
        );
        drop(a); // decoding failed, say: the place comes back
        assert_eq!(e.queue_depth(), 1);
        assert_eq!(b.submit(4, later(5000)).await.unwrap(), 8);
        assert_eq!(e.queue_depth(), 0);
        assert_eq!(e.submit(5, later(5000)).await.unwrap(), 10);
    }

    #[tokio::test]
    async fn a_place_reserved_before_the_upload_is_the_one_the_request_runs_in() {
        let opts = EngineOptions {
            queue: 2,
            ..EngineOptions::default()
        };
        let e = Engine::start("m", opts, doubler(Arc::default(), Duration::ZERO));
        let other = Engine::start("n", opts, doubler(Arc::default(), Duration::ZERO));
        let early = e.reserve().unwrap();
        let _b = e.admit().unwrap();
        assert_eq!(e.queue_depth(), 2);
        assert_eq!(
            e.reserve().err().unwrap().status(),
            429,
            "the queue is full"
        );
        // While its upload arrived the queue filled up; its own place is still there.
        let t = e.admit_with(Some(early)).unwrap();
        assert_eq!(e.queue_depth(), 2, "the held place, not a new one");
        assert_eq!(t.submit(21, later(5000)).await.unwrap(), 42);
        assert_eq!(
            e.queue_depth(),
            1,
            "handed to the worker, which gave it back"
        );
        // A place held for another model (a form field named this one): given back there,
        // a fresh one taken here.
        let elsewhere = other.reserve().unwrap();
        assert_eq!(other.queue_depth(), 1);
        let t = e.admit_with(Some(elsewhere)).unwrap();
        assert_eq!((other.queue_depth(), e.queue_depth()), (0, 2));
        drop(t);
        assert_eq!(e.queue_depth(), 1);
        let unused = e.reserve().unwrap();
        drop(unused); // the upload failed, say
        assert_eq!(e.queue_depth(), 1);
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_gets_504_and_is_never_run() {
        let seen = Arc::new(Mutex::new(vec![]));
        let e = Engine::start(
            "m",
            EngineOptions::default(),
            doubler(seen.clone(), Duration::from_millis(300)),
        );
        let first = tokio::spawn({
            let e = e.clone();
            async move { e.submit(1, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let err = e.submit(2, later(50)).await.unwrap_err();
        assert_eq!(err.status(), 504);
        assert!(first.await.unwrap().is_ok());
        // The worker is free again: a new job runs, and the expired one never did.
        assert_eq!(e.submit(3, later(5000)).await.unwrap(), 6);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![1, 1],
            "the expired job was dropped"
        );
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_counted_once() {
        let model = "m-deadline-counted-once";
        let e = Engine::start(
            model,
            EngineOptions::default(),
            doubler(Arc::new(Mutex::new(vec![])), Duration::from_millis(200)),
        );
        let first = tokio::spawn({
            let e = e.clone();
            async move { e.submit(1, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(e.submit(2, later(50)).await.unwrap_err().status(), 504);
        assert!(first.await.unwrap().is_ok());
        // The worker has now taken (and dropped) the expired job.
        assert_eq!(e.submit(3, later(5000)).await.unwrap(), 6);
        assert_eq!(METRICS.rejected_count(model, "deadline"), 1);
        assert_eq!(METRICS.rejected_count(model, "cancelled"), 0);
    }

    #[tokio::test]
    async fn a_dropped_request_is_not_run() {
        let seen = Arc::new(Mutex::new(vec![]));
        let e = Engine::start(
            "m",
            EngineOptions::default(),
            doubler(seen.clone(), Duration::from_millis(200)),
        );
        let first = tokio::spawn({
            let e = e.clone();
            async move { e.submit(1, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The client of job 2 goes away while it waits.
        let gone = tokio::spawn({
            let e = e.clone();
            async move { e.submit(2, later(5000)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        gone.abort();
        assert!(first.await.unwrap().is_ok());
        assert_eq!(e.submit(3, later(5000)).await.unwrap(), 6);
        assert_eq!(*seen.lock().unwrap(), vec![1, 1], "job 2 never ran");
    }

    #[tokio::test]
    async fn a_panicking_model_answers_500_and_keeps_serving() {
        let run: BatchFn<u32, u32> = Arc::new(|xs: Vec<u32>| {
            if xs.contains(&0) {
                panic!("boom");
            }
            xs.into_iter().map(Ok).collect()
        });
        let e = Engine::start("m", EngineOptions::default(), run);
        assert_eq!(e.submit(0, later(5000)).await.unwrap_err().status(), 500);
        assert_eq!(e.submit(7, later(5000)).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_closed_engine_refuses_with_503() {
        let e = Engine::start(
            "m",
            EngineOptions::default(),
            doubler(Arc::default(), Duration::ZERO),
        );
        e.close();
        assert_eq!(e.submit(1, later(5000)).await.unwrap_err().status(), 503);
    }
}
