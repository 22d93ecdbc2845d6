//! The service desk's whole story (issue 4's "done when"), played on the demo through the same use
//! cases the desk uses, on a clock that walks from the evening before National Day 2026 to the
//! week after it, running the job runner at each instant as `kefu serve` would:
//!
//! a dealer phones the 400 line about a leaking water purifier its customer bought; the call
//! reaches the dealer's account owner, who opens a complaint for the dealer's customer and routes
//! it to the quality department; quality accepts, signs a plan in two parts (quality repairs,
//! logistics resends a part) with committed times; the plan returns to the account owner, who
//! informs the dealer; the dealer urges during the holiday (the third urge escalates); an end
//! customer's consultation nobody answers overnight warns and breaches at opening time, not
//! during the night; a missed call and an after-hours call become return-call tasks (the latter
//! due at opening); the repair is done, the dealer confirms through its signed link, the ticket
//! closes, and the follow-up questionnaire answered poorly opens a follow-up complaint; search
//! finds it all by 漏水.
//!
//! Every step's outcome is read back and reported; a step that does not behave as the desk
//! promises fails the story (and the test that plays it).

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::{SurveyInvitationId, TicketId, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::demo_desk::as_user;
use crate::hotline::{self, ExtensionInput};
use crate::jobs::Runner;
use crate::ledger::{CustomerFilter, CustomerInput};
use crate::search::SearchInput;
use crate::sla::ClockView;
use crate::telephony::{self, TelephonyEvent};
use crate::tickets::{self, ActionInput, MessageInput, TicketInput};
use crate::{App, Clock, Ctx, Error, FixedClock, Result};

const MINUTE: i64 = 60_000;
/// The 400 number the demo's calls come in on.
pub const HOTLINE: &str = "4008202026";
const OWNER_EXTENSION: &str = "8002";
const AGENT_EXTENSION: &str = "8001";

/// One step as it happened: when (Shanghai time), what was done and what the system did.
#[derive(Debug, Clone, Serialize)]
pub struct StoryStep {
    pub at: String,
    pub what: String,
}

/// What the story left in the database, for the reader (and the test) to look at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoryReport {
    pub steps: Vec<StoryStep>,
    /// The dealer's complaint.
    pub complaint: String,
    pub complaint_id: i64,
    /// The consultation that breached overnight.
    pub unanswered: String,
    pub unanswered_id: i64,
    /// The complaint the poor survey answer opened.
    pub follow_up: String,
    pub follow_up_id: i64,
    /// Return-call tasks the missed and the after-hours call made: (id, reason, due).
    pub return_calls: Vec<(i64, String, String)>,
    /// What searching 漏水 finds: (kind, id).
    pub found: Vec<(String, i64)>,
}

fn shanghai(t: Timestamp) -> String {
    t.display_in(domain::time::DEFAULT_TZ)
}

fn at(s: &str) -> Result<Timestamp> {
    Timestamp::parse_rfc3339(s).ok_or_else(|| Error::Conflict(format!("story time {s}")))
}

fn broken(what: impl Into<String>) -> Error {
    Error::Conflict(format!("demo story: {}", what.into()))
}

struct Story {
    app: App,
    clock: Arc<FixedClock>,
    runner: Runner,
    report: StoryReport,
}

impl Story {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn step(&mut self, what: impl Into<String>) {
        let what = what.into();
        tracing::debug!(at = %shanghai(self.now()), "{what}");
        self.report.steps.push(StoryStep {
            at: shanghai(self.now()),
            what,
        });
    }

    /// Moves the clock to `t` and runs every job due by then, as `kefu serve` would have.
    async fn until(&mut self, t: Timestamp) -> Result<usize> {
        self.clock.set(t);
        let mut ran = 0;
        loop {
            let s = self.runner.run_once().await?;
            ran += s.done + s.retried + s.dead;
            if s.claimed == 0 {
                return Ok(ran);
            }
        }
    }

    async fn call(
        &mut self,
        id: &str,
        from: &str,
        extension: Option<&str>,
        missed: bool,
    ) -> Result<hotline::Receipt> {
        let sys = Ctx::system("telephony", self.clock.clone());
        let mut last = None;
        for e in telephony::scenario(id, self.now(), from, HOTLINE, extension, missed) {
            let raw = serde_json::to_string(&e).map_err(|e| broken(e.to_string()))?;
            self.clock.set(event_time(&e)?);
            last = Some(hotline::receive_event(&self.app, &sys, &e, &raw).await?);
        }
        last.ok_or_else(|| broken("a call without events"))
    }

