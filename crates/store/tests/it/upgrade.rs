//! Every schema fixture (data as an older release left it) migrates to head on both backends and
//! reads back through the store, each with its own checks.

use std::collections::BTreeSet;

use domain::customer::{CustomerDraft, CustomerKind, TimelineKind};
use domain::sla::{SlaMetric, SlaOutcome, Subject, SubjectKind};
use domain::ticket::{Owner, TicketStatus};
use domain::time::DEFAULT_TZ;
use domain::{
    BrandId, CalendarId, CallId, CustomerId, OrgUnitId, OutboxId, ReturnCallId, Scope,
    SurveyInvitationId, TicketId, Timestamp, UserId,
};
use sqlx::{AnyConnection, Connection};
use store::search::{DocKind, Query, Term};
use store::tickets::TicketQuery;
use store::timeline::Of;
use store::{
    Backend, Db, Error, OpenOptions, customers, devices, hotline, jobs, mail, notify, outbox,
    search, sla, surveys, tickets, timeline,
};

/// (fixture number, the migration version it was written at)
const FIXTURES: &[(&str, i64)] = &[("03", 20_261_123_000_001), ("04", 20_261_130_121_500)];

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

/// The read-back checks of fixture `nn`.
async fn check(db: &Db, nn: &str, which: &str) {
    match nn {
        "03" => check_03(db, which).await,
        "04" => check_04(db, which).await,
        _ => panic!("fixture {nn} has no checks: add a check_{nn}"),
    }
}

/// A new customer gets an id after the loaded ones.
async fn new_customer_follows(db: &Db, which: &str, last: i64) {
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
    assert!(id.0 > last, "{which}: new customer id {id}");
}

/// On PostgreSQL every identity column continues after the loaded ids (a fixture that forgot a
/// `setval` would make the next insert into that table fail with a duplicate key).
async fn identities_follow_loaded_ids(db: &Db, which: &str) {
    if db.backend() != Backend::Postgres {
        return;
    }
    let behind = db
        .read(|c| {
            Box::pin(async move {
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'
                     ORDER BY table_name",
                )
                .fetch_all(&mut *c)
                .await?;
                let mut behind = Vec::new();
                for (t,) in tables {
                    let (max, last): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT COALESCE(MAX(id), 0), pg_sequence_last_value(pg_get_serial_sequence('{t}', 'id')::regclass) FROM {t}"
                    )))
                    .fetch_one(&mut *c)
                    .await?;
                    if max > last.unwrap_or(0) {
                        behind.push(format!("{t} (max id {max}, sequence at {last:?})"));
                    }
                }
                Ok::<_, Error>(behind)
            })
        })
        .await
        .unwrap();
    assert!(behind.is_empty(), "{which}: sequences behind: {behind:?}");
}

async fn check_03(db: &Db, which: &str) {
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
    identities_follow_loaded_ids(db, which).await;
    new_customer_follows(db, which, 2).await;
}

