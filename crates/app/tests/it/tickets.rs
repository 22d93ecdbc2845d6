//! The service desk as its users see it: a dealer's complaint travels to the quality department,
//! gets a plan signed by two departments with a committed time, returns to the account owner who
//! informs the dealer, the dealer confirms, and the complaint closes only once its compensation
//! is settled. Plus the refusals, repeat callers, and the ownership invariant under random use.

#![allow(clippy::many_single_char_names)] // w, d, t, r: the world, the desk, a ticket, a result

use app::admin::{self, UserInput};
use app::ledger::CustomerInput;
use app::tickets::{self, ActionInput, CompensationInput, TicketInput, TicketListInput};
use app::{Clock, Ctx, Error};
use domain::{OrgUnitId, TicketId, UserId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use testkit::each_backend;

use crate::{PASSWORD, World, code, individual};

const HOUR: i64 = 3_600_000;

struct Desk {
    svc: OrgUnitId,
    qa: OrgUnitId,
    log: OrgUnitId,
}

async fn desk(w: &World) -> Desk {
    Desk {
        svc: w.department("SVC", "客服中心", "service").await,
        qa: w.department("QA", "质量部", "quality").await,
        log: w.department("LOG", "物流部", "logistics").await,
    }
}

async fn staff(w: &World, login: &str, role: &str, unit: OrgUnitId) -> (UserId, Ctx) {
    let id = admin::create_user(
        &w.app,
        &w.sys,
        UserInput {
            login: login.into(),
            display_name: format!("{login} 名"),
            roles: vec![role.into()],
            org_unit_id: Some(unit.0),
            password: Some(PASSWORD.into()),
            active: true,
            ..UserInput::default()
        },
    )
    .await
    .expect("user");
    (id, w.sign_in(login).await)
}

async fn act(w: &World, ctx: &Ctx, id: TicketId, a: ActionInput) -> Result<i64, Error> {
    let v = tickets::get(&w.app, &w.sys, id).await?.summary.version;
    tickets::act(&w.app, ctx, id, v, a).await
}

fn ok(r: Result<i64, Error>, what: &str) {
    if let Err(e) = r {
        panic!("{what}: {} ({e})", e.code());
    }
}

#[tokio::test]
async fn a_dealers_complaint_travels_to_quality_and_back_to_confirmation() {
    Box::pin(each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (owner_id, owner) = staff(&w, "owner.wang", "account_owner", d.svc).await;
        let (_, qa) = staff(&w, "qa.zhao", "department_handler", d.qa).await;
        let (_, logi) = staff(&w, "log.qian", "department_handler", d.log).await;
        let (_, sup) = staff(&w, "sup.sun", "manager", d.svc).await;
        let admin_ctx = w.sys.clone();
        let dealer = w
            .customer(
                &admin_ctx,
                CustomerInput {
                    kind: "dealer".into(),
                    name: "杭州好家居经销部".into(),
                    phone: Some("0571-8765-4321".into()),
                    owner_user_id: Some(owner_id.0),
                    ..CustomerInput::default()
                },
            )
            .await;
        let end_customer = w
            .customer(
                &admin_ctx,
                CustomerInput {
                    dealer_id: Some(dealer.0),
                    ..individual("李女士", "13900001111")
                },
            )
            .await;
        let dealer_user = w
            .user_linked("dealer.hj", &["dealer_user"], None, Some(dealer))
            .await;

        // The dealer files a complaint for its customer: the account owner owns and tracks it.
        let created = tickets::create(
            &w.app,
            &dealer_user,
            TicketInput {
                kind: "complaint".into(),
                subject: "衣柜门板色差，客户要求重做".into(),
                description: "安装后发现两扇门板颜色不一致".into(),
                customer_id: Some(end_customer.0),
                complaint_category: Some("product_quality".into()),
                contact_email: Some("li@example.cn".into()),
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        assert!(!created.attached);
        assert!(
            created.number.starts_with("KF20261123-"),
            "{}",
            created.number
        );
        let link = created.status_link.clone().expect("a status link");
        let id = TicketId(created.id);
        let t = tickets::get(&w.app, &owner, id).await.unwrap();
        assert_eq!(t.summary.owner.id, owner_id.0, "{which:?}");
        assert_eq!(t.summary.owner.kind, "user");
        assert_eq!(t.summary.channel, "dealer_portal");
        assert_eq!(t.summary.priority, "high", "complaints start high");
        assert_eq!(t.requester_name.as_deref(), Some("杭州好家居经销部"));

        // The dealer writes to the desk on its own ticket; it cannot leave internal notes.
        tickets::add_message(
            &w.app,
            &dealer_user,
            id,
            tickets::MessageInput {
                body: "客户希望周末上门".into(),
                internal: false,
            },
        )
        .await
        .unwrap();
        let r = tickets::add_message(
            &w.app,
            &dealer_user,
            id,
            tickets::MessageInput {
                body: "x".into(),
                internal: true,
            },
        )
        .await;
        assert_eq!(code(&r), "forbidden");
        let t = tickets::get(&w.app, &owner, id).await.unwrap();
        assert!(
            t.messages.iter().any(|m| m.visibility == "inbound"
                && m.channel == "dealer_portal"
                && m.body == "客户希望周末上门"),
            "{which:?}"
        );
        // Routed to quality with the whole history; a handler there accepts it.
        ok(
            act(
                &w,
                &owner,
                id,
                ActionInput::Route {
                    department_id: d.qa.0,
                    note: Some("请质量部判定责任".into()),
                },
            )
            .await,
            "route",
        );
        let t = tickets::get(&w.app, &qa, id).await.unwrap();
        assert_eq!(
            (
                t.summary.status.as_str(),
                t.summary.owner.kind.as_str(),
                t.summary.owner.id
            ),
            ("routed", "queue", d.qa.0)
        );
        assert!(t.actions.contains(&"accept".to_string()), "{:?}", t.actions);
        // The logistics handler is not in the quality queue.
        assert_eq!(
            code(&act(&w, &logi, id, ActionInput::Accept).await),
            "not_owner"
        );
        ok(act(&w, &qa, id, ActionInput::Accept).await, "accept");

        // A plan in two parts: production remake by quality, delivery by logistics.
        let now = w.clock.now().0;
        let in_3_days = domain::Timestamp(now + 72 * HOUR).rfc3339_in(chrono_tz::Asia::Shanghai);
        let in_5_days = domain::Timestamp(now + 120 * HOUR).rfc3339_in(chrono_tz::Asia::Shanghai);
        let past = domain::Timestamp(now - HOUR).rfc3339_in(chrono_tz::Asia::Shanghai);
        let r = act(
            &w,
            &qa,
            id,
            ActionInput::AddPlanPart {
                department_id: d.qa.0,
                summary: "门板重做".into(),
                remedy: Some("remake".into()),
                committed_at: past,
            },
        )
        .await;
        assert_eq!(
            code(&r),
            "validation",
            "a committed time in the past is refused"
        );
        assert_eq!(
            code(
                &act(
                    &w,
                    &qa,
                    id,
                    ActionInput::AddPlanPart {
                        department_id: 999_999,
                        summary: "x".into(),
                        remedy: None,
                        committed_at: in_3_days.clone()
                    }
                )
                .await
            ),
            "validation",
            "unknown department"
        );
        ok(
            act(
                &w,
                &qa,
                id,
                ActionInput::AddPlanPart {
                    department_id: d.qa.0,
                    summary: "门板重做".into(),
                    remedy: Some("remake".into()),
                    committed_at: in_3_days,
                },
            )
            .await,
            "part qa",
        );
        ok(
            act(
                &w,
                &qa,
                id,
                ActionInput::AddPlanPart {
                    department_id: d.log.0,
                    summary: "重做门板送货上门".into(),
                    remedy: None,
                    committed_at: in_5_days,
                },
            )
            .await,
            "part log",
        );
        // The plan binds only when every part is signed.
        assert_eq!(
            code(&act(&w, &qa, id, ActionInput::SignPlan).await),
            "plan_not_signed"
        );
        // Logistics signs its own part; it cannot sign quality's.
        assert_eq!(
            code(
                &act(
                    &w,
                    &logi,
                    id,
                    ActionInput::SignPart {
                        department_id: d.qa.0
                    }
                )
                .await
            ),
            "not_owner"
        );
        ok(
            act(
                &w,
                &logi,
                id,
                ActionInput::SignPart {
                    department_id: d.log.0,
                },
            )
            .await,
            "sign log",
        );
        // Someone who does not own the ticket cannot sign the plan.
        assert_eq!(
            code(&act(&w, &logi, id, ActionInput::SignPlan).await),
            "not_owner"
        );
        ok(act(&w, &qa, id, ActionInput::SignPlan).await, "sign plan");
        ok(
            act(&w, &qa, id, ActionInput::ReturnPlan { note: None }).await,
            "return plan",
        );
        let t = tickets::get(&w.app, &owner, id).await.unwrap();
        assert_eq!(
            (t.summary.status.as_str(), t.summary.owner.id),
            ("plan_returned", owner_id.0)
        );
        assert_eq!(t.plan.len(), 2);
        assert!(t.plan.iter().all(|p| p.signed_by.is_some()));
        assert!(t.summary.plan_committed_at.is_some());

        // The account owner tells the dealer how and when and records the reassurance.
        ok(
            act(
                &w,
                &owner,
                id,
                ActionInput::InformRequester {
                    contact_note: "电话安抚经销商，说明重做周期".into(),
                    message: Some("门板将重做并于 5 天内送达".into()),
                },
            )
            .await,
            "inform",
        );
        // Compensation for the wait; the complaint cannot close while it is open.
        let k = tickets::add_compensation(
            &w.app,
            &owner,
            id,
            CompensationInput {
                amount_fen: 20_000,
                payer: "manufacturer".into(),
                reason: "延误补偿".into(),
            },
        )
        .await
        .unwrap()
        .id;
        ok(
            act(
                &w,
                &owner,
                id,
                ActionInput::Resolve {
                    summary: "门板已重做并安装".into(),
                },
            )
            .await,
            "resolve",
        );
        ok(
            act(&w, &dealer_user, id, ActionInput::Confirm { note: None }).await,
            "dealer confirms",
        );
        assert_eq!(
            code(&act(&w, &owner, id, ActionInput::Close).await),
            "compensation_open"
        );
        tickets::compensation_step(&w.app, &sup, id, k, 1, "approve")
            .await
            .unwrap();
        let fin = w.user("fin.zhou", &["settlement_finance"]).await;
        assert_eq!(
            code(&tickets::compensation_step(&w.app, &fin, id, k, 1, "pay").await),
            "version_conflict"
        );
        tickets::compensation_step(&w.app, &fin, id, k, 2, "pay")
            .await
            .unwrap();
        ok(act(&w, &owner, id, ActionInput::Close).await, "close");

        let t = tickets::get(&w.app, &owner, id).await.unwrap();
        assert_eq!(t.summary.status, "closed");
        let events: Vec<&str> = t.history.iter().map(|h| h.event.as_str()).collect();
        for e in [
            "create",
            "route",
            "accept",
            "add_plan_part",
            "sign_part",
            "sign_plan",
            "return_plan",
            "inform_requester",
            "compensation_proposed",
            "resolve",
            "confirm",
            "compensation_approved",
            "compensation_paid",
            "close",
        ] {
            assert!(
                events.contains(&e),
                "{which:?}: {e} missing from {events:?}"
            );
        }
        // The customer's timeline carries the ticket.
        let (tl, _) = app::ledger::timeline(
            &w.app,
            &owner,
            store::timeline::Of::Customer(end_customer),
            None,
            None,
            None,
        )
        .await
        .unwrap();
        assert!(
            tl.iter()
                .any(|e| e.ticket_id == Some(id.0) && e.body.contains("处理方案已签署")),
            "{which:?}"
        );
        // The requester heard about receipt, the plan, the resolution and the closing by email.
        let mails = w
            .app
            .db
            .read(|c| {
                Box::pin(async move {
                    store::outbox::list(
                        c,
                        &domain::Scope::All,
                        &store::outbox::OutboxQuery {
                            limit: 50,
                            ..Default::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let templates: Vec<&str> = mails
            .items
            .iter()
            .filter(|m| m.recipient == "li@example.cn")
            .map(|m| m.template.as_str())
            .collect();
        for tpl in [
            "ticket.received",
            "ticket.plan",
            "ticket.resolved",
            "ticket.closed",
        ] {
            assert!(
                templates.contains(&tpl),
                "{which:?}: {tpl} not in {templates:?}"
            );
        }
        // F5: the closing notice carries the follow-up questionnaire; a poor answer opens a
        // follow-up complaint in the intake queue.
        let closing = mails
            .items
            .iter()
            .find(|m| m.recipient == "li@example.cn" && m.template == "ticket.closed")
            .expect("closing notice");
        let body = closing.payload["body"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = body
            .split("/s/")
            .nth(1)
            .expect("a survey link in the closing notice")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let answers = std::collections::BTreeMap::from([
            ("satisfaction".to_string(), serde_json::json!(1)),
            ("solved".to_string(), serde_json::json!(false)),
        ]);
        let out = app::surveys::answer_by_link(&w.app, w.clock.now(), &key, answers)
            .await
            .unwrap();
        assert!(out.poor, "{which:?}");
        let follow = tickets::get(
            &w.app,
            &sup,
            TicketId(out.follow_up_ticket_id.expect("a follow-up ticket")),
        )
        .await
        .unwrap();
        assert_eq!(
            (
                follow.summary.kind.as_str(),
                follow.summary.owner.name.as_str()
            ),
            ("complaint", "客服中心")
        );
        // The monthly report counts both complaints (the follow-up is one), the closed one and
        // the 200 yuan paid by the manufacturer.
        let rep = tickets::month_report(&w.app, &sup, "2026-11")
            .await
            .unwrap();
        assert_eq!(
            (
                rep.complaints_opened,
                rep.complaints_closed,
                rep.paid_fen_manufacturer,
                rep.paid_fen_total
            ),
            (2, 1, 20_000, 20_000)
        );
        // The status link shows the plan to the requester, without internal notes.
        let (number, key) = link.trim_start_matches("/t/").split_once("?k=").unwrap();
        let pv = tickets::public_view(&w.app, number, key).await.unwrap();
        assert_eq!(pv.status, "closed");
        assert_eq!(pv.plan.len(), 2);
        assert!(!pv.messages.iter().any(|m| m.visibility == "internal"));
        assert_eq!(
            code(&tickets::public_view(&w.app, number, "wrong-key").await),
            "not_found"
        );
    }))
    .await;
}

#[tokio::test]
async fn a_repeat_caller_is_attached_and_the_requester_confirms_by_link() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (agent_id, agent) = staff(&w, "agent.chen", "agent", d.svc).await;
        let cust = w
            .customer(&agent, individual("王先生", "13812345678"))
            .await;
        let first = tickets::create(
            &w.app,
            &agent,
            TicketInput {
                kind: "repair_request".into(),
                subject: "净水器漏水".into(),
                phone: Some("138 1234 5678".into()),
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert_eq!(
            t.summary.customer_id,
            Some(cust.0),
            "{which:?}: the caller was found by phone"
        );
        assert_eq!(
            t.summary.owner.id, agent_id.0,
            "首问负责: the agent who took the call owns it"
        );
        let again = tickets::create(
            &w.app,
            &agent,
            TicketInput {
                kind: "repair_request".into(),
                subject: "还在漏水，什么时候来".into(),
                phone: Some("13812345678".into()),
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        assert!(again.attached);
        assert_eq!(again.id, first.id);
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert!(
            t.messages
                .iter()
                .any(|m| m.visibility == "inbound" && m.body.contains("还在漏水"))
        );
        // Urged three times: the priority climbs one step.
        for _ in 0..3 {
            ok(
                act(
                    &w,
                    &agent,
                    TicketId(first.id),
                    ActionInput::Urge { note: None },
                )
                .await,
                "urge",
            );
        }
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert_eq!((t.summary.urges, t.summary.priority.as_str()), (3, "high"));
        assert!(t.summary.escalated, "{which:?}: the third urge escalates");
        let esc = tickets::list(
            &w.app,
            &agent,
            TicketListInput {
                queue: Some("escalated".into()),
                ..TicketListInput::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(esc.items.len(), 1);
        // Remote support could not fix it: it carries the pre-diagnosis and parts to the field.
        ok(
            act(
                &w,
                &agent,
                TicketId(first.id),
                ActionInput::ConvertForField {
                    pre_diagnosis: "滤芯接口密封圈老化".into(),
                    parts: vec!["密封圈 O-12".into()],
                },
            )
            .await,
            "convert",
        );
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert_eq!(
            (t.remote_outcome.as_deref(), t.parts_list.clone()),
            (Some("converted"), vec!["密封圈 O-12".to_string()])
        );
        // A stale version is refused and changes nothing.
        let r = tickets::act(
            &w.app,
            &agent,
            TicketId(first.id),
            1,
            ActionInput::Resolve {
                summary: "x".into(),
            },
        )
        .await;
        assert_eq!(code(&r), "version_conflict");
        ok(
            act(
                &w,
                &agent,
                TicketId(first.id),
                ActionInput::Resolve {
                    summary: "上门更换密封圈".into(),
                },
            )
            .await,
            "resolve",
        );
        // The customer confirms through the link; a forged key changes nothing.
        let link = tickets::new_status_link(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        let (number, key) = link.trim_start_matches("/t/").split_once("?k=").unwrap();
        let v = tickets::public_view(&w.app, number, key).await.unwrap();
        assert!(v.can_confirm);
        assert_eq!(
            code(
                &tickets::public_act(
                    &w.app,
                    w.clock.now(),
                    number,
                    "forged",
                    v.version,
                    "confirm",
                    None
                )
                .await
            ),
            "not_found"
        );
        tickets::public_act(
            &w.app,
            w.clock.now(),
            number,
            key,
            v.version,
            "confirm",
            None,
        )
        .await
        .unwrap();
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert_eq!(t.summary.status, "confirmed");
        let mine = tickets::list(
            &w.app,
            &agent,
            TicketListInput {
                queue: Some("mine".into()),
                ..TicketListInput::default()
            },
        )
        .await
        .unwrap();
        // Search finds the ticket by a Chinese word of its subject and of the attached call,
        // with the status facet following the workflow.
        for word in ["漏水", "什么时候"] {
            let hits = app::search::search(
                &w.app,
                &agent,
                app::search::SearchInput {
                    q: Some(word.into()),
                    kind: Some("ticket".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            assert!(
                hits.items
                    .iter()
                    .any(|h| h.id == first.id && h.status.as_deref() == Some("confirmed")),
                "{which:?}: {word} → {:?}",
                hits.items
                    .iter()
                    .map(|h| (h.id, h.status.clone()))
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(mine.items.len(), 1);
        // It leaks again: the requester reopens through the same link, and the resolution
        // clock that resolving stopped runs again, as after a reopen at the desk.
        let resolution = |w: &World| {
            let (app, sys) = (w.app.clone(), w.sys.clone());
            async move {
                app::sla::clocks_of(&app, &sys, domain::sla::Subject::ticket(TicketId(first.id)))
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|k| k.metric == "resolution")
                    .expect("a resolution clock")
            }
        };
        assert_eq!(resolution(&w).await.state, "met", "{which:?}");
        w.clock.advance_ms(60 * 60_000);
        let v = tickets::public_view(&w.app, number, key).await.unwrap();
        tickets::public_act(
            &w.app,
            w.clock.now(),
            number,
            key,
            v.version,
            "reopen",
            Some("还是漏水".into()),
        )
        .await
        .unwrap();
        let t = tickets::get(&w.app, &agent, TicketId(first.id))
            .await
            .unwrap();
        assert_eq!(t.summary.status, "in_progress", "{which:?}");
        let k = resolution(&w).await;
        assert_eq!(k.state, "running", "{which:?}");
        assert_eq!(k.started_at, w.clock.now(), "{which:?}");
    })
    .await;
}

/// D3: whatever anyone does, an open ticket has exactly one owner, of the kind its status
/// demands. Random actions by random people through the use cases; after each, the stored row
/// is read back and checked.
#[tokio::test]
async fn every_open_ticket_has_exactly_one_owner_whatever_is_done() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (agent_id, agent) = staff(&w, "agent.a", "agent", d.svc).await;
        let (second_id, second) = staff(&w, "agent.b", "agent", d.svc).await;
        let (qa_id, qa) = staff(&w, "qa.a", "department_handler", d.qa).await;
        let (log_id, logi) = staff(&w, "log.a", "department_handler", d.log).await;
        let (sup_id, sup) = staff(&w, "sup.a", "manager", d.svc).await;
        let people = [&agent, &second, &qa, &logi, &sup];
        let ids_of = [agent_id, second_id, qa_id, log_id, sup_id];
        let dept_of = [d.svc, d.svc, d.qa, d.log, d.svc];
        let mut rng = StdRng::seed_from_u64(match which {
            testkit::Which::Sqlite => 7,
            testkit::Which::Postgres => 11,
        });
        let mut ids = Vec::new();
        for n in 0..4 {
            let t = tickets::create(&w.app, people[n % 2], TicketInput { kind: if n % 2 == 0 { "complaint" } else { "repair_request" }.into(), subject: format!("问题 {n}"), force_new: true, ..TicketInput::default() }).await.unwrap();
            ids.push(TicketId(t.id));
        }
        let mut accepted = 0;
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..300 {
            w.clock.advance_ms(10 * 60_000);
            // Mostly a ticket that is still open, so the walk keeps moving.
            let open_now = tickets::list(&w.app, &w.sys, TicketListInput { open: Some(true), ..TicketListInput::default() }).await.unwrap();
            let id = if rng.random_bool(0.9) && !open_now.items.is_empty() {
                TicketId(open_now.items[rng.random_range(0..open_now.items.len())].id)
            } else {
                ids[rng.random_range(0..ids.len())]
            };
            // Mostly the person the ticket waits for (its owner, or a member of the owning
            // queue), sometimes anyone: both the main line and the refusals get exercised.
            let owner = tickets::get(&w.app, &w.sys, id).await.unwrap().summary.owner;
            let fitting = (0..people.len()).find(|&i| match owner.kind.as_str() {
                "user" => ids_of[i].0 == owner.id,
                _ => dept_of[i].0 == owner.id,
            });
            let who = match fitting {
                Some(i) if rng.random_bool(0.75) => people[i],
                _ => people[rng.random_range(0..people.len())],
            };
            let later = domain::Timestamp(w.clock.now().0 + 48 * HOUR).rfc3339_in(chrono_tz::Asia::Shanghai);
            let dept = [d.qa, d.log][rng.random_range(0..2)];
            let a = match rng.random_range(0..34) {
                0..=2 | 32..=33 => ActionInput::Route { department_id: dept.0, note: None },
                3 => ActionInput::Transfer { department_id: dept.0, note: None },
                4..=6 => ActionInput::Accept,
                7..=8 => ActionInput::AddPlanPart { department_id: dept.0, summary: "方案".into(), remedy: None, committed_at: later },
                9..=10 => ActionInput::SignPart { department_id: dept.0 },
                11..=12 => ActionInput::SignPlan,
                13..=14 => ActionInput::ReturnPlan { note: None },
                15..=16 => ActionInput::InformRequester { contact_note: "已安抚".into(), message: None },
                17 => ActionInput::WaitForCustomer { note: None },
                18 => ActionInput::CustomerResponded { note: None },
                19..=20 => ActionInput::Resolve { summary: "好了".into() },
                21..=22 => ActionInput::SolvedRemotely { summary: "远程好了".into() },
                23..=24 => ActionInput::Confirm { note: None },
                25 => ActionInput::Close,
                26 => ActionInput::Reopen { reason: "没好".into() },
                27 => ActionInput::Reassign { user_id: sup_id.0 },
                28..=29 => ActionInput::Urge { note: None },
                30 => ActionInput::Cancel { reason: "重复".into() },
                _ => ActionInput::MergeInto { target_id: ids[rng.random_range(0..ids.len())].0 },
            };
            let name = a.name();
            if act(&w, who, id, a).await.is_ok() {
                accepted += 1;
            }
            // The invariant, read from storage for every ticket.
            for &t in &ids {
                let v = tickets::get(&w.app, &w.sys, t).await.unwrap();
                seen.insert(v.summary.status.clone());
                let state = w.app.db.read(move |c| Box::pin(async move { store::tickets::get(c, &domain::Scope::All, t).await })).await.unwrap().state;
                assert!(state.owner_fits_status(), "{which:?} step {step} after {name}: {:?} owned by {:?}", state.status, state.owner);
                if v.summary.status != "merged" && v.summary.status != "cancelled" && v.summary.status != "closed" {
                    assert!(v.summary.owner.id > 0, "{which:?}: ticket {t:?} has an owner");
                }
            }
            // Replenish when tickets end so the walk keeps exploring.
            let open = tickets::list(&w.app, &w.sys, TicketListInput { open: Some(true), ..TicketListInput::default() }).await.unwrap();
            if open.items.len() < 3 {
                let t = tickets::create(&w.app, &agent, TicketInput { kind: "complaint".into(), subject: format!("新问题 {step}"), force_new: true, ..TicketInput::default() }).await.unwrap();
                ids.push(TicketId(t.id));
            }
        }
        // Neither column pair is ever both set or both empty, on any row.
        let bad: i64 = w.app.db.read(|c| Box::pin(async move {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tickets WHERE (owner_user_id IS NULL) = (owner_queue_id IS NULL)").fetch_one(&mut *c).await?;
            Ok::<_, store::Error>(n)
        })).await.unwrap();
        assert_eq!(bad, 0);
        for s in ["routed", "accepted", "resolved", "cancelled"] {
            assert!(seen.contains(s), "{which:?}: the walk never reached {s} ({accepted} actions accepted; saw {seen:?})");
        }
    })
    .await;
}

/// D4 across a night: a call at 20:30 is due for its first reply at 08:30 the next morning on
/// the 8:00–21:00 desk calendar; nothing fires overnight, the breach escalates the ticket at
/// 08:30; a reply in time stops the clock instead.
#[tokio::test]
async fn the_first_reply_clock_sleeps_through_the_night_and_escalates_on_breach() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let (_, agent) = staff(&w, "agent.night", "agent", d.svc).await;
        let runner =
            app::jobs::Runner::standard(w.app.clone(), w.clock(), "tickets-test").expect("runner");
        // Monday 20:30 in Shanghai.
        w.clock.advance_ms(11 * HOUR + 30 * 60_000);
        let late = tickets::create(
            &w.app,
            &agent,
            TicketInput {
                kind: "consultation".into(),
                subject: "晚上来电咨询保修".into(),
                force_new: true,
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        let answered = tickets::create(
            &w.app,
            &agent,
            TicketInput {
                kind: "consultation".into(),
                subject: "另一位客户".into(),
                force_new: true,
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        let clocks = app::sla::clocks_of(
            &w.app,
            &w.sys,
            domain::sla::Subject::ticket(TicketId(late.id)),
        )
        .await
        .unwrap();
        let first = clocks
            .iter()
            .find(|k| k.metric == "first_reply")
            .expect("a first-reply clock");
        let due = first
            .due_at
            .expect("running")
            .rfc3339_in(chrono_tz::Asia::Shanghai);
        assert!(
            due.starts_with("2026-11-24T08:30:00"),
            "{which:?}: due {due}"
        );
        // 23:00: the desk is closed, nothing is due.
        w.clock.advance_ms(2 * HOUR + 30 * 60_000);
        runner.run_once().await.unwrap();
        assert!(
            !tickets::get(&w.app, &agent, TicketId(late.id))
                .await
                .unwrap()
                .summary
                .escalated
        );
        // 08:00 next morning the other customer gets an answer before the deadline.
        w.clock.advance_ms(9 * HOUR);
        let soon = |w: &'_ World| {
            let agent = agent.clone();
            let app = w.app.clone();
            async move {
                tickets::list(
                    &app,
                    &agent,
                    TicketListInput {
                        queue: Some("breaching".into()),
                        ..TicketListInput::default()
                    },
                )
                .await
                .unwrap()
                .items
                .len()
            }
        };
        assert_eq!(soon(&w).await, 2, "{which:?}: both are due at 08:30");
        tickets::add_message(
            &w.app,
            &agent,
            TicketId(answered.id),
            tickets::MessageInput {
                body: "您好，保修期为三年。".into(),
                internal: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            soon(&w).await,
            1,
            "{which:?}: the answered one stopped its clock"
        );
        // 08:31: the unanswered one breached and is escalated; the answered one is not.
        w.clock.advance_ms(31 * 60_000);
        runner.run_once().await.unwrap();
        runner.run_once().await.unwrap();
        let t = tickets::get(&w.app, &agent, TicketId(late.id))
            .await
            .unwrap();
        assert!(t.summary.escalated, "{which:?}");
        assert!(
            t.history.iter().any(|h| h.event == "sla_breached"),
            "{which:?}"
        );
        assert!(
            !tickets::get(&w.app, &agent, TicketId(answered.id))
                .await
                .unwrap()
                .summary
                .escalated
        );
        let esc = tickets::list(
            &w.app,
            &agent,
            TicketListInput {
                queue: Some("escalated".into()),
                ..TicketListInput::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            esc.items.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![late.id]
        );
    })
    .await;
}

/// D4 by brand tier: a premium brand's ticket gets the premium first-reply target (30 min), a
/// standard one the default hour.
#[tokio::test]
async fn a_premium_brands_ticket_gets_its_sooner_first_reply_target() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let _ = desk(&w).await;
        let premium = admin::create_brand(&w.app, &w.sys, "vip", "尊享品牌", "premium")
            .await
            .unwrap();
        let standard = w.brand("std", "标准品牌").await;
        let mut targets = Vec::new();
        for (login, brand) in [("brand.vip", premium), ("brand.std", standard)] {
            let u = w
                .user_linked(login, &["brand_user"], Some(brand), None)
                .await;
            let t = tickets::create(
                &w.app,
                &u,
                TicketInput {
                    kind: "consultation".into(),
                    subject: "品牌转来的咨询".into(),
                    ..TicketInput::default()
                },
            )
            .await
            .unwrap();
            let t = TicketId(t.id);
            let v = tickets::get(&w.app, &w.sys, t).await.unwrap();
            assert_eq!(
                (v.summary.owner.kind.as_str(), v.summary.owner.name.as_str()),
                ("queue", "客服中心"),
                "{which:?}: an outside party's request waits in the intake queue"
            );
            let clocks = app::sla::clocks_of(&w.app, &w.sys, domain::sla::Subject::ticket(t))
                .await
                .unwrap();
            targets.push(
                clocks
                    .iter()
                    .find(|k| k.metric == "first_reply")
                    .expect("first reply clock")
                    .target_ms,
            );
        }
        assert_eq!(targets, vec![30 * 60_000, 60 * 60_000], "{which:?}");
    })
    .await;
}
