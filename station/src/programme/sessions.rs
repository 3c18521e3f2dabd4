//! Session days of the routine programme: planned per hamlet, the invitation slips (and in
//! `sheet.rs` the list and tally sheet) and the day's tally from the due list as it stood that morning, and closing the day: whoever was due
//! and got no dose here that day becomes a defaulter, traced with WHO's fields (can the child be
//! located, why the session was missed, what came of it).

use super::slips::{self, doses_text};
use super::{DueEntry, DueQuery};
use crate::error::{Result, StationError};
use crate::service::Station;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::person::format_time;
use sync_protocol::validate::{self, MAX_TEXT};
use sync_protocol::{Field, FieldError, Problem, text};
use time::Date;
use uuid::Uuid;

/// A session day to plan: the day, the hamlet (none: the whole commune) and where.
#[derive(Debug, Clone)]
pub struct SessionPlan {
    pub day: Date,
    pub hamlet: Option<String>,
    pub place: Option<String>,
}

/// A planned session day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionDay {
    pub id: String,
    /// `yyyy-mm-dd`.
    pub day: String,
    pub hamlet: Option<String>,
    pub place: Option<String>,
    pub planned_by: String,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    /// How many did not come (once closed).
    pub defaulters: i64,
}

/// A paper of a session day: its invitation slips, or its list and tally sheet.
#[derive(Debug, Clone)]
pub struct SessionPaper {
    /// The PDF.
    pub pdf: Vec<u8>,
    /// How many people invited it holds.
    pub people: usize,
    /// A file name for it (`giay-moi-2026-12-14-ap-3.pdf`).
    pub file_name: String,
}

/// One line of the day's tally: an antigen, how many were due that morning, how many doses of
/// it were given here that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TallyRow {
    pub series: String,
    pub antigen: String,
    pub due: i64,
    pub given: i64,
}

/// The day's tally sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionTally {
    pub session: SessionDay,
    /// People due that morning.
    pub invited: i64,
    /// Of them, those given a dose here that day.
    pub came: i64,
    pub rows: Vec<TallyRow>,
}

/// Why a session was missed (the reasons WHO's defaulter tracing asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MissReason {
    Away,
    Sick,
    Forgot,
    NotInformed,
    Refused,
    Moved,
    Other,
}

/// What came of tracing a defaulter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TraceOutcome {
    VaccinatedLater,
    Rescheduled,
    VaccinatedElsewhere,
    MovedAway,
    Refused,
    NotFound,
}

/// The stored value, the Vietnamese label and what people type, for each choice.
macro_rules! choices {
    ($ty:ident, $field:expr, $allowed:expr, $( $v:ident => ($code:expr, $label:expr, [$($alias:expr),*]) ),* $(,)?) => {
        impl $ty {
            /// The stored value.
            pub fn as_str(self) -> &'static str {
                match self { $( $ty::$v => $code, )* }
            }

            /// The Vietnamese label.
            pub fn label(self) -> &'static str {
                match self { $( $ty::$v => $label, )* }
            }

            /// Reads the stored value, the label or a short Vietnamese form (no diacritics needed).
            pub fn parse(typed: &str) -> std::result::Result<$ty, FieldError> {
                let key = text::fold(typed);
                $(
                    if key == $code || key == text::fold($label) $(|| key == $alias)* {
                        return Ok($ty::$v);
                    }
                )*
                Err(FieldError::new($field, Problem::Choice { allowed: $allowed }))
            }
        }
    };
}

choices!(MissReason, Field::Defaulter,
    "away (đi vắng), sick (trẻ ốm), forgot (quên lịch), not_informed (không nhận được giấy mời), refused (từ chối), moved (chuyển đi), other (khác)",
    Away => ("away", "Đi vắng", ["di vang", "vang"]),
    Sick => ("sick", "Trẻ ốm", ["om", "tre om"]),
    Forgot => ("forgot", "Quên lịch", ["quen"]),
    NotInformed => ("not_informed", "Không nhận được giấy mời", ["khong biet", "khong nhan duoc"]),
    Refused => ("refused", "Gia đình từ chối", ["tu choi"]),
    Moved => ("moved", "Đã chuyển đi", ["chuyen di"]),
    Other => ("other", "Lý do khác", ["khac"]),
);

