//! What every page shares: the `Chrome` (language, CSRF token, the signed-in user, the nav this
//! user may see, flash message) with its translation helpers, the `PageCtx` extractor that turns a
//! session into a `Ctx` (or sends the browser to the login page), and HTML error pages in the
//! user's language.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use app::auth::Principal;
use app::{Ctx, Error};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::Permission;

use crate::AppState;
use crate::auth::{Authn, Lang};
use crate::error::status_of;

/// A translation in `lang`; an unknown key comes back as itself (tests check none is missing).
pub fn tr(lang: &str, key: &str) -> String {
    rust_i18n::t!(key, locale = lang).into_owned()
}

/// A translation if the key exists (in `lang` or the fallback language).
pub fn try_tr(lang: &str, key: &str) -> Option<String> {
    crate::_rust_i18n_try_translate(lang, key).map(Cow::into_owned)
}

/// One link of the sidebar.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub active: bool,
    pub icon: &'static str,
}

/// A group of links under an optional heading.
#[derive(Debug, Clone)]
pub struct NavSection {
    pub title: Option<String>,
    pub items: Vec<NavItem>,
}

/// The frame around every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: String,
    pub csrf: String,
    pub signed_in: bool,
    pub user_name: String,
    pub user_login: String,
    pub user_roles: String,
    pub nav: Vec<NavSection>,
    pub path: String,
    /// This page with its query (without the flash), where the language switch comes back to.
    pub here: String,
    pub flash: Option<String>,
    /// The global search box's text.
    pub q: String,
}

impl Chrome {
    /// The frame for someone who is not signed in (login page, errors before sign-in).
    pub fn anonymous(lang: &str, path: &str) -> Self {
        Self {
            lang: lang.to_string(),
            csrf: String::new(),
            signed_in: false,
            user_name: String::new(),
            user_login: String::new(),
            user_roles: String::new(),
            nav: Vec::new(),
            path: path.to_string(),
            here: path.to_string(),
            flash: None,
            q: String::new(),
        }
    }

    fn signed_in(lang: &str, csrf: &str, p: &Principal, ctx: &Ctx, parts: &Parts) -> Self {
        let path = parts.uri.path().to_string();
        let query: HashMap<String, String> = parts
            .uri
            .query()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let flash = query
            .get("flash")
            .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            .and_then(|k| try_tr(lang, &format!("flash.{k}")));
        let q = if path == "/customers" || path == "/search" {
            query.get("q").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        let kept: Vec<(&str, &str)> = query
            .iter()
            .filter(|(k, _)| *k != "flash")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let here = if kept.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", query_string(&kept))
        };
        let roles = p
            .user
            .roles
            .iter()
            .map(|r| tr(lang, &format!("roles.{}", r.as_str())))
            .collect::<Vec<_>>()
            .join(" · ");
        Self {
            lang: lang.to_string(),
            csrf: csrf.to_string(),
            signed_in: true,
            user_name: p.user.display_name.clone(),
            user_login: p.user.login.clone(),
            user_roles: roles,
            nav: nav(lang, ctx, &path),
            path,
            here,
            flash,
            q,
        }
    }

    pub fn t(&self, key: &str) -> String {
        tr(&self.lang, key)
    }

    /// A translation with one `%{name}` placeholder filled in.
    pub fn t1(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        self.t(key)
            .replace(&format!("%{{{name}}}"), &value.to_string())
    }

    /// The language the switch offers.
    pub fn other_lang(&self) -> &'static str {
        if self.lang == "en" { "zh-CN" } else { "en" }
    }

    /// The language switch's link: back to this page afterwards.
    pub fn lang_href(&self) -> String {
        format!("/lang/{}?next={}", self.other_lang(), urlencode(&self.here))
    }

    /// The htmx header carrying the CSRF token, as JSON for `hx-headers`.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ "X-CSRF-Token": self.csrf }).to_string()
    }

    /// A short English message from `app` in the user's language (known phrases only; anything
    /// else is shown as it came).
    pub fn msg(&self, english: &str) -> String {
        translate_message(&self.lang, english)
    }

    /// The translation of a code under a prefix: `c.tk("warranty", "in")`.
    pub fn tk(&self, prefix: &str, code: &str) -> String {
        self.t(&format!("{prefix}.{code}"))
    }

    pub fn kind(&self, code: &str) -> String {
        self.t(&format!("kind.{code}"))
    }

    pub fn role(&self, code: &str) -> String {
        self.t(&format!("roles.{code}"))
    }
}

