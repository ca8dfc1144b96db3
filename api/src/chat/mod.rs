//! The use cases that take more than one store call: starting a conversation and answering a
//! turn of `/agents/run`. Routes parse and frame; these decide what is stored and when.

mod conversation;
mod idempotency;
mod turn;

pub use conversation::{conversation_for_key, start_conversation};
pub use idempotency::{Idempotency, Once, Replay, append_once};
pub use turn::{Answer, Answered, Opening, Question, Reply, TurnEvent, answer};

use crate::error::ApiError;
use crate::store::messages::{Appended, MessageRow};

/// An append's outcome as the client sees it: the row, a 404, or a 409 for a conversation at
/// its message cap (`max`).
pub fn stored(appended: Appended, max: i32) -> Result<MessageRow, ApiError> {
    match appended {
        Appended::Stored(row) => Ok(row),
        Appended::NotFound => Err(ApiError::NotFound("conversation")),
        Appended::Full => Err(ApiError::ConversationFull { max }),
    }
}
