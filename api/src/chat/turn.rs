//! One turn of `/agents/run`: the question is stored, passages retrieved, the answer composed
//! by the model (or extracted from the passages when none is configured) and stored with its
//! sources, or the failure stored as such.
//!
//! The answer is produced in a task of its own, so a client that goes away does not lose it: a
//! whole answer is stored whole, and a stream the client cut is stored as far as it got, marked
//! `incomplete`. A model failure is stored as a `failed` message and answered 502/504.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::conversation::with_user_row;
use super::idempotency::{Held, Idempotency, Replay, held};
use super::{conversation_for_key, start_conversation, stored};
use crate::auth::AuthUser;
use crate::context::ApiContext;
use crate::domain::{
    ConversationId, IdempotencyKey, MessageContent, MessageStatus, Role, SessionRef, Sources,
    Title, UserId,
};
use crate::error::ApiError;
use crate::rag::llm::DeltaStream;
use crate::rag::{AgentType, ChatMessage, Hints, LlmError, Source, extractive, prompt};
use crate::store;
use crate::store::idempotency::KeyRecord;
use crate::store::messages::{Appended, MessageRow, NewMessage, Slots};

/// Chunks of the current page given to the summarizer.
const SUMMARY_PAGE_CHUNKS: i64 = 12;

/// A question whose every field is checked: nothing past this point is a 4xx for bad input.
pub struct Question {
    pub query: MessageContent,
    /// None: a conversation is created, titled from the query (so is one for a new client key).
    pub session: Option<SessionRef>,
    pub agent: AgentType,
    pub current_page: Option<String>,
    pub highlighted_text: Option<String>,
}

/// What is known once the question is stored, before the answer (the `sources` event).
#[derive(Debug, Clone, Serialize)]
pub struct Opening {
    pub session_id: ConversationId,
    pub user_message_id: Uuid,
    pub agent_used: String,
    pub sources: Vec<Source>,
}

/// The stored answer (the JSON reply, and the payload of the `done` event).
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub message: String,
    pub sources: Vec<Source>,
    pub agent_used: String,
    pub session_id: ConversationId,
    pub message_id: Uuid,
    pub timestamp: DateTime<Utc>,
}

/// What `/agents/run` answers: a new turn, or the first response to a retried key.
pub enum Answered {
    New(Opening, Answer),
    Replayed(Replay),
}

pub enum Answer {
    /// Stored whole already (extractive, or a model answer asked for whole).
    Stored(Reply),
    /// The model's answer as it streams. Dropping the receiver means the reader left: the
    /// answer is then stored as far as it got.
    Streaming(mpsc::Receiver<TurnEvent>),
}

/// What a streamed answer reports; it ends with `Done` or `Failed`.
pub enum TurnEvent {
    Delta(String),
    Done(Reply),
    /// `message_id` is the stored failed answer, when it could be stored.
    Failed {
        error: ApiError,
        message_id: Option<Uuid>,
    },
}

/// Answers `question` for `user`; `stream` asks for the model's answer as it is written. With
/// `idem`, a retry of a key gets the first response, and the model is not asked again.
#[tracing::instrument(name = "Answering a question", skip_all)]
pub async fn answer(
    ctx: &ApiContext,
    user: &AuthUser,
    question: Question,
    stream: bool,
    idem: Option<Idempotency>,
) -> Result<Answered, ApiError> {
    ctx.rag
        .limiter
        .check(&user.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let query = question.query.as_ref();
    let hints = Hints {
        highlighted_text: question.highlighted_text.as_deref(),
        current_page: question.current_page.as_deref(),
    };
    // The question is stored before the model is called: it survives any failure below.
    // Retrieval needs nothing from that write, so both go at once.
    let (stored, retrieved) = tokio::join!(
        store_question(ctx, user, &question, idem.as_ref()),
        ctx.rag.retriever.retrieve(query, hints)
    );
    let (conversation, question_id) = match stored? {
        Stored::Question { conversation, id } => (conversation, id),
        Stored::Replay(replay) => return Ok(Answered::Replayed(replay)),
    };
    let passages = retrieved?;
    let summary_text = summary_text(ctx, &question).await?;
    let agent = question.agent.resolve(query, summary_text.is_some());
    let turn = Arc::new(Turn {
        ctx: ctx.clone(),
        owner: user.id.clone(),
        conversation,
        question: question_id,
        idem: idem.map(|i| i.key),
        sources: passages.iter().map(|p| p.source.clone()).collect(),
        agent_used: if ctx.rag.llm.is_some() {
            agent.as_str().to_owned()
        } else {
            "extractive".to_owned()
        },
    });
    let opening = turn.opening();

    let Some(llm) = &ctx.rag.llm else {
        let text = match (agent, &summary_text) {
            (AgentType::Summarizer, Some(text)) => extractive::summary(text),
            _ => extractive::answer(query, &passages),
        };
        let reply = turn.store_complete(&text).await?;
        return Ok(Answered::New(opening, Answer::Stored(reply)));
    };

    let history = turn.history().await?;
    let messages = match (agent, &summary_text) {
        (AgentType::Summarizer, Some(text)) => prompt::summary(&history, query, text),
        _ => prompt::rag(&history, query, &passages),
    };
    if stream {
        return match llm.stream(&messages).await {
            Ok(deltas) => Ok(Answered::New(
                opening,
                Answer::Streaming(relay(turn, deltas)),
            )),
            Err(e) => Err(turn.fail(e, "").await.0),
        };
    }
    // In a task: a client that hangs up does not cancel the answer or its storing.
    let reply = tokio::spawn(async move {
        let Some(llm) = &turn.ctx.rag.llm else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "BUG: model client vanished"
            )));
        };
        match llm.complete(&messages).await {
            Ok(text) if !text.trim().is_empty() => turn.store_complete(&text).await,
            Ok(_) => Err(turn
                .fail(LlmError::Malformed("an empty answer".into()), "")
                .await
                .0),
            Err(e) => Err(turn.fail(e, "").await.0),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("answer task failed: {e}")))??;
    Ok(Answered::New(opening, Answer::Stored(reply)))
}

