//! Sync under the conditions that break naive designs: a transaction that
//! commits late (no cursor may pass it, no push may start from what it
//! replaces), many writers and pullers at once (every device ends with
//! exactly the server's state), and a server killed in the middle of a push
//! batch (nothing lost, nothing applied twice). The server's state is read
//! from `sync_records` itself, not through the API under test.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use diesel::prelude::*;
use mystery_buyer_server::{
    auth::Role,
    db::{Database, DbError, schema::sync_records, sync::scope_versions},
    sync::volunteer_scope,
};
use mystery_buyer_tests::{
    Backend, TestEnv, on_each_backend,
    people::person,
    spawned::SpawnedServer,
    sync::{Device, create_task, new_id},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sync_protocol::{
    Kind, Money, Mutation, Record,
    mutations::{AddNote, RecordPurchase},
    replica::Key,
    wire::Outcome,
};

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The records the server holds in `scope`: what every device of that
/// scope must hold once it pulled to the end.
async fn server_state(db: &Database, scope: &str) -> BTreeMap<Key, Record> {
    let scope = scope.to_owned();
    let rows: Vec<(String, String, String)> = db
        .read(move |conn| {
            mystery_buyer_server::with_conn!(conn, c => sync_records::table
                .filter(sync_records::scope.eq(&scope))
                .select((sync_records::kind, sync_records::id, sync_records::doc))
                .load(c))
            .map_err(DbError::from)
        })
        .await
        .expect("read sync_records");
    rows.into_iter()
        .map(|(kind, id, doc)| {
            let record: Record = serde_json::from_str(&doc).expect("a stored record decodes");
            ((Kind::parse(&kind).expect("a known kind"), id), record)
        })
        .collect()
}

/// The committed version counter of `scope` (0 before its first change).
async fn scope_version(db: &Database, scope: &str) -> i64 {
    let scopes = vec![scope.to_owned()];
    db.read(move |conn| scope_versions(conn, &scopes).map_err(DbError::from))
        .await
        .expect("read sync_scopes")
        .first()
        .map_or(0, |(_, v)| *v)
}

/// What differs between a device's records and the server's, for a short
/// failure message (the maps themselves run to thousands of records).
fn differences(device: &BTreeMap<Key, Record>, server: &BTreeMap<Key, Record>) -> Vec<String> {
    let keys: BTreeSet<&Key> = device.keys().chain(server.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (device.get(key), server.get(key)) {
            (Some(d), Some(s)) if d == s => None,
            (Some(d), Some(s)) => Some(format!("{key:?}: device {d:?}, server {s:?}")),
            (Some(_), None) => Some(format!("{key:?}: only on the device")),
            (None, _) => Some(format!("{key:?}: missing on the device")),
        })
        .collect()
}

fn assert_holds_the_servers_state(what: &str, device: &Device, server: &BTreeMap<Key, Record>) {
    let diff = differences(device.replica.confirmed(), server);
    assert!(
        diff.is_empty(),
        "{what} differs from the server in {} records, e.g. {:?}",
        diff.len(),
        &diff[..diff.len().min(5)]
    );
}

/// The keys a page delivers, in its order.
#[cfg(feature = "services")]
fn delivered(page: &sync_protocol::wire::PullResponse) -> Vec<Key> {
    use sync_protocol::wire::Change;
    page.changes
        .iter()
        .map(|change| match change {
            Change::Put { record } => {
                (record.kind().expect("a known kind"), record.id().to_owned())
            }
            Change::Remove { kind, id } => (*kind, id.clone()),
        })
        .collect()
}

/// The version the device's cursor reached in `scope` (the tests know the
/// cursor's layout; apps must not).
#[cfg(feature = "services")]
fn cursor_version(device: &Device, scope: &str) -> i64 {
    let cursor = device.replica.cursor().expect("the device pulled");
    let inner: serde_json::Value =
        serde_json::from_slice(&hex::decode(cursor).expect("hex")).expect("JSON inside");
    inner["s"][scope].as_i64().expect("a version for the scope")
}

/// The committed rows of `scope`, in version order: (version, kind, id).
#[cfg(feature = "services")]
async fn committed_rows(db: &Database, scope: &str) -> Vec<(i64, String, String)> {
    let scope = scope.to_owned();
    db.read(move |conn| {
        mystery_buyer_server::with_conn!(conn, c => sync_records::table
            .filter(sync_records::scope.eq(&scope))
            .order(sync_records::version.asc())
            .select((sync_records::version, sync_records::kind, sync_records::id))
            .load(c))
        .map_err(DbError::from)
    })
    .await
    .expect("read sync_records")
}

/// A coordinator's write of a task through the server's own write path, in
/// a transaction held open on its own thread until the test commits it.
#[cfg(feature = "services")]
struct HeldWrite {
    task_id: String,
    /// The version of the volunteer's scope the write took (uncommitted).
    version: i64,
    commit: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Result<String, mystery_buyer_server::error::ApiError>>,
}

#[cfg(feature = "services")]
impl HeldWrite {
    /// Runs `write` (which returns the task it wrote) and returns once it is
    /// done and waiting to commit.
    async fn start<F>(db: &Database, write: F) -> Self
    where
        F: FnOnce(
                &mut mystery_buyer_server::db::Conn,
                &mut mystery_buyer_server::sync::Touched,
            ) -> Result<String, mystery_buyer_server::error::ApiError>
            + Send
            + 'static,
    {
        use mystery_buyer_server::{db::sync::find_record, error::ApiError, sync::Touched};
        let db = db.clone();
        let (started, written) = tokio::sync::oneshot::channel();
        let (commit, go) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            db.write_blocking(|conn| {
                let id = write(conn, &mut Touched::new())?;
                let version = find_record(conn, "task", &id)?.map_or(0, |r| r.version);
                let _ = started.send((id.clone(), version));
                // A dropped sender (the test failed) rolls the write back.
                go.recv()
                    .map_err(|_| ApiError::Internal("the test ended before the commit".into()))?;
                Ok(id)
            })
        });
        match written.await {
            Ok((task_id, version)) => Self {
                task_id,
                version,
                commit,
                thread,
            },
            Err(_) => panic!("the held write failed: {:?}", thread.join()),
        }
    }

    /// A coordinator creates a task for `volunteer`.
    async fn create_task(db: &Database, coordinator: &str, volunteer: &str, title: &str) -> Self {
        use mystery_buyer_server::sync::tasks::{self, NewTask};
        let new = NewTask {
            volunteer_id: volunteer.to_owned(),
            title: title.to_owned(),
            instructions: "Held open by the test.".into(),
            listing_url: String::new(),
            shop_name: String::new(),
            platform: String::new(),
            category: String::new(),
            price_cap: None,
            deadline: None,
        };
        let coordinator = coordinator.to_owned();
        Self::start(db, move |conn, touched| {
            tasks::create(conn, now_us(), &coordinator, &new, touched)
        })
        .await
    }

    /// Commits; returns the task's id.
    async fn commit(self) -> String {
        let Self { commit, thread, .. } = self;
        commit.send(()).expect("the held write is waiting");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join")
            .expect("the writer thread")
            .expect("the held write commits")
    }
}

