//! The console's counts (`dose_counts`, `person_counts`, migration 0013) kept in step with the
//! rows a group writes: each row's old contribution is taken away and its new one added, in the
//! group's own transaction, so the counts can never disagree with `doses` and `documents`.

use std::collections::BTreeMap;

/// What one dose adds to its facility's day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct DoseTally {
    pub(super) recorded: i64,
    pub(super) active: i64,
    pub(super) signed: i64,
    pub(super) first_doses: i64,
}

impl DoseTally {
    fn of(voided: bool, signed: bool, dose_number: i64) -> DoseTally {
        let active = !voided;
        DoseTally {
            recorded: 1,
            active: i64::from(active),
            signed: i64::from(active && signed),
            first_doses: i64::from(active && dose_number == 1),
        }
    }

    fn add(&mut self, other: DoseTally, sign: i64) {
        self.recorded += sign * other.recorded;
        self.active += sign * other.active;
        self.signed += sign * other.signed;
        self.first_doses += sign * other.first_doses;
    }

    fn is_zero(&self) -> bool {
        *self == DoseTally::default()
    }
}

/// A dose row as the counts see it.
pub(super) struct DoseFacts<'a> {
    pub(super) facility: &'a str,
    /// RFC 3339 at +07:00: its first ten characters are the day.
    pub(super) given_at: &'a str,
    pub(super) voided: bool,
    pub(super) signed: bool,
    pub(super) dose_number: i64,
}

/// How the counts move in one group.
#[derive(Debug, Default)]
pub(super) struct CountDeltas {
    /// (facility, day) → change.
    pub(super) doses: BTreeMap<(String, String), DoseTally>,
    /// (facility, verification) → change in people.
    pub(super) people: BTreeMap<(String, String), i64>,
}

impl CountDeltas {
    /// Counts a dose row in (`sign` 1) or out (`sign` -1).
    pub(super) fn dose(&mut self, d: DoseFacts<'_>, sign: i64) {
        let day: String = d.given_at.chars().take(10).collect();
        self.doses
            .entry((d.facility.to_string(), day))
            .or_default()
            .add(DoseTally::of(d.voided, d.signed, d.dose_number), sign);
    }

    /// Counts a person's document in or out; a merged one counts nowhere.
    pub(super) fn person(&mut self, facility: &str, verification: &str, merged: bool, sign: i64) {
        if merged {
            return;
        }
        *self
            .people
            .entry((facility.to_string(), verification.to_string()))
            .or_default() += sign;
    }

    /// The dose changes that move something.
    pub(super) fn dose_rows(&self) -> Vec<(&str, &str, DoseTally)> {
        self.doses
            .iter()
            .filter(|(_, t)| !t.is_zero())
            .map(|((f, d), t)| (f.as_str(), d.as_str(), *t))
            .collect()
    }

    /// The people changes that move something.
    pub(super) fn people_rows(&self) -> Vec<(&str, &str, i64)> {
        self.people
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((f, v), n)| (f.as_str(), v.as_str(), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dose(voided: bool, signed: bool, n: i64) -> DoseFacts<'static> {
        DoseFacts {
            facility: "TYT-TANNHUT",
            given_at: "2026-12-02T08:30:00+07:00",
            voided,
            signed,
            dose_number: n,
        }
    }

    #[test]
    fn a_voided_signed_first_dose_moves_every_count_but_recorded() {
        let mut d = CountDeltas::default();
        d.dose(dose(false, true, 1), -1);
        d.dose(dose(true, true, 1), 1);
        assert_eq!(
            d.dose_rows(),
            vec![(
                "TYT-TANNHUT",
                "2026-12-02",
                DoseTally {
                    recorded: 0,
                    active: -1,
                    signed: -1,
                    first_doses: -1
                }
            )]
        );
    }

    #[test]
    fn an_unchanged_row_moves_nothing_and_a_merge_leaves_the_counts() {
        let mut d = CountDeltas::default();
        d.dose(dose(false, false, 2), -1);
        d.dose(dose(false, false, 2), 1);
        assert!(d.dose_rows().is_empty());
        d.person("TYT-TANNHUT", "matched", false, -1);
        d.person("TYT-TANNHUT", "matched", true, 1);
        assert_eq!(d.people_rows(), vec![("TYT-TANNHUT", "matched", -1)]);
    }
}
