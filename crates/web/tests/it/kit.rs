//! A router over a fresh database with an administrator and an API token.

use std::sync::Arc;

use app::{App, Clock, Ctx, Settings, SystemClock};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use store::Db;
use tower::ServiceExt;
use web::AppState;

pub struct Kit {
    pub router: Router,
    pub token: String,
}

pub async fn kit(db: Db) -> Kit {
    let app = App::new(db, Arc::new(web::assets::regions()), Settings::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sys = Ctx::system("test", clock.clone());
    let admin = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
        .await
        .unwrap();
    let user = app::admin::user(&app, &sys, admin).await.unwrap();
    let ctx = app::auth::Principal::of_user(user, None).unwrap().ctx(
        clock.clone(),
        String::new(),
        "zh-CN".into(),
    );
    let (_, token) = app::auth::create_token(&app, &ctx, "tests", None)
        .await
        .unwrap();
    let router = web::router(AppState {
        app: app.clone(),
        clock,
        metrics: None,
        secure_cookies: false,
    });
    Kit { router, token }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Kit {
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        let mut has_auth = false;
        for (k, v) in headers {
            has_auth |= k.eq_ignore_ascii_case("authorization");
            req = req.header(*k, *v);
        }
        if !has_auth {
            req = req.header("authorization", format!("Bearer {}", self.token));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, &[], None).await
    }

    pub async fn post(&self, uri: &str, body: &str) -> Reply {
        self.call("POST", uri, &[], Some(body)).await
    }

    pub async fn count_customers(&self) -> usize {
        let r = self.get("/api/v1/customers?limit=200").await;
        r.body["items"].as_array().map_or(0, Vec::len)
    }
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}
