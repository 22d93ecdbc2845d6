//! Static files embedded in the binary: our own (assets/static) and the vendored front-end
//! packages (assets/vendor, installed by scripts/assets). Served with long cache lifetimes.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;

use crate::AppState;

#[derive(Embed)]
#[folder = "assets/static"]
struct Static;

#[derive(Embed)]
#[folder = "assets/vendor"]
#[exclude = "china-division/*"]
#[exclude = "LICENSES.txt"]
struct Vendor;

/// The division data the address pickers and the region registry use.
#[derive(Embed)]
#[folder = "assets/vendor/china-division"]
pub struct Divisions;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/{*path}", get(serve))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn serve(Path(path): Path<String>) -> Response {
    let file = match path.strip_prefix("vendor/") {
        Some(p) => Vendor::get(p),
        None => Static::get(&path),
    };
    match file {
        Some(f) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
                ],
                f.data,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The region registry built from the embedded division data.
pub fn regions() -> domain::address::Regions {
    let read = |f: &str| {
        Divisions::get(f)
            .map(|d| String::from_utf8_lossy(&d.data).into_owned())
            .unwrap_or_default()
    };
    domain::address::Regions::from_china_division(
        &read("provinces.json"),
        &read("cities.json"),
        &read("areas.json"),
        &read("streets.json"),
    )
    .expect("the embedded division data parses")
}
