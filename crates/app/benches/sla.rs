//! The SLA job with many open clocks (issue D4): does the cost of processing what is due grow
//! with the number of open tickets? For each size (10,000 and 1,000,000 open clocks by default),
//! a fresh SQLite database under /var/tmp is filled through `sla::start` — the path the ticket
//! workflow takes, each clock with its one pending job (its warning; the warning enqueues the
//! breach) — with deadlines spread over the next 30 days, plus 1,000 clocks whose warning and
//! deadline have already passed. The clock is
//! then set to "now" and `Runner::run_once` (the standard runner with its `sla.warn` and
//! `sla.breach` handlers) is driven until nothing is due; the time of that drain is the figure.
//! One CSV row per size is appended to bench/results/sla.csv.
//!
//! `cargo bench -p app --bench sla`; `KEFU_BENCH_SLA_SIZES=10000,100000` chooses the sizes,
//! `KEFU_BENCH_SLA_DUE` the clocks due (1000), `KEFU_BENCH_COMMIT` names the commit in the CSV.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use app::jobs::Runner;
use app::sla::{self, ClockPlan};
use app::{App, Ctx, FixedClock, Settings};
use domain::sla::{SlaMetric, Subject, SubjectKind};
use domain::{CalendarId, Timestamp};
use store::{Db, OpenOptions};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-23 09:00 in Shanghai.
const NOW: Timestamp = Timestamp(1_795_395_600_000);
const AROUND_THE_CLOCK: CalendarId = CalendarId(3);
const CHUNK: usize = 1000;

fn plan(cal: &Arc<domain::calendar::BusinessCalendar>, target_ms: i64) -> ClockPlan {
    ClockPlan {
        metric: SlaMetric::Resolution,
        policy_id: None,
        calendar_id: AROUND_THE_CLOCK,
        calendar: cal.clone(),
        target_ms,
        warn_ms: domain::sla::warn_ms(target_ms, 80),
    }
}

/// Starts `targets.len()` clocks for subjects from `first_id`, started at `at`, in write
/// transactions of `CHUNK` clocks.
async fn fill(
    app: &App,
    cal: &Arc<domain::calendar::BusinessCalendar>,
    first_id: i64,
    at: Timestamp,
    targets: &[i64],
) {
    for (n, chunk) in targets.chunks(CHUNK).enumerate() {
        let base = first_id + i64::try_from(n * CHUNK).expect("fits");
        let plans: Vec<ClockPlan> = chunk.iter().map(|t| plan(cal, *t)).collect();
        app.db
            .write(move |c| {
                Box::pin(async move {
                    for (i, p) in plans.iter().enumerate() {
                        let subject = Subject {
                            kind: SubjectKind::Ticket,
                            id: base + i64::try_from(i).expect("fits"),
                        };
                        sla::start(c, subject, None, None, std::slice::from_ref(p), at).await?;
                    }
                    Ok::<_, app::Error>(())
                })
            })
            .await
            .expect("fill");
    }
}

struct Row {
    open: usize,
    due: usize,
    jobs: usize,
    fill_s: f64,
    run_s: f64,
    db_mb: f64,
}

async fn run(open: usize, due: usize) -> Row {
    let dir = testkit::TempDir::new_in("/var/tmp").expect("temp dir under /var/tmp");
    let db = Db::open(&OpenOptions::sqlite_in(dir.path()))
        .await
        .expect("open");
    let app = App::new(
        db,
        Arc::new(domain::address::Regions::default()),
        Settings::default(),
    );
    let clock = Arc::new(FixedClock::at(NOW));
    let cals = sla::calendars(&app).await.expect("calendars");
    let cal = cals.get(AROUND_THE_CLOCK).expect("24×7 calendar").clone();

    // Deadlines spread evenly over the next 30 days (from an hour on): none is due now.
    let started = Instant::now();
    let span = 30 * DAY - HOUR;
    let open_i = i64::try_from(open).expect("fits");
    let targets: Vec<i64> = (0..open_i).map(|i| HOUR + i * span / open_i).collect();
    fill(&app, &cal, 1, NOW, &targets).await;
    // Clocks started 2 h ago with a 1 h target: warning and breach both due.
    let late = vec![HOUR; due];
    fill(&app, &cal, open_i + 1, NOW.plus_millis(-2 * HOUR), &late).await;
    let fill_s = started.elapsed().as_secs_f64();

    let runner = Runner::standard(app.clone(), clock.clone(), "bench")
        .expect("runner")
        .concurrency(64);
    let started = Instant::now();
    let mut jobs = 0;
    loop {
        let s = runner.run_once().await.expect("run");
        jobs += s.done;
        assert_eq!(s.dead + s.retried + s.lost, 0, "every job succeeds");
        if s.claimed == 0 {
            break;
        }
    }
    let run_s = started.elapsed().as_secs_f64();

    // Exactly the late clocks breached; the others are untouched.
    let sys = Ctx::system("bench", clock.clone());
    let mut breached = 0;
    let mut after = None;
    loop {
        let page = sla::breached(&app, &sys, true, after, 200)
            .await
            .expect("breached");
        breached += page.len();
        match page.last() {
            Some(k) => after = Some((k.breached_at.expect("breached"), k.id)),
            None => break,
        }
    }
    assert_eq!(breached, due, "the late clocks, and only they, breached");
    assert_eq!(jobs, 2 * due, "one warning and one breach per late clock");
    let soon = sla::breaching(&app, &sys, HOUR, 200)
        .await
        .expect("breaching");
    assert!(
        soon.iter().all(|k| k.subject_id <= open_i),
        "open clocks are still running"
    );

    app.db.clone().close().await;
    let db_mb = std::fs::metadata(dir.path().join("kefu.db")).map_or(0.0, |m| {
        #[allow(clippy::cast_precision_loss)]
        let b = m.len() as f64;
        b / 1_048_576.0
    });
    Row {
        open,
        due,
        jobs,
        fill_s,
        run_s,
        db_mb,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::var("KEFU_BENCH_SLA_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let due: usize = std::env::var("KEFU_BENCH_SLA_DUE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let commit = std::env::var("KEFU_BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results/sla.csv");
    let new_file = !path.exists();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open bench/results/sla.csv");
    if new_file {
        writeln!(out, "at,commit,backend,open_clocks,due_clocks,jobs_run,fill_s,run_s,jobs_per_s,ms_per_due_clock,db_mb").expect("write");
    }
    for open in sizes {
        let r = run(open, due).await;
        #[allow(clippy::cast_precision_loss)]
        let (per_s, per_clock) = (r.jobs as f64 / r.run_s, r.run_s * 1000.0 / r.due as f64);
        let line = format!(
            "{},{commit},sqlite,{},{},{},{:.1},{:.3},{:.0},{:.3},{:.1}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            r.open,
            r.due,
            r.jobs,
            r.fill_s,
            r.run_s,
            per_s,
            per_clock,
            r.db_mb
        );
        println!("{line}");
        writeln!(out, "{line}").expect("write");
    }
}
