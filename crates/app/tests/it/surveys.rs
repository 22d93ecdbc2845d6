//! Follow-up surveys (回访) as the customer and the desk see them: the customer answers through
//! the link without signing in, an agent records answers given on a call, a poor answer opens a
//! follow-up ticket in the intake queue with the answers in it and a history row on the original
//! ticket; answering twice, forged and expired links, and invalid answers are refused with
//! nothing changed.

use std::collections::BTreeMap;

use app::surveys::{self, InvitationListInput, InviteInput};
use app::tickets::{self, TicketInput, TicketListInput};
use app::{Clock, Ctx, Error};
use domain::survey::{FollowUpKind, SubjectKind};
use domain::ticket::{ComplaintCategory, Priority};
use domain::{CustomerId, OrgUnitId, SurveyInvitationId, TicketId};
use serde_json::{Value, json};
use store::timeline::Of;
use testkit::each_backend;

use crate::{World, code, fields, individual};

const DAY: i64 = 24 * 3_600_000;

struct Desk {
    svc: OrgUnitId,
    agent: Ctx,
    customer: CustomerId,
    ticket: TicketId,
    number: String,
}

async fn desk(w: &World) -> Desk {
    let svc = w.department("SVC", "客服中心", "service").await;
    let agent = w.user("agent.li", &["agent"]).await;
    let customer = w
        .customer(&agent, individual("王先生", "13800138000"))
        .await;
    let t = tickets::create(
        &w.app,
        &agent,
        TicketInput {
            kind: "consultation".into(),
            subject: "净水器滤芯更换咨询".into(),
            customer_id: Some(customer.0),
            ..TicketInput::default()
        },
    )
    .await
    .expect("ticket");
    Desk {
        svc,
        agent,
        customer,
        ticket: TicketId(t.id),
        number: t.number,
    }
}

async fn invite(w: &World, d: &Desk, channel: &str) -> (SurveyInvitationId, String) {
    let (v, replayed) = surveys::invite(
        &w.app,
        &d.agent,
        InviteInput {
            subject_kind: "ticket".into(),
            subject_id: d.ticket.0,
            channel: Some(channel.into()),
            ..InviteInput::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{:?}: invite: {e}", w.which));
    assert!(
        !replayed,
        "{:?}: a request without a key is never a replay",
        w.which
    );
    let link = v.link.expect("the first answer shows the link");
    let key = link.strip_prefix("/s/").expect("a /s/ link").to_string();
    (SurveyInvitationId(v.id), key)
}

fn answers(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).unwrap()
}

async fn invitations(w: &World, d: &Desk) -> Vec<surveys::InvitationView> {
    surveys::list(
        &w.app,
        &d.agent,
        InvitationListInput {
            subject_kind: Some("ticket".into()),
            subject_id: Some(d.ticket.0),
            ..InvitationListInput::default()
        },
    )
    .await
    .expect("list")
    .items
}

async fn unassigned(w: &World) -> Vec<tickets::TicketSummary> {
    tickets::list(
        &w.app,
        &w.sys,
        TicketListInput {
            queue: Some("unassigned".into()),
            ..TicketListInput::default()
        },
    )
    .await
    .expect("queue")
    .items
}

async fn history_events(w: &World, id: TicketId) -> Vec<(String, Value)> {
    tickets::get(&w.app, &w.sys, id)
        .await
        .expect("ticket")
        .history
        .into_iter()
        .map(|h| (h.event, h.data))
        .collect()
}

async fn timeline(w: &World, d: &Desk) -> Vec<(String, String)> {
    app::ledger::timeline(&w.app, &w.sys, Of::Customer(d.customer), None, None, None)
        .await
        .expect("timeline")
        .0
        .into_iter()
        .map(|e| (e.kind, e.body))
        .collect()
}

#[tokio::test]
async fn a_satisfied_answer_by_link_opens_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, key) = invite(&w, &d, "link").await;
        assert_eq!(key.len(), 43, "32 random bytes");

        let form = surveys::public_form(&w.app, w.clock.now(), &key)
            .await
            .unwrap();
        assert!(!form.answered);
        assert_eq!(form.subject_label, d.number);
        assert_eq!(form.template.code, surveys::TICKET_TEMPLATE);

        w.clock.advance_ms(DAY);
        let out = surveys::answer_by_link(
            &w.app,
            w.clock.now(),
            &key,
            answers(
                json!({"satisfaction": "5", "solved": "yes", "speed": "fast", "comment": "很满意"}),
            ),
        )
        .await
        .unwrap();
        assert!(!out.poor);
        assert_eq!(out.follow_up_ticket_id, None);
        assert!(unassigned(&w).await.is_empty(), "no follow-up ticket");

        let list = invitations(&w, &d).await;
        assert_eq!(list.len(), 1);
        let inv = &list[0];
        assert_eq!(inv.id, id.0);
        assert_eq!(inv.status, "answered");
        assert_eq!(inv.subject_label, d.number);
        assert_eq!(inv.customer_name.as_deref(), Some("王先生"));
        let r = inv.response.as_ref().expect("the response");
        assert_eq!(r.channel, "link");
        assert_eq!(r.recorded_by, None);
        assert!(!r.poor);
        let shown: Vec<(&str, &str)> = r
            .answers
            .iter()
            .map(|a| (a.key.as_str(), a.shown.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("satisfaction", "5 / 5"),
                ("solved", "是"),
                ("speed", "很快"),
                ("comment", "很满意")
            ]
        );

        let events = history_events(&w, d.ticket).await;
        assert!(events.iter().any(|(e, _)| e == "survey_sent"));
        let answered = events
            .iter()
            .find(|(e, _)| e == "survey_answered")
            .expect("history row");
        assert_eq!(answered.1["poor"], json!(false));
        assert!(
            timeline(&w, &d)
                .await
                .iter()
                .any(|(k, b)| k == "survey" && b.contains(&d.number) && b.contains("满意")),
            "timeline"
        );
        // The form now thanks instead of asking again.
        let form = surveys::public_form(&w.app, w.clock.now(), &key)
            .await
            .unwrap();
        assert!(form.answered);
    })
    .await;
}

