//! Accounts, one-time codes, roles and the audit trail (docs/design.md §1, §8), through real stations
//! and a real server on loopback, on SQLite and on PostgreSQL.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{INITIAL_PASSWORD, Lab, PASSWORD, both_backends, first_login};
use station::{
    Credentials, FacilityKind, NewStation, PersonEdit, PersonInput, SearchQuery, SignIn, Station,
    StationError, StepUp, SyncClient, SyncError,
};
use sync_protocol::auth::{OtpError, Role, otp_code};

fn creds(user: &str, password: &str, otp: &str) -> Credentials {
    Credentials {
        username: user.into(),
        password: password.into(),
        otp: otp.into(),
    }
}

/// A code that is certainly not the current one (every digit shifted).
fn wrong_code(right: &str) -> String {
    right
        .chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 5) % 10))
        .collect()
}

/// The code of a time step long gone.
fn expired_code(secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    otp_code(secret, now - 5 * 60).expect("code")
}

/// The server's error code of a refused sign-in.
fn refusal(e: &StationError) -> &str {
    match e {
        StationError::AuthRefused { code, .. } => code,
        other => other.code(),
    }
}

/// A new station of Tân Nhựt (not signed in) with a client for the lab's server.
async fn bare_station(lab: &Lab, name: &str) -> (Station, SyncClient) {
    let mut station = Station::init_with_key(
        &lab.dir.path().join(name),
        NewStation {
            facility_code: "TYT-TANNHUT".into(),
            facility_name: "Trạm Y tế xã Tân Nhựt".into(),
            kind: FacilityKind::CommuneStation,
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some("Xã Tân Nhựt".into()),
        },
        Some(station::DbKey::generate()),
    )
    .await
    .expect("station");
    // The lab's clock, which the codes are made for (a test moves it).
    station.set_clock(lab.server.clock.clone());
    let token = lab.server.device("TYT-TANNHUT").await;
    let client = SyncClient::new(&lab.server.url, &token, None).expect("client");
    (station, client)
}

/// The outcomes of one account's login history, oldest first.
async fn login_outcomes(lab: &Lab, user: &str) -> Vec<(String, Option<String>)> {
    sotiem_server::accounts::login_events(&lab.server.db, Some(user), 1000)
        .await
        .expect("events")
        .into_iter()
        .rev()
        .map(|e| (e.outcome, e.detail))
        .collect()
}

fn an() -> PersonInput {
    PersonInput {
        full_name: "Nguyễn Văn An".into(),
        gender: "nam".into(),
        birth_date: "1990-05-12".into(),
        id_kind: Some(sync_protocol::IdentityKind::Cccd),
        id_number: Some("079090001234".into()),
        phone: Some("0912345678".into()),
        province: Some("TP Hồ Chí Minh".into()),
        commune: Some("Xã Tân Nhựt".into()),
        ..PersonInput::default()
    }
}

async fn weak_passwords_are_refused_naming_the_rules_they_break(backend: Backend) {
    let lab = Lab::start(backend).await;
    lab.account("nv.lan", "TYT-TANNHUT", Role::Vaccinator).await;
    let (station, client) = bare_station(&lab, "a").await;
    let SignIn::EnrollOtp {
        challenge,
        otp_secret_base32,
        ..
    } = station
        .sign_in(&creds("nv.lan", INITIAL_PASSWORD, ""), Some(&client))
        .await
        .expect("first login")
    else {
        panic!("a first login enrols an authenticator")
    };
    let secret = totp_rs::Secret::try_from_base32(&otp_secret_base32)
        .expect("base32")
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let code = otp_code(&secret, now).expect("code");
    let SignIn::ChangePassword { challenge } = station
        .complete_enrollment(&client, &challenge, &code, INITIAL_PASSWORD)
        .await
        .expect("enrolled")
    else {
        panic!("the initial password must be changed")
    };

    // On the station, before anything is sent.
    let err = station
        .change_initial_password(&client, &challenge, "tiemchung")
        .await
        .expect_err("weak");
    let StationError::WeakPassword(w) = &err else {
        panic!("{err:?}")
    };
    let rules: Vec<&str> = w.0.iter().map(|r| r.as_str()).collect();
    assert_eq!(rules, ["uppercase", "digit", "special"]);
    assert!(err.to_string().contains("có chữ hoa"), "{err}");

    // And on the server, for a client that skips the station's check.
    for (password, broken) in [
        ("Ab1!", vec!["min_length"]),
        ("TIEMCHUNG@2024", vec!["lowercase"]),
        ("Tiemchung2024", vec!["special"]),
        ("Tiêm@chủng", vec!["digit"]),
    ] {
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/change-password", lab.server.url))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({ "challenge": challenge, "new_password": password }).to_string(),
            )
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 422, "{password}");
        let body: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
        assert_eq!(body["error"]["code"], "weak_password");
        assert_eq!(
            body["error"]["details"],
            serde_json::json!(broken),
            "{password}"
        );
    }
    // A weak initial password is refused when the account is created too.
    let err = sotiem_server::accounts::create_account(
        &lab.server.db,
        &sync_protocol::auth::NewAccount {
            username: "nv.hoa".into(),
            facility: "TYT-TANNHUT".into(),
            role: Role::Vaccinator,
            full_name: "Trần Thị Hoa".into(),
            gender: Some("nu".into()),
            position: None,
            email: None,
            phone: None,
            initial_password: "12345678".into(),
        },
    )
    .await
    .expect_err("weak initial password");
    assert_eq!(err.code(), "weak_password");
    lab.server.stop().await;
}
both_backends!(weak_passwords_are_refused_naming_the_rules_they_break);

async fn no_login_without_a_valid_fresh_code(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    a.station.sign_out(Some(&a.client)).await.expect("sign out");

    // No code, a wrong code, an expired code: refused, and the data stays locked.
    let right = a.otp.code().await;
    for code in [
        String::new(),
        "12ab56".to_string(),
        wrong_code(&right),
        expired_code(&a.otp.secret),
    ] {
        let err = a
            .station
            .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&a.client))
            .await
            .expect_err("refused");
        assert_eq!(refusal(&err), "invalid_credentials", "{code:?}: {err}");
    }
    assert!(a.session().is_none());
    assert_eq!(
        a.find(&SearchQuery {
            full_name: "Nguyễn Văn An".into(),
            phone: Some("0912345678".into()),
            id_number: None,
        })
        .await
        .expect_err("locked")
        .code(),
        "not_signed_in"
    );

    // The right code once; the same code a second time is a replay.
    let step = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &right), Some(&a.client))
        .await
        .expect("signed in");
    assert!(matches!(step, SignIn::Done { .. }));
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &right), Some(&a.client))
        .await
        .expect_err("replay");
    assert_eq!(refusal(&err), "otp_replayed", "{err}");

    let outcomes = login_outcomes(&lab, "nv.lan").await;
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|(o, _)| o == "failure")
        .filter_map(|(_, d)| d.as_deref())
        .collect();
    assert_eq!(
        failures,
        [
            "wrong_otp",
            "wrong_otp",
            "wrong_otp",
            "wrong_otp",
            "otp_replayed"
        ]
    );
    lab.server.stop().await;
}
both_backends!(no_login_without_a_valid_fresh_code);

