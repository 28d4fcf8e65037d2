//! The built-in web interface (`UI=on`, the default): the login, registration,
//! password-reset and verification pages, the account console and the admin
//! console, as static HTML, CSS and ES modules embedded in the binary. The
//! pages hold no secret and no logic of their own beyond the screen: every
//! action is a call to the JSON API through the TypeScript client
//! (`clients/typescript/dist/index.js`, served as `client.js`) in cookie mode.
//!
//! Caching: the assets (CSS, modules, the vendored QR encoder) live under
//! `/ui/assets/{version}/…`, where `version` is a hash of all of them, and are
//! cached for a year as `immutable`; a new binary with other assets has
//! another version, so no browser mixes modules of two builds. The pages
//! (`/ui/login`, …) name that path, are revalidated on every load
//! (`no-cache`) and answer `304` to a matching `If-None-Match`.
//!
//! Every answer carries a CSP stricter than the API's: nothing but this
//! origin, no inline script or style, no framing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, guard, web};

use super::problem::ApiError;

/// The policy of every `/ui` answer: scripts, styles and calls only from this
/// origin, images from it or `data:` (none today), no plugin, frame or base
/// URL, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The pages, each a path under `/ui/`.
pub const PAGES: [&str; 7] = [
    "login", "register", "forgot", "reset", "verify", "account", "admin",
];

#[derive(rust_embed::Embed)]
#[folder = "src/web/ui/pages/"]
struct Pages;

#[derive(rust_embed::Embed)]
#[folder = "src/web/ui/assets/"]
struct Assets;

/// The TypeScript client's compiled module, as committed (CI checks that
/// `dist/` matches its source), served beside the pages' own modules.
const CLIENT_MODULE: &[u8] = include_bytes!("../../../clients/typescript/dist/index.js");

/// Where a page's `{{assets}}` points: the versioned asset folder.
const ASSETS_PLACEHOLDER: &str = "{{assets}}";

/// Where the admin console's event filter lists the event types: every type
/// the audit trail can hold, from the one list in the domain.
const EVENT_TYPE_OPTIONS_PLACEHOLDER: &str = "{{event_type_options}}";

fn event_type_options() -> String {
    crate::domain::EventType::ALL
        .iter()
        .map(|kind| format!("<option value=\"{0}\">{0}</option>", kind.as_str()))
        .collect()
}

/// One file ready to serve.
struct File {
    body: web::Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl File {
    fn new(body: Cow<'static, [u8]>, name: &str) -> Self {
        let digest = sha256_hex(&body);
        let etag = HeaderValue::from_str(&format!("\"{}\"", &digest[..32]))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let body = match body {
            Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
            Cow::Owned(bytes) => web::Bytes::from(bytes),
        };
        Self {
            body,
            content_type: content_type(name),
            etag,
        }
    }
}

/// Everything `/ui` serves, computed once.
struct Files {
    /// The hash of every asset, naming the folder they are served from.
    version: String,
    pages: HashMap<&'static str, File>,
    assets: HashMap<String, File>,
}

static FILES: LazyLock<Files> = LazyLock::new(Files::load);

impl Files {
    fn load() -> Self {
        let mut assets: HashMap<String, File> = Assets::iter()
            .filter_map(|name| {
                let file = Assets::get(&name)?;
                Some((name.to_string(), File::new(file.data, &name)))
            })
            .collect();
        assets.insert(
            "client.js".to_owned(),
            File::new(Cow::Borrowed(CLIENT_MODULE), "client.js"),
        );
        let mut names: Vec<&String> = assets.keys().collect();
        names.sort();
        let mut all = Vec::new();
        for name in names {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            if let Some(file) = assets.get(name) {
                all.extend_from_slice(file.etag.as_bytes());
            }
        }
        let version = sha256_hex(&all)[..16].to_owned();
        let prefix = format!("/ui/assets/{version}");
        let pages = PAGES
            .into_iter()
            .filter_map(|page| {
                let file = Pages::get(&format!("{page}.html"))?;
                let html = String::from_utf8_lossy(&file.data)
                    .replace(ASSETS_PLACEHOLDER, &prefix)
                    .replace(EVENT_TYPE_OPTIONS_PLACEHOLDER, &event_type_options());
                Some((page, File::new(Cow::Owned(html.into_bytes()), "page.html")))
            })
            .collect();
        Self {
            version,
            pages,
            assets,
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Registers the `/ui` routes when `enabled`; without them every `/ui` path
/// falls through to the API's 404.
pub fn configure(config: &mut web::ServiceConfig, enabled: bool) {
    if !enabled {
        return;
    }
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    config
        .route("/ui", web::route().guard(get_or_head()).to(to_account))
        .route("/ui/", web::route().guard(get_or_head()).to(to_account))
        .route(
            "/ui/assets/{version}/{name:.+}",
            web::route().guard(get_or_head()).to(serve_asset),
        )
        .route(
            "/ui/{page}",
            web::route().guard(get_or_head()).to(serve_page),
        );
}

/// `/ui` opens the account console (which sends a visitor without a session
/// to the login page).
async fn to_account() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/account"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .finish()
}

async fn serve_page(req: HttpRequest, page: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = FILES.pages.get(page.as_str()).ok_or(ApiError::NotFound)?;
    Ok(answer(&req, file, "no-cache"))
}

async fn serve_asset(
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (version, name) = path.into_inner();
    // Another build's assets are not these: better a 404 than caching this
    // build's file for a year under another build's name.
    if version != FILES.version {
        return Err(ApiError::NotFound);
    }
    let file = FILES.assets.get(&name).ok_or(ApiError::NotFound)?;
    Ok(answer(&req, file, "public, max-age=31536000, immutable"))
}

/// The file, or `304` when the browser holds this very version.
fn answer(req: &HttpRequest, file: &File, cache_control: &'static str) -> HttpResponse {
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == file.etag.as_bytes()
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, file.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"));
    if fresh {
        return response.finish();
    }
    response
        .content_type(file.content_type)
        .body(file.body.clone())
}
