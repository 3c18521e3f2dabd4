//! Hostile Automerge input for property runs (docs/design.md §9): arbitrary bytes, honest changes
//! with a bit flipped, and well-formed changes with forged counters, dependencies, messages and
//! operations. [`Target`] feeds each to the server's ingest (as a signed-in nurse would push it)
//! and to a station's apply path, and checks that neither panics and that the server's copy of
//! the person stays sound.

use crate::server::Backend;
use crate::{Device, Lab};
use proptest::prelude::*;
use sotiem_server::ingest::{DeviceCtx, Pusher};
use sync_protocol::automerge::legacy::{Key, ObjectId, Op, OpId, OpType, SortedVec};
use sync_protocol::automerge::{self, ActorId, Change, ExpandedChange, ObjId, ROOT, ReadDoc};
use sync_protocol::person::now;
use sync_protocol::rules;
use sync_protocol::wire::{PushResult, PushedChange};
use sync_protocol::{CommitAction, CommitMeta, PersonDoc, validate};
use uuid::Uuid;

/// Where a forged operation writes.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    Root,
    Doses,
    Identity,
    FirstDose,
    /// An object id no document has.
    Nowhere,
}

/// A forged operation.
#[derive(Debug, Clone)]
pub struct ForgedOp {
    pub place: Place,
    pub key: String,
    pub action: u8,
    pub value: i64,
    pub text: String,
    pub with_pred: bool,
}

/// The message a forged change carries.
#[derive(Debug, Clone)]
pub enum Message {
    None,
    /// The pushing nurse's own meta with this action.
    Nurse(u8),
    Other(String),
    Garbage(String),
}

/// One hostile input.
#[derive(Debug, Clone)]
pub enum Hostile {
    Bytes(Vec<u8>),
    /// An honest change with one bit flipped.
    Flipped {
        index: usize,
        bit: u8,
    },
    Forged {
        start_op: u64,
        seq: u64,
        /// 0: none, 1: the real heads, 2: a hash nobody has.
        deps: u8,
        time: i64,
        message: Message,
        ops: Vec<ForgedOp>,
    },
}

const KEYS: [&str; 14] = [
    "full_name",
    "managing_facility",
    "id",
    "doses",
    "verification",
    "phone",
    "birth_date",
    "schema",
    "created_by",
    "status",
    "number",
    "lot",
    "signature",
    "ghi_chu",
];

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..200,
        Just(u64::from(u32::MAX) - 1),
        Just(u64::from(u32::MAX)),
        Just(u64::from(u32::MAX) + 1),
        Just(rules::MAX_OP_COUNTER),
        Just(u64::MAX / 2),
        Just(u64::MAX - 1),
        any::<u64>().prop_map(|n| n.max(1)),
    ]
}

fn forged_op() -> impl Strategy<Value = ForgedOp> {
    (
        prop_oneof![
            Just(Place::Root),
            Just(Place::Doses),
            Just(Place::Identity),
            Just(Place::FirstDose),
            Just(Place::Nowhere),
        ],
        prop_oneof![
            proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string),
            "[a-z_]{1,12}",
            Just(Uuid::now_v7().to_string()),
        ],
        0u8..6,
        any::<i64>(),
        "[a-zA-Zàáạảãâđ0-9 -]{0,40}",
        any::<bool>(),
    )
        .prop_map(|(place, key, action, value, text, with_pred)| ForgedOp {
            place,
            key,
            action,
            value,
            text,
            with_pred,
        })
}

/// Hostile inputs, weighted towards well-formed changes that reach the deepest checks.
pub fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..400).prop_map(Hostile::Bytes),
        1 => (any::<usize>(), 0u8..8).prop_map(|(index, bit)| Hostile::Flipped { index, bit }),
        6 => (
            counter(),
            counter(),
            0u8..3,
            any::<i64>(),
            prop_oneof![
                1 => Just(Message::None),
                4 => (0u8..10).prop_map(Message::Nurse),
                1 => "[a-z.]{1,12}".prop_map(Message::Other),
                1 => ".{0,600}".prop_map(Message::Garbage),
            ],
            proptest::collection::vec(forged_op(), 1..8),
        )
            .prop_map(|(start_op, seq, deps, time, message, ops)| Hostile::Forged {
                start_op,
                seq,
                deps,
                time,
                message,
                ops,
            }),
    ]
}

const ACTIONS: [CommitAction; 10] = [
    CommitAction::Register,
    CommitAction::Import,
    CommitAction::Edit,
    CommitAction::Dose,
    CommitAction::Void,
    CommitAction::Sign,
    CommitAction::Merge,
    CommitAction::ImportCorrection,
    CommitAction::Verify,
    CommitAction::Transfer,
];

fn legacy_id(obj: &ObjId) -> Option<ObjectId> {
    match obj {
        ObjId::Root => Some(ObjectId::Root),
        ObjId::Id(counter, actor, _) => Some(ObjectId::Id(OpId(*counter, actor.clone()))),
    }
}

