//! The central server is the authority (docs/design.md §9): each attack a modified station or a
//! hand-written client can make is performed here through the real HTTP API, on SQLite and on
//! PostgreSQL, and refused with its own reason — while the honest flow beside it still passes.
//! Changes are forged as a modified station would: straight from Automerge documents, bypassing
//! the station's own checks, and pushed with a real session.

use sotiem_fixtures::Generator;
use sotiem_scenarios::pki::{FileSigner, ca_config, issue_cert};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Device, Lab, TAN_TUC, both_backends, vaccinated_at, vaccinated_by};
use station::{DoseInput, PersonEdit, SigningSelection, StepUp};
use sync_protocol::auth::{Role, StepUpGrant, StepUpRequest};
use sync_protocol::automerge::transaction::{CommitOptions, Transactable};
use sync_protocol::automerge::{self, ActorId, Automerge, ROOT, ReadDoc};
use sync_protocol::person::now;
use sync_protocol::rules::{Rule, SensitiveField};
use sync_protocol::wire::{
    PushRequest, PushResponse, PushResult, PushedChange, RejectReason, SigningBatchOutcome,
    SigningBatchUpload,
};
use sync_protocol::{
    BirthDate, CommitAction, CommitMeta, Person, PersonDoc, Verification, VerificationStatus,
};
use time::Duration;
use uuid::Uuid;

/// The change that brings a copy of `doc` to what `edit` makes of the person, written by a
/// fresh actor with `meta` — past every check the station makes, as a modified station would.
fn forge(doc: &PersonDoc, meta: &CommitMeta, edit: impl FnOnce(&mut Person)) -> Vec<u8> {
    try_forge(doc, meta, edit).expect("a change")
}

/// [`forge`], or none when the edit changes nothing.
fn try_forge(
    doc: &PersonDoc,
    meta: &CommitMeta,
    edit: impl FnOnce(&mut Person),
) -> Option<Vec<u8>> {
    let mut copy = PersonDoc::load_as(&doc.save(), ActorId::random()).expect("copy");
    let heads = copy.heads();
    let mut p = copy.read().expect("person");
    edit(&mut p);
    copy.update(&p, meta).expect("forged");
    Some(copy.changes_since(&heads).pop()?.raw_bytes().to_vec())
}

