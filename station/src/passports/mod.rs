//! Vaccine passports at the station: the certificates the server issued to the station's people
//! and the signed trust list, pulled at each sync and kept encrypted with the replica; a person's
//! passport status; the printed passport (`print.rs`); and checking a scanned passport offline
//! against the cached trust list.

mod print;

pub use print::Paper;

use crate::error::{Result, StationError};
use crate::service::Station;
use crate::store::{MetaKey, write_meta};
use crate::sync::{SyncClient, SyncResult};
use serde::{Deserialize, Serialize};
use sotiem_passport::{Verdict, Verifier};
use sqlx::Row;
use sync_protocol::endpoints;
use sync_protocol::person::format_time;
use sync_protocol::wire::{PassportCursor, PassportPage, PassportRecord};
use uuid::Uuid;

/// Whether a passport can be shown as proof today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PassportState {
    Valid,
    Expired,
    Revoked,
}

/// A passport as the station holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PassportView {
    pub uvci: String,
    pub dose_id: String,
    pub issued_at: String,
    pub expires_at: String,
    pub state: PassportState,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    /// The text the QR code holds (`HC1:…`).
    pub hc1: String,
}

/// A person's passports: the one to print, if any, and the earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PassportStatus {
    pub current: Option<PassportView>,
    pub history: Vec<PassportView>,
    /// What the screen says, in Vietnamese.
    pub summary: String,
}

/// What a scanned passport says and the verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PassportCheck {
    /// `valid`, `expired`, `revoked`, or the refusal's code (`bad_signature`, `unknown_signer`…).
    pub verdict: String,
    pub message: String,
    /// Whether it may be accepted as proof of vaccination.
    pub accepted: bool,
    pub holder: Option<String>,
    /// As transliterated (ICAO 9303).
    pub holder_icao: Option<String>,
    pub birth_date: Option<String>,
    pub vaccine: Option<String>,
    /// "2/2".
    pub dose: Option<String>,
    pub vaccinated_on: Option<String>,
    pub uvci: Option<String>,
    pub issued_at: Option<String>,
    pub expires_at: Option<String>,
    pub signer: Option<String>,
    /// When the trust list used was issued.
    pub trust_list_issued_at: String,
}

fn time_of(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(format_time)
        .unwrap_or_default()
}

impl Station {
    /// Fetches the newest trust list (kept only if it verifies under the pinned root and is not
    /// older) and the passports of the facility's people changed since the last sync.
    pub(crate) async fn pull_passports(&self, client: &SyncClient) -> SyncResult<u64> {
        match client.get_bytes(endpoints::PASSPORT_TRUST_LIST).await {
            Ok(signed) => self.keep_trust_list(&signed).await?,
            // The server has issued nothing yet: nothing to keep.
            Err(e) if e.code() == "no_trust_list" => {}
            Err(e) => return Err(e),
        }
        let mut cursor = PassportCursor {
            since: self
                .meta_value(MetaKey::PassportCursorSince)
                .await?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            after: self
                .meta_value(MetaKey::PassportCursorAfter)
                .await?
                .unwrap_or_default(),
        };
        let mut pulled = 0;
        loop {
            self.sync_control.check()?;
            let page: PassportPage = client
                .get_json(
                    endpoints::PASSPORTS_CHANGED,
                    &[
                        ("since", cursor.since.to_string()),
                        ("after", cursor.after.clone()),
                    ],
                )
                .await?;
            pulled += page.passports.len() as u64;
            self.store_passports(&page.passports, &page.next).await?;
            cursor = page.next;
            if !page.more {
                return Ok(pulled);
            }
        }
    }

