//! Every route the API serves, in one table: the filters match requests through it, the
//! metrics label requests with its path templates, and the OpenAPI document lists it.

use std::sync::LazyLock;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::path::FullPath;

/// What a route does; `openapi.rs` describes each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Liveness,
    Readiness,
    Metrics,
    OpenApi,
    GetMe,
    EraseMe,
    ListConversations,
    CreateConversation,
    GetConversation,
    RenameConversation,
    DeleteConversation,
    ListMessages,
    AppendMessage,
    Search,
    RunAgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Patch,
    Delete,
}

impl Verb {
    /// The key of the operation in an OpenAPI path item.
    pub fn openapi_key(&self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    fn filter(&self) -> BoxedFilter<()> {
        match self {
            // Every GET route answers HEAD too (hyper sends the head without the body).
            Verb::Get => warp::get().or(warp::head()).unify().boxed(),
            Verb::Post => warp::post().boxed(),
            Verb::Patch => warp::patch().boxed(),
            Verb::Delete => warp::delete().boxed(),
        }
    }
}

/// The listener a route is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `LISTEN_ADDR`: what clients, the Ingress and the probes reach.
    Api,
    /// `METRICS_ADDR`: only the scraper (the operator's NetworkPolicy keeps others out). The
    /// metrics count auth failures by reason, which must not reach who sent the tokens.
    Metrics,
}

pub struct Route {
    pub verb: Verb,
    /// The path template; `{name}` is one non-empty segment. Also the route's metric label.
    pub path: &'static str,
    pub operation: Operation,
    pub listener: Listener,
}

const fn route(verb: Verb, path: &'static str, operation: Operation) -> Route {
    Route {
        verb,
        path,
        operation,
        listener: Listener::Api,
    }
}

const fn metrics_route(verb: Verb, path: &'static str, operation: Operation) -> Route {
    Route {
        listener: Listener::Metrics,
        ..route(verb, path, operation)
    }
}

pub static ROUTES: [Route; 15] = [
    route(Verb::Get, "/healthz", Operation::Liveness),
    route(Verb::Get, "/readyz", Operation::Readiness),
    metrics_route(Verb::Get, "/metrics", Operation::Metrics),
    route(Verb::Get, "/openapi.json", Operation::OpenApi),
    route(Verb::Get, "/users/me", Operation::GetMe),
    route(Verb::Delete, "/users/me", Operation::EraseMe),
    route(Verb::Get, "/conversations", Operation::ListConversations),
    route(Verb::Post, "/conversations", Operation::CreateConversation),
    route(Verb::Get, "/conversations/{id}", Operation::GetConversation),
    route(
        Verb::Patch,
        "/conversations/{id}",
        Operation::RenameConversation,
    ),
    route(
        Verb::Delete,
        "/conversations/{id}",
        Operation::DeleteConversation,
    ),
    route(
        Verb::Get,
        "/conversations/{id}/messages",
        Operation::ListMessages,
    ),
    route(
        Verb::Post,
        "/conversations/{id}/messages",
        Operation::AppendMessage,
    ),
    route(Verb::Get, "/search", Operation::Search),
    route(Verb::Post, "/agents/run", Operation::RunAgent),
];

/// Whether `segment` is the first path segment of an API route: such paths never fall back to the
/// web app, so an unknown API path keeps its JSON 404.
pub fn is_api_prefix(segment: &str) -> bool {
    TEMPLATES
        .iter()
        .any(|t| t.segments.first() == Some(&segment))
}

/// The most segments a template has (tested); a longer path matches no route.
const MAX_SEGMENTS: usize = 3;

/// A path split at its slashes (the outer ones trimmed), or `None` when it has more segments
/// than any template: split once per request, not once per route tried.
struct Segments<'p> {
    parts: [&'p str; MAX_SEGMENTS],
    count: usize,
}

impl<'p> Segments<'p> {
    fn of(path: &'p str) -> Option<Self> {
        let mut parts = [""; MAX_SEGMENTS];
        let mut count = 0;
        for segment in path.trim_matches('/').split('/') {
            *parts.get_mut(count)? = segment;
            count += 1;
        }
        Some(Self { parts, count })
    }

    fn as_slice(&self) -> &[&'p str] {
        &self.parts[..self.count]
    }
}

/// A route with its template split, once for the process.
struct Template {
    route: &'static Route,
    segments: Vec<&'static str>,
}

static TEMPLATES: LazyLock<Vec<Template>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|route| Template {
            route,
            segments: route.path.trim_matches('/').split('/').collect(),
        })
        .collect()
});

impl Template {
    /// Whether `path` has as many segments as the template, each equal to the template's or, where
    /// it has a `{…}`, not empty.
    fn fits(&self, path: &Segments<'_>) -> bool {
        let path = path.as_slice();
        path.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    }

    /// The values of the template's `{…}` segments when `path` matches it.
    fn matches<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let path = Segments::of(path)?;
        self.fits(&path).then(|| {
            self.segments
                .iter()
                .zip(path.as_slice())
                .filter(|(t, _)| t.starts_with('{'))
                .map(|(_, s)| *s)
                .collect()
        })
    }
}

fn entry(operation: Operation) -> &'static Template {
    TEMPLATES
        .iter()
        .find(|t| t.route.operation == operation)
        .unwrap_or_else(|| unreachable!("every operation is in ROUTES (tested)"))
}

/// The path template of `operation` (what an idempotency fingerprint names the route by).
pub fn template(operation: Operation) -> &'static str {
    entry(operation).route.path
}

/// The routes served on `listener`.
pub fn served_on(listener: Listener) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.listener == listener)
}

