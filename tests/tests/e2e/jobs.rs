//! The job queue: several workers share it, each job runs once, a dead
//! worker's job is taken over after its lease, failures retry with backoff
//! and end in the dead-letter state, shutdown gives claimed jobs back.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use mystery_buyer_server::{
    clock::{Clock, SharedClock, SystemClock},
    db::{self, Database, DbError},
    jobs::{self, Enqueue, JobError, Registry, Worker, WorkerOptions},
};
use mystery_buyer_tests::{Backend, TestEnv, eventually, on_each_backend};

fn options(concurrency: usize, lease: Duration) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        lease,
        poll: Duration::from_millis(20),
        retry_base: Duration::from_millis(20),
        grace: Duration::from_millis(300),
    }
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

async fn enqueue(db: &Database, kind: &'static str, n: usize, max_attempts: i32) -> Vec<String> {
    let now = SystemClock.now();
    db.write(move |conn| {
        let mut ids = Vec::new();
        for i in 0..n {
            let id = jobs::enqueue(
                conn,
                now,
                kind,
                &serde_json::json!({ "i": i }),
                Enqueue {
                    max_attempts: Some(max_attempts),
                    ..Enqueue::default()
                },
            )?;
            ids.push(id.expect("no dedupe key, always inserted"));
        }
        Ok::<_, DbError>(ids)
    })
    .await
    .expect("enqueue")
}

async fn job(db: &Database, id: &str) -> db::jobs::JobRow {
    let id = id.to_string();
    db.read(move |conn| db::jobs::find(conn, &id).map_err(DbError::from))
        .await
        .expect("read")
        .expect("job exists")
}

async fn count_in_state(db: &Database, state: &str) -> i64 {
    let counts = jobs::queue_depth(db).await.expect("count");
    counts
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

on_each_backend! {
    async fn two_worker_pools_run_1000_jobs_each_exactly_once(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = env.database().await;
        let ids = enqueue(&db, "test.count", 1000, 3).await;

        let runs: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let mut workers = Vec::new();
        for pool in ["a", "b"] {
            // Each pool has its own connections, as two instances would.
            let own_db = Database::connect(&env.database_target(), 4).expect("connect");
            let mut registry = Registry::default();
            let runs = Arc::clone(&runs);
            registry.register("test.count", move |ctx| {
                let runs = Arc::clone(&runs);
                async move {
                    runs.lock().expect("lock").entry(ctx.id).or_default().push(pool.to_string());
                    Ok(())
                }
            });
            workers.push(Worker::spawn(own_db, clock(), registry, options(8, Duration::from_secs(30))));
        }
        eventually(Duration::from_secs(120), "all jobs done", || {
            let db = db.clone();
            async move { (count_in_state(&db, "done").await == 1000).then_some(()) }
        })
        .await
        .expect("jobs finish");
        for worker in workers {
            worker.shutdown().await;
        }
        let runs = runs.lock().expect("lock");
        assert_eq!(runs.len(), 1000);
        for id in &ids {
            assert_eq!(runs.get(id).map(Vec::len), Some(1), "job {id} ran {:?}", runs.get(id));
        }
        let pools: std::collections::BTreeSet<&String> = runs.values().flatten().collect();
        eprintln!("pools that ran jobs: {pools:?}");
    }
}

on_each_backend! {
    async fn a_job_whose_worker_dies_is_taken_over_after_its_lease(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = env.database().await;
        let [id] = <[String; 1]>::try_from(enqueue(&db, "test.slow", 1, 5).await).expect("one");

        // Worker A takes the job and never finishes it, then "crashes".
        let mut hangs = Registry::default();
        hangs.register("test.slow", |_ctx| futures_util::future::pending::<Result<(), JobError>>());
        let lease = Duration::from_secs(2);
        let a = Worker::spawn(db.clone(), clock(), hangs, options(1, lease));
        let owner_a = a.owner().to_string();
        eventually(Duration::from_secs(10), "worker A claims the job", || {
            let (db, id, owner_a) = (db.clone(), id.clone(), owner_a.clone());
            async move { (job(&db, &id).await.lease_owner.as_deref() == Some(owner_a.as_str())).then_some(()) }
        })
        .await
        .expect("claimed");
        a.abort();

        // Worker B finishes it, but only once A's lease has run out.
        let finished: Arc<Mutex<Vec<i32>>> = Arc::default();
        let mut works = Registry::default();
        let seen = Arc::clone(&finished);
        works.register("test.slow", move |ctx| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("lock").push(ctx.attempt);
                Ok(())
            }
        });
        let claimed_at = tokio::time::Instant::now();
        let b = Worker::spawn(db.clone(), clock(), works, options(1, lease));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(job(&db, &id).await.lease_owner.as_deref(), Some(owner_a.as_str()), "B must not take a live lease");
        eventually(Duration::from_secs(15), "worker B finishes the job", || {
            let (db, id) = (db.clone(), id.clone());
            async move { (job(&db, &id).await.state == "done").then_some(()) }
        })
        .await
        .expect("taken over");
        assert!(claimed_at.elapsed() >= Duration::from_millis(1000));
        assert_eq!(*finished.lock().expect("lock"), vec![2], "second attempt, run once");
        b.shutdown().await;
    }
}

