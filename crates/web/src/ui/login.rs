//! Signing in and out, and the language switch.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::chrome::{Chrome, FormData, ReqLang, error_message};
use crate::AppState;
use crate::auth::{Authn, LANG_COOKIE, SESSION_COOKIE, cookie};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub login: String,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path on this site: starts with one '/', not '//' nor '/\'.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/customers".to_string(),
    }
}

/// Whether the request came with a live browser session.
pub struct SignedIn(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<Authn>()
                .is_some_and(|a| a.csrf.is_some()),
        ))
    }
}

/// The sign-in form; someone already signed in goes straight on (posting this form with a
/// session would need the session's CSRF token).
pub async fn page(
    ReqLang(lang): ReqLang,
    SignedIn(signed_in): SignedIn,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if signed_in {
        return Redirect::to(&next).into_response();
    }
    LoginPage {
        c: Chrome::anonymous(&lang, "/login"),
        login: String::new(),
        next,
        error: None,
    }
    .into_response()
}

/// The peer address when the server was started with connect info ("unknown" otherwise). Proxy
/// headers are not trusted: anyone can send them.
pub struct PeerIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |ci| ci.0.ip().to_string()),
        ))
    }
}

pub fn session_cookie(state: &AppState, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/");
    if let Some(a) = max_age {
        c.push_str("; Max-Age=");
        c.push_str(&a.to_string());
    }
    if state.secure_cookies {
        c.push_str("; Secure");
    }
    c
}

pub async fn submit(
    State(s): State<AppState>,
    ReqLang(lang): ReqLang,
    PeerIp(ip): PeerIp,
    form: FormData,
) -> Response {
    let login = form.raw("login").trim().to_string();
    let next = safe_next(Some(form.raw("next")));
    match app::auth::login(&s.app, &s.clock, &login, form.raw("password"), &ip).await {
        Ok(session) => {
            let cookie = session_cookie(&s, &session.token, None);
            (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
            )
                .into_response()
        }
        Err(e) => {
            let c = Chrome::anonymous(&lang, "/login");
            let status = crate::error::status_of(e.code());
            let error = Some(error_message(&c, &e));
            (
                status,
                LoginPage {
                    c,
                    login,
                    next,
                    error,
                },
            )
                .into_response()
        }
    }
}

pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = app::auth::logout(&s.app, token).await
    {
        tracing::warn!(error = %e, "logout failed");
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_cookie(&s, "", Some(0))),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

/// Sets the language cookie and goes back where the user was.
pub async fn lang(
    State(s): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let code = if code == "en" { "en" } else { "zh-CN" };
    let mut c = format!("{LANG_COOKIE}={code}; SameSite=Lax; Path=/; Max-Age=31536000");
    if s.secure_cookies {
        c.push_str("; Secure");
    }
    let next = safe_next(q.next.as_deref());
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, c), (header::LOCATION, next)],
    )
        .into_response()
}

pub async fn root() -> Redirect {
    Redirect::to("/customers")
}
