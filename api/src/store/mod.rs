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
pub mod users;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A lazy pool: the service starts (and reports not-ready) even when the database is down.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    use secrecy::ExposeSecret;
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy_with(options.application_name("chatplane-api")))
}

/// Whether an error is the violation of the named constraint.
pub fn violates(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(constraint))
}
