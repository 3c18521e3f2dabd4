//! Helpers shared by the cross-crate scenarios: a real server on loopback (SQLite or
//! PostgreSQL) with the facilities of a commune, stations in temporary directories signed in
//! through the real first-login flow (authenticator enrollment, password change), one-time codes,
//! and a fault-injecting proxy.

pub mod complaints;
pub mod hostile;
pub mod passports;
pub mod pki;
pub mod proxy;
pub mod release;
pub mod server;
pub mod sheets;
pub mod softhsm;

use server::{Backend, TestServer};
use station::{Credentials, DbKey, FacilityKind, NewStation, SignIn, Station, SyncClient};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use sync_protocol::auth::{NewAccount, Role, otp_code};

/// The initial password every test account is created with (changed at first login).
pub const INITIAL_PASSWORD: &str = "Khoi@tao2024";
/// The password every test account has after its first login.
pub const PASSWORD: &str = "Tiem@chung2024";

/// The communes of the scenarios.
pub const TAN_NHUT: &str = "Xã Tân Nhựt";
pub const TAN_TUC: &str = "Xã Tân Túc";

/// A TOTP secret and the last step used with it (a code is accepted once).
#[derive(Debug, Clone)]
pub struct Authenticator {
    pub secret: Vec<u8>,
    last_step: u64,
    /// The clock codes are made for: the server's (a test may move it forward).
    clock: sync_protocol::Clock,
}

impl Authenticator {
    /// The authenticator a user sets up from the key the server shows at enrolment.
    pub fn from_base32(key: &str) -> Authenticator {
        Authenticator {
            secret: totp_rs::Secret::try_from_base32(key)
                .expect("base32")
                .as_bytes()
                .to_vec(),
            last_step: 0,
            clock: sync_protocol::Clock::system(),
        }
    }

    /// The same authenticator reading `clock`.
    pub fn with_clock(mut self, clock: sync_protocol::Clock) -> Authenticator {
        self.clock = clock;
        self
    }

