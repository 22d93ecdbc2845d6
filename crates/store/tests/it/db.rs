use std::sync::Arc;

use domain::customer::{CustomerDraft, CustomerKind};
use domain::{Phone, Scope, Timestamp};
use store::idempotency::{self, IdemKey};
use store::{Db, Error, OpenOptions, customers, search};
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

/// A write whose last statement fails (a duplicate idempotency key) fails alone: its earlier
/// statements are undone and every other write of the group commit lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_whose_last_statement_fails_fails_alone() {
    each_backend(|db, which| async move {
        let taken = key("taken");
        let k = taken.clone();
        db.write(move |c| {
            Box::pin(async move { idempotency::record(c, &k, 1, Timestamp(1)).await })
        })
        .await
        .unwrap();
        let db = Arc::new(db);
        let mut tasks = Vec::new();
        for i in 0..48 {
            let db = db.clone();
            let mut key = taken.clone();
            if i % 6 != 2 {
                key.key = format!("free-{i}");
            }
            let d = draft(&format!("客户{i}"), &format!("137{i:08}"));
            tasks.push(tokio::spawn(async move {
                db.write(move |c| {
                    Box::pin(async move {
                        let id = customers::insert(c, &d, None, Timestamp(1)).await?;
                        idempotency::record(c, &key, id.0, Timestamp(1)).await?;
                        Ok::<_, Error>(id.0)
                    })
                })
                .await
            }));
        }
        let (mut ok, mut dup) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(Error::Duplicate(_)) => dup += 1,
                Err(e) => panic!("{which:?}: unexpected {e}"),
            }
        }
        assert_eq!((ok, dup), (40, 8), "{which:?}");
        let n = db
            .read(|c| Box::pin(async move { customers::count(c, &Scope::All).await }))
            .await
            .unwrap();
        assert_eq!(n, 40, "{which:?}: the refused writes left no customer");
        for i in [2, 3] {
            let found = stored(&db, &format!("free-{i}")).await;
            assert_eq!(found.is_some(), i == 3, "{which:?}: key free-{i}");
        }
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

fn key(k: &str) -> IdemKey {
    IdemKey {
        principal: "user:1".into(),
        route: "POST /x".into(),
        key: k.into(),
        body_hash: "h".into(),
    }
}

/// The resource the idempotency key `k` (of [`key`]) is stored with, if it is.
async fn stored(db: &Db, k: &str) -> Option<i64> {
    let want = key(k);
    db.read(move |c| Box::pin(async move { idempotency::find(c, &want).await }))
        .await
        .unwrap()
        .map(|e| e.resource_id)
}

/// Holds the SQLite writer busy with a write that waits until the returned sender is dropped, so
/// that the writes queued meanwhile form the next group commit together. Returns once the writer
/// runs that write.
async fn hold_writer(
    db: &Db,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let db = db.clone();
    let held = tokio::spawn(async move {
        db.write(move |_| {
            Box::pin(async move {
                let _ = started.send(());
                let _ = wait.await;
                Ok::<_, Error>(())
            })
        })
        .await
        .unwrap();
    });
    running.await.unwrap();
    (release, held)
}

/// Within one group commit, a write that reads must see what the writes before it wrote, a
/// write whose statement fails must fail alone (its savepoint rolled back) and every other write
/// must land.
#[tokio::test]
async fn in_one_group_commit_later_writes_see_earlier_ones_and_a_failing_write_fails_alone() {
    let dir = testkit::TempDir::new().unwrap();
    let db = Db::open(&OpenOptions::sqlite_in(dir.path())).await.unwrap();
    let (release, held) = hold_writer(&db).await;
    let mut writes = Vec::new();
    for i in 0..37 {
        // Every fifth reuses the key of the write before it: a duplicate inside the chunk.
        let k = key(&format!("k{}", if i % 5 == 4 { i - 1 } else { i }));
        writes.push(db.write(move |c| {
            Box::pin(async move { idempotency::record(c, &k, i, Timestamp(1)).await })
        }));
    }
    let seen = key("k10");
    let reader = db.write(move |c| Box::pin(async move { idempotency::find(c, &seen).await }));
    let after = key("after");
    let last = db.write(move |c| {
        Box::pin(async move { idempotency::record(c, &after, 99, Timestamp(1)).await })
    });
    // join! polls in order: every write is queued before the writer is let go.
    let (outcomes, read, last, held, ()) = tokio::join!(
        futures::future::join_all(writes),
        reader,
        last,
        held,
        async { drop(release) }
    );
    held.unwrap();
    for (i, out) in outcomes.into_iter().enumerate() {
        match out {
            Ok(()) => assert_ne!(i % 5, 4, "write {i} should have been refused"),
            Err(Error::Duplicate(_)) => assert_eq!(i % 5, 4, "write {i} was refused"),
            Err(e) => panic!("write {i}: {e}"),
        }
    }
    let read = read
        .unwrap()
        .expect("the reader sees k10, written earlier in its batch");
    assert_eq!(read.resource_id, 10);
    last.unwrap();
    for (k, id) in [
        ("k3", Some(3)),
        ("k8", Some(8)),
        ("k4", None),
        ("k36", Some(36)),
        ("after", Some(99)),
    ] {
        assert_eq!(stored(&db, k).await, id, "key {k}");
    }
}