/// Vera's task is written in a transaction held open; meanwhile (a) Walt's
/// task, written later into his own scope, commits first, and (b) a push of
/// Vera's tablet into her scope has to wait for the held one. Pulls made
/// meanwhile never move Vera's cursor past the uncommitted version, and
/// once the held write commits, the next pull delivers everything in
/// version order.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_that_commits_late_is_still_delivered() {
    use mystery_buyer_tests::TestServer;
    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")],
    );
    let server = env.start().await;
    let db = env.database().await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let vera = person(&server, &env, Role::Volunteer).await;
    let walt = person(&server, &env, Role::Volunteer).await;
    let (veras, walts) = (
        volunteer_scope(&vera.user_id),
        volunteer_scope(&walt.user_id),
    );
    let mut veras_phone = Device::register(&server, &vera, "phone").await;
    let mut veras_tablet = Device::register(&server, &vera, "tablet").await;
    let mut walts_phone = Device::register(&server, &walt, "phone").await;
    let kettle = create_task(&server, &coordinator, &vera.user_id, "Kettle").await;
    veras_phone.pull(&server).await;
    veras_tablet.pull(&server).await;
    assert_eq!(cursor_version(&veras_phone, &veras), 1);

    // (a) Vera's next change is held open; Walt's, made after it, commits first.
    let held =
        HeldWrite::create_task(&db, &coordinator.user_id, &vera.user_id, "Held kettle").await;
    assert_eq!(held.version, 2, "the held write took Vera's next version");
    let iron = create_task(&server, &coordinator, &walt.user_id, "Iron").await;
    walts_phone.pull(&server).await;
    assert!(
        walts_phone
            .replica
            .confirmed()
            .contains_key(&(Kind::Task, iron.clone())),
        "Walt's later change is delivered while Vera's is open"
    );
    let page = veras_phone.pull_page(&server, None).await;
    assert!(page.changes.is_empty(), "{page:?}");
    assert!(
        !veras_phone
            .replica
            .confirmed()
            .contains_key(&(Kind::Task, held.task_id.clone()))
    );
    assert_eq!(
        cursor_version(&veras_phone, &veras),
        1,
        "the cursor stays below the uncommitted version"
    );
    assert_eq!(
        committed_rows(&db, &veras).await,
        vec![(1, "task".into(), kettle.clone())]
    );
    let held_kettle = held.commit().await;
    let page = veras_phone.pull_page(&server, None).await;
    assert_eq!(delivered(&page), vec![(Kind::Task, held_kettle.clone())]);
    assert_eq!(cursor_version(&veras_phone, &veras), 2);

    // (b) A write into the same scope while one is open waits for it.
    let held = HeldWrite::create_task(
        &db,
        &coordinator.user_id,
        &vera.user_id,
        "Second held kettle",
    )
    .await;
    assert_eq!(held.version, 3);
    let note = new_id();
    veras_tablet.mutate(
        now_us(),
        Mutation::AddNote(AddNote {
            id: note.clone(),
            task_id: kettle.clone(),
            body: "waited its turn".into(),
        }),
    );
    let base = server.base.clone();
    let tablet_push = tokio::spawn(async move {
        let answers = veras_tablet.push(&TestServer::at(base), now_us()).await;
        (veras_tablet, answers)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !tablet_push.is_finished(),
        "the tablet's push into Vera's scope waits for the open write"
    );
    let page = veras_phone.pull_page(&server, None).await;
    assert!(page.changes.is_empty(), "{page:?}");
    assert_eq!(cursor_version(&veras_phone, &veras), 2);
    let second_held = held.commit().await;
    let (mut veras_tablet, answers) = tokio::time::timeout(Duration::from_secs(10), tablet_push)
        .await
        .expect("the push finishes once the held write committed")
        .expect("the push task");
    let outcomes: Vec<&Outcome> = answers
        .iter()
        .flat_map(|a| a.results.iter().map(|r| &r.outcome))
        .collect();
    assert_eq!(outcomes, vec![&Outcome::Applied]);
    let page = veras_phone.pull_page(&server, None).await;
    assert_eq!(
        delivered(&page),
        vec![
            (Kind::Task, second_held.clone()),
            (Kind::Note, note.clone())
        ],
        "both, in version order"
    );
    assert_eq!(cursor_version(&veras_phone, &veras), 4);
    assert_eq!(
        committed_rows(&db, &veras).await,
        vec![
            (1, "task".into(), kettle),
            (2, "task".into(), held_kettle),
            (3, "task".into(), second_held),
            (4, "note".into(), note),
        ],
        "one version per change, none skipped"
    );
    veras_tablet.pull(&server).await;
    walts_phone.pull(&server).await;
    let state = server_state(&db, &veras).await;
    assert_holds_the_servers_state("Vera's phone", &veras_phone, &state);
    assert_holds_the_servers_state("Vera's tablet", &veras_tablet, &state);
    assert_holds_the_servers_state(
        "Walt's phone",
        &walts_phone,
        &server_state(&db, &walts).await,
    );
    assert!(veras_tablet.replica.pending().is_empty());
    server.stop().await;
}

