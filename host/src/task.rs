//! Background tasks that must outlive their failures: the manifest watch, the cluster's follow
//! and heartbeat, the admin listener. Each logs and survives the errors it meets; should one end
//! or panic all the same, it is started again, after a pause that grows while it keeps failing,
//! so one bad input never silently stops the host from following its manifests or its cluster.

use std::time::{Duration, Instant};

/// The first pause before a restart, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// A task that ran this long before it ended starts again after the first pause.
const HEALTHY: Duration = Duration::from_secs(60);

/// Runs `task()` in the background as `name`, and again whenever it ends, until the runtime
/// stops.
pub fn supervise<F, Fut>(name: &'static str, task: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            let started = Instant::now();
            match tokio::spawn(task()).await {
                Ok(()) => tracing::error!(task = name, "the background task ended; starting it again"),
                Err(e) if e.is_panic() => {
                    let panic = e.into_panic();
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(task = name, "the background task panicked: {message}; starting it again");
                }
                // Cancelled: the runtime is shutting down.
                Err(_) => return,
            }
            if started.elapsed() >= HEALTHY {
                pause = FIRST_PAUSE;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_task_that_panics_or_ends_runs_again() {
        let runs = Arc::new(AtomicU32::new(0));
        let (counted, done) = (runs.clone(), Arc::new(tokio::sync::Notify::new()));
        let notify = done.clone();
        supervise("test", move || {
            let (runs, done) = (counted.clone(), notify.clone());
            async move {
                match runs.fetch_add(1, Ordering::SeqCst) {
                    0 => panic!("the first run fails"),
                    1 => {}
                    _ => {
                        done.notify_one();
                        std::future::pending::<()>().await
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), done.notified()).await.expect("a third run");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
