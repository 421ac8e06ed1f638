//! Background sync: one plain thread with its own connection to the device database.
//!
//! The commands use the store in managed state behind a mutex; the worker opens the same
//! file a second time (SQLite in WAL mode lets a reader and a writer proceed together,
//! and `busy_timeout` serialises two writers), so a long sync over a slow connection
//! never holds the lock the UI needs. The engine (`voordeur_sync`) is blocking, which is
//! why this is a thread and not a task on Tauri's async runtime.
//!
//! The worker syncs when it starts (if enrolled), when asked ([`SyncHandle::wake`]:
//! "sync now", enrolment, a completed visit), and every `interval` (default
//! [`DEFAULT_INTERVAL`], `VOORDEUR_SYNC_INTERVAL_SECS` overrides it). It ends when the
//! handle says stop or the app drops the channel. Every step is published as a
//! [`SyncState`] through [`Events`].

use crate::events::Events;
use crate::view::{DataChanged, SyncErrorInfo, SyncPhase, SyncProgress, SyncState, SyncStateKind};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use voordeur_store::Store;
use voordeur_sync::{Progress, SyncError};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);
/// Overrides [`DEFAULT_INTERVAL`], in seconds (tests and demos use a few seconds).
pub const INTERVAL_ENV: &str = "VOORDEUR_SYNC_INTERVAL_SECS";

/// The interval from `VOORDEUR_SYNC_INTERVAL_SECS` (at least one second), else the
/// default.
pub fn interval_from(env: Option<&str>) -> Duration {
    env.and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.max(1)))
        .unwrap_or(DEFAULT_INTERVAL)
}

enum Wake {
    Now,
    Stop,
}

/// The shared face of background sync: the current [`SyncState`], the events it is
/// published through, and the channel that wakes the worker.
pub struct SyncHandle {
    state: Mutex<SyncState>,
    events: Arc<dyn Events>,
    wake: Mutex<Option<Sender<Wake>>>,
}

impl SyncHandle {
    pub fn new(initial: SyncState, events: Arc<dyn Events>) -> SyncHandle {
        SyncHandle {
            state: Mutex::new(initial),
            events,
            wake: Mutex::new(None),
        }
    }

    /// The state as last published.
    pub fn state(&self) -> SyncState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Change the state and publish it. The lock is held while emitting, so two
    /// publishers cannot deliver their states out of order.
    pub fn publish(&self, change: impl FnOnce(&mut SyncState)) {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut state);
        self.events.sync_status(&state);
    }

    /// A local write: publish the new number of changes waiting. An up-to-date device
    /// now has changes waiting; offline, error, syncing and not enrolled stay as they
    /// are, with the new count.
    pub fn local_write(&self, waiting: u64) {
        self.publish(|s| {
            s.waiting = waiting;
            if s.state == SyncStateKind::UpToDate && waiting > 0 {
                s.state = SyncStateKind::Waiting;
            }
        });
    }

    /// Ask the worker to sync now; returns at once. False when no worker runs.
    pub fn wake(&self) -> bool {
        self.send(Wake::Now)
    }

    /// Ask the worker to end after the sync it may be running.
    pub fn stop(&self) {
        self.send(Wake::Stop);
        if let Ok(mut wake) = self.wake.lock() {
            *wake = None;
        }
    }

    fn send(&self, message: Wake) -> bool {
        match self.wake.lock() {
            Ok(wake) => wake.as_ref().is_some_and(|tx| tx.send(message).is_ok()),
            Err(_) => false,
        }
    }

    fn data_changed(&self, pulled: usize) {
        self.events.data_changed(DataChanged { pulled });
    }
}

/// The state to show before the worker's first sync, read from the device database.
pub fn initial_state(store: &Store) -> SyncState {
    let waiting = store.outbox_len().unwrap_or(0);
    let last_sync = store.last_sync().ok().flatten();
    let enrolled = matches!(store.enrolment(), Ok(Some(_)));
    let state = if !enrolled {
        SyncStateKind::NotEnrolled
    } else if waiting > 0 || last_sync.is_none() {
        SyncStateKind::Waiting
    } else {
        SyncStateKind::UpToDate
    };
    SyncState {
        state,
        waiting,
        progress: None,
        last_sync,
        error: None,
    }
}

/// Start the worker on the database at `db_path`: it syncs at once (when enrolled),
/// then on every wake and every `interval`.
pub fn spawn(
    handle: Arc<SyncHandle>,
    db_path: PathBuf,
    key: String,
    interval: Duration,
) -> std::io::Result<JoinHandle<()>> {
    let (tx, rx) = mpsc::channel();
    if let Ok(mut wake) = handle.wake.lock() {
        *wake = Some(tx);
    }
    std::thread::Builder::new()
        .name("voordeur-sync".into())
        .spawn(move || run(&handle, &db_path, &key, interval, &rx))
}