async fn repeated_failures_lock_the_account_for_a_growing_time(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    let locked_for = |lab: &Lab| {
        let db = lab.server.db.clone();
        let clock = lab.server.clock.clone();
        async move {
            // Locked for the address the station signs in from (loopback here).
            let until: Option<String> = sotiem_server::with_db!(&db, pool => {
                sqlx::query_scalar("SELECT locked_until FROM sign_in_failures WHERE username = 'nv.lan' AND address = '127.0.0.1'")
                    .fetch_optional(pool)
                    .await
                    .expect("row")
                    .flatten()
            });
            until
                .as_deref()
                .and_then(sync_protocol::person::parse_time)
                .map(|t| (t - clock.now()).whole_seconds())
        }
    };
    for attempt in 1..=5 {
        let err = a
            .station
            .sign_in(&creds("nv.lan", "Sai@matkhau1", "000000"), Some(&a.client))
            .await
            .expect_err("wrong password");
        assert_eq!(refusal(&err), "invalid_credentials");
        let locked = locked_for(&lab).await;
        if attempt < 5 {
            assert_eq!(locked, None, "attempt {attempt}");
        } else {
            let secs = locked.expect("locked after five failures");
            assert!((25..=30).contains(&secs), "{secs}");
        }
    }
    // Locked: even the right password and code are refused, and do not count.
    let code = a.otp.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&a.client))
        .await
        .expect_err("locked");
    assert_eq!(refusal(&err), "locked", "{err}");
    assert!(err.to_string().contains("tạm khoá"), "{err}");

    // Once the lock runs out (the clock moved past its 30 s), the next failure locks for
    // twice as long.
    lab.server.clock.advance(time::Duration::seconds(31));
    a.station
        .sign_in(&creds("nv.lan", "Sai@matkhau2", "000000"), Some(&a.client))
        .await
        .expect_err("wrong password");
    let secs = locked_for(&lab).await.expect("locked again");
    assert!((55..=60).contains(&secs), "{secs}");

    // After the lock (60 s), the right password and a fresh code sign in and reset the count.
    lab.server.clock.advance(time::Duration::seconds(61));
    let code = a.otp.code().await;
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&a.client))
        .await
        .expect("signed in after the lock");
    let failed: i64 = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT failed_attempts FROM accounts WHERE username = 'nv.lan'")
            .fetch_one(pool)
            .await
            .expect("row")
    });
    assert_eq!(failed, 0);
    assert_eq!(
        locked_for(&lab).await,
        None,
        "the address's count is cleared"
    );
    lab.server.stop().await;
}
both_backends!(repeated_failures_lock_the_account_for_a_growing_time);

async fn the_initial_password_must_be_changed_before_any_session(backend: Backend) {
    let lab = Lab::start(backend).await;
    lab.account("nv.lan", "TYT-TANNHUT", Role::Vaccinator).await;
    let (station, client) = bare_station(&lab, "a").await;
    let mut otp = first_login(&station, &client, "nv.lan").await;
    assert!(station.session().is_some());
    station.sign_out(Some(&client)).await.expect("sign out");
    // The initial password no longer works; the new one does.
    let code = otp.code().await;
    let err = station
        .sign_in(&creds("nv.lan", INITIAL_PASSWORD, &code), Some(&client))
        .await
        .expect_err("old password");
    assert_eq!(refusal(&err), "invalid_credentials");
    let code = otp.code().await;
    assert!(matches!(
        station
            .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&client))
            .await
            .expect("new password"),
        SignIn::Done { .. }
    ));

    // A second account stops at the password step: logging in again from the start leads back
    // to it, never to a session.
    lab.account("nv.mai", "TYT-TANNHUT", Role::Vaccinator).await;
    let (other, client) = bare_station(&lab, "b").await;
    let SignIn::EnrollOtp {
        challenge,
        otp_secret_base32,
        ..
    } = other
        .sign_in(&creds("nv.mai", INITIAL_PASSWORD, ""), Some(&client))
        .await
        .expect("first login")
    else {
        panic!("enrolment first")
    };
    let secret = totp_rs::Secret::try_from_base32(&otp_secret_base32)
        .expect("base32")
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let step = other
        .complete_enrollment(
            &client,
            &challenge,
            &otp_code(&secret, now).expect("code"),
            INITIAL_PASSWORD,
        )
        .await
        .expect("enrolled");
    assert!(matches!(step, SignIn::ChangePassword { .. }), "{step:?}");
    let again = other
        .sign_in(
            &creds(
                "nv.mai",
                INITIAL_PASSWORD,
                &otp_code(&secret, now + 30).expect("code"),
            ),
            Some(&client),
        )
        .await
        .expect("login again");
    let SignIn::ChangePassword { challenge } = again else {
        panic!("still the password step: {again:?}")
    };
    assert!(other.session().is_none());
    // The same new password as the initial one is refused.
    let err = other
        .change_initial_password(&client, &challenge, INITIAL_PASSWORD)
        .await
        .expect_err("same password");
    assert_eq!(refusal(&err), "same_password", "{err}");
    lab.server.stop().await;
}
both_backends!(the_initial_password_must_be_changed_before_any_session);

