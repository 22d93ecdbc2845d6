//! Live updates (screen-pops) reach every node: on PostgreSQL two `Db`s on one database stand for
//! two app nodes, and an update published on one arrives at the subscribers of both; on SQLite
//! (one process) the broadcast is in-process.

use std::time::Duration;

use store::{Db, OpenOptions};

async fn next(rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<str>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .ok()?
        .ok()
        .map(|m| m.to_string())
}

#[tokio::test]
async fn sqlite_updates_reach_this_process_subscribers() {
    let dir = testkit::TempDir::new().unwrap();
    let db = Db::open(&OpenOptions::sqlite_in(dir.path())).await.unwrap();
    let mut a = db.live().subscribe().await;
    let mut b = db.live().subscribe().await;
    db.publish_live(r#"{"kind":"call","call_id":1}"#)
        .await
        .unwrap();
    assert_eq!(
        next(&mut a).await.as_deref(),
        Some(r#"{"kind":"call","call_id":1}"#)
    );
    assert_eq!(
        next(&mut b).await.as_deref(),
        Some(r#"{"kind":"call","call_id":1}"#)
    );
    db.close().await;
}

#[tokio::test]
async fn postgres_updates_fan_out_across_nodes() {
    let Some((url, guard)) = testkit::empty_postgres().await else {
        eprintln!("no PostgreSQL: skipped");
        return;
    };
    let one = Db::open(&OpenOptions::new(url.clone())).await.unwrap();
    let two = Db::open(&OpenOptions::new(url)).await.unwrap();
    let mut on_one = one.live().subscribe().await;
    let mut on_two = two.live().subscribe().await;
    two.publish_live("from node two").await.unwrap();
    assert_eq!(next(&mut on_one).await.as_deref(), Some("from node two"));
    assert_eq!(next(&mut on_two).await.as_deref(), Some("from node two"));
    one.publish_live("from node one").await.unwrap();
    assert_eq!(next(&mut on_two).await.as_deref(), Some("from node one"));
    assert_eq!(next(&mut on_one).await.as_deref(), Some("from node one"));
    one.close().await;
    two.close().await;
    guard.drop_database().await;
}
