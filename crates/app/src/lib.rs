//! Use cases, one module per business area. Each public function takes the `App` (database,
//! reference data, settings) and a `Ctx` (who is acting, what they may do and see, the clock,
//! the request id, the language); it checks permissions, applies the rules, writes the change
//! and its audit row in one transaction, and returns domain values or views. Nothing here knows
//! about HTTP: `Error::code()` is the stable name the web layer maps to a status.

pub mod admin;
pub mod aliyun;
pub mod attachments;
pub mod auth;
mod ctx;
pub mod demo;
pub mod demo_desk;
pub mod demo_story;
pub mod desk_pickers;
mod error;
pub mod hotline;
pub mod jobs;
pub mod ledger;
pub mod mail;
pub mod notify;
mod once;
pub mod search;
pub mod secret;
pub mod sla;
pub mod surveys;
pub mod telephony;
pub mod tickets;
pub mod webform;

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
    /// `KEFU_SMS_TEMPLATE_TICKET_RECEIVED` etc., and for a survey sent by an agent
    /// (`survey.invite`, `KEFU_SMS_TEMPLATE_SURVEY_INVITE`); a message without one sends no SMS.
    pub sms_templates: std::collections::BTreeMap<String, String>,
    /// WeChat subscription-message template ids per ticket milestone (same keys as
    /// `sms_templates`), from `KEFU_WECHAT_TEMPLATE_TICKET_RECEIVED` etc.; a milestone without one
    /// sends no WeChat message.
    pub wechat_templates: std::collections::BTreeMap<String, String>,
    /// Which data key of those templates holds the number, status, time and detail
    /// (`KEFU_WECHAT_FIELDS`).
    pub wechat_fields: notify::WechatFields,
    /// An address that also receives SLA warnings and breach escalations
    /// (`KEFU_SLA_ALERT_EMAIL`), besides the supervisors' own emails.
    pub sla_alert_email: Option<String>,
    /// The shared secret telephony callbacks are signed with (`KEFU_TELEPHONY_SECRET`); without
    /// it the callback endpoint answers 503 `telephony_disabled`.
    pub telephony_secret: Option<notify::Secret>,
    /// The hotline's opening hours, every day in `tz` (`KEFU_HOTLINE_HOURS`, default 08:00-21:00).
    pub hotline_hours: domain::calendar::Opening,
    /// Attempts after which an unanswered return call is given up (`KEFU_RETURN_CALL_ATTEMPTS`,
    /// default 3).
    pub return_call_attempts: i64,
    /// The landline bound for outbound calls (`KEFU_HOTLINE_LANDLINE`): what customers see on a
    /// click-to-call call — never the 400 number.
    pub hotline_landline: Option<domain::Phone>,
    /// The time within which a call counts as answered promptly — three rings (Bell: 接电话不超过
    /// 三响) — in seconds (`KEFU_HOTLINE_ANSWER_TARGET_SECS`, default 15).
    pub hotline_answer_target_secs: i64,
    /// 阿里云语音服务 credentials for click-to-call (`KEFU_VOICE_ALIYUN_*`); without them the
    /// dial button says click-to-call is not configured.
    pub voice_aliyun: Option<telephony::AliyunVoiceConfig>,
    /// The data folder's `files/` (`--data-dir`), where attachments are kept under their
    /// SHA-256 — on local disk also when the database is PostgreSQL (every node needs the same
    /// folder, e.g. a shared mount). None: uploads are refused, saying so.
    pub files_dir: Option<std::path::PathBuf>,
    /// Largest attachment accepted (`KEFU_MAX_ATTACHMENT_BYTES`, default 20 MiB).
    pub max_attachment_bytes: u64,
    /// The address customers reach kefu at (`KEFU_PUBLIC_URL`, e.g. `https://kefu.example.com`,
    /// no trailing slash): links that leave the system (status links, survey links, the web
    /// form's confirmation) start with it. Unset, they are paths relative to whatever address the
    /// reader used — fine on pages, useless in an SMS or an email.
    pub public_url: Option<String>,
}

impl Settings {
    /// `path` (starting with '/') as a link to send: absolute when the public address is set.
    pub fn public_link(&self, path: &str) -> String {
        match &self.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path.to_string(),
        }
    }
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
            wechat_templates: std::collections::BTreeMap::new(),
            wechat_fields: notify::WechatFields::default(),
            sla_alert_email: None,
            telephony_secret: None,
            hotline_hours: hotline::default_hours(),
            return_call_attempts: 3,
            hotline_landline: None,
            hotline_answer_target_secs: 15,
            voice_aliyun: None,
            files_dir: None,
            max_attachment_bytes: attachments::DEFAULT_MAX_BYTES,
            public_url: None,
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
    /// Business calendars for SLA arithmetic (see `sla::calendars`).
    pub calendars: Arc<sla::CalendarCache>,
}

impl App {
    pub fn new(db: Db, regions: Arc<Regions>, settings: Settings) -> Self {
        Self {
            db,
            regions,
            settings: Arc::new(settings),
            tokens: Arc::default(),
            note_categories: Arc::default(),
            calendars: Arc::default(),
        }
    }
}
