//! A process killed in the middle of writes leaves no partial state: every document agrees with
//! its columns, dose rows and outbox, the audit chain holds, and every write reported as done is
//! there.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, reopen};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn killing_the_writer_mid_transaction_never_leaves_partial_writes() {
    let lab = Lab::start(Backend::Sqlite).await;
    let device = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let (data, key) = (device.dir.clone(), device.key.clone());
    let mut g = Generator::new(11);
    let people: Vec<_> = (0..20)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    device.station.import_people(&people).await.unwrap();
    device.station.close().await;

    let mut committed: Vec<(String, String)> = Vec::new();
    // Kill after different delays so the kill lands at different steps of a write.
    for (round, delay_ms) in [150u64, 230, 310, 370, 450, 520, 610, 700]
        .into_iter()
        .enumerate()
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
            .arg(&data)
            .arg(key.to_hex())
            .args(people.iter().map(|p| p.id.to_string()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The writer says "ready" once its station is open: the delay counts from there, so a
        // loaded machine that opens the station slowly still has the kill land mid-writes.
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer opened its station");
        assert_eq!(ready, "ready", "round {round}");
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback code runs
        child.wait().unwrap();
        // The pipe closes with the process: what it printed before the kill is all there is.
        let lines: Vec<(String, String)> = lines
            .iter()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        assert!(
            !lines.is_empty() || round == 0,
            "round {round}: the writer made no progress"
        );
        committed.extend(lines);

        let station = reopen(&data, &key).await;
        let problems = station.check_integrity().await.unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        station.close().await;
    }

    // Every write the writer reported as committed survived, voids included.
    let station = reopen(&data, &key).await;
    let mut doses = std::collections::BTreeMap::new();
    for p in &people {
        for d in station.show(p.id).await.unwrap().person.doses.into_values() {
            doses.insert(d.id.to_string(), d);
        }
    }
    assert!(
        committed.len() > 20,
        "only {} writes happened",
        committed.len()
    );
    for (kind, id) in &committed {
        let d = doses
            .get(id)
            .unwrap_or_else(|| panic!("committed dose {id} is missing"));
        if kind == "void" {
            assert!(d.voided.is_some(), "committed void of {id} is missing");
        }
    }
}