    async fn act(&self, ctx: &Ctx, id: i64, a: ActionInput) -> Result<tickets::TicketView> {
        let id = TicketId(id);
        let v = tickets::get(&self.app, ctx, id).await?.summary.version;
        tickets::act(&self.app, ctx, id, v, a).await?;
        tickets::get(&self.app, ctx, id).await
    }

    async fn clock_of(&self, ctx: &Ctx, id: i64, metric: &str) -> Result<ClockView> {
        crate::sla::clocks_of(&self.app, ctx, domain::sla::Subject::ticket(TicketId(id)))
            .await?
            .into_iter()
            .find(|c| c.metric == metric)
            .ok_or_else(|| broken(format!("no {metric} clock")))
    }
}

fn event_time(e: &TelephonyEvent) -> Result<Timestamp> {
    at(&e.at)
}

fn reason_zh(reason: &str) -> &'static str {
    match reason {
        "missed" => "未接",
        "abandoned" => "放弃",
        "voicemail" => "留言",
        _ => "非工作时间",
    }
}

fn due(c: &ClockView) -> String {
    c.due_at.map(shanghai).unwrap_or_default()
}

/// Plays the story on a demo database (after `demo::build` and `demo_desk::build`). The clock
/// starts at 2026-09-30 20:30 in Shanghai, the evening before the National Day holiday.
#[allow(clippy::too_many_lines)]
pub async fn play(app: &App) -> Result<StoryReport> {
    let clock = Arc::new(FixedClock::at(at("2026-09-30T20:30:00+08:00")?));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let runner = Runner::standard(app.clone(), dyn_clock.clone(), "demo-story")?;
    let mut s = Story {
        app: app.clone(),
        clock,
        runner,
        report: StoryReport::default(),
    };
    let sys = Ctx::system("demo", dyn_clock.clone());
    let agent = as_user(app, &sys, "agent").await?;
    let owner = as_user(app, &sys, "owner").await?;
    let quality = as_user(app, &sys, "quality").await?;
    let dealer = as_user(app, &sys, "dealer").await?;
    let (qa, logistics) = crate::demo_desk::quality_and_logistics(app, &agent).await?;

    // The desk's extensions: the agent's, and the account owner's (key-account calls ring there).
    for (ext, who) in [(AGENT_EXTENSION, &agent), (OWNER_EXTENSION, &owner)] {
        let user_id = who.actor.user_id().map(|u| u.0).unwrap_or_default();
        hotline::set_extension(
            app,
            &sys,
            ext,
            None,
            ExtensionInput {
                user_id,
                phone: None,
                active: Some(true),
            },
        )
        .await?;
    }

    // The dealer, its phone, and a customer of its whom the story is about. Read as the account
    // owner: it must be one of the owner's dealers (a list page would miss it in a large demo).
    let dealer_id = dealer_of(app, &dealer).await?;
    let the_dealer = crate::ledger::get_customer(app, &owner, domain::CustomerId(dealer_id))
        .await
        .map_err(|_| broken("the demo dealer is not the account owner's"))?;
    let dealer_phone = the_dealer
        .phone
        .clone()
        .ok_or_else(|| broken("the demo dealer has no phone"))?;
    let customer = crate::ledger::create_customer(
        app,
        &owner,
        CustomerInput {
            kind: "individual".into(),
            name: "周雨桐".into(),
            phone: Some("13905710930".into()),
            email: Some("zhou.yutong@example.com".into()),
            dealer_id: Some(dealer_id),
            ..CustomerInput::default()
        },
    )
    .await?
    .id;

    // 20:30 — the dealer phones the 400 line; the call rings at the account owner's extension.
    let call = s
        .call("story-dealer", &dealer_phone, Some(OWNER_EXTENSION), false)
        .await?;
    s.step(format!(
        "经销商 {} 致电 400 热线，转客户经理分机 {OWNER_EXTENSION} 接听（通话 {}，{}）",
        the_dealer.name, call.call_id, call.state
    ));

    // The account owner opens the complaint for the dealer's customer from the screen-pop.
    s.clock.advance_ms(2 * MINUTE);
    let created = tickets::create(
        app,
        &owner,
        TicketInput {
            kind: "complaint".into(),
            channel: Some("phone".into()),
            subject: "净水器安装后漏水，橱柜底板泡坏".into(),
            description: "经销商反映：客户周女士家的净水器安装三天后接头处漏水，橱柜底板被泡坏，\
                          客户要求尽快维修并赔偿底板。"
                .into(),
            customer_id: Some(customer.0),
            requester_id: Some(dealer_id),
            phone: Some(dealer_phone.clone()),
            contact_name: Some(the_dealer.name.clone()),
            contact_email: Some("service@dealer.example.com".into()),
            complaint_category: Some("product_quality".into()),
            call_id: Some(call.call_id),
            ..TicketInput::default()
        },
    )
    .await?;
    let complaint = created.id;
    s.report.complaint = created.number.clone();
    s.report.complaint_id = complaint;
    let v = tickets::get(app, &owner, TicketId(complaint)).await?;
    if v.summary.tracker_id != owner.actor.user_id().map(|u| u.0) {
        return Err(broken("the account owner is not the complaint's tracker"));
    }
    let first = s.clock_of(&owner, complaint, "first_reply").await?;
    let proposal = s.clock_of(&owner, complaint, "proposal").await?;
    let resolution = s.clock_of(&owner, complaint, "resolution").await?;
    s.step(format!(
        "客户经理建客诉单 {}（跟踪人：客户经理）。SLA：首次响应 {}，处理方案 {}（48 小时），结案 {}（5 个工作日，跳过国庆假期、计入 10 月 10 日调休）",
        created.number,
        due(&first),
        due(&proposal),
        due(&resolution)
    ));
    // It has to skip the holiday: five working days from 9-30 evening end on 10-13.
    if !due(&resolution).starts_with("2026-10-13") {
        return Err(broken(format!(
            "the resolution clock should skip National Day: due {}",
            due(&resolution)
        )));
    }

    s.clock.advance_ms(MINUTE);
    tickets::add_message(
        app,
        &owner,
        TicketId(complaint),
        MessageInput {
            body: "已受理，质量部明早处理，我会全程跟进并及时告知进展。".into(),
            internal: false,
        },
    )
    .await?;
    s.clock.advance_ms(2 * MINUTE);
    s.act(
        &owner,
        complaint,
        ActionInput::Route {
            department_id: qa,
            note: Some("请质量部判定责任，给出维修和赔偿方案".into()),
        },
    )
    .await?;
    s.step("客户经理答复经销商（首次响应停表），把客诉单连同全部记录转质量部");

    // 20:40 — an end customer's consultation nobody answers tonight.
    s.clock.set(at("2026-09-30T20:40:00+08:00")?);
    let people = crate::ledger::list_customers(
        app,
        &agent,
        CustomerFilter {
            kind: Some("individual".into()),
            limit: Some(20),
            ..CustomerFilter::default()
        },
    )
    .await?
    .items;
    let asker = people
        .iter()
        .rev()
        .find(|c| c.phone.is_some() && c.dealer_id.is_none())
        .ok_or_else(|| broken("no individual customer with a phone"))?;
    let unanswered = tickets::create(
        app,
        &agent,
        TicketInput {
            kind: "consultation".into(),
            channel: Some("email".into()),
            subject: "净水器滤芯多久换一次？".into(),
            description: "请问家里的净水器滤芯多久更换一次，漏水要紧吗？".into(),
            customer_id: Some(asker.id),
            force_new: true,
            ..TicketInput::default()
        },
    )
    .await?;
    // The agent's shift ends; the ticket waits in the intake queue.
    let intake = tickets::get(app, &agent, TicketId(unanswered.id)).await?;
    s.report.unanswered = unanswered.number.clone();
    s.report.unanswered_id = unanswered.id;
    let first_u = s.clock_of(&agent, unanswered.id, "first_reply").await?;
    s.step(format!(
        "邮件咨询 {} 进入受理（负责人：{}），无人答复。客服中心 21:00 下班，首次响应截止 {}",
        unanswered.number,
        intake.summary.owner.name,
        due(&first_u)
    ));

    // The night: nothing is due, nothing runs.
    let night = s.until(at("2026-10-01T07:59:00+08:00")?).await?;
    let still = tickets::get(app, &agent, TicketId(unanswered.id)).await?;
    if still.summary.escalated {
        return Err(broken("a ticket escalated during the night"));
    }
    s.step(format!(
        "夜间（21:00–08:00）无任何预警或升级：{night} 个到期任务（通知投递）"
    ));
    let warn = first_u
        .warn_at
        .ok_or_else(|| broken("the first-reply clock has no warning"))?;
    s.until(warn).await?;
    let warned = tickets::get(app, &agent, TicketId(unanswered.id)).await?;
    if warned.summary.escalated {
        return Err(broken("the warning escalated"));
    }
    s.step(format!(
        "{} 首次响应预警（剩余 20%），提醒负责人，尚未升级",
        unanswered.number
    ));
    let breach = first_u
        .due_at
        .ok_or_else(|| broken("the first-reply clock has no due time"))?;
    // The breach job runs the millisecond after the deadline.
    s.until(breach.plus_millis(1)).await?;
    let breached = tickets::get(app, &agent, TicketId(unanswered.id)).await?;
    if !breached.summary.escalated {
        return Err(broken("the breach did not escalate"));
    }
    s.step(format!(
        "{} 首次响应超时 → 升级给主管（“已升级”队列，主管邮件）",
        unanswered.number
    ));

    // 09:10 — a missed call (the caller hangs up while it rings).
    s.clock.set(at("2026-10-01T09:10:00+08:00")?);
    let missed_from = people
        .iter()
        .filter_map(|c| c.phone.clone())
        .find(|p| p.starts_with('1'))
        .unwrap_or_else(|| "13800571234".into());
    let missed = s.call("story-missed", &missed_from, None, true).await?;
    let rc = missed
        .return_call_id
        .ok_or_else(|| broken("a missed call made no return call"))?;
    let task = hotline::get_return_call(app, &agent, domain::ReturnCallId(rc)).await?;
    s.report
        .return_calls
        .push((rc, task.reason.clone(), shanghai(task.due_at)));
    s.step(format!(
        "未接来电 → 回拨任务 #{rc}（{}），应回拨时间 {}",
        reason_zh(&task.reason),
        shanghai(task.due_at)
    ));

    // 10:00 — the dealer, impatient on a holiday, urges three times; the third escalates.
    s.until(at("2026-10-01T10:00:00+08:00")?).await?;
    let mut urged = None;
    for n in 0..3 {
        s.clock.advance_ms(20 * MINUTE);
        urged = Some(
            s.act(
                &dealer,
                complaint,
                ActionInput::Urge {
                    note: Some(format!("第 {} 次催促：客户很着急", n + 1)),
                },
            )
            .await?,
        );
    }
    let urged = urged.ok_or_else(|| broken("no urge"))?;
    if !urged.summary.escalated || urged.summary.urges != 3 {
        return Err(broken("three urges did not escalate"));
    }
    s.step(format!(
        "经销商节假日三次催单 → 优先级升为{}，客诉单升级给主管",
        if urged.summary.priority == "urgent" {
            "“紧急”"
        } else {
            "“高”"
        }
    ));

    // 21:30 — a call after the desk closed: the return call is due at opening.
    s.until(at("2026-10-01T21:30:00+08:00")?).await?;
    let late = s.call("story-late", "13600571999", None, true).await?;
    let rc = late
        .return_call_id
        .ok_or_else(|| broken("an after-hours call made no return call"))?;
    let task = hotline::get_return_call(app, &agent, domain::ReturnCallId(rc)).await?;
    s.report
        .return_calls
        .push((rc, task.reason.clone(), shanghai(task.due_at)));
    s.step(format!(
        "下班后来电 → 回拨任务 #{rc}（{}），明早开门 {} 回拨",
        reason_zh(&task.reason),
        shanghai(task.due_at)
    ));

    // 10-02 09:30 — quality (on holiday duty) accepts and plans in two parts.
    s.until(at("2026-10-02T09:30:00+08:00")?).await?;
    s.act(&quality, complaint, ActionInput::Accept).await?;
    s.act(
        &quality,
        complaint,
        ActionInput::SetComplaint {
            category: None,
            liability: Some("installation".into()),
            remedy: Some("repair".into()),
            cost_shares: vec![
                tickets::CostShareInput {
                    party: "installation".into(),
                    percent: 70,
                },
                tickets::CostShareInput {
                    party: "product_defect".into(),
                    percent: 30,
                },
            ],
        },
    )
    .await?;
    s.act(
        &quality,
        complaint,
        ActionInput::AddPlanPart {
            department_id: qa,
            summary: "上门更换快接头并做保压测试".into(),
            remedy: Some("repair".into()),
            committed_at: "2026-10-08T18:00:00+08:00".into(),
        },
    )
    .await?;
    s.act(
        &quality,
        complaint,
        ActionInput::AddPlanPart {
            department_id: logistics,
            summary: "补发快接头及橱柜底板，10 月 6 日前送达".into(),
            remedy: Some("resend_parts".into()),
            committed_at: "2026-10-06T18:00:00+08:00".into(),
        },
    )
    .await?;
    // Logistics signs its own part (as a user of that department: the demo's quality handler
    // cannot); the demo's logistics signer is the system acting for the department.
    let signer = logistics_signer(app, &sys, logistics).await?;
    s.act(
        &signer,
        complaint,
        ActionInput::SignPart {
            department_id: logistics,
        },
    )
    .await?;
    s.act(&quality, complaint, ActionInput::SignPlan).await?;
    let planned = s
        .act(
            &quality,
            complaint,
            ActionInput::ReturnPlan {
                note: Some("安装责任 70%，产品 30%；10 月 8 日前修复".into()),
            },
        )
        .await?;
    let proposal = s.clock_of(&owner, complaint, "proposal").await?;
    s.step(format!(
        "质量部受理并签署两部门方案（质量部维修，物流部补件），承诺 10-08 18:00 完成；方案回到跟踪人 {}。处理方案时钟：{}",
        planned.summary.owner.name,
        proposal.outcome.clone().unwrap_or(proposal.state.clone())
    ));

    // 10:00 — the account owner tells the dealer how and when.
    s.until(at("2026-10-02T10:00:00+08:00")?).await?;
    s.act(
        &owner,
        complaint,
        ActionInput::InformRequester {
            contact_note: "电话告知经销商方案和时间，说明物流补件和上门维修安排，经销商情绪已安抚"
                .into(),
            message: Some("快接头和底板 10 月 6 日前送到，10 月 8 日前上门维修。".into()),
        },
    )
    .await?;
    s.step("客户经理电话告知经销商方案与时间，记录安抚情况（短信/邮件同步）");

    // 10-08 16:00 — repaired; the account owner records it, the dealer confirms through its
    // signed link; closed.
    s.until(at("2026-10-08T16:00:00+08:00")?).await?;
    s.act(
        &owner,
        complaint,
        ActionInput::Resolve {
            summary: "已更换快接头，保压 30 分钟无渗漏，底板已更换。".into(),
        },
    )
    .await?;
    let link = created
        .status_link
        .clone()
        .ok_or_else(|| broken("no status link"))?;
    let key = link
        .split("k=")
        .nth(1)
        .ok_or_else(|| broken("the status link has no key"))?
        .to_string();
    s.step("质量部上门修复，客户经理登记处理结果（待确认）");
    s.until(at("2026-10-08T19:00:00+08:00")?).await?;
    let page = tickets::public_view(app, &created.number, &key).await?;
    tickets::public_act(
        app,
        s.now(),
        &created.number,
        &key,
        page.version,
        "confirm",
        Some("已修好，谢谢".into()),
    )
    .await?;
    s.step("经销商通过签名链接确认处理结果");
    s.clock.advance_ms(10 * MINUTE);
    let closed = s.act(&owner, complaint, ActionInput::Close).await?;
    let resolution = s.clock_of(&owner, complaint, "resolution").await?;
    s.step(format!(
        "客户经理结案（{}）；结案时钟：{}（截止 {}），回访问卷随结案通知发出",
        closed.summary.status,
        resolution
            .outcome
            .clone()
            .unwrap_or(resolution.state.clone()),
        due(&resolution)
    ));

    // 10-09 — the follow-up questionnaire comes back poor: a follow-up complaint opens.
    s.until(at("2026-10-09T10:00:00+08:00")?).await?;
    let invitation = survey_of(app, &owner, complaint).await?;
    let key = survey_key(app, complaint).await?;
    let mut answers = BTreeMap::new();
    answers.insert("satisfaction".to_string(), json!(2));
    answers.insert("solved".to_string(), json!(true));
    answers.insert("speed".to_string(), json!("slow"));
    answers.insert(
        "comment".to_string(),
        json!("修好了，但漏水等了一个多星期，底板赔偿还没说法"),
    );
    let outcome = crate::surveys::answer_by_link(app, s.now(), &key, answers).await?;
    let (Some(fid), Some(fnum)) = (outcome.follow_up_ticket_id, outcome.follow_up_number) else {
        return Err(broken("a poor answer opened no follow-up"));
    };
    s.report.follow_up = fnum.clone();
    s.report.follow_up_id = fid;
    s.step(format!(
        "回访问卷（邀请 #{}）满意度 2 分、“太慢” → 自动生成回访投诉 {fnum}",
        invitation.0
    ));

    // Search finds the complaint, the consultation and the follow-up by one Chinese word.
    let found = crate::search::search(
        app,
        &owner,
        SearchInput {
            q: Some("漏水".into()),
            limit: Some(50),
            ..SearchInput::default()
        },
    )
    .await?;
    s.report.found = found.items.iter().map(|h| (h.kind.clone(), h.id)).collect();
    let named: Vec<&str> = [
        (complaint, s.report.complaint.as_str()),
        (unanswered.id, s.report.unanswered.as_str()),
        (fid, s.report.follow_up.as_str()),
    ]
    .into_iter()
    .filter(|(id, _)| s.report.found.contains(&("ticket".to_string(), *id)))
    .map(|(_, n)| n)
    .collect();
    s.step(format!(
        "搜索“漏水”：{} 条结果，其中本故事的受理单 {}",
        found.items.len(),
        named.join("、")
    ));
    Ok(s.report)
}

