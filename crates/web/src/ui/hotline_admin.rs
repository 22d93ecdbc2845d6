//! Administration of the hotline (D8): service lines (400/800 number, name, brand, the landline
//! shown on click-to-call, the calendar of its opening hours) and agent extensions (agent ↔
//! extension, the phone rung first). Add, edit and deactivate; permission checks are the use
//! cases' own (organisation administrators for lines, user administrators for extensions), a
//! refusal renders the 403 page, and a refused form comes back with each error next to its field.

use app::Error;
use app::hotline::{self, ExtensionInput, ExtensionView, LineInput, LineView};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::chrome::{Chrome, FormData, FormState, OrPage, PageCtx, PageError, refused, urlencode};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/hotline-lines", get(lines).post(create_line))
        .route(
            "/admin/hotline-lines/{number}",
            get(line_page).post(update_line),
        )
        .route("/admin/extensions", get(extensions).post(create_extension))
        .route(
            "/admin/extensions/{extension}",
            get(extension_page).post(update_extension),
        )
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

// ---------------------------------------------------------------- lines

pub struct LineRow {
    pub number: String,
    pub href: String,
    pub name: String,
    pub brand: String,
    pub landline: String,
    pub calendar: String,
    pub active: bool,
}

/// What the line form offers: the brands and the calendars.
pub struct LineChoices {
    pub brands: Vec<(i64, String)>,
    pub calendars: Vec<(i64, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/lines.html")]
pub struct LinesPage {
    pub c: Chrome,
    pub rows: Vec<LineRow>,
    pub f: FormState,
    pub ch: LineChoices,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/line.html")]
pub struct LinePage {
    pub c: Chrome,
    pub number: String,
    pub href: String,
    pub f: FormState,
    pub ch: LineChoices,
}

async fn line_choices(s: &AppState, pc: &PageCtx) -> Result<LineChoices, PageError> {
    let brands = app::admin::brands(&s.app, &pc.ctx).await.page(pc)?;
    let calendars = app::sla::list_calendars(&s.app, &pc.ctx).await.page(pc)?;
    Ok(LineChoices {
        brands: brands.into_iter().map(|b| (b.id.0, b.name)).collect(),
        calendars: calendars.into_iter().map(|c| (c.id, c.name)).collect(),
    })
}

fn line_input(form: &FormData, active: bool) -> LineInput {
    LineInput {
        number: form.opt("number"),
        brand_id: form.i64("brand_id"),
        name: form.raw("name").to_string(),
        landline: form.opt("landline"),
        calendar_id: form.i64("calendar_id"),
        active: Some(active),
    }
}

fn line_href(number: &str) -> String {
    format!("/admin/hotline-lines/{}", urlencode(number))
}

async fn render_lines(s: &AppState, pc: PageCtx, f: FormState) -> Result<LinesPage, PageError> {
    let list = hotline::lines_to_manage(&s.app, &pc.ctx).await.page(&pc)?;
    let ch = line_choices(s, &pc).await?;
    let name_of = |list: &[(i64, String)], id: Option<i64>| {
        id.and_then(|id| list.iter().find(|(x, _)| *x == id))
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let rows = list
        .into_iter()
        .map(|l: LineView| LineRow {
            href: line_href(&l.number),
            brand: name_of(&ch.brands, l.brand_id),
            calendar: name_of(&ch.calendars, l.calendar_id),
            landline: l.landline.unwrap_or_default(),
            number: l.number,
            name: l.name,
            active: l.active,
        })
        .collect();
    Ok(LinesPage {
        rows,
        f,
        ch,
        c: pc.c,
    })
}

pub async fn lines(State(s): State<AppState>, pc: PageCtx) -> Result<LinesPage, PageError> {
    render_lines(&s, pc, FormState::default()).await
}

pub async fn create_line(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    match hotline::create_line(&s.app, &pc.ctx, line_input(&form, true)).await {
        Ok(_) => Ok(see_other("/admin/hotline-lines?flash=line_created")),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let page = render_lines(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn render_line(
    s: &AppState,
    pc: PageCtx,
    number: &str,
    f: Option<FormState>,
) -> Result<LinePage, PageError> {
    let all = hotline::lines_to_manage(&s.app, &pc.ctx).await.page(&pc)?;
    let key = domain::Phone::parse(number)
        .map_or_else(|_| number.to_string(), |p| p.as_str().to_string());
    let Some(l) = all.into_iter().find(|l| l.number == key) else {
        return Err(pc.fail(Error::NotFound));
    };
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default()
            .with("name", l.name.clone())
            .with("version", l.version.to_string());
        f.set_opt("brand_id", l.brand_id.map(|x| x.to_string()));
        f.set_opt("landline", l.landline.clone());
        f.set_opt("calendar_id", l.calendar_id.map(|x| x.to_string()));
        if l.active {
            f.set("active", "1");
        }
        f
    });
    let ch = line_choices(s, &pc).await?;
    Ok(LinePage {
        href: line_href(&l.number),
        number: l.number,
        f,
        ch,
        c: pc.c,
    })
}

pub async fn line_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(number): Path<String>,
) -> Result<LinePage, PageError> {
    render_line(&s, pc, &number, None).await
}

pub async fn update_line(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(number): Path<String>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let mut input = line_input(&form, form.checked("active"));
    input.number = None;
    match hotline::set_line(&s.app, &pc.ctx, &number, Some(version), input).await {
        Ok(_) => Ok(see_other("/admin/hotline-lines?flash=saved")),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let page = render_line(&s, pc, &number, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------- extensions

pub struct ExtensionRow {
    pub extension: String,
    pub href: String,
    pub agent: String,
    pub phone: String,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/extensions.html")]
pub struct ExtensionsPage {
    pub c: Chrome,
    pub rows: Vec<ExtensionRow>,
    pub f: FormState,
    /// (user id, name) of the active accounts.
    pub users: Vec<(i64, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/extension.html")]
pub struct ExtensionPage {
    pub c: Chrome,
    pub extension: String,
    pub href: String,
    pub f: FormState,
    pub users: Vec<(i64, String)>,
}

async fn user_choices(s: &AppState, pc: &PageCtx) -> Result<Vec<(i64, String)>, PageError> {
    Ok(app::admin::users(&s.app, &pc.ctx)
        .await
        .page(pc)?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| (u.id.0, format!("{} ({})", u.display_name, u.login)))
        .collect())
}

fn extension_input(form: &FormData, active: bool) -> ExtensionInput {
    ExtensionInput {
        user_id: form.i64("user_id").unwrap_or(0),
        phone: form.opt("phone"),
        active: Some(active),
    }
}

fn extension_href(ext: &str) -> String {
    format!("/admin/extensions/{}", urlencode(ext))
}

async fn render_extensions(
    s: &AppState,
    pc: PageCtx,
    f: FormState,
) -> Result<ExtensionsPage, PageError> {
    let list = hotline::extensions_to_manage(&s.app, &pc.ctx)
        .await
        .page(&pc)?;
    let users = user_choices(s, &pc).await?;
    let rows = list
        .into_iter()
        .map(|e: ExtensionView| ExtensionRow {
            href: extension_href(&e.extension),
            extension: e.extension,
            agent: e.display_name,
            phone: e.phone.unwrap_or_default(),
            active: e.active,
        })
        .collect();
    Ok(ExtensionsPage {
        rows,
        f,
        users,
        c: pc.c,
    })
}

pub async fn extensions(
    State(s): State<AppState>,
    pc: PageCtx,
) -> Result<ExtensionsPage, PageError> {
    render_extensions(&s, pc, FormState::default()).await
}

pub async fn create_extension(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    let ext = form.raw("extension").trim().to_string();
    // A new extension must not silently take over an existing one.
    let taken = hotline::extensions_to_manage(&s.app, &pc.ctx)
        .await
        .page(&pc)?
        .iter()
        .any(|e| e.extension == ext);
    let result = if taken {
        Err(Error::field("extension", "already taken"))
    } else {
        hotline::set_extension(&s.app, &pc.ctx, &ext, None, extension_input(&form, true)).await
    };
    match result {
        Ok(_) => Ok(see_other("/admin/extensions?flash=extension_created")),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let page = render_extensions(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn render_extension(
    s: &AppState,
    pc: PageCtx,
    ext: &str,
    f: Option<FormState>,
) -> Result<ExtensionPage, PageError> {
    let all = hotline::extensions_to_manage(&s.app, &pc.ctx)
        .await
        .page(&pc)?;
    let Some(e) = all.into_iter().find(|e| e.extension == ext) else {
        return Err(pc.fail(Error::NotFound));
    };
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default()
            .with("user_id", e.user_id.to_string())
            .with("version", e.version.to_string());
        f.set_opt("phone", e.phone.clone());
        if e.active {
            f.set("active", "1");
        }
        f
    });
    let users = user_choices(s, &pc).await?;
    Ok(ExtensionPage {
        href: extension_href(&e.extension),
        extension: e.extension,
        f,
        users,
        c: pc.c,
    })
}

pub async fn extension_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(ext): Path<String>,
) -> Result<ExtensionPage, PageError> {
    render_extension(&s, pc, &ext, None).await
}

pub async fn update_extension(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(ext): Path<String>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let input = extension_input(&form, form.checked("active"));
    match hotline::set_extension(&s.app, &pc.ctx, &ext, Some(version), input).await {
        Ok(_) => Ok(see_other("/admin/extensions?flash=saved")),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let page = render_extension(&s, pc, &ext, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}
