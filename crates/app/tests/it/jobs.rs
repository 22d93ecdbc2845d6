//! Background work (D7, I1): the job runner's retries, backoff and burial, the recurring sweep,
//! the runner woken by an enqueue, and outbox messages delivered to a signed webhook receiver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::jobs::{self, Handler, JobError, RunStats, Runner};
use app::notify::{Channels, Secret, Webhook};
use app::{App, Clock as _, Ctx, Settings, SystemClock};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use domain::{JobId, OutboxId, Timestamp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::jobs::{Job, JobState, NewJob};
use store::outbox::{Channel, Message, NewMessage, OutboxStatus};
use store::{BoxFuture, Db};
use testkit::each_backend;

use crate::{MONDAY_9AM, World};

/// Fails with a retryable error until it has been called `fail_times` times.
struct Flaky {
    calls: Arc<AtomicUsize>,
    fail_times: usize,
    permanent: bool,
    buried: Arc<Mutex<Vec<String>>>,
}

impl Handler for Flaky {
    fn run<'a>(
        &'a self,
        _: &'a App,
        _: &'a Ctx,
        _: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.permanent {
                Err(JobError::Permanent("refused".into()))
            } else if n <= self.fail_times {
                Err(JobError::Retry(format!("failure {n}")))
            } else {
                Ok(())
            }
        })
    }

    fn buried<'a>(
        &'a self,
        _: &'a App,
        _: &'a Ctx,
        _: &'a Value,
        error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.buried.lock().unwrap().push(error.to_string()) })
    }
}

fn flaky(fail_times: usize, permanent: bool) -> (Flaky, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let buried = Arc::new(Mutex::new(Vec::new()));
    (
        Flaky {
            calls: calls.clone(),
            fail_times,
            permanent,
            buried: buried.clone(),
        },
        calls,
        buried,
    )
}

async fn enqueue(w: &World, job: NewJob) -> JobId {
    let now = w.clock.now();
    w.app
        .db
        .write(move |c| Box::pin(async move { store::jobs::enqueue(c, &job, now).await }))
        .await
        .unwrap()
        .expect("a new job")
}

async fn job(db: &Db, id: JobId) -> Job {
    db.read(move |c| Box::pin(async move { store::jobs::get(c, id).await }))
        .await
        .unwrap()
}

async fn message(db: &Db, id: OutboxId) -> Message {
    db.read(move |c| Box::pin(async move { store::outbox::get(c, id).await }))
        .await
        .unwrap()
}

fn stats(claimed: usize, done: usize, retried: usize, dead: usize) -> RunStats {
    RunStats {
        claimed,
        done,
        retried,
        dead,
        lost: 0,
    }
}

