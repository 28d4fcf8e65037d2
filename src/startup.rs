//! Building the application: the one `App` that the binary, the tests and the
//! benchmark all run, the HTTP server around it, and its background upkeep.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::service::{
    accounts, audit, email_login, federation, mfa, oauth_grants, outbox, passkeys,
};
use crate::state::AppState;
use crate::web::fallback::{self, RouteTable};
use crate::web::routes;
use crate::web::{parsing, request_log};

/// The application: routes, JSON and error handling, security headers and the
/// request log, in one place.
pub fn build_app(
    state: web::Data<AppState>,
    docs: web::Data<ApiDocs>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let openapi = docs.document.clone();
    let cors_enabled = !state.edge.cors_allowed_origins.is_empty();
    let cors = crate::web::cors::cors(&state.edge.cors_allowed_origins);
    let route_table = web::Data::from(docs.routes.clone());
    let ui_enabled = state.edge.ui;
    App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(route_table)
        .app_data(parsing::json_config())
        .app_data(parsing::path_config())
        .app_data(parsing::query_config())
        .configure(routes::configure)
        .into_app()
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi))
        .route("/docs", web::get().to(fallback::redirect_to_docs))
        .configure(|config| crate::web::ui::configure(config, ui_enabled))
        .default_service(web::to(fallback::no_such_route))
        // Innermost: its 408 gets the headers and the log line of every answer.
        .wrap(from_fn(parsing::read_body_in_time))
        // CORS inside the safety net, so its own refusals become problem+json;
        // with no allowed origins, no CORS header at all.
        .wrap(Condition::new(cors_enabled, cors))
        .wrap(from_fn(
            crate::web::cors::only_allowed_origins_get_cors_headers,
        ))
        .wrap(ErrorHandlers::new().default_handler(fallback::render_bare_error_as_problem))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "no-referrer"))
                .add(("Cache-Control", "no-store"))
                .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY)),
        )
        .wrap(from_fn(crate::web::metrics::observe_requests))
        .wrap(from_fn(request_log::request_log))
}

/// The metrics listener: `GET /metrics` and nothing else, apart from the
/// public one so that it can stay on a private address.
fn serve_metrics(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route(
            "/metrics",
            web::get().to(crate::web::metrics::serve_metrics),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The OpenAPI document and the route table taken from it (to tell 404 from
/// 405), computed once per server rather than once per worker.
pub struct ApiDocs {
    pub document: utoipa::openapi::OpenApi,
    pub routes: Arc<RouteTable>,
}

impl ApiDocs {
    pub fn new() -> Self {
        let document = crate::web::openapi::document();
        let routes = Arc::new(RouteTable::from_openapi(&document));
        Self { document, routes }
    }
}

impl Default for ApiDocs {
    fn default() -> Self {
        Self::new()
    }
}

/// Tight enough for a JSON API, loose enough for Swagger UI at /docs (which
/// sets inline styles and shows data: images).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// File descriptors kept out of the connection cap: the database pool, Redis,
/// SMTP, the listener, logs and the rest of the process.
const RESERVED_FILES: u64 = 256;

/// Raises the soft open-file limit to the hard one (the common soft default,
/// 1,024, is what a few hundred stalled clients exhaust) and returns the
/// limit in force.
fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1_024, |(soft, _)| soft)
        }
    }
}

/// Connections each worker accepts at most, so that all of them together stay
/// below the open-file limit: past the cap, new connections wait in the
/// listen backlog instead of failing with "too many open files".
fn connections_per_worker(open_files: u64, workers: usize) -> usize {
    let workers = u64::try_from(workers.max(1)).unwrap_or(1);
    let cap = open_files.saturating_sub(RESERVED_FILES) / workers;
    usize::try_from(cap.clamp(16, 25_000)).unwrap_or(25_000)
}

