//! Values checked once at the boundary; nothing past it checks them again.

mod conversation_id;
mod cursor;
mod idempotency_key;
mod message_content;
mod message_status;
mod page_size;
mod profile;
mod role;
mod session_ref;
mod sources;
mod title;
mod user_id;

pub use conversation_id::ConversationId;
pub use cursor::Cursor;
pub use idempotency_key::{IdempotencyKey, MAX_IDEMPOTENCY_KEY_CHARS};
pub use message_content::MessageContent;
pub use message_status::MessageStatus;
pub use page_size::PageSize;
pub use profile::Profile;
pub use role::Role;
pub use session_ref::SessionRef;
pub use sources::Sources;
pub use title::Title;
pub use user_id::UserId;

/// Postgres `text` and `jsonb` cannot hold NUL, so it is refused up front instead of as a 500.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Lets an enum stored as a `text` column (with a `CHECK` listing its values) be read straight
/// from a row through its `parse`; a value outside the enum is a decode error, not a panic.
macro_rules! text_column {
    ($t:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $t {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $t {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(Self::parse(raw)?)
            }
        }
    };
}
use text_column;