async fn a_system_administrator_never_reads_or_writes_peoples_data(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("nurse", "TYT-TANNHUT", "nv.lan").await;
    let person = nurse.register_person(an()).await.expect("registered");
    nurse.sync().await.expect("sync");

    let admin = lab
        .device_as("admin", "TYT-TANNHUT", "qt.he.thong", Role::SystemAdmin)
        .await;
    assert_eq!(admin.session().expect("session").role(), Role::SystemAdmin);

    // The station refuses every data path.
    let forbidden = |r: Result<(), StationError>| {
        let e = r.expect_err("refused");
        assert_eq!(e.code(), "forbidden", "{e}");
        assert!(e.to_string().contains("quản trị hệ thống"), "{e}");
    };
    forbidden(admin.register_person(an()).await.map(|_| ()));
    forbidden(
        admin
            .register_from_qr(
                "079090001234|290000123|Nguyễn Văn An|12051990|Nam|Ấp 3, Xã Tân Nhựt, TP Hồ Chí Minh|01022021",
                None,
            )
            .await
            .map(|_| ()),
    );
    forbidden(
        admin
            .find(&SearchQuery {
                full_name: "Nguyễn Văn An".into(),
                phone: Some("0912345678".into()),
                id_number: None,
            })
            .await
            .map(|_| ()),
    );
    forbidden(admin.show(person.id).await.map(|_| ()));
    forbidden(
        admin
            .edit_person(person.id, PersonEdit::default(), None)
            .await
            .map(|_| ()),
    );
    forbidden(
        admin
            .record_dose(
                person.id,
                station::DoseInput {
                    vaccine: "pfizer".into(),
                    lot: "FF2588".into(),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ()),
    );
    forbidden(
        admin
            .void_dose(uuid::Uuid::now_v7(), "nhầm")
            .await
            .map(|_| ()),
    );
    forbidden(admin.import_people(&[]).await.map(|_| ()));
    forbidden(admin.verify_audit().await.map(|_| ()));
    let err = admin
        .sync()
        .await
        .expect_err("no sync for an administrator");
    assert!(
        matches!(err, SyncError::Station(StationError::Forbidden(_))),
        "{err}"
    );

    // The server refuses every data endpoint to the administrator's session, whatever the body.
    let session = admin
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("online session");
    let http = reqwest::Client::new();
    for path in [
        "sync/push",
        "sync/pull",
        "sync/bootstrap",
        "sync/document",
        "audit/push",
    ] {
        let answer = http
            .post(format!("{}/api/v1/{path}", lab.server.url))
            .bearer_auth(&admin.token)
            .header("x-sotiem-session", &session)
            .body(vec![0u8; 16])
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 403, "{path}");
        let body: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
        assert_eq!(body["error"]["code"], "admin_no_data_access", "{path}");
    }
    // What an administrator is for still works: accounts.
    let accounts = http
        .get(format!("{}/api/v1/admin/accounts", lab.server.url))
        .header("x-sotiem-session", &session)
        .send()
        .await
        .expect("answer");
    assert_eq!(accounts.status().as_u16(), 200);
    // A vaccinator may not manage accounts.
    let nurse_session = nurse
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("session");
    let refused = http
        .get(format!("{}/api/v1/admin/accounts", lab.server.url))
        .header("x-sotiem-session", &nurse_session)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 403);
    lab.server.stop().await;
}
both_backends!(a_system_administrator_never_reads_or_writes_peoples_data);

