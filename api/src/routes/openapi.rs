//! `GET /openapi.json`: the OpenAPI 3.1 description of every route of the route table.

use serde_json::{Value, json};
use warp::Filter;
use warp::reply::Response;

use super::table::{self, Listener, Operation};
use crate::config::Limits;

/// Writes the limits this process enforces into the document (issue 13, item 12), so generated
/// clients and fuzzers send only what is accepted.
fn with_limits(doc: &mut Value, limits: &Limits) {
    let body = "/requestBody/content/application~1json/schema/properties";
    let set = |doc: &mut Value, pointer: &str, extra: Value| {
        if let (Some(Value::Object(target)), Value::Object(extra)) =
            (doc.pointer_mut(pointer), extra)
        {
            target.extend(extra);
        }
    };
    let title = json!({"minLength": 1, "maxLength": limits.max_title_chars});
    set(
        doc,
        &format!("/paths/~1conversations/post{body}/title"),
        title.clone(),
    );
    set(
        doc,
        &format!("/paths/~1conversations~1{{id}}/patch{body}/title"),
        title,
    );
    set(
        doc,
        &format!("/paths/~1conversations~1{{id}}~1messages/post{body}/content"),
        json!({"minLength": 1, "maxLength": limits.max_message_chars}),
    );
    if let Some(Value::Array(params)) = doc.pointer_mut("/paths/~1search/get/parameters") {
        for p in params.iter_mut().filter(|p| p["name"] == "q") {
            p["schema"] =
                json!({"type": "string", "minLength": 1, "maxLength": limits.max_search_chars});
        }
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|i| i.values_mut())
        {
            if let Some(Value::Array(params)) = op.get_mut("parameters") {
                for p in params.iter_mut().filter(|p| p["name"] == "limit") {
                    p["schema"]["maximum"] = json!(limits.max_page_size);
                }
            }
        }
    }
}

pub fn routes(
    limits: Limits,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let mut doc = document();
    with_limits(&mut doc, &limits);
    let doc = std::sync::Arc::new(doc);
    table::at(Operation::OpenApi).map(move || warp::Reply::into_response(warp::reply::json(&*doc)))
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": reference(name)})
}

fn errors(extra: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("401".into(), problem("Missing or invalid credentials"));
    for (code, what) in extra {
        map.insert((*code).into(), problem(what));
    }
    map
}

fn responses(success: &[(&str, Value)], extra: &[(&str, &str)]) -> Value {
    let mut map = errors(extra);
    for (code, body) in success {
        map.insert((*code).into(), body.clone());
    }
    Value::Object(map)
}

