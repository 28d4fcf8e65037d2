//! Where an app may ask to be sent back to after a sign-in that leaves it (a
//! mailed link, another provider): only origins on `LOGIN_REDIRECT_ALLOWLIST`,
//! so that no code or token is ever handed to a page of someone else's.

use super::ports::HasPolicy;

/// `redirect_to` if it is an `http(s)` URL without credentials on an allowed
/// origin, with its fragment dropped (a fragment would swallow the query a
/// sign-in appends); `None` otherwise.
pub fn allowed_redirect(deps: &impl HasPolicy, redirect_to: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(redirect_to).ok()?;
    let origin = url.origin().ascii_serialization();
    let allowed = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && deps.policy().redirect_origins.contains(&origin);
    if !allowed {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

/// `url` with `name` set to `value` in its query (any earlier `name` dropped).
pub fn with_query(mut url: url::Url, name: &str, value: &str) -> url::Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != name)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(name, value);
    url
}
