//! Who may sign which facility's doses: the facility itself and its mobile teams, and the area a
//! province designates a signing unit for (`sotiem-server signer-scope add|remove`).

use crate::accounts;
use crate::db::Db;
use crate::scope::Facilities;
use crate::with_db;
use sqlx::Row;
use std::collections::BTreeSet;
use sync_protocol::PersonDoc;
use sync_protocol::auth::Role;

/// The facilities whose doses `signer` of `facility` may sign: the facility, its mobile teams,
/// and the facilities of the area the province designated the signer's unit for.
pub async fn signable_facilities(
    db: &Db,
    facilities: &Facilities,
    signer: &str,
    facility: &str,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let mut out: BTreeSet<String> = facilities.family(facility).into_iter().collect();
    for area in signer_scope(db, signer).await? {
        out.extend(facilities.family(&area));
    }
    Ok(out)
}

/// The facilities of the area a signer may sign for besides their own.
pub async fn signer_scope(db: &Db, signer: &str) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query_scalar("SELECT facility FROM signer_scopes WHERE username = $1 ORDER BY facility")
            .bind(signer)
            .fetch_all(pool)
            .await
    })
}

/// Lets `signer` sign the doses of `facilities` (a district centre for its communes).
pub async fn add_signer_scope(
    db: &Db,
    signer: &str,
    facilities: &[String],
) -> Result<(), accounts::AuthError> {
    let account = accounts::account(db, signer)
        .await?
        .ok_or_else(|| accounts::AuthError::NoSuchAccount(signer.to_string()))?;
    if account.info.role != Role::Signer {
        return Err(accounts::AuthError::Forbidden {
            role: account.info.role.label(),
        });
    }
    for f in facilities {
        if crate::admin::facility(db, f)
            .await
            .map_err(|e| match e {
                crate::admin::AdminError::Db(e) => accounts::AuthError::Db(e),
                other => accounts::AuthError::NoSuchFacility(other.to_string()),
            })?
            .is_none()
        {
            return Err(accounts::AuthError::NoSuchFacility(f.clone()));
        }
        with_db!(db, pool => {
            sqlx::query("INSERT INTO signer_scopes (username, facility) VALUES ($1, $2) ON CONFLICT (username, facility) DO NOTHING")
                .bind(signer)
                .bind(f)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    // The unit now replicates the people already in those facilities' scope; its devices see
    // the wider area in the server's info and fetch them afresh.
    let all = Facilities::load(db).await?;
    let unit = all.owner(&account.info.facility);
    for f in facilities {
        let facility = all.owner(f);
        with_db!(db, pool => {
            sqlx::query(
                "INSERT INTO person_scope (facility, person_id, since_seq)
                 SELECT $1, person_id, since_seq FROM person_scope WHERE facility = $2
                 ON CONFLICT (facility, person_id) DO NOTHING",
            )
            .bind(&unit)
            .bind(&facility)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
    }
    Ok(())
}

/// Stops `signer` signing for `facilities`. The signer's unit stops replicating the people it
/// held only through them: the server sends their changes to it no more.
pub async fn remove_signer_scope(
    db: &Db,
    signer: &str,
    facilities: &[String],
) -> Result<(), sqlx::Error> {
    for f in facilities {
        with_db!(db, pool => {
            sqlx::query("DELETE FROM signer_scopes WHERE username = $1 AND facility = $2")
                .bind(signer)
                .bind(f)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    let unit: Option<String> = with_db!(db, pool => {
        sqlx::query_scalar("SELECT facility FROM accounts WHERE username = $1")
            .bind(signer)
            .fetch_optional(pool)
            .await?
    });
    if let Some(unit) = unit {
        narrow_to_area(db, &unit).await?;
    }
    Ok(())
}

/// Drops the people `unit` holds in scope that neither the scope rules nor its area (as now
/// stored) give it. A document that cannot be read is kept: better held than lost to a bug.
pub(super) async fn narrow_to_area(db: &Db, unit: &str) -> Result<(), sqlx::Error> {
    let all = Facilities::load(db).await?;
    let unit = all.owner(unit);
    let held: Vec<(String, Vec<u8>)> = with_db!(db, pool => {
        sqlx::query(
            "SELECT s.person_id, d.doc FROM person_scope s JOIN documents d ON d.person_id = s.person_id
             WHERE s.facility = $1",
        )
        .bind(&unit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("person_id"), r.get("doc")))
        .collect()
    });
    let outside: Vec<String> = held
        .into_iter()
        .filter(|(_, doc)| {
            PersonDoc::load(doc)
                .and_then(|d| d.read())
                .is_ok_and(|p| !all.scope_of(&p).contains(&unit))
        })
        .map(|(id, _)| id)
        .collect();
    for id in outside {
        with_db!(db, pool => {
            sqlx::query("DELETE FROM person_scope WHERE facility = $1 AND person_id = $2")
                .bind(&unit)
                .bind(&id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    Ok(())
}