/// The dealer a dealer user acts for.
async fn dealer_of(app: &App, dealer: &Ctx) -> Result<i64> {
    let login = match &dealer.actor {
        crate::Actor::User { login, .. } => login.clone(),
        crate::Actor::System(_) => return Err(broken("the dealer is not a user")),
    };
    let user = app
        .db
        .read(move |c| Box::pin(async move { store::users::by_login(c, &login).await }))
        .await?
        .map(|(u, _)| u)
        .ok_or_else(|| broken("no dealer user"))?;
    user.links
        .dealer
        .map(|d| d.0)
        .ok_or_else(|| broken("the dealer user has no dealer"))
}

/// A member of the logistics department (made once for the story when the demo has none).
async fn logistics_signer(app: &App, sys: &Ctx, department: i64) -> Result<Ctx> {
    let existing = app
        .db
        .read(|c| Box::pin(async move { store::users::by_login(c, "logistics").await }))
        .await?;
    if existing.is_none() {
        crate::admin::create_user(
            app,
            sys,
            crate::admin::UserInput {
                login: "logistics".into(),
                display_name: "郑晓峰".into(),
                roles: vec!["department_handler".into()],
                org_unit_id: Some(department),
                password: Some(crate::demo::PASSWORD.into()),
                active: true,
                ..crate::admin::UserInput::default()
            },
        )
        .await?;
    }
    as_user(app, sys, "logistics").await
}

