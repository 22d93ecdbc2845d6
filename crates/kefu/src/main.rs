//! The `kefu` command: serve, worker, demo, init, migrate, reindex, token, backup, restore. Thin on
//! purpose: it parses arguments, opens the database, builds the app and hands over to `web` and
//! `app`.

mod backup;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use app::{App, Clock, Ctx, Settings, SystemClock};
use clap::{Args, Parser, Subcommand};
use store::{Db, OpenOptions};

#[derive(Parser)]
#[command(name = "kefu", version, about = "客服 — customer and field service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Folder holding kefu.db (SQLite) and files/.
    #[arg(long, env = "KEFU_DATA_DIR", default_value = "./kefu-data")]
    data_dir: PathBuf,
    /// A postgres:// URL; without it kefu uses SQLite in the data folder.
    #[arg(long, env = "KEFU_DATABASE_URL")]
    database: Option<String>,
    /// Database connections this process keeps: on PostgreSQL the pool every read and write
    /// takes from (size it to the server's `max_connections` divided among the nodes); on SQLite
    /// the read connections (writes have the writer's own).
    #[arg(long, env = "KEFU_DB_CONNECTIONS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=512))]
    db_connections: u32,
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "KEFU_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mark cookies Secure (set when kefu is served behind HTTPS).
    #[arg(long, env = "KEFU_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Log lines as JSON (default) or text.
    #[arg(long, env = "KEFU_LOG_FORMAT", default_value = "json")]
    log_format: String,
    #[command(flatten)]
    jobs: JobArgs,
}

