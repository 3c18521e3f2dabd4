//! The district and province console (issue 17): officers sign in on the server's web console
//! and read counts of their area — stations and devices, doses, verification, signing, the daily
//! report — whose numbers equal those counted here from the people the stations recorded; and
//! no route of the server gives an officer a person's data.

use sotiem_scenarios::server::{Backend, TestServer};
use sotiem_scenarios::{Lab, both_backends, vaccinated_at};
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::Person;
use sync_protocol::auth::Role;
use sync_protocol::clock::VIETNAM;
use time::Duration;

/// What the test expects of one facility on one day, counted from the people it recorded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Expected {
    doses: i64,
    first_doses: i64,
    people: i64,
    voided: i64,
}

fn expected_on(people: &[Person], facility: &str, day: time::Date) -> Expected {
    let mut e = Expected::default();
    let mut vaccinated = BTreeSet::new();
    for p in people {
        for d in p.doses.values() {
            if d.facility != facility || d.given_at.to_offset(VIETNAM).date() != day {
                continue;
            }
            if d.voided.is_some() {
                e.voided += 1;
                continue;
            }
            e.doses += 1;
            e.first_doses += i64::from(d.dose_number == 1);
            vaccinated.insert(p.id);
        }
    }
    e.people = vaccinated.len() as i64;
    e
}

/// People of `facility` vaccinated at `at` with `doses` doses each, recorded by `user`.
fn recorded_at(
    g: &mut sotiem_fixtures::Generator,
    facility: &str,
    user: &str,
    n: usize,
    doses: usize,
    at: time::OffsetDateTime,
) -> Vec<Person> {
    let mut people = vaccinated_at(g, n, doses, at);
    for p in &mut people {
        p.managing_facility = facility.into();
        p.created_by = user.into();
        for d in p.doses.values_mut() {
            d.facility = facility.into();
            d.vaccinator = user.into();
        }
    }
    people
}

/// Every non-zero row of the console's count tables, as text.
async fn counts_table(lab: &Lab) -> BTreeSet<String> {
    sotiem_server::with_db!(&lab.server.db, pool => {
        let mut rows: BTreeSet<String> = sqlx::query_as::<_, (String, String, i64, i64, i64, i64)>(
            "SELECT facility, day, recorded, active, signed, first_doses FROM dose_counts WHERE recorded <> 0",
        )
        .fetch_all(pool)
        .await
        .expect("dose counts")
        .into_iter()
        .map(|r| format!("{r:?}"))
        .collect();
        rows.extend(
            sqlx::query_as::<_, (String, String, i64)>(
                "SELECT facility, verification, people FROM person_counts WHERE people <> 0",
            )
            .fetch_all(pool)
            .await
            .expect("person counts")
            .into_iter()
            .map(|r| format!("{r:?}")),
        );
        rows
    })
}

