//! The router of the whole API: every path from `sync_protocol::endpoints` to its handler,
//! with the per-address limits on sign-in and the client address behind a trusted proxy.

use super::state::*;
use super::throttle;
use super::{api, auth_api, passports, updates};
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
    let console = super::console::routes(&state);
    let complaints = super::complaints::routes(&state);
    Router::new()
        .merge(sign_in)
        .merge(console)
        .merge(complaints)
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
        .route(&endpoints::full(endpoints::RESETS), get(auth_api::resets))
        .route(
            &endpoints::full(endpoints::APPROVE_RESET),
            post(auth_api::approve_reset),
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
        .route(
            &endpoints::full(endpoints::UPDATE_CHECK),
            get(updates::check),
        )
        .route(
            &endpoints::full(endpoints::UPDATE_PACKAGE),
            get(updates::package),
        )
        .route(
            &endpoints::full(endpoints::PASSPORT_TRUST_LIST),
            get(passports::trust_list),
        )
        .route(
            &endpoints::full(endpoints::PASSPORTS_CHANGED),
            get(passports::changes),
        )
        .route(
            &endpoints::full(endpoints::PASSPORTS_OF_PERSON),
            get(passports::of_person),
        )
        .route(
            &endpoints::full(endpoints::DEVICE_REPORT),
            post(api::device_report),
        )
        .layer(DefaultBodyLimit::max(wire::MAX_BODY_BYTES))
        // Outermost: the client's address is settled before the limits and handlers read it.
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            throttle::client_behind_proxy,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Server};
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    /// The whole router over a fresh SQLite store, as if every request came from one address.
    async fn app() -> (tempfile::TempDir, Router) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(&dir.path().join("server.db"), None)
            .await
            .expect("database");
        let server = Server::start(db).await.expect("server");
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
        (dir, server.router().layer(MockConnectInfo(peer)))
    }

    /// Sends one request through the router; the status and the JSON error code.
    async fn answer(
        app: &Router,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Option<String>) {
        let mut request =
            Request::post(endpoints::full(path)).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).expect("request"))
            .await
            .expect("an answer");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = body["error"]["code"].as_str().map(str::to_string);
        (status, code)
    }

    #[tokio::test]
    async fn each_refusal_answers_with_its_status_and_stable_code() {
        let (_dir, app) = app().await;
        // A sync route without a device token, then with one the server never issued.
        assert_eq!(
            answer(&app, endpoints::PUSH, None, "{}").await,
            (StatusCode::UNAUTHORIZED, Some("missing_token".into()))
        );
        assert_eq!(
            answer(&app, endpoints::PUSH, Some("khong-phai-ma-that"), "{}").await,
            (StatusCode::UNAUTHORIZED, Some("invalid_token".into()))
        );
        // A name that is no account: the answer of a wrong password, five times, then the
        // name is locked for this address.
        let login = r#"{"username":"nv.khongco","password":"Sai@matkhau1","otp":"123456","want_secret":false}"#;
        for attempt in 1..=5 {
            assert_eq!(
                answer(&app, endpoints::LOGIN, None, login).await,
                (StatusCode::UNAUTHORIZED, Some("invalid_credentials".into())),
                "attempt {attempt}"
            );
        }
        assert_eq!(
            answer(&app, endpoints::LOGIN, None, login).await,
            (StatusCode::LOCKED, Some("locked".into()))
        );
        // Bodies that cannot be read answer in the API's error body, each with its code.
        assert_eq!(
            answer(&app, endpoints::LOGIN, None, "{khong phai json").await,
            (StatusCode::BAD_REQUEST, Some("bad_json".into()))
        );
        assert_eq!(
            answer(&app, endpoints::LOGIN, None, r#"{"username":"nv.lan"}"#).await,
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_fields".into()))
        );
        // A path the API does not have.
        assert_eq!(
            answer(&app, "sync/khong-co", None, "{}").await.0,
            StatusCode::NOT_FOUND
        );
    }
}