#[derive(Args, Clone)]
struct JobArgs {
    /// The key that signs outgoing webhooks (X-Kefu-Signature); without it none are sent.
    #[arg(long, env = "KEFU_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// 阿里云短信 access key id; with the secret and the signature name it enables SMS.
    #[arg(long, env = "KEFU_SMS_ALIYUN_KEY_ID")]
    sms_aliyun_key_id: Option<String>,
    /// 阿里云短信 access key secret.
    #[arg(long, env = "KEFU_SMS_ALIYUN_KEY_SECRET", hide_env_values = true)]
    sms_aliyun_key_secret: Option<String>,
    /// The approved SMS signature (签名).
    #[arg(long, env = "KEFU_SMS_SIGN_NAME")]
    sms_sign_name: Option<String>,
    /// The SMS API endpoint (default: the public endpoint, dysmsapi.aliyuncs.com).
    #[arg(long, env = "KEFU_SMS_ENDPOINT")]
    sms_endpoint: Option<String>,
    /// WeChat appid for subscription messages; with the secret it enables them.
    #[arg(long, env = "KEFU_WECHAT_APPID")]
    wechat_appid: Option<String>,
    /// WeChat app secret.
    #[arg(long, env = "KEFU_WECHAT_SECRET", hide_env_values = true)]
    wechat_secret: Option<String>,
    /// The WeChat API base (default: the public API, api.weixin.qq.com).
    #[arg(long, env = "KEFU_WECHAT_API_BASE")]
    wechat_api_base: Option<String>,
    /// Which data key of the WeChat templates holds what, e.g.
    /// `number=character_string1,status=thing2,time=time3,detail=thing4` (the default).
    #[arg(long, env = "KEFU_WECHAT_FIELDS")]
    wechat_fields: Option<String>,
    /// The 企业微信 API base bot keys are sent to (default: the public API, qyapi.weixin.qq.com).
    #[arg(long, env = "KEFU_WECOM_API_BASE")]
    wecom_api_base: Option<String>,
    /// An email address that also receives SLA warnings and breach escalations (besides the
    /// supervisors with an email).
    #[arg(long, env = "KEFU_SLA_ALERT_EMAIL")]
    sla_alert_email: Option<String>,
    /// The SMTP server for email: `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25`; with the sender it enables email.
    #[arg(long, env = "KEFU_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of email, e.g. `客服中心 <service@example.com>`.
    #[arg(long, env = "KEFU_MAIL_FROM")]
    mail_from: Option<String>,
    /// The address customers reach kefu at, e.g. `https://kefu.example.com`: status and survey
    /// links sent by SMS and email start with it. Without it they are relative paths.
    #[arg(long, env = "KEFU_PUBLIC_URL")]
    public_url: Option<String>,
    /// The shared secret telephony callbacks are signed with; without it they are refused (503).
    #[arg(long, env = "KEFU_TELEPHONY_SECRET", hide_env_values = true)]
    telephony_secret: Option<String>,
    /// The hotline's opening hours, every day (calls outside them are called back at opening).
    #[arg(long, env = "KEFU_HOTLINE_HOURS", default_value = "08:00-21:00")]
    hotline_hours: String,
    /// Attempts after which an unanswered return call is given up.
    #[arg(long, env = "KEFU_RETURN_CALL_ATTEMPTS", default_value_t = 3)]
    return_call_attempts: i64,
    /// The landline shown on click-to-call calls (never the 400 number).
    #[arg(long, env = "KEFU_HOTLINE_LANDLINE")]
    hotline_landline: Option<String>,
    /// Seconds within which a call counts as answered promptly (three rings), for the hotline
    /// figures.
    #[arg(long, env = "KEFU_HOTLINE_ANSWER_TARGET_SECS", default_value_t = 15)]
    hotline_answer_target_secs: i64,
    /// 阿里云语音服务 access key id for click-to-call; with the secret it enables it.
    #[arg(long, env = "KEFU_VOICE_ALIYUN_KEY_ID")]
    voice_aliyun_key_id: Option<String>,
    /// 阿里云语音服务 access key secret.
    #[arg(long, env = "KEFU_VOICE_ALIYUN_KEY_SECRET", hide_env_values = true)]
    voice_aliyun_key_secret: Option<String>,
    /// The voice API endpoint (default: the public endpoint, dyvmsapi.aliyuncs.com).
    #[arg(long, env = "KEFU_VOICE_ENDPOINT")]
    voice_endpoint: Option<String>,
    /// Background jobs run at once by this process.
    #[arg(long, env = "KEFU_JOB_CONCURRENCY", default_value_t = 16)]
    job_concurrency: usize,
    /// Largest ticket attachment accepted, in bytes (default 20 MiB).
    #[arg(long, env = "KEFU_MAX_ATTACHMENT_BYTES", default_value_t = app::attachments::DEFAULT_MAX_BYTES)]
    max_attachment_bytes: u64,
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Approved SMS template codes per ticket milestone: `KEFU_SMS_TEMPLATE_TICKET_RECEIVED` serves
/// `ticket.received`, and so on for PLAN, REPLIED, RESOLVED and CLOSED; a survey an agent sends
/// uses `KEFU_SMS_TEMPLATE_SURVEY_INVITE` (`survey.invite`).
fn sms_templates_from_env() -> std::collections::BTreeMap<String, String> {
    let mut out = templates_from_env("SMS");
    if let Ok(code) = std::env::var("KEFU_SMS_TEMPLATE_SURVEY_INVITE")
        && let Some(c) = non_empty(Some(&code))
    {
        out.insert(app::surveys::INVITE_SMS_TEMPLATE.to_string(), c.to_string());
    }
    out
}

/// WeChat subscription template ids per ticket milestone: `KEFU_WECHAT_TEMPLATE_TICKET_RECEIVED`
/// and so on, like the SMS ones.
fn templates_from_env(what: &str) -> std::collections::BTreeMap<String, String> {
    ["received", "plan", "replied", "resolved", "closed"]
        .into_iter()
        .filter_map(|m| {
            let var = format!("KEFU_{what}_TEMPLATE_TICKET_{}", m.to_uppercase());
            let code = std::env::var(var).ok()?;
            non_empty(Some(&code)).map(|c| (format!("ticket.{m}"), c.to_string()))
        })
        .collect()
}

/// `KEFU_PUBLIC_URL`: an http(s) address without query or fragment; the trailing slash is dropped.
fn public_url(v: Option<&str>) -> Result<Option<String>> {
    let Some(u) = non_empty(v) else {
        return Ok(None);
    };
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']) => {
            Ok(Some(u.trim_end_matches('/').to_string()))
        }
        _ => bail!("KEFU_PUBLIC_URL {u:?} must be an address such as https://kefu.example.com"),
    }
}

