//! All SQL lives under this module: the connection pools, the schema, the
//! migrations and one module per table or aggregate.
//!
//! Every query is written once for both backends: [`with_conn!`] expands one
//! body into a `match` arm per backend, so each arm is type-checked against its
//! own diesel backend (this is what lets us use upserts and `RETURNING`, which
//! `#[derive(MultiConnection)]` cannot express). Database work never runs on an
//! async worker: [`Database::read`] and [`Database::write`] move it to the
//! blocking pool, and a write is always one transaction (`BEGIN IMMEDIATE` on
//! SQLite, so concurrent writers queue instead of failing on lock upgrade).

use std::{path::Path, time::Duration};

use diesel::{
    connection::SimpleConnection,
    pg::PgConnection,
    r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection},
    sqlite::SqliteConnection,
};

use crate::config::DatabaseTarget;

pub mod blobs;
pub mod campaigns;
pub mod custody;
pub mod identity;
pub mod jobs;
pub mod logistics;
pub mod mail_outbox;
pub mod migrations;
pub mod schema;
pub mod station_sync;
pub mod sync;
pub mod time;
pub mod uploads;
pub mod users;

/// A borrowed connection of either backend. Queries take `&mut Conn`.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of whichever
/// backend `$conn` is. The body is compiled once per backend.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite(inner) => {
                let $c: &mut ::diesel::sqlite::SqliteConnection = &mut **inner;
                $body
            }
            $crate::db::Conn::Pg(inner) => {
                let $c: &mut ::diesel::pg::PgConnection = &mut **inner;
                $body
            }
        }
    };
}

/// Failures of the database layer. "Not found" is never one of them: finders
/// return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database task did not finish: {0}")]
    Join(String),
    #[error("the database holds damaged data: {0}")]
    Damaged(String),
}

/// Which backend a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

/// The connection pool of either backend. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pools: Pools,
}

/// Sets the per-connection SQLite pragmas every connection needs.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the single writer; busy_timeout makes a
        // second writer wait rather than fail; foreign keys are off by default
        // in SQLite. synchronous=FULL keeps every commit durable across a power cut.
        conn.batch_execute(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 15000;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Database {
    /// Opens a pool for `target`. For SQLite the file's folder is created.
    pub fn connect(target: &DatabaseTarget, pool_size: u32) -> Result<Self, DbError> {
        let pools = match target {
            DatabaseTarget::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        DbError::Connect(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                let manager = ConnectionManager::<SqliteConnection>::new(sqlite_url(path));
                let pool = Pool::builder()
                    .max_size(pool_size)
                    .connection_timeout(Duration::from_secs(15))
                    .connection_customizer(Box::new(SqlitePragmas))
                    .build(manager)?;
                Pools::Sqlite(pool)
            }
            DatabaseTarget::Postgres(url) => {
                let manager = ConnectionManager::<PgConnection>::new(url.expose());
                let pool = Pool::builder()
                    .max_size(pool_size)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(5))
                    .build(manager)
                    .map_err(|e| DbError::Connect(e.to_string()))?;
                Pools::Pg(pool)
            }
        };
        Ok(Self { pools })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite(_) => Backend::Sqlite,
            Pools::Pg(_) => Backend::Postgres,
        }
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction,
    /// on the calling thread (which must be allowed to block).
    pub fn read_blocking<T, E>(&self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut c = pool.get().map_err(DbError::from)?;
                f(&mut Conn::Sqlite(&mut c))
            }
            Pools::Pg(pool) => {
                let mut c = pool.get().map_err(DbError::from)?;
                f(&mut Conn::Pg(&mut c))
            }
        }
    }

    /// Runs `f` in one write transaction on the calling thread: committed if
    /// it returns `Ok`, rolled back otherwise. The custody events it logged
    /// are written last, just before the commit (`custody::flush`).
    pub fn write_blocking<T, E>(&self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        let _deferring = crate::custody::Deferring::begin();
        let body = |conn: &mut Conn| {
            let out = f(conn)?;
            crate::custody::flush(conn)?;
            Ok(out)
        };
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut c: PooledConnection<_> = pool.get().map_err(DbError::from)?;
                c.immediate_transaction(|c| body(&mut Conn::Sqlite(c)))
            }
            Pools::Pg(pool) => {
                let mut c = pool.get().map_err(DbError::from)?;
                diesel::Connection::transaction(&mut *c, |c| body(&mut Conn::Pg(c)))
            }
        }
    }

    /// Runs `f` in one read-only transaction that sees a single snapshot of
    /// the database (REPEATABLE READ on PostgreSQL; on SQLite a read
    /// transaction keeps its WAL snapshot), so several queries agree.
    pub fn snapshot_blocking<T, E>(&self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut c = pool.get().map_err(DbError::from)?;
                diesel::Connection::transaction(&mut *c, |c| f(&mut Conn::Sqlite(c)))
            }
            Pools::Pg(pool) => {
                let mut c = pool.get().map_err(DbError::from)?;
                c.build_transaction()
                    .repeatable_read()
                    .read_only()
                    .run(|c| f(&mut Conn::Pg(c)))
            }
        }
    }

    /// [`Database::snapshot_blocking`] on the blocking thread pool.
    pub async fn snapshot<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.snapshot_blocking(f))
            .await
            .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// [`Database::read_blocking`] on the blocking thread pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// [`Database::write_blocking`] on the blocking thread pool.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// A trivial query, for readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|conn| {
            with_conn!(conn, c => diesel::sql_query("SELECT 1").execute(c))?;
            Ok::<_, DbError>(())
        })
        .await
    }

    /// Applies every pending migration; returns the names applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        self.read_blocking(migrations::run_pending)
    }
}

use diesel::RunQueryDsl;

fn sqlite_url(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Runs `f` inside a savepoint of the current transaction: whatever it wrote
/// is undone when it returns `Err`, and the transaction goes on.
pub fn savepoint<T, E>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    // Custody events queued inside are forgotten with the savepoint.
    let mark = crate::custody::queued();
    let out = match conn {
        Conn::Sqlite(c) => diesel::Connection::transaction(&mut **c, |c| f(&mut Conn::Sqlite(c))),
        Conn::Pg(c) => diesel::Connection::transaction(&mut **c, |c| f(&mut Conn::Pg(c))),
    };
    if out.is_err() {
        crate::custody::forget_after(mark);
    }
    out
}