fn run(
    handle: &SyncHandle,
    db_path: &std::path::Path,
    key: &str,
    interval: Duration,
    rx: &Receiver<Wake>,
) {
    let mut store = match Store::open(db_path, Some(key)) {
        Ok(store) => store,
        Err(e) => {
            handle.publish(|s| {
                s.state = SyncStateKind::Error;
                s.progress = None;
                s.error = Some(SyncErrorInfo {
                    code: "store".into(),
                    message: e.to_string(),
                });
            });
            return;
        }
    };
    sync_once(&mut store, handle);
    loop {
        let wake = match rx.recv_timeout(interval) {
            Ok(w) => w,
            Err(RecvTimeoutError::Timeout) => Wake::Now,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if matches!(wake, Wake::Stop) {
            return;
        }
        // Wakes that queued up while the last sync ran are served by this one.
        while let Ok(more) = rx.try_recv() {
            if matches!(more, Wake::Stop) {
                return;
            }
        }
        sync_once(&mut store, handle);
    }
}

/// One sync, published step by step. Returns the engine's result for tests.
pub fn sync_once(store: &mut Store, handle: &SyncHandle) -> Option<Result<usize, SyncError>> {
    let waiting = store.outbox_len().unwrap_or(0);
    let enrolled = match store.enrolment() {
        Ok(e) => e.is_some(),
        Err(e) => {
            fail(store, handle, &SyncError::Store(e), 0);
            return None;
        }
    };
    if !enrolled {
        let current = handle.state();
        if current.state != SyncStateKind::NotEnrolled || current.waiting != waiting {
            handle.publish(|s| {
                s.state = SyncStateKind::NotEnrolled;
                s.waiting = waiting;
                s.progress = None;
                s.error = None;
            });
        }
        return None;
    }
    let transport = match voordeur_sync::transport_for(store) {
        Ok(t) => t,
        Err(e) => {
            fail(store, handle, &e, 0);
            return Some(Err(e));
        }
    };
    handle.publish(|s| {
        s.state = SyncStateKind::Syncing;
        s.waiting = waiting;
        s.progress = None;
        s.error = None;
    });
    let mut pulled = 0usize;
    let result = voordeur_sync::sync(store, &transport, &mut |p| {
        let progress = match p {
            Progress::Pushing { done, total } => SyncProgress {
                phase: SyncPhase::Push,
                done: done as u64,
                total: Some(total as u64),
            },
            Progress::Pulling { received } => {
                pulled = received;
                SyncProgress {
                    phase: SyncPhase::Pull,
                    done: received as u64,
                    total: None,
                }
            }
        };
        handle.publish(|s| {
            if progress.phase == SyncPhase::Push {
                s.waiting = waiting.saturating_sub(progress.done);
            }
            s.progress = Some(progress);
        });
    });
    match result {
        Ok(report) => {
            let waiting = store.outbox_len().unwrap_or(0);
            let last_sync = store.last_sync().ok().flatten();
            handle.publish(|s| {
                // Changes written while the sync ran wait for the next one.
                s.state = if waiting > 0 {
                    SyncStateKind::Waiting
                } else {
                    SyncStateKind::UpToDate
                };
                s.waiting = waiting;
                s.progress = None;
                s.last_sync = last_sync;
                s.error = None;
            });
            if report.pulled > 0 {
                handle.data_changed(report.pulled);
            }
            Some(Ok(report.pulled))
        }
        Err(e) => {
            fail(store, handle, &e, pulled);
            Some(Err(e))
        }
    }
}

/// Publish a failed sync: offline when trying again later may work, else an error with
/// its reason; the changes waiting are counted either way. Batches pulled before the
/// failure are applied, so the UI is told to reload.
fn fail(store: &Store, handle: &SyncHandle, e: &SyncError, pulled: usize) {
    let waiting = store.outbox_len().unwrap_or(0);
    handle.publish(|s| {
        s.state = if e.is_transient() {
            SyncStateKind::Offline
        } else {
            SyncStateKind::Error
        };
        s.waiting = waiting;
        s.progress = None;
        s.error = Some(SyncErrorInfo {
            code: e.code().to_string(),
            message: e.to_string(),
        });
    });
    if pulled > 0 {
        handle.data_changed(pulled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_comes_from_the_environment() {
        assert_eq!(interval_from(None), DEFAULT_INTERVAL);
        assert_eq!(interval_from(Some("5")), Duration::from_secs(5));
        assert_eq!(interval_from(Some("0")), Duration::from_secs(1));
        assert_eq!(interval_from(Some("soon")), DEFAULT_INTERVAL);
    }
}
