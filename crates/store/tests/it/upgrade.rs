//! Every schema fixture (data as an older release left it) migrates to head on both backends and
//! reads back through the store.

use domain::customer::{CustomerDraft, CustomerKind};
use domain::{CustomerId, Scope, Timestamp};
use sqlx::{AnyConnection, Connection};
use store::timeline::Of;
use store::{Backend, Db, Error, OpenOptions, customers, devices, timeline};

/// (fixture number, the migration version it was written at)
const FIXTURES: &[(&str, i64)] = &[("03", 20_261_123_000_001)];

fn fixture(nn: &str, backend: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/schema_{nn}.{backend}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn load(url: &str, backend: Backend, version: i64, sql: String) {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.unwrap();
    store::migrate_until(&mut conn, backend, version)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

async fn check(db: &Db, which: &str) {
    let (c, devs, entries) = db
        .read(|c| {
            Box::pin(async move {
                let cust = customers::get(c, &Scope::All, CustomerId(2)).await?;
                let devs = devices::of_customer(c, &Scope::All, CustomerId(2)).await?;
                let entries =
                    timeline::list(c, &Scope::All, Of::Customer(CustomerId(2)), None, None, 50)
                        .await?;
                Ok::<_, Error>((cust, devs, entries))
            })
        })
        .await
        .unwrap();
    assert_eq!(c.name, "王芳", "{which}");
    assert_eq!(c.version, 3, "{which}");
    assert_eq!(devs[0].serial.as_deref(), Some("QQ2025000001"), "{which}");
    assert_eq!(entries.len(), 3, "{which}");
    assert_eq!(
        entries[0].body, "客户来电咨询滤芯更换周期，已告知PP棉3个月一换",
        "{which}"
    );
    // New rows continue after the loaded ids.
    let d = CustomerDraft {
        kind: CustomerKind::Individual,
        name: "新客户".into(),
        phone: None,
        email: None,
        dealer_id: None,
        owner_user_id: None,
        remark: None,
    };
    let id = db
        .write(move |c| Box::pin(async move { customers::insert(c, &d, None, Timestamp(1)).await }))
        .await
        .unwrap();
    assert!(id.0 > 2, "{which}: new id {id}");
}

#[tokio::test]
async fn every_fixture_migrates_to_head_on_both_backends() {
    for &(nn, version) in FIXTURES {
        let dir = testkit::TempDir::new().unwrap();
        let opts = OpenOptions::sqlite_in(dir.path());
        load(
            &format!("sqlite://{}?mode=rwc", dir.path().join("kefu.db").display()),
            Backend::Sqlite,
            version,
            fixture(nn, "sqlite"),
        )
        .await;
        let db = Db::open(&opts).await.unwrap();
        check(&db, &format!("sqlite fixture {nn}")).await;
        db.close().await;

        if let Some((url, guard)) = testkit::empty_postgres().await {
            load(&url, Backend::Postgres, version, fixture(nn, "postgres")).await;
            let db = Db::open(&OpenOptions::new(url)).await.unwrap();
            check(&db, &format!("postgres fixture {nn}")).await;
            db.close().await;
            guard.drop_database().await;
        }
    }
}
