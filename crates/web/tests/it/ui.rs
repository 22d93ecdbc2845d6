//! The HTML pages through the whole router: sign-in, CSRF, the customer ledger pages, escaping,
//! languages, masking, merge, admin pages, and two checks over the templates and locale files.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use web::AppState;

mod tickets;

struct Site {
    router: Router,
    app: app::App,
    _db: testkit::TestDb,
}

async fn site() -> Site {
    let tdb = testkit::TestDb::sqlite().await;
    let app = app::App::new(
        tdb.db.clone(),
        Arc::new(web::assets::regions()),
        app::Settings::default(),
    );
    let clock: Arc<dyn app::Clock> = Arc::new(app::SystemClock);
    app::admin::init_admin(
        &app,
        &app::Ctx::system("test", clock.clone()),
        "admin",
        "secret-pass-1",
    )
    .await
    .expect("first admin");
    let state = AppState {
        app: app.clone(),
        clock,
        metrics: None,
        secure_cookies: false,
    };
    Site {
        router: web::router(state),
        app,
        _db: tdb,
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
}

/// A signed-in browser: its cookies and the CSRF token its pages carry.
#[derive(Clone, Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &Resp) {
        for c in r.set_cookies() {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }
}

async fn send(router: &Router, req: Request<Body>) -> Resp {
    let r = router.clone().oneshot(req).await.expect("router answers");
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push_str(&hex::encode_upper([b]));
        }
    }
    out
}

async fn get(router: &Router, b: &Browser, path: &str) -> Resp {
    let req = Request::get(path)
        .header(header::COOKIE, b.cookie_header())
        .body(Body::empty())
        .unwrap();
    send(router, req).await
}

async fn get_htmx(router: &Router, b: &Browser, path: &str, target: &str) -> Resp {
    let req = Request::get(path)
        .header(header::COOKIE, b.cookie_header())
        .header("hx-request", "true")
        .header("hx-target", target)
        .body(Body::empty())
        .unwrap();
    send(router, req).await
}

/// Posts a form the way a page does: with the page's CSRF token.
async fn post(router: &Router, b: &Browser, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let mut all = vec![("_csrf", b.csrf.as_str())];
    all.extend_from_slice(pairs);
    post_raw(router, b, path, &form_body(&all)).await
}

async fn post_raw(router: &Router, b: &Browser, path: &str, body: &str) -> Resp {
    let req = Request::post(path)
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(router, req).await
}