impl JobArgs {
    fn settings(&self) -> Result<Settings> {
        let hotline_hours = domain::calendar::Opening::parse(self.hotline_hours.trim())
            .map_err(|e| anyhow::anyhow!("KEFU_HOTLINE_HOURS {:?}: {e}", self.hotline_hours))?;
        let hotline_landline = match non_empty(self.hotline_landline.as_deref()) {
            None => None,
            Some(p) => {
                let phone = domain::Phone::parse(p)
                    .map_err(|e| anyhow::anyhow!("KEFU_HOTLINE_LANDLINE {p:?}: {e}"))?;
                if !phone.as_str().starts_with('0') {
                    bail!(
                        "KEFU_HOTLINE_LANDLINE {p:?} is not a landline: outbound calls show a bound landline, never a 400/800 number or a mobile"
                    );
                }
                Some(phone)
            }
        };
        let voice_aliyun = match (
            non_empty(self.voice_aliyun_key_id.as_deref()),
            non_empty(self.voice_aliyun_key_secret.as_deref()),
        ) {
            (Some(id), Some(secret)) => {
                let c =
                    app::telephony::AliyunVoiceConfig::new(id, app::notify::Secret::new(secret));
                Some(match non_empty(self.voice_endpoint.as_deref()) {
                    Some(e) => c.endpoint(e),
                    None => c,
                })
            }
            _ => None,
        };
        let sms_aliyun = match (
            non_empty(self.sms_aliyun_key_id.as_deref()),
            non_empty(self.sms_aliyun_key_secret.as_deref()),
            non_empty(self.sms_sign_name.as_deref()),
        ) {
            (Some(id), Some(secret), Some(sign)) => {
                let c =
                    app::notify::AliyunSmsConfig::new(id, app::notify::Secret::new(secret), sign);
                Some(match non_empty(self.sms_endpoint.as_deref()) {
                    Some(e) => c.endpoint(e),
                    None => c,
                })
            }
            _ => None,
        };
        let wechat = match (
            non_empty(self.wechat_appid.as_deref()),
            non_empty(self.wechat_secret.as_deref()),
        ) {
            (Some(appid), Some(secret)) => {
                let c = app::notify::WechatConfig::new(appid, app::notify::Secret::new(secret));
                Some(match non_empty(self.wechat_api_base.as_deref()) {
                    Some(b) => c.api_base(b),
                    None => c,
                })
            }
            _ => None,
        };
        let email = match (
            non_empty(self.smtp_url.as_deref()),
            non_empty(self.mail_from.as_deref()),
        ) {
            (Some(url), Some(from)) => Some(app::notify::EmailConfig {
                smtp_url: app::notify::Secret::new(url),
                from: from.to_string(),
            }),
            _ => None,
        };
        Ok(Settings {
            telephony_secret: non_empty(self.telephony_secret.as_deref())
                .map(app::notify::Secret::new),
            hotline_hours,
            return_call_attempts: self.return_call_attempts.clamp(1, 20),
            hotline_landline,
            hotline_answer_target_secs: self.hotline_answer_target_secs.clamp(1, 600),
            voice_aliyun,
            webhook_secret: self
                .webhook_secret
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(app::notify::Secret::new),
            sms_aliyun,
            wechat,
            email,
            wecom_api_base: non_empty(self.wecom_api_base.as_deref()).map(str::to_string),
            sms_templates: sms_templates_from_env(),
            wechat_templates: templates_from_env("WECHAT"),
            wechat_fields: match non_empty(self.wechat_fields.as_deref()) {
                None => app::notify::WechatFields::default(),
                Some(f) => app::notify::WechatFields::parse(f)
                    .map_err(|e| anyhow::anyhow!("KEFU_WECHAT_FIELDS: {e}"))?,
            },
            sla_alert_email: non_empty(self.sla_alert_email.as_deref()).map(str::to_string),
            max_attachment_bytes: self.max_attachment_bytes.max(1),
            public_url: public_url(self.public_url.as_deref())?,
            ..Settings::default()
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API (and run background jobs).
    Serve(ServeArgs),
    /// Run background jobs only, next to `kefu serve` processes on the same PostgreSQL database.
    Worker {
        #[command(flatten)]
        db: DbArgs,
        /// Log lines as JSON (default) or text.
        #[arg(long, env = "KEFU_LOG_FORMAT", default_value = "json")]
        log_format: String,
        #[command(flatten)]
        jobs: JobArgs,
    },
    /// Build a realistic demo (if the data folder is empty), print the logins and serve it.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Number of customers to generate.
        #[arg(long, default_value_t = 300)]
        customers: u64,
        /// Seed of the generator: the same seed builds the same demo.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Build the data and exit without serving.
        #[arg(long)]
        no_serve: bool,
        /// Also add this many ticket-like search documents with Chinese text (for the search
        /// benchmark), also to an existing demo.
        #[arg(long, default_value_t = 0)]
        search_docs: u64,
    },
    /// Rebuild the search index of customers and devices from the ledger, in chunks (after an
    /// upgrade that brought search, or to repair it). On SQLite, with the server stopped.
    Reindex {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create the first administrator (password from `KEFU_ADMIN_PASSWORD`, a prompt, or generated).
    Init {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, default_value = "admin")]
        login: String,
    },
    /// Apply pending database migrations.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create an API token for a user and print it once.
    Token {
        #[command(flatten)]
        db: DbArgs,
        /// The user the token acts as.
        #[arg(long)]
        login: String,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Limit the token to one brand's data.
        #[arg(long)]
        brand_id: Option<i64>,
    },
    /// Post a call's events to a running kefu as the telephony system would, signed with the
    /// shared telephony secret: a ring, then an answer and hang-up, or a missed call.
    SimulateCall {
        /// The kefu server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The caller's number.
        #[arg(long)]
        from: String,
        /// The hotline number called.
        #[arg(long, default_value = "4008208820")]
        to: String,
        /// Nobody answers: the caller hangs up after 30 s (a return call is owed).
        #[arg(long)]
        missed: bool,
        /// The call comes in at 22:30 last night, when the desk was closed (called back at opening).
        #[arg(long)]
        after_hours: bool,
        /// The extension the call rings at (pops on that agent's page; else on every agent's).
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, env = "KEFU_TELEPHONY_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Write a backup (SQLite: a consistent copy of kefu.db plus files/, as one tar).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        file: PathBuf,
    },
    /// Restore a backup made by `kefu backup` into the data folder (kefu must be stopped).
    Restore {
        #[command(flatten)]
        db: DbArgs,
        file: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            logging(&args.log_format);
            let app = open_app(&args.db, args.jobs.settings()?).await?;
            serve(app, &args).await
        }
        Command::Worker {
            db,
            log_format,
            jobs,
        } => {
            let postgres = db
                .database
                .as_deref()
                .is_some_and(|u| u.starts_with("postgres:") || u.starts_with("postgresql:"));
            if !postgres {
                bail!(
                    "kefu worker needs PostgreSQL (--database postgres://… or KEFU_DATABASE_URL). \
                     On the embedded SQLite database only one process may write, and `kefu serve` \
                     runs the background jobs itself."
                );
            }
            logging(&log_format);
            let app = open_app(&db, jobs.settings()?).await?;
            worker(app, &db, &jobs).await
        }
        Command::Demo {
            serve: args,
            customers,
            seed,
            no_serve,
            search_docs,
        } => {
            logging(if no_serve { "text" } else { &args.log_format });
            let app = open_app(&args.db, args.jobs.settings()?).await?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let users = app
                .db
                .read(|c| Box::pin(async move { store::users::count(c).await }))
                .await?;
            let password = if users == 0 {
                eprintln!("building the demo: {customers} customers (seed {seed}) …");
                let report = app::demo::build(
                    &app,
                    &Ctx::system("demo", clock.clone()),
                    &app::demo::DemoOptions { customers, seed },
                )
                .await?;
                let desk = app::demo_desk::build(&app, &Ctx::system("demo", clock)).await?;
                eprintln!(
                    "built {} customers, {} devices, {} timeline entries in {:.1} s",
                    report.customers,
                    report.devices,
                    report.timeline,
                    std::time::Duration::from_millis(
                        u64::try_from(report.elapsed_ms).unwrap_or(u64::MAX)
                    )
                    .as_secs_f64()
                );
                print_logins(&report.users, &report.password);
                eprintln!("service desk tickets:");
                for (number, status, what) in &desk.tickets {
                    eprintln!("  {number}  {status:<12} {what}");
                }
                let story = Box::pin(app::demo_story::play(&app)).await?;
                eprintln!(
                    "the desk's story, replayed on the clock of National Day 2026 (open {} and {}):",
                    story.complaint, story.follow_up
                );
                for step in &story.steps {
                    eprintln!("  {}  {}", step.at, step.what);
                }
                Some(report.password)
            } else {
                eprintln!(
                    "the data folder already holds a demo; serving it (logins as printed when it was built, password kefu-demo)"
                );
                None
            };
            if search_docs > 0 {
                let started = std::time::Instant::now();
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                let n =
                    app::demo::search_docs(&app, &Ctx::system("demo", clock), search_docs, seed)
                        .await?;
                eprintln!(
                    "added {n} ticket search documents in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            if let Some(size) = database_size(&args.db) {
                eprintln!("database size: {} MB", size / 1_000_000);
            }
            if no_serve {
                return Ok(());
            }
            eprintln!(
                "kefu demo: open http://{}/ {}",
                args.listen,
                password
                    .map(|p| format!("(password {p})"))
                    .unwrap_or_default()
            );
            serve(app, &args).await
        }
        Command::Init { db, login } => {
            logging("text");
            let app = open_app(&db, Settings::default()).await?;
            let (password, generated) = match std::env::var("KEFU_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ if std::io::stdin().is_terminal() => (
                    rpassword::prompt_password(format!("password for {login}: "))?,
                    false,
                ),
                _ => (app::secret::random_token()[..20].to_string(), true),
            };
            app::admin::init_admin(
                &app,
                &Ctx::system("init", Arc::new(SystemClock)),
                &login,
                &password,
            )
            .await?;
            println!("created administrator {login}");
            if generated {
                println!("generated password (shown once): {password}");
            }
            Ok(())
        }
        Command::Reindex { db } => {
            logging("text");
            let app = open_app(&db, Settings::default()).await?;
            let r =
                app::search::reindex(&app, &Ctx::system("reindex", Arc::new(SystemClock))).await?;
            println!(
                "indexed {} customers and {} devices in {:.1} s",
                r.customers,
                r.devices,
                std::time::Duration::from_millis(u64::try_from(r.elapsed_ms).unwrap_or(u64::MAX))
                    .as_secs_f64()
            );
            app.db.close().await;
            Ok(())
        }
        Command::Migrate { db } => {
            logging("text");
            let app = open_app(&db, Settings::default()).await?;
            println!("database at migration {}", store::latest_migration());
            app.db.close().await;
            Ok(())
        }
        Command::Token {
            db,
            login,
            name,
            brand_id,
        } => {
            logging("text");
            let app = open_app(&db, Settings::default()).await?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let l = login.clone();
            let user = app
                .db
                .read(move |c| Box::pin(async move { store::users::by_login(c, &l).await }))
                .await?
                .with_context(|| format!("no user {login}"))?
                .0;
            let principal = app::auth::Principal::of_user(user, None)?;
            let ctx = principal.ctx(clock, String::new(), "zh-CN".into());
            let (_, token) =
                app::auth::create_token(&app, &ctx, &name, brand_id.map(domain::BrandId)).await?;
            println!("{token}");
            Ok(())
        }
        Command::SimulateCall {
            url,
            from,
            to,
            missed,
            after_hours,
            agent,
            secret,
        } => {
            simulate_call(
                &url,
                &from,
                &to,
                missed,
                after_hours,
                agent.as_deref(),
                &secret,
            )
            .await
        }
        Command::Backup { db, file } => {
            logging("text");
            if db.database.is_some() {
                bail!(
                    "kefu backup covers the embedded SQLite database; for PostgreSQL use pg_dump (or base backups) and copy {}/files",
                    db.data_dir.display()
                );
            }
            backup::backup(&db.data_dir, &file).await?;
            println!("wrote {}", file.display());
            Ok(())
        }
        Command::Restore { db, file, force } => {
            logging("text");
            if db.database.is_some() {
                bail!(
                    "kefu restore covers the embedded SQLite database; for PostgreSQL use pg_restore"
                );
            }
            backup::restore(&db.data_dir, &file, force).await?;
            println!("restored {} into {}", file.display(), db.data_dir.display());
            Ok(())
        }
    }
}