/// Where the question of a turn is, once stored; or the first response to a retried key.
enum Stored {
    Question {
        conversation: ConversationId,
        id: Uuid,
    },
    Replay(Replay),
}

/// What the claim of a key found.
enum Claimed {
    Question {
        conversation: ConversationId,
        id: Uuid,
    },
    Refused(Appended),
    Held(Option<KeyRecord>),
}

/// Stores the question, in its conversation (created for a new client key, or for none). The
/// question reserves a slot for its answer under the conversation's message cap, so a full
/// conversation is refused here, before the model is asked.
async fn store_question(
    ctx: &ApiContext,
    user: &AuthUser,
    question: &Question,
    idem: Option<&Idempotency>,
) -> Result<Stored, ApiError> {
    let max = ctx.limits.max_messages_per_conversation;
    let slots = Slots { take: 2, max };
    let title = || Title::from_query(question.query.as_ref(), ctx.limits.max_title_chars);
    let Some(idem) = idem else {
        let conversation = match &question.session {
            Some(SessionRef::Conversation(id)) => *id,
            Some(SessionRef::ClientKey(key)) => {
                conversation_for_key(ctx, user, key, &title()).await?.id
            }
            None => start_conversation(ctx, user, &title()).await?.id,
        };
        let mut conn = ctx.db.acquire().await?;
        let appended = store::messages::append(
            &mut conn,
            &user.id,
            conversation,
            question_message(question),
            slots,
        )
        .await?;
        conn.done();
        let id = stored(appended, max)?.id;
        return Ok(Stored::Question { conversation, id });
    };
    // The key's record, the conversation (when this creates one) and the question are written
    // in one transaction: a retry finds all of them or none.
    let claimed = with_user_row(ctx, user, || async {
        let mut conn = ctx.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let limits = &ctx.limits;
        if !store::idempotency::claim(
            &mut tx,
            &user.id,
            &idem.key,
            &idem.fingerprint,
            limits.idempotency_ttl,
        )
        .await?
        {
            let record = store::idempotency::find(
                &mut tx,
                &user.id,
                &idem.key,
                limits.idempotency_in_flight,
            )
            .await?;
            return Ok(Claimed::Held(record));
        }
        let conversation = match &question.session {
            Some(SessionRef::Conversation(id)) => *id,
            Some(SessionRef::ClientKey(key)) => {
                store::conversations::for_client_key(&mut tx, &user.id, key, &title())
                    .await?
                    .id
            }
            None => {
                store::conversations::create(&mut *tx, &user.id, &title())
                    .await?
                    .id
            }
        };
        let appended = store::messages::append(
            &mut tx,
            &user.id,
            conversation,
            question_message(question),
            slots,
        )
        .await?;
        let Appended::Stored(row) = appended else {
            return Ok(Claimed::Refused(appended));
        };
        store::idempotency::note_progress(&mut tx, &user.id, &idem.key, conversation, row.id)
            .await?;
        tx.commit().await?;
        conn.done();
        Ok(Claimed::Question {
            conversation,
            id: row.id,
        })
    })
    .await?;
    match claimed {
        Claimed::Question { conversation, id } => Ok(Stored::Question { conversation, id }),
        Claimed::Refused(appended) => Err(stored(appended, max)
            .err()
            .unwrap_or(ApiError::NotFound("conversation"))),
        Claimed::Held(record) => Ok(match held(ctx, user, idem, record).await? {
            Held::Replay(replay) => Stored::Replay(replay),
            Held::Resume {
                conversation,
                question,
            } => Stored::Question {
                conversation,
                id: question,
            },
        }),
    }
}

