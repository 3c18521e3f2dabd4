//! Accounts a facility runs by itself (issue 14), through real stations and a real server on
//! loopback, on SQLite and on PostgreSQL: the head of station creates, revokes and resets its
//! staff's accounts; a system administrator sets up administrators only; each user reads their
//! own sign-ins; every administrative action lands in the server's hash-chained audit log.

use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Authenticator, INITIAL_PASSWORD, Lab, PASSWORD, both_backends};
use sotiem_server::admin_audit::{self, ChainCheck};
use station::{Credentials, SignIn, Station, StationError, SyncClient, SyncError, staff};
use sync_protocol::auth::{NewAccount, Role};

/// nv.lan signs in on `station` through `client` with `password` and `code`.
async fn sign_in_as_lan(
    station: &Station,
    client: &SyncClient,
    password: &str,
    code: String,
) -> Result<SignIn, StationError> {
    let creds = Credentials {
        username: "nv.lan".into(),
        password: password.into(),
        otp: code,
    };
    station.sign_in(&creds, Some(client)).await
}

/// The server's reason for refusing, or the error's own code.
fn refused<T: std::fmt::Debug>(r: Result<T, SyncError>) -> String {
    r.expect_err("refused").code().to_string()
}

/// The server's reason for refusing a sign-in, or the station's own.
fn refusal(e: &StationError) -> &str {
    match e {
        StationError::AuthRefused { code, .. } => code,
        other => other.code(),
    }
}

fn new_account(username: &str, facility: &str, role: Role, full_name: &str) -> NewAccount {
    NewAccount {
        username: username.into(),
        facility: facility.into(),
        role,
        full_name: full_name.into(),
        gender: Some("nam".into()),
        position: Some("Y sĩ".into()),
        email: None,
        phone: Some("0987654321".into()),
        initial_password: INITIAL_PASSWORD.into(),
    }
}

/// The actions the audit log holds about `entity`, oldest first, with who did them.
async fn audited(lab: &Lab, entity: &str) -> Vec<(String, String)> {
    admin_audit::entries(&lab.server.db, Some(entity), 100)
        .await
        .expect("audit entries")
        .into_iter()
        .rev()
        .map(|e| (e.action, e.actor))
        .collect()
}

async fn heads_run_their_own_staff_and_system_administrators_only_administrators(backend: Backend) {
    let lab = Lab::start(backend).await;
    let head = lab
        .device_as("head", "TYT-TANNHUT", "tt.hoa", Role::FacilityAdmin)
        .await;

    // The head of Tân Nhựt creates a vaccinator of Tân Nhựt: the honest flow.
    let made = staff::create(
        &head.client,
        &new_account("nv.binh", "TYT-TANNHUT", Role::Vaccinator, "Trần Văn Bình"),
    )
    .await
    .expect("created by the head");
    assert_eq!(made.role, Role::Vaccinator);
    assert!(made.must_change_password);
    let listed = staff::accounts(&head.client).await.expect("listed");
    assert!(listed.iter().any(|a| a.username == "nv.binh"));
    assert!(listed.iter().all(|a| a.facility == "TYT-TANNHUT"));

    // …but not at another facility, nor another administrator.
    let elsewhere = new_account("nv.khac", "TYT-TANTUC", Role::Vaccinator, "Lê Thị Khác");
    assert_eq!(
        refused(staff::create(&head.client, &elsewhere).await),
        "forbidden"
    );
    let admin_too = new_account("qt.phu", "TYT-TANNHUT", Role::FacilityAdmin, "Phạm Văn Phú");
    assert_eq!(
        refused(staff::create(&head.client, &admin_too).await),
        "forbidden"
    );

    // A system administrator cannot make a data account (they would choose its password and
    // enrol their own authenticator), nor reset one; they set up a facility's first head.
    let system = lab
        .device_as("system", "TYT-TANNHUT", "qt.he.thong", Role::SystemAdmin)
        .await;
    let planted = new_account("nv.gia", "TYT-TANNHUT", Role::Vaccinator, "Đỗ Văn Giả");
    assert_eq!(
        refused(staff::create(&system.client, &planted).await),
        "forbidden"
    );
    assert_eq!(
        refused(staff::reset_password(&system.client, "nv.binh", "Chiem@quyen2025").await),
        "forbidden"
    );
    assert_eq!(
        refused(staff::reset_authenticator(&system.client, "nv.binh").await),
        "forbidden"
    );
    let first_head = staff::create(
        &system.client,
        &new_account("tt.moi", "TYT-TANTUC", Role::FacilityAdmin, "Vũ Thị Mới"),
    )
    .await
    .expect("a facility's head, by the system administrator");
    assert_eq!(first_head.role, Role::FacilityAdmin);
    // Officers see counts of an area their facility says: a district officer at a commune
    // station is refused with its reason, at the district centre taken; a head makes none.
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    let misplaced = new_account(
        "cb.huyen",
        "TYT-TANTUC",
        Role::DistrictOfficer,
        "Ngô Văn Huyện",
    );
    assert_eq!(
        refused(staff::create(&system.client, &misplaced).await),
        "officer_facility"
    );
    let officer = staff::create(
        &system.client,
        &new_account(
            "cb.huyen",
            "TTYT-BINHCHANH",
            Role::DistrictOfficer,
            "Ngô Văn Huyện",
        ),
    )
    .await
    .expect("a district officer at the district centre");
    assert_eq!(officer.role, Role::DistrictOfficer);
    let by_head = new_account(
        "cb.tinh",
        "TYT-TANNHUT",
        Role::ProvinceOfficer,
        "Đặng Thị Tỉnh",
    );
    assert_eq!(
        refused(staff::create(&head.client, &by_head).await),
        "forbidden"
    );

    // The head of Tân Túc cannot touch Tân Nhựt's staff.
    let other_head = lab
        .device_as("other", "TYT-TANTUC", "tt.tuc", Role::FacilityAdmin)
        .await;
    assert_eq!(
        refused(staff::reset_authenticator(&other_head.client, "nv.binh").await),
        "forbidden"
    );
    assert_eq!(
        refused(staff::revoke(&other_head.client, "nv.binh").await),
        "forbidden"
    );
    assert_eq!(
        refused(staff::sign_ins_of(&other_head.client, "nv.binh").await),
        "forbidden"
    );
    // A vaccinator runs no accounts at all.
    let nurse = lab.device("nurse", "TYT-TANNHUT", "nv.lan").await;
    assert_eq!(refused(staff::accounts(&nurse.client).await), "forbidden");

    // Revoked by the head: the account is gone everywhere, and the log says who did it.
    staff::revoke(&head.client, "nv.binh")
        .await
        .expect("revoked");
    assert_eq!(
        audited(&lab, "account/nv.binh").await,
        [
            ("account_create".to_string(), "tt.hoa".to_string()),
            ("account_revoke".to_string(), "tt.hoa".to_string()),
        ]
    );
    assert!(matches!(
        admin_audit::verify(&lab.server.db).await.expect("verified"),
        ChainCheck::Intact { .. }
    ));
    lab.server.stop().await;
}
both_backends!(heads_run_their_own_staff_and_system_administrators_only_administrators);

