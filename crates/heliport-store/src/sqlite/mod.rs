//! The embedded SQLite store: WAL, one writer. It implements every store
//! trait; this module is the only place SQLite types appear.
//!
//! Connections:
//! - the main pool (4) for keys, organizations, migrations and the REST
//!   API's small writes; `/readyz` and key lookups use it, so they never
//!   wait behind an analytics query;
//! - the read pool (`read_connections`, read-only) for queries and
//!   aggregates, each bounded by a statement timeout: a progress handler
//!   interrupts SQLite once the deadline passes;
//! - the record writer's own synchronous connection ([`sink`]).

mod analytics;
mod meta;
mod records;
mod rows;
pub mod sink;
mod upsert;

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use crate::error::{StoreError, StoreResult};
use crate::sql::{Bind, Sql, SqliteDialect};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many ran. Append only.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_attempts_and_cache_savings.sql"),
    include_str!("../../migrations/0003_rollups.sql"),
    include_str!("../../migrations/0004_planner_statistics.sql"),
    include_str!("../../migrations/0005_sortable_time_index.sql"),
];

/// The dialect every SQLite query is built in.
pub(crate) static DIALECT: SqliteDialect = SqliteDialect;

/// How the store reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Connections of the read pool (queries and aggregates).
    pub read_connections: u32,
    /// Longest a read may run (and wait for a connection) before it is
    /// stopped with [`StoreError::Timeout`].
    pub statement_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            read_connections: 4,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store. Cheap to clone (pool handles).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    read: SqlitePool,
    /// In-memory databases have one connection, shared by reads and writes.
    memory: bool,
    options: SqliteOptions,
}

/// Page size of a database heliport creates. A record with a streamed answer
/// (2 KB and more) left too little of a 4 KiB page for the next, so the writer
/// wrote and checkpointed about a page, with two system calls each way, per
/// record. 8 KiB took most of the gain of 16 KiB for such records (writer CPU
/// 19-20 -> 11-14 µs a record) at a smaller cost where records are small and
/// each touches scattered index pages (bench/PROFILE.md section 9). An
/// existing database keeps the size it was made with (SQLite changes it only
/// by VACUUM outside WAL mode; docs/configuration.md says how).
pub const PAGE_SIZE: u32 = 8192;

