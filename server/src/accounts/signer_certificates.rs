//! The organisation certificates registered on a signer's account.

use super::AuthError;
use super::records::account;
use crate::db::Db;
use crate::with_db;
use sync_protocol::auth::{AccountInfo, RegisteredCertificate};

/// Registers a certificate (issuer and serial) on a signer's account, once; returns the account.
pub async fn add_certificate(
    db: &Db,
    username: &str,
    cert: RegisteredCertificate,
) -> Result<AccountInfo, AuthError> {
    let acct = account(db, username)
        .await?
        .ok_or_else(|| AuthError::NoSuchAccount(username.to_string()))?;
    let mut certificates: Vec<RegisteredCertificate> = acct
        .info
        .certificates
        .iter()
        .filter(|c| !c.issuer_key.is_empty())
        .cloned()
        .collect();
    if !certificates
        .iter()
        .any(|c| c.is(&cert.serial, &cert.issuer_key))
    {
        certificates.push(cert);
    }
    set_certificates(db, username, &certificates).await?;
    let mut info = acct.info;
    info.certificates = certificates;
    Ok(info)
}

/// Sets the organisation certificates a signer may sign with (replaces the registered ones).
pub async fn set_certificates(
    db: &Db,
    username: &str,
    certificates: &[RegisteredCertificate],
) -> Result<(), AuthError> {
    let json = serde_json::to_string(certificates).unwrap_or_else(|_| "[]".into());
    let done = with_db!(db, pool => {
        sqlx::query("UPDATE accounts SET certificates = $1, certificate_serials = '' WHERE username = $2")
            .bind(&json)
            .bind(username)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    if done == 0 {
        return Err(AuthError::NoSuchAccount(username.to_string()));
    }
    Ok(())
}