/// Serves the application on an already bound listener (tests bind port 0).
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    shutdown_timeout: u64,
) -> std::io::Result<Server> {
    spawn_housekeeping(state.clone());
    spawn_mail_sender(state.clone());
    let docs = web::Data::new(ApiDocs::new());
    let open_files = raise_open_file_limit();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let max_connections = connections_per_worker(open_files, workers);
    tracing::info!(
        open_files,
        workers,
        max_connections_per_worker = max_connections,
        "connection limits"
    );
    let limits = Arc::new(crate::web::connections::ConnectionLimits::new(
        state.edge.max_connections_per_client,
        max_connections.saturating_mul(workers),
        state.edge.trusted_proxies.clone(),
    ));
    let server = HttpServer::new(move || build_app(state.clone(), docs.clone()))
        .on_connect(move |connection, data| limits.on_connect(connection, data))
        .workers(workers)
        .max_connections(max_connections)
        // Slow or idle clients must not hold workers.
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(2))
        .keep_alive(Duration::from_secs(30))
        .shutdown_timeout(shutdown_timeout)
        // SIGTERM is ours to handle: see `Application::drain_on_termination`.
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}

/// An HTTP server with the main server's settings whose `GET /me` does
/// nothing but answer a fixed body the size of a real one: the ceiling of the
/// HTTP stack itself, which `bench/run.sh` sets the `/me` figure beside.
pub fn empty_server(listener: TcpListener) -> std::io::Result<Server> {
    const BODY: &str = r#"{"id":"0b9e6c2e-5a0f-4a57-9d1c-2f8e3c7b1a4d","username":"seed0","email":"seed0@bench.example","role":"user","email_verified":true,"created_at":"2026-11-26T00:00:00Z","mfa_enabled":false}"#;
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let server = HttpServer::new(|| {
        App::new().route(
            "/me",
            web::get().to(|| async {
                actix_web::HttpResponse::Ok()
                    .content_type("application/json")
                    .body(BODY)
            }),
        )
    })
    .workers(workers)
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(2))
    .keep_alive(Duration::from_secs(30))
    .listen(listener)?
    .run();
    Ok(server)
}

/// Background upkeep, off the request path: the audit-retention sweep, spent
/// mail and expired login challenges
/// (hourly; the first one runs in [`Application::build`]) and forgetting idle
/// rate-limit state (every minute).
fn spawn_housekeeping(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut minutes = 0u64;
        let mut every_minute = actix_web::rt::time::interval(Duration::from_secs(60));
        // The first tick is immediate; the start-up sweep has just run.
        every_minute.tick().await;
        loop {
            every_minute.tick().await;
            minutes += 1;
            if minutes.is_multiple_of(60) {
                audit::prune(state.get_ref()).await;
                outbox::prune(state.get_ref()).await;
                mfa::prune(state.get_ref()).await;
            }
            // Anyone may start a passkey login: unfinished ones go sooner.
            if minutes.is_multiple_of(5) {
                passkeys::prune(state.get_ref()).await;
                email_login::prune(state.get_ref()).await;
                federation::prune(state.get_ref()).await;
                oauth_grants::prune(state.get_ref()).await;
            }
            state.limits.forget_idle_clients();
        }
    });
}

/// The files whose contents are secret (the SQLite database with every
/// password hash, its WAL, the signing key) must be the owner's alone: a file
/// that group or others can open is a warning, and a refusal in production.
fn check_private_files(settings: &Settings) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let database = &settings.database.database_url;
    let mut files = crate::db::data_files(database);
    files.extend(settings.tokens.jwt_private_key_file.clone());
    files.extend(settings.oauth.oauth_rsa_key_file.clone());
    files.extend(database.file_beside("jwt-ed25519.pem"));
    files.extend(database.file_beside("jwt-hs256.secret"));
    files.extend(settings.encryption.data_encryption_key_file.clone());
    files.extend(database.file_beside("data.key"));
    for file in files {
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            continue;
        }
        let problem = format!(
            "{} can be opened by group or others (mode {mode:o}); chmod 600 it",
            file.display()
        );
        if settings.portcullis_env == crate::config::Environment::Production {
            anyhow::bail!("PORTCULLIS_ENV=production refuses to start: {problem}");
        }
        tracing::warn!("{problem}");
    }
    Ok(())
}

