//! Operator endpoints; every handler takes an [`AdminCaller`].

use actix_web::{HttpResponse, delete, get, patch, post, web};

use crate::domain::{AccountCursor, EMAIL_MAX, Pagination, Role, UserId, Violation};
use crate::service::admin::{self, AccountQuery};
use crate::service::audit;
use crate::service::caller::ClientInfo;
use crate::state::AppState;
use crate::web::dto::{
    AdminUser as AdminUserView, AuthEvent, CreateUserRequest, Dashboard, EventListQuery, EventPage,
    UpdateUserRequest, UserListQuery, UserPage,
};
use crate::web::extractors::AdminCaller;
use crate::web::parsing::Query;
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BadQuery, BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, LastAdmin, MalformedBody,
    NotAdmin, NotFound, NotJson, Unauthenticated,
};

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
    _admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let figures = admin::dashboard(state.get_ref()).await?;
    Ok(HttpResponse::Ok().json(Dashboard::from(figures)))
}

/// Accounts, newest first, filtered by a search string, role or state.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_users",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "One page of accounts.", body = UserPage),
        Unauthenticated,
        NotAdmin,
        BadQuery,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    query: Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let UserListQuery {
        page,
        per_page,
        q,
        role,
        disabled,
        after,
    } = query.into_inner();
    let pagination = Pagination::parse(page, per_page).map_err(ApiError::Validation)?;
    let after = match after {
        None => None,
        Some(_) if pagination.page != 1 => {
            return Err(ApiError::invalid_field(
                "page",
                Violation::new("one_of", "give either `page` or `after`"),
            ));
        }
        Some(raw) => Some(AccountCursor::parse(&raw).ok_or_else(|| {
            ApiError::invalid_field(
                "after",
                Violation::new("invalid", "not a `next_after` of this list"),
            )
        })?),
    };
    if let Some(q) = &q {
        if q.chars().count() > EMAIL_MAX {
            return Err(ApiError::invalid_field("q", Violation::too_long(EMAIL_MAX)));
        }
        Violation::check_no_control_characters(q)
            .map_err(|violation| ApiError::invalid_field("q", violation))?;
    }
    let query = AccountQuery {
        search: q,
        role,
        disabled,
    };
    let listed = admin::list_accounts(state.get_ref(), query, pagination, after).await?;
    Ok(HttpResponse::Ok().json(UserPage {
        items: listed.accounts.iter().map(AdminUserView::from).collect(),
        page: pagination.page,
        per_page: pagination.per_page,
        total: listed.total.count,
        total_estimated: listed.total.estimated,
        next_after: listed.next_after.map(|cursor| cursor.encode()),
    }))
}

/// One account.
#[utoipa::path(
    tag = "admin",
    operation_id = "get_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
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
    _admin: AdminCaller,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let account = admin::get_account(state.get_ref(), id).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&account)))
}

/// Changes an account's role or disables/enables it. A role change or
/// disabling ends all of the account's sessions at once. The last enabled admin
/// can be neither demoted nor disabled.
#[utoipa::path(
    tag = "admin",
    operation_id = "update_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
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
    AdminCaller(caller): AdminCaller,
    id: web::Path<uuid::Uuid>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    let UpdateUserRequest { role, disabled } = body.into_inner();
    let account =
        admin::change_account(state.get_ref(), &caller, id, role, disabled, &client).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&account)))
}

/// Deletes an account and its sessions. Its audit history stays. The last
/// enabled admin cannot be deleted.
#[utoipa::path(
    tag = "admin",
    operation_id = "delete_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
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
    AdminCaller(caller): AdminCaller,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    admin::delete_account(state.get_ref(), &caller, id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit trail, newest first, optionally for one account or one type.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_events",
    security(("bearer" = [])),
    params(EventListQuery),
    responses(
        (status = 200, description = "One page of events.", body = EventPage),
        Unauthenticated,
        NotAdmin,
        BadQuery,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    query: Query<EventListQuery>,
) -> Result<HttpResponse, ApiError> {
    let EventListQuery {
        user_id,
        event_type,
        page,
        per_page,
    } = query.into_inner();
    let pagination = Pagination::parse(page, per_page).map_err(ApiError::Validation)?;
    let user_id = user_id.map(|id| id.to_string());
    let (events, total) = audit::list(state.get_ref(), user_id, event_type, pagination).await?;
    let items: Vec<AuthEvent> = events.into_iter().map(AuthEvent::from_recorded).collect();
    Ok(HttpResponse::Ok().json(EventPage::of(pagination, items, total)))
}

/// Makes an account for someone: no password is set (nor seen by the admin);
/// an invitation mail carries a link that sets the first one, valid
/// `INVITATION_TTL`.
#[utoipa::path(
    tag = "admin",
    operation_id = "create_user",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The account; the invitation is on its way.", body = AdminUserView),
        MalformedBody,
        Unauthenticated,
        NotAdmin,
        (status = 409, description = "`email_taken` or `username_taken`.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `errors` names each invalid field.", body = ValidationProblem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[post("/admin/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    client: ClientInfo,
    AdminCaller(caller): AdminCaller,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateUserRequest {
        username,
        email,
        role,
    } = body.into_inner();
    let role = role.unwrap_or(Role::User);
    let account = admin::invite(state.get_ref(), &caller, &username, &email, role, &client).await?;
    Ok(HttpResponse::Created().json(AdminUserView::from(&account)))
}

/// Mails the account a password-reset link. The admin never sees or sets the
/// password.
#[utoipa::path(
    tag = "admin",
    operation_id = "send_password_reset",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    responses(
        (status = 202, description = "Accepted: the reset link is on its way."),
        Unauthenticated,
        NotAdmin,
        NotFound,
        DatabaseUnavailable,
    ),
)]
#[post("/admin/users/{id}/password-reset")]
pub async fn send_password_reset(
    state: web::Data<AppState>,
    client: ClientInfo,
    AdminCaller(caller): AdminCaller,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    admin::send_password_reset(state.get_ref(), &caller, id, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}
