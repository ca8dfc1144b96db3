//! `POST /agents/run`: the question is stored, passages retrieved, the answer composed by the
//! model (or extracted from the passages when none is configured), stored with its sources, and
//! returned as JSON or streamed as server-sent events (`sources`, `delta`…, `done` | `error`).
//!
//! The answer is produced in a task of its own, so a client that goes away does not lose it: a
//! whole answer is stored whole, and a stream the client cut is stored as far as it got,
//! marked `incomplete`. A model failure is stored as a `failed` message and answered 502/504.

use std::convert::Infallible;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;
use warp::Filter;
use warp::reply::Response;
use warp::sse::Event;

use super::{body, respond};
use crate::auth::{AuthUser, with_auth};
use crate::context::ApiContext;
use crate::domain::{MessageContent, Role, Sources, Title, UserId};
use crate::error::{ApiError, db};
use crate::rag::{AgentType, ChatMessage, Hints, LlmError, Source, extractive, prompt};
use crate::store;
use crate::store::messages::{MessageRow, MessageStatus, NewMessage};

/// Longest `current_page` accepted (a URL or a path).
const MAX_PAGE_CHARS: usize = 2_048;
/// Chunks of the current page given to the summarizer.
const SUMMARY_PAGE_CHUNKS: i64 = 12;

#[derive(Debug, Deserialize)]
struct RunRequest {
    query: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    agent_type: Option<String>,
    #[serde(default)]
    current_page: Option<String>,
    #[serde(default)]
    highlighted_text: Option<String>,
}

/// The request once every field is checked: nothing past this point can be a 4xx for bad input.
struct Run {
    query: MessageContent,
    session_id: Option<Uuid>,
    agent: AgentType,
    current_page: Option<String>,
    highlighted_text: Option<String>,
}

impl Run {
    fn parse(req: RunRequest, ctx: &ApiContext) -> Result<Self, ApiError> {
        let max_query = ctx.rag.max_query_chars.min(ctx.limits.max_message_chars);
        let query = MessageContent::parse(req.query, max_query)
            .map_err(|e| ApiError::invalid("query", e))?;
        let session_id = req
            .session_id
            .map(|s| Uuid::parse_str(s.trim()))
            .transpose()
            .map_err(|_| ApiError::invalid("session_id", "must be a conversation id (a UUID)"))?;
        let agent = AgentType::parse(req.agent_type.as_deref())
            .map_err(|e| ApiError::invalid("agent_type", e))?;
        let current_page = match req.current_page.map(|p| p.trim().to_owned()) {
            Some(p) if p.chars().count() > MAX_PAGE_CHARS || p.chars().any(char::is_control) => {
                return Err(ApiError::invalid(
                    "current_page",
                    format!("must be a URL or path of at most {MAX_PAGE_CHARS} characters"),
                ));
            }
            Some(p) if p.is_empty() => None,
            other => other,
        };
        let highlighted_text = match req.highlighted_text {
            Some(t) if t.trim().is_empty() => None,
            Some(t) => Some(
                MessageContent::parse(t, ctx.limits.max_message_chars)
                    .map_err(|e| ApiError::invalid("highlighted_text", e))?
                    .as_ref()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Self {
            query,
            session_id,
            agent,
            current_page,
            highlighted_text,
        })
    }
}

/// The reply (and the payload of the `done` event).
#[derive(Debug, Clone, Serialize)]
struct RunResponse {
    message: String,
    sources: Vec<Source>,
    agent_used: String,
    session_id: Uuid,
    message_id: Uuid,
    timestamp: DateTime<Utc>,
}

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let limit = ctx.limits.max_body_bytes;
    let auth = with_auth(ctx.auth.clone());
    let with_ctx = warp::any().map(move || ctx.clone());
    warp::path!("agents" / "run")
        .and(warp::post())
        .and(auth)
        .and(warp::header::optional::<String>("accept"))
        .and(body::json::<RunRequest>(limit))
        .and(with_ctx)
        .then(|user, accept, body, ctx| async move { respond(run(user, accept, body, ctx).await) })
}

fn wants_stream(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .any(|t| t.trim().starts_with("text/event-stream"))
    })
}