#[tokio::test]
async fn a_poor_rating_opens_a_follow_up_complaint_in_the_intake_queue() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, key) = invite(&w, &d, "link").await;
        let out = surveys::answer_by_link(
            &w.app,
            w.clock.now(),
            &key,
            answers(json!({"satisfaction": 1, "solved": true, "comment": "等了三天才回电话"})),
        )
        .await
        .unwrap();
        assert!(out.poor);
        let fid = TicketId(out.follow_up_ticket_id.expect("a follow-up"));
        let number = out.follow_up_number.clone().unwrap();
        assert!(number.starts_with("KF20261123-"), "{number}");

        let queue = unassigned(&w).await;
        assert_eq!(queue.len(), 1);
        let f = tickets::get(&w.app, &w.sys, fid).await.unwrap();
        assert_eq!(f.summary.number, number);
        assert_eq!(f.summary.kind, "complaint");
        assert_eq!(f.summary.priority, "high");
        assert_eq!(f.summary.status, "open");
        assert_eq!(f.summary.channel, "web_form");
        assert_eq!(f.summary.owner.kind, "queue");
        assert_eq!(f.summary.owner.id, d.svc.0);
        assert_eq!(f.summary.customer_id, Some(d.customer.0));
        assert!(
            f.summary.subject.starts_with("回访不满意："),
            "{}",
            f.summary.subject
        );
        assert!(f.summary.subject.contains(&d.number));
        for part in [
            "受理单回访不满意",
            "客户通过回访链接填写",
            "≤ 2",
            "您对本次服务的满意程度如何？（1 分非常不满意，5 分非常满意）：1 / 5",
            "您的问题是否已解决？：是",
            "还有什么想告诉我们的吗？：等了三天才回电话",
        ] {
            assert!(f.description.contains(part), "{part} in {}", f.description);
        }
        assert!(
            f.history
                .iter()
                .any(|h| h.event == "create" && h.data["survey_invitation"] == json!(id.0))
        );

        let events = history_events(&w, d.ticket).await;
        let link = events
            .iter()
            .find(|(e, _)| e == "survey_follow_up")
            .expect("history on the original ticket");
        assert_eq!(link.1["follow_up_number"], json!(number));
        assert_eq!(link.1["follow_up_ticket"], json!(fid.0));

        let inv = &invitations(&w, &d).await[0];
        let r = inv.response.as_ref().unwrap();
        assert!(r.poor);
        assert_eq!(r.follow_up_number.as_deref(), Some(number.as_str()));
        let tl = timeline(&w, &d).await;
        assert!(
            tl.iter()
                .any(|(k, b)| k == "survey" && b.contains("不满意") && b.contains(&number)),
            "{tl:?}"
        );
        assert!(tl.iter().any(|(k, b)| k == "ticket" && b.contains(&number)));
        assert_eq!(w.audit("survey_invitation", Some(id.0)).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_agent_records_answers_given_on_a_call() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, _) = invite(&w, &d, "call").await;

        // The pending list is where the follow-up specialist starts.
        let pending = surveys::list(
            &w.app,
            &d.agent,
            InvitationListInput {
                pending: Some(true),
                ..InvitationListInput::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(pending.items.len(), 1);
        assert_eq!(pending.items[0].channel, "call");
        assert_eq!(
            pending.items[0].customer_phone.as_deref(),
            Some("13800138000")
        );

        // Somebody who may not work tickets may not record either.
        let dispatcher = w.user("disp.zhou", &["dispatcher"]).await;
        let r = surveys::record_on_call(
            &w.app,
            &dispatcher,
            id,
            answers(json!({"satisfaction": 4, "solved": false})),
        )
        .await;
        assert_eq!(code(&r), "forbidden");

        let out = surveys::record_on_call(
            &w.app,
            &d.agent,
            id,
            answers(json!({"satisfaction": 4, "solved": false})),
        )
        .await
        .unwrap();
        assert!(out.poor, "unsolved is poor");
        let f = tickets::get(&w.app, &w.sys, TicketId(out.follow_up_ticket_id.unwrap()))
            .await
            .unwrap();
        assert_eq!(f.summary.kind, "complaint");
        assert_eq!(f.summary.channel, "phone");
        assert!(
            f.description.contains("电话回访（记录人 agent.li 的名字）"),
            "{}",
            f.description
        );
        assert!(f.description.contains("您的问题是否已解决？：否"));

        let inv = &invitations(&w, &d).await[0];
        let resp = inv.response.as_ref().unwrap();
        assert_eq!(resp.channel, "call");
        assert_eq!(resp.recorded_by_name.as_deref(), Some("agent.li 的名字"));
        let pending = surveys::list(
            &w.app,
            &d.agent,
            InvitationListInput {
                pending: Some(true),
                ..InvitationListInput::default()
            },
        )
        .await
        .unwrap();
        assert!(pending.items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_slow_answer_alone_opens_a_consultation() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, _) = invite(&w, &d, "call").await;
        let out = surveys::record_on_call(
            &w.app,
            &d.agent,
            id,
            answers(json!({"satisfaction": 3, "solved": true, "speed": "slow"})),
        )
        .await
        .unwrap();
        let f = tickets::get(&w.app, &w.sys, TicketId(out.follow_up_ticket_id.unwrap()))
            .await
            .unwrap();
        assert_eq!(f.summary.kind, "consultation");
        assert_eq!(f.summary.priority, "normal");
        assert!(
            f.description.contains("您觉得处理速度如何？ ∈ 太慢"),
            "{}",
            f.description
        );
    })
    .await;
}

