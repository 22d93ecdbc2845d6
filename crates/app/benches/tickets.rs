//! Ticket creates through the use case (issue 4), without HTTP: how many creates per second the
//! SQLite writer sustains, and how many SQL statements each create costs. A fresh database under
//! /var/tmp (real fsyncs, synchronous=FULL), `kefu init`'s administrator, then
//! `KEFU_BENCH_TICKETS` (20,000) creates of a new caller's consultation — each with its own
//! phone and Idempotency-Key, as `bench/lua/tickets.lua` sends them — from
//! `KEFU_BENCH_TICKET_CLIENTS` (32) concurrent tasks. The writer runs one write after another,
//! so with enough clients its time per create is the wall time per create.
//!
//! Statements are counted in a separate, smaller pass (500 creates) with sqlx's statement log
//! and the writer's own (target `store::writer`) switched on for counting only (it costs time, so
//! the timed pass runs without it): writes are the statements that are not SELECTs (every one
//! runs on the writer's connection), reads the SELECTs (on read connections before the write, or
//! inside it).
//!
//! `cargo bench -p app --bench tickets`; appends one row to bench/results/tickets-writer.csv
//! (`KEFU_BENCH_COMMIT` names the commit).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use app::tickets::{self, TicketInput};
use app::{App, Clock, Ctx, Settings, SystemClock};
use store::idempotency::IdemKey;
use store::{Db, OpenOptions};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Counts sqlx's statement events while `ON` is set.
static ON: AtomicBool = AtomicBool::new(false);
static READS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

struct Counter;

struct Summary(bool);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.0 = value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("select");
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}")
                .trim_start_matches('"')
                .to_ascii_lowercase()
                .starts_with("select");
        }
    }
}

impl<S: Subscriber> Layer<S> for Counter {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, m: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // sqlx's statement log (read connections) and the SQLite writer's (`store::direct`).
        ON.load(Ordering::Relaxed) && matches!(m.target(), "sqlx::query" | "store::writer")
    }
    fn on_event(&self, e: &Event<'_>, _: Context<'_, S>) {
        let mut s = Summary(false);
        e.record(&mut s);
        if s.0 {
            READS.fetch_add(1, Ordering::Relaxed);
        } else {
            WRITES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const SUBJECTS: [&str; 6] = [
    "净水器漏水，滤芯接口有水渗出",
    "空调制冷效果差，外机噪音大",
    "热水器显示 E1 故障码",
    "咨询延保服务价格和范围",
    "新买冰箱一周还没安装",
    "洗衣机脱水时剧烈晃动",
];

/// `n` creates from `clients` tasks; phones `1<tag><client: 2 digits><counter: 7 digits>`.
async fn creates(app: &App, ctx: &Ctx, tag: u32, n: usize, clients: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (app, ctx) = (app.clone(), ctx.clone());
        let mine = n / clients + usize::from(client < n % clients);
        tasks.push(tokio::spawn(async move {
            for i in 0..mine {
                let input = TicketInput {
                    kind: "consultation".into(),
                    subject: SUBJECTS[i % SUBJECTS.len()].into(),
                    description: format!("压测来电 {tag}{client}-{i}"),
                    phone: Some(format!("1{tag}{client:02}{i:07}")),
                    ..TicketInput::default()
                };
                let ctx = ctx.clone().with_idem(Some(IdemKey {
                    principal: "bench".into(),
                    route: "POST /api/v1/tickets".into(),
                    key: format!("t-{tag}-{client}-{i}"),
                    body_hash: format!("{tag}-{client}-{i}"),
                }));
                let t = tickets::create(&app, &ctx, input).await.expect("create");
                assert!(!t.attached && !t.replayed, "a new ticket");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::registry().with(Counter).init();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let n = env("KEFU_BENCH_TICKETS", 20_000);
    let clients = env("KEFU_BENCH_TICKET_CLIENTS", 32).clamp(1, 99);
    let commit = std::env::var("KEFU_BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());

    let dir = testkit::TempDir::new_in("/var/tmp").expect("temp dir under /var/tmp");
    let db = Db::open(&OpenOptions::sqlite_in(dir.path()))
        .await
        .expect("open");
    let app = App::new(
        db,
        Arc::new(domain::address::Regions::default()),
        Settings::default(),
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sys = Ctx::system("bench", clock.clone());
    let password = "bench-password-1234";
    app::admin::init_admin(&app, &sys, "admin", password)
        .await
        .expect("admin");
    let s = app::auth::login(&app, &clock, "admin", password, "127.0.0.1")
        .await
        .expect("login");
    let ctx = app::auth::Principal::of_user(s.user, None)
        .expect("principal")
        .ctx(clock.clone(), "bench".into(), "zh-CN".into());

    // Statements per create, counted on a separate pass.
    let counted = 500;
    ON.store(true, Ordering::Relaxed);
    creates(&app, &ctx, 3, counted, clients).await;
    ON.store(false, Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let (reads, writes) = (
        READS.load(Ordering::Relaxed) as f64 / counted as f64,
        WRITES.load(Ordering::Relaxed) as f64 / counted as f64,
    );

    // Warm-up, then the timed pass.
    creates(&app, &ctx, 5, 2_000.min(n), clients).await;
    let secs = creates(&app, &ctx, 8, n, clients).await;
    #[allow(clippy::cast_precision_loss)]
    let per_s = n as f64 / secs;
    app.db.clone().close().await;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/results/tickets-writer.csv");
    let new_file = !path.exists();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open bench/results/tickets-writer.csv");
    if new_file {
        writeln!(out, "at,commit,backend,clients,creates,seconds,creates_per_s,us_per_create,write_statements_per_create,read_statements_per_create,load_avg_1m").expect("write");
    }
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    let line = format!(
        "{},{commit},sqlite,{clients},{n},{secs:.2},{per_s:.0},{:.0},{writes:.1},{reads:.1},{load}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        1e6 / per_s,
    );
    println!("{line}");
    writeln!(out, "{line}").expect("write");
}
