//! SLA administration pages (D4): business calendars with their weekly hours and exceptional
//! days (holidays, make-up working days), and the SLA policies. Edits need `sla_admin`; the
//! use cases check it, the pages only hide the forms.

use app::sla::{
    self, CalendarInput, DayInput, NewCalendarInput, PolicyInput, PolicyView, WeekHours,
};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{CalendarId, Permission, SlaPolicyId};

use super::chrome::{FormData, FormState, OrPage, PageCtx, PageError};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/calendars", get(calendars).post(create_calendar))
        .route("/admin/calendars/{id}", get(calendar).post(update_calendar))
        .route("/admin/calendars/{id}/delete", post(delete_calendar))
        .route("/admin/calendars/{id}/days", post(add_day))
        .route("/admin/calendars/{id}/days/{date}/delete", post(delete_day))
        .route("/admin/sla-policies", get(policies).post(create_policy))
        .route(
            "/admin/sla-policies/{id}",
            get(policy_page).post(update_policy),
        )
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// Weekday codes with their label keys, Monday first.
fn weekdays() -> Vec<(&'static str, String)> {
    WeekHours::DAYS
        .iter()
        .map(|d| (*d, format!("sla.day_{d}")))
        .collect()
}

// ---------------------------------------------------------------- calendars

pub struct CalendarRow {
    pub id: i64,
    pub name: String,
    pub tz: String,
    /// (label key, hours) Monday first.
    pub week: Vec<(String, String)>,
    pub is_default: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/calendars.html")]
pub struct CalendarsPage {
    pub c: super::Chrome,
    pub rows: Vec<CalendarRow>,
    pub weekdays: Vec<(&'static str, String)>,
    /// The new-calendar form.
    pub f: FormState,
    pub brands: Vec<(i64, String)>,
    /// Calendars whose days a new one may start with.
    pub sources: Vec<(i64, String)>,
    pub can_admin: bool,
}

async fn render_calendars(
    s: &AppState,
    pc: PageCtx,
    f: Option<FormState>,
) -> Result<CalendarsPage, PageError> {
    let list = sla::list_calendars(&s.app, &pc.ctx).await.page(&pc)?;
    let can_admin = pc.can(Permission::SlaAdmin);
    let brands = if can_admin {
        app::admin::brands(&s.app, &pc.ctx)
            .await
            .page(&pc)?
            .into_iter()
            .map(|b| (b.id.0, b.name))
            .collect()
    } else {
        Vec::new()
    };
    let sources: Vec<(i64, String)> = list.iter().map(|c| (c.id, c.name.clone())).collect();
    // By default a new calendar starts with the desk's holidays and 调休 and its weekly hours:
    // an admin then changes what differs.
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default().with("tz", "Asia/Shanghai");
        if let Some(d) = list.iter().find(|c| c.is_default) {
            f.set("tz", &d.tz);
            f.set("copy_days_from", d.id.to_string());
            for day in WeekHours::DAYS {
                f.set(&format!("week.{day}"), d.week.get(day));
            }
        }
        f
    });
    let rows = list
        .into_iter()
        .map(|v| CalendarRow {
            id: v.id,
            week: weekdays()
                .into_iter()
                .map(|(d, k)| (k, v.week.get(d).to_string()))
                .collect(),
            name: v.name,
            tz: v.tz,
            is_default: v.is_default,
        })
        .collect();
    Ok(CalendarsPage {
        c: pc.c,
        rows,
        weekdays: weekdays(),
        f,
        brands,
        sources,
        can_admin,
    })
}

pub async fn calendars(State(s): State<AppState>, pc: PageCtx) -> Result<CalendarsPage, PageError> {
    render_calendars(&s, pc, None).await
}

fn week_of(form: &FormData) -> WeekHours {
    let week = |d: &str| form.raw(&format!("week.{d}")).trim().to_string();
    WeekHours {
        mon: week("mon"),
        tue: week("tue"),
        wed: week("wed"),
        thu: week("thu"),
        fri: week("fri"),
        sat: week("sat"),
        sun: week("sun"),
    }
}

