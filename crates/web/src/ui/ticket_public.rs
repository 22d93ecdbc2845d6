//! The requester's status page behind the signed link `/t/{number}?k={key}`: no sign-in, no
//! JavaScript, made for a phone (WeChat's in-app browser included). It shows only what
//! `app::tickets::public_view` gives — status, the plan once the requester was told, replies —
//! and offers confirm, reopen, urge and a message as plain forms carrying number, key and
//! version. zh-CN unless `?lang=en`.

use app::Error;
use app::tickets::{self, PublicTicketView};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::chrome::{Chrome, FormData, ReqLang, query_string, translate_message, try_tr};
use crate::AppState;

/// Paths served without a session: the middleware neither reads nor checks one for them.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/t/")
        || path.starts_with("/help/")
        || path.starts_with("/api/v1/public/brands/")
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t/{number}", get(page).post(submit))
        .route(
            "/t/{number}/files",
            // A photo may be large: `limit_body` caps it at the attachment limit.
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/t/{number}/files/{id}", get(file))
}

#[derive(Debug, Default, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    k: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    inline: Option<bool>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/public.html")]
pub struct PublicPage {
    pub c: Chrome,
    pub number: String,
    pub key: String,
    /// None: the link is wrong or was replaced by a newer one.
    pub v: Option<PublicTicketView>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Which form was refused (its text is kept).
    pub open: String,
    pub text: String,
    /// The attachment limit in MB, for the upload's hint.
    pub max_mb: u64,
}

impl PublicPage {
    pub fn lang_href(&self) -> String {
        format!(
            "/t/{}?{}",
            self.number,
            query_string(&[("k", &self.key), ("lang", self.c.other_lang())])
        )
    }

    /// Where the requester stands, in one sentence.
    pub fn stage(&self) -> String {
        let status = self.v.as_ref().map_or("", |v| v.status.as_str());
        let key = match status {
            "plan_signed" | "plan_returned" => "planned",
            "resolved" => "resolved",
            "confirmed" | "closed" => "done",
            "merged" | "cancelled" => "ended",
            // open, routed, accepted, in progress, waiting on the customer
            _ => "working",
        };
        self.c.t(&format!("public.stage.{key}"))
    }
}

/// The language: `?lang=` when it names one we have, else what the browser asks for.
fn lang_of(asked: Option<&str>, fallback: String) -> String {
    match asked {
        Some("en") => "en".into(),
        Some("zh-CN" | "zh") => "zh-CN".into(),
        _ => fallback,
    }
}

async fn render(
    s: &AppState,
    lang: &str,
    number: &str,
    key: &str,
    notice: Option<String>,
    error: Option<(String, String, String)>,
) -> (StatusCode, PublicPage) {
    let c = Chrome::anonymous(lang, &format!("/t/{number}"));
    let (v, status) = match tickets::public_view(&s.app, number, key).await {
        Ok(v) => (Some(v), StatusCode::OK),
        Err(Error::NotFound) => (None, StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, "status page failed");
            (None, StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let (open, text, error) = match error {
        Some((open, text, message)) => (open, text, Some(message)),
        None => (String::new(), String::new(), None),
    };
    (
        status,
        PublicPage {
            c,
            number: number.to_string(),
            key: key.to_string(),
            v,
            notice,
            error,
            open,
            text,
            max_mb: s.app.settings.max_attachment_bytes / (1024 * 1024),
        },
    )
}

pub async fn page(
    State(s): State<AppState>,
    ReqLang(browser): ReqLang,
    Path(number): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), browser);
    let key = q.k.unwrap_or_default();
    let notice = q
        .done
        .as_deref()
        .filter(|d| matches!(*d, "confirm" | "reopen" | "urge" | "message" | "file"))
        .and_then(|d| try_tr(&lang, &format!("public.done.{d}")));
    let (status, page) = render(&s, &lang, &number, &key, notice, None).await;
    with_headers(status, page)
}

/// Status pages are private to whoever holds the link: never cached, never indexed.
fn with_headers(status: StatusCode, page: PublicPage) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        ],
        page,
    )
        .into_response()
}