/// A group commit that cannot finish (here a write ends the writer's savepoint itself, so the
/// step to the next write fails) refuses every write in it and leaves nothing of them; the writer
/// rolls back and the next write lands.
#[tokio::test]
async fn a_failed_group_commit_refuses_its_writes_and_the_next_one_lands() {
    let dir = testkit::TempDir::new().unwrap();
    let db = Db::open(&OpenOptions::sqlite_in(dir.path())).await.unwrap();
    // Both writes are queued while the writer is held: one batch.
    let (release, held) = hold_writer(&db).await;
    let before = key("before");
    let first = db.write(move |c| {
        Box::pin(async move { idempotency::record(c, &before, 1, Timestamp(1)).await })
    });
    let saboteur = db.write(|c| {
        Box::pin(async move {
            sqlx::raw_sql("RELEASE w").execute(&mut *c).await?;
            Ok::<_, Error>(())
        })
    });
    let (first, saboteur, held, ()) = tokio::join!(first, saboteur, held, async { drop(release) });
    held.unwrap();
    assert!(saboteur.is_err(), "the batch could not commit");
    assert!(first.is_err(), "a write of the failed batch is refused too");
    let after = key("after");
    db.write(move |c| {
        Box::pin(async move { idempotency::record(c, &after, 2, Timestamp(1)).await })
    })
    .await
    .expect("the writer goes on after a failed batch");
    for (k, id) in [("before", None), ("after", Some(2))] {
        assert_eq!(stored(&db, k).await, id, "key {k}");
    }
}

fn doc(id: i64, tokens: &str) -> search::DocRow {
    search::DocRow {
        kind: search::DocKind::Ticket,
        doc_id: id,
        brand_id: None,
        customer_id: None,
        status: None,
        sub_kind: None,
        updated_at: 1,
        title: format!("工单 {id}"),
        body: String::new(),
        tokens: tokens.into(),
    }
}

/// The record ids whose documents hold `word`, in id order.
async fn found(db: &Db, word: &str) -> Vec<i64> {
    let q = search::Query {
        terms: vec![search::Term {
            text: word.into(),
            prefix: false,
        }],
        limit: 50,
        ..Default::default()
    };
    let mut ids: Vec<i64> = db
        .read(move |c| Box::pin(async move { search::query(c, &Scope::All, &q).await }))
        .await
        .unwrap()
        .items
        .iter()
        .map(|h| h.doc_id)
        .collect();
    ids.sort_unstable();
    ids
}

async fn upsert(db: &Db, docs: Vec<search::DocRow>, then_fail: bool) -> Result<(), Error> {
    db.write(move |c| {
        Box::pin(async move {
            for d in &docs {
                search::upsert(c, d).await?;
            }
            if then_fail {
                return Err(Error::VersionConflict);
            }
            Ok(())
        })
    })
    .await
}

async fn delete_doc(db: &Db, id: i64) -> Result<(), Error> {
    db.write(move |c| Box::pin(async move { search::delete(c, search::DocKind::Ticket, id).await }))
        .await
}

/// SQLite indexes the words of a group commit's documents once, right before its commit (FTS5
/// would write a segment at every write's savepoint): within one batch a document is updated,
/// deleted, inserted and updated, inserted and deleted, and a failing write's document is rolled
/// back with it — the committed index holds exactly the committed documents' current words, and
/// FTS5's own integrity check (which compares the index with `search_docs`) agrees.
#[tokio::test]
async fn in_one_group_commit_the_search_index_takes_in_exactly_the_committed_documents() {
    let dir = testkit::TempDir::new().unwrap();
    let db = Db::open(&OpenOptions::sqlite_in(dir.path())).await.unwrap();
    upsert(&db, vec![doc(1, "旧词 共有"), doc(2, "待删 共有")], false)
        .await
        .unwrap();
    assert_eq!(found(&db, "共有").await, vec![1, 2]);

    let (release, held) = hold_writer(&db).await;
    let (updated, failed, deleted, reworded, gone, held, ()) = tokio::join!(
        upsert(&db, vec![doc(1, "新词 共有")], false),
        upsert(&db, vec![doc(3, "三号 共有")], true),
        delete_doc(&db, 2),
        upsert(
            &db,
            vec![doc(4, "四号 共有"), doc(4, "四号 改过 共有")],
            false
        ),
        db.write(|c| Box::pin(async move {
            search::upsert(c, &doc(5, "五号 共有")).await?;
            search::delete(c, search::DocKind::Ticket, 5).await
        })),
        held,
        async { drop(release) }
    );
    held.unwrap();
    updated.unwrap();
    assert!(matches!(failed, Err(Error::VersionConflict)));
    deleted.unwrap();
    reworded.unwrap();
    gone.unwrap();

    assert_eq!(found(&db, "共有").await, vec![1, 4]);
    assert_eq!(found(&db, "新词").await, vec![1]);
    assert_eq!(found(&db, "改过").await, vec![4]);
    for word in ["旧词", "待删", "三号", "五号"] {
        assert_eq!(found(&db, word).await, Vec::<i64>::new(), "{word}");
    }
    let pending: i64 = db
        .read(|c| {
            Box::pin(async move {
                sqlx::query_scalar("SELECT COUNT(*) FROM search_pending")
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::from)
            })
        })
        .await
        .unwrap();
    assert_eq!(pending, 0, "every note was taken in");
    db.write(|c| {
        Box::pin(async move {
            sqlx::raw_sql("INSERT INTO search_fts (search_fts) VALUES ('integrity-check')")
                .execute(&mut *c)
                .await?;
            Ok::<_, Error>(())
        })
    })
    .await
    .expect("the index matches search_docs");
}