/// A coordinator's edit of a task is held open; meanwhile the volunteer's
/// phone pushes a status change of that task, which has to wait for it.
/// The push then starts from the edited task, not from what it read before
/// it waited: the edit stands and the status moves.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_that_waited_for_a_coordinators_edit_keeps_the_edit() {
    use mystery_buyer_server::sync::tasks::{self, TaskEdit};
    use mystery_buyer_tests::TestServer;
    use sync_protocol::{Status, mutations::SetTaskStatus};

    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[("MB_RATE_LIMIT_IP_PER_MINUTE", "100000")],
    );
    let server = env.start().await;
    let db = env.database().await;
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let vera = person(&server, &env, Role::Volunteer).await;
    let mut phone = Device::register(&server, &vera, "phone").await;
    let kettle = create_task(&server, &coordinator, &vera.user_id, "Kettle").await;
    phone.pull(&server).await;

    let edit = {
        let kettle = kettle.clone();
        HeldWrite::start(&db, move |conn, touched| {
            let edit = TaskEdit {
                title: Some("Kettle, 1.7 litres".into()),
                ..TaskEdit::default()
            };
            tasks::edit(conn, now_us(), &kettle, &edit, touched)?;
            Ok(kettle)
        })
        .await
    };
    phone.mutate(
        now_us(),
        Mutation::SetTaskStatus(SetTaskStatus {
            task_id: kettle.clone(),
            generation: 1,
            status: Status::Accepted,
        }),
    );
    let base = server.base.clone();
    let push = tokio::spawn(async move {
        let answers = phone.push(&TestServer::at(base), now_us()).await;
        (phone, answers)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !push.is_finished(),
        "the push waits for the task the edit holds"
    );
    edit.commit().await;
    let (mut phone, answers) = tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .expect("the push finishes once the edit committed")
        .expect("the push task");
    assert_eq!(answers[0].results[0].outcome, Outcome::Applied);
    phone.pull(&server).await;

    let state = server_state(&db, &volunteer_scope(&vera.user_id)).await;
    let Some(Record::Task(task)) = state.get(&(Kind::Task, kettle)) else {
        panic!("the task is in Vera's scope")
    };
    assert_eq!(
        task.title, "Kettle, 1.7 litres",
        "the coordinator's edit stands"
    );
    assert_eq!(
        task.status.status,
        Status::Accepted,
        "and so does the volunteer's change"
    );
    assert_holds_the_servers_state("Vera's phone", &phone, &state);
    server.stop().await;
}

#[cfg(feature = "services")]
mod load {
    //! The pieces of the load story: what writers, pullers and the
    //! coordinator do, and what each counts.

    use std::collections::BTreeMap;

    use mystery_buyer_tests::{
        TestServer,
        people::Person,
        sync::{Device, create_task, new_id},
    };
    use rand::{Rng, rngs::StdRng};
    use reqwest::StatusCode;
    use serde_json::json;
    use sync_protocol::{
        Money, Mutation, Record, Status,
        mutations::{AddNote, EditNote, EditPurchase, RecordPurchase, SetShipment, SetTaskStatus},
        wire::{Outcome, Stop},
    };
    use tokio::time::Instant;

    use super::now_us;

    /// What one writer device did.
    #[derive(Default)]
    pub struct Written {
        /// Every mutation it made, by sequence number.
        pub made: BTreeMap<u64, Mutation>,
        /// Every answer the server gave, by sequence number.
        pub answers: BTreeMap<u64, Vec<Outcome>>,
        pub pushes: usize,
        /// How long each push took, answer included.
        pub push_times: Vec<std::time::Duration>,
        pub transient_stops: usize,
        pub gap_stops: usize,
        pub pulls: usize,
    }

