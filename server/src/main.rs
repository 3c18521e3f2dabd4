//! `sotiem-server`: the central server and its administration commands.
//!
//! This file parses the command line, opens the storage and hands the command to `cli`, where
//! the clap tree of every command lives with its help text, each noun in its own file handing its
//! commands to the library (`admin`, `accounts`, `admin_audit`, `registry`, `Server`) in a few
//! lines; no rule lives there.

use clap::Parser;
use sotiem_server::Db;

mod cli;

// Validation allocates heavily across threads; mimalloc keeps ingest fast (see BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = cli::Cli::parse();
    let db = Db::open(&cli.db).await?;
    let result = cli::run(&cli, &db).await;
    db.close().await;
    result
}