/// The follow-up questionnaire sent when the ticket closed.
async fn survey_of(app: &App, ctx: &Ctx, ticket: i64) -> Result<SurveyInvitationId> {
    let page = crate::surveys::list(
        app,
        ctx,
        crate::surveys::InvitationListInput {
            subject_kind: Some("ticket".into()),
            subject_id: Some(ticket),
            ..crate::surveys::InvitationListInput::default()
        },
    )
    .await?;
    page.items
        .first()
        .map(|i| SurveyInvitationId(i.id))
        .ok_or_else(|| broken("closing sent no questionnaire"))
}

/// The questionnaire link's key, as the requester received it in the closing email.
async fn survey_key(app: &App, ticket: i64) -> Result<String> {
    let q = store::outbox::OutboxQuery {
        about: Some(("ticket".into(), ticket)),
        limit: 200,
        ..store::outbox::OutboxQuery::default()
    };
    let all = app
        .db
        .read(move |c| {
            Box::pin(async move { store::outbox::list(c, &domain::Scope::All, &q).await })
        })
        .await?;
    all.items
        .iter()
        .filter(|m| m.template == "ticket.closed")
        .find_map(|m| {
            let body = m.payload.get("body")?.as_str()?;
            let at = body.find("/s/")?;
            Some(
                body[at + 3..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>(),
            )
        })
        .filter(|k| !k.is_empty())
        .ok_or_else(|| broken("the closing notice carries no questionnaire link"))
}
