//! The route table: every endpoint, grouped by resource. Registering a handler
//! here also puts it in the OpenAPI document.

mod account;
mod admin;
mod clients;
mod email_login;
mod health;
mod keys;
mod mfa;
mod oauth;
mod passkeys;
mod providers;
mod recovery;
mod register;
mod session;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(config: &mut ServiceConfig) {
    config
        .service(register::register_user)
        .service(session::login_user)
        .service(mfa::login_mfa)
        .service(passkeys::start_passkey_login)
        .service(passkeys::login_passkey)
        .service(email_login::request_email_login)
        .service(email_login::verify_email_login)
        .service(providers::list_providers)
        .service(providers::start_provider_login)
        .service(providers::provider_callback)
        .service(providers::exchange_login_code)
        .service(providers::list_identities)
        .service(providers::link_identity)
        .service(providers::unlink_identity)
        .service(session::refresh_token_pair)
        .service(session::logout_session)
        .service(account::get_me)
        .service(account::change_password)
        .service(account::list_sessions)
        .service(account::delete_session)
        .service(account::delete_account)
        .service(mfa::enroll_totp)
        .service(mfa::confirm_totp)
        .service(mfa::disable_totp)
        .service(mfa::regenerate_recovery_codes)
        .service(passkeys::start_passkey_registration)
        .service(passkeys::create_passkey)
        .service(passkeys::list_passkeys)
        .service(passkeys::delete_passkey)
        .service(recovery::update_me)
        .service(recovery::request_password_reset)
        .service(recovery::reset_password)
        .service(recovery::verify_email)
        .service(recovery::send_email_verification)
        .service(recovery::change_email)
        .service(admin::get_dashboard)
        .service(admin::list_users)
        .service(admin::create_user)
        .service(admin::send_password_reset)
        .service(admin::get_user)
        .service(admin::update_user)
        .service(admin::delete_user)
        .service(mfa::reset_user_mfa)
        .service(admin::list_events)
        .service(clients::create_client)
        .service(clients::list_clients)
        .service(clients::get_client)
        .service(clients::update_client)
        .service(clients::delete_client)
        .service(clients::rotate_client_secret)
        .service(oauth::openid_configuration)
        .service(oauth::authorize)
        .service(oauth::authorize_form)
        .service(oauth::get_authorization_request)
        .service(oauth::accept_authorization_request)
        .service(oauth::reject_authorization_request)
        .service(oauth::token)
        .service(oauth::userinfo)
        .service(oauth::userinfo_post)
        .service(oauth::introspect)
        .service(oauth::revoke)
        .service(oauth::logout)
        .service(oauth::confirm_logout)
        .service(oauth::list_consents)
        .service(oauth::revoke_consent)
        .service(keys::get_jwks)
        .service(health::get_health)
        .service(health::get_readiness);
}