/// A change made with raw Automerge operations on a copy of `doc` (what `PersonDoc` would never
/// write: deletions, unknown keys), with `meta` as its message.
fn forge_raw(
    doc: &PersonDoc,
    meta: &CommitMeta,
    ops: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Vec<u8> {
    let mut am = Automerge::load(&doc.save_nocompress())
        .expect("load")
        .with_actor(ActorId::random());
    let heads = am.get_heads();
    let mut tx = am.transaction();
    ops(&mut tx);
    tx.commit_with(
        CommitOptions::default()
            .with_message(serde_json::to_string(meta).expect("meta"))
            .with_time(now().unix_timestamp()),
    );
    am.get_changes(&heads)
        .pop()
        .expect("a change")
        .raw_bytes()
        .to_vec()
}

fn meta(user: &str, action: CommitAction) -> CommitMeta {
    CommitMeta::new(user, action)
}

/// Pushes one change with `device`'s session through the real HTTP API.
async fn push(device: &Device, person: Uuid, bytes: Vec<u8>) -> PushResult {
    device.client.set_session(
        device
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let response: PushResponse = device
        .client
        .call(
            "sync/push",
            &PushRequest {
                changes: vec![PushedChange {
                    person_id: person,
                    bytes,
                }],
            },
        )
        .await
        .expect("the server answers");
    response.results.into_iter().next().expect("one result")
}

/// Asserts a push was refused for `rule`; returns the message.
fn refused(result: PushResult, rule: Rule) -> String {
    match result {
        PushResult::Rejected {
            reason: RejectReason::Rule(r),
            message,
        } if r == rule => {
            assert!(!message.is_empty());
            message
        }
        other => panic!("expected a refusal for {rule}, got {other:?}"),
    }
}

/// A person of TYT-TANNHUT registered by `user` with one dose there, never checked.
fn resident(g: &mut Generator, user: &str) -> Person {
    let mut p = g.person("TYT-TANNHUT", user, 1);
    p.verification = Verification {
        status: VerificationStatus::Unverified,
        checked_at: None,
    };
    p
}

/// A device's copy of a person's document.
async fn held(device: &Device, id: Uuid) -> PersonDoc {
    device.load_doc(id).await.expect("doc")
}

/// 1: a push is authorised by the session that sends it, never by the author a change names.
async fn changes_count_only_for_the_session_user(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let head = lab
        .device_as("b", "TYT-TANNHUT", "bs.hung", Role::Signer)
        .await;
    let admin = lab
        .device_as("c", "TYT-TANNHUT", "qt.hoa", Role::FacilityAdmin)
        .await;
    let mai = lab.device("d", "TYT-TANNHUT", "nv.mai").await;
    let mut g = Generator::new(1101);
    let p = resident(&mut g, "nv.lan");
    nurse
        .import_people(std::slice::from_ref(&p))
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    let doc = nurse.load_doc(p.id).await.expect("doc");
    let new_phone = |p: &mut Person| p.phone = Some("0987654321".into());

    // A head of facility's session pushes an edit "authored" by the nurse; so does an admin's.
    let as_nurse = forge(&doc, &meta("nv.lan", CommitAction::Edit), new_phone);
    let m = refused(push(&head, p.id, as_nurse.clone()).await, Rule::Author);
    assert!(m.contains("bs.hung") && m.contains("nv.lan"), "{m}");
    refused(push(&admin, p.id, as_nurse).await, Rule::Author);
    // In their own names, their roles write no person's data.
    let by_head = forge(&doc, &meta("bs.hung", CommitAction::Edit), new_phone);
    refused(push(&head, p.id, by_head).await, Rule::Role);
    let by_admin = forge(&doc, &meta("qt.hoa", CommitAction::Edit), new_phone);
    refused(push(&admin, p.id, by_admin).await, Rule::Role);
    // Nor may a head of facility record a dose (a push that only adds a dose takes the
    // server's quick path: the role is checked there too).
    let dose_by_head = forge(&doc, &meta("bs.hung", CommitAction::Dose), |p| {
        let mut d = p.doses.values().next().expect("a dose").clone();
        d.id = Uuid::now_v7();
        d.dose_number = 2;
        d.given_at = now() - Duration::minutes(10);
        d.vaccinator = "bs.hung".into();
        p.doses.insert(d.id, d);
    });
    refused(push(&head, p.id, dose_by_head).await, Rule::Role);

    // A backdated change of a revoked account: her session is gone, and no one else's session
    // carries her change.
    let mut backdated = meta("nv.mai", CommitAction::Edit);
    backdated.time = Some(now() - Duration::days(2));
    let hers = forge(&doc, &backdated, new_phone);
    sotiem_server::accounts::revoke_account(&lab.server.db, "nv.mai")
        .await
        .expect("revoked");
    mai.client.set_session(
        mai.session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let err = mai
        .client
        .call::<_, PushResponse>(
            "sync/push",
            &PushRequest {
                changes: vec![PushedChange {
                    person_id: p.id,
                    bytes: hers.clone(),
                }],
            },
        )
        .await
        .expect_err("a revoked account has no session");
    assert_eq!(err.code(), "account_revoked");
    refused(push(&nurse, p.id, hers).await, Rule::Author);

    // The honest flow: the nurse's own edit, sent by her sync.
    nurse
        .edit_person(
            p.id,
            PersonEdit {
                phone: Some("0987654321".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.pushed, report.quarantined), (1, 0));
    assert_eq!(
        lab.on_server(p.id).await.phone.as_deref(),
        Some("0987654321")
    );
    lab.server.stop().await;
}
both_backends!(changes_count_only_for_the_session_user);

/// 2a, 2b, 2d, 2e, 2f and the transfer: the record rules are the server's, not the station's.
async fn record_rules_are_enforced_by_the_server(backend: Backend) {
    let lab = Lab::start(backend).await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let mut nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(1102);
    // Tân Túc manages a person who lives in Tân Nhựt: both stations hold the record.
    let mut other = g.person("TYT-TANTUC", "nv.tuc", 1);
    for d in other.doses.values_mut() {
        d.facility = "TYT-TANTUC".into();
    }
    tuc.import_people(&[other.clone()])
        .await
        .expect("registered");
    tuc.sync().await.expect("synced");
    let own = resident(&mut g, "nv.lan");
    let checked = resident(&mut g, "nv.lan");
    nurse
        .import_people(&[own.clone(), checked.clone()])
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    lab.registry_knows(std::slice::from_ref(&checked)).await;
    nurse.sync().await.expect("results pulled");
    let edit = meta("nv.lan", CommitAction::Edit);

    // 2a: another facility's person renamed with no code, or naming a grant the server never
    // gave, or a grant for someone else.
    // (The forgery even resets the verification, as an honest rename does: only the code is
    // missing.)
    let renamed = |p: &mut Person| {
        p.full_name = "Trần Thị Bích Ngọc".into();
        p.verification = Verification {
            status: VerificationStatus::Unverified,
            checked_at: None,
        };
    };
    let bare = forge(&held(&nurse, other.id).await, &edit, renamed);
    let m = refused(push(&nurse, other.id, bare).await, Rule::StepUpRequired);
    assert!(m.contains("TYT-TANTUC"), "{m}");
    let claimed = forge(
        &held(&nurse, other.id).await,
        &edit
            .clone()
            .with_grant(Some("0193aaaa-0000-7000-8000-000000000000")),
        renamed,
    );
    refused(push(&nurse, other.id, claimed).await, Rule::StepUpRequired);
    let code = nurse.otp.code().await;
    let grant: StepUpGrant = nurse
        .client
        .json(
            "auth/step-up",
            &StepUpRequest {
                otp: code,
                person_ids: vec![own.id],
                fields: vec![SensitiveField::FullName],
            },
        )
        .await
        .expect("a grant for another person");
    let misused = forge(
        &held(&nurse, other.id).await,
        &edit.clone().with_grant(Some(&grant.id)),
        renamed,
    );
    refused(push(&nurse, other.id, misused).await, Rule::StepUpRequired);
    // A code is checked by the server: a wrong one gets no grant.
    let wrong = nurse
        .client
        .json::<_, StepUpGrant>(
            "auth/step-up",
            &StepUpRequest {
                otp: "000000".into(),
                person_ids: vec![other.id],
                fields: vec![SensitiveField::FullName],
            },
        )
        .await
        .expect_err("wrong code");
    assert_eq!(wrong.code(), "otp_invalid");
    // The honest flow: the station asks the server to check a fresh code, then edits.
    let code = nurse.otp.code().await;
    nurse
        .edit_person(
            other.id,
            PersonEdit {
                full_name: Some("Trần Thị Bích Ngọc".into()),
                ..PersonEdit::default()
            },
            Some(StepUp {
                otp: &code,
                server: Some(&nurse.client),
            }),
        )
        .await
        .expect("edited with the server's grant");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.pushed, report.quarantined), (1, 0));
    assert_eq!(
        lab.on_server(other.id).await.full_name,
        "Trần Thị Bích Ngọc"
    );
    lab.codes_used("nv.lan", &nurse.otp);

    // 2b: an identity edit that keeps the police's "matched".
    assert_eq!(
        lab.on_server(checked.id).await.verification.status,
        VerificationStatus::Matched
    );
    let kept = forge(&held(&nurse, checked.id).await, &edit, |p| {
        p.full_name = format!("{} Anh", p.full_name)
    });
    refused(
        push(&nurse, checked.id, kept).await,
        Rule::VerificationNotReset,
    );
    // The station's edit resets it, the server takes that, and the next pass checks again.
    nurse
        .edit_person(
            checked.id,
            PersonEdit {
                full_name: Some(format!("{} Anh", checked.full_name)),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    nurse.sync().await.expect("synced");
    assert_eq!(
        lab.on_server(checked.id).await.verification.status,
        VerificationStatus::Unverified
    );
    lab.registry_knows(std::slice::from_ref(&checked)).await;
    assert!(matches!(
        lab.on_server(checked.id).await.verification.status,
        VerificationStatus::Mismatched(_)
    ));

    // 2f: a device writes "invalid_id" (which would switch off the ID checks) itself.
    let invalid = forge(&held(&nurse, own.id).await, &edit, |p| {
        p.verification = Verification {
            status: VerificationStatus::InvalidId,
            checked_at: Some(now()),
        }
    });
    refused(
        push(&nurse, own.id, invalid).await,
        Rule::VerificationReserved,
    );

    // 2e: new doses for another facility, in another vaccinator's name, given tomorrow.
    let dose_meta = meta("nv.lan", CommitAction::Dose);
    let new_dose = |f: fn(&mut sync_protocol::Dose)| {
        move |p: &mut Person| {
            let mut d = p.doses.values().next().expect("a dose").clone();
            d.id = Uuid::now_v7();
            d.dose_number = 2;
            d.given_at = now() - Duration::minutes(5);
            f(&mut d);
            p.doses.insert(d.id, d);
        }
    };
    for (f, rule) in [
        (
            (|d: &mut sync_protocol::Dose| d.facility = "TYT-TANTUC".into())
                as fn(&mut sync_protocol::Dose),
            Rule::NewDoseNotOwn,
        ),
        (|d| d.vaccinator = "nv.mai".into(), Rule::NewDoseNotOwn),
        (
            |d| d.given_at = now() + Duration::days(1),
            Rule::GivenInFuture,
        ),
    ] {
        let forged = forge(&held(&nurse, own.id).await, &dose_meta, new_dose(f));
        refused(push(&nurse, own.id, forged).await, rule);
    }
    // 2d: an unsigned dose deleted; a voided dose restored.
    let dose_id = *own.doses.keys().next().expect("dose");
    let deleted = forge_raw(&held(&nurse, own.id).await, &edit, |tx| {
        let doses = match tx.get(ROOT, "doses").expect("doses") {
            Some((automerge::Value::Object(_), id)) => id,
            _ => panic!("no doses map"),
        };
        tx.delete(&doses, dose_id.to_string()).expect("delete");
    });
    refused(push(&nurse, own.id, deleted).await, Rule::DoseDeleted);
    // 2d: a void written under a colleague's name, or dated in the future (to pass for a
    // correction made later), in the nurse's own session.
    let void_meta = meta("nv.lan", CommitAction::Void);
    for (by, at) in [
        ("nv.mai", now() - Duration::minutes(5)),
        ("nv.lan", now() + Duration::days(2)),
    ] {
        let forged = forge(&held(&nurse, own.id).await, &void_meta, |p| {
            if let Some(d) = p.doses.get_mut(&dose_id) {
                d.voided = Some(sync_protocol::person::Voided {
                    by: by.into(),
                    at,
                    reason: "Nhập nhầm người".into(),
                });
            }
        });
        let m = refused(push(&nurse, own.id, forged).await, Rule::VoidAsOther);
        assert!(m.contains("người khác") || m.contains("tương lai"), "{m}");
    }
    nurse
        .void_dose(dose_id, "Nhập nhầm người")
        .await
        .expect("voided");
    nurse.sync().await.expect("synced");
    let restored = forge(&held(&nurse, own.id).await, &edit, |p| {
        if let Some(d) = p.doses.get_mut(&dose_id) {
            d.voided = None;
        }
    });
    refused(push(&nurse, own.id, restored).await, Rule::DoseUnvoided);
    // The honest flow: a dose recorded at the station.
    nurse
        .record_dose(
            own.id,
            DoseInput {
                vaccine: "pfizer".into(),
                lot: "FF2588".into(),
                ..DoseInput::default()
            },
        )
        .await
        .expect("recorded");
    assert_eq!(nurse.sync().await.expect("synced").pushed, 1);

    // The managing facility changes only by a transfer, made by the facility that manages.
    let moved = forge(&held(&nurse, own.id).await, &edit, |p| {
        p.managing_facility = "TYT-TANTUC".into()
    });
    refused(push(&nurse, own.id, moved).await, Rule::Transfer);
    let grabbed = forge(
        &held(&nurse, other.id).await,
        &meta("nv.lan", CommitAction::Transfer),
        |p| p.managing_facility = "TYT-TANNHUT".into(),
    );
    refused(push(&nurse, other.id, grabbed).await, Rule::Transfer);
    nurse
        .transfer_person(own.id, "TYT-TANTUC")
        .await
        .expect("handed over");
    assert_eq!(nurse.sync().await.expect("synced").quarantined, 0);
    assert_eq!(lab.on_server(own.id).await.managing_facility, "TYT-TANTUC");
    // From now on Tân Nhựt needs a code to rename them, as for any other facility's person.
    let err = nurse
        .edit_person(
            own.id,
            PersonEdit {
                full_name: Some("Lê Văn Tám".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect_err("another facility's person now");
    assert_eq!(err.code(), "step_up_required");
    lab.server.stop().await;
}
both_backends!(record_rules_are_enforced_by_the_server);

/// 2c and 5: what a signing run signed stays as it was signed — from the moment the server
/// accepts the run, before the signer's station marks the doses.
async fn signed_records_stay_as_they_were_signed(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let pki = tempfile::tempdir().expect("dir");
    let ca = ca_config(pki.path(), "SoTiemTestCA", "6C0001");
    let cert = issue_cert(
        pki.path(),
        &ca,
        "truong-tram",
        "rsa",
        "/C=VN/O=Trạm Y tế xã Tân Nhựt/CN=Trạm Y tế xã Tân Nhựt",
        ("20250101000000Z", "20351231000000Z"),
    );
    let signer_key = FileSigner::new(&cert);
    lab.server
        .trust
        .add(&std::fs::read(pki.path().join("SoTiemTestCA/ca.pem")).expect("ca"))
        .expect("trusted");
    let mut g = Generator::new(1103);
    let at = now() - Duration::hours(3);
    let people = vaccinated_at(&mut g, 2, 1, at);
    nurse.import_people(&people).await.expect("registered");
    nurse.sync().await.expect("synced");
    lab.registry_knows(&people).await;
    nurse.sync().await.expect("verified");
    let head = lab
        .device_as("ky", "TYT-TANNHUT", "bs.hung", Role::Signer)
        .await;
    lab.register_certificates(
        "bs.hung",
        &[station::ManifestSigner::certificate(&signer_key)],
    )
    .await;
    lab.sign_in(&head, &head.client, "bs.hung").await;
    head.sync().await.expect("the signer's station bootstraps");
    let day = sync_protocol::BirthDate::Full(at.date()).display_vn();
    let selection = SigningSelection {
        from: day.clone(),
        to: day,
        ..SigningSelection::default()
    };
    let run = head
        .sign_selection(&selection, 2, &signer_key)
        .await
        .expect("signed");
    let (manifest, cms) = head.signing_batch_files(run.batch_id).await.expect("files");
    head.client.set_session(
        head.session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let upload = SigningBatchUpload {
        batch_id: run.batch_id,
        manifest: manifest.clone(),
        cms: cms.clone(),
    };
    let outcome: SigningBatchOutcome = head
        .client
        .call("sync/signing-batch", &upload)
        .await
        .expect("answered");
    assert!(
        matches!(outcome, SigningBatchOutcome::Accepted { doses: 2 }),
        "{outcome:?}"
    );

    // 5: the run is accepted but no station has marked the dose yet: its lot is frozen already.
    let p = &people[0];
    let dose_id = *p.doses.keys().next().expect("dose");
    let doc = nurse.load_doc(p.id).await.expect("doc");
    assert!(
        doc.read().expect("person").doses[&dose_id]
            .signature
            .is_none()
    );
    let edit = meta("nv.lan", CommitAction::Edit);
    let relot = forge(&doc, &edit, |p| {
        if let Some(d) = p.doses.get_mut(&dose_id) {
            d.lot = "FK9999".into();
        }
    });
    refused(push(&nurse, p.id, relot).await, Rule::SignedDoseFrozen);
    // 2c: the identity the record hash covers moves under the signed dose (even with the
    // verification honestly reset).
    let moved = forge(&doc, &edit, |p| {
        if let BirthDate::Full(d) = p.birth_date {
            p.birth_date = BirthDate::Full(d.replace_day(1).expect("day"));
        }
        p.verification = Verification {
            status: VerificationStatus::Unverified,
            checked_at: None,
        };
    });
    refused(push(&nurse, p.id, moved).await, Rule::IdentityFrozen);
    // A forged mark naming a run the server never accepted.
    let marked = forge(&doc, &meta("bs.hung", CommitAction::Sign), |p| {
        if let Some(d) = p.doses.get_mut(&dose_id) {
            d.signature = Some(sync_protocol::DoseSignature {
                batch_id: Uuid::now_v7(),
                signer: "bs.hung".into(),
                signed_at: now(),
            });
        }
    });
    refused(push(&head, p.id, marked).await, Rule::SignatureNotBacked);

    // 6: the run's id answers as before for the same run, and refuses another run under it.
    let again: SigningBatchOutcome = head
        .client
        .call("sync/signing-batch", &upload)
        .await
        .expect("answered");
    assert!(matches!(again, SigningBatchOutcome::Accepted { .. }));
    let mut shorter = sync_protocol::manifest::Manifest::from_bytes(&manifest).expect("manifest");
    shorter.entries.pop();
    let other_manifest = shorter.to_bytes();
    let reused: SigningBatchOutcome = head
        .client
        .call(
            "sync/signing-batch",
            &SigningBatchUpload {
                manifest: other_manifest,
                ..upload.clone()
            },
        )
        .await
        .expect("answered");
    assert!(
        matches!(&reused, SigningBatchOutcome::Refused { code, .. } if code == "batch_reused"),
        "{reused:?}"
    );

    // The honest flow: the signer's sync marks the doses; the correction path (void, then edit)
    // stays open.
    let report = head.sync().await.expect("synced");
    assert_eq!((report.batches_accepted, report.quarantined), (1, 0));
    assert!(
        lab.on_server(p.id).await.doses[&dose_id]
            .signature
            .is_some()
    );
    nurse.sync().await.expect("pulled");
    // Voiding a signed dose undoes a signed record (and revokes its passport): a forged void
    // without the server's grant for a fresh code is refused; the station asks for the code.
    let signed_doc = held(&nurse, p.id).await;
    let void = |p: &mut Person| {
        if let Some(d) = p.doses.get_mut(&dose_id) {
            d.voided = Some(sync_protocol::person::Voided {
                by: "nv.lan".into(),
                at: now(),
                reason: "Sai ngày sinh, ký lại sau khi sửa".into(),
            });
        }
    };
    let forged_void = forge(&signed_doc, &meta("nv.lan", CommitAction::Void), void);
    let why = refused(
        push(&nurse, p.id, forged_void).await,
        Rule::SignedVoidNeedsCode,
    );
    assert!(why.contains("mã xác thực"), "{why}");
    let asked = nurse
        .void_dose(dose_id, "Sai ngày sinh, ký lại sau khi sửa")
        .await
        .expect_err("a signed dose needs a code");
    assert_eq!(asked.code(), "step_up_required", "{asked}");
    let mut otp = lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    let code = otp.code().await;
    lab.codes_used("nv.lan", &otp);
    nurse
        .void_dose_with(
            dose_id,
            "Sai ngày sinh, ký lại sau khi sửa",
            Some(StepUp {
                otp: &code,
                server: Some(&nurse.client),
            }),
        )
        .await
        .expect("voided with a fresh code");
    let born = match p.birth_date {
        BirthDate::Full(d) => d.replace_day(1).expect("day"),
        BirthDate::Year(_) => unreachable!("full dates in the fixtures"),
    };
    nurse
        .edit_person(
            p.id,
            PersonEdit {
                birth_date: Some(born.to_string()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("the identity changes once the signed dose is voided");
    assert_eq!(nurse.sync().await.expect("synced").quarantined, 0);
    lab.server.stop().await;
}
both_backends!(signed_records_stay_as_they_were_signed);

/// 3: a change built on an empty document, whose many writes would win the conflict over the
/// managing facility and move the person into the attacker's scope.
async fn a_take_over_by_conflict_is_refused(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let attacker = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(1104);
    // Managed by Tân Nhựt, living in Tân Túc: both stations hold the record.
    let mut p = resident(&mut g, "nv.lan");
    p.address.commune = Some(TAN_TUC.into());
    nurse
        .import_people(std::slice::from_ref(&p))
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    attacker
        .sync()
        .await
        .expect("the attacker's station has it");
    let doc = attacker.load_doc(p.id).await.expect("doc");

    // An Automerge document of its own, writing the managing facility 300 times: its last
    // write's counter is far above the real one's.
    let mut fresh = Automerge::new().with_actor(ActorId::random());
    let mut tx = fresh.transaction();
    for i in 0..300 {
        tx.put(ROOT, "managing_facility", format!("TYT-{i}"))
            .expect("put");
    }
    tx.put(ROOT, "managing_facility", "TYT-TANTUC")
        .expect("put");
    tx.commit_with(
        CommitOptions::default()
            .with_message(serde_json::to_string(&meta("nv.tuc", CommitAction::Edit)).expect("meta"))
            .with_time(now().unix_timestamp()),
    );
    let forged = fresh.get_changes(&[]);
    assert!(forged[0].deps().is_empty());
    // Proof that the attack is real: merged into the record, it wins the conflict.
    let mut merged = doc.clone();
    merged.apply_changes(forged.clone()).expect("merges");
    assert_eq!(
        merged.read().expect("person").managing_facility,
        "TYT-TANTUC",
        "the forged value would win"
    );
    attacker.client.set_session(
        attacker
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let response: PushResponse = attacker
        .client
        .call(
            "sync/push",
            &PushRequest {
                changes: forged
                    .iter()
                    .map(|c| PushedChange {
                        person_id: p.id,
                        bytes: c.raw_bytes().to_vec(),
                    })
                    .collect(),
            },
        )
        .await
        .expect("answered");
    let mut results = response.results.into_iter();
    refused(results.next().expect("first"), Rule::Detached);
    assert!(results.all(|r| matches!(
        r,
        PushResult::Rejected {
            reason: RejectReason::DependsOnRejected,
            ..
        }
    )));
    // Built on the real history, the same write is a transfer the attacker may not make.
    let on_history = forge(&doc, &meta("nv.tuc", CommitAction::Transfer), |p| {
        p.managing_facility = "TYT-TANTUC".into()
    });
    refused(push(&attacker, p.id, on_history).await, Rule::Transfer);
    assert_eq!(lab.on_server(p.id).await.managing_facility, "TYT-TANNHUT");
    // The honest flow: Tân Túc edits the resident's phone (no code needed for a phone).
    attacker
        .edit_person(
            p.id,
            PersonEdit {
                phone: Some("0987654321".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    assert_eq!(attacker.sync().await.expect("synced").pushed, 1);
    lab.server.stop().await;
}
both_backends!(a_take_over_by_conflict_is_refused);

/// 4: unknown keys, oversized documents, counters near the integer limits and a stored document
/// that does not load — refused or deferred, never accepted and never a crash.
async fn hostile_documents_fail_closed(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(1105);
    let p = resident(&mut g, "nv.lan");
    let q = resident(&mut g, "nv.lan");
    nurse
        .import_people(&[p.clone(), q.clone()])
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    let edit = meta("nv.lan", CommitAction::Edit);

    // A key no person document has.
    let padded = forge_raw(&nurse.load_doc(p.id).await.expect("doc"), &edit, |tx| {
        tx.put(ROOT, "ghi_chu", "x".repeat(60_000)).expect("put");
    });
    let m = refused(push(&nurse, p.id, padded).await, Rule::UnknownField);
    assert!(m.contains("ghi_chu"), "{m}");

    // Growing a record with valid doses until it would pass the size cap: the last pushes are
    // refused, the stored record stays within it and still reaches other stations.
    let mut doc = nurse.load_doc(p.id).await.expect("doc");
    let notes = "Sốt nhẹ 38,5 độ, sưng đau tại chỗ tiêm; theo dõi 30 phút, ổn định. ".repeat(7);
    let notes: String = notes.chars().take(500).collect();
    let mut refusal = None;
    let mut accepted_doses = 0;
    'grow: for _ in 0..40 {
        let mut changes = Vec::new();
        for _ in 0..40 {
            let heads = doc.heads();
            let mut person = doc.read().expect("person");
            let mut d = person.doses.values().next().expect("dose").clone();
            d.id = Uuid::now_v7();
            d.given_at = now() - Duration::hours(1);
            d.place = Some("Điểm tiêm lưu động ấp 3, xã Tân Nhựt ".repeat(5));
            d.reaction_notes = Some(notes.clone());
            d.voided = None;
            person.doses.insert(d.id, d);
            doc.update(&person, &meta("nv.lan", CommitAction::Dose))
                .expect("dose");
            changes.push(PushedChange {
                person_id: p.id,
                bytes: doc
                    .changes_since(&heads)
                    .pop()
                    .expect("change")
                    .raw_bytes()
                    .to_vec(),
            });
        }
        let response: PushResponse = nurse
            .client
            .call("sync/push", &PushRequest { changes })
            .await
            .expect("answered");
        for r in response.results {
            match r {
                PushResult::Accepted { .. } => accepted_doses += 1,
                PushResult::Rejected {
                    reason: RejectReason::Rule(Rule::DocumentTooLarge),
                    message,
                } => {
                    refusal = Some(message);
                    break 'grow;
                }
                PushResult::Rejected {
                    reason: RejectReason::DependsOnRejected,
                    ..
                } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    let message = refusal.expect("the size cap is reached");
    assert!(accepted_doses > 100, "{accepted_doses} doses first");
    assert!(message.contains("byte"), "{message}");
    let stored: Vec<u8> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
            .bind(p.id.to_string())
            .fetch_one(pool)
            .await
            .expect("stored")
    });
    assert!(
        PersonDoc::uncompressed(&stored).expect("readable").len()
            <= sync_protocol::rules::MAX_DOCUMENT_BYTES
    );
    let other = lab.device("b", "TYT-TANNHUT", "nv.hoa").await;
    assert_eq!(other.sync().await.expect("bootstrap").bootstrapped, 2);
    assert!(other.show(p.id).await.expect("received").person.doses.len() > 100);

    // Counters near u32::MAX: refused before Automerge meets them; the server serves on.
    let honest = forge(&nurse.load_doc(q.id).await.expect("doc"), &edit, |p| {
        p.phone = Some("0911222333".into())
    });
    let mut expanded: automerge::ExpandedChange =
        (&automerge::Change::from_bytes(honest).expect("change")).into();
    expanded.start_op = std::num::NonZeroU64::new(u64::from(u32::MAX) - 3).expect("nonzero");
    let extreme = automerge::Change::from(expanded).raw_bytes().to_vec();
    refused(push(&nurse, q.id, extreme).await, Rule::Counter);

    // A stored document that does not load is never replaced by an empty one: the change waits
    // on the station (deferred), and goes up once the document is repaired.
    let good: Vec<u8> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
            .bind(q.id.to_string())
            .fetch_one(pool)
            .await
            .expect("stored")
    });
    let set_stored = |bytes: Vec<u8>| {
        let db = lab.server.db.clone();
        let id = q.id.to_string();
        async move {
            sotiem_server::with_db!(&db, pool => {
                sqlx::query("UPDATE documents SET doc = $1 WHERE person_id = $2")
                    .bind(bytes)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|_| ())
                    .expect("updated")
            });
        }
    };
    set_stored(b"\x28\xb5\x2f\xfd damaged on disk".to_vec()).await;
    nurse
        .edit_person(
            q.id,
            PersonEdit {
                phone: Some("0911222333".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    let report = nurse.sync().await.expect("synced");
    assert_eq!(
        (report.pushed, report.deferred, report.quarantined),
        (0, 1, 0)
    );
    assert_eq!(nurse.pending_changes().await.expect("pending"), 1);
    set_stored(good).await;
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.pushed, report.deferred), (1, 0));
    assert_eq!(
        lab.on_server(q.id).await.phone.as_deref(),
        Some("0911222333")
    );
    lab.server.stop().await;
}
both_backends!(hostile_documents_fail_closed);

/// 6: an account whose role the server does not know is refused, never taken as a vaccinator.
async fn an_unknown_role_is_refused_not_defaulted(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query("UPDATE accounts SET role = 'superuser' WHERE username = 'nv.lan'")
            .execute(pool)
            .await
            .map(|_| ())
            .expect("updated")
    });
    let mut g = Generator::new(1106);
    let p = resident(&mut g, "nv.lan");
    nurse.import_people(&[p]).await.expect("registered offline");
    let err = nurse
        .sync()
        .await
        .expect_err("the session's account is unreadable");
    assert_eq!(err.code(), "unknown_role", "{err}");
    assert_eq!(lab.server.count("changes").await, 0);
    lab.server.stop().await;
}
both_backends!(an_unknown_role_is_refused_not_defaulted);

/// The change adding `dose` to a copy of `doc`, by a fresh actor (a second device's view of the
/// same history when two are forged from one `doc`).
fn with_dose(doc: &PersonDoc, user: &str, dose: sync_protocol::Dose) -> Vec<u8> {
    forge(doc, &meta(user, CommitAction::Dose), move |p| {
        p.doses.insert(dose.id, dose);
    })
}

/// A dose `user` records now at TYT-TANNHUT, with a chosen id.
fn dose_with_id(id: Uuid, user: &str, lot: &str) -> sync_protocol::Dose {
    sync_protocol::Dose {
        id,
        vaccine: "comirnaty".into(),
        lot: lot.into(),
        dose_number: 2,
        kind: sync_protocol::DoseKind::Primary,
        given_at: now() - Duration::minutes(20),
        facility: "TYT-TANNHUT".into(),
        vaccinator: user.into(),
        place: None,
        reaction_notes: None,
        voided: None,
        history: None,
        signature: None,
    }
}

/// The server's row of a dose: (person, lot, voided).
async fn dose_row(lab: &Lab, dose: Uuid) -> (String, String, bool) {
    sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_as("SELECT person_id, lot, voided FROM doses WHERE id = $1")
            .bind(dose.to_string())
            .fetch_one(pool)
            .await
            .expect("dose row")
    })
}

/// Pushes several changes in one request with `device`'s session.
async fn push_all(device: &Device, changes: Vec<(Uuid, Vec<u8>)>) -> Vec<PushResult> {
    if changes.is_empty() {
        return Vec::new();
    }
    device.client.set_session(
        device
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let response: PushResponse = device
        .client
        .call(
            "sync/push",
            &PushRequest {
                changes: changes
                    .into_iter()
                    .map(|(person_id, bytes)| PushedChange { person_id, bytes })
                    .collect(),
            },
        )
        .await
        .expect("the server answers");
    response.results
}

/// 7 (second pass, 1): a dose id is unique across the whole store. A vaccinator who can see
/// another person's dose records a dose with its id on one of her own people: refused, and the
/// other person's dose row (found by id by signing runs, passports and the console) is untouched
/// — by the quick path for new doses, by the full path, and for two people in one push.
async fn a_dose_id_belongs_to_one_person(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(2601);
    let people = vaccinated_at(&mut g, 3, 1, now() - Duration::hours(2));
    nurse.import_people(&people).await.expect("registered");
    nurse.sync().await.expect("synced");
    let (p, q, r) = (&people[0], &people[1], &people[2]);
    let taken = *p.doses.keys().next().expect("a dose");
    let before = dose_row(&lab, taken).await;
    assert_eq!(before.0, p.id.to_string());

    // The quick path: a change that only adds "her" dose, with the other person's dose id.
    let q_doc = held(&nurse, q.id).await;
    let stolen = with_dose(&q_doc, "nv.lan", dose_with_id(taken, "nv.lan", "FK0001"));
    let m = refused(push(&nurse, q.id, stolen).await, Rule::DoseIdTaken);
    assert!(m.contains("người khác"), "{m}");
    // The full path: the same dose beside an edit of the phone.
    let mixed = forge(&q_doc, &meta("nv.lan", CommitAction::Edit), |person| {
        person.phone = Some("0903111222".into());
        let d = dose_with_id(taken, "nv.lan", "FK0002");
        person.doses.insert(d.id, d);
    });
    refused(push(&nurse, q.id, mixed).await, Rule::DoseIdTaken);
    assert_eq!(
        dose_row(&lab, taken).await,
        before,
        "the other person's dose row moved"
    );
    assert!(!lab.on_server(q.id).await.doses.contains_key(&taken));

    // Two people given one new id in one push: the first holds it, the second is refused, and
    // the push is answered (no failed group).
    let fresh = Uuid::now_v7();
    let r_doc = held(&nurse, r.id).await;
    let results = push_all(
        &nurse,
        vec![
            (
                q.id,
                with_dose(&q_doc, "nv.lan", dose_with_id(fresh, "nv.lan", "FK0003")),
            ),
            (
                r.id,
                with_dose(&r_doc, "nv.lan", dose_with_id(fresh, "nv.lan", "FK0004")),
            ),
        ],
    )
    .await;
    assert!(
        matches!(results[0], PushResult::Accepted { .. }),
        "{results:?}"
    );
    refused(results[1].clone(), Rule::DoseIdTaken);
    assert_eq!(dose_row(&lab, fresh).await.0, q.id.to_string());

    // The honest flow beside it: the station records a dose on R and it syncs.
    let dose = nurse
        .record_dose(
            r.id,
            DoseInput {
                vaccine: "pfizer".into(),
                lot: "FK0005".into(),
                ..DoseInput::default()
            },
        )
        .await
        .expect("recorded");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.quarantined, report.deferred), (0, 0));
    assert!(lab.on_server(r.id).await.doses.contains_key(&dose.id));
    lab.server.stop().await;
}
both_backends!(a_dose_id_belongs_to_one_person);

/// 7 (second pass, 2): two changes made without seeing each other that both create the same new
/// dose of one person — in one push, or from two devices at once — leave no structural conflict
/// in the stored record: the first is taken, the other refused; the person stays editable, and
/// no push fails (on PostgreSQL the twin rows once failed the whole group).
async fn a_dose_created_twice_is_refused_once(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mai = lab.device("b", "TYT-TANNHUT", "nv.mai").await;
    let mut g = Generator::new(2602);
    let people = vaccinated_at(&mut g, 2, 1, now() - Duration::hours(2));
    nurse.import_people(&people).await.expect("registered");
    nurse.sync().await.expect("synced");
    mai.sync().await.expect("bootstrapped");
    let p = &people[0];
    let doc = held(&nurse, p.id).await;

    // One push, two actors, same parents, same new dose id.
    let twin = Uuid::now_v7();
    let results = push_all(
        &nurse,
        vec![
            (
                p.id,
                with_dose(&doc, "nv.lan", dose_with_id(twin, "nv.lan", "TW0001")),
            ),
            (
                p.id,
                with_dose(&doc, "nv.lan", dose_with_id(twin, "nv.lan", "TW0002")),
            ),
        ],
    )
    .await;
    assert!(
        matches!(results[0], PushResult::Accepted { .. }),
        "{results:?}"
    );
    let m = refused(results[1].clone(), Rule::StructuralConflict);
    assert!(m.contains(&twin.to_string()), "{m}");

    // Two devices at once, each with its own twin of a second new dose.
    let second = Uuid::now_v7();
    let doc = PersonDoc::load(&sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT doc FROM documents WHERE person_id = $1")
            .bind(p.id.to_string())
            .fetch_one(pool)
            .await
            .expect("stored")
    }))
    .expect("loads");
    let (a, b) = tokio::join!(
        push(
            &nurse,
            p.id,
            with_dose(&doc, "nv.lan", dose_with_id(second, "nv.lan", "TW0003"))
        ),
        push(
            &mai,
            p.id,
            with_dose(&doc, "nv.mai", {
                let mut d = dose_with_id(second, "nv.mai", "TW0004");
                d.vaccinator = "nv.mai".into();
                d
            })
        ),
    );
    let accepted = [&a, &b]
        .iter()
        .filter(|r| matches!(r, PushResult::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1, "{a:?} {b:?}");
    for r in [a, b] {
        if !matches!(r, PushResult::Accepted { .. }) {
            refused(r, Rule::StructuralConflict);
        }
    }

    // The stored record has no structural conflict, and an honest edit still goes through.
    let stored: Vec<u8> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
            .bind(p.id.to_string())
            .fetch_one(pool)
            .await
            .expect("stored")
    });
    let stored = PersonDoc::load(&stored).expect("loads");
    assert_eq!(
        stored.structural_conflicts().expect("reads"),
        Vec::<String>::new()
    );
    assert_eq!(stored.read().expect("person").doses.len(), 3);
    nurse.sync().await.expect("synced");
    nurse
        .edit_person(
            p.id,
            PersonEdit {
                phone: Some("0988777666".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.quarantined, report.deferred), (0, 0), "{report:?}");
    assert_eq!(
        lab.on_server(p.id).await.phone.as_deref(),
        Some("0988777666")
    );
    lab.server.stop().await;
}
both_backends!(a_dose_created_twice_is_refused_once);

/// 7 (second pass, 2): a push that cannot be stored fails only its own device. A trigger makes
/// every write of one person fail (what a push the checks let through but the database refuses
/// would do); pushes of other people sent at the same moment — in the same group — are stored.
async fn a_push_the_store_refuses_fails_only_its_own_device(backend: Backend) {
    let lab = Lab::start(backend).await;
    let mut devices = Vec::new();
    for i in 0..6 {
        let user = format!("nv.tram{i}");
        devices.push(lab.device(&format!("d{i}"), "TYT-TANNHUT", &user).await);
    }
    let mut g = Generator::new(2603);
    let mut people = Vec::new();
    for d in &devices {
        let p = vaccinated_by(&mut g, &d.user, 1, 1, now() - Duration::hours(1));
        d.import_people(&p).await.expect("registered");
        people.push(p[0].clone());
    }
    let poisoned = people[0].id.to_string();
    sotiem_server::with_db!(&lab.server.db, pool => {
        match backend {
            Backend::Sqlite => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TRIGGER poisoned BEFORE INSERT ON changes WHEN NEW.person_id = '{poisoned}'
                     BEGIN SELECT RAISE(ABORT, 'the disk refuses this person'); END"
                )))
                .execute(pool)
                .await
                .map(|_| ())
                .expect("trigger");
            }
            Backend::Postgres => {
                for sql in [
                    format!(
                        "CREATE FUNCTION poisoned() RETURNS trigger AS $$ BEGIN
                         IF NEW.person_id = '{poisoned}' THEN RAISE EXCEPTION 'the disk refuses this person'; END IF;
                         RETURN NEW; END $$ LANGUAGE plpgsql"
                    ),
                    "CREATE TRIGGER poisoned BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION poisoned()".to_string(),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(pool)
                        .await
                        .map(|_| ())
                        .expect("trigger");
                }
            }
        }
    });
    let reports = futures_util::future::join_all(devices.iter().map(|d| d.sync())).await;
    let (poisoned_report, others) = reports.split_first().expect("reports");
    assert!(poisoned_report.is_err(), "{poisoned_report:?}");
    for (r, p) in others.iter().zip(&people[1..]) {
        let r = r.as_ref().expect("another device's push is stored");
        assert_eq!((r.pushed, r.quarantined), (1, 0), "{r:?}");
        assert_eq!(lab.on_server(p.id).await.full_name, p.full_name);
    }
    assert_eq!(devices[0].pending_changes().await.expect("pending"), 1);
    lab.server.stop().await;
}
both_backends!(a_push_the_store_refuses_fails_only_its_own_device);

/// 7 (second pass, 6): a "merge" copies doses only from a record merged into this one, whose
/// doses the same merge voided. A vaccinator at Tân Nhựt sees V, a resident vaccinated at Tân
/// Túc; she "merges" V's dose into one of her own people without merging V (or by marking V
/// merged while its dose stands, or by copying it twice): each is refused, V's dose is not
/// re-recorded in another vaccinator's name — while the station's own merge still syncs.
async fn a_merge_moves_doses_only_from_the_merged_record(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("t", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(2604);
    // V lives in Tân Nhựt and was vaccinated at Tân Túc: both stations replicate V.
    let v = g.person("TYT-TANTUC", "nv.tuc", 1);
    tuc.import_people(std::slice::from_ref(&v))
        .await
        .expect("registered at Tân Túc");
    tuc.sync().await.expect("synced");
    let t = resident(&mut g, "nv.lan");
    nurse
        .import_people(std::slice::from_ref(&t))
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    let v_dose = v.doses.values().next().expect("a dose").clone();
    let copy_of = |d: &sync_protocol::Dose| sync_protocol::Dose {
        id: Uuid::now_v7(),
        ..d.clone()
    };
    let merge = meta("nv.lan", CommitAction::Merge).merging_from(v.id);
    let t_doc = held(&nurse, t.id).await;
    let v_doc = held(&nurse, v.id).await;

    // V merged into nobody: its dose is V's own.
    let copied = forge(&t_doc, &merge, |p| {
        let d = copy_of(&v_dose);
        p.doses.insert(d.id, d);
    });
    let m = refused(push(&nurse, t.id, copied).await, Rule::NewDoseNotOwn);
    assert!(m.contains("TYT-TANTUC"), "{m}");
    // V marked merged into T while its dose stands, with the copy, in one push: both refused.
    let marked = forge(&v_doc, &merge, |p| p.merged_into = Some(t.id));
    let copied = forge(&t_doc, &merge, |p| {
        let d = copy_of(&v_dose);
        p.doses.insert(d.id, d);
    });
    let results = push_all(&nurse, vec![(v.id, marked), (t.id, copied)]).await;
    refused(results[0].clone(), Rule::Merge);
    refused(results[1].clone(), Rule::NewDoseNotOwn);
    // V honestly merged (its dose voided) and the dose copied twice: refused.
    let merged = forge(&v_doc, &merge, |p| {
        for d in p.doses.values_mut() {
            d.voided = Some(sync_protocol::Voided {
                by: "nv.lan".into(),
                at: now(),
                reason: format!("Gộp hồ sơ: chuyển sang hồ sơ {}", t.id),
            });
        }
        p.merged_into = Some(t.id);
    });
    let twice = forge(&t_doc, &merge, |p| {
        for _ in 0..2 {
            let d = copy_of(&v_dose);
            p.doses.insert(d.id, d);
        }
    });
    let results = push_all(&nurse, vec![(v.id, merged), (t.id, twice)]).await;
    assert!(
        matches!(results[0], PushResult::Accepted { .. }),
        "{results:?}"
    );
    refused(results[1].clone(), Rule::NewDoseNotOwn);
    assert!(
        lab.on_server(t.id)
            .await
            .doses
            .values()
            .all(|d| d.vaccinator == "nv.lan")
    );

    // The honest merge of the station, in one sync: V's standing doses move to the kept record.
    let w = g.person("TYT-TANTUC", "nv.tuc", 2);
    tuc.import_people(std::slice::from_ref(&w))
        .await
        .expect("registered at Tân Túc");
    tuc.sync().await.expect("synced");
    nurse.sync().await.expect("synced");
    nurse.merge_people(t.id, w.id).await.expect("merged");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.quarantined, report.deferred), (0, 0), "{report:?}");
    assert_eq!(lab.on_server(w.id).await.merged_into, Some(t.id));
    let kept = lab.on_server(t.id).await;
    assert_eq!(
        kept.doses
            .values()
            .filter(|d| d.vaccinator == "nv.tuc")
            .count(),
        2
    );
    lab.server.stop().await;
}
both_backends!(a_merge_moves_doses_only_from_the_merged_record);

/// A change one device forges in [`concurrent_pushes_commit_or_refuse_per_person`].
#[derive(Debug, Clone)]
enum Forged {
    /// A new dose on person `person` (of the pool) with dose id `id` of a small pool shared by
    /// every device: twins within a push, ids of other people's doses across pushes.
    Dose { person: usize, id: usize },
    /// A phone edit.
    Phone { person: usize, digits: u8 },
}

fn forged() -> impl proptest::strategy::Strategy<Value = Forged> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0usize..4, 0usize..6).prop_map(|(person, id)| Forged::Dose { person, id }),
        1 => (0usize..4, 0u8..100).prop_map(|(person, digits)| Forged::Phone { person, digits }),
    ]
}