#[tokio::test]
async fn failures_are_retried_with_growing_backoff_and_buried_after_the_last_attempt() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let (h, calls, buried) = flaky(usize::MAX, false);
        let runner = Runner::new(w.app.clone(), w.clock(), "w1").handler("flaky", h);
        let id = enqueue(
            &w,
            NewJob::new("flaky", json!({}), MONDAY_9AM).max_attempts(3),
        )
        .await;

        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 0, 1, 0),
            "{which:?}"
        );
        let j = job(&w.app.db, id).await;
        assert_eq!(j.state, JobState::Pending);
        let wait = |attempt: i64| {
            i64::try_from(jobs::backoff_jittered(attempt, id.0).as_millis()).unwrap()
        };
        assert_eq!(
            j.run_at,
            Timestamp(MONDAY_9AM.0 + wait(1)),
            "{which:?}: first retry after about 10 s"
        );
        assert!((8_000..=10_000).contains(&wait(1)), "{}", wait(1));
        assert_eq!(j.last_error.as_deref(), Some("failure 1"));
        // Not before its time.
        w.clock.advance_ms(wait(1) - 1);
        assert_eq!(
            runner.run_once().await.unwrap(),
            RunStats::default(),
            "{which:?}"
        );
        w.clock.advance_ms(1);
        assert_eq!(runner.run_once().await.unwrap(), stats(1, 0, 1, 0));
        let j = job(&w.app.db, id).await;
        assert_eq!(
            j.run_at,
            Timestamp(w.clock.now().0 + wait(2)),
            "{which:?}: then after about 20 s"
        );
        assert!((16_000..=20_000).contains(&wait(2)), "{}", wait(2));
        w.clock.advance_ms(20_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 0, 0, 1),
            "{which:?}: the third attempt is the last"
        );
        let j = job(&w.app.db, id).await;
        assert_eq!((j.state, j.attempts), (JobState::Dead, 3), "{which:?}");
        assert_eq!(j.last_error.as_deref(), Some("failure 3"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            *buried.lock().unwrap(),
            ["failure 3"],
            "{which:?}: the handler heard of it once"
        );
        w.clock.advance_ms(10 * 3600 * 1000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            RunStats::default(),
            "{which:?}: dead stays dead"
        );

        // A job that succeeds on its second attempt ends done; a permanent error buries at once.
        let (h, _, _) = flaky(1, false);
        let (p, pcalls, pburied) = flaky(0, true);
        let runner = Runner::new(w.app.clone(), w.clock(), "w1")
            .handler("once", h)
            .handler("never", p);
        let ok = enqueue(&w, NewJob::new("once", json!({}), w.clock.now())).await;
        let no = enqueue(&w, NewJob::new("never", json!({}), w.clock.now())).await;
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(2, 0, 1, 1),
            "{which:?}"
        );
        w.clock.advance_ms(10_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 1, 0, 0),
            "{which:?}"
        );
        assert_eq!(job(&w.app.db, ok).await.state, JobState::Done);
        let dead = job(&w.app.db, no).await;
        assert_eq!(
            (dead.state, dead.attempts),
            (JobState::Dead, 1),
            "{which:?}"
        );
        assert_eq!(pcalls.load(Ordering::SeqCst), 1);
        assert_eq!(pburied.lock().unwrap().len(), 1);
    })
    .await;
}

#[test]
fn retries_wait_up_to_the_backoff_less_a_jitter_of_at_most_a_fifth() {
    for attempt in 1..=12 {
        let ceiling = jobs::backoff(attempt);
        let waits: std::collections::BTreeSet<Duration> = (1..=200)
            .map(|id| jobs::backoff_jittered(attempt, id))
            .collect();
        assert!(
            waits.iter().all(|w| *w <= ceiling && *w >= ceiling * 4 / 5),
            "attempt {attempt}: {waits:?}"
        );
        // Jobs failing together spread out.
        assert!(waits.len() > 100, "attempt {attempt}: {}", waits.len());
    }
    assert_eq!(jobs::backoff_jittered(3, 42), jobs::backoff_jittered(3, 42));
}

#[test]
fn backoff_doubles_from_ten_seconds_to_an_hour() {
    let secs: Vec<u64> = (1..=12).map(|a| jobs::backoff(a).as_secs()).collect();
    assert_eq!(
        secs,
        [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    );
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_and_the_old_worker_cannot_finish_it() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let id = enqueue(&w, NewJob::new("once", json!({}), MONDAY_9AM)).await;
        // Worker "dead" claims and vanishes (its lease is the default: the timeout + 30 s).
        let backend = w.app.db.backend();
        let now = w.clock.now();
        w.app
            .db
            .write(move |c| {
                Box::pin(
                    async move { store::jobs::claim(c, backend, "dead", now, 90_000, 10).await },
                )
            })
            .await
            .unwrap();
        let (h, calls, _) = flaky(0, false);
        let runner = Runner::new(w.app.clone(), w.clock(), "alive").handler("once", h);
        assert_eq!(
            runner.run_once().await.unwrap(),
            RunStats::default(),
            "{which:?}: leased"
        );
        w.clock.advance_ms(90_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 1, 0, 0),
            "{which:?}: taken over"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let j = job(&w.app.db, id).await;
        assert_eq!(
            (j.state, j.attempts, j.lease_owner.as_deref()),
            (JobState::Done, 2, Some("alive"))
        );
        let now = w.clock.now();
        let late = w
            .app
            .db
            .write(move |c| {
                Box::pin(async move { store::jobs::complete(c, id, "dead", now).await })
            })
            .await
            .unwrap();
        assert!(!late, "{which:?}");
    })
    .await;
}