async fn another_facilitys_sensitive_edit_needs_a_fresh_code(backend: Backend) {
    let lab = Lab::start(backend).await;
    // Tân Túc manages a person who lives in Tân Nhựt: both stations hold the record.
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(41);
    let person = g.person("TYT-TANTUC", "nv.tuc", 1);
    let own = g.person("TYT-TANNHUT", "nv.lan", 1);
    tuc.import_people(std::slice::from_ref(&person))
        .await
        .expect("import");
    tuc.sync().await.expect("sync");
    let mut nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    assert_eq!(nhut.sync().await.expect("sync").bootstrapped, 1);
    nhut.import_people(std::slice::from_ref(&own))
        .await
        .expect("import");

    let rename = PersonEdit {
        full_name: Some("Trần Thị Bích Ngọc".into()),
        ..PersonEdit::default()
    };
    let err = nhut
        .edit_person(person.id, rename.clone(), None)
        .await
        .expect_err("needs a code");
    assert_eq!(err.code(), "step_up_required");
    assert!(err.to_string().contains("mã xác thực"), "{err}");
    let right = nhut.otp.code().await;
    let err = nhut
        .edit_person(
            person.id,
            rename.clone(),
            Some(StepUp {
                otp: &wrong_code(&right),
                server: Some(&nhut.client),
            }),
        )
        .await
        .expect_err("wrong code");
    assert_eq!(err.code(), "otp_invalid", "{err}");
    for (field, edit) in [
        (
            "birth_date",
            PersonEdit {
                // The same year (the CCCD must still agree), but no longer a full date.
                birth_date: Some(person.birth_date.year().to_string()),
                ..PersonEdit::default()
            },
        ),
        (
            "address",
            PersonEdit {
                address_detail: Some("Ấp 5".into()),
                ..PersonEdit::default()
            },
        ),
        (
            "identity",
            PersonEdit {
                id_kind: Some(sync_protocol::IdentityKind::Passport),
                id_number: Some("C1234567".into()),
                ..PersonEdit::default()
            },
        ),
    ] {
        let err = nhut
            .edit_person(person.id, edit, None)
            .await
            .expect_err(field);
        assert_eq!(err.code(), "step_up_required", "{field}");
    }
    assert_eq!(
        nhut.show(person.id).await.expect("show").person.full_name,
        person.full_name,
        "nothing changed without the code"
    );

    let with_right = StepUp {
        otp: &right,
        server: Some(&nhut.client),
    };
    nhut.edit_person(person.id, rename.clone(), Some(with_right))
        .await
        .expect("with a fresh code");
    // The code is spent.
    let err = nhut
        .edit_person(
            person.id,
            PersonEdit {
                full_name: Some("Trần Thị Ngọc".into()),
                ..PersonEdit::default()
            },
            Some(with_right),
        )
        .await
        .expect_err("replay");
    assert!(
        matches!(err, StationError::Otp(OtpError::Replayed)),
        "{err}"
    );
    // A phone number is not sensitive; the station's own people need no code either.
    nhut.edit_person(
        person.id,
        PersonEdit {
            phone: Some("0987654321".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .expect("phone");
    nhut.edit_person(own.id, rename, None)
        .await
        .expect("own person");

    // The audit entries say which edit carried a code, here and on the server.
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT entity, otp FROM audit_log WHERE action = 'edit' ORDER BY seq")
            .fetch_all(nhut.database_for_tests())
            .await
            .expect("audit");
    assert_eq!(
        rows,
        [
            (format!("person/{}", person.id), true),
            (format!("person/{}", person.id), false),
            (format!("person/{}", own.id), false),
        ]
    );
    let report = nhut.sync().await.expect("sync");
    assert_eq!(report.quarantined, 0);
    let on_server: Vec<bool> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT otp FROM audit_entries WHERE action = 'edit' ORDER BY device_id, seq")
            .fetch_all(pool)
            .await
            .expect("audit on server")
    });
    assert_eq!(on_server, [true, false, false]);
    tuc.sync().await.expect("sync");
    assert_eq!(
        tuc.show(person.id).await.expect("show").person.full_name,
        "Trần Thị Bích Ngọc"
    );
    lab.server.stop().await;
}
both_backends!(another_facilitys_sensitive_edit_needs_a_fresh_code);

async fn a_tampered_audit_log_is_detected(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let person = a.register_person(an()).await.expect("registered");
    a.record_dose(
        person.id,
        station::DoseInput {
            vaccine: "pfizer".into(),
            lot: "FF2588".into(),
            ..Default::default()
        },
    )
    .await
    .expect("dose");
    a.sync().await.expect("sync");
    // The server notes whose session delivered each entry (the entry's own user is a claim).
    let unbound: i64 = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM audit_entries WHERE pushed_by IS NULL OR pushed_by <> 'nv.lan'")
            .fetch_one(pool)
            .await
            .expect("count")
    });
    assert_eq!(unbound, 0);
    let check = a.verify_audit().await.expect("verify");
    assert!(check.problem.is_none(), "{check:?}");
    assert!(check.entries >= 3 && check.synced_through == check.entries);
    let pool = a.database_for_tests().clone();

    // The log refuses edits and deletions outright.
    assert!(
        sqlx::query("UPDATE audit_log SET user = 'nv.khac' WHERE seq = 2")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log WHERE seq = 2")
            .execute(&pool)
            .await
            .is_err()
    );
    // Someone with the database key drops the guards: every kind of tampering still shows.
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query("DROP TRIGGER audit_log_no_delete")
        .execute(&pool)
        .await
        .expect("drop");
    let original: String = sqlx::query_scalar("SELECT user FROM audit_log WHERE seq = 2")
        .fetch_one(&pool)
        .await
        .expect("row");
    sqlx::query("UPDATE audit_log SET user = 'nv.khac' WHERE seq = 2")
        .execute(&pool)
        .await
        .expect("alter");
    let check = a.verify_audit().await.expect("verify");
    let problem = check.problem.expect("altered entry found");
    assert_eq!((problem.seq, problem.reason), (2, "altered_entry"));
    sqlx::query("UPDATE audit_log SET user = ? WHERE seq = 2")
        .bind(&original)
        .execute(&pool)
        .await
        .expect("restore");
    assert!(a.verify_audit().await.expect("verify").problem.is_none());

    // A removed tail: the rest of the chain is whole, but the server's copy shows the gap.
    let last: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_log")
        .fetch_one(&pool)
        .await
        .expect("max");
    // Kept aside to put back afterwards (one connection: the temporary table lives on it).
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("CREATE TEMP TABLE saved_tail AS SELECT * FROM audit_log WHERE seq = ?")
        .bind(last)
        .execute(&mut *conn)
        .await
        .expect("save");
    sqlx::query("DELETE FROM audit_log WHERE seq = ?")
        .bind(last)
        .execute(&mut *conn)
        .await
        .expect("delete");
    let problem = a
        .verify_audit()
        .await
        .expect("verify")
        .problem
        .expect("removed tail found");
    assert_eq!((problem.seq, problem.reason), (last, "differs_from_server"));
    sqlx::query("INSERT INTO audit_log SELECT * FROM saved_tail")
        .execute(&mut *conn)
        .await
        .expect("restore");
    drop(conn);
    assert!(a.verify_audit().await.expect("verify").problem.is_none());

    // The tail removed *and* the station's own note of what the server holds rewritten to
    // match: the station's check alone is fooled, the server's copy is not.
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("CREATE TEMP TABLE saved_tail_2 AS SELECT * FROM audit_log WHERE seq = ?")
        .bind(last)
        .execute(&mut *conn)
        .await
        .expect("save");
    sqlx::query("DELETE FROM audit_log WHERE seq = ?")
        .bind(last)
        .execute(&mut *conn)
        .await
        .expect("delete");
    let before_last: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = ?")
        .bind(last - 1)
        .fetch_one(&mut *conn)
        .await
        .expect("hash");
    for (key, value) in [
        ("audit_synced_seq", (last - 1).to_string()),
        ("audit_synced_hash", hex::encode(&before_last)),
    ] {
        sqlx::query("UPDATE meta SET value = ? WHERE key = ?")
            .bind(value)
            .bind(key)
            .execute(&mut *conn)
            .await
            .expect("rewrite the note");
    }
    assert!(
        a.verify_audit().await.expect("verify").problem.is_none(),
        "the station's own check is fooled"
    );
    let check = a
        .verify_audit_with_server(&a.client)
        .await
        .expect("verify against the server");
    let problem = check
        .problem
        .expect("the server's copy shows the removed tail");
    assert_eq!((problem.seq, problem.reason), (last, "missing_on_station"));
    assert_eq!(
        check.server_through,
        Some(u64::try_from(last).expect("seq"))
    );
    sqlx::query("INSERT INTO audit_log SELECT * FROM saved_tail_2")
        .execute(&mut *conn)
        .await
        .expect("restore");
    drop(conn);
    let check = a
        .verify_audit_with_server(&a.client)
        .await
        .expect("verify against the server");
    assert!(check.problem.is_none(), "{check:?}");

    // A removed entry in the middle.
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&pool)
        .await
        .expect("delete");
    let problem = a
        .verify_audit()
        .await
        .expect("verify")
        .problem
        .expect("gap found");
    assert_eq!((problem.seq, problem.reason), (2, "missing_entry"));

    // An entry altered before it synced: the server refuses to take it into its copy.
    let b = lab.device("b", "TYT-TANNHUT", "nv.mai").await;
    b.register_person(PersonInput {
        full_name: "Lê Thị Thu".into(),
        gender: "nu".into(),
        birth_date: "1995-03-08".into(),
        id_kind: Some(sync_protocol::IdentityKind::Cccd),
        id_number: Some("079195004321".into()),
        phone: Some("0903123456".into()),
        ..PersonInput::default()
    })
    .await
    .expect("registered");
    let pool = b.database_for_tests().clone();
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query("UPDATE audit_log SET otp = 1 - otp WHERE seq = (SELECT max(seq) FROM audit_log)")
        .execute(&pool)
        .await
        .expect("alter");
    let err = b.sync().await.expect_err("refused");
    assert_eq!(err.code(), "audit_chain_broken", "{err}");
    lab.server.stop().await;
}
both_backends!(a_tampered_audit_log_is_detected);

