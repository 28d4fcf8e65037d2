//! Browser origins: whether one may call the API, whether two are the same
//! site (what decides if a `SameSite` cookie goes along), and how to name one
//! in an answer or a log line without repeating arbitrary bytes a client sent.

/// `origin` as it may be quoted back: an `http(s)://host[:port]` origin of
/// plain printable characters, or `None` (then say "this page" instead).
pub fn shown(origin: &str) -> Option<&str> {
    let printable = origin.len() <= 200
        && origin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']'));
    let parsed = url::Url::parse(origin).ok()?;
    let web = matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some();
    (printable && web).then_some(origin)
}

/// Whether a page of `origin` may call the API from a browser: listed in
/// `CORS_ALLOWED_ORIGINS` (or `*` is).
pub fn allowed(origin: &str, allowed_origins: &[String]) -> bool {
    allowed_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
}

/// Whether two origins are the same site, as browsers decide where a
/// `SameSite` cookie goes: the same scheme and the same registrable domain.
/// Without the public-suffix list the registrable domain is taken as the last
/// two labels, which errs towards "same site" only under suffixes such as
/// `co.uk`; an IP address or a single-label name (`localhost`) is a site of
/// its own, so `localhost` and `127.0.0.1` are two sites.
pub fn same_site(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(a), url::Url::parse(b)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && match (a.host(), b.host()) {
            (Some(url::Host::Domain(a)), Some(url::Host::Domain(b))) => {
                registrable(a).eq_ignore_ascii_case(registrable(b))
            }
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
}

fn registrable(domain: &str) -> &str {
    let domain = domain.trim_end_matches('.');
    match domain.rmatch_indices('.').nth(1) {
        Some((dot, _)) => &domain[dot + 1..],
        None => domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_and_its_address_are_two_sites_and_ports_do_not_matter() {
        assert!(!same_site("http://localhost:5173", "http://127.0.0.1:8080"));
        assert!(same_site("http://localhost:5173", "http://localhost:8080"));
        assert!(same_site(
            "https://app.example.com",
            "https://auth.example.com"
        ));
        assert!(!same_site(
            "http://app.example.com",
            "https://app.example.com"
        ));
        assert!(!same_site("https://example.com", "https://example.net"));
    }

    #[test]
    fn only_plain_web_origins_are_quoted_back() {
        assert_eq!(
            shown("http://localhost:5173"),
            Some("http://localhost:5173")
        );
        assert_eq!(shown("null"), None);
        assert_eq!(shown("http://a.example/<script>"), None);
        assert_eq!(shown("javascript:alert(1)"), None);
    }
}