/// How many seconds before expiry the TypeScript client refreshes by default
/// (`refreshLeewaySeconds`; it takes at most a quarter of the lifetime).
pub const CLIENT_DEFAULT_REFRESH_LEEWAY_SECS: u64 = 30;

/// Access tokens shorter-lived than four times the client's default leeway
/// make browsers refresh often (every three quarters of the lifetime, per
/// tab), against the per-address limit on `/token/refresh`: a warning says so.
fn warn_of_short_access_tokens(settings: &Settings) {
    let ttl = settings.tokens.access_token_ttl;
    if ttl >= 4 * CLIENT_DEFAULT_REFRESH_LEEWAY_SECS {
        return;
    }
    let every = (ttl * 3 / 4).max(1);
    tracing::warn!(
        access_token_ttl = ttl,
        "ACCESS_TOKEN_TTL={ttl} s is shorter than 4 x the TypeScript client's default refresh \
         leeway ({CLIENT_DEFAULT_REFRESH_LEEWAY_SECS} s): each open tab refreshes about every \
         {every} s, and /token/refresh allows RATE_LIMIT_PER_MINUTE ({}) per client address; \
         use at least {} s unless tokens must be this short",
        settings.guards.rate_limit_per_minute,
        4 * CLIENT_DEFAULT_REFRESH_LEEWAY_SECS,
    );
}

/// The mail sender of this node: delivers what is due whenever a message is
/// queued here, and every `MAIL_POLL_INTERVAL_MS` otherwise (for retries, and
/// for mail queued by other nodes). Once the node is draining it finishes
/// what it is sending and stops; other nodes (or this one after a restart)
/// send the rest.
fn spawn_mail_sender(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let draining = || state.draining.load(std::sync::atomic::Ordering::Relaxed);
        while !draining() {
            match outbox::deliver_due(state.get_ref()).await {
                // A full batch: there may be more.
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not look at the mail outbox"),
            }
            if draining() {
                break;
            }
            tokio::select! {
                () = state.mail_wakeup.notified() => {}
                () = tokio::time::sleep(state.edge.mail_poll_interval) => {}
            }
        }
        state.mail_sender_stopped.send_replace(true);
        tracing::info!("mail sender stopped");
    });
}

/// A running server and the port it listens on.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener's port and server, when `METRICS_BIND_ADDR` is set.
    metrics: Option<(u16, Server)>,
    state: web::Data<AppState>,
    ready_delay: Duration,
    shutdown_timeout: Duration,
    /// The public listener's accept queue, drained before it closes; taken
    /// by [`Application::drain_on_termination`].
    accept_queue: Option<AcceptQueue>,
}

/// How often the accept queue is looked at while it drains.
const ACCEPT_QUEUE_POLL: Duration = Duration::from_millis(10);
/// How long the accept queue must stay empty before the listener closes:
/// handshakes the kernel answered before new ones were refused complete one
/// round trip later, into the queue.
const ACCEPT_QUEUE_SETTLE: Duration = Duration::from_millis(200);

/// The public listener's accept queue, seen through a duplicate of its
/// descriptor.
///
/// Closing a listening socket resets every connection the kernel completed
/// but the server has not accepted yet: clients that had every reason to
/// think they were connected, and may have sent a request. actix-server
/// offers nothing between accepting and closing (`ServerHandle::pause` leaves
/// the queue waiting; `stop` closes the listener at once, and a smaller
/// backlog cannot be set on a listening socket to refuse new connections). So
/// the drain happens beside it: first a socket filter makes the listener drop
/// new handshakes (a new client's SYN goes unanswered; it retries and then
/// finds the port closed: refused, never accepted), then the server keeps
/// accepting until the kernel reports the queue empty (`TCP_INFO`), and only
/// then is it told to stop.
struct AcceptQueue {
    socket: socket2::Socket,
}

impl AcceptQueue {
    /// Watches `listener`'s queue. The duplicate must be dropped before the
    /// server stops: while it is open, the socket keeps listening.
    fn of(listener: &TcpListener) -> std::io::Result<Self> {
        Ok(Self {
            socket: socket2::Socket::from(listener.try_clone()?),
        })
    }

