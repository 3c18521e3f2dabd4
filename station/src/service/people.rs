//! People and doses as the forms give them: registering (typed or from a CCCD QR code),
//! importing, editing, transferring, recording and voiding doses.

use super::*;

/// A person's details as typed (in the UI or on the command line), before checking.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonInput {
    pub full_name: String,
    /// `nam`/`nu` (or male/female).
    pub gender: String,
    /// `yyyy-mm-dd`, `dd/mm/yyyy` or `yyyy`.
    pub birth_date: String,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    /// ISO 3166 alpha-2; Vietnamese when absent.
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
}

/// What a CCCD QR code gave the registration form.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QrReading {
    pub input: PersonInput,
    /// The scanner dropped the Vietnamese diacritics (a US keyboard layout): the name and
    /// address must be typed, or the scanner set to Unicode, before registering.
    pub diacritics_lost: bool,
}

/// Changes to a person's details: `None` leaves a field alone, an empty string clears an
/// optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonEdit {
    pub full_name: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
}

/// A dose as typed; what is left out gets the sensible default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoseInput {
    /// Catalogue code or alias.
    pub vaccine: String,
    pub lot: String,
    /// Defaults to the next dose number of the person.
    pub dose_number: Option<u8>,
    /// Defaults from the vaccine's primary series length.
    pub kind: Option<String>,
    /// RFC 3339 or `dd/mm/yyyy hh:mm`; defaults to now.
    pub given_at: Option<String>,
    pub place: Option<String>,
    pub reaction_notes: Option<String>,
}

pub(crate) fn apply_edit(p: &mut Person, e: &PersonEdit) -> Result<()> {
    let mut errors = Vec::new();
    let verified_before = (
        p.full_name.clone(),
        p.gender,
        p.birth_date,
        p.identity.clone(),
    );
    if let Some(name) = &e.full_name {
        let name = text::clean(name);
        if collect(&mut errors, validate::check_full_name(&name)).is_some() {
            p.full_name = name;
        }
    }
    if let Some(g) = &e.gender
        && let Some(g) = collect(&mut errors, Gender::parse(g))
    {
        p.gender = g;
    }
    if let Some(b) = &e.birth_date
        && let Some(b) = collect(
            &mut errors,
            BirthDate::parse(b).and_then(|b| b.check(now().date()).map(|()| b)),
        )
    {
        p.birth_date = b;
    }
    if let Some(phone) = &e.phone {
        p.phone = match opt_text(Some(phone)) {
            None => None,
            Some(t) => collect(&mut errors, normalize_phone(&t)),
        };
    }
    if let Some(n) = &e.nationality {
        let n = n.trim().to_ascii_uppercase();
        if collect(&mut errors, validate::check_nationality(&n)).is_some() {
            p.nationality = n;
        }
    }
    if let Some(n) = &e.insurance_number {
        p.insurance_number = match opt_text(Some(n)).map(|n| n.to_ascii_uppercase()) {
            None => None,
            Some(n) => collect(
                &mut errors,
                validate::check_insurance_number(&n).map(|()| n),
            ),
        };
    }
    if let Some(v) = &e.province {
        p.address.province = clean_opt(Some(v));
    }
    if let Some(v) = &e.commune {
        p.address.commune = clean_opt(Some(v));
    }
    if let Some(v) = &e.address_detail {
        p.address.detail = clean_opt(Some(v));
    }
    if e.id_kind.is_some() || e.id_number.is_some() || e.gender.is_some() || e.birth_date.is_some()
    {
        let kind = e.id_kind.unwrap_or(p.identity.kind);
        let number = match &e.id_number {
            Some(n) => Some(n.clone()),
            None => p.identity.number.clone(),
        };
        if let Some(id) = collect(
            &mut errors,
            normalize_identity(kind, number.as_deref(), p.gender, p.birth_date),
        ) {
            p.identity = id;
        }
    }
    if !errors.is_empty() {
        return Err(many(errors));
    }
    // Changed matching fields have not been checked against the population database.
    if verified_before
        != (
            p.full_name.clone(),
            p.gender,
            p.birth_date,
            p.identity.clone(),
        )
    {
        p.verification = Verification {
            status: sync_protocol::rules::initial_status(&p.nationality, p.identity.kind),
            checked_at: None,
        };
    }
    Ok(())
}

