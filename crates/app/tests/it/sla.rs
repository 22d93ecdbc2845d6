//! SLA clocks (D4): deadlines on the desk and office calendars (holidays and 调休), pauses while
//! waiting on the customer, warning and breach jobs that run at their instant exactly once and
//! do nothing when stale, the supervisor lists, and the administration of calendars and
//! policies with its refusals.

use app::admin::{self, UserInput};
use app::jobs::Runner;
use app::sla::{
    self, CalendarInput, ClockPlan, DayInput, DeadlineInput, PauseInput, PolicyInput, WeekHours,
};
use app::{Ctx, Error};
use domain::sla::{PolicyKey, SlaMetric, SlaOutcome, Subject};
use domain::ticket::{ComplaintCategory, Priority, TicketKind};
use domain::{CalendarId, Scope, SlaPolicyId, TicketId, Timestamp};
use serde_json::json;
use store::jobs::{self, JobState, NewJob};
use store::outbox::{self, Message, OutboxQuery};
use testkit::each_backend;

use crate::{PASSWORD, World, code, fields};

const MINUTE: i64 = 60_000;
const DESK: CalendarId = CalendarId(1);
const OFFICE: CalendarId = CalendarId(2);

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap_or_else(|| panic!("bad instant {s}"))
}

fn shanghai(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.rfc3339_in(domain::time::DEFAULT_TZ))
}

fn key(kind: TicketKind) -> PolicyKey {
    PolicyKey {
        kind,
        category: None,
        priority: Priority::Normal,
        tier: None,
    }
}

fn ticket(id: i64) -> Subject {
    Subject::ticket(TicketId(id))
}

async fn plans(w: &World, k: &PolicyKey, metrics: &[SlaMetric]) -> Vec<ClockPlan> {
    sla::plan(&w.app, k, metrics).await.expect("plan")
}

/// Starts clocks the way the ticket workflow does: plan before, start inside the write.
async fn start(w: &World, subject: Subject, plans: Vec<ClockPlan>) {
    let now = w.clock.now_ts();
    w.app
        .db
        .write(move |c| {
            Box::pin(async move { sla::start(c, subject, None, None, &plans, now).await })
        })
        .await
        .expect("start clocks");
}

async fn pause(w: &World, subject: Subject) -> usize {
    let now = w.clock.now_ts();
    w.app
        .db
        .write(move |c| Box::pin(async move { sla::pause(c, subject, now).await }))
        .await
        .expect("pause")
}

async fn resume(w: &World, subject: Subject) -> usize {
    let now = w.clock.now_ts();
    let cals = sla::calendars(&w.app).await.expect("calendars");
    w.app
        .db
        .write(move |c| Box::pin(async move { sla::resume(c, subject, now, &cals).await }))
        .await
        .expect("resume")
}

async fn stop(w: &World, subject: Subject, metric: SlaMetric) -> Option<SlaOutcome> {
    let now = w.clock.now_ts();
    w.app
        .db
        .write(move |c| Box::pin(async move { sla::stop(c, subject, metric, now).await }))
        .await
        .expect("stop")
}

async fn clock(w: &World, subject: Subject, metric: SlaMetric) -> sla::ClockView {
    sla::clocks_of(&w.app, &w.sys, subject)
        .await
        .expect("clocks")
        .into_iter()
        .find(|k| k.metric == metric.as_str())
        .unwrap_or_else(|| panic!("{:?}: no {metric} clock", w.which))
}

trait Now {
    fn now_ts(&self) -> Timestamp;
}

impl Now for app::FixedClock {
    fn now_ts(&self) -> Timestamp {
        app::Clock::now(self)
    }
}

async fn messages(w: &World, template: &str) -> Vec<Message> {
    let q = OutboxQuery {
        limit: 200,
        ..OutboxQuery::default()
    };
    let all = w
        .app
        .db
        .read(move |c| Box::pin(async move { outbox::list(c, &Scope::All, &q).await }))
        .await
        .expect("outbox");
    all.items
        .into_iter()
        .filter(|m| m.template == template)
        .collect()
}

async fn pending_jobs(w: &World, kind: &'static str) -> Vec<jobs::Job> {
    w.app
        .db
        .read(move |c| Box::pin(async move { jobs::of_kind(c, kind, 1000).await }))
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.state == JobState::Pending)
        .collect()
}

