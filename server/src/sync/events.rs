//! Pokes: a server-sent-events stream per device that says "pull now" when
//! one of its scopes changes. Writes through this instance poke at once;
//! writes through other instances are noticed by polling the scope counters
//! of the scopes that have listeners (one small query per interval,
//! whatever the number of listeners). Nothing here is needed for
//! correctness: a device that misses a poke pulls on its own schedule.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use crate::db::{Database, DbError, sync};

/// The listeners of this instance, by scope.
pub struct Hub {
    scopes: Mutex<HashMap<String, watch::Sender<i64>>>,
    stop: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            scopes: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<i64>>> {
        self.scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver that changes whenever `scope` does.
    pub fn subscribe(&self, scope: &str) -> watch::Receiver<i64> {
        self.lock()
            .entry(scope.to_owned())
            .or_insert_with(|| watch::channel(i64::MIN).0)
            .subscribe()
    }

    /// Pokes the listeners of `scopes` (after a local write committed).
    pub fn poke<'a>(&self, scopes: impl IntoIterator<Item = &'a String>) {
        let map = self.lock();
        for scope in scopes {
            if let Some(sender) = map.get(scope) {
                sender.send_modify(|_| {});
            }
        }
    }

    /// The scopes someone listens to; forgets the others.
    fn watched(&self) -> Vec<String> {
        let mut map = self.lock();
        map.retain(|_, sender| sender.receiver_count() > 0);
        map.keys().cloned().collect()
    }

    /// Pokes the listeners of scopes whose counter moved.
    fn observe(&self, versions: Vec<(String, i64)>) {
        let map = self.lock();
        for (scope, version) in versions {
            if let Some(sender) = map.get(&scope) {
                sender.send_if_modified(|seen| {
                    let moved = *seen != version && *seen != i64::MIN;
                    *seen = version;
                    moved
                });
            }
        }
    }

    /// Resolves when the server is stopping: streams end so shutdown is not
    /// held up by them.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn shut_down(&self) {
        self.stop.send_replace(true);
    }
}

/// Watches the database for changes made through other instances until the
/// hub shuts down.
pub fn spawn_poller(hub: Arc<Hub>, db: Database, every: Duration) -> tokio::task::JoinHandle<()> {
    let mut stopping = hub.stopping();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            let scopes = hub.watched();
            if scopes.is_empty() {
                continue;
            }
            let result = db
                .read(move |conn| sync::scope_versions(conn, &scopes).map_err(DbError::from))
                .await;
            match result {
                Ok(versions) => hub.observe(versions),
                Err(error) => tracing::warn!(%error, "cannot poll sync scopes"),
            }
        }
    })
}
