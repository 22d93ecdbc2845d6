//! Issue 4's "done when", played through the use cases on a demo ledger on each backend: the
//! dealer's complaint from the hotline to the quality department and back, a signed plan with
//! committed times, the account owner informing the dealer, the dealer confirming; SLA clocks
//! across a night and the National Day holiday; an urge that escalates; missed and after-hours
//! calls becoming return calls; a poor survey answer opening a follow-up; search by a Chinese
//! word. The checks read the state back through the same views the pages use.

use std::sync::Arc;

use app::demo::DemoOptions;
use app::tickets::TicketView;
use app::{Ctx, SystemClock};
use domain::TicketId;
use testkit::each_backend;

use crate::World;

fn shanghai(t: Option<domain::Timestamp>) -> String {
    t.map(|t| t.display_in(domain::time::DEFAULT_TZ))
        .unwrap_or_default()
}

async fn ticket(w: &World, id: i64) -> TicketView {
    app::tickets::get(&w.app, &w.sys, TicketId(id))
        .await
        .unwrap_or_else(|e| panic!("{:?}: ticket {id}: {e}", w.which))
}

async fn clock(w: &World, id: i64, metric: &str) -> app::sla::ClockView {
    app::sla::clocks_of(&w.app, &w.sys, domain::sla::Subject::ticket(TicketId(id)))
        .await
        .expect("clocks")
        .into_iter()
        .find(|c| c.metric == metric)
        .unwrap_or_else(|| panic!("{:?}: no {metric} clock on {id}", w.which))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_story_plays_from_the_hotline_to_the_follow_up() {
    each_backend(|db, which| {
        Box::pin(async move {
            let w = World::new(db, which);
            let demo = Ctx::system("demo", Arc::new(SystemClock));
            app::demo::build(
                &w.app,
                &demo,
                &DemoOptions {
                    customers: 40,
                    seed: 7,
                },
            )
            .await
            .expect("demo");
            app::demo_desk::build(&w.app, &demo)
                .await
                .expect("desk demo");
            let story = Box::pin(app::demo_story::play(&w.app))
                .await
                .unwrap_or_else(|e| panic!("{which:?}: the story broke: {e}"));
            let r = &story;

            // The dealer's complaint went to quality and back, was confirmed and closed.
            let complaint = ticket(&w, r.complaint_id).await;
            assert_eq!(complaint.summary.kind, "complaint");
            assert_eq!(complaint.summary.status, "closed", "{which:?}");
            assert_eq!(complaint.summary.channel, "phone");
            assert_eq!(
                complaint.tracker_name.as_deref(),
                Some("刘建军"),
                "the account owner tracks it"
            );
            assert_eq!(complaint.plan.len(), 2, "two departments' parts");
            assert!(
                complaint.plan.iter().all(|p| p.signed_by.is_some()),
                "{:?}",
                complaint.plan
            );
            let events: Vec<&str> = complaint.history.iter().map(|h| h.event.as_str()).collect();
            for e in [
                "route",
                "accept",
                "sign_plan",
                "return_plan",
                "inform_requester",
                "resolve",
                "confirm",
                "close",
            ] {
                assert!(events.contains(&e), "{which:?}: no {e} in {events:?}");
            }
            assert_eq!(complaint.summary.urges, 3);
            assert!(complaint.summary.escalated, "the third urge escalated");
            assert_eq!(
                complaint.summary.priority, "urgent",
                "three urges raise high to urgent"
            );
            // Its clocks: first reply met that evening; the plan within 48 h; resolution counted in
            // working days skips National Day and counts the make-up Saturday (due 10-13 18:00).
            let first = clock(&w, r.complaint_id, "first_reply").await;
            assert_eq!(first.outcome.as_deref(), Some("met"));
            let proposal = clock(&w, r.complaint_id, "proposal").await;
            assert_eq!(
                proposal.outcome.as_deref(),
                Some("met"),
                "the signed plan stopped it"
            );
            let resolution = clock(&w, r.complaint_id, "resolution").await;
            assert_eq!(shanghai(resolution.due_at), "2026-10-13 18:00");
            assert_eq!(resolution.outcome.as_deref(), Some("met"));

            // The consultation nobody answered: nothing overnight, warned and escalated at opening.
            let unanswered = clock(&w, r.unanswered_id, "first_reply").await;
            assert_eq!(
                shanghai(unanswered.due_at),
                "2026-10-01 08:40",
                "20 min that evening, 40 the next morning"
            );
            assert_eq!(shanghai(unanswered.escalated_at), "2026-10-01 08:40");
            assert!(ticket(&w, r.unanswered_id).await.summary.escalated);

            // The missed call is due now; the after-hours call at the next opening.
            assert_eq!(r.return_calls.len(), 2);
            assert_eq!(r.return_calls[0].1, "missed");
            assert_eq!(r.return_calls[0].2, "2026-10-01 09:10");
            assert_eq!(r.return_calls[1].1, "after_hours");
            assert_eq!(r.return_calls[1].2, "2026-10-02 08:00");

            // The poor answer opened a follow-up complaint for the same customer.
            let follow = ticket(&w, r.follow_up_id).await;
            assert_eq!(follow.summary.kind, "complaint");
            assert_eq!(follow.summary.status, "open");
            assert_eq!(follow.summary.customer_id, complaint.summary.customer_id);

            // One Chinese word finds the complaint, the consultation and the follow-up.
            for id in [r.complaint_id, r.unanswered_id] {
                assert!(
                    r.found.contains(&("ticket".to_string(), id)),
                    "{which:?}: 漏水 does not find ticket {id}: {:?}",
                    r.found
                );
            }
            assert!(r.steps.len() >= 12, "{:#?}", r.steps);
        })
    })
    .await;
}