/// Issue 4's desk: the complaint (ticket 2) routed to 质量部, its plan signed in two parts and
/// returned to the tracker, read back as the ticket page, the queues, the SLA panel, the hotline,
/// the survey and the search read it.
async fn check_04(db: &Db, which: &str) {
    let brand = Scope::Brands(BTreeSet::from([BrandId(1)]));

    // The ticket page: the ticket, its history, messages, plan, compensation and attachment.
    let scope = brand.clone();
    let (t, events, all_msgs, public_msgs, parts, comps, files) = db
        .read(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, TicketId(2)).await?;
                let events = tickets::events(c, TicketId(2)).await?;
                let all_msgs = tickets::messages(c, TicketId(2), true).await?;
                let public_msgs = tickets::messages(c, TicketId(2), false).await?;
                let parts = tickets::plan_parts(c, TicketId(2), t.round).await?;
                let comps = tickets::compensations(c, TicketId(2)).await?;
                let files = tickets::attachments(c, TicketId(2), false).await?;
                Ok::<_, Error>((t, events, all_msgs, public_msgs, parts, comps, files))
            })
        })
        .await
        .unwrap();
    assert_eq!(t.number, "KF20261125-000001", "{which}");
    assert_eq!(t.state.status, TicketStatus::PlanReturned, "{which}");
    assert_eq!(t.state.owner, Owner::User(UserId(2)), "{which}");
    assert_eq!(t.state.tracker, Some(UserId(2)), "{which}");
    assert_eq!(t.state.department, Some(OrgUnitId(2)), "{which}");
    assert!(t.state.owner_fits_status(), "{which}");
    assert_eq!(t.cost_shares.len(), 2, "{which}");
    assert_eq!(
        t.plan_committed_at.map(|x| x.display_in(DEFAULT_TZ)),
        Some("2026-11-28 18:00".to_string()),
        "{which}"
    );
    let history: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e.event.as_str(),
                e.to_status.as_str(),
                e.owner_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("create", "open", Some("李晓萌")),
            ("reply", "open", Some("李晓萌")),
            ("route", "routed", Some("质量部")),
            ("inbound", "routed", Some("质量部")),
            ("accept", "accepted", Some("张伟")),
            ("set_complaint", "accepted", Some("张伟")),
            ("add_plan_part", "accepted", Some("张伟")),
            ("add_plan_part", "accepted", Some("张伟")),
            ("sign_part", "accepted", Some("张伟")),
            ("sign_plan", "plan_signed", Some("张伟")),
            ("return_plan", "plan_returned", Some("李晓萌")),
            ("compensation_proposed", "plan_returned", Some("李晓萌")),
        ],
        "{which}"
    );
    assert_eq!(events[8].actor_name.as_deref(), Some("王磊"), "{which}");
    assert_eq!(
        events[9].data["committed_at"], "2026-11-28T18:00:00.000+08:00",
        "{which}"
    );
    let kinds: Vec<&str> = all_msgs.iter().map(|m| m.visibility.as_str()).collect();
    assert_eq!(
        kinds,
        ["reply", "internal", "inbound", "internal"],
        "{which}"
    );
    let public: Vec<&str> = public_msgs.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        public,
        [
            "已受理，已转质量部处理，我会全程跟进并及时告知进展。",
            "客户催问什么时候上门，漏水照片见附件。"
        ],
        "{which}"
    );
    assert_eq!(parts.len(), 2, "{which}");
    assert!(
        parts.iter().all(|p| p.signed_at.is_some()),
        "{which}: every part signed"
    );
    assert_eq!(parts[1].department, OrgUnitId(3), "{which}");
    assert_eq!(comps.len(), 1, "{which}");
    assert_eq!(comps[0].compensation.amount.as_fen(), 20_000, "{which}");
    assert_eq!(comps[0].compensation.status.as_str(), "proposed", "{which}");
    assert_eq!(files.len(), 1, "{which}");
    assert_eq!(files[0].file_name, "漏水照片.jpg", "{which}");
    assert_eq!(
        files[0].author_label.as_deref(),
        Some("安居门业 <service@anju.example.com>"),
        "{which}"
    );

    // The queues: 李晓萌's open tickets hold the complaint only (the consultation is closed).
    let scope = brand.clone();
    let mine = db
        .read(move |c| {
            Box::pin(async move {
                tickets::list(
                    c,
                    &scope,
                    &TicketQuery {
                        owner_user: Some(UserId(2)),
                        open_only: true,
                        limit: 50,
                        ..TicketQuery::default()
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    let numbers: Vec<&str> = mine.items.iter().map(|t| t.number.as_str()).collect();
    assert_eq!(numbers, ["KF20261125-000001"], "{which}");

    // The SLA panel: first reply and proposal met, resolution running with its two jobs, every
    // deadline the one the calendar gives.
    let scope = brand.clone();
    let (clocks, calendars, warn_jobs, breach_jobs) = db
        .read(move |c| {
            Box::pin(async move {
                let subject = Subject {
                    kind: SubjectKind::Ticket,
                    id: 2,
                };
                let clocks = sla::clocks_in_scope(c, &scope, subject).await?;
                let mut calendars = Vec::new();
                for k in &clocks {
                    let rec = sla::calendar(c, k.calendar_id).await?;
                    let days = sla::days(c, k.calendar_id).await?;
                    calendars.push(rec.calendar(&days));
                }
                let warn = jobs::of_kind(c, "sla.warn", 10).await?;
                let breach = jobs::of_kind(c, "sla.breach", 10).await?;
                Ok::<_, Error>((clocks, calendars, warn, breach))
            })
        })
        .await
        .unwrap();
    let by_metric: Vec<(SlaMetric, Option<SlaOutcome>, Option<String>)> = clocks
        .iter()
        .map(|k| {
            (
                k.metric,
                k.outcome,
                k.due_at.map(|x| x.display_in(DEFAULT_TZ)),
            )
        })
        .collect();
    assert_eq!(
        by_metric,
        [
            (
                SlaMetric::FirstReply,
                Some(SlaOutcome::Met),
                Some("2026-11-25 10:30".into())
            ),
            (
                SlaMetric::Proposal,
                Some(SlaOutcome::Met),
                Some("2026-11-27 10:00".into())
            ),
            (SlaMetric::Resolution, None, Some("2026-12-02 10:00".into())),
        ],
        "{which}"
    );
    for (k, cal) in clocks.iter().zip(&calendars) {
        assert_eq!(
            cal.add_business(k.started_at, k.target_ms).ok(),
            k.due_at,
            "{which}: {:?} due",
            k.metric
        );
        assert_eq!(
            cal.add_business(k.started_at, k.warn_ms).ok(),
            k.warn_at,
            "{which}: {:?} warning",
            k.metric
        );
    }
    let proposal = &clocks[1];
    assert_eq!(
        proposal.stopped_at.map(|x| x.display_in(DEFAULT_TZ)),
        Some("2026-11-25 14:30".to_string()),
        "{which}: the proposal clock stopped when the plan was signed"
    );
    let resolution = &clocks[2];
    let job_for = |js: &[jobs::Job]| {
        js.iter()
            .filter(|j| j.payload["clock_id"] == resolution.id.0)
            .map(|j| (j.run_at, j.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        job_for(&warn_jobs),
        [(resolution.warn_at.unwrap(), jobs::JobState::Pending)],
        "{which}"
    );
    assert_eq!(
        job_for(&breach_jobs),
        [(
            resolution.due_at.unwrap().plus_millis(1),
            jobs::JobState::Pending
        )],
        "{which}"
    );

    // The hotline: the dealer's call that opened the ticket, 王芳's missed call and its task.
    let scope = brand.clone();
    let (call, missed, task, attempts) = db
        .read(move |c| {
            Box::pin(async move {
                let call = hotline::get_call(c, &scope, CallId(1)).await?;
                let missed = hotline::get_call(c, &scope, CallId(2)).await?;
                let task = hotline::get_return_call(c, &scope, ReturnCallId(1)).await?;
                let attempts = hotline::attempts(c, ReturnCallId(1)).await?;
                Ok::<_, Error>((call, missed, task, attempts))
            })
        })
        .await
        .unwrap();
    assert_eq!(call.state.as_str(), "completed", "{which}");
    assert_eq!(call.agent_name.as_deref(), Some("李晓萌"), "{which}");
    assert_eq!(
        call.customer_name.as_deref(),
        Some("杭州西湖区安居门业专卖店"),
        "{which}"
    );
    assert_eq!(t.source_call_id, Some(call.id.0), "{which}");
    assert_eq!(missed.state.as_str(), "missed", "{which}");
    assert_eq!(missed.return_call_id, Some(task.id), "{which}");
    assert_eq!(task.status.as_str(), "open", "{which}");
    assert_eq!(task.phone.as_str(), "13900001111", "{which}");
    assert_eq!(task.customer_name.as_deref(), Some("王芳"), "{which}");
    assert_eq!(task.attempts, 1, "{which}");
    assert_eq!(attempts.len(), 1, "{which}");
    assert_eq!(attempts[0].outcome.as_str(), "no_answer", "{which}");

    // The survey of the closed consultation, the e-mail, the dealer's CRM subscription and its
    // notice waiting for a retry, the brand's calendar with its holiday.
    let scope = brand.clone();
    let (inv, consultation, m, raw, subs, notice, days) = db
        .read(move |c| {
            Box::pin(async move {
                let inv = surveys::get(c, &scope, SurveyInvitationId(1)).await?;
                let consultation = tickets::get(c, &scope, TicketId(1)).await?;
                let m = mail::get(c, &scope, 1).await?;
                let raw = mail::raw(c, &scope, 1).await?;
                let subs = notify::list_subscriptions(c, &scope).await?;
                let notice = outbox::get(c, OutboxId(2)).await?;
                let days = sla::days(c, CalendarId(4)).await?;
                Ok::<_, Error>((inv, consultation, m, raw, subs, notice, days))
            })
        })
        .await
        .unwrap();
    assert_eq!(consultation.state.status, TicketStatus::Closed, "{which}");
    assert_eq!(inv.subject_label, consultation.number, "{which}");
    assert_eq!(inv.status.as_str(), "answered", "{which}");
    let response = inv.response.expect("the survey's answer");
    assert_eq!(response.answers["satisfaction"], 5, "{which}");
    assert!(!response.poor, "{which}");
    assert_eq!(m.status.as_str(), "threaded", "{which}");
    assert_eq!(m.ticket_id, Some(TicketId(2)), "{which}");
    assert_eq!(i64::try_from(raw.len()).unwrap(), m.size, "{which}");
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("客户催问什么时候上门"),
        "{which}"
    );
    assert_eq!(subs.len(), 1, "{which}");
    assert_eq!(subs[0].name, "安居门业 CRM", "{which}");
    assert!(
        subs[0].events.iter().any(|e| e == "ticket.routed"),
        "{which}"
    );
    assert_eq!(notice.status.as_str(), "pending", "{which}");
    assert_eq!(notice.payload["ticket"]["department"], "质量部", "{which}");
    assert_eq!(days.len(), 1, "{which}");
    assert_eq!(days[0].name, "公司年会", "{which}");

    // The search box finds the complaint by a Chinese word, and the brand's timeline of 王芳
    // carries both tickets and the survey.
    let scope = brand.clone();
    let (hits, entries) = db
        .read(move |c| {
            Box::pin(async move {
                let hits = search::query(
                    c,
                    &scope,
                    &Query {
                        terms: vec![Term {
                            text: "漏水".into(),
                            prefix: false,
                        }],
                        limit: 10,
                        ..Query::default()
                    },
                )
                .await?;
                let entries =
                    timeline::list(c, &scope, Of::Customer(CustomerId(2)), None, None, 50).await?;
                Ok::<_, Error>((hits, entries))
            })
        })
        .await
        .unwrap();
    let found: Vec<(DocKind, i64)> = hits.items.iter().map(|h| (h.kind, h.doc_id)).collect();
    assert_eq!(found, [(DocKind::Ticket, 2)], "{which}");
    assert_eq!(
        hits.items[0].title, "KF20261125-000001 净水器接头漏水，橱柜底板泡坏",
        "{which}"
    );
    let about: Vec<(TimelineKind, Option<TicketId>)> =
        entries.iter().map(|e| (e.kind, e.ticket_id)).collect();
    assert_eq!(
        about,
        [
            (TimelineKind::Ticket, Some(TicketId(2))),
            (TimelineKind::Ticket, Some(TicketId(2))),
            (TimelineKind::Survey, Some(TicketId(1))),
            (TimelineKind::Ticket, Some(TicketId(1))),
            (TimelineKind::Note, None),
            (TimelineKind::DeviceAdded, None),
        ],
        "{which}"
    );

    // New rows continue after the loaded ones: a ticket (as tickets::create stores it; the
    // day's counter goes on from the stored one), its first event, and a customer.
    let new = t.clone();
    let (id, event) = db
        .write(move |c| {
            Box::pin(async move {
                let (id, number) =
                    tickets::insert_numbered(c, &new, None, "ticket", "2026-11-25", "KF20261125-")
                        .await?;
                assert_eq!(number, "KF20261125-000002");
                let event = tickets::insert_event(
                    c,
                    &tickets::NewEvent {
                        ticket_id: id,
                        brand_id: new.brand_id,
                        at: Timestamp(1_796_000_000_000),
                        actor_id: Some(UserId(2)),
                        actor_label: None,
                        event: "create",
                        from: TicketStatus::Open,
                        to: TicketStatus::Open,
                        owner: Owner::User(UserId(2)),
                        data: serde_json::json!({}),
                    },
                )
                .await?;
                Ok::<_, Error>((id, event))
            })
        })
        .await
        .unwrap();
    assert!(id.0 > 2, "{which}: new ticket id {id}");
    assert!(event > 18, "{which}: new event id {event}");
    identities_follow_loaded_ids(db, which).await;
    new_customer_follows(db, which, 2).await;
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
        check(&db, nn, &format!("sqlite fixture {nn}")).await;
        db.close().await;

        if let Some((url, guard)) = testkit::empty_postgres().await {
            load(&url, Backend::Postgres, version, fixture(nn, "postgres")).await;
            let db = Db::open(&OpenOptions::new(url)).await.unwrap();
            check(&db, nn, &format!("postgres fixture {nn}")).await;
            db.close().await;
            guard.drop_database().await;
        }
    }
}
