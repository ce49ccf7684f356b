//! The analysis engine's threads: a fixed pool whose threads run at a lower CPU priority (a
//! higher `nice`, about 10) than the threads that answer devices and people. Analysing a
//! recording can wait seconds without harm; a device's acknowledgement or a nurse's alert should
//! not wait behind it. When the machine has spare CPU the engine gets all of it; when ingest is
//! busy, the scheduler gives the engine roughly a tenth of what an ingest thread gets, so the
//! queue of analyses grows instead of acknowledgements slowing down.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

use crate::error::{Result, ServerError};

/// The priority value (0–99, higher is more urgent) that `thread-priority` maps to a `nice` of
/// 10 for normal (non-real-time) threads.
const LOW_PRIORITY: u8 = 22;

/// A pool of threads for the engine.
#[derive(Debug)]
pub struct EnginePool {
    pool: rayon::ThreadPool,
}

impl EnginePool {
    /// A pool of `threads` (at least 1) threads, at a lower priority when `low_priority`.
    pub fn new(threads: usize, low_priority: bool) -> Result<EnginePool> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("auscult-engine-{i}"))
            .start_handler(move |_| {
                if low_priority && let Err(e) = lower_this_threads_priority() {
                    tracing::warn!(error = ?e, "could not lower an engine thread's priority");
                }
            })
            .build()
            .map_err(|e| ServerError::Internal(format!("engine threads: {e}")))?;
        Ok(EnginePool { pool })
    }

    /// Runs `work` on an engine thread. A panic in `work` is an internal error of this call.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(work)));
        });
        match rx.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(ServerError::Internal("the engine panicked".into())),
            Err(_) => Err(ServerError::Internal("the engine's threads stopped".into())),
        }
    }
}

fn lower_this_threads_priority() -> std::result::Result<(), thread_priority::Error> {
    let priority = thread_priority::ThreadPriorityValue::try_from(LOW_PRIORITY)
        .map_err(|_| thread_priority::Error::Priority("priority out of range"))?;
    thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Crossplatform(
        priority,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// This thread's `nice`, from `/proc` (Linux).
    fn nice_of_this_thread() -> Option<i64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // Fields after the command name (which is in parentheses): the 17th of those is `nice`.
        let after = stat.rsplit_once(')')?.1;
        after.split_whitespace().nth(16)?.parse().ok()
    }

    #[tokio::test]
    async fn engine_threads_run_at_a_lower_priority() {
        // Not Linux, or a test run that is itself niced: nothing to compare against.
        let Some(own @ 0) = nice_of_this_thread() else {
            return;
        };
        let low = EnginePool::new(1, true).unwrap();
        let nice = low.run(nice_of_this_thread).await.unwrap().unwrap();
        assert_eq!(nice, 10, "engine threads run at nice 10");
        let normal = EnginePool::new(1, false).unwrap();
        assert_eq!(normal.run(nice_of_this_thread).await.unwrap(), Some(own));
    }

    #[tokio::test]
    async fn a_panic_is_an_error_of_the_call() {
        let pool = EnginePool::new(1, true).unwrap();
        let failed = pool.run(|| -> u32 { panic!("engine bug") }).await;
        assert!(matches!(failed, Err(ServerError::Internal(_))));
        assert_eq!(pool.run(|| 7).await.unwrap(), 7, "the pool still works");
    }
}