/// Posts one call's events, printing what kefu answered to each.
async fn simulate_call(
    url: &str,
    from: &str,
    to: &str,
    missed: bool,
    after_hours: bool,
    agent: Option<&str>,
    secret: &str,
) -> Result<()> {
    if secret.trim().is_empty() {
        bail!("set KEFU_TELEPHONY_SECRET (or --secret) to the secret the server was started with");
    }
    let client = app::telephony::SimulatedTelephony::new(url, app::notify::Secret::new(secret))?;
    let now = SystemClock.now();
    let start = if after_hours {
        // 22:30 yesterday in Shanghai: after the desk closed.
        let day = domain::Timestamp(now.0 - 86_400_000).date_in(domain::time::DEFAULT_TZ);
        let local = day.0.and_hms_opt(22, 30, 0).context("22:30 is a time")?;
        domain::Timestamp(local.and_utc().timestamp_millis() - 8 * 3_600_000)
    } else {
        domain::Timestamp(now.0 - 60_000)
    };
    let call_id = format!("sim-{}", app::secret::random_token()[..10].to_lowercase());
    let events = app::telephony::scenario(&call_id, start, from, to, agent, missed || after_hours);
    for e in &events {
        let answer = client.send(e, SystemClock.now()).await?;
        println!("{} {:<9} → {} {}", e.at, e.kind, answer.status, answer.body);
        if answer.status >= 300 {
            bail!("kefu refused the event");
        }
    }
    Ok(())
}

