//! Which facilities may replicate a person (docs/design.md §5): the facility that manages them, the
//! facilities that vaccinated them, and the facilities of the commune they live in. A mobile
//! team works within its parent facility's scope. A unit the province designates to sign for an
//! area (a district centre) also replicates the people of the facilities in its area.

use crate::admin::FacilityRecord;
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use sync_protocol::Person;
use sync_protocol::text::admin_unit_key;

/// The facilities, indexed for scope decisions.
#[derive(Debug, Clone, Default)]
pub struct Facilities {
    by_code: HashMap<String, FacilityRecord>,
    by_commune: HashMap<(String, String), Vec<String>>,
    /// For a facility, the units whose signers may sign its doses (so replicate its people).
    area_units: HashMap<String, BTreeSet<String>>,
}

impl Facilities {
    /// Indexes a list of facilities.
    pub fn new(list: Vec<FacilityRecord>) -> Facilities {
        let mut by_commune: HashMap<(String, String), Vec<String>> = HashMap::new();
        for f in &list {
            if f.kind == "mobile_team" {
                continue;
            }
            if let (Some(p), Some(c)) = (&f.province, &f.commune) {
                by_commune
                    .entry((admin_unit_key(p), admin_unit_key(c)))
                    .or_default()
                    .push(f.code.clone());
            }
        }
        Facilities {
            by_code: list.into_iter().map(|f| (f.code.clone(), f)).collect(),
            by_commune,
            area_units: HashMap::new(),
        }
    }

    /// The facilities with the signing areas the province designated: `(facility, unit)` pairs,
    /// a unit's signer covering the facility.
    pub fn with_areas(mut self, areas: impl IntoIterator<Item = (String, String)>) -> Facilities {
        for (facility, unit) in areas {
            let facility = self.owner(&facility);
            let unit = self.owner(&unit);
            if facility != unit {
                self.area_units.entry(facility).or_default().insert(unit);
            }
        }
        self
    }

    /// Every facility and the signing areas, as stored.
    pub async fn load(db: &Db) -> Result<Facilities, sqlx::Error> {
        let list = crate::admin::facilities(db).await?;
        let areas = signing_areas(db).await?;
        Ok(Facilities::new(list).with_areas(areas))
    }

    /// The facilities in the area `unit` signs for, each with its mobile teams.
    pub fn area_of(&self, unit: &str) -> Vec<String> {
        let unit = self.owner(unit);
        let mut out: BTreeSet<String> = BTreeSet::new();
        for (facility, units) in &self.area_units {
            if units.contains(&unit) {
                out.extend(self.family(facility));
            }
        }
        out.into_iter().collect()
    }

    /// Adds to `scope` the units whose area covers a facility in it.
    pub fn with_area_units(&self, mut scope: BTreeSet<String>) -> BTreeSet<String> {
        let units: Vec<String> = scope
            .iter()
            .filter_map(|f| self.area_units.get(f))
            .flatten()
            .cloned()
            .collect();
        scope.extend(units);
        scope
    }

    /// The facility whose scope `code` works in: its parent for a mobile team, else itself.
    pub fn owner(&self, code: &str) -> String {
        match self.by_code.get(code) {
            Some(f) if f.kind == "mobile_team" => {
                f.parent.clone().unwrap_or_else(|| f.code.clone())
            }
            _ => code.to_string(),
        }
    }

    /// Whether a facility with this code exists.
    pub fn contains(&self, code: &str) -> bool {
        self.by_code.contains_key(code)
    }

    /// A facility and its mobile teams: the facilities whose people a device working in
    /// `owner`'s scope counts as its own.
    pub fn family(&self, owner: &str) -> Vec<String> {
        let mut out = vec![owner.to_string()];
        out.extend(
            self.by_code
                .values()
                .filter(|f| f.kind == "mobile_team" && f.parent.as_deref() == Some(owner))
                .map(|f| f.code.clone()),
        );
        out
    }

    /// The facilities that may replicate `p`.
    pub fn scope_of(&self, p: &Person) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        out.insert(self.owner(&p.managing_facility));
        for d in p.doses.values() {
            out.insert(self.owner(&d.facility));
        }
        if let (Some(province), Some(commune)) = (&p.address.province, &p.address.commune)
            && let Some(codes) = self
                .by_commune
                .get(&(admin_unit_key(province), admin_unit_key(commune)))
        {
            out.extend(codes.iter().cloned());
        }
        self.with_area_units(out)
    }
}

/// Every `(facility, unit)` pair of the signing areas: a signer of `unit`, not revoked, may sign
/// the doses of `facility`.
pub async fn signing_areas(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    with_db!(db, pool => {
        Ok(sqlx::query(
            "SELECT s.facility, a.facility AS unit FROM signer_scopes s
             JOIN accounts a ON a.username = s.username WHERE a.status <> 'revoked'",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("facility"), r.get("unit")))
        .collect())
    })
}

/// The feed sequence number since which `facility`'s scope holds the person; `None`: it does not.
pub async fn person_since(
    db: &Db,
    facility: &str,
    person: &str,
) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query_scalar("SELECT since_seq FROM person_scope WHERE facility = $1 AND person_id = $2")
            .bind(facility)
            .bind(person)
            .fetch_optional(pool)
            .await
    })
}

/// Whether `facility`'s scope holds the person.
pub async fn holds_person(db: &Db, facility: &str, person: &str) -> Result<bool, sqlx::Error> {
    Ok(person_since(db, facility, person).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facility(
        code: &str,
        kind: &str,
        commune: Option<&str>,
        parent: Option<&str>,
    ) -> FacilityRecord {
        FacilityRecord {
            code: code.into(),
            name: code.into(),
            kind: kind.into(),
            province: Some("TP Hồ Chí Minh".into()),
            commune: commune.map(str::to_string),
            parent: parent.map(str::to_string),
        }
    }

    fn binh_chanh() -> Facilities {
        Facilities::new(vec![
            facility("TYT-TANNHUT", "commune_station", Some("Xã Tân Nhựt"), None),
            facility("TYT-TANNHUT-LD", "mobile_team", None, Some("TYT-TANNHUT")),
            facility("TYT-TANTUC", "commune_station", Some("Xã Tân Túc"), None),
            facility("TTYT-BINHCHANH", "district_centre", None, None),
        ])
        .with_areas([("TYT-TANNHUT-LD".into(), "TTYT-BINHCHANH".into())])
    }

    #[test]
    fn a_district_centre_replicates_the_facilities_of_its_signing_area_and_no_others() {
        let all = binh_chanh();
        // An area given by a mobile team's code means its parent station's scope.
        assert_eq!(
            all.area_of("TTYT-BINHCHANH"),
            ["TYT-TANNHUT", "TYT-TANNHUT-LD"]
        );
        let scope = all.with_area_units(BTreeSet::from(["TYT-TANNHUT".to_string()]));
        assert!(scope.contains("TTYT-BINHCHANH"));
        let scope = all.with_area_units(BTreeSet::from(["TYT-TANTUC".to_string()]));
        assert_eq!(scope, BTreeSet::from(["TYT-TANTUC".to_string()]));
        assert!(all.area_of("TYT-TANTUC").is_empty());
    }
}
