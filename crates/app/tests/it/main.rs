//! Use-case tests of the `app` crate. Every test runs on SQLite and on PostgreSQL
//! (`testkit::each_backend`) and asserts what a user of the system would see: the customer page,
//! the timeline, the error code and the fields it names, the audit log.

mod access;
mod attachments;
mod auth;
mod idempotency;
mod jobs;
mod ledger;
mod merge;
mod notify;
mod search;
mod sla;
mod story;
mod subscriptions;
mod surveys;
mod tickets;
mod timeline;
mod validation;

use std::sync::Arc;

use app::admin::{self, UnitInput, UserInput};
use app::auth::Principal;
use app::ledger::{AddressInput, ContactInput, CustomerInput, CustomerView};
use app::{App, Clock, Ctx, Error, FixedClock, Settings};
use domain::{BrandId, CustomerId, OrgUnitId, Scope, Timestamp};
use store::audit::{AuditQuery, AuditRow};
use store::{Db, customers};
use testkit::Which;

/// 2026-11-23 09:00 in Shanghai: a Monday morning at the service desk.
pub const MONDAY_9AM: Timestamp = Timestamp(1_795_395_600_000);
pub const PASSWORD: &str = "correct horse battery";

/// One backend's app, a clock the test moves, and the system acting for setup.
pub struct World {
    pub app: App,
    pub clock: Arc<FixedClock>,
    pub sys: Ctx,
    pub which: Which,
}

impl World {
    pub fn new(db: Db, which: Which) -> Self {
        let app = App::new(db, Arc::new(testkit::regions()), Settings::default());
        let clock = Arc::new(FixedClock::at(MONDAY_9AM));
        let sys = Ctx::system("test", clock.clone());
        Self {
            app,
            clock,
            sys,
            which,
        }
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Creates a user with these roles (and links), signs in with the password and returns the
    /// context its requests run in.
    pub async fn user(&self, login: &str, roles: &[&str]) -> Ctx {
        self.user_linked(login, roles, None, None).await
    }

    pub async fn user_linked(
        &self,
        login: &str,
        roles: &[&str],
        brand: Option<BrandId>,
        dealer: Option<CustomerId>,
    ) -> Ctx {
        self.create_user(login, roles, brand, dealer).await;
        self.sign_in(login).await
    }

    pub async fn create_user(
        &self,
        login: &str,
        roles: &[&str],
        brand: Option<BrandId>,
        dealer: Option<CustomerId>,
    ) -> domain::UserId {
        admin::create_user(
            &self.app,
            &self.sys,
            UserInput {
                login: login.into(),
                display_name: format!("{login} 的名字"),
                roles: roles.iter().map(|r| (*r).to_string()).collect(),
                brand_id: brand.map(|b| b.0),
                dealer_id: dealer.map(|d| d.0),
                password: Some(PASSWORD.into()),
                active: true,
                ..UserInput::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{:?}: create user {login}: {e}", self.which))
    }

    pub async fn sign_in(&self, login: &str) -> Ctx {
        let s = app::auth::login(&self.app, &self.clock(), login, PASSWORD, "10.0.0.1")
            .await
            .unwrap_or_else(|e| panic!("{:?}: login {login}: {e}", self.which));
        Principal::of_user(s.user, None).expect("principal").ctx(
            self.clock(),
            "req-1".into(),
            "zh-CN".into(),
        )
    }

    /// Creates a customer as `ctx`, panicking with the error on failure.
    pub async fn customer(&self, ctx: &Ctx, input: CustomerInput) -> CustomerId {
        app::ledger::create_customer(&self.app, ctx, input)
            .await
            .unwrap_or_else(|e| panic!("{:?}: create customer: {e}", self.which))
            .id
    }

    /// An active department whose function is `function` (service, quality, logistics …).
    pub async fn department(&self, code: &str, name: &str, function: &str) -> OrgUnitId {
        admin::create_unit(
            &self.app,
            &self.sys,
            UnitInput {
                parent_id: None,
                kind: "department".into(),
                function: Some(function.into()),
                code: code.into(),
                name: name.into(),
                city_code: None,
                active: true,
            },
        )
        .await
        .expect("department")
    }

    pub async fn brand(&self, code: &str, name: &str) -> BrandId {
        admin::create_brand(&self.app, &self.sys, code, name, "standard")
            .await
            .expect("create brand")
    }

    /// Active customers in the whole database, whoever may see them.
    pub async fn count_customers(&self) -> i64 {
        self.app
            .db
            .read(|c| Box::pin(async move { customers::count(c, &Scope::All).await }))
            .await
            .expect("count customers")
    }

    /// Audit rows about one entity, newest first.
    pub async fn audit(&self, entity: &str, entity_id: Option<i64>) -> Vec<AuditRow> {
        admin::audit_log(
            &self.app,
            &self.sys,
            AuditQuery {
                entity: Some(entity.into()),
                entity_id,
                limit: 200,
                ..AuditQuery::default()
            },
        )
        .await
        .expect("audit log")
        .items
    }

    pub async fn view(&self, ctx: &Ctx, id: CustomerId) -> CustomerView {
        app::ledger::get_customer(&self.app, ctx, id)
            .await
            .unwrap_or_else(|e| panic!("{:?}: get customer {id:?}: {e}", self.which))
    }
}

/// An individual customer with a name and a phone.
pub fn individual(name: &str, phone: &str) -> CustomerInput {
    CustomerInput {
        kind: "individual".into(),
        name: name.into(),
        phone: Some(phone.into()),
        ..CustomerInput::default()
    }
}

/// 浙江省杭州市西湖区西溪街道 and a street detail.
pub fn xihu(detail: &str) -> AddressInput {
    AddressInput {
        label: Some("家".into()),
        province_code: "330000".into(),
        city_code: "330100".into(),
        district_code: Some("330106".into()),
        street_code: Some("330106004".into()),
        detail: detail.into(),
        ..AddressInput::default()
    }
}

pub fn contact(name: &str, phone: &str) -> ContactInput {
    ContactInput {
        name: name.into(),
        phone: Some(phone.into()),
        ..ContactInput::default()
    }
}

/// The code of an error, or "ok".
pub fn code<T>(r: &Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// The fields a validation error names (empty for any other outcome).
pub fn fields<T>(r: &Result<T, Error>) -> Vec<String> {
    match r {
        Err(Error::Validation { fields, .. }) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}
