//! The route table: every endpoint, grouped by resource. Registering a handler
//! here also puts it in the OpenAPI document.

mod account;
mod admin;
mod auth;
mod health;
mod keys;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(config: &mut ServiceConfig) {
    config
        .service(auth::register_user)
        .service(auth::login_user)
        .service(account::get_me)
        .service(account::delete_account)
        .service(admin::get_dashboard)
        .service(keys::get_jwks)
        .service(health::get_health)
        .service(health::get_readiness);
}
