//! The search page behind the search box of every page: hits of every kind the user may read,
//! labelled by kind, with the matched words marked, filtered by kind and status.

use app::Error;
use app::search::{self, SearchHit, SearchInput, Segment};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::chrome::{Chrome, PageCtx, PageError, error_message, query_string};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/search", get(page))
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// A hit as the page shows it.
pub struct Hit {
    pub kind: String,
    pub href: String,
    pub title: Vec<Segment>,
    pub snippet: Vec<Segment>,
    pub status: Option<String>,
    pub updated: String,
}

impl Hit {
    fn of(h: SearchHit, settings: &app::Settings) -> Self {
        let href = match h.kind.as_str() {
            "customer" => format!("/customers/{}", h.id),
            "device" => format!("/devices/{}", h.id),
            "ticket" => format!("/tickets/{}", h.id),
            _ => format!("/knowledge/{}", h.id),
        };
        Self {
            href,
            updated: h.updated_at.date_in(settings.tz).to_string(),
            kind: h.kind,
            title: h.title,
            snippet: h.snippet,
            status: h.status,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPageView {
    pub c: Chrome,
    pub q: String,
    pub kind: String,
    pub status: String,
    pub kinds: Vec<&'static str>,
    pub hits: Vec<Hit>,
    pub searched: bool,
    /// More matched than were ranked: the page says only the newest were.
    pub capped: bool,
    pub error: Option<String>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
}

pub async fn page(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let clean = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let (text, kind, status) = (clean(&q.q), clean(&q.kind), clean(&q.status));
    let cursor = clean(&q.cursor);
    let mut view = SearchPageView {
        c: pc.c.clone(),
        q: text.clone(),
        kind: kind.clone(),
        status: status.clone(),
        kinds: search::DocKind::ALL.iter().map(|k| k.as_str()).collect(),
        hits: Vec::new(),
        searched: false,
        capped: false,
        error: None,
        next_href: None,
        first_href: None,
    };
    view.c.q.clone_from(&text);
    if text.is_empty() {
        return Ok(view.into_response());
    }
    let input = SearchInput {
        q: Some(text.clone()),
        kind: Some(kind.clone()).filter(|x| !x.is_empty()),
        status: Some(status.clone()).filter(|x| !x.is_empty()),
        cursor: Some(cursor.clone()).filter(|x| !x.is_empty()),
        ..SearchInput::default()
    };
    match search::search(&s.app, &pc.ctx, input).await {
        Ok(page) => {
            let base = [
                ("q", text.as_str()),
                ("kind", kind.as_str()),
                ("status", status.as_str()),
            ];
            view.next_href = page.next.map(|cur| {
                let mut pairs = base.to_vec();
                pairs.push(("cursor", cur.as_str()));
                format!("/search?{}", query_string(&pairs))
            });
            view.first_href =
                (!cursor.is_empty()).then(|| format!("/search?{}", query_string(&base)));
            let settings = &s.app.settings;
            view.hits = page
                .items
                .into_iter()
                .map(|h| Hit::of(h, settings))
                .collect();
            view.searched = true;
            view.capped = page.capped;
        }
        // A query too long or a bad filter: said on the page, next to the form.
        Err(e @ Error::Validation { .. }) => view.error = Some(error_message(&view.c, &e)),
        Err(e) => return Err(pc.fail(e)),
    }
    Ok(view.into_response())
}
