//! Who is calling: the client's address (behind trusted proxies) and user
//! agent, and the per-IP rate limit that counts by that address.

use actix_web::http::header;
use actix_web::{HttpRequest, web};

use super::problem::ApiError;
use crate::config::ForwardedHeader;
use crate::service::caller::ClientInfo;
use crate::state::AppState;

/// [`ClientInfo`] as an extractor: a handler that takes it knows who is calling.
const USER_AGENT_MAX: usize = 256;

impl actix_web::FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(USER_AGENT_MAX).collect());
        std::future::ready(Ok(Self {
            ip: client_ip(req).map(|ip| ip.to_string()),
            user_agent,
        }))
    }
}

/// The client's address. It is the TCP peer, unless the peer is one of
/// `TRUSTED_PROXIES`: then it is the nearest address in the header named by
/// `FORWARDED_HEADER` (`X-Forwarded-For` or `Forwarded`) that is not itself a
/// trusted proxy. Only that one header is read: the proxy writes it, while the
/// other would be whatever the client sent through. Forwarded headers are
/// ignored from anyone else, who could otherwise pick any address and dodge
/// the per-IP limits.
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d.
    let peer = req.peer_addr()?.ip().to_canonical();
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Some(peer);
    };
    let trusted = state.edge.trusted_proxies.as_slice();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|network| network.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // The chain runs client → … → last proxy; walk back from our side. An
    // entry that is not an address ends the walk: what lies beyond it was not
    // written by a proxy we trust.
    let chain = forwarded_chain(req.headers(), state.edge.forwarded_header);
    let mut nearest = peer;
    for entry in chain.iter().rev() {
        match entry {
            Some(ip) if is_trusted(ip) => nearest = *ip,
            Some(ip) => return Some(*ip),
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

/// The addresses in the header `which` names (every field line of it, in order), with `None`
/// for an entry that is not an address.
fn forwarded_chain(
    headers: &header::HeaderMap,
    which: ForwardedHeader,
) -> Vec<Option<std::net::IpAddr>> {
    let elements = |name: header::HeaderName| {
        headers
            .get_all(name)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>()
    };
    match which {
        ForwardedHeader::XForwardedFor => {
            elements(header::HeaderName::from_static("x-forwarded-for"))
                .into_iter()
                .map(parse_forwarded_address)
                .collect()
        }
        // An element without `for=` is not an address either.
        ForwardedHeader::Forwarded => elements(header::FORWARDED)
            .into_iter()
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_forwarded_address(value))?
                })
            })
            .collect(),
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `"[2001:db8::1]:80"` or `2001:db8::1`.
fn parse_forwarded_address(raw: &str) -> Option<std::net::IpAddr> {
    let raw = raw.trim().trim_matches('"');
    let ip = raw
        .parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| {
            raw.parse::<std::net::SocketAddr>()
                .ok()
                .map(|socket| socket.ip())
        })
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|rest| rest.split(']').next())
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(ip.to_canonical())
}

/// Counts the request against the per-IP budget of its route; a handler that
/// takes this argument is rate limited. Put it first among the arguments: a
/// limited request is then refused before the handler does any work.
pub struct IpRateLimit;

impl actix_web::FromRequest for IpRateLimit {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
        let ip = client_ip(req);
        Box::pin(async move {
            if let (Some(state), Some(ip)) = (state, ip) {
                state.limits.check_ip(&route, ip).await?;
            }
            Ok(IpRateLimit)
        })
    }
}
