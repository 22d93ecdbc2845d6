//! Follow-up surveys (回访) in the browser: the customer's public page /s/{key} (no sign-in,
//! mobile-first, a plain form that needs no script — it must work in WeChat's in-app browser;
//! zh-CN unless `?lang=en`), and the desk's pages: the invitations waiting for an answer and the
//! page on which an agent records what the customer said on the phone.

use std::collections::BTreeMap;

use app::Error;
use app::surveys::{self, InvitationListInput, InvitationView, TemplateView};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use domain::SurveyInvitationId;
use domain::survey::QuestionType;
use serde::Deserialize;

use super::chrome::{Chrome, FormData, FormState, OrPage, PageCtx, PageError, query_string};
use crate::AppState;
use crate::auth::Authn;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/s/{key}", get(public_page).post(public_submit))
        .route("/surveys", get(pending))
        .route("/surveys/{id}", get(record_page).post(record_submit))
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

// ---------------------------------------------------------------- the questionnaire as a form

/// One option of a radio group.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// One question as the form shows it.
#[derive(Debug, Clone)]
pub struct Field {
    /// The form field's name: `answers.<key>`.
    pub name: String,
    pub text: String,
    /// rating | choice | `yes_no` | text
    pub kind: &'static str,
    pub required: bool,
    pub choices: Vec<Choice>,
    pub value: String,
    pub error: Option<String>,
}

fn fields_of(c: &Chrome, t: &TemplateView, f: &FormState) -> Vec<Field> {
    let en = c.lang == "en";
    t.questions
        .iter()
        .map(|q| {
            let name = format!("answers.{}", q.key);
            let kind = QuestionType::parse(&q.kind).unwrap_or(QuestionType::Text);
            let choices = match kind {
                QuestionType::Rating => (domain::survey::RATING_MIN..=domain::survey::RATING_MAX)
                    .map(|n| Choice {
                        value: n.to_string(),
                        label: n.to_string(),
                    })
                    .collect(),
                QuestionType::YesNo => vec![
                    Choice {
                        value: "yes".into(),
                        label: c.t("survey.yes"),
                    },
                    Choice {
                        value: "no".into(),
                        label: c.t("survey.no"),
                    },
                ],
                QuestionType::Choice => q
                    .options
                    .iter()
                    .map(|o| Choice {
                        value: o.key.clone(),
                        label: if en {
                            o.text_en.clone()
                        } else {
                            o.text_zh.clone()
                        },
                    })
                    .collect(),
                QuestionType::Text => Vec::new(),
            };
            Field {
                value: f.v(&name).to_string(),
                error: f.err(&name).map(str::to_string),
                name,
                text: if en {
                    q.text_en.clone()
                } else {
                    q.text_zh.clone()
                },
                kind: kind.as_str(),
                required: q.required,
                choices,
            }
        })
        .collect()
}

/// The answers a form sent: `answers.<key>` fields, as strings (the domain parses them).
fn answers_of(form: &FormData) -> BTreeMap<String, serde_json::Value> {
    form.0
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("answers.")
                .map(|key| (key.to_string(), serde_json::Value::String(v.clone())))
        })
        .collect()
}

// ---------------------------------------------------------------- the customer's page

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    lang: Option<String>,
}

fn public_lang(q: &LangQuery) -> &'static str {
    match q.lang.as_deref() {
        Some("en") => "en",
        _ => "zh-CN",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "surveys/public.html")]
pub struct PublicPage {
    pub c: Chrome,
    pub title: String,
    pub subject_label: String,
    pub fields: Vec<Field>,
    pub message: Option<String>,
    pub action: String,
    pub switch_href: String,
    /// The session's CSRF token when someone signed in opens the link in the same browser.
    pub csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "surveys/thanks.html")]
pub struct ThanksPage {
    pub c: Chrome,
    pub title: String,
    pub message: String,
    pub switch_href: String,
}

fn switch_href(key: &str, lang: &str) -> String {
    let other = if lang == "en" { "zh-CN" } else { "en" };
    format!("/s/{key}?lang={other}")
}

/// What a stranger sees for a link that does not work: no hint whether it ever existed.
fn public_error(lang: &str, key: &str, e: &Error) -> Response {
    let c = Chrome::anonymous(lang, "/s");
    let (status, title, message) = match e {
        Error::NotFound => (
            StatusCode::NOT_FOUND,
            c.t("survey.invalid_title"),
            c.t("survey.invalid"),
        ),
        other => (
            crate::error::status_of(other.code()),
            c.t("errors.title_other"),
            super::chrome::error_message(&c, other),
        ),
    };
    if status.is_server_error() {
        tracing::error!(code = e.code(), error = %e, "survey page failed");
    }
    let page = ThanksPage {
        switch_href: switch_href(key, lang),
        c,
        title,
        message,
    };
    (status, page).into_response()
}

fn public_form_page(
    lang: &str,
    key: &str,
    survey: &surveys::PublicSurvey,
    f: &FormState,
    csrf: String,
) -> PublicPage {
    let c = Chrome::anonymous(lang, "/s");
    let view = surveys::template_view(&survey.template);
    PublicPage {
        title: survey.template.name(lang).to_string(),
        subject_label: survey.subject_label.clone(),
        fields: fields_of(&c, &view, f),
        message: f.message.clone(),
        action: format!("/s/{key}?{}", query_string(&[("lang", lang)])),
        switch_href: switch_href(key, lang),
        csrf,
        c,
    }
}

