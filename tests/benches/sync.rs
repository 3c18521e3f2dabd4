//! Sync benchmarks (issue 3): bytes on the wire per dose, bootstrap of a commune replica and a
//! day's sync through a slow mobile link, and server ingest with 50 devices pushing at once.
//!
//! Run: `cargo bench -p sotiem-scenarios --bench sync`
//! Env: `PARTS` = any of `link,ingest,counts` (default all; `counts`: ingest with the console's
//! counts kept and off, side by side); `BACKENDS` = `sqlite,postgres`;
//! `PEOPLE` (default 20000), `INGEST_ROUNDS` (default 3: each person gets doses 3, 4, 5).

use sotiem_fixtures::Generator;
use sotiem_scenarios::proxy::{FaultProxy, Plan};
use sotiem_scenarios::server::{Backend, TestServer};
use sotiem_scenarios::{Lab, client};
use station::DoseInput;
use std::time::{Duration, Instant};
use sync_protocol::automerge::ActorId;
use sync_protocol::wire::{PushRequest, PushResponse, PushResult, PushedChange};
use sync_protocol::{CommitAction, CommitMeta, Dose, DoseKind, PersonDoc};
use uuid::Uuid;

// The server binary's allocator, so the server in this process behaves as it does deployed.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wants(part: &str) -> bool {
    std::env::var("PARTS")
        .map(|p| p.split(',').any(|x| x == part))
        .unwrap_or(true)
}

fn backends() -> Vec<Backend> {
    let list = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    list.split(',')
        .filter_map(|b| match b {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" => Some(Backend::Postgres),
            _ => None,
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if wants("link") {
        link(env_num("PEOPLE", 20_000)).await;
    }
    if wants("ingest") {
        for backend in backends() {
            ingest(backend, env_num("INGEST_ROUNDS", 3), true).await;
        }
    }
    // What keeping the console's counts costs: the same pushes with the counts off, beside.
    if wants("counts") {
        for backend in backends() {
            ingest(backend, env_num("INGEST_ROUNDS", 3), true).await;
            ingest(backend, env_num("INGEST_ROUNDS", 3), false).await;
        }
    }
}

/// A commune's replica through a 1 Mbit/s link with 300 ms round trips.
async fn link(people: usize) {
    let lab = Lab::start(Backend::Sqlite).await;
    let server = &lab.server;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let b = lab.device("b", "TYT-TANNHUT-LD", "nv.hung").await;

    let mut g = Generator::new(2026);
    let list: Vec<_> = (0..people)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 3))
        .collect();
    let t = Instant::now();
    a.import_people(&list).await.unwrap();
    let imported = t.elapsed();
    let t = Instant::now();
    let first = a.sync().await.unwrap();
    println!(
        "Setup: {people} people / {} doses imported on device A in {:.1} s, pushed over loopback in {:.1} s ({} changes, {:.1} MB sent)",
        people * 3,
        imported.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        first.pushed,
        first.bytes_sent as f64 / 1e6
    );

    let shaped = FaultProxy::start(
        server.addr,
        Plan::Shape {
            bits_per_sec: 1_000_000,
            rtt: Duration::from_millis(300),
        },
    )
    .await;
    let cb = b.client_via(&shaped.url);
    let t = Instant::now();
    let boot = b.station.sync(&cb).await.unwrap();
    let bootstrap = t.elapsed();
    println!();
    println!("| through 1 Mbit/s, 300 ms RTT | time | bytes received | bytes sent | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| bootstrap of {} people / {} doses | {:.1} s | {} ({:.0} B/person) | {} | < 60 s |",
        boot.bootstrapped,
        boot.bootstrapped * 3,
        bootstrap.as_secs_f64(),
        boot.bytes_received,
        boot.bytes_received as f64 / boot.bootstrapped.max(1) as f64,
        boot.bytes_sent
    );

    // A day's work at the station: 500 doses, pushed by A and pulled by the mobile team's B.
    let ca_slow = a.client_via(&shaped.url);
    let day = list.len().min(500);
    for p in list.iter().take(day) {
        a.record_dose(
            p.id,
            DoseInput {
                vaccine: "pfizer".into(),
                lot: "FK0071".into(),
                ..DoseInput::default()
            },
        )
        .await
        .unwrap();
    }
    let t = Instant::now();
    let push = a.station.sync(&ca_slow).await.unwrap();
    let push_time = t.elapsed();
    let t = Instant::now();
    let pull = b.station.sync(&cb).await.unwrap();
    let pull_time = t.elapsed();
    println!(
        "| a day's sync at the station: push {day} doses | {:.2} s | {} | {} | < 5 s |",
        push_time.as_secs_f64(),
        push.bytes_received,
        push.bytes_sent
    );
    println!(
        "| a day's sync on another device: pull {day} doses | {:.2} s | {} | {} | < 5 s |",
        pull_time.as_secs_f64(),
        pull.bytes_received,
        pull.bytes_sent
    );
    println!();
    println!(
        "Bytes on the wire per recorded dose: {:.0} to push (request + response), {:.0} to pull; {} and {} changes.",
        (push.bytes_sent + push.bytes_received) as f64 / day as f64,
        (pull.bytes_sent + pull.bytes_received) as f64 / day as f64,
        push.pushed,
        pull.pulled_changes
    );
    lab.server.stop().await;
}

