//! `sotiem init` (a new station's encrypted data, made here) and `sotiem join` (a new station
//! set up from the central server with the administrator's device token).

use crate::login::{self, Connection};
use crate::render::Output;
use clap::Args;
use station::{FacilityKind, NewStation, Station, StationError};
use std::path::Path;

// The options of `sotiem init` (its help is the doc of `Command::Init`).
#[derive(Args)]
pub struct InitArgs {
    /// Facility code, e.g. TYT-TANNHUT.
    #[arg(long)]
    facility: String,
    /// Facility name, e.g. "Trạm Y tế xã Tân Nhựt".
    #[arg(long)]
    name: String,
    /// commune_station, hospital, private, mobile_team, district_centre, cdc.
    #[arg(long, default_value = "commune_station")]
    kind: String,
    #[arg(long)]
    province: Option<String>,
    #[arg(long)]
    commune: Option<String>,
}

/// `sotiem init`: creates the station's data in `data`.
pub async fn init(data: &Path, args: &InitArgs, out: &Output) -> anyhow::Result<()> {
    let InitArgs {
        facility,
        name,
        kind,
        province,
        commune,
    } = args;
    let kind = FacilityKind::parse(kind).map_err(StationError::from)?;
    let station = Station::init(
        data,
        NewStation {
            facility_code: facility.clone(),
            facility_name: name.clone(),
            kind,
            province: province.clone(),
            commune: commune.clone(),
        },
    )
    .await?;
    out.facility(&station.facility(), station.descriptor());
    station.close().await;
    Ok(())
}

/// `sotiem join`: sets up the station in `data` from the server.
pub async fn join(data: &Path, c: &Connection, out: &Output) -> anyhow::Result<()> {
    let (Some(server), Some(token)) = (&c.server, &c.token) else {
        anyhow::bail!("cần --server (địa chỉ máy chủ) và --token (mã thiết bị) để thiết lập trạm");
    };
    let ca = login::read_ca(c)?;
    let station = Station::join(data, server, token, ca.as_deref()).await?;
    out.facility(&station.facility(), station.descriptor());
    station.close().await;
    Ok(())
}