    /// Keeps `signed` as the trust list if it verifies (under the pinned root once one is) and
    /// is not older than the one kept; otherwise keeps the old one and says why in the log.
    async fn keep_trust_list(&self, signed: &[u8]) -> Result<()> {
        let kept = sqlx::query("SELECT issued_at, root FROM passport_trust WHERE id = 1")
            .fetch_optional(self.store().pool())
            .await?
            .map(|r| (r.get::<i64, _>("issued_at"), r.get::<Vec<u8>, _>("root")));
        let verifier = match Verifier::open(signed, kept.as_ref().map(|(_, root)| root.as_slice()))
        {
            Ok(v) if kept.as_ref().is_some_and(|(at, _)| v.issued_at <= *at) => return Ok(()),
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("passport trust list refused ({}): {e}", e.code());
                return Ok(());
            }
        };
        sqlx::query(
            "INSERT INTO passport_trust (id, signed, issued_at, root, fetched_at) VALUES (1, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET signed = excluded.signed, issued_at = excluded.issued_at,
               root = excluded.root, fetched_at = excluded.fetched_at",
        )
        .bind(signed)
        .bind(verifier.issued_at)
        .bind(&verifier.root)
        .bind(format_time(self.clock().now()))
        .execute(self.store().pool())
        .await?;
        Ok(())
    }

    /// Stores a page of passports and the cursor after it, together.
    async fn store_passports(&self, page: &[PassportRecord], next: &PassportCursor) -> Result<()> {
        let mut tx = self.store().begin_write().await?;
        for p in page {
            sqlx::query(
                "INSERT INTO passports (uvci, person_id, dose_id, kid, issued_at, expires_at, hc1,
                   revoked_at, revoked_reason, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (uvci) DO UPDATE SET revoked_at = excluded.revoked_at,
                   revoked_reason = excluded.revoked_reason, version = excluded.version",
            )
            .bind(&p.uvci)
            .bind(&p.person_id)
            .bind(&p.dose_id)
            .bind(&p.kid)
            .bind(&p.issued_at)
            .bind(&p.expires_at)
            .bind(&p.hc1)
            .bind(&p.revoked_at)
            .bind(&p.revoked_reason)
            .bind(p.version)
            .execute(&mut *tx)
            .await?;
        }
        write_meta(
            &mut tx,
            &[
                (MetaKey::PassportCursorSince, Some(next.since.to_string())),
                (MetaKey::PassportCursorAfter, Some(next.after.clone())),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The verifier of the kept trust list, if one is kept.
    async fn verifier(&self) -> Result<Option<Verifier>> {
        let row = sqlx::query("SELECT signed, root FROM passport_trust WHERE id = 1")
            .fetch_optional(self.store().pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (signed, root): (Vec<u8>, Vec<u8>) = (row.get("signed"), row.get("root"));
        // It verified when kept; it is checked again (the file could have been tampered with).
        Ok(Verifier::open(&signed, Some(&root)).ok())
    }

    /// A person's passports, the valid one first.
    pub async fn passport_status(&self, person_id: Uuid) -> Result<PassportStatus> {
        self.reader()?;
        let now = format_time(self.clock().now());
        let rows = sqlx::query(
            "SELECT uvci, dose_id, issued_at, expires_at, hc1, revoked_at, revoked_reason
             FROM passports WHERE person_id = ? ORDER BY issued_at DESC, version DESC",
        )
        .bind(person_id.to_string())
        .fetch_all(self.store().pool())
        .await?;
        let mut current = None;
        let mut history = Vec::new();
        for r in rows {
            let expires_at: String = r.get("expires_at");
            let revoked_at: Option<String> = r.get("revoked_at");
            let state = if revoked_at.is_some() {
                PassportState::Revoked
            } else if expires_at <= now {
                PassportState::Expired
            } else {
                PassportState::Valid
            };
            let view = PassportView {
                uvci: r.get("uvci"),
                dose_id: r.get("dose_id"),
                issued_at: r.get("issued_at"),
                expires_at,
                state,
                revoked_at,
                revoked_reason: r.get("revoked_reason"),
                hc1: r.get("hc1"),
            };
            if state == PassportState::Valid && current.is_none() {
                current = Some(view);
            } else {
                history.push(view);
            }
        }
        let summary = match &current {
            Some(p) => format!(
                "Đã có hộ chiếu vắc xin, hiệu lực đến {}",
                p.expires_at.get(..10).unwrap_or(&p.expires_at)
            ),
            None if history.iter().any(|p| p.state == PassportState::Expired) => {
                "Hộ chiếu vắc xin đã hết hạn".into()
            }
            None => "Chưa có hộ chiếu vắc xin: máy chủ cấp vào cuối ngày cho người đã xác thực \
                     CSDLQG có mọi mũi tiêm đã ký"
                .into(),
        };
        Ok(PassportStatus {
            current,
            history,
            summary,
        })
    }

    /// Checks a scanned or pasted passport against the kept trust list, offline. Recorded in
    /// the audit log (what was checked, not who it names).
    pub async fn check_passport(&self, text: &str) -> Result<PassportCheck> {
        let session = self.reader()?;
        let verifier = self.verifier().await?.ok_or(StationError::NoTrustList)?;
        let checked = verifier.check(text, self.clock().now().unix_timestamp());
        let entry = checked
            .certificate
            .as_ref()
            .and_then(|c| c.vaccination_entry());
        let catalogue = self.catalogue();
        let result = PassportCheck {
            verdict: checked.verdict.code().into(),
            message: checked.verdict.message(),
            accepted: checked.verdict == Verdict::Valid,
            holder: checked.certificate.as_ref().map(|c| c.nam.display()),
            holder_icao: checked.certificate.as_ref().map(|c| {
                [
                    Some(c.nam.family_icao.as_str()),
                    c.nam.given_icao.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
                .replace('<', " ")
            }),
            birth_date: checked.certificate.as_ref().map(|c| c.dob.clone()),
            vaccine: entry.map(|v| {
                catalogue
                    .find(&v.mp)
                    .map_or_else(|| v.mp.clone(), |x| x.name.clone())
            }),
            dose: entry.map(|v| format!("{}/{}", v.dn, v.sd)),
            vaccinated_on: entry.map(|v| v.dt.clone()),
            uvci: entry.map(|v| v.ci.clone()),
            issued_at: checked.claims.as_ref().map(|c| time_of(c.issued_at)),
            expires_at: checked.claims.as_ref().map(|c| time_of(c.expires_at)),
            signer: checked.signer.clone(),
            trust_list_issued_at: time_of(verifier.issued_at),
        };
        self.audit_passport_check(&session, &result).await?;
        Ok(result)
    }

    /// The printable passport of a person's valid certificate (PDF bytes) and a file name.
    pub async fn passport_pdf(&self, person_id: Uuid, paper: Paper) -> Result<(Vec<u8>, String)> {
        let status = self.passport_status(person_id).await?;
        let passport = status.current.ok_or(StationError::NoPassport)?;
        let record = self.show(person_id).await?;
        let certificate = sotiem_passport::decode(&passport.hc1)
            .map_err(|e| StationError::Pdf(e.to_string()))?
            .certificate;
        let pdf = print::passport_pdf(
            &certificate,
            &record.person,
            &passport,
            paper,
            self.catalogue(),
        )?;
        let name = format!(
            "ho-chieu-vac-xin-{}.pdf",
            sync_protocol::text::fold(&record.person.full_name).replace(' ', "-")
        );
        self.audit_passport_print(person_id, &passport.uvci).await?;
        Ok((pdf, name))
    }
}

impl Station {
    async fn audit_passport_check(
        &self,
        session: &crate::session::Session,
        c: &PassportCheck,
    ) -> Result<()> {
        let change = sync_protocol::audit::FieldChange {
            field: "verdict".into(),
            before: None,
            after: Some(c.verdict.clone()),
        };
        let entity = format!("passport/{}", c.uvci.as_deref().unwrap_or("unreadable"));
        self.audit_action(session.username(), "passport_check", entity, vec![change])
            .await
    }

    async fn audit_passport_print(&self, person_id: Uuid, uvci: &str) -> Result<()> {
        let session = self.reader()?;
        let change = sync_protocol::audit::FieldChange {
            field: "uvci".into(),
            before: None,
            after: Some(uvci.to_string()),
        };
        self.audit_action(
            session.username(),
            "passport_print",
            format!("person/{person_id}"),
            vec![change],
        )
        .await
    }
}
