//! Notification administration pages (D7): organisations' subscriptions to ticket events (add,
//! edit, deactivate, send a test) and the outbox with its delivery status (filter, send a failed
//! message again). The use cases check `notify_admin` and the brand scope; the pages only
//! render what they return.

use app::notify::subscriptions::{
    self as subs, Event, OutboxListInput, OutboxView, SubscriptionInput, SubscriptionView,
    mask_secret,
};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::chrome::{FormData, FormState, OrPage, PageCtx, PageError, query_string};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/notify", get(subscriptions).post(create))
        .route("/admin/notify/{id}", get(edit_page).post(update))
        .route("/admin/notify/{id}/active", post(set_active))
        .route("/admin/notify/{id}/test", post(send_test))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{id}/retry", post(retry))
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The choices of the subscription form.
pub struct SubOptions {
    pub events: Vec<&'static str>,
    pub brands: Vec<(i64, String)>,
    /// Only platform administrators choose the brand (a brand's own stays theirs).
    pub choose_brand: bool,
}

async fn options(s: &AppState, pc: &PageCtx) -> SubOptions {
    let brands = app::admin::brands(&s.app, &pc.ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|b| (b.id.0, b.name))
        .collect();
    SubOptions {
        events: Event::ALL.iter().map(|e| e.as_str()).collect(),
        brands,
        choose_brand: matches!(pc.ctx.scope, domain::Scope::All),
    }
}

