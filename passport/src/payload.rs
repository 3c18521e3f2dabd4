//! The certificate's content: the EU DCC 1.3.0 vaccination payload (`hcert` claim 1), the
//! holder's names with their ICAO 9303 transliteration, the UVCI, and the schema's constraints.

use crate::error::Refusal;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sync_protocol::vaccines::{Catalogue, Vaccine};

/// The schema version the payload follows.
pub const SCHEMA_VERSION: &str = "1.3.0";
/// The issuing country (ISO 3166-1 alpha-2), in `co` and the CWT issuer.
pub const COUNTRY: &str = "VN";
/// The certificate issuer named in `is` (Vietnam's published sample).
pub const ISSUER: &str = "Ban Co Yeu";
/// The prefix of every UVCI this software issues.
pub const UVCI_PREFIX: &str = "URN:UVCI:01:VN:";
/// The schema's limit on names, the issuer and the UVCI.
const MAX_TEXT: usize = 80;

/// A holder's names as written and transliterated (`nam`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    #[serde(rename = "fn", skip_serializing_if = "Option::is_none", default)]
    pub family: Option<String>,
    #[serde(rename = "fnt")]
    pub family_icao: String,
    #[serde(rename = "gn", skip_serializing_if = "Option::is_none", default)]
    pub given: Option<String>,
    #[serde(rename = "gnt", skip_serializing_if = "Option::is_none", default)]
    pub given_icao: Option<String>,
}

impl Names {
    /// Splits a Vietnamese full name, family name first ("Nguyễn Văn An" → "Nguyễn" / "Văn An").
    pub fn from_full_name(full_name: &str) -> Names {
        let words: Vec<&str> = full_name.split_whitespace().collect();
        let (family, given) = match words.split_first() {
            Some((first, rest)) if !rest.is_empty() => (first.to_string(), Some(rest.join(" "))),
            Some((first, _)) => (first.to_string(), None),
            None => (String::new(), None),
        };
        Names {
            family_icao: icao_transliteration(&family),
            family: Some(family),
            given_icao: given.as_deref().map(icao_transliteration),
            given,
        }
    }

    /// The name as people read it, family name first.
    pub fn display(&self) -> String {
        [self.family.as_deref(), self.given.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// ICAO 9303 transliteration: Latin letters without diacritics (Đ → D), upper case, a `<`
/// between words, nothing else; at most the schema's 80 characters.
pub fn icao_transliteration(name: &str) -> String {
    let folded = sync_protocol::text::fold(name).to_ascii_uppercase();
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        match c {
            'A'..='Z' => out.push(c),
            ' ' | '-' if !out.is_empty() && !out.ends_with('<') => out.push('<'),
            _ => {}
        }
    }
    while out.ends_with('<') {
        out.pop();
    }
    out.truncate(MAX_TEXT);
    out
}

/// One vaccination entry (`v[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vaccination {
    /// Disease targeted (SNOMED CT).
    pub tg: String,
    /// Vaccine or prophylaxis.
    pub vp: String,
    /// Medicinal product.
    pub mp: String,
    /// Marketing authorisation holder or manufacturer.
    pub ma: String,
    /// Dose number.
    pub dn: u8,
    /// Doses in the series.
    pub sd: u8,
    /// Date of vaccination (YYYY-MM-DD).
    pub dt: String,
    /// Country of vaccination.
    pub co: String,
    /// Certificate issuer.
    #[serde(rename = "is")]
    pub issuer: String,
    /// The unique certificate identifier (UVCI).
    pub ci: String,
}

/// The `hcert` payload of a vaccination certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCertificate {
    pub ver: String,
    pub nam: Names,
    /// Date of birth: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or empty.
    pub dob: String,
    pub v: Vec<Vaccination>,
}

/// What the issuer knows of a person's latest dose.
#[derive(Debug, Clone)]
pub struct LatestDose<'a> {
    pub vaccine: &'a Vaccine,
    pub dose_number: u8,
    /// Date given (YYYY-MM-DD, Vietnam's calendar).
    pub date: String,
}

/// A fresh UVCI: the prefix and 16 random bytes in upper-case hex.
pub fn new_uvci() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{UVCI_PREFIX}{}", hex::encode_upper(bytes))
}

impl HealthCertificate {
    /// The vaccination certificate of `full_name`, born `birth_date` (as known), for `dose`.
    pub fn vaccination(
        catalogue: &Catalogue,
        full_name: &str,
        birth_date: &str,
        dose: &LatestDose<'_>,
        uvci: String,
    ) -> HealthCertificate {
        let dn = dose.dose_number.clamp(1, 9);
        HealthCertificate {
            ver: SCHEMA_VERSION.into(),
            nam: Names::from_full_name(full_name),
            dob: birth_date.to_string(),
            v: vec![Vaccination {
                tg: catalogue.disease.code.clone(),
                vp: dose.vaccine.prophylaxis.clone(),
                mp: dose.vaccine.code.clone(),
                ma: dose.vaccine.manufacturer_code.clone(),
                dn,
                // A booster counts past the primary series (EU guidance: 3/3 after 2 doses).
                sd: dose.vaccine.primary_series_doses.clamp(1, 9).max(dn),
                dt: dose.date.clone(),
                co: COUNTRY.into(),
                issuer: ISSUER.into(),
                ci: uvci,
            }],
        }
    }

