//! Decoders for the columns a history page decodes on every one of its rows. sqlx's own were a
//! tenth of a page read's instructions: `String` checks UTF-8 a word at a time, and a
//! `timestamptz` became a `DateTime` by adding a `Duration` to a date built for PostgreSQL's
//! epoch on every call (and panicked past chrono's range). These give the same values.

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// A `text` column, its UTF-8 checked with SIMD (`simdutf8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Type<Postgres> for Text {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Text {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // `text` is the same bytes in the binary format as in the text one.
        let text = simdutf8::basic::from_utf8(value.as_bytes()?)
            .map_err(|_| "a text value that is not UTF-8")?;
        Ok(Self(text.to_owned()))
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A `timestamptz` column: microseconds since PostgreSQL's epoch in the binary format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Text {
            return Ok(Self(<DateTime<Utc> as Decode<Postgres>>::decode(value)?));
        }
        let micros = <i64 as Decode<Postgres>>::decode(value)?;
        micros
            .checked_add(POSTGRES_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Self)
            .ok_or_else(|| "a timestamp outside the range the API handles (or infinity)".into())
    }
}