async fn a_revoked_account_is_locked_out_at_the_next_sync(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    // Two nurses have signed in on this laptop; the first signs out.
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    lab.account("nv.mai", "TYT-TANNHUT", Role::Vaccinator).await;
    let mut mai = lab.sign_in(&a.station, &a.client, "nv.mai").await;
    a.client.set_session(
        a.session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    sotiem_server::accounts::revoke_account(&lab.server.db, "nv.lan")
        .await
        .expect("revoked");

    // nv.mai's sync tells the laptop; nv.lan can no longer sign in offline.
    let report = a.sync().await.expect("sync");
    assert_eq!(report.accounts_revoked, ["nv.lan"]);
    let offline = SyncClient::new("http://127.0.0.1:9", &a.token, None).expect("client");
    let code = a.otp.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&offline))
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), "account_revoked");

    // Revoking the signed-in user ends the session at their next sync.
    sotiem_server::accounts::revoke_account(&lab.server.db, "nv.mai")
        .await
        .expect("revoked");
    let err = a.sync().await.expect_err("revoked");
    assert_eq!(err.code(), "account_revoked", "{err}");
    assert!(a.session().is_none());
    let code = mai.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.mai", PASSWORD, &code), None)
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), "account_revoked");
    // Online too.
    let code = mai.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.mai", PASSWORD, &code), Some(&a.client))
        .await
        .expect_err("revoked");
    assert_eq!(refusal(&err), "account_revoked");
    lab.server.stop().await;
}
both_backends!(a_revoked_account_is_locked_out_at_the_next_sync);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sign_in_works_with_the_network_down_and_only_with_password_and_code() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let online_token = a
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("token");
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    lab.server.stop().await;
    let down =
        SyncClient::new(&format!("http://{}", "127.0.0.1:9"), &a.token, None).expect("client");

    let code = a.otp.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.lan", "Tiem@chung2025", &code), Some(&down))
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), "bad_credentials");
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &wrong_code(&code)), Some(&down))
        .await
        .expect_err("wrong code");
    assert_eq!(err.code(), "bad_credentials");
    let err = a
        .station
        .sign_in(
            &creds("nv.lan", PASSWORD, &expired_code(&a.otp.secret)),
            Some(&down),
        )
        .await
        .expect_err("expired code");
    assert_eq!(err.code(), "bad_credentials");
    let err = a
        .station
        .sign_in(&creds("nv.thu", PASSWORD, &code), Some(&down))
        .await
        .expect_err("never signed in here");
    assert_eq!(err.code(), "offline_unknown_account");

    let step = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&down))
        .await
        .expect("offline sign-in");
    let SignIn::Done { session } = step else {
        panic!("{step:?}")
    };
    assert!(!session.online);
    assert!(session.server_token().is_none());
    // Work goes on offline; syncing needs an online session.
    a.register_person(an()).await.expect("registered offline");
    let err = a.sync().await.expect_err("no sync offline");
    assert!(err.to_string().contains("đăng nhập trực tuyến"), "{err}");
    // The code just used cannot be used again offline.
    a.sign_out(None).await.expect("sign out");
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect_err("replay");
    assert_eq!(err.code(), "otp_replayed");

    // Past the lease, the laptop alone no longer signs anyone in.
    a.station.clock().advance(
        time::Duration::days(i64::from(sotiem_server::accounts::OFFLINE_LEASE_DAYS))
            + time::Duration::minutes(1),
    );
    let code = a.otp.code().await;
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect_err("lease over");
    assert_eq!(err.code(), "lease_expired");

    // Neither the session token nor the TOTP secret is anywhere in the station's files.
    let secret_b32 = sync_protocol::auth::otp_secret_base32(&a.otp.secret);
    for entry in walk(&a.dir) {
        let bytes = std::fs::read(&entry).expect("read");
        for needle in [
            online_token.as_bytes(),
            &a.otp.secret,
            secret_b32.as_bytes(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds a secret",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A user's session on a device: the session token and the device token.
type SignedIn<'a> = (&'a str, &'a str);

/// Posts `body` to `/api/v1/{path}`, as a signed-in user if given; the status and the answer.
async fn post_auth(
    lab: &Lab,
    path: &str,
    who: Option<SignedIn<'_>>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let who = who.map(|(s, d)| (s.to_string(), d.to_string()));
    post_auth_to(lab.server.url.clone(), path.into(), who, body).await
}

/// [`post_auth`] with owned arguments, for requests sent together from tasks.
async fn post_auth_to(
    url: String,
    path: String,
    who: Option<(String, String)>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/api/v1/{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((session, device)) = who {
        request = request
            .header(
                sotiem_server::http::auth_api::SESSION_HEADER,
                session.as_str(),
            )
            .bearer_auth(device);
    }
    let answer = request.send().await.expect("answer");
    let status = answer.status().as_u16();
    let body = serde_json::from_slice(&answer.bytes().await.expect("body")).unwrap_or_default();
    (status, body)
}

/// A person of another facility, for step-up requests (the server grants by id).
fn step_up_body(otp: &str) -> serde_json::Value {
    serde_json::json!({
        "otp": otp,
        "person_ids": [uuid::Uuid::now_v7()],
        "fields": ["full_name"],
    })
}

async fn one_code_is_accepted_once_even_sent_twenty_times_at_once(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    a.station.sign_out(Some(&a.client)).await.expect("sign out");

    // Twenty logins with the right password and one code, all in flight together.
    let code = a.otp.code().await;
    let login = serde_json::json!({ "username": "nv.lan", "password": PASSWORD, "otp": code });
    let answers = all_at_once(&lab, 20, "auth/login", None, login).await;
    let sessions: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(sessions.len(), 1, "exactly one session: {answers:?}");
    assert_eq!(sessions[0]["next"], "session");
    let session = sessions[0]["token"].as_str().expect("a session token");
    // The others are replays (and, counted as failures, may lock the account before they end).
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        let refusal = (*status, body["error"]["code"].as_str().unwrap_or_default());
        assert!(
            [(401, "otp_replayed"), (423, "locked")].contains(&refusal),
            "{status} {body}"
        );
    }

    // The same holds across kinds: ten step-ups with one fresh code give one grant.
    sqlx_unlock(&lab, "nv.lan").await;
    let code = a.otp.code().await;
    let answers = all_at_once(
        &lab,
        10,
        "auth/step-up",
        Some((session, &a.token)),
        step_up_body(&code),
    )
    .await;
    let grants = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(grants, 1, "exactly one grant: {answers:?}");
    // And a code a step-up spent does not sign anyone in.
    sqlx_unlock(&lab, "nv.lan").await;
    let (status, body) = post_auth(
        &lab,
        "auth/login",
        None,
        serde_json::json!({ "username": "nv.lan", "password": PASSWORD, "otp": code }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, "otp_replayed".into())
    );
    lab.server.stop().await;
}
both_backends!(one_code_is_accepted_once_even_sent_twenty_times_at_once);

/// Sends `n` copies of one request together and gathers the answers.
async fn all_at_once(
    lab: &Lab,
    n: usize,
    path: &str,
    who: Option<SignedIn<'_>>,
    body: serde_json::Value,
) -> Vec<(u16, serde_json::Value)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(post_auth_to(
            lab.server.url.clone(),
            path.to_string(),
            who.map(|(s, d)| (s.to_string(), d.to_string())),
            body.clone(),
        ));
    }
    set.join_all().await
}

/// Lifts a lock the replays of a test left (the lock itself is tested elsewhere).
async fn sqlx_unlock(lab: &Lab, user: &str) {
    sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query("UPDATE accounts SET locked_until = NULL, failed_attempts = 0 WHERE username = $1")
            .bind(user)
            .execute(pool)
            .await
            .expect("unlock");
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
            .bind(user)
            .execute(pool)
            .await
            .expect("unlock");
    });
}