#[tokio::test]
async fn answering_again_is_refused_or_a_replay_and_changes_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, key) = invite(&w, &d, "link").await;
        let by_link = |a| surveys::answer_by_link(&w.app, w.clock.now(), &key, answers(a));
        let first = by_link(json!({"satisfaction": 2, "solved": true}))
            .await
            .unwrap();
        assert!(first.poor);
        let before = invitations(&w, &d).await;

        for again in [
            by_link(json!({"satisfaction": 5, "solved": true})).await,
            surveys::record_on_call(
                &w.app,
                &d.agent,
                id,
                answers(json!({"satisfaction": 1, "solved": false})),
            )
            .await,
        ] {
            match again {
                Err(Error::Conflict(m)) => assert_eq!(m, surveys::ALREADY_ANSWERED),
                other => panic!("{which:?}: expected conflict, got {other:?}"),
            }
        }
        assert_eq!(unassigned(&w).await.len(), 1, "still one follow-up");
        // The same answers again — a retry after a lost answer — get what they made, once.
        let retried = by_link(json!({"satisfaction": 2, "solved": true}))
            .await
            .unwrap();
        assert!(retried.replayed, "{which:?}");
        assert_eq!(
            (
                retried.poor,
                retried.follow_up_ticket_id,
                &retried.follow_up_number
            ),
            (
                first.poor,
                first.follow_up_ticket_id,
                &first.follow_up_number
            ),
            "{which:?}"
        );
        assert_eq!(unassigned(&w).await.len(), 1, "still one follow-up");
        let after = invitations(&w, &d).await;
        let (b, a) = (
            before[0].response.as_ref().unwrap(),
            after[0].response.as_ref().unwrap(),
        );
        assert_eq!(a.answers.len(), b.answers.len());
        assert_eq!(a.answers[0].value, json!(2));
        assert_eq!(a.answered_at, b.answered_at);
    })
    .await;
}

