//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;
use crate::web::dto::Health;
use crate::web::problem::{ApiError, Problem};

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(
    tag = "health",
    operation_id = "get_health",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
#[get("/healthz")]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers, and takes writes (after a write failed
/// for lack of space, until a probe write goes through). Load balancers should
/// route only to ready nodes.
#[utoipa::path(
    tag = "health",
    operation_id = "get_readiness",
    responses(
        (status = 200, description = "The database answers and takes writes.", body = Health),
        (status = 503, description = "`service_unavailable`: the database is unreachable, or its storage is full (a write failed for lack of space and a probe write still does), or the node is shutting down (after SIGTERM, for `SHUTDOWN_READY_DELAY`); retry after `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
#[get("/readyz")]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::ShuttingDown);
    }
    state.db.ping().await?;
    state.db.ensure_writable().await?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
