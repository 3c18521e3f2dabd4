//! Registering people: typed, from a CCCD QR code, imported in bulk, or received whole as
//! documents.

use super::{
    PersonInput, QrReading, caregiver_from, clean_opt, collect, many, newborn_name, opt_text,
};
use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::service::{Audit, RemoteBatch, Station};
use std::collections::BTreeMap;
use sync_protocol::identity::normalize_phone;
use sync_protocol::identity::{self, normalize_identity};
use sync_protocol::validate::{self, MAX_TEXT};
use sync_protocol::{Address, BirthDate, CommitAction, Verification};
use sync_protocol::{Field, Gender, IdentityKind, Person, PersonDoc, Problem, text};
use uuid::Uuid;

impl Station {
    /// Registers a person from typed details and returns them.
    pub async fn register_person(&self, input: PersonInput) -> Result<Person> {
        let user = self.writer()?;
        let person = self.person_from_input(input, &user)?;
        self.insert_new_person(person, CommitAction::Register).await
    }

    /// Registers a person from the text of a CCCD QR code (scanned or typed) plus a phone.
    /// A scan whose name or address lost its diacritics is refused: registered as it is, the
    /// name would mismatch the population database.
    pub async fn register_from_qr(&self, qr: &str, phone: Option<&str>) -> Result<Person> {
        let reading = Station::read_qr(qr)?;
        if reading.diacritics_lost {
            return Err(StationError::QrDiacriticsLost);
        }
        let input = PersonInput {
            phone: phone.map(str::to_string),
            ..reading.input
        };
        self.register_person(input).await
    }

    /// The registration form filled from the text of a CCCD QR code, for the nurse to check
    /// and complete (phone) before registering, and whether the scan lost its diacritics.
    pub fn read_qr(qr: &str) -> Result<QrReading> {
        let q = identity::parse_cccd_qr(qr)?;
        Ok(QrReading {
            diacritics_lost: q.diacritics_lost,
            input: PersonInput {
                full_name: q.full_name,
                gender: q.gender.as_str().into(),
                birth_date: q.birth_date.to_string(),
                id_kind: Some(IdentityKind::Cccd),
                id_number: Some(q.cccd),
                address_detail: Some(q.address).filter(|a| !a.is_empty()),
                ..PersonInput::default()
            },
        })
    }

    pub(super) fn person_from_input(&self, input: PersonInput, user: &str) -> Result<Person> {
        let mut errors = Vec::new();
        let caregiver = caregiver_from(
            &mut errors,
            input.caregiver_name.as_deref(),
            input.caregiver_phone.as_deref(),
            input.caregiver_relation.as_deref(),
        );
        let mut full_name = text::clean(&input.full_name);
        if full_name.is_empty()
            && let Some(c) = &caregiver
        {
            full_name = newborn_name(c);
        }
        collect(&mut errors, validate::check_full_name(&full_name));
        let gender = collect(&mut errors, Gender::parse(&input.gender));
        let now = self.clock().now();
        let today = now.date();
        let birth = collect(
            &mut errors,
            BirthDate::parse(&input.birth_date).and_then(|b| b.check(today).map(|()| b)),
        );
        let phone = opt_text(input.phone.as_deref())
            .map(|p| collect(&mut errors, normalize_phone(&p)))
            .unwrap_or(None);
        let nationality = opt_text(input.nationality.as_deref())
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_else(|| "VN".into());
        collect(&mut errors, validate::check_nationality(&nationality));
        let insurance = opt_text(input.insurance_number.as_deref()).map(|n| n.to_ascii_uppercase());
        if let Some(n) = &insurance {
            collect(&mut errors, validate::check_insurance_number(n));
        }
        let address = Address {
            province: clean_opt(input.province.as_deref()),
            commune: clean_opt(input.commune.as_deref()),
            hamlet: clean_opt(input.hamlet.as_deref()),
            detail: clean_opt(input.address_detail.as_deref()),
        };
        for part in [&address.province, &address.commune, &address.detail] {
            collect(
                &mut errors,
                validate::check_text(Field::Address, part.as_deref(), MAX_TEXT),
            );
        }
        collect(
            &mut errors,
            validate::check_text(Field::Hamlet, address.hamlet.as_deref(), MAX_TEXT),
        );
        let kind = input
            .id_kind
            .unwrap_or(if opt_text(input.id_number.as_deref()).is_some() {
                IdentityKind::Cccd
            } else {
                IdentityKind::None
            });
        let identity = match (gender, birth) {
            (Some(g), Some(b)) => collect(
                &mut errors,
                normalize_identity(kind, input.id_number.as_deref(), g, b),
            ),
            _ => None,
        };
        let (Some(gender), Some(birth_date), Some(identity), true) =
            (gender, birth, identity, errors.is_empty())
        else {
            return Err(many(errors));
        };
        let status = sync_protocol::rules::initial_status(&nationality, identity.kind);
        Ok(Person {
            id: Uuid::now_v7(),
            full_name,
            gender,
            birth_date,
            identity,
            phone,
            address,
            caregiver,
            nationality,
            insurance_number: insurance,
            managing_facility: self.facility().code,
            created_by: user.to_string(),
            created_at: now,
            verification: Verification {
                status,
                checked_at: None,
            },
            merged_into: None,
            doses: BTreeMap::new(),
        })
    }