/// A session token of a new vaccinator `user` of `facility`, through the server's first-login
/// steps (enroll an authenticator, change the initial password).
async fn signed_in(server: &TestServer, user: &str, facility: &str) -> String {
    use sotiem_server::accounts;
    use sync_protocol::auth::{LoginRequest, LoginStep, NewAccount, Role, otp_code};
    accounts::create_account(
        &server.db,
        &NewAccount {
            username: user.into(),
            facility: facility.into(),
            role: Role::Vaccinator,
            full_name: "Trần Văn Nam".into(),
            gender: None,
            position: None,
            email: None,
            phone: None,
            initial_password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    // As from a laptop of the facility: an account that reads people enrols only there.
    let origin = accounts::Origin {
        device_serves: vec![facility.to_string()],
        ..accounts::Origin::default()
    };
    let login = LoginRequest {
        username: user.into(),
        password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        otp: None,
        want_secret: false,
    };
    let LoginStep::EnrollOtp {
        challenge,
        otp_secret_base32,
        ..
    } = accounts::login(&server.db, &server.clock, &login, &origin)
        .await
        .unwrap()
    else {
        panic!("first login enrols")
    };
    let secret = totp_rs::Secret::try_from_base32(&otp_secret_base32)
        .unwrap()
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = otp_code(&secret, now).unwrap();
    let LoginStep::ChangePassword { challenge } =
        accounts::enroll(&server.db, &server.clock, &challenge, &code, &origin)
            .await
            .unwrap()
    else {
        panic!("password change")
    };
    accounts::change_password_with_challenge(
        &server.db,
        &server.clock,
        &challenge,
        sotiem_scenarios::PASSWORD,
        &origin,
    )
    .await
    .unwrap()
    .token
}

/// A district's day: 50 devices of 10 facilities push doses at once, each for people who
/// already have two; the server's accepted doses per second.
async fn ingest(backend: Backend, rounds: usize, console_counts: bool) {
    const DEVICES: usize = 50;
    const PEOPLE_PER_DEVICE: usize = 100;
    let server = TestServer::start(backend).await;
    server.state.ingest.keep_console_counts(console_counts);
    for f in 0..10 {
        server
            .facility(
                &format!("TYT-{f:02}"),
                "commune_station",
                Some(&format!("Xã {f}")),
                None,
            )
            .await;
    }
    // A vaccinator per facility, signed in through the first-login flow.
    let mut sessions = Vec::new();
    for f in 0..10 {
        sessions.push(signed_in(&server, &format!("nv.{f:02}"), &format!("TYT-{f:02}")).await);
    }
    // Each device: its own actor, its own people, and the dose changes it will push.
    let mut devices = Vec::new();
    let mut g = Generator::new(50);
    for d in 0..DEVICES {
        let facility = format!("TYT-{:02}", d % 10);
        let user = format!("nv.{:02}", d % 10);
        let token = server.device(&facility).await;
        let actor = ActorId::from(Uuid::now_v7().as_bytes().as_slice());
        let mut docs = Vec::new();
        let mut creations = Vec::new();
        for _ in 0..PEOPLE_PER_DEVICE {
            let p = g.person(&facility, &user, 2);
            let doc = PersonDoc::create(
                actor.clone(),
                &p,
                &CommitMeta::new(&user, CommitAction::Register),
            )
            .unwrap();
            creations.push(PushedChange {
                person_id: p.id,
                bytes: doc.changes_since(&[])[0].raw_bytes().to_vec(),
            });
            docs.push((doc, p));
        }
        let mut batches = Vec::new();
        for round in 0..rounds {
            let mut batch = Vec::new();
            for (doc, p) in docs.iter_mut() {
                let heads = doc.heads();
                let dose = Dose {
                    id: Uuid::now_v7(),
                    vaccine: "EU/1/20/1528".into(),
                    lot: "FK0071".into(),
                    dose_number: u8::try_from(round % 7 + 3).unwrap(),
                    kind: DoseKind::Booster,
                    given_at: sync_protocol::person::now() - time::Duration::days(1),
                    facility: facility.clone(),
                    vaccinator: user.clone(),
                    place: None,
                    reaction_notes: None,
                    voided: None,
                    history: None,
                    signature: None,
                };
                p.doses.insert(dose.id, dose);
                doc.update(p, &CommitMeta::new(&user, CommitAction::Dose))
                    .unwrap();
                batch.push(PushedChange {
                    person_id: p.id,
                    bytes: doc.changes_since(&heads)[0].raw_bytes().to_vec(),
                });
            }
            batches.push(batch);
        }
        let c = client(&server.url, &token);
        c.set_session(Some(sessions[d % 10].clone()));
        devices.push((c, creations, batches));
    }
    // The people exist on the server before the day starts.
    for (c, creations, _) in &devices {
        let r: PushResponse = c
            .call(
                "sync/push",
                &PushRequest {
                    changes: creations.clone(),
                },
            )
            .await
            .unwrap();
        assert!(
            r.results
                .iter()
                .all(|x| matches!(x, PushResult::Accepted { .. }))
        );
    }
    let total = DEVICES * PEOPLE_PER_DEVICE * rounds;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (c, _, batches) in devices {
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            for batch in batches {
                let r: PushResponse = c
                    .call("sync/push", &PushRequest { changes: batch })
                    .await
                    .unwrap();
                accepted += r
                    .results
                    .iter()
                    .filter(|x| matches!(x, PushResult::Accepted { .. }))
                    .count();
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    let elapsed = t.elapsed();
    assert_eq!(accepted, total, "every dose accepted");
    println!(
        "| ingest, {backend:?}, {DEVICES} devices pushing {PEOPLE_PER_DEVICE}-dose batches{} | {total} doses | {:.2} s | **{:.0} doses/s** | ≥ 5,000 |",
        if console_counts {
            ""
        } else {
            ", console counts off"
        },
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    server.stop().await;
}