on_each_backend! {
    async fn failing_jobs_retry_with_backoff_then_go_to_the_dead_letter_state(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = env.database().await;
        let retried = enqueue(&db, "test.flaky", 1, 3).await.remove(0);
        let hopeless = enqueue(&db, "test.bad", 1, 3).await.remove(0);

        let mut registry = Registry::default();
        registry.register("test.flaky", |_ctx| async { Err(JobError::Retry("service down".into())) });
        registry.register("test.bad", |_ctx| async { Err(JobError::Permanent("cannot ever work".into())) });
        let worker = Worker::spawn(db.clone(), clock(), registry, options(2, Duration::from_secs(30)));
        eventually(Duration::from_secs(20), "both jobs dead", || {
            let db = db.clone();
            async move { (count_in_state(&db, "dead").await == 2).then_some(()) }
        })
        .await
        .expect("dead-lettered");
        worker.shutdown().await;

        let flaky = job(&db, &retried).await;
        assert_eq!((flaky.state.as_str(), flaky.attempts), ("dead", 3));
        assert_eq!(flaky.last_error.as_deref(), Some("service down"));
        // Backoff: 20 ms, then 40 ms between the three attempts.
        let spent = flaky.finished_at.expect("finished") - flaky.created_at;
        assert!(spent >= 60_000, "attempts were spaced by the backoff, took {spent} us");
        let bad = job(&db, &hopeless).await;
        assert_eq!((bad.state.as_str(), bad.attempts), ("dead", 1));
    }
}

on_each_backend! {
    async fn shutdown_gives_unfinished_jobs_back_to_the_queue(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = env.database().await;
        let id = enqueue(&db, "test.endless", 1, 5).await.remove(0);
        let mut registry = Registry::default();
        registry.register("test.endless", |_ctx| futures_util::future::pending::<Result<(), JobError>>());
        let worker = Worker::spawn(db.clone(), clock(), registry, options(1, Duration::from_secs(60)));
        eventually(Duration::from_secs(10), "the job is running", || {
            let (db, id) = (db.clone(), id.clone());
            async move { (job(&db, &id).await.state == "running").then_some(()) }
        })
        .await
        .expect("running");
        worker.shutdown().await;
        let row = job(&db, &id).await;
        assert_eq!(row.state, "queued");
        assert_eq!(row.lease_owner, None);
        assert_eq!(row.attempts, 0, "the interrupted attempt does not count");
    }
}

on_each_backend! {
    async fn a_dedupe_key_enqueues_once(backend: Backend) {
        let env = TestEnv::new(backend);
        let db = env.database().await;
        let now = SystemClock.now();
        let (first, second) = db
            .write(move |conn| {
                let options = || Enqueue { dedupe_key: Some("purge:campaign-1"), ..Enqueue::default() };
                let a = jobs::enqueue(conn, now, "test.once", &(), options())?;
                let b = jobs::enqueue(conn, now, "test.once", &(), options())?;
                Ok::<_, DbError>((a, b))
            })
            .await
            .expect("enqueue");
        assert!(first.is_some());
        assert_eq!(second, None);
    }
}
