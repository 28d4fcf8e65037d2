//! Signing up and logging in.

use actix_web::{HttpResponse, post, web};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::auth::password::Verification;
use crate::db::DbConnection;
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, ROLE_USER, UserRow};
use crate::domain::{Email, Username, check_new_password};
use crate::dto::{LoginRequest, RegisterRequest, TokenPair, User};
use crate::error::{ApiError, FieldError, FieldErrors, Problem};
use crate::http::ClientInfo;
use crate::startup::AppState;

/// Creates an account with the `user` role.
#[utoipa::path(
    tag = "auth",
    operation_id = "register_user",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account was created.", body = User),
        (status = 400, description = "`malformed_request`: not JSON, wrong types or unknown fields.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `username_taken` (usernames compare ignoring case).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: body over 16 KiB.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: body not `application/json`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `errors` names each invalid field.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` (hashing queue full) or `service_unavailable` (database down); see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/register")]
pub async fn register_user(
    state: web::Data<AppState>,
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
    let user = state
        .db
        .run(move |conn| match users::insert(conn, &row) {
            Ok(()) => Ok(row),
            // Lost a race with a concurrent registration of the same name.
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                ensure_available(conn, &email, &username)?;
                Err(ApiError::EmailTaken)
            }
            Err(other) => Err(other.into()),
        })
        .await?;
    Ok(HttpResponse::Created().json(User::from(&user)))
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

/// Logs in by email or username and starts a session. An unknown account and a
/// wrong password get the same answer in the same time; a disabled account is
/// told so only after the right password.
#[utoipa::path(
    tag = "auth",
    operation_id = "login_user",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session's token pair.", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`: unknown account or wrong password (indistinguishable).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` (only after a correct password).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: give exactly one of `email` and `username`.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` or `service_unavailable`; see `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/login")]
pub async fn login_user(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        username,
        password,
        remember,
    } = body.into_inner();
    let user = match (email, username) {
        (Some(email), None) => {
            let email = email.to_lowercase();
            state
                .db
                .run(move |conn| Ok(users::find_by_email(conn, &email)?))
                .await?
        }
        (None, Some(username)) => {
            state
                .db
                .run(move |conn| Ok(users::find_by_username(conn, &username)?))
                .await?
        }
        _ => {
            return Err(ApiError::invalid_field(
                "email",
                FieldError::new("one_of", "give exactly one of `email` and `username`"),
            ));
        }
    };
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verification = state.passwords.verify(password, stored_hash).await?;
    let (user, upgraded_hash) = match (user, verification) {
        (Some(user), Verification::Match { upgraded_hash }) => (user, upgraded_hash),
        _ => return Err(ApiError::InvalidCredentials),
    };
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }

    let now = crate::db::now();
    let session_ttl = state.tokens.session_ttl(remember);
    let session = SessionRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        refresh_jti: uuid::Uuid::new_v4().to_string(),
        previous_refresh_jti: None,
        rotated_at: None,
        created_at: now,
        last_used_at: now,
        expires_at: now + chrono::Duration::seconds(seconds(session_ttl)),
        revoked_at: None,
        user_agent: client.user_agent,
        ip: client.ip,
    };
    let access_token =
        state
            .tokens
            .issue_access(&user.id, &session.id, &user.role, now.and_utc().timestamp())?;
    let refresh_token = state.tokens.issue_refresh(
        &user.id,
        &session.id,
        &session.refresh_jti,
        now.and_utc().timestamp(),
        session.expires_at.and_utc().timestamp(),
    )?;
    let user_id = user.id.clone();
    state
        .db
        .transaction(move |conn| {
            sessions::insert(conn, &session)?;
            users::record_login(conn, &user_id, session.created_at, upgraded_hash.as_deref())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl(),
        refresh_token,
        refresh_expires_in: session_ttl,
        user: User::from(&user),
    }))
}

/// Seconds as the signed type chrono wants, saturating absurd settings.
fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4_000)
}