async fn a_lock_holds_for_step_up_and_password_change_too(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let session = a
        .station
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("an online session");

    // A fresh code from her authenticator (taken first: waiting for one must not outlast the
    // lock; refused while locked, it is never looked at, so it serves every request below).
    let code = a.otp.code().await;
    // Someone tries passwords on the account until it locks.
    for attempt in 0..5 {
        let (status, body) = post_auth(
            &lab,
            "auth/login",
            None,
            serde_json::json!({ "username": "nv.lan", "password": format!("Doan@{attempt}Sai"), "otp": "123456" }),
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }

    // The open session cannot go round the lock: a step-up with the right code is refused …
    let (status, body) = post_auth(
        &lab,
        "auth/step-up",
        Some((&session, &a.token)),
        step_up_body(&code),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (423, "locked".into()),
        "{body}"
    );
    // … and the password change answers the same whether the old password is right or wrong,
    // so it tells nothing about the password while the account is locked.
    for old in [PASSWORD, "Doan@9Sai"] {
        let (status, body) = post_auth(
            &lab,
            "auth/change-password",
            Some((&session, &a.token)),
            serde_json::json!({ "old_password": old, "otp": code, "new_password": "Moi@Matkhau2026" }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (423, "locked".into()),
            "{old}: {body}"
        );
    }

    // Once the lock is over, the honest step-up is granted.
    sqlx_unlock(&lab, "nv.lan").await;
    let code = a.otp.code().await;
    let (status, body) = post_auth(
        &lab,
        "auth/step-up",
        Some((&session, &a.token)),
        step_up_body(&code),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    lab.server.stop().await;
}
both_backends!(a_lock_holds_for_step_up_and_password_change_too);

/// A client whose requests come from `address` (any 127.x.y.z reaches the loopback server).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().expect("an address"))
        .build()
        .expect("client")
}

/// One login attempt from `client`: the status and the error code.
async fn try_login(
    client: &reqwest::Client,
    lab: &Lab,
    user: &str,
    password: &str,
) -> (u16, String) {
    let answer = client
        .post(format!("{}/api/v1/auth/login", lab.server.url))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "username": user, "password": password, "otp": "123456" })
                .to_string(),
        )
        .send()
        .await
        .expect("answer");
    let status = answer.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_slice(&answer.bytes().await.unwrap_or_default()).unwrap_or_default();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn an_account_and_a_name_that_is_none_are_answered_alike(backend: Backend) {
    let lab = Lab::start(backend).await;
    lab.account("nv.lan", "TYT-TANNHUT", Role::Vaccinator).await;
    lab.account("nv.cu", "TYT-TANNHUT", Role::Vaccinator).await;
    sotiem_server::accounts::revoke_account(&lab.server.db, "nv.cu")
        .await
        .expect("revoked");
    let http = client_from("127.0.0.1");
    let mut answers = Vec::new();
    for user in ["nv.lan", "nv.khongco", "nv.cu"] {
        let mut tries = Vec::new();
        for attempt in 0..6 {
            tries.push(try_login(&http, &lab, user, &format!("Doan@{attempt}Sai")).await);
        }
        answers.push(tries);
    }
    // Five refusals that name nothing, then a lock for this address: the same for all three.
    let expected: Vec<(u16, String)> =
        std::iter::repeat_n((401, "invalid_credentials".to_string()), 5)
            .chain([(423, "locked".to_string())])
            .collect();
    for (user, tries) in ["nv.lan", "nv.khongco", "nv.cu"].iter().zip(&answers) {
        assert_eq!(tries, &expected, "{user}");
    }
    lab.server.stop().await;
}
both_backends!(an_account_and_a_name_that_is_none_are_answered_alike);

/// Issue 26 (6): the lock after twenty failures from all addresses together falls on any name,
/// so a guesser who spreads tries over addresses cannot tell an account from a name that is
/// none by which one gets locked everywhere.
async fn the_lock_everywhere_tells_no_account_from_a_name_that_is_none(backend: Backend) {
    let lab = Lab::start(backend).await;
    lab.account("nv.lan", "TYT-TANNHUT", Role::Vaccinator).await;
    let mut answers = Vec::new();
    for user in ["nv.lan", "nv.khongco"] {
        for last in 2..=5 {
            let http = client_from(&format!("127.0.0.{last}"));
            for attempt in 0..5 {
                let (status, code) =
                    try_login(&http, &lab, user, &format!("Doan@{attempt}Sai")).await;
                assert_eq!(
                    (status, code.as_str()),
                    (401, "invalid_credentials"),
                    "{user}"
                );
            }
        }
        // The 21st try, from an address that never failed.
        answers.push(try_login(&client_from("127.0.0.6"), &lab, user, "Doan@9Sai").await);
    }
    assert_eq!(answers[0], (423, "locked".to_string()), "the account");
    assert_eq!(answers[0], answers[1], "an account and a name that is none");
    lab.server.stop().await;
}
both_backends!(the_lock_everywhere_tells_no_account_from_a_name_that_is_none);

