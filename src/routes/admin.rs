//! Operator endpoints; every handler takes an [`AdminUser`].

use actix_web::{HttpResponse, delete, get, patch, web};
use serde_json::json;

use crate::audit::{Event, EventType};
use crate::auth::extractors::AdminUser;
use crate::db::events::{self, EventFilter};
use crate::db::sessions;
use crate::db::users::{self, AccountChange, UserFilter};
use crate::dto::{
    AdminUser as AdminUserView, AuthEvent, Dashboard, EventListQuery, Page, Pagination,
    UpdateUserRequest, UserListQuery,
};
use crate::error::{ApiError, FieldError};
use crate::http::ClientInfo;
use crate::openapi::responses::{
    BadQuery, BodyTooLarge, DatabaseUnavailable, LastAdmin, MalformedBody, NotAdmin, NotFound,
    NotJson, Unauthenticated,
};
use crate::startup::AppState;

/// Figures at a glance: accounts, admins, disabled accounts, live sessions,
/// sign-ups and failed logins in the last 24 hours.
#[utoipa::path(
    tag = "admin",
    operation_id = "get_dashboard",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dashboard figures.", body = Dashboard),
        Unauthenticated,
        NotAdmin,
        DatabaseUnavailable,
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
                failed_logins_last_24h: events::count_since(
                    conn,
                    EventType::LoginFailed.as_str(),
                    since,
                )?,
                signups_last_24h: counts.registered_since,
                rate_limit_store_errors: 0,
            })
        })
        .await?;
    let dashboard = Dashboard {
        rate_limit_store_errors: state.limits.store_errors(),
        ..dashboard
    };
    Ok(HttpResponse::Ok().json(dashboard))
}

/// Accounts, newest first, filtered by a search string, role or state.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_users",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "One page of accounts.", body = Page<AdminUserView>),
        Unauthenticated,
        NotAdmin,
        BadQuery,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let UserListQuery {
        page,
        per_page,
        q,
        role,
        disabled,
    } = query.into_inner();
    let pagination = Pagination::parse(page, per_page)?;
    if q.as_ref()
        .is_some_and(|q| q.chars().count() > crate::domain::EMAIL_MAX)
    {
        return Err(ApiError::invalid_field(
            "q",
            FieldError::new("too_long", "must be at most 254 characters"),
        ));
    }
    let filter = UserFilter {
        search: q.filter(|q| !q.is_empty()),
        role: role.map(|role| role.as_str()),
        disabled,
    };
    let (rows, total) = state
        .db
        .run(move |conn| {
            Ok(users::page(
                conn,
                &filter,
                pagination.offset(),
                pagination.limit(),
            )?)
        })
        .await?;
    let items = rows.iter().map(AdminUserView::from).collect();
    Ok(HttpResponse::Ok().json(pagination.of(items, total)))
}

/// One account.
#[utoipa::path(
    tag = "admin",
    operation_id = "get_user",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The account's id.")),
    responses(
        (status = 200, description = "The account.", body = AdminUserView),
        Unauthenticated,
        NotAdmin,
        NotFound,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = state
        .db
        .run(move |conn| users::find_by_id(conn, &id)?.ok_or(ApiError::NotFound))
        .await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&user)))
}

/// Changes an account's role or disables/enables it. A role change or
/// disabling ends all of the account's sessions at once. The last enabled admin
/// can be neither demoted nor disabled.
#[utoipa::path(
    tag = "admin",
    operation_id = "update_user",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The account's id.")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The account after the change.", body = AdminUserView),
        MalformedBody,
        Unauthenticated,
        NotAdmin,
        NotFound,
        LastAdmin,
        BodyTooLarge,
        NotJson,
        DatabaseUnavailable,
    ),
)]
#[patch("/admin/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    client: ClientInfo,
    admin: AdminUser,
    id: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let change = AccountChange {
        role: body.role.map(|role| role.as_str()),
        disabled: body.disabled,
    };
    let actor = admin.0.user.id;
    let now = crate::db::now();
    let updated = state
        .db
        .transaction(move |conn| {
            let (before, after) = users::change_keeping_an_admin(conn, &id, &change, now)?;
            let event = |event_type| {
                Event::new(event_type, &client)
                    .user(&after.id)
                    .actor(&actor)
            };
            if before.role != after.role {
                let changed = event(EventType::RoleChanged)
                    .detail(json!({"from": before.role, "to": after.role}));
                events::record(conn, changed.row())?;
            }
            if before.disabled != after.disabled {
                let toggled = if after.disabled {
                    EventType::UserDisabled
                } else {
                    EventType::UserEnabled
                };
                events::record(conn, event(toggled).row())?;
            }
            if before.role != after.role || (after.disabled && !before.disabled) {
                sessions::revoke_all_for_user(conn, &after.id, now)?;
            }
            Ok(after)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&updated)))
}

/// Deletes an account and its sessions. Its audit history stays. The last
/// enabled admin cannot be deleted.
#[utoipa::path(
    tag = "admin",
    operation_id = "delete_user",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The account's id.")),
    responses(
        (status = 204, description = "The account and its sessions are gone."),
        Unauthenticated,
        NotAdmin,
        NotFound,
        LastAdmin,
        DatabaseUnavailable,
    ),
)]
#[delete("/admin/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    client: ClientInfo,
    admin: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = admin.0.user.id;
    state
        .db
        .transaction(move |conn| {
            let deleted = users::delete_keeping_an_admin(conn, &id)?;
            let event = Event::new(EventType::UserDeleted, &client)
                .user(&deleted.id)
                .actor(&actor)
                .detail(json!({"by": "admin", "username": deleted.username}));
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit trail, newest first, optionally for one account or one type.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_events",
    security(("bearer" = [])),
    params(EventListQuery),
    responses(
        (status = 200, description = "One page of events.", body = Page<AuthEvent>),
        Unauthenticated,
        NotAdmin,
        BadQuery,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<EventListQuery>,
) -> Result<HttpResponse, ApiError> {
    let EventListQuery {
        user_id,
        event_type,
        page,
        per_page,
    } = query.into_inner();
    let pagination = Pagination::parse(page, per_page)?;
    let filter = EventFilter {
        user_id,
        event_type: event_type.map(|event_type| event_type.as_str().to_owned()),
    };
    let (rows, total) = state
        .db
        .run(move |conn| {
            Ok(events::page(
                conn,
                &filter,
                pagination.offset(),
                pagination.limit(),
            )?)
        })
        .await?;
    let items: Vec<AuthEvent> = rows.iter().filter_map(AuthEvent::from_row).collect();
    Ok(HttpResponse::Ok().json(pagination.of(items, total)))
}