choices!(TraceOutcome, Field::Defaulter,
    "vaccinated_later (đã tiêm bù), rescheduled (hẹn buổi sau), vaccinated_elsewhere (tiêm nơi khác), moved_away (chuyển đi), refused (từ chối), not_found (không tìm được)",
    VaccinatedLater => ("vaccinated_later", "Đã tiêm bù", ["tiem bu", "da tiem"]),
    Rescheduled => ("rescheduled", "Hẹn buổi sau", ["hen", "hen buoi sau"]),
    VaccinatedElsewhere => ("vaccinated_elsewhere", "Đã tiêm nơi khác", ["tiem noi khac"]),
    MovedAway => ("moved_away", "Đã chuyển đi", ["chuyen di"]),
    Refused => ("refused", "Từ chối tiêm", ["tu choi"]),
    NotFound => ("not_found", "Không tìm được", ["khong tim duoc"]),
);

/// A child who was due on a closed session day and got no dose here that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Defaulter {
    pub session_id: String,
    pub person_id: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub hamlet: Option<String>,
    /// The doses due that day.
    pub missed: String,
    /// Can the child be located: `None` until traced.
    pub located: Option<bool>,
    pub reason: Option<MissReason>,
    pub outcome: Option<TraceOutcome>,
    pub traced_by: Option<String>,
    pub traced_at: Option<String>,
}

/// What tracing found; fields left out stay as they were.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub located: Option<bool>,
    pub reason: Option<MissReason>,
    pub outcome: Option<TraceOutcome>,
}

/// The due list's entries grouped by person, in the list's order.
/// A file name for a paper of `session`: `giay-moi-2026-12-14-ap-3.pdf`.
pub(super) fn paper_name(kind: &str, session: &SessionDay) -> String {
    format!(
        "{kind}-{}-{}.pdf",
        session.day,
        text::fold(session.hamlet.as_deref().unwrap_or("ca xa")).replace(' ', "-")
    )
}

