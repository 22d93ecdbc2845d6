//! The public request form `/help/{brand_code}` (SPEC D1, channel `web_form`): no sign-in, no
//! JavaScript, made for a phone (WeChat's in-app browser included); zh-CN unless `?lang=en`.
//! The page carries a signed token (`app::webform`) that is also the submission's idempotency
//! key: a refresh or a double click shows the same confirmation. Refusals keep what was typed;
//! the confirmation names the ticket and gives the signed status link.

use app::Error;
use app::webform::{self, KINDS, PublicBrand, Submitted, Via, WebFormInput};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::chrome::{Chrome, FormData, FormState, ReqLang, query_string};
use crate::AppState;

/// The honeypot: a field people never see or fill.
pub const HONEYPOT: &str = "website";

pub fn router() -> Router<AppState> {
    Router::new().route("/help/{code}", get(page).post(submit))
}

#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    #[serde(default)]
    lang: Option<String>,
}

/// The language: `?lang=` (or the form's hidden field) when it names one we have, else what the
/// browser asks for.
fn lang_of(asked: Option<&str>, fallback: String) -> String {
    match asked {
        Some("en") => "en".into(),
        Some("zh-CN" | "zh") => "zh-CN".into(),
        _ => fallback,
    }
}

/// The address a submission came from, for the rate limit. Forwarding headers are believed only
/// from a proxy on this machine (the documented set-up behind nginx or Caddy), and then only the
/// last entry — the address that proxy saw; anyone else could write them.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ci| ci.0.ip());
        Ok(Self(client_ip(peer, &parts.headers)))
    }
}

fn client_ip(peer: Option<std::net::IpAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    if peer.is_loopback()
        && let Some(last) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        return last.to_string();
    }
    peer.to_string()
}

/// One choice of the request kind.
pub struct KindChoice {
    pub value: &'static str,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "help/form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub brand: String,
    pub code: String,
    pub token: String,
    pub kinds: Vec<KindChoice>,
    pub f: FormState,
    pub max_description: usize,
}

impl FormPage {
    pub fn action(&self) -> String {
        format!(
            "/help/{}?{}",
            self.code,
            query_string(&[("lang", &self.c.lang)])
        )
    }
    pub fn lang_href(&self) -> String {
        format!(
            "/help/{}?{}",
            self.code,
            query_string(&[("lang", self.c.other_lang())])
        )
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "help/done.html")]
pub struct DonePage {
    pub c: Chrome,
    pub brand: String,
    pub code: String,
    pub s: Submitted,
}

impl DonePage {
    pub fn again_href(&self) -> String {
        format!(
            "/help/{}?{}",
            self.code,
            query_string(&[("lang", &self.c.lang)])
        )
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "help/message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub title: String,
    pub message: String,
    /// Back to the form (absent when the brand is unknown).
    pub back: Option<String>,
}

/// Pages of the form are never cached (they carry a token) nor indexed.
fn private(status: StatusCode, page: impl IntoResponse) -> Response {
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

fn message(lang: &str, code: Option<&str>, e: &Error) -> Response {
    let c = Chrome::anonymous(lang, "/help");
    let status = crate::error::status_of(e.code());
    if status.is_server_error() {
        tracing::error!(code = e.code(), error = %e, "web form failed");
    }
    let (title, text) = match e {
        Error::NotFound => (c.t("webform.missing_title"), c.t("webform.missing")),
        other => (
            c.t("errors.title_other"),
            c.t(&format!("errors.{}", other.code())),
        ),
    };
    let back = code
        .filter(|_| !matches!(e, Error::NotFound))
        .map(|code| format!("/help/{code}?{}", query_string(&[("lang", lang)])));
    private(
        status,
        MessagePage {
            c,
            title,
            message: text,
            back,
        },
    )
}

async fn form_page(
    s: &AppState,
    lang: &str,
    brand: &PublicBrand,
    f: FormState,
) -> Result<FormPage, Error> {
    let token = webform::new_token(&s.app, brand, s.clock.now()).await?;
    let c = Chrome::anonymous(lang, &format!("/help/{}", brand.code));
    let kinds = KINDS
        .iter()
        .map(|k| KindChoice {
            value: k,
            label: c.tk("ticket.kind", k),
        })
        .collect();
    Ok(FormPage {
        brand: brand.name.clone(),
        code: brand.code.clone(),
        token,
        kinds,
        f,
        max_description: webform::DESCRIPTION_MAX,
        c,
    })
}

pub async fn page(
    State(s): State<AppState>,
    ReqLang(browser): ReqLang,
    Path(code): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), browser);
    let brand = match webform::brand(&s.app, &code).await {
        Ok(b) => b,
        Err(e) => return message(&lang, None, &e),
    };
    match form_page(&s, &lang, &brand, FormState::default()).await {
        Ok(p) => private(StatusCode::OK, p),
        Err(e) => message(&lang, Some(&brand.code), &e),
    }
}