    /// A fresh code: the current step, or the next one when the current was used (one step
    /// ahead is within the allowed skew). When both were used, a test's movable clock is moved
    /// to the next step (the system's clock is waited for).
    pub async fn code(&mut self) -> String {
        loop {
            let now_step = self.clock.unix() / 30;
            let step = now_step.max(self.last_step + 1);
            if step <= now_step + 1 {
                self.last_step = step;
                return otp_code(&self.secret, step * 30).expect("code");
            }
            if !self.clock.advance(time::Duration::seconds(30)) {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }

    /// A code already used (for replay tests).
    pub fn spent_code(&self) -> String {
        otp_code(&self.secret, self.last_step * 30).expect("code")
    }
}

/// A signed-in station with its sync client and its user's authenticator.
pub struct Device {
    pub station: Station,
    pub client: SyncClient,
    /// The device token (for clients through a proxy).
    pub token: String,
    pub user: String,
    pub otp: Authenticator,
    pub dir: PathBuf,
    pub key: DbKey,
}

impl Device {
    /// Sends a signing run straight to the server as the signed-in user (a sync would send it
    /// after the outbox; the client carries the session a sync sets, so set it here).
    pub async fn send_run(
        &self,
        upload: &sync_protocol::wire::SigningBatchUpload,
    ) -> sync_protocol::wire::SigningBatchOutcome {
        self.client.set_session(
            self.session()
                .and_then(|s| s.server_token().map(str::to_string)),
        );
        self.client
            .call("sync/signing-batch", upload)
            .await
            .expect("answered")
    }

    /// A client of this device through another address (a proxy), with its user's session.
    pub fn client_via(&self, url: &str) -> SyncClient {
        let c = SyncClient::new(url, &self.token, None).expect("client");
        c.set_session(
            self.station
                .session()
                .and_then(|s| s.server_token().map(str::to_string)),
        );
        c
    }

    /// Syncs through the device's own client.
    pub async fn sync(&self) -> Result<station::SyncReport, station::SyncError> {
        self.station.sync(&self.client).await
    }
}

impl std::ops::Deref for Device {
    type Target = Station;
    fn deref(&self) -> &Station {
        &self.station
    }
}

/// A server with the facilities of two communes, and a place for stations.
pub struct Lab {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    authenticators: Mutex<BTreeMap<String, Authenticator>>,
}

impl Lab {
    /// The server's copy of a person.
    pub async fn on_server(&self, id: uuid::Uuid) -> sync_protocol::Person {
        let bytes: Vec<u8> = sotiem_server::with_db!(&self.server.db, pool => {
            sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
                .bind(id.to_string())
                .fetch_one(pool)
                .await
                .expect("stored")
        });
        sync_protocol::PersonDoc::load(&bytes)
            .expect("loads")
            .read()
            .expect("reads")
    }

    /// A server on `backend` with TYT-TANNHUT (Tân Nhựt), its mobile team TYT-TANNHUT-LD, and
    /// TYT-TANTUC (Tân Túc).
    pub async fn start(backend: Backend) -> Lab {
        Lab::start_with_pow(backend, server::SCENARIO_POW_BITS).await
    }

    /// [`Lab::start`] whose public complaint form asks `bits` of proof of work.
    pub async fn start_with_pow(backend: Backend, bits: u32) -> Lab {
        let server = TestServer::start_with_pow(backend, bits).await;
        server
            .facility("TYT-TANNHUT", "commune_station", Some(TAN_NHUT), None)
            .await;
        server
            .facility("TYT-TANNHUT-LD", "mobile_team", None, Some("TYT-TANNHUT"))
            .await;
        server
            .facility("TYT-TANTUC", "commune_station", Some(TAN_TUC), None)
            .await;
        Lab {
            server,
            dir: tempfile::tempdir().expect("temp dir"),
            authenticators: Mutex::new(BTreeMap::new()),
        }
    }

    /// Creates an account on the server (initial password [`INITIAL_PASSWORD`]).
    pub async fn account(&self, username: &str, facility: &str, role: Role) {
        sotiem_server::accounts::create_account(
            &self.server.db,
            &NewAccount {
                username: username.into(),
                facility: facility.into(),
                role,
                full_name: "Nguyễn Thị Lan".into(),
                gender: Some("nu".into()),
                position: Some("Điều dưỡng".into()),
                email: None,
                phone: Some("0912000111".into()),
                initial_password: INITIAL_PASSWORD.into(),
            },
        )
        .await
        .expect("account created");
    }

    /// A station of `facility` in the lab's directory, signed in as a new vaccinator `user`.
    pub async fn device(&self, name: &str, facility: &str, user: &str) -> Device {
        self.device_as(name, facility, user, Role::Vaccinator).await
    }

    /// Like [`Lab::device`] with another role.
    pub async fn device_as(&self, name: &str, facility: &str, user: &str, role: Role) -> Device {
        let (kind, commune) = match facility {
            "TYT-TANNHUT-LD" => (FacilityKind::MobileTeam, TAN_NHUT),
            "TYT-TANTUC" => (FacilityKind::CommuneStation, TAN_TUC),
            _ => (FacilityKind::CommuneStation, TAN_NHUT),
        };
        let dir = self.dir.path().join(name);
        let key = DbKey::generate();
        let mut station = Station::init_with_key(
            &dir,
            NewStation {
                facility_code: facility.into(),
                facility_name: format!("Trạm Y tế {facility}"),
                kind,
                province: Some("TP Hồ Chí Minh".into()),
                commune: Some(commune.into()),
            },
            Some(key.clone()),
        )
        .await
        .expect("station initialises");
        station.set_clock(self.server.clock.clone());
        let token = self.server.device(facility).await;
        let client = SyncClient::new(&self.server.url, &token, None).expect("client");
        let known = self.authenticators.lock().expect("lock").contains_key(user);
        if !known {
            self.account(user, facility, role).await;
        }
        let otp = self.sign_in(&station, &client, user).await;
        client.set_session(
            station
                .session()
                .and_then(|s| s.server_token().map(str::to_string)),
        );
        Device {
            station,
            client,
            token,
            user: user.into(),
            otp,
            dir,
            key,
        }
    }

    /// The police's registry holds `citizens` exactly as recorded: a full verification pass on
    /// the server marks them matched, and everyone else it holds not found (or no ID, ...).
    /// Stations see the results at their next sync.
    pub async fn registry_knows(
        &self,
        citizens: &[sync_protocol::Person],
    ) -> sotiem_server::registry::VerificationPass {
        use sotiem_server::registry::{PassScope, RegistryFile, RegistryRecord, verify_people};
        let mut file = RegistryFile::default();
        for p in citizens {
            if let Some(number) = &p.identity.number {
                file.add(RegistryRecord {
                    id_number: number.clone(),
                    old_cmnd: None,
                    full_name: p.full_name.clone(),
                    gender: p.gender,
                    birth_date: p.birth_date,
                });
            }
        }
        verify_people(&self.server.state, &file, PassScope::Everyone)
            .await
            .expect("verification pass")
    }

    /// Registers these certificates (issuer and serial) on `user`'s account, as an
    /// administrator does with `sotiem-server account certificates USER --cert FILE`.
    pub async fn register_certificates(
        &self,
        user: &str,
        certs: &[&sotiem_token::CertificateInfo],
    ) {
        let registered: Vec<_> = certs
            .iter()
            .map(|c| {
                sotiem_server::certificates::facts(&c.der)
                    .expect("a certificate")
                    .registration()
            })
            .collect();
        sotiem_server::accounts::set_certificates(&self.server.db, user, &registered)
            .await
            .expect("certificates registered");
    }

    /// Remembers codes `user` used outside [`Lab::sign_in`] (a code is accepted once).
    pub fn codes_used(&self, user: &str, otp: &Authenticator) {
        self.authenticators
            .lock()
            .expect("lock")
            .insert(user.into(), otp.clone());
    }

    /// Signs `user` in on `station`: the whole first-login flow the first time, a password and
    /// a fresh code afterwards. Returns the user's authenticator.
    pub async fn sign_in(
        &self,
        station: &Station,
        client: &SyncClient,
        user: &str,
    ) -> Authenticator {
        let known = self.authenticators.lock().expect("lock").get(user).cloned();
        let otp = match known {
            Some(mut otp) => {
                let code = otp.code().await;
                let step = station
                    .sign_in(
                        &Credentials {
                            username: user.into(),
                            password: PASSWORD.into(),
                            otp: code,
                        },
                        Some(client),
                    )
                    .await
                    .expect("sign in");
                assert!(matches!(step, SignIn::Done { .. }), "{step:?}");
                otp
            }
            None => first_login(station, client, user).await,
        };
        self.authenticators
            .lock()
            .expect("lock")
            .insert(user.into(), otp.clone());
        otp
    }
}

/// A first login: enrol the authenticator the server offers, confirm with a code, replace the
/// initial password.
pub async fn first_login(station: &Station, client: &SyncClient, user: &str) -> Authenticator {
    let creds = Credentials {
        username: user.into(),
        password: INITIAL_PASSWORD.into(),
        otp: String::new(),
    };
    let SignIn::EnrollOtp {
        challenge,
        otp_secret_base32,
        ..
    } = station
        .sign_in(&creds, Some(client))
        .await
        .expect("first login")
    else {
        panic!("a first login enrols an authenticator");
    };
    let mut otp =
        Authenticator::from_base32(&otp_secret_base32).with_clock(station.clock().clone());
    let code = otp.code().await;
    let SignIn::ChangePassword { challenge } = station
        .complete_enrollment(client, &challenge, &code, INITIAL_PASSWORD)
        .await
        .expect("enrollment")
    else {
        panic!("an initial password must be changed");
    };
    let done = station
        .change_initial_password(client, &challenge, PASSWORD)
        .await
        .expect("password change");
    assert!(matches!(done, SignIn::Done { .. }));
    otp
}

/// Opens an existing station with its key and the session it left in the credential store.
pub async fn reopen(dir: &Path, key: &DbKey) -> Station {
    let s = Station::open_with_key(dir, Some(key.clone()))
        .await
        .expect("station opens");
    s.resume_session().await.expect("session");
    s
}

/// A sync client for a test server (or proxy) URL.
pub fn client(url: &str, token: &str) -> SyncClient {
    SyncClient::new(url, token, None).expect("client")
}

/// Retries fast: tests cut connections on purpose.
pub fn quick_retry(attempts: u32) -> station::RetryPolicy {
    station::RetryPolicy {
        attempts,
        first_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(50),
    }
}

/// Every person of a station, read whole, by id.
pub async fn all_people(s: &Station) -> BTreeMap<uuid::Uuid, sync_protocol::Person> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM persons ORDER BY id")
        .fetch_all(s.database_for_tests())
        .await
        .expect("ids");
    let mut out = BTreeMap::new();
    for id in ids {
        let id = uuid::Uuid::parse_str(&id).expect("uuid");
        out.insert(id, s.show(id).await.expect("show").person);
    }
    out
}

/// Copies every unacknowledged local change of `from` into `to`, as a sync would, and marks them
/// acknowledged on `from`.
pub async fn deliver(from: &Station, to: &Station) -> usize {
    let entries = from.outbox(100_000).await.expect("outbox");
    let mut by_person: BTreeMap<uuid::Uuid, Vec<Vec<u8>>> = Default::default();
    for e in &entries {
        by_person
            .entry(e.person_id)
            .or_default()
            .push(e.change.clone());
    }
    for (person, changes) in by_person {
        to.apply_remote_changes(person, changes)
            .await
            .expect("changes apply");
    }
    let hashes: Vec<Vec<u8>> = entries.iter().map(|e| e.change_hash.clone()).collect();
    from.acknowledge(&hashes).await.expect("acknowledge");
    entries.len()
}

/// `n` synthetic people of TYT-TANNHUT, `doses` each, all given there from `at` on (ten seconds
/// apart, numbered in order), not yet verified: what a signing run chooses from once
/// [`Lab::registry_knows`] has matched them.
pub fn vaccinated_at(
    g: &mut sotiem_fixtures::Generator,
    n: usize,
    doses: usize,
    at: time::OffsetDateTime,
) -> Vec<sync_protocol::Person> {
    vaccinated_by(g, "nv.lan", n, doses, at)
}

/// [`vaccinated_at`], registered by `user`.
pub fn vaccinated_by(
    g: &mut sotiem_fixtures::Generator,
    user: &str,
    n: usize,
    doses: usize,
    at: time::OffsetDateTime,
) -> Vec<sync_protocol::Person> {
    (0..n)
        .map(|i| {
            let mut p = g.person("TYT-TANNHUT", user, doses);
            let mut ordered: Vec<_> = p.doses.values_mut().collect();
            ordered.sort_by_key(|d| d.given_at);
            for (k, d) in ordered.into_iter().enumerate() {
                d.facility = "TYT-TANNHUT".into();
                d.given_at = at + time::Duration::seconds((i * 10 + k) as i64);
                d.dose_number = u8::try_from(k + 1).unwrap_or(1);
                d.voided = None;
                d.signature = None;
            }
            p
        })
        .collect()
}

/// Adds `n` synthetic people without an ID straight into a station's listed columns (no
/// documents): what the export of a large `no_id` list reads, made in seconds rather than by
/// registering 100,000 people one by one. For export tests and benchmarks only.
pub async fn fill_no_id_list(station: &Station, g: &mut sotiem_fixtures::Generator, n: usize) {
    let mut tx = station.database_for_tests().begin().await.expect("tx");
    for _ in 0..n {
        let gender = g.gender();
        let name = g.full_name(gender);
        let born = g.birth_date();
        sqlx::query(
            "INSERT INTO persons (id, doc, heads, full_name, name_key, gender, birth_date,
                birth_year, id_kind, id_number, phone, province, commune, nationality,
                managing_facility, verification, merged_into, updated_at)
             VALUES (?, x'', x'', ?, ?, ?, ?, ?, 'none', NULL, ?, 'TP Hồ Chí Minh', ?, 'VN',
                'TYT-TANNHUT', 'no_id', NULL, '2026-11-20T08:00:00+07:00')",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&name)
        .bind(sync_protocol::text::fold(&name))
        .bind(gender.as_str())
        .bind(born.to_string())
        .bind(born.year())
        .bind(g.phone())
        .bind(TAN_NHUT)
        .execute(&mut *tx)
        .await
        .expect("row");
    }
    tx.commit().await.expect("commit");
}
