//! `facility …`: the facilities added and listed.

use super::Cli;
use super::output::{audited, change, print};
use clap::Subcommand;
use sotiem_server::Db;
use sotiem_server::admin::{self, FacilityRecord};

/// `facility …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum FacilityCommand {
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "commune_station")]
        kind: String,
        #[arg(long)]
        province: Option<String>,
        #[arg(long)]
        commune: Option<String>,
        /// The facility a mobile team belongs to.
        #[arg(long)]
        parent: Option<String>,
    },
    List,
}

/// Runs one `facility` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &FacilityCommand) -> anyhow::Result<()> {
    match command {
        FacilityCommand::Add {
            code,
            name,
            kind,
            province,
            commune,
            parent,
        } => {
            let f = FacilityRecord {
                code: code.clone(),
                name: name.clone(),
                kind: kind.clone(),
                province: province.clone(),
                commune: commune.clone(),
                parent: parent.clone(),
            };
            audited(
                db,
                "facility_add",
                &format!("facility/{code}"),
                vec![change("name", None, Some(name))],
                admin::add_facility(db, &f),
            )
            .await?;
            print(cli.json, &f, || {
                format!("Đã thêm cơ sở {} — {}", f.code, f.name)
            });
        }
        FacilityCommand::List => {
            let list = admin::facilities(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|f| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            f.code,
                            f.kind,
                            f.name,
                            f.commune.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
