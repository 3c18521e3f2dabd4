//! The Sổ Tiêm central server: stores every accepted change with a sequence number, keeps the
//! compacted document and materialised columns of each person, validates every push, and serves
//! each device the people in its facility's scope (docs/design.md §5, §7).

pub mod accounts;
pub mod admin;
pub mod admin_audit;
pub mod audit_anchors;
pub mod certificates;
pub mod complaints;
pub mod console;
pub mod db;
pub mod feed;
pub mod http;
pub mod ingest;
pub mod net;
pub mod passports;
pub mod registry;
pub mod releases;
pub mod scope;
pub mod signing;
pub mod station_audit;
pub mod stations;

pub use db::Db;
pub use http::Server;
pub use http::{AppState, router};
pub use ingest::Ingest;
