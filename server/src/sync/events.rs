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

use crate::db::{Conn, Database, DbError, sync};

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

    /// A receiver that changes whenever `scope` does. `version` is the
    /// scope's counter as read when the stream opened (0 for a scope never
    /// written): the poller's first look at a scope nobody watched yet
    /// compares against it, so a change that commits between the stream's
    /// first poke and that look is not taken for the starting point.
    pub fn subscribe(&self, scope: &str, version: i64) -> watch::Receiver<i64> {
        self.lock()
            .entry(scope.to_owned())
            .or_insert_with(|| watch::channel(version).0)
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

/// The counters of `scopes` now (0 for a scope never written), to
/// subscribe from.
pub fn versions_of(conn: &mut Conn, scopes: &[String]) -> Result<Vec<(String, i64)>, DbError> {
    let known: HashMap<String, i64> = sync::scope_versions(conn, scopes)?.into_iter().collect();
    Ok(scopes
        .iter()
        .map(|s| (s.clone(), known.get(s).copied().unwrap_or(0)))
        .collect())
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
