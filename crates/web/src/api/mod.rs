//! The JSON API under /api/v1. Every handler parses its input, calls one `app` use case and
//! renders the result; errors become `ApiError`s with stable codes.

mod admin;
mod attachments;
mod customers;
mod hotline;
mod mail;
mod notify;
mod public;
mod search;
mod sla;
mod surveys;
mod tickets;

use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

pub(crate) use mail::INBOUND_PATH;

#[derive(OpenApi)]
#[openapi(
    info(title = "kefu API", version = "1", description = "Customer and field service. Authenticate with `Authorization: Bearer <token>` (create tokens on the Tokens page or with `kefu token create`). Creates accept `Idempotency-Key` (not `POST /tokens`: its secret is shown once, a replay could not show it); updates need `If-Match: \"<version>\"`. Errors: `{\"error\":{\"code\",\"message\",\"fields\"}}`."),
    modifiers(&Bearer),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(
        "/api/v1",
        customers::router()
            .merge(admin::router())
            .merge(tickets::router())
            .merge(attachments::router())
            .merge(tickets::public_router())
            .merge(public::router())
            .merge(search::router())
            .merge(sla::router())
            .merge(hotline::router())
            .merge(mail::router())
            .merge(surveys::router())
            .merge(notify::router()),
    )
}

/// Swagger UI (vendored) and the document it reads.
pub fn docs(openapi: &utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::from(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi.clone()))
}

/// A page of items and the cursor of the next page (absent on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Paged<T> {
    pub fn of(page: store::Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next.map(|c| c.encode()),
        }
    }
}
