//! Thread-per-core serving: each accepted connection is dealt to one of a few single-threaded runtimes and lives there, as nginx's workers do.
//!
//! On a work-stealing runtime a relayed body crosses threads at every chunk:
//! the task reading the member and the task writing the client wake each
//! other, and an idle worker is woken to look for work it rarely finds. On a
//! worker, a connection, the member exchanges it starts (see [`current`]) and
//! every wake-up between them stay on one thread, with no lock or system
//! call between them.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Which worker the calling thread is, if it is one: a pool of connections
/// kept per worker is picked by it, so a connection is used on the thread
/// that drives it.
pub fn current() -> Option<usize> {
    WORKER.with(Cell::get)
}

/// The serving threads; dropping it stops them, cancelling what they still run.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropped with the pool: each worker's runtime stops when its sender goes.
    _stops: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `count` workers (at least one), each a thread with its own
    /// single-threaded runtime (I/O and timers).
    pub fn start(count: usize) -> io::Result<Self> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(Some(index)));
                    let _ = runtime.block_on(stopped);
                })?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            _stops: stops,
        })
    }

    /// Runs `task` on the next worker in turn.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(task);
    }
}

/// One worker per core the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_are_dealt_in_turn_and_know_their_worker() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(current(), None, "the caller is no worker");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = oneshot::channel();
            workers.spawn(async move {
                let _ = tx.send(current());
            });
            seen.push(rx.await.unwrap());
        }
        assert_eq!(seen, [Some(0), Some(1), Some(0), Some(1)]);
    }

    #[tokio::test]
    async fn dropping_the_pool_stops_its_tasks() {
        let workers = Workers::start(1).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        workers.spawn(async move {
            let _held = tx;
            std::future::pending::<()>().await;
        });
        drop(workers);
        // The pending task is dropped with its runtime, and the sender with it.
        assert!(rx.await.is_err());
    }
}
