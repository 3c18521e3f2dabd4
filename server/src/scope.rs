//! Which facilities may replicate a person (DESIGN.md §5): the facility that manages them, the
//! facilities that vaccinated them, and the facilities of the commune they live in. A mobile
//! team works within its parent facility's scope.

use crate::admin::FacilityRecord;
use std::collections::{BTreeSet, HashMap};
use sync_protocol::Person;
use sync_protocol::text::admin_unit_key;

/// The facilities, indexed for scope decisions.
#[derive(Debug, Clone, Default)]
pub struct Facilities {
    by_code: HashMap<String, FacilityRecord>,
    by_commune: HashMap<(String, String), Vec<String>>,
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
        }
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
        out
    }
}
