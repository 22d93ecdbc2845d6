//! Use cases, one module per business area. Each public function takes the `App` (database,
//! reference data, settings) and a `Ctx` (who is acting, what they may do and see, the clock,
//! the request id, the language); it checks permissions, applies the rules, writes the change
//! and its audit row in one transaction, and returns domain values or views. Nothing here knows
//! about HTTP: `Error::code()` is the stable name the web layer maps to a status.

pub mod admin;
pub mod auth;
mod ctx;
pub mod demo;
mod error;
pub mod jobs;
pub mod ledger;
pub mod notify;
mod once;
pub mod secret;
pub mod surveys;
pub mod tickets;

use std::sync::Arc;

use chrono_tz::Tz;
use domain::address::Regions;
use store::Db;

pub use ctx::{Actor, Clock, Ctx, FixedClock, SystemClock};
pub use error::{Error, Result};
pub use once::Created;
pub use store::idempotency::IdemKey;

/// Settings that shape behaviour but are not data.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The organisation's time zone: business days, numbering and reminders follow it.
    pub tz: Tz,
    /// Idle time after which a browser session ends.
    pub session_idle_ms: i64,
    /// The key that signs outgoing webhooks (`KEFU_WEBHOOK_SECRET`); without it no webhook is
    /// sent (such messages fail, saying so).
    pub webhook_secret: Option<notify::Secret>,
    /// 阿里云短信 credentials and signature (`KEFU_SMS_ALIYUN_*`, `KEFU_SMS_SIGN_NAME`); without
    /// them SMS messages fail, saying so.
    pub sms_aliyun: Option<notify::AliyunSmsConfig>,
    /// WeChat app credentials for subscription messages (`KEFU_WECHAT_APPID`,
    /// `KEFU_WECHAT_SECRET`); without them WeChat messages fail, saying so.
    pub wechat: Option<notify::WechatConfig>,
    /// The SMTP server and sender (`KEFU_SMTP_URL`, `KEFU_MAIL_FROM`); without them email
    /// messages fail, saying so.
    pub email: Option<notify::EmailConfig>,
    /// Where 企业微信 bot keys are sent (`KEFU_WECOM_API_BASE`, default the public API).
    pub wecom_api_base: Option<String>,
    /// Approved SMS template codes per ticket milestone (`ticket.received`, `ticket.plan`,
    /// `ticket.replied`, `ticket.resolved`, `ticket.closed`), from
    /// `KEFU_SMS_TEMPLATE_TICKET_RECEIVED` etc.; a milestone without one sends no SMS.
    pub sms_templates: std::collections::BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tz: domain::time::DEFAULT_TZ,
            session_idle_ms: 12 * 3600 * 1000,
            webhook_secret: None,
            sms_aliyun: None,
            wechat: None,
            email: None,
            wecom_api_base: None,
            sms_templates: std::collections::BTreeMap::new(),
        }
    }
}

/// What every use case needs besides its `Ctx`.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub regions: Arc<Regions>,
    pub settings: Arc<Settings>,
    pub tokens: Arc<auth::TokenCache>,
    /// Reference data read once (see `ledger::note_categories`).
    pub note_categories: Arc<tokio::sync::OnceCell<Vec<domain::customer::NoteCategory>>>,
}

impl App {
    pub fn new(db: Db, regions: Arc<Regions>, settings: Settings) -> Self {
        Self {
            db,
            regions,
            settings: Arc::new(settings),
            tokens: Arc::default(),
            note_categories: Arc::default(),
        }
    }
}