/// The server's stored document of a person.
async fn stored_doc(lab: &Lab, id: Uuid) -> PersonDoc {
    let bytes: Vec<u8> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
            .bind(id.to_string())
            .fetch_one(pool)
            .await
            .expect("stored")
    });
    PersonDoc::load(&bytes).expect("loads")
}

/// 7 (second pass, property): random concurrent pushes of several devices — the same new dose
/// twice, dose ids of other people, edits — through the real HTTP API and ingest: every push is
/// answered change by change (no device's push fails another's), what is stored has no
/// structural conflict, and each dose row belongs to the one person whose record holds it.
async fn concurrent_pushes_commit_or_refuse_per_person(backend: Backend) {
    use proptest::test_runner::{Config, TestRunner};
    let lab = Lab::start(backend).await;
    let mut devices = Vec::new();
    for i in 0..3 {
        let user = format!("nv.dot{i}");
        devices.push(lab.device(&format!("p{i}"), "TYT-TANNHUT", &user).await);
    }
    let mut g = Generator::new(2605);
    let people = vaccinated_by(&mut g, &devices[0].user, 4, 1, now() - Duration::hours(3));
    devices[0].import_people(&people).await.expect("registered");
    devices[0].sync().await.expect("synced");
    let dose_pool: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: if std::env::var_os("CI").is_some() {
            12
        } else {
            24
        },
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(proptest::collection::vec(forged(), 1..5), 3);
    let result = runner.run(&strategy, |plans| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut docs = Vec::new();
                for p in &people {
                    docs.push(stored_doc(&lab, p.id).await);
                }
                let mut pushes = Vec::new();
                let mut counts = Vec::new();
                for (device, plan) in devices.iter().zip(&plans) {
                    // (An edit that changes nothing on the stored record forges no change.)
                    let changes: Vec<(Uuid, Vec<u8>)> = plan
                        .iter()
                        .filter_map(|f| match f {
                            Forged::Dose { person, id } => {
                                let d = dose_with_id(
                                    dose_pool[*id],
                                    &device.user,
                                    &format!("PR{id:04}"),
                                );
                                let m = meta(&device.user, CommitAction::Dose);
                                let bytes = try_forge(&docs[*person], &m, |p| {
                                    p.doses.insert(d.id, d.clone());
                                })?;
                                Some((people[*person].id, bytes))
                            }
                            Forged::Phone { person, digits } => {
                                let m = meta(&device.user, CommitAction::Edit);
                                let bytes = try_forge(&docs[*person], &m, |p| {
                                    p.phone = Some(format!("09031122{digits:02}"))
                                })?;
                                Some((people[*person].id, bytes))
                            }
                        })
                        .collect();
                    counts.push(changes.len());
                    pushes.push(push_all(device, changes));
                }
                // Every push answered, one result per change (a failed group would be an error).
                let answered = futures_util::future::join_all(pushes).await;
                for (results, count) in answered.iter().zip(&counts) {
                    proptest::prop_assert_eq!(results.len(), *count);
                }
                for p in &people {
                    let doc = stored_doc(&lab, p.id).await;
                    let (person, issues) = doc.read_checked().expect("reads");
                    proptest::prop_assert!(issues.conflicts.is_empty(), "{:?}", issues.conflicts);
                    for id in person.doses.keys() {
                        let (owner, _, _) = dose_row(&lab, *id).await;
                        proptest::prop_assert_eq!(owner, p.id.to_string());
                    }
                }
                Ok(())
            })
        })
    });
    result.expect("every push answered per person, nothing conflicting stored");
    let stored: i64 = lab.server.count("doses").await;
    assert!(stored > 4, "some forged doses were accepted: {stored}");
    lab.server.stop().await;
}
both_backends!(concurrent_pushes_commit_or_refuse_per_person);

