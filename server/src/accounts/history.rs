//! The login history: every attempt the server checks, and the sign-ins stations report
//! from their audit logs.

use super::AuthError;
use super::records::account;
use crate::db::Db;
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use sync_protocol::person::{format_time, now};

/// An account's sign-ins, newest first: those the server checked, and those stations checked
/// offline as their audit logs reported them (a station records its offline sign-ins and
/// failures; its online ones are the server's own events).
pub async fn sign_in_history(
    db: &Db,
    username: &str,
    limit: i64,
) -> Result<Vec<sync_protocol::auth::SignInEvent>, AuthError> {
    use sync_protocol::auth::SignInEvent;
    let mut out: Vec<SignInEvent> = login_events(db, Some(username), limit)
        .await?
        .into_iter()
        .filter(|e| e.outcome != "otp_secret_sent")
        .map(|e| SignInEvent {
            username: e.username,
            at: e.at,
            device_id: e.device_id,
            online: true,
            outcome: e.outcome,
            detail: e.detail,
        })
        .collect();
    // Only what devices of the account's own facility (or its mobile teams) report: a station
    // writes its audit log as it likes, and another facility's laptop could otherwise plant
    // sign-ins, or failures, in anyone's history.
    let serving: Vec<String> = match account(db, username).await? {
        Some(acct) => crate::scope::Facilities::new(crate::admin::facilities(db).await?)
            .family(&acct.info.facility),
        None => Vec::new(),
    };
    if serving.is_empty() {
        out.truncate(usize::try_from(limit).unwrap_or(0));
        return Ok(out);
    }
    let offline = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT a.at, a.device_id, a.action, a.changes FROM audit_entries a
             JOIN devices d ON d.id = a.device_id
             WHERE a.action IN ('login_success', 'login_failure', 'login_sign_out') AND a.user_name = ",
        );
        q.push_bind(username);
        q.push(" AND d.facility IN (");
        crate::db::in_list!(q, serving);
        q.push(" ORDER BY a.at DESC LIMIT ");
        q.push_bind(limit);
        q.build()
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("at"),
                r.get::<String, _>("device_id"),
                r.get::<String, _>("action"),
                r.get::<String, _>("changes"),
            )
        })
        .collect::<Vec<_>>()
    });
    for (at, device_id, action, changes) in offline {
        let changes: Vec<sync_protocol::audit::FieldChange> =
            serde_json::from_str(&changes).unwrap_or_default();
        let detail = changes
            .into_iter()
            .find(|c| c.field == "detail")
            .and_then(|c| c.after);
        // The station's note of an online sign-in repeats the server's own event.
        if detail.as_deref() == Some("online") {
            continue;
        }
        out.push(SignInEvent {
            username: username.to_string(),
            at,
            device_id: Some(device_id),
            online: false,
            outcome: action.trim_start_matches("login_").to_string(),
            detail: detail.filter(|d| d != "offline"),
        });
    }
    out.sort_by(|a, b| b.at.cmp(&a.at));
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

/// Records a login attempt.
pub(super) async fn record(
    db: &Db,
    username: &str,
    device: Option<&str>,
    address: Option<&str>,
    outcome: &str,
    detail: Option<&str>,
) {
    let at = format_time(now());
    let _ = with_db!(db, pool => {
        sqlx::query("INSERT INTO login_events (username, at, device_id, address, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(username)
            .bind(&at)
            .bind(device)
            .bind(address)
            .bind(outcome)
            .bind(detail)
            .execute(pool)
            .await
            .map(|_| ())
    });
}

/// One row of the login history.
#[derive(Debug, Clone, Serialize)]
pub struct LoginEvent {
    pub username: String,
    pub at: String,
    pub device_id: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// The login history, newest first (of one account when given).
pub async fn login_events(
    db: &Db,
    username: Option<&str>,
    limit: i64,
) -> Result<Vec<LoginEvent>, AuthError> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT username, at, device_id, address, outcome, detail FROM login_events
             WHERE $1 = '' OR username = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(username.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| LoginEvent {
            username: r.get("username"),
            at: r.get("at"),
            device_id: r.get("device_id"),
            address: r.get("address"),
            outcome: r.get("outcome"),
            detail: r.get("detail"),
        })
        .collect()
    }))
}