#[tracing::instrument(name = "Running an agent", skip_all)]
async fn run(
    user: AuthUser,
    accept: Option<String>,
    body: RunRequest,
    ctx: ApiContext,
) -> Result<Response, ApiError> {
    let run = Run::parse(body, &ctx)?;
    ctx.rag
        .limiter
        .check(&user.id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let conversation = match run.session_id {
        Some(id) => id,
        None => {
            let title = Title::from_query(run.query.as_ref(), ctx.limits.max_title_chars);
            super::conversations::create_for(&ctx, &user, &title)
                .await?
                .id
        }
    };
    let query = run.query.as_ref();
    let hints = Hints {
        highlighted_text: run.highlighted_text.as_deref(),
        current_page: run.current_page.as_deref(),
    };
    // The question is stored before the model is called: it survives any failure below.
    // Retrieval needs nothing from that write, so both go at once.
    let (stored, retrieved) = tokio::join!(
        store::messages::append(
            &ctx.db,
            &user.id,
            conversation,
            NewMessage {
                role: Role::User,
                content: run.query.clone(),
                sources: Sources::empty(),
                agent_type: Some(run.agent.as_str().to_owned()),
                status: MessageStatus::Complete,
            },
        ),
        ctx.rag.retriever.retrieve(query, hints)
    );
    let question = stored
        .map_err(db)?
        .ok_or(ApiError::NotFound("conversation"))?;
    let passages = retrieved.map_err(db)?;
    let summary_text = summary_text(&ctx, &run).await?;
    let agent = run.agent.resolve(query, summary_text.is_some());
    let turn = Arc::new(Turn {
        ctx: ctx.clone(),
        owner: user.id.clone(),
        conversation,
        question: question.id,
        sources: passages.iter().map(|p| p.source.clone()).collect(),
        agent_used: if ctx.rag.llm.is_some() {
            agent.as_str().to_owned()
        } else {
            "extractive".to_owned()
        },
    });
    let stream = wants_stream(accept.as_deref());

    let Some(llm) = &ctx.rag.llm else {
        let answer = match (agent, &summary_text) {
            (AgentType::Summarizer, Some(text)) => extractive::summary(text),
            _ => extractive::answer(query, &passages),
        };
        let row = turn
            .store(&answer, MessageStatus::Complete)
            .await
            .map_err(db)?
            .ok_or(ApiError::NotFound("conversation"))?;
        let reply = turn.response(&row);
        return Ok(if stream {
            sse_whole(&turn, reply)
        } else {
            warp::Reply::into_response(warp::reply::json(&reply))
        });
    };

    let history = turn.history().await.map_err(db)?;
    let messages = match (agent, &summary_text) {
        (AgentType::Summarizer, Some(text)) => prompt::summary(&history, query, text),
        _ => prompt::rag(&history, query, &passages),
    };
    if stream {
        match llm.stream(&messages).await {
            Ok(deltas) => Ok(sse_live(turn, deltas)),
            Err(e) => Err(turn.fail(e, "").await.0),
        }
    } else {
        // In a task: a client that hangs up does not cancel the answer or its storing.
        let task_turn = turn.clone();
        let answered = tokio::spawn(async move {
            let Some(llm) = &task_turn.ctx.rag.llm else {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "BUG: model client vanished"
                )));
            };
            match llm.complete(&messages).await {
                Ok(text) if !text.trim().is_empty() => {
                    let row = task_turn
                        .store(&text, MessageStatus::Complete)
                        .await
                        .map_err(db)?
                        .ok_or(ApiError::NotFound("conversation"))?;
                    Ok(task_turn.response(&row))
                }
                Ok(_) => Err(task_turn
                    .fail(LlmError::Malformed("an empty answer".into()), "")
                    .await
                    .0),
                Err(e) => Err(task_turn.fail(e, "").await.0),
            }
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("answer task failed: {e}")))??;
        Ok(warp::Reply::into_response(warp::reply::json(&answered)))
    }
}

/// What the summarizer summarises: the highlighted text, else the current page, else nothing.
async fn summary_text(ctx: &ApiContext, run: &Run) -> Result<Option<String>, ApiError> {
    if let Some(text) = &run.highlighted_text {
        return Ok(Some(text.clone()));
    }
    if matches!(run.agent, AgentType::Rag) {
        return Ok(None);
    }
    let Some(page) = &run.current_page else {
        return Ok(None);
    };
    let slug = ctx.rag.retriever.slug_of(page);
    let chunks = ctx
        .rag
        .retriever
        .page_text(&slug, SUMMARY_PAGE_CHUNKS)
        .await
        .map_err(db)?;
    Ok(Some(chunks.join("\n\n")).filter(|t| !t.trim().is_empty()))
}

