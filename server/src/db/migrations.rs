//! The embedded migrations (one tree per backend, same names in both) and a
//! schema fingerprint used to prove that down-migrations really undo.

use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Conn, DbError};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Any fixed number: the PostgreSQL advisory lock that serialises instances
/// migrating one database at the same moment.
const MIGRATION_LOCK: i64 = 0x6d62_6d69_6772;

fn err(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// Applies the pending migrations; returns the versions applied. Safe to call
/// from several instances at once.
pub fn run_pending(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    match conn {
        Conn::Sqlite(c) => {
            // One IMMEDIATE transaction around the run: a second instance waits
            // on the write lock, then finds nothing pending.
            c.immediate_transaction(|c| {
                c.run_pending_migrations(SQLITE)
                    .map(|v| v.iter().map(ToString::to_string).collect())
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
            })
            .map_err(err)
        }
        Conn::Pg(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(*c)?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(err);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(*c)?;
            result
        }
    }
}

/// Reverts every applied migration, newest first.
pub fn revert_all(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    let reverted = match conn {
        Conn::Sqlite(c) => c.revert_all_migrations(SQLITE),
        Conn::Pg(c) => c.revert_all_migrations(POSTGRES),
    };
    reverted
        .map(|v| v.iter().map(ToString::to_string).collect())
        .map_err(err)
}

/// Names of the migrations applied so far, oldest first.
pub fn applied(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    let (versions, known) = match conn {
        Conn::Sqlite(c) => (
            c.applied_migrations().map_err(err)?,
            embedded_names::<diesel::sqlite::Sqlite>(&SQLITE)?,
        ),
        Conn::Pg(c) => (
            c.applied_migrations().map_err(err)?,
            embedded_names::<diesel::pg::Pg>(&POSTGRES)?,
        ),
    };
    // Diesel records only the version; show the full name where we know it
    // (a newer binary may have applied migrations this one does not embed).
    let mut names: Vec<String> = versions
        .iter()
        .map(|v| {
            let v = v.to_string();
            known
                .iter()
                .find(|(version, _)| *version == v)
                .map_or(v.clone(), |(_, name)| name.clone())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// `(version, full name)` of every migration embedded for one backend.
fn embedded_names<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> Result<Vec<(String, String)>, DbError>
where
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    let migrations = diesel::migration::MigrationSource::<DB>::migrations(source).map_err(err)?;
    Ok(migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every table, column (with type, nullability, default), index and
/// constraint of the application's schema, one sorted line each. Two equal
/// fingerprints mean two equal schemas.
pub fn schema_fingerprint(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    let lines: Vec<Line> = match conn {
        Conn::Sqlite(c) => diesel::sql_query(
            "SELECT type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '') AS line
             FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
        )
        .load(*c)?,
        Conn::Pg(c) => diesel::sql_query(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
                    || ' nullable=' || is_nullable || ' default=' || COALESCE(column_default, '') AS line
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'
             UNION ALL
             SELECT 'index ' || tablename || '.' || indexname || ': ' || indexdef
             FROM pg_indexes
             WHERE schemaname = current_schema() AND tablename <> '__diesel_schema_migrations'
             UNION ALL
             SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': '
                    || pg_get_constraintdef(oid)
             FROM pg_constraint
             WHERE connamespace = current_schema()::regnamespace
               AND conrelid::regclass::text <> '__diesel_schema_migrations'",
        )
        .load(*c)?,
    };
    let mut lines: Vec<String> = lines.into_iter().map(|l| l.line).collect();
    lines.sort();
    Ok(lines)
}

/// `table.column` for every column, sorted: the part of the schema that must
/// be the same on both backends.
pub fn portable_columns(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    let lines: Vec<Line> = match conn {
        Conn::Sqlite(c) => diesel::sql_query(
            "SELECT m.name || '.' || p.name AS line
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '__diesel_schema_migrations'",
        )
        .load(*c)?,
        Conn::Pg(c) => diesel::sql_query(
            "SELECT table_name || '.' || column_name AS line
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'",
        )
        .load(*c)?,
    };
    let mut lines: Vec<String> = lines.into_iter().map(|l| l.line).collect();
    lines.sort();
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn names(backend: &str) -> BTreeSet<String> {
        // Read at run time: a test binary from a shared build cache may have
        // been built in another checkout.
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        );
        let dir = manifest.join("../migrations").join(backend);
        std::fs::read_dir(&dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_names() {
        let sqlite = names("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, names("postgres"));
    }
}
