//! Notifications wired to tickets (D7), end to end through the outbox and the job runner against
//! fake providers started inside each test: a customer who bound a WeChat openid gets
//! subscription messages; organisations following ticket events get 企业微信 markdown and signed
//! webhooks (the fake verifies the signature) on routing and on an SLA breach — and only for their
//! brand, only while active; retries, final failures and the ticket's delivery list; and the
//! administration's validation and brand scope.

#![allow(clippy::many_single_char_names)] // w, d, f: the world, the desk, the fake

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use app::admin::{self, UserInput};
use app::jobs::Runner;
use app::notify::subscriptions::{self as subs, SubscriptionInput, WechatBindingInput};
use app::notify::{Secret, WechatConfig, webhook_signature};
use app::tickets::{self, ActionInput, TicketInput};
use app::{App, Ctx, Settings};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use domain::{BrandId, CustomerId, OrgUnitId, Scope, TicketId};
use serde_json::{Value, json};
use testkit::each_backend;

use crate::{PASSWORD, World, code, fields, individual};

const HOOK_SECRET: &str = "hook-secret-for-tests";
const APPID: &str = "wx-kefu-test";
const APP_SECRET: &str = "wx-app-secret";

#[derive(Default)]
struct Fake {
    /// (bot key, body) per 企业微信 post.
    wecom: Vec<(String, Value)>,
    /// (path name, event header, body) per webhook POST whose signature checked out.
    hooks: Vec<(String, String, Value)>,
    /// Bodies of WeChat subscription messages.
    wechat: Vec<Value>,
    /// How often each webhook path was called.
    calls: HashMap<String, usize>,
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

async fn wecom(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut f = s.lock().unwrap();
    if body["msgtype"] != "markdown" || !body["markdown"]["content"].is_string() {
        f.problems.push(format!("malformed bot message {body}"));
    }
    f.wecom
        .push((q.get("key").cloned().unwrap_or_default(), body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// A receiver as the webhook docs tell integrators to write one: recompute the signature over
/// the timestamp and the raw body, refuse anything else.
async fn hook(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut f = s.lock().unwrap();
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let ts = header("x-kefu-timestamp");
    if header("x-kefu-signature") != webhook_signature(HOOK_SECRET, &ts, &body) {
        f.problems.push(format!("bad signature on {name}"));
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let n = {
        let n = f.calls.entry(name.clone()).or_default();
        *n += 1;
        *n
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if json["id"].as_i64().map(|i| i.to_string()) != Some(header("x-kefu-delivery")) {
        f.problems.push(format!("delivery id mismatch {json}"));
    }
    f.hooks.push((name.clone(), header("x-kefu-event"), json));
    match (name.as_str(), n) {
        ("flaky", 1) => (StatusCode::INTERNAL_SERVER_ERROR, "try later").into_response(),
        ("bad", _) => (StatusCode::BAD_REQUEST, "unknown receiver").into_response(),
        _ => (StatusCode::OK, [("x-request-id", format!("rcv-{n}"))], "ok").into_response(),
    }
}

async fn wechat_token(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    if q.get("appid").map(String::as_str) == Some(APPID)
        && q.get("secret").map(String::as_str) == Some(APP_SECRET)
    {
        Json(json!({"access_token": "TOKEN-1", "expires_in": 7200}))
    } else {
        Json(json!({"errcode": 40013, "errmsg": "invalid appid"}))
    }
}

async fn wechat_send(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut f = s.lock().unwrap();
    if q.get("access_token").map(String::as_str) != Some("TOKEN-1") {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    f.wechat.push(body);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 777}))
}

async fn fake() -> (String, Shared) {
    let state = Shared::default();
    let router = axum::Router::new()
        .route("/cgi-bin/webhook/send", axum::routing::post(wecom))
        .route("/hook/{name}", axum::routing::post(hook))
        .route("/cgi-bin/token", axum::routing::get(wechat_token))
        .route(
            "/cgi-bin/message/subscribe/send",
            axum::routing::post(wechat_send),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn settings(base: &str) -> Settings {
    Settings {
        webhook_secret: Some(Secret::new(HOOK_SECRET)),
        wecom_api_base: Some(base.to_string()),
        wechat: Some(WechatConfig::new(APPID, Secret::new(APP_SECRET)).api_base(base)),
        wechat_templates: [("ticket.received".to_string(), "TPL-RECV".to_string())].into(),
        ..Settings::default()
    }
}

struct Desk {
    svc: OrgUnitId,
    qa: OrgUnitId,
    agent: Ctx,
}

async fn desk(w: &World) -> Desk {
    let svc = w.department("SVC", "客服中心", "service").await;
    let qa = w.department("QA", "质量部", "quality").await;
    admin::create_user(
        &w.app,
        &w.sys,
        UserInput {
            login: "agent.li".into(),
            display_name: "李客服".into(),
            roles: vec!["agent".into()],
            org_unit_id: Some(svc.0),
            password: Some(PASSWORD.into()),
            active: true,
            ..UserInput::default()
        },
    )
    .await
    .expect("agent");
    Desk {
        svc,
        qa,
        agent: w.sign_in("agent.li").await,
    }
}

async fn ticket(
    w: &World,
    d: &Desk,
    brand: BrandId,
    customer: CustomerId,
    subject: &str,
) -> (TicketId, String) {
    let t = tickets::create(
        &w.app,
        &d.agent,
        TicketInput {
            kind: "repair_request".into(),
            subject: subject.into(),
            customer_id: Some(customer.0),
            brand_id: Some(brand.0),
            force_new: true,
            ..TicketInput::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{:?}: create ticket: {e}", w.which));
    (TicketId(t.id), t.number)
}

fn sub(
    name: &str,
    channel: &str,
    target: &str,
    events: &[&str],
    brand: Option<BrandId>,
) -> SubscriptionInput {
    SubscriptionInput {
        name: name.into(),
        channel: channel.into(),
        target: target.into(),
        events: events.iter().map(|e| (*e).to_string()).collect(),
        brand_id: brand.map(|b| b.0),
        ..SubscriptionInput::default()
    }
}

async fn run(w: &World, runner: &Runner, times: usize) {
    for _ in 0..times {
        runner
            .run_once()
            .await
            .unwrap_or_else(|e| panic!("{:?}: run: {e}", w.which));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_with_a_wechat_openid_gets_the_received_message() {
    each_backend(|db, which| async move {
        let (base, fake) = fake().await;
        let mut w = World::new(db, which);
        w.app = App::new(w.app.db.clone(), w.app.regions.clone(), settings(&base));
        let d = desk(&w).await;
        let brand = w.brand("ACME", "艾克美").await;
        let li = w
            .customer(&d.agent, individual("李女士", "13900001111"))
            .await;
        let wang = w
            .customer(&d.agent, individual("王先生", "13900002222"))
            .await;

        // The brand's mini program binds the openid; bad input changes nothing.
        let bad = subs::bind_wechat(
            &w.app,
            &d.agent,
            li,
            WechatBindingInput {
                openid: "o li!".into(),
                appid: None,
            },
        )
        .await;
        assert_eq!(code(&bad), "validation", "{which:?}");
        assert_eq!(fields(&bad), ["openid"]);
        let v = subs::bind_wechat(
            &w.app,
            &d.agent,
            li,
            WechatBindingInput {
                openid: "o-li-0001".into(),
                appid: None,
            },
        )
        .await
        .expect("bind");
        assert_eq!((v.appid.as_str(), v.openid.as_str()), (APPID, "o-li-0001"));
        let taken = subs::bind_wechat(
            &w.app,
            &d.agent,
            wang,
            WechatBindingInput {
                openid: "o-li-0001".into(),
                appid: None,
            },
        )
        .await;
        assert_eq!(
            code(&taken),
            "duplicate",
            "{which:?}: one openid, one customer"
        );

        let runner = Runner::standard(w.app.clone(), w.clock(), "t").unwrap();
        let (tid, number) = ticket(
            &w,
            &d,
            brand,
            li,
            "净水器漏水，需要尽快上门检查并更换滤芯和密封圈",
        )
        .await;
        // Wang has no openid: his ticket sends no WeChat message.
        let (wang_tid, _) = ticket(&w, &d, brand, wang, "热水器不出热水").await;
        run(&w, &runner, 2).await;

        {
            let f = fake.lock().unwrap();
            assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
            assert_eq!(f.wechat.len(), 1, "{which:?}: {:?}", f.wechat);
            let body = &f.wechat[0];
            assert_eq!(body["touser"], "o-li-0001");
            assert_eq!(body["template_id"], "TPL-RECV");
            assert_eq!(body["data"]["character_string1"]["value"], number.as_str());
            assert_eq!(body["data"]["thing2"]["value"], "已受理");
            assert_eq!(body["data"]["time3"]["value"], "2026-11-23 09:00");
            // A `thing` holds 20 characters at most: the subject is cut with an ellipsis.
            assert_eq!(
                body["data"]["thing4"]["value"],
                "净水器漏水，需要尽快上门检查并更换滤芯…"
            );
            let page = body["page"].as_str().unwrap_or_default();
            assert!(
                page.starts_with(&format!("/t/{number}?k=")),
                "{which:?}: {page}"
            );
        }

        // The ticket page lists it as sent.
        let list = subs::ticket_notifications(&w.app, &d.agent, tid)
            .await
            .unwrap();
        let wx: Vec<_> = list.iter().filter(|m| m.channel == "wechat").collect();
        assert_eq!(wx.len(), 1, "{which:?}");
        assert_eq!((wx[0].status.as_str(), wx[0].attempts), ("sent", 1));
        assert_eq!(wx[0].provider_ref.as_deref(), Some("777"));
        let other = subs::ticket_notifications(&w.app, &d.agent, wang_tid)
            .await
            .unwrap();
        assert!(other.iter().all(|m| m.channel != "wechat"), "{which:?}");

        // Unbinding stops it; unbinding twice is not_found.
        subs::unbind_wechat(&w.app, &d.agent, li, None)
            .await
            .unwrap();
        assert_eq!(
            code(&subs::unbind_wechat(&w.app, &d.agent, li, None).await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_hear_of_routing_and_sla_escalation_by_bot_and_signed_webhook() {
    each_backend(|db, which| async move {
        let (base, fake) = fake().await;
        let mut w = World::new(db, which);
        w.app = App::new(w.app.db.clone(), w.app.regions.clone(), settings(&base));
        let d = desk(&w).await;
        let acme = w.brand("ACME", "艾克美").await;
        let beta = w.brand("BETA", "贝塔").await;
        let li = w
            .customer(&d.agent, individual("李女士", "13900001111"))
            .await;
        let admin = &w.sys;
        let create = |i: SubscriptionInput| subs::create_subscription(&w.app, admin, i);
        create(sub(
            "艾克美大客户群",
            "wecom",
            "acme-key",
            &["ticket.routed", "ticket.escalated"],
            Some(acme),
        ))
        .await
        .unwrap();
        create(sub(
            "艾克美 ERP",
            "webhook",
            &format!("{base}/hook/erp"),
            &["ticket.routed"],
            Some(acme),
        ))
        .await
        .unwrap();
        create(sub(
            "贝塔群",
            "wecom",
            "beta-key",
            &["ticket.routed", "ticket.escalated"],
            Some(beta),
        ))
        .await
        .unwrap();
        let mut off = sub(
            "停用的群",
            "wecom",
            "off-key",
            &["ticket.routed"],
            Some(acme),
        );
        off.active = Some(false);
        create(off).await.unwrap();
        let mut en = sub(
            "ACME HQ",
            "wecom",
            &format!("{base}/cgi-bin/webhook/send?key=hq-key"),
            &["ticket.escalated"],
            None,
        );
        en.locale = Some("en".into());
        create(en).await.unwrap();

        let runner = Runner::standard(w.app.clone(), w.clock(), "t").unwrap();
        let (tid, number) = ticket(&w, &d, acme, li, "衣柜门板色差").await;
        let v = tickets::get(&w.app, &w.sys, tid)
            .await
            .unwrap()
            .summary
            .version;
        tickets::act(
            &w.app,
            &d.agent,
            tid,
            v,
            ActionInput::Route {
                department_id: d.qa.0,
                note: Some("请质量部核实".into()),
            },
        )
        .await
        .unwrap();
        run(&w, &runner, 2).await;
        {
            let f = fake.lock().unwrap();
            assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
            let keys: BTreeSet<&str> = f.wecom.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["acme-key"]),
                "{which:?}: not the other brand's bot, not the inactive one"
            );
            let text = f.wecom[0].1["markdown"]["content"].as_str().unwrap();
            assert!(
                text.starts_with(&format!("**工单已派至部门 {number}**")),
                "{which:?}: {text}"
            );
            assert!(text.contains("> 负责人：质量部"), "{text}");
            assert!(text.contains("> 品牌：ACME"), "{text}");
            assert!(text.contains("> 状态：已派单"), "{text}");
            assert_eq!(f.hooks.len(), 1, "{which:?}");
            let (name, event, body) = &f.hooks[0];
            assert_eq!((name.as_str(), event.as_str()), ("erp", "ticket.routed"));
            assert_eq!(body["event"], "ticket.routed");
            let t = &body["data"]["ticket"];
            assert_eq!(t["number"], number.as_str());
            assert_eq!(t["kind"], "repair_request");
            assert_eq!(t["status"], "routed");
            assert_eq!(t["brand"], "ACME");
            assert_eq!(t["department"], "质量部");
            assert_eq!(t["link"], format!("/tickets/{}", tid.0));
        }

        // An hour without a first reply: the SLA breach escalates, and the bots hear of it
        // (the platform-wide English one too).
        w.clock
            .set(domain::Timestamp(crate::MONDAY_9AM.0 + 65 * 60 * 1000));
        run(&w, &runner, 3).await;
        let f = fake.lock().unwrap();
        assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
        let escalated: Vec<(&str, &str)> = f
            .wecom
            .iter()
            .skip(1)
            .map(|(k, b)| (k.as_str(), b["markdown"]["content"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(escalated.len(), 2, "{which:?}: {escalated:?}");
        let acme_text = escalated.iter().find(|(k, _)| *k == "acme-key").unwrap().1;
        assert!(
            acme_text.starts_with(&format!("**工单升级 {number}**")),
            "{acme_text}"
        );
        assert!(acme_text.contains("> 原因：SLA 超时"), "{acme_text}");
        let hq = escalated.iter().find(|(k, _)| *k == "hq-key").unwrap().1;
        assert!(
            hq.starts_with(&format!("**Ticket escalated {number}**")),
            "{hq}"
        );
        assert!(hq.contains("> Reason：SLA breached"), "{hq}");
        assert_eq!(
            f.hooks.len(),
            1,
            "{which:?}: the webhook follows routing only"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_until_sent_and_a_400_fails_for_good_with_its_error_shown() {
    each_backend(|db, which| async move {
        let (base, fake) = fake().await;
        let mut w = World::new(db, which);
        w.app = App::new(w.app.db.clone(), w.app.regions.clone(), settings(&base));
        let d = desk(&w).await;
        let acme = w.brand("ACME", "艾克美").await;
        let li = w
            .customer(&d.agent, individual("李女士", "13900001111"))
            .await;
        for name in ["flaky", "bad"] {
            subs::create_subscription(
                &w.app,
                &w.sys,
                sub(
                    name,
                    "webhook",
                    &format!("{base}/hook/{name}"),
                    &["ticket.received"],
                    Some(acme),
                ),
            )
            .await
            .unwrap();
        }
        let runner = Runner::standard(w.app.clone(), w.clock(), "t").unwrap();
        let (tid, number) = ticket(&w, &d, acme, li, "衣柜门板色差").await;
        run(&w, &runner, 1).await;
        let status = |list: &[subs::OutboxView], who: &str| {
            list.iter()
                .find(|m| m.recipient.ends_with(who))
                .map(|m| (m.status.clone(), m.attempts, m.last_error.clone()))
                .unwrap()
        };
        let list = subs::ticket_notifications(&w.app, &d.agent, tid)
            .await
            .unwrap();
        let (s, a, e) = status(&list, "/hook/flaky");
        assert_eq!((s.as_str(), a), ("pending", 1), "{which:?}");
        assert!(e.unwrap().contains("HTTP 500"), "{which:?}");
        let (s, a, e) = status(&list, "/hook/bad");
        assert_eq!((s.as_str(), a), ("failed", 1), "{which:?}");
        let e = e.unwrap();
        assert!(
            e.contains("HTTP 400") && e.contains("unknown receiver"),
            "{which:?}: {e}"
        );

        // The retry comes after the backoff (at most 10 s for the first).
        run(&w, &runner, 1).await;
        assert_eq!(
            fake.lock().unwrap().calls["flaky"],
            1,
            "{which:?}: not before its time"
        );
        w.clock.advance_ms(10_000);
        run(&w, &runner, 1).await;
        let list = subs::ticket_notifications(&w.app, &d.agent, tid)
            .await
            .unwrap();
        let (s, a, e) = status(&list, "/hook/flaky");
        assert_eq!((s.as_str(), a, e), ("sent", 2, None), "{which:?}");
        assert_eq!(status(&list, "/hook/bad").0, "failed", "{which:?}: final");
        {
            let f = fake.lock().unwrap();
            assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
            assert_eq!((f.calls["flaky"], f.calls["bad"]), (2, 1), "{which:?}");
            let retried: Vec<&Value> = f
                .hooks
                .iter()
                .filter(|h| h.0 == "flaky")
                .map(|h| &h.2)
                .collect();
            assert_eq!(
                retried[0]["id"], retried[1]["id"],
                "{which:?}: one delivery id"
            );
            assert_eq!(retried[1]["data"]["ticket"]["number"], number.as_str());
        }

        // An administrator sends the failed one again: it is tried once more (and refused again).
        let bad_id = list
            .iter()
            .find(|m| m.recipient.ends_with("/hook/bad"))
            .unwrap()
            .id;
        let sent_id = list
            .iter()
            .find(|m| m.recipient.ends_with("/hook/flaky"))
            .unwrap()
            .id;
        assert_eq!(
            code(&subs::retry_outbox(&w.app, &w.sys, sent_id).await),
            "conflict"
        );
        assert_eq!(
            code(&subs::retry_outbox(&w.app, &d.agent, bad_id).await),
            "forbidden"
        );
        subs::retry_outbox(&w.app, &w.sys, bad_id).await.unwrap();
        run(&w, &runner, 1).await;
        assert_eq!(fake.lock().unwrap().calls["bad"], 2, "{which:?}");
        let failed = subs::list_outbox(
            &w.app,
            &w.sys,
            subs::OutboxListInput {
                status: Some("failed".into()),
                ..subs::OutboxListInput::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(failed.items.len(), 1, "{which:?}");
        assert_eq!((failed.items[0].id, failed.items[0].attempts), (bad_id, 2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_input_is_checked_and_a_brand_manages_only_its_own() {
    each_backend(|db, which| async move {
        let w = World::new(db, which);
        let d = desk(&w).await;
        let acme = w.brand("ACME", "艾克美").await;
        let beta = w.brand("BETA", "贝塔").await;
        let brand_admin = Ctx {
            scope: Scope::Brands(BTreeSet::from([acme])),
            ..w.sys.clone()
        };
        let count = || async {
            subs::list_subscriptions(&w.app, &w.sys)
                .await
                .unwrap()
                .len()
        };

        for (input, field) in [
            (
                sub(
                    "ERP",
                    "webhook",
                    "ftp://erp.example.com/in",
                    &["ticket.routed"],
                    Some(acme),
                ),
                "target",
            ),
            (
                sub(
                    "ERP",
                    "webhook",
                    "not a url",
                    &["ticket.routed"],
                    Some(acme),
                ),
                "target",
            ),
            (
                sub(
                    "群",
                    "wecom",
                    "key with spaces",
                    &["ticket.routed"],
                    Some(acme),
                ),
                "target",
            ),
            (
                sub("群", "wecom", "acme-key", &["ticket.exploded"], Some(acme)),
                "events",
            ),
            (sub("群", "wecom", "acme-key", &[], Some(acme)), "events"),
            (
                sub("群", "sms", "acme-key", &["ticket.routed"], Some(acme)),
                "channel",
            ),
            (
                sub("", "wecom", "acme-key", &["ticket.routed"], Some(acme)),
                "name",
            ),
        ] {
            let r = subs::create_subscription(&w.app, &w.sys, input).await;
            assert_eq!(code(&r), "validation", "{which:?}: {field}");
            assert_eq!(fields(&r), [field], "{which:?}");
        }
        let mut bad_locale = sub("群", "wecom", "acme-key", &["ticket.routed"], Some(acme));
        bad_locale.locale = Some("fr".into());
        assert_eq!(
            fields(&subs::create_subscription(&w.app, &w.sys, bad_locale).await),
            ["locale"]
        );
        // Another brand, from a brand's administrator.
        let r = subs::create_subscription(
            &w.app,
            &brand_admin,
            sub("群", "wecom", "acme-key", &["ticket.routed"], Some(beta)),
        )
        .await;
        assert_eq!(fields(&r), ["brand_id"], "{which:?}");
        // A desk agent may not manage subscriptions at all.
        let r = subs::create_subscription(
            &w.app,
            &d.agent,
            sub("群", "wecom", "acme-key", &["ticket.routed"], Some(acme)),
        )
        .await;
        assert_eq!(code(&r), "forbidden");
        assert_eq!(count().await, 0, "{which:?}: nothing written");

        // A brand administrator's subscription is its brand's; the platform's is not theirs.
        let own = subs::create_subscription(
            &w.app,
            &brand_admin,
            sub(
                "艾克美群",
                "wecom",
                "acme-key",
                &["ticket.routed", "ticket.routed"],
                None,
            ),
        )
        .await
        .unwrap();
        assert_eq!(own.brand_id, Some(acme.0));
        assert_eq!(
            own.events,
            ["ticket.routed"],
            "{which:?}: duplicates dropped"
        );
        let platform = subs::create_subscription(
            &w.app,
            &w.sys,
            sub(
                "总部",
                "webhook",
                "https://hq.example.com/kefu",
                &["ticket.closed"],
                None,
            ),
        )
        .await
        .unwrap();
        assert_eq!(platform.brand_id, None);
        let seen: Vec<i64> = subs::list_subscriptions(&w.app, &brand_admin)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(seen, [own.id], "{which:?}");
        assert_eq!(
            code(&subs::get_subscription(&w.app, &brand_admin, platform.id).await),
            "not_found"
        );
        assert_eq!(
            code(&subs::send_test(&w.app, &brand_admin, platform.id).await),
            "not_found"
        );

        // Deactivate with the version read; a stale version is refused.
        let mut input = sub("艾克美群", "wecom", "acme-key", &["ticket.routed"], None);
        input.active = Some(false);
        let off =
            subs::update_subscription(&w.app, &brand_admin, own.id, own.version, input.clone())
                .await
                .unwrap();
        assert!(!off.active);
        assert_eq!(off.version, own.version + 1);
        assert_eq!(
            code(
                &subs::update_subscription(&w.app, &brand_admin, own.id, own.version, input).await
            ),
            "version_conflict"
        );
        // A test message goes to the outbox (to the inactive one too: it checks the target).
        let oid = subs::send_test(&w.app, &brand_admin, own.id).await.unwrap();
        let page = subs::list_outbox(&w.app, &brand_admin, subs::OutboxListInput::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, oid);
        assert_eq!(page.items[0].template, "notify.test");
        assert_eq!(
            page.items[0].recipient, "acme-k***",
            "{which:?}: a bot key is a credential"
        );
        assert_eq!(w.audit("notify_subscription", Some(own.id)).await.len(), 3);
        subs::delete_subscription(&w.app, &brand_admin, own.id)
            .await
            .unwrap();
        assert_eq!(count().await, 1);
        let _ = d.svc;
    })
    .await;
}