async fn officers_read_their_areas_counts_and_never_a_person(backend: Backend) {
    let lab = Lab::start(backend).await;
    // A district centre with a commune station under it, and another province's station.
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    lab.server
        .facility(
            "TYT-BINHHUNG",
            "commune_station",
            Some("Xã Bình Hưng"),
            Some("TTYT-BINHCHANH"),
        )
        .await;
    lab.server.facility("CDC-HCM", "cdc", None, None).await;
    sotiem_server::admin::add_facility(
        &lab.server.db,
        &sotiem_server::admin::FacilityRecord {
            code: "TYT-LONGTHANH".into(),
            name: "Trạm Y tế xã Long Thành".into(),
            kind: "commune_station".into(),
            province: Some("Tỉnh Đồng Nai".into()),
            commune: Some("Xã Long Thành".into()),
            parent: None,
        },
    )
    .await
    .expect("facility");

    // Tân Nhựt vaccinates eight people this morning (five with two doses), Tân Túc three;
    // one dose is voided afterwards; the police registry knows four people of Tân Nhựt.
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let now = lab.server.clock.now();
    let at = now - Duration::hours(2);
    let mut g = sotiem_fixtures::Generator::new(1717);
    let mut nhut_people = recorded_at(&mut g, "TYT-TANNHUT", "nv.lan", 5, 2, at);
    nhut_people.extend(recorded_at(&mut g, "TYT-TANNHUT", "nv.lan", 3, 1, at));
    let tuc_people = recorded_at(&mut g, "TYT-TANTUC", "nv.tuc", 3, 1, at);
    nhut.import_people(&nhut_people).await.expect("registered");
    tuc.import_people(&tuc_people).await.expect("registered");
    let voided = nhut_people[0].active_doses()[1].id;
    nhut.void_dose(voided, "Ghi nhầm người")
        .await
        .expect("voided");
    nhut.sync().await.expect("Tân Nhựt syncs");
    tuc.sync().await.expect("Tân Túc syncs");
    let pass = lab.registry_knows(&nhut_people[..4]).await;
    assert_eq!(pass.by_status.get("matched"), Some(&4), "{pass:?}");

    // What the stations recorded, counted here (the void read back from the station's copy).
    let on_station: Vec<Person> = {
        let mut all = Vec::new();
        for p in &nhut_people {
            all.push(nhut.show(p.id).await.expect("shown").person);
        }
        all
    };
    let day = at.to_offset(VIETNAM).date();
    let today = now.to_offset(VIETNAM).date();
    let want_nhut = expected_on(&on_station, "TYT-TANNHUT", day);
    let want_tuc = expected_on(&tuc_people, "TYT-TANTUC", day);
    assert_eq!(want_nhut.voided, 1);
    assert_eq!(want_nhut.doses, 12);

    // A province officer follows every facility of TP Hồ Chí Minh, not Đồng Nai's.
    let province = lab
        .device_as("cdc", "CDC-HCM", "cb.tinh", Role::ProvinceOfficer)
        .await;
    let db = &lab.server.db;
    use sotiem_server::console::{self, Area, report};
    let area = Area::of_officer(
        db,
        &province
            .session()
            .map(|s| s.account.clone())
            .expect("session"),
    )
    .await
    .expect("area");
    assert!(area.contains("TYT-TANNHUT") && area.contains("TYT-BINHHUNG"));
    assert!(!area.contains("TYT-LONGTHANH"), "{area:?}");
    // A district officer follows the centre and the stations under it only.
    lab.account("cb.huyen", "TTYT-BINHCHANH", Role::DistrictOfficer)
        .await;
    let district = Area::district(db, "TTYT-BINHCHANH").await.expect("area");
    let codes: BTreeSet<&str> = district
        .facilities
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(codes, BTreeSet::from(["TTYT-BINHCHANH", "TYT-BINHHUNG"]));
    // An officer's facility must say which area: a district officer at a commune station is
    // refused when the account is made.
    let wrong = sotiem_server::accounts::create_account(
        db,
        &sync_protocol::auth::NewAccount {
            username: "cb.sai".into(),
            facility: "TYT-TANNHUT".into(),
            role: Role::DistrictOfficer,
            full_name: "Trần Văn Sai".into(),
            gender: None,
            position: None,
            email: None,
            phone: None,
            initial_password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        },
    )
    .await
    .expect_err("a district officer belongs to a district centre");
    assert_eq!(wrong.code(), "officer_facility");

    // The daily report equals the counts made here.
    let r = report::daily(db, &area, day).await.expect("report");
    let row = |code: &str| {
        r.rows
            .iter()
            .find(|row| row.facility == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in the report"))
    };
    for (code, want) in [("TYT-TANNHUT", &want_nhut), ("TYT-TANTUC", &want_tuc)] {
        let got = row(code);
        assert_eq!(
            (
                got.doses,
                got.first_doses,
                got.people,
                got.voided,
                got.signed
            ),
            (want.doses, want.first_doses, want.people, want.voided, 0),
            "{code}"
        );
    }
    assert_eq!(row("TYT-BINHHUNG").doses, 0, "a station with nothing shows");
    assert_eq!(r.totals.doses, want_nhut.doses + want_tuc.doses);
    assert_eq!(r.totals.people, want_nhut.people + want_tuc.people);
    let by_vaccine: i64 = r.by_vaccine.iter().map(|v| v.doses).sum();
    assert_eq!(by_vaccine, r.totals.doses);

    // The views read the counts the ingest keeps: the same numbers.
    let overview = console::overview(db, &area, now, 3)
        .await
        .expect("overview");
    let activity = |code: &str| {
        overview
            .iter()
            .find(|a| a.facility == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in the overview"))
    };
    let expect_today = |want: &Expected| if day == today { want.doses } else { 0 };
    assert_eq!(
        activity("TYT-TANNHUT").doses_today,
        expect_today(&want_nhut)
    );
    assert_eq!(activity("TYT-TANTUC").doses_today, expect_today(&want_tuc));
    assert!(activity("TYT-TANNHUT").doses_week >= activity("TYT-TANNHUT").doses_today);
    assert!(!activity("TYT-TANNHUT").silent);
    assert!(activity("TYT-BINHHUNG").silent, "no device: silent");
    let nhut_device = &activity("TYT-TANNHUT").devices[0];
    assert_eq!(
        nhut_device.waiting_changes,
        Some(0),
        "the station reported an empty outbox after its sync"
    );
    let signing = console::signing(db, &area).await.expect("signing");
    let nhut_signing = signing
        .iter()
        .find(|s| s.facility == "TYT-TANNHUT")
        .expect("row");
    assert_eq!(
        (nhut_signing.doses, nhut_signing.signed),
        (want_nhut.doses, 0)
    );
    assert_eq!(
        nhut_signing.oldest_unsigned_day.as_deref(),
        Some(day.to_string().as_str())
    );
    let verification = console::verification(db, &area)
        .await
        .expect("verification");
    let nhut_commune = verification
        .iter()
        .find(|v| v.commune == sotiem_scenarios::TAN_NHUT)
        .expect("Tân Nhựt's commune");
    assert_eq!(nhut_commune.counts[0], 4, "matched: {nhut_commune:?}");
    assert_eq!(nhut_commune.total, nhut_people.len() as i64);

    // Over HTTP: the officer's session opens the console; a nurse's does not; no session goes
    // to the sign-in page; a form posted from another site is refused.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let officer_session = province
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("online session");
    let console_get = |path: &str, session: Option<&str>| {
        let mut r = http.get(format!("{}/console/{path}", lab.server.url));
        if let Some(s) = session {
            r = r.header("cookie", format!("sotiem_console={s}"));
        }
        r.send()
    };
    let mut pages = String::new();
    for path in [
        "stations".to_string(),
        "verification".to_string(),
        "signing".to_string(),
        format!("report?day={day}"),
    ] {
        let answer = console_get(&path, Some(&officer_session))
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 200, "{path}");
        let csp = answer
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        pages.push_str(&answer.text().await.expect("page"));
    }
    assert!(pages.contains("Trạm Y tế xã Tân Nhựt") && pages.contains("Báo cáo ngày"));
    assert!(
        !pages.contains("Long Thành"),
        "another province's station is not in the officer's pages"
    );
    let xlsx = console_get(&format!("report.xlsx?day={day}"), Some(&officer_session))
        .await
        .expect("answer");
    assert_eq!(xlsx.status().as_u16(), 200);
    let book = xlsx.bytes().await.expect("workbook");
    let rows = sotiem_sheets::read_table_from(std::path::Path::new("r.xlsx"), &book)
        .expect("an .xlsx the sheet reader opens");
    let nhut_line = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("TYT-TANNHUT"))
        .expect("Tân Nhựt's line");
    assert_eq!(nhut_line[3], want_nhut.doses.to_string(), "{nhut_line:?}");
    assert_eq!(nhut_line[5], want_nhut.people.to_string(), "{nhut_line:?}");
    // Not one person's name, phone or ID number in any page or the workbook.
    let workbook_text: String = rows.iter().flatten().cloned().collect::<Vec<_>>().join(" ");
    for p in nhut_people.iter().chain(&tuc_people) {
        for secret in [
            Some(&p.full_name),
            p.phone.as_ref(),
            p.identity.number.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                !pages.contains(secret.as_str()),
                "{secret} shown to an officer"
            );
            assert!(
                !workbook_text.contains(secret.as_str()),
                "{secret} in the report"
            );
        }
    }
    let nurse_session = nhut
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("session");
    let refused = console_get("stations", Some(&nurse_session))
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 403);
    let anonymous = console_get("report", None).await.expect("answer");
    assert_eq!(anonymous.status().as_u16(), 303);
    assert_eq!(
        anonymous
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/console/login")
    );
    let forged = http
        .post(format!("{}/console/logout", lab.server.url))
        .header("origin", "https://evil.example")
        .header("cookie", format!("sotiem_console={officer_session}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(forged.status().as_u16(), 403, "cross-site post refused");
    assert_eq!(
        console_get("stations", Some(&officer_session))
            .await
            .expect("answer")
            .status()
            .as_u16(),
        200,
        "the session survived the forged sign-out"
    );

    // Every route that carries people refuses the officer's session on a registered device,
    // whatever the body, with its reason.
    let someone = nhut_people[1].id;
    for (method, path) in [
        ("POST", "sync/push".to_string()),
        ("POST", "sync/pull".to_string()),
        ("POST", "sync/bootstrap".to_string()),
        ("POST", "sync/document".to_string()),
        ("POST", "sync/signing-batch".to_string()),
        ("POST", "audit/push".to_string()),
        ("POST", "auth/step-up".to_string()),
        ("GET", "passports/changes?since=0".to_string()),
        ("GET", format!("passports/person/{someone}")),
    ] {
        let url = format!("{}/api/v1/{path}", lab.server.url);
        let request = match method {
            "GET" => http.get(url),
            _ => http.post(url).body(vec![0u8; 16]),
        };
        let answer = request
            .bearer_auth(&province.token)
            .header("x-sotiem-session", &officer_session)
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status().as_u16(), 403, "{path}");
        let body: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
        assert_eq!(body["error"]["code"], "officer_no_data_access", "{path}");
    }
    // The station app refuses the officer every people operation too.
    assert!(province.show(someone).await.is_err());

    // A device reports what waits on it; the console shows it.
    let reported = http
        .post(format!("{}/api/v1/devices/report", lab.server.url))
        .bearer_auth(&tuc.token)
        .json(&sync_protocol::wire::DeviceReport {
            waiting_changes: 7,
            quarantined: 1,
            app_version: "0.9.0".into(),
        })
        .send()
        .await
        .expect("answer");
    assert_eq!(reported.status().as_u16(), 204);
    let overview = console::overview(db, &area, now, 3)
        .await
        .expect("overview");
    let tuc_device = &overview
        .iter()
        .find(|a| a.facility == "TYT-TANTUC")
        .expect("row")
        .devices[0];
    assert_eq!(
        (tuc_device.waiting_changes, tuc_device.quarantined),
        (Some(7), Some(1))
    );
    // Without a device token, nothing is recorded.
    let anonymous_report = http
        .post(format!("{}/api/v1/devices/report", lab.server.url))
        .json(&serde_json::json!({"waiting_changes": 1, "quarantined": 0, "app_version": "x"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous_report.status().as_u16(), 401);

    // The counts the ingest kept step by step (imports, a void, the registry's verdicts) are
    // exactly what counting every stored row again gives.
    let kept = counts_table(&lab).await;
    console::rebuild_counts(db).await.expect("counted again");
    assert_eq!(kept, counts_table(&lab).await);

    // Reading and downloading reports is in the administrators' audit chain, which verifies.
    let entries = sotiem_server::admin_audit::entries(db, None, 100)
        .await
        .expect("entries");
    let reads: BTreeMap<&str, usize> =
        entries
            .iter()
            .filter(|e| e.actor == "cb.tinh")
            .fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e.action.as_str()).or_default() += 1;
                m
            });
    assert_eq!(reads.get("console_daily_report"), Some(&1), "{reads:?}");
    assert_eq!(reads.get("console_daily_report_download"), Some(&1));
    assert!(matches!(
        sotiem_server::admin_audit::verify(db)
            .await
            .expect("verify"),
        sotiem_server::admin_audit::ChainCheck::Intact { .. }
    ));
    lab.server.stop().await;
}
both_backends!(officers_read_their_areas_counts_and_never_a_person);

