//! `POST /agents/run`: parses the question, hands it to [`crate::chat::answer`], and frames
//! what comes back as JSON or as server-sent events (`sources`, `delta`…, `done` | `error`).

use std::convert::Infallible;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warp::Filter;
use warp::reply::Response;
use warp::sse::Event;

use super::table::{self, Operation, at};
use super::{body, idempotency, respond};
use crate::auth::{AuthUser, with_auth};
use crate::chat::{self, Answer, Answered, Idempotency, Opening, Question, Replay, TurnEvent};
use crate::context::ApiContext;
use crate::domain::{IdempotencyKey, MessageContent, SessionRef};
use crate::error::ApiError;
use crate::rag::AgentType;

/// Longest `current_page` accepted (a URL or a path).
const MAX_PAGE_CHARS: usize = 2_048;

/// Serialized (canonically) for the fingerprint of an idempotent run.
#[derive(Debug, Deserialize, Serialize)]
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

impl RunRequest {
    fn parse(self, ctx: &ApiContext) -> Result<Question, ApiError> {
        let max_query = ctx.rag.max_query_chars.min(ctx.limits.max_message_chars);
        let query = MessageContent::parse(self.query, max_query)
            .map_err(|e| ApiError::invalid("query", e))?;
        let session = self
            .session_id
            .map(|s| SessionRef::parse(&s))
            .transpose()
            .map_err(|e| ApiError::invalid("session_id", e))?;
        let agent = AgentType::parse(self.agent_type.as_deref())
            .map_err(|e| ApiError::invalid("agent_type", e))?;
        let current_page = match self.current_page.map(|p| p.trim().to_owned()) {
            Some(p) if p.chars().count() > MAX_PAGE_CHARS || p.chars().any(char::is_control) => {
                return Err(ApiError::invalid(
                    "current_page",
                    format!("must be a URL or path of at most {MAX_PAGE_CHARS} characters"),
                ));
            }
            Some(p) if p.is_empty() => None,
            other => other,
        };
        let highlighted_text = match self.highlighted_text {
            Some(t) if t.trim().is_empty() => None,
            Some(t) => Some(
                MessageContent::parse(t, ctx.limits.max_message_chars)
                    .map_err(|e| ApiError::invalid("highlighted_text", e))?
                    .as_ref()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Question {
            query,
            session,
            agent,
            current_page,
            highlighted_text,
        })
    }
}

pub fn routes(
    ctx: ApiContext,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let limits = ctx.limits;
    let auth = with_auth(ctx.auth.clone());
    let with_ctx = warp::any().map(move || ctx.clone());
    at(Operation::RunAgent)
        .and(auth)
        .and(warp::header::optional::<String>("accept"))
        .and(idempotency::key())
        .and(body::json::<RunRequest>(limits))
        .and(with_ctx)
        // Boxed: a turn's future is the largest of any route's, and the route tree's future,
        // which every request moves, would be as large (see `store::Db::acquire`).
        .then(|user, accept, key, body, ctx| async move {
            respond(Box::pin(run(user, accept, key, body, ctx)).await)
        })
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
    key: Option<IdempotencyKey>,
    body: RunRequest,
    ctx: ApiContext,
) -> Result<Response, ApiError> {
    // The body as sent, before parsing trims it: a retry must send the same one.
    let idem = key.map(|key| {
        Idempotency::new(
            key,
            "POST",
            table::template(Operation::RunAgent),
            None,
            &body,
        )
    });
    let question = body.parse(&ctx)?;
    let stream = wants_stream(accept.as_deref());
    let (opening, answer) = match chat::answer(&ctx, &user, question, stream, idem).await? {
        Answered::New(opening, answer) => (opening, answer),
        Answered::Replayed(replay) => return Ok(replayed(replay, stream)),
    };
    Ok(match answer {
        Answer::Stored(reply) if stream => sse_whole(&opening, &reply.message, &reply),
        Answer::Stored(reply) => warp::Reply::into_response(warp::reply::json(&reply)),
        Answer::Streaming(events) => sse_live(&opening, events),
    })
}

/// The first answer to a key, again: as JSON, or (a stored answer asked for as a stream) as the
/// events a stream of it would send. A stored failure is its problem document either way.
fn replayed(replay: Replay, stream: bool) -> Response {
    let reply = (replay.status == 200 && stream)
        .then(|| serde_json::from_str::<Value>(&replay.body).ok())
        .flatten();
    let Some(reply) = reply else {
        return idempotency::replayed(replay);
    };
    let opening = json!({
        "session_id": reply["session_id"],
        "user_message_id": replay.question_id,
        "agent_used": reply["agent_used"],
        "sources": reply["sources"],
    });
    let message = reply["message"].as_str().unwrap_or_default().to_owned();
    idempotency::mark(sse_whole(&opening, &message, &reply))
}

fn event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

fn sse_event(e: TurnEvent) -> Event {
    match e {
        TurnEvent::Delta(text) => event("delta", &json!({ "text": text })),
        TurnEvent::Done(reply) => event("done", &reply),
        TurnEvent::Failed { error, message_id } => event(
            "error",
            &json!({
                "status": error.status().as_u16(),
                "detail": match error {
                    ApiError::ModelTimeout => "the language model did not answer in time",
                    ApiError::ModelFailed(_) => "the language model failed to answer",
                    ApiError::NotFound(_) => "the conversation was deleted while the answer was written",
                    _ => "the answer could not be stored",
                },
                "message_id": message_id,
            }),
        ),
    }
}

fn sse_reply(events: impl futures::Stream<Item = Event> + Send + Sync + 'static) -> Response {
    let stream = events.map(Ok::<_, Infallible>);
    warp::Reply::into_response(warp::sse::reply(warp::sse::keep_alive().stream(stream)))
}

/// An answer already stored (extractive, or replayed) sent as events: the same shape as a live
/// stream.
fn sse_whole(opening: &impl Serialize, message: &str, reply: &impl Serialize) -> Response {
    let mut events = vec![event("sources", opening)];
    for piece in message.split_inclusive("\n\n") {
        events.push(event("delta", &json!({ "text": piece })));
    }
    events.push(event("done", reply));
    sse_reply(futures::stream::iter(events))
}

/// The model's answer as it is written; dropping the stream (the reader left) drops `events`,
/// which tells the turn to store what it has.
fn sse_live(opening: &Opening, events: mpsc::Receiver<TurnEvent>) -> Response {
    let live = futures::stream::unfold(events, |mut rx| async move {
        rx.recv().await.map(|e| (sse_event(e), rx))
    });
    sse_reply(futures::stream::once(std::future::ready(event("sources", opening))).chain(live))
}