/// The sidebar for this user: only what their permissions allow.
fn nav(lang: &str, ctx: &Ctx, path: &str) -> Vec<NavSection> {
    let item = |href: &'static str, key: &str, icon: &'static str| NavItem {
        href,
        label: tr(lang, key),
        active: path == href || path.starts_with(&format!("{href}/")),
        icon,
    };
    let mut ledger = Vec::new();
    if ctx.can(Permission::CustomerRead) {
        let mut list = item("/customers", "nav.customers", "ledger");
        list.active = (path == "/customers"
            || path.starts_with("/customers/")
            || path.starts_with("/devices/"))
            && !path.starts_with("/customers/duplicates");
        ledger.push(list);
        ledger.push(item("/customers/duplicates", "nav.duplicates", "dup"));
    }
    let mut desk = Vec::new();
    if ctx.can(Permission::CallHandle) {
        desk.push(item("/calls", "nav.calls", "calls"));
    }
    if ctx.can(Permission::TicketRead) {
        let outside = !matches!(ctx.scope, domain::Scope::All);
        let key = if outside {
            "nav.my_requests"
        } else {
            "nav.tickets"
        };
        desk.push(item("/tickets", key, "ticket"));
    }
    if ctx.can(Permission::ReportRead) {
        desk.push(item(
            "/reports/complaints",
            "nav.complaint_report",
            "report",
        ));
    }
    if ctx.can(Permission::TicketWork) {
        desk.push(item("/surveys", "nav.surveys", "survey"));
    }
    let mut admin = Vec::new();
    if ctx.can(Permission::UserRead) || ctx.can(Permission::UserAdmin) {
        admin.push(item("/admin/users", "nav.users", "users"));
    }
    if ctx.can(Permission::OrgAdmin) {
        admin.push(item("/admin/org-units", "nav.org_units", "org"));
    }
    if ctx.can(Permission::UserRead) || ctx.can(Permission::UserAdmin) {
        admin.push(item("/admin/roles", "nav.roles", "roles"));
    }
    if ctx.can(Permission::AuditRead) {
        admin.push(item("/admin/audit", "nav.audit", "audit"));
    }
    if ctx.can(Permission::TokenAdmin) {
        admin.push(item("/admin/tokens", "nav.tokens", "tokens"));
    }
    if ctx.can(Permission::OrgAdmin) {
        admin.push(item("/admin/hotline-lines", "nav.hotline_lines", "calls"));
    }
    if ctx.can(Permission::UserAdmin) {
        admin.push(item("/admin/extensions", "nav.extensions", "calls"));
    }
    if ctx.can(Permission::NotifyAdmin) {
        admin.push(item("/admin/notify", "nav.notify", "tokens"));
        admin.push(item("/admin/outbox", "nav.outbox", "audit"));
    }
    if ctx.can(Permission::SlaAdmin) {
        admin.push(item("/admin/calendars", "nav.calendars", "calendar"));
        admin.push(item("/admin/sla-policies", "nav.sla_policies", "clock"));
    }
    let mut out = vec![NavSection {
        title: None,
        items: ledger,
    }];
    if !desk.is_empty() {
        out.push(NavSection {
            title: Some(tr(lang, "nav.desk")),
            items: desk,
        });
    }
    if !admin.is_empty() {
        out.push(NavSection {
            title: Some(tr(lang, "nav.admin")),
            items: admin,
        });
    }
    out
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|x| x.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// A query string from pairs, leaving out empty values.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// A signed-in page request: the use-case context, the frame, and whether htmx sent it.
pub struct PageCtx {
    pub ctx: Ctx,
    pub principal: Principal,
    pub c: Chrome,
    pub htmx: bool,
    /// The element htmx will swap (`HX-Target`), if any.
    pub hx_target: Option<String>,
    pub request_id: String,
}

impl PageCtx {
    pub fn lang(&self) -> &str {
        &self.c.lang
    }

    pub fn can(&self, p: Permission) -> bool {
        self.ctx.can(p)
    }

    /// An error page (or, for htmx, a message in the page's alert area) for this error.
    pub fn fail(&self, e: Error) -> PageError {
        PageError {
            c: Box::new(self.c.clone()),
            htmx: self.htmx,
            err: e,
        }
    }

    pub fn targets(&self, id: &str) -> bool {
        self.hx_target.as_deref() == Some(id)
    }
}

/// `.page(&pc)?` turns an `app::Error` into the HTML error page.
pub trait OrPage<T> {
    fn page(self, pc: &PageCtx) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, Error> {
    fn page(self, pc: &PageCtx) -> Result<T, PageError> {
        self.map_err(|e| pc.fail(e))
    }
}

fn lang_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<Lang>()
        .map_or_else(|| "zh-CN".to_string(), |l| l.0.clone())
}

pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some()
}