    impl Written {
        /// Pushes everything waiting; a stopped batch is pushed again.
        pub async fn push_all(&mut self, device: &mut Device, server: &TestServer) {
            loop {
                let began = Instant::now();
                let Some(answer) = device.push_once(server, now_us(), 50).await else {
                    break;
                };
                self.push_times.push(began.elapsed());
                self.pushes += 1;
                for result in &answer.results {
                    self.answers
                        .entry(result.seq)
                        .or_default()
                        .push(result.outcome.clone());
                }
                match answer.stopped {
                    Some(Stop::Transient { .. }) => {
                        self.transient_stops += 1;
                        // As an app would: back off a little before retrying.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Some(Stop::Gap { .. }) => self.gap_stops += 1,
                    None => {}
                }
            }
        }
    }

    fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[rng.random_range(0..items.len())])
    }

    /// A random change a volunteer could make to what their app shows.
    pub fn random_mutation(device: &Device, rng: &mut StdRng) -> Option<Mutation> {
        let view = device.replica.view();
        let tasks: Vec<_> = view
            .values()
            .filter_map(|r| match r {
                Record::Task(t) => Some(t),
                _ => None,
            })
            .collect();
        let purchases: Vec<_> = view
            .values()
            .filter_map(|r| match r {
                Record::Purchase(p) => Some(p.id.clone()),
                _ => None,
            })
            .collect();
        let notes: Vec<_> = view
            .values()
            .filter_map(|r| match r {
                Record::Note(n) => Some(n.id.clone()),
                _ => None,
            })
            .collect();
        let task = *pick(rng, &tasks)?;
        let add_note = |rng: &mut StdRng| {
            Mutation::AddNote(AddNote {
                id: new_id(),
                task_id: task.id.clone(),
                body: format!("note {}", rng.random::<u32>()),
            })
        };
        Some(match rng.random_range(0..100) {
            0..15 => {
                let status = if rng.random_range(0..20) == 0 {
                    Status::Declined
                } else {
                    *pick(rng, &[Status::Accepted, Status::Purchased, Status::Shipped])?
                };
                Mutation::SetTaskStatus(SetTaskStatus {
                    task_id: task.id.clone(),
                    generation: task.status.generation,
                    status,
                })
            }
            15..35 => Mutation::RecordPurchase(RecordPurchase {
                id: new_id(),
                task_id: task.id.clone(),
                order_number: format!("ORDER-{}", rng.random::<u32>()),
                amount: Money::new(rng.random_range(100..100_000), "CNY"),
                purchased_at_us: now_us(),
                shop_name: "Example Flagship Store".into(),
            }),
            35..50 => match pick(rng, &purchases) {
                Some(id) => {
                    let mut edit = EditPurchase {
                        id: id.clone(),
                        ..EditPurchase::default()
                    };
                    if rng.random_bool(0.5) {
                        edit.order_number = Some(format!("ORDER-{}", rng.random::<u32>()));
                    } else {
                        edit.amount = Some(Money::new(rng.random_range(100..100_000), "CNY"));
                    }
                    Mutation::EditPurchase(edit)
                }
                None => add_note(rng),
            },
            50..75 => add_note(rng),
            75..90 => match pick(rng, &notes) {
                Some(id) => Mutation::EditNote(EditNote {
                    id: id.clone(),
                    body: format!("edited {}", rng.random::<u32>()),
                }),
                None => add_note(rng),
            },
            _ => Mutation::SetShipment(SetShipment {
                task_id: task.id.clone(),
                carrier: Some((*pick(rng, &["SF Express", "YTO", "ZTO"])?).to_owned()),
                tracking_number: Some(format!("T{}", rng.random::<u32>())),
            }),
        })
    }

    /// Makes a few changes, pushes them, pulls; again until `until`.
    pub async fn write(
        mut device: Device,
        server: TestServer,
        mut rng: StdRng,
        until: Instant,
    ) -> (Device, Written) {
        let mut written = Written::default();
        device.pull(&server).await;
        while Instant::now() < until {
            for _ in 0..rng.random_range(1..=8) {
                if let Some(mutation) = random_mutation(&device, &mut rng) {
                    let seq = device.mutate(now_us(), mutation.clone());
                    written.made.insert(seq, mutation);
                }
            }
            written.push_all(&mut device, &server).await;
            device.pull(&server).await;
            written.pulls += 1;
        }
        (device, written)
    }

    /// What one puller device saw.
    #[derive(Default)]
    pub struct Pulled {
        pub pulls: usize,
        pub pages: usize,
        pub changes: usize,
        /// How long each page took.
        pub page_times: Vec<std::time::Duration>,
        /// A task whose status went back between two pulls (statuses only
        /// move forward within a generation): a lost update.
        pub regressions: Vec<String>,
    }

    /// Pulls to the end, again and again until `until`, checking that no
    /// task it holds ever moves back.
    pub async fn pull(
        mut device: Device,
        server: TestServer,
        mut rng: StdRng,
        until: Instant,
    ) -> (Device, Pulled) {
        let mut pulled = Pulled::default();
        let mut seen: BTreeMap<String, (u32, u8, usize)> = BTreeMap::new();
        while Instant::now() < until {
            loop {
                let began = Instant::now();
                let page = device.pull_page(&server, None).await;
                pulled.page_times.push(began.elapsed());
                pulled.pages += 1;
                pulled.changes += page.changes.len();
                if !page.more {
                    break;
                }
            }
            pulled.pulls += 1;
            for record in device.replica.confirmed().values() {
                let Record::Task(task) = record else { continue };
                let now = (
                    task.status.generation,
                    task.status.status.rank(),
                    task.history.len(),
                );
                if let Some(before) = seen.get(&task.id)
                    && now < *before
                {
                    pulled.regressions.push(format!(
                        "task {}: (generation, status rank, history length) {before:?} -> {now:?}",
                        task.id
                    ));
                }
                seen.insert(task.id.clone(), now);
            }
            tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..50))).await;
        }
        (device, pulled)
    }

    /// What the coordinator did.
    #[derive(Default)]
    pub struct Coordinated {
        /// Tasks created during the run, with their volunteer.
        pub created: Vec<(String, String)>,
        pub edits: usize,
        /// The title each task was last given.
        pub titles: BTreeMap<String, String>,
    }

    /// Creates and edits tasks through the online API until `until`.
    pub async fn coordinate(
        coordinator: Person,
        server: TestServer,
        volunteers: Vec<String>,
        mut tasks: Vec<String>,
        mut rng: StdRng,
        until: Instant,
    ) -> Coordinated {
        let mut done = Coordinated::default();
        let mut n = 0;
        while Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(50..250))).await;
            n += 1;
            let title = format!("Task, version {n}");
            if rng.random_bool(0.25) {
                let volunteer = volunteers[rng.random_range(0..volunteers.len())].clone();
                let id = create_task(&server, &coordinator, &volunteer, &title).await;
                done.titles.insert(id.clone(), title);
                tasks.push(id.clone());
                done.created.push((id, volunteer));
            } else {
                let id = tasks[rng.random_range(0..tasks.len())].clone();
                let response = server
                    .http
                    .patch(server.url(&format!("/api/tasks/{id}")))
                    .bearer_auth(&coordinator.access_token)
                    .json(&json!({
                        "title": title,
                        "instructions": format!("Instructions, version {n}"),
                        "price_cap": { "minor": rng.random_range(1000..9000), "currency": "CNY" },
                    }))
                    .send()
                    .await
                    .expect("edit sent");
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "{:?}",
                    response.text().await
                );
                done.titles.insert(id, title);
                done.edits += 1;
            }
        }
        done
    }
}

