//! The use cases that take more than one store call: starting a conversation and answering a
//! turn of `/agents/run`. Routes parse and frame; these decide what is stored and when.

mod conversation;
mod turn;

pub use conversation::{conversation_for_key, start_conversation};
pub use turn::{Answer, Opening, Question, Reply, TurnEvent, answer};