pub struct SubRow {
    pub s: SubscriptionView,
    pub brand: String,
    pub target: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/notify.html")]
pub struct SubscriptionsPage {
    pub c: super::Chrome,
    pub rows: Vec<SubRow>,
    pub f: FormState,
    pub o: SubOptions,
}

async fn render_list(
    s: &AppState,
    pc: PageCtx,
    f: FormState,
) -> Result<SubscriptionsPage, PageError> {
    let list = subs::list_subscriptions(&s.app, &pc.ctx).await.page(&pc)?;
    let o = options(s, &pc).await;
    let rows = list
        .into_iter()
        .map(|v| SubRow {
            brand: v
                .brand_id
                .map(|b| {
                    o.brands
                        .iter()
                        .find(|(id, _)| *id == b)
                        .map_or_else(|| format!("#{b}"), |(_, n)| n.clone())
                })
                .unwrap_or_default(),
            target: if v.channel == "wecom" {
                mask_secret(&v.target)
            } else {
                v.target.clone()
            },
            s: v,
        })
        .collect();
    Ok(SubscriptionsPage {
        rows,
        f,
        o,
        c: pc.c,
    })
}

fn input(form: &FormData) -> SubscriptionInput {
    SubscriptionInput {
        name: form.raw("name").trim().to_string(),
        channel: form.raw("channel").to_string(),
        target: form.raw("target").trim().to_string(),
        events: form.all("events"),
        locale: form.opt("locale"),
        brand_id: form.i64("brand_id"),
        dealer_id: form.i64("dealer_id"),
        active: Some(form.checked("active")),
    }
}

pub async fn subscriptions(
    State(s): State<AppState>,
    pc: PageCtx,
) -> Result<SubscriptionsPage, PageError> {
    let f = FormState::default()
        .with("channel", "wecom")
        .with("locale", "zh-CN")
        .with("active", "1");
    render_list(&s, pc, f).await
}

pub async fn create(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    match subs::create_subscription(&s.app, &pc.ctx, input(&form)).await {
        Ok(_) => Ok(see_other("/admin/notify?flash=saved")),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_list(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/notify_edit.html")]
pub struct EditPage {
    pub c: super::Chrome,
    pub id: i64,
    pub f: FormState,
    pub o: SubOptions,
}

fn form_of(v: &SubscriptionView) -> FormState {
    let mut f = FormState::default()
        .with("name", v.name.clone())
        .with("channel", v.channel.clone())
        .with("target", v.target.clone())
        .with("locale", v.locale.clone())
        .with("version", v.version.to_string());
    f.set_opt("brand_id", v.brand_id.map(|b| b.to_string()));
    f.set_opt("dealer_id", v.dealer_id.map(|b| b.to_string()));
    for e in &v.events {
        f.push("events", e.clone());
    }
    if v.active {
        f.set("active", "1");
    }
    f
}

async fn render_edit(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    f: Option<FormState>,
) -> Result<EditPage, PageError> {
    let v = subs::get_subscription(&s.app, &pc.ctx, id)
        .await
        .page(&pc)?;
    let o = options(s, &pc).await;
    Ok(EditPage {
        id,
        f: f.unwrap_or_else(|| form_of(&v)),
        o,
        c: pc.c,
    })
}

pub async fn edit_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<EditPage, PageError> {
    render_edit(&s, pc, id, None).await
}

pub async fn update(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    match subs::update_subscription(&s.app, &pc.ctx, id, version, input(&form)).await {
        Ok(_) => Ok(see_other(&format!("/admin/notify/{id}?flash=saved"))),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_edit(&s, pc, id, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}

/// Deactivates or reactivates a subscription from the list (the version keeps it honest).
pub async fn set_active(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let v = subs::get_subscription(&s.app, &pc.ctx, id)
        .await
        .page(&pc)?;
    let version = form.i64("version").unwrap_or(v.version);
    let input = SubscriptionInput {
        name: v.name,
        channel: v.channel,
        target: v.target,
        events: v.events,
        locale: Some(v.locale),
        brand_id: v.brand_id,
        dealer_id: v.dealer_id,
        active: Some(form.checked("active")),
    };
    subs::update_subscription(&s.app, &pc.ctx, id, version, input)
        .await
        .page(&pc)?;
    Ok(see_other("/admin/notify?flash=saved"))
}

pub async fn send_test(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let outbox_id = subs::send_test(&s.app, &pc.ctx, id).await.page(&pc)?;
    Ok(see_other(&format!(
        "/admin/outbox?flash=notify_test_queued#m{outbox_id}"
    )))
}

// ---------------------------------------------------------------- the outbox

#[derive(Debug, Default, Deserialize)]
pub struct OutboxFilter {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/outbox.html")]
pub struct OutboxPage {
    pub c: super::Chrome,
    pub rows: Vec<OutboxView>,
    pub status: String,
    pub channel: String,
    pub statuses: Vec<&'static str>,
    pub channels: Vec<&'static str>,
    pub next_href: Option<String>,
    pub can_retry: bool,
}

impl OutboxPage {
    pub fn is_status(&self, s: &str) -> bool {
        self.status == s
    }

    pub fn is_channel(&self, ch: &str) -> bool {
        self.channel == ch
    }
}

pub async fn outbox(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<OutboxFilter>,
) -> Result<OutboxPage, PageError> {
    let status = q.status.clone().unwrap_or_default();
    let channel = q.channel.clone().unwrap_or_default();
    let page = subs::list_outbox(
        &s.app,
        &pc.ctx,
        OutboxListInput {
            status: q.status,
            channel: q.channel,
            cursor: q.cursor,
            limit: Some(50),
        },
    )
    .await
    .page(&pc)?;
    let next_href = page.next.map(|c| {
        format!(
            "/admin/outbox?{}",
            query_string(&[
                ("status", &status),
                ("channel", &channel),
                ("cursor", &c.encode())
            ])
        )
    });
    Ok(OutboxPage {
        rows: page.items,
        status,
        channel,
        statuses: vec!["pending", "sent", "failed", "dead"],
        channels: store::outbox::Channel::ALL
            .iter()
            .map(|c| c.as_str())
            .collect(),
        next_href,
        can_retry: true,
        c: pc.c,
    })
}

pub async fn retry(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    subs::retry_outbox(&s.app, &pc.ctx, id).await.page(&pc)?;
    Ok(see_other("/admin/outbox?flash=outbox_retried"))
}
