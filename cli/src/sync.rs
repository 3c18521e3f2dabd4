//! `sotiem sync` (with the central server, retried while the connection keeps failing) and
//! `sotiem sync status`.

use crate::login::{self, Connection};
use crate::render::Output;
use clap::{Args, Subcommand};
use station::Station;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    #[command(flatten)]
    connection: Connection,
    /// Attempts before giving up while the connection keeps failing.
    #[arg(long, default_value_t = 6)]
    attempts: u32,
    /// Seconds before the first retry (doubling after each failure).
    #[arg(long, default_value_t = 1.0)]
    retry_delay: f64,
}

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Last sync, pending changes, quarantined changes with their reasons.
    Status,
}

/// Runs `sotiem sync` or `sotiem sync status`.
pub async fn sync(station: &Station, args: &SyncArgs, out: &Output) -> anyhow::Result<()> {
    match args.command {
        Some(SyncCommand::Status) => out.sync_status(&station.sync_status().await?),
        None => sync_now(station, args, out).await?,
    }
    Ok(())
}

async fn sync_now(station: &Station, args: &SyncArgs, out: &Output) -> anyhow::Result<()> {
    let client = login::client(station, &args.connection).await?;
    let policy = station::RetryPolicy {
        attempts: args.attempts.max(1),
        first_delay: std::time::Duration::from_secs_f64(args.retry_delay.max(0.0)),
        max_delay: std::time::Duration::from_secs(60),
    };
    let report = station.sync_with_retry(&client, &policy).await?;
    out.sync_report(&report);
    Ok(())
}