#[tokio::test]
async fn the_sweep_recurs_per_slot_and_removes_what_has_expired() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        assert!(
            jobs::ensure_sweep(&w.app, &w.sys).await.unwrap(),
            "{which:?}"
        );
        assert!(
            !jobs::ensure_sweep(&w.app, &w.sys).await.unwrap(),
            "{which:?}: once per slot, however many servers start"
        );
        // A job done 8 days ago, one done yesterday.
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let days_ago = |d: i64| Timestamp(MONDAY_9AM.0 - d * 24 * 3600 * 1000);
        let old = enqueue(&w, NewJob::new("noop", json!({}), days_ago(8))).await;
        let recent = enqueue(&w, NewJob::new("noop", json!({}), days_ago(1))).await;
        let backend = w.app.db.backend();
        for (id, ago) in [(old, 8), (recent, 1)] {
            let at = days_ago(ago);
            w.app
                .db
                .write(move |c| {
                    Box::pin(async move {
                        let got = store::jobs::claim(c, backend, "x", at, 1000, 1).await?;
                        assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
                        store::jobs::complete(c, id, "x", at).await
                    })
                })
                .await
                .unwrap();
        }
        let user = w.create_user("agent.s", &["agent"], None, None).await;
        let now = w.clock.now();
        w.app
            .db
            .write(move |c| {
                Box::pin(async move {
                    store::sessions::create(
                        c,
                        "expired",
                        user,
                        "csrf",
                        Timestamp(now.0 - 10),
                        Timestamp(now.0 - 1),
                    )
                    .await?;
                    store::sessions::create(c, "live", user, "csrf", now, Timestamp(now.0 + 1000))
                        .await
                })
            })
            .await
            .unwrap();

        assert_eq!(runner.run_once().await.unwrap().done, 1, "{which:?}");
        let gone = w
            .app
            .db
            .read(|c| Box::pin(async move { store::jobs::get(c, old).await }))
            .await;
        assert!(
            matches!(gone, Err(store::Error::NotFound)),
            "{which:?}: a week-old done job is purged"
        );
        assert_eq!(
            job(&w.app.db, recent).await.state,
            JobState::Done,
            "{which:?}: a day-old one stays"
        );
        let sessions = w
            .app
            .db
            .read(move |c| {
                Box::pin(async move {
                    Ok::<_, store::Error>((
                        store::sessions::find(c, "expired", Timestamp(0))
                            .await?
                            .is_some(),
                        store::sessions::find(c, "live", now).await?.is_some(),
                    ))
                })
            })
            .await
            .unwrap();
        assert_eq!(sessions, (false, true), "{which:?}");
        let sweeps = w
            .app
            .db
            .read(|c| Box::pin(async move { store::jobs::of_kind(c, jobs::SWEEP_KIND, 10).await }))
            .await
            .unwrap();
        let slot = MONDAY_9AM.0 / jobs::SWEEP_EVERY_MS;
        assert_eq!(sweeps.len(), 2, "{which:?}");
        assert_eq!(sweeps[0].state, JobState::Done);
        assert_eq!(sweeps[1].state, JobState::Pending);
        assert_eq!(
            sweeps[1].dedupe_key.as_deref(),
            Some(format!("sweep:{}", slot + 1).as_str())
        );
        assert_eq!(
            sweeps[1].run_at,
            Timestamp((slot + 1) * jobs::SWEEP_EVERY_MS),
            "{which:?}: at the next slot's start"
        );
        w.clock.set(sweeps[1].run_at);
        assert_eq!(runner.run_once().await.unwrap().done, 1, "{which:?}");
        let sweeps = w
            .app
            .db
            .read(|c| Box::pin(async move { store::jobs::of_kind(c, jobs::SWEEP_KIND, 10).await }))
            .await
            .unwrap();
        assert_eq!(sweeps.len(), 3, "{which:?}: and so on");
    })
    .await;
}

async fn enqueue_now(app: &App, kind: &'static str) -> JobId {
    let now = SystemClock.now();
    app.db
        .write(move |c| {
            Box::pin(async move {
                store::jobs::enqueue(c, &NewJob::new(kind, json!({}), now), now).await
            })
        })
        .await
        .unwrap()
        .unwrap()
}

/// Sleeps, then counts: shows a running job finishes before `stop` returns.
struct Slow(Arc<AtomicUsize>);

