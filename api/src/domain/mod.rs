//! Values checked once at the boundary; nothing past it checks them again.

mod cursor;
mod message_content;
mod page_size;
mod role;
mod sources;
mod title;
mod user_id;

pub use cursor::Cursor;
pub use message_content::MessageContent;
pub use page_size::PageSize;
pub use role::Role;
pub use sources::Sources;
pub use title::Title;
pub use user_id::UserId;

/// Postgres `text` and `jsonb` cannot hold NUL, so it is refused up front instead of as a 500.
fn has_nul(s: &str) -> bool {
    s.contains('\0')
}