/// Where to send someone who must sign in first; htmx requests are told to load the page whole.
pub fn login_redirect(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let target = format!("/login?next={}", urlencode(here));
    if is_htmx(&parts.headers) {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        return r;
    }
    Redirect::to(&target).into_response()
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = lang_of(parts);
        // Pages are for browser sessions; a bearer token has no CSRF token to post forms with.
        let Some(Authn {
            principal,
            csrf: Some(csrf),
        }) = parts.extensions.get::<Authn>().cloned()
        else {
            return Err(login_redirect(parts));
        };
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ctx = principal.ctx(state.clock.clone(), request_id.clone(), lang.clone());
        let c = Chrome::signed_in(&lang, &csrf, &principal, &ctx, parts);
        let hx_target = parts
            .headers
            .get("hx-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A history restore wants the whole page, whatever it was when it was pushed.
        let restore = parts.headers.get("hx-history-restore-request").is_some();
        Ok(Self {
            ctx,
            principal,
            c,
            htmx: is_htmx(&parts.headers) && !restore,
            hx_target: if restore { None } else { hx_target },
            request_id,
        })
    }
}

/// The language of a request that may not be signed in (login page, fallback 404).
pub struct ReqLang(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(lang_of(parts)))
    }
}

// ---------------------------------------------------------------- error pages

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Chrome,
    pub code: String,
    pub status: u16,
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "_alert.html")]
pub struct AlertSnippet {
    pub kind: &'static str,
    pub message: String,
}

/// An app error on its way to a browser.
pub struct PageError {
    pub c: Box<Chrome>,
    pub htmx: bool,
    pub err: Error,
}

/// The message for an error code in the user's language.
pub fn error_message(c: &Chrome, e: &Error) -> String {
    let code = e.code();
    match e {
        Error::Validation { fields, .. } if !fields.is_empty() => {
            let list = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", field_label(c, k), c.msg(v)))
                .collect::<Vec<_>>()
                .join("; ");
            format!("{} {list}", c.t("errors.validation"))
        }
        Error::Conflict(m) => c.msg(m),
        _ => c.t(&format!("errors.{code}")),
    }
}

/// A field name from `app` as the user knows it ("contacts[0].phone" → 联系人电话).
pub fn field_label(c: &Chrome, field: &str) -> String {
    let key = format!(
        "fields.{}",
        field
            .replace("contacts[0].", "contact_")
            .replace("address.", "address_")
    );
    try_tr(&c.lang, &key).unwrap_or_else(|| field.to_string())
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let code = self.err.code();
        let status = status_of(code);
        if status.is_server_error() {
            tracing::error!(code, error = %self.err, "page failed");
        }
        let message = error_message(&self.c, &self.err);
        if self.htmx {
            let snippet = AlertSnippet {
                kind: "error",
                message,
            }
            .render()
            .unwrap_or_default();
            return (
                status,
                [
                    ("hx-retarget", "#toast"),
                    ("hx-reswap", "innerHTML"),
                    (header::CONTENT_TYPE.as_str(), "text/html; charset=utf-8"),
                ],
                snippet,
            )
                .into_response();
        }
        let title = try_tr(&self.c.lang, &format!("errors.title_{code}"))
            .unwrap_or_else(|| self.c.t("errors.title_other"));
        let page = ErrorPage {
            c: *self.c,
            code: code.to_string(),
            status: status.as_u16(),
            title,
            message,
        };
        (status, page).into_response()
    }
}

/// The page for a form whose CSRF token did not match (an old tab after signing in again).
pub fn csrf_refused(lang: &str, htmx: bool) -> Response {
    let c = Chrome::anonymous(lang, "/");
    let message = c.t("errors.csrf");
    if htmx {
        let snippet = AlertSnippet {
            kind: "error",
            message,
        }
        .render()
        .unwrap_or_default();
        return (
            StatusCode::FORBIDDEN,
            [
                ("hx-retarget", "#toast"),
                ("hx-reswap", "innerHTML"),
                (header::CONTENT_TYPE.as_str(), "text/html; charset=utf-8"),
            ],
            snippet,
        )
            .into_response();
    }
    let page = ErrorPage {
        title: c.t("errors.title_forbidden"),
        code: "forbidden".into(),
        status: 403,
        message,
        c,
    };
    (StatusCode::FORBIDDEN, page).into_response()
}

