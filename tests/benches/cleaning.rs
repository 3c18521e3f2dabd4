//! Data cleaning at district scale: a 100,000-row list exported to .xlsx (target under 3 s), and
//! 100,000 people verified against a 1,000,000-row police registry file (load, then match),
//! plus a verification pass through the server that writes the results into 20,000 documents.
//! `cargo bench -p sotiem-scenarios --bench cleaning` (release).

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, fill_no_id_list};
use sotiem_server::registry::{PassScope, RegistryFile, verify, verify_people};
use station::{DataList, ListQuery};
use std::io::Write;
use std::time::Instant;
use sync_protocol::{Gender, Person, Verification, VerificationStatus};

fn line(p: &Person) -> String {
    format!(
        "{},,{},{},{}\n",
        p.identity.number.as_deref().unwrap_or_default(),
        p.full_name,
        if p.gender == Gender::Male {
            "Nam"
        } else {
            "Nữ"
        },
        p.birth_date
    )
}

fn unverified(mut p: Person) -> Person {
    p.verification = Verification {
        status: VerificationStatus::Unverified,
        checked_at: None,
    };
    p
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(2027);

    // 1. Export of 100,000 rows.
    fill_no_id_list(&nurse, &mut g, 100_000).await;
    let query = ListQuery {
        list: DataList::NoId,
        commune: None,
        facility: None,
        due_by: None,
    };
    for run in 1..=3 {
        let code = nurse.otp.code().await;
        let path = lab.dir.path().join(format!("export-{run}.xlsx"));
        let started = Instant::now();
        let done = nurse
            .export_list(&query, &path, &code)
            .await
            .expect("exported");
        let took = started.elapsed();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "export of {} rows: {:.3} s ({:.1} MB file)",
            done.rows,
            took.as_secs_f64(),
            size as f64 / 1e6
        );
    }

    // 2. 100,000 people against a 1,000,000-row registry file: 95% there (a few with a field
    // that differs), the rest unknown to it.
    let people: Vec<Person> = (0..100_000)
        .map(|_| unverified(g.person("TYT-TANNHUT", "nv.lan", 0)))
        .collect();
    let path = lab.dir.path().join("dan-cu.csv");
    let started = Instant::now();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
        f.write_all("Số định danh,Số CMND cũ,Họ và tên,Giới tính,Ngày sinh\n".as_bytes())
            .expect("header");
        for (i, p) in people.iter().enumerate() {
            if i % 20 == 19 {
                continue;
            }
            let mut p = p.clone();
            if i % 50 == 7 {
                p.full_name.push_str(" Anh");
            }
            f.write_all(line(&p).as_bytes()).expect("line");
        }
        let mut written = people.len() - people.len() / 20;
        while written < 1_000_000 {
            let p = g.person("TYT-TANTUC", "nv.khac", 0);
            f.write_all(line(&p).as_bytes()).expect("line");
            written += 1;
        }
        f.flush().expect("flush");
    }
    println!(
        "registry file written in {:.3} s ({:.1} MB)",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    let started = Instant::now();
    let registry = RegistryFile::load(&path).expect("registry loads");
    let load = started.elapsed();
    let started = Instant::now();
    let mut counts = std::collections::BTreeMap::new();
    for p in &people {
        *counts
            .entry(verify(p, &registry).as_str())
            .or_insert(0usize) += 1;
    }
    let matching = started.elapsed();
    println!(
        "registry of {} citizens loaded in {:.3} s; 100,000 people matched in {:.3} s: {counts:?}",
        registry.len(),
        load.as_secs_f64(),
        matching.as_secs_f64()
    );

    // 3. A verification pass through the server for 20,000 synced people: documents read,
    // results written as changes through the ingest writer.
    let synced = &people[..20_000];
    nurse.import_people(synced).await.expect("imported");
    nurse.sync().await.expect("synced");
    let started = Instant::now();
    let pass = verify_people(&lab.server.state, &registry, PassScope::Unverified)
        .await
        .expect("pass");
    println!(
        "server pass over {} people: {} results written in {:.3} s",
        pass.checked,
        pass.changed,
        started.elapsed().as_secs_f64()
    );
    nurse.close().await;
}
