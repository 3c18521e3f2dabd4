//! What the commands share: a result printed as text or JSON, an entry in the administrators' log.

use sotiem_server::Db;
use sotiem_server::admin_audit::{Actor, Refused};
use sync_protocol::audit::FieldChange;

/// A field's change, for an audit entry.
pub(crate) fn change(field: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
    sotiem_server::admin_audit::change(field, before, after)
}

/// Runs one administrative command with its entries in the administrators' log.
pub(crate) async fn audited<T, E>(
    db: &Db,
    action: &str,
    entity: &str,
    changes: Vec<FieldChange>,
    run: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let who = Actor::command_line();
    let why = |e: &E| e.to_string();
    sotiem_server::admin_audit::audited(db, &who, action, entity, changes, why, run)
        .await
        .map_err(|r| match r {
            Refused::Log(e) => anyhow::Error::from(e),
            Refused::Action(e) => anyhow::Error::from(e),
        })
}

/// Prints `value` as pretty JSON with `--json`, else the text `text` makes.
pub(crate) fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}