fn input_of(form: &FormData) -> WebFormInput {
    WebFormInput {
        name: form.raw("name").to_string(),
        phone: form.raw("phone").to_string(),
        kind: form.raw("kind").to_string(),
        product: form.opt("product"),
        address: form.opt("address"),
        description: form.raw("description").to_string(),
    }
}

pub async fn submit(
    State(s): State<AppState>,
    ReqLang(browser): ReqLang,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
    Query(query): Query<LangQuery>,
    form: FormData,
) -> Response {
    let lang = lang_of(
        form.opt("lang").as_deref().or(query.lang.as_deref()),
        browser,
    );
    let via = Via::Form {
        token: form.raw("token").to_string(),
        honeypot: form.raw(HONEYPOT).to_string(),
    };
    let out = webform::submit(&s.app, s.clock.clone(), &code, &ip, input_of(&form), via).await;
    let err = match out {
        Ok(done) => {
            let brand = webform::brand(&s.app, &code)
                .await
                .map_or_else(|_| code.clone(), |b| b.name);
            let c = Chrome::anonymous(&lang, &format!("/help/{code}"));
            return private(
                StatusCode::OK,
                DonePage {
                    c,
                    brand,
                    code,
                    s: done,
                },
            );
        }
        Err(err) => err,
    };
    // What can be put right on the form is shown on it again, with what was typed and a fresh
    // token; everything else gets a page of its own.
    let status = crate::error::status_of(err.code());
    let chrome = Chrome::anonymous(&lang, &format!("/help/{code}"));
    let mut typed = FormState::from_form(&form);
    typed.set("token", "");
    typed.set(HONEYPOT, "");
    match err {
        Error::Validation { .. } => {
            if let Err(other) = typed.absorb(&chrome, err, &[]) {
                return message(&lang, Some(&code), &other);
            }
        }
        Error::FormTokenExpired | Error::FormTokenInvalid | Error::IdempotencyKeyReused => {
            typed.message = Some(chrome.t(&format!("errors.{}", err.code())));
        }
        other => return message(&lang, Some(&code), &other),
    }
    let brand = match webform::brand(&s.app, &code).await {
        Ok(b) => b,
        Err(e) => return message(&lang, None, &e),
    };
    match form_page(&s, &lang, &brand, typed).await {
        Ok(p) => private(status, p),
        Err(e) => message(&lang, Some(&brand.code), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_headers_count_only_from_a_local_proxy() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.0.0.9, 203.0.113.7".parse().unwrap());
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let remote: std::net::IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(client_ip(Some(local), &h), "203.0.113.7");
        assert_eq!(client_ip(Some(remote), &h), "198.51.100.4");
        assert_eq!(client_ip(None, &h), "unknown");
        assert_eq!(client_ip(Some(local), &HeaderMap::new()), "127.0.0.1");
    }
}
