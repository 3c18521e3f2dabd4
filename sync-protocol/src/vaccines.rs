//! The vaccine catalogue: products used in Vietnam with their EU DCC codes, shipped as data.

use crate::error::{Field, FieldError, Problem};
use crate::person::DoseKind;
use serde::{Deserialize, Serialize};

const BUILT_IN: &str = include_str!("../data/vaccines.json");

/// One vaccine product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Vaccine {
    /// EU DCC vaccine-medicinal-product code (the stored code).
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// EU DCC vaccine-mah-manf code.
    pub manufacturer_code: String,
    pub manufacturer: String,
    /// EU DCC vaccine-prophylaxis code.
    pub prophylaxis: String,
    pub primary_series_doses: u8,
    /// Minimum days between doses of the primary series.
    pub dose_interval_days: u16,
}

/// The disease the catalogue's vaccines target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disease {
    /// SNOMED CT code (EU DCC disease-agent-targeted).
    pub code: String,
    pub name: String,
}

/// The catalogue file's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalogue {
    pub disease: Disease,
    pub vaccines: Vec<Vaccine>,
    /// Minimum days between the end of the primary series and a booster.
    pub booster_interval_days: u16,
}

/// A catalogue file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("danh mục vắc xin không đọc được: {0}")]
pub struct CatalogueError(String);

impl Catalogue {
    /// The catalogue shipped with the software.
    pub fn built_in() -> Catalogue {
        // The file is part of the crate and checked by a test, so it always parses.
        serde_json::from_str(BUILT_IN).unwrap_or_else(|_| Catalogue {
            disease: Disease {
                code: "840539006".into(),
                name: "COVID-19".into(),
            },
            vaccines: Vec::new(),
            booster_interval_days: 90,
        })
    }

    /// Adds or replaces products from an extra catalogue file (`{"vaccines": [...]}`).
    pub fn extend_from_json(&mut self, json: &str) -> Result<(), CatalogueError> {
        #[derive(Deserialize)]
        struct Extra {
            vaccines: Vec<Vaccine>,
        }
        let extra: Extra = serde_json::from_str(json).map_err(|e| CatalogueError(e.to_string()))?;
        for v in extra.vaccines {
            if v.code.trim().is_empty() || v.primary_series_doses == 0 {
                return Err(CatalogueError(format!(
                    "vắc xin \"{}\" thiếu mã hoặc số mũi cơ bản",
                    v.name
                )));
            }
            match self.vaccines.iter_mut().find(|x| x.code == v.code) {
                Some(existing) => *existing = v,
                None => self.vaccines.push(v),
            }
        }
        Ok(())
    }

    /// Finds a product by its code or one of its aliases, ignoring case and diacritics.
    pub fn find(&self, code_or_alias: &str) -> Option<&Vaccine> {
        let key = crate::text::fold(code_or_alias);
        self.vaccines.iter().find(|v| {
            crate::text::fold(&v.code) == key
                || v.aliases.iter().any(|a| crate::text::fold(a) == key)
        })
    }

    /// Like [`Catalogue::find`], with the error the user sees.
    pub fn resolve(&self, code_or_alias: &str) -> Result<&Vaccine, FieldError> {
        let t = code_or_alias.trim();
        if t.is_empty() {
            return Err(FieldError::new(Field::Vaccine, Problem::Required));
        }
        self.find(t).ok_or_else(|| {
            FieldError::new(
                Field::Vaccine,
                Problem::UnknownVaccine {
                    code: t.to_string(),
                },
            )
        })
    }

    /// The kind a dose of `number` of this vaccine has when the user does not say.
    pub fn default_kind(vaccine: &Vaccine, number: u8) -> DoseKind {
        if number <= vaccine.primary_series_doses {
            DoseKind::Primary
        } else {
            DoseKind::Booster
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalogue_holds_the_vaccines_used_in_vietnam() {
        let c: Catalogue = serde_json::from_str(BUILT_IN).expect("catalogue parses");
        for code in [
            "EU/1/21/1529",
            "EU/1/20/1528",
            "EU/1/20/1507",
            "EU/1/20/1525",
            "BBIBP-CorV",
            "Sputnik-V",
            "Abdala",
            "Hayat-Vax",
            "Covaxin",
        ] {
            assert!(c.find(code).is_some(), "{code} missing");
        }
        assert_eq!(c.vaccines.len(), 9);
        assert_eq!(c.find("Pfizer").unwrap().code, "EU/1/20/1528");
        assert_eq!(c.find("vero cell").unwrap().code, "BBIBP-CorV");
    }

    #[test]
    fn catalogue_is_extended_by_a_file() {
        let mut c = Catalogue::built_in();
        c.extend_from_json(
            r#"{"vaccines":[{"code":"Nanocovax","name":"Nanocovax (Nanogen)","aliases":["nanogen"],
            "manufacturer_code":"Nanogen","manufacturer":"Nanogen","prophylaxis":"1119305005",
            "primary_series_doses":2,"dose_interval_days":28}]}"#,
        )
        .unwrap();
        assert_eq!(c.resolve("nanogen").unwrap().code, "Nanocovax");
        assert!(c.extend_from_json("{").is_err());
        assert_eq!(
            c.resolve("Vắc xin lạ").unwrap_err().problem,
            Problem::UnknownVaccine {
                code: "Vắc xin lạ".into()
            }
        );
    }

    #[test]
    fn doses_past_the_primary_series_default_to_booster() {
        let c = Catalogue::built_in();
        let janssen = c.resolve("janssen").unwrap();
        assert_eq!(Catalogue::default_kind(janssen, 1), DoseKind::Primary);
        assert_eq!(Catalogue::default_kind(janssen, 2), DoseKind::Booster);
    }
}