pub(super) fn collect<T>(
    errors: &mut Vec<FieldError>,
    r: std::result::Result<T, FieldError>,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

pub(super) fn many(mut errors: Vec<FieldError>) -> StationError {
    if errors.len() == 1 {
        StationError::Invalid(errors.remove(0))
    } else {
        StationError::InvalidInput(errors)
    }
}

pub(super) fn opt_text(t: Option<&str>) -> Option<String> {
    t.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) fn clean_opt(t: Option<&str>) -> Option<String> {
    t.map(text::clean).filter(|s| !s.is_empty())
}

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
        let full_name = text::clean(&input.full_name);
        collect(&mut errors, validate::check_full_name(&full_name));
        let gender = collect(&mut errors, Gender::parse(&input.gender));
        let today = now().date();
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
            detail: clean_opt(input.address_detail.as_deref()),
        };
        for part in [&address.province, &address.commune, &address.detail] {
            collect(
                &mut errors,
                validate::check_text(Field::Address, part.as_deref(), MAX_TEXT),
            );
        }
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
            nationality,
            insurance_number: insurance,
            managing_facility: self.facility().code,
            created_by: user.to_string(),
            created_at: now(),
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
        let meta = Intent::new(action).check(None, &person, &writer)?;
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
                let meta = intent.check(None, person, &writer)?;
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

    /// Changes a person's details; only the fields given are touched. Changing the name, date
    /// of birth, ID number or address of a person another facility manages needs a fresh
    /// one-time code, checked by the server (`step_up`), which grants the edit.
    pub async fn edit_person(
        &self,
        id: Uuid,
        edit: PersonEdit,
        step_up: Option<StepUp<'_>>,
    ) -> Result<Person> {
        let session = self.reader()?;
        self.writer()?;
        let current = self.show(id).await?.person;
        let mut edited = current.clone();
        apply_edit(&mut edited, &edit)?;
        let fields = sync_protocol::rules::sensitive_changes(&current, &edited);
        let writer = self.rule_writer(&session).await?;
        let mut intent = Intent::new(CommitAction::Edit);
        if !fields.is_empty() && !writer.manages(&current.managing_facility) {
            let step_up = step_up
                .filter(|s| !s.otp.trim().is_empty())
                .ok_or(StationError::StepUpRequired(
                    "sửa họ tên, ngày sinh, số giấy tờ hoặc địa chỉ của người do cơ sở khác quản lý",
                ))?;
            let mut grants = self.step_up_grants(step_up, &[id], &fields).await?;
            intent = intent.with_code().with_grant(grants.remove(&id));
        }
        self.modify(id, intent, |p| apply_edit(p, &edit))
            .await
            .map(|(_, p)| p)
    }

    /// Hands a person this facility manages over to another facility (`to`, a facility code the
    /// server knows): from then on that facility manages them and edits their sensitive fields
    /// without a code. Changes nothing else.
    pub async fn transfer_person(&self, id: Uuid, to: &str) -> Result<Person> {
        self.writer()?;
        let to = to.trim().to_string();
        validate::check_code(Field::Facility, &to)?;
        self.modify(id, Intent::new(CommitAction::Transfer), |p| {
            p.managing_facility = to;
            Ok(())
        })
        .await
        .map(|(_, p)| p)
    }

    /// Records a dose given to a person now (or at the time given) and returns it.
    pub async fn record_dose(&self, person_id: Uuid, input: DoseInput) -> Result<Dose> {
        let user = self.writer()?;
        let vaccine = self.catalogue.resolve(&input.vaccine)?.clone();
        let lot = input.lot.trim().to_ascii_uppercase();
        validate::check_lot(&lot)?;
        let given_at = match opt_text(input.given_at.as_deref()) {
            Some(t) => parse_time(&t)
                .ok_or_else(|| StationError::invalid(Field::GivenAt, Problem::DateTimeFormat))?,
            None => now(),
        };
        if given_at > now() + CLOCK_SKEW {
            return Err(StationError::invalid(Field::GivenAt, Problem::InFuture));
        }
        let place = clean_opt(input.place.as_deref());
        validate::check_text(Field::Place, place.as_deref(), MAX_TEXT)?;
        let notes = clean_opt(input.reaction_notes.as_deref());
        validate::check_text(Field::ReactionNotes, notes.as_deref(), MAX_NOTES)?;
        let explicit_kind = opt_text(input.kind.as_deref())
            .map(|k| DoseKind::parse(&k))
            .transpose()?;
        if let Some(n) = input.dose_number
            && !(1..=validate::MAX_DOSE_NUMBER).contains(&n)
        {
            return Err(StationError::invalid(
                Field::DoseNumber,
                Problem::DoseNumberRange,
            ));
        }
        let dose_id = Uuid::now_v7();
        let facility = self.facility().code;
        let (_, person) = self
            .modify(person_id, Intent::new(CommitAction::Dose), |p| {
                let number = input.dose_number.unwrap_or_else(|| p.next_dose_number());
                if let Some(existing) = p
                    .doses
                    .values()
                    .find(|d| d.is_active() && d.dose_number == number)
                {
                    return Err(StationError::invalid(
                        Field::DoseNumber,
                        Problem::AlreadyRecorded {
                            dose_number: number,
                            given_on: sync_protocol::BirthDate::Full(existing.given_at.date())
                                .display_vn(),
                        },
                    ));
                }
                p.doses.insert(
                    dose_id,
                    Dose {
                        id: dose_id,
                        vaccine: vaccine.code.clone(),
                        lot,
                        dose_number: number,
                        kind: explicit_kind
                            .unwrap_or_else(|| Catalogue::default_kind(&vaccine, number)),
                        given_at,
                        facility,
                        vaccinator: user,
                        place,
                        reaction_notes: notes,
                        voided: None,
                        signature: None,
                    },
                );
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }

    /// Voids a dose (doses are never deleted) with the reason, and returns it. A signed dose
    /// needs a fresh code: see [`Station::void_dose_with`].
    pub async fn void_dose(&self, dose_id: Uuid, reason: &str) -> Result<Dose> {
        self.void_dose_with(dose_id, reason, None).await
    }

    /// Voids a dose; a dose a signing run covers is a signed record undone (and the passport
    /// built on it revoked), so it needs a fresh one-time code the server checks (`step_up`).
    pub async fn void_dose_with(
        &self,
        dose_id: Uuid,
        reason: &str,
        step_up: Option<StepUp<'_>>,
    ) -> Result<Dose> {
        let user = self.writer()?;
        let reason = text::clean(reason);
        if reason.chars().count() < validate::MIN_VOID_REASON {
            return Err(StationError::invalid(
                Field::VoidReason,
                Problem::TooShort {
                    min: validate::MIN_VOID_REASON,
                },
            ));
        }
        validate::check_text(Field::VoidReason, Some(&reason), MAX_TEXT)?;
        let person_id: String = sqlx::query_scalar("SELECT person_id FROM doses WHERE id = ?")
            .bind(dose_id.to_string())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })?;
        let person_id = Uuid::parse_str(&person_id).map_err(|_| StationError::NotFound {
            what: "người",
            id: person_id,
        })?;
        let mut intent = Intent::new(CommitAction::Void);
        let signed = self
            .show(person_id)
            .await?
            .person
            .doses
            .get(&dose_id)
            .is_some_and(|d| d.signature.is_some() && d.voided.is_none());
        if signed {
            let step_up = step_up.filter(|s| !s.otp.trim().is_empty()).ok_or(
                StationError::StepUpRequired(
                    "huỷ mũi tiêm đã ký số (hộ chiếu vắc xin dựa trên mũi này sẽ bị thu hồi)",
                ),
            )?;
            let fields = [sync_protocol::rules::SensitiveField::SignedDose]
                .into_iter()
                .collect();
            let mut grants = self.step_up_grants(step_up, &[person_id], &fields).await?;
            intent = intent.with_code().with_grant(grants.remove(&person_id));
        }
        let (_, person) = self
            .modify(person_id, intent, |p| {
                let dose = p
                    .doses
                    .get_mut(&dose_id)
                    .ok_or_else(|| StationError::NotFound {
                        what: "mũi tiêm",
                        id: dose_id.to_string(),
                    })?;
                if dose.voided.is_some() {
                    return Err(StationError::invalid(Field::DoseId, Problem::AlreadyVoided));
                }
                dose.voided = Some(Voided {
                    by: user,
                    at: now(),
                    reason,
                });
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }
}
