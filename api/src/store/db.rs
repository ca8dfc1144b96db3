//! The pool every query of the service goes through: sqlx's, plus a stack of connections whose
//! last query ran to its end, kept checked out of sqlx's pool for the next one.
//!
//! sqlx 0.9 tests every connection that comes back to its pool: a spawned task sends `Sync` and
//! waits for the reply, system calls and a wake-up of the backend on every request (skipping it
//! served 26–58% more page reads, docs/BENCHMARKS.md). It has no option to skip it, because a
//! connection dropped mid-query, or holding a transaction dropped uncommitted, may be in any
//! state. One handed back by [`Conn::done`] is not: its statements completed. Every other way a
//! connection ends (an error, a cancelled request, a panic) drops it into sqlx's pool, which tests
//! it as before. A connection also goes back through sqlx (its ping, its `max_lifetime`) once it
//! has been out for [`RECYCLE_AFTER`], or sat unused for [`PING_WHEN_IDLE_FOR`].

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{
    Connection, Describe, Either, Execute, Executor, PgConnection, PgPool, Postgres, SqlStr,
};

/// How long a connection may sit unused before it is tested again (sqlx's ping): a database
/// restart is then noticed before a query, while one used a moment ago is known to be live.
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// How long a connection may go from request to request without passing through sqlx's pool.
pub const RECYCLE_AFTER: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Most recently used last, so the top is the one most likely still warm in every cache.
    warm: Mutex<Vec<Warm>>,
    /// Callers waiting on sqlx's pool: a connection handed back then goes to them, not the stack,
    /// or they would wait for their timeout while the stack holds what they need.
    waiting: AtomicUsize,
}

struct Warm {
    conn: PoolConnection<Postgres>,
    out_since: Instant,
    idle_since: Instant,
}

/// A connection of the pool. Dropped, it goes back through sqlx's tested release; [`Conn::done`]
/// returns it untested, for when its last statement completed.
pub struct Conn {
    conn: PoolConnection<Postgres>,
    out_since: Instant,
    db: Arc<Inner>,
}

impl Db {
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                warm: Mutex::new(Vec::new()),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// A connection: the warmest one handed back, else sqlx's (its future boxed: it is ~8.6 KB,
    /// and inline it would make every handler's future, and the route tree's, that large).
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        if let Some(conn) = self.inner.take_warm() {
            return Ok(conn);
        }
        let _waiting = Waiting::new(&self.inner.waiting);
        // Again, now that `done` knows someone waits: one handed back in between is here.
        if let Some(conn) = self.inner.take_warm() {
            return Ok(conn);
        }
        let conn = Box::pin(self.inner.pool.acquire()).await?;
        Ok(Conn {
            conn,
            out_since: Instant::now(),
            db: self.inner.clone(),
        })
    }

    /// Hands the connections unused for [`PING_WHEN_IDLE_FOR`] back to sqlx's pool, whose idle
    /// timeout then applies to them.
    pub fn reap(&self) {
        let stale = drain_stale(&mut self.inner.lock(), Instant::now());
        drop(stale);
    }

    /// Runs [`Db::reap`] every [`PING_WHEN_IDLE_FOR`] until `shutdown` changes: with no
    /// requests at all, nothing else would hand the stack's connections back.
    pub fn spawn_reaper(
        self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PING_WHEN_IDLE_FOR);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => self.reap(),
                    _ = shutdown.changed() => return,
                }
            }
        })
    }

    /// Closes the pool: the connections on the stack are handed back first, as sqlx's `close`
    /// waits for every connection out of it.
    pub async fn close(&self) {
        let closing = self.inner.pool.close();
        let warm = std::mem::take(&mut *self.inner.lock());
        drop(warm);
        closing.await;
    }

    /// Connections handed back and not yet taken again.
    pub fn warm(&self) -> usize {
        self.inner.lock().len()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.warm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The top of the stack, after the stale ones below it went back to be tested (if the top
    /// is stale, so is every one below it: all go).
    fn take_warm(self: &Arc<Self>) -> Option<Conn> {
        let mut warm = self.lock();
        let stale = drain_stale(&mut warm, Instant::now());
        let top = warm.pop();
        drop(warm);
        drop(stale);
        top.map(|top| Conn {
            conn: top.conn,
            out_since: top.out_since,
            db: self.clone(),
        })
    }
}

/// Takes the connections unused for [`PING_WHEN_IDLE_FOR`] off the bottom of the stack.
fn drain_stale(warm: &mut Vec<Warm>, now: Instant) -> Vec<Warm> {
    let fresh = warm
        .iter()
        .position(|w| now.duration_since(w.idle_since) < PING_WHEN_IDLE_FOR)
        .unwrap_or(warm.len());
    warm.drain(..fresh).collect()
}

impl Conn {
    /// A transaction on this connection. Committed or rolled back, the connection is still
    /// here for [`Conn::done`]; dropped unfinished, it queues its rollback, which the connection's
    /// drop then sends through sqlx's release, as with a pooled transaction.
    pub async fn begin(&mut self) -> Result<sqlx::Transaction<'_, Postgres>, sqlx::Error> {
        Connection::begin(&mut *self.conn).await
    }

    /// Returns the connection for the next caller without sqlx's test: only after its last
    /// statement completed (with no transaction left open).
    pub fn done(self) {
        let Conn {
            conn,
            out_since,
            db,
        } = self;
        if out_since.elapsed() >= RECYCLE_AFTER || conn.is_in_transaction() {
            return;
        }
        let now = Instant::now();
        let (stale, handed_over) = {
            let mut warm = db.lock();
            // Checked under the lock `close` takes to empty the stack: a connection pushed after
            // that would be waited for forever.
            if db.pool.is_closed() {
                return;
            }
            let stale = drain_stale(&mut warm, now);
            warm.push(Warm {
                conn,
                out_since,
                idle_since: now,
            });
            // Read after the push: a caller that found the stack empty has counted itself by now,
            // or finds this one on its second look.
            let handed_over = if db.waiting.load(Ordering::SeqCst) > 0 {
                warm.pop()
            } else {
                None
            };
            (stale, handed_over)
        };
        drop((stale, handed_over));
    }
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// Counts a caller waiting on sqlx's pool for as long as it waits, also when it is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("pool", &self.inner.pool)
            .field("warm", &self.warm())
            .finish()
    }
}

/// `&Db` runs a statement as `&PgPool` does, on a connection it takes and, once the statement
/// completed, hands back with [`Conn::done`].
impl<'c> Executor<'c> for &'c Db {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(async_stream::try_stream! {
            let mut conn = self.acquire().await?;
            {
                let mut results = (&mut *conn).fetch_many(query);
                while let Some(result) = results.try_next().await? {
                    yield result;
                }
            }
            conn.done();
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            let row = (&mut *conn).fetch_optional(query).await?;
            conn.done();
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            let statement = (&mut *conn).prepare_with(sql, parameters).await?;
            conn.done();
            Ok(statement)
        })
    }

    // Only the query macros call it (sqlx's `offline` feature, on through `macros`).
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            let described = (&mut *conn).describe(sql).await?;
            conn.done();
            Ok(described)
        })
    }
}
