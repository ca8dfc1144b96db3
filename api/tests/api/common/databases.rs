//! A database of its own for each test, on the server of `TEST_DATABASE_URL`.

use chatplane_api::store::Db;
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// The administrator's URL of the test server: `make test` starts a private PostgreSQL and sets it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with `make test` (it starts a private \
         PostgreSQL), or point it at a server where you may create databases",
    )
}

/// A new, empty database (not migrated) of its own for the test: its name and URL.
pub async fn empty_database() -> (String, String) {
    let admin = admin_url();
    let name = format!("chatplane_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let create = format!(r#"CREATE DATABASE "{name}""#);
    conn.execute(sqlx::AssertSqlSafe(create))
        .await
        .expect("create test database");
    let url = match admin.rfind('/') {
        Some(i) => format!("{}/{name}", &admin[..i]),
        None => panic!("TEST_DATABASE_URL has no database part"),
    };
    (name, url)
}

/// A new database of its own with the schema migrated (no app): its pool and URL.
pub async fn migrated_database() -> (Db, String) {
    let (_, url) = empty_database().await;
    let pool = PgPool::connect(&url).await.expect("connect");
    chatplane_api::store::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate");
    (Db::new(pool), url)
}