/// Accept `sqlite://file`, `sqlite:file` and `sqlite::memory:`.
fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let opts = SqliteConnectOptions::from_str(url).map_err(|e| {
        StoreError::Invalid(format!(
            "database URL '{url}' is not a SQLite URL (expected sqlite://FILE): {e}"
        ))
    })?;
    Ok(opts
        .create_if_missing(true)
        .page_size(PAGE_SIZE)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`, with
    /// the default read options.
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        Self::open_with(url, SqliteOptions::default()).await
    }

    /// Opens (creating if missing) and migrates the database at `url`.
    pub async fn open_with(url: &str, options: SqliteOptions) -> StoreResult<SqliteStore> {
        let opts = connect_options(url)?;
        let memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(opts.clone())
            .await
            .map_err(db("opening the database"))?;
        let store = SqliteStore {
            read: pool.clone(),
            pool,
            memory,
            options,
        };
        store.migrate().await?;
        if memory {
            return Ok(store);
        }
        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.statement_timeout.max(Duration::from_millis(1)))
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(3600)))
            // Reads scan more pages than the writer: an 8 MiB page cache
            // per connection, over the OS cache. No memory map: mapped
            // pages count in the process's RSS once per connection while
            // resident (1.1 GiB peak with 256 MiB maps at a million
            // records), and bench/dashboard.sh measured no page faster
            // with them.
            // Lazily: the first connection opens with the first read, under
            // that read's deadline. Opened here, it had to open within the
            // acquire timeout (the statement timeout), and a short timeout
            // (a few ms) stopped heliport from starting on a slow machine.
            .connect_lazy_with(
                opts.read_only(true)
                    .pragma("cache_size", "-8192")
                    .pragma("mmap_size", "0")
                    .pragma("temp_store", "memory"),
            );
        Ok(SqliteStore { read, ..store })
    }

    /// The main pool (keys, organizations, the API's writes).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db("migrating"))?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await
            .map_err(db("reading the schema version"))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(db("migrating"))?;
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(db("applying a migration"))?;
            sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1))
                .execute(&mut *tx)
                .await
                .map_err(db("recording the schema version"))?;
            tx.commit().await.map_err(db("migrating"))?;
        }
        Ok(())
    }

    /// A read connection whose statements stop at the statement timeout.
    async fn reader(&self) -> StoreResult<Reader> {
        let timeout = self.options.statement_timeout;
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let deadline = Instant::now() + timeout;
        let mut conn = match tokio::time::timeout(timeout, self.read.acquire()).await {
            Ok(Ok(c)) => c,
            Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => return Err(StoreError::Timeout(ms)),
            Ok(Err(e)) => return Err(StoreError::db("acquiring a read connection", e)),
        };
        // The in-memory database's one connection also writes: no handler
        // may outlive the read there.
        if !self.memory {
            let mut handle = conn
                .lock_handle()
                .await
                .map_err(db("preparing a read connection"))?;
            // Every read sets a fresh deadline, so a handler left by an
            // abandoned read does nothing but count.
            handle.set_progress_handler(1000, move || Instant::now() < deadline);
        }
        Ok(Reader { conn, ms })
    }
}

/// A read connection with its statement timeout.
struct Reader {
    conn: PoolConnection<Sqlite>,
    ms: u64,
}

impl Reader {
    /// Every row of `sql`.
    async fn all(&mut self, sql: &Sql<'_>, context: &'static str) -> StoreResult<Vec<SqliteRow>> {
        query(sql)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(|e| self.error(e, context))
    }

    /// The first row of `sql`, if any.
    async fn one(
        &mut self,
        sql: &Sql<'_>,
        context: &'static str,
    ) -> StoreResult<Option<SqliteRow>> {
        query(sql)
            .fetch_optional(&mut *self.conn)
            .await
            .map_err(|e| self.error(e, context))
    }

    fn error(&self, e: sqlx::Error, context: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.message().contains("interrupt") => {
                StoreError::Timeout(self.ms)
            }
            sqlx::Error::Database(d) if d.message().contains("pattern too complex") => {
                StoreError::Invalid(format!("a LIKE pattern is too complex: {}", d.message()))
            }
            _ => StoreError::db(context, e),
        }
    }
}

/// `sql` as a sqlx query with its values bound.
fn query<'q>(sql: &'q Sql<'_>) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    let mut q = sqlx::query(sql.text());
    for b in sql.binds() {
        q = match b {
            Bind::Null => q.bind(None::<i64>),
            Bind::Int(i) => q.bind(*i),
            Bind::Real(f) => q.bind(*f),
            Bind::Text(s) => q.bind(s.as_str()),
        };
    }
    q
}

pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::db(context, source)
}

/// Column `i` as an integer (NULL as 0).
fn int(row: &SqliteRow, i: usize) -> StoreResult<i64> {
    Ok(row
        .try_get::<Option<i64>, _>(i)
        .map_err(db("reading a row"))?
        .unwrap_or(0))
}

/// Column `i` as an optional integer.
fn opt_int(row: &SqliteRow, i: usize) -> StoreResult<Option<i64>> {
    row.try_get::<Option<i64>, _>(i)
        .map_err(db("reading a row"))
}

/// Column `i` as optional text.
fn opt_text(row: &SqliteRow, i: usize) -> StoreResult<Option<String>> {
    row.try_get::<Option<String>, _>(i)
        .map_err(db("reading a row"))
}

/// Column `i` as text (NULL as empty).
fn text(row: &SqliteRow, i: usize) -> StoreResult<String> {
    Ok(opt_text(row, i)?.unwrap_or_default())
}

/// Column `i` as a blob (NULL as empty), borrowed from the row.
fn blob(row: &SqliteRow, i: usize) -> StoreResult<&[u8]> {
    Ok(row
        .try_get::<Option<&[u8]>, _>(i)
        .map_err(db("reading a row"))?
        .unwrap_or_default())
}

/// Columns `from..from + 15` as summed measures.
fn sums(row: &SqliteRow, from: usize) -> StoreResult<crate::rollup::Sums> {
    let mut a = [0i64; 15];
    for (k, slot) in a.iter_mut().enumerate() {
        *slot = int(row, from + k)?;
    }
    Ok(crate::rollup::Sums::from_array(a))
}

#[cfg(test)]
mod tests_records;
#[cfg(test)]
mod tests_rollups;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A temporary database file, removed on drop.
    pub(crate) struct TempDb {
        pub dir: std::path::PathBuf,
        pub url: String,
    }

    impl TempDb {
        pub fn new() -> TempDb {
            let dir = std::env::temp_dir().join(format!("heliport-store-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}/t.db", dir.display());
            TempDb { dir, url }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn page_size(db: &TempDb) -> i64 {
        let path = db.url.trim_start_matches("sqlite://");
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_database_has_large_pages_and_an_old_one_keeps_its_own() {
        let db = TempDb::new();
        let store = SqliteStore::open(&db.url).await.unwrap();
        assert_eq!(page_size(&db), i64::from(PAGE_SIZE));
        drop(store);

        // A database made with SQLite's default 4 KiB pages opens and
        // migrates as it is, and the writer can use it.
        let old = TempDb::new();
        {
            let path = old.url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(
                "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&old.url).await.unwrap();
        crate::MetaStore::ping(&store).await.unwrap();
        crate::sqlite::sink::SqliteRecordSink::open(&old.url).unwrap();
        assert_eq!(page_size(&old), 4096);
    }

    #[tokio::test]
    async fn a_slow_read_is_stopped_at_the_statement_timeout() {
        let db = TempDb::new();
        let store = SqliteStore::open_with(
            &db.url,
            SqliteOptions {
                read_connections: 1,
                statement_timeout: Duration::from_millis(100),
            },
        )
        .await
        .unwrap();
        let mut sql = Sql::new(&DIALECT);
        // Counts to a billion: seconds of work without the timeout.
        sql.push(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) \
             SELECT COUNT(*) FROM c",
        );
        let t = Instant::now();
        let mut r = store.reader().await.unwrap();
        let e = r.all(&sql, "counting").await.err().unwrap();
        assert!(matches!(e, StoreError::Timeout(100)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        drop(r);
        // The connection is fine for the next read.
        let mut ok = Sql::new(&DIALECT);
        ok.push("SELECT 1");
        let mut r = store.reader().await.unwrap();
        assert_eq!(r.all(&ok, "one").await.unwrap().len(), 1);
        // Meanwhile the main pool is not involved at all.
        crate::MetaStore::ping(&store).await.unwrap();
    }

    #[tokio::test]
    async fn reads_cannot_write() {
        let db = TempDb::new();
        let store = SqliteStore::open(&db.url).await.unwrap();
        let mut sql = Sql::new(&DIALECT);
        sql.push("DELETE FROM organizations");
        let mut r = store.reader().await.unwrap();
        assert!(r.all(&sql, "deleting").await.is_err());
    }
}
