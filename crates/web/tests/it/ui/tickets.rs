//! The service-desk pages on both backends, as the people who use them: an agent takes a
//! dealer's complaint for its customer, the quality department plans and signs it, the agent
//! tells the requester and resolves it, the requester confirms through the signed link, finance
//! pays the compensation and the complaint closes; refusals show up as readable messages and
//! change nothing. Dealers see "my requests" without the staff-only parts.

use std::sync::Arc;

use app::admin::{self, UnitInput, UserInput};
use app::ledger::{self, CustomerInput, DeviceInput};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use domain::OrgUnitId;
use testkit::each_backend;
use web::AppState;

use super::{Browser, Resp, form_body, get, get_htmx, post, send, sign_in};

const PASSWORD: &str = "password-123";

struct Desk {
    router: Router,
    app: app::App,
    sys: app::Ctx,
    qa: OrgUnitId,
    end_customer: i64,
    dealer: i64,
    device: i64,
}

async fn unit(app: &app::App, sys: &app::Ctx, code: &str, name: &str, function: &str) -> OrgUnitId {
    admin::create_unit(
        app,
        sys,
        UnitInput {
            parent_id: None,
            kind: "department".into(),
            function: Some(function.into()),
            code: code.into(),
            name: name.into(),
            city_code: None,
            active: true,
        },
    )
    .await
    .expect("unit")
}

async fn user(
    d: &Desk,
    login: &str,
    name: &str,
    role: &str,
    unit: Option<OrgUnitId>,
    dealer: Option<i64>,
) {
    admin::create_user(
        &d.app,
        &d.sys,
        UserInput {
            login: login.into(),
            display_name: name.into(),
            roles: vec![role.into()],
            org_unit_id: unit.map(|u| u.0),
            dealer_id: dealer,
            password: Some(PASSWORD.into()),
            locale: Some("zh-CN".into()),
            active: true,
            ..UserInput::default()
        },
    )
    .await
    .expect("user");
}

async fn desk(db: store::Db) -> Desk {
    let app = app::App::new(
        db,
        Arc::new(web::assets::regions()),
        app::Settings::default(),
    );
    let clock: Arc<dyn app::Clock> = Arc::new(app::SystemClock);
    let sys = app::Ctx::system("test", clock.clone());
    let svc = unit(&app, &sys, "SVC", "客服中心", "service").await;
    let qa = unit(&app, &sys, "QA", "质量部", "quality").await;
    unit(&app, &sys, "LOG", "物流部", "logistics").await;
    let router = web::router(AppState {
        app: app.clone(),
        clock,
        metrics: None,
        secure_cookies: false,
    });
    let mut d = Desk {
        router,
        app,
        sys,
        qa,
        end_customer: 0,
        dealer: 0,
        device: 0,
    };
    user(&d, "owner", "刘建军", "account_owner", Some(svc), None).await;
    let owner_id = admin::users(&d.app, &d.sys)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.login == "owner")
        .unwrap()
        .id;
    let dealer = ledger::create_customer(
        &d.app,
        &d.sys,
        CustomerInput {
            kind: "dealer".into(),
            name: "杭州好家居经销部".into(),
            phone: Some("0571-8765-4321".into()),
            owner_user_id: Some(owner_id.0),
            ..CustomerInput::default()
        },
    )
    .await
    .unwrap()
    .id;
    let end = ledger::create_customer(
        &d.app,
        &d.sys,
        CustomerInput {
            kind: "individual".into(),
            name: "李秀英".into(),
            phone: Some("13900001111".into()),
            dealer_id: Some(dealer.0),
            ..CustomerInput::default()
        },
    )
    .await
    .unwrap()
    .id;
    let device = ledger::add_device(
        &d.app,
        &d.sys,
        end,
        DeviceInput {
            brand_id: None,
            category: "衣柜".into(),
            model: "YG-200".into(),
            serial: Some("SN-77".into()),
            production_date: None,
            purchase_date: None,
            purchase_channel: None,
            install_date: None,
            installer: None,
            warranty_end: None,
            address_id: None,
        },
    )
    .await
    .unwrap()
    .id;
    (d.dealer, d.end_customer, d.device) = (dealer.0, end.0, device.0);
    user(&d, "agent", "李晓萌", "agent", Some(svc), None).await;
    user(&d, "qa", "孙海燕", "department_handler", Some(qa), None).await;
    user(&d, "manager", "陈静怡", "manager", Some(svc), None).await;
    user(&d, "finance", "郑雅琴", "settlement_finance", None, None).await;
    user(&d, "dealer", "钱丽华", "dealer_user", None, Some(dealer.0)).await;
    d
}

