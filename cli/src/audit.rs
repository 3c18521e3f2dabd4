//! `sotiem audit verify` (the audit log's hash chain, against the server's copy when it
//! answers) and `sotiem check` (the local data whole and consistent).

use crate::login;
use crate::render::Output;
use clap::Subcommand;
use station::Station;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Re-computes the hash chain of the audit log and reports the first break.
    Verify,
}

/// Runs a `sotiem audit` command.
pub async fn audit(station: &Station, cmd: &AuditCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify => {
            // Against the server's copy when it answers; else this laptop's alone, said so.
            let check = match login::remembered_client(station).await {
                Some(client) => match station.verify_audit_with_server(&client).await {
                    Ok(check) => check,
                    Err(e) if e.is_retryable() => {
                        out.message(&format!(
                            "Không hỏi được máy chủ ({e}): chỉ kiểm tra được bản trên máy này."
                        ));
                        station.verify_audit().await?
                    }
                    Err(e) => return Err(e.into()),
                },
                None => station.verify_audit().await?,
            };
            out.audit(&check);
            if let Some(b) = &check.problem {
                anyhow::bail!(
                    "nhật ký kiểm tra bị sửa hoặc xoá tại mục {} ({})",
                    b.seq,
                    b.reason
                );
            }
        }
    }
    Ok(())
}

/// `sotiem check`.
pub async fn check(station: &Station, out: &Output) -> anyhow::Result<()> {
    let problems = station.check_integrity().await?;
    out.check(&problems);
    if !problems.is_empty() {
        anyhow::bail!("dữ liệu của trạm có {} lỗi", problems.len());
    }
    Ok(())
}