/// The template the request's path matched (`label`), put in the request's extensions by the
/// server, which computes it for the metrics anyway. The route filters then compare templates
/// instead of each matching the path again: an append was tried against eleven routes before
/// its own, which was a tenth of its instructions.
#[derive(Debug, Clone, Copy)]
pub struct Matched(pub &'static str);

/// Whether the request's path is the template's, and the path (for its parameters). Without
/// the server's `Matched` (a filter tested on its own), the path is matched here.
fn on_route(
    template: &'static Template,
) -> impl Filter<Extract = (FullPath,), Error = warp::Rejection> + Clone {
    warp::ext::optional::<Matched>()
        .and(warp::path::full())
        .and_then(move |matched: Option<Matched>, full: FullPath| async move {
            let ours = match matched {
                Some(Matched(path)) => path == template.route.path,
                None => template.matches(full.as_str()).is_some(),
            };
            if ours {
                Ok(full)
            } else {
                Err(warp::reject::not_found())
            }
        })
}

/// Path and method of `operation`, whose path has no parameter.
pub fn at(operation: Operation) -> BoxedFilter<()> {
    let template = entry(operation);
    on_route(template)
        .map(|_| ())
        .untuple_one()
        .and(template.route.verb.filter())
        .boxed()
}

/// Path and method of `operation`, whose path has one parameter: its value.
pub fn at_id(operation: Operation) -> BoxedFilter<(String,)> {
    let template = entry(operation);
    on_route(template)
        .and_then(move |full: FullPath| async move {
            match template.matches(full.as_str()).as_deref() {
                Some([id]) => Ok((*id).to_owned()),
                _ => Err(warp::reject::not_found()),
            }
        })
        .and(template.route.verb.filter())
        .boxed()
}

/// The `Allow` value for `path`: the methods of the routes whose template it matches (HEAD
/// with every GET), or `None` for a path no route has.
pub fn allowed_methods(path: &str) -> Option<String> {
    let mut methods: Vec<&str> = Vec::new();
    let path = Segments::of(path)?;
    for t in TEMPLATES.iter().filter(|t| t.fits(&path)) {
        match t.route.verb {
            Verb::Get => methods.extend(["GET", "HEAD"]),
            Verb::Post => methods.push("POST"),
            Verb::Patch => methods.push("PATCH"),
            Verb::Delete => methods.push("DELETE"),
        }
    }
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// A bounded label for metrics: the route's template, never the raw (attacker-chosen) path.
pub fn label(path: &str) -> &'static str {
    let Some(path) = Segments::of(path) else {
        return "unmatched";
    };
    TEMPLATES
        .iter()
        .find(|t| t.fits(&path))
        .map_or("unmatched", |t| t.route.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_templates_only() {
        let r = entry(Operation::ListMessages);
        assert_eq!(r.matches("/conversations/abc/messages"), Some(vec!["abc"]));
        assert_eq!(r.matches("/conversations//messages"), None);
        assert_eq!(r.matches("/conversations/abc"), None);
        assert_eq!(r.matches("/conversations/abc/messages/x"), None);
        assert_eq!(r.matches("/conversations/abc/messages/x/y/z"), None);
        assert_eq!(
            r.matches("//conversations/abc/messages/"),
            Some(vec!["abc"])
        );
        assert_eq!(entry(Operation::Liveness).matches("/healthz"), Some(vec![]));
    }

    #[test]
    fn no_template_is_deeper_than_the_path_split_allows() {
        for t in TEMPLATES.iter() {
            assert!(t.segments.len() <= MAX_SEGMENTS, "{}", t.route.path);
        }
    }

    #[test]
    fn no_path_matches_two_templates() {
        // `Matched` names one template per path; a path of two would miss the second's routes.
        for a in &ROUTES {
            let path = a.path.replace("{id}", "x");
            for b in TEMPLATES.iter().filter(|b| b.route.path != a.path) {
                assert!(
                    b.matches(&path).is_none(),
                    "{path} matches {} too",
                    b.route.path
                );
            }
        }
    }

    #[test]
    fn labels_are_templates_or_unmatched() {
        assert_eq!(
            label("/conversations/7f1c/messages"),
            "/conversations/{id}/messages"
        );
        assert_eq!(label("/conversations/"), "/conversations");
        assert_eq!(label("/users/me"), "/users/me");
        assert_eq!(label("/etc/passwd"), "unmatched");
        assert_eq!(label("/conversations/a/messages/b/c/d"), "unmatched");
        assert_eq!(label("/"), "unmatched");
    }

    #[test]
    fn allow_lists_the_methods_of_the_path() {
        assert_eq!(
            allowed_methods("/conversations/x").as_deref(),
            Some("GET, HEAD, PATCH, DELETE")
        );
        assert_eq!(allowed_methods("/search").as_deref(), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/nope"), None);
    }

    #[test]
    fn only_metrics_are_off_the_api_port() {
        let off: Vec<_> = served_on(Listener::Metrics).map(|r| r.operation).collect();
        assert_eq!(off, [Operation::Metrics]);
        assert_eq!(
            served_on(Listener::Api).count() + off.len(),
            ROUTES.len(),
            "every route is on one listener"
        );
    }

    #[test]
    fn every_operation_has_one_route() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert_eq!(entry(a.operation).route.path, a.path);
            for b in &ROUTES[i + 1..] {
                assert_ne!(a.operation, b.operation, "{} twice", a.path);
                assert!(
                    a.path != b.path || a.verb != b.verb,
                    "{:?} {} twice",
                    a.verb,
                    a.path
                );
            }
        }
    }
}
