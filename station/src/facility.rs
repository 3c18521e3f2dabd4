//! Facilities: commune stations, hospitals, mobile teams and the levels above them.

use serde::{Deserialize, Serialize};
use sync_protocol::{Field, FieldError, Problem};

/// What kind of unit a facility is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FacilityKind {
    CommuneStation,
    Hospital,
    Private,
    MobileTeam,
    DistrictCentre,
    Cdc,
}

impl FacilityKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            FacilityKind::CommuneStation => "commune_station",
            FacilityKind::Hospital => "hospital",
            FacilityKind::Private => "private",
            FacilityKind::MobileTeam => "mobile_team",
            FacilityKind::DistrictCentre => "district_centre",
            FacilityKind::Cdc => "cdc",
        }
    }

    /// Reads the stored value.
    pub fn parse(text: &str) -> Result<FacilityKind, FieldError> {
        match text {
            "commune_station" => Ok(FacilityKind::CommuneStation),
            "hospital" => Ok(FacilityKind::Hospital),
            "private" => Ok(FacilityKind::Private),
            "mobile_team" => Ok(FacilityKind::MobileTeam),
            "district_centre" => Ok(FacilityKind::DistrictCentre),
            "cdc" => Ok(FacilityKind::Cdc),
            _ => Err(FieldError::new(
                Field::Facility,
                Problem::Choice {
                    allowed: "commune_station, hospital, private, mobile_team, district_centre, cdc",
                },
            )),
        }
    }
}

/// A facility as the station knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Facility {
    pub code: String,
    pub name: String,
    pub kind: FacilityKind,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub parent: Option<String>,
}
