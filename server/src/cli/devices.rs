//! `device …` (the devices allowed to sync) and `stations` (which stations have gone quiet).

use super::Cli;
use super::output::{audited, change, print};
use clap::Subcommand;
use sotiem_server::Db;
use sotiem_server::admin;

/// `device …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    Add {
        #[arg(long)]
        facility: String,
        #[arg(long)]
        name: String,
    },
    List,
    Revoke {
        id: String,
    },
    /// Registers a new laptop as the replacement of a lost or broken one (rebuilt from its
    /// backup with `sotiem restore`): it may push what the old one left unsynced; the old
    /// device's token stops working.
    Replace {
        /// The old device's id (`device list`).
        id: String,
        #[arg(long)]
        name: String,
    },
}

/// Runs one `device` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Add { facility, name } => {
            let d = audited(
                db,
                "device_add",
                &format!("facility/{facility}"),
                vec![change("device_name", None, Some(name))],
                admin::add_device(db, facility, name),
            )
            .await?;
            print(cli.json, &d, || {
                format!(
                    "Thiết bị {} của {}\nMã thiết bị (chỉ hiện một lần, nhập vào trạm bằng `sotiem sync --token`):\n{}",
                    d.device.id, d.device.facility, d.token
                )
            });
        }
        DeviceCommand::Replace { id, name } => {
            let d = audited(
                db,
                "device_replace",
                &format!("device/{id}"),
                vec![change("device_name", None, Some(name))],
                admin::replace_device(db, id, name),
            )
            .await?;
            print(cli.json, &d, || {
                format!(
                    "Thiết bị {} của {} thay cho thiết bị {id} (đã thu hồi)\nMã thiết bị mới (chỉ hiện một lần, nhập vào `sotiem restore --token` trên máy mới):\n{}",
                    d.device.id, d.device.facility, d.token
                )
            });
        }
        DeviceCommand::List => {
            let list = admin::devices(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d.id,
                            d.facility,
                            d.name,
                            if d.revoked_at.is_some() {
                                "đã thu hồi"
                            } else {
                                "đang dùng"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DeviceCommand::Revoke { id } => {
            audited(
                db,
                "device_revoke",
                &format!("device/{id}"),
                Vec::new(),
                admin::revoke_device(db, id),
            )
            .await?;
            print(cli.json, &serde_json::json!({"revoked": id}), || {
                format!("Đã thu hồi thiết bị {id}")
            });
        }
    }
    Ok(())
}

/// `stations`: every facility (of a province) with its devices and when each last reached the
/// server, those silent longer than `silent_days` first.
pub(crate) async fn stations(
    cli: &Cli,
    db: &Db,
    silent_days: &i64,
    province: &Option<String>,
) -> anyhow::Result<()> {
    let list = sotiem_server::stations::contacts(
        db,
        time::OffsetDateTime::now_utc(),
        *silent_days,
        province.as_deref(),
    )
    .await?;
    print(cli.json, &list, || {
        let silent = list.iter().filter(|c| c.silent).count();
        let mut lines = vec![format!(
            "{silent} trong {} thiết bị/cơ sở im lặng quá {silent_days} ngày (hoặc chưa từng đồng bộ)",
            list.len()
        )];
        lines.extend(list.iter().map(|c| {
            format!(
                "{}\t{} — {}\t{}\t{}\t{}",
                if c.silent { "IM LẶNG" } else { "ổn" },
                c.facility,
                c.facility_name,
                c.device_name.as_deref().unwrap_or("(chưa có thiết bị)"),
                match (&c.last_seen_at, c.silent_days) {
                    (Some(at), Some(d)) => format!("lần cuối {at} ({d} ngày)"),
                    _ => "chưa từng đồng bộ".into(),
                },
                match c.waiting_changes {
                    Some(n) => format!("{n} thay đổi chờ gửi"),
                    None => "chưa báo số chờ gửi".into(),
                }
            )
        }));
        lines.join("\n")
    });
    Ok(())
}
