//! Full-text search over customers, devices, tickets and knowledge.

use app::search::{self, SearchInput, SearchPage};
use axum::Json;
use axum::extract::{Query, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// Finds records by their words, best match first: Chinese is segmented into words (漏水 finds
/// 冰箱漏水), English and numbers match from their start (kfr finds KFR-35GW), a phone number
/// or its last four digits find the customer. Only kinds the caller may read and records its
/// scope shows are searched. Highlights are segments `{text, hit}` of the title and of a
/// passage of the body. `cursor` pages through the first 1,000 hits.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchInput),
    responses((status = 200, body = SearchPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "empty or too long query, unknown kind, bad cursor", body = ErrorBody)))]
async fn search(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(input): Query<SearchInput>,
) -> Result<Json<SearchPage>, ApiError> {
    Ok(Json(search::search(&s.app, &api.ctx, input).await?))
}
