//! `store::Text` and `store::Timestamp`, the page's own column decoders, give what sqlx's
//! `String` and `DateTime<Utc>` give, read back from PostgreSQL in the binary format.

use chatplane_api::store::{Text, Timestamp};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgPool;

use crate::common::empty_database;

async fn pool() -> PgPool {
    let (_, url) = empty_database().await;
    PgPool::connect(&url).await.expect("connect")
}

#[tokio::test]
async fn timestamps_decode_as_sqlx_decodes_them() {
    let pool = pool().await;
    // The edges: PostgreSQL's epoch and either side of it, the Unix epoch, leap days, years 1
    // and 9999, and one microsecond steps.
    let edges = [
        "2000-01-01 00:00:00+00",
        "1999-12-31 23:59:59.999999+00",
        "2000-01-01 00:00:00.000001+00",
        "1970-01-01 00:00:00+00",
        "1969-12-31 23:59:59.999999+00",
        "2024-02-29 23:59:59.5+00",
        "1900-03-01 00:00:00+00",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
        "2026-12-03 19:22:03.123456+05:30",
    ];
    for edge in edges {
        let (ours, sqlx): (Timestamp, DateTime<Utc>) =
            sqlx::query_as("SELECT $1::timestamptz, $1::timestamptz")
                .bind(edge)
                .fetch_one(&pool)
                .await
                .expect("select");
        assert_eq!(ours.0, sqlx, "{edge}");
    }
    // And at random over ten thousand years, to the microsecond.
    let pairs: Vec<(Timestamp, DateTime<Utc>)> = sqlx::query_as(
        "SELECT t, t FROM (SELECT timestamptz '0001-01-01 00:00:00+00'
                + (random() * 3.15e17)::bigint * interval '1 microsecond' AS t
              FROM generate_series(1, 5000)) s",
    )
    .fetch_all(&pool)
    .await
    .expect("select");
    assert_eq!(pairs.len(), 5000);
    for (ours, sqlx) in pairs {
        assert_eq!(ours.0, sqlx);
    }
}

#[tokio::test]
async fn a_timestamp_chrono_cannot_hold_is_an_error_not_a_panic() {
    let pool = pool().await;
    for value in [
        "infinity",
        "-infinity",
        "294276-12-31 23:59:59+00",
        "4713-01-01 00:00:00+00 BC",
    ] {
        let row = sqlx::query("SELECT $1::timestamptz")
            .bind(value)
            .fetch_one(&pool)
            .await
            .expect("select");
        let decoded = row.try_get::<Timestamp, _>(0);
        if value.contains("4713") {
            // Within chrono's range, so decoded like any other.
            assert!(decoded.is_ok(), "{value}: {decoded:?}");
        } else {
            assert!(decoded.is_err(), "{value}: {decoded:?}");
        }
    }
}

#[tokio::test]
async fn text_decodes_as_sqlx_decodes_it() {
    let pool = pool().await;
    let long = "ROS 2 ロボット 🤖 é ".repeat(700);
    let samples = [
        "",
        "a",
        "é",
        "ロボット",
        "🤖",
        "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        "plain ASCII text longer than one 64-byte block of the SIMD check, and then some more",
        long.as_str(),
    ];
    for sample in samples {
        // Every offset of a multi-byte character across the checker's blocks.
        for cut in 0..=3 {
            let text = format!("{}{sample}", "x".repeat(cut));
            let (ours, sqlx): (Text, String) = sqlx::query_as("SELECT $1::text, $1::text")
                .bind(&text)
                .fetch_one(&pool)
                .await
                .expect("select");
            assert_eq!(ours.0, sqlx);
            assert_eq!(ours.0, text);
        }
    }
}
