//! The SQL. Every function that touches chat data takes the caller's `&UserId` and scopes its
//! query by it, so isolation shows in each signature.
//!
//! Every statement is a `sqlx::query!`-family macro: the SQL, its parameter types and its
//! columns' types and nullability are checked at compile time, offline against the committed
//! `.sqlx/` data (`make sqlx-prepare` rewrites it after a query or migration changes).

pub mod conversations;
pub mod corpus;
pub mod idempotency;
pub mod messages;
pub mod search;
mod stored_json;
pub mod users;

pub use stored_json::StoredJson;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A lazy pool: the service starts (and reports not-ready) even when the database is down.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    use secrecy::ExposeSecret;
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: one more round trip to the
        // database per request. Only a connection idle for a while is pinged (a database restart
        // is then noticed before a query); one used a moment ago is known to be live, and if the
        // server went away since, the query's I/O error is a 503 like any other outage.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options.application_name("chatplane-api")))
}

/// A pooled connection, its future boxed. sqlx's acquire future is ~8.6 KB: awaited inline it
/// makes the handler's future that large, and through it the whole route tree's (whose size is
/// its largest branch's), which warp and hyper move several times per request, whatever the
/// route. Boxed, it is moved once, and only where a connection is taken this way.
pub async fn acquire(db: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
    Box::pin(db.acquire()).await
}

/// A transaction, its future boxed for the same reason as [`acquire`]'s.
pub async fn begin(db: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    Box::pin(db.begin()).await
}

/// How long a pooled connection may sit unused before it is pinged on its next acquire.
const PING_WHEN_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether an error is the violation of the named constraint.
pub fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}