async fn post_htmx(router: &Router, b: &Browser, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let req = Request::post(path)
        .header(header::COOKIE, b.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .header("x-csrf-token", b.csrf.clone())
        .body(Body::from(form_body(pairs)))
        .unwrap();
    send(router, req).await
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

async fn sign_in(router: &Router, login: &str, password: &str) -> Browser {
    let mut b = Browser::default();
    let r = post_raw(
        router,
        &b,
        "/login",
        &form_body(&[
            ("login", login),
            ("password", password),
            ("next", "/customers"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    b.keep(&r);
    let page = get(router, &b, "/customers").await;
    assert_eq!(page.status, StatusCode::OK);
    b.csrf = csrf_of(&page.body);
    b
}

async fn make_user(s: &Site, admin: &Browser, login: &str, role: &str) -> Browser {
    let r = post(
        &s.router,
        admin,
        "/admin/users",
        &[
            ("login", login),
            ("display_name", login),
            ("roles", role),
            ("password", "password-123"),
            ("locale", "zh-CN"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    sign_in(&s.router, login, "password-123").await
}

/// Creates a customer through the form; returns its id.
async fn create_customer(
    s: &Site,
    b: &Browser,
    name: &str,
    phone: &str,
    extra: &[(&str, &str)],
) -> i64 {
    let mut pairs = vec![("kind", "individual"), ("name", name), ("phone", phone)];
    pairs.extend_from_slice(extra);
    let r = post(&s.router, b, "/customers", &pairs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let loc = r.location();
    loc.strip_prefix("/customers/")
        .and_then(|x| x.split('?').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("unexpected redirect {loc}"))
}

fn version_on(html: &str, form_action: &str) -> String {
    let at = html
        .find(&format!("action=\"{form_action}\""))
        .expect("the form");
    let rest = &html[at..];
    let v = rest.find("name=\"version\" value=\"").expect("a version") + 22;
    rest[v..v + rest[v..].find('"').unwrap()].to_string()
}

// ---------------------------------------------------------------- sign-in and CSRF

#[tokio::test]
async fn login_sets_the_cookie_and_redirects() {
    let s = site().await;
    let anon = Browser::default();
    let page = get(&s.router, &anon, "/login?next=/customers/new").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"next\" value=\"/customers/new\""));

    let r = post_raw(
        &s.router,
        &anon,
        "/login",
        &form_body(&[
            ("login", "admin"),
            ("password", "secret-pass-1"),
            ("next", "/customers/new"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/customers/new");
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("kefu_session="))
        .expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no HTTPS here: {cookie}");

    // Wrong password: the form again, localized, nothing set.
    let r = post_raw(
        &s.router,
        &anon,
        "/login",
        &form_body(&[("login", "admin"), ("password", "nope-nope")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("账号或密码不正确"), "{}", r.body);
    assert!(r.body.contains("value=\"admin\""));
    assert!(r.set_cookies().is_empty());

    // Only local paths are followed after sign-in.
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let r = post_raw(
            &s.router,
            &anon,
            "/login",
            &form_body(&[
                ("login", "admin"),
                ("password", "secret-pass-1"),
                ("next", evil),
            ]),
        )
        .await;
        assert_eq!(r.location(), "/customers", "{evil}");
    }

    // Someone signed in does not see the form again.
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let r = get(&s.router, &b, "/login?next=/admin/users").await;
    assert_eq!(r.location(), "/admin/users");

    // Sign out ends the session.
    let r = post(&s.router, &b, "/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    let r = get(&s.router, &b, "/customers").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_send_strangers_to_the_login_page() {
    let s = site().await;
    let anon = Browser::default();
    let r = get(&s.router, &anon, "/customers?q=%E5%BC%A0").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location(),
        "/login?next=%2Fcustomers%3Fq%3D%25E5%25BC%25A0"
    );
    let r = get(&s.router, &anon, "/").await;
    assert_eq!(r.location(), "/customers");
    // htmx is told to load the login page whole.
    let r = get_htmx(&s.router, &anon, "/customers", "results").await;
    assert!(r.headers.get("hx-redirect").is_some());
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let r = post_raw(
        &s.router,
        &b,
        "/customers",
        &form_body(&[("kind", "individual"), ("name", "无令牌")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("安全校验失败"),
        "a page, in Chinese: {}",
        r.body
    );
    let r = post_raw(
        &s.router,
        &b,
        "/customers",
        &form_body(&[
            ("_csrf", "forged"),
            ("kind", "individual"),
            ("name", "无令牌"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let list = get(&s.router, &b, "/customers").await;
    assert!(!list.body.contains("无令牌"), "nothing was created");
}

// ---------------------------------------------------------------- the ledger pages

#[tokio::test]
async fn creating_a_customer_through_the_form_shows_it() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let form = get(&s.router, &b, "/customers/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("浙江省"), "provinces are offered");

    let id = create_customer(
        &s,
        &b,
        "张三",
        "138 0013 8000",
        &[
            ("province_code", "330000"),
            ("city_code", "330100"),
            ("district_code", "330106"),
            ("detail", "文三路 90 号"),
            ("contact.name", "李四"),
            ("contact.phone", "13900139000"),
        ],
    )
    .await;
    let page = get(&s.router, &b, &format!("/customers/{id}?flash=created")).await;
    assert_eq!(page.status, StatusCode::OK);
    for want in [
        "张三",
        "13800138000",
        "浙江省杭州市西湖区",
        "文三路 90 号",
        "李四",
        "客户已创建",
        "建档",
    ] {
        assert!(page.body.contains(want), "{want} missing");
    }
    let list = get(&s.router, &b, "/customers").await;
    assert!(list.body.contains(&format!("href=\"/customers/{id}\"")));
    assert!(list.body.contains("张三"));

    // Search by name prefix and by phone digits, and the htmx partial.
    let r = get(&s.router, &b, "/customers?q=%E5%BC%A0").await;
    assert!(r.body.contains("张三"), "name search: {}", r.body);
    let r = get_htmx(&s.router, &b, "/customers?q=1380", "results").await;
    assert!(r.body.contains("张三"), "phone search: {}", r.body);
    assert!(!r.body.contains("<html"), "only the results");
    let r = get_htmx(&s.router, &b, "/customers?q=%E7%8E%8B", "results").await;
    assert!(!r.body.contains("张三"));
    assert!(r.body.contains("没有符合条件的客户"));

    // Validation errors next to the fields, values kept.
    let r = post(
        &s.router,
        &b,
        "/customers",
        &[
            ("kind", "individual"),
            ("name", ""),
            ("phone", "12345"),
            ("email", "x"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("必填"));
    assert!(r.body.contains("不是有效的手机、座机或 400/800 号码"));
    assert!(r.body.contains("不是有效的邮箱地址"));
    assert!(r.body.contains("value=\"12345\""));

    // A phone someone already has: a link to them and a way to create anyway.
    let r = post(
        &s.router,
        &b,
        "/customers",
        &[
            ("kind", "individual"),
            ("name", "张三丰"),
            ("phone", "13800138000"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains(&format!("href=\"/customers/{id}\"")));
    assert!(r.body.contains("name=\"allow_duplicate\""));
    assert!(r.body.contains("value=\"张三丰\""));
    let other = create_customer(&s, &b, "张三丰", "13800138000", &[("allow_duplicate", "1")]).await;
    assert_ne!(other, id);
}

#[tokio::test]
async fn the_search_box_finds_records_of_every_kind_with_marked_words() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let page = get(&s.router, &b, "/customers").await;
    assert!(
        page.body.contains("action=\"/search\""),
        "the search box is on every page"
    );
    let id = create_customer(
        &s,
        &b,
        "<b>王</b>冰箱漏水",
        "13812345678",
        &[("remark", "地板都湿了,<script>x</script>")],
    )
    .await;
    let r = get(&s.router, &b, &format!("/search?q={}", enc("漏水"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(&format!("href=\"/customers/{id}\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains("<mark>漏水</mark>"), "{}", r.body);
    assert!(
        r.body.contains("&#60;b&#62;王&#60;/b&#62;冰箱"),
        "escaped: {}",
        r.body
    );
    assert!(!r.body.contains("<script>x"));
    assert!(r.body.contains("客户"), "labelled by kind");
    assert!(
        r.body.contains("value=\"漏水\""),
        "the query stays in the boxes"
    );

    // Filtered to another kind: nothing; then an empty and a too-long query.
    let r = get(
        &s.router,
        &b,
        &format!("/search?q={}&kind=device", enc("漏水")),
    )
    .await;
    assert!(r.body.contains("没有找到匹配的记录"), "{}", r.body);
    let r = get(&s.router, &b, "/search").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("输入关键词开始搜索"));
    let r = get(&s.router, &b, &format!("/search?q={}", "a".repeat(101))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("alert-error"), "{}", r.body);
    let r = get(&s.router, &b, &format!("/search?q={}", enc("\" NEAR( OR"))).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_search_with_too_many_matches_says_only_the_newest_were_ranked() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let docs: Vec<store::search::DocRow> = (1..=i64::from(store::search::CANDIDATES) + 1)
        .map(|id| store::search::DocRow {
            kind: store::search::DocKind::Ticket,
            doc_id: id,
            brand_id: None,
            customer_id: None,
            status: Some("open".into()),
            sub_kind: Some("repair".into()),
            updated_at: id,
            title: format!("冰箱漏水 {id}"),
            body: String::new(),
            tokens: format!("冰箱 漏水 {id}"),
        })
        .collect();
    let backend = s.app.db.backend();
    s.app
        .db
        .write(move |c| Box::pin(async move { store::bulk::search_docs(c, backend, &docs).await }))
        .await
        .expect("documents");
    let r = get(&s.router, &b, &format!("/search?q={}", enc("漏水"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"search-capped\""), "{}", r.body);
    assert!(r.body.contains("匹配的记录达到 2,000 条以上"), "{}", r.body);
    assert!(r.body.contains("<mark>漏水</mark>"), "{}", r.body);
    let r = get(&s.router, &b, &format!("/search?q={}", enc("2001"))).await;
    assert!(r.body.contains("href=\"/tickets/2001\""), "{}", r.body);
    assert!(!r.body.contains("search-capped"), "one match is not capped");
}

#[tokio::test]
async fn hostile_input_is_shown_as_text() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let id = create_customer(
        &s,
        &b,
        "<script>alert(1)</script>",
        "",
        &[("remark", "\"><img src=x onerror=alert(2)>")],
    )
    .await;
    let page = get(&s.router, &b, &format!("/customers/{id}")).await;
    assert!(!page.body.contains("<script>alert(1)"), "escaped");
    assert!(!page.body.contains("<img src=x"));
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    let list = get(&s.router, &b, "/customers").await;
    assert!(!list.body.contains("<script>alert(1)"));
    // A note with markup, added through htmx, comes back escaped too.
    let r = post_htmx(
        &s.router,
        &b,
        &format!("/customers/{id}/notes"),
        &[("category", "other"), ("body", "<b>bold</b>")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("&#60;b&#62;bold&#60;/b&#62;"));
}

#[tokio::test]
async fn the_language_switch_changes_the_text() {
    let s = site().await;
    let mut b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let zh = get(&s.router, &b, "/customers").await;
    assert!(zh.body.contains("客户台账"));
    assert!(zh.body.contains("<html lang=\"zh-CN\">"));

    let zh = get(&s.router, &b, "/customers?kind=dealer&flash=saved").await;
    assert!(
        zh.body
            .contains("href=\"/lang/en?next=%2Fcustomers%3Fkind%3Ddealer\""),
        "the switch comes back to this page, without the flash"
    );
    let r = get(&s.router, &b, "/lang/en?next=/customers").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/customers");
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("kefu_lang=en"))
    );
    b.keep(&r);
    let en = get(&s.router, &b, "/customers").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains(">Customers<"));
    assert!(!en.body.contains("客户台账"));
    // Errors follow the language too.
    let r = post(
        &s.router,
        &b,
        "/customers",
        &[("kind", "individual"), ("name", "")],
    )
    .await;
    assert!(r.body.contains("required"));
    let r = get(&s.router, &b, "/customers/999999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Not found"));

    // The login page follows the cookie as well; a bad next is not followed.
    let r = get(&s.router, &b, "/lang/zh-CN?next=//evil.example").await;
    assert_eq!(r.location(), "/customers");
}

#[tokio::test]
async fn the_customer_page_edits_contacts_addresses_devices_and_notes() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let id = create_customer(&s, &b, "王五", "13700137000", &[]).await;
    let base = format!("/customers/{id}");
    let page = get(&s.router, &b, &base).await;
    let v = version_on(&page.body, &base);

    // Edit, then an edit based on the old version is refused with a reload hint.
    let r = post(
        &s.router,
        &b,
        &base,
        &[
            ("version", &v),
            ("kind", "dealer"),
            ("name", "王五五金店"),
            ("phone", "13700137000"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(
        &s.router,
        &b,
        &base,
        &[
            ("version", &v),
            ("kind", "individual"),
            ("name", "王五"),
            ("phone", "13700137000"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("其他人刚刚修改了这条记录"));
    assert!(r.body.contains("重新加载"));

    // Contact, address, device.
    let r = post(
        &s.router,
        &b,
        &format!("{base}/contacts"),
        &[("name", "赵六"), ("phone", "02161234567")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = post(
        &s.router,
        &b,
        &format!("{base}/addresses"),
        &[
            ("province_code", "110000"),
            ("city_code", "110100"),
            ("district_code", "110101"),
            ("detail", "东长安街 1 号"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(
        &s.router,
        &b,
        &format!("{base}/addresses"),
        &[("detail", "没有省市")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("请选择省份和城市"), "{}", r.body);
    let r = post(
        &s.router,
        &b,
        &format!("{base}/devices"),
        &[
            ("category", "净水器"),
            ("model", "RO-400"),
            ("serial", "SN123"),
            ("purchase_date", "2025-03-01"),
            ("warranty_end", "2099-03-01"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(
        &s.router,
        &b,
        &format!("{base}/devices"),
        &[("category", "空调"), ("model", "")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = get(&s.router, &b, &base).await;
    for want in [
        "王五五金店",
        "经销商",
        "赵六",
        "02161234567",
        "北京市东城区 东长安街 1 号",
        "净水器 RO-400",
        "保内",
        "添加设备",
    ] {
        assert!(page.body.contains(want), "{want} missing");
    }
    let device = page
        .body
        .split("href=\"/devices/")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .expect("a device link")
        .to_string();

    // A note through htmx comes back as the entry; an empty one as an error for the form.
    let r = post_htmx(
        &s.router,
        &b,
        &format!("{base}/notes"),
        &[("category", "quality"), ("body", "滤芯漏水,已安排上门")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("滤芯漏水,已安排上门"));
    assert!(r.body.contains("质量反馈"));
    assert_eq!(r.headers.get("hx-trigger").unwrap(), "kefu-note-added");
    let r = post_htmx(
        &s.router,
        &b,
        &format!("{base}/notes"),
        &[("category", "quality"), ("body", "  ")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.headers.get("hx-retarget").unwrap(), "#note-error");
    assert!(r.body.contains("必填"));
    // Without htmx the note form redirects back.
    let r = post(
        &s.router,
        &b,
        &format!("{base}/notes"),
        &[("category", "service"), ("body", "回访满意")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // The timeline filter and the device page with its own timeline and note form.
    let r = get_htmx(
        &s.router,
        &b,
        &format!("{base}/timeline?category=quality"),
        "tl-body",
    )
    .await;
    assert!(r.body.contains("滤芯漏水"));
    assert!(!r.body.contains("回访满意"));
    let dpage = get(&s.router, &b, &format!("/devices/{device}")).await;
    assert_eq!(dpage.status, StatusCode::OK);
    assert!(dpage.body.contains("SN123"));
    assert!(dpage.body.contains("王五五金店"));
    let r = post_htmx(
        &s.router,
        &b,
        &format!("/devices/{device}/notes"),
        &[("category", "installation"), ("body", "安装位置偏低")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let dpage = get(&s.router, &b, &format!("/devices/{device}")).await;
    assert!(dpage.body.contains("安装位置偏低"));
    let page = get(&s.router, &b, &base).await;
    assert!(
        page.body.contains("安装位置偏低"),
        "device notes are on the customer's timeline too"
    );

    // Cascading selects: the cities of a province, deeper levels emptied out of band.
    let r = get(&s.router, &b, "/regions/options?of=province_code&province_code=330000&reset=na-3,na-4&blank=common.choose").await;
    assert!(r.body.contains("<option value=\"330100\">杭州市</option>"));
    assert!(r.body.contains("id=\"na-3\" hx-swap-oob=\"innerHTML\""));
}

#[tokio::test]
async fn the_timeline_pages_back_with_a_cursor() {
    let s = site().await;
    let b = sign_in(&s.router, "admin", "secret-pass-1").await;
    let id = create_customer(&s, &b, "周九", "13500135000", &[]).await;
    let ctx = app::Ctx::system("test", Arc::new(app::SystemClock));
    for i in 0..55 {
        app::ledger::add_note(
            &s.app,
            &ctx,
            domain::CustomerId(id),
            app::ledger::NoteInput {
                category: "consultation".into(),
                body: format!("第{i:02}条"),
                device_id: None,
            },
        )
        .await
        .unwrap();
    }
    let page = get(&s.router, &b, &format!("/customers/{id}")).await;
    assert!(page.body.contains("第54条"));
    assert!(!page.body.contains("第04条"), "only the newest 50");
    let key = format!("hx-get=\"/customers/{id}/timeline?");
    let at = page.body.find(&key).expect("an older link") + "hx-get=\"".len();
    let href = &page.body[at..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let older = get_htmx(&s.router, &b, &href, "tl-older").await;
    assert_eq!(older.status, StatusCode::OK, "{href}");
    assert!(older.body.contains("hx-swap-oob=\"beforeend:#tl-list\""));
    assert!(older.body.contains("第00条") && older.body.contains("第04条"));
    assert!(!older.body.contains("第05条"));
    assert!(
        older.body.contains("建档"),
        "the oldest entry is the creation"
    );
    // Without htmx the same link shows the whole page from that point.
    let r = get(&s.router, &b, &href).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let full = get(&s.router, &b, r.location()).await;
    assert!(full.body.contains("第00条") && !full.body.contains("第54条"));
}

#[tokio::test]
async fn phones_are_masked_by_role_and_reveals_are_audited() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    let id = create_customer(&s, &admin, "钱七", "13812345678", &[]).await;
    let finance = make_user(&s, &admin, "fin", "settlement_finance").await;
    let manager = make_user(&s, &admin, "mgr", "manager").await;

    let page = get(&s.router, &finance, &format!("/customers/{id}")).await;
    assert!(page.body.contains("138****5678"));
    assert!(!page.body.contains("13812345678"));
    assert!(!page.body.contains("/reveal"), "finance may not reveal");
    let r = post_htmx(&s.router, &finance, &format!("/customers/{id}/reveal"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Finance's nav has the ledger but no administration.
    assert!(!page.body.contains("href=\"/admin/users\""));
    let r = get(&s.router, &finance, "/admin/users").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("没有权限"));

    let page = get(&s.router, &manager, &format!("/customers/{id}")).await;
    assert!(page.body.contains("138****5678"));
    assert!(
        page.body
            .contains(&format!("hx-post=\"/customers/{id}/reveal\""))
    );
    let r = post_htmx(&s.router, &manager, &format!("/customers/{id}/reveal"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("13812345678"));

    // A manager's edit keeps the masked phone.
    let base = format!("/customers/{id}");
    let v = version_on(&page.body, &base);
    let r = post(
        &s.router,
        &manager,
        &base,
        &[
            ("version", &v),
            ("kind", "individual"),
            ("name", "钱七七"),
            ("phone", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = get(&s.router, &admin, &base).await;
    assert!(page.body.contains("钱七七") && page.body.contains("13812345678"));

    let audit = get(&s.router, &admin, "/admin/audit?action=reveal_phone").await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains("mgr"));
    assert!(audit.body.contains("查看号码"));
}

#[tokio::test]
async fn duplicates_are_merged_into_the_chosen_survivor() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    let a = create_customer(&s, &admin, "孙八", "13600136000", &[]).await;
    let b = create_customer(
        &s,
        &admin,
        "孙八(重复)",
        "13600136000",
        &[("allow_duplicate", "1")],
    )
    .await;
    let agent = make_user(&s, &admin, "agent1", "agent").await;

    let page = get(&s.router, &agent, "/customers/duplicates").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("孙八(重复)"));
    assert!(
        page.body.contains("不能合并"),
        "agents see why they cannot merge"
    );
    assert!(!page.body.contains("name=\"survivor\""));
    let r = post(
        &s.router,
        &agent,
        "/customers/duplicates/merge",
        &[("survivor", &a.to_string())],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let page = get(&s.router, &admin, "/customers/duplicates").await;
    let versions = |id: i64| {
        let key = format!("name=\"v_{id}\" value=\"");
        let at = page.body.find(&key).unwrap() + key.len();
        page.body[at..at + page.body[at..].find('"').unwrap()].to_string()
    };
    let (va, vb) = (versions(a), versions(b));
    let r = post(
        &s.router,
        &admin,
        "/customers/duplicates/merge",
        &[
            ("survivor", &a.to_string()),
            ("member", &a.to_string()),
            (&format!("v_{a}"), &va),
            ("member", &b.to_string()),
            (&format!("v_{b}"), &vb),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let survivor = get(&s.router, &admin, &format!("/customers/{a}")).await;
    assert!(survivor.body.contains("合并"));
    assert!(survivor.body.contains(&format!("孙八(重复) (#{b})")));
    let tomb = get(&s.router, &admin, &format!("/customers/{b}")).await;
    assert!(tomb.body.contains("该客户已合并到"));
    assert!(tomb.body.contains(&format!("href=\"/customers/{a}\"")));
    let page = get(&s.router, &admin, "/customers/duplicates").await;
    assert!(!page.body.contains("孙八(重复)"));
}

#[tokio::test]
async fn admin_pages_work() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    for (path, want) in [
        ("/admin/users", "系统管理员"),
        ("/admin/org-units", "新建组织单元"),
        ("/admin/roles", "合并客户"),
        ("/admin/audit", "登录"),
        ("/admin/tokens", "新建令牌"),
        ("/customers/duplicates", "没有电话重复的客户"),
    ] {
        let r = get(&s.router, &admin, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.body.contains(want), "{path}: {want}");
    }

    // A user with two roles; a bad login and no role are shown next to the fields.
    let r = post(
        &s.router,
        &admin,
        "/admin/users",
        &[
            ("login", "x y"),
            ("display_name", "某人"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("2–64 位字母"));
    assert!(r.body.contains("8 到 256 个字符"));
    let r = post(
        &s.router,
        &admin,
        "/admin/users",
        &[
            ("login", "lisa"),
            ("display_name", "丽莎"),
            ("roles", "agent"),
            ("roles", "dispatcher"),
            ("password", "password-123"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let upage = get(&s.router, &admin, r.location()).await;
    assert!(upage.body.contains("value=\"agent\" checked"));
    assert!(upage.body.contains("value=\"dispatcher\" checked"));
    let uid = r
        .location()
        .trim_start_matches("/admin/users/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let v = version_on(&upage.body, &format!("/admin/users/{uid}/password"));
    let r = post(
        &s.router,
        &admin,
        &format!("/admin/users/{uid}/password"),
        &[("version", &v), ("password", "new-password-9")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    sign_in(&s.router, "lisa", "new-password-9").await;

    // Org units: create a department under a branch.
    let r = post(
        &s.router,
        &admin,
        "/admin/org-units",
        &[
            ("kind", "branch"),
            ("code", "HZ"),
            ("name", "杭州分公司"),
            ("province", "330000"),
            ("city_code", "330100"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let units = get(&s.router, &admin, "/admin/org-units").await;
    assert!(units.body.contains("杭州分公司") && units.body.contains("杭州市"));

    // A token is shown once, then only listed.
    let r = post(
        &s.router,
        &admin,
        "/admin/tokens",
        &[("name", "呼叫中心对接")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.contains("不会再显示"));
    let list = get(&s.router, &admin, "/admin/tokens").await;
    assert!(list.body.contains("呼叫中心对接"));
    assert!(!list.body.contains("不会再显示"));
    let tid = list
        .body
        .split("/admin/tokens/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let r = post(
        &s.router,
        &admin,
        &format!("/admin/tokens/{tid}/revoke"),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = get(&s.router, &admin, "/admin/tokens").await;
    assert!(list.body.contains("已吊销"));

    // Unknown pages are a 404 page; unknown API paths stay JSON.
    let r = get(&s.router, &admin, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("找不到"));
    let r = get(&s.router, &admin, "/api/v1/no-such").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.starts_with('{'));
    drop(s.app);
}

// ---------------------------------------------------------------- templates and locales

fn keys(lang: &str) -> BTreeSet<String> {
    web::_rust_i18n_backend()
        .messages_for_locale(lang)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k.into_owned())
        .collect()
}

#[test]
fn both_locales_have_the_same_keys() {
    let zh = keys("zh-CN");
    let en = keys("en");
    assert!(zh.len() > 100, "locales loaded");
    let only_zh: Vec<_> = zh.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&zh).collect();
    assert!(
        only_zh.is_empty() && only_en.is_empty(),
        "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
    );
}

fn templates() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "html") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        &mut out,
    );
    assert!(out.len() > 10);
    out
}

/// Removes `open … close` spans.
fn strip(s: &str, open: &str, close: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        out.push(' ');
        rest = rest[i + open.len()..]
            .find(close)
            .map_or("", |j| &rest[i + open.len() + j + close.len()..]);
    }
    out.push_str(rest);
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ffef}')
}

#[test]
fn templates_hold_no_text_outside_translations() {
    let mut problems = Vec::new();
    for (path, src) in templates() {
        // Template code, comments, scripts and styles are not text people read.
        let s = strip(&src, "{#", "#}");
        let s = strip(&s, "{{", "}}");
        let s = strip(&s, "{%", "%}");
        let s = strip(&s, "<script", "</script>");
        let s = strip(&s, "<style", "</style>");
        let s = strip(&s, "<svg", "</svg>");
        // Attributes people read must be translations too.
        for attr in [
            "placeholder=\"",
            "title=\"",
            "aria-label=\"",
            "alt=\"",
            "data-confirm=\"",
        ] {
            let mut rest = s.as_str();
            while let Some(i) = rest.find(attr) {
                let v = &rest[i + attr.len()..];
                let end = v.find('"').unwrap_or(v.len());
                if v[..end].chars().any(char::is_alphabetic) {
                    problems.push(format!("{path}: {attr}{}\"", &v[..end]));
                }
                rest = &v[end..];
            }
        }
        let text = strip(&s, "<", ">");
        let text = strip(&text, "&", ";");
        for word in text.split_whitespace() {
            if word.chars().any(|c| c.is_ascii_alphabetic() || is_cjk(c)) {
                problems.push(format!("{path}: {word:?}"));
            }
        }
        if src.contains("|safe") {
            problems.push(format!("{path}: uses |safe"));
        }
    }
    assert!(
        problems.is_empty(),
        "literal text in templates:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_key_the_templates_use_exists() {
    let zh = keys("zh-CN");
    let mut missing = Vec::new();
    for (path, src) in templates() {
        for prefix in ["c.t(\"", "c.t1(\"", "hint = \""] {
            for piece in src.split(prefix).skip(1) {
                let key = &piece[..piece.find('"').unwrap()];
                if !key.is_empty() && !zh.contains(key) {
                    missing.push(format!("{path}: {key}"));
                }
            }
        }
        // Labels passed to the form macros.
        let calls = src
            .split("m::input(")
            .skip(1)
            .chain(src.split("m::textarea(").skip(1));
        for piece in calls {
            if let Some(label) = piece.split('"').nth(3)
                && label.contains('.')
                && !zh.contains(label)
            {
                missing.push(format!("{path}: {label}"));
            }
        }
    }
    // Keys built from codes in Rust.
    for r in domain::Role::ALL {
        missing.extend(Some(format!("roles.{}", r.as_str())).filter(|k| !zh.contains(k)));
    }
    for p in domain::Permission::ALL {
        missing.extend(Some(format!("perms.{}", p.as_str())).filter(|k| !zh.contains(k)));
    }
    for (code, _, _) in web::ERROR_CODES {
        missing.extend(Some(format!("errors.{code}")).filter(|k| !zh.contains(k)));
    }
    for k in ["note", "created", "merged", "device_added"] {
        missing.extend(Some(format!("timeline.kind.{k}")).filter(|k| !zh.contains(k)));
    }
    assert!(missing.is_empty(), "missing keys:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn sla_calendar_and_policy_pages() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    let home = get(&s.router, &admin, "/admin/calendars").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("客服中心 8:00–21:00 每天"));
    assert!(home.body.contains("href=\"/admin/sla-policies\""));
    let cal = get(&s.router, &admin, "/admin/calendars/2").await;
    assert!(cal.body.contains("国庆节"), "the seeded holidays");
    assert!(cal.body.contains("2026-10-10"));

    // A holiday through the form; bad hours are shown next to the field.
    let r = post(
        &s.router,
        &admin,
        "/admin/calendars/2/days",
        &[("date", "2026-12-25"), ("rule", "closed"), ("name", "年会")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        get(&s.router, &admin, "/admin/calendars/2")
            .await
            .body
            .contains("年会")
    );
    let r = post(
        &s.router,
        &admin,
        "/admin/calendars/2/days",
        &[
            ("date", "2026-12-26"),
            ("rule", "open"),
            ("hours", "25:00-26:00"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("class=\"err\""));
    let r = post(
        &s.router,
        &admin,
        "/admin/calendars/2/days/2026-12-25/delete",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        !get(&s.router, &admin, "/admin/calendars/2")
            .await
            .body
            .contains("年会")
    );

    // Weekly hours with the version from the page.
    let page = get(&s.router, &admin, "/admin/calendars/1").await;
    let v = version_on(&page.body, "/admin/calendars/1");
    let mut form: Vec<(&str, &str)> = vec![
        ("version", &v),
        ("name", "客服中心"),
        ("tz", "Asia/Shanghai"),
    ];
    for d in [
        "week.mon", "week.tue", "week.wed", "week.thu", "week.fri", "week.sat", "week.sun",
    ] {
        form.push((d, "08:00-20:00"));
    }
    let r = post(&s.router, &admin, "/admin/calendars/1", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(&s.router, &admin, "/admin/calendars/1", &form).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the same version again");

    // Deleting: the default calendar offers no button; a new, unused one goes from its page.
    assert!(!page.body.contains("/admin/calendars/1/delete"));
    let mut form: Vec<(&str, &str)> = vec![("name", "临时日历"), ("tz", "Asia/Shanghai")];
    for d in [
        "week.mon", "week.tue", "week.wed", "week.thu", "week.fri", "week.sat", "week.sun",
    ] {
        form.push((d, "09:00-17:00"));
    }
    let r = post(&s.router, &admin, "/admin/calendars", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let at = r.location().trim_start_matches("/admin/calendars/");
    let id = at.split('?').next().unwrap_or_default().to_string();
    let delete = format!("/admin/calendars/{id}/delete");
    let page = get(&s.router, &admin, &format!("/admin/calendars/{id}")).await;
    assert!(page.body.contains("临时日历"), "{id}");
    let v = version_on(&page.body, &delete);
    let r = post(&s.router, &admin, &delete, &[("version", &v)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let home = get(&s.router, &admin, "/admin/calendars?flash=calendar_deleted").await;
    assert!(home.body.contains("日历已删除"));
    assert!(!home.body.contains("临时日历"));

    // Policies.
    let p = get(&s.router, &admin, "/admin/sla-policies").await;
    assert!(p.body.contains("首次响应 1 小时"));
    let r = post(
        &s.router,
        &admin,
        "/admin/sla-policies",
        &[
            ("name", "紧急报修首响 15 分钟"),
            ("metric", "first_reply"),
            ("kind", "repair_request"),
            ("priority", "urgent"),
            ("target_minutes", "15"),
            ("calendar_id", "1"),
            ("warn_percent", "80"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        get(&s.router, &admin, "/admin/sla-policies")
            .await
            .body
            .contains("紧急报修首响 15 分钟")
    );
    let r = post(
        &s.router,
        &admin,
        "/admin/sla-policies",
        &[
            ("metric", "first_reply"),
            ("target_minutes", "0"),
            ("calendar_id", "1"),
            ("warn_percent", "80"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // An agent sees the calendars but may not change them.
    let agent = make_user(&s, &admin, "agent1", "agent").await;
    let r = get(&s.router, &agent, "/admin/calendars/2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("/admin/calendars/2/days\""), "no add form");
    let r = post(
        &s.router,
        &agent,
        "/admin/calendars/2/days",
        &[("date", "2026-12-25"), ("rule", "closed")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn new_calendar_form() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    let home = get(&s.router, &admin, "/admin/calendars").await;
    assert!(home.body.contains("新建日历"));
    assert!(home.body.contains("action=\"/admin/calendars\""));
    let days = [
        ("week.mon", "10:00-16:00"),
        ("week.tue", "10:00-16:00"),
        ("week.wed", "10:00-16:00"),
        ("week.thu", "10:00-16:00"),
        ("week.fri", "10:00-16:00"),
        ("week.sat", ""),
        ("week.sun", ""),
    ];
    // A bad zone and a backwards opening are shown next to their fields, in Chinese; nothing
    // is added.
    let mut bad = vec![
        ("name", "华东专线"),
        ("tz", "Asia/Hangzhou"),
        ("copy_days_from", "2"),
    ];
    bad.extend(days);
    bad[3].1 = "16:00-10:00";
    let r = post(&s.router, &admin, "/admin/calendars", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("须为 IANA 时区"), "{}", r.body);
    assert!(
        r.body.contains("value=\"16:00-10:00\""),
        "the input is kept"
    );
    assert!(
        !get(&s.router, &admin, "/admin/calendars")
            .await
            .body
            .contains("华东专线")
    );

    let mut form = vec![
        ("name", "华东专线"),
        ("tz", "Asia/Shanghai"),
        ("copy_days_from", "2"),
        ("brand_id", ""),
    ];
    form.extend(days);
    let r = post(&s.router, &admin, "/admin/calendars", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location().to_string();
    assert!(
        to.starts_with("/admin/calendars/") && !to.starts_with("/admin/calendars/2?"),
        "{to}"
    );
    let page = get(&s.router, &admin, &to).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("华东专线"));
    assert!(
        page.body.contains("国庆节"),
        "the office calendar's holidays were copied"
    );
    assert!(page.body.contains("value=\"10:00-16:00\""));
    assert!(
        get(&s.router, &admin, "/admin/calendars")
            .await
            .body
            .contains("华东专线")
    );

    // An agent sees no form and may not add one.
    let agent = make_user(&s, &admin, "agent2", "agent").await;
    let r = get(&s.router, &agent, "/admin/calendars").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("新建日历"));
    let mut other = form.clone();
    other[0].1 = "代理人的日历";
    let r = post(&s.router, &agent, "/admin/calendars", &other).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        !get(&s.router, &admin, "/admin/calendars")
            .await
            .body
            .contains("代理人的日历")
    );
}

#[tokio::test]
async fn notification_subscriptions_and_the_outbox_pages() {
    let s = site().await;
    let admin = sign_in(&s.router, "admin", "secret-pass-1").await;
    let page = get(&s.router, &admin, "/admin/notify").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("通知订阅"));
    assert!(page.body.contains("暂无订阅"));

    // A bad webhook URL is shown next to the field, in the user's language; nothing is added.
    let r = post(
        &s.router,
        &admin,
        "/admin/notify",
        &[
            ("name", "ERP"),
            ("channel", "webhook"),
            ("target", "ftp://erp.example.com"),
            ("events", "ticket.routed"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("须为 http:// 或 https:// 地址"),
        "{}",
        r.body
    );
    assert!(r.body.contains("暂无订阅"));

    let r = post(
        &s.router,
        &admin,
        "/admin/notify",
        &[
            ("name", "华东大客户群"),
            ("channel", "wecom"),
            ("target", "group-key-123"),
            ("events", "ticket.routed"),
            ("events", "ticket.escalated"),
            ("locale", "zh-CN"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let list = get(&s.router, &admin, "/admin/notify").await;
    assert!(list.body.contains("华东大客户群"));
    assert!(list.body.contains("group-***"), "the bot key is masked");
    assert!(!list.body.contains("group-key-123"));
    assert!(list.body.contains("派至部门") && list.body.contains("升级（SLA 超时或催单）"));
    let at = list.body.find("href=\"/admin/notify/").unwrap() + 20;
    let id: String = list.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();

    // Send a test: it shows in the outbox, pending.
    let r = post(&s.router, &admin, &format!("/admin/notify/{id}/test"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/admin/outbox"));
    let outbox = get(&s.router, &admin, "/admin/outbox?status=pending").await;
    assert_eq!(outbox.status, StatusCode::OK);
    assert!(outbox.body.contains("notify.test"));
    assert!(outbox.body.contains("待发送"));
    let none = get(&s.router, &admin, "/admin/outbox?status=failed").await;
    assert!(none.body.contains("暂无消息"));
    let bad = get(&s.router, &admin, "/admin/outbox?status=lost").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Deactivate from the list.
    let v = version_on(&list.body, &format!("/admin/notify/{id}/active"));
    let r = post(
        &s.router,
        &admin,
        &format!("/admin/notify/{id}/active"),
        &[("version", &v)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let list = get(&s.router, &admin, "/admin/notify").await;
    assert!(list.body.contains("已停用"));
    let edit = get(&s.router, &admin, &format!("/admin/notify/{id}")).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains("value=\"group-key-123\""));

    // Not for the desk.
    let agent = make_user(&s, &admin, "agent.wu", "agent").await;
    assert_eq!(
        get(&s.router, &agent, "/admin/notify").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&s.router, &agent, "/admin/outbox").await.status,
        StatusCode::FORBIDDEN
    );
}
