//! Signing up.

use actix_web::{HttpResponse, post, web};

use crate::service::accounts::{self, NewAccount};
use crate::service::caller::ClientInfo;
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::dto::{RegisterRequest, User};
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{BodyTooLarge, BusyOrUnavailable, MalformedBody, NotJson, RateLimited};

/// Creates an account with the `user` role.
#[utoipa::path(
    tag = "auth",
    operation_id = "register_user",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created.", body = User),
        MalformedBody,
        (status = 409, description = "`email_taken` or `username_taken` (usernames compare ignoring case).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `errors` names each invalid field.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/register")]
pub async fn register_user(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let RegisterRequest {
        username,
        email,
        password,
    } = body.into_inner();
    let new = NewAccount::parse(&username, &email, password).map_err(ApiError::Validation)?;
    let account = accounts::sign_up(state.get_ref(), new, &client).await?;
    Ok(HttpResponse::Created().json(User::from(&account)))
}