/// The new-calendar form: on success to the new calendar's page, where its days are edited.
pub async fn create_calendar(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    let input = NewCalendarInput {
        name: form.raw("name").to_string(),
        tz: form.raw("tz").to_string(),
        week: week_of(&form),
        brand_id: form.i64("brand_id"),
        copy_days_from: form.i64("copy_days_from"),
    };
    match sla::create_calendar(&s.app, &pc.ctx, input).await {
        Ok(v) => Ok(see_other(&format!("/admin/calendars/{}?flash=saved", v.id))),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_calendars(&s, pc, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/calendar.html")]
pub struct CalendarPage {
    pub c: super::Chrome,
    pub id: i64,
    pub name: String,
    pub f: FormState,
    pub day: FormState,
    pub days: Vec<sla::DayView>,
    pub weekdays: Vec<(&'static str, String)>,
    pub can_admin: bool,
    /// The default calendar cannot be deleted.
    pub is_default: bool,
}

async fn render_calendar(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    f: Option<FormState>,
    day: FormState,
) -> Result<CalendarPage, PageError> {
    let v = sla::get_calendar(&s.app, &pc.ctx, CalendarId(id))
        .await
        .page(&pc)?;
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default()
            .with("name", v.name.clone())
            .with("tz", v.tz.clone())
            .with("version", v.version.to_string());
        for d in WeekHours::DAYS {
            f.set(&format!("week.{d}"), v.week.get(d));
        }
        f
    });
    Ok(CalendarPage {
        id,
        name: v.name,
        f,
        day,
        days: v.days.unwrap_or_default(),
        weekdays: weekdays(),
        can_admin: pc.can(Permission::SlaAdmin),
        is_default: v.is_default,
        c: pc.c,
    })
}

pub async fn calendar(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<CalendarPage, PageError> {
    let day = FormState::default().with("rule", "closed");
    render_calendar(&s, pc, id, None, day).await
}

pub async fn update_calendar(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let input = CalendarInput {
        name: form.raw("name").to_string(),
        tz: form.raw("tz").to_string(),
        week: week_of(&form),
    };
    match sla::update_calendar(&s.app, &pc.ctx, CalendarId(id), version, input).await {
        Ok(_) => Ok(see_other(&format!("/admin/calendars/{id}?flash=saved"))),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let day = FormState::default().with("rule", "closed");
            let page = render_calendar(&s, pc, id, Some(f), day).await?;
            Ok((status, page).into_response())
        }
    }
}

pub async fn add_day(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let input = DayInput {
        rule: form.raw("rule").to_string(),
        hours: form.opt("hours"),
        name: form.opt("name"),
    };
    let date = form.raw("date").trim().to_string();
    match sla::put_day(&s.app, &pc.ctx, CalendarId(id), &date, input).await {
        Ok(_) => Ok(see_other(&format!("/admin/calendars/{id}?flash=saved"))),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut day = FormState::from_form(&form);
            day.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_calendar(&s, pc, id, None, day).await?;
            Ok((status, page).into_response())
        }
    }
}

pub async fn delete_day(
    State(s): State<AppState>,
    pc: PageCtx,
    Path((id, date)): Path<(i64, String)>,
) -> Result<Response, PageError> {
    sla::delete_day(&s.app, &pc.ctx, CalendarId(id), &date)
        .await
        .page(&pc)?;
    Ok(see_other(&format!("/admin/calendars/{id}?flash=saved")))
}

pub async fn delete_calendar(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    sla::delete_calendar(&s.app, &pc.ctx, CalendarId(id), version)
        .await
        .page(&pc)?;
    Ok(see_other("/admin/calendars?flash=calendar_deleted"))
}

// ---------------------------------------------------------------- policies

pub struct PolicyRow {
    pub p: PolicyView,
    pub calendar: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/sla_policies.html")]
pub struct PoliciesPage {
    pub c: super::Chrome,
    pub rows: Vec<PolicyRow>,
    pub f: FormState,
    pub o: PolicyOptions,
    pub can_admin: bool,
}

/// The choices of the policy form.
pub struct PolicyOptions {
    pub metrics: Vec<&'static str>,
    pub kinds: Vec<&'static str>,
    pub categories: Vec<&'static str>,
    pub priorities: Vec<&'static str>,
    pub tiers: Vec<&'static str>,
    pub calendars: Vec<(i64, String)>,
}

async fn options(s: &AppState, pc: &PageCtx) -> Result<PolicyOptions, PageError> {
    use domain::account::BrandTier;
    use domain::sla::SlaMetric;
    use domain::ticket::{ComplaintCategory, Priority, TicketKind};
    let cals = sla::list_calendars(&s.app, &pc.ctx).await.page(pc)?;
    Ok(PolicyOptions {
        metrics: SlaMetric::ALL.iter().map(|m| m.as_str()).collect(),
        kinds: TicketKind::ALL.iter().map(|m| m.as_str()).collect(),
        categories: ComplaintCategory::ALL.iter().map(|m| m.as_str()).collect(),
        priorities: Priority::ALL.iter().map(|m| m.as_str()).collect(),
        tiers: BrandTier::ALL.iter().map(|m| m.as_str()).collect(),
        calendars: cals.into_iter().map(|c| (c.id, c.name)).collect(),
    })
}

async fn render_policies(
    s: &AppState,
    pc: PageCtx,
    f: FormState,
) -> Result<PoliciesPage, PageError> {
    let list = sla::list_policies(&s.app, &pc.ctx).await.page(&pc)?;
    let o = options(s, &pc).await?;
    let rows = list
        .into_iter()
        .map(|p| PolicyRow {
            calendar: o
                .calendars
                .iter()
                .find(|(id, _)| *id == p.calendar_id)
                .map_or_else(|| p.calendar_id.to_string(), |(_, n)| n.clone()),
            p,
        })
        .collect();
    Ok(PoliciesPage {
        rows,
        f,
        o,
        can_admin: pc.can(Permission::SlaAdmin),
        c: pc.c,
    })
}

fn policy_input(form: &FormData) -> PolicyInput {
    PolicyInput {
        name: form.raw("name").trim().to_string(),
        metric: form.raw("metric").to_string(),
        kind: form.opt("kind"),
        category: form.opt("category"),
        priority: form.opt("priority"),
        tier: form.opt("tier"),
        target_minutes: form.i64("target_minutes").unwrap_or(0),
        calendar_id: form.i64("calendar_id").unwrap_or(0),
        warn_percent: form.i64("warn_percent").unwrap_or(-1),
        active: form.checked("active"),
    }
}

pub async fn policies(State(s): State<AppState>, pc: PageCtx) -> Result<PoliciesPage, PageError> {
    let f = FormState::default()
        .with("metric", "first_reply")
        .with("warn_percent", "80")
        .with("calendar_id", "1")
        .with("active", "1");
    render_policies(&s, pc, f).await
}

pub async fn create_policy(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    match sla::create_policy(&s.app, &pc.ctx, policy_input(&form)).await {
        Ok(_) => Ok(see_other("/admin/sla-policies?flash=saved")),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_policies(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/sla_policy.html")]
pub struct PolicyPage {
    pub c: super::Chrome,
    pub id: i64,
    pub f: FormState,
    pub o: PolicyOptions,
    pub can_admin: bool,
}

async fn render_policy(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    f: Option<FormState>,
) -> Result<PolicyPage, PageError> {
    let p = sla::get_policy(&s.app, &pc.ctx, SlaPolicyId(id))
        .await
        .page(&pc)?;
    let o = options(s, &pc).await?;
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default()
            .with("name", p.name.clone())
            .with("metric", p.metric.clone())
            .with("target_minutes", p.target_minutes.to_string())
            .with("calendar_id", p.calendar_id.to_string())
            .with("warn_percent", p.warn_percent.to_string())
            .with("version", p.version.to_string());
        f.set_opt("kind", p.kind.clone());
        f.set_opt("category", p.category.clone());
        f.set_opt("priority", p.priority.clone());
        f.set_opt("tier", p.tier.clone());
        if p.active {
            f.set("active", "1");
        }
        f
    });
    Ok(PolicyPage {
        id,
        f,
        o,
        can_admin: pc.can(Permission::SlaAdmin),
        c: pc.c,
    })
}

pub async fn policy_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<PolicyPage, PageError> {
    render_policy(&s, pc, id, None).await
}

pub async fn update_policy(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    match sla::update_policy(
        &s.app,
        &pc.ctx,
        SlaPolicyId(id),
        version,
        policy_input(&form),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/sla-policies/{id}?flash=saved"))),
        Err(e) => {
            let status = crate::error::status_of(e.code());
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_policy(&s, pc, id, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}
