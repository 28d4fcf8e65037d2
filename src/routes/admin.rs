//! Operator endpoints; every handler takes an [`AdminUser`].

use actix_web::{HttpResponse, get, web};

use crate::auth::extractors::AdminUser;
use crate::db::{sessions, users};
use crate::dto::Dashboard;
use crate::error::{ApiError, Problem};
use crate::startup::AppState;

/// Figures at a glance: accounts, admins, disabled accounts, live sessions and
/// sign-ups in the last 24 hours.
#[utoipa::path(
    tag = "admin",
    operation_id = "get_dashboard",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dashboard figures.", body = Dashboard),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`.", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "`forbidden`: the caller is not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/admin")]
pub async fn get_dashboard(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<HttpResponse, ApiError> {
    let now = crate::db::now();
    let since = now - chrono::Duration::hours(24);
    let dashboard = state
        .db
        .run(move |conn| {
            let counts = users::counts(conn, since)?;
            Ok(Dashboard {
                users: counts.users,
                admins: counts.admins,
                disabled_users: counts.disabled,
                active_sessions: sessions::count_active(conn, now)?,
                signups_last_24h: counts.registered_since,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(dashboard))
}
