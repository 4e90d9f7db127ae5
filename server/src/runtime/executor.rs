//! Runs a request's CPU-bound work around inference (decoding uploads, parsing OIP tensors,
//! encoding PNG/JPEG/JSON answers) off the async runtime with a bound: at most `workers` jobs run
//! at once and at most `queue` wait; past that a request is refused with 429 at once instead of
//! piling up. Inference itself runs on each model's own engine threads (`engine`), not here.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Clone)]
pub struct Executor {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    capacity: usize,
}

impl Executor {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
            capacity: workers + queue,
        }
    }

    /// Runs `job` on a blocking thread once a worker is free.
    pub async fn run<T, F>(&self, job: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            ApiError::Overloaded(format!(
                "the server is busy ({} requests in flight); retry shortly",
                self.capacity
            ))
        })?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
        tokio::task::spawn_blocking(move || {
            // Decoding and encoding are compute: behind request handling, like inference.
            models::threads::lower_this_thread();
            let _running = running;
            job()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("inference task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_with_429_when_the_queue_is_full() {
        let ex = Executor::new(1, 0);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let ex = ex.clone();
            tokio::spawn(async move { ex.run(move || Ok(rx.recv().ok())).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let err = ex.run(|| Ok(())).await.unwrap_err();
        assert_eq!(err.status(), 429);
        tx.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert!(
            ex.run(|| Ok(1)).await.is_ok(),
            "capacity is released after the job"
        );
    }
}
