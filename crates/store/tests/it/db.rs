use std::sync::Arc;

use domain::customer::{CustomerDraft, CustomerKind};
use domain::{Phone, Scope, Timestamp};
use store::{Db, Error, OpenOptions, customers};
use testkit::each_backend;

fn draft(name: &str, phone: &str) -> CustomerDraft {
    CustomerDraft {
        kind: CustomerKind::Individual,
        name: name.into(),
        phone: Some(Phone::parse(phone).unwrap()),
        email: None,
        dealer_id: None,
        owner_user_id: None,
        remark: None,
    }
}

async fn create(db: &Db, name: &str, phone: &str) -> Result<domain::CustomerId, Error> {
    let d = draft(name, phone);
    db.write(move |c| Box::pin(async move { customers::insert(c, &d, None, Timestamp(1)).await }))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_all_land_and_a_failing_one_fails_alone() {
    each_backend(|db, which| async move {
        let db = Arc::new(db);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                if i % 8 == 3 {
                    // Inserts a row, then fails: its savepoint must roll back and nothing else.
                    let d = draft(&format!("坏{i}"), &format!("139{i:08}"));
                    db.write(move |c| {
                        Box::pin(async move {
                            customers::insert(c, &d, None, Timestamp(1)).await?;
                            Err::<(), Error>(Error::VersionConflict)
                        })
                    })
                    .await
                    .map(|()| 0)
                } else {
                    create(&db, &format!("客户{i}"), &format!("138{i:08}"))
                        .await
                        .map(|id| id.0)
                }
            }));
        }
        let mut ok = 0;
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(Error::VersionConflict) => failed += 1,
                Err(e) => panic!("{which:?}: unexpected {e}"),
            }
        }
        assert_eq!((ok, failed), (56, 8), "{which:?}");
        let n = db
            .read(|c| Box::pin(async move { customers::count(c, &Scope::All).await }))
            .await
            .unwrap();
        assert_eq!(n, 56, "{which:?}: only the successful writes are visible");
        let bad = db
            .read(|c| {
                Box::pin(async move {
                    customers::find_by_phone(c, &Scope::All, &Phone::parse("13900000003").unwrap())
                        .await
                })
            })
            .await
            .unwrap();
        assert!(
            bad.is_empty(),
            "{which:?}: the failed write left a phone behind"
        );
    })
    .await;
}

#[tokio::test]
async fn acknowledged_writes_survive_reopening_and_the_lock_refuses_a_second_writer() {
    let dir = testkit::TempDir::new().unwrap();
    let opts = OpenOptions::sqlite_in(dir.path());
    let db = Db::open(&opts).await.unwrap();
    let id = create(&db, "张三", "13812345678").await.unwrap();
    match Db::open(&opts).await {
        Err(Error::Locked(_)) => {}
        Err(e) => panic!("expected the lock, got {e}"),
        Ok(_) => panic!("a second writer opened the same database"),
    }
    db.close().await;
    // The writer task holds the lock until it has stopped; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let db = Db::open(&opts).await.unwrap();
    let c = db
        .read(move |c| Box::pin(async move { customers::get(c, &Scope::All, id).await }))
        .await
        .unwrap();
    assert_eq!(c.name, "张三");
    assert_eq!(c.phone.unwrap().as_str(), "13812345678");
}
