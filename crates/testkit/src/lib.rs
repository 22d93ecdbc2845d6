//! Shared test helpers. `each_backend` runs a test body on a fresh SQLite file (the production
//! pool and writer) and on a fresh PostgreSQL database cloned from a template that is migrated
//! once per schema version. PostgreSQL comes from `KEFU_TEST_DATABASE_URL`, else the server on
//! 127.0.0.1:5432; set the variable to `none` to run SQLite only.

use std::future::Future;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use domain::address::Regions;
use sqlx::{Connection, Executor};
use store::{Db, OpenOptions};
use tokio::sync::OnceCell;

pub use tempfile::TempDir;

/// Which backend a body is running on, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Sqlite,
    Postgres,
}

/// A database made for one test; dropped with it.
pub struct TestDb {
    pub db: Db,
    pub which: Which,
    _dir: Option<TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&OpenOptions::sqlite_in(dir.path()))
            .await
            .expect("open sqlite");
        Self {
            db,
            which: Which::Sqlite,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database, or None when no server is configured or reachable.
    pub async fn postgres() -> Option<Self> {
        let admin = admin_url()?;
        let template = template(&admin).await.as_ref()?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("kefu_t_{secs}_{:08x}", rand::random::<u32>());
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .expect("connect to PostgreSQL");
        let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let mut tries = 0;
        while let Err(e) = conn.execute(sqlx::AssertSqlSafe(create.clone())).await {
            // Two clones of one template at the same instant can collide; wait and retry.
            tries += 1;
            assert!(tries < 20, "create test database: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
        }
        let url = with_database(&admin, &name);
        let mut opts = OpenOptions::new(url);
        opts.max_connections = 4;
        let db = Db::open(&opts).await.expect("open test database");
        Some(Self {
            db,
            which: Which::Postgres,
            _dir: None,
            pg_name: Some(name),
        })
    }

    /// Drops the PostgreSQL database (SQLite's temp dir goes with `self`).
    pub async fn finish(self) {
        let Self {
            db, pg_name, _dir, ..
        } = self;
        db.close().await;
        if let (Some(name), Some(admin)) = (pg_name, admin_url())
            && let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await
        {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

/// An empty PostgreSQL database (no migrations), for upgrade tests: its URL and a guard that
/// drops it. None when no server is configured or reachable.
pub async fn empty_postgres() -> Option<(String, EmptyPg)> {
    let admin = admin_url()?;
    template(&admin).await.as_ref()?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("kefu_t_{secs}_{:08x}", rand::random::<u32>());
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connect to PostgreSQL");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    Some((with_database(&admin, &name), EmptyPg { admin, name }))
}

pub struct EmptyPg {
    admin: String,
    name: String,
}

impl EmptyPg {
    pub async fn drop_database(self) {
        if let Ok(mut conn) = sqlx::AnyConnection::connect(&self.admin).await {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
        }
    }
}

/// Runs `body` once per available backend, SQLite first.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Db, Which) -> Fut,
    Fut: Future<Output = ()>,
{
    let t = TestDb::sqlite().await;
    body(t.db.clone(), Which::Sqlite).await;
    t.finish().await;
    if let Some(t) = TestDb::postgres().await {
        body(t.db.clone(), Which::Postgres).await;
        t.finish().await;
    }
}

fn admin_url() -> Option<String> {
    match std::env::var("KEFU_TEST_DATABASE_URL") {
        Ok(v) if v == "none" || v.is_empty() => None,
        Ok(v) => Some(v),
        Err(_) => Some("postgres://root@127.0.0.1:5432/test".to_string()),
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

static TEMPLATE: OnceCell<Option<String>> = OnceCell::const_new();

/// The migrated template for this schema, made once under an advisory lock so that parallel
/// test processes agree; leftovers of crashed runs older than two hours are dropped then.
async fn template(admin: &str) -> &'static Option<String> {
    TEMPLATE
        .get_or_init(|| async move {
            sqlx::any::install_default_drivers();
            let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await else {
                eprintln!("testkit: no PostgreSQL at {admin}; running SQLite only");
                return None;
            };
            let name = format!("kefu_tpl_{}", store::schema_fingerprint());
            conn.execute("SELECT pg_advisory_lock(72207)")
                .await
                .expect("advisory lock");
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT 1::BIGINT FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .expect("pg_database");
            if exists.is_none() {
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create template");
                let db = Db::open(&OpenOptions::new(with_database(admin, &name)))
                    .await
                    .expect("migrate template");
                db.close().await;
            }
            let cutoff = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(7200);
            let old: Vec<(String,)> = sqlx::query_as(
                "SELECT datname::TEXT FROM pg_database WHERE datname LIKE 'kefu_t_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            for (db,) in old {
                let secs: u64 = db
                    .split('_')
                    .nth(2)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
                if secs < cutoff {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                        )))
                        .await;
                }
            }
            conn.execute("SELECT pg_advisory_unlock(72207)")
                .await
                .expect("advisory unlock");
            Some(name)
        })
        .await
}

/// The GB/T 2260 registry from the division data `scripts/assets` installs.
pub fn regions() -> Regions {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/assets/vendor/china-division");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/assets)", dir.join(f).display()))
    };
    Regions::from_china_division(
        &read("provinces.json"),
        &read("cities.json"),
        &read("areas.json"),
        &read("streets.json"),
    )
    .expect("division data")
}