/// Issue 26 (4): the district console lists its area's password and authenticator resets and
/// approves, as the second person, a reset of both factors of one account; a province officer
/// sees the list but approves nothing; a form posted from another site is refused.
async fn the_district_console_lists_and_approves_resets(backend: Backend) {
    use station::staff;
    use sync_protocol::auth::ResetStatus;
    let lab = Lab::start(backend).await;
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    lab.server.set_parent("TYT-TANNHUT", "TTYT-BINHCHANH").await;
    lab.server.facility("CDC-HCM", "cdc", None, None).await;
    let head = lab
        .device_as("head", "TYT-TANNHUT", "tt.hoa", Role::FacilityAdmin)
        .await;
    let _nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let district = lab
        .device_as("huyen", "TTYT-BINHCHANH", "cb.huyen", Role::DistrictOfficer)
        .await;
    let province = lab
        .device_as("tinh", "CDC-HCM", "cb.tinh", Role::ProvinceOfficer)
        .await;
    staff::reset_password(&head.client, "nv.lan", sotiem_scenarios::INITIAL_PASSWORD)
        .await
        .expect("reset");
    let held = staff::reset_authenticator(&head.client, "nv.lan")
        .await
        .expect("asked");
    assert_eq!(held.status, ResetStatus::AwaitingApproval);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let session = |d: &sotiem_scenarios::Device| {
        d.session()
            .and_then(|s| s.server_token().map(str::to_string))
            .expect("online session")
    };
    let page = |who: String| {
        let request = http
            .get(format!("{}/console/resets", lab.server.url))
            .header("cookie", format!("sotiem_console={who}"));
        async move {
            let answer = request.send().await.expect("answer");
            (answer.status().as_u16(), answer.text().await.expect("page"))
        }
    };
    let (status, listed) = page(session(&district)).await;
    assert_eq!(status, 200);
    assert!(
        listed.contains("nv.lan") && listed.contains("chờ người thứ hai duyệt"),
        "{listed}"
    );
    assert!(listed.contains("approve-nv.lan"), "the district approves");
    let (status, seen) = page(session(&province)).await;
    assert_eq!(status, 200);
    assert!(
        seen.contains("nv.lan") && !seen.contains("approve-nv.lan"),
        "{seen}"
    );

    let approve = |who: String, origin: &str| {
        http.post(format!("{}/console/resets/approve", lab.server.url))
            .header("cookie", format!("sotiem_console={who}"))
            .header("origin", origin.to_string())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("id={}", held.id))
            .send()
    };
    let forged = approve(session(&district), "https://evil.example")
        .await
        .expect("answer");
    assert_eq!(forged.status().as_u16(), 403, "cross-site post refused");
    let by_province = approve(session(&province), &lab.server.url)
        .await
        .expect("answer");
    assert_eq!(by_province.status().as_u16(), 403);
    let done = approve(session(&district), &lab.server.url)
        .await
        .expect("answer");
    assert_eq!(done.status().as_u16(), 200);
    let text = done.text().await.expect("page");
    assert!(text.contains("Đã duyệt"), "{text}");
    let now = staff::resets(&head.client).await.expect("listed");
    let approved = now.iter().find(|r| r.id == held.id).expect("the reset");
    assert_eq!(
        (approved.status, approved.approved_by.as_deref()),
        (ResetStatus::Applied, Some("cb.huyen"))
    );
    lab.server.stop().await;
}
both_backends!(the_district_console_lists_and_approves_resets);