/// One answer being produced: where it is stored and what it cites.
struct Turn {
    ctx: ApiContext,
    owner: UserId,
    conversation: Uuid,
    question: Uuid,
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
            .map(|(role, content)| match role.as_str() {
                "assistant" => ChatMessage::assistant(content),
                _ => ChatMessage::user(content),
            })
            .collect())
    }

    /// Stores the assistant's message; `None` when the conversation was deleted meanwhile.
    async fn store(
        &self,
        text: &str,
        status: MessageStatus,
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
        let row = store::messages::append(
            &self.ctx.db,
            &self.owner,
            self.conversation,
            NewMessage {
                role: Role::Assistant,
                content,
                sources,
                agent_type: Some(self.agent_used.clone()),
                status,
            },
        )
        .await?;
        self.ctx.metrics.answer(&self.agent_used, status.as_str());
        Ok(row)
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
        let stored = match self.store(&text, MessageStatus::Failed).await {
            Ok(row) => row.map(|r| r.id),
            Err(e) => {
                tracing::error!(error = %e, "cannot store the failed answer");
                None
            }
        };
        let problem = if error.is_timeout() {
            ApiError::ModelTimeout
        } else {
            ApiError::ModelFailed(error.to_string())
        };
        (problem, stored)
    }

    fn response(&self, row: &MessageRow) -> RunResponse {
        RunResponse {
            message: row.content.clone(),
            sources: self.sources.clone(),
            agent_used: self.agent_used.clone(),
            session_id: self.conversation,
            message_id: row.id,
            timestamp: row.created_at,
        }
    }

    fn sources_event(&self) -> Event {
        event(
            "sources",
            &json!({
                "session_id": self.conversation,
                "user_message_id": self.question,
                "agent_used": self.agent_used,
                "sources": self.sources,
            }),
        )
    }
}

fn event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

fn error_event(e: &ApiError, message_id: Option<Uuid>) -> Event {
    event(
        "error",
        &json!({
            "status": e.status().as_u16(),
            "detail": match e {
                ApiError::ModelTimeout => "the language model did not answer in time",
                ApiError::ModelFailed(_) => "the language model failed to answer",
                ApiError::NotFound(_) => "the conversation was deleted while the answer was written",
                _ => "the answer could not be stored",
            },
            "message_id": message_id,
        }),
    )
}

fn sse_reply(events: mpsc::Receiver<Event>) -> Response {
    let stream = futures::stream::unfold(events, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    warp::Reply::into_response(warp::sse::reply(warp::sse::keep_alive().stream(stream)))
}

/// An answer already stored (extractive) sent as events: the same shape as a live stream.
fn sse_whole(turn: &Turn, reply: RunResponse) -> Response {
    let mut events = vec![turn.sources_event()];
    for piece in reply.message.split_inclusive("\n\n") {
        events.push(event("delta", &json!({ "text": piece })));
    }
    events.push(event("done", &reply));
    let (tx, rx) = mpsc::channel(events.len());
    for e in events {
        // The channel was sized for every event.
        let _ = tx.try_send(e);
    }
    sse_reply(rx)
}

/// Forwards the model's deltas as they come; stores the answer when the stream ends, or as
/// far as it got when the client leaves (`incomplete`) or the model fails (`failed`).
fn sse_live(turn: Arc<Turn>, mut deltas: crate::rag::llm::DeltaStream) -> Response {
    let (tx, rx) = mpsc::channel::<Event>(64);
    let _ = tx.try_send(turn.sources_event());
    tokio::spawn(async move {
        let mut text = String::new();
        loop {
            let next = tokio::select! {
                _ = tx.closed() => None,
                next = deltas.next() => Some(next),
            };
            match next {
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
                    if let Err(e) = turn.store(&partial, MessageStatus::Incomplete).await {
                        tracing::error!(error = %e, "cannot store the incomplete answer");
                    }
                    return;
                }
                Some(Ok(Some(piece))) => {
                    text.push_str(&piece);
                    // A failed send means the client left; `closed()` reports it next turn.
                    let _ = tx.send(event("delta", &json!({ "text": piece }))).await;
                }
                Some(Ok(None)) if !text.trim().is_empty() => {
                    match turn.store(&text, MessageStatus::Complete).await {
                        Ok(Some(row)) => {
                            let _ = tx.send(event("done", &turn.response(&row))).await;
                        }
                        Ok(None) => {
                            let e = ApiError::NotFound("conversation");
                            let _ = tx.send(error_event(&e, None)).await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store the answer");
                            let e = ApiError::Internal(anyhow::anyhow!("store failed"));
                            let _ = tx.send(error_event(&e, None)).await;
                        }
                    }
                    return;
                }
                Some(Ok(None)) => {
                    let (e, id) = turn
                        .fail(LlmError::Malformed("an empty answer".into()), "")
                        .await;
                    let _ = tx.send(error_event(&e, id)).await;
                    return;
                }
                Some(Err(error)) => {
                    let (e, id) = turn.fail(error, &text).await;
                    let _ = tx.send(error_event(&e, id)).await;
                    return;
                }
            }
        }
    });
    sse_reply(rx)
}