fn question_message(question: &Question) -> NewMessage {
    NewMessage {
        role: Role::User,
        content: question.query.clone(),
        sources: Sources::empty(),
        agent_type: Some(question.agent.as_str().to_owned()),
        status: MessageStatus::Complete,
    }
}

/// What the summarizer summarises: the highlighted text, else the current page, else nothing.
async fn summary_text(ctx: &ApiContext, question: &Question) -> Result<Option<String>, ApiError> {
    if let Some(text) = &question.highlighted_text {
        return Ok(Some(text.clone()));
    }
    if matches!(question.agent, AgentType::Rag) {
        return Ok(None);
    }
    let Some(page) = &question.current_page else {
        return Ok(None);
    };
    let slug = ctx.rag.retriever.slug_of(page);
    let chunks = ctx
        .rag
        .retriever
        .page_text(&slug, SUMMARY_PAGE_CHUNKS)
        .await?;
    Ok(Some(chunks.join("\n\n")).filter(|t| !t.trim().is_empty()))
}

/// Forwards the model's deltas as they come; stores the answer when the stream ends, or as
/// far as it got when the reader leaves (`incomplete`) or the model fails (`failed`).
fn relay(turn: Arc<Turn>, mut deltas: DeltaStream) -> mpsc::Receiver<TurnEvent> {
    let (tx, rx) = mpsc::channel::<TurnEvent>(64);
    tokio::spawn(async move {
        let mut text = String::new();
        loop {
            let next = tokio::select! {
                _ = tx.closed() => None,
                next = deltas.next() => Some(next),
            };
            let last = match next {
                None => {
                    tracing::info!(
                        chars = text.len(),
                        "client left mid-stream; storing the partial answer"
                    );
                    let partial = if text.trim().is_empty() {
                        "_No answer: the reader left before the model answered._".to_owned()
                    } else {
                        text
                    };
                    if let Err(e) = turn.store(&partial, MessageStatus::Incomplete, None).await {
                        tracing::error!(error = %e, "cannot store the incomplete answer");
                    }
                    return;
                }
                Some(Ok(Some(piece))) => {
                    text.push_str(&piece);
                    // A failed send means the client left; `closed()` reports it next turn.
                    let _ = tx.send(TurnEvent::Delta(piece)).await;
                    continue;
                }
                Some(Ok(None)) if !text.trim().is_empty() => match turn.store_complete(&text).await
                {
                    Ok(reply) => TurnEvent::Done(reply),
                    Err(error) => {
                        tracing::error!(error = %error, "cannot store the answer");
                        TurnEvent::Failed {
                            error,
                            message_id: None,
                        }
                    }
                },
                Some(Ok(None)) => {
                    let (error, message_id) = turn
                        .fail(LlmError::Malformed("an empty answer".into()), "")
                        .await;
                    TurnEvent::Failed { error, message_id }
                }
                Some(Err(e)) => {
                    let (error, message_id) = turn.fail(e, &text).await;
                    TurnEvent::Failed { error, message_id }
                }
            };
            let _ = tx.send(last).await;
            return;
        }
    });
    rx
}

/// One answer being produced: where it is stored and what it cites.
struct Turn {
    ctx: ApiContext,
    owner: UserId,
    conversation: ConversationId,
    question: Uuid,
    /// The request's `Idempotency-Key`: the answer's transaction records the response for it.
    idem: Option<IdempotencyKey>,
    sources: Vec<Source>,
    agent_used: String,
}

