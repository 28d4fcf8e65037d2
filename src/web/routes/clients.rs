//! Registering the apps that sign people in through Portcullis (OpenID
//! clients); every handler takes an [`AdminCaller`].

use actix_web::{HttpResponse, delete, get, patch, post, web};

use crate::service::caller::ClientInfo;
use crate::service::oauth_clients::{self, ClientChanges};
use crate::state::AppState;
use crate::web::dto::{
    ClientSecretView, ClientView, CreateClientRequest, OAuthGrantType, UpdateClientRequest,
};
use crate::web::extractors::AdminCaller;
use crate::web::problem::{ApiError, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotAdmin, NotFound,
    NotJson, Unauthenticated,
};

fn grant_names(grants: Option<Vec<OAuthGrantType>>) -> Option<Vec<String>> {
    grants.map(|grants| {
        grants
            .into_iter()
            .map(|grant| grant.as_str().to_owned())
            .collect()
    })
}

/// Registers a client. A confidential client's `client_secret` is in this
/// answer and never again (it is kept only as a hash).
#[utoipa::path(
    tag = "clients",
    operation_id = "create_client",
    security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "The client, with its secret if confidential.", body = ClientView),
        MalformedBody,
        Unauthenticated,
        NotAdmin,
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: a redirect URI, grant type, scope or algorithm is not allowed.", body = ValidationProblem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[post("/admin/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    client: ClientInfo,
    AdminCaller(caller): AdminCaller,
    body: web::Json<CreateClientRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateClientRequest {
        name,
        client_type,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        first_party,
        id_token_signed_response_alg,
    } = body.into_inner();
    let changes = ClientChanges {
        name: Some(name),
        redirect_uris: Some(redirect_uris),
        post_logout_redirect_uris: Some(post_logout_redirect_uris),
        grant_types: grant_names(grant_types),
        scopes,
        first_party,
        id_token_signed_response_alg,
    };
    let made = oauth_clients::create(
        state.get_ref(),
        &client_type,
        changes,
        state.tokens.signs_eddsa(),
        Some(&caller.account.id.to_string()),
        &client,
    )
    .await?;
    let mut view = ClientView::from(made.client);
    view.client_secret = made.secret.map(|secret| secret.expose().to_owned());
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(view))
}

/// Every registered client, oldest first.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_clients",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The clients.", body = Vec<ClientView>),
        Unauthenticated,
        NotAdmin,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    _admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let clients = oauth_clients::list(state.get_ref()).await?;
    Ok(HttpResponse::Ok().json(
        clients
            .into_iter()
            .map(ClientView::from)
            .collect::<Vec<_>>(),
    ))
}

/// One client.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id.", max_length = 64)),
    responses(
        (status = 200, description = "The client.", body = ClientView),
        Unauthenticated,
        NotAdmin,
        NotFound,
        DatabaseUnavailable,
    ),
)]
#[get("/admin/clients/{client_id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client = oauth_clients::get(state.get_ref(), &id).await?;
    Ok(HttpResponse::Ok().json(ClientView::from(client)))
}

/// Changes a client; absent fields stay. Tokens already issued stay valid.
#[utoipa::path(
    tag = "clients",
    operation_id = "update_client",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id.", max_length = 64)),
    request_body = UpdateClientRequest,
    responses(
        (status = 200, description = "The client as changed.", body = ClientView),
        MalformedBody,
        Unauthenticated,
        NotAdmin,
        NotFound,
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: the client as changed breaks a rule.", body = ValidationProblem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[patch("/admin/clients/{client_id}")]
pub async fn update_client(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    id: web::Path<String>,
    body: web::Json<UpdateClientRequest>,
) -> Result<HttpResponse, ApiError> {
    let UpdateClientRequest {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        first_party,
        id_token_signed_response_alg,
    } = body.into_inner();
    let changes = ClientChanges {
        name,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types: grant_names(grant_types),
        scopes,
        first_party,
        id_token_signed_response_alg,
    };
    let client =
        oauth_clients::update(state.get_ref(), &id, changes, state.tokens.signs_eddsa()).await?;
    Ok(HttpResponse::Ok().json(ClientView::from(client)))
}

/// Deletes a client, and with it every grant, consent and code it had: its
/// refresh tokens stop at once, its access tokens at userinfo and
/// introspection (a resource server that only checks signatures accepts
/// them until they expire, `ACCESS_TOKEN_TTL` at most).
#[utoipa::path(
    tag = "clients",
    operation_id = "delete_client",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id.", max_length = 64)),
    responses(
        (status = 204, description = "Deleted."),
        Unauthenticated,
        NotAdmin,
        NotFound,
        BusyOrUnavailable,
    ),
)]
#[delete("/admin/clients/{client_id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    client: ClientInfo,
    AdminCaller(caller): AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    oauth_clients::delete(
        state.get_ref(),
        &id,
        Some(&caller.account.id.to_string()),
        &client,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives a confidential client a new secret, shown once; the old one stops
/// working at once.
#[utoipa::path(
    tag = "clients",
    operation_id = "rotate_client_secret",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id.", max_length = 64)),
    responses(
        (status = 200, description = "The new secret.", body = ClientSecretView),
        Unauthenticated,
        NotAdmin,
        NotFound,
        (status = 422, description = "`validation_failed`: a public client has no secret.", body = ValidationProblem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[post("/admin/clients/{client_id}/secret")]
pub async fn rotate_client_secret(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let secret = oauth_clients::rotate_secret(state.get_ref(), &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ClientSecretView {
            client_secret: secret.expose().to_owned(),
        }))
}
