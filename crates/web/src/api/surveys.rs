//! Follow-up surveys (回访): the questionnaires, sending one about a ticket, the invitations of a
//! subject, and answers an agent records on a call. Customers answer on the public page /s/{key}
//! (see ui/surveys.rs), not through this API.

use app::surveys::{
    self, AnswerOutcome, AnswersInput, InvitationListInput, InvitationPage, InviteInput,
    InvitedView, TemplateView,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::SurveyInvitationId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::customers::created;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(templates))
        .routes(routes!(list_invitations, invite))
        .routes(routes!(record_response))
}

#[utoipa::path(get, path = "/surveys/templates", tag = "surveys",
    responses((status = 200, body = Vec<TemplateView>), (status = 403, body = ErrorBody)))]
async fn templates(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    Ok(Json(surveys::templates(&s.app, &api.ctx).await?))
}

#[utoipa::path(post, path = "/surveys/invitations", tag = "surveys", request_body = InviteInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first invitation (without its link) and send nothing")),
    responses((status = 201, description = "The link to send (shown once: null on a replay); without a key, an earlier unanswered link about the same subject stops working", body = InvitedView),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn invite(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<InviteInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /surveys/invitations", &body.hash)?;
    let (v, replayed) = surveys::invite(&s.app, &ctx, body.value).await?;
    Ok(created(replayed, 1, v))
}

#[utoipa::path(get, path = "/surveys/invitations", tag = "surveys", params(InvitationListInput),
    responses((status = 200, body = InvitationPage), (status = 422, body = ErrorBody)))]
async fn list_invitations(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<InvitationListInput>,
) -> Result<Json<InvitationPage>, ApiError> {
    Ok(Json(surveys::list(&s.app, &api.ctx, q).await?))
}

#[utoipa::path(post, path = "/surveys/invitations/{id}/responses", tag = "surveys",
    params(("id" = i64, Path)), request_body = AnswersInput,
    responses((status = 201, description = "Recorded; a poor answer opened the follow-up ticket named here", body = AnswerOutcome),
        (status = 200, description = "A retry with the answers recorded already: what they made, recorded once (header Idempotent-Replayed: true)", body = AnswerOutcome),
        (status = 404, body = ErrorBody), (status = 409, description = "already answered with other answers, or the invitation expired", body = ErrorBody),
        (status = 422, description = "an answer does not fit its question (the field names it: answers.<key>)", body = ErrorBody)))]
async fn record_response(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    body: JsonBody<AnswersInput>,
) -> Result<Response, ApiError> {
    let out = surveys::record_on_call(&s.app, &api.ctx, SurveyInvitationId(id), body.value.answers)
        .await?;
    if out.replayed {
        return Ok((StatusCode::OK, [("idempotent-replayed", "true")], Json(out)).into_response());
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}