async fn login(d: &Desk, who: &str) -> Browser {
    sign_in(&d.router, who, PASSWORD).await
}

/// The id in a redirect to /tickets/{id}….
fn ticket_id(r: &Resp) -> i64 {
    let loc = r.location();
    loc.strip_prefix("/tickets/")
        .and_then(|x| x.split(['?', '#']).next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "unexpected answer {} {loc}: {}",
                r.status,
                &r.body[..r.body.len().min(2000)]
            )
        })
}

/// The version the ticket page's action forms carry.
fn version(html: &str) -> String {
    let at = html.find("name=\"action\" value=").expect("an action form");
    let rest = &html[at..];
    let v = rest.find("name=\"version\" value=\"").expect("a version") + 22;
    rest[v..v + rest[v..].find('"').unwrap()].to_string()
}

async fn page(d: &Desk, b: &Browser, id: i64) -> String {
    let r = get(&d.router, b, &format!("/tickets/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Takes an action from the ticket page as its form does, with the version the page showed.
async fn act(d: &Desk, b: &Browser, id: i64, action: &str, fields: &[(&str, &str)]) -> Resp {
    let v = version(&page(d, b, id).await);
    let mut pairs = vec![("action", action), ("version", v.as_str())];
    pairs.extend_from_slice(fields);
    post(&d.router, b, &format!("/tickets/{id}/act"), &pairs).await
}

fn ok(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: {}", r.body);
}

/// The text of the status badge in the ticket head.
fn status_of(html: &str) -> String {
    let head = &html[html.find("ticket-head").expect("the head")..];
    let at = head.find("class=\"badge st-").unwrap();
    let rest = &head[at..];
    let s = rest.find('>').unwrap() + 1;
    rest[s..s + rest[s..].find('<').unwrap()].to_string()
}

/// A datetime-local value `hours` from now in China time.
fn local_in(hours: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::hours(hours) + chrono::Duration::hours(8);
    t.format("%Y-%m-%dT%H:%M").to_string()
}

#[tokio::test]
async fn a_complaint_goes_from_the_call_to_the_requesters_confirmation() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let agent = login(&d, "agent").await;

        // The queues, with their counts; an agent has no "my dealers" tab.
        let list = get(&d.router, &agent, "/tickets").await;
        assert_eq!(list.status, StatusCode::OK);
        for want in [
            "我的",
            "本部门",
            "待分配",
            "已升级",
            "被催单",
            "这里没有受理单",
        ] {
            assert!(
                list.body.contains(want),
                "{which:?}: {want} missing from the queues"
            );
        }
        assert!(!list.body.contains("我的经销商"));
        assert!(
            list.body.contains("href=\"/tickets\""),
            "the nav links the desk"
        );

        // The screen-pop: the caller, the device, the dealer who may be asking.
        let form = get(
            &d.router,
            &agent,
            &format!("/tickets/new?customer_id={}&call_id=77", d.end_customer),
        )
        .await;
        assert_eq!(form.status, StatusCode::OK);
        for want in [
            "李秀英",
            "衣柜 YG-200",
            "杭州好家居经销部",
            "name=\"call_id\" value=\"77\"",
        ] {
            assert!(
                form.body.contains(want),
                "{which:?}: {want} missing from the new form"
            );
        }
        // The live lookup as the number is typed.
        let found = get_htmx(
            &d.router,
            &agent,
            "/tickets/caller?phone=139%200000%201111",
            "caller",
        )
        .await;
        assert_eq!(found.status, StatusCode::OK);
        assert!(
            found.body.contains("李秀英") && !found.body.contains("<html"),
            "{}",
            found.body
        );
        let none = get_htmx(
            &d.router,
            &agent,
            "/tickets/caller?phone=13700000000",
            "caller",
        )
        .await;
        assert!(none.body.contains("台账里没有这个号码的客户"));

        // Bad input: the form comes back with the errors and the values, and nothing is made.
        let bad = post(
            &d.router,
            &agent,
            "/tickets",
            &[
                ("kind", "complaint"),
                ("subject", ""),
                ("phone", "12"),
                ("description", "门板色差"),
            ],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(
            bad.body.contains("必填") && bad.body.contains("门板色差"),
            "{}",
            bad.body
        );
        assert!(
            get(&d.router, &agent, "/tickets?queue=all")
                .await
                .body
                .contains("这里没有受理单")
        );

        let dealer = d.dealer.to_string();
        let device = d.device.to_string();
        let made = post(
            &d.router,
            &agent,
            "/tickets",
            &[
                ("kind", "complaint"),
                ("complaint_category", "product_quality"),
                ("subject", "衣柜门板色差,客户要求重做"),
                ("description", "安装后发现两扇门板颜色不一致"),
                ("phone", "13900001111"),
                ("customer_id", &d.end_customer.to_string()),
                ("requester_id", &dealer),
                ("device_id", &device),
                ("channel", "phone"),
            ],
        )
        .await;
        let id = ticket_id(&made);
        assert!(made.location().contains("flash=ticket_created"));
        let html = page(&d, &agent, id).await;
        assert_eq!(status_of(&html), "待处理");
        for want in [
            "投诉",
            "产品质量",
            "高",
            "李晓萌",
            "杭州好家居经销部",
            "转派部门",
        ] {
            assert!(
                html.contains(want),
                "{which:?}: {want} missing from the ticket page"
            );
        }
        assert!(
            !html.contains("data-action=\"accept\""),
            "an agent does not accept its own ticket"
        );
        let number = {
            let at = html.find("class=\"mono number\">").unwrap() + 20;
            html[at..at + html[at..].find('<').unwrap()].to_string()
        };
        assert!(number.starts_with("KF"), "{number}");

        // The same caller again: attached to the open ticket, and the page says so.
        let again = post(
            &d.router,
            &agent,
            "/tickets",
            &[
                ("kind", "complaint"),
                ("subject", "还没人联系我"),
                ("phone", "139 0000 1111"),
            ],
        )
        .await;
        assert_eq!(ticket_id(&again), id);
        assert!(again.location().contains("attached=1"));
        let shown = get(&d.router, &agent, again.location()).await;
        assert!(
            shown
                .body
                .contains(&format!("已并入进行中的受理单 {number}")),
            "{}",
            shown.body
        );
        assert!(shown.body.contains("还没人联系我"));

        // A stale version is refused with the reload message and changes nothing.
        // (The page was read, then someone urged the ticket.)
        let seen = version(&page(&d, &agent, id).await);
        ok(
            &act(&d, &agent, id, "urge", &[("note", "客户又来电催")]).await,
            "urge",
        );
        let stale = post(
            &d.router,
            &agent,
            &format!("/tickets/{id}/act"),
            &[
                ("action", "route"),
                ("version", &seen),
                ("department_id", &d.qa.0.to_string()),
            ],
        )
        .await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert!(
            stale.body.contains("其他人刚刚修改了这条记录"),
            "{}",
            stale.body
        );
        assert_eq!(status_of(&page(&d, &agent, id).await), "待处理");
        // A department must be chosen.
        let r = act(&d, &agent, id, "route", &[("department_id", "")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("class=\"field invalid\"") || r.body.contains("field invalid"));

        ok(
            &act(
                &d,
                &agent,
                id,
                "route",
                &[
                    ("department_id", &d.qa.0.to_string()),
                    ("note", "请质量部判定责任"),
                ],
            )
            .await,
            "route",
        );
        let html = page(&d, &agent, id).await;
        assert_eq!(status_of(&html), "待部门接单");
        assert!(
            html.contains("时限 · 首次响应"),
            "the ticket page shows its SLA clocks"
        );
        assert!(html.contains("质量部(队列)"));
        // Someone outside the department cannot accept: a readable refusal.
        let r = act(&d, &agent, id, "accept", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("只有当前负责人"), "{}", r.body);

        // The quality department's handler finds it in the department queue and takes it.
        let qa = login(&d, "qa").await;
        let queue = get(&d.router, &qa, "/tickets?queue=department").await;
        assert!(
            queue.body.contains(&number),
            "{which:?}: the department queue lists it"
        );
        assert!(page(&d, &qa, id).await.contains("data-action=\"accept\""));
        ok(&act(&d, &qa, id, "accept", &[]).await, "accept");
        // A committed time in the past is refused next to the field.
        let r = act(
            &d,
            &qa,
            id,
            "add_plan_part",
            &[
                ("department_id", &d.qa.0.to_string()),
                ("summary", "门板重做"),
                ("remedy", "remake"),
                ("committed_at", &local_in(-2)),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("必须晚于现在"), "{}", r.body);
        assert!(r.body.contains("门板重做"), "the values are kept");
        ok(
            &act(
                &d,
                &qa,
                id,
                "add_plan_part",
                &[
                    ("department_id", &d.qa.0.to_string()),
                    ("summary", "门板重做并送货安装"),
                    ("remedy", "remake"),
                    ("committed_at", &local_in(72)),
                ],
            )
            .await,
            "plan part",
        );
        let html = page(&d, &qa, id).await;
        assert!(html.contains("未签署") && html.contains("门板重做并送货安装"));
        ok(&act(&d, &qa, id, "sign_plan", &[]).await, "sign plan");
        let html = page(&d, &qa, id).await;
        assert_eq!(status_of(&html), "方案已签署");
        assert!(
            html.contains("class=\"signed\">孙海燕"),
            "the part carries the signature"
        );
        ok(&act(&d, &qa, id, "return_plan", &[]).await, "return plan");

        // Back with the agent, who tells the requester how and when.
        let html = page(&d, &agent, id).await;
        assert_eq!(status_of(&html), "待告知客户");
        let r = act(
            &d,
            &agent,
            id,
            "inform_requester",
            &[("contact_note", "  ")],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        ok(
            &act(
                &d,
                &agent,
                id,
                "inform_requester",
                &[
                    ("contact_note", "电话安抚经销商,说明重做周期"),
                    ("message", "门板将重做,3 天内上门安装"),
                ],
            )
            .await,
            "inform",
        );
        // Notes and replies look different; the requester never sees the note.
        ok(
            &post(
                &d.router,
                &agent,
                &format!("/tickets/{id}/messages"),
                &[("body", "内部:质检报告已上传"), ("internal", "1")],
            )
            .await,
            "note",
        );
        ok(
            &post(
                &d.router,
                &agent,
                &format!("/tickets/{id}/messages"),
                &[("body", "师傅周三上午到")],
            )
            .await,
            "reply",
        );
        let html = page(&d, &agent, id).await;
        assert!(
            html.contains("msg msg-internal")
                && html.contains("msg msg-reply")
                && html.contains("msg msg-inbound")
        );
        // Compensation: a bad amount is refused, 200 yuan is proposed.
        let r = post(
            &d.router,
            &agent,
            &format!("/tickets/{id}/compensations"),
            &[
                ("amount", "两百"),
                ("payer", "manufacturer"),
                ("reason", "延误补偿"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("请输入元为单位的金额"), "{}", r.body);
        ok(
            &post(
                &d.router,
                &agent,
                &format!("/tickets/{id}/compensations"),
                &[
                    ("amount", "200"),
                    ("payer", "manufacturer"),
                    ("reason", "延误补偿"),
                ],
            )
            .await,
            "compensation",
        );
        let html = page(&d, &agent, id).await;
        assert!(html.contains("¥200.00") && html.contains("待批准"));
        assert!(
            !html.contains("name=\"step\" value=\"approve\""),
            "an agent cannot approve"
        );
        ok(
            &act(
                &d,
                &agent,
                id,
                "resolve",
                &[("summary", "门板已重做并安装")],
            )
            .await,
            "resolve",
        );

        // The status link, issued on the page and never put in a URL.
        let r = post(
            &d.router,
            &agent,
            &format!("/tickets/{id}/status-link"),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let at = r.body.find("id=\"status-link\">").expect("the link") + 17;
        let link = r.body[at..at + r.body[at..].find('<').unwrap()].replace("&amp;", "&");
        let path = &link[link.find("/t/").unwrap()..];
        let (_, key) = path.split_once("?k=").unwrap();

        // The requester's page: no sign-in, nothing internal.
        let anon = Browser::default();
        let public = get(&d.router, &anon, path).await;
        assert_eq!(public.status, StatusCode::OK, "{}", public.body);
        for want in [
            "待客户确认",
            "门板重做并送货安装",
            "师傅周三上午到",
            "已解决,确认",
        ] {
            assert!(
                public.body.contains(want),
                "{which:?}: {want} missing from the status page"
            );
        }
        for never in ["质检报告", "请质量部判定责任", "李晓萌", "¥200", "电话安抚"]
        {
            assert!(
                !public.body.contains(never),
                "{which:?}: the status page shows {never}"
            );
        }
        let en = get(&d.router, &anon, &format!("{path}&lang=en")).await;
        assert!(en.body.contains("Yes, it is solved"), "{}", en.body);
        let forged = get(&d.router, &anon, &format!("/t/{number}?k=forged")).await;
        assert_eq!(forged.status, StatusCode::NOT_FOUND);
        assert!(forged.body.contains("链接无效") && !forged.body.contains("衣柜"));
        let pv = {
            let at = public.body.find("name=\"version\" value=\"").unwrap() + 22;
            public.body[at..at + public.body[at..].find('"').unwrap()].to_string()
        };
        // Posted from a browser that also holds a staff session: the link alone counts, and no
        // CSRF token is asked for.
        let staff_cookie = agent.cookie_header();
        let submit = |k: String, v: String, what: &'static str, text: &'static str| {
            let router = d.router.clone();
            let number = number.clone();
            let cookie = staff_cookie.clone();
            async move {
                let req = Request::post(format!("/t/{number}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, cookie)
                    .body(Body::from(form_body(&[
                        ("k", &k),
                        ("version", &v),
                        ("what", what),
                        ("text", text),
                        ("lang", "zh-CN"),
                    ])))
                    .unwrap();
                send(&router, req).await
            }
        };
        let r = submit("forged".into(), pv.clone(), "confirm", "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = submit(key.to_string(), "1".into(), "confirm", "").await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.body.contains("页面已更新"), "{}", r.body);
        let r = submit(key.to_string(), pv.clone(), "confirm", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let after = get(&d.router, &anon, r.location()).await;
        assert!(
            after.body.contains("感谢确认") && after.body.contains("客户已确认"),
            "{}",
            after.body
        );

        // Closing waits for the compensation: refused in words, then approved, paid, closed.
        let r = act(&d, &agent, id, "close", &[]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(r.body.contains("还有未结清的补偿"), "{}", r.body);
        let manager = login(&d, "manager").await;
        let html = page(&d, &manager, id).await;
        let comp_form = html
            .find(&format!("action=\"/tickets/{id}/compensations/"))
            .expect("a step form");
        let comp = &html[comp_form + format!("action=\"/tickets/{id}/compensations/").len()..];
        let comp = &comp[..comp.find('"').unwrap()];
        ok(
            &post(
                &d.router,
                &manager,
                &format!("/tickets/{id}/compensations/{comp}"),
                &[("step", "approve"), ("version", "1")],
            )
            .await,
            "approve",
        );
        let finance = login(&d, "finance").await;
        assert!(
            page(&d, &finance, id)
                .await
                .contains("name=\"step\" value=\"pay\"")
        );
        let r = post(
            &d.router,
            &finance,
            &format!("/tickets/{id}/compensations/{comp}"),
            &[("step", "pay"), ("version", "1")],
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "a stale version");
        ok(
            &post(
                &d.router,
                &finance,
                &format!("/tickets/{id}/compensations/{comp}"),
                &[("step", "pay"), ("version", "2")],
            )
            .await,
            "pay",
        );
        ok(&act(&d, &agent, id, "close", &[]).await, "close");
        assert_eq!(status_of(&page(&d, &agent, id).await), "已关闭");

        // The month's report; not for agents.
        let month = (chrono::Utc::now() + chrono::Duration::hours(8))
            .format("%Y-%m")
            .to_string();
        let rep = get(
            &d.router,
            &manager,
            &format!("/reports/complaints?month={month}"),
        )
        .await;
        assert_eq!(rep.status, StatusCode::OK);
        assert!(
            rep.body.contains("<dd id=\"opened\">1</dd>")
                && rep.body.contains("<dd id=\"closed\">1</dd>")
                && rep.body.contains("¥200.00"),
            "{}",
            rep.body
        );
        let bad = get(&d.router, &manager, "/reports/complaints?month=2026-13").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            get(&d.router, &agent, "/reports/complaints").await.status,
            StatusCode::FORBIDDEN
        );

        // The customer and device pages list the ticket; the timeline links to it.
        let cust = get(&d.router, &agent, &format!("/customers/{}", d.end_customer)).await;
        assert!(cust.body.contains(&number), "{which:?}");
        assert!(cust.body.contains(&format!("href=\"/tickets/{id}\"")));
        assert!(
            cust.body
                .contains(&format!("/tickets/new?customer_id={}", d.end_customer))
        );
        let dev = get(&d.router, &agent, &format!("/devices/{}", d.device)).await;
        assert!(dev.body.contains(&number));
    })
    .await;
}

#[tokio::test]
async fn dealers_see_their_requests_without_the_staff_parts() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let dealer = login(&d, "dealer").await;
        let list = get(&d.router, &dealer, "/tickets").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(
            list.body.contains("我的服务请求") && !list.body.contains("class=\"tabs\""),
            "{which:?}"
        );
        let form = get(&d.router, &dealer, "/tickets/new?phone=13900001111").await;
        assert!(form.body.contains("李秀英"));
        assert!(
            !form.body.contains("name=\"requester_id\"") && !form.body.contains("name=\"channel\"")
        );
        let made = post(
            &d.router,
            &dealer,
            "/tickets",
            &[
                ("kind", "repair_request"),
                ("subject", "衣柜门合页松动"),
                ("phone", "13900001111"),
                ("customer_id", &d.end_customer.to_string()),
            ],
        )
        .await;
        let id = ticket_id(&made);
        let html = page(&d, &dealer, id).await;
        for never in [
            "转派部门",
            "添加内部备注",
            "生成状态链接",
            "status-link",
            "id=\"notifications\"",
        ] {
            assert!(!html.contains(never), "{which:?}: a dealer sees {never}");
        }
        assert!(
            html.contains("刘建军"),
            "the account owner owns a dealer's request"
        );
        // The dealer writes to the desk from its page (never an internal note).
        ok(
            &post(
                &d.router,
                &dealer,
                &format!("/tickets/{id}/messages"),
                &[("body", "客户周六在家")],
            )
            .await,
            "dealer message",
        );
        // The account owner sees it under "my dealers" and writes an internal note.
        let owner = login(&d, "owner").await;
        let queue = get(&d.router, &owner, "/tickets?queue=dealers").await;
        assert!(queue.body.contains("衣柜门合页松动"), "{which:?}");
        assert!(
            page(&d, &owner, id).await.contains("客户周六在家"),
            "{which:?}: the owner reads the dealer's message"
        );
        // Staff see the ticket's notifications and their delivery.
        let staff_page = page(&d, &owner, id).await;
        assert!(
            staff_page.contains("id=\"notifications\"") && staff_page.contains("通知记录"),
            "{which:?}: the notifications section"
        );
        ok(
            &post(
                &d.router,
                &owner,
                &format!("/tickets/{id}/messages"),
                &[("body", "内部:经销商月底对账"), ("internal", "1")],
            )
            .await,
            "note",
        );
        ok(
            &act(&d, &owner, id, "resolve", &[("summary", "已上门紧固合页")]).await,
            "resolve",
        );
        let html = page(&d, &dealer, id).await;
        assert!(
            !html.contains("经销商月底对账"),
            "{which:?}: internal notes stay inside"
        );
        assert!(html.contains("已上门紧固合页"));
        assert!(
            html.contains("data-action=\"confirm\""),
            "the dealer confirms"
        );
        ok(&act(&d, &dealer, id, "confirm", &[]).await, "confirm");
        assert_eq!(status_of(&page(&d, &dealer, id).await), "客户已确认");
        // Another dealer's ticket is out of sight.
        let other = post(
            &d.router,
            &owner,
            "/tickets",
            &[
                ("kind", "consultation"),
                ("subject", "别家客户咨询"),
                ("phone", "13811112222"),
                ("force_new", "1"),
            ],
        )
        .await;
        let other = ticket_id(&other);
        assert_eq!(
            get(&d.router, &dealer, &format!("/tickets/{other}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn complaint_facts_reviews_merges_and_reassignment() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let agent = login(&d, "agent").await;
        let first = ticket_id(
            &post(
                &d.router,
                &agent,
                "/tickets",
                &[
                    ("kind", "complaint"),
                    ("subject", "京东差评:安装师傅迟到"),
                    ("phone", "13900001111"),
                ],
            )
            .await,
        );
        let second = ticket_id(
            &post(
                &d.router,
                &agent,
                "/tickets",
                &[
                    ("kind", "complaint"),
                    ("subject", "同一问题的重复登记"),
                    ("phone", "13900001111"),
                    ("force_new", "1"),
                ],
            )
            .await,
        );
        assert_ne!(first, second);

        // Liability and cost shares: shares must add up to 100.
        let r = act(
            &d,
            &agent,
            first,
            "set_complaint",
            &[
                ("category", "engineer_conduct"),
                ("liability", "installation"),
                ("party_0", "installation"),
                ("percent_0", "60"),
                ("party_1", "dealer"),
                ("percent_1", "30"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body.contains("各方比例合计须为 100%(现在是 90%)"),
            "{}",
            r.body
        );
        ok(
            &act(
                &d,
                &agent,
                first,
                "set_complaint",
                &[
                    ("category", "engineer_conduct"),
                    ("liability", "installation"),
                    ("party_0", "installation"),
                    ("percent_0", "70"),
                    ("party_1", "dealer"),
                    ("percent_1", "30"),
                ],
            )
            .await,
            "facts",
        );
        let html = page(&d, &agent, first).await;
        assert!(
            html.contains("师傅服务") && html.contains("安装 70%") && html.contains("经销商 30%"),
            "{which:?}"
        );

        // 差评回访: the call back records what happened; there is no way to pay for a removal.
        ok(
            &post(
                &d.router,
                &agent,
                &format!("/tickets/{first}/review"),
                &[
                    ("platform", "京东"),
                    ("order_ref", "JD-889900"),
                    ("rating", "1"),
                    ("review_text", "师傅迟到两小时"),
                ],
            )
            .await,
            "review",
        );
        let r = post(
            &d.router,
            &agent,
            &format!("/tickets/{first}/review"),
            &[
                ("platform", "京东"),
                ("order_ref", "JD-1"),
                ("review_text", "again"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.body.contains("已登记过差评"), "{}", r.body);
        let html = page(&d, &agent, first).await;
        let review =
            &html[html.find("id=\"review\"").unwrap()..html.find("id=\"history\"").unwrap()];
        assert!(
            review.contains("name=\"review_updated_by_customer\"")
                && review.contains("name=\"bought_again\"")
        );
        for never in ["amount", "discount", "refund", "coupon", "cash"] {
            assert!(
                !review.contains(&format!("name=\"{never}")),
                "{which:?}: the call back offers {never}"
            );
        }
        let rv = {
            let at = review.find("name=\"version\" value=\"").unwrap() + 22;
            review[at..at + review[at..].find('"').unwrap()].to_string()
        };
        ok(
            &post(
                &d.router,
                &agent,
                &format!("/tickets/{first}/review/outcome"),
                &[
                    ("version", &rv),
                    ("recovery", "致歉并重新约定上门时间,问题已解决"),
                    ("review_updated_by_customer", "1"),
                ],
            )
            .await,
            "outcome",
        );
        let html = page(&d, &agent, first).await;
        assert!(html.contains("致歉并重新约定上门时间"));

        // Merge the duplicate by its number; an unknown number is refused next to the field.
        let r = act(
            &d,
            &agent,
            second,
            "merge_into",
            &[("target", "KF19990101-000001")],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("找不到这张受理单"), "{}", r.body);
        let first_html = page(&d, &agent, first).await;
        let number = {
            let at = first_html.find("class=\"mono number\">").unwrap() + 20;
            first_html[at..at + first_html[at..].find('<').unwrap()].to_string()
        };
        assert!(
            page(&d, &agent, second).await.contains(&number),
            "the customer's other ticket is offered"
        );
        ok(
            &act(
                &d,
                &agent,
                second,
                "merge_into",
                &[("target", &number.to_lowercase())],
            )
            .await,
            "merge",
        );
        let html = page(&d, &agent, second).await;
        assert_eq!(status_of(&html), "已合并");
        assert!(html.contains(&format!("href=\"/tickets/{first}\"")));

        // Reassign: only people who work tickets are offered.
        let html = page(&d, &agent, first).await;
        let form = &html[html.find("data-action=\"reassign\"").expect("reassign")..];
        let form = &form[..form.find("</details>").unwrap()];
        assert!(
            form.contains("孙海燕") && !form.contains("郑雅琴"),
            "{form}"
        );
        let qa_id = {
            let at = form.find("孙海燕").unwrap();
            let before = &form[..at];
            let v = before.rfind("value=\"").unwrap() + 7;
            before[v..v + before[v..].find('"').unwrap()].to_string()
        };
        ok(
            &act(&d, &agent, first, "reassign", &[("user_id", &qa_id)]).await,
            "reassign",
        );
        assert!(
            page(&d, &agent, first)
                .await
                .contains("id=\"owner\">孙海燕")
        );
    })
    .await;
}