async fn a_login_flood_from_one_address_is_throttled_and_locks_no_one_out(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(14);

    // Wrong logins for the nurse's account from 127.0.0.2, 40 in flight at a time (at most
    // 20,000), for as long as her station on 127.0.0.1 records and syncs for three seconds.
    let flooder = client_from("127.0.0.2");
    let url = lab.server.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let flood = tokio::spawn(async move {
        let mut answers = std::collections::BTreeMap::<u16, usize>::new();
        let mut set = tokio::task::JoinSet::new();
        for n in 0..20_000 {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            if set.len() >= 40
                && let Some(Ok(status)) = set.join_next().await
            {
                *answers.entry(status).or_default() += 1;
            }
            let (client, url) = (flooder.clone(), url.clone());
            set.spawn(async move {
                client
                    .post(format!("{url}/api/v1/auth/login"))
                    .header("content-type", "application/json")
                    .body(
                        serde_json::json!({ "username": "nv.lan", "password": format!("Doan@{n}Sai"), "otp": "000000" })
                            .to_string(),
                    )
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16())
            });
        }
        while let Some(Ok(status)) = set.join_next().await {
            *answers.entry(status).or_default() += 1;
        }
        answers
    });
    let started = std::time::Instant::now();
    let (mut syncs, mut slowest) = (0, std::time::Duration::ZERO);
    while started.elapsed() < std::time::Duration::from_secs(3) || syncs < 3 {
        let person = g.person("TYT-TANNHUT", "nv.lan", 1);
        a.import_people(std::slice::from_ref(&person))
            .await
            .expect("recorded");
        let one = std::time::Instant::now();
        let report = a.sync().await.expect("sync answers during the flood");
        slowest = slowest.max(one.elapsed());
        assert!(report.pushed >= 1, "the new person goes up: {report:?}");
        syncs += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = flood.await.expect("flood");
    let sent: usize = answers.values().sum();
    eprintln!("flood: {sent} logins {answers:?}; meanwhile {syncs} syncs, slowest {slowest:?}");
    assert_eq!(answers.get(&0), None, "every request answered: {answers:?}");
    assert!(
        answers.get(&429).copied().unwrap_or(0) * 10 >= sent * 9,
        "nine in ten turned away before any hash: {answers:?}"
    );
    assert!(
        answers.get(&401).copied().unwrap_or(0) <= 5,
        "five guesses, then locked for that address: {answers:?}"
    );

    // The account is locked for the flooding address only: its owner signs in from hers.
    let (status, code) = try_login(&client_from("127.0.0.2"), &lab, "nv.lan", PASSWORD).await;
    assert!(
        (status, code.as_str()) == (423, "locked") || status == 429,
        "{status} {code}"
    );
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    let code = a.otp.code().await;
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&a.client))
        .await
        .expect("the owner signs in from her own address");
    lab.server.stop().await;
}
both_backends!(a_login_flood_from_one_address_is_throttled_and_locks_no_one_out);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sign_in_locks_after_five_failures_and_refuses_a_clock_set_back() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    lab.server.stop().await;

    // Five wrong tries on the laptop alone lock the account here; the right ones then wait.
    let code = a.otp.code().await;
    for attempt in 0..5 {
        let err = a
            .station
            .sign_in(&creds("nv.lan", &format!("Doan@{attempt}Sai"), &code), None)
            .await
            .expect_err("wrong password");
        assert_eq!(err.code(), "bad_credentials");
    }
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), "locked", "{err}");
    assert!(err.to_string().contains("tạm khoá"), "{err}");
    let locked: Option<String> =
        sqlx::query_scalar("SELECT locked_until FROM local_accounts WHERE username = 'nv.lan'")
            .fetch_one(a.database_for_tests())
            .await
            .expect("row");
    let secs = locked
        .as_deref()
        .and_then(sync_protocol::person::parse_time)
        .map(|t| (t - a.station.clock().now()).whole_seconds());
    assert!(secs.is_some_and(|s| (25..=30).contains(&s)), "{secs:?}");

    // Once the lock runs out, the right password and code sign in and clear the count.
    a.station.clock().advance(time::Duration::seconds(31));
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect("signed in offline");
    let failures: i64 =
        sqlx::query_scalar("SELECT failed_attempts FROM local_accounts WHERE username = 'nv.lan'")
            .fetch_one(a.database_for_tests())
            .await
            .expect("row");
    assert_eq!(failures, 0);
    a.station.sign_out(None).await.expect("sign out");

    // The laptop's clock is set back two days (to stretch the offline lease): it now lags the
    // time the last sign-in saw. Refused, saying so, until the clock is right again. (The code
    // is taken first: the authenticator reads the same clock.)
    let code = a.otp.code().await;
    a.station.clock().advance(time::Duration::days(-2));
    let err = a
        .station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect_err("clock set back");
    assert_eq!(err.code(), "clock_behind", "{err}");
    assert!(err.to_string().contains("chỉnh lại ngày giờ"), "{err}");
    a.station.clock().advance(time::Duration::days(2));
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect("the clock is right again");
}

async fn the_authenticator_secret_goes_only_to_a_registered_station_that_lacks_it(
    backend: Backend,
) {
    let lab = Lab::start(backend).await;
    // First login on laptop A: the enrolling station keeps the secret the nurse just scanned.
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let sent = |lab: &Lab| {
        let db = lab.server.db.clone();
        async move {
            sotiem_server::accounts::login_events(&db, Some("nv.lan"), 1000)
                .await
                .expect("events")
                .iter()
                .filter(|e| e.outcome == "otp_secret_sent")
                .count()
        }
    };
    assert_eq!(sent(&lab).await, 1);

    // Signing in again there sends nothing: the station opens its own copy with the password.
    a.station.sign_out(Some(&a.client)).await.expect("sign out");
    let code = a.otp.code().await;
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), Some(&a.client))
        .await
        .expect("signed in");
    assert_eq!(sent(&lab).await, 1, "no secret in an ordinary sign-in");

    // What a sniffer or a phisher with the password and a code gets from the server: a session,
    // never the secret — not without a device token, and not when not asked for.
    let code = a.otp.code().await;
    let (status, grant) = post_auth(
        &lab,
        "auth/login",
        None,
        serde_json::json!({ "username": "nv.lan", "password": PASSWORD, "otp": code, "want_secret": true }),
    )
    .await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["next"], "session");
    assert!(grant.get("otp_secret").is_none(), "{grant}");
    assert_eq!(sent(&lab).await, 1);

    // A laptop she never used asks for it once, and then signs her in offline too.
    let (b, b_client) = bare_station(&lab, "b").await;
    let code = a.otp.code().await;
    b.sign_in(&creds("nv.lan", PASSWORD, &code), Some(&b_client))
        .await
        .expect("signed in on the new laptop");
    assert_eq!(
        sent(&lab).await,
        2,
        "sent to the new laptop, in the login history"
    );
    b.sign_out(Some(&b_client)).await.expect("sign out");
    let code = a.otp.code().await;
    b.sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect("offline on the new laptop");
    lab.server.stop().await;
}
both_backends!(the_authenticator_secret_goes_only_to_a_registered_station_that_lacks_it);

/// A server on loopback behind a "proxy" at 127.0.0.1 when `trusted`.
async fn server_behind_proxy(trusted: bool) -> sotiem_scenarios::server::TestServer {
    sotiem_scenarios::server::TestServer::start_configured(Backend::Sqlite, |state| {
        if trusted {
            state.trusted_proxies = sotiem_server::http::throttle::TrustedProxies::new(vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
            ]);
        }
    })
    .await
}

