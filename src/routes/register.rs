//! Signing up.

use actix_web::{HttpResponse, post, web};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::audit::{Event, EventType};

use crate::db::users::{self, ROLE_USER, UserRow};
use crate::db::{DbConnection, events};
use crate::domain::{Email, Username, check_new_password};
use crate::dto::{RegisterRequest, User};
use crate::error::{ApiError, FieldErrors, Problem, ValidationProblem};
use crate::http::{ClientInfo, IpRateLimit};
use crate::openapi::responses::{
    BodyTooLarge, BusyOrUnavailable, MalformedBody, NotJson, RateLimited,
};
use crate::startup::AppState;

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
    let (username, email) = validate_registration(&username, &email, &password)?;

    // Fail fast on a taken name before spending a hash on it.
    let (check_email, check_username) = (email.clone(), username.clone());
    state
        .db
        .run(move |conn| ensure_available(conn, &check_email, &check_username))
        .await?;

    let password_hash = state.passwords.hash(password).await?;
    let now = crate::db::now();
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password_hash,
        role: ROLE_USER.to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let event = Event::new(EventType::UserRegistered, &client).user(&row.id);
    let inserted = state
        .db
        .transaction(move |conn| {
            users::insert(conn, &row).map_err(|error| match error {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    ApiError::EmailTaken
                }
                other => other.into(),
            })?;
            events::record(conn, event.row())?;
            Ok(row)
        })
        .await;
    match inserted {
        Ok(user) => Ok(HttpResponse::Created().json(User::from(&user))),
        // Lost a race with a concurrent registration: say which name was taken.
        Err(ApiError::EmailTaken) => {
            state
                .db
                .run(move |conn| ensure_available(conn, &email, &username))
                .await?;
            Err(ApiError::EmailTaken)
        }
        Err(other) => Err(other),
    }
}

fn validate_registration(
    username: &str,
    email: &str,
    password: &str,
) -> Result<(Username, Email), ApiError> {
    let mut errors = FieldErrors::new();
    let parsed_username = Username::parse(username)
        .map_err(|error| errors.entry("username").or_default().push(error))
        .ok();
    let parsed_email = Email::parse(email)
        .map_err(|error| errors.entry("email").or_default().push(error))
        .ok();
    if let Err(password_errors) = check_new_password(password, username, email) {
        errors.insert("password", password_errors);
    }
    match (parsed_username, parsed_email) {
        (Some(username), Some(email)) if errors.is_empty() => Ok((username, email)),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn ensure_available(
    conn: &mut DbConnection,
    email: &Email,
    username: &Username,
) -> Result<(), ApiError> {
    if users::email_exists(conn, email.as_str())? {
        return Err(ApiError::EmailTaken);
    }
    if users::username_exists(conn, username.as_str())? {
        return Err(ApiError::UsernameTaken);
    }
    Ok(())
}