/// A 404 page for paths nobody routes (JSON under /api).
pub async fn fallback(ReqLang(lang): ReqLang, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") {
        return crate::error::ApiError::new("not_found", "no such endpoint").into_response();
    }
    let mut c = Chrome::anonymous(&lang, &path);
    if let Some(Authn {
        principal,
        csrf: Some(csrf),
    }) = req.extensions().get::<Authn>().cloned()
    {
        let (parts, _) = req.into_parts();
        let ctx = principal.ctx(
            std::sync::Arc::new(app::SystemClock),
            String::new(),
            lang.clone(),
        );
        c = Chrome::signed_in(&lang, &csrf, &principal, &ctx, &parts);
    }
    PageError {
        c: Box::new(c),
        htmx: false,
        err: Error::NotFound,
    }
    .into_response()
}

// ---------------------------------------------------------------- forms

/// A urlencoded form as pairs (repeated names allowed, e.g. role checkboxes).
#[derive(Debug, Default, Clone)]
pub struct FormData(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(pairs))
    }
}

impl FormData {
    /// The `version` the form was rendered with: a change without it is refused (428), so that
    /// no edit overwrites one the user never saw.
    pub fn version(&self, pc: &PageCtx) -> Result<i64, PageError> {
        self.i64("version")
            .ok_or_else(|| pc.fail(Error::PreconditionRequired))
    }

    /// The first value of a field, untrimmed ("" when absent).
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The trimmed value, or None when empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.raw(name).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn i64(&self, name: &str) -> Option<i64> {
        self.raw(name).trim().parse().ok()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

/// A form as shown again: the values typed and the errors next to each field.
#[derive(Debug, Default, Clone)]
pub struct FormState {
    values: HashMap<String, Vec<String>>,
    errors: BTreeMap<String, String>,
    /// A message for the whole form.
    pub message: Option<String>,
    /// The customer that already has this phone (duplicate refusal).
    pub duplicate_of: Option<i64>,
    /// Someone else saved first.
    pub conflict: bool,
}

impl FormState {
    pub fn from_form(f: &FormData) -> Self {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in &f.0 {
            if k != "_csrf" {
                values.entry(k.clone()).or_default().push(v.clone());
            }
        }
        Self {
            values,
            ..Self::default()
        }
    }

    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_string(), vec![value.into()]);
    }

    pub fn set_opt(&mut self, name: &str, value: Option<impl Into<String>>) {
        if let Some(v) = value {
            self.set(name, v);
        }
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.values
            .entry(name.to_string())
            .or_default()
            .push(value.into());
    }