fn print_logins(users: &[(String, String, String)], password: &str) {
    eprintln!("logins (password {password}):");
    for (login, role, name) in users {
        eprintln!("  {login:<12} {role:<20} {name}");
    }
}

fn database_size(db: &DbArgs) -> Option<u64> {
    if db.database.is_some() {
        return None;
    }
    ["kefu.db", "kefu.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(db.data_dir.join(f)).map_or(0, |m| m.len()))
        .sum::<u64>()
        .into()
}

fn logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

async fn open_app(db: &DbArgs, mut settings: Settings) -> Result<App> {
    // Attachments live in the data folder's files/ on every backend (on PostgreSQL too: then
    // every node needs the same folder).
    let files = db.data_dir.join("files");
    std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    settings.files_dir = Some(files);
    let mut opts = if let Some(url) = &db.database {
        OpenOptions::new(url.clone())
    } else {
        OpenOptions::sqlite_in(&db.data_dir)
    };
    opts.max_connections = db.db_connections;
    let database = Db::open(&opts)
        .await
        .with_context(|| format!("opening the database in {}", where_is(db)))?;
    Ok(App::new(
        database,
        Arc::new(web::assets::regions()),
        settings,
    ))
}

fn where_is(db: &DbArgs) -> String {
    db.database.as_ref().map_or_else(
        || db.data_dir.display().to_string(),
        |u| u.split('@').next_back().unwrap_or(u).to_string(),
    )
}

async fn serve(app: App, args: &ServeArgs) -> Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The segmenter's dictionary, loaded now rather than in the first search or write.
    tokio::task::spawn_blocking(app::search::warm_up).await?;
    let jobs = start_jobs(&app, &clock, &args.jobs).await?;
    let state = web::AppState {
        app: app.clone(),
        clock,
        metrics,
        secure_cookies: args.secure_cookies,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, data = %where_is(&args.db), "kefu serving");
    axum::serve(
        listener,
        web::router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    jobs.stop().await;
    app.db.close().await;
    Ok(())
}

/// Runs only the background jobs until a signal asks to stop; the jobs running then finish.
async fn worker(app: App, db: &DbArgs, args: &JobArgs) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let jobs = start_jobs(&app, &clock, args).await?;
    tracing::info!(data = %where_is(db), "kefu worker running");
    shutdown().await;
    jobs.stop().await;
    app.db.close().await;
    Ok(())
}