/// Doses given elsewhere (issue 29): history a station learned is taken as it is typed — in the
/// clerk's own name, naming who gave it, with no facility of the system — and refused only where
/// it contradicts what the server holds; a forged history dose in another clerk's name, one
/// claimed for a facility, or one repeating a recorded dose's day is refused with its reason.
async fn doses_given_elsewhere_are_history_and_contradictions_are_refused(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(1129);
    let p = resident(&mut g, "nv.lan");
    let recorded = p.doses.values().next().expect("a dose").clone();
    nurse
        .import_people(std::slice::from_ref(&p))
        .await
        .expect("registered");
    nurse.sync().await.expect("synced");
    let doc = held(&nurse, p.id).await;
    let history = |d: &mut sync_protocol::Dose| {
        d.id = Uuid::now_v7();
        d.facility = String::new();
        d.vaccinator = "BS. Phạm Văn Dũng".into();
        d.place = Some("Phòng khám Đa khoa Medic, TP Hồ Chí Minh".into());
        d.dose_number = 2;
        d.given_at = now() - Duration::days(40);
        d.signature = None;
        d.history = Some(sync_protocol::DoseHistory {
            source: sync_protocol::HistorySource::Private,
            recorded_by: "nv.lan".into(),
        });
    };
    let add = |edit: &dyn Fn(&mut sync_protocol::Dose)| {
        let mut d = recorded.clone();
        history(&mut d);
        edit(&mut d);
        move |p: &mut Person| {
            p.doses.insert(d.id, d);
        }
    };
    let dose = meta("nv.lan", CommitAction::Dose);

    // Another clerk's name on the history: refused, as any dose not the writer's own.
    let other_clerk = forge(
        &doc,
        &dose,
        add(&|d| {
            if let Some(h) = d.history.as_mut() {
                h.recorded_by = "nv.mai".into();
            }
        }),
    );
    let m = refused(push(&nurse, p.id, other_clerk).await, Rule::NewDoseNotOwn);
    assert!(m.contains("nv.mai"), "{m}");
    // The same vaccine on the day the record already has a dose of it: a contradiction.
    let same_day = recorded.given_at;
    let repeat = forge(&doc, &dose, add(&move |d| d.given_at = same_day));
    let m = refused(push(&nurse, p.id, repeat).await, Rule::HistoryContradicts);
    assert!(m.contains("trùng"), "{m}");
    // History claimed for a facility of the system would count as that facility's dose.
    let claimed = forge(&doc, &dose, add(&|d| d.facility = "TYT-TANTUC".into()));
    match push(&nurse, p.id, claimed).await {
        PushResult::Rejected {
            reason: RejectReason::Invalid,
            message,
        } => assert!(message.contains("TYT-TANTUC"), "{message}"),
        other => panic!("expected an invalid value, got {other:?}"),
    }

    // The honest flow: the station records the card's dose; it syncs and stays history.
    let d = nurse
        .record_dose(
            p.id,
            DoseInput {
                vaccine: recorded.vaccine.clone(),
                lot: String::new(),
                given_at: Some(sync_protocol::person::format_time(
                    now() - Duration::days(40),
                )),
                place: Some("Phòng khám Đa khoa Medic, TP Hồ Chí Minh".into()),
                elsewhere: Some("dịch vụ".into()),
                vaccinator: Some("BS. Phạm Văn Dũng".into()),
                ..DoseInput::default()
            },
        )
        .await
        .expect("recorded as history");
    let report = nurse.sync().await.expect("synced");
    assert_eq!((report.pushed, report.quarantined), (1, 0));
    let on_server = lab.on_server(p.id).await;
    let stored = &on_server.doses[&d.id];
    assert_eq!(stored.facility, "", "never counted as the station's");
    assert_eq!(stored.vaccinator, "BS. Phạm Văn Dũng");
    assert_eq!(
        stored.history.as_ref().map(|h| h.recorded_by.as_str()),
        Some("nv.lan")
    );
    lab.server.stop().await;
}
both_backends!(doses_given_elsewhere_are_history_and_contradictions_are_refused);
