//! A retried request never duplicates (I5): creates with an Idempotency-Key happen once per
//! (principal, route, key); the same key with another body is refused.

use std::collections::BTreeSet;

use app::ledger::{self, CustomerInput, NoteInput};
use app::tickets;
use app::{Ctx, IdemKey};
use testkit::each_backend;

use crate::{World, code, individual};

const ROUTE: &str = "POST /api/v1/customers";

/// The Idempotency-Key of a signed-in user's request (what the web layer builds).
fn key(ctx: &Ctx, route: &str, key: &str, body_hash: &str) -> IdemKey {
    IdemKey {
        principal: format!("user:{}", ctx.actor.user_id().map_or(0, |u| u.0)),
        route: route.into(),
        key: key.into(),
        body_hash: body_hash.into(),
    }
}

#[tokio::test]
async fn a_retried_create_answers_with_the_first_result() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.idem", &["agent"]).await;
        let body = || individual("郑一", "13800000021");
        let with_key = agent
            .clone()
            .with_idem(Some(key(&agent, ROUTE, "k-1", "hash-a")));

        let first = ledger::create_customer(&w.app, &with_key, body())
            .await
            .unwrap();
        assert!(!first.replayed, "{which:?}");
        w.clock.advance_ms(5_000);
        let retry = ledger::create_customer(&w.app, &with_key, body())
            .await
            .unwrap();
        assert_eq!(retry.id, first.id);
        assert!(retry.replayed);
        assert_eq!(w.count_customers().await, 1);
        let o = ledger::overview(&w.app, &agent, first.id).await.unwrap();
        assert_eq!(o.timeline.len(), 1, "one 'created' entry");
        assert_eq!(w.audit("customer", None).await.len(), 1, "one audit row");

        // The same key with another body is a client bug, refused without a change.
        let other_body = agent
            .clone()
            .with_idem(Some(key(&agent, ROUTE, "k-1", "hash-b")));
        let r =
            ledger::create_customer(&w.app, &other_body, individual("郑二", "13800000022")).await;
        assert_eq!(code(&r), "idempotency_key_reused", "{which:?}");
        assert_eq!(w.count_customers().await, 1);

        // Keys are scoped to the route and to the principal.
        let other_route =
            agent
                .clone()
                .with_idem(Some(key(&agent, "POST /api/v1/imports", "k-1", "hash-a")));
        let r = ledger::create_customer(
            &w.app,
            &other_route,
            CustomerInput {
                allow_duplicate: true,
                ..body()
            },
        )
        .await
        .unwrap();
        assert!(!r.replayed);
        assert_ne!(r.id, first.id);
        let colleague = w.user("agent.idem2", &["agent"]).await;
        let theirs = colleague
            .clone()
            .with_idem(Some(key(&colleague, ROUTE, "k-1", "hash-a")));
        let r = ledger::create_customer(&w.app, &theirs, individual("郑三", "13800000023"))
            .await
            .unwrap();
        assert!(!r.replayed);
        assert_eq!(w.count_customers().await, 3);
    })
    .await;
}

#[tokio::test]
async fn a_refused_create_does_not_use_up_its_key() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.idem3", &["agent"]).await;
        let existing = w.customer(&agent, individual("冯一", "13800000031")).await;

        let k = agent
            .clone()
            .with_idem(Some(key(&agent, ROUTE, "k-dup", "h-1")));
        let r = ledger::create_customer(&w.app, &k, individual("冯二", "13800000031")).await;
        assert_eq!(code(&r), "duplicate", "{which:?}");
        let r = ledger::create_customer(&w.app, &k, individual("冯二", "1380000")).await;
        assert_eq!(code(&r), "validation");

        // The corrected request (another body) with the same key goes through once.
        let fixed = agent
            .clone()
            .with_idem(Some(key(&agent, ROUTE, "k-dup", "h-2")));
        let made = ledger::create_customer(&w.app, &fixed, individual("冯二", "13800000032"))
            .await
            .unwrap();
        assert!(!made.replayed);
        assert_ne!(made.id, existing);
        let again = ledger::create_customer(&w.app, &fixed, individual("冯二", "13800000032"))
            .await
            .unwrap();
        assert_eq!((again.id, again.replayed), (made.id, true));
        assert_eq!(w.count_customers().await, 2);
    })
    .await;
}