/// How long the load story runs.
#[cfg(feature = "services")]
const LOAD_TIME: Duration = Duration::from_secs(60);
#[cfg(feature = "services")]
const VOLUNTEERS: usize = 10;
/// Writer and puller devices per volunteer (20 of each in all).
#[cfg(feature = "services")]
const DEVICES_EACH: usize = 2;
#[cfg(feature = "services")]
const FIRST_TASKS_EACH: usize = 3;

/// The median, 99th percentile and longest of `times`, for the closing note.
#[cfg(feature = "services")]
fn spread(times: impl Iterator<Item = Duration>) -> String {
    let mut times: Vec<Duration> = times.collect();
    times.sort();
    let at = |q: f64| {
        let index = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(index).copied().unwrap_or_default()
    };
    format!("p50 {:?}, p99 {:?}, max {:?}", at(0.5), at(0.99), at(1.0))
}

/// Ten volunteers, each with two devices making changes as fast as the
/// server takes them and two devices pulling in a loop, and a coordinator
/// creating and editing tasks, for a minute. Then every device pulls to the
/// end and holds exactly the server's state for its scope, every mutation
/// was answered applied, no task's status ever went back on a puller, and
/// no write was lost: every record created exists, every task's status is
/// the highest one pushed, every coordinator's last edit stands.
#[cfg(feature = "services")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_writers_and_twenty_pullers_for_a_minute_end_with_the_servers_state() {
    use mystery_buyer_tests::TestServer;
    use sync_protocol::Status;

    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("MB_ACCESS_TOKEN_SECS", "3600"),
            // The production default, rather than the rig's small pool.
            ("MB_DATABASE_POOL_SIZE", "8"),
        ],
    );
    let server = env.start().await;
    let db = env.database().await;
    let seed: u64 = rand::random();
    eprintln!("load story: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let coordinator = person(&server, &env, Role::Coordinator).await;
    let mut volunteers = Vec::new();
    let mut first_tasks = Vec::new();
    let (mut writers, mut pullers) = (Vec::new(), Vec::new());
    for i in 0..VOLUNTEERS {
        let volunteer = person(&server, &env, Role::Volunteer).await;
        for t in 0..FIRST_TASKS_EACH {
            first_tasks.push(
                create_task(
                    &server,
                    &coordinator,
                    &volunteer.user_id,
                    &format!("Task {i}.{t}"),
                )
                .await,
            );
        }
        for d in 0..DEVICES_EACH {
            writers.push((
                i,
                Device::register(&server, &volunteer, &format!("writer {d}")).await,
            ));
            pullers.push((
                i,
                Device::register(&server, &volunteer, &format!("puller {d}")).await,
            ));
        }
        volunteers.push(volunteer.user_id);
    }

    let started = Instant::now();
    let until = tokio::time::Instant::now() + LOAD_TIME;
    let writing: Vec<_> = writers
        .into_iter()
        .map(|(i, device)| {
            let (server, rng) = (
                TestServer::at(server.base.clone()),
                StdRng::seed_from_u64(rng.random()),
            );
            (i, tokio::spawn(load::write(device, server, rng, until)))
        })
        .collect();
    let pulling: Vec<_> = pullers
        .into_iter()
        .map(|(i, device)| {
            let (server, rng) = (
                TestServer::at(server.base.clone()),
                StdRng::seed_from_u64(rng.random()),
            );
            (i, tokio::spawn(load::pull(device, server, rng, until)))
        })
        .collect();
    let coordinating = tokio::spawn(load::coordinate(
        coordinator,
        TestServer::at(server.base.clone()),
        volunteers.clone(),
        first_tasks,
        StdRng::seed_from_u64(rng.random()),
        until,
    ));
    let mut writers = Vec::new();
    for (i, handle) in writing {
        let (device, written) = handle.await.expect("a writer");
        writers.push((i, device, written));
    }
    let mut pullers = Vec::new();
    for (i, handle) in pulling {
        let (device, pulled) = handle.await.expect("a puller");
        pullers.push((i, device, pulled));
    }
    let coordinated = coordinating.await.expect("the coordinator");
    let ran = started.elapsed();

    // Everything still queued goes out; then everyone pulls to the end.
    for (_, device, written) in &mut writers {
        while device.replica.push_request(now_us(), 1).is_some() {
            written.push_all(device, &server).await;
        }
    }
    for (_, device, _) in writers.iter_mut() {
        device.pull(&server).await;
    }
    for (_, device, _) in pullers.iter_mut() {
        device.pull(&server).await;
    }

    let mut states = Vec::new();
    for volunteer in &volunteers {
        states.push(server_state(&db, &volunteer_scope(volunteer)).await);
    }
    for (i, device, _) in &writers {
        assert_holds_the_servers_state(&format!("writer of volunteer {i}"), device, &states[*i]);
        assert!(
            device.replica.pending().is_empty(),
            "writer of volunteer {i} has unconfirmed changes"
        );
        assert!(
            device.replica.refused().is_empty(),
            "{:?}",
            device.replica.refused()
        );
    }
    for (i, device, pulled) in &pullers {
        assert_holds_the_servers_state(&format!("puller of volunteer {i}"), device, &states[*i]);
        assert!(pulled.regressions.is_empty(), "{:?}", pulled.regressions);
    }

    // Every mutation was answered applied (a retried one may also be
    // answered duplicate), and its effect is there.
    let mut made_by_name: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut applied, mut duplicates) = (0, 0);
    let mut highest_status: BTreeMap<String, Status> = BTreeMap::new();
    for (i, _, written) in &writers {
        for (seq, mutation) in &written.made {
            *made_by_name.entry(mutation.name()).or_default() += 1;
            let answers = written.answers.get(seq).cloned().unwrap_or_default();
            assert!(
                answers.contains(&Outcome::Applied)
                    && answers
                        .iter()
                        .all(|a| matches!(a, Outcome::Applied | Outcome::Duplicate)),
                "volunteer {i}'s mutation {seq} ({}) was answered {answers:?}",
                mutation.name()
            );
            applied += answers.iter().filter(|a| **a == Outcome::Applied).count();
            duplicates += answers.iter().filter(|a| **a == Outcome::Duplicate).count();
            let state = &states[*i];
            match mutation {
                Mutation::RecordPurchase(m) => assert!(
                    state.contains_key(&(Kind::Purchase, m.id.clone())),
                    "purchase {} is lost",
                    m.id
                ),
                Mutation::AddNote(m) => assert!(
                    state.contains_key(&(Kind::Note, m.id.clone())),
                    "note {} is lost",
                    m.id
                ),
                Mutation::SetTaskStatus(m) => {
                    let highest = highest_status
                        .entry(m.task_id.clone())
                        .or_insert(Status::Offered);
                    if m.status.rank() > highest.rank() {
                        *highest = m.status;
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        applied,
        made_by_name.values().sum::<usize>(),
        "each mutation applied once"
    );
    let tasks: BTreeMap<&String, &sync_protocol::records::Task> = states
        .iter()
        .flat_map(|s| s.values())
        .filter_map(|r| match r {
            Record::Task(t) => Some((&t.id, t)),
            _ => None,
        })
        .collect();
    for (id, status) in &highest_status {
        let task = tasks.get(id).expect("the task is in its volunteer's scope");
        assert_eq!(
            task.status.status, *status,
            "task {id} ends at the highest status pushed for it; history {:?}",
            task.history
        );
        assert!(
            task.history.iter().any(|h| h.status == *status),
            "task {id}'s history lost {status:?}: {:?}",
            task.history
        );
    }
    for (id, title) in &coordinated.titles {
        let task = tasks
            .get(id)
            .expect("the coordinator's task is in a volunteer's scope");
        assert_eq!(
            &task.title, title,
            "the coordinator's last edit of task {id} stands"
        );
    }
    for (id, volunteer) in &coordinated.created {
        let scope = volunteers
            .iter()
            .position(|v| v == volunteer)
            .expect("a volunteer");
        assert!(states[scope].contains_key(&(Kind::Task, id.clone())));
    }

    let records: usize = states.iter().map(BTreeMap::len).sum();
    let made: usize = made_by_name.values().sum();
    let sum = |f: fn(&load::Written) -> usize| writers.iter().map(|(_, _, w)| f(w)).sum::<usize>();
    let (pushes, transient, gaps, writer_pulls) = (
        sum(|w| w.pushes),
        sum(|w| w.transient_stops),
        sum(|w| w.gap_stops),
        sum(|w| w.pulls),
    );
    let (pulls, pages, changes) = pullers.iter().fold((0, 0, 0), |(a, b, c), (_, _, p)| {
        (a + p.pulls, b + p.pages, c + p.changes)
    });
    let push_times = spread(
        writers
            .iter()
            .flat_map(|(_, _, w)| w.push_times.iter().copied()),
    );
    let page_times = spread(
        pullers
            .iter()
            .flat_map(|(_, _, p)| p.page_times.iter().copied()),
    );
    eprintln!(
        "load story: {:.1} s of load; 20 writers made {made} mutations {made_by_name:?}: \
         {applied} answered applied, {duplicates} duplicate; {pushes} pushes, {transient} \
         stopped by a transient failure, {gaps} by a gap; {writer_pulls} writer pulls; \
         20 pullers: {pulls} pulls, {pages} pages, {changes} changes; the coordinator \
         created {} tasks and made {} edits; {records} records in {VOLUNTEERS} scopes at the end; \
         push {push_times}; pull page {page_times}",
        ran.as_secs_f32(),
        coordinated.created.len(),
        coordinated.edits,
    );
    server.stop().await;
}

/// How a push ended whose server was killed.
#[derive(Debug)]
enum Killed {
    /// The answer came before the kill.
    AfterTheAnswer(sync_protocol::wire::PushResponse),
    /// No answer, and nothing of the batch committed.
    RolledBack,
    /// No answer, but these mutations committed.
    AnswerLost(BTreeSet<u64>),
}

impl Killed {
    fn describe(&self) -> String {
        match self {
            Killed::AfterTheAnswer(_) => "after the answer arrived".into(),
            Killed::RolledBack => "no answer, nothing committed".into(),
            Killed::AnswerLost(seqs) => format!("no answer, {} mutations committed", seqs.len()),
        }
    }
}

/// Pushes the phone's next batch of at most `batch` mutations and SIGKILLs
/// the server meanwhile: after `delay`, or (`None`) the moment the batch's
/// commit is visible in the database.
async fn push_and_kill(
    mut phone: Device,
    spawned: &SpawnedServer,
    db: &Database,
    batch: usize,
    delay: Option<Duration>,
) -> (Device, Killed) {
    let device = phone.replica.device_id().to_owned();
    let before = last_processed(db, &device);
    let client = mystery_buyer_tests::TestServer::at(spawned.server.base.clone());
    let push = tokio::spawn(async move {
        let pushed = phone.try_push_once(&client, now_us(), batch).await;
        (phone, pushed)
    });
    tokio::task::block_in_place(|| {
        match delay {
            Some(delay) => std::thread::sleep(delay),
            None => {
                // Polled on this thread, as fast as the database answers.
                let deadline = Instant::now() + Duration::from_secs(60);
                while last_processed(db, &device) == before
                    && !push.is_finished()
                    && Instant::now() < deadline
                {}
            }
        }
        spawned.kill();
    });
    let (phone, pushed) = push.await.expect("the push task");
    let after = last_processed(db, &device);
    let killed = match pushed {
        Ok(answer) => Killed::AfterTheAnswer(answer.expect("a batch was sent")),
        Err(_) if after == before => Killed::RolledBack,
        Err(_) => Killed::AnswerLost(
            (u64::try_from(before).expect("positive") + 1
                ..=u64::try_from(after).expect("positive"))
                .collect(),
        ),
    };
    (phone, killed)
}

/// The last mutation number the server processed for `device`, as stored
/// (a quick blocking read).
fn last_processed(db: &Database, device: &str) -> i64 {
    use mystery_buyer_server::db::schema::sync_devices;
    db.read_blocking(|conn| {
        mystery_buyer_server::with_conn!(conn, c => sync_devices::table
            .find(device)
            .select(sync_devices::last_processed)
            .first::<i64>(c))
        .map_err(DbError::from)
    })
    .expect("read sync_devices")
}

/// Mutations the phone queues offline before the killed pushes.
const QUEUED: u64 = 2_000;
/// Mutations per push (the server's `sync_max_batch`).
const BATCH: usize = 500;
/// Kills after a random part of a batch's time: the batch rolls back.
const RANDOM_KILLS: usize = 3;
/// Then kills the moment a batch's commit is visible, until this many came
/// before its answer went out; after that the phone pushes the rest
/// normally. Whether the answer is still unsent is a race, so these batches
/// are smaller, to leave room for as many tries as it takes.
const LOST_ANSWERS: usize = 2;
const AT_COMMIT_BATCH: usize = 100;

on_each_backend! {
/// A phone queues two thousand changes offline and pushes them in batches
/// of up to 500; the real server binary is SIGKILLed while a batch is in
/// flight, in the middle of its transaction and right after its commit,
/// again and again, and restarted on the same database each time. The
/// phone sends again whatever got no answer. In the end every change is
/// applied exactly once: each batch committed whole or not at all, a batch
/// that committed but whose answer was lost is answered duplicate when
/// resent, the scope's version counter and the device's last-processed
/// number count each change once, and the phone holds the server's state.
async fn a_server_killed_in_the_middle_of_a_push_batch_loses_nothing_and_applies_nothing_twice(backend: Backend) {
    let env = TestEnv::with(backend, &[
        ("MB_RATE_LIMIT_IP_PER_MINUTE", "100000"),
        ("MB_ACCESS_TOKEN_SECS", "3600"),
        ("MB_SYNC_MAX_BATCH", "500"),
    ]);
    let mut spawned = SpawnedServer::start(&env).await;
    let db = env.database().await;
    let coordinator = person(&spawned.server, &env, Role::Coordinator).await;
    let volunteer = person(&spawned.server, &env, Role::Volunteer).await;
    let scope = volunteer_scope(&volunteer.user_id);
    let mut phone = Device::register(&spawned.server, &volunteer, "phone").await;
    let task = create_task(&spawned.server, &coordinator, &volunteer.user_id, "Rice cooker").await;
    phone.pull(&spawned.server).await;

    let (mut notes, mut purchases) = (BTreeSet::new(), BTreeSet::new());
    let t = now_us();
    for i in 0..QUEUED {
        let id = new_id();
        let mutation = if i % 5 == 4 {
            purchases.insert(id.clone());
            Mutation::RecordPurchase(RecordPurchase {
                id,
                task_id: task.clone(),
                order_number: format!("ORDER-{i}"),
                amount: Money::new(1000 + i64::try_from(i).expect("small"), "CNY"),
                purchased_at_us: t,
                shop_name: "Example Flagship Store".into(),
            })
        } else {
            notes.insert(id.clone());
            Mutation::AddNote(AddNote { id, task_id: task.clone(), body: format!("note {i}") })
        };
        phone.mutate(t + i64::try_from(i).expect("small"), mutation);
    }

    let device = phone.replica.device_id().to_owned();

    // One batch undisturbed, to learn how long a batch takes here.
    let mut answers: BTreeMap<u64, Vec<Outcome>> = BTreeMap::new();
    let mut record = |answer: &sync_protocol::wire::PushResponse| {
        assert!(answer.stopped.is_none(), "{:?}", answer.stopped);
        for result in &answer.results {
            answers.entry(result.seq).or_default().push(result.outcome.clone());
        }
    };
    let began = Instant::now();
    let first = phone.push_once(&spawned.server, now_us(), BATCH).await.expect("a batch");
    let batch_time = began.elapsed();
    record(&first);
    eprintln!("{backend:?}: a batch of {BATCH} takes {batch_time:?}");

    // Kills of two kinds: after a random part of a batch's time (the
    // transaction is under way and rolls back), and the moment the batch's
    // commit is visible (the answer is then most likely still unsent).
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut random_kills, mut rolled_back, mut lost, mut answered) = (0, 0, 0, 0);
    let mut lost_answers: BTreeSet<u64> = BTreeSet::new();
    loop {
        let at_commit = random_kills >= RANDOM_KILLS;
        if at_commit && lost >= LOST_ANSWERS {
            break;
        }
        let batch = if at_commit { AT_COMMIT_BATCH } else { BATCH };
        let Some(request) = phone.replica.push_request(now_us(), batch) else { break };
        let sent: BTreeSet<u64> = request.mutations.iter().map(|m| m.seq).collect();
        if sent.last().is_some_and(|last| i64::try_from(*last).expect("small") <= last_processed(&db, &device)) {
            // Committed under the last kill, its answer lost: sent again,
            // it is answered duplicate, mutation by mutation.
            record(&phone.push_once(&spawned.server, now_us(), batch).await.expect("a batch"));
            continue;
        }
        let delay = (!at_commit).then(|| batch_time.mul_f64(rng.random_range(0.2..0.9)));
        random_kills += usize::from(!at_commit);
        let (returned, killed) = push_and_kill(phone, &spawned, &db, batch, delay).await;
        phone = returned;
        let when = delay.map_or("at the commit".into(), |d| format!("after {d:?}"));
        eprintln!("{backend:?}: killed {when}: {}", killed.describe());
        match killed {
            Killed::AfterTheAnswer(answer) => {
                answered += 1;
                record(&answer);
            }
            Killed::RolledBack => rolled_back += 1,
            Killed::AnswerLost(committed) => {
                assert_eq!(committed, sent, "a batch commits whole or not at all");
                lost += 1;
                lost_answers.extend(committed);
            }
        }
        spawned = SpawnedServer::start(&env).await;
    }
    eprintln!(
        "{backend:?}: seed {seed}; {} kills: {} with the push in flight ({rolled_back} rolled back, \
         {lost} committed with the answer lost), {answered} after the answer",
        rolled_back + lost + answered,
        rolled_back + lost,
    );
    assert!(rolled_back >= 1, "no kill landed in the middle of a batch (seed {seed})");
    assert!(lost >= LOST_ANSWERS, "too few kills landed between a commit and its answer (seed {seed})");

    while let Some(answer) = phone.push_once(&spawned.server, now_us(), BATCH).await {
        record(&answer);
    }
    phone.pull(&spawned.server).await;

    assert!(phone.replica.pending().is_empty());
    assert!(phone.replica.refused().is_empty(), "{:?}", phone.replica.refused());
    assert_eq!(last_processed(&db, &device), i64::try_from(QUEUED).expect("small"));
    for seq in 1..=QUEUED {
        let expected = if lost_answers.contains(&seq) { Outcome::Duplicate } else { Outcome::Applied };
        assert_eq!(answers.get(&seq), Some(&vec![expected]), "mutation {seq}");
    }
    let state = server_state(&db, &scope).await;
    let held = |kind: Kind| -> BTreeSet<String> {
        state.keys().filter(|(k, _)| *k == kind).map(|(_, id)| id.clone()).collect()
    };
    assert_eq!(held(Kind::Note), notes);
    assert_eq!(held(Kind::Purchase), purchases);
    // One version per change: the task, then each mutation once.
    assert_eq!(scope_version(&db, &scope).await, 1 + i64::try_from(QUEUED).expect("small"));
    assert_holds_the_servers_state("the phone", &phone, &state);
    spawned.kill();
}
}