    /// The vaccination entry (a vaccination certificate holds exactly one).
    pub fn vaccination_entry(&self) -> Option<&Vaccination> {
        self.v.first()
    }

    /// The constraints of EU DCC schema 1.3.0 that apply to a vaccination certificate.
    pub fn check_schema(&self) -> Result<(), Refusal> {
        let bad = |what: &str| Err(Refusal::Schema(what.to_string()));
        let semver = self.ver.split('.').collect::<Vec<_>>();
        if semver.len() != 3
            || semver
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad("ver");
        }
        let icao =
            |s: &str| s.len() <= MAX_TEXT && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'<');
        if !icao(&self.nam.family_icao) || !self.nam.given_icao.as_deref().is_none_or(icao) {
            return bad("nam.fnt/gnt");
        }
        let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.chars().count() > MAX_TEXT);
        if long(&self.nam.family) || long(&self.nam.given) {
            return bad("nam.fn/gn");
        }
        if !is_birth_date(&self.dob) {
            return bad("dob");
        }
        let [v] = self.v.as_slice() else {
            return bad("v");
        };
        if !(1..=9).contains(&v.dn) || !(1..=9).contains(&v.sd) {
            return bad("v.dn/sd");
        }
        if time::Date::parse(&v.dt, crate::DATE).is_err() {
            return bad("v.dt");
        }
        if v.co.len() != 2 || !v.co.bytes().all(|b| b.is_ascii_uppercase()) {
            return bad("v.co");
        }
        for (field, value) in [
            ("v.tg", &v.tg),
            ("v.vp", &v.vp),
            ("v.mp", &v.mp),
            ("v.ma", &v.ma),
        ] {
            if value.is_empty() || value.len() > MAX_TEXT {
                return bad(field);
            }
        }
        if v.issuer.is_empty() || v.issuer.chars().count() > MAX_TEXT {
            return bad("v.is");
        }
        if v.ci.is_empty() || v.ci.len() > MAX_TEXT {
            return bad("v.ci");
        }
        Ok(())
    }
}

/// The schema's date of birth: `^((19|20)\d\d(-\d\d){0,2}){0,1}$`.
fn is_birth_date(dob: &str) -> bool {
    if dob.is_empty() {
        return true;
    }
    let parts: Vec<&str> = dob.split('-').collect();
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    parts.len() <= 3
        && digits(parts[0], 4)
        && (parts[0].starts_with("19") || parts[0].starts_with("20"))
        && parts[1..].iter().all(|p| digits(p, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_names_are_split_family_first_and_transliterated_as_icao_9303() {
        let n = Names::from_full_name("Nguyễn Văn An");
        assert_eq!(n.family.as_deref(), Some("Nguyễn"));
        assert_eq!(n.given.as_deref(), Some("Văn An"));
        assert_eq!(n.family_icao, "NGUYEN");
        assert_eq!(n.given_icao.as_deref(), Some("VAN<AN"));
        let d = Names::from_full_name("  Đặng   Thị Thu-Hường ");
        assert_eq!(d.family_icao, "DANG");
        assert_eq!(d.given_icao.as_deref(), Some("THI<THU<HUONG"));
        assert_eq!(d.display(), "Đặng Thị Thu-Hường");
        let single = Names::from_full_name("Hùng");
        assert_eq!(single.given, None);
        assert_eq!(single.family_icao, "HUNG");
    }

    #[test]
    fn a_uvci_is_the_prefix_and_32_upper_case_hex_digits() {
        let u = new_uvci();
        let hex = u.strip_prefix(UVCI_PREFIX).expect("prefix");
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        assert_ne!(u, new_uvci());
    }

    #[test]
    fn the_schema_accepts_year_only_births_and_refuses_malformed_fields() {
        let catalogue = Catalogue::built_in();
        let vaccine = catalogue.find("EU/1/20/1528").expect("Comirnaty");
        let dose = LatestDose {
            vaccine,
            dose_number: 3,
            date: "2026-11-30".into(),
        };
        let mut c =
            HealthCertificate::vaccination(&catalogue, "Trần Thị Bích", "1961", &dose, new_uvci());
        assert_eq!(c.check_schema(), Ok(()));
        assert_eq!(c.v[0].sd, 3, "a booster after a 2-dose series is 3/3");
        c.dob = "1899-01-01".into();
        assert!(c.check_schema().is_err());
        c.dob = "2001-02".into();
        assert_eq!(c.check_schema(), Ok(()));
        c.nam.family_icao = "Tran".into();
        assert_eq!(c.check_schema(), Err(Refusal::Schema("nam.fnt/gnt".into())));
    }
}