/// Sends the same keyed create eight times at once and checks that every answer names one
/// customer, that exactly one of them made it, and that nothing was written twice.
async fn race(w: &World, input: CustomerInput) {
    let which = w.which;
    let agent = w.user("agent.race", &["agent"]).await;
    let ctx = agent
        .clone()
        .with_idem(Some(key(&agent, ROUTE, "k-race", "h")));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, ctx, input) = (w.app.clone(), ctx.clone(), input.clone());
        tasks.push(tokio::spawn(async move {
            ledger::create_customer(&app, &ctx, input).await
        }));
    }
    let mut ids = BTreeSet::new();
    let mut fresh = 0;
    for t in tasks {
        let created = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{which:?}: a retry was answered with {e:?}"));
        ids.insert(created.id);
        if !created.replayed {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1, "{which:?}: every answer names one customer");
    assert_eq!(fresh, 1, "{which:?}: exactly one request made it");
    assert_eq!(w.count_customers().await, 1, "{which:?}");
    let id = *ids.first().unwrap();
    let o = ledger::overview(&w.app, &agent, id).await.unwrap();
    assert_eq!(o.timeline.len(), 1);
    assert_eq!(w.audit("customer", None).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_make_one_customer() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        race(
            &w,
            CustomerInput {
                kind: "individual".into(),
                name: "卫一".into(),
                email: Some("wei@example.cn".into()),
                ..CustomerInput::default()
            },
        )
        .await;
    })
    .await;
}

/// The same race with a phone: the requests that lose must still be answered as replays, not
/// as duplicates of the customer their own first attempt made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_and_a_phone_are_all_answered_as_replays() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        race(&w, individual("卫二", "13800000042")).await;
    })
    .await;
}

#[tokio::test]
async fn a_retried_note_is_added_once() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let agent = w.user("agent.note", &["agent"]).await;
        let id = w.customer(&agent, individual("蒋一", "13800000051")).await;
        let ctx = agent.clone().with_idem(Some(key(
            &agent,
            "POST /api/v1/customers/{id}/notes",
            "n-1",
            "h",
        )));
        let note = || NoteInput {
            category: "consultation".into(),
            body: "咨询滤芯价格".into(),
            device_id: None,
        };
        let a = ledger::add_note(&w.app, &ctx, id, note()).await.unwrap();
        let b = ledger::add_note(&w.app, &ctx, id, note()).await.unwrap();
        assert_eq!(a.id, b.id, "{which:?}");
        assert!(!a.replayed && b.replayed);
        let o = ledger::overview(&w.app, &agent, id).await.unwrap();
        assert_eq!(
            o.timeline.iter().filter(|e| e.kind == "note").count(),
            1,
            "{which:?}"
        );
    })
    .await;
}

/// Ticket ids and day numbers are never handed out twice. On SQLite the writer counts them and
/// a create writes its row at the end of its write; a retried create whose key is already
/// stored rolls back after taking an id and a number, which leaves a gap, never a duplicate.
/// Sent concurrently: twelve keys, each twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ticket_creates_and_their_retries_never_share_an_id_or_a_number() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.department("SVC", "客服中心", "service").await;
        let agent = w.user("agent.tickets", &["agent"]).await;
        let input = |i: usize| tickets::TicketInput {
            kind: "consultation".into(),
            subject: format!("咨询 {i}"),
            phone: Some(format!("1390000{i:04}")),
            ..tickets::TicketInput::default()
        };
        let mut tasks = Vec::new();
        for i in 0..24 {
            let (app, input) = (w.app.clone(), input(i % 12));
            let ctx = agent.clone().with_idem(Some(key(
                &agent,
                "POST /api/v1/tickets",
                &format!("t-{}", i % 12),
                &format!("h-{}", i % 12),
            )));
            tasks.push(tokio::spawn(async move {
                (i % 12, tickets::create(&app, &ctx, input).await)
            }));
        }
        let mut first: Vec<Option<(i64, String)>> = vec![None; 12];
        let mut replays = 0;
        for t in tasks {
            let (k, made) = t.await.unwrap();
            let made = made.unwrap_or_else(|e| panic!("{which:?}: create {k}: {e}"));
            replays += usize::from(made.replayed);
            match &first[k] {
                None => first[k] = Some((made.id, made.number)),
                Some((id, number)) => {
                    assert_eq!((made.id, &made.number), (*id, number), "{which:?}: key {k}");
                }
            }
        }
        assert_eq!(replays, 12, "{which:?}: one of each pair is the replay");
        let made: Vec<(i64, String)> = first.into_iter().flatten().collect();
        let ids: BTreeSet<i64> = made.iter().map(|(id, _)| *id).collect();
        let numbers: BTreeSet<&String> = made.iter().map(|(_, n)| n).collect();
        assert_eq!((ids.len(), numbers.len()), (12, 12), "{which:?}: {made:?}");

        // A create after them numbers on from the highest number given.
        let last = tickets::create(&w.app, &agent, input(99)).await.unwrap();
        assert!(!ids.contains(&last.id), "{which:?}");
        assert!(
            numbers.iter().all(|n| **n < last.number),
            "{which:?}: {} after {numbers:?}",
            last.number
        );
        // Each stored ticket is one of those answered, with the number it was answered with.
        let listed = tickets::list(&w.app, &w.sys, tickets::TicketListInput::default())
            .await
            .unwrap();
        let stored: BTreeSet<(i64, String)> = listed
            .items
            .iter()
            .map(|t| (t.id, t.number.clone()))
            .collect();
        let mut answered: BTreeSet<(i64, String)> = made.into_iter().collect();
        answered.insert((last.id, last.number));
        assert_eq!(stored, answered, "{which:?}");
    })
    .await;
}