    /// From now on incoming SYNs (SYN without ACK) are dropped; the final ACK
    /// of a handshake already answered still completes it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn refuse_new_handshakes(&self) -> std::io::Result<()> {
        use socket2::SockFilter;
        // Classic BPF instruction codes (linux/filter.h); they fit in 16 bits.
        const LOAD_BYTE: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
        const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
        const JUMP_IF_EQUAL: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
        const RETURN: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
        // A filter on a TCP socket sees the TCP header at offset 0; byte 13
        // holds the flags (SYN 0x02, ACK 0x10). Returning 0 drops the packet.
        let filter = [
            SockFilter::new(LOAD_BYTE, 0, 0, 13),
            SockFilter::new(AND, 0, 0, 0x12),
            // SYN alone: on to the drop; anything else: skip to the keep.
            SockFilter::new(JUMP_IF_EQUAL, 0, 1, 0x02),
            SockFilter::new(RETURN, 0, 0, 0),
            SockFilter::new(RETURN, 0, 0, u32::MAX),
        ];
        self.socket.attach_filter(&filter)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn refuse_new_handshakes(&self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Connections completed by the kernel and not accepted yet.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn queued(&self) -> std::io::Result<u32> {
        use std::os::fd::AsRawFd as _;
        let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
        let mut length = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>())
            .map_err(std::io::Error::other)?;
        // SAFETY: the kernel writes at most `length` bytes into `info`, which
        // is that large, and the descriptor is open while `self` lives.
        let result = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &raw mut length,
            )
        };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: all-zero is a valid tcp_info (integers only), and the
        // kernel filled in what it wrote. For a listening socket
        // `tcpi_unacked` is the length of its accept queue.
        Ok(unsafe { info.assume_init() }.tcpi_unacked)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn queued(&self) -> std::io::Result<u32> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Refuses new handshakes, then waits (at most `within`) until every
    /// connection already queued has been accepted and the queue has stayed
    /// empty for [`ACCEPT_QUEUE_SETTLE`]. Where the queue cannot be watched,
    /// returns at once: the listener then closes as it did before.
    async fn drain(self, within: Duration) {
        if let Err(error) = self.refuse_new_handshakes() {
            tracing::warn!(%error, "cannot refuse new connections before closing the listener");
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut empty_since = None;
        loop {
            let now = tokio::time::Instant::now();
            match self.queued() {
                Ok(0) => {
                    let since = *empty_since.get_or_insert(now);
                    if now.duration_since(since) >= ACCEPT_QUEUE_SETTLE {
                        return;
                    }
                }
                Ok(_) => empty_since = None,
                Err(error) => {
                    tracing::warn!(%error, "cannot see the accept queue; closing the listener now");
                    return;
                }
            }
            if now >= deadline {
                tracing::warn!("the accept queue did not drain in time; closing the listener");
                return;
            }
            tokio::time::sleep(ACCEPT_QUEUE_POLL).await;
        }
    }
}

/// SIGTERM or SIGINT, whichever comes first.
async fn termination() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