impl Turn {
    async fn history(&self) -> Result<Vec<ChatMessage>, sqlx::Error> {
        if self.ctx.rag.history_messages == 0 {
            return Ok(Vec::new());
        }
        let rows = store::messages::recent_turns(
            &self.ctx.db,
            &self.owner,
            self.conversation,
            self.question,
            i64::from(self.ctx.rag.history_messages),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|(role, content)| match role {
                Role::Assistant => ChatMessage::assistant(content),
                Role::User => ChatMessage::user(content),
            })
            .collect())
    }

    /// Stores the assistant's message; `None` when the conversation was deleted meanwhile. It
    /// fills the slot its question reserved under the message cap. With a key, the response
    /// (the reply, or `failure`'s problem) is recorded in the same transaction.
    async fn store(
        &self,
        text: &str,
        status: MessageStatus,
        failure: Option<&ApiError>,
    ) -> Result<Option<MessageRow>, sqlx::Error> {
        let max = self.ctx.limits.max_message_chars;
        // A model may write more than a message may hold; the stored answer is cut, not lost.
        let text: String = if text.chars().count() > max {
            text.chars().take(max).collect()
        } else {
            text.to_owned()
        };
        let content = MessageContent::parse(text.replace('\0', ""), max)
            .or_else(|_| MessageContent::parse("(no answer)".into(), max))
            .map_err(|e| sqlx::Error::Protocol(format!("BUG: placeholder content refused: {e}")))?;
        let sources = serde_json::to_value(&self.sources)
            .ok()
            .and_then(|v| Sources::parse(Some(v)).ok())
            .unwrap_or_else(Sources::empty);
        let message = NewMessage {
            role: Role::Assistant,
            content,
            sources,
            agent_type: Some(self.agent_used.clone()),
            status,
        };
        let slots = Slots {
            take: 0,
            max: self.ctx.limits.max_messages_per_conversation,
        };
        let appended = match &self.idem {
            None => {
                let mut conn = self.ctx.db.acquire().await?;
                let appended = store::messages::append(
                    &mut conn,
                    &self.owner,
                    self.conversation,
                    message,
                    slots,
                )
                .await?;
                conn.done();
                appended
            }
            Some(key) => {
                let mut conn = self.ctx.db.acquire().await?;
                let mut tx = conn.begin().await?;
                let appended = store::messages::append(
                    &mut tx,
                    &self.owner,
                    self.conversation,
                    message,
                    slots,
                )
                .await?;
                if let Appended::Stored(row) = &appended {
                    let (code, body) = match failure {
                        Some(e) => {
                            let (code, body) = e.problem_body();
                            (code.as_u16(), body)
                        }
                        None => (
                            200,
                            serde_json::to_string(&self.reply(row))
                                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
                        ),
                    };
                    store::idempotency::complete(
                        &mut tx,
                        &self.owner,
                        key,
                        self.conversation,
                        code,
                        &body,
                    )
                    .await?;
                }
                tx.commit().await?;
                conn.done();
                appended
            }
        };
        self.ctx.metrics.answer(&self.agent_used, status.as_str());
        Ok(match appended {
            Appended::Stored(row) => Some(row),
            Appended::NotFound | Appended::Full => None,
        })
    }

    /// Stores a whole answer and makes the reply of it.
    async fn store_complete(&self, text: &str) -> Result<Reply, ApiError> {
        let row = self
            .store(text, MessageStatus::Complete, None)
            .await?
            .ok_or(ApiError::NotFound("conversation"))?;
        Ok(self.reply(&row))
    }

    /// Stores a model failure as a `failed` message (keeping any partial text) and returns
    /// the problem for the client.
    async fn fail(&self, error: LlmError, partial: &str) -> (ApiError, Option<Uuid>) {
        tracing::warn!(error = %error, "the model failed");
        let note = if error.is_timeout() {
            "_No answer: the language model did not answer in time._"
        } else {
            "_No answer: the language model failed to answer._"
        };
        let text = if partial.trim().is_empty() {
            note.to_owned()
        } else {
            format!("{partial}\n\n{note}")
        };
        let problem = if error.is_timeout() {
            ApiError::ModelTimeout
        } else {
            ApiError::ModelFailed(error.to_string())
        };
        let stored = match self
            .store(&text, MessageStatus::Failed, Some(&problem))
            .await
        {
            Ok(row) => row.map(|r| r.id),
            Err(e) => {
                tracing::error!(error = %e, "cannot store the failed answer");
                None
            }
        };
        (problem, stored)
    }

    fn opening(&self) -> Opening {
        Opening {
            session_id: self.conversation,
            user_message_id: self.question,
            agent_used: self.agent_used.clone(),
            sources: self.sources.clone(),
        }
    }

    fn reply(&self, row: &MessageRow) -> Reply {
        Reply {
            message: row.content.clone(),
            sources: self.sources.clone(),
            agent_used: self.agent_used.clone(),
            session_id: self.conversation,
            message_id: row.id,
            timestamp: row.created_at,
        }
    }
}