async fn supervisor(w: &World, login: &str, email: &str) -> Ctx {
    admin::create_user(
        &w.app,
        &w.sys,
        UserInput {
            login: login.into(),
            display_name: "值班主管".into(),
            email: Some(email.into()),
            roles: vec!["manager".into()],
            password: Some(PASSWORD.into()),
            active: true,
            ..UserInput::default()
        },
    )
    .await
    .expect("create supervisor");
    w.sign_in(login).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_first_reply_after_hours_is_due_next_morning() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.clock.set(ts("2026-11-23T20:30:00+08:00"));
        let p = plans(
            &w,
            &key(TicketKind::RepairRequest),
            &[SlaMetric::FirstReply, SlaMetric::Resolution],
        )
        .await;
        assert_eq!(p.len(), 2, "{which:?}");
        start(&w, ticket(1), p).await;
        let k = clock(&w, ticket(1), SlaMetric::FirstReply).await;
        assert_eq!(
            shanghai(k.due_at),
            "2026-11-24T08:30:00.000+08:00",
            "{which:?}"
        );
        // Warning after 80 % of the hour: 48 minutes of business time.
        assert_eq!(
            shanghai(k.warn_at),
            "2026-11-24T08:18:00.000+08:00",
            "{which:?}"
        );
        assert_eq!(k.state, "running");
        assert_eq!(k.remaining_ms, 60 * MINUTE);
        assert_eq!(k.calendar_id, DESK.0);
        // Repairs are resolved within 3 working days (3 × 9 h on the working-day calendar) from
        // 20:30 Monday: Tuesday, Wednesday and Thursday until 18:00.
        let resolution = clock(&w, ticket(1), SlaMetric::Resolution).await;
        assert_eq!(resolution.calendar_id, 2);
        assert_eq!(
            shanghai(resolution.due_at),
            "2026-11-26T18:00:00.000+08:00",
            "{which:?}"
        );
        // Starting again changes nothing.
        w.clock.advance_ms(10 * MINUTE);
        let again = plans(
            &w,
            &key(TicketKind::RepairRequest),
            &[SlaMetric::FirstReply],
        )
        .await;
        start(&w, ticket(1), again).await;
        assert_eq!(
            clock(&w, ticket(1), SlaMetric::FirstReply).await.due_at,
            k.due_at
        );
        // Suggestions are answered within 24 plain hours; premium brands within 30 minutes.
        let suggestion = plans(&w, &key(TicketKind::Suggestion), &[SlaMetric::FirstReply]).await;
        assert_eq!(suggestion[0].target_ms, 24 * 60 * MINUTE);
        let premium = PolicyKey {
            tier: Some(domain::account::BrandTier::Premium),
            ..key(TicketKind::Consultation)
        };
        assert_eq!(
            plans(&w, &premium, &[SlaMetric::FirstReply]).await[0].target_ms,
            30 * MINUTE
        );
        // No policy covers a consultation's proposal: no clock.
        assert!(
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::Proposal])
                .await
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_proposal_on_the_office_calendar_skips_national_day_and_counts_the_makeup_saturday() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("boss", &["admin"]).await;
        let made = sla::create_policy(
            &w.app,
            &admin,
            PolicyInput {
                name: "质量投诉 48 工作小时方案".into(),
                metric: "proposal".into(),
                kind: Some("complaint".into()),
                category: Some("product_quality".into()),
                priority: None,
                tier: None,
                target_minutes: 48 * 60,
                calendar_id: OFFICE.0,
                warn_percent: 80,
                active: true,
            },
        )
        .await
        .expect("create policy");
        assert_eq!(made.version, 1);
        let quality = PolicyKey {
            category: Some(ComplaintCategory::ProductQuality),
            ..key(TicketKind::Complaint)
        };
        w.clock.set(ts("2026-09-30T09:00:00+08:00"));
        let p = plans(&w, &quality, &[SlaMetric::Proposal]).await;
        assert_eq!(
            p[0].policy_id,
            Some(SlaPolicyId(made.id)),
            "{which:?}: the more specific policy"
        );
        start(&w, ticket(7), p).await;
        let proposal = clock(&w, ticket(7), SlaMetric::Proposal).await;
        // 9 h on 30 Sep, closed 1–7 Oct, 8 and 9 Oct, Saturday 10 Oct worked (调休), Sunday
        // closed, 12 Oct, and the last 3 h on 13 Oct.
        assert_eq!(
            shanghai(proposal.due_at),
            "2026-10-13T12:00:00.000+08:00",
            "{which:?}"
        );
        assert_eq!(
            shanghai(proposal.warn_at),
            "2026-10-12T11:24:00.000+08:00",
            "{which:?}"
        );
        // Other complaints keep the 48-plain-hour default.
        let other = plans(&w, &key(TicketKind::Complaint), &[SlaMetric::Proposal]).await;
        assert_eq!(other[0].policy_id, Some(SlaPolicyId(4)));
        // The deadline endpoint agrees.
        let d = sla::deadline(
            &w.app,
            &admin,
            OFFICE,
            DeadlineInput {
                start: "2026-09-30T09:00:00+08:00".into(),
                duration_minutes: 48 * 60,
                pauses: vec![],
            },
        )
        .await
        .expect("deadline");
        assert_eq!(
            d.deadline_local.as_deref(),
            Some("2026-10-13T12:00:00.000+08:00")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_pause_and_resume_move_the_deadline_by_the_paused_business_time() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.clock.set(ts("2026-11-23T20:00:00+08:00"));
        start(
            &w,
            ticket(3),
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
        )
        .await;
        assert_eq!(
            shanghai(clock(&w, ticket(3), SlaMetric::FirstReply).await.due_at),
            "2026-11-23T21:00:00.000+08:00"
        );
        // Waiting on the customer from 20:40 to 08:20 next morning: 20 minutes of business time.
        w.clock.set(ts("2026-11-23T20:40:00+08:00"));
        assert_eq!(pause(&w, ticket(3)).await, 1, "{which:?}");
        let p = clock(&w, ticket(3), SlaMetric::FirstReply).await;
        assert_eq!(p.state, "paused");
        assert_eq!(p.due_at, None);
        assert_eq!(p.remaining_ms, 20 * MINUTE);
        assert!(
            pending_jobs(&w, sla::BREACH_KIND).await.is_empty()
                && pending_jobs(&w, sla::WARN_KIND).await.is_empty(),
            "{which:?}: no warning and no breach while paused"
        );
        assert_eq!(pause(&w, ticket(3)).await, 0, "pausing twice does nothing");
        w.clock.set(ts("2026-11-24T08:20:00+08:00"));
        assert_eq!(resume(&w, ticket(3)).await, 1);
        let r = clock(&w, ticket(3), SlaMetric::FirstReply).await;
        assert_eq!(
            shanghai(r.due_at),
            "2026-11-24T08:40:00.000+08:00",
            "{which:?}"
        );
        assert_eq!(r.state, "running");
        assert_eq!(r.remaining_ms, 20 * MINUTE);
        // 48 of the 60 minutes (80 %) had run at 08:28: the clock's one job is its warning,
        // at the new instant; the breach is enqueued by the warning when it has run.
        let warn: Vec<i64> = pending_jobs(&w, sla::WARN_KIND)
            .await
            .iter()
            .map(|j| j.run_at.0)
            .collect();
        assert_eq!(
            warn,
            vec![ts("2026-11-24T08:28:00+08:00").0],
            "{which:?}: one warning job, at the new instant"
        );
        assert!(pending_jobs(&w, sla::BREACH_KIND).await.is_empty());
        assert_eq!(
            resume(&w, ticket(3)).await,
            0,
            "resuming a running clock does nothing"
        );
        // Replied in time.
        w.clock.set(ts("2026-11-24T08:35:00+08:00"));
        assert_eq!(
            stop(&w, ticket(3), SlaMetric::FirstReply).await,
            Some(SlaOutcome::Met)
        );
        assert_eq!(stop(&w, ticket(3), SlaMetric::FirstReply).await, None);
        let m = clock(&w, ticket(3), SlaMetric::FirstReply).await;
        assert_eq!(m.state, "met");
        assert_eq!(m.remaining_ms, 5 * MINUTE);
        assert!(pending_jobs(&w, sla::BREACH_KIND).await.is_empty());
        assert!(pending_jobs(&w, sla::WARN_KIND).await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_warning_and_breach_jobs_run_at_their_instant_exactly_once() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let boss = supervisor(&w, "zhuguan", "zhuguan@example.com").await;
        let runner = Runner::standard(w.app.clone(), w.clock(), "sla-test").expect("runner");
        w.clock.set(ts("2026-11-23T09:00:00+08:00"));
        start(
            &w,
            ticket(11),
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
        )
        .await;

        w.clock.set(ts("2026-11-23T09:47:59.999+08:00"));
        runner.run_once().await.expect("run");
        assert_eq!(
            clock(&w, ticket(11), SlaMetric::FirstReply).await.warned_at,
            None,
            "{which:?}: not yet"
        );
        w.clock.set(ts("2026-11-23T09:48:00+08:00"));
        let s = runner.run_once().await.expect("run");
        assert_eq!(s.done, 1, "{which:?}: the warning job");
        // The warning enqueued the clock's breach job, at the first millisecond after the
        // deadline.
        assert_eq!(
            pending_jobs(&w, sla::BREACH_KIND)
                .await
                .iter()
                .map(|j| j.run_at.0)
                .collect::<Vec<_>>(),
            vec![ts("2026-11-23T10:00:00.001+08:00").0],
            "{which:?}"
        );
        let k = clock(&w, ticket(11), SlaMetric::FirstReply).await;
        assert_eq!(shanghai(k.warned_at), "2026-11-23T09:48:00.000+08:00");
        assert_eq!(k.state, "warning");
        let warned = messages(&w, "sla.warning").await;
        assert_eq!(warned.len(), 1, "{which:?}");
        assert_eq!(warned[0].recipient, "zhuguan@example.com");
        assert_eq!(warned[0].ref_id, Some(11));
        assert!(
            warned[0].payload["subject"]
                .as_str()
                .unwrap_or("")
                .contains("工单 #11")
        );

        // On the deadline the reply is still in time; the first millisecond after it is not.
        w.clock.set(ts("2026-11-23T10:00:00+08:00"));
        runner.run_once().await.expect("run");
        assert_eq!(
            clock(&w, ticket(11), SlaMetric::FirstReply)
                .await
                .breached_at,
            None
        );
        w.clock.set(ts("2026-11-23T10:00:00.001+08:00"));
        runner.run_once().await.expect("run");
        let b = clock(&w, ticket(11), SlaMetric::FirstReply).await;
        assert_eq!(b.state, "breached", "{which:?}");
        assert_eq!(b.breached_at, Some(ts("2026-11-23T10:00:00.001+08:00")));
        assert_eq!(b.escalated_at, b.breached_at);
        let breach = messages(&w, "sla.breached").await;
        assert_eq!(breach.len(), 1);
        assert_eq!(breach[0].recipient, "zhuguan@example.com");
        let audit = w.audit("sla_clock", Some(b.id)).await;
        assert_eq!(audit.len(), 1, "{which:?}");
        assert_eq!(audit[0].action, "breach");
        // The supervisors' list shows it.
        let listed = sla::breached(&w.app, &boss, true, None, 50)
            .await
            .expect("breached");
        assert_eq!(
            listed.iter().map(|k| k.subject_id).collect::<Vec<_>>(),
            vec![11]
        );

        // Later runs change nothing; the same job enqueued again does nothing either.
        w.clock.set(ts("2026-11-23T11:00:00+08:00"));
        let due_ms = ts("2026-11-23T10:00:00+08:00").0;
        w.app
            .db
            .write(move |c| {
                Box::pin(async move {
                    jobs::enqueue(
                        c,
                        &NewJob::new(
                            sla::BREACH_KIND,
                            json!({ "clock_id": b.id, "due_at": due_ms }),
                            Timestamp(due_ms + 1),
                        ),
                        Timestamp(due_ms),
                    )
                    .await
                })
            })
            .await
            .expect("enqueue");
        runner.run_once().await.expect("run");
        runner.run_once().await.expect("run");
        assert_eq!(
            w.audit("sla_clock", Some(b.id)).await.len(),
            1,
            "{which:?}: breached once"
        );
        assert_eq!(messages(&w, "sla.breached").await.len(), 1);
        assert_eq!(messages(&w, "sla.warning").await.len(), 1);
        // Replying late ends the clock as breached.
        assert_eq!(
            stop(&w, ticket(11), SlaMetric::FirstReply).await,
            Some(SlaOutcome::Breached)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_a_job_made_stale_by_a_pause_does_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let runner = Runner::standard(w.app.clone(), w.clock(), "sla-test").expect("runner");
        w.clock.set(ts("2026-11-23T09:00:00+08:00"));
        start(
            &w,
            ticket(5),
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
        )
        .await;
        let k = clock(&w, ticket(5), SlaMetric::FirstReply).await;
        // A worker already holds the old breach job (it was claimed, so cancelling cannot
        // remove it): simulate with a copy that nothing cancels.
        let (id, old_due) = (k.id, k.due_at.expect("due").0);
        w.app
            .db
            .write(move |c| {
                Box::pin(async move {
                    jobs::enqueue(
                        c,
                        &NewJob::new(
                            sla::BREACH_KIND,
                            json!({ "clock_id": id, "due_at": old_due }),
                            Timestamp(old_due + 1),
                        ),
                        Timestamp(old_due),
                    )
                    .await
                })
            })
            .await
            .expect("enqueue");
        w.clock.set(ts("2026-11-23T09:30:00+08:00"));
        pause(&w, ticket(5)).await;
        w.clock.set(ts("2026-11-23T09:40:00+08:00"));
        resume(&w, ticket(5)).await;
        assert_eq!(
            shanghai(clock(&w, ticket(5), SlaMetric::FirstReply).await.due_at),
            "2026-11-23T10:10:00.000+08:00"
        );
        // The stale job's instant comes: it runs and finds nothing to do.
        w.clock.set(ts("2026-11-23T10:05:00+08:00"));
        runner.run_once().await.expect("run");
        let k = clock(&w, ticket(5), SlaMetric::FirstReply).await;
        assert_eq!(k.breached_at, None, "{which:?}");
        assert_eq!(k.state, "warning");
        assert!(w.audit("sla_clock", Some(k.id)).await.is_empty());
        // The real one breaches at 10:10.
        w.clock.set(ts("2026-11-23T10:10:00.001+08:00"));
        runner.run_once().await.expect("run");
        assert_eq!(
            clock(&w, ticket(5), SlaMetric::FirstReply).await.state,
            "breached"
        );
        // No supervisor with an email: the breach is recorded, no message is written.
        assert!(messages(&w, "sla.breached").await.is_empty());
        assert_eq!(w.audit("sla_clock", Some(k.id)).await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_a_warning_given_up_still_schedules_the_breach() {
    use app::jobs::Handler as _;
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        w.clock.set(ts("2026-11-23T09:00:00+08:00"));
        start(
            &w,
            ticket(6),
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
        )
        .await;
        let warn = pending_jobs(&w, sla::WARN_KIND).await;
        assert_eq!(
            warn.len(),
            1,
            "{which:?}: the clock's first job is its warning"
        );
        assert!(pending_jobs(&w, sla::BREACH_KIND).await.is_empty());
        // The runner buries the warning after its last attempt (say, no mail could be written).
        w.clock.set(ts("2026-11-23T09:50:00+08:00"));
        sla::SlaWarn
            .buried(&w.app, &w.sys, &warn[0].payload, "gave up")
            .await;
        let breach = pending_jobs(&w, sla::BREACH_KIND).await;
        assert_eq!(
            breach.iter().map(|j| j.run_at.0).collect::<Vec<_>>(),
            vec![ts("2026-11-23T10:00:00.001+08:00").0],
            "{which:?}: the escalation still comes"
        );
        // A warning buried after the clock changed schedules nothing: the change did.
        pause(&w, ticket(6)).await;
        sla::SlaWarn
            .buried(&w.app, &w.sys, &warn[0].payload, "gave up")
            .await;
        assert!(
            pending_jobs(&w, sla::BREACH_KIND).await.is_empty(),
            "{which:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_restart_and_the_supervisor_lists() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let boss = supervisor(&w, "zhuguan", "zhuguan@example.com").await;
        let agent = w.user("agent", &["agent"]).await;
        w.clock.set(ts("2026-11-23T09:00:00+08:00"));
        for id in [21, 22] {
            start(
                &w,
                ticket(id),
                plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
            )
            .await;
        }
        w.clock.set(ts("2026-11-23T09:30:00+08:00"));
        start(
            &w,
            ticket(23),
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await,
        )
        .await;
        w.clock.set(ts("2026-11-23T09:40:00+08:00"));
        pause(&w, ticket(22)).await;
        let soon = sla::breaching(&w.app, &boss, 30 * MINUTE, 50)
            .await
            .expect("breaching");
        assert_eq!(
            soon.iter().map(|k| k.subject_id).collect::<Vec<_>>(),
            vec![21],
            "{which:?}: due by 10:10, paused ones have no deadline"
        );
        let within_hour = sla::breaching(&w.app, &boss, 60 * MINUTE, 50)
            .await
            .expect("breaching");
        assert_eq!(
            within_hour.iter().map(|k| k.subject_id).collect::<Vec<_>>(),
            vec![21, 23]
        );
        assert_eq!(
            code(&sla::breaching(&w.app, &agent, 60 * MINUTE, 50).await),
            "forbidden"
        );
        assert_eq!(
            code(&sla::breaching(&w.app, &boss, -1, 50).await),
            "validation"
        );

        // Resolved, then reopened: the resolution clock starts again from the reopening.
        let res = plans(&w, &key(TicketKind::Consultation), &[SlaMetric::Resolution]).await;
        start(&w, ticket(21), res.clone()).await;
        w.clock.set(ts("2026-11-23T12:00:00+08:00"));
        assert_eq!(
            stop(&w, ticket(21), SlaMetric::Resolution).await,
            Some(SlaOutcome::Met)
        );
        w.clock.set(ts("2026-11-24T20:00:00+08:00"));
        let now = w.clock.now_ts();
        let plan = res[0].clone();
        let k = w
            .app
            .db
            .write(move |c| {
                Box::pin(async move { sla::restart(c, ticket(21), None, None, &plan, now).await })
            })
            .await
            .expect("restart");
        assert_eq!(k.outcome, None);
        let r = clock(&w, ticket(21), SlaMetric::Resolution).await;
        assert_eq!(r.state, "running");
        // One working day (9 h) from 20:00 Tuesday, after hours: all of Wednesday.
        assert_eq!(
            shanghai(r.due_at),
            "2026-11-25T18:00:00.000+08:00",
            "{which:?}"
        );
        assert_eq!(
            pending_jobs(&w, sla::WARN_KIND)
                .await
                .iter()
                .filter(|j| j.payload["clock_id"] == r.id)
                .count(),
            1,
            "{which:?}: the restarted clock's warning is its next job"
        );
    })
    .await;
}

fn week(all: &str) -> WeekHours {
    WeekHours {
        mon: all.into(),
        tue: all.into(),
        wed: all.into(),
        thu: all.into(),
        fri: all.into(),
        sat: all.into(),
        sun: all.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_calendar_edits_reach_deadlines_and_bad_input_changes_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("boss", &["admin"]).await;
        let agent = w.user("agent", &["agent"]).await;
        let ask = |start: &str, minutes: i64| DeadlineInput {
            start: start.into(),
            duration_minutes: minutes,
            pauses: vec![],
        };
        let due = |r: Result<sla::DeadlineView, Error>| {
            r.expect("deadline").deadline_local.unwrap_or_default()
        };
        assert_eq!(
            due(sla::deadline(&w.app, &agent, DESK, ask("2026-12-24T20:30:00+08:00", 60)).await),
            "2026-12-25T08:30:00.000+08:00"
        );

        // A closure on Christmas Day moves the deadline a day on (the cache sees the edit).
        let v = sla::put_day(
            &w.app,
            &admin,
            DESK,
            "2026-12-25",
            DayInput {
                rule: "closed".into(),
                hours: None,
                name: Some("年会".into()),
            },
        )
        .await
        .expect("put day");
        assert_eq!(v, 2);
        assert_eq!(
            due(sla::deadline(&w.app, &agent, DESK, ask("2026-12-24T20:30:00+08:00", 60)).await),
            "2026-12-26T08:30:00.000+08:00"
        );
        // Special hours instead: open 10:00–12:00.
        sla::put_day(
            &w.app,
            &admin,
            DESK,
            "2026-12-25",
            DayInput {
                rule: "open".into(),
                hours: Some("10:00-12:00".into()),
                name: None,
            },
        )
        .await
        .expect("put day");
        assert_eq!(
            due(sla::deadline(&w.app, &agent, DESK, ask("2026-12-24T20:30:00+08:00", 60)).await),
            "2026-12-25T10:30:00.000+08:00"
        );
        assert_eq!(
            sla::get_day(&w.app, &agent, DESK, "2026-12-25")
                .await
                .expect("day")
                .hours,
            "10:00-12:00"
        );
        sla::delete_day(&w.app, &admin, DESK, "2026-12-25")
            .await
            .expect("delete");
        assert_eq!(
            code(&sla::get_day(&w.app, &agent, DESK, "2026-12-25").await),
            "not_found"
        );
        // With a pause the clock stands still; an open pause leaves no deadline.
        let paused = sla::deadline(
            &w.app,
            &agent,
            DESK,
            DeadlineInput {
                start: "2026-11-23T09:00:00+08:00".into(),
                duration_minutes: 60,
                pauses: vec![PauseInput {
                    from: "2026-11-23T09:30:00+08:00".into(),
                    to: Some("2026-11-23T10:00:00+08:00".into()),
                }],
            },
        )
        .await
        .expect("deadline");
        assert_eq!(
            paused.deadline_local.as_deref(),
            Some("2026-11-23T10:30:00.000+08:00")
        );
        let open = sla::deadline(
            &w.app,
            &agent,
            DESK,
            DeadlineInput {
                start: "2026-11-23T09:00:00+08:00".into(),
                duration_minutes: 60,
                pauses: vec![PauseInput {
                    from: "2026-11-23T09:30:00+08:00".into(),
                    to: None,
                }],
            },
        )
        .await
        .expect("deadline");
        assert_eq!(open.deadline, None);

        // The weekly hours: the office opens at 08:30 from now on.
        let cal = sla::get_calendar(&w.app, &agent, OFFICE)
            .await
            .expect("calendar");
        assert_eq!(cal.week.mon, "09:00-18:00");
        assert_eq!(cal.week.sat, "");
        assert!(
            cal.days
                .as_ref()
                .is_some_and(|d| d.iter().any(|d| d.date == "2026-10-10" && d.rule == "open"))
        );
        let mut input = CalendarInput {
            name: cal.name.clone(),
            tz: cal.tz.clone(),
            week: cal.week.clone(),
        };
        input.week.mon = "08:30-18:00".into();
        let updated = sla::update_calendar(&w.app, &admin, OFFICE, cal.version, input.clone())
            .await
            .expect("update");
        assert_eq!(updated.version, cal.version + 1);
        assert_eq!(
            due(sla::deadline(&w.app, &agent, OFFICE, ask("2026-11-23T08:00:00+08:00", 60)).await),
            "2026-11-23T09:30:00.000+08:00"
        );

        // Refusals, each leaving everything as it was.
        let before = sla::get_calendar(&w.app, &agent, OFFICE)
            .await
            .expect("calendar");
        let r =
            sla::update_calendar(&w.app, &admin, OFFICE, before.version - 1, input.clone()).await;
        assert_eq!(code(&r), "version_conflict", "{which:?}");
        let r = sla::update_calendar(
            &w.app,
            &admin,
            OFFICE,
            before.version,
            CalendarInput {
                week: week("08:00-25:00"),
                ..input.clone()
            },
        )
        .await;
        assert_eq!(code(&r), "validation");
        assert!(
            fields(&r).contains(&"week.mon".to_string()),
            "{:?}",
            fields(&r)
        );
        let r = sla::update_calendar(
            &w.app,
            &admin,
            OFFICE,
            before.version,
            CalendarInput {
                tz: "Mars/Olympus".into(),
                ..input.clone()
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["tz".to_string()]);
        assert_eq!(
            code(
                &sla::update_calendar(&w.app, &agent, OFFICE, before.version, input.clone()).await
            ),
            "forbidden"
        );
        assert_eq!(
            code(&sla::update_calendar(&w.app, &admin, CalendarId(99), 1, input.clone()).await),
            "not_found"
        );
        let r = sla::put_day(
            &w.app,
            &admin,
            OFFICE,
            "2026-13-01",
            DayInput {
                rule: "closed".into(),
                hours: None,
                name: None,
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["date".to_string()]);
        let r = sla::put_day(
            &w.app,
            &admin,
            OFFICE,
            "2026-12-26",
            DayInput {
                rule: "open".into(),
                hours: Some("25:00-26:00".into()),
                name: None,
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["hours".to_string()]);
        let r = sla::put_day(
            &w.app,
            &admin,
            OFFICE,
            "2026-12-26",
            DayInput {
                rule: "open".into(),
                hours: None,
                name: None,
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["hours".to_string()]);
        let r = sla::put_day(
            &w.app,
            &admin,
            OFFICE,
            "2026-12-26",
            DayInput {
                rule: "maybe".into(),
                hours: None,
                name: None,
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["rule".to_string()]);
        assert_eq!(
            code(
                &sla::put_day(
                    &w.app,
                    &admin,
                    CalendarId(99),
                    "2026-12-26",
                    DayInput {
                        rule: "closed".into(),
                        hours: None,
                        name: None
                    }
                )
                .await
            ),
            "not_found"
        );
        assert_eq!(
            code(
                &sla::put_day(
                    &w.app,
                    &agent,
                    OFFICE,
                    "2026-12-26",
                    DayInput {
                        rule: "closed".into(),
                        hours: None,
                        name: None
                    }
                )
                .await
            ),
            "forbidden"
        );
        assert_eq!(
            code(&sla::delete_day(&w.app, &admin, OFFICE, "2026-12-26").await),
            "not_found"
        );
        assert_eq!(
            code(
                &sla::deadline(
                    &w.app,
                    &agent,
                    CalendarId(99),
                    ask("2026-11-23T08:00:00+08:00", 60)
                )
                .await
            ),
            "not_found"
        );
        let r = sla::deadline(&w.app, &agent, OFFICE, ask("2026-11-23T08:00:00+08:00", -5)).await;
        assert_eq!(fields(&r), vec!["duration_minutes".to_string()]);
        let r = sla::deadline(&w.app, &agent, OFFICE, ask("23.11.2026 08:00", 60)).await;
        assert_eq!(fields(&r), vec!["start".to_string()]);
        let after = sla::get_calendar(&w.app, &agent, OFFICE)
            .await
            .expect("calendar");
        assert_eq!(after.version, before.version, "{which:?}: nothing changed");
        assert_eq!(after.week.mon, before.week.mon);
        assert_eq!(
            after.days.as_ref().map(Vec::len),
            before.days.as_ref().map(Vec::len)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_policies_are_edited_with_versions_and_refused_when_wrong() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let admin = w.user("boss", &["admin"]).await;
        let agent = w.user("agent", &["agent"]).await;
        let all = sla::list_policies(&w.app, &agent).await.expect("policies");
        assert_eq!(all.len(), 10, "{which:?}");
        let first = all.iter().find(|p| p.id == 1).expect("policy 1");
        assert_eq!(
            (
                first.metric.as_str(),
                first.target_minutes,
                first.calendar_id
            ),
            ("first_reply", 60, 1)
        );
        let input = PolicyInput {
            name: "首次响应 45 分钟".into(),
            metric: "first_reply".into(),
            kind: None,
            category: None,
            priority: None,
            tier: None,
            target_minutes: 45,
            calendar_id: DESK.0,
            warn_percent: 50,
            active: true,
        };
        let p = sla::update_policy(&w.app, &admin, SlaPolicyId(1), 1, input.clone())
            .await
            .expect("update");
        assert_eq!((p.version, p.target_minutes), (2, 45));
        assert_eq!(
            plans(&w, &key(TicketKind::Consultation), &[SlaMetric::FirstReply]).await[0].target_ms,
            45 * MINUTE
        );
        assert_eq!(
            code(&sla::update_policy(&w.app, &admin, SlaPolicyId(1), 1, input.clone()).await),
            "version_conflict"
        );
        assert_eq!(
            code(&sla::update_policy(&w.app, &agent, SlaPolicyId(1), 2, input.clone()).await),
            "forbidden"
        );
        let bad = PolicyInput {
            metric: "lunch".into(),
            kind: Some("gossip".into()),
            target_minutes: 0,
            warn_percent: 101,
            calendar_id: 99,
            ..input.clone()
        };
        let r = sla::create_policy(&w.app, &admin, bad).await;
        assert_eq!(
            fields(&r),
            vec!["kind", "metric", "target_minutes", "warn_percent"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        );
        let r = sla::create_policy(
            &w.app,
            &admin,
            PolicyInput {
                calendar_id: 99,
                ..input.clone()
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["calendar_id".to_string()]);
        let r = sla::create_policy(
            &w.app,
            &admin,
            PolicyInput {
                kind: Some("repair_request".into()),
                category: Some("hotline".into()),
                ..input.clone()
            },
        )
        .await;
        assert_eq!(fields(&r), vec!["category".to_string()]);
        assert_eq!(
            sla::list_policies(&w.app, &agent)
                .await
                .expect("policies")
                .len(),
            10,
            "nothing was added"
        );
        assert_eq!(
            sla::get_policy(&w.app, &agent, SlaPolicyId(1))
                .await
                .expect("policy")
                .target_minutes,
            45
        );
    })
    .await;
}