/// A wrong login for nv.lan as sent by a proxy that saw `forwarded`; the answer's status.
async fn wrong_login_via(url: &str, forwarded: &str) -> u16 {
    // (reqwest is built without a default TLS provider; plain HTTP needs none, but the
    // builder asks for one.)
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(
            serde_json::json!({ "username": "nv.lan", "password": "Doan@sai1", "otp": "000000" })
                .to_string(),
        )
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_lock_and_a_forged_header_counts_for_nothing()
 {
    // Behind the province's reverse proxy: five failures lock the account for 203.0.113.7
    // only; a nurse at 203.0.113.8, behind the same proxy, is not locked out.
    let server = server_behind_proxy(true).await;
    let (url, db) = (server.url.clone(), server.db.clone());
    for _ in 0..sync_protocol::auth::FREE_ATTEMPTS {
        assert_eq!(wrong_login_via(&url, "203.0.113.7").await, 401);
    }
    assert_eq!(wrong_login_via(&url, "203.0.113.7").await, 423);
    assert_eq!(wrong_login_via(&url, "203.0.113.8").await, 401);
    // The guesser writing another address into the header gains nothing: the proxy appends
    // the address it saw, and that one counts.
    assert_eq!(wrong_login_via(&url, "203.0.113.9, 203.0.113.7").await, 423);
    let addresses: std::collections::BTreeSet<String> =
        sotiem_server::accounts::login_events(&db, Some("nv.lan"), 100)
            .await
            .expect("events")
            .into_iter()
            .filter_map(|e| e.address)
            .collect();
    assert_eq!(
        addresses.into_iter().collect::<Vec<_>>(),
        ["203.0.113.7", "203.0.113.8"]
    );

    // Without a trusted proxy the header is the client's own words: ignored, every request
    // is 127.0.0.1's, and the lock covers them all.
    let server = server_behind_proxy(false).await;
    let (url, db) = (server.url.clone(), server.db.clone());
    for _ in 0..sync_protocol::auth::FREE_ATTEMPTS {
        assert_eq!(wrong_login_via(&url, "203.0.113.7").await, 401);
    }
    assert_eq!(wrong_login_via(&url, "203.0.113.8").await, 423);
    assert!(
        sotiem_server::accounts::login_events(&db, Some("nv.lan"), 100)
            .await
            .expect("events")
            .iter()
            .all(|e| e.address.as_deref() == Some("127.0.0.1"))
    );
}

/// Issue 26 (3, 6): an account that reads people's data is finished (its authenticator enrolled)
/// only on a laptop of its own facility, and the authenticator secret goes only to such a
/// laptop. A system administrator who set a new head's initial password cannot enrol it from a
/// browser or another facility's laptop; a stolen password and code cannot fetch the secret to
/// another facility's laptop. The head's own station and the station's mobile team still can.
async fn the_secret_and_a_first_enrolment_stay_on_the_facilitys_own_laptops(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let tuc_device = lab.server.device("TYT-TANTUC").await;
    let team_device = lab.server.device("TYT-TANNHUT-LD").await;
    let secrets_sent = |lab: &Lab| {
        let db = lab.server.db.clone();
        async move {
            sotiem_server::accounts::login_events(&db, Some("nv.lan"), 1000)
                .await
                .expect("events")
                .iter()
                .filter(|e| e.outcome == "otp_secret_sent")
                .count()
        }
    };
    let before = secrets_sent(&lab).await;
    let login_from = |device: Option<String>,
                      user: &'static str,
                      password: &'static str,
                      otp: String| {
        let url = lab.server.url.clone();
        // A first login asks for no secret: enrolment shows it to whoever enrols.
        let want_secret = !otp.is_empty();
        async move {
            let mut request = reqwest::Client::new()
                .post(format!("{url}/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({ "username": user, "password": password, "otp": otp, "want_secret": want_secret })
                        .to_string(),
                );
            if let Some(token) = device {
                request = request.bearer_auth(token);
            }
            let answer = request.send().await.expect("answer");
            let status = answer.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&answer.bytes().await.expect("body")).unwrap_or_default();
            (status, body)
        }
    };

    // Another facility's laptop asks for the nurse's secret with her password and a code.
    let code = a.otp.code().await;
    let (status, body) = login_from(Some(tuc_device.clone()), "nv.lan", PASSWORD, code).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("wrong_facility")),
        "{body}"
    );
    assert_eq!(secrets_sent(&lab).await, before);
    // The station's own mobile team's laptop gets it.
    let code = a.otp.code().await;
    let (status, body) = login_from(Some(team_device), "nv.lan", PASSWORD, code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("otp_secret").is_some(), "{body}");
    assert_eq!(secrets_sent(&lab).await, before + 1);

    // A head of station created for Tân Túc (as a system administrator does) is enrolled
    // neither from a browser nor from Tân Nhựt's laptop — only from a Tân Túc laptop.
    lab.account("qt.tantuc", "TYT-TANTUC", Role::FacilityAdmin)
        .await;
    let first =
        |device: Option<String>| login_from(device, "qt.tantuc", INITIAL_PASSWORD, String::new());
    let (status, body) = first(None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("enrol_on_facility_device")),
        "{body}"
    );
    let (status, body) = first(Some(a.token.clone())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("enrol_on_facility_device"))
    );
    let (status, body) = first(Some(tuc_device)).await;
    assert_eq!(
        (status, body["next"].as_str()),
        (200, Some("enroll_otp")),
        "{body}"
    );
    // An officer, who reads no person, still finishes in the browser (the console).
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    lab.account("cb.huyen", "TTYT-BINHCHANH", Role::DistrictOfficer)
        .await;
    let (status, body) = login_from(None, "cb.huyen", INITIAL_PASSWORD, String::new()).await;
    assert_eq!(
        (status, body["next"].as_str()),
        (200, Some("enroll_otp")),
        "{body}"
    );
    lab.server.stop().await;
}
both_backends!(the_secret_and_a_first_enrolment_stay_on_the_facilitys_own_laptops);

/// Issue 26 (6): a station's audit log feeds the sign-in history only for accounts of its own
/// facility. A Tân Túc laptop on which someone typed "nv.lan" offline reports that failure in
/// its log; nv.lan's history does not show it — while her own station's offline sign-ins do.
async fn another_facilitys_laptop_plants_nothing_in_a_sign_in_history(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("t", "TYT-TANTUC", "nv.tuc").await;
    // At Tân Túc, "nv.lan" typed offline: the station refuses and logs it.
    tuc.station.sign_out(None).await.expect("signed out");
    let err = tuc
        .station
        .sign_in(&creds("nv.lan", PASSWORD, "123456"), None)
        .await
        .expect_err("no such account on this laptop");
    assert_eq!(err.code(), "offline_unknown_account");
    lab.sign_in(&tuc.station, &tuc.client, "nv.tuc").await;
    tuc.sync().await.expect("the log goes up");
    // At Tân Nhựt, the nurse signs in offline: her own station's report.
    a.station
        .sign_out(Some(&a.client))
        .await
        .expect("signed out");
    let code = a.otp.code().await;
    a.station
        .sign_in(&creds("nv.lan", PASSWORD, &code), None)
        .await
        .expect("offline sign-in");
    a.station.sign_out(None).await.expect("signed out");
    lab.codes_used("nv.lan", &a.otp);
    lab.sign_in(&a.station, &a.client, "nv.lan").await;
    a.sync().await.expect("the log goes up");
    let tuc_device: String = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT DISTINCT device_id FROM audit_entries WHERE pushed_by = 'nv.tuc'")
            .fetch_one(pool)
            .await
            .expect("Tân Túc's log")
    });
    let planted: i64 = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM audit_entries WHERE user_name = 'nv.lan' AND device_id = $1")
            .bind(&tuc_device)
            .fetch_one(pool)
            .await
            .expect("count")
    });
    assert!(
        planted >= 1,
        "the Tân Túc laptop reported a failure for nv.lan"
    );
    let history = sotiem_server::accounts::sign_in_history(&lab.server.db, "nv.lan", 100)
        .await
        .expect("history");
    assert!(
        history
            .iter()
            .all(|e| e.device_id.as_deref() != Some(tuc_device.as_str())),
        "{history:?}"
    );
    assert!(
        history.iter().any(|e| !e.online && e.outcome == "success"),
        "her own station's offline sign-in: {history:?}"
    );
    lab.server.stop().await;
}
both_backends!(another_facilitys_laptop_plants_nothing_in_a_sign_in_history);
