//! `store::Db`: which connections come back untested and which go through sqlx's pool.

use std::time::Duration;

use chatplane_api::store::{Db, PING_WHEN_IDLE_FOR};
use sqlx::postgres::PgPoolOptions;

use crate::common::empty_database;

/// A database of its own with one table, behind a pool of at most `max` connections.
async fn db(max: u32) -> Db {
    let (_, url) = empty_database().await;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
        .expect("connect");
    sqlx::query("CREATE TABLE notes (n int)")
        .execute(&pool)
        .await
        .expect("table");
    Db::new(pool)
}

async fn backend(db: &Db) -> i32 {
    let mut conn = db.acquire().await.expect("acquire");
    let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .expect("pid");
    conn.done();
    pid
}

#[tokio::test]
async fn a_connection_handed_back_is_the_next_one_taken() {
    let db = db(4).await;
    let first = backend(&db).await;
    assert_eq!(db.warm(), 1);
    assert_eq!(backend(&db).await, first);
    assert_eq!(db.warm(), 1);
}

#[tokio::test]
async fn statements_run_on_the_db_hand_their_connection_back_only_when_they_completed() {
    let db = db(4).await;
    let n: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&db)
        .await
        .expect("one");
    assert_eq!(n, 1);
    assert_eq!(
        db.warm(),
        1,
        "a completed statement hands its connection back"
    );
    let rows: Vec<i32> = sqlx::query_scalar("SELECT generate_series(1, 3)")
        .fetch_all(&db)
        .await
        .expect("rows");
    assert_eq!(rows, [1, 2, 3]);
    assert_eq!(db.warm(), 1);

    let failed = sqlx::query("SELECT * FROM no_such_table")
        .execute(&db)
        .await;
    assert!(failed.is_err());
    assert_eq!(
        db.warm(),
        0,
        "a failed statement's connection goes through sqlx's release"
    );
    // And the pool goes on serving.
    let n: i32 = sqlx::query_scalar("SELECT 2")
        .fetch_one(&db)
        .await
        .expect("two");
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_cancelled_statement_leaves_its_connection_off_the_stack() {
    let db = db(1).await;
    let slow = sqlx::query("SELECT pg_sleep(1)").execute(&db);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), slow)
            .await
            .is_err()
    );
    assert_eq!(db.warm(), 0);
    // sqlx's release waits for the cancelled statement's end before the connection serves again
    // (within the pool's 3 s acquire timeout).
    let n: i32 = sqlx::query_scalar("SELECT 3")
        .fetch_one(&db)
        .await
        .expect("three");
    assert_eq!(n, 3);
}

#[tokio::test]
async fn a_transaction_dropped_unfinished_is_rolled_back_and_its_connection_not_reused() {
    let db = db(1).await;
    {
        let mut conn = db.acquire().await.expect("acquire");
        let mut tx = conn.begin().await.expect("begin");
        sqlx::query("INSERT INTO notes VALUES (1)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        // An error path: neither commit nor rollback, and no `done`.
    }
    assert_eq!(db.warm(), 0);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(count, 0, "the insert was rolled back");

    let mut conn = db.acquire().await.expect("acquire");
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("INSERT INTO notes VALUES (2)")
        .execute(&mut *tx)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    conn.done();
    assert_eq!(
        db.warm(),
        1,
        "a committed transaction's connection comes back"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_connection_still_in_a_transaction_is_not_handed_back() {
    let db = db(2).await;
    let mut conn = db.acquire().await.expect("acquire");
    let tx = conn.begin().await.expect("begin");
    std::mem::forget(tx);
    conn.done();
    assert_eq!(db.warm(), 0);
}

#[tokio::test]
async fn a_caller_waiting_on_the_pool_gets_the_connection_handed_back() {
    // One connection: without the hand-over the waiter would time out (after 3 s) while the
    // connection sat on the stack.
    let db = db(1).await;
    let held = db.acquire().await.expect("the only connection");
    let waiter = tokio::spawn({
        let db = db.clone();
        async move { backend(&db).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter waits for the only connection"
    );
    held.done();
    let pid = waiter.await.expect("waiter");
    assert!(pid > 0);
}

#[tokio::test]
async fn connections_unused_for_a_while_go_back_to_sqlx() {
    let db = db(4).await;
    let first = db.acquire().await.expect("first");
    let second = db.acquire().await.expect("second");
    first.done();
    second.done();
    assert_eq!(db.warm(), 2);
    tokio::time::sleep(PING_WHEN_IDLE_FOR + Duration::from_millis(100)).await;
    db.reap();
    assert_eq!(db.warm(), 0);
    // A stale one is not handed out either: it goes to be tested, and a tested one comes.
    let third = db.acquire().await.expect("third");
    third.done();
    tokio::time::sleep(PING_WHEN_IDLE_FOR + Duration::from_millis(100)).await;
    assert!(backend(&db).await > 0);
    assert_eq!(db.warm(), 1);
}

#[tokio::test]
async fn close_returns_with_connections_on_the_stack() {
    let db = db(4).await;
    for _ in 0..3 {
        let _ = backend(&db).await;
    }
    let a = db.acquire().await.expect("a");
    let b = db.acquire().await.expect("b");
    a.done();
    b.done();
    assert_eq!(db.warm(), 2);
    tokio::time::timeout(Duration::from_secs(10), db.close())
        .await
        .expect("close does not wait for the stack");
    assert_eq!(db.warm(), 0);
    assert!(db.acquire().await.is_err(), "a closed pool gives nothing");
}