pub async fn submit(
    State(s): State<AppState>,
    ReqLang(browser): ReqLang,
    Path(number): Path<String>,
    form: FormData,
) -> Response {
    let lang = lang_of(form.opt("lang").as_deref(), browser);
    let key = form.raw("k").to_string();
    let what = form.raw("what").to_string();
    let text = form.raw("text").to_string();
    let r = match form.i64("version") {
        Some(version) => {
            tickets::public_act(
                &s.app,
                s.clock.now(),
                &number,
                &key,
                version,
                &what,
                Some(text.clone()).filter(|t| !t.trim().is_empty()),
            )
            .await
        }
        None => Err(Error::PreconditionRequired),
    };
    match r {
        Ok(()) => {
            let qs = query_string(&[("k", &key), ("lang", &lang), ("done", &what)]);
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/t/{number}?{qs}"))],
            )
                .into_response()
        }
        Err(e) => {
            let code = e.code();
            let message = match &e {
                Error::Validation { fields, .. } => fields
                    .values()
                    .next()
                    .map(|m| translate_message(&lang, m))
                    .map_or_else(
                        || try_tr(&lang, "errors.validation").unwrap_or_default(),
                        |m| {
                            format!(
                                "{} {m}",
                                try_tr(&lang, "public.text_label").unwrap_or_default()
                            )
                        },
                    ),
                _ => try_tr(&lang, &format!("public.errors.{code}"))
                    .or_else(|| try_tr(&lang, &format!("errors.{code}")))
                    .unwrap_or_else(|| code.to_string()),
            };
            let (_, page) =
                render(&s, &lang, &number, &key, None, Some((what, text, message))).await;
            let status = crate::error::status_of(code);
            with_headers(status, page)
        }
    }
}

/// The requester's message for a refusal, in their language.
fn public_message(lang: &str, e: &Error) -> String {
    let code = e.code();
    match e {
        Error::Validation { fields, .. } if fields.contains_key("file") => {
            try_tr(lang, "public.no_file").unwrap_or_default()
        }
        _ => try_tr(lang, &format!("public.errors.{code}"))
            .or_else(|| try_tr(lang, &format!("errors.{code}")))
            .unwrap_or_else(|| code.to_string()),
    }
}

/// A photo (or another file) from the requester: the link is checked before a byte is read.
pub async fn upload(
    State(s): State<AppState>,
    ReqLang(browser): ReqLang,
    Path(number): Path<String>,
    Query(q): Query<LinkQuery>,
    req: axum::extract::Request,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), browser);
    let key = q.k.unwrap_or_default();
    let r = async {
        app::attachments::public_check(&s.app, &number, &key).await?;
        let mp = axum::extract::Multipart::from_request(req, &s)
            .await
            .map_err(|e| Error::field("file", e.body_text()))?;
        let got = crate::upload::receive(&s.app, mp).await?;
        let (name, staged) = got.file.ok_or_else(|| Error::field("file", "required"))?;
        app::attachments::public_add(&s.app, s.clock.now(), &number, &key, &name, staged).await
    }
    .await;
    match r {
        Ok(_) => {
            let qs = query_string(&[("k", &key), ("lang", &lang), ("done", "file")]);
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, format!("/t/{number}?{qs}#files"))],
            )
                .into_response()
        }
        Err(e) => {
            let message = public_message(&lang, &e);
            let (status, page) = render(
                &s,
                &lang,
                &number,
                &key,
                None,
                Some(("file".into(), String::new(), message)),
            )
            .await;
            let status = if status == StatusCode::OK {
                crate::error::status_of(e.code())
            } else {
                status
            };
            with_headers(status, page)
        }
    }
}

/// A file of the ticket through the link (never one of an internal note).
pub async fn file(
    State(s): State<AppState>,
    Path((number, id)): Path<(String, i64)>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let key = q.k.unwrap_or_default();
    let r = match app::attachments::public_open(&s.app, &number, &key, id).await {
        Ok(d) => crate::upload::send(d, q.inline.unwrap_or(false)).await,
        Err(e) => Err(crate::error::ApiError::from(e)),
    };
    let mut r = r.into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}