    pub(super) async fn insert_new_person(
        &self,
        person: Person,
        action: CommitAction,
    ) -> Result<Person> {
        self.writer()?;
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let meta = Intent::new(action).check(None, &person, &writer, self.clock().now())?;
        let doc = PersonDoc::create(self.actor.clone(), &person, &meta).map_err(|source| {
            StationError::Corrupt {
                id: person.id.to_string(),
                source,
            }
        })?;
        let mut tx = self.store.begin_write().await?;
        if let Some(number) = &person.identity.number {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM persons WHERE id_number = ? AND id_kind = ? AND merged_into IS NULL LIMIT 1",
            )
            .bind(number)
            .bind(person.identity.kind.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(person_id) = existing {
                return Err(StationError::invalid(
                    Field::IdNumber,
                    Problem::DuplicateId { person_id },
                ));
            }
        }
        let changes = doc.changes_since(&[]);
        self.persist(
            &mut tx,
            &doc,
            None,
            &person,
            changes,
            Some(Audit::of(&meta, false)),
        )
        .await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Registers many people (with their doses) at once, e.g. a list prepared with the commune
    /// police or demo data: each is checked like a typed registration, and each batch of up to
    /// 1,000 is one transaction. Returns how many were written.
    pub async fn import_people(&self, people: &[Person]) -> Result<usize> {
        self.writer()?;
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let intent = Intent::new(CommitAction::Import);
        for chunk in people.chunks(1000) {
            let mut tx = self.store.begin_write().await?;
            for person in chunk {
                let meta = intent.check(None, person, &writer, self.clock().now())?;
                let doc =
                    PersonDoc::create(self.actor.clone(), person, &meta).map_err(|source| {
                        StationError::Corrupt {
                            id: person.id.to_string(),
                            source,
                        }
                    })?;
                let changes = doc.changes_since(&[]);
                self.persist(
                    &mut tx,
                    &doc,
                    None,
                    person,
                    changes,
                    Some(Audit::of(&meta, false)),
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(people.len())
    }

    /// Stores documents received whole from elsewhere (as a first sync does), merged into any
    /// copy this station already has, without outbox entries.
    pub async fn import_documents(&self, docs: Vec<PersonDoc>) -> Result<usize> {
        let n = docs.len();
        let mut batch: BTreeMap<Uuid, RemoteBatch> = BTreeMap::new();
        for doc in docs {
            let person = doc.read().map_err(|source| StationError::Corrupt {
                id: "?".into(),
                source,
            })?;
            batch.entry(person.id).or_default().snapshots.push(doc);
        }
        self.apply_remote_batch(batch, &[]).await?;
        Ok(n)
    }
}
