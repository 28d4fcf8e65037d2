//! Building the application: state, the one `App` that the binary, the tests
//! and the benchmark all run, and the HTTP server around it.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenService;
use crate::config::{Settings, TokenSettings};
use crate::db::Database;
use crate::http::{self, RouteTable};
use crate::limits::{BackoffPolicy, Limits};
use crate::routes;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub db: Database,
    pub passwords: PasswordHasher,
    pub tokens: TokenService,
    pub token_settings: TokenSettings,
    pub audit_retention_days: u32,
    pub limits: Limits,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cors_allowed_origins: Vec<String>,
    pub routes: RouteTable,
    pub openapi: utoipa::openapi::OpenApi,
}

impl AppState {
    /// Builds the state without touching the database (see
    /// [`Database::connect_lazily`]).
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let db = Database::connect_lazily(
            &settings.database.database_url,
            &settings.database.pool_options(),
        );
        let passwords = PasswordHasher::new(&settings.passwords)?;
        let tokens = TokenService::from_settings(&settings.tokens, &settings.database.database_url)
            .context("could not load the JWT keys")?;
        let openapi = crate::openapi::document();
        let guards = &settings.guards;
        let limits = Limits::new(
            guards.rate_limit_per_minute,
            Some(BackoffPolicy {
                failures: guards.login_backoff_failures,
                window: Duration::from_secs(guards.login_backoff_window.max(1)),
            }),
            guards.redis_url.as_deref(),
        )?;
        for origin in &guards.cors_allowed_origins {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && origin.parse::<actix_web::http::Uri>().is_ok()
                    && !origin.ends_with('/'));
            if !valid {
                anyhow::bail!(
                    "CORS_ALLOWED_ORIGINS: `{origin}` is not an origin like https://app.example.com"
                );
            }
        }
        Ok(Self {
            db,
            passwords,
            tokens,
            token_settings: settings.tokens.clone(),
            audit_retention_days: settings.audit_retention_days,
            limits,
            trusted_proxies: guards.trusted_proxies.clone(),
            cors_allowed_origins: guards.cors_allowed_origins.clone(),
            routes: RouteTable::from_openapi(&openapi),
            openapi,
        })
    }
}

/// The application: routes, JSON and error handling, security headers and the
/// request log, in one place.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let openapi = state.openapi.clone();
    let cors = cors(&state.cors_allowed_origins);
    App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(http::json_config())
        .app_data(http::path_config())
        .app_data(http::query_config())
        .configure(routes::configure)
        .into_app()
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi))
        .route("/docs", web::get().to(http::redirect_to_docs))
        .default_service(web::to(http::no_such_route))
        // CORS inside the safety net, so its own refusals become problem+json.
        .wrap(cors)
        .wrap(ErrorHandlers::new().default_handler(http::render_bare_error_as_problem))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("Cache-Control", "no-store"))
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY)),
        )
        .wrap(from_fn(http::request_log))
}

/// Tight enough for a JSON API, loose enough for Swagger UI at /docs (which
/// sets inline styles and shows data: images).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Browsers from the listed origins may call the API with a bearer token;
/// any other origin gets no CORS headers (and so no access from scripts).
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// Serves the application on an already bound listener (tests bind port 0).
pub fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    spawn_housekeeping(state.clone());
    let server = HttpServer::new(move || build_app(state.clone()))
        // Slow or idle clients must not hold workers.
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(2))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
    Ok(server)
}

/// Background upkeep, off the request path: the audit-retention sweep (at
/// start, then hourly) and forgetting idle rate-limit state (every minute).
fn spawn_housekeeping(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut minutes = 0u64;
        let mut every_minute = actix_web::rt::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            if minutes.is_multiple_of(60) {
                crate::audit::prune(&state.db, state.audit_retention_days).await;
            }
            state.limits.forget_idle_clients();
            minutes += 1;
        }
    });
}

/// A running server and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Migrates, binds and prepares to serve, as `portcullis serve` does.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        settings
            .check_production()
            .map_err(|refusal| anyhow::anyhow!(refusal))?;
        let state = AppState::new(settings)?;
        let db = state.db.clone();
        let applied = web::block(move || db.migrate()).await??;
        for migration in applied {
            tracing::info!(%migration, "applied migration");
        }
        let listener = TcpListener::bind(&settings.bind_addr)
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        tracing::info!(address = %settings.bind_addr, database = ?settings.database.database_url, "serving");
        let server = serve(listener, web::Data::new(state))?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
