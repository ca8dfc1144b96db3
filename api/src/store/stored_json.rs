//! A `jsonb` column's value as text, passed through without parsing. PostgreSQL writes `jsonb`
//! out as valid JSON, so parsing it again only to splice it into a reply (what decoding into
//! `serde_json::value::RawValue` does) is wasted: on a page of messages with sources it was
//! ~6% of a read's instructions.

use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// The version byte that starts a `jsonb` value in the binary protocol (`jsonb_send`).
const JSONB_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJson(Box<str>);

impl StoredJson {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Type<Postgres> for StoredJson {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }
}

impl<'r> Decode<'r, Postgres> for StoredJson {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = match value.format() {
            PgValueFormat::Binary => match value.as_bytes()?.split_first() {
                Some((&JSONB_VERSION, text)) => simdutf8::basic::from_utf8(text)
                    .map_err(|_| "a jsonb value that is not UTF-8")?,
                Some((version, _)) => return Err(format!("unknown jsonb version {version}").into()),
                None => return Err("an empty jsonb value".into()),
            },
            PgValueFormat::Text => value.as_str()?,
        };
        Ok(Self(text.into()))
    }
}

/// Written as the JSON it holds (for `serde_json::to_vec` of a row, which the direct encoder in
/// `routes::message_json` is tested against).
impl Serialize for StoredJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.0.to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

#[cfg(test)]
impl StoredJson {
    /// A value as PostgreSQL would send it, for tests that build rows by hand.
    pub fn from_valid(json: &str) -> Self {
        assert!(serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok());
        Self(json.into())
    }
}
