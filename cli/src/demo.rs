//! `sotiem demo …`: synthetic (not real) people and doses for trying the software, and a
//! police registry file that matches them.

use crate::render::Output;
use clap::Subcommand;
use station::Station;
use station::programme::{DueQuery, SessionDay, SessionPlan};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use sync_protocol::{IdentityKind, Person};

#[derive(Subcommand)]
pub enum DemoCommand {
    /// Registers synthetic people at this station: adults with 0–3 COVID-19 doses, and one in
    /// six a child under six with a caregiver, a hamlet and routine doses.
    Seed {
        #[arg(long, default_value_t = 300)]
        people: usize,
        /// The same seed gives the same people.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Records today's work for the demo: the next dose of people due for one, given now by the
    /// signed-in nurse, until today has `--doses` doses (none when it already has them), and a
    /// session day today for the hamlet with the most children due (unless one is planned).
    Today {
        #[arg(long, default_value_t = 12)]
        doses: usize,
    },
    /// Writes a synthetic police registry file (CSV) for the people `demo seed` makes with the
    /// same --people and --seed: most agree, some differ in a field, some are missing — for
    /// `sotiem-server serve --registry`.
    Registry {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 300)]
        people: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The people `demo seed` registers (the same for the same count and seed).
fn demo_people(facility: &str, user: &str, people: usize, seed: u64) -> Vec<Person> {
    let mut g = sotiem_fixtures::Generator::new(seed);
    // A fixed day, so `demo registry` gives the same children whatever day it runs.
    let reference = time::macros::date!(2026 - 12 - 01);
    (0..people)
        .map(|i| {
            // One in six a child under six with a mother, a hamlet and routine doses, so the
            // routine immunization screen has a due list.
            if i % 6 == 5 {
                return g.child(facility, user, reference, 6 * 365);
            }
            let doses = g.range(0..4);
            g.person(facility, user, doses)
        })
        .collect()
}

/// Gives people due for a dose their next one now (the vaccine and lot of their last), until
/// today has `doses` doses. Returns how many were recorded.
async fn demo_today(station: &Station, doses: usize) -> anyhow::Result<usize> {
    let today = sync_protocol::person::now().date();
    let done = usize::try_from(station.daily_report(today).await?.doses).unwrap_or(0);
    let wanted = doses.saturating_sub(done);
    if wanted == 0 {
        return Ok(0);
    }
    let due = station
        .data_list(
            &station::ListQuery {
                list: station::DataList::DueNextDose,
                commune: None,
                facility: None,
                due_by: None,
            },
            0,
            station::SCREEN_ROWS,
        )
        .await?;
    let mut recorded = 0;
    for row in &due.rows {
        if recorded == wanted {
            break;
        }
        let Some(last) = &row.dose else { continue };
        let input = station::DoseInput {
            vaccine: last.vaccine.clone(),
            lot: last.lot.clone(),
            ..Default::default()
        };
        match station.record_dose(row.person_id, input).await {
            Ok(_) => recorded += 1,
            // A series already complete, an interval not yet over: the next person.
            Err(e) if e.is_bad_input() || matches!(e, station::StationError::Rule(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(recorded)
}

/// Plans today's session day for the hamlet with the most people due, unless today has one.
async fn demo_session(station: &Station) -> anyhow::Result<Option<SessionDay>> {
    let today = sync_protocol::person::now().date();
    if !station
        .session_days(Some(today), Some(today))
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let due = station
        .due_list(&DueQuery {
            on: Some(today),
            ..DueQuery::default()
        })
        .await?;
    let mut people: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in &due {
        if let Some(hamlet) = e.hamlet.as_deref() {
            people.entry(hamlet).or_default().insert(&e.person_id);
        }
    }
    let Some((hamlet, _)) = people.iter().max_by_key(|(_, p)| p.len()) else {
        return Ok(None);
    };
    let session = station
        .plan_session(SessionPlan {
            day: today,
            hamlet: Some(hamlet.to_string()),
            place: Some(format!("Nhà văn hoá {}", hamlet.to_lowercase())),
        })
        .await?;
    Ok(Some(session))
}

/// A registry file for the demo people: every 12th has another spelling of the name, every
/// 20th is not in it; 500 other citizens of the commune fill it out.
fn write_demo_registry(path: &std::path::Path, people: usize, seed: u64) -> anyhow::Result<usize> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all("Số định danh,Số CMND cũ,Họ và tên,Giới tính,Ngày sinh\n".as_bytes())?;
    let mut line = |p: &Person, name: &str| -> std::io::Result<()> {
        let Some(id) = p
            .identity
            .number
            .as_deref()
            .filter(|_| p.identity.kind == IdentityKind::Cccd)
        else {
            return Ok(());
        };
        let gender = if p.gender == sync_protocol::Gender::Male {
            "Nam"
        } else {
            "Nữ"
        };
        writeln!(f, "{id},,{name},{gender},{}", p.birth_date)
    };
    let mut rows = 0;
    for (i, p) in demo_people("X", "demo", people, seed).iter().enumerate() {
        if i % 20 == 19 {
            continue;
        }
        let name = if i % 12 == 5 {
            format!("{} Thị", p.full_name)
        } else {
            p.full_name.clone()
        };
        line(p, &name)?;
        rows += 1;
    }
    for p in demo_people("X", "demo", 500, seed.wrapping_add(1_000)) {
        line(&p, &p.full_name)?;
        rows += 1;
    }
    f.flush()?;
    Ok(rows)
}

/// `sotiem demo registry`: writes the registry file (no station needed).
pub fn registry(path: &Path, people: usize, seed: u64, out: &Output) -> anyhow::Result<()> {
    let rows = write_demo_registry(path, people, seed)?;
    out.message(&format!(
        "Đã ghi {rows} dòng dữ liệu dân cư mẫu vào {}",
        path.display()
    ));
    Ok(())
}

/// Runs `sotiem demo seed` or `sotiem demo today`.
pub async fn demo(station: &Station, cmd: &DemoCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        DemoCommand::Seed { people, seed } => {
            let facility = station.facility().code;
            let user = station
                .session()
                .map_or_else(|| "demo".to_string(), |s| s.username().to_string());
            let list = demo_people(&facility, &user, *people, *seed);
            let n = station.import_people(&list).await?;
            out.seeded(n);
        }
        DemoCommand::Today { doses } => {
            let n = demo_today(station, *doses).await?;
            let session = demo_session(station).await?;
            out.recorded_today(n, session.as_ref());
        }
        // Written in `run`, before a station is opened.
        DemoCommand::Registry { .. } => {}
    }
    Ok(())
}