    pub fn v(&self, name: &str) -> &str {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    /// Whether `value` is among the values of `name` (selected options, ticked boxes).
    pub fn sel(&self, name: &str, value: &str) -> bool {
        self.values
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }

    pub fn err(&self, name: &str) -> Option<&str> {
        self.errors.get(name).map(String::as_str)
    }

    pub fn add_error(&mut self, name: &str, message: String) {
        self.errors.insert(name.to_string(), message);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.message.is_some()
    }

    /// Puts a form-shaped error on the form (fields, duplicate, version conflict, refused state);
    /// anything else is handed back for the error page.
    pub fn absorb(&mut self, c: &Chrome, e: Error, rename: &[(&str, &str)]) -> Result<(), Error> {
        match e {
            Error::Validation { fields, message } => {
                if fields.is_empty() {
                    self.message = Some(c.msg(&message));
                }
                for (k, v) in fields {
                    let k = rename
                        .iter()
                        .find(|(from, _)| k == *from)
                        .map_or(k.clone(), |(_, to)| (*to).to_string());
                    self.errors.insert(k, c.msg(&v));
                }
                if self.message.is_none() {
                    self.message = Some(c.t("errors.validation"));
                }
                Ok(())
            }
            Error::Duplicate { existing, .. } => {
                self.duplicate_of = existing;
                self.message = Some(c.t("errors.duplicate"));
                Ok(())
            }
            Error::VersionConflict => {
                self.conflict = true;
                self.message = Some(c.t("errors.version_conflict"));
                Ok(())
            }
            Error::Conflict(m) => {
                self.message = Some(c.msg(&m));
                Ok(())
            }
            // The ticket workflow's refusals (not_owner, plan_not_signed, …) in the user's words.
            e @ Error::Workflow(_) => {
                self.message = Some(c.t(&format!("errors.{}", e.code())));
                Ok(())
            }
            other => Err(other),
        }
    }
}

/// A form the use case refused, ready to be shown again: the values typed, each error next to
/// its field (renamed by `rename`) or above the form, and the status to send it with. Errors that
/// are not about the form (not found, forbidden, …) become the error page.
pub fn refused(
    pc: &PageCtx,
    form: &FormData,
    e: Error,
    rename: &[(&str, &str)],
) -> Result<(StatusCode, FormState), PageError> {
    let status = status_of(e.code());
    let mut f = FormState::from_form(form);
    f.absorb(&pc.c, e, rename).page(pc)?;
    Ok((status, f))
}

// ---------------------------------------------------------------- messages from app

/// Exact English phrases `app` and `domain` use in field errors → `fieldmsg.*` keys.
pub const FIELD_MESSAGES: &[(&str, &str)] = &[
    ("required", "required"),
    ("wecom or webhook", "notify_channel"),
    ("an http:// or https:// URL", "notify_url"),
    (
        "a 企业微信 bot key or its webhook URL",
        "notify_wecom_target",
    ),
    ("choose at least one event", "notify_events_required"),
    ("zh-CN or en", "notify_locale"),
    ("not one of your brands", "notify_brand_not_yours"),
    ("required: choose one of your brands", "notify_brand_choose"),
    ("no such brand", "notify_no_brand"),
    ("no such dealer", "notify_no_dealer"),
    ("at most 100 characters", "at_most_100"),
    ("empty phone number", "phone_empty"),
    ("not a mobile number", "mobile_required"),
    (
        "a phone number may contain only digits, spaces, '+', '-' and brackets",
        "phone_chars",
    ),
    (
        "not a Chinese mobile, landline or 400/800 number",
        "phone_invalid",
    ),
    ("contains control characters", "control_chars"),
    ("not an email address", "email_invalid"),
    ("a date YYYY-MM-DD", "date_invalid"),
    ("unknown note category", "unknown_category"),
    ("already taken", "taken"),
    ("8 to 256 characters", "password_length"),
    ("2–64 letters, digits, '.', '_' or '-'", "login_chars"),
    (
        "the street detail is required and at most 200 characters",
        "detail_required",
    ),
    ("before the production date", "before_production"),
    ("before the purchase date", "before_purchase"),
    ("unknown dealer", "unknown_dealer"),
    ("not a dealer", "not_dealer"),
    ("a customer cannot be its own dealer", "own_dealer"),
    ("a user needs at least one role", "roles_empty"),
    (
        "outside-party roles cannot be combined with other roles",
        "roles_mixed",
    ),
    ("a brand user must belong to a brand", "brand_missing"),
    ("a dealer user must belong to a dealer", "dealer_missing"),
    ("an outlet admin must belong to an outlet", "outlet_missing"),
    (
        "an engineer account must be linked to an engineer",
        "engineer_missing",
    ),
    ("not a city code", "not_city"),
    ("unknown org unit", "unknown_unit"),
    ("a unit cannot contain itself", "unit_self"),
    ("unknown brand", "unknown_brand"),
    ("not one of your brands", "not_your_brand"),
    ("not an address of this customer", "not_your_address"),
    ("give both lng and lat, or neither", "geo_pair"),
    ("coordinates outside China", "geo_outside"),
    ("individual, dealer or brand_client", "kind_invalid"),
    ("dealer, online, store, project or other", "channel_invalid"),
    ("company, department, branch or team", "unit_kind_invalid"),
    ("standard or premium", "tier_invalid"),
    ("zh-CN or en", "locale_invalid"),
    ("not a cursor this server issued", "cursor_invalid"),
    (
        "you cannot disable yourself or remove your own admin role",
        "self_lockout",
    ),
    (
        "one of these customers was already merged",
        "already_merged",
    ),
    ("a customer cannot be merged into itself", "merge_self"),
    ("unknown customer", "unknown_customer"),
    ("unknown device", "unknown_device"),
    ("not a device of this customer", "not_your_device"),
    ("at most 20 at once", "too_many_contacts"),
    ("this return call is closed; no more attempts", "rc_closed"),
    (
        "click-to-call needs a bound landline (KEFU_HOTLINE_LANDLINE)",
        "no_landline",
    ),
    (
        "the number shown on outbound calls must be a landline, never the 400 number",
        "landline_not_400",
    ),
    (
        "your account has no phone for the platform to ring first",
        "no_agent_phone",
    ),
    (
        "click-to-call is not configured (KEFU_VOICE_ALIYUN_*)",
        "dial_not_configured",
    ),
    (
        "reached, no_answer, busy or wrong_number",
        "outcome_invalid",
    ),
    ("1–20 letters, digits or '-'", "extension_invalid"),
    ("a 400 or 800 service number", "line_number_invalid"),
    (
        "a landline (area code first), never a 400/800 number or a mobile",
        "landline_invalid",
    ),
    ("unknown calendar", "unknown_calendar"),
    ("an IANA time zone such as Asia/Shanghai", "tz_invalid"),
    ("a line's number cannot change", "line_number_fixed"),
    (
        "answered, missed, abandoned, voicemail or after_hours",
        "call_outcome_invalid",
    ),
    ("inbound or outbound", "direction_invalid"),
    (
        "open, reached, given_up or cancelled",
        "return_status_invalid",
    ),
    (
        "a date YYYY-MM-DD or an RFC 3339 instant",
        "date_or_instant",
    ),
    ("unknown user", "unknown_user"),
    (domain::survey::MSG_RATING, "survey_rating"),
    (domain::survey::MSG_YES_NO, "survey_yes_no"),
    (domain::survey::MSG_OPTION, "survey_option"),
    (domain::survey::MSG_TEXT, "survey_text"),
    (domain::survey::MSG_UNKNOWN, "survey_unknown"),
    (app::surveys::ALREADY_ANSWERED, "survey_answered"),
    (app::surveys::INVITATION_EXPIRED, "survey_expired"),
];

/// Phrases with a variable part: (prefix, suffix, key). The variable is `%{x}` in the message.
const FIELD_PATTERNS: &[(&str, &str, &str)] = &[
    ("unknown event ", "", "notify_event_unknown"),
    ("unknown value ", "", "unknown_value"),
    (
        "the shares must add up to 100 percent (they add up to ",
        ")",
        "shares_total",
    ),
    ("too long (at most ", " characters)", "too_long"),
    ("unknown region code ", "", "region_unknown"),
    ("unknown role ", "", "role_unknown"),
    ("unknown function ", "", "function_unknown"),
    ("", " is not a region of the expected level", "region_level"),
    ("", " does not lie in ", "region_chain"),
];

pub fn translate_message(lang: &str, english: &str) -> String {
    if let Some((_, key)) = FIELD_MESSAGES
        .iter()
        .chain(super::tickets::MESSAGES)
        .find(|(m, _)| *m == english)
    {
        return try_tr(lang, &format!("fieldmsg.{key}")).unwrap_or_else(|| english.to_string());
    }
    for (prefix, suffix, key) in FIELD_PATTERNS {
        if prefix.is_empty() {
            if let Some((x, _)) = english.split_once(suffix)
                && let Some(t) = try_tr(lang, &format!("fieldmsg.{key}"))
            {
                return t.replace("%{x}", x);
            }
            continue;
        }
        if let Some(rest) = english.strip_prefix(prefix)
            && let Some(x) = rest.strip_suffix(suffix)
            && let Some(t) = try_tr(lang, &format!("fieldmsg.{key}"))
        {
            return t.replace("%{x}", x.trim_matches('"'));
        }
    }
    english.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_message_has_both_translations() {
        for (_, key) in FIELD_MESSAGES {
            for lang in ["zh-CN", "en"] {
                assert!(
                    crate::_rust_i18n_backend()
                        .translate(lang, &format!("fieldmsg.{key}"))
                        .is_some(),
                    "fieldmsg.{key} missing in {lang}"
                );
            }
        }
        for (_, _, key) in FIELD_PATTERNS {
            for lang in ["zh-CN", "en"] {
                assert!(
                    crate::_rust_i18n_backend()
                        .translate(lang, &format!("fieldmsg.{key}"))
                        .is_some(),
                    "fieldmsg.{key} missing in {lang}"
                );
            }
        }
    }

    #[test]
    fn messages_translate_with_their_variable_part() {
        assert_eq!(translate_message("zh-CN", "required"), "必填");
        assert_eq!(
            translate_message("zh-CN", "too long (at most 100 characters)"),
            "太长(最多 100 个字符)"
        );
        assert_eq!(translate_message("zh-CN", "something new"), "something new");
        assert_eq!(translate_message("en", "required"), "required");
    }
}