pub(super) fn by_person(entries: Vec<DueEntry>) -> Vec<Vec<DueEntry>> {
    let mut out: Vec<Vec<DueEntry>> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some(last) if last[0].person_id == e.person_id => last.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

fn session_from(r: &sqlx::sqlite::SqliteRow) -> SessionDay {
    SessionDay {
        id: r.get("id"),
        day: r.get("day"),
        hamlet: r.get("hamlet"),
        place: r.get("place"),
        planned_by: r.get("planned_by"),
        closed_at: r.get("closed_at"),
        closed_by: r.get("closed_by"),
        defaulters: r.get("defaulters"),
    }
}

macro_rules! session_columns {
    () => {
        "SELECT s.id, s.day, s.hamlet, s.place, s.planned_by, s.closed_at, s.closed_by,
            (SELECT count(*) FROM session_defaulters d WHERE d.session_id = s.id) AS defaulters
        FROM session_days s"
    };
}

fn parse_day(day: &str) -> Result<Date> {
    sync_protocol::person::parse_day(day)
        .ok_or_else(|| StationError::invalid(Field::SessionDay, Problem::DateFormat))
}

impl Station {
    /// Plans a session day (today or later) for a hamlet or the whole commune.
    pub async fn plan_session(&self, plan: SessionPlan) -> Result<SessionDay> {
        let user = self.writer()?;
        let today = self.clock().now().date();
        if plan.day < today {
            return Err(StationError::invalid(Field::SessionDay, Problem::InPast));
        }
        let hamlet = plan
            .hamlet
            .as_deref()
            .map(text::clean)
            .filter(|h| !h.is_empty());
        let place = plan
            .place
            .as_deref()
            .map(text::clean)
            .filter(|p| !p.is_empty());
        validate::check_text(Field::Hamlet, hamlet.as_deref(), MAX_TEXT)?;
        validate::check_text(Field::Place, place.as_deref(), MAX_TEXT)?;
        let id = Uuid::now_v7().to_string();
        let day = plan.day.to_string();
        let inserted = sqlx::query(
            "INSERT INTO session_days (id, day, hamlet, place, planned_by, planned_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(&day)
        .bind(&hamlet)
        .bind(&place)
        .bind(&user)
        .bind(format_time(self.clock().now()))
        .execute(self.store().pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StationError::invalid(
                Field::SessionDay,
                Problem::SessionPlanned {
                    day: crate::pdf::vn_date(&day),
                },
            ));
        }
        self.session_day(&id).await
    }

    /// The session days from `from` to `to` (each inclusive, open when absent), by day.
    pub async fn session_days(
        &self,
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<SessionDay>> {
        self.reader()?;
        let rows = sqlx::query(concat!(
            session_columns!(),
            " WHERE (?1 IS NULL OR s.day >= ?1) AND (?2 IS NULL OR s.day <= ?2)
             ORDER BY s.day, s.hamlet"
        ))
        .bind(from.map(|d| d.to_string()))
        .bind(to.map(|d| d.to_string()))
        .fetch_all(self.store().pool())
        .await?;
        Ok(rows.iter().map(session_from).collect())
    }

    /// One session day.
    pub async fn session_day(&self, id: &str) -> Result<SessionDay> {
        self.reader()?;
        let row = sqlx::query(concat!(session_columns!(), " WHERE s.id = ?"))
            .bind(id.trim())
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "buổi tiêm",
                id: id.to_string(),
            })?;
        Ok(session_from(&row))
    }

    /// Whom a session day invites: the due list of its hamlet as it stood that morning (doses
    /// given on the day itself not yet counted).
    pub async fn session_invitees(&self, id: &str) -> Result<Vec<DueEntry>> {
        let session = self.session_day(id).await?;
        self.invitees_of(&session).await
    }

    /// [`Station::session_invitees`] of a session already read.
    pub(super) async fn invitees_of(&self, session: &SessionDay) -> Result<Vec<DueEntry>> {
        self.due_list(&DueQuery {
            on: Some(parse_day(&session.day)?),
            hamlet: session.hamlet.clone(),
            before_the_day: true,
        })
        .await
    }

    /// The invitation slips of a session day: a PDF with one slip per person invited, four to
    /// a page.
    pub async fn session_slips(&self, id: &str) -> Result<SessionPaper> {
        let session = self.session_day(id).await?;
        let people = by_person(self.invitees_of(&session).await?);
        let pdf = slips::slips_pdf(
            &self.facility().name,
            &session.day,
            session.place.as_deref(),
            &people,
        )?;
        Ok(SessionPaper {
            pdf,
            people: people.len(),
            file_name: paper_name("giay-moi", &session),
        })
    }

    /// The people invited to a session who were given a dose here on its day.
    async fn came(
        &self,
        session: &SessionDay,
        invited: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>> {
        let given: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT person_id FROM doses
             WHERE facility = ? AND voided = 0 AND substr(given_at, 1, 10) = ?",
        )
        .bind(self.facility().code)
        .bind(&session.day)
        .fetch_all(self.store().pool())
        .await?;
        Ok(given.into_iter().filter(|p| invited.contains(p)).collect())
    }

    /// The day's tally: per antigen, how many were due that morning and how many doses of it
    /// were given here that day to people of the session's hamlet.
    pub async fn session_tally(&self, id: &str) -> Result<SessionTally> {
        Ok(self.tally_with_invitees(id).await?.0)
    }

    /// The day's tally with what it was counted from: the invitees (the morning's due list)
    /// and those of them given a dose here that day.
    pub(super) async fn tally_with_invitees(
        &self,
        id: &str,
    ) -> Result<(SessionTally, Vec<DueEntry>, BTreeSet<String>)> {
        let session = self.session_day(id).await?;
        let invitees = self.invitees_of(&session).await?;
        let invited: BTreeSet<String> = invitees.iter().map(|e| e.person_id.clone()).collect();
        let came = self.came(&session, &invited).await?;
        let day = parse_day(&session.day)?;
        let mut rows: BTreeMap<String, TallyRow> = BTreeMap::new();
        for e in &invitees {
            rows.entry(e.series.clone())
                .or_insert_with(|| TallyRow {
                    series: e.series.clone(),
                    antigen: e.antigen.clone(),
                    due: 0,
                    given: 0,
                })
                .due += 1;
        }
        let given: Vec<(String,)> = sqlx::query_as(
            "SELECT d.vaccine FROM doses d JOIN persons p ON p.id = d.person_id
             WHERE d.facility = ?1 AND d.voided = 0 AND substr(d.given_at, 1, 10) = ?2
               AND (?3 IS NULL OR p.hamlet = ?3)",
        )
        .bind(self.facility().code)
        .bind(&session.day)
        .bind(&session.hamlet)
        .fetch_all(self.store().pool())
        .await?;
        let mut order: Vec<&str> = Vec::new();
        if let Some(rule_set) = self.schedule().rule_set_on(day) {
            for (vaccine,) in given {
                let Some(product) = rule_set.product(&vaccine) else {
                    continue; // not a routine product (COVID-19)
                };
                for series in &product.series {
                    let antigen = rule_set
                        .antigen(series)
                        .map_or_else(|| series.clone(), |a| a.name.clone());
                    rows.entry(series.clone())
                        .or_insert_with(|| TallyRow {
                            series: series.clone(),
                            antigen,
                            due: 0,
                            given: 0,
                        })
                        .given += 1;
                }
            }
            order = rule_set.antigens.iter().map(|a| a.id.as_str()).collect();
        }
        // In the schedule's order (as counted when no rule set is in force).
        let mut sorted: Vec<TallyRow> = rows.into_values().collect();
        sorted.sort_by_key(|r| order.iter().position(|s| *s == r.series));
        let tally = SessionTally {
            session,
            invited: i64::try_from(invited.len()).unwrap_or(i64::MAX),
            came: i64::try_from(came.len()).unwrap_or(i64::MAX),
            rows: sorted,
        };
        Ok((tally, invitees, came))
    }

    /// Closes a session day (on the day or after): everyone invited who got no dose here that
    /// day becomes a defaulter. Returns the defaulters.
    pub async fn close_session(&self, id: &str) -> Result<Vec<Defaulter>> {
        let user = self.writer()?;
        let session = self.session_day(id).await?;
        if session.closed_at.is_some() {
            return Err(StationError::invalid(
                Field::SessionDay,
                Problem::SessionClosed,
            ));
        }
        if parse_day(&session.day)? > self.clock().now().date() {
            return Err(StationError::invalid(
                Field::SessionDay,
                Problem::SessionNotOver,
            ));
        }
        let people = by_person(self.invitees_of(&session).await?);
        let invited: BTreeSet<String> = people.iter().map(|p| p[0].person_id.clone()).collect();
        let came = self.came(&session, &invited).await?;
        let mut tx = self.store().begin_write().await?;
        // The state is read again inside the write: two closings never both write.
        let closed = sqlx::query(
            "UPDATE session_days SET closed_by = ?, closed_at = ? WHERE id = ? AND closed_at IS NULL",
        )
        .bind(&user)
        .bind(format_time(self.clock().now()))
        .bind(&session.id)
        .execute(&mut *tx)
        .await?;
        if closed.rows_affected() == 0 {
            return Err(StationError::invalid(
                Field::SessionDay,
                Problem::SessionClosed,
            ));
        }
        for doses in people.iter().filter(|p| !came.contains(&p[0].person_id)) {
            let first = &doses[0];
            sqlx::query(
                "INSERT INTO session_defaulters (session_id, person_id, full_name, phone, hamlet, missed)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&session.id)
            .bind(&first.person_id)
            .bind(&first.full_name)
            .bind(&first.phone)
            .bind(&first.hamlet)
            .bind(doses_text(doses))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.defaulters(Some(&session.id)).await
    }

    /// The defaulters of one session, or of every closed session (newest first), with their
    /// tracing.
    pub async fn defaulters(&self, session_id: Option<&str>) -> Result<Vec<Defaulter>> {
        self.reader()?;
        let rows = sqlx::query(
            "SELECT d.* FROM session_defaulters d JOIN session_days s ON s.id = d.session_id
             WHERE (?1 IS NULL OR d.session_id = ?1)
             ORDER BY s.day DESC, d.hamlet, d.full_name, d.person_id",
        )
        .bind(session_id.map(str::trim))
        .fetch_all(self.store().pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Defaulter {
                session_id: r.get("session_id"),
                person_id: r.get("person_id"),
                full_name: r.get("full_name"),
                phone: r.get("phone"),
                hamlet: r.get("hamlet"),
                missed: r.get("missed"),
                located: r.get::<Option<i64>, _>("located").map(|v| v != 0),
                reason: r
                    .get::<Option<String>, _>("reason")
                    .and_then(|v| MissReason::parse(&v).ok()),
                outcome: r
                    .get::<Option<String>, _>("outcome")
                    .and_then(|v| TraceOutcome::parse(&v).ok()),
                traced_by: r.get("traced_by"),
                traced_at: r.get("traced_at"),
            })
            .collect())
    }

    /// Records what tracing a defaulter found (what is left out stays as it was).
    pub async fn trace_defaulter(
        &self,
        session_id: &str,
        person_id: &str,
        trace: &Trace,
    ) -> Result<Defaulter> {
        let user = self.writer()?;
        let updated = sqlx::query(
            "UPDATE session_defaulters SET located = coalesce(?, located),
                reason = coalesce(?, reason), outcome = coalesce(?, outcome),
                traced_by = ?, traced_at = ?
             WHERE session_id = ? AND person_id = ?",
        )
        .bind(trace.located.map(i64::from))
        .bind(trace.reason.map(MissReason::as_str))
        .bind(trace.outcome.map(TraceOutcome::as_str))
        .bind(&user)
        .bind(format_time(self.clock().now()))
        .bind(session_id.trim())
        .bind(person_id.trim())
        .execute(self.store().pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StationError::NotFound {
                what: "người bỏ lỡ buổi tiêm",
                id: format!("{session_id}/{person_id}"),
            });
        }
        self.defaulters(Some(session_id))
            .await?
            .into_iter()
            .find(|d| d.person_id == person_id.trim())
            .ok_or_else(|| StationError::NotFound {
                what: "người bỏ lỡ buổi tiêm",
                id: format!("{session_id}/{person_id}"),
            })
    }
}
