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

/// The status of a reset, by its stable name.
fn status(r: &sync_protocol::auth::ResetRecord) -> sync_protocol::auth::ResetStatus {
    r.status
}

/// Issue 26 (3, 4): whoever resets both the password and the authenticator of an account that
/// reads people's data holds it. A head of station resets a nurse's password (done at once),
/// then her authenticator: held for a second person — the head, the nurse and a system
/// administrator cannot approve it, another head of the station can. A system administrator's
/// second reset of a head's account waits for the district. The holder is told at her next
/// sign-in on each laptop; the district console lists the resets and approves.
async fn both_factors_of_one_account_need_a_second_person(backend: Backend) {
    use sync_protocol::auth::ResetStatus;
    let lab = Lab::start(backend).await;
    let head = lab
        .device_as("head", "TYT-TANNHUT", "tt.hoa", Role::FacilityAdmin)
        .await;
    let deputy = lab
        .device_as("deputy", "TYT-TANNHUT", "pt.son", Role::FacilityAdmin)
        .await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let system = lab
        .device_as("system", "TYT-TANNHUT", "qt.he.thong", Role::SystemAdmin)
        .await;
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    lab.server.set_parent("TYT-TANNHUT", "TTYT-BINHCHANH").await;
    let district = lab
        .device_as("huyen", "TTYT-BINHCHANH", "cb.huyen", Role::DistrictOfficer)
        .await;

    // One factor: done at once, by one person.
    let first = staff::reset_password(&head.client, "nv.lan", INITIAL_PASSWORD)
        .await
        .expect("the password reset");
    assert_eq!(
        (status(&first), first.both_factors),
        (ResetStatus::Applied, false)
    );
    // The other one the same day: held, nothing changed yet.
    let second = staff::reset_authenticator(&head.client, "nv.lan")
        .await
        .expect("asked");
    assert_eq!(
        (status(&second), second.both_factors),
        (ResetStatus::AwaitingApproval, true)
    );
    // The head cannot approve their own request, nor can a system administrator (the holder's
    // sessions ended with the first reset).
    for (who, client) in [("tt.hoa", &head.client), ("qt.he.thong", &system.client)] {
        assert_eq!(
            refused(staff::approve_reset(client, &second.id).await),
            "second_person_required",
            "{who}"
        );
    }
    // Not yet done: the nurse's authenticator still opens her account (with the new password,
    // which she must change).
    nurse
        .station
        .sign_out(Some(&nurse.client))
        .await
        .expect("signed out");
    let mut otp = nurse.otp.clone();
    let step = sign_in_as_lan(
        &nurse.station,
        &nurse.client,
        INITIAL_PASSWORD,
        otp.code().await,
    )
    .await
    .expect("signed in with her own authenticator");
    assert!(matches!(step, SignIn::ChangePassword { .. }), "{step:?}");
    // Another head of the station approves: done now.
    let approved = staff::approve_reset(&deputy.client, &second.id)
        .await
        .expect("approved by a second person");
    assert_eq!(status(&approved), ResetStatus::Applied);
    assert_eq!(approved.approved_by.as_deref(), Some("pt.son"));
    assert_eq!(
        refused(staff::approve_reset(&deputy.client, &second.id).await),
        "reset_closed"
    );
    let listed = staff::resets(&head.client).await.expect("listed");
    assert_eq!(listed.len(), 2, "{listed:?}");

    // The nurse enrols a new authenticator on her station and is told what was done.
    let fresh = sotiem_scenarios::first_login(&nurse.station, &nurse.client, "nv.lan").await;
    let session = nurse.station.session().expect("signed in");
    let mut told: Vec<(String, Option<String>)> = session
        .reset_notices
        .iter()
        .map(|r| (r.requested_by.clone(), r.approved_by.clone()))
        .collect();
    told.sort();
    assert_eq!(
        told,
        vec![
            ("tt.hoa".to_string(), None),
            ("tt.hoa".to_string(), Some("pt.son".to_string()))
        ]
    );
    // Once on this laptop: read, then not shown again here…
    nurse
        .station
        .acknowledge_reset_notices()
        .await
        .expect("read");
    nurse
        .station
        .sign_out(Some(&nurse.client))
        .await
        .expect("signed out");
    lab.codes_used("nv.lan", &fresh);
    lab.sign_in(&nurse.station, &nurse.client, "nv.lan").await;
    assert!(
        nurse
            .station
            .session()
            .expect("signed in")
            .reset_notices
            .is_empty()
    );
    // …but on every other laptop of hers.
    let other = lab.device("b", "TYT-TANNHUT", "nv.lan").await;
    assert_eq!(
        other
            .station
            .session()
            .expect("signed in")
            .reset_notices
            .len(),
        2
    );

    // A system administrator resets both factors of a head of station: the second waits for
    // the district, which approves it (and sees both in its list).
    let by_admin = staff::reset_password(&system.client, "tt.hoa", INITIAL_PASSWORD)
        .await
        .expect("done");
    assert_eq!(status(&by_admin), ResetStatus::Applied);
    let held = staff::reset_authenticator(&system.client, "tt.hoa")
        .await
        .expect("asked");
    assert_eq!(status(&held), ResetStatus::AwaitingApproval);
    assert_eq!(
        refused(staff::approve_reset(&system.client, &held.id).await),
        "second_person_required"
    );
    let area = staff::resets(&district.client)
        .await
        .expect("the district's list");
    assert!(
        area.iter().any(|r| r.id == held.id && r.both_factors),
        "{area:?}"
    );
    let done = staff::approve_reset(&district.client, &held.id)
        .await
        .expect("approved by the district");
    assert_eq!(done.approved_by.as_deref(), Some("cb.huyen"));
    // Every step in the administrators' chain, the refused approval included.
    let actions: Vec<String> = audited(&lab, "account/tt.hoa")
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert!(
        actions.contains(&"account_reset_authenticator".to_string()),
        "{actions:?}"
    );
    let approvals = audited(&lab, &format!("reset/{}", held.id)).await;
    let entry = |action: &str, who: &str| (action.to_string(), who.to_string());
    assert_eq!(
        approvals,
        vec![
            entry("account_reset_approve", "qt.he.thong"),
            entry("account_reset_approve_failed", "qt.he.thong"),
            entry("account_reset_approve", "cb.huyen"),
        ]
    );
    lab.server.stop().await;
}
both_backends!(both_factors_of_one_account_need_a_second_person);