impl Handler for Slow {
    fn run<'a>(
        &'a self,
        _: &'a App,
        _: &'a Ctx,
        _: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_wakes_the_runner_and_stopping_lets_running_jobs_finish() {
    each_backend(|db, which| async move {
        let app = App::new(db, Arc::new(testkit::regions()), Settings::default());
        let clock: Arc<dyn app::Clock> = Arc::new(SystemClock);
        let done = Arc::new(AtomicUsize::new(0));
        // Polling every minute: only the wake-up signal can explain a quick start.
        let handle = Runner::new(app.clone(), clock, "live")
            .handler("slow", Slow(done.clone()))
            .poll_every(Duration::from_mins(1))
            .spawn();
        // Let the runner subscribe (and, on PostgreSQL, LISTEN) and go idle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let first = enqueue_now(&app, "slow").await;
        let started = std::time::Instant::now();
        // The handler counts before the runner records the outcome: wait for the record.
        while job(&app.db, first).await.state != JobState::Done {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{which:?}: the runner did not wake"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(done.load(Ordering::SeqCst), 1, "{which:?}");
        // One more, and stop while it runs: stop waits for it.
        let second = enqueue_now(&app, "slow").await;
        let started = std::time::Instant::now();
        while job(&app.db, second).await.state != JobState::Running {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{which:?}: not claimed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handle.stop().await;
        assert_eq!(done.load(Ordering::SeqCst), 2, "{which:?}");
        assert_eq!(
            job(&app.db, second).await.state,
            JobState::Done,
            "{which:?}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The signed webhook

const SECRET: &str = "whsec-test-1";

#[derive(Default)]
struct Receiver {
    /// Requests per delivery id.
    hits: HashMap<String, usize>,
    bodies: Vec<Value>,
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Receiver>>;

/// `/flaky`: 500 the first time a delivery comes, then 200. `/reject`: 400.
async fn receive(
    State(state): State<Shared>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (ts, sig, delivery) = (
        header("x-kefu-timestamp"),
        header("x-kefu-signature"),
        header("x-kefu-delivery"),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut r = state.lock().unwrap();
    if sig != expected {
        r.problems.push(format!("bad signature {sig}"));
        return (StatusCode::UNAUTHORIZED, HeaderMap::new(), "bad signature");
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if header("x-kefu-event") != parsed["event"].as_str().unwrap_or("?")
        || delivery.parse::<i64>().ok() != parsed["id"].as_i64()
        || header("content-type") != "application/json"
    {
        r.problems.push(format!(
            "headers do not match the body: {headers:?} {parsed}"
        ));
    }
    r.bodies.push(parsed);
    let n = {
        let e = r.hits.entry(delivery.clone()).or_default();
        *e += 1;
        *e
    };
    let mut out = HeaderMap::new();
    out.insert("x-request-id", format!("rcpt-{delivery}").parse().unwrap());
    match (mode.as_str(), n) {
        ("flaky", 1) => (StatusCode::INTERNAL_SERVER_ERROR, out, "try later"),
        ("reject", _) => (StatusCode::BAD_REQUEST, out, "no such hook"),
        _ => (StatusCode::OK, out, "ok"),
    }
}

async fn fake_receiver() -> (SocketAddr, Shared) {
    let state = Shared::default();
    let router = axum::Router::new()
        .route("/hook/{mode}", axum::routing::post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, state)
}

async fn queue(w: &World, channel: Channel, recipient: String) -> OutboxId {
    let at = w.clock.now();
    let m = NewMessage {
        channel,
        recipient,
        template: "ticket.replied".into(),
        payload: json!({"ticket_no": "TK20261123-000042", "reply": "师傅明天上午上门"}),
        ref_entity: Some("ticket".into()),
        ref_id: Some(42),
        brand_id: None,
    };
    w.app
        .db
        .write(move |c| Box::pin(async move { store::outbox::insert(c, &m, at).await }))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_messages_reach_a_signed_webhook_with_retries_and_final_failures() {
    each_backend(|db, which| async move {
        let (addr, receiver) = fake_receiver().await;
        let mut w = World::new(db, which);
        w.app = App::new(
            w.app.db.clone(),
            w.app.regions.clone(),
            Settings {
                webhook_secret: Some(Secret::new(SECRET)),
                ..Settings::default()
            },
        );
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let flaky = queue(&w, Channel::Webhook, format!("http://{addr}/hook/flaky")).await;
        let rejected = queue(&w, Channel::Webhook, format!("http://{addr}/hook/reject")).await;
        let sms = queue(&w, Channel::Sms, "13800000001".into()).await;
        let bad_url = queue(&w, Channel::Webhook, "ftp://example.invalid/x".into()).await;

        let s = runner.run_once().await.unwrap();
        assert_eq!(
            s,
            stats(4, 1, 1, 2),
            "{which:?}: one retry; refused and a bad URL are dead jobs; no adapter settles the message as failed"
        );
        let m = message(&w.app.db, flaky).await;
        assert_eq!(
            (m.status, m.attempts),
            (OutboxStatus::Pending, 1),
            "{which:?}"
        );
        assert!(
            m.last_error.as_deref().unwrap().contains("HTTP 500"),
            "{:?}",
            m.last_error
        );
        let m = message(&w.app.db, rejected).await;
        assert_eq!(
            (m.status, m.attempts),
            (OutboxStatus::Failed, 1),
            "{which:?}"
        );
        assert!(
            m.last_error.as_deref().unwrap().contains("HTTP 400"),
            "{:?}",
            m.last_error
        );
        let m = message(&w.app.db, sms).await;
        assert_eq!(m.status, OutboxStatus::Failed, "{which:?}");
        assert_eq!(
            m.last_error.as_deref(),
            Some("no adapter for channel sms is configured")
        );
        let m = message(&w.app.db, bad_url).await;
        assert_eq!(m.status, OutboxStatus::Failed, "{which:?}");

        // Ten seconds later the retry goes through; the receiver's request id is kept.
        w.clock.advance_ms(10_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 1, 0, 0),
            "{which:?}"
        );
        let m = message(&w.app.db, flaky).await;
        assert_eq!(m.status, OutboxStatus::Sent, "{which:?}");
        assert_eq!(m.attempts, 2);
        assert_eq!(m.provider_ref, Some(format!("rcpt-{}", flaky.0)));
        assert_eq!(m.sent_at, Some(w.clock.now()));
        assert_eq!(
            runner.run_once().await.unwrap(),
            RunStats::default(),
            "{which:?}: nothing left"
        );

        let r = receiver.lock().unwrap();
        assert!(r.problems.is_empty(), "{which:?}: {:?}", r.problems);
        assert_eq!(r.hits.get(&flaky.0.to_string()), Some(&2), "{which:?}");
        assert_eq!(
            r.hits.get(&rejected.0.to_string()),
            Some(&1),
            "{which:?}: a 400 is not retried"
        );
        let body = r.bodies.last().unwrap();
        assert_eq!(body["event"], "ticket.replied");
        assert_eq!(body["data"]["ticket_no"], "TK20261123-000042");
        assert_eq!(body["created_at"], "2026-11-23T01:00:00.000Z");
    })
    .await;
}

#[tokio::test]
async fn a_message_is_dead_when_every_attempt_failed() {
    each_backend(|db, which| async move {
        let mut w = World::new(db, which);
        w.app = App::new(
            w.app.db.clone(),
            w.app.regions.clone(),
            Settings {
                webhook_secret: Some(Secret::new(SECRET)),
                ..Settings::default()
            },
        );
        // Nothing listens on this port: every attempt is a refused connection (retryable).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let runner = Runner::new(w.app.clone(), w.clock(), "w").handler(
            store::outbox::DELIVER_KIND,
            jobs::DeliverOutbox::new(
                Channels::new().with(Channel::Webhook, Webhook::new(Secret::new(SECRET)).unwrap()),
            ),
        );
        let id = queue(
            &w,
            Channel::Webhook,
            format!("http://127.0.0.1:{port}/hook"),
        )
        .await;
        for attempt in 1..=store::outbox::DELIVER_MAX_ATTEMPTS {
            let s = runner.run_once().await.unwrap();
            assert_eq!(s.claimed, 1, "{which:?}: attempt {attempt}");
            w.clock.advance_ms(3_600_000);
        }
        let m = message(&w.app.db, id).await;
        assert_eq!(m.status, OutboxStatus::Dead, "{which:?}");
        assert_eq!(m.attempts, store::outbox::DELIVER_MAX_ATTEMPTS);
        assert!(m.last_error.is_some());
        assert_eq!(runner.run_once().await.unwrap(), RunStats::default());
    })
    .await;
}
