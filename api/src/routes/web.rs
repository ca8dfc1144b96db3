//! The web UI (the build of `web/`) served from `WEB_DIR` at `/`, so a deployment is usable the
//! moment it is ready. Hashed files under `/assets` are cached for a year; `index.html`,
//! `widget.js` and the generated `/config.js` (the browser's API and auth server URLs) are
//! revalidated every time. Every answer carries a Content-Security-Policy and the usual security
//! headers. Paths of the API never reach this module's fallback: they keep their JSON 404s.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use url::Url;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::error::ApiError;

/// First path segments that belong to the API (see `server::route_label`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// `WEB_DIR` and the URLs the browser uses (DESIGN §7).
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub dir: PathBuf,
    /// The chat API as the browser reaches it; `None` = the page's own origin.
    pub api_url: Option<Url>,
    /// The auth server as the browser reaches it (`WEB_AUTH_URL`, else `AUTH_URL`).
    pub auth_url: Url,
}

impl WebSettings {
    /// `None` without `WEB_DIR`; otherwise the settings or the problems with their variables.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        auth_url: Option<&Url>,
    ) -> Result<Option<Self>, Vec<(String, String)>> {
        let Some(dir) = get("WEB_DIR") else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let mut url = |name: &str| match get(name) {
            None => None,
            Some(raw) => match Url::parse(&raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(u),
                _ => {
                    problems.push((
                        name.to_owned(),
                        format!("must be an http(s) URL, not {raw:?}"),
                    ));
                    None
                }
            },
        };
        let api_url = url("WEB_API_URL");
        let auth_url = url("WEB_AUTH_URL").or_else(|| auth_url.cloned());
        match auth_url {
            Some(auth_url) if problems.is_empty() => Ok(Some(Self {
                dir: PathBuf::from(dir),
                api_url,
                auth_url,
            })),
            _ => Err(problems),
        }
    }
}

/// What the handler needs, computed once at start-up.
struct WebUi {
    dir: PathBuf,
    config_js: Bytes,
    csp: HeaderValue,
}

impl WebUi {
    fn new(s: &WebSettings) -> anyhow::Result<Self> {
        let dir = s
            .dir
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("WEB_DIR {} cannot be opened: {e}", s.dir.display()))?;
        if !dir.join("index.html").is_file() {
            anyhow::bail!(
                "WEB_DIR {} has no index.html (build web/ first)",
                dir.display()
            );
        }
        let trim = |u: &Url| u.as_str().trim_end_matches('/').to_owned();
        let config = serde_json::json!({
            "apiUrl": s.api_url.as_ref().map(trim).unwrap_or_default(),
            "authUrl": trim(&s.auth_url),
        });
        let config_js = Bytes::from(format!("window.CHATPLANE_CONFIG = {config};\n"));
        let mut connect = vec![
            "'self'".to_owned(),
            s.auth_url.origin().ascii_serialization(),
        ];
        if let Some(api) = &s.api_url {
            connect.push(api.origin().ascii_serialization());
        }
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             font-src 'self'; connect-src {}; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
            connect.join(" ")
        );
        Ok(Self {
            dir,
            config_js,
            csp: HeaderValue::from_str(&csp)?,
        })
    }
}

/// The UI's filter: GET and HEAD of every path outside the API. Without `WEB_DIR` it matches
/// nothing, and unknown paths stay the API's 404s.
pub fn routes(settings: Option<&WebSettings>) -> anyhow::Result<BoxedFilter<(Response,)>> {
    let Some(settings) = settings else {
        return Ok(warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed());
    };
    let ui = Arc::new(WebUi::new(settings)?);
    Ok(warp::get()
        .or(warp::head())
        .unify()
        .and(warp::path::full())
        .and_then(move |path: warp::path::FullPath| {
            let ui = ui.clone();
            async move {
                match serve(&ui, path.as_str()).await {
                    Some(Ok(res)) => Ok(res),
                    Some(Err(e)) => Ok(warp::Reply::into_response(e)),
                    None => Err(warp::reject::not_found()),
                }
            }
        })
        .boxed())
}

