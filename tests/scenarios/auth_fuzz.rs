//! A property run against the server's auth and admin endpoints over real HTTP: malformed and
//! oversized bodies, bodies of the right shape with absurd fields, and wrong, missing or valid
//! tokens. Whatever comes in, the answer is never a 5xx and the server keeps serving.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, PASSWORD};

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "auth/login"),
    ("POST", "auth/enroll"),
    ("POST", "auth/change-password"),
    ("POST", "auth/logout"),
    ("GET", "auth/me"),
    ("POST", "auth/account-status"),
    ("GET", "admin/accounts"),
    ("POST", "admin/accounts"),
    ("POST", "admin/accounts/revoke"),
    ("POST", "admin/accounts/reset-password"),
    ("POST", "admin/accounts/reset-authenticator"),
    ("GET", "admin/login-events"),
    ("GET", "admin/sign-ins"),
    ("GET", "auth/sign-ins"),
    ("POST", "audit/push"),
    ("GET", "info"),
];

/// Any JSON, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,16}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A string that is sometimes ordinary, sometimes huge, sometimes hostile.
fn field() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z.]{0,20}".prop_map(Value::String),
        ".{0,64}".prop_map(Value::String),
        (1usize..300_000).prop_map(|n| Value::String("Ạ".repeat(n))),
        Just(Value::String("' OR 1=1 --".into())),
        Just(Value::String("\u{0}\u{202e}nv.lan".into())),
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        Just(json!(["nv.lan"])),
    ]
}

/// A body of roughly the right shape for any of the endpoints, with arbitrary fields.
fn shaped_body() -> impl Strategy<Value = Value> {
    (
        field(),
        field(),
        field(),
        field(),
        prop::collection::vec(field(), 0..3),
    )
        .prop_map(|(a, b, c, d, list)| {
            json!({
                "username": a,
                "password": b,
                "otp": c,
                "challenge": d,
                "old_password": b,
                "new_password": c,
                "usernames": list,
                "facility": d,
                "role": a,
                "full_name": b,
                "initial_password": c,
            })
        })
}

#[derive(Clone)]
enum Body {
    Bytes(Vec<u8>),
    Json(Value),
}

// Bodies can be megabytes: a failing case is reported by its size and start.
impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, text) = match self {
            Body::Bytes(b) => ("bytes", String::from_utf8_lossy(b).into_owned()),
            Body::Json(v) => ("json", v.to_string()),
        };
        let start: String = text.chars().take(300).collect();
        write!(f, "{kind} of {} bytes: {start}…", text.len())
    }
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048).prop_map(Body::Bytes),
        any_json().prop_map(Body::Json),
        shaped_body().prop_map(Body::Json),
        (1usize..3).prop_map(|mb| Body::Bytes(vec![b'{'; mb * 1024 * 1024])),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Token {
    None,
    Garbage,
    Valid,
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![Just(Token::None), Just(Token::Garbage), Just(Token::Valid)]
}

#[test]
fn malformed_huge_or_unauthorised_requests_never_get_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (lab, device_token, session) = rt.block_on(async {
        let lab = Lab::start(Backend::Sqlite).await;
        let d = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
        let session = d
            .session()
            .and_then(|s| s.server_token().map(str::to_string))
            .expect("session");
        (lab, d.token.clone(), session)
    });
    let http = reqwest::Client::new();
    // Whether the server still serves is asked on new connections: the server may close a
    // kept-alive connection of the run after a malformed or huge request (as HTTP lets it), and
    // a request reusing it just then fails with an incomplete message that says nothing about
    // the server (seen once in a full run).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = lab.server.url.clone();
    let strategy = (
        0..ENDPOINTS.len(),
        body(),
        token(),
        token(),
        any::<bool>(),
        // Header values must be visible ASCII, or the client refuses to send them.
        "[!-~]{0,60}",
    );
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &strategy,
            |(endpoint, body, device, user, json_type, query)| {
                let (method, path) = ENDPOINTS[endpoint];
                let mut target = reqwest::Url::parse(&format!("{url}/api/v1/{path}")).expect("url");
                if path == "admin/login-events" || path.ends_with("/sign-ins") {
                    target
                        .query_pairs_mut()
                        .append_pair("username", &query)
                        .append_pair("limit", "-7");
                }
                let mut request = http.request(method.parse().expect("method"), target);
                request = match device {
                    Token::None => request,
                    Token::Garbage => request.bearer_auth(&query),
                    Token::Valid => request.bearer_auth(&device_token),
                };
                // Signing the one valid session out would leave the rest of the run without it.
                let user = match (path, user) {
                    ("auth/logout", Token::Valid) => Token::Garbage,
                    (_, u) => u,
                };
                request = match user {
                    Token::None => request,
                    Token::Garbage => request.header("x-sotiem-session", format!("stk_{query}")),
                    Token::Valid => request.header("x-sotiem-session", &session),
                };
                if json_type {
                    request = request.header("content-type", "application/json");
                }
                request = match body {
                    Body::Bytes(b) => request.body(b),
                    Body::Json(v) => request.body(serde_json::to_vec(&v).expect("json")),
                };
                let status = match rt.block_on(request.send()) {
                    Ok(answer) => answer.status(),
                    Err(e) => {
                        // The server may answer (401, 413…) before reading a large body and close the
                        // connection while the client is still sending: fine, if it is still serving.
                        let alive = rt
                            .block_on(fresh.get(format!("{url}/healthz")).send())
                            .is_ok_and(|r| r.status().is_success());
                        prop_assert!(
                            alive,
                            "{method} {path}: no answer ({e}) and the server is down"
                        );
                        return Ok(());
                    }
                };
                *seen
                    .lock()
                    .expect("lock")
                    .entry(status.as_u16())
                    .or_default() += 1;
                prop_assert!(status.as_u16() < 500, "{method} {path} answered {status}");
                Ok(())
            },
        )
        .expect("no request makes the server fail");
    // The run reached the handlers, not only the door: answers of every kind came back.
    let seen = seen.into_inner().expect("lock");
    eprintln!("statuses: {seen:?}");
    for status in [200, 401, 403, 422] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }

    // The server is still up, and the real user can still sign in.
    let http = fresh;
    rt.block_on(async {
        let health = http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .expect("still serving");
        assert!(health.status().is_success());
        let events = sotiem_server::accounts::login_events(&lab.server.db, Some("nv.lan"), 10_000)
            .await
            .expect("events");
        assert!(!events.is_empty());
        let answer = http
            .post(format!("{url}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(
                json!({ "username": "nv.lan", "password": PASSWORD, "otp": "000000" }).to_string(),
            )
            .send()
            .await
            .expect("answer");
        // Refused for the code (or locked by the fuzzing's failures, or throttled for this
        // address after the run's many sign-in requests), never an internal error.
        assert!(
            matches!(answer.status().as_u16(), 401 | 423 | 429),
            "{}",
            answer.status()
        );
        lab.server.stop().await;
    });
}
