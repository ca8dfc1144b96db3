//! Joining a path onto a configured base URL that may carry a path prefix of its own.

use url::Url;

/// `base` + `/` + `path`, keeping any path `base` has (`Url::join` would replace its last
/// segment when it lacks a trailing slash).
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}/{path}"));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_a_path_keep_it() {
        let base = Url::parse("http://auth:3000/prefix/").expect("url");
        assert_eq!(
            join(&base, "api/auth/jwks").as_str(),
            "http://auth:3000/prefix/api/auth/jwks"
        );
        let base = Url::parse("http://llm:9/v1").expect("url");
        assert_eq!(
            join(&base, "chat/completions").as_str(),
            "http://llm:9/v1/chat/completions"
        );
    }
}
