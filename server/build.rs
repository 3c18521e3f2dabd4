//! Rebuilds the server when a migration is added: `sqlx::migrate!` embeds the directories, and
//! cargo does not watch them on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