impl Application {
    /// Migrates, binds and prepares to serve, as `portcullis serve` does.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] on another clock: tests pass a manual one.
    pub async fn build_with_clock(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        settings
            .check_production()
            .map_err(|refusal| anyhow::anyhow!(refusal))?;
        check_private_files(settings)?;
        warn_of_short_access_tokens(settings);
        let db = crate::db::Database::connect_lazily(
            &settings.database.database_url,
            &settings.database.pool_options(),
        );
        // Migrate before anything writes beside the database (a generated
        // development key): a wrong DATABASE_URL must leave no files behind.
        let applied = tokio::task::spawn_blocking(move || db.migrate()).await??;
        for migration in applied {
            tracing::info!(%migration, "applied migration");
        }
        let listener = TcpListener::bind(&settings.bind_addr)
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        // Without PUBLIC_URL, the address actually bound (BIND_ADDR may ask
        // for any free port) is where providers send browsers back to.
        let mut settings = settings.clone();
        if settings.providers.public_url.is_none() {
            settings.providers.public_url =
                url::Url::parse(&format!("http://{}", listener.local_addr()?)).ok();
        }
        let settings = &settings;
        let state = web::Data::new(AppState::with_clock(settings, clock)?);
        audit::prune(state.get_ref()).await;
        let checked = state.clone();
        actix_web::rt::spawn(async move {
            if let Err(error) = accounts::normalise_stored_emails(checked.get_ref()).await {
                tracing::warn!(%error, "could not check the stored email addresses");
            }
        });
        let accept_queue = AcceptQueue::of(&listener)
            .inspect_err(|error| tracing::warn!(%error, "cannot watch the accept queue; it will not be drained at shutdown"))
            .ok();
        tracing::info!(address = %settings.bind_addr, database = ?settings.database.database_url, "serving");
        let metrics = match &settings.metrics_bind_addr {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .with_context(|| format!("cannot listen on METRICS_BIND_ADDR {address}"))?;
                let port = listener.local_addr()?.port();
                tracing::info!(%address, "metrics at /metrics");
                Some((port, serve_metrics(listener, state.clone())?))
            }
            None => None,
        };
        let server = serve(listener, state.clone(), settings.guards.shutdown_timeout)?;
        Ok(Self {
            port,
            server,
            metrics,
            state,
            ready_delay: Duration::from_secs(settings.guards.shutdown_ready_delay),
            shutdown_timeout: Duration::from_secs(settings.guards.shutdown_timeout),
            accept_queue,
        })
    }

    /// On SIGTERM (or Ctrl-C): first `/readyz` answers 503 for
    /// `SHUTDOWN_READY_DELAY` while everything is still served, so load
    /// balancers take the node out before it stops listening; then new
    /// connections are refused, the ones already in the listen backlog are
    /// accepted and answered (a listener that closes resets them; see
    /// [`AcceptQueue`]), the listener closes and requests in flight get
    /// `SHUTDOWN_TIMEOUT` to finish. Mail being sent at that moment is not
    /// lost: its lease lapses and the outbox sends it again from another node
    /// or after a restart.
    pub fn drain_on_termination(&mut self) {
        let (state, handle, delay) = (self.state.clone(), self.server.handle(), self.ready_delay);
        let (accept_queue, shutdown_timeout) = (self.accept_queue.take(), self.shutdown_timeout);
        actix_web::rt::spawn(async move {
            termination().await;
            tracing::info!(
                ready_delay_secs = delay.as_secs(),
                "shutting down: /readyz answers 503, still serving"
            );
            state
                .draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
            // The mail sender finishes the message it is on and stops.
            state.mail_wakeup.notify_one();
            actix_web::rt::time::sleep(delay).await;
            if let Some(accept_queue) = accept_queue {
                tracing::info!(
                    "shutting down: refusing new connections, answering those queued before closing the listener"
                );
                // Dropped by `drain`, before the server closes its listener.
                accept_queue.drain(shutdown_timeout).await;
            }
            tracing::info!("shutting down: listener closed, finishing requests in flight");
            handle.stop(true).await;
        });
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The shared state the server runs with (tests reach the database and
    /// the housekeeping through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the public server stops (after a SIGTERM drain), then
    /// waits (at most `SHUTDOWN_TIMEOUT`) for the mail sender to finish the
    /// message it is sending; the metrics listener stops last.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Without `drain_on_termination` nothing drains the queue: drop the
        // duplicate, or the socket would go on listening after the server stops.
        drop(self.accept_queue);
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        // Also when the server stopped without a SIGTERM drain.
        self.state
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.state.mail_wakeup.notify_one();
        let mut mail_sender = self.state.mail_sender_stopped.subscribe();
        if tokio::time::timeout(
            self.shutdown_timeout,
            mail_sender.wait_for(|stopped| *stopped),
        )
        .await
        .is_err()
        {
            tracing::warn!(
                "the mail sender did not finish in time; its message will be sent again"
            );
        }
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        served
    }
}
