//! End-of-day issuance of vaccine passports (issue 15): `PEOPLE` (default 100,000) matched people
//! whose doses a run signed, written straight into the server's tables (not pushed one by one),
//! then one `passports::run` signing every certificate in the SoftHSM2 token: PS256 (RSA-2048)
//! and ES256 (P-256), on SQLite and PostgreSQL. Prints certificates per second.
//! `cargo bench -p sotiem-scenarios --bench passports` (release; PostgreSQL reachable).

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::{Backend, TestServer};
use sotiem_scenarios::softhsm::{LABEL, MODULE, PIN, SoftToken, bench_main};
use sotiem_server::passports::{self, Issuer, SignerConfig};
use sotiem_server::with_db;
use std::sync::Arc;
use std::time::Instant;
use sync_protocol::person::format_time;

/// Writes `n` people with 1–3 signed doses each, matched, into the server's tables.
async fn populate(server: &TestServer, n: usize) {
    let mut g = Generator::new(100);
    let batch = "00000000-0000-7000-8000-000000000001";
    let now = format_time(server.clock.now());
    with_db!(&server.db, pool => {
        sqlx::query(
            "INSERT INTO signing_batches (id, facility, signer, certificate_serial, signed_at, doses, manifest, cms, device_id, received_at)
             VALUES ($1, 'TYT-TANNHUT', 'bs.hung', '01', $2, 0, $3, $3, 'bench', $2)",
        )
        .bind(batch)
        .bind(&now)
        .bind(Vec::<u8>::new())
        .execute(pool)
        .await
        .expect("batch");
        for chunk in 0..n.div_ceil(1_000) {
            let people: Vec<sync_protocol::Person> = (0..1_000.min(n - chunk * 1_000))
                .map(|i| g.person("TYT-TANNHUT", "nv.lan", 1 + (chunk + i) % 3))
                .collect();
            let mut tx = pool.begin().await.expect("tx");
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO documents (person_id, doc, last_seq, full_name, name_key, gender, birth_date,
                 birth_year, id_kind, id_number, phone, province, commune, nationality, managing_facility,
                 verification, merged_into, updated_at) ",
            );
            q.push_values(&people, |mut b, p| {
                b.push_bind(p.id.to_string())
                    .push_bind(Vec::<u8>::new())
                    .push_bind(1_i64)
                    .push_bind(&p.full_name)
                    .push_bind(sync_protocol::text::fold(&p.full_name))
                    .push_bind("male")
                    .push_bind(p.birth_date.to_string())
                    .push_bind(i64::from(p.birth_date.year()))
                    .push_bind("cccd")
                    .push_bind(p.identity.number.clone())
                    .push_bind(p.phone.clone())
                    .push_bind(None::<String>)
                    .push_bind(None::<String>)
                    .push_bind("VN")
                    .push_bind("TYT-TANNHUT")
                    .push_bind("matched")
                    .push_bind(None::<String>)
                    .push_bind(&now);
            });
            q.build().execute(&mut *tx).await.expect("documents");
            let doses: Vec<(String, &sync_protocol::person::Dose)> = people
                .iter()
                .flat_map(|p| p.doses.values().map(move |d| (p.id.to_string(), d)))
                .collect();
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO doses (id, person_id, vaccine, lot, dose_number, kind, given_at, facility, vaccinator, voided, signed_batch) ",
            );
            q.push_values(&doses, |mut b, (person, d)| {
                b.push_bind(d.id.to_string())
                    .push_bind(person)
                    .push_bind(&d.vaccine)
                    .push_bind(&d.lot)
                    .push_bind(i64::from(d.dose_number))
                    .push_bind("primary")
                    .push_bind(format_time(d.given_at))
                    .push_bind("TYT-TANNHUT")
                    .push_bind("nv.lan")
                    .push_bind(false)
                    .push_bind(batch);
            });
            q.build().execute(&mut *tx).await.expect("doses");
            let mut q = sqlx::QueryBuilder::new("INSERT INTO signed_doses (dose_id, batch_id, person_id) ");
            q.push_values(&doses, |mut b, (person, d)| {
                b.push_bind(d.id.to_string()).push_bind(batch).push_bind(person);
            });
            q.build().execute(&mut *tx).await.expect("signed doses");
            tx.commit().await.expect("commit");
        }
    });
}

async fn bench(token: &SoftToken) {
    let n: usize = std::env::var("PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let catalogue = sync_protocol::vaccines::Catalogue::built_in();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for (name, id) in [("PS256", &token.rsa.id), ("ES256", &token.ec.id)] {
            let server = TestServer::start(backend).await;
            let setup = Instant::now();
            populate(&server, n).await;
            let setup = setup.elapsed();
            let config = SignerConfig {
                module: MODULE.into(),
                token_label: LABEL.into(),
                key_id: id.clone(),
                pin: PIN.into(),
                root: token.ca_pem.clone(),
            };
            let issuer = Arc::new(Issuer::open(&config, server.clock.now()).expect("issuer"));
            let started = Instant::now();
            let report = passports::run(&server.db, &issuer, &catalogue, server.clock.now())
                .await
                .expect("run");
            let took = started.elapsed();
            assert_eq!(report.issued as usize, n);
            println!(
                "{backend:?} {name}: {n} certificates in {:.1} s = {:.0} certificates/s (tables filled in {:.1} s)",
                took.as_secs_f64(),
                n as f64 / took.as_secs_f64(),
                setup.as_secs_f64()
            );
            drop(issuer);
            server.stop().await;
        }
    }
}

fn main() {
    bench_main(bench);
}
