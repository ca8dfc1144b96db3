//! A method per endpoint of the app under test, so tests never build URLs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Reply, SseEvent, TestApp, parse_sse};

/// How a request authenticates.
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str),
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.bearer_auth(token),
            Auth::Header(raw) => req = req.header("authorization", raw),
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        Self::read(res).await
    }

    pub async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn raw_body(&self, method: Method, path: &str, token: &str, body: Vec<u8>) -> Reply {
        let res = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        Self::read(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Auth::Bearer(token), None, &[])
            .await
    }

    pub async fn get_me(&self, token: &str) -> Reply {
        self.get("/users/me", token).await
    }

    pub async fn delete_me(&self, token: &str) -> Reply {
        self.request(Method::DELETE, "/users/me", Auth::Bearer(token), None, &[])
            .await
    }

    pub async fn create_conversation(&self, token: &str, title: Option<&str>) -> Reply {
        let body = match title {
            Some(t) => json!({ "title": t }),
            None => json!({}),
        };
        self.request(
            Method::POST,
            "/conversations",
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    /// Creates a conversation and returns its id.
    pub async fn new_conversation(&self, token: &str, title: &str) -> String {
        let r = self.create_conversation(token, Some(title)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn list_conversations(&self, token: &str, query: &str) -> Reply {
        self.get(&format!("/conversations{query}"), token).await
    }

    pub async fn get_conversation(&self, token: &str, id: &str) -> Reply {
        self.get(&format!("/conversations/{id}"), token).await
    }

    pub async fn rename_conversation(&self, token: &str, id: &str, title: Value) -> Reply {
        self.request(
            Method::PATCH,
            &format!("/conversations/{id}"),
            Auth::Bearer(token),
            Some(json!({ "title": title })),
            &[],
        )
        .await
    }

    pub async fn delete_conversation(&self, token: &str, id: &str) -> Reply {
        self.request(
            Method::DELETE,
            &format!("/conversations/{id}"),
            Auth::Bearer(token),
            None,
            &[],
        )
        .await
    }

    pub async fn list_messages(&self, token: &str, id: &str, query: &str) -> Reply {
        self.get(&format!("/conversations/{id}/messages{query}"), token)
            .await
    }

    pub async fn append_message(&self, token: &str, id: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    /// Appends with an `Idempotency-Key`.
    pub async fn append_message_once(
        &self,
        token: &str,
        id: &str,
        key: &str,
        body: Value,
    ) -> Reply {
        self.request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Auth::Bearer(token),
            Some(body),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// `/agents/run` with an `Idempotency-Key` (and any other headers, such as `accept`).
    pub async fn post_agents_run_once(
        &self,
        token: &str,
        key: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut all = vec![("idempotency-key", key)];
        all.extend_from_slice(headers);
        self.request(
            Method::POST,
            "/agents/run",
            Auth::Bearer(token),
            Some(body),
            &all,
        )
        .await
    }

    pub async fn search(&self, token: &str, q: &str) -> Reply {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        self.get(&format!("/search?q={q}"), token).await
    }

    pub async fn post_agents_run(&self, token: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/agents/run",
            Auth::Bearer(token),
            Some(body),
            &[],
        )
        .await
    }

    /// `/agents/run` with `Accept: text/event-stream`, read to the end (see `Reply::events`).
    pub async fn stream_agents_run(&self, token: &str, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/agents/run",
            Auth::Bearer(token),
            Some(body),
            &[("accept", "text/event-stream")],
        )
        .await
    }

    /// Streams `/agents/run` until an event named `until` arrives, then hangs up, as a reader
    /// closing the tab would. Returns the events seen.
    pub async fn stream_agents_run_and_leave(
        &self,
        token: &str,
        body: Value,
        until: &str,
    ) -> Vec<SseEvent> {
        use futures::StreamExt;
        let res = self
            .client
            .post(format!("{}/agents/run", self.address))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status(), StatusCode::OK);
        let mut text = String::new();
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            let events = parse_sse(&text);
            if events.iter().any(|e| e.event == until) {
                return events;
            }
        }
        panic!("the stream ended before a {until} event: {text}");
    }

    /// The conversation's messages once `n` of them are stored (answers may be stored after
    /// the reply, by the task that produced them).
    pub async fn wait_for_messages(&self, token: &str, conversation: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let r = self.list_messages(token, conversation, "").await;
            if let Some(list) = r.body.as_array()
                && list.len() >= n
            {
                return list.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("conversation {conversation} never held {n} messages");
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}
