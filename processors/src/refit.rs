//! Refits off the hot path.
//!
//! An engine asks for a series' refit when the series closes a bucket (see
//! [`crate::forecast::online`]); the refit is applied at that series' next
//! close. With a [`RefitPool`] attached, the request goes to the pool's
//! threads at once, and by the next close (a day later for daily buckets)
//! the answer is waiting. If it is not (a replay runs through days in
//! milliseconds), the engine waits for it; with no pool, or for a request
//! made before a restart, it fits there and then. Either way the refit is the
//! same pure function of the same values, so the outputs do not depend on
//! threads or timing: a restarted or replayed partition gives exactly the
//! results of an uninterrupted run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, mpsc};

use crate::forecast::online::{Refit, RefitInput, refit};

/// A refit request: the series' number in its engine and its observation
/// count when asked (unchanged until the refit is applied).
pub(crate) type Key = (u32, u32);

struct Task {
    key: Key,
    input: RefitInput,
    reply: mpsc::Sender<(Key, Refit)>,
}

/// Threads that run refits for any number of engines. Cloning gives another
/// handle to the same threads; they stop when every handle and every engine
/// using them is gone.
#[derive(Clone)]
pub struct RefitPool {
    tx: Option<mpsc::Sender<Task>>,
    threads: usize,
}

impl std::fmt::Debug for RefitPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefitPool").field("threads", &self.threads).finish()
    }
}

impl RefitPool {
    /// Starts `threads` refit threads (0: one fewer than the machine's
    /// cores, at least one).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)).max(1)
        } else {
            threads
        };
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("vigie-refit-{i}")).spawn(move || {
                loop {
                    let task = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok(task) = task else { return };
                    // The engine may be gone (a revoked partition): nothing to do then.
                    let _ = task.reply.send((task.key, refit_guarded(&task.input)));
                }
            });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => eprintln!("vigie: could not start a refit thread ({e})"),
            }
        }
        if started == 0 {
            eprintln!("vigie: no refit thread started; refits run on the processor threads");
        }
        Self { tx: (started > 0).then_some(tx), threads: started }
    }

    /// A pool for `cfg`, or `None` when no series can be refitted (no
    /// threads then).
    pub fn for_config(cfg: &crate::config::EngineConfig) -> Option<Self> {
        cfg.refits().then(|| Self::new(cfg.forecast.refit_threads))
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// [`refit`], with a panic (a bug) answered by keeping the model as it is,
/// on the pool and inline alike, so a bad series cannot stop an engine.
pub(crate) fn refit_guarded(input: &RefitInput) -> Refit {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| refit(input))).unwrap_or(Refit::Keep)
}

/// One engine's end of the pool.
pub(crate) struct RefitLink {
    pool: Option<mpsc::Sender<Task>>,
    reply: mpsc::Sender<(Key, Refit)>,
    replies: mpsc::Receiver<(Key, Refit)>,
    ready: HashMap<Key, Refit>,
    in_flight: HashSet<Key>,
}

impl RefitLink {
    pub(crate) fn new(pool: &RefitPool) -> Self {
        let (reply, replies) = mpsc::channel();
        Self { pool: pool.tx.clone(), reply, replies, ready: HashMap::new(), in_flight: HashSet::new() }
    }

    /// Sends a request to the pool.
    pub(crate) fn submit(&mut self, key: Key, input: RefitInput) {
        let Some(pool) = &self.pool else { return };
        if pool.send(Task { key, input, reply: self.reply.clone() }).is_ok() {
            self.in_flight.insert(key);
        }
    }

    /// The answer to `key`, waiting for it if the pool has it; `None` when
    /// it was never sent (the caller fits it itself).
    pub(crate) fn take(&mut self, key: Key) -> (Option<Refit>, bool) {
        while let Ok((k, r)) = self.replies.try_recv() {
            self.in_flight.remove(&k);
            self.ready.insert(k, r);
        }
        if let Some(r) = self.ready.remove(&key) {
            return (Some(r), false);
        }
        if !self.in_flight.contains(&key) {
            return (None, false);
        }
        while let Ok((k, r)) = self.replies.recv() {
            self.in_flight.remove(&k);
            if k == key {
                return (Some(r), true);
            }
            self.ready.insert(k, r);
        }
        (None, true)
    }
}
