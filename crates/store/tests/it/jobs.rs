//! The job queue and the outbox at the store level: enqueue, claim, leases, dedupe, and the
//! outbox row written with its delivery job.

use domain::{JobId, Scope, Timestamp};
use serde_json::json;
use store::jobs::{self, JobState, NewJob};
use store::outbox::{self, Channel, NewMessage, OutboxQuery, OutboxStatus};
use store::{Db, Error};
use testkit::each_backend;

const T0: Timestamp = Timestamp(1_795_395_600_000);

async fn enqueue(db: &Db, job: NewJob, now: Timestamp) -> Option<JobId> {
    db.write(move |c| Box::pin(async move { jobs::enqueue(c, &job, now).await }))
        .await
        .unwrap()
}

async fn claim(
    db: &Db,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Vec<jobs::Claimed> {
    let backend = db.backend();
    let owner = owner.to_string();
    db.write(move |c| {
        Box::pin(async move { jobs::claim(c, backend, &owner, now, lease_ms, limit).await })
    })
    .await
    .unwrap()
}

async fn get(db: &Db, id: JobId) -> jobs::Job {
    db.read(move |c| Box::pin(async move { jobs::get(c, id).await }))
        .await
        .unwrap()
}

async fn complete(db: &Db, id: JobId, owner: &str, now: Timestamp) -> bool {
    let owner = owner.to_string();
    db.write(move |c| Box::pin(async move { jobs::complete(c, id, &owner, now).await }))
        .await
        .unwrap()
}

#[tokio::test]
async fn enqueued_jobs_are_claimed_when_due_and_completed_once() {
    each_backend(|db, which| async move {
        let a = enqueue(&db, NewJob::new("test", json!({"n": 1}), T0), T0)
            .await
            .unwrap();
        let later = enqueue(
            &db,
            NewJob::new("test", json!({"n": 2}), Timestamp(T0.0 + 60_000)),
            T0,
        )
        .await
        .unwrap();
        let next = db
            .read(|c| Box::pin(async move { jobs::next_run_at(c).await }))
            .await
            .unwrap();
        assert_eq!(next, Some(T0), "{which:?}");

        let got = claim(&db, "w1", T0, 30_000, 10).await;
        assert_eq!(got.len(), 1, "{which:?}: only the due job");
        assert_eq!(got[0].id, a);
        assert_eq!(got[0].payload, json!({"n": 1}));
        assert_eq!(got[0].attempt, 1);
        assert_eq!(got[0].lease_until, Timestamp(T0.0 + 30_000));
        // Held: nobody else gets it while the lease lasts.
        assert!(
            claim(&db, "w2", Timestamp(T0.0 + 1000), 30_000, 10)
                .await
                .is_empty(),
            "{which:?}"
        );
        assert!(
            !complete(&db, a, "w2", T0).await,
            "{which:?}: w2 never held it"
        );
        assert!(
            complete(&db, a, "w1", Timestamp(T0.0 + 500)).await,
            "{which:?}"
        );
        assert!(
            !complete(&db, a, "w1", Timestamp(T0.0 + 600)).await,
            "{which:?}: once"
        );
        let done = get(&db, a).await;
        assert_eq!(done.state, JobState::Done, "{which:?}");
        assert_eq!(done.lease_owner.as_deref(), Some("w1"));
        assert_eq!(
            done.run_at,
            Timestamp(T0.0 + 500),
            "run_at of a done job is when it ended"
        );

        // The later job comes due; next_run_at names it.
        let next = db
            .read(|c| Box::pin(async move { jobs::next_run_at(c).await }))
            .await
            .unwrap();
        assert_eq!(next, Some(Timestamp(T0.0 + 60_000)), "{which:?}");
        let got = claim(&db, "w2", Timestamp(T0.0 + 60_000), 30_000, 10).await;
        assert_eq!(
            got.iter().map(|j| j.id).collect::<Vec<_>>(),
            [later],
            "{which:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_lets_another_owner_claim_and_the_old_owner_cannot_finish() {
    each_backend(|db, which| async move {
        let id = enqueue(&db, NewJob::new("test", json!({}), T0), T0)
            .await
            .unwrap();
        let first = claim(&db, "old", T0, 10_000, 5).await;
        assert_eq!(first.len(), 1, "{which:?}");
        // The old owner stalls past its lease; a new owner takes the job over.
        let t = Timestamp(T0.0 + 10_000);
        let second = claim(&db, "new", t, 10_000, 5).await;
        assert_eq!(second.len(), 1, "{which:?}: the expired lease is claimable");
        assert_eq!(second[0].id, id);
        assert_eq!(second[0].attempt, 2, "a takeover is another attempt");

        let owner = "old".to_string();
        let (completed, retried, buried) = db
            .write(move |c| {
                Box::pin(async move {
                    let a = jobs::complete(c, id, &owner, t).await?;
                    let b = jobs::retry(c, id, &owner, "x", t, t).await?;
                    let d = jobs::bury(c, id, &owner, "x", t).await?;
                    Ok::<_, Error>((a, b, d))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (completed, retried, buried),
            (false, false, false),
            "{which:?}"
        );
        assert_eq!(get(&db, id).await.lease_owner.as_deref(), Some("new"));
        assert!(complete(&db, id, "new", t).await, "{which:?}");
    })
    .await;
}

#[tokio::test]
async fn a_dedupe_key_enqueues_once_and_retry_and_bury_record_errors() {
    each_backend(|db, which| async move {
        let job = || {
            NewJob::new("sweep", json!({"slot": 7}), T0)
                .dedupe("sweep:7")
                .max_attempts(2)
        };
        let first = enqueue(&db, job(), T0).await;
        let again = enqueue(&db, job(), T0).await;
        assert!(first.is_some(), "{which:?}");
        assert_eq!(again, None, "{which:?}: the second enqueue is a no-op");
        let id = first.unwrap();

        let c1 = claim(&db, "w", T0, 5000, 10).await;
        assert_eq!(c1.len(), 1, "{which:?}");
        assert_eq!(c1[0].max_attempts, 2);
        let retry_at = Timestamp(T0.0 + 10_000);
        let ok = db
            .write(move |c| {
                Box::pin(async move { jobs::retry(c, id, "w", "boom", retry_at, T0).await })
            })
            .await
            .unwrap();
        assert!(ok, "{which:?}");
        let j = get(&db, id).await;
        assert_eq!(
            (j.state, j.attempts, j.run_at),
            (JobState::Pending, 1, retry_at),
            "{which:?}"
        );
        assert_eq!(j.last_error.as_deref(), Some("boom"));
        assert!(
            claim(&db, "w", Timestamp(retry_at.0 - 1), 5000, 10)
                .await
                .is_empty(),
            "{which:?}: not yet"
        );
        let c2 = claim(&db, "w", retry_at, 5000, 10).await;
        assert_eq!(c2[0].attempt, 2, "{which:?}");
        let ok = db
            .write(move |c| {
                Box::pin(async move { jobs::bury(c, id, "w", "boom again", retry_at).await })
            })
            .await
            .unwrap();
        assert!(ok);
        let j = get(&db, id).await;
        assert_eq!(j.state, JobState::Dead, "{which:?}");
        assert_eq!(j.last_error.as_deref(), Some("boom again"));
        assert!(
            claim(&db, "w", Timestamp(T0.0 + 10_000_000), 5000, 10)
                .await
                .is_empty(),
            "{which:?}: dead stays dead"
        );
        // Still deduplicated while the dead row exists.
        assert_eq!(enqueue(&db, job(), T0).await, None, "{which:?}");
    })
    .await;
}

#[tokio::test]
async fn done_jobs_are_purged_after_their_time_and_others_stay() {
    each_backend(|db, which| async move {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                enqueue(&db, NewJob::new("test", json!({"i": i}), T0), T0)
                    .await
                    .unwrap(),
            );
        }
        let got = claim(&db, "w", T0, 5000, 3).await;
        assert_eq!(got.len(), 3, "{which:?}: the limit holds");
        for j in &got {
            assert!(complete(&db, j.id, "w", Timestamp(T0.0 + 1)).await);
        }
        let purged = db
            .write(|c| Box::pin(async move { jobs::purge_done(c, Timestamp(T0.0 + 2), 2).await }))
            .await
            .unwrap();
        assert_eq!(purged, 2, "{which:?}: at most the chunk");
        let purged = db
            .write(|c| Box::pin(async move { jobs::purge_done(c, Timestamp(T0.0 + 2), 100).await }))
            .await
            .unwrap();
        assert_eq!(purged, 1, "{which:?}");
        let counts = db
            .read(|c| Box::pin(async move { jobs::count_by_state(c).await }))
            .await
            .unwrap();
        assert_eq!(counts, [(JobState::Pending, 2)], "{which:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_get_the_same_job() {
    each_backend(|db, which| async move {
        db.write(|c| {
            Box::pin(async move {
                for i in 0..200 {
                    jobs::enqueue(c, &NewJob::new("test", json!({"i": i}), T0), T0).await?;
                }
                Ok::<_, Error>(())
            })
        })
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(&db, &format!("w{w}"), T0, 60_000, 7).await;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(
            (n, all.len()),
            (200, 200),
            "{which:?}: every job claimed exactly once"
        );
    })
    .await;
}

#[tokio::test]
async fn an_outbox_message_comes_with_its_delivery_job_and_lists_newest_first() {
    each_backend(|db, which| async move {
        let brand = db
            .write(|c| {
                Box::pin(async move {
                    store::org::insert_brand(
                        c,
                        "aqua",
                        "沁园",
                        domain::account::BrandTier::Standard,
                        T0,
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            let m = NewMessage {
                channel: if i == 2 {
                    Channel::Sms
                } else {
                    Channel::Webhook
                },
                recipient: format!("https://example.invalid/hook/{i}"),
                template: "ticket.replied".into(),
                payload: json!({"ticket": i}),
                ref_entity: Some("ticket".into()),
                ref_id: Some(i),
                brand_id: (i == 1).then_some(brand),
            };
            ids.push(
                db.write(move |c| Box::pin(async move { outbox::insert(c, &m, T0).await }))
                    .await
                    .unwrap(),
            );
        }
        // A failing transaction leaves neither the message nor its job.
        let m = NewMessage {
            channel: Channel::Email,
            recipient: "a@example.invalid".into(),
            template: "t".into(),
            payload: json!({}),
            ref_entity: None,
            ref_id: None,
            brand_id: None,
        };
        let r = db
            .write(move |c| {
                Box::pin(async move {
                    outbox::insert(c, &m, T0).await?;
                    Err::<(), Error>(Error::VersionConflict)
                })
            })
            .await;
        assert!(r.is_err());

        let deliveries = db
            .read(|c| Box::pin(async move { jobs::of_kind(c, outbox::DELIVER_KIND, 100).await }))
            .await
            .unwrap();
        let payloads: Vec<_> = deliveries.iter().map(|j| j.payload.clone()).collect();
        assert_eq!(
            payloads,
            ids.iter()
                .map(|id| json!({"outbox_id": id.0}))
                .collect::<Vec<_>>(),
            "{which:?}: one job per committed message"
        );
        assert_eq!(
            deliveries[0].dedupe_key.as_deref(),
            Some(format!("outbox:{}", ids[0].0).as_str())
        );

        let (first, ok_sent, twice) = {
            let id = ids[0];
            db.write(move |c| {
                Box::pin(async move {
                    let a = outbox::mark_sent(c, id, Some("rcpt-1"), Timestamp(T0.0 + 5)).await?;
                    let b = outbox::mark_failed(c, id, "late", true).await?;
                    let m = outbox::get(c, id).await?;
                    Ok::<_, Error>((m, a, b))
                })
            })
            .await
            .unwrap()
        };
        assert!(ok_sent && !twice, "{which:?}: a sent message stays sent");
        assert_eq!(first.status, OutboxStatus::Sent);
        assert_eq!(first.provider_ref.as_deref(), Some("rcpt-1"));
        assert_eq!(first.attempts, 1);
        assert_eq!(first.sent_at, Some(Timestamp(T0.0 + 5)));

        let page = db
            .read(|c| {
                Box::pin(async move {
                    outbox::list(
                        c,
                        &Scope::All,
                        &OutboxQuery {
                            limit: 2,
                            ..OutboxQuery::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            page.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            [ids[2], ids[1]],
            "{which:?}"
        );
        let after = page.next.clone();
        let rest = db
            .read(move |c| {
                Box::pin(async move {
                    outbox::list(
                        c,
                        &Scope::All,
                        &OutboxQuery {
                            after,
                            limit: 2,
                            ..OutboxQuery::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            rest.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            [ids[0]],
            "{which:?}"
        );
        assert!(rest.next.is_none());
        let scope = Scope::Brands([brand].into());
        let pending = db
            .read(move |c| {
                Box::pin(async move {
                    outbox::list(
                        c,
                        &scope,
                        &OutboxQuery {
                            status: Some(OutboxStatus::Pending),
                            limit: 50,
                            ..OutboxQuery::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            pending.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            [ids[1]],
            "{which:?}: the brand sees its own"
        );
    })
    .await;
}