#[tokio::test]
async fn forged_expired_and_replaced_links_are_not_found() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (_, key) = invite(&w, &d, "link").await;
        let ok = answers(json!({"satisfaction": 5, "solved": true}));
        // The key with its last character changed.
        let other = if key.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{}{other}", &key[..42]);
        for k in [forged.as_str(), "", "not-a-key"] {
            let r = surveys::public_form(&w.app, w.clock.now(), k).await;
            assert_eq!(code(&r), "not_found", "{k}");
            let r = surveys::answer_by_link(&w.app, w.clock.now(), k, ok.clone()).await;
            assert_eq!(code(&r), "not_found", "{k}");
        }

        // A newer invitation replaces the older link.
        let (_, newer) = invite(&w, &d, "link").await;
        let r = surveys::answer_by_link(&w.app, w.clock.now(), &key, ok.clone()).await;
        assert_eq!(code(&r), "not_found");

        // Eight days later the newer one has run out too; the agent is told so.
        w.clock.advance_ms(8 * DAY);
        let r = surveys::public_form(&w.app, w.clock.now(), &newer).await;
        assert_eq!(code(&r), "not_found");
        let r = surveys::answer_by_link(&w.app, w.clock.now(), &newer, ok.clone()).await;
        assert_eq!(code(&r), "not_found");
        let list = invitations(&w, &d).await;
        assert_eq!(
            list.iter().map(|i| i.status.as_str()).collect::<Vec<_>>(),
            ["expired", "expired"]
        );
        let r = surveys::record_on_call(&w.app, &d.agent, SurveyInvitationId(list[0].id), ok).await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m == surveys::INVITATION_EXPIRED),
            "{r:?}"
        );
        assert!(list.iter().all(|i| i.response.is_none()));
        assert!(unassigned(&w).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn invalid_answers_name_the_question_and_change_nothing() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (id, key) = invite(&w, &d, "link").await;
        let cases = [
            (
                json!({"satisfaction": 7, "solved": true}),
                vec!["answers.satisfaction"],
            ),
            (json!({"satisfaction": 3}), vec!["answers.solved"]),
            (
                json!({"satisfaction": 3, "solved": true, "speed": "lightning"}),
                vec!["answers.speed"],
            ),
            (
                json!({"satisfaction": "", "solved": "perhaps", "shoe_size": 42}),
                vec![
                    "answers.satisfaction",
                    "answers.shoe_size",
                    "answers.solved",
                ],
            ),
        ];
        for (input, want) in cases {
            let r =
                surveys::answer_by_link(&w.app, w.clock.now(), &key, answers(input.clone())).await;
            assert_eq!(code(&r), "validation", "{input}");
            assert_eq!(fields(&r), want, "{input}");
            let r = surveys::record_on_call(&w.app, &d.agent, id, answers(input.clone())).await;
            assert_eq!(fields(&r), want, "{input}");
        }
        match surveys::answer_by_link(
            &w.app,
            w.clock.now(),
            &key,
            answers(json!({"satisfaction": 7, "solved": true})),
        )
        .await
        {
            Err(Error::Validation { fields, .. }) => {
                assert_eq!(fields["answers.satisfaction"], "a rating from 1 to 5");
            }
            other => panic!("{other:?}"),
        }
        let inv = &invitations(&w, &d).await[0];
        assert_eq!(inv.status, "sent");
        assert!(inv.response.is_none());
        assert!(unassigned(&w).await.is_empty());
        // Still answerable.
        let ok = surveys::answer_by_link(
            &w.app,
            w.clock.now(),
            &key,
            answers(json!({"satisfaction": 4, "solved": true})),
        )
        .await;
        assert_eq!(code(&ok), "ok");
    })
    .await;
}

