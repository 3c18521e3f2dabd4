//! The router of the whole API: every path from `sync_protocol::endpoints` to its handler,
//! with the per-address limits on sign-in and the client address behind a trusted proxy.

use super::state::*;
use super::throttle;
use super::{api, auth_api};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sync_protocol::endpoints;
use sync_protocol::wire;

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    // The routes anyone may call without a session, each an argon2 hash: limited per address.
    let sign_in = throttle::limit_per_address(
        Router::new()
            .route(&endpoints::full(endpoints::LOGIN), post(auth_api::login))
            .route(&endpoints::full(endpoints::ENROLL), post(auth_api::enroll))
            .route(
                &endpoints::full(endpoints::CHANGE_PASSWORD),
                post(auth_api::change_password),
            ),
        state.sign_in_limit,
    );
    Router::new()
        .merge(sign_in)
        .route("/healthz", get(|| async { "ok" }))
        .route(&endpoints::full(endpoints::INFO), get(api::info))
        .route(&endpoints::full(endpoints::PUSH), post(api::push))
        .route(&endpoints::full(endpoints::PULL), post(api::pull))
        .route(&endpoints::full(endpoints::BOOTSTRAP), post(api::bootstrap))
        .route(&endpoints::full(endpoints::DOCUMENT), post(api::document))
        .route(
            &endpoints::full(endpoints::SIGNING_BATCH),
            post(api::signing_batch),
        )
        .route(&endpoints::full(endpoints::LOGOUT), post(auth_api::logout))
        .route(
            &endpoints::full(endpoints::STEP_UP),
            post(auth_api::step_up),
        )
        .route(
            &endpoints::full(endpoints::CERTIFICATES),
            post(auth_api::register_certificate),
        )
        .route(&endpoints::full(endpoints::ME), get(auth_api::me))
        .route(
            &endpoints::full(endpoints::ACCOUNT_STATUS),
            post(auth_api::account_status),
        )
        .route(
            &endpoints::full(endpoints::ACCOUNTS),
            get(auth_api::list_accounts).post(auth_api::create_account),
        )
        .route(
            &endpoints::full(endpoints::REVOKE_ACCOUNT),
            post(auth_api::revoke_account),
        )
        .route(
            &endpoints::full(endpoints::RESET_PASSWORD),
            post(auth_api::reset_password),
        )
        .route(
            &endpoints::full(endpoints::RESET_AUTHENTICATOR),
            post(auth_api::reset_authenticator),
        )
        .route(
            &endpoints::full(endpoints::LOGIN_EVENTS),
            get(auth_api::login_events),
        )
        .route(
            &endpoints::full(endpoints::STAFF_SIGN_INS),
            get(auth_api::staff_sign_ins),
        )
        .route(
            &endpoints::full(endpoints::OWN_SIGN_INS),
            get(auth_api::own_sign_ins),
        )
        .route(
            &endpoints::full(endpoints::AUDIT_PUSH),
            post(auth_api::audit_push),
        )
        .route(
            &endpoints::full(endpoints::AUDIT_TAIL),
            post(auth_api::audit_tail_of_device),
        )
        .layer(DefaultBodyLimit::max(wire::MAX_BODY_BYTES))
        // Outermost: the client's address is settled before the limits and handlers read it.
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            throttle::client_behind_proxy,
        ))
        .with_state(state)
}
