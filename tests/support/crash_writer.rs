//! Records doses for the people of a station as fast as it can, printing each dose id once its
//! transaction has committed, until it is killed ("ready" first, once the station is open). Used by the crash-safety scenario; it works
//! in the session the test opened (kept in the OS credential store).
//!
//! Usage: crash-writer DATA_DIR KEY_HEX PERSON_ID...

use station::{DbKey, DoseInput};
use uuid::Uuid;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or_else(|| anyhow::anyhow!("data dir"))?;
    let key = DbKey::from_hex(&args.next().ok_or_else(|| anyhow::anyhow!("key"))?)?;
    let people: Vec<Uuid> = args
        .map(|a| Uuid::parse_str(&a))
        .collect::<Result<_, _>>()?;
    let station = sotiem_scenarios::reopen(dir.as_ref(), &key).await;
    anyhow::ensure!(station.session().is_some(), "no session to resume");
    // The test's delay before the kill counts from here.
    println!("ready");
    let mut i = 0usize;
    loop {
        let person = people[i % people.len()];
        let record = station.show(person).await?;
        // Void the newest dose every fourth write, so voids are interrupted too, and whenever
        // the person nears the highest dose number.
        if (i % 4 == 3 || record.next_dose_number > 8)
            && let Some(d) = record.person.active_doses().last()
        {
            let d = station.void_dose(d.id, "Nhập nhầm lô vắc xin").await?;
            println!("void {}", d.id);
        } else {
            let d = station
                .record_dose(
                    person,
                    DoseInput {
                        vaccine: "pfizer".into(),
                        lot: format!("FF{:04}", i % 10_000),
                        ..DoseInput::default()
                    },
                )
                .await?;
            println!("dose {}", d.id);
        }
        i += 1;
    }
}
