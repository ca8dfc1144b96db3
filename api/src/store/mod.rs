//! The SQL. Every function that touches chat data takes the caller's `&UserId` and scopes its
//! query by it, so isolation shows in each signature.
//!
//! Every statement is a `sqlx::query!`-family macro: the SQL, its parameter types and its
//! columns' types and nullability are checked at compile time, offline against the committed
//! `.sqlx/` data (`make sqlx-prepare` rewrites it after a query or migration changes).

mod columns;
pub mod conversations;
pub mod corpus;
mod db;
pub mod idempotency;
pub mod messages;
pub mod search;
mod stored_json;
pub mod users;

pub use columns::{Text, Timestamp};
pub use db::{Conn, Db, PING_WHEN_IDLE_FOR};
pub use stored_json::StoredJson;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The service's pool; see [`Db`].
pub fn db(settings: &DatabaseSettings) -> Result<Db, sqlx::Error> {
    Ok(Db::new(pool(settings)?))
}

/// sqlx's pool alone, for what runs before the service (migrations). Lazy: the service starts
/// (and reports not-ready) even when the database is down.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    use secrecy::ExposeSecret;
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        // sqlx pings every connection it hands out by default: one more round trip to the
        // database per request. Only a connection idle for a while is pinged; if the server
        // went away since one was used, the query's I/O error is a 503 like any other outage.
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

/// Whether an error is the violation of the named constraint.
pub fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}