/// Issue 26 (6): behind a TLS proxy (`--public-url https://…`) the console's session cookie is
/// `Secure`, so a browser never sends it over plain HTTP; signing out clears it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_cookie_is_secure_behind_a_tls_proxy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start_configured(Backend::Sqlite, |state| {
        state.public_url = Some(
            sotiem_server::http::parse_public_url("https://sotiem.soyte.gov.vn").expect("url"),
        );
    })
    .await;
    server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    sotiem_server::accounts::create_account(
        &server.db,
        &sync_protocol::auth::NewAccount {
            username: "cb.huyen".into(),
            facility: "TTYT-BINHCHANH".into(),
            role: Role::DistrictOfficer,
            full_name: "Ngô Văn Huyện".into(),
            gender: None,
            position: None,
            email: None,
            phone: Some("0913222333".into()),
            initial_password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        },
    )
    .await
    .expect("officer");
    let url = server.url.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |path: &str, form: String| {
        http.post(format!("{url}/console/{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let enrol = post(
        "login",
        format!("username=cb.huyen&password={}", "Khoi%40tao2024"),
    )
    .await
    .expect("answer")
    .text()
    .await
    .expect("page");
    let secret =
        sotiem_scenarios::complaints::between(&enrol, "data-testid=\"enroll-secret\">", "<")
            .expect("the key on the page");
    let challenge =
        sotiem_scenarios::complaints::between(&enrol, "name=\"challenge\" value=\"", "\"")
            .expect("the challenge");
    let otp = sotiem_scenarios::Authenticator::from_base32(secret)
        .code()
        .await;
    let change = post("enroll", format!("challenge={challenge}&otp={otp}"))
        .await
        .expect("answer")
        .text()
        .await
        .expect("page");
    let challenge =
        sotiem_scenarios::complaints::between(&change, "name=\"challenge\" value=\"", "\"")
            .expect("the challenge");
    let signed_in = post(
        "change-password",
        format!("challenge={challenge}&new_password=Tiem%40chung2024&confirm=Tiem%40chung2024"),
    )
    .await
    .expect("answer");
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    assert!(cookie.starts_with("sotiem_console="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let token = cookie
        .trim_start_matches("sotiem_console=")
        .split(';')
        .next()
        .expect("value");
    let out = http
        .post(format!("{url}/console/logout"))
        .header("cookie", format!("sotiem_console={token}"))
        .send()
        .await
        .expect("answer");
    let cleared = out
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cleared");
    assert!(
        cleared.contains("Secure") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    server.stop().await;
}