async fn a_head_resets_a_lost_authenticator_and_the_nurse_enrols_a_new_one(backend: Backend) {
    let lab = Lab::start(backend).await;
    // nv.lan has used this laptop (it keeps her copy for offline sign-in), then nv.mai.
    let laptop = lab.device("laptop", "TYT-TANNHUT", "nv.lan").await;
    let mut old_phone = laptop.otp.clone();
    laptop
        .station
        .sign_out(Some(&laptop.client))
        .await
        .expect("sign out");
    lab.account("nv.mai", "TYT-TANNHUT", Role::Vaccinator).await;
    lab.sign_in(&laptop.station, &laptop.client, "nv.mai").await;
    laptop.client.set_session(
        laptop
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let head = lab
        .device_as("head", "TYT-TANNHUT", "tt.hoa", Role::FacilityAdmin)
        .await;

    // nv.lan lost her phone: the head resets her authenticator.
    staff::reset_authenticator(&head.client, "nv.lan")
        .await
        .expect("reset");

    // The thief with her phone and her password gets nowhere: the laptop forgets her offline
    // copy at its next sync, and the server asks for a new enrolment.
    laptop.sync().await.expect("nv.mai syncs");
    let offline = SyncClient::new("http://127.0.0.1:9", &laptop.token, None).expect("client");
    let code = old_phone.code().await;
    let err = sign_in_as_lan(&laptop.station, &offline, PASSWORD, code)
        .await
        .expect_err("the old copy is gone");
    assert_eq!(err.code(), "offline_unknown_account", "{err}");

    // nv.lan, on the head's word, signs in with her password and enrols her new phone.
    laptop
        .station
        .sign_out(Some(&laptop.client))
        .await
        .expect("nv.mai signs out");
    let code = old_phone.code().await;
    let step = sign_in_as_lan(&laptop.station, &laptop.client, PASSWORD, code)
        .await
        .expect("password accepted");
    let SignIn::EnrollOtp {
        challenge,
        otp_secret_base32,
        ..
    } = step
    else {
        panic!("a reset authenticator is enrolled again: {step:?}");
    };
    let mut new_phone = Authenticator::from_base32(&otp_secret_base32);
    let code = new_phone.code().await;
    let done = laptop
        .station
        .complete_enrollment(&laptop.client, &challenge, &code, PASSWORD)
        .await
        .expect("enrolled");
    assert!(matches!(done, SignIn::Done { .. }), "{done:?}");
    laptop
        .station
        .sign_out(Some(&laptop.client))
        .await
        .expect("sign out");

    // The old phone's codes are refused from now on; the new one's work.
    let code = old_phone.code().await;
    let err = sign_in_as_lan(&laptop.station, &laptop.client, PASSWORD, code)
        .await
        .expect_err("old phone refused");
    assert_eq!(refusal(&err), "invalid_credentials", "{err}");
    let code = new_phone.code().await;
    let step = sign_in_as_lan(&laptop.station, &laptop.client, PASSWORD, code)
        .await
        .expect("new phone accepted");
    assert!(matches!(step, SignIn::Done { .. }), "{step:?}");

    // She reads her own history (the failed try with the old phone is in it); her head reads
    // it too; the reset is in the audit log under the head's name.
    let session = laptop.session();
    let client = staff::as_user(session.as_ref(), &laptop.client).expect("online session");
    let own = staff::own_sign_ins(client).await.expect("own history");
    let outcomes: Vec<(&str, Option<&str>)> = own
        .iter()
        .map(|e| (e.outcome.as_str(), e.detail.as_deref()))
        .collect();
    assert!(
        outcomes.contains(&("enrollment_started", None)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("failure", Some("wrong_otp"))),
        "{outcomes:?}"
    );
    assert_eq!(own[0].outcome, "success", "newest first: {outcomes:?}");
    assert!(own.iter().all(|e| e.username == "nv.lan"));
    let seen_by_head = staff::sign_ins_of(&head.client, "nv.lan")
        .await
        .expect("the head reads it");
    assert_eq!(seen_by_head.len(), own.len());
    assert_eq!(
        audited(&lab, "account/nv.lan").await,
        [(
            "account_reset_authenticator".to_string(),
            "tt.hoa".to_string()
        )]
    );
    lab.server.stop().await;
}
both_backends!(a_head_resets_a_lost_authenticator_and_the_nurse_enrols_a_new_one);

async fn a_forgotten_password_is_reset_and_must_be_changed_at_the_next_sign_in(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut nurse = lab.device("nurse", "TYT-TANNHUT", "nv.lan").await;
    let head = lab
        .device_as("head", "TYT-TANNHUT", "tt.hoa", Role::FacilityAdmin)
        .await;

    // A weak password is refused naming its rules; nothing changed, the attempt is logged.
    let weak = staff::reset_password(&head.client, "nv.lan", "123456").await;
    assert_eq!(refused(weak), "weak_password");

    staff::reset_password(&head.client, "nv.lan", "Dat@lai2025")
        .await
        .expect("reset");
    // Her open session ended with the reset.
    assert_eq!(refused(nurse.sync().await), "session_invalid");

    // The old password no longer opens the account; the new initial one leads to a change.
    let code = nurse.otp.code().await;
    let err = sign_in_as_lan(&nurse.station, &nurse.client, PASSWORD, code)
        .await
        .expect_err("old password");
    assert_eq!(refusal(&err), "invalid_credentials", "{err}");
    let code = nurse.otp.code().await;
    let step = sign_in_as_lan(&nurse.station, &nurse.client, "Dat@lai2025", code)
        .await
        .expect("initial password with her own code");
    let SignIn::ChangePassword { challenge } = step else {
        panic!("the reset password must be changed: {step:?}");
    };
    let done = nurse
        .station
        .change_initial_password(&nurse.client, &challenge, "Mat@khau2026")
        .await
        .expect("changed");
    assert!(matches!(done, SignIn::Done { .. }));
    assert_eq!(
        audited(&lab, "account/nv.lan").await,
        [
            ("account_reset_password".to_string(), "tt.hoa".to_string()),
            (
                "account_reset_password_failed".to_string(),
                "tt.hoa".to_string()
            ),
            ("account_reset_password".to_string(), "tt.hoa".to_string()),
        ]
    );
    lab.server.stop().await;
}
both_backends!(a_forgotten_password_is_reset_and_must_be_changed_at_the_next_sign_in);

async fn a_removed_or_edited_admin_audit_entry_is_found(backend: Backend) {
    let lab = Lab::start(backend).await;
    let db = &lab.server.db;
    let head = admin_audit::Actor::account("tt.hoa", Some("127.0.0.1"));
    for (action, entity) in [
        ("account_create", "account/nv.binh"),
        ("account_reset_authenticator", "account/nv.lan"),
        ("account_revoke", "account/nv.binh"),
    ] {
        admin_audit::append(db, &head, action, entity, Vec::new())
            .await
            .expect("appended");
    }
    assert_eq!(
        admin_audit::verify(db).await.expect("verified"),
        ChainCheck::Intact { entries: 3 }
    );

    // Someone with the database rewrites who was reset…
    sotiem_server::with_db!(db, pool => {
        sqlx::query("UPDATE admin_audit SET entity = 'account/nv.mai' WHERE seq = 2")
            .execute(pool)
            .await
            .expect("edited");
    });
    let ChainCheck::Broken { seq, reason } = admin_audit::verify(db).await.expect("verified")
    else {
        panic!("an edited entry must show");
    };
    assert_eq!(seq, 2, "{reason}");
    // …or removes the entry altogether.
    sotiem_server::with_db!(db, pool => {
        sqlx::query("DELETE FROM admin_audit WHERE seq = 2")
            .execute(pool)
            .await
            .expect("removed");
    });
    let ChainCheck::Broken { seq, reason } = admin_audit::verify(db).await.expect("verified")
    else {
        panic!("a removed entry must show");
    };
    assert_eq!(seq, 3, "{reason}");
    assert!(reason.contains("thiếu mục 2"), "{reason}");
    lab.server.stop().await;
}
both_backends!(a_removed_or_edited_admin_audit_entry_is_found);