fn thanks(lang: &str, key: &str, title: &str, status: StatusCode, msg_key: &str) -> Response {
    let c = Chrome::anonymous(lang, "/s");
    let page = ThanksPage {
        title: title.to_string(),
        message: c.t(msg_key),
        switch_href: switch_href(key, lang),
        c,
    };
    (status, page).into_response()
}

fn csrf_of(authn: Option<&Extension<Authn>>) -> String {
    authn.and_then(|a| a.csrf.clone()).unwrap_or_default()
}

pub async fn public_page(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<LangQuery>,
    authn: Option<Extension<Authn>>,
) -> Response {
    let lang = public_lang(&q);
    match surveys::public_form(&s.app, s.clock.now(), &key).await {
        Ok(survey) if survey.answered => thanks(
            lang,
            &key,
            survey.template.name(lang),
            StatusCode::OK,
            "survey.thanks",
        ),
        Ok(survey) => public_form_page(
            lang,
            &key,
            &survey,
            &FormState::default(),
            csrf_of(authn.as_ref()),
        )
        .into_response(),
        Err(e) => public_error(lang, &key, &e),
    }
}

pub async fn public_submit(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<LangQuery>,
    authn: Option<Extension<Authn>>,
    form: FormData,
) -> Response {
    let lang = public_lang(&q);
    let now = s.clock.now();
    match surveys::answer_by_link(&s.app, now, &key, answers_of(&form)).await {
        Ok(_) => see_other(&format!("/s/{key}?{}", query_string(&[("lang", lang)]))),
        Err(Error::Conflict(m)) if m == surveys::ALREADY_ANSWERED => {
            let title = Chrome::anonymous(lang, "/s").t("survey.title");
            thanks(lang, &key, &title, StatusCode::CONFLICT, "survey.already")
        }
        Err(e @ Error::Validation { .. }) => {
            let survey = match surveys::public_form(&s.app, now, &key).await {
                Ok(x) => x,
                Err(e) => return public_error(lang, &key, &e),
            };
            let chrome = Chrome::anonymous(lang, "/s");
            let mut state = FormState::from_form(&form);
            if let Err(other) = state.absorb(&chrome, e, &[]) {
                return public_error(lang, &key, &other);
            }
            let page = public_form_page(lang, &key, &survey, &state, csrf_of(authn.as_ref()));
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        Err(e) => public_error(lang, &key, &e),
    }
}

// ---------------------------------------------------------------- the desk's pages

#[derive(Template, WebTemplate)]
#[template(path = "surveys/pending.html")]
pub struct PendingPage {
    pub c: Chrome,
    pub rows: Vec<InvitationView>,
    pub next_href: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PendingQuery {
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn pending(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<PendingQuery>,
) -> Result<Response, PageError> {
    let page = surveys::list(
        &s.app,
        &pc.ctx,
        InvitationListInput {
            pending: Some(true),
            cursor: q.cursor.filter(|c| !c.is_empty()),
            ..InvitationListInput::default()
        },
    )
    .await
    .page(&pc)?;
    Ok(PendingPage {
        next_href: page
            .next_cursor
            .map(|cur| format!("/surveys?{}", query_string(&[("cursor", &cur)]))),
        rows: page.items,
        c: pc.c,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "surveys/record.html")]
pub struct RecordPage {
    pub c: Chrome,
    pub inv: InvitationView,
    pub title: String,
    pub fields: Vec<Field>,
    pub message: Option<String>,
    pub open: bool,
}

fn record_page_of(pc: PageCtx, inv: InvitationView, t: &TemplateView, f: &FormState) -> RecordPage {
    let title = if pc.c.lang == "en" {
        t.name_en.clone()
    } else {
        t.name.clone()
    };
    RecordPage {
        fields: fields_of(&pc.c, t, f),
        message: f.message.clone(),
        open: inv.status == "sent",
        title,
        inv,
        c: pc.c,
    }
}

pub async fn record_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let (inv, t) = surveys::get(&s.app, &pc.ctx, SurveyInvitationId(id))
        .await
        .page(&pc)?;
    Ok(record_page_of(pc, inv, &t, &FormState::default()).into_response())
}

pub async fn record_submit(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let id = SurveyInvitationId(id);
    match surveys::record_on_call(&s.app, &pc.ctx, id, answers_of(&form)).await {
        Ok(out) => {
            let flash = if out.poor {
                "survey_follow_up"
            } else {
                "survey_recorded"
            };
            Ok(see_other(&format!("/surveys/{}?flash={flash}", id.0)))
        }
        Err(e) => {
            let mut f = FormState::from_form(&form);
            let status = crate::error::status_of(e.code());
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let (inv, t) = surveys::get(&s.app, &pc.ctx, id).await.page(&pc)?;
            Ok((status, record_page_of(pc, inv, &t, &f)).into_response())
        }
    }
}