/// `None`: not ours (an API path); the API's routes and 404 answer it.
async fn serve(ui: &WebUi, raw: &str) -> Option<Result<Response, ApiError>> {
    let segments = match decode_segments(raw) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    if segments
        .first()
        .is_some_and(|s| super::table::is_api_prefix(s))
    {
        return None;
    }
    let res = match segments.as_slice() {
        [] => file(ui, Path::new("index.html"), REVALIDATE).await,
        [one] if one == "config.js" => Some(reply(
            ui,
            ui.config_js.clone(),
            "text/javascript; charset=utf-8",
            REVALIDATE,
        )),
        _ => {
            let rel: PathBuf = segments.iter().collect();
            let cache = if segments[0] == "assets" {
                IMMUTABLE
            } else {
                REVALIDATE
            };
            match file(ui, &rel, cache).await {
                Some(res) => Some(res),
                // A missing asset or file is a 404; a page path is the app's to route.
                None if segments[0] == "assets" || segments.last()?.contains('.') => None,
                None => file(ui, Path::new("index.html"), REVALIDATE).await,
            }
        }
    };
    Some(res.ok_or(ApiError::NotFound("file")))
}

/// Percent-decodes each segment; dot segments, hidden names, and separators or NULs hidden in
/// escapes are refused, so no path can leave `WEB_DIR`.
fn decode_segments(raw: &str) -> Result<Vec<String>, ApiError> {
    let refused = || ApiError::BadRequest("the path has a forbidden segment".into());
    let mut out = Vec::new();
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        let s = percent_decode(seg).ok_or_else(refused)?;
        if s.starts_with('.') || s.contains(['/', '\\', '\0']) {
            return Err(refused());
        }
        out.push(s);
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads `rel` under the directory; `None` when it is not a regular file inside it (a symlink
/// pointing out of `WEB_DIR` counts as missing).
async fn file(ui: &WebUi, rel: &Path, cache: &'static str) -> Option<Response> {
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = tokio::fs::canonicalize(ui.dir.join(rel)).await.ok()?;
    if !path.starts_with(&ui.dir) || !tokio::fs::metadata(&path).await.ok()?.is_file() {
        return None;
    }
    let body = tokio::fs::read(&path).await.ok()?;
    Some(reply(ui, Bytes::from(body), content_type(&path), cache))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn reply(ui: &WebUi, body: Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let mut res = Response::new(body.into());
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, ui.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_decoded_and_escapes_out_of_the_directory_refused() {
        assert_eq!(
            decode_segments("/a/b%20c/").ok(),
            Some(vec!["a".to_owned(), "b c".to_owned()])
        );
        for bad in [
            "/../etc/passwd",
            "/assets/%2e%2e/x",
            "/..%2f..%2fCargo.toml",
            "/a%5c..%5cb",
            "/.env",
            "/a%00",
            "/%zz",
            "/%ff",
        ] {
            assert!(decode_segments(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn settings_need_web_dir_and_default_to_auth_url() {
        let auth = Url::parse("http://auth.test:3000").ok();
        let none = WebSettings::from_lookup(|_| None, auth.as_ref());
        assert!(matches!(none, Ok(None)));
        let s = WebSettings::from_lookup(
            |k| (k == "WEB_DIR").then(|| "/srv/web".to_owned()),
            auth.as_ref(),
        );
        let s = s.ok().flatten().map(|s| (s.dir, s.auth_url.to_string()));
        assert_eq!(
            s,
            Some((
                PathBuf::from("/srv/web"),
                "http://auth.test:3000/".to_owned()
            ))
        );
        let bad = WebSettings::from_lookup(
            |k| match k {
                "WEB_DIR" => Some("/srv/web".to_owned()),
                "WEB_AUTH_URL" => Some("ftp://x".to_owned()),
                _ => None,
            },
            auth.as_ref(),
        );
        assert!(matches!(bad, Err(p) if p[0].0 == "WEB_AUTH_URL"));
    }
}