/// How many people the inputs are spread over (each case grows its person's document a little).
const PEOPLE: usize = 16;

/// The server, a nurse pushing as herself, a station receiving, and the people they share.
pub struct Target {
    pub lab: Lab,
    pub nurse: Device,
    pub victim: Device,
    pub people: Vec<Uuid>,
    pusher: Pusher,
    cases: std::sync::atomic::AtomicUsize,
}

impl Target {
    /// A server on `backend` with one person the nurse registered and a second station holds.
    pub async fn start(backend: Backend) -> Target {
        let lab = Lab::start(backend).await;
        let nurse = lab.device("nurse", "TYT-TANNHUT", "nv.lan").await;
        let victim = lab.device("victim", "TYT-TANNHUT", "nv.hoa").await;
        let mut g = sotiem_fixtures::Generator::new(4242);
        let people: Vec<_> = (0..PEOPLE)
            .map(|_| g.person("TYT-TANNHUT", "nv.lan", 2))
            .collect();
        nurse.import_people(&people).await.expect("registered");
        nurse.sync().await.expect("synced");
        victim.sync().await.expect("received");
        let account = nurse.session().expect("signed in").account;
        let pusher = Pusher::User {
            device: DeviceCtx {
                id: nurse
                    .client
                    .info()
                    .await
                    .expect("info")
                    .device_id
                    .expect("the device is known"),
                facility: "TYT-TANNHUT".into(),
            },
            account: Box::new(account),
        };
        Target {
            lab,
            nurse,
            victim,
            people: people.iter().map(|p| p.id).collect(),
            pusher,
            cases: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The server's copy of a person.
    async fn stored(&self, person: Uuid) -> PersonDoc {
        let bytes: Vec<u8> = sotiem_server::with_db!(&self.lab.server.db, pool => {
            sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
                .bind(person.to_string())
                .fetch_one(pool)
                .await
                .expect("stored")
        });
        PersonDoc::load(&bytes).expect("the server's copy always loads")
    }

    /// The bytes of a hostile input, built against the server's current copy of `person`.
    async fn bytes(&self, input: &Hostile, person: Uuid) -> Vec<u8> {
        let doc = self.stored(person).await;
        let honest = || {
            let mut copy = PersonDoc::load_as(&doc.save(), ActorId::random()).expect("copy");
            let heads = copy.heads();
            let mut p = copy.read().expect("person");
            p.phone = Some(format!("09{:08}", rand::random::<u32>() % 100_000_000));
            copy.update(&p, &CommitMeta::new("nv.lan", CommitAction::Edit))
                .expect("edit");
            copy.changes_since(&heads).pop().expect("change")
        };
        match input {
            Hostile::Bytes(b) => b.clone(),
            Hostile::Flipped { index, bit } => {
                let mut b = honest().raw_bytes().to_vec();
                let i = index % b.len();
                b[i] ^= 1 << bit;
                b
            }
            Hostile::Forged {
                start_op,
                seq,
                deps,
                time,
                message,
                ops,
            } => {
                let mut e: ExpandedChange = (&honest()).into();
                e.start_op = std::num::NonZeroU64::new(*start_op).unwrap_or(e.start_op);
                e.seq = *seq;
                e.time = *time;
                e.hash = None;
                e.deps = match deps {
                    0 => Vec::new(),
                    1 => doc.heads(),
                    _ => vec![automerge::ChangeHash([7; 32])],
                };
                e.message = match message {
                    Message::None => None,
                    Message::Nurse(a) => serde_json::to_string(&CommitMeta::new(
                        "nv.lan",
                        ACTIONS[usize::from(*a) % ACTIONS.len()],
                    ))
                    .ok(),
                    Message::Other(u) => {
                        serde_json::to_string(&CommitMeta::new(u, CommitAction::Edit)).ok()
                    }
                    Message::Garbage(t) => Some(t.clone()),
                };
                let am = doc.automerge();
                let obj = |t: Place| -> Option<ObjectId> {
                    let find = |parent: &ObjId, key: &str| match am.get(parent, key) {
                        Ok(Some((automerge::Value::Object(_), id))) => Some(id),
                        _ => None,
                    };
                    match t {
                        Place::Root => Some(ObjectId::Root),
                        Place::Doses => find(&ROOT, "doses").as_ref().and_then(legacy_id),
                        Place::Identity => find(&ROOT, "identity").as_ref().and_then(legacy_id),
                        Place::FirstDose => {
                            let doses = find(&ROOT, "doses")?;
                            let first = am.keys(&doses).next()?;
                            find(&doses, &first).as_ref().and_then(legacy_id)
                        }
                        Place::Nowhere => Some(ObjectId::Id(OpId(999_999, ActorId::random()))),
                    }
                };
                let pred_of = |o: &ObjectId, key: &str| -> Vec<OpId> {
                    let parent = match o {
                        ObjectId::Root => ROOT,
                        ObjectId::Id(OpId(c, a)) => ObjId::Id(*c, a.clone(), 0),
                    };
                    match am.get_all(&parent, key) {
                        Ok(all) => all
                            .into_iter()
                            .filter_map(|(_, id)| match id {
                                ObjId::Id(c, a, _) => Some(OpId(c, a)),
                                ObjId::Root => None,
                            })
                            .collect(),
                        Err(_) => Vec::new(),
                    }
                };
                for f in ops {
                    let Some(target) = obj(f.place) else { continue };
                    let action = match f.action {
                        0 => OpType::Put(automerge::ScalarValue::Str(f.text.as_str().into())),
                        1 => OpType::Put(automerge::ScalarValue::Int(f.value)),
                        2 => OpType::Put(automerge::ScalarValue::Null),
                        3 => OpType::Make(automerge::ObjType::Map),
                        4 => OpType::Delete,
                        _ => OpType::Increment(f.value),
                    };
                    let pred = if f.with_pred {
                        pred_of(&target, &f.key)
                    } else {
                        Vec::new()
                    };
                    e.operations.push(Op {
                        action,
                        obj: target,
                        key: Key::Map(f.key.as_str().into()),
                        pred: SortedVec::from(pred),
                        insert: false,
                    });
                }
                // Building the bytes is not what is under test: a conversion Automerge itself
                // refuses falls back to the honest change.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Change::from(e).raw_bytes().to_vec()
                }))
                .unwrap_or_else(|_| honest().raw_bytes().to_vec())
            }
        }
    }

    /// Pushes one change to the ingest as the nurse.
    async fn push(&self, person: Uuid, bytes: Vec<u8>) -> PushResult {
        let mut results = self
            .lab
            .server
            .state
            .ingest
            .push(
                self.pusher.clone(),
                vec![PushedChange {
                    person_id: person,
                    bytes,
                }],
            )
            .await
            .expect("the ingest answers");
        assert_eq!(results.len(), 1);
        results.remove(0)
    }

    /// Feeds one hostile input to the ingest and to the victim station's apply path, then checks
    /// that the server's copy is sound and that honest work still goes through.
    pub async fn feed(&self, input: &Hostile) {
        let case = self
            .cases
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let person = self.people[case % self.people.len()];
        let bytes = self.bytes(input, person).await;
        let result = self.push(person, bytes.clone()).await;
        // The server's copy stays sound whatever was accepted.
        let stored = self.stored(person).await;
        let (record, issues) = stored.read_checked().expect("the server's copy reads");
        validate::check_person(&record, now().date()).expect("the server's copy is valid");
        rules::check_document(&issues, stored.save_nocompress().len())
            .expect("the server's copy has the document's shape");
        if let PushResult::Accepted { .. } = &result {
            let change = Change::from_bytes(bytes.clone()).expect("accepted changes decode");
            rules::check_counters(&change).expect("accepted counters are in range");
        }
        // A station receiving the same bytes answers with a result, never a panic, and its
        // copy stays readable.
        let _ = self.victim.apply_remote_changes(person, vec![bytes]).await;
        self.victim.show(person).await.expect("readable");
        // Honest work still goes through.
        let doc = self.stored(person).await;
        let mut copy = PersonDoc::load_as(&doc.save(), ActorId::random()).expect("copy");
        let heads = copy.heads();
        let mut p = copy.read().expect("person");
        let mut dose = p.doses.values().next().expect("dose").clone();
        dose.id = Uuid::now_v7();
        dose.given_at = now() - time::Duration::minutes(1);
        dose.voided = None;
        dose.signature = None;
        dose.facility = "TYT-TANNHUT".into();
        dose.vaccinator = "nv.lan".into();
        p.doses.insert(dose.id, dose);
        copy.update(&p, &CommitMeta::new("nv.lan", CommitAction::Dose))
            .expect("dose");
        let honest = copy.changes_since(&heads).pop().expect("change");
        let result = self.push(person, honest.raw_bytes().to_vec()).await;
        assert!(
            matches!(result, PushResult::Accepted { .. }),
            "an honest dose after {input:?}: {result:?}"
        );
    }
}

/// Runs `cases` hostile inputs against a fresh target on `backend` (no shrinking: the target
/// keeps its state between cases, so the failing input is reported as it was). Returns how long
/// they took; any panic or unsound copy fails with the input that caused it.
pub fn run_cases(backend: Backend, cases: u32) -> std::time::Duration {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = rt.block_on(Target::start(backend));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 0,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    runner
        .run(&hostile(), |input| {
            rt.block_on(target.feed(&input));
            Ok(())
        })
        .expect("no hostile input breaks the server or a station");
    let took = started.elapsed();
    rt.block_on(target.lab.server.stop());
    took
}

/// The number of cases `SOTIEM_HOSTILE_CASES` asks for, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("SOTIEM_HOSTILE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