#[tokio::test]
async fn invitations_are_refused_for_unknown_subjects_and_templates() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let mk = |kind: &str, id: i64, template: Option<&str>, channel: Option<&str>| InviteInput {
            subject_kind: kind.into(),
            subject_id: id,
            template: template.map(str::to_string),
            channel: channel.map(str::to_string),
        };
        let cases = [
            (mk("ticket", 999_999, None, None), "subject_id"),
            (mk("parcel", d.ticket.0, None, None), "subject_kind"),
            (mk("ticket", d.ticket.0, None, Some("pigeon")), "channel"),
            (mk("ticket", d.ticket.0, Some("nope"), None), "template"),
            // The visit questionnaire is for work orders.
            (
                mk("ticket", d.ticket.0, Some(surveys::VISIT_TEMPLATE), None),
                "template",
            ),
            (mk("work_order", 1, None, None), "subject_kind"),
        ];
        for (input, field) in cases {
            let what = format!("{input:?}");
            let r = surveys::invite(&w.app, &d.agent, input).await;
            assert_eq!(fields(&r), [field], "{what}");
        }
        assert!(invitations(&w, &d).await.is_empty());
        let dispatcher = w.user("disp.wu", &["dispatcher"]).await;
        let r = surveys::invite(&w.app, &dispatcher, mk("ticket", d.ticket.0, None, None)).await;
        assert_eq!(code(&r), "forbidden");
    })
    .await;
}

#[tokio::test]
async fn the_seeded_templates_are_listed_and_the_visit_one_has_its_own_rules() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let list = surveys::templates(&w.app, &w.sys).await.unwrap();
        let codes: Vec<&str> = list.iter().map(|t| t.code.as_str()).collect();
        assert_eq!(codes, [surveys::TICKET_TEMPLATE, surveys::VISIT_TEMPLATE]);
        assert_eq!(list[0].name, "受理单回访");
        assert_eq!(list[1].name, "上门服务回访");
        assert_eq!(list[1].for_subject, "work_order");

        let visit = w
            .app
            .db
            .read(|c| {
                Box::pin(async move {
                    store::surveys::template_by_code(c, surveys::VISIT_TEMPLATE).await
                })
            })
            .await
            .unwrap();
        assert_eq!(visit.for_subject, SubjectKind::WorkOrder);
        let keys: Vec<&str> = visit.questions.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(keys, ["on_time", "attitude", "fee_as_quoted", "charged_extra", "comment"]);
        let parsed = visit
            .parse_answers(&answers(json!({"on_time": true, "attitude": 5, "fee_as_quoted": true, "charged_extra": true})))
            .unwrap();
        let v = visit.evaluate(&parsed);
        let f = v.follow_up.expect("乱收费 is poor");
        assert_eq!(f.kind, FollowUpKind::Complaint);
        assert_eq!(f.priority, Priority::High);
        assert_eq!(f.category, Some(ComplaintCategory::EngineerConduct));
        let parsed = visit
            .parse_answers(&answers(json!({"on_time": false, "attitude": 4, "fee_as_quoted": true, "charged_extra": false})))
            .unwrap();
        assert!(!visit.evaluate(&parsed).poor());
    })
    .await;
}
