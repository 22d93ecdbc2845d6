//! Times the demo builder at scale: `cargo run --release --example demo_scale -p app --
//! 100000 /tmp/demo-scale` (a data folder, emptied first, or a `postgres://` URL of an empty
//! database). Prints the report, customers per second, the database size and how long a few
//! of the pages' queries take on the result.

// Figures for people: a float's 52 bits of mantissa are plenty.
#![allow(clippy::cast_precision_loss)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use app::ledger::{self, CustomerFilter};
use app::{App, Ctx, Settings, SystemClock};
use store::{Db, OpenOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let customers: u64 = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let target = args.next().unwrap_or_else(|| "/tmp/demo-scale".into());
    let opts = if target.starts_with("postgres") {
        OpenOptions::new(target.clone())
    } else {
        let dir = PathBuf::from(&target);
        std::fs::create_dir_all(&dir)?;
        for f in ["kefu.db", "kefu.db-wal", "kefu.db-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        OpenOptions::sqlite_in(&dir)
    };
    let db = Db::open(&opts).await?;
    let app = App::new(db, Arc::new(testkit::regions()), Settings::default());
    let ctx = Ctx::system("demo", Arc::new(SystemClock));

    let t = Instant::now();
    let r = app::demo::build(
        &app,
        &ctx,
        &app::demo::DemoOptions {
            customers,
            seed: 2026,
        },
    )
    .await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "built {} customers, {} devices, {} timeline entries in {secs:.1} s: {:.0} customers/s, {:.0} rows/s (customers+devices+timeline); slowest chunk write {} ms",
        r.customers,
        r.devices,
        r.timeline,
        r.customers as f64 / secs,
        (r.customers + r.devices + r.timeline) as f64 / secs,
        r.slowest_write_ms,
    );
    // A few reads the pages make, on the built ledger.
    let q = |q: &str| CustomerFilter {
        q: Some(q.into()),
        limit: Some(50),
        ..CustomerFilter::default()
    };
    for (label, filter) in [
        ("list newest 50", CustomerFilter::default()),
        ("name prefix 王", q("王")),
        ("name prefix 欧阳", q("欧阳")),
        ("phone fragment 1380", q("1380")),
    ] {
        let t = Instant::now();
        let page = ledger::list_customers(&app, &ctx, filter).await?;
        println!(
            "{label}: {} rows in {:.1} ms",
            page.items.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let t = Instant::now();
    let dups = ledger::duplicates(&app, &ctx).await?;
    println!(
        "duplicates: {} groups in {:.1} ms",
        dups.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let middle = domain::CustomerId(i64::try_from(customers / 2)?);
    let o = ledger::overview(&app, &ctx, middle).await?;
    println!(
        "customer page of {}: {} devices, {} entries in {:.1} ms",
        o.customer.name,
        o.devices.len(),
        o.timeline.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(ctx);
    app.db.close().await;
    if !target.starts_with("postgres") {
        let dir = PathBuf::from(&target);
        // The writer checkpoints the WAL into the database as it closes; give it a moment.
        for _ in 0..50 {
            if !dir.join("kefu.db-wal").exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let size: u64 = ["kefu.db", "kefu.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
            .sum();
        println!(
            "database: {:.1} MB ({:.0} bytes per customer)",
            size as f64 / 1e6,
            size as f64 / r.customers as f64
        );
    }

    Ok(())
}
