//! Who is calling. One middleware resolves a bearer token or the session cookie into a
//! `Principal` (stored in the request's extensions), picks the language, and enforces CSRF on
//! cookie-authenticated unsafe requests: an Origin that matches the host, and the session's
//! synchronizer token in `X-CSRF-Token` or the form field `_csrf`. Bearer requests are exempt.

use app::auth::Principal;
use app::{Ctx, IdemKey};
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::{AppState, MAX_BODY_BYTES};

pub const SESSION_COOKIE: &str = "kefu_session";
pub const LANG_COOKIE: &str = "kefu_lang";

/// The authenticated caller, if any, as resolved by `authenticate`.
#[derive(Clone)]
pub struct Authn {
    pub principal: Principal,
    /// The session's CSRF token (None for bearer tokens).
    pub csrf: Option<String>,
}

/// The request's language: "zh-CN" or "en".
#[derive(Clone, Debug)]
pub struct Lang(pub String);

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn pick_lang(headers: &HeaderMap, user: Option<&Principal>) -> String {
    if let Some(l) = cookie(headers, LANG_COOKIE).filter(|l| matches!(*l, "en" | "zh-CN")) {
        return l.to_string();
    }
    if let Some(p) = user {
        return p.user.locale.clone();
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim_start().starts_with("en") {
        "en".into()
    } else {
        "zh-CN".into()
    }
}

/// Machine-to-machine callbacks that carry their own signature (checked by their handler): no
/// session, bearer token or CSRF applies to them.
const SIGNED_CALLBACKS: &[&str] = &["/api/v1/telephony/events"];

pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if SIGNED_CALLBACKS.contains(&parts.uri.path()) {
        parts.extensions.insert(Lang("zh-CN".into()));
        return next.run(Request::from_parts(parts, body)).await;
    }
    let mut authn = None;
    // The requester's status pages stand on their signed link alone: no session is read, so
    // none is needed and a staff session in the same browser changes nothing.
    let public = crate::ui::is_public(parts.uri.path());
    if let Some(token) = bearer(&parts.headers).filter(|_| !public) {
        match app::auth::bearer(&state.app, &state.clock, token).await {
            Ok(Some(p)) => {
                authn = Some(Authn {
                    principal: p,
                    csrf: None,
                });
            }
            Ok(None) => {
                return ApiError::new("unauthenticated", "unknown or revoked API token")
                    .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|_| !public) {
        match app::auth::session(&state.app, &state.clock, token).await {
            Ok(Some((p, csrf))) => {
                authn = Some(Authn {
                    principal: p,
                    csrf: Some(csrf),
                });
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let lang = pick_lang(&parts.headers, authn.as_ref().map(|a| &a.principal));
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut body = body;
    if unsafe_method && bearer(&parts.headers).is_none() {
        if !origin_matches(&parts.headers) {
            return ApiError::new(
                "forbidden",
                "cross-site request refused (Origin does not match)",
            )
            .into_response();
        }
        if let Some(Authn {
            csrf: Some(expected),
            ..
        }) = &authn
        {
            let (ok, rebuilt) = csrf_ok(&parts.headers, body, expected).await;
            body = rebuilt;
            if !ok {
                // A browser page gets a page it can show; API clients get the JSON error.
                if wants_html(&parts.headers) {
                    let htmx = parts.headers.contains_key("hx-request");
                    return crate::ui::csrf_refused(&lang, htmx);
                }
                return ApiError::new("forbidden", "missing or wrong CSRF token; reload the page")
                    .into_response();
            }
        }
    }
    parts.extensions.insert(Lang(lang));
    if let Some(a) = authn {
        parts.extensions.insert(a);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// A request from one of our pages: a form post, an htmx request or a browser asking for HTML.
fn wants_html(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, what: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(what))
    };
    headers.contains_key("hx-request")
        || has(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        || has(header::ACCEPT, "text/html")
}

/// Browsers send Origin on cross-site posts; when present it must name this host.
fn origin_matches(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

async fn csrf_ok(headers: &HeaderMap, body: Body, expected: &str) -> (bool, Body) {
    if let Some(h) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return (constant_eq(h, expected), body);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = multipart_boundary(ct) {
        return multipart_csrf(body, &boundary, expected).await;
    }
    let is_form = ct.starts_with("application/x-www-form-urlencoded");
    if !is_form {
        return (false, body);
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (false, Body::empty());
    };
    let ok = form_field(&bytes, "_csrf").is_some_and(|v| constant_eq(&v, expected));
    (ok, Body::from(bytes))
}

fn multipart_boundary(ct: &str) -> Option<String> {
    let (kind, params) = ct.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// How much of a multipart body is read to find its first field.
const CSRF_PREFIX_MAX: usize = 16 * 1024;

/// A multipart form (an upload) carries `_csrf` as its FIRST field, as our forms place it: only
/// that much of the body is read here, and the body is handed on whole, still streaming.
async fn multipart_csrf(body: Body, boundary: &str, expected: &str) -> (bool, Body) {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut prefix: Vec<u8> = Vec::new();
    let mut verdict = None;
    while verdict.is_none() {
        match stream.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(_)) => return (false, Body::empty()),
            None => {
                verdict = Some(first_field_is(&prefix, boundary, expected).unwrap_or(false));
                break;
            }
        }
        verdict = first_field_is(&prefix, boundary, expected);
        if verdict.is_none() && prefix.len() > CSRF_PREFIX_MAX {
            verdict = Some(false);
        }
    }
    let head =
        futures::stream::once(async move { Ok::<_, axum::Error>(axum::body::Bytes::from(prefix)) });
    (
        verdict.unwrap_or(false),
        Body::from_stream(head.chain(stream)),
    )
}

/// Some(whether the first part is `_csrf` with the expected value), None while more bytes are
/// needed to tell.
fn first_field_is(buf: &[u8], boundary: &str, expected: &str) -> Option<bool> {
    let open = format!("--{boundary}\r\n");
    let start = find(buf, open.as_bytes())? + open.len();
    let rest = &buf[start..];
    let headers_end = find(rest, b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&rest[..headers_end]).to_ascii_lowercase();
    let named = headers.lines().any(|l| {
        l.starts_with("content-disposition:") && l.split(';').any(|p| p.trim() == "name=\"_csrf\"")
    });
    if !named {
        return Some(false);
    }
    let value_start = headers_end + 4;
    let close = format!("\r\n--{boundary}");
    let len = find(&rest[value_start..], close.as_bytes())?;
    let value = std::str::from_utf8(&rest[value_start..value_start + len]).ok()?;
    Some(constant_eq(value, expected))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn form_field(bytes: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// An API caller: a `Ctx` built from the authenticated principal. Missing credentials → 401.
pub struct ApiCtx {
    pub ctx: Ctx,
    pub principal: Principal,
}

impl FromRequestParts<AppState> for ApiCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authn = parts.extensions.get::<Authn>().cloned().ok_or_else(|| {
            ApiError::new(
                "unauthenticated",
                "send Authorization: Bearer <token> or sign in",
            )
        })?;
        let lang = parts
            .extensions
            .get::<Lang>()
            .map_or_else(|| "zh-CN".to_string(), |l| l.0.clone());
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ctx = authn.principal.ctx(state.clock.clone(), request_id, lang);
        Ok(Self {
            ctx,
            principal: authn.principal,
        })
    }
}

impl ApiCtx {
    /// The context with this request's Idempotency-Key (if it sent one) for a create on `route`.
    pub fn with_idem(
        &self,
        headers: &HeaderMap,
        route: &str,
        body_hash: &str,
    ) -> Result<Ctx, ApiError> {
        let key = match headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let k = v
                    .to_str()
                    .map_err(|_| {
                        ApiError::new("bad_request", "Idempotency-Key must be visible ASCII")
                    })?
                    .trim();
                if k.is_empty() || k.len() > 255 {
                    return Err(ApiError::new(
                        "bad_request",
                        "Idempotency-Key must be 1–255 characters",
                    ));
                }
                Some(IdemKey {
                    principal: self.principal.key(),
                    route: route.to_string(),
                    key: k.to_string(),
                    body_hash: body_hash.to_string(),
                })
            }
        };
        Ok(self.ctx.clone().with_idem(key))
    }
}