/// Makes sure the recurring sweep exists and starts this process's job runner.
async fn start_jobs(
    app: &App,
    clock: &Arc<dyn Clock>,
    args: &JobArgs,
) -> Result<app::jobs::RunnerHandle> {
    if let Err(e) = app::jobs::ensure_sweep(app, &Ctx::system("jobs", clock.clone())).await {
        tracing::warn!(error = %e, "could not schedule the sweep; the next start will");
    }
    let runner = app::jobs::Runner::standard(app.clone(), clock.clone(), owner_id())?
        .concurrency(args.job_concurrency);
    if app.settings.public_url.is_none() {
        tracing::warn!(
            "KEFU_PUBLIC_URL is not set: status and survey links in SMS and email will be relative paths that customers cannot open; set it to the address customers reach kefu at"
        );
    }
    if app.settings.webhook_secret.is_none() {
        tracing::info!("KEFU_WEBHOOK_SECRET is not set: webhook messages will fail until it is");
    }
    if app.settings.sms_aliyun.is_none() {
        tracing::info!(
            "KEFU_SMS_ALIYUN_KEY_ID, KEFU_SMS_ALIYUN_KEY_SECRET and KEFU_SMS_SIGN_NAME are not all set: SMS messages will fail until they are"
        );
    }
    if app.settings.email.is_none() {
        tracing::info!(
            "KEFU_SMTP_URL and KEFU_MAIL_FROM are not both set: email messages will fail until they are"
        );
    }
    if app.settings.wechat.is_none() {
        tracing::info!(
            "KEFU_WECHAT_APPID and KEFU_WECHAT_SECRET are not both set: WeChat messages will fail until they are"
        );
    }
    Ok(runner.spawn())
}

/// hostname:pid:random — unique among the processes sharing a database, and says where a job
/// ran.
fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let random = app::secret::random_token();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