fn param(name: &str, location: &str, description: &str, schema: Value, required: bool) -> Value {
    json!({"name": name, "in": location, "description": description, "required": required, "schema": schema})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// The paths the API port serves, each operation described by [`operation`]; a path with
/// `{id}` declares the conversation id once for all its operations. `/metrics` is on another
/// listener (`METRICS_ADDR`) and not part of this document.
fn paths() -> Value {
    let mut paths = serde_json::Map::new();
    for route in table::served_on(Listener::Api) {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(item) = item else { continue };
        if route.path.contains("{id}") && !item.contains_key("parameters") {
            item.insert(
                "parameters".into(),
                json!([param(
                    "id",
                    "path",
                    "Conversation id",
                    json!({"type": "string", "format": "uuid"}),
                    true
                )]),
            );
        }
        item.insert(route.verb.openapi_key().into(), operation(route.operation));
    }
    Value::Object(paths)
}

fn operation(op: Operation) -> Value {
    let limit = param(
        "limit",
        "query",
        "Page size",
        json!({"type": "integer", "minimum": 1}),
        false,
    );
    let idempotency_key = param(
        "Idempotency-Key",
        "header",
        "Makes a retry safe: the first request with a key is done once, and a retry with the same key and the same request (method, path and body, after JSON parsing) gets the first response again, status and body, with `Idempotent-Replayed: true`, without writing anything. The same key with another request is a 422. Keys are per user and remembered for IDEMPOTENCY_KEY_TTL_SECS (24 h by default). The value is 1 to 255 characters of A-Z a-z 0-9 - _ . ~ + / = :, bare or as a quoted string (draft-ietf-httpapi-idempotency-key-header); a UUID is a good key.",
        json!({"type": "string", "minLength": 1, "maxLength": 257,
               "pattern": "^([A-Za-z0-9._~+/=:-]{1,255}|\"[A-Za-z0-9._~+/=:-]{1,255}\")$"}),
        false,
    );
    let replayed = json!({"Idempotent-Replayed": {"description": "`true` when this is the stored first response to the request's Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}});
    let next_link = json!({"Link": {"description": "RFC 8288 link to the next page (rel=\"next\")", "schema": {"type": "string"}}});
    let bad = [("400", "Malformed id, cursor or limit")];
    match op {
        Operation::Liveness => {
            json!({"summary": "Liveness", "security": [], "responses": {"200": {"description": "Alive"}}})
        }
        Operation::Readiness => {
            json!({"summary": "Readiness: database reachable and JWKS loaded", "security": [],
            "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}})
        }
        // On METRICS_ADDR: `paths` leaves it out of the API port's document.
        Operation::Metrics => {
            json!({"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "OpenMetrics text"}}})
        }
        Operation::OpenApi => {
            json!({"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}})
        }
        Operation::GetMe => {
            json!({"summary": "The caller", "responses": responses(&[("200", ok("The caller's profile", reference("User")))], &[])})
        }
        Operation::EraseMe => {
            json!({"summary": "Erase all of the caller's chat data", "responses": responses(&[("204", json!({"description": "Erased"}))], &[])})
        }
        Operation::ListConversations => {
            json!({"summary": "The caller's conversations, most recently updated first",
            "parameters": [limit, param("cursor", "query", "Opaque cursor from a Link header", json!({"type": "string"}), false)],
            "responses": responses(&[("200", json!({"description": "A page", "headers": next_link, "content": {"application/json": {"schema": array_of("Conversation")}}}))], &bad)})
        }
        Operation::CreateConversation => json!({"summary": "Create a conversation",
            "requestBody": json_body(json!({"type": "object", "properties": {"title": {"type": "string"}}})),
            "responses": responses(&[("201", ok("Created", reference("Conversation")))], &[("400", "Not JSON"), ("413", "Body too large"), ("422", "Invalid title")])}),
        Operation::GetConversation => {
            json!({"summary": "One conversation", "responses": responses(&[("200", ok("The conversation", reference("Conversation")))], &[("400", "Malformed id"), ("404", "No such conversation of the caller's")])})
        }
        Operation::RenameConversation => {
            json!({"summary": "Rename", "requestBody": json_body(json!({"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}})),
            "responses": responses(&[("200", ok("Renamed", reference("Conversation")))], &[("400", "Malformed id or body"), ("404", "No such conversation of the caller's"), ("422", "Invalid title")])})
        }
        Operation::DeleteConversation => {
            json!({"summary": "Delete with its messages", "responses": responses(&[("204", json!({"description": "Deleted"}))], &[("400", "Malformed id"), ("404", "No such conversation of the caller's")])})
        }
        Operation::ListMessages => {
            json!({"summary": "A page of messages, oldest first; older pages through `before`",
            "parameters": [limit, param("before", "query", "Opaque cursor from a Link header", json!({"type": "string"}), false)],
            "responses": responses(&[("200", json!({"description": "A page", "headers": next_link, "content": {"application/json": {"schema": array_of("Message")}}}))], &[("400", "Malformed id, cursor or limit"), ("404", "No such conversation of the caller's")])})
        }
        Operation::AppendMessage => json!({"summary": "Append a message",
            "description": "A concurrent retry with the same Idempotency-Key waits for the first request to finish, then gets its response.",
            "parameters": [idempotency_key],
            "requestBody": json_body(json!({"type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": ["user", "assistant"]}, "content": {"type": "string"},
                "sources": {"type": "array", "items": {"type": "object"}}, "agent_type": {"type": "string"}}})),
            "responses": responses(&[("201", json!({"description": "Appended", "headers": replayed, "content": {"application/json": {"schema": reference("Message")}}}))],
                &[("400", "Malformed id, Idempotency-Key or not JSON"), ("404", "No such conversation of the caller's"),
                  ("409", "The conversation holds MAX_MESSAGES_PER_CONVERSATION messages (type conversation-full); nothing is written"),
                  ("413", "Body too large"),
                  ("422", "Invalid role, content or sources; or the Idempotency-Key was used with another request (type idempotency-key-reused)")])}),
        Operation::RunAgent => {
            json!({"summary": "Answer a question from the documentation corpus; both sides of the exchange are stored in the conversation",
            "description": "Without session_id a conversation is created and titled from the query. With `Accept: text/event-stream` the answer streams as server-sent events: `sources` ({session_id, user_message_id, agent_used, sources}), `delta` ({text}) repeated, then `done` (the RunResponse) or `error` ({status, detail, message_id}). A reader who disconnects leaves the answer stored as far as it got, with status `incomplete`.",
            "parameters": [idempotency_key],
            "requestBody": json_body(reference("RunRequest")),
            "responses": responses(&[("200", json!({"description": "The stored answer (JSON), or an event stream. A replay (Idempotency-Key) is the stored answer, never a new call to the model: as JSON, or as the events of a stream of it when the retry asks for `text/event-stream`",
                "headers": replayed,
                "content": {"application/json": {"schema": reference("RunResponse")}, "text/event-stream": {"schema": {"type": "string"}}}}))],
                &[("400", "Not JSON, or a malformed Idempotency-Key"), ("404", "session_id is not a conversation of the caller's"),
                  ("409", "The conversation has no room for the question and its answer under MAX_MESSAGES_PER_CONVERSATION (type conversation-full; the model is not asked and nothing is written); or the first request with this Idempotency-Key is still being answered (type idempotency-key-in-flight, with Retry-After)"),
                  ("413", "Body too large"),
                  ("422", "Invalid query, session_id, agent_type, current_page or highlighted_text; or the Idempotency-Key was used with another request (type idempotency-key-reused)"),
                  ("429", "Per-user rate limit; see Retry-After"),
                  ("502", "The language model failed; the question and a failed answer are stored (a retry with the same Idempotency-Key gets this response again)"),
                  ("504", "The language model timed out; the question and a failed answer are stored (a retry with the same Idempotency-Key gets this response again)")])})
        }
        Operation::Search => json!({"summary": "Full-text search over the caller's messages",
            "parameters": [param("q", "query", "Search text (web-search syntax)", json!({"type": "string"}), true), limit],
            "responses": responses(&[("200", ok("Matches, best first", array_of("SearchHit")))], &[("400", "Missing q"), ("422", "q too long")])}),
    }
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "chatplane API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Per-user chat history behind Better Auth JWTs. Errors are RFC 9457 problem documents."},
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "A Better Auth JWT (verified against the auth server's JWKS) or a Better Auth session token"}},
            "schemas": {
                "Problem": {"type": "object", "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"}, "field": {"type": "string"}}},
                "User": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]}, "image": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "Conversation": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "title": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "Message": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
                    "conversation_id": {"type": "string", "format": "uuid"}, "role": {"type": "string", "enum": ["user", "assistant"]},
                    "content": {"type": "string"}, "sources": {"type": "array", "items": {"type": "object"}},
                    "agent_type": {"type": ["string", "null"]}, "status": {"type": "string", "enum": ["complete", "incomplete", "failed"]},
                    "created_at": {"type": "string", "format": "date-time"}}},
                "RunRequest": {"type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string"}, "session_id": {"type": "string", "maxLength": 128,
                        "description": "A conversation id (UUID) of the caller's, or a client session key (1 to 128 printable ASCII characters, no spaces): its first use creates a conversation bound to it, later uses append to that one; keys are per user"},
                    "agent_type": {"type": "string", "enum": ["rag", "summarizer", "triage"], "default": "rag"},
                    "current_page": {"type": "string", "description": "URL or path of the page the reader is on (a retrieval hint; what the summarizer summarises)"},
                    "highlighted_text": {"type": "string", "description": "Text the reader selected (a retrieval hint; what the summarizer summarises)"}}},
                "Source": {"type": "object", "properties": {"slug": {"type": "string"}, "title": {"type": "string"},
                    "heading": {"type": "string"}, "anchor": {"type": "string"}, "url": {"type": "string"},
                    "chapter_number": {"type": "integer"}, "page_number": {"type": "integer"},
                    "snippet": {"type": "string"}, "score": {"type": "number"}}},
                "RunResponse": {"type": "object", "properties": {"message": {"type": "string"},
                    "sources": array_of("Source"), "agent_used": {"type": "string", "enum": ["rag", "summarizer", "extractive"]},
                    "session_id": {"type": "string", "format": "uuid"}, "message_id": {"type": "string", "format": "uuid"},
                    "timestamp": {"type": "string", "format": "date-time"}}},
                "SearchHit": {"type": "object", "properties": {"message_id": {"type": "string", "format": "uuid"},
                    "conversation_id": {"type": "string", "format": "uuid"}, "conversation_title": {"type": "string"},
                    "role": {"type": "string"}, "snippet": {"type": "string"}, "rank": {"type": "number"},
                    "created_at": {"type": "string", "format": "date-time"}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_route_table() {
        let doc = document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (key, _) in item.as_object().expect("path item") {
                if key != "parameters" {
                    documented.push((path.clone(), key.clone()));
                }
            }
        }
        let mut table: Vec<(String, String)> = table::served_on(Listener::Api)
            .map(|r| (r.path.to_owned(), r.verb.openapi_key().to_owned()))
            .collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table);
        for route in table::served_on(Listener::Api) {
            let op = &doc["paths"][route.path][route.verb.openapi_key()];
            assert!(op["summary"].is_string(), "{} has no summary", route.path);
        }
    }

    #[test]
    fn both_appending_operations_take_an_idempotency_key() {
        let doc = document();
        for (path, success) in [
            ("/conversations/{id}/messages", "201"),
            ("/agents/run", "200"),
        ] {
            let op = &doc["paths"][path]["post"];
            let params = op["parameters"].as_array().expect("parameters");
            let key = params
                .iter()
                .find(|p| p["name"] == "Idempotency-Key")
                .expect("Idempotency-Key");
            assert_eq!(key["in"], "header");
            assert_eq!(key["required"], false);
            assert_eq!(
                key["schema"]["pattern"],
                "^([A-Za-z0-9._~+/=:-]{1,255}|\"[A-Za-z0-9._~+/=:-]{1,255}\")$",
                "the characters IdempotencyKey::parse accepts"
            );
            assert!(op["responses"][success]["headers"]["Idempotent-Replayed"].is_object());
            for code in ["400", "409", "422"] {
                assert!(op["responses"][code].is_object(), "{path} {code}");
            }
        }
    }
}
